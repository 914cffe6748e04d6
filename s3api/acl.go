package s3api

import (
	"encoding/xml"
	"net/http"
	"strings"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// Access control lists, as far as kcs has them: every bucket and object is
// its tenant's alone. GET ?acl answers that (the owner has FULL_CONTROL,
// nobody else anything); PUT ?acl accepts only what changes nothing (the
// canned ACL "private", or a policy granting the owner FULL_CONTROL and
// nothing more) and refuses the rest with NotImplemented rather than
// pretending to share. Tools read ACLs as a matter of course (s3cmd info,
// rclone, desktop clients), and would fail on NotImplemented.

type accessControlPolicy struct {
	XMLName xml.Name `xml:"AccessControlPolicy"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	Owner   owner    `xml:"Owner"`
	Grants  []grant  `xml:"AccessControlList>Grant"`
}

type grant struct {
	Grantee    grantee `xml:"Grantee"`
	Permission string  `xml:"Permission"`
}

type grantee struct {
	XMLNSXSI    string `xml:"xmlns:xsi,attr,omitempty"`
	XSIType     string `xml:"xsi:type,attr,omitempty"`
	ID          string `xml:"ID,omitempty"`
	DisplayName string `xml:"DisplayName,omitempty"`
	URI         string `xml:"URI,omitempty"`
}

func privateACL(tenant string) *accessControlPolicy {
	return &accessControlPolicy{
		Xmlns: s3NS,
		Owner: owner{ID: tenant, DisplayName: tenant},
		Grants: []grant{{
			Grantee:    grantee{XMLNSXSI: "http://www.w3.org/2001/XMLSchema-instance", XSIType: "CanonicalUser", ID: tenant, DisplayName: tenant},
			Permission: "FULL_CONTROL",
		}},
	}
}

func (s *Server) getBucketACL(w http.ResponseWriter, r *http.Request, rq *request) error {
	b, err := s.layer.HeadBucket(r.Context(), rq.caller, rq.bucket)
	if err != nil {
		return err
	}
	return writeXML(w, http.StatusOK, privateACL(b.Tenant))
}

func (s *Server) getObjectACL(w http.ResponseWriter, r *http.Request, rq *request) error {
	vid, err := objectVersionRequest(rq)
	if err != nil {
		return err
	}
	obj, err := s.layer.GetObject(r.Context(), rq.caller, rq.bucket, rq.key, objapi.GetOptions{VersionID: vid})
	if err != nil {
		return err
	}
	setVersionID(w.Header(), obj.Info.VersionID, vid)
	return writeXML(w, http.StatusOK, privateACL(obj.Info.Owner))
}

// putACL accepts an ACL that keeps the resource private.
func (s *Server) putACL(w http.ResponseWriter, r *http.Request, rq *request) error {
	var exists func() (string, error)
	if rq.key == "" {
		exists = func() (string, error) {
			b, err := s.layer.HeadBucket(r.Context(), rq.caller, rq.bucket)
			return b.Tenant, err
		}
	} else {
		exists = func() (string, error) {
			vid, err := objectVersionRequest(rq)
			if err != nil {
				return "", err
			}
			obj, err := s.layer.GetObject(r.Context(), rq.caller, rq.bucket, rq.key, objapi.GetOptions{VersionID: vid})
			if err != nil {
				return "", err
			}
			return obj.Info.Owner, nil
		}
	}
	switch acl := r.Header.Get("X-Amz-Acl"); acl {
	case "", "private", "bucket-owner-full-control":
	default:
		return errorf("NotImplemented", "The canned ACL "+acl+" is not supported: every bucket and object belongs to its tenant alone.")
	}
	for name := range r.Header {
		if strings.HasPrefix(strings.ToLower(name), "x-amz-grant-") {
			return errorf("NotImplemented", "Access control grants are not supported: every bucket and object belongs to its tenant alone.")
		}
	}
	// What the ACL is about must be the caller's before its document is
	// read.
	owner, err := exists()
	if err != nil {
		return err
	}
	var policy accessControlPolicy
	empty, err := decodeXMLRequest(r, rq, 64<<10, &policy, false)
	if err != nil {
		return err
	}
	if !empty {
		for _, g := range policy.Grants {
			if g.Permission != "FULL_CONTROL" || g.Grantee.ID != owner || g.Grantee.URI != "" {
				return errorf("NotImplemented", "Only private ACLs are supported: every bucket and object belongs to its tenant alone.")
			}
		}
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
