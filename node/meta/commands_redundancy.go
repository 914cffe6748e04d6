package meta

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/kommunal-cloud/kcs/node/objapi"
	"github.com/kommunal-cloud/kcs/node/placement"
)

// Redundancy: which erasure set holds which stream (the set index), the
// command that re-codes a stream onto another set (MoveStream), and the
// operator's commands that change where streams may live — draining a
// node or a drive, removing a node, promoting a voter, asking for a
// spread onto new capacity. The leader's loops in node/redundancy.go do
// the work; what they decide from is here, in the FSM, so that it
// survives restarts and leader changes.
//
// A stream is at full protection when its set gives it what the README
// promises for the current topology (placement.Protects): the full
// family's geometry, distinct drives of current members that are not
// draining, at most m shards per site, distinct nodes where there are
// enough. Whether a set does is a function of the set and the topology,
// not of the stream, so the FSM keeps, per set, its streams (setstreams)
// and their count and bytes (setstats): the streams below full
// protection are those of the sets below it (plus those with lost shards,
// the degraded index), counted by summing a few set rows, and found by
// walking their sets' keys. A topology change re-judges sets, never
// streams.

// SetStats is what one erasure set holds: its coded streams and their
// physical bytes (PhysicalSize).
type SetStats struct {
	Streams  int64 `cbor:"1,keyasint,omitempty"`
	Physical int64 `cbor:"2,keyasint,omitempty"`
}

var kSpread = []byte("spread")

func setStreamKey(set uint32, dataID []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, set), dataID...)
}

// coded reports whether a part is a stream of shards (not kept inline).
func coded(p *Part) bool { return len(p.Inline) == 0 && p.K > 0 && len(p.DataID) > 0 }

// indexSet enters a stored stream into its set's index; a stream already
// there (a completed upload's parts, which keep their data ids) is left
// as it is.
func indexSet(tx *bolt.Tx, p *Part) error {
	if !coded(p) {
		return nil
	}
	k := setStreamKey(p.SetID, p.DataID)
	b := tx.Bucket(bSetStreams)
	if b.Get(k) != nil {
		return nil
	}
	if err := b.Put(k, []byte{}); err != nil {
		return err
	}
	return addSetStats(tx, p.SetID, SetStats{Streams: 1, Physical: PhysicalSize(p)})
}

// unindexSet takes a stream that became garbage off its set's index.
func unindexSet(tx *bolt.Tx, p *Part) error {
	if !coded(p) {
		return nil
	}
	k := setStreamKey(p.SetID, p.DataID)
	b := tx.Bucket(bSetStreams)
	if b.Get(k) == nil {
		return nil
	}
	if err := b.Delete(k); err != nil {
		return err
	}
	return addSetStats(tx, p.SetID, SetStats{Streams: -1, Physical: -PhysicalSize(p)})
}

func addSetStats(tx *bolt.Tx, set uint32, d SetStats) error {
	b := tx.Bucket(bSetStats)
	var s SetStats
	if _, err := get(b, u32(set), &s); err != nil {
		return err
	}
	s.Streams += d.Streams
	s.Physical += d.Physical
	if s.Streams == 0 && s.Physical == 0 {
		return b.Delete(u32(set))
	}
	return put(b, u32(set), &s)
}

// migrate3to4 computes the set index from the dataids index and the part
// records it points to: exactly the entries the commands make, so a
// migrated member and one that applied every entry with this binary hold
// the same bytes.
func migrate3to4(tx *bolt.Tx, _ *migration) error {
	r := &Reader{tx: tx}
	_, err := r.pageStreams(nil, func() bool { return true }, func(h *holder) error { return indexSet(tx, h.part) })
	if err != nil {
		return err
	}
	return tx.Bucket(bSys).Put(kSchema, u32(4))
}

// activeDrives are the drives new sets may use: those of members that are
// not draining, and not draining themselves.
func activeDrives(members []Node) []placement.Drive {
	var out []placement.Drive
	for _, n := range members {
		if n.Draining {
			continue
		}
		for _, d := range n.Drives {
			if !d.Draining {
				out = append(out, placement.Drive{ID: d.ID, Node: n.ID, Site: n.Site})
			}
		}
	}
	return out
}

