package node

// The loss report: after a disaster (a recovery from the loss of the Raft
// majority, a restore from a backup), which of the streams the metadata
// references still have k shards anywhere. It walks every stream in pages
// of short read transactions, asks each member once per page, in one
// request, which of the page's shards its drives hold (rpc.ShardSizes), and
// reports each stream with fewer than k shards of the right size as it
// finds it, so that neither side holds more than a page. Streams kept in
// the metadata (inline) are never lost.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/kommunal-cloud/kcs/erasure"
	"github.com/kommunal-cloud/kcs/node/crypt"
	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/rpc"
	"github.com/kommunal-cloud/kcs/node/shardstore"
)

// LostStream is a stream with fewer than k shards where the report could
// look: the part of an object version, or of an open multipart upload.
type LostStream struct {
	Tenant    string `json:"tenant"`
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	VersionID string `json:"version_id,omitempty"`
	UploadID  string `json:"upload_id,omitempty"`
	Part      int    `json:"part"` // 0: a whole object's stream
	Size      int64  `json:"size"`
	DataID    string `json:"data_id"`
	K         int    `json:"k"`
	M         int    `json:"m"`
	// Found counts the shards found whole (of the size the stream's
	// shards have); Unreachable those on members that did not answer,
	// which may yet hold them.
	Found       int `json:"found"`
	Unreachable int `json:"unreachable,omitempty"`
}

// LossSummary is what a loss report looked at.
type LossSummary struct {
	// Index is the metadata's applied index when the walk began: every
	// stream referenced then and still referenced when its page was read
	// is counted.
	Index    uint64 `json:"index"`
	Streams  int64  `json:"streams"`  // streams looked at
	Inline   int64  `json:"inline"`   // of them kept in the metadata: never lost
	Lost     int64  `json:"lost"`     // fewer than k shards found
	Degraded int64  `json:"degraded"` // at least k, fewer than k+m
	// Unreachable lists the members that did not answer (Errors says
	// why): their shards were counted as not found, so a stream listed
	// may only be out of reach. Ask again once they are back.
	Unreachable []string          `json:"unreachable_nodes,omitempty"`
	Errors      map[string]string `json:"errors,omitempty"`
	Started     time.Time         `json:"started"`
	Finished    time.Time         `json:"finished"`
}

// lossPage is how many streams one page of the walk reads: at most
// lossPage·(k+m) shards are asked about per member at once.
const lossPage = 1000

// LossReport walks every stream the metadata references and calls lost
// for each that has fewer than k whole shards on the drives of the members
// that answer, and progress now and then. It returns what it looked at.
func (n *Node) LossReport(ctx context.Context, lost func(LostStream) error, progress func(LossSummary)) (*LossSummary, error) {
	if err := n.cons.Linearize(ctx); err != nil {
		return nil, fmt.Errorf("node: loss report: %w", err)
	}
	sum := &LossSummary{Index: n.store.FSM.Applied(), Started: time.Now().UTC(), Errors: map[string]string{}}
	w := &lossWalk{n: n, sum: sum, down: map[string]bool{}}
	lastProgress := time.Now()
	var cursor []byte
	for {
		var page []meta.StreamRef
		var next []byte
		addrs := map[string]string{}
		sets := map[uint32]*meta.Set{}
		err := n.store.FSM.View(func(r *meta.Reader) error {
			var err error
			if page, next, err = r.StreamRefs(cursor, lossPage); err != nil {
				return err
			}
			nodes, err := r.Nodes()
			for _, m := range nodes {
				addrs[m.ID] = m.RPCAddr
			}
			for _, s := range page {
				if len(s.Part.Drives) == 0 && len(s.Part.Inline) == 0 && sets[s.Part.SetID] == nil {
					// Written before parts named their drives: the set's.
					if set, ok, err := r.Set(s.Part.SetID); err == nil && ok {
						sets[s.Part.SetID] = set
					}
				}
			}
			return err
		})
		if err != nil {
			return sum, fmt.Errorf("node: loss report: %w", err)
		}
		if err := w.page(ctx, page, addrs, sets, lost); err != nil {
			return sum, err
		}
		if cursor = next; cursor == nil {
			break
		}
		if progress != nil && time.Since(lastProgress) > 5*time.Second {
			progress(*sum)
			lastProgress = time.Now()
		}
	}
	for id := range w.down {
		sum.Unreachable = append(sum.Unreachable, id)
	}
	sort.Strings(sum.Unreachable)
	sum.Finished = time.Now().UTC()
	n.log.Info("loss report done", "streams", sum.Streams, "lost", sum.Lost, "degraded", sum.Degraded, "unreachable_nodes", sum.Unreachable)
	return sum, nil
}

// lossWalk is one report's walk.
type lossWalk struct {
	n    *Node
	sum  *LossSummary
	mu   sync.Mutex
	down map[string]bool // members that did not answer: not asked again
}

