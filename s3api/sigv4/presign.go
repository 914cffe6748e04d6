package sigv4

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxPresignExpires is the longest validity of a presigned URL, seven days.
const maxPresignExpires = 7 * 24 * 60 * 60

// Query parameters of query-string authentication ("presigned URLs").
const (
	qAlgorithm     = "X-Amz-Algorithm"
	qCredential    = "X-Amz-Credential"
	qDate          = "X-Amz-Date"
	qExpires       = "X-Amz-Expires"
	qSignedHeaders = "X-Amz-SignedHeaders"
	qSignature     = "X-Amz-Signature"
	qSecurityToken = "X-Amz-Security-Token"
)

// queryAuthKind reports which query-string authentication a raw query
// carries: "v4", "v2" (AWSAccessKeyId and Signature) or "". It parses leniently;
// a malformed query is reported by the parser of its kind.
func queryAuthKind(rawQuery string) string {
	if rawQuery == "" {
		return ""
	}
	v2 := 0
	for piece := range strings.SplitSeq(rawQuery, "&") {
		k, _, _ := strings.Cut(piece, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		switch k {
		case qAlgorithm, qCredential, qSignature:
			return "v4"
		case "AWSAccessKeyId", "Signature":
			v2++
		}
	}
	if v2 == 2 {
		return "v2"
	}
	return ""
}

// fromQuery parses query-string authentication:
//
//	?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20130524%2Fus-east-1%2Fs3%2Faws4_request
//	 &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=…
//
// The payload of a presigned request is never signed: its canonical request
// ends in UNSIGNED-PAYLOAD. X-Amz-Security-Token is refused: kcs issues no
// temporary credentials, so a token could never be checked, and a request
// that carries one was not meant for kcs.
func (v *Verifier) fromQuery(r *http.Request, now time.Time) (*authInfo, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPresignMalformed, err)
	}
	param := func(name string) (string, error) {
		switch vals := q[name]; len(vals) {
		case 0:
			return "", fmt.Errorf("%w: %s missing", ErrPresignMalformed, name)
		case 1:
			return vals[0], nil
		default:
			return "", fmt.Errorf("%w: %s given %d times", ErrPresignMalformed, name, len(vals))
		}
	}
	if _, ok := q[qSecurityToken]; ok {
		return nil, fmt.Errorf("%w: %s (temporary credentials are not supported)", ErrUnsupportedAuth, qSecurityToken)
	}

	algo, err := param(qAlgorithm)
	if err != nil {
		return nil, err
	}
	switch algo {
	case algorithmHMAC:
	case algorithmECDSA:
		return nil, fmt.Errorf("%w: SigV4A (%s); use %s", ErrUnsupportedAuth, algorithmECDSA, algorithmHMAC)
	default:
		return nil, fmt.Errorf("%w: %s %q; use %s", ErrUnsupportedAuth, qAlgorithm, algo, algorithmHMAC)
	}

	c := &authInfo{presigned: true, payload: unsignedPayload}
	cred, err := param(qCredential)
	if err != nil {
		return nil, err
	}
	if c.scope, err = parseCredential(cred, v.Region, v.service()); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPresignMalformed, err)
	}
	list, err := param(qSignedHeaders)
	if err != nil {
		return nil, err
	}
	if c.signed, err = parseSignedHeaders(list); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPresignMalformed, err)
	}
	sigHex, err := param(qSignature)
	if err != nil {
		return nil, err
	}
	var ok bool
	if c.signature, ok = parseSignature(sigHex); !ok {
		return nil, fmt.Errorf("%w: %s is not %d hex digits", ErrPresignMalformed, qSignature, signatureLen)
	}

	if c.amzDate, err = param(qDate); err != nil {
		return nil, err
	}
	t, ok := parseAmzDate(c.amzDate)
	if !ok {
		return nil, fmt.Errorf("%w: %s %q is not YYYYMMDDTHHMMSSZ", ErrPresignMalformed, qDate, c.amzDate)
	}
	if c.amzDate[:scopeDateLen] != c.scope.date {
		return nil, fmt.Errorf("%w: credential date %s is not the request date %s", ErrPresignMalformed, c.scope.date, c.amzDate[:scopeDateLen])
	}
	exp, err := param(qExpires)
	if err != nil {
		return nil, err
	}
	secs, err := strconv.Atoi(exp)
	if err != nil || !isDigits(exp, len(exp)) || secs < 1 || secs > maxPresignExpires {
		return nil, fmt.Errorf("%w: %s %q is not 1…%d seconds", ErrPresignMalformed, qExpires, exp, maxPresignExpires)
	}

	// A URL is valid from its date to its date plus its lifetime. Only the
	// start gets the clock-skew allowance: a client whose clock runs ahead
	// must still be able to use the URL it just signed.
	if t.After(now.Add(v.maxSkew())) {
		return nil, fmt.Errorf("%w: signed for %s, server time %s", ErrPresignNotYetValid, c.amzDate, now.UTC().Format(amzDateLayout))
	}
	if end := t.Add(time.Duration(secs) * time.Second); now.After(end) {
		return nil, fmt.Errorf("%w: expired at %s, server time %s", ErrPresignExpired, end.UTC().Format(amzDateLayout), now.UTC().Format(amzDateLayout))
	}
	if err := requireSigned(c.signed, "host"); err != nil {
		return nil, err
	}
	return c, nil
}
