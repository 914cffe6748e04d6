package crypt

import (
	"errors"
	"fmt"
	"io"
)

// DecryptWriter takes the ciphertext packages that cover a plaintext range,
// as Header.CiphertextRange names them, and writes that range of plaintext to
// its destination. It writes a package's bytes only after the package
// authenticated, and knows from the plaintext size where the final package
// must be, so it fails on tampering, reordering, truncation (at Close) and
// extension. It holds one package of ciphertext.
type DecryptWriter struct {
	w         io.Writer
	p         *packer
	h         Header
	plainSize int64
	off, end  int64 // plaintext range still to write
	seq, last int64 // next package to open, last package of the range
	buf       []byte
	want      int // ciphertext bytes of package seq
	ptbuf     []byte
	err       error
}

// NewDecryptWriter returns a writer that expects the packages covering
// plaintext [off, off+n) of a stream of plainSize bytes, and writes exactly
// those n bytes to w.
func NewDecryptWriter(w io.Writer, dk *DataKey, h Header, streamAD []byte, plainSize, off, n int64) (*DecryptWriter, error) {
	if _, err := ParseHeader(h[:]); err != nil {
		return nil, err
	}
	if plainSize < 0 || off < 0 || n < 0 || off > plainSize || n > plainSize-off {
		return nil, fmt.Errorf("crypt: range [%d,+%d) outside %d bytes", off, n, plainSize)
	}
	p, err := newPacker(dk, h, streamAD)
	if err != nil {
		return nil, err
	}
	d := &DecryptWriter{w: w, p: p, h: h, plainSize: plainSize, off: off, end: off + n}
	if n == 0 {
		d.seq, d.last = 0, -1
		return d, nil
	}
	d.seq, d.last = h.packageRange(plainSize, off, n)
	d.want = int(h.packageLen(plainSize, d.seq))
	d.buf = make([]byte, 0, h.PackageSize()+TagLen)
	d.ptbuf = make([]byte, 0, h.PackageSize())
	return d, nil
}

func (d *DecryptWriter) Write(b []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	n := 0
	for len(b) > 0 {
		if d.seq > d.last {
			d.err = fmt.Errorf("%w: %d bytes beyond the stream's end", ErrAuth, len(b))
			return n, d.err
		}
		c := min(len(b), d.want-len(d.buf))
		if len(d.buf) == 0 && c == d.want {
			// A whole package in b: open it in place, no copy.
			if err := d.openPackage(b[:c]); err != nil {
				return n, err
			}
		} else {
			d.buf = append(d.buf, b[:c]...)
			if len(d.buf) == d.want {
				if err := d.openPackage(d.buf); err != nil {
					return n, err
				}
				d.buf = d.buf[:0]
			}
		}
		b, n = b[c:], n+c
	}
	return n, nil
}

func (d *DecryptWriter) openPackage(ct []byte) error {
	P := int64(d.h.PackageSize())
	final := d.seq == d.plainSize/P
	pt, err := d.p.open(d.ptbuf[:0], ct, d.seq, final)
	if err != nil {
		d.err = err
		return err
	}
	base := d.seq * P
	lo, hi := max(d.off, base)-base, min(d.end, base+int64(len(pt)))-base
	if lo < hi {
		if _, err := d.w.Write(pt[lo:hi]); err != nil {
			d.err = err
			return err
		}
	}
	d.seq++
	if d.seq <= d.last {
		d.want = int(d.h.packageLen(d.plainSize, d.seq))
	}
	return nil
}

// Close reports ErrTruncated if the ciphertext ended before the range did.
func (d *DecryptWriter) Close() error {
	if d.err != nil {
		return d.err
	}
	if d.seq <= d.last {
		d.err = fmt.Errorf("%w: package %d incomplete", ErrTruncated, d.seq)
		return d.err
	}
	return nil
}

// DecryptReader decrypts a whole stream, header included, whose size is not
// known: it learns where the stream ends from the final flag and fails if
// bytes follow it or the source ends before it.
type DecryptReader struct {
	src     io.Reader
	dk      *DataKey
	ad      []byte
	p       *packer
	pkg     int
	seq     int64
	buf     []byte
	pending []byte
	done    bool
	err     error
}

// NewDecryptReader returns a reader of the plaintext of the encrypted
// stream src.
func NewDecryptReader(src io.Reader, dk *DataKey, streamAD []byte) *DecryptReader {
	return &DecryptReader{src: src, dk: dk, ad: streamAD}
}

func (d *DecryptReader) start() error {
	var hb [HeaderLen]byte
	if _, err := io.ReadFull(d.src, hb[:]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return fmt.Errorf("%w: no header", ErrTruncated)
		}
		return err
	}
	h, err := ParseHeader(hb[:])
	if err != nil {
		return err
	}
	if d.p, err = newPacker(d.dk, h, d.ad); err != nil {
		return err
	}
	d.pkg = h.PackageSize()
	// One byte more than a package, to see whether another one follows.
	d.buf = make([]byte, 0, d.pkg+TagLen+1)
	return nil
}

func (d *DecryptReader) Read(b []byte) (int, error) {
	for len(d.pending) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		if d.done {
			return 0, io.EOF
		}
		d.err = d.fill()
	}
	n := copy(b, d.pending)
	d.pending = d.pending[n:]
	return n, nil
}

// fill opens the next package into pending.
func (d *DecryptReader) fill() error {
	if d.p == nil {
		if err := d.start(); err != nil {
			return err
		}
	}
	full := d.pkg + TagLen
	// buf may hold one byte read ahead from the last round.
	n, err := io.ReadFull(d.src, d.buf[len(d.buf):full+1])
	d.buf = d.buf[:len(d.buf)+n]
	eof := false
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		eof = true
	case err != nil:
		return err
	}
	if !eof {
		// More follows this package: it cannot be the final one.
		pt, err := d.p.open(nil, d.buf[:full], d.seq, false)
		if err != nil {
			return err
		}
		d.buf[0] = d.buf[full]
		d.buf = d.buf[:1]
		d.seq++
		d.pending = pt
		return nil
	}
	if len(d.buf) < TagLen {
		return fmt.Errorf("%w: package %d is %d bytes", ErrTruncated, d.seq, len(d.buf))
	}
	pt, err := d.p.open(nil, d.buf, d.seq, true)
	if err != nil {
		if errors.Is(err, ErrAuth) && len(d.buf) == full {
			// A full last package that is not final: the stream was cut.
			if _, err2 := d.p.open(nil, d.buf, d.seq, false); err2 == nil {
				return fmt.Errorf("%w: after package %d", ErrTruncated, d.seq)
			}
		}
		return err
	}
	d.done = true
	d.pending = pt
	return nil
}
