package sigv4

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"slices"
	"strings"
)

// The aws-chunked encoding of a body:
//
//	signed:    <hex size>;chunk-signature=<64 hex>\r\n <size bytes> \r\n … 0;chunk-signature=<64 hex>\r\n
//	unsigned:  <hex size>\r\n <size bytes> \r\n … 0\r\n
//
// then, with the -TRAILER modes, the trailing headers, one per line, and in a
// signed stream x-amz-trailer-signature last; then an empty line. Writers
// differ in the details: the AWS documentation puts an empty line between the
// last chunk and the trailers, the Go SDK and botocore do not, and minio-go
// ends its trailer lines with a bare LF. The decoder therefore reads the part
// after the last chunk as lines ending in LF (CR before it optional), skips
// empty ones, and reads it to the end of the body, so no client's variant
// leaves bytes behind.

const (
	// maxLine bounds a chunk-header or trailer line, and is the size of the
	// one read buffer: a signed chunk header is 84 to 99 bytes, a trailer
	// line at most about 120.
	maxLine = 4096
	// maxTrailerBytes bounds everything after the last chunk.
	maxTrailerBytes = 16 << 10
	// maxSizeDigits is the most hex digits a chunk size may have.
	maxSizeDigits = 16
)

const chunkSignatureExt = "chunk-signature="

// errLineTooLong is wrapped by the caller of readLine in the sentinel of what
// it was reading.
var errLineTooLong = fmt.Errorf("line longer than %d bytes", maxLine)

type trailerMode int

const (
	trailerNone     trailerMode = iota
	trailerUnsigned             // trailers, no signature
	trailerSigned               // trailers, then x-amz-trailer-signature
)

type chunkState int

const (
	stateHeader  chunkState = iota // next: a chunk-header line
	stateData                      // inside a chunk's data
	stateDataEnd                   // after a chunk's data: its signature, then CRLF
	stateDone                      // the stream ended and was verified
)

type chunkedConfig struct {
	chain     *chainSigner // nil: the chunks carry no signatures
	trailers  trailerMode
	announced []string // trailer names x-amz-trailer announced, lower case
	declared  int64    // x-amz-decoded-content-length, -1 if absent
	emptyOK   bool     // an empty body is an empty payload
}

type trailerField struct{ name, value string }

// chunkedReader decodes an aws-chunked body as it streams, verifying chunk
// signatures, the trailers and the decoded length. It holds one 4 KiB read
// buffer and hashes chunk data as it passes, whatever the chunk size. Errors
// are sticky.
type chunkedReader struct {
	chunkedConfig
	br       *bufio.Reader
	data     hash.Hash // SHA-256 of the current chunk's data, or of the trailers
	state    chunkState
	left     int64    // data bytes left in the current chunk
	decoded  int64    // data bytes delivered
	chunks   int      // chunks started, for error messages
	sent     [32]byte // signature sent with the current chunk
	sum      [32]byte
	started  bool // any byte read
	received []trailerField
	err      error
}

func newChunkedReader(r io.Reader, cfg chunkedConfig) *chunkedReader {
	c := &chunkedReader{chunkedConfig: cfg, br: bufio.NewReaderSize(r, maxLine)}
	if cfg.chain != nil || cfg.trailers == trailerSigned {
		c.data = newSHA256()
	}
	return c
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	for c.err == nil {
		switch c.state {
		case stateHeader:
			c.err = c.readHeader()
		case stateData:
			if len(p) == 0 {
				return 0, nil
			}
			if int64(len(p)) > c.left {
				p = p[:c.left]
			}
			n, err := c.br.Read(p)
			if n > 0 {
				c.started = true
				if c.data != nil {
					c.data.Write(p[:n])
				}
				c.left -= int64(n)
				c.decoded += int64(n)
				if c.left == 0 {
					c.state = stateDataEnd
				}
			}
			if err != nil && c.left > 0 {
				if err == io.EOF {
					err = fmt.Errorf("%w: chunk %d ended %d bytes early", ErrIncompleteBody, c.chunks, c.left)
				}
				c.err = readError(err)
			}
			if n > 0 || c.err != nil {
				return n, c.err
			}
		case stateDataEnd:
			c.err = c.endChunk()
		case stateDone:
			c.err = io.EOF
		}
	}
	return 0, c.err
}

