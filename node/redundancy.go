package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/kommunal-cloud/kcs/erasure"
	"github.com/kommunal-cloud/kcs/node/crypt"
	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/shardstore"
)

// Full redundancy, kept by the leader. A stream is at full protection when
// its erasure set gives it what the README promises for the current
// topology (meta.Reader.SetClasses): streams written while a site was
// down, streams with a shard on a draining or removed drive, and streams
// of a geometry an older topology chose are not. The leader re-codes them
// onto a set of the current full family (moveStream): it reads k shards'
// ciphertext frames, codes the ciphertext again under a new data id onto
// the new set's drives, and commits a MoveStream that swaps the part
// record's location if the record still names the old stream. The
// encryption is untouched — the cipher stream's associated data is the
// part number, not the data id, which binds only the shard frames — so no
// key is unwrapped. The old stream is garbage, collected after the grace.
//
// The same loop drains (a draining drive's sets fall below full
// protection) and, on request, spreads: it moves the streams of sets
// that have full protection but are not in the current full family, so
// that data written before nodes, drives or sites were added reaches
// them. Work is found in the FSM's set index on every round, from the
// start: the index holds only what is left, so a restart or a new leader
// simply goes on. Moves are paced (Config.ReprotectRate) and start only
// when a full-family set has every node answering.

// Defaults of the re-protection loop.
const (
	DefaultReprotectEvery = 10 * time.Second
	DefaultReprotectRate  = 64 << 20
)

// moveBatch is how many streams of a set one look at the index takes.
const moveBatch = 64

// redundancy is the node's part in keeping full redundancy: the loops'
// wake-ups and the counts of streams moved.
type redundancy struct {
	moveNow, votersNow chan struct{}

	moved, movedBytes, failed atomic.Int64
	mu                        sync.Mutex
	recent                    []time.Time          // when the moves of the last minute ended
	warned                    map[string]time.Time // data id → when its failed move was last logged
	waiting                   atomic.Bool          // no full-family set is reachable now
}

// warnFailure reports whether a failed move of a stream is worth a
// warning now: once an hour per stream, so that a stream that cannot be
// read (its shards lost beyond what parity repairs) does not fill the log
// at every round.
func (rd *redundancy) warnFailure(dataID []byte) bool {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	now, key := time.Now(), string(dataID)
	if t, ok := rd.warned[key]; ok && now.Sub(t) < time.Hour {
		return false
	}
	if len(rd.warned) >= 10000 {
		clear(rd.warned)
	}
	rd.warned[key] = now
	return true
}

func newRedundancy() *redundancy {
	return &redundancy{moveNow: make(chan struct{}, 1), votersNow: make(chan struct{}, 1), warned: map[string]time.Time{}}
}

// startRedundancy starts the leader's loops: moves (re-protection, drains,
// spreads) and the Raft voters' reconciliation with promotions and
// removals. Both wake when a command changed the topology.
func (n *Node) startRedundancy() {
	if n.cfg.ReprotectEvery == 0 {
		n.cfg.ReprotectEvery = DefaultReprotectEvery
	}
	if n.cfg.ReprotectRate == 0 {
		n.cfg.ReprotectRate = DefaultReprotectRate
	}
	rd := n.redundancy
	n.background(func(ctx context.Context) {
		for {
			select {
			case <-ctx.Done():
				return
			case <-n.store.FSM.Topology():
				poke(rd.votersNow)
				poke(rd.moveNow)
			}
		}
	})
	n.onLeader(5*time.Second, rd.votersNow, nil, n.reconcileVoters)
	if n.cfg.ReprotectEvery > 0 {
		n.onLeader(n.cfg.ReprotectEvery, rd.moveNow, nil, n.redistribute)
	}
}

// record counts one stream moved.
func (rd *redundancy) record(bytes int64) {
	rd.moved.Add(1)
	rd.movedBytes.Add(bytes)
	now := time.Now()
	rd.mu.Lock()
	rd.recent = append(rd.trim(now), now)
	rd.mu.Unlock()
}

