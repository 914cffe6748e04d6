package s3api

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/kommunal-cloud/kcs/node"
)

const (
	// maxParts is S3's limit on parts per upload and on part numbers.
	maxParts = 10000
	// maxCompleteBody bounds CompleteMultipartUpload's document: 10 000
	// parts with an ETag and a checksum each fit in well under 1 KiB apiece.
	maxCompleteBody = 8 << 20
)

// createMultipartUpload starts a multipart upload
// (CreateMultipartUpload). Content-Type and user metadata are given here,
// not with the parts.
func (s *Server) createMultipartUpload(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := node.ValidObjectKey(rq.key); err != nil {
		return err
	}
	if err := checkWriteHeaders(r.Header); err != nil {
		return err
	}
	opts, err := putOptions(r.Header)
	if err != nil {
		return err
	}
	id, err := s.layer.CreateMultipartUpload(r.Context(), rq.caller, rq.bucket, rq.key, opts)
	if err != nil {
		return err
	}
	w.Header().Set("X-Amz-Server-Side-Encryption", sseAlgorithm)
	return writeXML(w, http.StatusOK, &initiateMultipartUploadResult{Bucket: rq.bucket, Key: rq.key, UploadID: id})
}

// uploadPart stores one part (UploadPart); like PutObject, the body
// streams through.
func (s *Server) uploadPart(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := node.ValidObjectKey(rq.key); err != nil {
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
	opts := node.PartOptions{Size: body.declared, Checksums: nodeChecksums(rq.auth.Checksums), ContentMD5: md5}
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
// (CompleteMultipartUpload). Part order, ETags and sizes are the object
// layer's to check (InvalidPartOrder, InvalidPart, EntityTooSmall).
func (s *Server) completeMultipartUpload(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := node.ValidObjectKey(rq.key); err != nil {
		return err
	}
	if err := checkConditionalWrite(r.Header); err != nil {
		return err
	}
	var doc completeMultipartUpload
	empty, err := decodeXMLBody(rq.auth.Body, maxCompleteBody, &doc)
	if err != nil {
		return err
	}
	if empty || len(doc.Parts) == 0 {
		return errorf("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema: it lists no parts.")
	}
	if len(doc.Parts) > maxParts {
		return errorf("InvalidArgument", "An upload has at most 10000 parts.")
	}
	parts := make([]node.CompletePart, len(doc.Parts))
	for i, p := range doc.Parts {
		n, err := parsePartNumber(strings.TrimSpace(p.PartNumber))
		if err != nil {
			return err
		}
		parts[i] = node.CompletePart{Number: n, ETag: unquoteETag(p.ETag)}
	}
	info, err := s.layer.CompleteMultipartUpload(r.Context(), rq.caller, rq.bucket, rq.key, rq.query.Get("uploadId"), parts, node.CompleteOptions{})
	if err != nil {
		return err
	}
	res := completeMultipartUploadResult{
		Location: objectURL(r, rq.bucket, rq.key),
		Bucket:   rq.bucket,
		Key:      rq.key,
		ETag:     quoteETag(info.ETag),
	}
	for _, c := range info.Checksums {
		switch c.Algorithm {
		case "CRC32":
			res.ChecksumCRC32 = c.Value
		case "CRC32C":
			res.ChecksumCRC32C = c.Value
		case "CRC64NVME":
			res.ChecksumCRC64NVME = c.Value
		case "SHA1":
			res.ChecksumSHA1 = c.Value
		case "SHA256":
			res.ChecksumSHA256 = c.Value
		}
	}
	w.Header().Set("X-Amz-Server-Side-Encryption", sseAlgorithm)
	return writeXML(w, http.StatusOK, &res)
}

// abortMultipartUpload discards an upload and its parts
// (AbortMultipartUpload).
func (s *Server) abortMultipartUpload(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := node.ValidObjectKey(rq.key); err != nil {
		return err
	}
	if err := s.layer.AbortMultipartUpload(r.Context(), rq.caller, rq.bucket, rq.key, rq.query.Get("uploadId")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// objectURL is the path-style URL of an object as the client addressed
// this server, for CompleteMultipartUpload's Location.
func objectURL(r *http.Request, bucket, key string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: r.Host, Path: "/" + bucket + "/" + key}
	return u.String()
}
