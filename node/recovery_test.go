package node_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kommunal-cloud/kcs/node"
	"github.com/kommunal-cloud/kcs/node/crypt"
)

// shardsByDataID maps each data id to the paths of its shard files on the
// cluster's drives.
func shardsByDataID(c *testCluster) map[string][]string {
	out := map[string][]string{}
	for _, cfg := range c.cfgs {
		for _, d := range cfg.Drives {
			filepath.Walk(filepath.Join(d, "kcs", "shards"), func(p string, info os.FileInfo, err error) error {
				if err == nil && !info.IsDir() {
					id, _, _ := strings.Cut(filepath.Base(p), "-")
					out[id] = append(out[id], p)
				}
				return nil
			})
		}
	}
	return out
}

// putCoded writes a coded object and returns the paths of its shards.
func putCoded(t *testing.T, c *testCluster, caller node.Caller, bucket, key string, size int) []string {
	t.Helper()
	before := shardsByDataID(c)
	if _, err := c.nodes[0].PutObject(context.Background(), caller, bucket, key, bytes.NewReader(random(size)), node.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	for id, files := range shardsByDataID(c) {
		if before[id] == nil {
			slices.Sort(files)
			return files
		}
	}
	t.Fatalf("%s wrote no shards", key)
	return nil
}

// A backup holds no name in clear, opens only with the master key, and
// fails whole when any byte of it — header or sealed stream — changed or
// went missing.
func TestMetaBackupIsSealed(t *testing.T) {
	c := startNodes(t, 3)
	ctx := context.Background()
	info, _ := c.nodes[0].CreateTenant(ctx, "gemeinde-sicherung", "", "")
	caller := node.Caller{Tenant: "gemeinde-sicherung", AccessKey: info.AccessKey}
	if err := c.nodes[0].CreateBucket(ctx, caller, "standesamt-akten"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.nodes[0].PutObject(ctx, caller, "standesamt-akten", "geburten/2024/mueller.pdf", bytes.NewReader(random(1000)), node.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	b, err := c.nodes[1].MetaBackup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := b.WriteTo(&buf)
	b.Close()
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) || n != b.Size() {
		t.Fatalf("wrote %d bytes, buffer %d, announced %d", n, buf.Len(), b.Size())
	}
	file := buf.Bytes()
	for _, clear := range append([][]byte{[]byte("standesamt-akten"), []byte("mueller.pdf"), []byte("gemeinde-sicherung")}, c.nodes[0].WrappedTenantKeys("gemeinde-sicherung")...) {
		if bytes.Contains(file, clear) {
			t.Errorf("the backup holds %q in clear", clear)
		}
	}
	hdr, _, err := node.ReadBackupInfo(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	mk := c.cfgs[0].MasterKey
	if hdr.Node != "n1" || hdr.MasterKey != mk.ID() || hdr.Index == 0 || hdr.Cluster == "" || hdr.Bytes <= 0 {
		t.Fatalf("header %+v", hdr)
	}
	other, _ := crypt.NewMasterKeyFromMaterial(bytes.Repeat([]byte{1}, 32))
	if _, _, err := node.OpenMetaBackup(bytes.NewReader(file), []*crypt.MasterKey{other}); err == nil || !strings.Contains(err.Error(), mk.ID()) {
		t.Fatalf("opened with another master key, or without naming the right one: %v", err)
	}
	_, r, err := node.OpenMetaBackup(bytes.NewReader(file), []*crypt.MasterKey{other, mk})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(snap)) != hdr.Bytes || !bytes.HasPrefix(snap, []byte("KCSM\x01")) || !bytes.Contains(snap, []byte("standesamt-akten")) {
		t.Fatalf("the snapshot inside: %d bytes (header says %d), starts %q", len(snap), hdr.Bytes, snap[:min(8, len(snap))])
	}

	// Damage of every kind fails the whole read.
	nodeField := []byte(`"node":"n1"`)
	i := bytes.Index(file, nodeField)
	for name, damaged := range map[string][]byte{
		"header edited": func() []byte {
			d := bytes.Clone(file)
			d[i+len(nodeField)-2] = '2' // "n2": still a header that parses
			return d
		}(),
		"stream bit flipped": func() []byte { d := bytes.Clone(file); d[len(d)/2] ^= 1; return d }(),
		"cut short":          file[:len(file)-100],
		"last byte missing":  file[:len(file)-1],
		"bytes appended":     append(bytes.Clone(file), 0),
	} {
		_, r, err := node.OpenMetaBackup(bytes.NewReader(damaged), []*crypt.MasterKey{mk})
		if err == nil {
			_, err = io.ReadAll(r)
		}
		if err == nil {
			t.Errorf("%s: the backup opened", name)
		}
	}
}

// The loss report lists exactly the streams with fewer than k whole shards,
// with what holds them, and names members that did not answer.
func TestLossReport(t *testing.T) {
	c := startNodes(t, 3)
	ctx := context.Background()
	info, _ := c.nodes[0].CreateTenant(ctx, "gemeinde-verlust", "", "")
	caller := node.Caller{Tenant: "gemeinde-verlust", AccessKey: info.AccessKey}
	if err := c.nodes[0].CreateBucket(ctx, caller, "akten"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.nodes[0].PutObject(ctx, caller, "akten", "inline", bytes.NewReader(random(1000)), node.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	putCoded(t, c, caller, "akten", "whole", 100<<10)
	gone := putCoded(t, c, caller, "akten", "three-shards-gone", 100<<10)
	short := putCoded(t, c, caller, "akten", "one-shard-gone", 100<<10)
	cut := putCoded(t, c, caller, "akten", "one-shard-cut", 100<<10)
	if len(gone) != 6 {
		t.Fatalf("%d shards, want RS(4,2)'s 6", len(gone))
	}
	for _, f := range gone[:3] {
		os.Remove(f)
	}
	os.Remove(short[0])
	// A shard cut short counts as missing, as a read would find it.
	os.Truncate(cut[0], 10)
	os.Truncate(cut[1], 10)
	os.Truncate(cut[2], 10)

	report := func(n *node.Node) ([]node.LostStream, *node.LossSummary) {
		t.Helper()
		var lost []node.LostStream
		sum, err := n.LossReport(ctx, func(s node.LostStream) error { lost = append(lost, s); return nil }, nil)
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(lost, func(a, b node.LostStream) int { return strings.Compare(a.Key, b.Key) })
		return lost, sum
	}
	lost, sum := report(c.nodes[1])
	if len(lost) != 2 || lost[0].Key != "one-shard-cut" || lost[1].Key != "three-shards-gone" {
		t.Fatalf("lost %+v", lost)
	}
	l := lost[1]
	if l.Tenant != "gemeinde-verlust" || l.Bucket != "akten" || l.VersionID == "" || l.UploadID != "" || l.Part != 0 ||
		l.K != 4 || l.M != 2 || l.Found != 3 || l.Unreachable != 0 || l.Size != 100<<10 || len(l.DataID) != 32 {
		t.Fatalf("lost stream %+v", l)
	}
	if sum.Streams != 5 || sum.Inline != 1 || sum.Lost != 2 || sum.Degraded != 1 || len(sum.Unreachable) != 0 || sum.Index == 0 {
		t.Fatalf("summary %+v", sum)
	}

	// An open upload's part is a stream too.
	id, err := c.nodes[0].CreateMultipartUpload(ctx, caller, "akten", "halb", node.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before := shardsByDataID(c)
	if _, err := c.nodes[0].UploadPart(ctx, caller, "akten", "halb", id, 3, bytes.NewReader(random(100<<10)), node.PartOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	for dataID, files := range shardsByDataID(c) {
		if before[dataID] == nil {
			for _, f := range files {
				os.Remove(f)
			}
		}
	}
	lost, _ = report(c.nodes[0])
	if len(lost) != 3 || lost[0].Key != "halb" || lost[0].UploadID != id || lost[0].Part != 3 || lost[0].Found != 0 || lost[0].Tenant != "gemeinde-verlust" {
		t.Fatalf("lost %+v", lost)
	}

	// A member down: its shards cannot be counted, and the report says so.
	c.nodes[2].Close()
	c.nodes[2] = nil
	lost, sum = report(c.nodes[0])
	if !slices.Equal(sum.Unreachable, []string{"n2"}) || sum.Errors["n2"] == "" {
		t.Fatalf("summary with n2 down: %+v", sum)
	}
	var unreachable int
	for _, s := range lost {
		unreachable += s.Unreachable
	}
	if unreachable == 0 || !slices.ContainsFunc(lost, func(s node.LostStream) bool { return s.Key == "three-shards-gone" }) {
		t.Fatalf("lost with n2 down %+v", lost)
	}
	// Cancelled, it says so.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.nodes[0].LossReport(cctx, func(node.LostStream) error { return nil }, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled report: %v", err)
	}
}
