package s3api

import (
	"net/http"

	"github.com/kommunal-cloud/kcs/node"
)

// deleteObject removes an object (DeleteObject). As in S3, deleting a key
// that does not exist succeeds: the client's goal, no such object, holds.
func (s *Server) deleteObject(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := node.ValidObjectKey(rq.key); err != nil {
		return err
	}
	err := s.layer.DeleteObject(r.Context(), rq.caller, rq.bucket, rq.key, node.DeleteOptions{})
	if err != nil && !node.IsKind(err, node.KindNoSuchKey) {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
