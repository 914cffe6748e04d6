// Package metrics exposes a node to Prometheus: its S3 traffic (requests
// by operation and status, latency, bytes), its Raft role, its drives'
// usage, every tenant's stored usage and quota, and the background work
// that keeps data whole (repairs, scrub findings, collected orphans and
// garbage). Operators alert on these instead of reading logs: a scrub that
// finds bad shards, or repairs that fail, mean a disk to replace; a tenant
// near its quota, a call to its municipality.
//
// Node state is read when Prometheus scrapes, from node.Metrics; request
// metrics are counted as requests finish (it implements
// s3api.RequestObserver).
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kommunal-cloud/kcs/node"
)

// Source is what the registry reads at each scrape.
type Source interface {
	Metrics() node.Metrics
}

// Registry holds a node's metrics.
type Registry struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	bytesIn  *prometheus.CounterVec
	bytesOut *prometheus.CounterVec
}

// New returns the registry of the node src, with Go runtime and process
// metrics.
func New(src Source) *Registry {
	r := &Registry{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kcs_s3_requests_total", Help: "S3 requests answered, by operation and HTTP status (499: the client went away).",
		}, []string{"op", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kcs_s3_request_duration_seconds", Help: "Time from a request's arrival to its last response byte, by operation.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"op"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kcs_s3_received_bytes_total", Help: "Request body bytes received, by operation.",
		}, []string{"op"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kcs_s3_sent_bytes_total", Help: "Response body bytes sent, by operation.",
		}, []string{"op"}),
	}
	r.reg.MustRegister(r.requests, r.duration, r.bytesIn, r.bytesOut,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&nodeCollector{src: src})
	return r
}

// GaugeFunc and CounterFunc export a value read at each scrape (the
// admission's counts, which cmd/kcs wires: s3api is above this package).
func (r *Registry) GaugeFunc(name, help string, f func() float64) {
	r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// CounterFunc: see GaugeFunc.
func (r *Registry) CounterFunc(name, help string, f func() float64) {
	r.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
}

// ObserveRequest counts one answered S3 request.
func (r *Registry) ObserveRequest(op string, status int, bytesIn, bytesOut int64, d time.Duration) {
	if op == "" {
		op = "Unknown"
	}
	r.requests.WithLabelValues(op, strconv.Itoa(status)).Inc()
	r.duration.WithLabelValues(op).Observe(d.Seconds())
	if bytesIn > 0 {
		r.bytesIn.WithLabelValues(op).Add(float64(bytesIn))
	}
	if bytesOut > 0 {
		r.bytesOut.WithLabelValues(op).Add(float64(bytesOut))
	}
}

// Handler serves the metrics in Prometheus' text format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg})
}

// nodeCollector turns a node.Metrics snapshot into metrics at each scrape.
type nodeCollector struct{ src Source }

