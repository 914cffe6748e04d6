package s3api

import (
	"bytes"
	"cmp"
	"crypto/md5"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// This file holds how s3api reads and writes XML documents, and the
// documents several operations share; a document of one operation (CORS,
// tagging, copies, DeleteObjects, upload listings) lives with it. Element
// names follow the S3 API reference.

// s3NS is the namespace of every S3 document s3api writes.
const s3NS = "http://s3.amazonaws.com/doc/2006-03-01/"

// writeXML answers with status and the document v. The document is
// encoded into memory first (S3 documents are small: a listing page is at
// most 1000 entries) so that Content-Length is exact and an encoding
// failure can still be answered as an error.
func writeXML(w http.ResponseWriter, status int, v any) error {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	if err := xml.NewEncoder(&buf).Encode(v); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// decodeXMLBody decodes the request document from body into v, reading at
// most limit bytes, and then reads body to its end: the end is where
// sigv4 checks the payload's signature, and nothing may be acted on before
// that. empty reports a body without any element (callers decide whether
// that is allowed). A malformed document is MalformedXML, a longer one
// MaxMessageLengthExceeded. Errors of the body itself (signature, length)
// come back unchanged for errors.go to map.
func decodeXMLBody(body io.Reader, limit int64, v any) (empty bool, err error) {
	lr := &io.LimitedReader{R: body, N: limit + 1}
	rec := &errRecorder{r: lr}
	decErr := xml.NewDecoder(rec).Decode(v)
	// Drain what follows the document (whitespace, usually nothing).
	if _, err := io.Copy(io.Discard, rec); err != nil || rec.err != nil {
		return false, cmp.Or(rec.err, err)
	}
	switch {
	case lr.N <= 0:
		return false, errorf("MaxMessageLengthExceeded", fmt.Sprintf("The request document exceeds %d bytes.", limit))
	case decErr == io.EOF && !rec.text:
		return true, nil
	case decErr == io.EOF:
		// Text but no element: not an XML document.
		return false, errorf("MalformedXML", "")
	case decErr != nil:
		return false, &s3Error{Code: "MalformedXML", Err: decErr}
	}
	return false, nil
}

// decodeXMLRequest decodes a request document like decodeXMLBody and
// checks its Content-MD5, if the client sent one (sigv4 checks the
// x-amz-checksum-* values). requireDigest refuses a request that has
// neither, as S3 does for operations whose body must be protected
// (DeleteObjects).
func decodeXMLRequest(r *http.Request, rq *request, limit int64, v any, requireDigest bool) (empty bool, err error) {
	want, err := contentMD5(r.Header)
	if err != nil {
		return false, err
	}
	if requireDigest && want == nil && !hasChecksum(r.Header) {
		return false, errorf("InvalidRequest", "Missing required header for this request: Content-MD5 OR x-amz-checksum-*")
	}
	body := rq.auth.Body
	h := md5.New()
	if want != nil {
		body = io.TeeReader(body, h)
	}
	if empty, err = decodeXMLBody(body, limit, v); err != nil {
		return false, err
	}
	if want != nil && !bytes.Equal(h.Sum(nil), want) {
		return false, errorf("BadDigest", "")
	}
	return empty, nil
}

// hasChecksum reports whether a request carries an x-amz-checksum-*
// value, as a header or announced as a trailer; sigv4 verifies it.
func hasChecksum(h http.Header) bool {
	if h.Get("X-Amz-Trailer") != "" {
		return true
	}
	for name := range h {
		if isChecksumValueHeader(name) {
			return true
		}
	}
	return false
}

// errRecorder keeps the first read error that is not io.EOF, so that a
// failing body is told apart from a malformed document, and notes whether
// the body held anything but whitespace, so that an empty body is told
// apart from text without an element.
type errRecorder struct {
	r    io.Reader
	err  error
	text bool
}

func (e *errRecorder) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if !e.text && len(bytes.TrimSpace(p[:n])) > 0 {
		e.text = true
	}
	if err != nil && !errors.Is(err, io.EOF) && e.err == nil {
		e.err = err
	}
	return n, err
}

// owner is a bucket's or object's owner: kcs names the tenant.
type owner struct {
	ID          string
	DisplayName string
}

// listAllMyBucketsResult answers ListBuckets.
type listAllMyBucketsResult struct {
	XMLName           xml.Name     `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListAllMyBucketsResult"`
	Owner             owner        `xml:"Owner"`
	Buckets           []bucketItem `xml:"Buckets>Bucket"`
	ContinuationToken string       `xml:",omitempty"`
	Prefix            string       `xml:",omitempty"`
}

type bucketItem struct {
	Name         string
	CreationDate string
	BucketRegion string
}

// createBucketConfiguration is CreateBucket's optional request body.
type createBucketConfiguration struct {
	XMLName            xml.Name `xml:"CreateBucketConfiguration"`
	LocationConstraint string   `xml:"LocationConstraint"`
}

// locationConstraint answers GetBucketLocation.
type locationConstraint struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ LocationConstraint"`
	Region  string   `xml:",chardata"`
}

// listBucketResult answers ListObjects (v1) and ListObjectsV2; the fields
// of the other version stay empty and are omitted.
type listBucketResult struct {
	XMLName               xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name                  string         `xml:"Name"`
	Prefix                string         `xml:"Prefix"`
	Marker                *string        `xml:"Marker"`     // v1
	NextMarker            string         `xml:",omitempty"` // v1
	ContinuationToken     string         `xml:",omitempty"` // v2
	NextContinuationToken string         `xml:",omitempty"` // v2
	StartAfter            string         `xml:",omitempty"` // v2
	KeyCount              *int           `xml:"KeyCount"`   // v2
	MaxKeys               int            `xml:"MaxKeys"`
	Delimiter             string         `xml:",omitempty"`
	EncodingType          string         `xml:",omitempty"`
	IsTruncated           bool           `xml:"IsTruncated"`
	Contents              []objectItem   `xml:"Contents"`
	CommonPrefixes        []commonPrefix `xml:"CommonPrefixes"`
}

type objectItem struct {
	Key               string
	LastModified      string
	ETag              string
	ChecksumAlgorithm []string `xml:",omitempty"`
	ChecksumType      string   `xml:",omitempty"`
	Size              int64
	Owner             *owner `xml:",omitempty"`
	StorageClass      string
}

type commonPrefix struct {
	Prefix string
}

// initiateMultipartUploadResult answers CreateMultipartUpload.
type initiateMultipartUploadResult struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ InitiateMultipartUploadResult"`
	Bucket   string
	Key      string
	UploadID string `xml:"UploadId"`
}

// completeMultipartUpload is CompleteMultipartUpload's request body. The
// parts' checksum elements (ChecksumCRC32, …) land in Other; the object
// layer compares them with what each part was uploaded with.
type completeMultipartUpload struct {
	XMLName xml.Name       `xml:"CompleteMultipartUpload"`
	Parts   []completePart `xml:"Part"`
}

type completePart struct {
	PartNumber string // a string, so that a non-number is InvalidArgument, not MalformedXML
	ETag       string
	Other      []xmlChecksum `xml:",any"`
}

// completeMultipartUploadResult answers CompleteMultipartUpload.
type completeMultipartUploadResult struct {
	XMLName      xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CompleteMultipartUploadResult"`
	Location     string
	Bucket       string
	Key          string
	ETag         string
	Checksums    []xmlChecksum `xml:",any"`
	ChecksumType string        `xml:",omitempty"`
}
