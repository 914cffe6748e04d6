package main

// Drives with identity, end to end: a node refuses to start with a drive
// that is missing, empty where a formatted one is expected, new, left out,
// or another node's or cluster's, saying what to do and creating nothing;
// a replaced empty drive is accepted by --replace-drive and refilled.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// startRefused starts s with extra flags, expects it to exit non-zero
// before it serves, and returns what it logged.
func (c *cluster) startRefused(s *server, extra ...string) string {
	c.t.Helper()
	logPath := filepath.Join(s.dir, "server.log")
	var from int64
	if st, err := os.Stat(logPath); err == nil {
		from = st.Size()
	}
	saved := c.extraArgs
	c.extraArgs = append(slices.Clone(saved), extra...)
	c.start(s, false, "")
	c.extraArgs = saved
	select {
	case <-s.exited:
	case <-time.After(60 * time.Second):
		c.t.Fatalf("%s still running; expected a refusal:\n%s", s.id, c.logTail(s))
	}
	code := s.cmd.ProcessState.ExitCode()
	s.logf.Close()
	s.cmd = nil
	b, _ := os.ReadFile(logPath)
	out := string(b[min(from, int64(len(b))):])
	if code == 0 {
		c.t.Fatalf("%s exited 0; expected a refusal:\n%s", s.id, out)
	}
	if i := strings.LastIndex(out, "Error: "); i >= 0 {
		c.t.Logf("refused: %s", strings.TrimSpace(out[i:]))
	}
	return out
}

// startWith starts s with extra flags and waits until it serves.
func (c *cluster) startWith(s *server, extra ...string) {
	c.t.Helper()
	saved := c.extraArgs
	c.extraArgs = append(slices.Clone(saved), extra...)
	c.start(s, false, "")
	c.extraArgs = saved
	c.waitReady(s)
}

// shardNames lists the shard files on a drive.
func shardNames(t *testing.T, drive string) []string {
	t.Helper()
	var names []string
	filepath.WalkDir(filepath.Join(drive, "kcs", "shards"), func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			names = append(names, e.Name())
		}
		return nil
	})
	slices.Sort(names)
	return names
}

type driveFormat struct {
	Version int    `json:"version"`
	Cluster string `json:"cluster"`
	Node    string `json:"node"`
	Drive   string `json:"drive"`
	Created string `json:"created,omitempty"`
}

func readDriveFormat(t *testing.T, drive string) driveFormat {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(drive, "kcs.format"))
	if err != nil {
		t.Fatal(err)
	}
	var f driveFormat
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return f
}

func writeDriveFormat(t *testing.T, drive, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(drive, "kcs.format"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustRename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

// emptyDir fails the test unless dir exists and holds nothing.
func emptyDir(t *testing.T, dir, why string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 0 {
		t.Fatalf("%s: %s holds %v (%v), want an empty directory", why, dir, ents, err)
	}
}

func mustContain(t *testing.T, what, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Fatalf("%s: the output lacks %q:\n%s", what, w, out)
		}
	}
	if strings.Contains(out, "--bootstrap") {
		t.Fatalf("%s: the output suggests --bootstrap while formatted drives are present:\n%s", what, out)
	}
}

