package s3api

import (
	"errors"
	"fmt"
	"io"
)

// maxPutSize is S3's limit for one PUT and for one part: 5 GiB.
const maxPutSize = 5 << 30

// bodyReader is the request body as the object layer reads it: sigv4's
// verified body, held to the declared length and to S3's size limit. It
// remembers the first failure so that, when the object layer gives up, the
// client is told what was wrong with its body (IncompleteBody,
// SignatureDoesNotMatch, BadDigest, EntityTooLarge) rather than whatever
// the object layer made of the read error.
type bodyReader struct {
	r        io.Reader
	declared int64 // decoded length the client announced; -1 if none
	max      int64 // bytes allowed: the declared length, else the size limit
	n        int64 // bytes delivered
	eof      bool
	err      error // first failure, returned by every later Read
}

// requestBody returns rq's body for a write of at most limit bytes. A
// declared length beyond the limit fails before a byte is read, so a
// client announcing 6 GiB is refused at once.
func (s *Server) requestBody(rq *request, limit int64) (*bodyReader, error) {
	declared := rq.auth.Length
	if declared > limit {
		return nil, errorf("EntityTooLarge", fmt.Sprintf("Your proposed upload of %d bytes exceeds the maximum allowed size of %d bytes.", declared, limit))
	}
	b := &bodyReader{r: rq.auth.Body, declared: declared, max: limit}
	if declared >= 0 {
		b.max = declared
	}
	rq.body = b
	return b, nil
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.eof {
		return 0, io.EOF
	}
	// Read at most one byte past what is allowed: enough to notice a body
	// that is too long without passing any of the excess on.
	if room := b.max - b.n + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.n > b.max {
		n -= int(b.n - b.max)
		b.n = b.max
		if b.declared >= 0 {
			b.err = errorf("InvalidRequest", "The request body is longer than the length the request declared.")
		} else {
			b.err = errorf("EntityTooLarge", fmt.Sprintf("Your upload exceeds the maximum allowed size of %d bytes.", b.max))
		}
		return n, b.err
	}
	switch {
	case err == nil:
		return n, nil
	case err == io.EOF:
		if b.declared >= 0 && b.n < b.declared {
			b.err = &s3Error{Code: "IncompleteBody", Err: fmt.Errorf("body ended after %d of %d bytes", b.n, b.declared)}
			return n, b.err
		}
		b.eof = true
		return n, io.EOF
	case isRequestTimeout(err):
		// A read made no progress in time (Admission): the client stalled.
		if toAPIError(err).Code != "RequestTimeout" {
			err = requestTimeout(err)
		}
		b.err = err
		return n, err
	case toAPIError(err).Code == "InternalError":
		// Not a verdict of sigv4 but a failing connection (a truncated
		// Content-Length body reads as io.ErrUnexpectedEOF): the body is
		// incomplete, and that is the client's side, not ours.
		b.err = &s3Error{Code: "IncompleteBody", Err: err}
		return n, b.err
	default:
		b.err = err
		return n, err
	}
}

// finish turns the object layer's answer to a write into the error to
// answer with. A failed body is the cause whatever the layer said; the
// layer's error is kept for the log.
func (b *bodyReader) finish(layerErr error) error {
	if b.err != nil {
		if layerErr == nil {
			// Committed although a read failed: the object layer broke
			// its contract (ObjectLayer). Say so loudly; the client must
			// not believe the write succeeded.
			return fmt.Errorf("%w (the object layer committed after a failed body read)", b.err)
		}
		return fmt.Errorf("%w (object layer: %v)", b.err, layerErr)
	}
	if layerErr != nil {
		return layerErr
	}
	if !b.eof {
		// The layer stopped at the declared length without the final read
		// that verifies the signature, length and checksums. Do that read
		// now so a forged body is still reported.
		var one [1]byte
		if n, err := b.Read(one[:]); n != 0 || !errors.Is(err, io.EOF) {
			if b.err == nil {
				b.err = &s3Error{Code: "InternalError", Err: errors.New("object layer committed before reading the body to its end")}
			}
			return fmt.Errorf("%w (the object layer committed before reading the body to its end)", b.err)
		}
	}
	return nil
}