// readHeader reads a chunk-header line. For the last (empty) chunk it also
// reads and verifies the trailers and the decoded length, and returns io.EOF
// if all is well.
func (c *chunkedReader) readHeader() error {
	line, err := c.readLine()
	if err == errLineTooLong {
		return fmt.Errorf("%w: chunk %d: %v", ErrMalformedChunk, c.chunks+1, err)
	}
	if err == io.EOF {
		if len(line) == 0 && !c.started && c.emptyOK {
			c.state = stateDone
			return io.EOF
		}
		return fmt.Errorf("%w: the body ended before the last chunk", ErrIncompleteBody)
	}
	if err != nil {
		return err
	}
	c.chunks++
	size, err := c.parseHeader(line)
	if err != nil {
		return err
	}
	if c.declared >= 0 && size > c.declared-c.decoded {
		return fmt.Errorf("%w: chunk %d takes the payload past x-amz-decoded-content-length %d", ErrMalformedChunk, c.chunks, c.declared)
	}
	if size > math.MaxInt64-c.decoded {
		return fmt.Errorf("%w: chunk %d: size overflows", ErrMalformedChunk, c.chunks)
	}
	if size > 0 {
		c.left = size
		if c.data != nil {
			c.data.Reset()
		}
		c.state = stateData
		return nil
	}

	// The last chunk: empty, signed like the others.
	if c.chain != nil {
		c.data.Reset()
		if !c.chain.chunk(c.data.Sum(c.sum[:0]), c.sent) {
			return fmt.Errorf("%w: final chunk %d", ErrSignatureMismatch, c.chunks)
		}
	}
	if err := c.readTrailers(); err != nil {
		return err
	}
	if c.declared >= 0 && c.decoded != c.declared {
		return fmt.Errorf("%w: chunks carry %d bytes, x-amz-decoded-content-length is %d", ErrIncompleteBody, c.decoded, c.declared)
	}
	c.state = stateDone
	return io.EOF
}

// parseHeader parses "<hex size>[;chunk-signature=<64 hex>]". A signed stream
// needs the signature; an unsigned one ignores any extension.
func (c *chunkedReader) parseHeader(line []byte) (int64, error) {
	sizeHex, ext, hasExt := bytes.Cut(line, []byte{';'})
	if len(sizeHex) == 0 || len(sizeHex) > maxSizeDigits {
		return 0, fmt.Errorf("%w: chunk %d: size %q", ErrMalformedChunk, c.chunks, clip(sizeHex))
	}
	var size uint64
	for _, d := range sizeHex {
		var v byte
		switch {
		case '0' <= d && d <= '9':
			v = d - '0'
		case 'a' <= d && d <= 'f':
			v = d - 'a' + 10
		case 'A' <= d && d <= 'F':
			v = d - 'A' + 10
		default:
			return 0, fmt.Errorf("%w: chunk %d: size %q is not hex", ErrMalformedChunk, c.chunks, clip(sizeHex))
		}
		size = size<<4 | uint64(v)
	}
	if size > math.MaxInt64 {
		return 0, fmt.Errorf("%w: chunk %d: size %q too large", ErrMalformedChunk, c.chunks, clip(sizeHex))
	}
	if c.chain == nil {
		return int64(size), nil
	}
	sig, ok := bytes.CutPrefix(ext, []byte(chunkSignatureExt))
	if !hasExt || !ok {
		return 0, fmt.Errorf("%w: chunk %d has no chunk-signature", ErrMalformedChunk, c.chunks)
	}
	if c.sent, ok = parseSignatureBytes(sig); !ok {
		return 0, fmt.Errorf("%w: chunk %d: chunk-signature %q", ErrMalformedChunk, c.chunks, clip(sig))
	}
	return int64(size), nil
}

// endChunk checks the signature of the chunk whose data was just read, then
// the CRLF that ends the data.
func (c *chunkedReader) endChunk() error {
	if c.chain != nil && !c.chain.chunk(c.data.Sum(c.sum[:0]), c.sent) {
		return fmt.Errorf("%w: chunk %d", ErrSignatureMismatch, c.chunks)
	}
	for _, want := range []byte{'\r', '\n'} {
		got, err := c.br.ReadByte()
		if err == io.EOF {
			return fmt.Errorf("%w: chunk %d not terminated", ErrIncompleteBody, c.chunks)
		}
		if err != nil {
			return readError(err)
		}
		if got != want {
			return fmt.Errorf("%w: chunk %d: data not followed by CRLF (is the size right?)", ErrMalformedChunk, c.chunks)
		}
	}
	c.state = stateHeader
	return nil
}

