// Package consensus is how a node uses the metadata's Raft group:
// commands proposed through the leader, wherever it is, exactly once
// (Propose), and linearizable reads from any node (Linearize). Calls to the
// leader have attempt deadlines and are cut off when the leader changes,
// so a paused or partitioned leader delays a request by about an election,
// not by the overall timeout. ARCHITECTURE.md gives the arguments.
package consensus

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/objapi"
	"github.com/kommunal-cloud/kcs/node/rpc"
)

// Timeout bounds how long a call waits for the metadata cluster (a
// leader, an answer) in all.
const Timeout = 15 * time.Second

// Consensus is a node's access to the Raft group.
type Consensus struct {
	store     *meta.Store
	rpc       *rpc.Client
	ctx       context.Context // the node's: ends calls made on behalf of no client
	healthy   func() error    // nil while this node can keep its metadata current
	reads     *readBatcher
	authReads *readBatcher
	// clockCheck, when set, refuses to stamp commands (this node's clock
	// is ahead of the cluster's).
	clockCheck func() error
	// forwardHook, set by tests, runs on the leader after a forwarded
	// command was applied; true breaks the connection before the answer.
	forwardHook atomic.Pointer[func(cmd *meta.Command) bool]
}

// New returns a node's Consensus. healthy reports why the node cannot keep
// its metadata current (a full metadata drive), or nil: reads then fail at
// once instead of waiting for applies that cannot happen.
func New(ctx context.Context, store *meta.Store, client *rpc.Client, healthy func() error) *Consensus {
	c := &Consensus{store: store, rpc: client, ctx: ctx, healthy: healthy}
	c.reads, c.authReads = &readBatcher{c: c}, &readBatcher{c: c}
	return c
}

// SetClockCheck makes Propose ask check first: a non-nil error refuses the
// command before it is stamped with this node's clock.
func (c *Consensus) SetClockCheck(check func() error) { c.clockCheck = check }

// SetForwardHook makes this node, as leader, run hook after applying a
// command another node forwarded; when hook returns true the connection
// breaks before the answer is sent. For tests of lost answers.
func (c *Consensus) SetForwardHook(hook func(cmd *meta.Command) bool) {
	if hook == nil {
		c.forwardHook.Store(nil)
		return
	}
	c.forwardHook.Store(&hook)
}

// LeaderRPC returns the leader's RPC address.
func (c *Consensus) LeaderRPC() (string, error) {
	id, _ := c.store.Leader()
	if id == "" {
		return "", &objapi.Error{Op: "cluster", Kind: objapi.KindUnavailable, Msg: "no Raft leader"}
	}
	var addr string
	c.store.FSM.View(func(r *meta.Reader) error {
		if rec, ok, _ := r.Node(id); ok {
			addr = rec.RPCAddr
		}
		return nil
	})
	if addr == "" {
		return "", &objapi.Error{Op: "cluster", Kind: objapi.KindUnavailable, Msg: "leader " + id + " not known yet"}
	}
	return addr, nil
}

// retryable reports whether an attempt to reach the leader may succeed
// later: no leader, leadership moving, a leader not yet ready, a call cut
// off by its attempt deadline, an outcome unknown (commands are retried
// with their id, so a repeat is answered with the first outcome).
func retryable(err error) bool {
	return errors.Is(err, meta.ErrNotLeader) || errors.Is(err, meta.ErrNotReady) || errors.Is(err, rpc.ErrNotLeader) ||
		errors.Is(err, meta.ErrUncertain) || objapi.IsKind(err, objapi.KindUnavailable)
}

// Attempt deadlines: how long one call to the leader may take before it is
// given up and tried again. A paused or partitioned leader thus costs a
// request at most one attempt, or less: an attempt is also cut off as soon
// as this node sees the leader change. A read index needs one heartbeat
// round; a command, an append and an fsync on a quorum.
const (
	readIndexAttempt = 2 * time.Second
	applyAttempt     = 4 * time.Second
)

