package sigv2

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kommunal-cloud/kcs/s3api/sigv4"
)

// The AWS documentation's example credentials.
const (
	exampleAccessKey = "AKIAIOSFODNN7EXAMPLE"
	exampleSecret    = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// staticLookup knows the keys of m.
func staticLookup(m map[string]string) sigv4.SecretLookup {
	return func(_ context.Context, ak string) (string, error) {
		if s, ok := m[ak]; ok {
			return s, nil
		}
		return "", fmt.Errorf("test store: %w", sigv4.ErrUnknownAccessKey)
	}
}

// awsHostBucket is S3's own addressing as the examples use it:
// "<bucket>.s3.<region>.amazonaws.com", "<bucket>.<region>.s3.amazonaws.com"
// and "<bucket>.s3.amazonaws.com" name a bucket, "s3.<region>.amazonaws.com"
// none, and any other host is a CNAME whose whole name is the bucket.
func awsHostBucket(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if rest, ok := strings.CutSuffix(host, ".amazonaws.com"); ok {
		if strings.HasPrefix(rest, "s3.") || rest == "s3" {
			return ""
		}
		b, _, _ := strings.Cut(rest, ".")
		return b
	}
	return host
}

// exampleVerifier verifies the documentation's examples, its clock at now.
func exampleVerifier(now time.Time) *Verifier {
	return &Verifier{
		Lookup:     staticLookup(map[string]string{exampleAccessKey: exampleSecret}),
		Now:        func() time.Time { return now },
		HostBucket: awsHostBucket,
	}
}

// loadExample parses testdata/aws/<name>.http: a request line and headers,
// as a server receives them (RequestURI as sent). The body is never read.
func loadExample(t testing.TB, name string) *http.Request {
	t.Helper()
	head, err := os.ReadFile(filepath.Join("testdata", "aws", name+".http"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(append(head, '\n'))))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

// exampleTime is the moment an example was made: its Date, or for the
// query-string example a day before it expires.
func exampleTime(t testing.TB, r *http.Request) time.Time {
	t.Helper()
	d := r.Header.Get("X-Amz-Date")
	if d == "" {
		d = r.Header.Get("Date")
	}
	if d == "" {
		return time.Date(2007, 3, 28, 3, 40, 20, 0, time.UTC) // Expires 1175139620 is a day later
	}
	at, ok := parseDate(d)
	if !ok {
		t.Fatalf("example date %q does not parse", d)
	}
	return at
}

// TestAWSExamples: each example of the Signature Version 2 page verifies
// with its documented signature, and the string to sign is the documented
// one (see testdata/aws/README.md).
func TestAWSExamples(t *testing.T) {
	for _, tc := range []struct {
		file      string
		sts       string // as the page prints it
		presigned bool
	}{
		{file: "object-get", sts: "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg"},
		{file: "object-put", sts: "PUT\n\nimage/jpeg\nTue, 27 Mar 2007 21:15:45 +0000\n/awsexamplebucket1/photos/puppy.jpg"},
		{file: "list", sts: "GET\n\n\nTue, 27 Mar 2007 19:42:41 +0000\n/awsexamplebucket1/"},
		{file: "fetch", sts: "GET\n\n\nTue, 27 Mar 2007 19:44:46 +0000\n/awsexamplebucket1/?acl"},
		// The page's x-amz-date form; the verifier's first guess is the
		// form its text describes (TestAmzDateForms).
		{file: "delete", sts: "DELETE\n\n\nTue, 27 Mar 2007 21:20:26 +0000\n/awsexamplebucket1/photos/puppy.jpg"},
		{file: "upload", sts: "PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/x-download\nTue, 27 Mar 2007 21:06:08 +0000\n" +
			"x-amz-acl:public-read\nx-amz-meta-checksumalgorithm:crc32\nx-amz-meta-filechecksum:0x02661779\n" +
			"x-amz-meta-reviewedby:joe@awsexamplebucket1.net,jane@awsexamplebucket1.net\n/static.awsexamplebucket1.net/db-backup.dat.gz"},
		{file: "list-all-my-buckets", sts: "GET\n\n\nWed, 28 Mar 2007 01:29:59 +0000\n/"},
		{file: "unicode-keys", sts: "GET\n\n\nWed, 28 Mar 2007 01:49:49 +0000\n/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re"},
		{file: "query-string", sts: "GET\n\n\n1175139620\n/johnsmith/photos/puppy.jpg", presigned: true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			r := loadExample(t, tc.file)
			res, err := exampleVerifier(exampleTime(t, r)).Verify(r, sigv4.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.AccessKey != exampleAccessKey || res.Presigned != tc.presigned {
				t.Errorf("access key %q, presigned %v", res.AccessKey, res.Presigned)
			}
			// The documented signature is that of the documented string.
			if got, want := sign(exampleSecret, tc.sts), documentedSignature(t, r); got != want {
				t.Errorf("the documented string to sign signs to %s, the page prints %s", got, want)
			}
			if tc.file == "delete" {
				return // the alternative form; its first string is TestAmzDateForms'
			}
			if got := stringToSignOf(t, r); got != tc.sts {
				t.Errorf("string to sign\n%q\nthe page's\n%q", got, tc.sts)
			}
		})
	}
}

// documentedSignature is the signature an example request carries.
func documentedSignature(t testing.TB, r *http.Request) string {
	t.Helper()
	if a := r.Header.Get("Authorization"); a != "" {
		_, sig, _ := strings.Cut(a, ":")
		return sig
	}
	return scanQuery(r.URL.RawQuery).params[qSignature][0]
}

// stringToSignOf is the string the verifier signs for r: what a mismatch
// reports, made visible by signing r with a wrong secret.
func stringToSignOf(t testing.TB, r *http.Request) string {
	t.Helper()
	v := exampleVerifier(exampleTime(t, r))
	v.Lookup = staticLookup(map[string]string{exampleAccessKey: "not the secret"})
	_, err := v.Verify(r, sigv4.Options{})
	me, ok := err.(*MismatchError)
	if !ok {
		t.Fatalf("a wrong secret gave %v, want a *MismatchError", err)
	}
	return me.StringToSign
}

// TestAWSExampleRenames pins the page's renames (testdata/aws/README.md):
// the names printed next to two signatures today do not produce them.
func TestAWSExampleRenames(t *testing.T) {
	for _, tc := range []struct{ sts, sig string }{
		{"GET\n\n\n1175139620\n/awsexamplebucket1/photos/puppy.jpg", "NpgCjnDzrM+WFzoENXmpNDUsSn8="},
		{"PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/x-download\nTue, 27 Mar 2007 21:06:08 +0000\n" +
			"x-amz-acl:public-read\nx-amz-meta-checksumalgorithm:crc32\nx-amz-meta-filechecksum:0x02661779\n" +
			"x-amz-meta-reviewedby:joe@example.com,jane@example.com\n/static.example.com/db-backup.dat.gz", "dKZcB+bz2EPXgSdXZp9ozGeOM4I="},
	} {
		if sign(exampleSecret, tc.sts) == tc.sig {
			t.Errorf("the page's current names sign to %s after all; use them in testdata", tc.sig)
		}
	}
}

// TestAmzDateForms: with x-amz-date, the Date line is empty and x-amz-date
// is an x-amz-* line (the page's text, boto, s3cmd, the Java SDK), or holds
// x-amz-date's value with no such line (the page's example). Both verify; a
// mismatch reports the first.
func TestAmzDateForms(t *testing.T) {
	r := loadExample(t, "delete")
	want := "DELETE\n\n\n\nx-amz-date:Tue, 27 Mar 2007 21:20:26 +0000\n/awsexamplebucket1/photos/puppy.jpg"
	if got := stringToSignOf(t, r); got != want {
		t.Errorf("string to sign %q, want %q", got, want)
	}
	r.Header.Set("Authorization", "AWS "+exampleAccessKey+":"+sign(exampleSecret, want))
	if _, err := exampleVerifier(exampleTime(t, r)).Verify(r, sigv4.Options{}); err != nil {
		t.Errorf("the text's form: %v", err)
	}
	// The Date header is ignored once x-amz-date is sent: any value, even
	// one far off, changes nothing.
	r.Header.Set("Date", "Mon, 01 Jan 2001 00:00:00 GMT")
	if _, err := exampleVerifier(exampleTime(t, r)).Verify(r, sigv4.Options{}); err != nil {
		t.Errorf("with another Date: %v", err)
	}
}

// TestPostSignature: a POST form's signature is base64 HMAC-SHA1 of the
// base64 policy, as the page's "Constructing a Signature" steps describe,
// here for the page's example policy.
func TestPostSignature(t *testing.T) {
	policy := "eyAiZXhwaXJhdGlvbiI6ICIyMDA3LTEyLTAxVDEyOjAwOjAwLjAwMFoiLAogICJjb25kaXRpb25zIjogWwogICAgeyJidWNrZXQiOiAiam9obnNtaXRoIn0sCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci9lcmljLyJdLAogICAgeyJhY2wiOiAicHVibGljLXJlYWQifSwKICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL2pvaG5zbWl0aC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwKICAgIFsic3RhcnRzLXdpdGgiLCAiJENvbnRlbnQtVHlwZSIsICJpbWFnZS8iXSwKICAgIHsieC1hbXotbWV0YS11dWlkIjogIjE0MzY1MTIzNjUxMjc0In0sCiAgICBbInN0YXJ0cy13aXRoIiwgIiR4LWFtei1tZXRhLXRhZyIsICIiXQogIF0KfQo="
	// Computed independently: python3 -c 'import hmac,hashlib,base64;
	// print(base64.b64encode(hmac.new(secret, policy, hashlib.sha1).digest()))'
	const want = "gp42sMsv4L5xLO0OjT+56V64o+A="
	v := exampleVerifier(time.Now())
	ak, err := v.VerifyPost(context.Background(), PostForm{AccessKeyID: exampleAccessKey, Policy: policy, Signature: want})
	if err != nil || ak != exampleAccessKey {
		t.Fatalf("VerifyPost: %q, %v", ak, err)
	}
	for name, f := range map[string]PostForm{
		"policy changed":  {exampleAccessKey, policy[:len(policy)-4] + "Cg==", want},
		"other signature": {exampleAccessKey, policy, "0RavWzkygo6QX9caELEqKi9kDbU="},
		"not base64":      {exampleAccessKey, policy, "qA7FWXKq6VvU68lI9KdveT1cWgF="},
		"empty signature": {exampleAccessKey, policy, ""},
	} {
		var me *MismatchError
		if _, err := v.VerifyPost(context.Background(), f); !errors.As(err, &me) || me.StringToSign != f.Policy {
			t.Errorf("%s: %v, want a mismatch over the policy", name, err)
		}
	}
	if _, err := v.VerifyPost(context.Background(), PostForm{"AKIAOTHER", policy, want}); !errors.Is(err, sigv4.ErrUnknownAccessKey) {
		t.Errorf("unknown key: %v", err)
	}
	if _, err := v.VerifyPost(context.Background(), PostForm{"", policy, want}); !errors.Is(err, sigv4.ErrUnknownAccessKey) {
		t.Errorf("empty key: %v", err)
	}
}
