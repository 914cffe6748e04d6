package s3api

import (
	"encoding/xml"
	"net/http"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// ListObjectVersions (GET /bucket?versions): every version and delete
// marker by key, a key's newest first, as the object layer lists them. A
// bucket never versioned lists each object's one version, "null", as the
// latest: what S3 answers there, and what backup tools and rclone's
// --s3-versions expect rather than an error.

type listVersionsResult struct {
	XMLName             xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListVersionsResult"`
	Name                string   `xml:"Name"`
	Prefix              string   `xml:"Prefix"`
	KeyMarker           string   `xml:"KeyMarker"`
	VersionIDMarker     string   `xml:"VersionIdMarker"`
	NextKeyMarker       string   `xml:",omitempty"`
	NextVersionIDMarker string   `xml:"NextVersionIdMarker,omitempty"`
	MaxKeys             int      `xml:"MaxKeys"`
	Delimiter           string   `xml:",omitempty"`
	EncodingType        string   `xml:",omitempty"`
	IsTruncated         bool     `xml:"IsTruncated"`
	// Entries are objectVersion and deleteMarkerEntry values, in the
	// listing's order: S3 interleaves Version and DeleteMarker elements.
	Entries        []any          `xml:",any"`
	CommonPrefixes []commonPrefix `xml:"CommonPrefixes"`
}

type objectVersion struct {
	XMLName           xml.Name `xml:"Version"`
	Key               string
	VersionID         string `xml:"VersionId"`
	IsLatest          bool
	LastModified      string
	ETag              string
	ChecksumAlgorithm []string `xml:",omitempty"`
	ChecksumType      string   `xml:",omitempty"`
	Size              int64
	StorageClass      string
	Owner             owner
}

type deleteMarkerEntry struct {
	XMLName      xml.Name `xml:"DeleteMarker"`
	Key          string
	VersionID    string `xml:"VersionId"`
	IsLatest     bool
	LastModified string
	Owner        owner
}

func (s *Server) listObjectVersions(w http.ResponseWriter, r *http.Request, rq *request) error {
	q := rq.query
	p, err := parseListParams(q)
	if err != nil {
		return err
	}
	keyMarker, versionMarker := q.Get("key-marker"), q.Get("version-id-marker")
	if versionMarker != "" && keyMarker == "" {
		return errorf("InvalidArgument", "A version-id marker cannot be specified without a key marker.")
	}
	if len(keyMarker) > objapi.MaxKeyLen || len(versionMarker) > maxVersionIDLen {
		return errorf("InvalidArgument", "The key marker or version-id marker is too long.")
	}
	var res objapi.ListVersionsResult
	if p.maxKeys == 0 {
		// An empty page, for a bucket the caller may list.
		_, err = s.layer.HeadBucket(r.Context(), rq.caller, rq.bucket)
	} else {
		res, err = s.layer.ListObjectVersions(r.Context(), rq.caller, rq.bucket, objapi.ListVersionsOptions{
			Prefix: p.prefix, Delimiter: p.delimiter, KeyMarker: keyMarker, VersionIDMarker: versionMarker, MaxKeys: p.maxKeys,
		})
	}
	if err != nil {
		return err
	}
	out := listVersionsResult{
		Name: rq.bucket, Prefix: p.encode(p.prefix), KeyMarker: p.encode(keyMarker), VersionIDMarker: versionMarker,
		MaxKeys: p.maxKeys, Delimiter: p.encode(p.delimiter), IsTruncated: res.Truncated,
		Entries: make([]any, 0, len(res.Versions)),
	}
	if p.urlEncode {
		out.EncodingType = "url"
	}
	for _, o := range res.Versions {
		own := owner{ID: o.Owner, DisplayName: o.Owner}
		if o.DeleteMarker {
			out.Entries = append(out.Entries, deleteMarkerEntry{
				Key: p.encode(o.Key), VersionID: o.VersionID, IsLatest: o.IsLatest, LastModified: xmlTime(o.Modified), Owner: own,
			})
			continue
		}
		v := objectVersion{
			Key: p.encode(o.Key), VersionID: o.VersionID, IsLatest: o.IsLatest, LastModified: xmlTime(o.Modified),
			ETag: quoteETag(o.ETag), Size: o.Size, StorageClass: o.StorageClass, Owner: own,
		}
		if v.StorageClass == "" {
			v.StorageClass = "STANDARD"
		}
		for _, c := range o.Checksums {
			v.ChecksumAlgorithm = append(v.ChecksumAlgorithm, c.Algorithm)
		}
		if len(o.Checksums) > 0 {
			v.ChecksumType = o.ChecksumType
		}
		out.Entries = append(out.Entries, v)
	}
	for _, pfx := range res.Prefixes {
		out.CommonPrefixes = append(out.CommonPrefixes, commonPrefix{Prefix: p.encode(pfx)})
	}
	if res.Truncated {
		out.NextKeyMarker = p.encode(res.NextKeyMarker)
		out.NextVersionIDMarker = res.NextVersionIDMarker
	}
	return writeXML(w, http.StatusOK, &out)
}