// keepOperatorState carries what operators decided about a member — its
// drain, its drives' drains, its promotion — into the record it registers
// (which says only what the node knows of itself).
func keepOperatorState(tx *bolt.Tx, rec *Node) error {
	var old Node
	ok, err := get(tx.Bucket(bNodes), []byte(rec.ID), &old)
	if err != nil || !ok {
		return err
	}
	rec.Draining, rec.Voter = old.Draining, old.Voter
	for i := range rec.Drives {
		for _, d := range old.Drives {
			if d.ID == rec.Drives[i].ID {
				rec.Drives[i].Draining = d.Draining
			}
		}
	}
	return nil
}

// withLocation is p stored where from is: from's data id, set, geometry
// and drives; everything else (size, ETag, checksums, cipher header) is
// p's, which a move never changes.
func withLocation(p Part, from *Part) Part {
	p.DataID, p.SetID, p.K, p.M, p.BlockSize, p.Format = from.DataID, from.SetID, from.K, from.M, from.BlockSize, from.Format
	p.Drives, p.Lost, p.MovedFrom = from.Drives, from.Lost, nil
	return p
}

// A topologyChange is a command after which the leader looks again at
// where streams should live and who votes (FSM.Topology).
type topologyChange interface {
	Payload
	changesTopology()
}

func (*RegisterNode) changesTopology() {}

// StreamLocation is where a re-coded stream now lives: what MoveStream
// changes of a part record.
type StreamLocation struct {
	DataID    []byte   `cbor:"1,keyasint"`
	SetID     uint32   `cbor:"2,keyasint"`
	K         int      `cbor:"3,keyasint"`
	M         int      `cbor:"4,keyasint"`
	BlockSize int      `cbor:"5,keyasint"`
	Format    uint8    `cbor:"6,keyasint"`
	Drives    []string `cbor:"7,keyasint"`
	Lost      []int    `cbor:"8,keyasint,omitempty"`
}

func (l *StreamLocation) part() *Part {
	return &Part{DataID: l.DataID, SetID: l.SetID, K: l.K, M: l.M, BlockSize: l.BlockSize, Format: l.Format, Drives: l.Drives, Lost: l.Lost}
}

// MoveStream records that a stream was re-coded onto another set: the
// leader read its ciphertext, coded it again under a new data id onto the
// shards of To, and now swaps the part record's location — only if the
// record still names the stream From (the object may have been replaced,
// deleted or completed meanwhile: then the new shards are garbage, and the
// proposer deletes them). The old stream becomes garbage. The part's
// size, ETag, checksums and cipher header stay: a move changes where the
// ciphertext lives, never what it is, and unwraps no key.
//
// Bucket, Key and VersionID name an object version's part, Upload an
// upload's; Number is the part's number.
type MoveStream struct {
	Bucket    string         `cbor:"1,keyasint,omitempty"`
	Key       string         `cbor:"2,keyasint,omitempty"`
	VersionID string         `cbor:"3,keyasint,omitempty"`
	Upload    string         `cbor:"4,keyasint,omitempty"`
	Number    int            `cbor:"5,keyasint"`
	From      []byte         `cbor:"6,keyasint"`
	To        StreamLocation `cbor:"7,keyasint"`
	// Seq is the version's (Object.Seq): noncurrent versions move too.
	Seq uint64 `cbor:"8,keyasint,omitempty"`

	moved *Part // what apply stored, for the indexes
}

func (c *MoveStream) apply(tx *bolt.Tx) (*Result, error) {
	if len(c.To.DataID) != 16 || bytes.Equal(c.To.DataID, c.From) || c.To.K < 1 || c.To.M < 0 || len(c.To.Drives) != c.To.K+c.To.M {
		return fail(objapi.KindInvalidArgument, "a move to a malformed location")
	}
	if c.Upload != "" {
		return c.applyUploadPart(tx)
	}
	var b Bucket
	ok, err := get(tx.Bucket(bBuckets), []byte(c.Bucket), &b)
	if err != nil {
		return nil, err
	}
	if !ok || b.Purging {
		return fail(objapi.KindConflict, "the bucket is gone")
	}
	l, ok, err := versionBySeq(tx, c.Bucket, c.Key, c.Seq)
	if err != nil {
		return nil, err
	}
	if !ok || l.o.VersionID != c.VersionID {
		return fail(objapi.KindConflict, "the object changed meanwhile")
	}
	o := &l.o
	i := slices.IndexFunc(o.Parts, func(p Part) bool { return p.Number == c.Number && bytes.Equal(p.DataID, c.From) })
	if i < 0 {
		return fail(objapi.KindConflict, "the object changed meanwhile")
	}
	old := o.Parts[i]
	if !coded(&old) {
		return fail(objapi.KindInvalidArgument, "part %d is kept inline, not in shards", c.Number)
	}
	moved := withLocation(old, c.To.part())
	o.Parts[i] = moved
	if err := storeVersion(tx, c.Bucket, c.Key, l); err != nil {
		return nil, err
	}
	if err := charge(tx, b.Tenant, c.Bucket, Usage{Physical: PhysicalSize(&moved) - PhysicalSize(&old)}); err != nil {
		return nil, err
	}
	c.moved = &moved
	return &Result{Garbage: []Part{old}}, nil
}

