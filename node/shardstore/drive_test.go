package shardstore

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNames(t *testing.T) {
	n := Name{DataID: [16]byte{0xab, 0xcd, 1}, Part: 12, Shard: 5}
	got, err := ParseName(n.String())
	if err != nil || got != n {
		t.Fatalf("round trip: %v %v", got, err)
	}
	for _, bad := range []string{
		"", "../../etc/passwd", "abcd0100000000000000000000000000-1-2/../x",
		"ABCD0100000000000000000000000000-1-2", "abcd0100000000000000000000000000-01-2",
		"abcd0100000000000000000000000000-1-256", "abcd0100000000000000000000000000-1", "abcd-1-2",
		"abcd0100000000000000000000000000--1-2", "zzcd0100000000000000000000000000-1-2",
	} {
		if _, err := ParseName(bad); err == nil {
			t.Errorf("ParseName(%q) accepted", bad)
		}
	}
}

func TestWriteCommitReadAbort(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFormat(dir, Format{Cluster: "c1", Node: "n1", Drive: "n1/0"}); err != nil {
		t.Fatal(err)
	}
	d, err := Open(dir, "n1/0", "n1")
	if err != nil {
		t.Fatal(err)
	}
	n := Name{DataID: [16]byte{1, 2, 3}, Part: 1, Shard: 2}
	w, err := d.Create(n)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("hello, "))
	w.Write([]byte("shard"))
	if _, err := d.OpenRange(n, 0, 1); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("uncommitted shard visible: %v", err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	r, err := d.OpenRange(n, 7, 5)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != "shard" {
		t.Fatalf("range read %q", b)
	}
	// Abort leaves nothing, and a crash's leftovers go at the next Open.
	n2 := Name{DataID: [16]byte{9}, Shard: 0}
	w2, _ := d.Create(n2)
	w2.Write([]byte("x"))
	w2.Abort()
	w3, _ := d.Create(n2)
	w3.Write([]byte("crash"))
	ents, _ := os.ReadDir(filepath.Join(dir, "kcs", "tmp"))
	if len(ents) != 1 {
		t.Fatalf("%d temp files, want the one in progress", len(ents))
	}
	if _, err := Open(dir, "n1/0", "n1"); err != nil {
		t.Fatal(err)
	}
	ents, _ = os.ReadDir(filepath.Join(dir, "kcs", "tmp"))
	if len(ents) != 0 {
		t.Fatalf("temp files survived a restart: %v", ents)
	}
	if err := d.Remove(n); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(n); err != nil {
		t.Fatalf("removing a missing shard: %v", err)
	}
	if _, err := Open(dir, "n2/0", "n2"); !errors.Is(err, ErrWrongDrive) {
		t.Fatalf("drive of another node opened: %v", err)
	}
}

// A directory without a format file is not a drive: Open formats nothing,
// so an unmounted disk's empty mount point is never taken for a drive.
func TestOpenRefusesUnformatted(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir, "n1/0", "n1"); !errors.Is(err, ErrNoFormat) {
		t.Fatalf("unformatted directory opened: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("Open of an unformatted directory created %v", ents)
	}
	missing := filepath.Join(dir, "nicht-da")
	if _, err := Open(missing, "n1/0", "n1"); err == nil {
		t.Fatal("missing directory opened")
	}
	if err := WriteFormat(missing, Format{Node: "n1", Drive: "n1/0"}); err == nil {
		t.Fatal("WriteFormat made up a drive directory")
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing drive directory created: %v", err)
	}
}

