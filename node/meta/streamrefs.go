package meta

import "bytes"

// StreamRef is a referenced stream with what holds it: an object version
// (Key, VersionID) or a part of an open multipart upload (Key, Upload).
type StreamRef struct {
	Part      Part
	Tenant    string
	Bucket    string
	Key       string
	VersionID string // objects only
	Upload    string // upload parts only
}

// StreamRefs is Streams with each stream's holder: the part records of up
// to max referenced streams after the data id after, in data id order, and
// the last data id looked at (nil at the end). A holder whose records do
// not decode is an error, as in Streams.
func (r *Reader) StreamRefs(after []byte, max int) ([]StreamRef, []byte, error) {
	c := r.tx.Bucket(bDataIDs).Cursor()
	k, v := c.First()
	if after != nil {
		k, v = c.Seek(after)
		if k != nil && bytes.Equal(k, after) {
			k, v = c.Next()
		}
	}
	var out []StreamRef
	var last []byte
	tenants := map[string]string{} // bucket → tenant, for this page
	for ; k != nil && len(out) < max; k, v = c.Next() {
		last = bytes.Clone(k)
		p, ok, err := r.resolve(k, v)
		if err != nil {
			return out, last, err
		}
		if !ok {
			continue
		}
		var ref DataRef
		if err := decMode.Unmarshal(v, &ref); err != nil {
			return out, last, err
		}
		sr := StreamRef{Part: *p, Bucket: ref.Bucket, Key: ref.Key, Upload: ref.Upload}
		if ref.Upload != "" {
			u, ok, err := r.Upload(ref.Upload)
			if err != nil {
				return out, last, err
			}
			if ok {
				sr.Tenant, sr.Bucket, sr.Key = u.Tenant, u.Bucket, u.Key
			}
		} else {
			o, ok, err := r.Object(ref.Bucket, ref.Key)
			if err != nil {
				return out, last, err
			}
			if ok {
				sr.VersionID = o.VersionID
			}
			t, seen := tenants[ref.Bucket]
			if !seen {
				if b, ok, err := r.Bucket(ref.Bucket); err != nil {
					return out, last, err
				} else if ok {
					t = b.Tenant
				}
				tenants[ref.Bucket] = t
			}
			sr.Tenant = t
		}
		out = append(out, sr)
	}
	if k == nil {
		last = nil
	}
	return out, last, nil
}
