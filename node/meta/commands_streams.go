package meta

import (
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Streams: the indexes of the streams the metadata references (dataids)
// and of those below full protection (degraded), which every command that
// stores or drops streams keeps in step, and the command that records
// rebuilt shards.

// A streamStorer is a payload whose commit makes streams referenced: the
// FSM enters them into the dataids index, and those written with lost
// shards into the degraded one.
type streamStorer interface {
	Payload
	// streamHome names the record that will hold the streams. It is
	// called before the command applies.
	streamHome(tx *bolt.Tx) (*DataRef, error)
	// storedStreams returns the parts the command stores, and whether
	// they were written for it (their lost shards enter the degraded
	// index) rather than moved (a completed upload's parts keep their
	// entries: their data ids do not change).
	storedStreams() (parts []Part, written bool)
}

// indexStreams keeps the dataids bucket equal to the set of streams the
// metadata references: a command's garbage leaves it, the parts it stored
// (st, in the record home) enter it, each with a DataRef saying where its
// record lives. The orphan scan deletes shard files whose data id is not
// there (a writer that crashed between its shards and its commit); the
// scrub follows the DataRef to the part record it needs to check and
// repair a shard.
//
// The degraded index follows the same streams: a stream stored with lost
// shards enters it, and leaves it when they are rebuilt or the stream
// becomes garbage. So does the set index (setstreams, setstats;
// redundancy.go), which tells which streams each erasure set holds.
func indexStreams(tx *bolt.Tx, st streamStorer, home *DataRef, r *Result) error {
	idx := tx.Bucket(bDataIDs)
	deg := tx.Bucket(bDegraded)
	for _, p := range r.Garbage {
		if err := idx.Delete(p.DataID); err != nil {
			return err
		}
		if err := deg.Delete(p.DataID); err != nil {
			return err
		}
		if err := unindexSet(tx, &p); err != nil {
			return err
		}
	}
	if st == nil || r.Duplicate {
		return nil
	}
	stored, written := st.storedStreams()
	if len(stored) > 0 && home == nil {
		return fmt.Errorf("meta: %T stores streams but names no record for them", st)
	}
	for _, p := range stored {
		if !written || len(p.DataID) == 0 || len(p.Lost) == 0 {
			continue
		}
		if err := put(deg, p.DataID, p.Lost); err != nil {
			return err
		}
	}
	for _, p := range stored {
		if len(p.DataID) == 0 {
			continue
		}
		home.Part = p.Number
		v, err := encMode.Marshal(home)
		if err != nil {
			return err
		}
		if err := idx.Put(p.DataID, v); err != nil {
			return err
		}
		if err := indexSet(tx, &p); err != nil {
			return err
		}
	}
	return nil
}

// storesLostShards reports whether a command stores a stream some of whose
// shards were lost while it was written.
func storesLostShards(p Payload) bool {
	st, ok := p.(streamStorer)
	if !ok {
		return false
	}
	parts, written := st.storedStreams()
	for _, p := range parts {
		if written && len(p.Lost) > 0 {
			return true
		}
	}
	return false
}

// ShardsRestored records that the shards of a stream that were not durable
// when it was committed (Part.Lost) have been rebuilt on their drives: the
// stream is back at full protection.
type ShardsRestored struct {
	DataID []byte `cbor:"1,keyasint"`
	Shards []int  `cbor:"2,keyasint"`
}

// apply takes rebuilt shards off a stream's degraded entry,
// and the entry off the index once no shard is missing.
func (c *ShardsRestored) apply(tx *bolt.Tx) (*Result, error) {
	deg := tx.Bucket(bDegraded)
	var lost []int
	ok, err := get(deg, c.DataID, &lost)
	if err != nil || !ok {
		return &Result{}, err
	}
	lost = slices.DeleteFunc(lost, func(s int) bool { return slices.Contains(c.Shards, s) })
	if len(lost) == 0 {
		return &Result{}, deg.Delete(c.DataID)
	}
	return &Result{}, put(deg, c.DataID, lost)
}
