package meta

import (
	"bytes"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// loadDump writes the database a dumpTx listing describes (the format of
// testdata/golden/state*.txt; lines starting with # are comments) to path.
func loadDump(t *testing.T, dump, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		for line := range strings.Lines(dump) {
			line = strings.TrimSuffix(line, "\n")
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			var path [][]byte
			var value []byte
			isBucket := false
			for rest := line; ; {
				q, err := strconv.QuotedPrefix(rest)
				if err != nil {
					t.Fatalf("%q: %v", line, err)
				}
				seg, _ := strconv.Unquote(q)
				path = append(path, []byte(seg))
				rest = rest[len(q):]
				if rest == "/" {
					isBucket = true
					break
				}
				if v, ok := strings.CutPrefix(rest, " = "); ok {
					if value, err = hex.DecodeString(v); err != nil {
						t.Fatalf("%q: %v", line, err)
					}
					if value == nil {
						value = []byte{}
					}
					break
				}
				var ok bool
				if rest, ok = strings.CutPrefix(rest, "/"); !ok {
					t.Fatalf("%q: cannot parse", line)
				}
			}
			parent := tx.Bucket(path[0])
			if len(path) == 1 {
				if _, err := tx.CreateBucket(path[0]); err != nil {
					return err
				}
				continue
			}
			for _, seg := range path[1 : len(path)-1] {
				parent = parent.Bucket(seg)
			}
			last := path[len(path)-1]
			if isBucket {
				if _, err := parent.CreateBucket(last); err != nil {
					return err
				}
			} else if err := parent.Put(last, value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func readDump(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goldenDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// withoutComments drops a dump's comment lines.
func withoutComments(dump string) string {
	var b strings.Builder
	for line := range strings.Lines(dump) {
		if !strings.HasPrefix(line, "#") {
			b.WriteString(line)
		}
	}
	return b.String()
}

func dumpString(t *testing.T, f *FSM) string {
	t.Helper()
	var b strings.Builder
	for _, l := range dumpFSM(t, f) {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// A database of schema 1, 2 or 3 — the state a binary of that schema left
// after TestGoldenState's script — is migrated when it is opened, to exactly
// the bytes this binary leaves after the same script: a member upgraded in
// place and a member that applied every entry with the new binary hold the
// same state, and go on applying the same entries alike.
func TestMigratedStateEqualsApplied(t *testing.T) {
	for _, fixture := range []string{"state-schema1.txt", "state-schema2.txt", "state-schema3.txt"} {
		t.Run(fixture, func(t *testing.T) { testMigratedStateEqualsApplied(t, fixture) })
	}
}

func testMigratedStateEqualsApplied(t *testing.T, fixture string) {
	path := filepath.Join(t.TempDir(), "fsm.db")
	loadDump(t, readDump(t, fixture), path)
	// The loaded file is the older state, byte for byte.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	var loaded []string
	db.View(func(tx *bolt.Tx) error { loaded = dumpTx(tx); return nil })
	db.Close()
	if got := strings.Join(loaded, "\n") + "\n"; got != withoutComments(readDump(t, fixture)) {
		t.Fatalf("the fixture %s does not load as it is written", fixture)
	}

	f, err := OpenFSM(path, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, want := dumpString(t, f), readDump(t, "state.txt"); got != want {
		t.Fatalf("the migrated state differs from the applied one:\n%s", lineDiff(want, got))
	}
	// Opening it again changes nothing.
	f.Close()
	f, err = OpenFSM(path, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := dumpString(t, f), readDump(t, "state.txt"); got != want {
		t.Fatalf("opened again:\n%s", lineDiff(want, got))
	}
	f.Close()
}

// A snapshot from a leader that still runs a binary of schema 1, 2 or 3 (a rolling
// upgrade) is migrated as it is installed.
func TestRestoreMigratesAnOlderSnapshot(t *testing.T) {
	for _, fixture := range []string{"state-schema1.txt", "state-schema2.txt", "state-schema3.txt"} {
		t.Run(fixture, func(t *testing.T) { testRestoreMigratesAnOlderSnapshot(t, fixture) })
	}
}

func testRestoreMigratesAnOlderSnapshot(t *testing.T, fixture string) {
	dir := t.TempDir()
	old := filepath.Join(dir, "old.db")
	loadDump(t, readDump(t, fixture), old)
	file, err := os.ReadFile(old)
	if err != nil {
		t.Fatal(err)
	}
	h := newFSMHarness(t)
	snap := io.NopCloser(io.MultiReader(bytes.NewReader(snapshotMagic), bytes.NewReader(file)))
	if err := h.f.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if got, want := dumpString(t, h.f), readDump(t, "state.txt"); got != want {
		t.Fatalf("the restored state differs from the applied one:\n%s", lineDiff(want, got))
	}
	h.f.View(func(r *Reader) error {
		rules, err := r.BucketCORS("b")
		if err != nil || len(rules) != 1 || rules[0].ID != "r" {
			t.Errorf("CORS after the migration: %+v, %v", rules, err)
		}
		bs, err := r.BucketsOf("t")
		if err != nil || len(bs) != 1 || bs[0].Name != "b" || bs[0].CORS != nil {
			t.Errorf("buckets of t: %+v, %v", bs, err)
		}
		return nil
	})
}

// A database of a schema this binary does not know (a newer binary wrote
// it) is refused with a message that says so, and left as it is.
func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fsm.db")
	f, err := OpenFSM(path, quiet)
	if err != nil {
		t.Fatal(err)
	}
	damage(t, f, func(tx *bolt.Tx) error { return tx.Bucket(bSys).Put(kSchema, u32(SchemaVersion+1)) })
	f.Close()
	_, err = OpenFSM(path, quiet)
	if err == nil || !strings.Contains(err.Error(), "database schema 6, this binary reads schemas 1 to 5") ||
		!strings.Contains(err.Error(), "newer kcs binary") {
		t.Fatalf("opening a schema 6 database: %v", err)
	}
}

// lineDiff lists the lines only one of two dumps has.
func lineDiff(want, got string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for l := range strings.Lines(s) {
			m[l] = true
		}
		return m
	}
	w, g := in(want), in(got)
	var b strings.Builder
	for l := range strings.Lines(want) {
		if !g[l] {
			b.WriteString("- " + l)
		}
	}
	for l := range strings.Lines(got) {
		if !w[l] {
			b.WriteString("+ " + l)
		}
	}
	return b.String()
}
