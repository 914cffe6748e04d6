package s3api

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

const (
	// maxParts is S3's limit on parts per upload and on part numbers.
	maxParts = 10000
	// maxCompleteBody bounds CompleteMultipartUpload's document: 10 000
	// parts with an ETag and a checksum each fit in well under 1 KiB apiece.
	maxCompleteBody = 8 << 20
)

// completeLimits bound CompleteMultipartUpload's document while it is
// read: a Part has a PartNumber, an ETag and its checksums.
var completeLimits = listDocLimits(maxCompleteBody, 8*maxParts+64)

// read reads CompleteMultipartUpload's document from its root, one Part
// at a time, and stops at the first beyond maxParts: such a list cannot be
// valid, as part numbers go up to 10 000 and must ascend.
func (doc *completeMultipartUpload) read(d *xml.Decoder, root xml.StartElement) error {
	if root.Name.Local != "CompleteMultipartUpload" {
		return malformedXML("the root element is not CompleteMultipartUpload.")
	}
	return eachChild(d, func(child xml.StartElement) error {
		if child.Name.Local != "Part" {
			return d.Skip()
		}
		if len(doc.Parts) == maxParts {
			return errorf("InvalidArgument", "An upload has at most 10000 parts.")
		}
		var p completePart
		if err := d.DecodeElement(&p, &child); err != nil {
			return err
		}
		doc.Parts = append(doc.Parts, p)
		return nil
	})
}

// createMultipartUpload starts a multipart upload
// (CreateMultipartUpload). Content-Type, headers, user metadata, tags and
// the checksum mode are given here, not with the parts.
func (s *Server) createMultipartUpload(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := objapi.ValidObjectKey(rq.key); err != nil {
		return err
	}
	if err := checkWriteHeaders(r.Header); err != nil {
		return err
	}
	for _, name := range []string{"If-Match", "If-None-Match"} {
		if r.Header.Get(name) != "" {
			// Conditions belong on CompleteMultipartUpload, where S3
			// decides them; here they would silently do nothing.
			return errorf("NotImplemented", "A conditional write ("+name+") is taken by CompleteMultipartUpload, not here.")
		}
	}
	opts, err := putOptions(r.Header)
	if err != nil {
		return err
	}
	if opts.Lock, err = lockHeaders(r.Header, s.now()); err != nil {
		return err
	}
	if v := r.Header.Get("X-Amz-Checksum-Algorithm"); v != "" {
		if opts.ChecksumAlgorithm, err = parseChecksumAlgorithm(v); err != nil {
			return err
		}
	}
	typ, err := checksumMode(opts.ChecksumAlgorithm, r.Header.Get("X-Amz-Checksum-Type"))
	if err != nil {
		return err
	}
	// Passed on only when given: the object layer applies the default.
	if r.Header.Get("X-Amz-Checksum-Type") != "" {
		opts.ChecksumType = typ
	}
	id, err := s.layer.CreateMultipartUpload(r.Context(), rq.caller, rq.bucket, rq.key, opts)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("X-Amz-Server-Side-Encryption", sseAlgorithm)
	if opts.ChecksumAlgorithm != "" {
		h.Set("X-Amz-Checksum-Algorithm", opts.ChecksumAlgorithm)
		h.Set("X-Amz-Checksum-Type", typ)
	}
	return writeXML(w, http.StatusOK, &initiateMultipartUploadResult{Bucket: rq.bucket, Key: rq.key, UploadID: id})
}

// uploadPart stores one part (UploadPart); like PutObject, the body
// streams through.
func (s *Server) uploadPart(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := objapi.ValidObjectKey(rq.key); err != nil {
		return err
	}
	q := rq.query
	part, err := parsePartNumber(q.Get("partNumber"))
	if err != nil {
		return err
	}
	md5, err := contentMD5(r.Header)
	if err != nil {
		return err
	}
	body, err := s.requestBody(rq, maxPutSize)
	if err != nil {
		return err
	}
	opts := objapi.PartOptions{Size: body.declared, Checksums: rq.auth.Checksums, ContentMD5: md5, NoChecksum: !hasChecksum(r.Header)}
	info, err := s.layer.UploadPart(r.Context(), rq.caller, rq.bucket, rq.key, q.Get("uploadId"), part, body, opts)
	if err := body.finish(err); err != nil {
		return err
	}
	h := w.Header()
	h.Set("ETag", quoteETag(info.ETag))
	h.Set("X-Amz-Server-Side-Encryption", sseAlgorithm)
	setChecksumHeaders(h, info.Checksums)
	w.WriteHeader(http.StatusOK)
	return nil
}

