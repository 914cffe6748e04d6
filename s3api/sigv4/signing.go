package sigv4

import (
	"crypto/hmac"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
	"sync"
	"time"

	sha256 "github.com/minio/sha256-simd"
)

const (
	algorithmHMAC  = "AWS4-HMAC-SHA256"
	algorithmECDSA = "AWS4-ECDSA-P256-SHA256" // SigV4A, not supported
	scopeTerminal  = "aws4_request"
	amzDateLayout  = "20060102T150405Z"
	scopeDateLen   = len("20060102")
	signatureLen   = 64 // hex digits of an HMAC-SHA256
)

// scope is a parsed credential: AK/20130524/us-east-1/s3/aws4_request.
type scope struct {
	accessKey, date, region, service string
}

// String is the credential scope line of the string to sign, without the
// access key.
func (s scope) String() string {
	return s.date + "/" + s.region + "/" + s.service + "/" + scopeTerminal
}

// parseCredential splits a credential and checks its scope against the
// server's region and service. The error says what is wrong; callers wrap it
// in the sentinel of their authentication kind.
func parseCredential(cred, region, service string) (scope, error) {
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return scope{}, fmt.Errorf("credential %q is not AccessKey/date/region/service/aws4_request", cred)
	}
	s := scope{accessKey: parts[0], date: parts[1], region: parts[2], service: parts[3]}
	switch {
	case s.accessKey == "":
		return scope{}, fmt.Errorf("credential %q has no access key", cred)
	case !isDigits(s.date, scopeDateLen):
		return scope{}, fmt.Errorf("credential date %q is not YYYYMMDD", s.date)
	case s.region != region:
		// S3's own wording, which clients such as the AWS CLI parse to retry
		// in the right region.
		return scope{}, fmt.Errorf("the region '%s' is wrong; expecting '%s'", s.region, region)
	case s.service != service:
		return scope{}, fmt.Errorf("the service '%s' is wrong; expecting '%s'", s.service, service)
	case parts[4] != scopeTerminal:
		return scope{}, fmt.Errorf("credential %q does not end in %s", cred, scopeTerminal)
	}
	return s, nil
}

func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseAmzDate parses an ISO 8601 basic timestamp, 20130524T000000Z.
func parseAmzDate(s string) (time.Time, bool) {
	if len(s) != len(amzDateLayout) {
		return time.Time{}, false
	}
	t, err := time.Parse(amzDateLayout, s)
	return t, err == nil
}

// parseSignature decodes a hex signature of exactly 64 digits.
func parseSignature(s string) ([32]byte, bool) {
	return parseSignatureBytes([]byte(s))
}

