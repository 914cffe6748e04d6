package s3api

import (
	"encoding/xml"
	"net/http"
)

// A read-only bucket configuration tools ask for (backup tools, rclone,
// compliance scanners), answered truthfully from what kcs is: every
// object is encrypted at rest with keys the service manages. Changing it
// (PUT) stays NotImplemented. (Versioning is in versioning.go.)

type serverSideEncryptionConfiguration struct {
	XMLName xml.Name                   `xml:"ServerSideEncryptionConfiguration"`
	Xmlns   string                     `xml:"xmlns,attr"`
	Rules   []serverSideEncryptionRule `xml:"Rule"`
}

type serverSideEncryptionRule struct {
	Default struct {
		SSEAlgorithm string `xml:"SSEAlgorithm"`
	} `xml:"ApplyServerSideEncryptionByDefault"`
	BucketKeyEnabled bool `xml:"BucketKeyEnabled"`
}

// getBucketEncryption answers that objects are encrypted with AES256 by
// default — what S3 calls SSE-S3, and what kcs does for every object (with
// a key per object, wrapped by the tenant's key).
func (s *Server) getBucketEncryption(w http.ResponseWriter, r *http.Request, rq *request) error {
	if _, err := s.layer.HeadBucket(r.Context(), rq.caller, rq.bucket); err != nil {
		return err
	}
	rule := serverSideEncryptionRule{}
	rule.Default.SSEAlgorithm = "AES256"
	return writeXML(w, http.StatusOK, &serverSideEncryptionConfiguration{Xmlns: s3NS, Rules: []serverSideEncryptionRule{rule}})
}