var (
	descLeader   = prometheus.NewDesc("kcs_raft_leader", "1 if this node is the Raft leader of the metadata, else 0.", nil, nil)
	descApplied  = prometheus.NewDesc("kcs_raft_applied_index", "Index of the last metadata log entry this node applied.", nil, nil)
	descTotal    = prometheus.NewDesc("kcs_drive_size_bytes", "Size of the filesystem of each drive.", []string{"drive"}, nil)
	descFree     = prometheus.NewDesc("kcs_drive_free_bytes", "Free space on the filesystem of each drive.", []string{"drive"}, nil)
	descDriveErr = prometheus.NewDesc("kcs_drive_error", "1 if a drive's usage cannot be read, else 0.", []string{"drive"}, nil)
	descRepaired = prometheus.NewDesc("kcs_shards_repaired_total", "Shards rebuilt after a read or a scrub found them missing or corrupt.", nil, nil)
	descRepFail  = prometheus.NewDesc("kcs_shard_repairs_failed_total", "Shard repair jobs that failed.", nil, nil)
	descScrubSh  = prometheus.NewDesc("kcs_scrub_shards_checked_total", "Shards a scrub pass read and checked.", nil, nil)
	descScrubB   = prometheus.NewDesc("kcs_scrub_read_bytes_total", "Bytes scrub passes read.", nil, nil)
	descScrubBad = prometheus.NewDesc("kcs_scrub_bad_shards_total", "Missing or corrupt shards scrub passes found.", nil, nil)
	descScrubP   = prometheus.NewDesc("kcs_scrub_passes_total", "Whole scrub passes finished since the node started.", nil, nil)
	descScrubT   = prometheus.NewDesc("kcs_scrub_last_pass_timestamp_seconds", "End of the last whole scrub pass (Unix time; 0: none yet).", nil, nil)
	descOrphans  = prometheus.NewDesc("kcs_orphan_shards_removed_total", "Shard files no metadata referenced, deleted by the orphan scan.", nil, nil)
	descExpired  = prometheus.NewDesc("kcs_multipart_uploads_expired_total", "Unfinished multipart uploads aborted for their age.", nil, nil)
	descGarbage  = prometheus.NewDesc("kcs_garbage_streams_collected_total", "Streams of replaced or deleted object versions whose shards were deleted.", nil, nil)
	descBelow    = prometheus.NewDesc("kcs_streams_below_full_protection", "Streams (objects and parts) below full protection, cluster-wide: written while a site was down, on a draining or removed drive, of an older geometry, or with shards lost while they were written; the leader re-codes or rebuilds them.", nil, nil)
	descMoved    = prometheus.NewDesc("kcs_streams_moved_total", "Streams this node re-coded onto other erasure sets as the leader (re-protection, drains, spreads); its rate is how fast the streams below full protection fall.", nil, nil)
	descMovedB   = prometheus.NewDesc("kcs_stream_moved_bytes_total", "Ciphertext bytes of the streams this node re-coded onto other erasure sets.", nil, nil)
	descMoveFail = prometheus.NewDesc("kcs_stream_moves_failed_total", "Re-codings of a stream that failed (tried again in the next round).", nil, nil)
	descDraining = prometheus.NewDesc("kcs_streams_draining", "Streams with a shard on a draining node or drive, cluster-wide (0: the drains are done).", nil, nil)
	descOutside  = prometheus.NewDesc("kcs_streams_outside_full_family", "Streams with full protection on erasure sets the current full family does not have (written before nodes, drives or sites were added): what a spread moves.", nil, nil)
	descTStored  = prometheus.NewDesc("kcs_tenant_stored_bytes", "Logical bytes a tenant stores: its objects and the parts of its open multipart uploads (what a bytes quota bounds).", []string{"tenant"}, nil)
	descTPhys    = prometheus.NewDesc("kcs_tenant_physical_bytes", "Bytes a tenant's data takes on the drives and in the metadata, erasure overhead included.", []string{"tenant"}, nil)
	descTObjects = prometheus.NewDesc("kcs_tenant_objects", "Objects a tenant stores.", []string{"tenant"}, nil)
	descTBuckets = prometheus.NewDesc("kcs_tenant_buckets", "Buckets a tenant has.", []string{"tenant"}, nil)
	descTUploads = prometheus.NewDesc("kcs_tenant_uploads", "Open multipart uploads of a tenant.", []string{"tenant"}, nil)
	descTInline  = prometheus.NewDesc("kcs_tenant_inline_bytes", "Bytes of a tenant's objects and parts kept in the replicated metadata.", []string{"tenant"}, nil)
	descTQuota   = prometheus.NewDesc("kcs_tenant_quota", "A tenant's quota, by resource (bytes, objects, buckets, uploads, parts, inline_bytes); absent where none is set.", []string{"tenant", "resource"}, nil)
	descMetaOK   = prometheus.NewDesc("kcs_metadata_writable", "1 if this node can write its metadata (drive above its reserve), else 0: the node answers 503 meanwhile.", nil, nil)
)