func parseSignatureBytes(b []byte) ([32]byte, bool) {
	var sig [32]byte
	if len(b) != signatureLen {
		return sig, false
	}
	_, err := hex.Decode(sig[:], b)
	return sig, err == nil
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// deriveSigningKey is the HMAC chain of the reference:
// HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request").
func deriveSigningKey(secret string, s scope) [32]byte {
	k := hmacSHA256([]byte("AWS4"+secret), s.date)
	k = hmacSHA256(k, s.region)
	k = hmacSHA256(k, s.service)
	k = hmacSHA256(k, scopeTerminal)
	return [32]byte(k)
}

// stringToSign is the string signed by a request's (or seed) signature.
func stringToSign(amzDate string, s scope, canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return algorithmHMAC + "\n" + amzDate + "\n" + s.String() + "\n" + hex.EncodeToString(sum[:])
}

// sign returns HMAC-SHA256(key, sts).
func sign(key [32]byte, sts string) [32]byte {
	return [32]byte(hmacSHA256(key[:], sts))
}

// keyCacheSize bounds the derived-key cache: a key is valid for one day, so
// this is the number of distinct access keys (per region and service) signing
// concurrently before derivations start to repeat.
const keyCacheSize = 1024

// keyCache remembers derived signing keys, saving the four HMACs of the chain
// on every request of a busy access key. Entries are found by a hash of the
// secret and scope, so the cache holds no secret in the clear. Its zero value
// is ready to use.
type keyCache struct {
	mu   sync.Mutex
	keys map[[32]byte][32]byte
}

func (c *keyCache) signingKey(secret string, s scope) [32]byte {
	h := sha256.New()
	for _, part := range []string{secret, s.date, s.region, s.service} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	id := [32]byte(h.Sum(nil))

	c.mu.Lock()
	key, ok := c.keys[id]
	c.mu.Unlock()
	if ok {
		return key
	}
	key = deriveSigningKey(secret, s)
	c.mu.Lock()
	if c.keys == nil {
		c.keys = make(map[[32]byte][32]byte)
	}
	if len(c.keys) >= keyCacheSize {
		// Drop one arbitrary entry: the cache only saves work, and an
		// evicted key is rederived on its next use.
		for k := range c.keys {
			delete(c.keys, k)
			break
		}
	}
	c.keys[id] = key
	c.mu.Unlock()
	return key
}

// chainSigner computes the chained signatures of a streaming payload: each
// chunk's, and the trailer's, signs the previous signature. It reuses one HMAC
// and fixed buffers, so signing a chunk allocates nothing.
type chainSigner struct {
	mac     hash.Hash
	chunkTo []byte   // "AWS4-HMAC-SHA256-PAYLOAD\n<date>\n<scope>\n"
	trailTo []byte   // "AWS4-HMAC-SHA256-TRAILER\n<date>\n<scope>\n"
	empty   []byte   // "\n<SHA-256 of nothing>\n"
	prev    [64]byte // hex of the previous signature
	hexBuf  [64]byte
	sum     [32]byte
}

// emptySHA256Hex is the SHA-256 of no bytes. It is the payload hash of an
// empty GET, and the fifth line of every chunk's string to sign, standing for
// the chunk's headers, which are never signed.
const emptySHA256Hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func newChainSigner(key [32]byte, amzDate string, s scope, seed [32]byte) *chainSigner {
	c := &chainSigner{
		mac:     hmac.New(sha256.New, key[:]),
		chunkTo: []byte("AWS4-HMAC-SHA256-PAYLOAD\n" + amzDate + "\n" + s.String() + "\n"),
		trailTo: []byte("AWS4-HMAC-SHA256-TRAILER\n" + amzDate + "\n" + s.String() + "\n"),
		empty:   []byte("\n" + emptySHA256Hex + "\n"),
	}
	hex.Encode(c.prev[:], seed[:])
	return c
}

// chunk verifies the signature sent with a chunk whose data hashes to
// dataSHA256:
//
//	AWS4-HMAC-SHA256-PAYLOAD \n date \n scope \n previous signature \n SHA-256("") \n SHA-256(data)
func (c *chainSigner) chunk(dataSHA256 []byte, sent [32]byte) bool {
	c.mac.Reset()
	c.mac.Write(c.chunkTo)
	c.mac.Write(c.prev[:])
	c.mac.Write(c.empty)
	return c.finish(dataSHA256, sent)
}

// trailer verifies x-amz-trailer-signature over the SHA-256 of the canonical
// trailers ("name:value\n" each):
//
//	AWS4-HMAC-SHA256-TRAILER \n date \n scope \n previous signature \n SHA-256(trailers)
func (c *chainSigner) trailer(canonicalSHA256 []byte, sent [32]byte) bool {
	c.mac.Reset()
	c.mac.Write(c.trailTo)
	c.mac.Write(c.prev[:])
	c.mac.Write(c.empty[:1])
	return c.finish(canonicalSHA256, sent)
}

// finish completes the string to sign with an element's hash, compares the
// signature with sent in constant time and, if they match, makes it the
// previous signature of the element after.
func (c *chainSigner) finish(elemSHA256 []byte, sent [32]byte) bool {
	hex.Encode(c.hexBuf[:], elemSHA256)
	c.mac.Write(c.hexBuf[:])
	sig := c.mac.Sum(c.sum[:0])
	if !hmac.Equal(sig, sent[:]) {
		return false
	}
	hex.Encode(c.prev[:], sig)
	return true
}
