package s3api

import (
	"net/http"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// putObject stores the request body as an object (PutObject). The body
// streams through to the object layer; nothing here holds it.
func (s *Server) putObject(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := objapi.ValidObjectKey(rq.key); err != nil {
		return err
	}
	if err := checkWriteHeaders(r.Header); err != nil {
		return err
	}
	opts, err := putOptions(r.Header)
	if err != nil {
		return err
	}
	if opts.IfNoneMatch, opts.IfMatch, err = writeConditions(r.Header); err != nil {
		return err
	}
	if opts.ContentMD5, err = contentMD5(r.Header); err != nil {
		return err
	}
	if opts.Lock, err = lockHeaders(r.Header, s.now()); err != nil {
		return err
	}
	body, err := s.requestBody(rq, maxPutSize)
	if err != nil {
		return err
	}
	opts.Size = body.declared
	opts.Checksums = rq.auth.Checksums
	opts.NoChecksum = !hasChecksum(r.Header)
	info, err := s.layer.PutObject(r.Context(), rq.caller, rq.bucket, rq.key, body, opts)
	if err := body.finish(err); err != nil {
		return err
	}
	writePutResult(w, info)
	return nil
}

// writePutResult answers a successful write of an object with its ETag,
// checksums, version and expiration.
func writePutResult(w http.ResponseWriter, info objapi.ObjectInfo) {
	h := w.Header()
	h.Set("ETag", quoteETag(info.ETag))
	h.Set("X-Amz-Server-Side-Encryption", sseAlgorithm)
	setWriteVersion(h, info)
	setChecksumHeaders(h, info.Checksums)
	if len(info.Checksums) > 0 && info.ChecksumType != "" {
		h.Set("X-Amz-Checksum-Type", info.ChecksumType)
	}
	w.WriteHeader(http.StatusOK)
}

// putOptions collects what PutObject, CreateMultipartUpload and a
// CopyObject that replaces metadata store with the object: its
// Content-Type, standard headers, user metadata and tags. User metadata
// is held to S3's 2 KB, and what is stored of the headers altogether to
// S3's 8 KB (checkStoredHeaderSize).
func putOptions(h http.Header) (objapi.PutOptions, error) {
	meta, err := userMeta(h)
	if err != nil {
		return objapi.PutOptions{}, err
	}
	if err := checkStoredHeaderSize(h); err != nil {
		return objapi.PutOptions{}, err
	}
	tags, err := taggingHeader(h)
	if err != nil {
		return objapi.PutOptions{}, err
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = defaultContentType
	}
	return objapi.PutOptions{ContentType: ct, Headers: objectHeaders(h), UserMeta: meta, Tags: tags, Size: -1}, nil
}

// setWriteVersion writes the x-amz-version-id and x-amz-expiration of a
// version a write made (PutObject, CopyObject, CompleteMultipartUpload,
// POST uploads).
func setWriteVersion(h http.Header, info objapi.ObjectInfo) {
	setVersionID(h, info.VersionID, "")
	if info.Expiration != "" {
		h.Set("X-Amz-Expiration", info.Expiration)
	}
}
