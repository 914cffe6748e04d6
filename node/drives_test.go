package node_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kommunal-cloud/kcs/node"
	"github.com/kommunal-cloud/kcs/node/shardstore"
)

// The orphan scan deletes on a drive only while the drive's format names
// this node, that drive and this cluster: every shard of another cluster's
// drive would look like an orphan here.
func TestOrphanScanSparesOtherClustersDrives(t *testing.T) {
	c := startNodes(t, 1, func(cfg *node.Config) {
		cfg.OrphanGrace = time.Hour
		cfg.OrphanScanEvery = 50 * time.Millisecond
	})
	drive := c.cfgs[0].Drives[0]
	own, err := shardstore.ReadFormat(drive)
	if err != nil || own.Version != shardstore.FormatVersion || own.Cluster == "" || own.Node != "n0" || own.Drive != "n0/0" {
		t.Fatalf("format of a new node's drive: %+v %v", own, err)
	}
	d, err := shardstore.Open(drive, "n0/0", "n0")
	if err != nil {
		t.Fatal(err)
	}
	name := shardstore.Name{DataID: [16]byte{0xfe, 0xed}, Shard: 1}
	w, _ := d.Create(name)
	w.Write([]byte("fremd"))
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	var path string
	filepath.WalkDir(filepath.Join(drive, "kcs", "shards"), func(p string, e os.DirEntry, err error) error {
		if err == nil && e.Name() == name.String() {
			path = p
		}
		return nil
	})
	old := time.Now().Add(-2 * time.Hour)
	// The drive now says it is another cluster's (a disk swapped under the
	// running node): its old, unreferenced shard stays.
	other := *own
	other.Cluster = "0123456789abcdef0123456789abcdef"
	if err := shardstore.WriteFormat(drive, other); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // many scans
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the orphan scan deleted on another cluster's drive: %v", err)
	}
	// Nor on a drive whose format is gone (an empty mount point).
	os.Remove(filepath.Join(drive, shardstore.FormatFile))
	time.Sleep(300 * time.Millisecond)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the orphan scan deleted on a drive without format: %v", err)
	}
	// Its own drive again: the orphan goes.
	if err := shardstore.WriteFormat(drive, *own); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the orphan was not removed from the node's own drive")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// In process, the checks of a restart: an empty drive is refused until
// ReplaceDrives names it, and a node without metadata refuses the drives
// of a cluster (whatever it was asked to do) and creates nothing.
func TestStartChecksDrives(t *testing.T) {
	c := startNodes(t, 1)
	cfg := c.cfgs[0]
	cfg.Bootstrap = false
	c.nodes[0].Close()
	c.nodes[0] = nil
	own, err := shardstore.ReadFormat(cfg.Drives[1])
	if err != nil {
		t.Fatal(err)
	}

	// A new node (fresh metadata directory) given these drives, asked to
	// bootstrap: refused before anything is created.
	fresh := cfg
	fresh.MetaDir = filepath.Join(t.TempDir(), "neu", "meta")
	fresh.Bootstrap = true
	if err := node.CheckDrives(fresh); err == nil || !strings.Contains(err.Error(), "no metadata at "+fresh.MetaDir) || strings.Contains(err.Error(), "--bootstrap") {
		t.Fatalf("new node over formatted drives: %v", err)
	}
	if _, err := node.Start(context.Background(), fresh); err == nil || !strings.Contains(err.Error(), "of cluster "+own.Cluster) {
		t.Fatalf("new node over formatted drives started: %v", err)
	}
	if _, err := os.Stat(fresh.MetaDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("refused start created the metadata directory: %v", err)
	}

	// The second drive empty: refused, until named as a replacement.
	moved := cfg.Drives[1] + ".alt"
	if err := os.Rename(cfg.Drives[1], moved); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(cfg.Drives[1], 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := node.Start(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "--replace-drive") {
		t.Fatalf("empty drive: %v", err)
	}
	if ents, _ := os.ReadDir(cfg.Drives[1]); len(ents) != 0 {
		t.Fatalf("refused start wrote %v to the empty drive", ents)
	}
	bad := cfg
	bad.ReplaceDrives = []string{"/nirgends"}
	if _, err := node.Start(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "--replace-drive /nirgends is not one of --drives") {
		t.Fatalf("unknown replacement: %v", err)
	}
	cfg.ReplaceDrives = []string{"n0/1"}
	n, err := node.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.nodes[0] = n
	f, err := shardstore.ReadFormat(cfg.Drives[1])
	if err != nil || f.Cluster != own.Cluster || f.Drive != "n0/1" || f.Version != shardstore.FormatVersion {
		t.Fatalf("replacement's format %+v %v", f, err)
	}
}
