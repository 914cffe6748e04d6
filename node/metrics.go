package node

import (
	"sync/atomic"
	"time"

	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/rpc"
)

// counters are the node's running totals of background work, for
// monitoring: an operator must see repairs and scrub findings without
// reading logs.
type counters struct {
	shardsRepaired atomic.Int64
	repairFailures atomic.Int64
	scrubShards    atomic.Int64
	scrubBytes     atomic.Int64
	scrubBad       atomic.Int64
	scrubPasses    atomic.Int64
	scrubLastPass  atomic.Int64 // unix seconds of the last whole pass's end
	orphansRemoved atomic.Int64
	uploadsExpired atomic.Int64
}

// Metrics is a snapshot of a node's state and counters for monitoring.
type Metrics struct {
	Leader       bool
	AppliedIndex uint64
	Drives       []rpc.DriveStatus // this node's drives with their usage

	ShardsRepaired     int64 // shards rebuilt after a read or scrub found them bad
	ShardRepairsFailed int64 // repair jobs that failed (retried by the next read or scrub)
	ScrubShards        int64 // shards a scrub checked
	ScrubBytes         int64
	ScrubBad           int64 // missing or corrupt shards a scrub found
	ScrubPasses        int64 // whole scrub passes finished since the start
	ScrubLastPass      time.Time
	OrphansRemoved     int64 // unreferenced shard files deleted
	UploadsExpired     int64 // multipart uploads aborted for their age
	GarbageStreams     int64 // streams of replaced or deleted versions whose shards were deleted
	// BelowFullProtection counts streams below full protection, cluster-
	// wide, from the metadata: on sets below it (a degraded family's, a
	// draining or removed drive's, an older geometry's) or with shards
	// lost at the write and not rebuilt yet.
	BelowFullProtection int
	// StreamsMoved, StreamMovedBytes and StreamMovesFailed count what this
	// node re-coded onto other sets as leader (redundancy.go);
	// StreamsDraining counts the streams with a shard on a draining node
	// or drive, StreamsOutsideFamily those a spread would move
	// (cluster-wide).
	StreamsMoved, StreamMovedBytes, StreamMovesFailed int64
	StreamsDraining, StreamsOutsideFamily             int64
	// MetadataWritable is false while the metadata drive is below its
	// reserve or cannot be written: the node answers 503 meanwhile.
	MetadataWritable bool
	// Lifecycle counts what this node's lifecycle passes did as leader
	// (lifecycle.go): current versions expired, noncurrent versions and
	// expired delete markers removed, incomplete uploads aborted,
	// noncurrent versions due that object lock kept, commands that
	// failed, and passes completed (LifecycleLastPass: the last one's
	// end).
	LifecycleExpired, LifecycleNoncurrentRemoved, LifecycleMarkersRemoved int64
	LifecycleUploadsAborted, LifecycleLockedSkipped, LifecycleFailed      int64
	LifecyclePasses                                                       int64
	LifecycleLastPass                                                     time.Time
	// Tenants is every tenant's stored usage and quota (without its
	// buckets'), from this node's copy of the metadata.
	Tenants []TenantUsage
}

// Metrics returns the node's current metrics.
func (n *Node) Metrics() Metrics {
	c := &n.counters
	m := Metrics{
		Leader:             n.store.IsLeader(),
		AppliedIndex:       n.store.FSM.Applied(),
		ShardsRepaired:     c.shardsRepaired.Load(),
		ShardRepairsFailed: c.repairFailures.Load(),
		ScrubShards:        c.scrubShards.Load(),
		ScrubBytes:         c.scrubBytes.Load(),
		ScrubBad:           c.scrubBad.Load(),
		ScrubPasses:        c.scrubPasses.Load(),
		OrphansRemoved:     c.orphansRemoved.Load(),
		UploadsExpired:     c.uploadsExpired.Load(),
		GarbageStreams:     n.gc.Collected(),
		MetadataWritable:   n.metaHealthy() == nil,
	}
	n.redundancyMetrics(&m)
	n.lifecycleMetrics(&m)
	if t := c.scrubLastPass.Load(); t != 0 {
		m.ScrubLastPass = time.Unix(t, 0)
	}
	m.Drives = n.driveStatus()
	m.Tenants = n.allUsage()
	return m
}

// allUsage reads every tenant's usage row and quota: one pass over two
// small buckets of the metadata, as cheap as a scrape must be.
func (n *Node) allUsage() []TenantUsage {
	var out []TenantUsage
	err := n.store.FSM.View(func(r *meta.Reader) error {
		ts, err := r.AllUsage()
		for _, t := range ts {
			out = append(out, TenantUsage{Tenant: t.Tenant, UsageReport: usageReport(t.Usage), Quota: quotaReport(t.Quota)})
		}
		return err
	})
	if err != nil {
		n.log.Warn("metrics: read the tenants' usage", "err", err)
	}
	return out
}
