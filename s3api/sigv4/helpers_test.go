package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	stdsha256 "crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The AWS documentation's example credentials and time.
const (
	exampleAccessKey = "AKIAIOSFODNN7EXAMPLE"
	exampleSecret    = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	exampleRegion    = "us-east-1"
)

var exampleTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

// staticLookup knows the keys of m.
func staticLookup(m map[string]string) SecretLookup {
	return func(_ context.Context, ak string) (string, error) {
		if s, ok := m[ak]; ok {
			return s, nil
		}
		return "", fmt.Errorf("test store: %w", ErrUnknownAccessKey)
	}
}

// exampleVerifier verifies the documentation's examples, its clock at now.
func exampleVerifier(now time.Time) *Verifier {
	return &Verifier{
		Region: exampleRegion,
		Lookup: staticLookup(map[string]string{exampleAccessKey: exampleSecret}),
		Now:    func() time.Time { return now },
	}
}

// loadExample parses testdata/aws/<name>.http, a request line and headers,
// completed with Content-Length and body as a server would receive it.
func loadExample(t testing.TB, name string, body []byte) *http.Request {
	t.Helper()
	head, err := os.ReadFile(filepath.Join("testdata", "aws", name+".http"))
	if err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	raw.Write(head)
	if body != nil {
		raw.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	raw.WriteString("\r\n")
	raw.Write(body)
	r, err := http.ReadRequest(bufio.NewReader(&raw))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

// readAll reads a Result body to its end, returning what it delivered and the
// error in place of io.EOF, if any.
func readAll(r io.Reader) ([]byte, error) {
	var out bytes.Buffer
	buf := make([]byte, 7000) // not a multiple of any chunk size
	for {
		n, err := r.Read(buf)
		out.Write(buf[:n])
		if err == io.EOF {
			return out.Bytes(), nil
		}
		if err != nil {
			return out.Bytes(), err
		}
	}
}

// wantErr fails unless err wraps target (nil: no error).
func wantErr(t testing.TB, err, target error) {
	t.Helper()
	switch {
	case target == nil && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case target != nil && !errors.Is(err, target):
		t.Fatalf("error %v, want %v", err, target)
	}
}

// chunkedEncoder writes aws-chunked bodies for tests: chunks of a given size,
// signed or not, then trailers (name:value) and, if trailerSig, their
// signature.
type chunkedEncoder struct {
	key     [32]byte
	amzDate string
	scope   scope
	seed    [32]byte
	signed  bool
	// trailerSig makes a signed stream end with signed trailers.
	trailerSig bool
}

func (e chunkedEncoder) encode(payload []byte, n int, trailers [][2]string) []byte {
	var b bytes.Buffer
	var chain *signerForTest
	if e.signed {
		chain = newSignerForTest(e.key, e.amzDate, e.scope, e.seed)
	}
	for rest := payload; ; {
		chunk := rest[:min(n, len(rest))]
		rest = rest[len(chunk):]
		if e.signed {
			fmt.Fprintf(&b, "%x;chunk-signature=%s\r\n", len(chunk), chain.chunk(chunk))
		} else {
			fmt.Fprintf(&b, "%x\r\n", len(chunk))
		}
		if len(chunk) == 0 {
			break
		}
		b.Write(chunk)
		b.WriteString("\r\n")
	}
	var canon strings.Builder
	for _, kv := range trailers {
		b.WriteString(kv[0] + ":" + kv[1] + "\r\n")
		canon.WriteString(kv[0] + ":" + kv[1] + "\n")
	}
	if e.signed && e.trailerSig {
		b.WriteString("x-amz-trailer-signature:" + chain.trailer(canon.String()) + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// signerForTest computes chained chunk and trailer signatures the plain way,
// with the standard library, independently of chainSigner.
type signerForTest struct {
	key    [32]byte
	prefix string // date \n scope \n
	prev   string
}

func newSignerForTest(key [32]byte, amzDate string, s scope, seed [32]byte) *signerForTest {
	return &signerForTest{key: key, prefix: amzDate + "\n" + s.String() + "\n", prev: hex.EncodeToString(seed[:])}
}

func (s *signerForTest) sign(sts string) string {
	m := hmac.New(stdsha256.New, s.key[:])
	m.Write([]byte(sts))
	s.prev = hex.EncodeToString(m.Sum(nil))
	return s.prev
}

func (s *signerForTest) chunk(data []byte) string {
	sum := stdsha256.Sum256(data)
	return s.sign("AWS4-HMAC-SHA256-PAYLOAD\n" + s.prefix + s.prev + "\n" + emptySHA256Hex + "\n" + hex.EncodeToString(sum[:]))
}

func (s *signerForTest) trailer(canonical string) string {
	sum := stdsha256.Sum256([]byte(canonical))
	return s.sign("AWS4-HMAC-SHA256-TRAILER\n" + s.prefix + s.prev + "\n" + hex.EncodeToString(sum[:]))
}

// sdkSigner is aws-sdk-go-v2's SigV4 signer configured as its S3 client
// configures it: the path is the request's escaped path as it stands.
var sdkSigner = v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })

// signedRequest builds a server-side request signed by aws-sdk-go-v2's
// signer at time at, with x-amz-content-sha256 payloadHash. body is what the
// handler will read.
func signedRequest(t testing.TB, method, target string, hdr http.Header, body []byte, payloadHash, region, secret string, at time.Time) *http.Request {
	t.Helper()
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	for k, vs := range hdr {
		r.Header[k] = vs
	}
	r.Header.Set("X-Amz-Content-Sha256", payloadHash)
	creds := aws.Credentials{AccessKeyID: exampleAccessKey, SecretAccessKey: secret}
	if err := sdkSigner.SignHTTP(context.Background(), creds, r, payloadHash, "s3", region, at); err != nil {
		t.Fatal(err)
	}
	return r
}

// seedOf returns the signature of a signed request's Authorization header.
func seedOf(t testing.TB, r *http.Request) [32]byte {
	t.Helper()
	_, sig, ok := strings.Cut(r.Header.Get("Authorization"), "Signature=")
	s, good := parseSignature(sig)
	if !ok || !good {
		t.Fatalf("no signature in %q", r.Header.Get("Authorization"))
	}
	return s
}

func sha256Hex(b []byte) string {
	s := stdsha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func isErr(err, target error) bool { return errors.Is(err, target) }

func hexString(b []byte) string { return hex.EncodeToString(b) }
