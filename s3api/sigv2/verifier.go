package sigv2

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kommunal-cloud/kcs/s3api/sigv4"
)

// MaxExpiresAhead is how far after the server's time a presigned URL's
// Expires may lie: Signature Version 4's limit of seven days (see the
// package comment), plus the clock-skew allowance for a signer whose clock
// runs ahead.
const MaxExpiresAhead = 7 * 24 * time.Hour

// Verifier authenticates Signature Version 2 requests. Set the fields
// before the first call and do not change them afterwards; its methods may
// then be called from many goroutines.
type Verifier struct {
	// Lookup returns an access key's secret; required. It is called once
	// per request, with the request's context, and wraps
	// sigv4.ErrUnknownAccessKey for a key it does not know.
	Lookup sigv4.SecretLookup
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxSkew is how far a request's Date (or x-amz-date) may be from
	// Now; 0 means S3's 15 minutes.
	MaxSkew time.Duration
	// HostBucket returns the bucket that a virtual-hosted-style Host names
	// ("" for path style), the server's own rule, so that
	// CanonicalizedResource starts with that bucket as the client's did.
	// Nil means path style only.
	HostBucket func(host string) string
}

func (v *Verifier) now() time.Time {
	if v.Now == nil {
		return time.Now()
	}
	return v.Now()
}

func (v *Verifier) maxSkew() time.Duration {
	if v.MaxSkew <= 0 {
		return 15 * time.Minute
	}
	return v.MaxSkew
}

// claim is what a request states before its secret is known: who signed,
// the signature, and the date line (with the documented alternative, see
// the package comment, when x-amz-date is sent).
type claim struct {
	accessKey string
	signature string // as sent: base64
	presigned bool
	date      string // the Date line: the Date header, or Expires; "" with x-amz-date
	amzDate   string // x-amz-date's value, if the request authenticates by it
}

// Verify authenticates r, signed with an Authorization header of the AWS
// scheme or presigned with AWSAccessKeyId, Expires and Signature, and
// returns the verified body as sigv4.VerifyWith does (o as there). It reads
// headers and the query, never the body, and does not modify r.
//
// Errors wrap sigv4's sentinels (ErrMissingAuth without any credentials,
// ErrMissingDate, ErrRequestTimeTooSkewed, ErrPresignExpired,
// ErrUnknownAccessKey from Lookup, ErrUnsupportedAuth for a session token,
// the payload's) or this package's; a wrong signature is a *MismatchError.
// Any other error of Lookup is returned as it is.
func (v *Verifier) Verify(r *http.Request, o sigv4.Options) (*sigv4.Result, error) {
	if v.Lookup == nil {
		return nil, errors.New("sigv2: Verifier needs Lookup")
	}
	now := v.now()
	var auth []string
	for _, a := range r.Header.Values("Authorization") {
		if strings.TrimSpace(a) != "" { // an empty header carries no credentials
			auth = append(auth, a)
		}
	}
	q := scanQuery(r.URL.RawQuery)
	var c *claim
	var err error
	switch {
	case len(auth) > 0 && (q.v2 || q.v4):
		return nil, fmt.Errorf("%w: an Authorization header and query-string authentication", ErrMixedAuth)
	case q.v2 && q.v4:
		return nil, fmt.Errorf("%w: Signature Version 2 and 4 query parameters", ErrMixedAuth)
	case len(auth) > 1:
		return nil, fmt.Errorf("%w: %d Authorization headers", ErrMalformedHeader, len(auth))
	case len(auth) == 1:
		c, err = v.fromHeader(r, auth[0], now)
	case q.v2:
		c, err = v.fromQuery(q, now)
	default:
		return nil, sigv4.ErrMissingAuth
	}
	if err != nil {
		return nil, err
	}

	h := signingHeaders(r, c.presigned)
	if h.Get("X-Amz-Security-Token") != "" || q.token {
		// kcs issues no temporary credentials, so a token could never be
		// checked; a request that carries one was not meant for kcs.
		return nil, fmt.Errorf("%w: x-amz-security-token (temporary credentials are not supported)", sigv4.ErrUnsupportedAuth)
	}
	secret, err := v.Lookup(r.Context(), c.accessKey)
	if err != nil {
		return nil, fmt.Errorf("sigv2: access key %q: %w", c.accessKey, err)
	}

	bucket := ""
	if v.HostBucket != nil {
		bucket = v.HostBucket(r.Host)
	}
	candidates, amz := c.stringsToSign(r, h, bucket)
	ok := false
	for _, sts := range candidates {
		if ok = signatureMatches(secret, sts, c.signature); ok {
			break
		}
	}
	if !ok {
		// The first candidate is what S3 and botocore sign, and what the
		// client is shown.
		return nil, &MismatchError{AccessKey: c.accessKey, StringToSign: candidates[0], SignatureProvided: c.signature}
	}

	pr := r
	if c.presigned {
		// The body checks whatever checksum headers the URL carries too.
		pr = new(http.Request)
		*pr = *r
		pr.Header = h
	}
	res, err := sigv4.VerifyPayload(pr, o)
	if err != nil {
		return nil, err
	}
	res.AccessKey = c.accessKey
	res.Presigned = c.presigned
	res.SignedHeaders = signedHeaders(c, amz)
	return res, nil
}

