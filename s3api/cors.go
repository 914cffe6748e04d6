package s3api

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// Cross-origin resource sharing: the bucket's rules (?cors:
// PutBucketCors, GetBucketCors, DeleteBucketCors), the answer to browsers'
// preflights (OPTIONS, never signed), and the CORS headers of actual
// requests, so that web applications of the municipalities can upload
// and read documents directly from the browser.

const (
	maxCORSRules = 100
	// maxCORSBody is S3's limit on a CORS configuration document.
	maxCORSBody = 64 << 10
	// corsVary is the Vary header of answers that depend on CORS rules: a
	// cache must not serve one origin's answer to another.
	corsVary = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
)

// corsMethods are the methods a rule may allow.
var corsMethods = []string{"GET", "PUT", "POST", "DELETE", "HEAD"}

// corsConfiguration is PutBucketCors' document, <CORSConfiguration>.
type corsConfiguration struct {
	Rules []corsRule
}

// corsLimits bound PutBucketCors' document while it is read.
var corsLimits = listDocLimits(maxCORSBody, maxXMLElements)

// read reads the document from its root, one CORSRule at a time, and
// stops at the first beyond maxCORSRules.
func (doc *corsConfiguration) read(d *xml.Decoder, root xml.StartElement) error {
	if root.Name.Local != "CORSConfiguration" {
		return malformedXML("the root element is not CORSConfiguration.")
	}
	return eachChild(d, func(child xml.StartElement) error {
		if child.Name.Local != "CORSRule" {
			return d.Skip()
		}
		if len(doc.Rules) == maxCORSRules {
			return tooManyCORSRules()
		}
		var r corsRule
		if err := d.DecodeElement(&r, &child); err != nil {
			return err
		}
		doc.Rules = append(doc.Rules, r)
		return nil
	})
}

func tooManyCORSRules() error {
	return errorf("InvalidRequest", fmt.Sprintf("The number of CORS rules should not exceed allowed limit of %d rules.", maxCORSRules))
}

type corsRule struct {
	ID             string   `xml:"ID,omitempty"`
	AllowedHeaders []string `xml:"AllowedHeader"`
	AllowedMethods []string `xml:"AllowedMethod"`
	AllowedOrigins []string `xml:"AllowedOrigin"`
	ExposeHeaders  []string `xml:"ExposeHeader"`
	MaxAgeSeconds  *int     `xml:"MaxAgeSeconds"`
}

// corsResult answers GetBucketCors.
type corsResult struct {
	XMLName xml.Name   `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CORSConfiguration"`
	Rules   []corsRule `xml:"CORSRule"`
}

// parseCORS validates a configuration as S3 does and converts it.
func parseCORS(doc corsConfiguration) ([]objapi.CORSRule, error) {
	if len(doc.Rules) == 0 {
		return nil, errorf("MalformedXML", "")
	}
	if len(doc.Rules) > maxCORSRules {
		return nil, tooManyCORSRules()
	}
	rules := make([]objapi.CORSRule, 0, len(doc.Rules))
	for _, r := range doc.Rules {
		if len(r.AllowedOrigins) == 0 || len(r.AllowedMethods) == 0 {
			return nil, errorf("MalformedXML", "")
		}
		if len(r.ID) > 255 {
			return nil, errorf("InvalidRequest", "ID length should not exceed allowed limit of 255")
		}
		out := objapi.CORSRule{ID: r.ID}
		for _, m := range r.AllowedMethods {
			m = strings.TrimSpace(m)
			if !slices.Contains(corsMethods, m) {
				return nil, errorf("InvalidRequest", "Found unsupported HTTP method in CORS config. Unsupported method is "+m)
			}
			out.AllowedMethods = append(out.AllowedMethods, m)
		}
		for _, o := range r.AllowedOrigins {
			o = strings.TrimSpace(o)
			if strings.Count(o, "*") > 1 {
				return nil, errorf("InvalidRequest", fmt.Sprintf("AllowedOrigin %q can not have more than one wildcard.", o))
			}
			out.AllowedOrigins = append(out.AllowedOrigins, o)
		}
		for _, h := range r.AllowedHeaders {
			h = strings.TrimSpace(h)
			if strings.Count(h, "*") > 1 {
				return nil, errorf("InvalidRequest", fmt.Sprintf("AllowedHeader %q can not have more than one wildcard.", h))
			}
			out.AllowedHeaders = append(out.AllowedHeaders, h)
		}
		for _, h := range r.ExposeHeaders {
			h = strings.TrimSpace(h)
			if strings.Contains(h, "*") {
				return nil, errorf("InvalidRequest", fmt.Sprintf("ExposeHeader %q contains wildcard. We currently do not support wildcard for ExposeHeader.", h))
			}
			out.ExposeHeaders = append(out.ExposeHeaders, h)
		}
		if r.MaxAgeSeconds != nil {
			if *r.MaxAgeSeconds < 0 {
				return nil, errorf("MalformedXML", "")
			}
			out.MaxAgeSeconds = *r.MaxAgeSeconds
		}
		rules = append(rules, out)
	}
	return rules, nil
}

