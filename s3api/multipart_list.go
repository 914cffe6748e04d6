package s3api

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// Listings of multipart uploads: an upload's parts (ListParts) and a
// bucket's uploads in progress (ListMultipartUploads), which restic,
// rclone and the SDKs' cleanup tools use to find and abort leftovers.

// maxListParts is S3's default and cap for max-parts and max-uploads.
const maxListParts = 1000

// listPartsResult answers ListParts.
type listPartsResult struct {
	XMLName              xml.Name   `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListPartsResult"`
	Bucket               string     `xml:"Bucket"`
	Key                  string     `xml:"Key"`
	UploadID             string     `xml:"UploadId"`
	PartNumberMarker     int        `xml:"PartNumberMarker"`
	NextPartNumberMarker int        `xml:"NextPartNumberMarker"`
	MaxParts             int        `xml:"MaxParts"`
	IsTruncated          bool       `xml:"IsTruncated"`
	Parts                []partItem `xml:"Part"`
	Initiator            owner      `xml:"Initiator"`
	Owner                owner      `xml:"Owner"`
	StorageClass         string     `xml:"StorageClass"`
	ChecksumAlgorithm    string     `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType         string     `xml:"ChecksumType,omitempty"`
}

type partItem struct {
	PartNumber   int
	LastModified string
	ETag         string
	Size         int64
	Checksums    []xmlChecksum `xml:",any"`
}

// listMultipartUploadsResult answers ListMultipartUploads.
type listMultipartUploadsResult struct {
	XMLName            xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListMultipartUploadsResult"`
	Bucket             string         `xml:"Bucket"`
	KeyMarker          string         `xml:"KeyMarker"`
	UploadIDMarker     string         `xml:"UploadIdMarker"`
	NextKeyMarker      string         `xml:"NextKeyMarker,omitempty"`
	NextUploadIDMarker string         `xml:"NextUploadIdMarker,omitempty"`
	Prefix             string         `xml:"Prefix"`
	Delimiter          string         `xml:"Delimiter,omitempty"`
	MaxUploads         int            `xml:"MaxUploads"`
	IsTruncated        bool           `xml:"IsTruncated"`
	Uploads            []uploadItem   `xml:"Upload"`
	CommonPrefixes     []commonPrefix `xml:"CommonPrefixes"`
	EncodingType       string         `xml:"EncodingType,omitempty"`
}

type uploadItem struct {
	Key               string
	UploadID          string `xml:"UploadId"`
	Initiator         owner
	Owner             owner
	StorageClass      string
	Initiated         string
	ChecksumAlgorithm string `xml:",omitempty"`
	ChecksumType      string `xml:",omitempty"`
}

// parseListLimit parses max-parts or max-uploads: S3 takes any
// non-negative integer and caps it at 1000.
func parseListLimit(q url.Values, name string) (int, error) {
	v := q.Get(name)
	if v == "" {
		return maxListParts, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, errorf("InvalidArgument", "Provided "+name+" not an integer or within integer range")
	}
	return min(n, maxListParts), nil
}