// trim drops the moves older than a minute; rd.mu is held.
func (rd *redundancy) trim(now time.Time) []time.Time {
	i := 0
	for i < len(rd.recent) && now.Sub(rd.recent[i]) > time.Minute {
		i++
	}
	return rd.recent[i:]
}

// lastMinute counts the streams moved in the last minute.
func (rd *redundancy) lastMinute() int64 {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	rd.recent = rd.trim(time.Now())
	return int64(len(rd.recent))
}

// redistribute moves every stream that should live elsewhere: first those
// below full protection (sets of a degraded family, sets with a draining
// or removed drive, older geometries), then — while a spread is asked
// for — those outside the current full family. It returns when nothing
// is left, when no full-family set can take streams now (a site down), or
// when this node stops leading; the next round goes on from the index.
func (n *Node) redistribute(ctx context.Context) {
	var classes map[uint32]meta.SetClass
	var stats map[uint32]meta.SetStats
	var spreading bool
	if err := n.store.FSM.View(func(r *meta.Reader) error {
		var err error
		classes, stats, err = r.SetClasses()
		spreading = r.Spreading()
		return err
	}); err != nil {
		n.log.Warn("re-protection: reading the set index", "err", err)
		return
	}
	var below, outside []uint32
	for id, c := range classes {
		switch {
		case stats[id].Streams == 0:
		case c == meta.SetBelow:
			below = append(below, id)
		case c == meta.SetOutside && spreading:
			outside = append(outside, id)
		}
	}
	slices.Sort(below)
	slices.Sort(outside)
	if len(below)+len(outside) == 0 {
		n.redundancy.waiting.Store(false)
		if spreading {
			n.endSpread(ctx)
		}
		return
	}
	pace := newPacer(n.cfg.ReprotectRate)
	start, moved := time.Now(), n.redundancy.moved.Load()
	defer func() {
		if m := n.redundancy.moved.Load() - moved; m > 0 {
			n.log.Info("streams re-coded onto full-family sets", "streams", m, "took", time.Since(start).Round(time.Millisecond))
		}
	}()
	for _, set := range append(below, outside...) {
		if !n.moveSet(ctx, set, pace) {
			return
		}
	}
}

// moveSet moves the streams of one set; false means stop this round.
func (n *Node) moveSet(ctx context.Context, set uint32, pace *pacer) bool {
	var after []byte
	for {
		if ctx.Err() != nil || !n.store.IsLeader() {
			return false
		}
		var ids [][]byte
		n.store.FSM.View(func(r *meta.Reader) error {
			ids = r.SetStreams(set, after, moveBatch)
			return nil
		})
		if len(ids) == 0 {
			return true
		}
		after = ids[len(ids)-1]
		for _, id := range ids {
			if ctx.Err() != nil || !n.store.IsLeader() {
				return false
			}
			var s *meta.HeldStream
			var target *meta.Set
			var dataID [16]byte
			copy(dataID[:], id)
			if err := n.store.FSM.View(func(r *meta.Reader) error {
				var ok bool
				var err error
				if s, ok, err = r.Stream(id); err != nil || !ok {
					s = nil
					return err
				}
				target, err = n.targetSet(r, dataID, s.Part.SetID)
				return err
			}); err != nil {
				n.log.Warn("re-protection: reading a stream", "data_id", fmt.Sprintf("%x", id), "err", err)
				continue
			}
			if s == nil {
				continue // replaced or deleted meanwhile
			}
			if target == nil {
				if !n.redundancy.waiting.Swap(true) {
					n.log.Warn("streams wait for full protection: no set of the full family has every node answering and room on every drive; moves resume when it has")
				}
				return false
			}
			n.redundancy.waiting.Store(false)
			size, err := n.moveStream(ctx, s, target)
			if err != nil {
				if ctx.Err() == nil {
					n.redundancy.failed.Add(1)
					if n.redundancy.warnFailure(id) {
						n.log.Warn("re-coding a stream failed; tried again every round (logged again in an hour)", "stream", s.Where(), "data_id", fmt.Sprintf("%x", id), "err", err)
					}
				}
				continue
			}
			n.redundancy.record(size)
			pace.wait(ctx, size)
		}
	}
}