// putBucketCors sets the bucket's CORS rules (PutBucketCors). The bucket
// must be the caller's before its document is read.
func (s *Server) putBucketCors(w http.ResponseWriter, r *http.Request, rq *request) error {
	want, err := requestDigest(r.Header, false)
	if err != nil {
		return err
	}
	if _, err := s.layer.HeadBucket(r.Context(), rq.caller, rq.bucket); err != nil {
		return err
	}
	var doc corsConfiguration
	empty, err := readXMLRequest(rq, want, corsLimits, doc.read)
	if err != nil {
		return err
	}
	if empty {
		return errorf("MalformedXML", "")
	}
	rules, err := parseCORS(doc)
	if err != nil {
		return err
	}
	if err := s.layer.PutBucketCors(r.Context(), rq.caller, rq.bucket, rules); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// getBucketCors answers the bucket's CORS rules (GetBucketCors).
func (s *Server) getBucketCors(w http.ResponseWriter, r *http.Request, rq *request) error {
	rules, err := s.layer.GetBucketCors(r.Context(), rq.caller, rq.bucket)
	if err != nil {
		return err
	}
	res := corsResult{Rules: make([]corsRule, len(rules))}
	for i, cr := range rules {
		res.Rules[i] = corsRule{
			ID:             cr.ID,
			AllowedHeaders: cr.AllowedHeaders,
			AllowedMethods: cr.AllowedMethods,
			AllowedOrigins: cr.AllowedOrigins,
			ExposeHeaders:  cr.ExposeHeaders,
		}
		if cr.MaxAgeSeconds > 0 {
			res.Rules[i].MaxAgeSeconds = &cr.MaxAgeSeconds
		}
	}
	return writeXML(w, http.StatusOK, &res)
}

// deleteBucketCors removes the bucket's CORS rules (DeleteBucketCors).
func (s *Server) deleteBucketCors(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := s.layer.DeleteBucketCors(r.Context(), rq.caller, rq.bucket); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// preflight answers a browser's CORS preflight (OPTIONS /bucket[/key]).
// It is not signed: the browser sends it on its own, without the page's
// credentials. The first rule that allows the origin, the method and
// every requested header wins; without one (or without rules, or
// without the bucket, which a stranger must not be able to tell apart)
// the answer is 403 AccessForbidden.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request, rq *request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return errorf("BadRequest", "Insufficient information. Origin request header needed.")
	}
	method := r.Header.Get("Access-Control-Request-Method")
	if !slices.Contains(corsMethods, method) {
		if method == "" {
			method = "null"
		}
		return errorf("BadRequest", "Invalid Access-Control-Request-Method: "+method)
	}
	var headers []string
	for _, v := range r.Header.Values("Access-Control-Request-Headers") {
		for h := range strings.SplitSeq(v, ",") {
			if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
				headers = append(headers, h)
			}
		}
	}
	var rules []objapi.CORSRule
	if rq.bucket != "" {
		var err error
		if rules, err = s.layer.BucketCORS(r.Context(), rq.bucket); err != nil {
			return err
		}
	}
	rule, ok := matchCORS(rules, origin, method, headers)
	if !ok {
		return errorf("AccessForbidden", "")
	}
	h := w.Header()
	setAllowOrigin(h, rule, origin)
	h.Set("Access-Control-Allow-Methods", strings.Join(rule.AllowedMethods, ", "))
	if len(headers) > 0 {
		h.Set("Access-Control-Allow-Headers", strings.Join(headers, ", "))
	}
	if rule.MaxAgeSeconds > 0 {
		h.Set("Access-Control-Max-Age", strconv.Itoa(rule.MaxAgeSeconds))
	}
	if len(rule.ExposeHeaders) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.Join(rule.ExposeHeaders, ", "))
	}
	h.Set("Vary", corsVary)
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

