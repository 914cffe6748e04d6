package meta

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// Exactly-once commands. A proposer that loses the answer to a command —
// the leader died after appending it, the connection to the leader broke —
// cannot tell whether it was committed, so it proposes it again, with the
// same id. Both copies may be committed. The FSM therefore keeps the
// outcome of every command it applied lately, by id, and answers a repeat
// with the first outcome instead of applying it again: a stale retry can
// never make an older version current, nor refuse a conditional write
// that in fact succeeded.
//
// Outcomes are forgotten once they are both older than outcomeRetention by
// the FSM's clock (the latest proposer clock seen, so every node forgets
// alike) and more than outcomeMinEntries log entries old: a repeat comes
// within the proposer's retry deadline (seconds), so either bound alone
// would do; both together survive a proposer whose clock runs far ahead.
var (
	outcomeRetention  = int64(10 * 60 * 1e9) // 10 minutes in nanoseconds
	outcomeMinEntries = uint64(100_000)
)

// forgetPerBatch bounds the work of forgetting per applied batch, so a
// backlog is worked off gradually.
const forgetPerBatch = 1024

// outcome is what the FSM remembers of an applied command.
type outcome struct {
	Index  uint64 `cbor:"1,keyasint"`
	Time   int64  `cbor:"2,keyasint"` // the proposer's clock
	Failed bool   `cbor:"3,keyasint,omitempty"`
	Kind   uint16 `cbor:"4,keyasint,omitempty"`
	Msg    string `cbor:"5,keyasint,omitempty"`
	// The version written or removed, so a repeat answers it too.
	VersionID    string `cbor:"6,keyasint,omitempty"`
	DeleteMarker bool   `cbor:"7,keyasint,omitempty"`
}

func (o *outcome) result() *Result {
	r := &Result{Duplicate: true, VersionID: o.VersionID, DeleteMarker: o.DeleteMarker}
	if o.Failed {
		r.Err = &objapi.Error{Kind: objapi.Kind(o.Kind), Msg: o.Msg}
	}
	return r
}

// applyOnceByID applies a command unless its id was applied before, and
// remembers its outcome. failed, when set, is an error this command hit
// part-way in an earlier try of the batch: it is answered KindInternal
// without being applied.
func applyOnceByID(tx *bolt.Tx, index uint64, c *Command, failed error) (*Result, error) {
	if !c.ID.IsZero() {
		var prev outcome
		ok, err := get(tx.Bucket(bCmds), c.ID[:], &prev)
		if err != nil {
			return nil, err
		}
		if ok {
			return prev.result(), nil
		}
	}
	if sys := tx.Bucket(bSys); !c.ID.IsZero() && c.Proposed > fsmClock(tx) {
		if err := sys.Put(kClock, u64(uint64(c.Proposed))); err != nil {
			return nil, err
		}
	}
	var res *Result
	if failed != nil {
		res = &Result{Err: &objapi.Error{Op: fmt.Sprintf("apply op %d", c.Op()), Kind: objapi.KindInternal, Msg: "the metadata command failed: " + failed.Error()}}
	} else {
		var err error
		if res, err = applyCommand(tx, c); err != nil {
			return nil, err
		}
	}
	if c.ID.IsZero() {
		return res, nil
	}
	o := outcome{Index: index, Time: c.Proposed, VersionID: res.VersionID, DeleteMarker: res.DeleteMarker}
	if res.Err != nil {
		o.Failed, o.Kind, o.Msg = true, uint16(res.Err.Kind), res.Err.Msg
		if o.Msg == "" && res.Err.Err != nil {
			o.Msg = res.Err.Err.Error()
		}
	}
	if err := put(tx.Bucket(bCmds), c.ID[:], &o); err != nil {
		return nil, err
	}
	if err := tx.Bucket(bCmdLog).Put(append(u64(index), c.ID[:]...), nil); err != nil {
		return nil, err
	}
	if sys := tx.Bucket(bSys); c.Proposed > fsmClock(tx) {
		return res, sys.Put(kClock, u64(uint64(c.Proposed)))
	}
	return res, nil
}

func fsmClock(tx *bolt.Tx) int64 {
	v := tx.Bucket(bSys).Get(kClock)
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

// forgetOutcomes drops the oldest remembered outcomes that are past both
// bounds, at most forgetPerBatch of them.
func forgetOutcomes(tx *bolt.Tx, lastIndex uint64) error {
	now := fsmClock(tx)
	cmds, log := tx.Bucket(bCmds), tx.Bucket(bCmdLog)
	c := log.Cursor()
	var drop [][]byte
	for k, _ := c.First(); k != nil && len(drop) < forgetPerBatch; k, _ = c.Next() {
		if len(k) != 8+16 {
			drop = append(drop, bytes.Clone(k))
			continue
		}
		idx := binary.BigEndian.Uint64(k[:8])
		if idx+outcomeMinEntries > lastIndex {
			break
		}
		var o outcome
		ok, err := get(cmds, k[8:], &o)
		if err != nil {
			return err
		}
		if ok && o.Time+outcomeRetention > now {
			break
		}
		drop = append(drop, bytes.Clone(k))
	}
	for _, k := range drop {
		if len(k) == 8+16 {
			if err := cmds.Delete(k[8:]); err != nil {
				return err
			}
		}
		if err := log.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Outcome returns the outcome of the command with this id if the FSM has
// applied it (and not forgotten it yet): how a proposer that lost the
// answer learns it.
func (r *Reader) Outcome(id CommandID) (*Result, bool, error) {
	var o outcome
	ok, err := get(r.tx.Bucket(bCmds), id[:], &o)
	if err != nil || !ok {
		return nil, false, err
	}
	return o.result(), true, nil
}

// Degraded returns up to max streams committed with lost shards that are
// not rebuilt yet, after data id after (nil: from the start), with the
// shards each lacks.
func (r *Reader) Degraded(after []byte, max int) ([]DegradedStream, error) {
	c := r.tx.Bucket(bDegraded).Cursor()
	k, v := c.First()
	if after != nil {
		k, v = c.Seek(after)
		if k != nil && bytes.Equal(k, after) {
			k, v = c.Next()
		}
	}
	var out []DegradedStream
	for ; k != nil && len(out) < max; k, v = c.Next() {
		d := DegradedStream{DataID: bytes.Clone(k)}
		if err := unmarshal(v, &d.Lost); err != nil {
			return out, fmt.Errorf("degraded %x: %w", k, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// DegradedCount is how many streams are below full protection because
// shards were lost while they were written.
func (r *Reader) DegradedCount() int { return r.tx.Bucket(bDegraded).Stats().KeyN }

// DegradedStream is a stream committed with shards missing.
type DegradedStream struct {
	DataID []byte
	Lost   []int
}
