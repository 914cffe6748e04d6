package meta

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/kommunal-cloud/kcs/node/objapi"
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
		return fail(objapi.KindConflict, "cluster already initialized")
	}
	return &Result{}, put(sys, kCluster, (*Cluster)(c))
}

// RegisterNode adds or updates a member and recomputes the layout.
type RegisterNode Node

func (n *RegisterNode) apply(tx *bolt.Tx) (*Result, error) {
	rec := (*Node)(n)
	if tx.Bucket(bRemoved).Get([]byte(rec.ID)) != nil {
		return fail(objapi.KindConflict, "node %s was removed from the cluster: a node that comes back needs a new id and empty drives", rec.ID)
	}
	// Drains and promotions are the cluster's, not what the node reports
	// of itself: a restarted member keeps them (redundancy.go).
	if err := keepOperatorState(tx, rec); err != nil {
		return nil, err
	}
	// The members as they will be, in id (key) order: the layout is
	// planned from them before anything is written.
	members, err := records(tx.Bucket(bNodes), func(m *Node) bool { return m.ID != rec.ID })
	if err != nil {
		return nil, err
	}
	i, _ := slices.BinarySearchFunc(members, rec.ID, func(m Node, id string) int { return strings.Compare(m.ID, id) })
	members = slices.Insert(members, i, *rec)
	plan, err := planLayout(tx, members)
	if err != nil {
		return nil, err
	}
	if err := put(tx.Bucket(bNodes), []byte(rec.ID), rec); err != nil {
		return nil, err
	}
	return &Result{}, plan.write(tx)
}

// layoutPlan is a new topology epoch: its layout and the sets it adds.
type layoutPlan struct {
	layout  *Layout // nil: no drives yet, no layout
	newSets []Set
	next    uint32 // the next set id after newSets
}

// planLayout plans the sets for members and a new topology epoch. Sets
// that already exist with the same geometry and drives keep their ids, so
// objects that name them are unaffected.
func planLayout(tx *bolt.Tx, members []Node) (*layoutPlan, error) {
	fams, err := placement.Plan(activeDrives(members))
	if err != nil {
		return &layoutPlan{}, nil // no drives yet: no layout
	}
	known := map[string]uint32{}
	err = tx.Bucket(bSets).ForEach(func(k, v []byte) error {
		var s Set
		if err := unmarshal(v, &s); err != nil {
			return err
		}
		known[setKey(s.K, s.M, s.Drives)] = s.ID
		return nil
	})
	if err != nil {
		return nil, err
	}
	sys := tx.Bucket(bSys)
	p := &layoutPlan{next: 1}
	if v := sys.Get(kNextSet); v != nil {
		p.next = binary.BigEndian.Uint32(v)
	}
	var old Layout
	if _, err := get(sys, kLayout, &old); err != nil {
		return nil, err
	}
	p.layout = &Layout{Epoch: old.Epoch + 1}
	for _, f := range fams {
		fam := Family{Sites: f.Sites, K: f.K, M: f.M}
		for _, s := range f.Sets {
			key := setKey(s.K, s.M, s.Drives)
			id, ok := known[key]
			if !ok {
				id = p.next
				p.next++
				known[key] = id
				p.newSets = append(p.newSets, Set{ID: id, K: s.K, M: s.M, Drives: s.Drives})
			}
			fam.Sets = append(fam.Sets, id)
		}
		p.layout.Families = append(p.layout.Families, fam)
	}
	return p, nil
}

func (p *layoutPlan) write(tx *bolt.Tx) error {
	if p.layout == nil {
		return nil
	}
	for i := range p.newSets {
		if err := put(tx.Bucket(bSets), u32(p.newSets[i].ID), &p.newSets[i]); err != nil {
			return err
		}
	}
	sys := tx.Bucket(bSys)
	if err := sys.Put(kNextSet, u32(p.next)); err != nil {
		return err
	}
	return put(sys, kLayout, p.layout)
}

func setKey(k, m int, drives []string) string {
	return fmt.Sprintf("%d/%d/%s", k, m, strings.Join(drives, ","))
}