// completeMultipartUpload joins the listed parts into the object
// (CompleteMultipartUpload). Part order, ETags, sizes and checksums are
// the object layer's to check (InvalidPartOrder, InvalidPart,
// EntityTooSmall, BadDigest), and so are the conditions. The upload is
// looked up before the list is read, and the list is read part by part.
func (s *Server) completeMultipartUpload(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := objapi.ValidObjectKey(rq.key); err != nil {
		return err
	}
	var opts objapi.CompleteOptions
	var err error
	if opts.IfNoneMatch, opts.IfMatch, err = writeConditions(r.Header); err != nil {
		return err
	}
	if r.Header.Get("X-Amz-Mp-Object-Size") != "" {
		// A check of the total size kcs does not make; ignoring it would
		// complete an object the client asked to refuse.
		return errorf("NotImplemented", "The x-amz-mp-object-size check is not implemented.")
	}
	if opts.Checksums, err = objectChecksums(r.Header); err != nil {
		return err
	}
	if v := r.Header.Get("X-Amz-Checksum-Type"); v != "" {
		switch opts.ChecksumType = strings.ToUpper(v); opts.ChecksumType {
		case checksumComposite, checksumFullObject:
		default:
			return errorf("InvalidRequest", "Value for x-amz-checksum-type header is invalid.")
		}
	}
	// The upload must be the caller's before its list of parts is read:
	// in progress, or completed already (UploadInfo.Completed), which the
	// object layer answers with the object it made, as S3 answers a
	// completion retried after it succeeded (SDKs retry one that timed
	// out).
	uploadID := rq.query.Get("uploadId")
	if _, err := s.layer.HeadUpload(r.Context(), rq.caller, rq.bucket, rq.key, uploadID); err != nil {
		return err
	}
	var doc completeMultipartUpload
	empty, err := readXML(rq.auth.Body, completeLimits, doc.read)
	if err != nil {
		return err
	}
	if empty || len(doc.Parts) == 0 {
		return malformedXML("it lists no parts.")
	}
	parts := make([]objapi.CompletePart, len(doc.Parts))
	for i, p := range doc.Parts {
		n, err := parsePartNumber(strings.TrimSpace(p.PartNumber))
		if err != nil {
			return err
		}
		cs, err := checksumsFromXML(p.Other)
		if err != nil {
			return err
		}
		parts[i] = objapi.CompletePart{Number: n, ETag: objapi.UnquoteETag(p.ETag), Checksums: cs}
	}
	info, err := s.layer.CompleteMultipartUpload(r.Context(), rq.caller, rq.bucket, rq.key, uploadID, parts, opts)
	if err != nil {
		return err
	}
	res := completeMultipartUploadResult{
		Location:  s.objectURL(r, rq.bucket, rq.key),
		Bucket:    rq.bucket,
		Key:       rq.key,
		ETag:      quoteETag(info.ETag),
		Checksums: xmlChecksums(info.Checksums),
	}
	if len(info.Checksums) > 0 {
		res.ChecksumType = info.ChecksumType
	}
	w.Header().Set("X-Amz-Server-Side-Encryption", sseAlgorithm)
	setWriteVersion(w.Header(), info)
	return writeXML(w, http.StatusOK, &res)
}

// abortMultipartUpload discards an upload and its parts
// (AbortMultipartUpload).
func (s *Server) abortMultipartUpload(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := objapi.ValidObjectKey(rq.key); err != nil {
		return err
	}
	if err := s.layer.AbortMultipartUpload(r.Context(), rq.caller, rq.bucket, rq.key, rq.query.Get("uploadId")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// objectURL is the URL of an object as the client addressed this server
// (path or virtual-hosted style), for CompleteMultipartUpload's and POST
// uploads' Location.
func (s *Server) objectURL(r *http.Request, bucket, key string) string {
	scheme := "http"
	if cl, ok := ClientOf(r.Context()); ok && cl.Secure || !ok && r.TLS != nil {
		scheme = "https" // as the client reached the node, through a trusted proxy too
	}
	p := "/" + bucket + "/" + key
	if s.hostBucket(r.Host) != "" {
		p = "/" + key
	}
	u := url.URL{Scheme: scheme, Host: r.Host, Path: p}
	return u.String()
}