// shardQuery is one shard of the page asked about.
type shardQuery struct {
	stream int // index into the page
	ref    rpc.ShardRef
}

func (w *lossWalk) page(ctx context.Context, page []meta.StreamRef, addrs map[string]string, sets map[uint32]*meta.Set, lost func(LostStream) error) error {
	want := make([]int64, len(page)) // each stream's shard size
	found := make([]int, len(page))
	unknown := make([]int, len(page))
	byNode := map[string][]shardQuery{}
	for i := range page {
		p := &page[i].Part
		w.sum.Streams++
		if len(p.Inline) > 0 {
			w.sum.Inline++
			continue
		}
		drives := p.Drives
		if len(drives) == 0 && sets[p.SetID] != nil {
			drives = sets[p.SetID].Drives
		}
		want[i] = shardSize(p)
		var id [16]byte
		copy(id[:], p.DataID)
		for s, d := range drives {
			q := shardQuery{stream: i, ref: rpc.ShardRef{Drive: d, Name: shardstore.Name{DataID: id, Part: uint32(p.Number), Shard: uint8(s)}}}
			owner := nodeOfDrive(d)
			byNode[owner] = append(byNode[owner], q)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex // found, unknown
	for owner, qs := range byNode {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sizes, err := w.sizes(ctx, owner, addrs, qs)
			mu.Lock()
			defer mu.Unlock()
			for j, q := range qs {
				switch {
				case err != nil:
					unknown[q.stream]++
				case sizes[j] >= 0 && sizes[j] == want[q.stream]:
					found[q.stream]++
				}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("node: loss report: %w", err)
	}
	for i := range page {
		p := &page[i].Part
		if len(p.Inline) > 0 {
			continue
		}
		if found[i] >= p.K {
			if found[i] < p.K+p.M {
				w.sum.Degraded++
			}
			continue
		}
		w.sum.Lost++
		s := page[i]
		err := lost(LostStream{Tenant: s.Tenant, Bucket: s.Bucket, Key: s.Key, VersionID: s.VersionID, UploadID: s.Upload,
			Part: p.Number, Size: p.Size, DataID: fmt.Sprintf("%x", p.DataID), K: p.K, M: p.M, Found: found[i], Unreachable: unknown[i]})
		if err != nil {
			return err
		}
	}
	return nil
}

// sizes asks owner for the sizes of qs' shards: this node looks at its own
// drives; a member is asked over RPC; a node the metadata no longer lists
// holds nothing. An error means the member could not tell (it does not
// answer, or a drive failed): its shards count as unreachable, not as
// missing.
func (w *lossWalk) sizes(ctx context.Context, owner string, addrs map[string]string, qs []shardQuery) ([]int64, error) {
	out := make([]int64, len(qs))
	if owner == w.n.cfg.ID {
		for i, q := range qs {
			d, ok := w.n.drives[q.ref.Drive]
			if !ok {
				out[i] = -1 // a drive this node no longer has
				continue
			}
			size, err := d.Size(q.ref.Name)
			switch {
			case err == nil:
				out[i] = size
			case errors.Is(err, os.ErrNotExist):
				out[i] = -1
			default:
				w.fail(owner, err)
				return nil, err
			}
		}
		return out, nil
	}
	addr, member := addrs[owner]
	if !member {
		for i := range out {
			out[i] = -1
		}
		return out, nil
	}
	w.mu.Lock()
	down := w.down[owner]
	w.mu.Unlock()
	if down {
		return nil, errors.New("did not answer")
	}
	for start := 0; start < len(qs); start += rpc.MaxShardStats {
		chunk := qs[start:min(start+rpc.MaxShardStats, len(qs))]
		refs := make([]rpc.ShardRef, len(chunk))
		for i, q := range chunk {
			refs[i] = q.ref
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		sizes, err := w.n.rpc.ShardSizes(cctx, addr, refs)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				w.fail(owner, err)
			}
			return nil, err
		}
		copy(out[start:], sizes)
	}
	return out, nil
}

// fail marks a member that could not tell for the rest of the walk: asking
// it again on every page would cost a timeout each.
func (w *lossWalk) fail(owner string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.down[owner] {
		w.down[owner] = true
		w.sum.Errors[owner] = err.Error()
		w.n.log.Warn("loss report: a member did not tell which shards it holds; its shards count as unreachable", "member", owner, "err", err)
	}
}

// shardSize is the size each of a coded stream's shard files has: what
// the encryption stream's ciphertext makes in its geometry.
func shardSize(p *meta.Part) int64 {
	h, err := crypt.ParseHeader(p.Cipher)
	if err != nil {
		return -2 // matches no file: the stream is unreadable anyway
	}
	l := erasure.Layout{Params: erasure.Params{Format: p.Format, K: p.K, M: p.M, BlockSize: p.BlockSize}, Size: h.CiphertextSize(p.Size)}
	return l.ShardSize()
}