func (c *MoveStream) applyUploadPart(tx *bolt.Tx) (*Result, error) {
	var u Upload
	ok, err := get(tx.Bucket(bUploads), []byte(c.Upload), &u)
	if err != nil {
		return nil, err
	}
	if !ok {
		return fail(objapi.KindConflict, "the upload is gone")
	}
	var b Bucket
	if ok, err = get(tx.Bucket(bBuckets), []byte(u.Bucket), &b); err != nil {
		return nil, err
	}
	if !ok || b.Purging {
		return fail(objapi.KindConflict, "the bucket is gone")
	}
	k := partKey(c.Upload, c.Number)
	var old Part
	if ok, err = get(tx.Bucket(bParts), k, &old); err != nil {
		return nil, err
	}
	if !ok || !bytes.Equal(old.DataID, c.From) {
		return fail(objapi.KindConflict, "the part changed meanwhile")
	}
	if !coded(&old) {
		return fail(objapi.KindInvalidArgument, "part %d is kept inline, not in shards", c.Number)
	}
	moved := withLocation(old, c.To.part())
	// A completion proposed with the part as it was still takes it.
	moved.MovedFrom = bytes.Clone(c.From)
	if err := put(tx.Bucket(bParts), k, &moved); err != nil {
		return nil, err
	}
	if err := charge(tx, u.Tenant, u.Bucket, Usage{UploadPhysical: PhysicalSize(&moved) - PhysicalSize(&old)}); err != nil {
		return nil, err
	}
	c.moved = &moved
	return &Result{Garbage: []Part{old}}, nil
}

func (c *MoveStream) streamHome(*bolt.Tx) (*DataRef, error) {
	if c.Upload != "" {
		return &DataRef{Upload: c.Upload}, nil
	}
	return &DataRef{Bucket: c.Bucket, Key: c.Key, Seq: c.Seq}, nil
}

func (c *MoveStream) storedStreams() ([]Part, bool) {
	if c.moved == nil {
		return nil, true
	}
	return []Part{*c.moved}, true
}

// SetDraining marks a member, or one of its drives (Drive, its id), as
// draining, or no longer (Draining false): a draining drive takes no new
// shards — the layout is planned without it, as a new topology epoch —
// and the sets that use it fall below full protection, so the leader moves
// their streams onto sets without it. Refused when the drives left could
// not hold any geometry.
type SetDraining struct {
	Node     string `cbor:"1,keyasint"`
	Drive    string `cbor:"2,keyasint,omitempty"`
	Draining bool   `cbor:"3,keyasint"`
}

func (*SetDraining) changesTopology() {}

// memberOf reads every member and finds id among them (its index), or
// refuses a command naming no member.
func memberOf(tx *bolt.Tx, id string) ([]Node, int, *Result, error) {
	members, err := records[Node](tx.Bucket(bNodes), nil)
	if err != nil {
		return nil, 0, nil, err
	}
	i := slices.IndexFunc(members, func(n Node) bool { return n.ID == id })
	if i < 0 {
		r, err := fail(objapi.KindInvalidArgument, "no member %s", id)
		return nil, 0, r, err
	}
	return members, i, nil, nil
}

func (c *SetDraining) apply(tx *bolt.Tx) (*Result, error) {
	members, i, refused, err := memberOf(tx, c.Node)
	if refused != nil || err != nil {
		return refused, err
	}
	rec := &members[i]
	if c.Drive == "" {
		rec.Draining = c.Draining
	} else {
		j := slices.IndexFunc(rec.Drives, func(d Drive) bool { return d.ID == c.Drive })
		if j < 0 {
			return fail(objapi.KindInvalidArgument, "member %s has no drive %s", c.Node, c.Drive)
		}
		rec.Drives[j].Draining = c.Draining
	}
	plan, err := planLayout(tx, members)
	if err != nil {
		return nil, err
	}
	if plan.layout == nil {
		what := c.Node
		if c.Drive != "" {
			what = c.Drive
		}
		return fail(objapi.KindInvalidArgument, "draining %s would leave no drives that new data could be placed on", what)
	}
	if err := put(tx.Bucket(bNodes), []byte(rec.ID), rec); err != nil {
		return nil, err
	}
	return &Result{}, plan.write(tx)
}

