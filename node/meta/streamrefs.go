package meta

// StreamRef is a referenced stream with what holds it: an object version
// (Key, VersionID) or a part of an open multipart upload (Key, Upload).
type StreamRef struct {
	Part      Part
	Tenant    string
	Bucket    string
	Key       string
	VersionID string // objects only
	Seq       uint64 // objects only: the version's Object.Seq
	Upload    string // upload parts only
}

// StreamRefs is Streams with each stream's holder: the part records of up
// to max referenced streams after the data id after, in data id order, and
// the last data id looked at (nil at the end). A holder whose records do
// not decode is an error, as in Streams.
func (r *Reader) StreamRefs(after []byte, max int) ([]StreamRef, []byte, error) {
	var out []StreamRef
	tenants := map[string]string{} // bucket → tenant, for this page
	last, err := r.pageStreams(after, func() bool { return len(out) < max }, func(h *holder) error {
		sr := StreamRef{Part: *h.part, Bucket: h.ref.Bucket, Key: h.ref.Key, Upload: h.ref.Upload}
		if h.ref.Upload != "" {
			u, ok, err := r.Upload(h.ref.Upload)
			if err != nil {
				return err
			}
			if ok {
				sr.Tenant, sr.Bucket, sr.Key = u.Tenant, u.Bucket, u.Key
			}
		} else {
			sr.VersionID, sr.Seq = h.object.VersionID, h.object.Seq
			t, seen := tenants[h.ref.Bucket]
			if !seen {
				b, ok, err := r.Bucket(h.ref.Bucket)
				if err != nil {
					return err
				}
				if ok {
					t = b.Tenant
				}
				tenants[h.ref.Bucket] = t
			}
			sr.Tenant = t
		}
		out = append(out, sr)
		return nil
	})
	return out, last, err
}