// stringsToSign returns the strings that r's signature may sign, the
// usual one first, and the x-amz-* lines of that one. There is more than
// one only where clients disagree about a request that means the same
// either way: a path-style request that names only a bucket
// (canonicalResources), and x-amz-date, whose value the documentation's
// text leaves off the Date line and its example puts there (package
// comment). At most four HMACs a request, then.
func (c *claim) stringsToSign(r *http.Request, h http.Header, bucket string) ([]string, []amzHeader) {
	contentMD5 := strings.TrimSpace(h.Get("Content-Md5"))
	contentType := strings.TrimSpace(h.Get("Content-Type"))
	type dateForm struct {
		line string
		amz  []amzHeader
	}
	var forms []dateForm
	switch {
	case c.presigned:
		// "In the query string authentication method, you do not use the
		// Date or the x-amz-date request header when calculating the
		// string to sign."
		forms = []dateForm{{c.date, amzHeaders(h, "x-amz-date")}}
	case c.amzDate != "":
		forms = []dateForm{{"", amzHeaders(h, "")}, {c.amzDate, amzHeaders(h, "x-amz-date")}}
	default:
		forms = []dateForm{{c.date, amzHeaders(h, "")}}
	}
	var out []string
	for _, resource := range canonicalResources(r, bucket) {
		for _, f := range forms {
			out = append(out, stringToSign(r.Method, contentMD5, contentType, f.line, f.amz, resource))
		}
	}
	return out, forms[0].amz
}

// signedHeaders lists, lower case, the headers the signature covered:
// Content-MD5 and Content-Type (an absent one is signed as absent), the
// date header if it was the Date line, and the x-amz-* headers.
func signedHeaders(c *claim, amz []amzHeader) []string {
	out := []string{"content-md5", "content-type"}
	if !c.presigned && c.amzDate == "" {
		out = append(out, "date")
	}
	for _, a := range amz {
		out = append(out, a.name)
	}
	return out
}

// fromHeader parses "Authorization: AWS AccessKeyId:Signature" and checks
// the request's time: x-amz-date if sent (the Date line is then empty), else
// Date, within MaxSkew of now.
func (v *Verifier) fromHeader(r *http.Request, auth string, now time.Time) (*claim, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(auth), scheme+" ")
	if !ok {
		algo, _, _ := strings.Cut(strings.TrimSpace(auth), " ")
		return nil, fmt.Errorf("%w: Authorization scheme %q is not Signature Version 2's %q", sigv4.ErrUnsupportedAuth, algo, scheme)
	}
	ak, sig, ok := strings.Cut(rest, ":")
	ak, sig = strings.TrimSpace(ak), strings.TrimSpace(sig)
	if !ok || ak == "" || sig == "" || strings.ContainsAny(ak, " \t:") || strings.ContainsAny(sig, " \t") {
		// The value is not quoted: a client that garbles the header may
		// have put its secret there.
		return nil, fmt.Errorf("%w: a %d-byte value that is not \"AWS AccessKeyId:Signature\"", ErrMalformedHeader, len(auth))
	}
	c := &claim{accessKey: ak, signature: sig}

	var t time.Time
	if d := r.Header.Get("X-Amz-Date"); d != "" {
		if t, ok = parseDate(d); !ok {
			return nil, fmt.Errorf("%w: x-amz-date %q is not an HTTP date", sigv4.ErrMissingDate, clip(d))
		}
		c.amzDate = d
	} else if d := r.Header.Get("Date"); d != "" {
		if t, ok = parseDate(d); !ok {
			return nil, fmt.Errorf("%w: Date %q is not an HTTP date", sigv4.ErrMissingDate, clip(d))
		}
		c.date = d
	} else {
		return nil, fmt.Errorf("%w: neither x-amz-date nor Date", sigv4.ErrMissingDate)
	}
	if skew := now.Sub(t).Abs(); skew > v.maxSkew() {
		return nil, fmt.Errorf("%w: request time %s is %v from the server time %s (at most %v allowed)",
			sigv4.ErrRequestTimeTooSkewed, t.UTC().Format(time.RFC3339), skew.Round(time.Second), now.UTC().Format(time.RFC3339), v.maxSkew())
	}
	return c, nil
}