// readLine returns the next line without its LF and the CR before it, if any.
// At the end of the body it returns the unterminated rest with io.EOF. The
// line is valid until the next read.
func (c *chunkedReader) readLine() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if len(line) > 0 {
		c.started = true
	}
	switch {
	case err == nil:
		line = line[:len(line)-1]
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, errLineTooLong
	case err != io.EOF:
		return nil, readError(err)
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, err
}

// readTrailers reads everything after the last chunk to the end of the body:
// the trailers x-amz-trailer announced, then, in a signed stream, their
// signature. Empty lines are skipped (see the top of this file).
func (c *chunkedReader) readTrailers() error {
	var (
		total  int
		sigHex []byte
		sig    [32]byte
	)
	if c.data != nil {
		c.data.Reset() // now hashes the canonical trailers
	}
	for {
		line, err := c.readLine()
		if err == errLineTooLong {
			return fmt.Errorf("%w: %v", ErrMalformedTrailer, err)
		}
		if err != nil && err != io.EOF {
			return err
		}
		if total += len(line) + 2; total > maxTrailerBytes {
			return fmt.Errorf("%w: more than %d bytes after the last chunk", ErrMalformedTrailer, maxTrailerBytes)
		}
		if len(line) > 0 {
			if sigHex != nil {
				return fmt.Errorf("%w: line after x-amz-trailer-signature", ErrMalformedTrailer)
			}
			name, value, ok := bytes.Cut(line, []byte{':'})
			if !ok {
				return fmt.Errorf("%w: line %q has no ':'", ErrMalformedTrailer, clip(line))
			}
			n := strings.ToLower(string(bytes.TrimSpace(name)))
			value = bytes.TrimSpace(value)
			switch {
			case n == "x-amz-trailer-signature":
				if c.trailers != trailerSigned {
					return fmt.Errorf("%w: x-amz-trailer-signature in a stream without signed trailers", ErrMalformedTrailer)
				}
				sigHex = bytes.Clone(value)
				var ok bool
				if sig, ok = parseSignatureBytes(sigHex); !ok {
					return fmt.Errorf("%w: x-amz-trailer-signature %q", ErrMalformedTrailer, clip(sigHex))
				}
			case c.trailers == trailerNone:
				return fmt.Errorf("%w: trailer %q, but the payload mode has no trailers", ErrMalformedTrailer, clip(line))
			case !slices.Contains(c.announced, n):
				return fmt.Errorf("%w: trailer %q was not announced in x-amz-trailer", ErrMalformedTrailer, n)
			case slices.ContainsFunc(c.received, func(f trailerField) bool { return f.name == n }):
				return fmt.Errorf("%w: trailer %q sent twice", ErrMalformedTrailer, n)
			default:
				c.received = append(c.received, trailerField{n, string(value)})
				if c.trailers == trailerSigned {
					// Canonical form: "name:value\n".
					c.data.Write([]byte(n))
					c.data.Write([]byte{':'})
					c.data.Write(value)
					c.data.Write([]byte{'\n'})
				}
			}
		}
		if err == io.EOF {
			break
		}
	}
	for _, n := range c.announced {
		if c.trailerValue(n) == "" {
			return fmt.Errorf("%w: trailer %s announced in x-amz-trailer is missing", ErrMalformedTrailer, n)
		}
	}
	if c.trailers == trailerSigned {
		if sigHex == nil {
			return fmt.Errorf("%w: x-amz-trailer-signature missing", ErrSignatureMismatch)
		}
		if !c.chain.trailer(c.data.Sum(c.sum[:0]), sig) {
			return fmt.Errorf("%w: trailer signature", ErrSignatureMismatch)
		}
	}
	return nil
}

// trailerValue returns the value of a received trailer, "" if it did not come.
func (c *chunkedReader) trailerValue(name string) string {
	for _, f := range c.received {
		if f.name == name {
			return f.value
		}
	}
	return ""
}

// clip shortens hostile input quoted in an error message.
func clip(b []byte) []byte {
	const n = 64
	if len(b) > n {
		return b[:n]
	}
	return b
}