// RemoveNode takes a member out of the cluster's records: its drives leave
// the layout (a new topology epoch), and its id is remembered as removed,
// so that the node cannot register again (a node that comes back needs a
// new id). Refused while any stream has a shard on one of its drives,
// unless Force: then the streams that keep at least k shards elsewhere are
// re-coded from those, and the others are lost (the proposer lists them
// first). The node's place in the Raft configuration is the leader's to
// remove once this is applied (the FSM holds no Raft configuration).
type RemoveNode struct {
	Node    string `cbor:"1,keyasint"`
	Force   bool   `cbor:"2,keyasint,omitempty"`
	Removed int64  `cbor:"3,keyasint"` // the proposer's clock, unix ns
}

func (*RemoveNode) changesTopology() {}

func (c *RemoveNode) apply(tx *bolt.Tx) (*Result, error) {
	members, i, refused, err := memberOf(tx, c.Node)
	if refused != nil || err != nil {
		return refused, err
	}
	rec := members[i]
	if !c.Force {
		r := &Reader{tx: tx}
		left, err := r.StreamsOn(driveIDs(&rec))
		if err != nil {
			return nil, err
		}
		if left > 0 {
			return fail(objapi.KindConflict, "node %s still holds shards of %d streams: drain it first (kcs admin node drain %s) and wait until none are left, or remove it with --force",
				c.Node, left, c.Node)
		}
	}
	others := slices.Delete(slices.Clone(members), i, i+1)
	plan, err := planLayout(tx, others)
	if err != nil {
		return nil, err
	}
	if plan.layout == nil {
		return fail(objapi.KindInvalidArgument, "removing %s would leave no drives that data could be placed on", c.Node)
	}
	if err := tx.Bucket(bNodes).Delete([]byte(c.Node)); err != nil {
		return nil, err
	}
	if err := tx.Bucket(bRemoved).Put([]byte(c.Node), u64(uint64(c.Removed))); err != nil {
		return nil, err
	}
	return &Result{}, plan.write(tx)
}

func driveIDs(n *Node) []string {
	out := make([]string, len(n.Drives))
	for i, d := range n.Drives {
		out[i] = d.ID
	}
	return out
}

// PromoteNode makes a member a Raft voter: the leader adds it as one once
// this is applied, and keeps it one (a voter is never demoted). It is how
// a site whose only voter is to be removed gets another first.
type PromoteNode struct {
	Node string `cbor:"1,keyasint"`
}

func (*PromoteNode) changesTopology() {}

func (c *PromoteNode) apply(tx *bolt.Tx) (*Result, error) {
	var rec Node
	ok, err := get(tx.Bucket(bNodes), []byte(c.Node), &rec)
	if err != nil {
		return nil, err
	}
	if !ok {
		return fail(objapi.KindInvalidArgument, "no member %s", c.Node)
	}
	rec.Voter = true
	return &Result{}, put(tx.Bucket(bNodes), []byte(c.Node), &rec)
}

// Spread asks the leader to move every stream that lives outside the
// current full family onto its sets (Stop false), or ends the spread
// (Stop true; the leader ends it itself when nothing is left): existing
// data reaches nodes, drives and sites added since it was written.
type Spread struct {
	Stop bool `cbor:"1,keyasint,omitempty"`
}

func (*Spread) changesTopology() {}

func (c *Spread) apply(tx *bolt.Tx) (*Result, error) {
	if c.Stop {
		return &Result{}, tx.Bucket(bSys).Delete(kSpread)
	}
	return &Result{}, tx.Bucket(bSys).Put(kSpread, []byte{1})
}

// Topology delivers a signal after a commit changed the members, a drain,
// a promotion or the spread: the leader looks again at where streams
// should live and who votes.
func (f *FSM) Topology() <-chan struct{} { return f.topology }

