package s3api

import (
	"encoding/xml"
	"net/http"
	"net/url"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// Bucket versioning (PUT and GET ?versioning), and how version ids travel
// in requests and responses.
//
// x-amz-version-id is sent whenever the object layer names a version
// other than "null". The null version is named ("x-amz-version-id: null")
// only where the client asked for it by id, and on deletes, whose
// objapi.DeleteInfo carries a version id only in a versioned bucket. S3
// also names the null version on a GET or PUT in a bucket that is (or
// was) versioned without being asked; telling that apart would cost a
// bucket lookup per request, and clients treat a missing header and
// "null" alike.

// nullVersion is S3's id of the version written while a bucket was
// unversioned or suspended.
const nullVersion = "null"

// maxVersionIDLen bounds a version id a request may name; S3's ids are
// far shorter.
const maxVersionIDLen = 1024

// maxVersioningBody bounds PutBucketVersioning's document.
const maxVersioningBody = 64 << 10

// versioningConfiguration is PutBucketVersioning's document and
// GetBucketVersioning's answer: without Status for a bucket never
// versioned.
type versioningConfiguration struct {
	XMLName   xml.Name `xml:"VersioningConfiguration"`
	Xmlns     string   `xml:"xmlns,attr,omitempty"`
	Status    string   `xml:"Status,omitempty"`
	MfaDelete string   `xml:"MfaDelete,omitempty"`
}

// versionParam reads the versionId query parameter of the operations that
// take one (versionedOps): "" when there is none.
func versionParam(q url.Values) (string, error) {
	vs, ok := q["versionId"]
	if !ok {
		return "", nil
	}
	switch {
	case len(vs) != 1:
		return "", errorf("InvalidArgument", "Invalid version id specified")
	case vs[0] == "":
		return "", errorf("InvalidArgument", "Version id cannot be the empty string")
	case len(vs[0]) > maxVersionIDLen:
		return "", errorf("InvalidArgument", "Invalid version id specified")
	}
	return vs[0], nil
}

// setVersionID writes x-amz-version-id for the version id the object
// layer answered (see the file comment): asked is the id the request
// named, if any.
func setVersionID(h http.Header, id, asked string) {
	if id == "" || id == nullVersion && asked != nullVersion {
		return
	}
	h.Set("X-Amz-Version-Id", id)
}

// putBucketVersioning enables or suspends versioning
// (PutBucketVersioning). MFA delete is not offered.
func (s *Server) putBucketVersioning(w http.ResponseWriter, r *http.Request, rq *request) error {
	if _, err := s.layer.HeadBucket(r.Context(), rq.caller, rq.bucket); err != nil {
		return err
	}
	var doc versioningConfiguration
	empty, err := decodeXMLRequest(r, rq, maxVersioningBody, &doc, false)
	if err != nil {
		return err
	}
	if empty {
		return errorf("MalformedXML", "")
	}
	switch doc.MfaDelete {
	case "", "Disabled":
	case "Enabled":
		return errorf("NotImplemented", "MFA delete is not implemented.")
	default:
		return malformedXML("MfaDelete must be Enabled or Disabled.")
	}
	switch doc.Status {
	case objapi.VersioningEnabled, objapi.VersioningSuspended:
	default:
		return malformedXML("Status must be Enabled or Suspended.")
	}
	if err := s.layer.PutBucketVersioning(r.Context(), rq.caller, rq.bucket, doc.Status); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// getBucketVersioning answers the bucket's versioning state
// (GetBucketVersioning): an empty VersioningConfiguration for a bucket
// that was never versioned, as S3 answers.
func (s *Server) getBucketVersioning(w http.ResponseWriter, r *http.Request, rq *request) error {
	status, err := s.layer.GetBucketVersioning(r.Context(), rq.caller, rq.bucket)
	if err != nil {
		return err
	}
	return writeXML(w, http.StatusOK, &versioningConfiguration{Xmlns: s3NS, Status: status})
}
