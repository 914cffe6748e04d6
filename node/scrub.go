package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/kommunal-cloud/kcs/erasure"
	"github.com/kommunal-cloud/kcs/node/crypt"
	"github.com/kommunal-cloud/kcs/node/fsutil"
	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/shardstore"
)

// The scrub finds damage no read has run into: every ScrubEvery, each node
// walks every stream the metadata references and, for each shard that one
// of its drives should hold, checks that the file is there and that every
// frame matches its checksum and binding. Missing and corrupt shards go to
// the repairer, which rebuilds them from the other shards; without a scrub
// a rarely read object could lose one shard after another unnoticed until
// too few are left.
//
// A pass reads every local shard once, so it is paced (ScrubRate) to leave
// the disks to clients, and its position is saved in the metadata
// directory: a node restarted mid-pass continues where it stopped instead
// of starting over, and one restarted often still finishes its passes.

// ScrubStats counts one scrub pass.
type ScrubStats struct {
	Streams int   // streams with a shard on this node
	Shards  int   // shards checked
	Bytes   int64 // bytes read
	Bad     int   // shards missing or corrupt, queued for repair
}

// scrubState is what the scrub keeps between runs of the node.
type scrubState struct {
	Finished time.Time `json:"finished"`         // end of the last whole pass
	Cursor   []byte    `json:"cursor,omitempty"` // data id a pass in progress reached
}

func (n *Node) scrubStatePath() string { return filepath.Join(n.cfg.MetaDir, "scrub.json") }

func (n *Node) loadScrubState() scrubState {
	var s scrubState
	b, err := os.ReadFile(n.scrubStatePath())
	if err == nil {
		err = json.Unmarshal(b, &s)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		n.log.Warn("scrub state unreadable, starting afresh", "err", err)
	}
	return s
}

func (n *Node) saveScrubState(s scrubState) {
	b, _ := json.Marshal(s)
	if err := fsutil.WriteFile(n.scrubStatePath(), b, 0o600); err != nil {
		n.log.Warn("scrub state not saved", "err", err)
	}
}

// StartScrub has the background scrub start a pass now instead of at its
// next date (an operator who replaced a drive, or suspects one). A pass
// cut short resumes where it was; otherwise the pass is a whole new one.
// It returns at once; the pass's outcome goes to the log.
func (n *Node) StartScrub() {
	select {
	case n.scrubNow <- struct{}{}:
	default: // one is already requested
	}
}

// Scrub runs one whole scrub pass now, over the metadata as of the call,
// and returns what it found.
func (n *Node) Scrub(ctx context.Context) (ScrubStats, error) {
	var st ScrubStats
	_, err := n.scrub(ctx, nil, &st, nil)
	return st, err
}

// scrub checks the local shards of every stream after the data id from,
// calling save with its position now and then. It returns the position it
// reached (nil at the end).
func (n *Node) scrub(ctx context.Context, from []byte, st *ScrubStats, save func(cursor []byte)) ([]byte, error) {
	// Catch up with the leader first, so the pass covers what was written
	// up to its start; without a leader the local state still serves.
	lctx, cancel := context.WithTimeout(ctx, time.Minute)
	err := n.cons.Linearize(lctx)
	cancel()
	if err != nil {
		n.log.Warn("scrub runs on local metadata", "err", err)
	}
	pace := newPacer(n.cfg.ScrubRate)
	cursor := from
	lastSave := time.Now()
	for {
		var page []meta.Part
		var next []byte
		err := n.store.FSM.View(func(r *meta.Reader) error {
			var err error
			page, next, err = r.Streams(cursor, 128)
			return err
		})
		if err != nil {
			return cursor, fmt.Errorf("scrub: %w", err)
		}
		for i := range page {
			if err := n.scrubPart(ctx, &page[i], st, pace); err != nil {
				return cursor, err
			}
		}
		cursor = next
		if cursor == nil {
			return nil, nil
		}
		if save != nil && time.Since(lastSave) > time.Minute {
			save(cursor)
			lastSave = time.Now()
		}
	}
}

