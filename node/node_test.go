package node_test

// In-process clusters: three Nodes on loopback sockets in one test process,
// so that the object layer's concurrency runs under the race detector
// (the end-to-end tests in cmd/kcs run real processes without it).

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kommunal-cloud/kcs/node"
	"github.com/kommunal-cloud/kcs/node/crypt"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type testCluster struct {
	cfgs  []node.Config
	nodes []*node.Node
}

func startNodes(t *testing.T, sites int) *testCluster {
	t.Helper()
	mk, _ := crypt.NewMasterKey("master", 1, bytes.Repeat([]byte{9}, 32))
	root := t.TempDir()
	c := &testCluster{}
	for i := range sites {
		dir := filepath.Join(root, fmt.Sprint(i))
		cfg := node.Config{
			ID: fmt.Sprintf("n%d", i), Site: fmt.Sprintf("site-%d", i),
			Drives:   []string{filepath.Join(dir, "d0"), filepath.Join(dir, "d1")},
			MetaDir:  filepath.Join(dir, "meta"),
			RaftAddr: freeAddr(t), RPCAddr: freeAddr(t),
			MasterKey: mk, ClusterSecret: []byte("in-process-cluster-secret"),
			Logger: quiet, Fast: true, GCGrace: 100 * time.Millisecond, BlockSize: 4096,
		}
		if i == 0 {
			cfg.Bootstrap = true
		} else {
			cfg.Join = c.cfgs[0].RPCAddr
		}
		c.cfgs = append(c.cfgs, cfg)
	}
	c.nodes = make([]*node.Node, sites)
	var wg sync.WaitGroup
	errs := make([]error, sites)
	for i := range c.cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.nodes[i], errs[i] = node.Start(context.Background(), c.cfgs[i])
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			if n != nil {
				n.Close()
			}
		}
	})
	return c
}

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func get(t *testing.T, n *node.Node, c node.Caller, bucket, key string, opts node.GetOptions) ([]byte, *node.Object) {
	t.Helper()
	obj, err := n.GetObject(context.Background(), c, bucket, key, opts)
	if err != nil {
		t.Fatalf("get %s via %s: %v", key, n.ID(), err)
	}
	var buf bytes.Buffer
	if err := obj.Send(context.Background(), &buf); err != nil {
		t.Fatalf("send %s via %s: %v", key, n.ID(), err)
	}
	return buf.Bytes(), obj
}

