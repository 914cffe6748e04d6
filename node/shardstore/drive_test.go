package shardstore

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
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