// TestE2EDrivesWithIdentity runs one node, a cluster of its own (RS(1,1)
// over its two drives), through every refusal, the adoption of format-1
// drives, a drive replacement refilled by the scrub, and a drive added.
func TestE2EDrivesWithIdentity(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startCluster(t, 1)
	s := c.servers[0]
	d1, d2 := s.drives[0], s.drives[1]
	f1 := readDriveFormat(t, d1)
	if f1.Version != 2 || f1.Cluster == "" || f1.Node != "n1" || f1.Drive != "n1/0" || f1.Created == "" {
		t.Fatalf("first drive's format %+v", f1)
	}
	cluster := f1.Cluster
	if f2 := readDriveFormat(t, d2); f2.Cluster != cluster || f2.Drive != "n1/1" {
		t.Fatalf("second drive's format %+v", f2)
	}

	ak, sk := c.tenant("gemeinde-laufwerk")
	ctx := context.Background()
	client := goClient(s.endpoint(), ak, sk, &http.Client{Transport: c.transport()})
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("akten")}); err != nil {
		t.Fatal(err)
	}
	objects := map[string][]byte{}
	for i := range 8 {
		_, data := randomFile(t, t.TempDir(), "f", 40<<10+i*1000) // beyond --inline-limit: shards
		key := fmt.Sprintf("akte-%d", i)
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("akten"), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
		objects[key] = data
	}
	check := func() {
		t.Helper()
		for key, data := range objects {
			out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("akten"), Key: aws.String(key)})
			if err != nil {
				t.Fatalf("get %s: %v", key, err)
			}
			b, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil || !bytes.Equal(b, data) {
				t.Fatalf("%s: %v, %d bytes differ", key, err, len(b))
			}
		}
	}
	onD2 := shardNames(t, d2)
	if len(onD2) != len(objects) {
		t.Fatalf("%d shards on the second drive, want %d", len(onD2), len(objects))
	}
	c.stop(s)

	// (a) The first drive missing (not mounted): refused, the path not
	// created.
	mustRename(t, d1, d1+".weg")
	out := c.startRefused(s)
	mustContain(t, "first drive missing", out, d1+" (n1/0) does not exist", "mounted", "--replace-drive")
	if _, err := os.Stat(d1); !os.IsNotExist(err) {
		t.Fatalf("the missing drive's path was created: %v", err)
	}
	// The same with the metadata on that drive (the default --meta-dir):
	// the node has no metadata then, and its other drive is formatted.
	metaOnD1 := filepath.Join(d1, ".kcs-meta")
	mustRename(t, s.metaDir(), filepath.Join(d1+".weg", ".kcs-meta"))
	out = c.startRefused(s, "--meta-dir", metaOnD1)
	mustContain(t, "first drive holding the metadata missing", out, "no metadata at "+metaOnD1,
		d2+" is drive n1/1 of node n1 of cluster "+cluster, d1+" (n1/0) holds the metadata directory and does not exist")
	if _, err := os.Stat(d1); !os.IsNotExist(err) {
		t.Fatalf("the missing drive's path was created: %v", err)
	}
	// Asked to bootstrap anyway: the same refusal, no new cluster.
	out = c.startRefused(s, "--meta-dir", metaOnD1, "--bootstrap")
	if !strings.Contains(out, "no metadata at "+metaOnD1) {
		t.Fatalf("bootstrap over formatted drives:\n%s", out)
	}
	if _, err := os.Stat(d1); !os.IsNotExist(err) {
		t.Fatalf("the missing drive's path was created: %v", err)
	}
	if f := readDriveFormat(t, d2); f.Cluster != cluster {
		t.Fatalf("the second drive changed cluster: %+v", f)
	}
	mustRename(t, filepath.Join(d1+".weg", ".kcs-meta"), s.metaDir())
	mustRename(t, d1+".weg", d1)

	// (b) The second drive empty (a disk not mounted, or replaced):
	// refused, nothing written to it.
	mustRename(t, d2, d2+".alt")
	if err := os.Mkdir(d2, 0o700); err != nil {
		t.Fatal(err)
	}
	out = c.startRefused(s)
	mustContain(t, "empty drive", out, d2+" (n1/1) is empty", "--replace-drive "+d2)
	emptyDir(t, d2, "after the refusal of an empty drive")

	// A new, empty drive beyond the recorded two, and a drive left out.
	d3 := filepath.Join(s.dir, "d3")
	if err := os.Mkdir(d3, 0o700); err != nil {
		t.Fatal(err)
	}
	all := s.drives
	mustRename(t, d2, d2+".leer")
	mustRename(t, d2+".alt", d2)
	s.drives = append(slices.Clone(all), d3)
	out = c.startRefused(s)
	mustContain(t, "new drive", out, d3+" (n1/2) is new", "--add-drive "+d3)
	emptyDir(t, d3, "after the refusal of a new drive")
	s.drives = all[:1]
	out = c.startRefused(s)
	mustContain(t, "drive left out", out, "--drives lists 1", d2+" (n1/1) left out")
	s.drives = []string{d2, d1}
	out = c.startRefused(s)
	mustContain(t, "drives swapped", out, d2+" (n1/0) is this node's drive n1/1, not n1/0", "in the order")
	s.drives = all

	// (c) Another cluster's drive, and another node's: refused, named,
	// untouched.
	fmt2 := `{"version":2,"cluster":"0123456789abcdef0123456789abcdef","node":"n1","drive":"n1/1","created":"2026-01-01T00:00:00Z"}`
	writeDriveFormat(t, d2, fmt2)
	out = c.startRefused(s)
	mustContain(t, "another cluster's drive", out, d2+" (n1/1) belongs to cluster 0123456789abcdef0123456789abcdef", "this node is a member of cluster "+cluster)
	if b, _ := os.ReadFile(filepath.Join(d2, "kcs.format")); string(b) != fmt2 {
		t.Fatalf("another cluster's format changed: %s", b)
	}
	if got := shardNames(t, d2); !slices.Equal(got, onD2) {
		t.Fatalf("shards of the other cluster's drive changed: %d, had %d", len(got), len(onD2))
	}
	writeDriveFormat(t, d2, `{"version":2,"cluster":"`+cluster+`","node":"n7","drive":"n7/1"}`)
	out = c.startRefused(s)
	mustContain(t, "another node's drive", out, d2+" (n1/1) is drive n7/1 of node n7 of cluster "+cluster)

	// Drives of format 1 (written before drives recorded their cluster)
	// are adopted at the next start: format 2 with the cluster's id.
	writeDriveFormat(t, d1, `{"version":1,"drive":"n1/0","node":"n1"}`)
	writeDriveFormat(t, d2, `{"version":1,"drive":"n1/1","node":"n1"}`)
	c.startWith(s)
	for _, d := range all {
		if f := readDriveFormat(t, d); f.Version != 2 || f.Cluster != cluster || f.Created == "" {
			t.Fatalf("%s not adopted: %+v", d, f)
		}
	}
	check()
	if !strings.Contains(c.logTail(s), "drive adopted") {
		t.Errorf("no adoption logged:\n%s", c.logTail(s))
	}
	c.stop(s)

	// The second drive replaced by an empty one, accepted by the explicit
	// step and refilled by the scrub pass it starts.
	mustRename(t, d2, d2+".kaputt")
	mustRename(t, d2+".leer", d2)
	start := time.Now()
	c.startWith(s, "--replace-drive", d2)
	if f := readDriveFormat(t, d2); f.Cluster != cluster || f.Drive != "n1/1" {
		t.Fatalf("replaced drive's format %+v", f)
	}
	for !slices.Equal(shardNames(t, d2), onD2) {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("the replaced drive holds %d of its %d shards after %v:\n%s", len(shardNames(t, d2)), len(onD2), time.Since(start), c.logTail(s))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("replaced drive refilled in %v", time.Since(start).Round(time.Millisecond))
	check()
	// The refilled shards are the shards: with the first drive's gone,
	// every object still reads.
	c.stop(s)
	mustRename(t, d1, d1+".weg")
	if err := os.Mkdir(d1, 0o700); err != nil {
		t.Fatal(err)
	}
	c.startWith(s, "--replace-drive", "n1/0")
	check()

	// The new drive refused above joins by the explicit step, and is the
	// node's from then on.
	c.stop(s)
	emptyDir(t, d3, "before the drive is added")
	s.drives = append(slices.Clone(all), d3)
	c.startWith(s, "--add-drive", d3)
	if f := readDriveFormat(t, d3); f.Cluster != cluster || f.Drive != "n1/2" {
		t.Fatalf("added drive's format %+v", f)
	}
	check()
}