func TestInProcessCluster(t *testing.T) {
	c := startNodes(t, 3)
	ctx := context.Background()
	n0, n1, n2 := c.nodes[0], c.nodes[1], c.nodes[2]
	info, err := n1.CreateTenant(ctx, "gemeinde-test", "", "")
	if err != nil {
		t.Fatal(err)
	}
	cred, err := n2.LookupAccessKey(ctx, info.AccessKey)
	if err != nil || cred.Secret != info.Secret || cred.Tenant != "gemeinde-test" {
		t.Fatalf("lookup on another node: %v %+v", err, cred)
	}
	caller := node.Caller{Tenant: "gemeinde-test", AccessKey: info.AccessKey}
	if err := n2.CreateBucket(ctx, caller, "akten"); err != nil {
		t.Fatal(err)
	}

	// Concurrent writers and readers on every node.
	objects := map[string][]byte{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := c.nodes[i%3]
			key := fmt.Sprintf("obj/%02d", i)
			data := random(i * 7919)
			opts := node.PutOptions{Size: -1, ContentType: "application/pdf", UserMeta: map[string]string{"nr": fmt.Sprint(i)}}
			if _, err := n.PutObject(ctx, caller, "akten", key, bytes.NewReader(data), opts); err != nil {
				t.Errorf("put %s: %v", key, err)
				return
			}
			mu.Lock()
			objects[key] = data
			mu.Unlock()
			got, obj := get(t, c.nodes[(i+1)%3], caller, "akten", key, node.GetOptions{})
			if !bytes.Equal(got, data) || obj.Info.UserMeta["nr"] != fmt.Sprint(i) || obj.Info.ContentType != "application/pdf" {
				t.Errorf("read back %s: %d bytes, meta %v", key, len(got), obj.Info.UserMeta)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// Ranges.
	data := objects["obj/11"]
	got, obj := get(t, n0, caller, "akten", "obj/11", node.GetOptions{Range: &node.RangeSpec{First: 5000, Last: 60000}})
	if !bytes.Equal(got, data[5000:60001]) || !obj.Partial {
		t.Fatal("range")
	}
	got, _ = get(t, n0, caller, "akten", "obj/11", node.GetOptions{Range: &node.RangeSpec{Suffix: 100}})
	if !bytes.Equal(got, data[len(data)-100:]) {
		t.Fatal("suffix range")
	}
	if _, err := n0.GetObject(ctx, caller, "akten", "obj/11", node.GetOptions{Range: &node.RangeSpec{First: int64(len(data)), Last: -1}}); !node.IsKind(err, node.KindInvalidRange) {
		t.Fatalf("range past the end: %v", err)
	}

	// Multipart: parts through different nodes, completed on a third.
	id, err := n0.CreateMultipartUpload(ctx, caller, "akten", "gross.bin", node.PutOptions{ContentType: "application/zip"})
	if err != nil {
		t.Fatal(err)
	}
	p1, p2 := random(node.MinPartSize), random(1000)
	i1, err := n1.UploadPart(ctx, caller, "akten", "gross.bin", id, 1, bytes.NewReader(p1), node.PartOptions{Size: -1})
	if err != nil {
		t.Fatal(err)
	}
	i2, err := n2.UploadPart(ctx, caller, "akten", "gross.bin", id, 2, bytes.NewReader(p2), node.PartOptions{Size: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n0.CompleteMultipartUpload(ctx, caller, "akten", "gross.bin", id, []node.CompletePart{{Number: 2, ETag: i2.ETag}, {Number: 1, ETag: i1.ETag}}, node.CompleteOptions{}); !node.IsKind(err, node.KindInvalidPartOrder) {
		t.Fatalf("parts out of order: %v", err)
	}
	done, err := n0.CompleteMultipartUpload(ctx, caller, "akten", "gross.bin", id, []node.CompletePart{{Number: 1, ETag: i1.ETag}, {Number: 2, ETag: `"` + i2.ETag + `"`}}, node.CompleteOptions{})
	if err != nil || done.PartsCount != 2 || len(done.ETag) != 34 || done.ETag[32:] != "-2" {
		t.Fatalf("complete: %v %+v", err, done)
	}
	got, obj = get(t, n1, caller, "akten", "gross.bin", node.GetOptions{})
	if !bytes.Equal(got, append(append([]byte(nil), p1...), p2...)) || obj.Info.ContentType != "application/zip" {
		t.Fatal("multipart object differs")
	}
	got, _ = get(t, n2, caller, "akten", "gross.bin", node.GetOptions{PartNumber: 2})
	if !bytes.Equal(got, p2) {
		t.Fatal("part 2")
	}
	got, _ = get(t, n2, caller, "akten", "gross.bin", node.GetOptions{Range: &node.RangeSpec{First: node.MinPartSize - 10, Last: node.MinPartSize + 9}})
	if !bytes.Equal(got, append(append([]byte(nil), p1[len(p1)-10:]...), p2[:10]...)) {
		t.Fatal("range across parts")
	}

	// Listing.
	res, err := n2.ListObjects(ctx, caller, "akten", node.ListOptions{Prefix: "obj/", MaxKeys: 5})
	if err != nil || len(res.Objects) != 5 || !res.Truncated || res.Next != "obj/04" {
		t.Fatalf("list: %v %+v", err, res)
	}

	// Overwrite and delete: the old shards are collected after the grace.
	if _, err := n0.PutObject(ctx, caller, "akten", "obj/00", bytes.NewReader([]byte("neu")), node.PutOptions{Size: 3}); err != nil {
		t.Fatal(err)
	}
	if got, _ := get(t, n2, caller, "akten", "obj/00", node.GetOptions{}); string(got) != "neu" {
		t.Fatalf("overwrite not seen at once elsewhere: %q", got)
	}
	if err := n1.DeleteObject(ctx, caller, "akten", "obj/01", node.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := n2.GetObject(ctx, caller, "akten", "obj/01", node.GetOptions{}); !node.IsKind(err, node.KindNoSuchKey) {
		t.Fatalf("deleted object: %v", err)
	}
	if err := n1.DeleteBucket(ctx, caller, "akten"); !node.IsKind(err, node.KindBucketNotEmpty) {
		t.Fatalf("delete non-empty bucket: %v", err)
	}

	// One site goes away: reads go on, and writes use the degraded geometry.
	c.nodes[2].Close()
	c.nodes[2] = nil
	for key, data := range objects {
		if key == "obj/00" || key == "obj/01" {
			continue
		}
		got, _ := get(t, n0, caller, "akten", key, node.GetOptions{})
		if !bytes.Equal(got, data) {
			t.Fatalf("%s with a site down", key)
		}
	}
	var perr error
	for range 50 { // until the others noticed the site is gone
		if _, perr = n1.PutObject(ctx, caller, "akten", "while-down", bytes.NewReader(random(50000)), node.PutOptions{Size: -1}); perr == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if perr != nil {
		t.Fatalf("write with a site down: %v", perr)
	}
}
