package s3api

import (
	"net/http"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// deleteObject removes an object (DeleteObject). As in S3, deleting a key
// that does not exist succeeds: the client's goal, no such object, holds.
// With If-Match the client asks to delete one particular version, and a
// missing key is an answer it needs (404).
func (s *Server) deleteObject(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := objapi.ValidObjectKey(rq.key); err != nil {
		return err
	}
	var opts objapi.DeleteOptions
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
	err := s.layer.DeleteObject(r.Context(), rq.caller, rq.bucket, rq.key, opts)
	if err != nil && (opts.IfMatch != "" || !objapi.IsKind(err, objapi.KindNoSuchKey)) {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