// scrubPart checks the shards of p that live on this node's drives.
func (n *Node) scrubPart(ctx context.Context, p *meta.Part, st *ScrubStats, pace *pacer) error {
	if len(p.Inline) > 0 || len(p.Drives) == 0 {
		return nil
	}
	h, err := crypt.ParseHeader(p.Cipher)
	if err != nil {
		n.log.Error("scrub: part record unreadable", "data_id", fmt.Sprintf("%x", p.DataID), "err", err)
		return nil
	}
	params := erasure.Params{Format: p.Format, K: p.K, M: p.M, BlockSize: p.BlockSize}
	size := h.CiphertextSize(p.Size)
	var id [16]byte
	copy(id[:], p.DataID)
	counted := false
	for i, drive := range p.Drives {
		d := n.drives[drive]
		if d == nil {
			continue
		}
		if !counted {
			st.Streams++
			counted = true
		}
		st.Shards++
		name := shardstore.Name{DataID: id, Part: uint32(p.Number), Shard: uint8(i)}
		read, err := n.verifyLocalShard(ctx, d, name, params, p.DataID, size, i)
		st.Bytes += read
		n.counters.scrubShards.Add(1)
		n.counters.scrubBytes.Add(read)
		pace.wait(ctx, read)
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if err == nil {
			continue
		}
		// The stream may have been replaced and collected since the page
		// was read: a shard of garbage is not damage.
		if !n.stillReferenced(p) {
			return nil
		}
		st.Bad++
		n.counters.scrubBad.Add(1)
		n.log.Warn("scrub found a bad shard", "shard", name.String(), "drive", drive, "err", err)
		if p.M == 0 {
			n.log.Error("shard lost: the stream has no parity to rebuild it from", "shard", name.String(), "drive", drive)
			continue
		}
		n.repairs.add(p, i)
	}
	return nil
}

// verifyLocalShard checks one shard file and returns the bytes it read.
func (n *Node) verifyLocalShard(ctx context.Context, d *shardstore.Drive, name shardstore.Name, params erasure.Params, dataID []byte, size int64, shard int) (int64, error) {
	rc, err := d.OpenRange(name, 0, math.MaxInt64)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	cr := &countingReader{r: rc}
	err = erasure.VerifyShard(ctx, params, dataID, size, shard, cr)
	return cr.n, err
}

func (n *Node) stillReferenced(p *meta.Part) bool {
	var cur *meta.Part
	n.store.FSM.View(func(r *meta.Reader) error {
		cur, _, _ = r.PartOf(p.DataID)
		return nil
	})
	return cur != nil && bytes.Equal(cur.DataID, p.DataID)
}

// runScrubs runs a pass every ScrubEvery on the node's clock, resuming one
// a restart cut short, until ctx ends.
func (n *Node) runScrubs(ctx context.Context) {
	s := n.loadScrubState()
	if !s.Finished.IsZero() {
		n.counters.scrubLastPass.Store(s.Finished.Unix())
	}
	if s.Finished.IsZero() {
		// A new node: nothing to check yet; the first pass comes a
		// period from now.
		s.Finished = n.now()
		n.saveScrubState(s)
	}
	for {
		var due <-chan time.Time // never, with the periodic scrub off
		switch {
		case s.Cursor != nil:
			due = n.cfg.Clock.After(time.Minute) // resume soon, once the node has settled
		case n.cfg.ScrubEvery > 0:
			due = n.cfg.Clock.After(s.Finished.Add(n.cfg.ScrubEvery).Sub(n.now()))
		}
		select {
		case <-ctx.Done():
			return
		case <-due:
		case <-n.scrubNow:
		}
		var st ScrubStats
		start := time.Now()
		n.log.Info("scrub pass starts", "from", fmt.Sprintf("%x", s.Cursor))
		cursor, err := n.scrub(ctx, s.Cursor, &st, func(c []byte) {
			s.Cursor = c
			n.saveScrubState(s)
		})
		if err != nil {
			if ctx.Err() == nil {
				n.log.Warn("scrub pass stopped", "err", err)
			}
			s.Cursor = cursor
			n.saveScrubState(s)
			if ctx.Err() != nil {
				return
			}
			continue
		}
		s = scrubState{Finished: n.now()}
		n.saveScrubState(s)
		n.counters.scrubPasses.Add(1)
		n.counters.scrubLastPass.Store(s.Finished.Unix())
		n.log.Info("scrub pass done", "streams", st.Streams, "shards", st.Shards, "bytes", st.Bytes, "bad", st.Bad, "took", time.Since(start).Round(time.Second))
	}
}

// pacer holds a scan to a rate in bytes per second.
type pacer struct {
	rate  float64
	start time.Time
	done  int64
}

func newPacer(rate int64) *pacer { return &pacer{rate: float64(rate), start: time.Now()} }

// wait records n bytes read and sleeps while the scan is ahead of its rate.
func (p *pacer) wait(ctx context.Context, n int64) {
	if p.rate <= 0 {
		return
	}
	p.done += n
	ahead := time.Duration(float64(p.done)/p.rate*float64(time.Second)) - time.Since(p.start)
	if ahead <= 0 {
		return
	}
	t := time.NewTimer(ahead)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n += int64(k)
	return k, err
}
