// Package shardstore keeps shard streams as files on a node's drives. A
// shard is written to a temporary file, fsynced and renamed into place
// (Writer.Commit), so a file under its final name is always complete and
// durable; a failed write leaves only a temporary file, removed by Abort or
// at the next start. Shards are named by random data ids, never by object
// keys, so no client-chosen string ever becomes a path.
package shardstore

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kommunal-cloud/kcs/node/fsutil"
)

// FormatVersion is the on-disk layout version of a drive.
//
//	<drive>/kcs.format           JSON {"version":1,"drive":"<id>","node":"<node>"}
//	<drive>/kcs/tmp/             temporary files of writes in progress
//	<drive>/kcs/shards/ab/cd/abcd…-<part>-<shard>   committed shards
const FormatVersion = 1

// Name identifies a shard: the data id of the stream it belongs to (an
// object version or a multipart part), the part number (0 for a plain
// object) and the shard index.
type Name struct {
	DataID [16]byte
	Part   uint32
	Shard  uint8
}

// String is the name's file name and its form on the wire.
func (n Name) String() string {
	return hex.EncodeToString(n.DataID[:]) + "-" + strconv.FormatUint(uint64(n.Part), 10) + "-" + strconv.Itoa(int(n.Shard))
}

// ParseName parses a name from the wire. It accepts only the exact form
// String produces, so no path element can be smuggled in.
func ParseName(s string) (Name, error) {
	var n Name
	parts := strings.Split(s, "-")
	if len(parts) != 3 || len(parts[0]) != 32 {
		return n, fmt.Errorf("shardstore: bad shard name %q", s)
	}
	if _, err := hex.Decode(n.DataID[:], []byte(parts[0])); err != nil || strings.ToLower(parts[0]) != parts[0] {
		return n, fmt.Errorf("shardstore: bad shard name %q", s)
	}
	part, err1 := strconv.ParseUint(parts[1], 10, 32)
	shard, err2 := strconv.ParseUint(parts[2], 10, 8)
	if err1 != nil || err2 != nil || strconv.FormatUint(part, 10) != parts[1] || strconv.FormatUint(shard, 10) != parts[2] {
		return n, fmt.Errorf("shardstore: bad shard name %q", s)
	}
	n.Part, n.Shard = uint32(part), uint8(shard)
	return n, nil
}

// Drive is one directory of shards.
type Drive struct {
	ID   string
	Path string
}

type formatFile struct {
	Version int    `json:"version"`
	Drive   string `json:"drive"`
	Node    string `json:"node"`
}

// ErrWrongDrive is returned when a directory already belongs to another
// drive or node: a drive plugged into the wrong node must not be written.
var ErrWrongDrive = errors.New("shardstore: directory belongs to another drive")

