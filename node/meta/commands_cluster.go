package meta

import (
	"encoding/binary"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/kommunal-cloud/kcs/node/errs"
	"github.com/kommunal-cloud/kcs/node/placement"
)

// The commands of the cluster itself: its record, its members and their
// layout.

// Noop changes nothing; it moves the log on (a shred's snapshot needs an
// entry after the last one).
type Noop struct{}

func (*Noop) apply(*bolt.Tx) (*Result, error) { return &Result{}, nil }

// Init writes the cluster record, once, at bootstrap. Like the other
// payloads that carry a record as it is stored, it has the record's fields
// and encoding.
type Init Cluster

func (c *Init) apply(tx *bolt.Tx) (*Result, error) {
	sys := tx.Bucket(bSys)
	if sys.Get(kCluster) != nil {
		return fail(errs.KindConflict, "cluster already initialized")
	}
	return &Result{}, put(sys, kCluster, (*Cluster)(c))
}

// RegisterNode adds or updates a member and recomputes the layout.
type RegisterNode Node

func (n *RegisterNode) apply(tx *bolt.Tx) (*Result, error) {
	if err := put(tx.Bucket(bNodes), []byte(n.ID), (*Node)(n)); err != nil {
		return nil, err
	}
	return &Result{}, recomputeLayout(tx)
}

// recomputeLayout plans the sets for the current members and starts a new
// topology epoch. Sets that already exist with the same geometry and drives
// keep their ids, so objects that name them are unaffected.
func recomputeLayout(tx *bolt.Tx) error {
	var drives []placement.Drive
	err := tx.Bucket(bNodes).ForEach(func(_, v []byte) error {
		var n Node
		if err := unmarshal(v, &n); err != nil {
			return err
		}
		for _, d := range n.Drives {
			drives = append(drives, placement.Drive{ID: d.ID, Node: n.ID, Site: n.Site})
		}
		return nil
	})
	if err != nil {
		return err
	}
	fams, err := placement.Plan(drives)
	if err != nil {
		return nil // no drives yet: no layout
	}
	sets := tx.Bucket(bSets)
	known := map[string]uint32{}
	err = sets.ForEach(func(k, v []byte) error {
		var s Set
		if err := unmarshal(v, &s); err != nil {
			return err
		}
		known[setKey(s.K, s.M, s.Drives)] = s.ID
		return nil
	})
	if err != nil {
		return err
	}
	sys := tx.Bucket(bSys)
	next := uint32(1)
	if v := sys.Get(kNextSet); v != nil {
		next = binary.BigEndian.Uint32(v)
	}
	var old Layout
	if _, err := get(sys, kLayout, &old); err != nil {
		return err
	}
	lay := Layout{Epoch: old.Epoch + 1}
	for _, f := range fams {
		fam := Family{Sites: f.Sites, K: f.K, M: f.M}
		for _, s := range f.Sets {
			key := setKey(s.K, s.M, s.Drives)
			id, ok := known[key]
			if !ok {
				id = next
				next++
				known[key] = id
				if err := put(sets, u32(id), &Set{ID: id, K: s.K, M: s.M, Drives: s.Drives}); err != nil {
					return err
				}
			}
			fam.Sets = append(fam.Sets, id)
		}
		lay.Families = append(lay.Families, fam)
	}
	if err := sys.Put(kNextSet, u32(next)); err != nil {
		return err
	}
	return put(sys, kLayout, &lay)
}

func setKey(k, m int, drives []string) string {
	return fmt.Sprintf("%d/%d/%s", k, m, strings.Join(drives, ","))
}