// SetStats returns what each set holds, for the sets that hold anything.
func (r *Reader) SetStats() (map[uint32]SetStats, error) {
	out := map[uint32]SetStats{}
	err := r.tx.Bucket(bSetStats).ForEach(func(k, v []byte) error {
		if len(k) != 4 {
			return fmt.Errorf("setstats key %x", k)
		}
		var s SetStats
		if err := unmarshal(v, &s); err != nil {
			return fmt.Errorf("setstats %x: %w", k, err)
		}
		out[binary.BigEndian.Uint32(k)] = s
		return nil
	})
	return out, err
}

// SetStreams returns up to max data ids of streams of set, after the data
// id after (nil: from the first).
func (r *Reader) SetStreams(set uint32, after []byte, max int) [][]byte {
	prefix := u32(set)
	c := r.tx.Bucket(bSetStreams).Cursor()
	k, _ := c.Seek(prefix)
	if after != nil {
		k, _ = c.Seek(setStreamKey(set, after))
		if k != nil && bytes.Equal(k[4:], after) {
			k, _ = c.Next()
		}
	}
	var out [][]byte
	for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < max; k, _ = c.Next() {
		out = append(out, bytes.Clone(k[4:]))
	}
	return out
}

// HeldStream is a referenced stream with its record's place: what a move
// proposes against.
type HeldStream struct {
	Ref       DataRef
	VersionID string // the object version holding it (objects' parts)
	Part      Part
}

// Stream finds a referenced stream's part record and where it lives.
func (r *Reader) Stream(dataID []byte) (*HeldStream, bool, error) {
	v := r.tx.Bucket(bDataIDs).Get(dataID)
	if v == nil {
		return nil, false, nil
	}
	var ref DataRef
	if err := decMode.Unmarshal(v, &ref); err != nil {
		return nil, false, fmt.Errorf("dataids %x: %w", dataID, err)
	}
	h, ok, err := r.holderOf(dataID, v)
	if err != nil || !ok {
		return nil, false, err
	}
	out := &HeldStream{Ref: ref, Part: *h.part}
	if h.object != nil {
		out.VersionID = h.object.VersionID
	}
	return out, true, nil
}

// DegradedOf returns the shards a stream lost at its write that are not
// rebuilt yet, if any.
func (r *Reader) DegradedOf(dataID []byte) ([]int, bool, error) {
	var lost []int
	ok, err := get(r.tx.Bucket(bDegraded), dataID, &lost)
	return lost, ok, err
}

// Removed reports whether a node was removed from the cluster.
func (r *Reader) Removed(id string) bool { return r.tx.Bucket(bRemoved).Get([]byte(id)) != nil }

// Spreading reports whether a spread was asked for and is not done.
func (r *Reader) Spreading() bool { return r.tx.Bucket(bSys).Get(kSpread) != nil }

// Topology returns the drives of the current members with their nodes and
// sites, and whether each is draining.
func (r *Reader) Topology() (active []placement.Drive, draining map[string]bool, err error) {
	members, err := r.Nodes()
	if err != nil {
		return nil, nil, err
	}
	draining = map[string]bool{}
	for _, n := range members {
		for _, d := range n.Drives {
			if n.Draining || d.Draining {
				draining[d.ID] = true
			}
		}
	}
	return activeDrives(members), draining, nil
}

// SetClass says what a set is to the current topology.
type SetClass uint8

const (
	// SetFull: its streams have full protection, on a set of the current
	// full family.
	SetFull SetClass = iota
	// SetOutside: full protection, but on a set the current full family
	// does not have (an older topology's): a spread moves its streams.
	SetOutside
	// SetBelow: below full protection (a degraded family's geometry, a
	// drive draining or gone, an older geometry): re-protection moves its
	// streams.
	SetBelow
)

// SetClasses judges every set that holds streams against the current
// topology (see the package comment above: placement.Protects, and every
// set the planner put in the full family counts as full).
func (r *Reader) SetClasses() (map[uint32]SetClass, map[uint32]SetStats, error) {
	stats, err := r.SetStats()
	if err != nil {
		return nil, nil, err
	}
	lay, err := r.Layout()
	if err != nil {
		return nil, nil, err
	}
	active, _, err := r.Topology()
	if err != nil {
		return nil, nil, err
	}
	family := map[uint32]bool{}
	var full placement.Geometry
	if len(lay.Families) > 0 {
		full = placement.Geometry{K: lay.Families[0].K, M: lay.Families[0].M}
		for _, id := range lay.Families[0].Sets {
			family[id] = true
		}
	}
	out := make(map[uint32]SetClass, len(stats))
	for id := range stats {
		if family[id] {
			out[id] = SetFull
			continue
		}
		set, ok, err := r.Set(id)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case ok && len(lay.Families) > 0 && placement.Protects(active, full, set.K, set.M, set.Drives):
			out[id] = SetOutside
		default:
			out[id] = SetBelow
		}
	}
	return out, stats, nil
}

