package s3api

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kommunal-cloud/kcs/node/objapi"
	"github.com/kommunal-cloud/kcs/s3api/sigv2"
	"github.com/kommunal-cloud/kcs/s3api/sigv4"
)

// TestKindsAreMapped fails when objapi gains a kind errors.go does not map.
func TestKindsAreMapped(t *testing.T) {
	for k := objapi.Kind(0); k < 1000; k++ {
		if k.String() == fmt.Sprintf("kind %d", uint16(k)) {
			continue // not a defined kind
		}
		if _, ok := kindCodes[k]; !ok {
			t.Errorf("objapi.Kind %d (%s) has no S3 code in kindCodes", k, k)
		}
	}
}

// TestSentinelsAreMapped fails when sigv4 or sigv2 gains a sentinel
// errors.go does not map.
func TestSentinelsAreMapped(t *testing.T) {
	src, err := os.ReadFile("errors.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []string{"sigv4", "sigv2"} {
		declared := map[string]bool{}
		fset := token.NewFileSet()
		files, err := filepath.Glob(pkg + "/*.go")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			file, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range file.Decls {
				if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.VAR {
					for _, s := range g.Specs {
						for _, n := range s.(*ast.ValueSpec).Names {
							if strings.HasPrefix(n.Name, "Err") {
								declared[n.Name] = true
							}
						}
					}
				}
			}
		}
		for name := range declared {
			if !strings.Contains(string(src), "{"+pkg+"."+name+",") {
				t.Errorf("%s.%s has no entry in authCodes", pkg, name)
			}
		}
		if len(declared) == 0 {
			t.Fatalf("found no %s sentinels; the scan is broken", pkg)
		}
	}
}

// TestErrorCodesDefined checks that every S3 code s3api names is in the
// codes table; a missing one would answer 500.
func TestErrorCodesDefined(t *testing.T) {
	for _, c := range kindCodes {
		if _, ok := codes[c]; !ok {
			t.Errorf("kindCodes uses undefined code %q", c)
		}
	}
	for _, m := range authCodes {
		if _, ok := codes[m.code]; !ok {
			t.Errorf("authCodes uses undefined code %q", m.code)
		}
	}
	files, _ := filepath.Glob("*.go")
	re := regexp.MustCompile(`(?:errorf\(|Code:\s*)"([A-Za-z0-9]+)"`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			if _, ok := codes[m[1]]; !ok {
				t.Errorf("%s uses undefined code %q", f, m[1])
			}
		}
	}
}

func TestToAPIError(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		code   string
		status int
		msg    string // "" for the table's default
	}{
		{"node kind", &objapi.Error{Op: "GetObject", Kind: objapi.KindNoSuchKey}, "NoSuchKey", 404, ""},
		{"node message shown", objapi.Errorf("CreateBucket", objapi.KindInvalidBucket, "too short"), "InvalidBucketName", 400, "too short"},
		{"server message hidden", &objapi.Error{Kind: objapi.KindUnavailable, Msg: "site Greiz down"}, "ServiceUnavailable", 503, ""},
		{"wrapped node error", fmt.Errorf("wrapped: %w", &objapi.Error{Kind: objapi.KindBucketNotEmpty}), "BucketNotEmpty", 409, ""},
		{"sigv4 sentinel", fmt.Errorf("%w: detail", sigv4.ErrSignatureMismatch), "SignatureDoesNotMatch", 403, ""},
		{"sigv4 under a node error", &objapi.Error{Kind: objapi.KindInternal, Err: fmt.Errorf("read: %w", sigv4.ErrBadDigest)}, "BadDigest", 400, ""},
		{"presign expired", sigv4.ErrPresignExpired, "AccessDenied", 403, "Request has expired"},
		{"unknown key via lookup", fmt.Errorf("%w: %w", sigv4.ErrUnknownAccessKey, objapi.Errorf("x", objapi.KindNoSuchAccessKey, "k")), "InvalidAccessKeyId", 403, ""},
		{"sigv2 mismatch", &sigv2.MismatchError{AccessKey: "k", StringToSign: "GET\n\n\n1\n/b"}, "SignatureDoesNotMatch", 403, ""},
		{"sigv2 header", fmt.Errorf("%w: AWS x", sigv2.ErrMalformedHeader), "InvalidArgument", 400, "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature"},
		{"sigv2 query", sigv2.ErrQueryIncomplete, "AccessDenied", 403, "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"},
		{"sigv2 expires", sigv2.ErrExpiresTooFar, "AuthorizationQueryParametersError", 400, "Expires must be at most 604800 seconds (seven days) after the current time."},
		{"s3api error", errorf("MalformedXML", ""), "MalformedXML", 400, ""},
		{"s3api error with message", errorf("InvalidArgument", "bad"), "InvalidArgument", 400, "bad"},
		{"plain error", errors.New("boom"), "InternalError", 500, ""},
		{"context canceled", context.Canceled, "InternalError", 500, ""},
		{"not modified", errorf("NotModified", ""), "NotModified", 304, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := toAPIError(tc.err)
			if e.Code != tc.code || e.Status != tc.status {
				t.Errorf("got %d %s, want %d %s", e.Status, e.Code, tc.status, tc.code)
			}
			want := tc.msg
			if want == "" {
				want = codes[tc.code].Message
			}
			if e.Message != want {
				t.Errorf("message %q, want %q", e.Message, want)
			}
		})
	}
}

func TestClientGone(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if clientGone(r, errors.New("x")) {
		t.Error("live request reported gone")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r = r.WithContext(ctx)
	if !clientGone(r, context.Canceled) || clientGone(r, nil) {
		t.Error("canceled request not reported gone")
	}
}

// TestErrorDocumentNamespace: S3's error document has no namespace, and
// botocore reads the code only from a bare <Error> (it reported "" for
// every kcs error before this was fixed); a Signature Version 2 mismatch
// adds the elements S3 adds.
func TestErrorDocumentNamespace(t *testing.T) {
	s := New(Config{}, nil, memCreds{})
	for _, err := range []error{
		errorf("NoSuchKey", ""),
		&sigv2.MismatchError{AccessKey: "AK", StringToSign: "GET\n\n\n1\n/b", SignatureProvided: "c2ln"},
	} {
		w := httptest.NewRecorder()
		s.writeError(w, httptest.NewRequest("GET", "/b", nil), &request{id: "1"}, err)
		body := w.Body.String()
		if !strings.Contains(body, "\n<Error><Code>") {
			t.Errorf("error document %s", body)
		}
		if _, ok := err.(*sigv2.MismatchError); ok &&
			!strings.Contains(body, "<AWSAccessKeyId>AK</AWSAccessKeyId><StringToSign>GET&#xA;&#xA;&#xA;1&#xA;/b</StringToSign><SignatureProvided>c2ln</SignatureProvided><StringToSignBytes>47 45 54 0a 0a 0a 31 0a 2f 62</StringToSignBytes>") {
			t.Errorf("mismatch document %s", body)
		}
	}
}
