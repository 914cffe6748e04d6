package sigv4

import (
	"bytes"
	"encoding/hex"
	"hash/crc32"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// The AWS documentation's examples, reproduced exactly: each request of
// testdata/aws (see its README.md for the pages) must verify with its
// documented signature, and the intermediate values the pages print
// (canonical-request hashes) must come out the same.

// chunkedExampleBody is the body of the chunked-upload examples: 66560 bytes
// of 'a' in chunks of 65536, 1024 and 0 bytes with the documented chunk
// signatures, then (trailer example) x-amz-checksum-crc32c and its signature.
//
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html and
// https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html
func chunkedExampleBody(sigs [3]string, trailer string) []byte {
	var b bytes.Buffer
	b.WriteString("10000;chunk-signature=" + sigs[0] + "\r\n")
	b.WriteString(strings.Repeat("a", 65536) + "\r\n")
	b.WriteString("400;chunk-signature=" + sigs[1] + "\r\n")
	b.WriteString(strings.Repeat("a", 1024) + "\r\n")
	b.WriteString("0;chunk-signature=" + sigs[2] + "\r\n")
	b.WriteString("\r\n")
	b.WriteString(trailer)
	return b.Bytes()
}

var (
	// Example: PUT Object, sigv4-streaming.html.
	chunkSigs = [3]string{
		"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
		"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
		"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
	}
	// Example: PUT Object, sigv4-streaming-trailers.html.
	trailerChunkSigs = [3]string{
		"b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
		"1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
		"2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
	}
	trailerLines = "x-amz-checksum-crc32c:sOO8/Q==\r\n" +
		"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n"
)

func TestAWSExamples(t *testing.T) {
	for _, tc := range []struct {
		file      string
		body      []byte
		canonical string // SHA-256 of the canonical request, where the page prints it
		payload   []byte // what Body must deliver
		checksums []objapi.Checksum
	}{
		{file: "get-object", canonical: "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"},
		{
			file:      "put-object",
			body:      []byte("Welcome to Amazon S3."),
			canonical: "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
			payload:   []byte("Welcome to Amazon S3."),
		},
		{file: "get-bucket-lifecycle", canonical: "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca"},
		{file: "list-objects"},
		{file: "presigned-get", canonical: "3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04"},
		{
			file:      "chunked-put",
			body:      chunkedExampleBody(chunkSigs, ""),
			canonical: "cee3fed04b70f867d036f722359b0b1f2f0e5dc0efadbc082b76c4c60e316455",
			payload:   bytes.Repeat([]byte("a"), 66560),
		},
		{
			file:      "chunked-trailer-put",
			body:      chunkedExampleBody(trailerChunkSigs, trailerLines),
			canonical: "44d48b8c2f70eae815a0198cc73d7a546a73a93359c070abbaa5e6c7de112559",
			payload:   bytes.Repeat([]byte("a"), 66560),
			checksums: []objapi.Checksum{{Algorithm: "CRC32C", Value: "sOO8/Q=="}},
		},
	} {
		t.Run(tc.file, func(t *testing.T) {
			v := exampleVerifier(exampleTime)
			r := loadExample(t, tc.file, tc.body)
			if tc.canonical != "" {
				c, err := credentialsOf(v, r)
				if err != nil {
					t.Fatal(err)
				}
				canon, err := canonicalRequest(r, c.signed, c.payload, c.presigned)
				if err != nil {
					t.Fatal(err)
				}
				if got := sha256Hex(canon); got != tc.canonical {
					t.Errorf("canonical request hashes to %s, documented %s; it is\n%s", got, tc.canonical, canon)
				}
			}
			res, err := v.Verify(r)
			if err != nil {
				t.Fatal(err)
			}
			if res.AccessKey != exampleAccessKey {
				t.Errorf("access key %q", res.AccessKey)
			}
			got, err := readAll(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.payload) {
				t.Errorf("payload: %d bytes, want %d", len(got), len(tc.payload))
			}
			if cs := res.Checksums(); len(cs) != len(tc.checksums) || len(cs) > 0 && cs[0] != tc.checksums[0] {
				t.Errorf("checksums %v, want %v", cs, tc.checksums)
			}
		})
	}
}

// credentialsOf parses a request's authentication as Verify does.
func credentialsOf(v *Verifier, r *http.Request) (*authInfo, error) {
	if a := r.Header.Get("Authorization"); a != "" {
		return v.fromHeader(r, a, v.now())
	}
	return v.fromQuery(r, v.now())
}

// TestAWSExampleDetails checks the values the pages print along the way.
func TestAWSExampleDetails(t *testing.T) {
	s := scope{exampleAccessKey, "20130524", exampleRegion, "s3"}
	// sig-v4-header-based-auth.html, "Signing key".
	key := deriveSigningKey(exampleSecret, s)
	if got, want := hex.EncodeToString(key[:]), "dbb893acc010964918f1fd433add87c70e8b0db6be30c1fbeafefa5ec6ba8378"; got != want {
		t.Errorf("signing key %s, want %s", got, want)
	}
	// sigv4-streaming.html: the Content-Length of the example is 66824.
	if n := len(chunkedExampleBody(chunkSigs, "")); n != 66824 {
		t.Errorf("chunked example body is %d bytes, the page says 66824", n)
	}
	// The trailer example's checksum is the CRC32C of the payload.
	sum := crc32.Checksum(bytes.Repeat([]byte("a"), 66560), crc32.MakeTable(crc32.Castagnoli))
	if got := EncodeChecksum([]byte{byte(sum >> 24), byte(sum >> 16), byte(sum >> 8), byte(sum)}); got != "sOO8/Q==" {
		t.Errorf("CRC32C of the example payload is %s, the page says sOO8/Q==", got)
	}
	// Each documented chunk signature, chained from the seed.
	for _, tc := range []struct {
		seed string
		sigs [3]string
	}{
		{"4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9", chunkSigs},
		{"106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e", trailerChunkSigs},
	} {
		seed, _ := parseSignature(tc.seed)
		c := newChainSigner(key, "20130524T000000Z", s, seed)
		for i, data := range [][]byte{bytes.Repeat([]byte("a"), 65536), bytes.Repeat([]byte("a"), 1024), nil} {
			want, _ := parseSignature(tc.sigs[i])
			h := newSHA256()
			h.Write(data)
			if !c.chunk(h.Sum(nil), want) {
				t.Errorf("seed %.8s…: chunk %d signature is not the documented %s", tc.seed, i, tc.sigs[i])
			}
		}
		if tc.sigs == trailerChunkSigs {
			want, _ := parseSignature("d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435")
			h := newSHA256()
			h.Write([]byte("x-amz-checksum-crc32c:sOO8/Q==\n"))
			if !c.trailer(h.Sum(nil), want) {
				t.Error("trailer signature is not the documented one")
			}
		}
	}
}

// TestAWSExampleTampering: any change to a documented request fails with the
// right error.
func TestAWSExampleTampering(t *testing.T) {
	flip := func(b []byte, i int) []byte {
		b = bytes.Clone(b)
		b[i] ^= 1
		return b
	}
	body := chunkedExampleBody(chunkSigs, "")
	tbody := chunkedExampleBody(trailerChunkSigs, trailerLines)
	for _, tc := range []struct {
		name, file string
		body       []byte
		mutate     func(r *http.Request)
		want       error
	}{
		{name: "payload byte", file: "put-object", body: []byte("Welcome to Amazon S3!"), want: ErrContentSHA256Mismatch},
		{name: "signed header", file: "get-object", mutate: func(r *http.Request) { r.Header.Set("Range", "bytes=0-8") }, want: ErrSignatureMismatch},
		{name: "path", file: "get-object", mutate: func(r *http.Request) { r.URL.Path = "/test.txT" }, want: ErrSignatureMismatch},
		{name: "query", file: "list-objects", mutate: func(r *http.Request) { r.URL.RawQuery = "max-keys=3&prefix=J" }, want: ErrSignatureMismatch},
		{name: "presigned path", file: "presigned-get", mutate: func(r *http.Request) { r.URL.Path = "/test.txt2" }, want: ErrSignatureMismatch},
		{name: "first chunk data", file: "chunked-put", body: flip(body, 100), want: ErrSignatureMismatch},
		{name: "second chunk data", file: "chunked-put", body: flip(body, len(body)-200), want: ErrSignatureMismatch},
		{name: "final chunk signature", file: "chunked-put", body: flip(body, len(body)-10), want: ErrSignatureMismatch},
		{name: "chunk size", file: "chunked-put", body: append([]byte("10001"), body[5:]...), want: ErrSignatureMismatch},
		{name: "trailer value", file: "chunked-trailer-put", body: bytes.Replace(tbody, []byte("sOO8/Q=="), []byte("sOO8/A=="), 1), want: ErrSignatureMismatch},
		{name: "trailer signature", file: "chunked-trailer-put", body: bytes.Replace(tbody, []byte("d81f82fc"), []byte("d81f82fd"), 1), want: ErrSignatureMismatch},
		{name: "trailer cut", file: "chunked-trailer-put", body: tbody[:len(tbody)-len(trailerLines)], want: ErrMalformedTrailer},
		{name: "truncated", file: "chunked-put", body: body, mutate: func(r *http.Request) { r.Body = io.NopCloser(bytes.NewReader(body[:40000])) }, want: ErrIncompleteBody},
		{name: "decoded length", file: "chunked-put", body: body, mutate: func(r *http.Request) { r.Header.Set("X-Amz-Decoded-Content-Length", "66561") }, want: ErrSignatureMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := loadExample(t, tc.file, tc.body)
			if tc.mutate != nil {
				tc.mutate(r)
			}
			res, err := exampleVerifier(exampleTime).Verify(r)
			if err == nil {
				_, err = readAll(res.Body)
			}
			wantErr(t, err, tc.want)
		})
	}
}
