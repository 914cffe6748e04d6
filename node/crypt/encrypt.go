package crypt

import (
	"fmt"
	"io"
)

// Peeker is a source that can lend its buffered bytes instead of copying
// them out, as bufio.Reader does. EncryptReader seals straight from such a
// source's buffer. Peek(n) returns fewer than n bytes only with an error
// (io.EOF at the end).
type Peeker interface {
	Peek(n int) ([]byte, error)
	Discard(n int) (int, error)
}

// EncryptReader reads plaintext from a source and yields the encrypted
// stream: the header, then the packages. It holds one package of plaintext
// and one of ciphertext at most; when the caller's buffer has room for a
// whole package it seals straight into it.
type EncryptReader struct {
	src     io.Reader
	peeker  Peeker
	p       *packer
	hdr     Header
	pkg     int
	seq     int64
	plain   int64
	hdrSent bool
	done    bool
	pending []byte // sealed bytes not yet returned
	ptbuf   []byte
	ctbuf   []byte
}

// EncryptOptions choose the cipher and package size of a new stream. The
// zero value means AES-256-GCM with 64 KiB packages.
type EncryptOptions struct {
	Cipher       Cipher
	PackageShift uint8 // log2 of the package size, 10..24
}

// NewEncryptReader starts a new stream under dk with a fresh random nonce
// prefix, so a retried stream (a part uploaded again) never reuses nonces.
// streamAD binds the stream to its place and must be given again to decrypt.
func NewEncryptReader(src io.Reader, dk *DataKey, streamAD []byte, opt EncryptOptions) (*EncryptReader, error) {
	c, shift := opt.Cipher, opt.PackageShift
	if c == 0 {
		c = AES256GCM
	}
	if shift == 0 {
		shift = DefaultPackageShift
	}
	if shift < minPackageShift || shift > maxPackageShift {
		return nil, fmt.Errorf("crypt: package shift %d out of range", shift)
	}
	h, err := newHeader(c, shift)
	if err != nil {
		return nil, err
	}
	p, err := newPacker(dk, h, streamAD)
	if err != nil {
		return nil, err
	}
	e := &EncryptReader{src: src, p: p, hdr: h, pkg: h.PackageSize()}
	e.peeker, _ = src.(Peeker)
	return e, nil
}

// Header is the stream's header; callers may keep it in metadata so that a
// range read need not fetch the stream's first bytes.
func (e *EncryptReader) Header() Header { return e.hdr }

// PlainSize is the number of plaintext bytes consumed so far; after EOF, the
// stream's plaintext size.
func (e *EncryptReader) PlainSize() int64 { return e.plain }

// next returns the plaintext of the next package and whether it is final.
// The slice is valid until release.
func (e *EncryptReader) next() ([]byte, bool, error) {
	if e.peeker != nil {
		pt, err := e.peeker.Peek(e.pkg)
		if len(pt) == e.pkg {
			return pt, false, nil
		}
		if err == io.EOF {
			return pt, true, nil
		}
		if err == nil {
			err = io.ErrNoProgress
		}
		return nil, false, fmt.Errorf("crypt: read plaintext: %w", err)
	}
	if e.ptbuf == nil {
		e.ptbuf = make([]byte, e.pkg)
	}
	n, err := io.ReadFull(e.src, e.ptbuf)
	switch err {
	case nil:
		return e.ptbuf, false, nil
	case io.EOF, io.ErrUnexpectedEOF:
		return e.ptbuf[:n], true, nil
	}
	return nil, false, fmt.Errorf("crypt: read plaintext: %w", err)
}

func (e *EncryptReader) release(pt []byte) error {
	e.plain += int64(len(pt))
	if e.peeker != nil && len(pt) > 0 {
		if _, err := e.peeker.Discard(len(pt)); err != nil {
			return fmt.Errorf("crypt: read plaintext: %w", err)
		}
	}
	return nil
}

// sealNext seals the next package, appending it to dst.
func (e *EncryptReader) sealNext(dst []byte) ([]byte, error) {
	pt, final, err := e.next()
	if err != nil {
		return nil, err
	}
	ct, err := e.p.seal(dst, pt, e.seq, final)
	if err != nil {
		return nil, err
	}
	if err := e.release(pt); err != nil {
		return nil, err
	}
	e.seq++
	e.done = final
	return ct, nil
}

func (e *EncryptReader) Read(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		switch {
		case len(e.pending) > 0:
			c := copy(b, e.pending)
			e.pending = e.pending[c:]
			b, n = b[c:], n+c
		case !e.hdrSent:
			e.hdrSent = true
			e.pending = e.hdr[:]
		case e.done:
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		case len(b) >= e.pkg+TagLen:
			ct, err := e.sealNext(b[:0])
			if err != nil {
				return n, err
			}
			b, n = b[len(ct):], n+len(ct)
		default:
			if e.ctbuf == nil {
				e.ctbuf = make([]byte, 0, e.pkg+TagLen)
			}
			ct, err := e.sealNext(e.ctbuf[:0])
			if err != nil {
				return n, err
			}
			e.pending = ct
		}
	}
	return n, nil
}

// WriteTo writes the rest of the stream to w, one Write per package.
func (e *EncryptReader) WriteTo(w io.Writer) (int64, error) {
	var n int64
	write := func(b []byte) error {
		c, err := w.Write(b)
		n += int64(c)
		return err
	}
	if !e.hdrSent {
		e.hdrSent = true
		e.pending = e.hdr[:]
	}
	if len(e.pending) > 0 {
		if err := write(e.pending); err != nil {
			return n, err
		}
		e.pending = nil
	}
	if e.ctbuf == nil {
		e.ctbuf = make([]byte, 0, e.pkg+TagLen)
	}
	for !e.done {
		ct, err := e.sealNext(e.ctbuf[:0])
		if err != nil {
			return n, err
		}
		if err := write(ct); err != nil {
			return n, err
		}
	}
	return n, nil
}
