package sigv4

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// authInfo is what either kind of authentication states before the secret
// is known: who signed, for which scope and time, over which headers, and the
// signature to check.
type authInfo struct {
	scope     scope
	amzDate   string   // the timestamp line of the string to sign
	signed    []string // signed header names, lower case, in the client's order
	signature [32]byte
	payload   string // last line of the canonical request
	presigned bool
}

// fromHeader parses the Authorization header of a request:
//
//	AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=…
//
// Clients differ in the blanks around ',' and after the algorithm; all are
// accepted. It checks the scope, the request time and which headers are
// signed, but not the signature.
func (v *Verifier) fromHeader(r *http.Request, auth string, now time.Time) (*authInfo, error) {
	algo, rest, _ := strings.Cut(strings.TrimSpace(auth), " ")
	switch algo {
	case algorithmHMAC:
	case "AWS":
		return nil, fmt.Errorf("%w: Signature Version 2; use %s", ErrUnsupportedAuth, algorithmHMAC)
	case algorithmECDSA:
		return nil, fmt.Errorf("%w: SigV4A (%s); use %s", ErrUnsupportedAuth, algorithmECDSA, algorithmHMAC)
	default:
		return nil, fmt.Errorf("%w: algorithm %q; use %s", ErrUnsupportedAuth, algo, algorithmHMAC)
	}

	var cred, signedList, sigHex string
	seen := map[string]bool{}
	for field := range strings.SplitSeq(rest, ",") {
		field = strings.TrimSpace(field)
		if field == "" {
			continue
		}
		k, val, ok := strings.Cut(field, "=")
		if !ok || seen[k] {
			return nil, fmt.Errorf("%w: field %q", ErrAuthHeaderMalformed, field)
		}
		seen[k] = true
		switch k {
		case "Credential":
			cred = val
		case "SignedHeaders":
			signedList = val
		case "Signature":
			sigHex = val
		default:
			return nil, fmt.Errorf("%w: unknown field %q", ErrAuthHeaderMalformed, k)
		}
	}
	if !seen["Credential"] || !seen["SignedHeaders"] || !seen["Signature"] {
		return nil, fmt.Errorf("%w: Credential, SignedHeaders and Signature are all required", ErrAuthHeaderMalformed)
	}

	c := &authInfo{}
	var err error
	if c.scope, err = parseCredential(cred, v.Region, v.service()); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAuthHeaderMalformed, err)
	}
	if c.signed, err = parseSignedHeaders(signedList); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAuthHeaderMalformed, err)
	}
	var ok bool
	if c.signature, ok = parseSignature(sigHex); !ok {
		return nil, fmt.Errorf("%w: signature %q is not %d hex digits", ErrAuthHeaderMalformed, sigHex, signatureLen)
	}

	// The time: X-Amz-Date, or else Date. Whichever is used must be signed,
	// or a captured request could be replayed with a fresh date.
	var t time.Time
	dateHeader := "x-amz-date"
	if d := r.Header.Get("X-Amz-Date"); d != "" {
		if t, ok = parseAmzDate(d); !ok {
			return nil, fmt.Errorf("%w: X-Amz-Date %q is not YYYYMMDDTHHMMSSZ", ErrMissingDate, d)
		}
		c.amzDate = d
	} else if d := r.Header.Get("Date"); d != "" {
		if t, err = http.ParseTime(d); err != nil {
			return nil, fmt.Errorf("%w: Date %q is not an HTTP date", ErrMissingDate, d)
		}
		c.amzDate = t.UTC().Format(amzDateLayout)
		dateHeader = "date"
	} else {
		return nil, fmt.Errorf("%w: neither X-Amz-Date nor Date", ErrMissingDate)
	}
	if c.amzDate[:scopeDateLen] != c.scope.date {
		return nil, fmt.Errorf("%w: credential date %s is not the request date %s", ErrAuthHeaderMalformed, c.scope.date, c.amzDate[:scopeDateLen])
	}
	if skew := now.Sub(t).Abs(); skew > v.maxSkew() {
		return nil, fmt.Errorf("%w: request time %s is %v from the server time %s (at most %v allowed)",
			ErrRequestTimeTooSkewed, t.UTC().Format(amzDateLayout), skew.Round(time.Second), now.UTC().Format(amzDateLayout), v.maxSkew())
	}

	c.payload = r.Header.Get("X-Amz-Content-Sha256")
	if c.payload == "" {
		return nil, fmt.Errorf("%w: header authentication needs it", ErrMissingContentSHA256)
	}
	if err := requireSigned(c.signed, "host", dateHeader, "x-amz-content-sha256"); err != nil {
		return nil, err
	}
	return c, nil
}

// requireSigned checks that each of names is in the signed-header list.
func requireSigned(signed []string, names ...string) error {
	for _, n := range names {
		if !slices.Contains(signed, n) {
			return fmt.Errorf("%w: %s must be signed", ErrHeadersNotSigned, n)
		}
	}
	return nil
}

// unsignedAmzHeaders lists the x-amz-* headers of r that are not signed. AWS
// rejects such requests; Verifier.StrictHeaders does too.
func unsignedAmzHeaders(r *http.Request, signed []string) []string {
	var out []string
	for name := range r.Header {
		l := strings.ToLower(name)
		if strings.HasPrefix(l, "x-amz-") && !slices.Contains(signed, l) {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}