// Open prepares path as drive id of node: it writes the format file the
// first time, checks it afterwards, and removes temporary files that
// writes interrupted by a crash left behind.
func Open(path, id, node string) (*Drive, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	d := &Drive{ID: id, Path: abs}
	if err := os.MkdirAll(d.dir("tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("shardstore: %w", err)
	}
	if err := os.MkdirAll(d.dir("shards"), 0o700); err != nil {
		return nil, fmt.Errorf("shardstore: %w", err)
	}
	fpath := filepath.Join(abs, "kcs.format")
	raw, err := os.ReadFile(fpath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		b, _ := json.Marshal(formatFile{Version: FormatVersion, Drive: id, Node: node})
		if err := fsutil.WriteFile(fpath, b, 0o600); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("shardstore: %w", err)
	default:
		var f formatFile
		if err := json.Unmarshal(raw, &f); err != nil || f.Version != FormatVersion {
			return nil, fmt.Errorf("shardstore: %s: unreadable or unknown format: %s", fpath, raw)
		}
		if f.Drive != id || f.Node != node {
			return nil, fmt.Errorf("%w: %s is drive %q of node %q, not %q of %q", ErrWrongDrive, abs, f.Drive, f.Node, id, node)
		}
	}
	if err := d.cleanTmp(); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *Drive) dir(elem ...string) string {
	return filepath.Join(append([]string{d.Path, "kcs"}, elem...)...)
}

func (d *Drive) path(n Name) string {
	s := n.String()
	return d.dir("shards", s[0:2], s[2:4], s)
}

// cleanTmp removes what interrupted writes left. Nothing references a
// temporary file: a shard counts only once renamed into place.
func (d *Drive) cleanTmp() error {
	ents, err := os.ReadDir(d.dir("tmp"))
	if err != nil {
		return fmt.Errorf("shardstore: %w", err)
	}
	for _, e := range ents {
		os.Remove(d.dir("tmp", e.Name()))
	}
	return nil
}

// Create starts writing shard n. The caller must Commit or Abort.
func (d *Drive) Create(n Name) (*Writer, error) {
	f, err := os.CreateTemp(d.dir("tmp"), n.String()+".*")
	if err != nil {
		return nil, fmt.Errorf("shardstore: create %s on %s: %w", n, d.ID, err)
	}
	return &Writer{d: d, n: n, f: f}, nil
}

// OpenRange returns a reader of bytes [off, off+length) of shard n. A
// missing shard is an error wrapping os.ErrNotExist.
func (d *Drive) OpenRange(n Name, off, length int64) (io.ReadCloser, error) {
	f, err := os.Open(d.path(n))
	if err != nil {
		return nil, fmt.Errorf("shardstore: open %s on %s: %w", n, d.ID, err)
	}
	return &sectionCloser{SectionReader: io.NewSectionReader(f, off, length), f: f}, nil
}

// Size returns the size of shard n.
func (d *Drive) Size(n Name) (int64, error) {
	st, err := os.Stat(d.path(n))
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// Remove deletes shard n; a shard that is not there is not an error.
func (d *Drive) Remove(n Name) error {
	err := os.Remove(d.path(n))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("shardstore: remove %s on %s: %w", n, d.ID, err)
	}
	return nil
}

// Walk calls fn for every committed shard on the drive with its file's
// modification time, in no particular order; files that are not shards
// are skipped.
func (d *Drive) Walk(fn func(n Name, modified time.Time) error) error {
	return filepath.WalkDir(d.dir("shards"), func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		n, perr := ParseName(e.Name())
		if perr != nil {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		return fn(n, info.ModTime())
	})
}

// Usage reports the drive's filesystem size and free space in bytes.
func (d *Drive) Usage() (total, free uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(d.Path, &st); err != nil {
		return 0, 0, err
	}
	return st.Blocks * uint64(st.Bsize), st.Bavail * uint64(st.Bsize), nil
}

type sectionCloser struct {
	*io.SectionReader
	f *os.File
}

func (s *sectionCloser) Close() error { return s.f.Close() }

// Writer writes one shard. Writes go to a temporary file; Commit makes the
// shard durable under its name, Abort removes every trace of it.
type Writer struct {
	d       *Drive
	n       Name
	f       *os.File
	done    bool
	written int64 // bytes written
	flushed int64 // bytes handed to writeback
}

// writebackEvery is how much a writer lets pile up in the page cache before
// it starts the kernel writing it out. Without it, Commit's fsync would
// find a whole large shard dirty and the disk would idle while the object
// is coded and then be flooded; with it, disk writes overlap the coding and
// the final fsync has little left to do.
const writebackEvery = 8 << 20

func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.written += int64(n)
	if w.written-w.flushed >= writebackEvery {
		startWriteback(w.f, w.flushed, w.written-w.flushed)
		w.flushed = w.written
	}
	return n, err
}

// Commit fsyncs the file, renames it into place and fsyncs the directory,
// so the shard survives a crash once Commit returns.
func (w *Writer) Commit() error {
	if w.done {
		return errors.New("shardstore: writer already finished")
	}
	w.done = true
	tmp := w.f.Name()
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		os.Remove(tmp)
		return fmt.Errorf("shardstore: sync %s: %w", w.n, err)
	}
	if err := w.f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("shardstore: close %s: %w", w.n, err)
	}
	final := w.d.path(w.n)
	dir := filepath.Dir(final)
	if err := os.Rename(tmp, final); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			os.Remove(tmp)
			return fmt.Errorf("shardstore: rename %s: %w", w.n, err)
		}
		if err := fsutil.MkdirAll(dir, 0o700); err != nil {
			os.Remove(tmp)
			return err
		}
		if err := os.Rename(tmp, final); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("shardstore: rename %s: %w", w.n, err)
		}
	}
	return fsutil.SyncDir(dir)
}

// Abort discards the shard. It is safe after Commit (it does nothing then).
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.f.Close()
	os.Remove(w.f.Name())
}
