package main

import (
	"log/slog"
	"path/filepath"

	"github.com/kommunal-cloud/kcs/node/metering"
	"github.com/kommunal-cloud/kcs/s3api"
)

// The traffic meter is what s3api counts tenants' requests into.
var _ s3api.TrafficMeter = (*metering.Meter)(nil)

// trafficFile is where a node keeps its traffic counts: next to its
// metadata, on the drive the operator picked for state that must survive
// (--meta-dir), not on a data drive that may be replaced.
func trafficFile(metaDir string) string { return filepath.Join(metaDir, "traffic.db") }

// openMeter opens the node's traffic meter. It is opened before the node
// starts: its file's lock fails within seconds, saying why, when another
// process serves the same --meta-dir.
func openMeter(o serveOptions, log *slog.Logger) (*metering.Meter, error) {
	return metering.Open(trafficFile(o.node.MetaDir), metering.Options{
		Retention: o.trafficRetention,
		Logger:    log.With("component", "metering"),
	})
}