// listParts answers one page of an upload's parts (ListParts).
func (s *Server) listParts(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := objapi.ValidObjectKey(rq.key); err != nil {
		return err
	}
	q := rq.query
	maxParts, err := parseListLimit(q, "max-parts")
	if err != nil {
		return err
	}
	marker := 0
	if v := q.Get("part-number-marker"); v != "" {
		if marker, err = strconv.Atoi(v); err != nil || marker < 0 {
			return errorf("InvalidArgument", "Provided part-number-marker not an integer or within integer range")
		}
	}
	// max-parts=0 still checks that the upload exists: ask for one part
	// and show none.
	res, err := s.layer.ListParts(r.Context(), rq.caller, rq.bucket, rq.key, q.Get("uploadId"),
		objapi.ListPartsOptions{Marker: marker, MaxParts: max(maxParts, 1)})
	if err != nil {
		return err
	}
	if maxParts == 0 {
		res.Truncated = res.Truncated || len(res.Parts) > 0
		res.Parts, res.NextMarker = nil, 0
	}
	who := owner{ID: rq.caller.Tenant, DisplayName: rq.caller.Tenant}
	if res.Upload.Owner != "" {
		who = owner{ID: res.Upload.Owner, DisplayName: res.Upload.Owner}
	}
	out := listPartsResult{
		Bucket:               rq.bucket,
		Key:                  rq.key,
		UploadID:             q.Get("uploadId"),
		PartNumberMarker:     marker,
		NextPartNumberMarker: res.NextMarker,
		MaxParts:             maxParts,
		IsTruncated:          res.Truncated,
		Parts:                make([]partItem, 0, len(res.Parts)),
		Initiator:            who,
		Owner:                who,
		StorageClass:         storageClass(res.Upload.StorageClass),
		ChecksumAlgorithm:    res.Upload.ChecksumAlgorithm,
		ChecksumType:         res.Upload.ChecksumType,
	}
	for _, p := range res.Parts {
		out.Parts = append(out.Parts, partItem{
			PartNumber:   p.Number,
			LastModified: xmlTime(p.Modified),
			ETag:         quoteETag(p.ETag),
			Size:         p.Size,
			Checksums:    xmlChecksums(p.Checksums),
		})
	}
	if out.NextPartNumberMarker == 0 && len(res.Parts) > 0 {
		out.NextPartNumberMarker = res.Parts[len(res.Parts)-1].Number
	}
	return writeXML(w, http.StatusOK, &out)
}

// listMultipartUploads answers one page of a bucket's uploads in progress
// (ListMultipartUploads). upload-id-marker only counts with a key-marker,
// as in S3.
func (s *Server) listMultipartUploads(w http.ResponseWriter, r *http.Request, rq *request) error {
	q := rq.query
	p, err := parseListParams(q)
	if err != nil {
		return err
	}
	maxUploads, err := parseListLimit(q, "max-uploads")
	if err != nil {
		return err
	}
	keyMarker, idMarker := q.Get("key-marker"), q.Get("upload-id-marker")
	if keyMarker == "" {
		idMarker = ""
	}
	out := listMultipartUploadsResult{
		Bucket:         rq.bucket,
		KeyMarker:      p.encode(keyMarker),
		UploadIDMarker: idMarker,
		Prefix:         p.encode(p.prefix),
		Delimiter:      p.encode(p.delimiter),
		MaxUploads:     maxUploads,
		Uploads:        []uploadItem{},
		CommonPrefixes: []commonPrefix{},
	}
	if p.urlEncode {
		out.EncodingType = "url"
	}
	if maxUploads == 0 {
		// Nothing asked for; S3 answers an empty page for a bucket the
		// caller may list.
		if _, err := s.layer.HeadBucket(r.Context(), rq.caller, rq.bucket); err != nil {
			return err
		}
		return writeXML(w, http.StatusOK, &out)
	}
	res, err := s.layer.ListMultipartUploads(r.Context(), rq.caller, rq.bucket, objapi.ListUploadsOptions{
		Prefix:         p.prefix,
		Delimiter:      p.delimiter,
		KeyMarker:      keyMarker,
		UploadIDMarker: idMarker,
		MaxUploads:     maxUploads,
	})
	if err != nil {
		return err
	}
	out.IsTruncated = res.Truncated
	out.NextKeyMarker = p.encode(res.NextKeyMarker)
	out.NextUploadIDMarker = res.NextUploadIDMarker
	for _, u := range res.Uploads {
		who := owner{ID: u.Owner, DisplayName: u.Owner}
		if u.Owner == "" {
			who = owner{ID: rq.caller.Tenant, DisplayName: rq.caller.Tenant}
		}
		out.Uploads = append(out.Uploads, uploadItem{
			Key:               p.encode(u.Key),
			UploadID:          u.UploadID,
			Initiator:         who,
			Owner:             who,
			StorageClass:      storageClass(u.StorageClass),
			Initiated:         xmlTime(u.Initiated),
			ChecksumAlgorithm: u.ChecksumAlgorithm,
			ChecksumType:      u.ChecksumType,
		})
	}
	for _, pre := range res.Prefixes {
		out.CommonPrefixes = append(out.CommonPrefixes, commonPrefix{Prefix: p.encode(pre)})
	}
	return writeXML(w, http.StatusOK, &out)
}

// storageClass is what listings show: every object is STANDARD.
func storageClass(sc string) string {
	if sc == "" {
		return "STANDARD"
	}
	return sc
}