// WithLeader runs fn until it succeeds or fails for good, waiting out
// elections, for at most Timeout. Each call of fn gets its own
// deadline (attempt), and is cut off when the leader changes.
func (c *Consensus) WithLeader(ctx context.Context, op string, attempt time.Duration, fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	delay := 10 * time.Millisecond
	for {
		changed := c.store.LeaderChanged()
		actx, acancel := context.WithTimeout(ctx, attempt)
		go func() {
			select {
			case <-changed:
				acancel()
			case <-actx.Done():
			}
		}()
		err := fn(actx)
		acancel()
		if err == nil || !retryable(err) && actx.Err() == nil {
			return err
		}
		if ctx.Err() != nil {
			return &objapi.Error{Op: op, Kind: objapi.KindUnavailable, Msg: "the metadata cluster did not answer in time", Err: err}
		}
		select {
		case <-changed: // a new leader (or an election): try at once
		case <-ctx.Done():
			return &objapi.Error{Op: op, Kind: objapi.KindUnavailable, Msg: "the metadata cluster did not answer in time", Err: err}
		case <-time.After(delay):
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

// Propose applies a command through the leader, wherever it is. The
// command gets an id once; every retry and forward carries it, so the FSM
// applies the command at most once and answers repeats with the first
// outcome.
//
// A nil error means the result is the command's true outcome. An error
// means the outcome is unknown (the command may yet be committed): callers
// must not clean up what a committed command would reference, such as
// shards; the orphan scan collects those if it never commits.
func (c *Consensus) Propose(ctx context.Context, cmd *meta.Command) (*meta.Result, error) {
	if cmd.ID.IsZero() {
		if id, ok := takeID(ctx); ok {
			cmd.ID = id
		} else {
			rand.Read(cmd.ID[:])
		}
	}
	if c.clockCheck != nil {
		if err := c.clockCheck(); err != nil {
			return nil, err
		}
	}
	if cmd.Proposed == 0 {
		cmd.Proposed = time.Now().UnixNano()
	}
	// A kind of command some member's binary does not know waits for its upgrade.
	if err := c.store.FSM.View(func(r *meta.Reader) error { return meta.CheckProposable(r, cmd) }); err != nil {
		return nil, err
	}
	data, err := cmd.Encode()
	if err != nil {
		return nil, err
	}
	var res *meta.Result
	err = c.WithLeader(ctx, "propose", applyAttempt, func(ctx context.Context) error {
		if c.store.IsLeader() {
			res, err = c.store.Apply(ctx, data)
			return err
		}
		addr, err := c.LeaderRPC()
		if err != nil {
			return err
		}
		res, err = c.rpc.Apply(ctx, addr, data)
		return err
	})
	if err == nil {
		return res, nil
	}
	// Maybe it was committed and only the answer was lost.
	if res, ok := c.OutcomeOf(cmd.ID); ok {
		return res, nil
	}
	return nil, err
}

// WithCommandID returns a context whose first proposal gets id as its
// command id, instead of a random one: an operation that arrives with an
// id of its own (a signed admin request) commits under it, so that a
// replay of the operation, to whichever node, is recognised (Done) and
// never applied twice.
func WithCommandID(ctx context.Context, id meta.CommandID) context.Context {
	return context.WithValue(ctx, commandIDKey{}, &givenID{id: id})
}

type commandIDKey struct{}

type givenID struct {
	id   meta.CommandID
	used atomic.Bool
}

// takeID returns the id a context carries, once.
func takeID(ctx context.Context) (meta.CommandID, bool) {
	g, ok := ctx.Value(commandIDKey{}).(*givenID)
	if !ok || !g.used.CompareAndSwap(false, true) {
		return meta.CommandID{}, false
	}
	return g.id, true
}

// Done reports, after a linearizable read, whether a command with id has
// been applied (and is still remembered: outcomes are kept for minutes).
func (c *Consensus) Done(ctx context.Context, id meta.CommandID) (bool, error) {
	if err := c.Linearize(ctx); err != nil {
		return false, err
	}
	var ok bool
	err := c.store.FSM.View(func(r *meta.Reader) error {
		var err error
		_, ok, err = r.Outcome(id)
		return err
	})
	return ok, err
}

// OutcomeOf asks the metadata, linearizably, whether the command with id
// was applied, and how it ended.
func (c *Consensus) OutcomeOf(id meta.CommandID) (*meta.Result, bool) {
	ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
	defer cancel()
	if c.Linearize(ctx) != nil {
		return nil, false
	}
	var res *meta.Result
	var ok bool
	c.store.FSM.View(func(r *meta.Reader) error {
		res, ok, _ = r.Outcome(id)
		return nil
	})
	return res, ok
}

// Linearize waits until this node's metadata reflects every write
// acknowledged anywhere before the call: reads that follow are
// linearizable.
func (c *Consensus) Linearize(ctx context.Context) error { return c.linearizeWith(ctx, c.reads) }

// LinearizeAuth is Linearize for access-key lookups: they have their own
// batch, so authentication never queues behind a batch of data reads.
func (c *Consensus) LinearizeAuth(ctx context.Context) error {
	return c.linearizeWith(ctx, c.authReads)
}

func (c *Consensus) linearizeWith(ctx context.Context, b *readBatcher) error {
	if err := c.healthy(); err != nil {
		return err
	}
	idx, err := b.index(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	if err := c.store.WaitApplied(ctx, idx); err != nil {
		return &objapi.Error{Op: "read", Kind: objapi.KindUnavailable, Msg: "metadata not caught up", Err: err}
	}
	return nil
}

// fetchReadIndex asks the leader (this node or another) for a read index.
func (c *Consensus) fetchReadIndex(ctx context.Context) (uint64, error) {
	var idx uint64
	err := c.WithLeader(ctx, "read", readIndexAttempt, func(ctx context.Context) error {
		var err error
		if c.store.IsLeader() {
			idx, err = c.store.ReadIndex(ctx)
			return err
		}
		addr, err := c.LeaderRPC()
		if err != nil {
			return err
		}
		idx, err = c.rpc.ReadIndex(ctx, addr)
		return err
	})
	return idx, err
}

// readBatcher shares read-index requests among concurrent readers: every
// reader waits for a request issued after it arrived (so it sees every
// write acknowledged before it), but one request serves all readers that
// arrived while the previous one was in flight. Under load a linearizable
// read costs a fraction of a round trip to the leader.
type readBatcher struct {
	c       *Consensus
	mu      sync.Mutex
	waiting []chan readResult
	running bool
}

type readResult struct {
	idx uint64
	err error
}

func (b *readBatcher) index(ctx context.Context) (uint64, error) {
	ch := make(chan readResult, 1)
	b.mu.Lock()
	b.waiting = append(b.waiting, ch)
	if !b.running {
		b.running = true
		go b.loop()
	}
	b.mu.Unlock()
	select {
	case r := <-ch:
		return r.idx, r.err
	case <-ctx.Done():
		return 0, &objapi.Error{Op: "read", Kind: objapi.KindUnavailable, Err: ctx.Err()}
	}
}

// loop fetches read indexes while readers wait. It ends when none do, and
// when the node closes (its fetch is cut off by the node's context).
func (b *readBatcher) loop() {
	for {
		b.mu.Lock()
		batch := b.waiting
		b.waiting = nil
		if len(batch) == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		ctx, cancel := context.WithTimeout(b.c.ctx, Timeout)
		idx, err := b.c.fetchReadIndex(ctx)
		cancel()
		for _, ch := range batch {
			ch <- readResult{idx, err}
		}
	}
}

// Apply applies a command another node forwarded (its part of rpc.Handler).
func (c *Consensus) Apply(ctx context.Context, cmd []byte) ([]byte, error) {
	res, err := c.store.Apply(ctx, cmd)
	if err != nil {
		return nil, err
	}
	if hook := c.forwardHook.Load(); hook != nil {
		if dc, derr := meta.DecodeCommand(cmd); derr == nil && (*hook)(dc) {
			panic(http.ErrAbortHandler) // the connection breaks; the answer is lost
		}
	}
	return meta.EncodeResult(res)
}

// ReadIndex answers a follower's read-index request (its part of rpc.Handler).
func (c *Consensus) ReadIndex(ctx context.Context) (uint64, error) { return c.store.ReadIndex(ctx) }
