package s3api

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// corsForbidden is S3's message for a CORS request no rule allows.
const corsForbidden = "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."

// portalRules are the rules of a municipal web portal's bucket.
var portalRules = []types.CORSRule{
	{
		ID:             aws.String("portal"),
		AllowedOrigins: []string{"https://portal.greiz.de", "https://*.kommunal-cloud.example"},
		AllowedMethods: []string{"GET", "PUT", "POST"},
		AllowedHeaders: []string{"Content-Type", "x-amz-*"},
		ExposeHeaders:  []string{"ETag", "x-amz-request-id"},
		MaxAgeSeconds:  aws.Int32(3000),
	},
	{
		ID:             aws.String("lesen"),
		AllowedOrigins: []string{"*"},
		AllowedMethods: []string{"GET", "HEAD"},
		AllowedHeaders: []string{"*"},
	},
	{
		// Never reached for GET from the portal: the first rule wins.
		AllowedOrigins: []string{"https://portal.greiz.de"},
		AllowedMethods: []string{"GET", "DELETE"},
		MaxAgeSeconds:  aws.Int32(1),
	},
}

func TestSDKBucketCors(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx := context.Background()
	c := h.sdk(keyA)
	h.mustCreateBucket(keyA, "portal")
	_, err := c.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String("portal")})
	wantAPIError(t, err, 404, "NoSuchCORSConfiguration")
	if _, err := c.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: aws.String("portal"),
		CORSConfiguration: &types.CORSConfiguration{CORSRules: portalRules}}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String("portal")})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.CORSRules) != 3 {
		t.Fatalf("%d rules", len(got.CORSRules))
	}
	for i, r := range got.CORSRules {
		w := portalRules[i]
		if aws.ToString(r.ID) != aws.ToString(w.ID) || !slices.Equal(r.AllowedOrigins, w.AllowedOrigins) || !slices.Equal(r.AllowedMethods, w.AllowedMethods) ||
			!slices.Equal(r.AllowedHeaders, w.AllowedHeaders) || !slices.Equal(r.ExposeHeaders, w.ExposeHeaders) || aws.ToInt32(r.MaxAgeSeconds) != aws.ToInt32(w.MaxAgeSeconds) {
			t.Errorf("rule %d: %+v, want %+v", i, r, w)
		}
	}
	_, err = h.sdk(keyB).GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String("portal")})
	wantAPIError(t, err, 403, "AccessDenied")
	_, err = h.sdk(keyB).PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: aws.String("portal"),
		CORSConfiguration: &types.CORSConfiguration{CORSRules: portalRules}})
	wantAPIError(t, err, 403, "AccessDenied")
	if _, err := c.DeleteBucketCors(ctx, &s3.DeleteBucketCorsInput{Bucket: aws.String("portal")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetBucketCors(ctx, &s3.GetBucketCorsInput{Bucket: aws.String("portal")})
	wantAPIError(t, err, 404, "NoSuchCORSConfiguration")
}

func TestRawPutBucketCors(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.mustCreateBucket(keyA, "portal")
	rule := func(inner string) string {
		return "<CORSConfiguration><CORSRule>" + inner + "</CORSRule></CORSConfiguration>"
	}
	var many strings.Builder
	many.WriteString("<CORSConfiguration>")
	for range 101 {
		many.WriteString("<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>")
	}
	many.WriteString("</CORSConfiguration>")
	for _, tc := range []struct {
		name, body string
		code, msg  string
	}{
		{"malformed", "<CORSConfiguration><CORSRule>", "MalformedXML", ""},
		{"empty body", "", "MalformedXML", ""},
		{"no rules", "<CORSConfiguration></CORSConfiguration>", "MalformedXML", ""},
		{"no origin", rule("<AllowedMethod>GET</AllowedMethod>"), "MalformedXML", ""},
		{"no method", rule("<AllowedOrigin>*</AllowedOrigin>"), "MalformedXML", ""},
		{"max age not a number", rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>lang</MaxAgeSeconds>"), "MalformedXML", ""},
		{"unsupported method", rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod>"), "InvalidRequest",
			"Found unsupported HTTP method in CORS config. Unsupported method is PATCH"},
		{"lower-case method", rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>get</AllowedMethod>"), "InvalidRequest", ""},
		{"two wildcards in an origin", rule("<AllowedOrigin>https://*.*.example</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"), "InvalidRequest",
			`AllowedOrigin "https://*.*.example" can not have more than one wildcard.`},
		{"two wildcards in a header", rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedHeader>*-*</AllowedHeader>"), "InvalidRequest", ""},
		{"wildcard in an exposed header", rule("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><ExposeHeader>*</ExposeHeader>"), "InvalidRequest", ""},
		{"101 rules", many.String(), "InvalidRequest", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := h.wantError(h.do(rawReq{method: "PUT", path: "/portal", query: "cors", body: []byte(tc.body)}), 400, tc.code)
			if tc.msg != "" && doc.Message != tc.msg {
				t.Errorf("message %q, want %q", doc.Message, tc.msg)
			}
		})
	}
	_, err := h.sdk(keyA).GetBucketCors(context.Background(), &s3.GetBucketCorsInput{Bucket: aws.String("portal")})
	wantAPIError(t, err, 404, "NoSuchCORSConfiguration")
}

func TestCORSPreflight(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx := context.Background()
	h.mustCreateBucket(keyA, "portal")
	h.mustCreateBucket(keyA, "ohne-cors")
	if _, err := h.sdk(keyA).PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: aws.String("portal"),
		CORSConfiguration: &types.CORSConfiguration{CORSRules: portalRules}}); err != nil {
		t.Fatal(err)
	}
	type want struct {
		status                           int
		origin, methods, headers, maxAge string
		expose, credentials              string
		code, msg                        string
	}
	portal := want{status: 200, origin: "https://portal.greiz.de", methods: "GET, PUT, POST", maxAge: "3000",
		expose: "ETag, x-amz-request-id", credentials: "true"}
	for _, tc := range []struct {
		name, path, origin, method, reqHeaders string
		want                                   want
	}{
		{"exact origin", "/portal/antrag.pdf", "https://portal.greiz.de", "PUT", "content-type, x-amz-meta-antragsteller", func() want {
			w := portal
			w.headers = "content-type, x-amz-meta-antragsteller"
			return w
		}()},
		{"bucket itself", "/portal", "https://portal.greiz.de", "POST", "", portal},
		{"wildcard origin", "/portal/k", "https://sommerda.kommunal-cloud.example", "GET", "X-Amz-Date", want{status: 200,
			origin: "https://sommerda.kommunal-cloud.example", methods: "GET, PUT, POST", headers: "x-amz-date", maxAge: "3000",
			expose: "ETag, x-amz-request-id", credentials: "true"}},
		{"any origin reads", "/portal/k", "https://irgendwo.example", "HEAD", "range, if-none-match", want{status: 200,
			origin: "*", methods: "GET, HEAD", headers: "range, if-none-match"}},
		{"first rule wins", "/portal/k", "https://portal.greiz.de", "GET", "", portal},
		{"later rule", "/portal/k", "https://portal.greiz.de", "DELETE", "", want{status: 200, origin: "https://portal.greiz.de",
			methods: "GET, DELETE", maxAge: "1", credentials: "true"}},
		{"header not allowed", "/portal/k", "https://portal.greiz.de", "PUT", "authorization", want{status: 403, code: "AccessForbidden", msg: corsForbidden}},
		{"method not allowed", "/portal/k", "https://irgendwo.example", "PUT", "", want{status: 403, code: "AccessForbidden", msg: corsForbidden}},
		{"origin is case-sensitive", "/portal/k", "https://PORTAL.greiz.de", "DELETE", "", want{status: 403, code: "AccessForbidden", msg: corsForbidden}},
		{"wildcard needs its suffix", "/portal/k", "https://kommunal-cloud.example.evil", "PUT", "", want{status: 403, code: "AccessForbidden", msg: corsForbidden}},
		{"no configuration", "/ohne-cors/k", "https://portal.greiz.de", "GET", "", want{status: 403, code: "AccessForbidden", msg: corsForbidden}},
		{"no bucket", "/gibt-es-nicht/k", "https://portal.greiz.de", "GET", "", want{status: 403, code: "AccessForbidden", msg: corsForbidden}},
		{"service", "/", "https://portal.greiz.de", "GET", "", want{status: 403, code: "AccessForbidden", msg: corsForbidden}},
		{"no origin", "/portal/k", "", "GET", "", want{status: 400, code: "BadRequest", msg: "Insufficient information. Origin request header needed."}},
		{"no method", "/portal/k", "https://portal.greiz.de", "", "", want{status: 400, code: "BadRequest", msg: "Invalid Access-Control-Request-Method: null"}},
		{"unknown method", "/portal/k", "https://portal.greiz.de", "PATCH", "", want{status: 400, code: "BadRequest", msg: "Invalid Access-Control-Request-Method: PATCH"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{}
			for k, v := range map[string]string{"Origin": tc.origin, "Access-Control-Request-Method": tc.method, "Access-Control-Request-Headers": tc.reqHeaders} {
				if v != "" {
					hdr[k] = v
				}
			}
			// A browser's preflight carries no credentials.
			resp := h.do(rawReq{method: "OPTIONS", path: tc.path, header: hdr, unsigned: true})
			w := tc.want
			if w.status != 200 {
				doc := h.wantError(resp, w.status, w.code)
				if doc.Message != w.msg {
					t.Errorf("message %q, want %q", doc.Message, w.msg)
				}
				if resp.Header.Get("Access-Control-Allow-Origin") != "" {
					t.Errorf("a refused preflight allows %q", resp.Header.Get("Access-Control-Allow-Origin"))
				}
				return
			}
			if resp.StatusCode != 200 || len(resp.body) != 0 {
				t.Fatalf("status %d, body %q", resp.StatusCode, resp.body)
			}
			for name, v := range map[string]string{
				"Access-Control-Allow-Origin":      w.origin,
				"Access-Control-Allow-Methods":     w.methods,
				"Access-Control-Allow-Headers":     w.headers,
				"Access-Control-Max-Age":           w.maxAge,
				"Access-Control-Expose-Headers":    w.expose,
				"Access-Control-Allow-Credentials": w.credentials,
				"Vary":                             "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
			} {
				if got := resp.Header.Get(name); got != v {
					t.Errorf("%s %q, want %q", name, got, v)
				}
			}
		})
	}
}

// TestCORSActualRequests: signed requests from a page of an allowed origin
// get the CORS headers, errors included, so that the page can read them.
func TestCORSActualRequests(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx := context.Background()
	h.mustCreateBucket(keyA, "portal")
	h.mustCreateBucket(keyA, "ohne-cors")
	if _, err := h.sdk(keyA).PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: aws.String("portal"),
		CORSConfiguration: &types.CORSConfiguration{CORSRules: portalRules}}); err != nil {
		t.Fatal(err)
	}
	h.mustPut(keyA, "portal", "k", []byte("inhalt"))
	h.mustPut(keyA, "ohne-cors", "k", []byte("inhalt"))
	const vary = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
	for _, tc := range []struct {
		name                        string
		req                         rawReq
		status                      int
		origin, expose, credentials string
		vary                        string
	}{
		{"GET", rawReq{method: "GET", path: "/portal/k"}, 200, "https://portal.greiz.de", "ETag, x-amz-request-id", "true", vary},
		{"GET of a missing key", rawReq{method: "GET", path: "/portal/fehlt"}, 404, "https://portal.greiz.de", "ETag, x-amz-request-id", "true", vary},
		{"unsigned", rawReq{method: "GET", path: "/portal/k", unsigned: true}, 403, "https://portal.greiz.de", "ETag, x-amz-request-id", "true", vary},
		{"PUT", rawReq{method: "PUT", path: "/portal/neu", body: []byte("x")}, 200, "https://portal.greiz.de", "ETag, x-amz-request-id", "true", vary},
		{"method no rule allows", rawReq{method: "DELETE", path: "/portal/neu", header: map[string]string{"Origin": "https://andere.example"}}, 204, "", "", "", vary},
		{"HEAD from anywhere", rawReq{method: "HEAD", path: "/portal/k", header: map[string]string{"Origin": "https://andere.example"}}, 200, "*", "", "", vary},
		{"bucket without rules", rawReq{method: "GET", path: "/ohne-cors/k"}, 200, "", "", "", ""},
		{"no Origin", rawReq{method: "GET", path: "/portal/k", header: map[string]string{"Origin": ""}}, 200, "", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.req
			if r.header == nil {
				r.header = map[string]string{"Origin": "https://portal.greiz.de"}
			}
			if r.header["Origin"] == "" {
				delete(r.header, "Origin")
			}
			resp := h.do(r)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, resp.body)
			}
			for name, v := range map[string]string{
				"Access-Control-Allow-Origin":      tc.origin,
				"Access-Control-Expose-Headers":    tc.expose,
				"Access-Control-Allow-Credentials": tc.credentials,
				"Vary":                             tc.vary,
			} {
				if got := resp.Header.Get(name); got != v {
					t.Errorf("%s %q, want %q", name, got, v)
				}
			}
		})
	}
	// The BucketCORS lookup happens only for requests with an Origin.
	var calls atomic.Int32
	counting := newHarness(t, harnessOpts{wrap: func(l ObjectLayer) ObjectLayer { return &countingCORS{ObjectLayer: l, calls: &calls} }})
	counting.mustCreateBucket(keyA, "portal")
	counting.mustPut(keyA, "portal", "k", []byte("x"))
	for range 3 {
		counting.getBytes(keyA, "portal", "k")
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("%d CORS lookups for requests without Origin", n)
	}
	counting.do(rawReq{method: "GET", path: "/portal/k", header: map[string]string{"Origin": "https://x.example"}})
	if n := calls.Load(); n != 1 {
		t.Errorf("%d CORS lookups for one request with Origin", n)
	}
}

type countingCORS struct {
	ObjectLayer
	calls *atomic.Int32
}

func (c *countingCORS) BucketCORS(ctx context.Context, bucket string) ([]objapi.CORSRule, error) {
	c.calls.Add(1)
	return c.ObjectLayer.BucketCORS(ctx, bucket)
}
