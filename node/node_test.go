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
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/kommunal-cloud/kcs/node"
	"github.com/kommunal-cloud/kcs/node/checksum"
	"github.com/kommunal-cloud/kcs/node/crypt"
	"github.com/kommunal-cloud/kcs/node/objapi"
	"github.com/kommunal-cloud/kcs/node/shardstore"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type testCluster struct {
	cfgs  []node.Config
	nodes []*node.Node
}

func startNodes(t *testing.T, sites int, adjust ...func(*node.Config)) *testCluster {
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
			RaftAddr: "127.0.0.1:0", RPCAddr: "127.0.0.1:0", // any free port: restarts move
			MasterKey: mk, ClusterSecret: []byte("in-process-cluster-secret"),
			Logger: quiet, Fast: true, GCGrace: 100 * time.Millisecond, BlockSize: 4096,
		}
		cfg.Bootstrap = i == 0
		for _, f := range adjust {
			f(&cfg)
		}
		c.cfgs = append(c.cfgs, cfg)
	}
	// The first node bootstraps; the others join through the address it
	// bound.
	c.nodes = make([]*node.Node, sites)
	errs := make([]error, sites)
	c.nodes[0], errs[0] = node.Start(context.Background(), c.cfgs[0])
	if errs[0] != nil {
		t.Fatal(errs[0])
	}
	_, join := c.nodes[0].Addrs()
	var wg sync.WaitGroup
	for i := 1; i < sites; i++ {
		c.cfgs[i].Join = join
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

func TestInProcessFeatures(t *testing.T) {
	c := startNodes(t, 3)
	ctx := context.Background()
	n0, n1, n2 := c.nodes[0], c.nodes[1], c.nodes[2]
	info, err := n0.CreateTenant(ctx, "gemeinde-f", "", "")
	if err != nil {
		t.Fatal(err)
	}
	caller := node.Caller{Tenant: "gemeinde-f", AccessKey: info.AccessKey}
	for _, b := range []string{"quelle", "ziel"} {
		if err := n0.CreateBucket(ctx, caller, b); err != nil {
			t.Fatal(err)
		}
	}
	put := func(n *node.Node, bucket, key string, data []byte, opts node.PutOptions) (node.ObjectInfo, error) {
		opts.Size = -1
		return n.PutObject(ctx, caller, bucket, key, bytes.NewReader(data), opts)
	}

	t.Run("racing conditional writes", func(t *testing.T) {
		var wg sync.WaitGroup
		wins := make([]bool, 6)
		for i := range wins {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := put(c.nodes[i%3], "quelle", "einmalig", []byte(fmt.Sprint(i)), node.PutOptions{IfNoneMatch: true})
				if err != nil && !node.IsKind(err, node.KindPrecondition) {
					t.Errorf("writer %d: %v", i, err)
				}
				wins[i] = err == nil
			}()
		}
		wg.Wait()
		won := 0
		for _, w := range wins {
			if w {
				won++
			}
		}
		if won != 1 {
			t.Fatalf("%d writers won an If-None-Match: * race, want exactly 1", won)
		}
		cur, _ := get(t, n1, caller, "quelle", "einmalig", node.GetOptions{})
		if _, err := put(n2, "quelle", "einmalig", []byte("x"), node.PutOptions{IfMatch: "0123"}); !node.IsKind(err, node.KindPrecondition) {
			t.Fatalf("If-Match with a wrong ETag: %v", err)
		}
		if _, err := put(n2, "quelle", "fehlt", []byte("x"), node.PutOptions{IfMatch: "0123"}); !node.IsKind(err, node.KindNoSuchKey) {
			t.Fatalf("If-Match on a missing key: %v", err)
		}
		_, obj := get(t, n1, caller, "quelle", "einmalig", node.GetOptions{})
		if _, err := put(n2, "quelle", "einmalig", []byte("neu"), node.PutOptions{IfMatch: `"` + obj.Info.ETag + `"`}); err != nil {
			t.Fatalf("If-Match with the right ETag: %v (was %q)", err, cur)
		}
		if err := n0.DeleteObject(ctx, caller, "quelle", "einmalig", node.DeleteOptions{IfMatch: "bogus"}); !node.IsKind(err, node.KindPrecondition) {
			t.Fatalf("conditional delete: %v", err)
		}
	})

	t.Run("copy", func(t *testing.T) {
		data := random(300000)
		src, err := put(n0, "quelle", "antrag.pdf", data, node.PutOptions{ContentType: "application/pdf",
			Headers:  node.Headers{CacheControl: "max-age=60", ContentDisposition: `attachment; filename="a.pdf"`},
			UserMeta: map[string]string{"az": "123"}, Tags: []node.Tag{{Key: "typ", Value: "antrag"}}})
		if err != nil {
			t.Fatal(err)
		}
		dst, err := n1.CopyObject(ctx, caller, node.CopySource{Bucket: "quelle", Key: "antrag.pdf", IfMatch: src.ETag}, "ziel", "kopie.pdf", node.CopyOptions{})
		if err != nil || dst.ETag != src.ETag {
			t.Fatalf("copy: %v %+v", err, dst)
		}
		got, obj := get(t, n2, caller, "ziel", "kopie.pdf", node.GetOptions{})
		if !bytes.Equal(got, data) || obj.Info.UserMeta["az"] != "123" || obj.Info.Headers.CacheControl != "max-age=60" || obj.Info.TagCount != 1 || obj.Info.ContentType != "application/pdf" {
			t.Fatalf("copied object: %d bytes, %+v", len(got), obj.Info)
		}
		if _, err := n1.CopyObject(ctx, caller, node.CopySource{Bucket: "quelle", Key: "antrag.pdf", IfNoneMatch: src.ETag}, "ziel", "k2", node.CopyOptions{}); !node.IsKind(err, node.KindPrecondition) {
			t.Fatalf("copy if-none-match: %v", err)
		}
		if _, err := n1.CopyObject(ctx, caller, node.CopySource{Bucket: "quelle", Key: "antrag.pdf", IfModifiedSince: time.Now().Add(time.Hour)}, "ziel", "k2", node.CopyOptions{}); !node.IsKind(err, node.KindPrecondition) {
			t.Fatalf("copy if-modified-since: %v", err)
		}
		if _, err := n1.CopyObject(ctx, caller, node.CopySource{Bucket: "quelle", Key: "antrag.pdf"}, "quelle", "antrag.pdf", node.CopyOptions{}); !node.IsKind(err, node.KindInvalidRequest) {
			t.Fatalf("copy onto itself: %v", err)
		}
		// REPLACE on itself changes the metadata and keeps the data.
		if _, err := n1.CopyObject(ctx, caller, node.CopySource{Bucket: "quelle", Key: "antrag.pdf"}, "quelle", "antrag.pdf",
			node.CopyOptions{ReplaceMetadata: true, Put: node.PutOptions{ContentType: "text/plain", UserMeta: map[string]string{"az": "456"}}}); err != nil {
			t.Fatal(err)
		}
		got, obj = get(t, n0, caller, "quelle", "antrag.pdf", node.GetOptions{})
		if !bytes.Equal(got, data) || obj.Info.UserMeta["az"] != "456" || obj.Info.ContentType != "text/plain" || obj.Info.TagCount != 1 {
			t.Fatalf("replaced metadata: %+v", obj.Info)
		}
		// Another tenant cannot copy from here.
		other, _ := n0.CreateTenant(ctx, "gemeinde-g", "", "")
		oc := node.Caller{Tenant: "gemeinde-g", AccessKey: other.AccessKey}
		n0.CreateBucket(ctx, oc, "fremd")
		if _, err := n0.CopyObject(ctx, oc, node.CopySource{Bucket: "quelle", Key: "antrag.pdf"}, "fremd", "x", node.CopyOptions{}); !node.IsKind(err, node.KindAccessDenied) {
			t.Fatalf("cross-tenant copy: %v", err)
		}
	})

	t.Run("multipart checksums, part copy and listings", func(t *testing.T) {
		big := random(7 << 20)
		if _, err := put(n0, "quelle", "gross", big, node.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ alg, typ string }{{"CRC32", ""}, {"CRC32C", "FULL_OBJECT"}, {"CRC64NVME", ""}, {"SHA256", "COMPOSITE"}, {"SHA1", ""}} {
			key := "mp-" + tc.alg
			id, err := n0.CreateMultipartUpload(ctx, caller, "ziel", key, node.PutOptions{ChecksumAlgorithm: tc.alg, ChecksumType: tc.typ})
			if err != nil {
				t.Fatal(err)
			}
			p1 := big[:node.MinPartSize]
			h := checksumOf(tc.alg, p1)
			i1, err := n1.UploadPart(ctx, caller, "ziel", key, id, 1, bytes.NewReader(p1), node.PartOptions{Size: -1,
				Checksums: func() []node.Checksum { return []node.Checksum{{Algorithm: tc.alg, Value: h}} }})
			if err != nil {
				t.Fatal(err)
			}
			// Part 2 is copied from a range of another object; its checksum
			// is computed over the copied bytes.
			i2, err := n2.UploadPartCopy(ctx, caller, node.CopySource{Bucket: "quelle", Key: "gross", Range: &node.RangeSpec{First: node.MinPartSize, Last: int64(len(big)) - 1}}, "ziel", key, id, 2)
			if err != nil {
				t.Fatal(err)
			}
			lp, err := n0.ListParts(ctx, caller, "ziel", key, id, node.ListPartsOptions{MaxParts: 1})
			if err != nil || len(lp.Parts) != 1 || !lp.Truncated || lp.NextMarker != 1 || lp.Upload.ChecksumAlgorithm != tc.alg {
				t.Fatalf("list parts: %v %+v", err, lp)
			}
			done, err := n2.CompleteMultipartUpload(ctx, caller, "ziel", key, id, []node.CompletePart{{Number: 1, ETag: i1.ETag, Checksums: []node.Checksum{{Algorithm: tc.alg, Value: h}}}, {Number: 2, ETag: i2.ETag}}, node.CompleteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := expectedMultipartChecksum(tc.alg, done.ChecksumType, [][]byte{p1, big[node.MinPartSize:]})
			if len(done.Checksums) != 1 || done.Checksums[0].Value != want {
				t.Fatalf("%s %s: object checksum %+v, want %s", tc.alg, done.ChecksumType, done.Checksums, want)
			}
			got, _ := get(t, n1, caller, "ziel", key, node.GetOptions{})
			if !bytes.Equal(got, big) {
				t.Fatal("multipart with a copied part differs")
			}
		}
		// Upload listings page by key then initiation.
		var ids []string
		for i := range 3 {
			id, err := n0.CreateMultipartUpload(ctx, caller, "ziel", fmt.Sprintf("offen/%d", i%2), node.PutOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		lu, err := n1.ListMultipartUploads(ctx, caller, "ziel", node.ListUploadsOptions{Prefix: "offen/", MaxUploads: 2})
		if err != nil || len(lu.Uploads) != 2 || !lu.Truncated || lu.Uploads[0].UploadID != ids[0] || lu.Uploads[1].UploadID != ids[2] {
			t.Fatalf("list uploads page 1: %v %+v", err, lu)
		}
		lu, err = n1.ListMultipartUploads(ctx, caller, "ziel", node.ListUploadsOptions{Prefix: "offen/", MaxUploads: 2, KeyMarker: lu.NextKeyMarker, UploadIDMarker: lu.NextUploadIDMarker})
		if err != nil || len(lu.Uploads) != 1 || lu.Truncated || lu.Uploads[0].UploadID != ids[1] {
			t.Fatalf("list uploads page 2: %v %+v", err, lu)
		}
		lu, _ = n1.ListMultipartUploads(ctx, caller, "ziel", node.ListUploadsOptions{Delimiter: "/"})
		if len(lu.Prefixes) != 1 || lu.Prefixes[0] != "offen/" {
			t.Fatalf("uploads rolled up: %+v", lu)
		}
		for i, id := range ids {
			if err := n2.AbortMultipartUpload(ctx, caller, "ziel", fmt.Sprintf("offen/%d", i%2), id); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("tagging, CORS, multi-delete", func(t *testing.T) {
		if _, err := put(n0, "ziel", "t", []byte("x"), node.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		tags := []node.Tag{{Key: "projekt", Value: "Dorfgemeinschaftshaus"}, {Key: "jahr", Value: "2026"}}
		if err := n1.PutObjectTagging(ctx, caller, "ziel", "t", tags); err != nil {
			t.Fatal(err)
		}
		if got, err := n2.GetObjectTagging(ctx, caller, "ziel", "t"); err != nil || len(got) != 2 || got[0] != tags[0] {
			t.Fatalf("tags: %v %v", err, got)
		}
		if err := n1.PutObjectTagging(ctx, caller, "ziel", "t", []node.Tag{{Key: "a"}, {Key: "a"}}); !node.IsKind(err, node.KindInvalidTag) {
			t.Fatalf("duplicate tag keys: %v", err)
		}
		if err := n0.DeleteObjectTagging(ctx, caller, "ziel", "t"); err != nil {
			t.Fatal(err)
		}
		if got, _ := n2.GetObjectTagging(ctx, caller, "ziel", "t"); len(got) != 0 {
			t.Fatalf("tags after delete: %v", got)
		}
		if _, err := n1.GetBucketCors(ctx, caller, "ziel"); !node.IsKind(err, node.KindNoSuchCORS) {
			t.Fatalf("no CORS yet: %v", err)
		}
		rules := []node.CORSRule{{AllowedOrigins: []string{"https://portal.example"}, AllowedMethods: []string{"PUT", "GET"}, ExposeHeaders: []string{"ETag"}}}
		if err := n0.PutBucketCors(ctx, caller, "ziel", rules); err != nil {
			t.Fatal(err)
		}
		if got, err := n2.BucketCORS(ctx, "ziel"); err != nil || len(got) != 1 || got[0].ExposeHeaders[0] != "ETag" {
			t.Fatalf("public CORS read: %v %v", err, got)
		}
		if err := n1.DeleteBucketCors(ctx, caller, "ziel"); err != nil {
			t.Fatal(err)
		}
		if got, _ := n2.BucketCORS(ctx, "ziel"); len(got) != 0 {
			t.Fatalf("CORS after delete: %v", got)
		}
		for i := range 5 {
			put(n0, "ziel", fmt.Sprintf("weg/%d", i), []byte("x"), node.PutOptions{})
		}
		res, err := n1.DeleteObjects(ctx, caller, "ziel", []string{"weg/0", "weg/1", "weg/4", "gibt-es-nicht", ""})
		if err != nil || len(res) != 5 || res[0].Err != nil || res[3].Err != nil || res[4].Err == nil {
			t.Fatalf("multi-delete: %v %+v", err, res)
		}
		lr, _ := n2.ListObjects(ctx, caller, "ziel", node.ListOptions{Prefix: "weg/", MaxKeys: 10})
		if len(lr.Objects) != 2 {
			t.Fatalf("left after multi-delete: %+v", lr.Objects)
		}
	})
}

func checksumOf(alg string, b []byte) string {
	a, _ := checksum.Lookup(alg)
	h := a.New()
	h.Write(b)
	return checksum.Encode(h.Sum(nil))
}

// expectedMultipartChecksum computes, independently of the object layer's
// combination code, what S3 reports: for FULL_OBJECT the CRC of the whole
// object, for COMPOSITE the checksum of the binary part checksums and "-N".
func expectedMultipartChecksum(alg, typ string, parts [][]byte) string {
	a, _ := checksum.Lookup(alg)
	if typ == "FULL_OBJECT" {
		h := a.New()
		for _, p := range parts {
			h.Write(p)
		}
		return checksum.Encode(h.Sum(nil))
	}
	outer := a.New()
	for _, p := range parts {
		h := a.New()
		h.Write(p)
		outer.Write(h.Sum(nil))
	}
	return fmt.Sprintf("%s-%d", checksum.Encode(outer.Sum(nil)), len(parts))
}

// Unfinished uploads are aborted after the configured age and their parts
// collected. The age is measured on the node's clock, which the test
// advances: a week passes in no time.
func TestUploadExpiry(t *testing.T) {
	clock := clockwork.NewFakeClock()
	c := startNodes(t, 1, func(cfg *node.Config) { cfg.UploadExpiry = 7 * 24 * time.Hour; cfg.Clock = clock })
	ctx := context.Background()
	n := c.nodes[0]
	info, _ := n.CreateTenant(ctx, "gemeinde-e", "", "")
	caller := node.Caller{Tenant: "gemeinde-e", AccessKey: info.AccessKey}
	if err := n.CreateBucket(ctx, caller, "bbb"); err != nil {
		t.Fatal(err)
	}
	id, err := n.CreateMultipartUpload(ctx, caller, "bbb", "halb", node.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.UploadPart(ctx, caller, "bbb", "halb", id, 1, bytes.NewReader(random(1000)), node.PartOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	// Six days on, the upload is still there; eight days on, it is gone.
	clock.Advance(6 * 24 * time.Hour)
	time.Sleep(300 * time.Millisecond) // let an expiry pass run, if it wrongly would
	if _, err := n.ListParts(ctx, caller, "bbb", "halb", id, node.ListPartsOptions{}); err != nil {
		t.Fatalf("upload expired after six days of seven: %v", err)
	}
	clock.Advance(2 * 24 * time.Hour)
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := n.ListParts(ctx, caller, "bbb", "halb", id, node.ListPartsOptions{})
		if node.IsKind(err, node.KindNoSuchUpload) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("upload not expired: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The bucket can go now: no upload holds it.
	if err := n.DeleteBucket(ctx, caller, "bbb"); err != nil {
		t.Fatal(err)
	}
}

// Small objects live in the metadata: no shard file is written for them,
// they read back (ranges too) through every node, and survive a node loss.
func TestInlineSmallObjects(t *testing.T) {
	c := startNodes(t, 3)
	ctx := context.Background()
	info, _ := c.nodes[0].CreateTenant(ctx, "gemeinde-i", "", "")
	caller := node.Caller{Tenant: "gemeinde-i", AccessKey: info.AccessKey}
	if err := c.nodes[0].CreateBucket(ctx, caller, "klein"); err != nil {
		t.Fatal(err)
	}
	shardFiles := func() int {
		n := 0
		for _, cfg := range c.cfgs {
			for _, d := range cfg.Drives {
				filepath.Walk(filepath.Join(d, "kcs", "shards"), func(_ string, info os.FileInfo, err error) error {
					if err == nil && !info.IsDir() {
						n++
					}
					return nil
				})
			}
		}
		return n
	}
	sizes := []int{0, 1, 1000, 16 << 10}
	data := map[int][]byte{}
	for _, n := range sizes {
		data[n] = random(n)
		if _, err := c.nodes[1].PutObject(ctx, caller, "klein", fmt.Sprint(n), bytes.NewReader(data[n]), node.PutOptions{Size: -1}); err != nil {
			t.Fatal(err)
		}
	}
	if got := shardFiles(); got != 0 {
		t.Fatalf("%d shard files for objects within the inline limit", got)
	}
	// One byte over the limit is coded into shards.
	if _, err := c.nodes[1].PutObject(ctx, caller, "klein", "gross", bytes.NewReader(random(16<<10+1)), node.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	if got := shardFiles(); got == 0 {
		t.Fatal("an object over the inline limit wrote no shards")
	}
	c.nodes[2].Close()
	c.nodes[2] = nil
	for _, n := range sizes {
		got, _ := get(t, c.nodes[0], caller, "klein", fmt.Sprint(n), node.GetOptions{})
		if !bytes.Equal(got, data[n]) {
			t.Fatalf("inline object of %d bytes differs", n)
		}
		if n > 10 {
			got, _ = get(t, c.nodes[1], caller, "klein", fmt.Sprint(n), node.GetOptions{Range: &node.RangeSpec{First: 3, Last: int64(n) - 5}})
			if !bytes.Equal(got, data[n][3:n-4]) {
				t.Fatalf("range of inline object of %d bytes differs", n)
			}
		}
	}
}

// A read that finds shards missing or corrupt reconstructs around them and
// queues their repair: the shards come back exactly as written, so the
// object again survives the loss of m other shards.
// waitRestored waits until each of files holds its bytes in orig again:
// its repair is done.
func waitRestored(t *testing.T, orig map[string][]byte, files ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok := true
		for _, f := range files {
			if b, err := os.ReadFile(f); err != nil || !bytes.Equal(b, orig[f]) {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("damaged shards were not repaired: %v", files)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestReadRepairsShards(t *testing.T) {
	c := startNodes(t, 3)
	ctx := context.Background()
	info, _ := c.nodes[0].CreateTenant(ctx, "gemeinde-r", "", "")
	caller := node.Caller{Tenant: "gemeinde-r", AccessKey: info.AccessKey}
	if err := c.nodes[0].CreateBucket(ctx, caller, "heil"); err != nil {
		t.Fatal(err)
	}
	data := random(300 << 10)
	if _, err := c.nodes[0].PutObject(ctx, caller, "heil", "akte", bytes.NewReader(data), node.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, cfg := range c.cfgs {
		for _, d := range cfg.Drives {
			filepath.Walk(filepath.Join(d, "kcs", "shards"), func(p string, info os.FileInfo, err error) error {
				if err == nil && !info.IsDir() {
					files = append(files, p)
				}
				return nil
			})
		}
	}
	if len(files) != 6 {
		t.Fatalf("%d shard files, want 6", len(files))
	}
	orig := map[string][]byte{}
	for _, f := range files {
		orig[f], _ = os.ReadFile(f)
	}
	// Damage two shards (m = 2): one corrupted, one gone.
	b := append([]byte(nil), orig[files[0]]...)
	b[len(b)/2] ^= 1
	os.WriteFile(files[0], b, 0o600)
	os.Remove(files[3])
	// Reads must touch the damaged shards: read through every node.
	for _, n := range c.nodes {
		if got, _ := get(t, n, caller, "heil", "akte", node.GetOptions{}); !bytes.Equal(got, data) {
			t.Fatal("read around damaged shards differs")
		}
	}
	waitRestored(t, orig, files[0], files[3])
	// Redundancy is back: two other shards may go now.
	os.Remove(files[1])
	os.Remove(files[4])
	if got, _ := get(t, c.nodes[2], caller, "heil", "akte", node.GetOptions{}); !bytes.Equal(got, data) {
		t.Fatal("after repair, losing two other shards loses the object")
	}
}

// The orphan scan removes shard files no metadata references once they are
// older than the grace period, and nothing else.
func TestOrphanScan(t *testing.T) {
	c := startNodes(t, 3, func(cfg *node.Config) {
		cfg.OrphanGrace = time.Hour
		cfg.OrphanScanEvery = 200 * time.Millisecond
	})
	ctx := context.Background()
	info, _ := c.nodes[0].CreateTenant(ctx, "gemeinde-o", "", "")
	caller := node.Caller{Tenant: "gemeinde-o", AccessKey: info.AccessKey}
	if err := c.nodes[0].CreateBucket(ctx, caller, "waisen"); err != nil {
		t.Fatal(err)
	}
	data := random(100 << 10)
	if _, err := c.nodes[0].PutObject(ctx, caller, "waisen", "echt", bytes.NewReader(data), node.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	// A crashed writer's shards: durable, never committed. One is old, one
	// is fresh (its commit could still be coming).
	d, err := shardstore.Open(c.cfgs[1].Drives[0], "n1/0", "n1")
	if err != nil {
		t.Fatal(err)
	}
	old, fresh := shardstore.Name{DataID: [16]byte{1, 2, 3}, Shard: 1}, shardstore.Name{DataID: [16]byte{4, 5, 6}, Shard: 2}
	for _, n := range []shardstore.Name{old, fresh} {
		w, _ := d.Create(n)
		w.Write([]byte("verwaist"))
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	var oldPath string
	filepath.Walk(filepath.Join(c.cfgs[1].Drives[0], "kcs", "shards"), func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Name() == old.String() {
			oldPath = p
		}
		return nil
	})
	long := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(oldPath, long, long); err != nil {
		t.Fatal(err)
	}
	// Referenced shards stay even when old.
	var kept []string
	for _, cfg := range c.cfgs {
		for _, dir := range cfg.Drives {
			filepath.Walk(filepath.Join(dir, "kcs", "shards"), func(p string, info os.FileInfo, err error) error {
				if err == nil && !info.IsDir() && p != oldPath && info.Name() != fresh.String() {
					os.Chtimes(p, long, long)
					kept = append(kept, p)
				}
				return nil
			})
		}
	}
	if len(kept) != 6 {
		t.Fatalf("%d shard files of the object, want 6", len(kept))
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(oldPath); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("old orphan shard not removed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // a few more scans
	if _, err := d.Size(fresh); err != nil {
		t.Fatalf("fresh uncommitted shard removed: %v", err)
	}
	for _, p := range kept {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("referenced shard removed: %v", err)
		}
	}
	if got, _ := get(t, c.nodes[2], caller, "waisen", "echt", node.GetOptions{}); !bytes.Equal(got, data) {
		t.Fatal("referenced object damaged by the orphan scan")
	}
}

// The scrub finds shards no read touches, missing or corrupt, in objects
// and in the parts of unfinished uploads, and has them rebuilt.
func TestScrubRepairsUnreadShards(t *testing.T) {
	c := startNodes(t, 3, func(cfg *node.Config) {
		cfg.ScrubEvery = -1 // passes run by hand below
		cfg.ScrubRate = -1
	})
	ctx := context.Background()
	info, _ := c.nodes[0].CreateTenant(ctx, "gemeinde-s", "", "")
	caller := node.Caller{Tenant: "gemeinde-s", AccessKey: info.AccessKey}
	if err := c.nodes[0].CreateBucket(ctx, caller, "archiv"); err != nil {
		t.Fatal(err)
	}
	data := random(300 << 10)
	if _, err := c.nodes[0].PutObject(ctx, caller, "archiv", "selten", bytes.NewReader(data), node.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	uploadID, err := c.nodes[1].CreateMultipartUpload(ctx, caller, "archiv", "halb", node.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.nodes[1].UploadPart(ctx, caller, "archiv", "halb", uploadID, 7, bytes.NewReader(random(200<<10)), node.PartOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	orig := map[string][]byte{}
	var object, part []string
	for _, cfg := range c.cfgs {
		for _, d := range cfg.Drives {
			filepath.Walk(filepath.Join(d, "kcs", "shards"), func(p string, info os.FileInfo, err error) error {
				if err == nil && !info.IsDir() {
					orig[p], _ = os.ReadFile(p)
					if strings.Contains(filepath.Base(p), "-7-") {
						part = append(part, p)
					} else {
						object = append(object, p)
					}
				}
				return nil
			})
		}
	}
	if len(object) != 6 || len(part) != 6 {
		t.Fatalf("%d object and %d part shard files, want 6 and 6", len(object), len(part))
	}
	scrubAll := func() (bad, shards int) {
		for _, n := range c.nodes {
			st, err := n.Scrub(ctx)
			if err != nil {
				t.Fatal(err)
			}
			bad += st.Bad
			shards += st.Shards
		}
		return bad, shards
	}
	if bad, shards := scrubAll(); bad != 0 || shards != 12 {
		t.Fatalf("scrub of a healthy cluster: %d bad of %d shards, want 0 of 12", bad, shards)
	}

	// Two shards of the object (m = 2) and one of the part go bad.
	flip := func(f string, at int) {
		b := append([]byte(nil), orig[f]...)
		b[at] ^= 1
		os.WriteFile(f, b, 0o600)
	}
	flip(object[0], len(orig[object[0]])-1) // the last frame's data
	os.Remove(object[4])
	flip(part[2], 3) // a frame header
	damaged := []string{object[0], object[4], part[2]}
	if bad, _ := scrubAll(); bad != 3 {
		t.Fatalf("scrub found %d bad shards, want 3", bad)
	}
	waitRestored(t, orig, damaged...)
	if bad, _ := scrubAll(); bad != 0 {
		t.Fatalf("after repair the scrub still finds %d bad shards", bad)
	}
	// Redundancy is back: two other shards of the object may go now.
	os.Remove(object[1])
	os.Remove(object[2])
	if got, _ := get(t, c.nodes[2], caller, "archiv", "selten", node.GetOptions{}); !bytes.Equal(got, data) {
		t.Fatal("after the scrub's repair, losing two other shards loses the object")
	}
}

// filesHolding lists the files under dir whose bytes contain secret.
func filesHolding(dir string, secret []byte) []string {
	var out []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, secret) {
				out = append(out, p)
			}
		}
		return nil
	})
	return out
}

// shardFiles counts the shard files on the cluster's drives.
func shardFiles(c *testCluster) int {
	n := 0
	for _, cfg := range c.cfgs {
		for _, d := range cfg.Drives {
			filepath.Walk(filepath.Join(d, "kcs", "shards"), func(p string, info os.FileInfo, err error) error {
				if err == nil && !info.IsDir() {
					n++
				}
				return nil
			})
		}
	}
	return n
}

// Deleting a tenant shreds its key: at once nothing of it can be read or
// signed for, soon no file of any node's metadata holds its wrapped key,
// and its buckets are purged, shards and all; other tenants are untouched.
func TestDeleteTenantShredsItsKey(t *testing.T) {
	c := startNodes(t, 3)
	ctx := context.Background()
	gone, _ := c.nodes[0].CreateTenant(ctx, "gemeinde-weg", "", "")
	stays, _ := c.nodes[0].CreateTenant(ctx, "gemeinde-bleibt", "", "")
	goneC := node.Caller{Tenant: "gemeinde-weg", AccessKey: gone.AccessKey}
	staysC := node.Caller{Tenant: "gemeinde-bleibt", AccessKey: stays.AccessKey}
	for _, b := range []struct {
		c    node.Caller
		name string
	}{{goneC, "weg-akten"}, {goneC, "weg-fotos"}, {staysC, "bleibt-akten"}} {
		if err := c.nodes[0].CreateBucket(ctx, b.c, b.name); err != nil {
			t.Fatal(err)
		}
	}
	kept := random(300 << 10)
	if _, err := c.nodes[1].PutObject(ctx, staysC, "bleibt-akten", "akte", bytes.NewReader(kept), node.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := c.nodes[i%3].PutObject(ctx, goneC, "weg-akten", fmt.Sprint("akte-", i), bytes.NewReader(random(100<<10)), node.PutOptions{Size: -1}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.nodes[2].PutObject(ctx, goneC, "weg-fotos", "klein", bytes.NewReader(random(100)), node.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	up, err := c.nodes[0].CreateMultipartUpload(ctx, goneC, "weg-fotos", "halb", node.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.nodes[0].UploadPart(ctx, goneC, "weg-fotos", "halb", up, 1, bytes.NewReader(random(100<<10)), node.PartOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	if n := shardFiles(c); n != 6*7 {
		t.Fatalf("%d shard files, want %d", n, 6*7)
	}
	wrapped := c.nodes[0].WrappedTenantKeys("gemeinde-weg")
	if len(wrapped) != 1 {
		t.Fatalf("%d wrapped keys", len(wrapped))
	}
	for i, cfg := range c.cfgs {
		if len(filesHolding(cfg.MetaDir, wrapped[0])) == 0 {
			t.Fatalf("node %d: the wrapped key is in no file before the deletion: the search below proves nothing", i)
		}
	}

	d, err := c.nodes[1].DeleteTenant(ctx, "gemeinde-weg")
	if err != nil || d.Buckets != 2 {
		t.Fatalf("delete: %+v %v", d, err)
	}
	// At once, on every node: no signing, no reading, no writing.
	for _, n := range c.nodes {
		if _, err := n.LookupAccessKey(ctx, gone.AccessKey); !objapi.IsKind(err, objapi.KindNoSuchAccessKey) {
			t.Fatalf("the deleted tenant's access key: %v", err)
		}
		if _, err := n.GetObject(ctx, goneC, "weg-akten", "akte-1", node.GetOptions{}); err == nil {
			t.Fatal("an object of the deleted tenant is readable")
		}
		if _, err := n.PutObject(ctx, goneC, "weg-akten", "neu", bytes.NewReader([]byte("x")), node.PutOptions{Size: -1}); err == nil {
			t.Fatal("the deleted tenant's bucket takes writes")
		}
	}
	if _, err := c.nodes[0].DeleteTenant(ctx, "gemeinde-weg"); !objapi.IsKind(err, objapi.KindNoSuchTenant) {
		t.Fatalf("deleting it again: %v", err)
	}

	// Soon: no copy of the wrapped key in any node's metadata directory
	// (database, Raft log, snapshots), the buckets purged, their shards
	// collected.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var left []string
		for i, cfg := range c.cfgs {
			if c.nodes[i].ShredPending() {
				left = append(left, fmt.Sprintf("node %d: shred pending", i))
			}
			left = append(left, filesHolding(cfg.MetaDir, wrapped[0])...)
		}
		if shardFiles(c) != 6 {
			left = append(left, fmt.Sprintf("%d shard files", shardFiles(c)))
		}
		if err := c.nodes[2].CreateBucket(ctx, staysC, "weg-akten"); err != nil && !objapi.IsKind(err, objapi.KindBucketOwnedByYou) {
			left = append(left, "bucket name still taken: "+err.Error())
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the deletion: %v", left)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got, _ := get(t, c.nodes[0], staysC, "bleibt-akten", "akte", node.GetOptions{}); !bytes.Equal(got, kept) {
		t.Fatal("the other tenant's object changed")
	}
	// The name can be used again, for a new tenant with a new key and
	// nothing of the old one's.
	if _, err := c.nodes[0].CreateTenant(ctx, "gemeinde-weg", "", ""); err != nil {
		t.Fatal(err)
	}
	if w := c.nodes[0].WrappedTenantKeys("gemeinde-weg"); len(w) != 1 || bytes.Equal(w[0], wrapped[0]) {
		t.Fatal("the new tenant got the old key")
	}
	ts, _ := c.nodes[0].ListTenants(ctx)
	for _, ti := range ts {
		if ti.ID == "gemeinde-weg" && ti.Buckets != 0 {
			t.Fatalf("the new tenant inherited %d buckets", ti.Buckets)
		}
	}
}

// Rotating a tenant's key rewraps every data key under the new version,
// including those of uploads in progress and of a PUT streaming while the
// rotation commits, then retires and shreds the old version; every object
// reads back identical throughout.
func TestRotateTenantKeyRewraps(t *testing.T) {
	c := startNodes(t, 3)
	ctx := context.Background()
	info, _ := c.nodes[0].CreateTenant(ctx, "gemeinde-r", "", "")
	caller := node.Caller{Tenant: "gemeinde-r", AccessKey: info.AccessKey}
	for _, b := range []string{"akten", "fotos"} {
		if err := c.nodes[0].CreateBucket(ctx, caller, b); err != nil {
			t.Fatal(err)
		}
	}
	want := map[[2]string][]byte{}
	for i, size := range []int{0, 100, 20 << 10, 300 << 10} {
		for _, b := range []string{"akten", "fotos"} {
			k := fmt.Sprintf("obj-%d", i)
			want[[2]string{b, k}] = random(size)
			if _, err := c.nodes[i%3].PutObject(ctx, caller, b, k, bytes.NewReader(want[[2]string{b, k}]), node.PutOptions{Size: -1}); err != nil {
				t.Fatal(err)
			}
		}
	}
	up, err := c.nodes[1].CreateMultipartUpload(ctx, caller, "akten", "halb", node.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	part := random(node.MinPartSize)
	p1, err := c.nodes[1].UploadPart(ctx, caller, "akten", "halb", up, 1, bytes.NewReader(part), node.PartOptions{Size: -1})
	if err != nil {
		t.Fatal(err)
	}
	old := c.nodes[0].WrappedTenantKeys("gemeinde-r")
	if len(old) != 1 {
		t.Fatalf("%d key versions", len(old))
	}

	// A PUT whose data key was wrapped by version 1 commits after the
	// rotation.
	slow := random(200 << 10)
	pr, pw := io.Pipe()
	slowDone := make(chan error, 1)
	go func() {
		_, err := c.nodes[2].PutObject(ctx, caller, "fotos", "langsam", pr, node.PutOptions{Size: -1})
		slowDone <- err
	}()
	if _, err := pw.Write(slow[:1000]); err != nil {
		t.Fatal(err)
	}

	rot, err := c.nodes[1].RotateTenantKey(ctx, "gemeinde-r")
	if err != nil || rot.KeyVersion != 2 || len(rot.Retiring) != 1 || rot.Retiring[0] != 1 {
		t.Fatalf("rotate: %+v %v", rot, err)
	}
	pw.Write(slow[1000:])
	pw.Close()
	if err := <-slowDone; err != nil {
		t.Fatalf("a PUT running across the rotation: %v", err)
	}
	want[[2]string{"fotos", "langsam"}] = slow
	if v := c.nodes[0].KeyVersionOf("fotos", "langsam", ""); v != 2 {
		t.Fatalf("the PUT across the rotation committed under key version %d", v)
	}

	// The old version is retired once everything is rewrapped, and its
	// wrapped bytes leave every node's metadata directory.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var left []string
		ts, _ := c.nodes[2].ListTenants(ctx)
		for _, ti := range ts {
			if ti.ID == "gemeinde-r" && (ti.KeyVersion != 2 || len(ti.Retiring) != 0) {
				left = append(left, fmt.Sprintf("tenant: %+v", ti))
			}
		}
		for i, cfg := range c.cfgs {
			if c.nodes[i].ShredPending() {
				left = append(left, fmt.Sprintf("node %d: shred pending", i))
			}
			left = append(left, filesHolding(cfg.MetaDir, old[0])...)
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the rotation: %v", left)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for k := range want {
		if v := c.nodes[0].KeyVersionOf(k[0], k[1], ""); v != 2 {
			t.Errorf("%s/%s: key version %d", k[0], k[1], v)
		}
	}
	if v := c.nodes[0].KeyVersionOf("", "", up); v != 2 {
		t.Errorf("upload: key version %d", v)
	}
	// Everything reads back through every node, and the upload begun
	// under version 1 completes.
	p2 := random(1000)
	i2, err := c.nodes[0].UploadPart(ctx, caller, "akten", "halb", up, 2, bytes.NewReader(p2), node.PartOptions{Size: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.nodes[2].CompleteMultipartUpload(ctx, caller, "akten", "halb", up, []node.CompletePart{{Number: 1, ETag: p1.ETag}, {Number: 2, ETag: i2.ETag}}, node.CompleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want[[2]string{"akten", "halb"}] = append(part, p2...)
	for _, n := range c.nodes {
		for k, data := range want {
			if got, _ := get(t, n, caller, k[0], k[1], node.GetOptions{}); !bytes.Equal(got, data) {
				t.Fatalf("%s/%s differs after the rotation", k[0], k[1])
			}
		}
	}
	if _, err := c.nodes[0].RotateTenantKey(ctx, "gemeinde-nie"); !objapi.IsKind(err, objapi.KindNoSuchTenant) {
		t.Fatalf("rotating a tenant that does not exist: %v", err)
	}
}

// A master key rotation: refused until every node holds the new key, then
// every tenant key and secret is rewrapped, the old wrappings are shredded,
// and the nodes run on the new key alone; a node given only the old key
// refuses to start.
func TestRotateMasterKey(t *testing.T) {
	c := startNodes(t, 3)
	ctx := context.Background()
	info, _ := c.nodes[0].CreateTenant(ctx, "gemeinde-m", "", "")
	caller := node.Caller{Tenant: "gemeinde-m", AccessKey: info.AccessKey}
	if err := c.nodes[0].CreateBucket(ctx, caller, "akten"); err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{"gross": random(300 << 10), "klein": random(100)}
	for k, v := range want {
		if _, err := c.nodes[1].PutObject(ctx, caller, "akten", k, bytes.NewReader(v), node.PutOptions{Size: -1}); err != nil {
			t.Fatal(err)
		}
	}
	oldWrapped := c.nodes[0].WrappedTenantKeys("gemeinde-m")
	oldKey := c.cfgs[0].MasterKey
	newKey, _ := crypt.NewMasterKeyFromMaterial(bytes.Repeat([]byte{7}, 32))
	restart := func(i int, current *crypt.MasterKey, old ...*crypt.MasterKey) (*node.Node, error) {
		t.Helper()
		if c.nodes[i] != nil {
			c.nodes[i].Close()
			c.nodes[i] = nil
		}
		cfg := c.cfgs[i]
		cfg.Bootstrap, cfg.Join = false, ""
		cfg.MasterKey, cfg.OldMasterKeys = current, old
		n, err := node.Start(ctx, cfg)
		if err == nil {
			c.nodes[i] = n
		}
		return n, err
	}
	readAll := func(n *node.Node) {
		t.Helper()
		if _, err := n.LookupAccessKey(ctx, info.AccessKey); err != nil {
			t.Fatalf("access key: %v", err)
		}
		for k, v := range want {
			if got, _ := get(t, n, caller, "akten", k, node.GetOptions{}); !bytes.Equal(got, v) {
				t.Fatalf("%s differs", k)
			}
		}
	}

	if _, err := c.nodes[0].RotateMasterKey(ctx, newKey.ID()); !objapi.IsKind(err, objapi.KindInvalidArgument) {
		t.Fatalf("rotating to a key the node lacks: %v", err)
	}
	if _, err := restart(0, newKey, oldKey); err != nil {
		t.Fatal(err)
	}
	readAll(c.nodes[0])
	if _, err := c.nodes[0].RotateMasterKey(ctx, ""); !objapi.IsKind(err, objapi.KindConflict) || !strings.Contains(err.Error(), "n1, n2") {
		t.Fatalf("rotating while n1 and n2 lack the key: %v", err)
	}
	for _, i := range []int{1, 2} {
		if _, err := restart(i, newKey, oldKey); err != nil {
			t.Fatal(err)
		}
	}
	// Restarted nodes update their records in the background.
	var rot *node.MasterKeyRotation
	var err error
	for range 100 {
		if rot, err = c.nodes[1].RotateMasterKey(ctx, newKey.ID()); !objapi.IsKind(err, objapi.KindConflict) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || rot.MasterKey != newKey.ID() {
		t.Fatalf("rotate: %+v %v", rot, err)
	}
	// A tenant made now is wrapped by the new key at once.
	if _, err := c.nodes[2].CreateTenant(ctx, "gemeinde-neu", "", ""); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var left []string
		st, err := c.nodes[2].ClusterStatus(ctx)
		if err != nil || st.MasterKey != newKey.ID() || st.MasterKeyPending != 0 {
			left = append(left, fmt.Sprintf("status %+v %v", st, err))
		}
		for i, cfg := range c.cfgs {
			if c.nodes[i].ShredPending() {
				left = append(left, fmt.Sprintf("node %d: shred pending", i))
			}
			left = append(left, filesHolding(cfg.MetaDir, oldWrapped[0])...)
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the rotation: %v", left)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The old key can go.
	for i := range c.nodes {
		if _, err := restart(i, newKey); err != nil {
			t.Fatalf("node %d on the new key alone: %v", i, err)
		}
	}
	for _, n := range c.nodes {
		readAll(n)
	}
	if _, err := restart(2, oldKey); err == nil || !strings.Contains(err.Error(), "master key") {
		t.Fatalf("a node given only the old key started: %v", err)
	}
}

// Scrub passes follow the node's clock: none before ScrubEvery has passed
// since the last, one once it has.
func TestScrubScheduleFollowsTheClock(t *testing.T) {
	clock := clockwork.NewFakeClock()
	c := startNodes(t, 1, func(cfg *node.Config) { cfg.ScrubEvery = 7 * 24 * time.Hour; cfg.Clock = clock })
	n := c.nodes[0]
	// The scrub waits on the clock, next to the orphan scan's, the upload
	// expiry's and the periodic shred's tickers.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := clock.BlockUntilContext(ctx, 4); err != nil {
		t.Fatal(err)
	}
	clock.Advance(6 * 24 * time.Hour)
	time.Sleep(300 * time.Millisecond)
	if p := n.Metrics().ScrubPasses; p != 0 {
		t.Fatalf("%d scrub passes after six days of seven", p)
	}
	clock.Advance(2 * 24 * time.Hour)
	deadline := time.Now().Add(20 * time.Second)
	for n.Metrics().ScrubPasses != 1 {
		if time.Now().After(deadline) {
			t.Fatal("no scrub pass a week on")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
