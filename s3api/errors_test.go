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

	"github.com/kommunal-cloud/kcs/node"
	"github.com/kommunal-cloud/kcs/s3api/sigv4"
)

// TestKindsAreMapped fails when node gains a kind errors.go does not map.
func TestKindsAreMapped(t *testing.T) {
	for k := node.Kind(0); k < 1000; k++ {
		if k.String() == fmt.Sprintf("kind %d", uint16(k)) {
			continue // not a defined kind
		}
		if _, ok := kindCodes[k]; !ok {
			t.Errorf("node.Kind %d (%s) has no S3 code in kindCodes", k, k)
		}
	}
}

// TestSentinelsAreMapped fails when sigv4 gains a sentinel errors.go does
// not map.
func TestSentinelsAreMapped(t *testing.T) {
	declared := map[string]bool{}
	fset := token.NewFileSet()
	files, err := filepath.Glob("sigv4/*.go")
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
	src, err := os.ReadFile("errors.go")
	if err != nil {
		t.Fatal(err)
	}
	for name := range declared {
		if !strings.Contains(string(src), "{sigv4."+name+",") {
			t.Errorf("sigv4.%s has no entry in sigv4Codes", name)
		}
	}
	if len(declared) == 0 {
		t.Fatal("found no sigv4 sentinels; the scan is broken")
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
	for _, m := range sigv4Codes {
		if _, ok := codes[m.code]; !ok {
			t.Errorf("sigv4Codes uses undefined code %q", m.code)
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
		{"node kind", &node.Error{Op: "GetObject", Kind: node.KindNoSuchKey}, "NoSuchKey", 404, ""},
		{"node message shown", node.Errorf("CreateBucket", node.KindInvalidBucket, "too short"), "InvalidBucketName", 400, "too short"},
		{"server message hidden", &node.Error{Kind: node.KindUnavailable, Msg: "site Greiz down"}, "ServiceUnavailable", 503, ""},
		{"wrapped node error", fmt.Errorf("wrapped: %w", &node.Error{Kind: node.KindBucketNotEmpty}), "BucketNotEmpty", 409, ""},
		{"sigv4 sentinel", fmt.Errorf("%w: detail", sigv4.ErrSignatureMismatch), "SignatureDoesNotMatch", 403, ""},
		{"sigv4 under a node error", &node.Error{Kind: node.KindInternal, Err: fmt.Errorf("read: %w", sigv4.ErrBadDigest)}, "BadDigest", 400, ""},
		{"presign expired", sigv4.ErrPresignExpired, "AccessDenied", 403, "Request has expired"},
		{"unknown key via lookup", fmt.Errorf("%w: %w", sigv4.ErrUnknownAccessKey, node.Errorf("x", node.KindNoSuchAccessKey, "k")), "InvalidAccessKeyId", 403, ""},
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