// targetSet picks the full-family set a moved stream goes to: the sets
// of the current full family, from a place the data id decides (the
// spread of new writes), the first other than from whose nodes all
// answer and whose drives all have room. Nil when none qualifies.
func (n *Node) targetSet(r *meta.Reader, dataID [16]byte, from uint32) (*meta.Set, error) {
	lay, err := r.Layout()
	if err != nil || len(lay.Families) == 0 {
		return nil, err
	}
	fam := lay.Families[0]
	start := int(binary.BigEndian.Uint32(dataID[4:8]) & 0x7fffffff)
	for i := range fam.Sets {
		id := fam.Sets[(start+i)%len(fam.Sets)]
		if id == from {
			continue
		}
		set, ok, err := r.Set(id)
		if err != nil {
			return nil, err
		}
		if ok && !slices.ContainsFunc(set.Drives, func(d string) bool { return !n.live.IsUp(nodeOfDrive(d)) || !n.live.HasRoom(d) }) {
			return set, nil
		}
	}
	return nil, nil
}

// errMoveAborted ends the read side of a move whose write side stopped.
var errMoveAborted = errors.New("move aborted")

// moveStream re-codes one stream onto set and commits the move (see the
// comment at the top). It returns the ciphertext bytes moved. Every shard
// of the new stream must be durable before the commit: a move is there
// to give the stream full protection. On failure nothing it wrote stays
// referenced.
func (n *Node) moveStream(ctx context.Context, s *meta.HeldStream, set *meta.Set) (int64, error) {
	p := &s.Part
	h, err := crypt.ParseHeader(p.Cipher)
	if err != nil {
		return 0, fmt.Errorf("move %s: %w", s.Where(), err)
	}
	size := h.CiphertextSize(p.Size)
	from, err := n.coder(erasure.Params{Format: p.Format, K: p.K, M: p.M, BlockSize: p.BlockSize})
	if err != nil {
		return 0, fmt.Errorf("move %s: %w", s.Where(), err)
	}
	to, err := n.coder(erasure.Params{Format: erasure.FormatV1, K: set.K, M: set.M, BlockSize: p.BlockSize})
	if err != nil {
		return 0, fmt.Errorf("move %s: %w", s.Where(), err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	newID := newDataID()
	moved := meta.Part{Number: p.Number, DataID: newID[:], SetID: set.ID, K: set.K, M: set.M, BlockSize: p.BlockSize,
		Format: erasure.FormatV1, Drives: set.Drives}
	writers := make([]shardWriter, len(set.Drives))
	ws := make([]io.Writer, len(set.Drives))
	for i, drive := range set.Drives {
		w, err := n.openShardWriter(ctx, drive, shardstore.Name{DataID: newID, Part: uint32(p.Number), Shard: uint8(i)})
		if err != nil {
			abortAll(writers)
			return 0, fmt.Errorf("move %s: shard %d on %s: %w", s.Where(), i, drive, err)
		}
		writers[i], ws[i] = w, w
	}
	// The old shards' ciphertext frames, verified and decoded, go
	// straight into the new coder through a pipe.
	srcs, prefer := n.sources(p, nil)
	pr, pw := io.Pipe()
	var rep erasure.DecodeReport
	var rerr error
	read := make(chan struct{})
	go func() {
		defer close(read)
		rep, rerr = from.Decode(ctx, erasure.DecodeRequest{ObjectID: p.DataID, Size: size, Shards: srcs, Prefer: prefer, Length: -1}, pw)
		pw.CloseWithError(rerr) // nil: the end of the stream
	}()
	enc, werr := to.Encode(ctx, newID[:], pr, ws)
	pr.CloseWithError(errMoveAborted) // a decode still writing stops
	<-read
	if ctx.Err() == nil {
		n.queueRepairs(p, rep.Bad)
	}
	switch {
	case rerr != nil:
		werr = fmt.Errorf("read: %w", rerr)
	case werr == nil && enc.Size != size:
		werr = fmt.Errorf("coded %d bytes of %d", enc.Size, size)
	case werr == nil && len(enc.Failed) > 0:
		werr = fmt.Errorf("%d shard writers failed: %v", len(enc.Failed), enc.Failed[0])
	}
	if werr != nil {
		abortAll(writers)
		return 0, fmt.Errorf("move %s: %w", s.Where(), werr)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(writers))
	for i, w := range writers {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = w.Commit() }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		n.deleteShardsSoon(moved)
		return 0, fmt.Errorf("move %s: %w", s.Where(), err)
	}
	cmd := &meta.MoveStream{Bucket: s.Ref.Bucket, Key: s.Ref.Key, VersionID: s.VersionID, Seq: s.Ref.Seq, Upload: s.Ref.Upload, Number: p.Number,
		From: p.DataID, To: meta.StreamLocation{DataID: moved.DataID, SetID: set.ID, K: set.K, M: set.M, BlockSize: moved.BlockSize,
			Format: moved.Format, Drives: set.Drives}}
	// The commit rule of every write: refused (the stream changed
	// meanwhile), the new shards go at once; committed, the old stream is
	// garbage; unknown, the new shards wait for the orphan scan.
	if _, err := n.commit(ctx, "move", s.Ref.Bucket, s.Ref.Key, meta.NewCommand(cmd), nil, moved); err != nil {
		return 0, fmt.Errorf("move %s: %w", s.Where(), err)
	}
	return size, nil
}

// endSpread ends a spread that has nothing left to move.
func (n *Node) endSpread(ctx context.Context) {
	res, err := n.cons.Propose(ctx, meta.NewCommand(&meta.Spread{Stop: true}))
	if _, err := result("spread", "", "", res, err); err != nil {
		n.log.Warn("ending the spread", "err", err)
		return
	}
	n.log.Info("spread done: every stream lives on a set of the full family")
}

// reconcileVoters makes the Raft configuration follow the metadata: a
// member removed (RemoveNode) leaves it, a member promoted (PromoteNode)
// becomes a voter once it answers.
func (n *Node) reconcileVoters(ctx context.Context) {
	servers, err := n.store.Servers()
	if err != nil {
		return
	}
	var nodes []meta.Node
	removed := map[string]bool{}
	n.store.FSM.View(func(r *meta.Reader) error {
		nodes, _ = r.Nodes()
		for _, s := range servers {
			removed[string(s.ID)] = r.Removed(string(s.ID))
		}
		return nil
	})
	suffrage := map[string]raft.ServerSuffrage{}
	for _, s := range servers {
		suffrage[string(s.ID)] = s.Suffrage
		if !removed[string(s.ID)] || ctx.Err() != nil {
			continue
		}
		if err := n.store.Raft.RemoveServer(s.ID, 0, 30*time.Second).Error(); err != nil {
			n.log.Warn("taking a removed member out of the Raft configuration", "member", s.ID, "err", err)
			continue
		}
		n.log.Info("removed member left the Raft configuration", "member", s.ID)
	}
	for _, rec := range nodes {
		if !rec.Voter || ctx.Err() != nil {
			continue
		}
		if s, ok := suffrage[rec.ID]; ok && s == raft.Voter {
			continue
		}
		if !n.live.IsUp(rec.ID) {
			continue // a voter that does not answer weakens the quorum: wait for it
		}
		if err := n.store.AddServer(rec.ID, rec.RaftAddr, true); err != nil {
			n.log.Warn("making a promoted member a voter", "member", rec.ID, "err", err)
			continue
		}
		n.log.Info("member promoted to voter", "member", rec.ID, "site", rec.Site)
	}
}