// Protection is what the metadata says of the streams' redundancy.
type Protection struct {
	// Below counts streams below full protection: those in sets below it
	// (a degraded geometry, a drive draining or gone), and those whose
	// lost shards are not rebuilt yet, each once.
	Below int64
	// InBelowSets counts the streams of sets below full protection, and
	// LostShards the streams with lost shards (the degraded index).
	InBelowSets int64
	LostShards  int64
	// Outside counts streams at full protection on sets the current full
	// family does not have: what a spread moves.
	Outside int64
	// Spreading is set while a spread is asked for.
	Spreading bool
	// Draining is, for every draining member or drive (by id), how many
	// streams still have a shard on it.
	Draining map[string]int64
}

// maxLostResolved bounds how many streams with lost shards the count
// looks up to tell those in sets below full protection (already counted)
// from the others; beyond it they are all counted, the count then an
// upper bound until the rebuilds catch up.
const maxLostResolved = 10000

// Protection counts the streams below full protection and the work the
// leader has left; it reads the set rows and the degraded index, not the
// streams.
func (r *Reader) Protection() (*Protection, error) {
	classes, stats, err := r.SetClasses()
	if err != nil {
		return nil, err
	}
	p := &Protection{Spreading: r.Spreading(), Draining: map[string]int64{}}
	for id, c := range classes {
		switch c {
		case SetBelow:
			p.InBelowSets += stats[id].Streams
		case SetOutside:
			p.Outside += stats[id].Streams
		}
	}
	p.LostShards = int64(r.DegradedCount())
	p.Below = p.InBelowSets + p.LostShards
	if p.LostShards <= maxLostResolved {
		err := r.tx.Bucket(bDegraded).ForEach(func(k, _ []byte) error {
			part, ok, err := r.PartOf(k)
			if err != nil {
				return err
			}
			if ok && coded(part) && classes[part.SetID] == SetBelow {
				p.Below-- // counted with its set
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	members, err := r.Nodes()
	if err != nil {
		return nil, err
	}
	for _, n := range members {
		if n.Draining {
			left, err := r.StreamsOn(driveIDs(&n))
			if err != nil {
				return nil, err
			}
			p.Draining[n.ID] = left
			continue
		}
		for _, d := range n.Drives {
			if d.Draining {
				left, err := r.StreamsOn([]string{d.ID})
				if err != nil {
					return nil, err
				}
				p.Draining[d.ID] = left
			}
		}
	}
	return p, nil
}

// StreamsOn counts the streams with a shard on any of the drives.
func (r *Reader) StreamsOn(drives []string) (int64, error) {
	stats, err := r.SetStats()
	if err != nil {
		return 0, err
	}
	var n int64
	for id, s := range stats {
		set, ok, err := r.Set(id)
		if err != nil {
			return 0, err
		}
		if ok && slices.ContainsFunc(set.Drives, func(d string) bool { return slices.Contains(drives, d) }) {
			n += s.Streams
		}
	}
	return n, nil
}

// SetsOn returns the sets that use any of the drives and hold streams, by
// id.
func (r *Reader) SetsOn(drives []string) ([]Set, error) {
	stats, err := r.SetStats()
	if err != nil {
		return nil, err
	}
	var out []Set
	for _, id := range slices.Sorted(maps.Keys(stats)) {
		set, ok, err := r.Set(id)
		if err != nil {
			return nil, err
		}
		if ok && slices.ContainsFunc(set.Drives, func(d string) bool { return slices.Contains(drives, d) }) {
			out = append(out, *set)
		}
	}
	return out, nil
}

// Where names a stream's record for an operator: bucket/key, or the
// upload and part.
func (ref *HeldStream) Where() string {
	if ref.Ref.Upload != "" {
		return fmt.Sprintf("upload %s part %d", ref.Ref.Upload, ref.Ref.Part)
	}
	var b strings.Builder
	b.WriteString(ref.Ref.Bucket + "/" + ref.Ref.Key)
	if ref.Ref.Part > 0 {
		fmt.Fprintf(&b, " part %d", ref.Ref.Part)
	}
	return b.String()
}
