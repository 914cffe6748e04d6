package s3api

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// getObject streams an object, a range of it or one of its parts
// (GetObject).
func (s *Server) getObject(w http.ResponseWriter, r *http.Request, rq *request) error {
	return s.sendObject(w, r, rq, false)
}

// headObject answers GetObject's headers without the body (HeadObject).
func (s *Server) headObject(w http.ResponseWriter, r *http.Request, rq *request) error {
	return s.sendObject(w, r, rq, true)
}

func (s *Server) sendObject(w http.ResponseWriter, r *http.Request, rq *request, head bool) error {
	if err := objapi.ValidObjectKey(rq.key); err != nil {
		return err
	}
	q := rq.query
	var opts objapi.GetOptions
	var err error
	if opts.VersionID, err = versionParam(q); err != nil {
		return err
	}
	if q.Has("partNumber") {
		n, err := parsePartNumber(q.Get("partNumber"))
		if err != nil {
			return err
		}
		opts.PartNumber = n
	}
	rangeHeader := r.Header.Get("Range")
	if opts.PartNumber > 0 && rangeHeader != "" {
		return errorf("InvalidRequest", "Cannot specify both Range header and partNumber query parameter.")
	}
	spec, unsatisfiable := parseRange(rangeHeader)
	if unsatisfiable {
		return s.notSatisfiable(w, r, rq, nil)
	}
	opts.Range = spec

	obj, err := s.layer.GetObject(r.Context(), rq.caller, rq.bucket, rq.key, opts)
	if objapi.IsKind(err, objapi.KindInvalidRange) {
		return s.notSatisfiable(w, r, rq, err)
	}
	if err != nil {
		return err
	}
	h := w.Header()
	setObjectHeaders(h, obj.Info)
	setVersionID(h, obj.Info.VersionID, opts.VersionID)
	if err := checkPreconditions(r.Header, obj.Info); err != nil {
		return err
	}
	if opts.PartNumber > 0 && obj.Info.PartsCount > 0 {
		h.Set("X-Amz-Mp-Parts-Count", strconv.Itoa(obj.Info.PartsCount))
	}
	if strings.EqualFold(r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED") {
		setReadChecksums(h, obj)
	}
	applyResponseOverrides(h, q)
	h.Set("Content-Length", strconv.FormatInt(obj.Length, 10))
	status := http.StatusOK
	if obj.Partial && obj.Length > 0 {
		status = http.StatusPartialContent
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", obj.Offset, obj.Offset+obj.Length-1, obj.Info.Size))
	}
	if head || obj.Length == 0 {
		w.WriteHeader(status)
		return nil
	}
	return sendBody(r.Context(), w, status, obj)
}

// setReadChecksums writes the checksum headers of a read that asked for
// them (x-amz-checksum-mode: ENABLED), as S3 answers: the object's
// checksum and type when the whole object is sent; for a part of a
// COMPOSITE object, the part's own checksum with type COMPOSITE, which
// the SDKs check the part's bytes against (GetObject's partNumber and
// ChecksumMode,
// https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html; the
// part's checksum is what S3 sends, as LocalStack's tests validated
// against S3 record). Anything else — a range, a part of a FULL_OBJECT
// object of several parts, whose parts' CRCs S3 does not return — gets
// none: clients would check the partial body against the whole object's
// checksum and fail.
func setReadChecksums(h http.Header, obj *objapi.Object) {
	info := obj.Info
	if len(info.Checksums) == 0 {
		return
	}
	if info.Part != nil && info.ChecksumType == checksumComposite {
		var sums []objapi.Checksum
		for _, c := range info.Part.Checksums {
			for _, o := range info.Checksums {
				if strings.EqualFold(c.Algorithm, o.Algorithm) {
					sums = append(sums, c)
				}
			}
		}
		if len(sums) > 0 {
			setChecksumHeaders(h, sums)
			h.Set("X-Amz-Checksum-Type", checksumComposite)
		}
		return
	}
	if obj.Offset == 0 && obj.Length == info.Size {
		setChecksumHeaders(h, info.Checksums)
		h.Set("X-Amz-Checksum-Type", cmp.Or(info.ChecksumType, checksumFullObject))
	}
}

// sendBody streams obj's bytes. The status line is held back until the
// first verified byte arrives, so that an object that cannot be read at
// all (not enough shards, failed authentication) still gets a proper S3
// error instead of a 200 with a cut-off body.
func sendBody(ctx context.Context, w http.ResponseWriter, status int, obj *objapi.Object) error {
	dw := &deferredWriter{w: w, status: status}
	if err := obj.Send(ctx, dw); err != nil {
		return err
	}
	if dw.n != obj.Length {
		// Content-Length promised obj.Length bytes. Returning an error
		// cuts the response off (or answers 500 if nothing was sent).
		return fmt.Errorf("object layer sent %d bytes of %d", dw.n, obj.Length)
	}
	return nil
}

// deferredWriter writes the status line on the first Write.
type deferredWriter struct {
	w      http.ResponseWriter
	status int
	n      int64
}

var _ io.Writer = (*deferredWriter)(nil)

func (d *deferredWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		// Writing nothing must not commit the status line either.
		return 0, nil
	}
	if d.n == 0 {
		d.w.WriteHeader(d.status)
	}
	n, err := d.w.Write(p)
	d.n += int64(n)
	return n, err
}

// notSatisfiable answers 416 for a range the object cannot satisfy, with
// Content-Range: bytes */size as HTTP asks. The object layer's error does
// not carry the size, so the object is looked up again without a range;
// that lookup also checks the preconditions, which HTTP evaluates before
// the range. cause is nil for a range that can never be satisfied
// ("bytes=-0").
func (s *Server) notSatisfiable(w http.ResponseWriter, r *http.Request, rq *request, cause error) error {
	vid, _ := versionParam(rq.query) // checked by sendObject
	obj, err := s.layer.GetObject(r.Context(), rq.caller, rq.bucket, rq.key, objapi.GetOptions{VersionID: vid})
	if err != nil {
		if cause != nil {
			return cause
		}
		return err
	}
	setObjectHeaders(w.Header(), obj.Info)
	setVersionID(w.Header(), obj.Info.VersionID, vid)
	if err := checkPreconditions(r.Header, obj.Info); err != nil {
		return err
	}
	code := "InvalidRange"
	if rq.query.Has("partNumber") {
		code = "InvalidPartNumber"
	}
	return &s3Error{
		Code:   code,
		Header: map[string]string{"Content-Range": fmt.Sprintf("bytes */%d", obj.Info.Size)},
		Err:    cause,
	}
}

// parsePartNumber parses a partNumber parameter: 1 to 10000.
func parsePartNumber(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxParts {
		return 0, errorf("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive.")
	}
	return n, nil
}
