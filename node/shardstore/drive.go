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

// FormatVersion is the on-disk layout version of a drive that this
// binary writes.
//
//	<drive>/kcs.format           JSON {"version":2,"cluster":"<cluster id>","node":"<node>","drive":"<node>/<index>","created":"<RFC 3339>"}
//	<drive>/kcs/tmp/             temporary files of writes in progress
//	<drive>/kcs/shards/ab/cd/abcd…-<part>-<shard>   committed shards
//
// Format 1 ({"version":1,"drive":…,"node":…}) named no cluster: a drive
// of one cluster could be taken for a drive of another, whose orphan scan
// would then delete its shards as unreferenced. Format 2 names the
// cluster. A node adopts its format-1 drives (Drive.Stamp) once it knows
// its cluster id, at the first start after the upgrade; "cluster" is empty
// only between a new node's formatting of its drives and its entry into a
// cluster (bootstrap or join), which stamps them.
const FormatVersion = 2

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
	node string
}

// Format is a drive's identity, kept in <drive>/kcs.format: which cluster,
// node and drive of that node it is. A node checks it at every start, so a
// drive moved to another node, another cluster's drive, or an empty
// directory where a formatted drive should be (a disk not mounted) is
// refused instead of being written to.
type Format struct {
	Version int    `json:"version"`
	Cluster string `json:"cluster"` // empty: formatted by a node not yet in a cluster (format 1: unknown)
	Node    string `json:"node"`
	Drive   string `json:"drive"`
	// Created is when the drive was formatted (or, for a drive of format
	// 1, adopted as format 2). Zero in format 1.
	Created time.Time `json:"created,omitzero"`
}

// FormatFile is the name of a drive's format file.
const FormatFile = "kcs.format"

// ErrNoFormat is returned for a directory without a format file: an empty
// or new drive, or the mount point of a disk that is not mounted.
var ErrNoFormat = errors.New("shardstore: no " + FormatFile)

// ErrWrongDrive is returned when a directory already belongs to another
// drive or node: a drive plugged into the wrong node must not be written.
var ErrWrongDrive = errors.New("shardstore: directory belongs to another drive")

// ErrWrongCluster is returned when a drive's format names another cluster.
var ErrWrongCluster = errors.New("shardstore: drive belongs to another cluster")

// ReadFormat reads the format file of the drive at path. A directory
// without one gives ErrNoFormat; a format of a version this binary does
// not know, or one it cannot parse, is an error too.
func ReadFormat(path string) (*Format, error) {
	fpath := filepath.Join(path, FormatFile)
	raw, err := os.ReadFile(fpath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s", ErrNoFormat, path)
	}
	if err != nil {
		return nil, fmt.Errorf("shardstore: %w", err)
	}
	var f Format
	if err := json.Unmarshal(raw, &f); err != nil || f.Node == "" || f.Drive == "" {
		return nil, fmt.Errorf("shardstore: %s is unreadable: %q", fpath, raw)
	}
	if f.Version != 1 && f.Version != FormatVersion {
		return nil, fmt.Errorf("shardstore: %s is of format %d, which this kcs (format %d) does not know: was the drive used by a newer kcs?", fpath, f.Version, FormatVersion)
	}
	if f.Version == 1 {
		f.Cluster, f.Created = "", time.Time{} // format 1 had neither
	}
	return &f, nil
}

// WriteFormat writes f as the format file of the drive at path, as format
// FormatVersion, atomically and durably. The directory must exist: kcs
// never makes up a drive's directory where the caller did not decide to.
func WriteFormat(path string, f Format) error {
	if st, err := os.Stat(path); err != nil {
		return fmt.Errorf("shardstore: %w", err)
	} else if !st.IsDir() {
		return fmt.Errorf("shardstore: %s is not a directory", path)
	}
	f.Version = FormatVersion
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	if err := fsutil.WriteFile(filepath.Join(path, FormatFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("shardstore: %w", err)
	}
	return nil
}

// Open opens the formatted drive at path as drive id of node: its format
// file must name them (any cluster; see Stamp and CheckIdentity). It
// creates the shard directories if missing and removes the temporary files
// that writes interrupted by a crash left behind. It formats nothing: an
// unformatted directory gives ErrNoFormat (see WriteFormat).
func Open(path, id, node string) (*Drive, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	f, err := ReadFormat(abs)
	if err != nil {
		return nil, err
	}
	if f.Drive != id || f.Node != node {
		return nil, fmt.Errorf("%w: %s is drive %q of node %q, not %q of %q", ErrWrongDrive, abs, f.Drive, f.Node, id, node)
	}
	d := &Drive{ID: id, Path: abs, node: node}
	if err := os.MkdirAll(d.dir("tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("shardstore: %w", err)
	}
	if err := os.MkdirAll(d.dir("shards"), 0o700); err != nil {
		return nil, fmt.Errorf("shardstore: %w", err)
	}
	if err := d.cleanTmp(); err != nil {
		return nil, err
	}
	return d, nil
}

// Stamp records cluster in the drive's format once the node knows its
// cluster id: it adopts a drive of format 1 (rewriting it as format 2) and
// completes a format 2 written before the node was in a cluster. It
// returns the format's version before (0: nothing changed). A drive whose
// format names another cluster is not touched: ErrWrongCluster.
func (d *Drive) Stamp(cluster string, now time.Time) (was int, err error) {
	if cluster == "" {
		return 0, errors.New("shardstore: stamp: no cluster id")
	}
	f, err := ReadFormat(d.Path)
	if err != nil {
		return 0, err
	}
	if f.Drive != d.ID || f.Node != d.node {
		return 0, fmt.Errorf("%w: %s is drive %q of node %q now, not %q of %q", ErrWrongDrive, d.Path, f.Drive, f.Node, d.ID, d.node)
	}
	if f.Cluster != "" && f.Cluster != cluster {
		return 0, fmt.Errorf("%w: %s is drive %s of cluster %s, not of cluster %s", ErrWrongCluster, d.Path, f.Drive, f.Cluster, cluster)
	}
	if f.Version == FormatVersion && f.Cluster == cluster {
		return 0, nil
	}
	was = f.Version
	nf := *f
	nf.Cluster = cluster
	if nf.Created.IsZero() {
		nf.Created = now.UTC()
	}
	return was, WriteFormat(d.Path, nf)
}

// CheckIdentity reads the drive's format file again and checks that it
// still names this drive of this node in cluster: work that deletes shards
// (the orphan scan) calls it first, so that it never deletes on a drive
// that is not, or not any more, this node's in this cluster (another
// cluster's disk mounted there meanwhile, or a format not yet stamped).
func (d *Drive) CheckIdentity(cluster string) error {
	f, err := ReadFormat(d.Path)
	if err != nil {
		return err
	}
	if f.Drive != d.ID || f.Node != d.node {
		return fmt.Errorf("%w: %s is drive %q of node %q, not %q of %q", ErrWrongDrive, d.Path, f.Drive, f.Node, d.ID, d.node)
	}
	if cluster == "" || f.Cluster != cluster {
		return fmt.Errorf("%w: %s names cluster %q, not %q", ErrWrongCluster, d.Path, f.Cluster, cluster)
	}
	return nil
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