// fromQuery parses query-string authentication: AWSAccessKeyId, Signature
// and Expires (seconds since the epoch, the Date line), each exactly once.
// A URL is valid until Expires; it has no start, so there is nothing to
// allow clock skew for but the limit of MaxExpiresAhead.
func (v *Verifier) fromQuery(q queryAuth, now time.Time) (*claim, error) {
	for _, name := range []string{qAccessKey, qSignature, qExpires} {
		if n := len(q.params[name]); n != 1 {
			return nil, fmt.Errorf("%w: %s given %d times", ErrQueryIncomplete, name, n)
		}
	}
	c := &claim{
		accessKey: q.params[qAccessKey][0],
		// A '+' of the base64 signature that the client did not
		// percent-encode arrives as a space.
		signature: strings.ReplaceAll(q.params[qSignature][0], " ", "+"),
		presigned: true,
		date:      q.params[qExpires][0],
	}
	if c.accessKey == "" || c.signature == "" {
		return nil, fmt.Errorf("%w: empty %s or %s", ErrQueryIncomplete, qAccessKey, qSignature)
	}
	secs, err := strconv.ParseInt(c.date, 10, 64)
	if err != nil || !digits(c.date) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidExpires, clip(c.date))
	}
	if now.Unix() > secs {
		return nil, fmt.Errorf("%w: expired at %s, server time %s", sigv4.ErrPresignExpired,
			time.Unix(secs, 0).UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if limit := now.Add(MaxExpiresAhead + v.maxSkew()).Unix(); secs > limit {
		return nil, fmt.Errorf("%w: Expires %s is more than %v after the server time %s", ErrExpiresTooFar,
			time.Unix(secs, 0).UTC().Format(time.RFC3339), MaxExpiresAhead, now.UTC().Format(time.RFC3339))
	}
	return c, nil
}

// sign returns base64 HMAC-SHA1(secret, stringToSign), a signature as
// clients send it.
func sign(secret, stringToSign string) string {
	return base64.StdEncoding.EncodeToString(mac(secret, stringToSign))
}

func mac(secret, s string) []byte {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(s))
	return m.Sum(nil)
}

// signatureMatches compares a sent base64 signature with the one computed
// over sts, in constant time over the digests. A signature that is not
// base64 of a SHA-1 digest simply does not match, as with S3.
func signatureMatches(secret, sts, sent string) bool {
	got, err := base64.StdEncoding.DecodeString(sent)
	if err != nil || len(got) != sha1.Size {
		return false
	}
	return hmac.Equal(mac(secret, sts), got)
}

// dateLayouts are the forms of Date and x-amz-date accepted: RFC 2616's
// three (the S3 page asks for one of them), RFC 1123 with a numeric zone
// (the page's own examples and s3cmd write "+0000"), with one-digit days,
// and ISO 8601 basic, which some clients put in x-amz-date whatever the
// signature version.
var dateLayouts = []string{
	http.TimeFormat,
	time.RFC1123Z,
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04:05 GMT",
	time.RFC1123,
	time.RFC850,
	time.ANSIC,
	"20060102T150405Z",
}

func parseDate(s string) (time.Time, bool) {
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// clip bounds a client's string quoted in an error: errors go to the log,
// and a 16 KiB header should not.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