// Lifecycle rules (node/lifecycle.go), counted by the leader that ran
// the passes: sum over nodes.
var (
	descLcExpired    = prometheus.NewDesc("kcs_lifecycle_expired_total", "Current object versions lifecycle rules expired (a delete marker added, or the object deleted in an unversioned bucket).", nil, nil)
	descLcNoncurrent = prometheus.NewDesc("kcs_lifecycle_noncurrent_removed_total", "Noncurrent object versions lifecycle rules removed.", nil, nil)
	descLcMarkers    = prometheus.NewDesc("kcs_lifecycle_delete_markers_removed_total", "Expired delete markers (a key's only version left) lifecycle rules removed.", nil, nil)
	descLcAborted    = prometheus.NewDesc("kcs_lifecycle_uploads_aborted_total", "Incomplete multipart uploads lifecycle rules aborted.", nil, nil)
	descLcLocked     = prometheus.NewDesc("kcs_lifecycle_locked_skipped_total", "Noncurrent versions due for removal by a lifecycle rule that object lock kept (counted at every pass).", nil, nil)
	descLcFailed     = prometheus.NewDesc("kcs_lifecycle_failed_total", "Lifecycle commands that failed (tried again by the next pass).", nil, nil)
	descLcPasses     = prometheus.NewDesc("kcs_lifecycle_passes_total", "Lifecycle passes over every bucket with rules this node completed as leader.", nil, nil)
	descLcLast       = prometheus.NewDesc("kcs_lifecycle_last_pass_timestamp_seconds", "End of the last lifecycle pass this node completed (Unix time; 0: none yet).", nil, nil)
)

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLeader, descApplied, descTotal, descFree, descDriveErr, descRepaired, descRepFail,
		descScrubSh, descScrubB, descScrubBad, descScrubP, descScrubT, descOrphans, descExpired, descGarbage, descBelow, descMetaOK,
		descMoved, descMovedB, descMoveFail, descDraining, descOutside,
		descLcExpired, descLcNoncurrent, descLcMarkers, descLcAborted, descLcLocked, descLcFailed, descLcPasses, descLcLast,
		descTStored, descTPhys, descTObjects, descTBuckets, descTUploads, descTInline, descTQuota} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.src.Metrics()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	leader := 0.0
	if m.Leader {
		leader = 1
	}
	gauge(descLeader, leader)
	gauge(descApplied, float64(m.AppliedIndex))
	for _, d := range m.Drives {
		if d.Err != "" {
			gauge(descDriveErr, 1, d.ID)
			continue
		}
		gauge(descDriveErr, 0, d.ID)
		gauge(descTotal, float64(d.Total), d.ID)
		gauge(descFree, float64(d.Free), d.ID)
	}
	counter(descRepaired, m.ShardsRepaired)
	counter(descRepFail, m.ShardRepairsFailed)
	counter(descScrubSh, m.ScrubShards)
	counter(descScrubB, m.ScrubBytes)
	counter(descScrubBad, m.ScrubBad)
	counter(descScrubP, m.ScrubPasses)
	last := 0.0
	if !m.ScrubLastPass.IsZero() {
		last = float64(m.ScrubLastPass.Unix())
	}
	gauge(descScrubT, last)
	counter(descOrphans, m.OrphansRemoved)
	counter(descExpired, m.UploadsExpired)
	counter(descGarbage, m.GarbageStreams)
	gauge(descBelow, float64(m.BelowFullProtection))
	counter(descMoved, m.StreamsMoved)
	counter(descMovedB, m.StreamMovedBytes)
	counter(descMoveFail, m.StreamMovesFailed)
	gauge(descDraining, float64(m.StreamsDraining))
	gauge(descOutside, float64(m.StreamsOutsideFamily))
	counter(descLcExpired, m.LifecycleExpired)
	counter(descLcNoncurrent, m.LifecycleNoncurrentRemoved)
	counter(descLcMarkers, m.LifecycleMarkersRemoved)
	counter(descLcAborted, m.LifecycleUploadsAborted)
	counter(descLcLocked, m.LifecycleLockedSkipped)
	counter(descLcFailed, m.LifecycleFailed)
	counter(descLcPasses, m.LifecyclePasses)
	lcLast := 0.0
	if !m.LifecycleLastPass.IsZero() {
		lcLast = float64(m.LifecycleLastPass.Unix())
	}
	gauge(descLcLast, lcLast)
	metaOK := 0.0
	if m.MetadataWritable {
		metaOK = 1
	}
	gauge(descMetaOK, metaOK)
	// Per tenant, never per bucket: tenants are few and named by
	// operators, so the series stay bounded. Every node reports the same
	// replicated figures; alert on max by (tenant).
	for _, t := range m.Tenants {
		gauge(descTStored, float64(t.Bytes+t.UploadBytes), t.Tenant)
		gauge(descTPhys, float64(t.PhysicalBytes+t.UploadPhysical), t.Tenant)
		gauge(descTObjects, float64(t.Objects), t.Tenant)
		gauge(descTBuckets, float64(t.UsageReport.Buckets), t.Tenant)
		gauge(descTUploads, float64(t.Uploads), t.Tenant)
		gauge(descTInline, float64(t.InlineBytes+t.UploadInline), t.Tenant)
		if q := t.Quota; q != nil {
			for _, b := range []struct {
				resource string
				v        int64
			}{{"bytes", q.Bytes}, {"objects", q.Objects}, {"buckets", q.Buckets}, {"uploads", q.Uploads}, {"parts", q.Parts}, {"inline_bytes", q.Inline}} {
				if b.v > 0 {
					gauge(descTQuota, float64(b.v), t.Tenant, b.resource)
				}
			}
		}
	}
}