// setCORSHeaders adds the CORS headers of an actual (not preflight)
// request with an Origin header to bucket, if a rule allows the origin and
// the method. They are set before the request is served so that errors
// carry them too (writeError keeps them). A failing lookup only costs the
// headers: the request itself goes on.
func (s *Server) setCORSHeaders(ctx context.Context, h http.Header, bucket, origin, method string) {
	rules, err := s.layer.BucketCORS(ctx, bucket)
	if err != nil || len(rules) == 0 {
		return
	}
	h.Set("Vary", corsVary)
	rule, ok := matchCORS(rules, origin, method, nil)
	if !ok {
		return
	}
	setAllowOrigin(h, rule, origin)
	h.Set("Access-Control-Allow-Methods", strings.Join(rule.AllowedMethods, ", "))
	if len(rule.ExposeHeaders) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.Join(rule.ExposeHeaders, ", "))
	}
	if rule.MaxAgeSeconds > 0 {
		h.Set("Access-Control-Max-Age", strconv.Itoa(rule.MaxAgeSeconds))
	}
}

// setAllowOrigin answers the origin as S3 does: "*" for a rule that allows
// every origin (and then no credentials, which browsers refuse with "*"),
// else the origin itself with credentials allowed.
func setAllowOrigin(h http.Header, rule objapi.CORSRule, origin string) {
	if slices.Contains(rule.AllowedOrigins, "*") {
		h.Set("Access-Control-Allow-Origin", "*")
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
}

// matchCORS finds the first rule that allows origin (case-sensitively,
// with its one wildcard), method and every one of headers (lower case;
// matched case-insensitively, with wildcards).
func matchCORS(rules []objapi.CORSRule, origin, method string, headers []string) (objapi.CORSRule, bool) {
	for _, r := range rules {
		if !slices.Contains(r.AllowedMethods, method) {
			continue
		}
		if !slices.ContainsFunc(r.AllowedOrigins, func(p string) bool { return wildcardMatch(p, origin) }) {
			continue
		}
		allowed := true
		for _, h := range headers {
			if !slices.ContainsFunc(r.AllowedHeaders, func(p string) bool { return wildcardMatch(strings.ToLower(p), h) }) {
				allowed = false
				break
			}
		}
		if allowed {
			return r, true
		}
	}
	return objapi.CORSRule{}, false
}

// wildcardMatch matches s against a pattern with at most one '*', which
// stands for any run of characters, empty included.
func wildcardMatch(pattern, s string) bool {
	before, after, ok := strings.Cut(pattern, "*")
	if !ok {
		return pattern == s
	}
	return len(s) >= len(before)+len(after) && strings.HasPrefix(s, before) && strings.HasSuffix(s, after)
}
