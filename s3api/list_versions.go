package s3api

import (
	"encoding/xml"
	"net/http"
)

// ListObjectVersions on a bucket that was never versioned: every object
// has exactly one version, "null", which is the latest. Backup tools and
// rclone's --s3-versions ask for versions; answering with the one version
// there is, rather than NotImplemented, is what S3 itself answers for an
// unversioned bucket.

type listVersionsResult struct {
	XMLName             xml.Name        `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListVersionsResult"`
	Name                string          `xml:"Name"`
	Prefix              string          `xml:"Prefix"`
	KeyMarker           string          `xml:"KeyMarker"`
	VersionIDMarker     string          `xml:"VersionIdMarker"`
	NextKeyMarker       string          `xml:",omitempty"`
	NextVersionIDMarker string          `xml:"NextVersionIdMarker,omitempty"`
	MaxKeys             int             `xml:"MaxKeys"`
	Delimiter           string          `xml:",omitempty"`
	EncodingType        string          `xml:",omitempty"`
	IsTruncated         bool            `xml:"IsTruncated"`
	Versions            []objectVersion `xml:"Version"`
	CommonPrefixes      []commonPrefix  `xml:"CommonPrefixes"`
}

type objectVersion struct {
	Key          string
	VersionID    string `xml:"VersionId"`
	IsLatest     bool
	LastModified string
	ETag         string
	Size         int64
	StorageClass string
	Owner        owner
}

func (s *Server) listObjectVersions(w http.ResponseWriter, r *http.Request, rq *request) error {
	q := rq.query
	p, err := parseListParams(q)
	if err != nil {
		return err
	}
	keyMarker := q.Get("key-marker")
	// A version-id-marker other than "null" names a version that cannot
	// exist; "null" with a key marker means "after that key's only version".
	res, err := s.list(r, rq, p, keyMarker)
	if err != nil {
		return err
	}
	out := listVersionsResult{
		Name: rq.bucket, Prefix: p.encode(p.prefix), KeyMarker: p.encode(keyMarker), VersionIDMarker: q.Get("version-id-marker"),
		MaxKeys: p.maxKeys, Delimiter: p.encode(p.delimiter), IsTruncated: res.Truncated,
	}
	if p.urlEncode {
		out.EncodingType = "url"
	}
	for _, o := range res.Objects {
		out.Versions = append(out.Versions, objectVersion{
			Key: p.encode(o.Key), VersionID: "null", IsLatest: true, LastModified: xmlTime(o.Modified),
			ETag: quoteETag(o.ETag), Size: o.Size, StorageClass: o.StorageClass,
			Owner: owner{ID: o.Owner, DisplayName: o.Owner},
		})
	}
	for _, pfx := range res.Prefixes {
		out.CommonPrefixes = append(out.CommonPrefixes, commonPrefix{Prefix: p.encode(pfx)})
	}
	if res.Truncated {
		out.NextKeyMarker = p.encode(res.Next)
		out.NextVersionIDMarker = "null"
	}
	return writeXML(w, http.StatusOK, &out)
}