// Format 2 round-trips with its cluster; format 1 reads with no cluster;
// an unknown version or garbage is refused.
func TestFormatVersions(t *testing.T) {
	dir := t.TempDir()
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := WriteFormat(dir, Format{Version: 1, Cluster: "c1", Node: "n1", Drive: "n1/0", Created: created}); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFormat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if *f != (Format{Version: 2, Cluster: "c1", Node: "n1", Drive: "n1/0", Created: created}) {
		t.Fatalf("read back %+v", f)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, FormatFile))
	if !strings.Contains(string(raw), `"version":2,"cluster":"c1","node":"n1","drive":"n1/0","created":"2026-03-01T12:00:00Z"`) {
		t.Fatalf("format file %s", raw)
	}

	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, FormatFile), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"version":1,"drive":"n1/0","node":"n1"}`)
	if f, err := ReadFormat(dir); err != nil || *f != (Format{Version: 1, Node: "n1", Drive: "n1/0"}) {
		t.Fatalf("format 1: %+v %v", f, err)
	}
	write(`{"version":1,"cluster":"x","drive":"n1/0","node":"n1"}`)
	if f, err := ReadFormat(dir); err != nil || f.Cluster != "" {
		t.Fatalf("format 1 has no cluster, whatever it holds: %+v %v", f, err)
	}
	for _, bad := range []string{`{"version":3,"cluster":"c1","drive":"n1/0","node":"n1"}`, `{"version":2}`, `kaputt`, ``} {
		write(bad)
		if f, err := ReadFormat(dir); err == nil || errors.Is(err, ErrNoFormat) {
			t.Errorf("%q read as %+v, %v", bad, f, err)
		}
	}
}

// A drive of format 1 is adopted once the node knows its cluster: rewritten
// as format 2 with the cluster id, its shards untouched; a drive of another
// cluster is neither adopted nor changed, and CheckIdentity tells.
func TestStampAdoptsFormat1(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FormatFile), []byte(`{"version":1,"drive":"n1/0","node":"n1"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := Open(dir, "n1/0", "n1")
	if err != nil {
		t.Fatalf("format 1 drive not opened: %v", err)
	}
	n := Name{DataID: [16]byte{7}, Shard: 1}
	w, _ := d.Create(n)
	w.Write([]byte("alt"))
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := d.CheckIdentity("c1"); !errors.Is(err, ErrWrongCluster) {
		t.Fatalf("format 1 drive passes as a drive of c1 before adoption: %v", err)
	}
	now := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	if was, err := d.Stamp("c1", now); err != nil || was != 1 {
		t.Fatalf("adoption: was %d, %v", was, err)
	}
	f, err := ReadFormat(dir)
	if err != nil || *f != (Format{Version: 2, Cluster: "c1", Node: "n1", Drive: "n1/0", Created: now}) {
		t.Fatalf("after adoption %+v %v", f, err)
	}
	if was, err := d.Stamp("c1", now.Add(time.Hour)); err != nil || was != 0 {
		t.Fatalf("second stamp: was %d, %v", was, err)
	}
	if err := d.CheckIdentity("c1"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Size(n); err != nil {
		t.Fatalf("shard gone after adoption: %v", err)
	}
	// Another cluster's drive: refused and left as it is.
	if _, err := d.Stamp("c2", now); !errors.Is(err, ErrWrongCluster) {
		t.Fatalf("stamped over another cluster's id: %v", err)
	}
	if err := d.CheckIdentity("c2"); !errors.Is(err, ErrWrongCluster) {
		t.Fatalf("drive of c1 passes as a drive of c2: %v", err)
	}
	if f, _ := ReadFormat(dir); f.Cluster != "c1" {
		t.Fatalf("format changed to %+v", f)
	}
	if err := d.CheckIdentity(""); err == nil {
		t.Fatal("identity checked without a cluster id")
	}
	// A format not yet stamped (a new node before it entered a cluster) is
	// completed once.
	dir2 := t.TempDir()
	WriteFormat(dir2, Format{Node: "n1", Drive: "n1/1", Created: now})
	d2, err := Open(dir2, "n1/1", "n1")
	if err != nil {
		t.Fatal(err)
	}
	if err := d2.CheckIdentity("c1"); !errors.Is(err, ErrWrongCluster) {
		t.Fatalf("unstamped drive passes: %v", err)
	}
	if was, err := d2.Stamp("c1", now.Add(time.Hour)); err != nil || was != 2 {
		t.Fatalf("stamp: %d %v", was, err)
	}
	if f, _ := ReadFormat(dir2); f.Cluster != "c1" || !f.Created.Equal(now) {
		t.Fatalf("stamped %+v", f)
	}
	// The format file replaced under the running node by another drive's.
	WriteFormat(dir2, Format{Cluster: "c1", Node: "n2", Drive: "n2/1"})
	if err := d2.CheckIdentity("c1"); !errors.Is(err, ErrWrongDrive) {
		t.Fatalf("another node's drive passes: %v", err)
	}
	os.Remove(filepath.Join(dir2, FormatFile))
	if err := d2.CheckIdentity("c1"); !errors.Is(err, ErrNoFormat) {
		t.Fatalf("a drive without format passes: %v", err)
	}
}
