package node

import (
	"encoding/hex"

	"github.com/kommunal-cloud/kcs/node/meta"
)

// Streams of an object as the metadata has them, for the tests of
// re-protection: each part's data id (hex) and drives.
func (n *Node) StreamsOf(bucket, key string) (ids []string, drives [][]string) {
	n.store.FSM.View(func(r *meta.Reader) error {
		o, ok, _ := r.Object(bucket, key)
		if !ok {
			return nil
		}
		for _, p := range o.Parts {
			ids = append(ids, hex.EncodeToString(p.DataID))
			drives = append(drives, p.Drives)
		}
		return nil
	})
	return ids, drives
}
