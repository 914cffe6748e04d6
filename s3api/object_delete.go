package s3api

import (
	"net/http"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// deleteObject removes an object (DeleteObject), or with versionId one
// version of it for good; in a versioned bucket, deleting without a
// version id adds a delete marker. The answer names the version removed
// or the marker added (x-amz-version-id) and says whether that is a
// delete marker (x-amz-delete-marker). As in S3, deleting a key that does
// not exist succeeds: the client's goal, no such object, holds. With
// If-Match the client asks to delete one particular version, and a
// missing key is an answer it needs (404).
func (s *Server) deleteObject(w http.ResponseWriter, r *http.Request, rq *request) error {
	vid, err := objectVersionRequest(rq)
	if err != nil {
		return err
	}
	opts := objapi.DeleteOptions{VersionID: vid}
	if opts.BypassGovernance, err = bypassGovernance(r.Header); err != nil {
		return err
	}
	for _, name := range []string{"X-Amz-If-Match-Last-Modified-Time", "X-Amz-If-Match-Size"} {
		if r.Header.Get(name) != "" {
			// Conditions S3 offers for directory buckets only; ignoring
			// one would delete what the client meant to keep.
			return errorf("NotImplemented", "The condition "+name+" is not implemented.")
		}
	}
	if vs, ok := r.Header["If-Match"]; ok {
		if len(vs) != 1 || vs[0] == "" || vs[0] == "*" {
			return errorf("NotImplemented", "A header you provided implies functionality that is not implemented: If-Match on a delete takes one ETag.")
		}
		if opts.IfMatch = objapi.UnquoteETag(vs[0]); len(opts.IfMatch) > maxETagLen {
			return errorf("InvalidArgument", "If-Match is not an entity tag of this store.")
		}
	}
	info, err := s.layer.DeleteVersion(r.Context(), rq.caller, rq.bucket, rq.key, opts)
	switch {
	case err == nil:
	case opts.IfMatch == "" && objapi.IsKind(err, objapi.KindNoSuchKey):
	case opts.IfMatch == "" && objapi.IsKind(err, objapi.KindNoSuchVersion):
		// A version that is gone already: the goal holds, as for a
		// missing key, and a retried delete succeeds as S3's does.
		info = objapi.DeleteInfo{VersionID: vid}
	default:
		return err
	}
	h := w.Header()
	if info.DeleteMarker {
		h.Set("X-Amz-Delete-Marker", "true")
	}
	if info.VersionID != "" {
		// DeleteInfo names a version only in a versioned bucket, and
		// there S3 names the null version too.
		h.Set("X-Amz-Version-Id", info.VersionID)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
