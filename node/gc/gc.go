// Package gc collects the shards of streams the metadata no longer
// references — replaced and deleted versions, replaced and unused parts —
// after a grace period that lets reads already in flight finish.
//
// Garbage is only ever what the metadata does not reference at the moment
// of deletion: before deleting, the collector makes a linearizable read
// and checks the stream is still unreferenced. The queue lives in memory;
// what a crash drops stays on disk until the orphan scan collects it.
package gc

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kommunal-cloud/kcs/node/meta"
)

// Config is what a Collector needs from its node.
type Config struct {
	Grace      time.Duration                          // how long garbage stays readable
	Linearize  func(ctx context.Context) error        // a linearizable read of the metadata
	Referenced func(dataID []byte) bool               // in the metadata as of the last read
	Delete     func(ctx context.Context, p meta.Part) // deletes a stream's shards, best effort
	Log        *slog.Logger
}

// Collector queues garbage and deletes it when its grace period is over.
type Collector struct {
	cfg       Config
	mu        sync.Mutex
	queue     []item
	collected atomic.Int64
}

type item struct {
	due  time.Time
	part meta.Part
}

// New returns a Collector.
func New(cfg Config) *Collector { return &Collector{cfg: cfg} }

// Add queues streams that a committed command made garbage.
func (c *Collector) Add(parts []meta.Part) {
	if len(parts) == 0 {
		return
	}
	due := time.Now().Add(c.cfg.Grace)
	c.mu.Lock()
	for _, p := range parts {
		c.queue = append(c.queue, item{due: due, part: p})
	}
	c.mu.Unlock()
}

// Collected counts the streams whose shards were deleted.
func (c *Collector) Collected() int64 { return c.collected.Load() }

func (c *Collector) takeDue(now time.Time) []item {
	c.mu.Lock()
	defer c.mu.Unlock()
	var due []item
	rest := c.queue[:0]
	for _, it := range c.queue {
		if it.due.Before(now) {
			due = append(due, it)
		} else {
			rest = append(rest, it)
		}
	}
	c.queue = rest
	return due
}

func (c *Collector) requeue(items []item) {
	c.mu.Lock()
	c.queue = append(c.queue, items...)
	c.mu.Unlock()
}

// CollectDue deletes the streams whose grace period is over and that the
// metadata still does not reference (the node runs it every second).
func (c *Collector) CollectDue(ctx context.Context) {
	due := c.takeDue(time.Now())
	if len(due) == 0 {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err := c.cfg.Linearize(lctx)
	cancel()
	if err != nil {
		c.requeue(due) // no current view of the metadata: later
		return
	}
	for _, it := range due {
		if c.cfg.Referenced(it.part.DataID) {
			c.cfg.Log.Warn("garbage stream is referenced again; its shards are kept", "data_id", fmt.Sprintf("%x", it.part.DataID), "part", it.part.Number)
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		c.cfg.Delete(dctx, it.part)
		cancel()
		c.collected.Add(1)
	}
}
