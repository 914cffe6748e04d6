package node

// Metadata backups: a consistent snapshot of the metadata (the FSM's
// database at one applied index) sealed under the cluster's master key,
// streamed to the admin API's client, and opened again, with the master
// key, to restore a new cluster (meta.RestoreSnapshot). Object keys and
// bucket names are in clear in the metadata; in a backup nothing is but
// the few fields of its header.
//
// Format 1 of a backup file:
//
//	offset  size  field
//	0       4     "KCMB"
//	4       1     format version = 1
//	5       4     L, the length of the header (big-endian)
//	9       L     header: JSON (BackupInfo), in clear
//	9+L     …     encryption stream (crypt, version 1) of the snapshot
//	              (meta.StateSnapshot: "KCSM" 1 ‖ the bbolt file) under the
//	              backup's key; its associated data is bytes [0, 9+L)
//
// The backup's key is random, wrapped by the master key for the cluster
// and the backup's id (crypt.BackupOwner) and kept in the header. The
// header is authenticated as the stream's associated data: a header
// edited, or a stream moved under another header, fails to decrypt.

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/kommunal-cloud/kcs/node/crypt"
	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/objapi"
)

const (
	backupMagic   = "KCMB"
	backupVersion = 1
	// maxBackupHeader bounds a header a reader accepts: it is some 400
	// bytes of JSON.
	maxBackupHeader = 64 << 10
)

// BackupInfo is a backup's header: what it holds, readable without the
// master key.
type BackupInfo struct {
	ID        string    `json:"id"`         // random, new for every backup
	Cluster   string    `json:"cluster"`    // the cluster's id
	MasterKey string    `json:"master_key"` // the master key that wraps Key
	Index     uint64    `json:"index"`      // the last Raft log entry the metadata holds
	Created   time.Time `json:"created"`
	Node      string    `json:"node"`    // the node that took it
	Version   string    `json:"version"` // that node's kcs binary
	Bytes     int64     `json:"bytes"`   // of the snapshot, in plaintext
	Key       []byte    `json:"key"`     // the backup's key, wrapped by the master key
}

// MetaBackup is a backup being taken: a snapshot of the metadata held
// open until Close.
type MetaBackup struct {
	Info   BackupInfo
	prefix []byte // magic, version, header length and header
	snap   *meta.StateSnapshot
	pr     *io.PipeReader
	pw     *io.PipeWriter
	enc    *crypt.EncryptReader
}

// MetaBackup takes a backup of the metadata: first a linearizable read,
// so that it holds every write acknowledged before it was asked for, then
// a snapshot of the state at one applied index, sealed under the cluster's
// current master key. Write it with WriteTo, then Close it.
func (n *Node) MetaBackup(ctx context.Context) (*MetaBackup, error) {
	if err := n.cons.Linearize(ctx); err != nil {
		return nil, fmt.Errorf("node: backup: %w", err)
	}
	snap, err := n.store.FSM.OpenStateSnapshot()
	if err != nil {
		return nil, err
	}
	b, err := n.sealBackup(snap)
	if err != nil {
		snap.Close()
		return nil, err
	}
	n.log.Info("metadata backup started", "id", b.Info.ID, "index", b.Info.Index, "bytes", b.Size())
	return b, nil
}

func (n *Node) sealBackup(snap *meta.StateSnapshot) (*MetaBackup, error) {
	if snap.Cluster() == "" {
		return nil, objapi.Errorf("backup", objapi.KindUnavailable, "the cluster is not initialized yet")
	}
	// Sealed under the master key current in the state it holds.
	mk, mkID := n.keys.First(), snap.MasterKey()
	if mkID != "" {
		var ok bool
		if mk, ok = n.keys.Key(mkID); !ok {
			return nil, objapi.Errorf("backup", objapi.KindUnavailable, "this node lacks the cluster's master key %s", mkID)
		}
	}
	info := BackupInfo{ID: newID(), Cluster: snap.Cluster(), MasterKey: mk.ID(), Index: snap.Applied(),
		Created: time.Now().UTC(), Node: n.cfg.ID, Version: meta.BinaryVersion, Bytes: snap.Size()}
	dk, wrapped, err := mk.NewBackupKey(crypt.BackupOwner(info.Cluster, info.ID))
	if err != nil {
		return nil, fmt.Errorf("node: backup key: %w", err)
	}
	info.Key = wrapped
	hdr, err := json.Marshal(info)
	if err != nil {
		return nil, err
	}
	prefix := append([]byte(backupMagic), backupVersion)
	prefix = binary.BigEndian.AppendUint32(prefix, uint32(len(hdr)))
	prefix = append(prefix, hdr...)
	pr, pw := io.Pipe()
	enc, err := crypt.NewEncryptReader(pr, dk, prefix, crypt.EncryptOptions{})
	if err != nil {
		return nil, err
	}
	return &MetaBackup{Info: info, prefix: prefix, snap: snap, pr: pr, pw: pw, enc: enc}, nil
}

// Size is the number of bytes WriteTo writes: the backup file's size.
func (b *MetaBackup) Size() int64 {
	h := b.enc.Header()
	return int64(len(b.prefix)) + h.CiphertextSize(b.snap.Size())
}

// WriteTo writes the backup file to w.
func (b *MetaBackup) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(b.prefix)
	written := int64(n)
	if err != nil {
		return written, err
	}
	done := make(chan error, 1)
	go func() {
		// The snapshot streams into the pipe the encryption reads.
		bw := bufio.NewWriterSize(b.pw, 1<<20)
		_, err := b.snap.WriteTo(bw)
		if err == nil {
			err = bw.Flush()
		}
		b.pw.CloseWithError(err)
		done <- err
	}()
	m, err := b.enc.WriteTo(w)
	written += m
	// A failed write to w leaves the snapshot's writer blocked on the
	// pipe: release it.
	b.pr.CloseWithError(errors.Join(err, io.ErrClosedPipe))
	if serr := <-done; err == nil && serr != nil {
		err = serr
	}
	if err != nil {
		return written, fmt.Errorf("node: backup: %w", err)
	}
	return written, nil
}

// Close releases the snapshot.
func (b *MetaBackup) Close() error {
	b.pr.Close()
	return b.snap.Close()
}

// ReadBackupInfo reads a backup file's header: what it holds, without
// the master key. r is left at the start of the sealed snapshot.
func ReadBackupInfo(r io.Reader) (*BackupInfo, []byte, error) {
	fixed := make([]byte, len(backupMagic)+5)
	if _, err := io.ReadFull(r, fixed); err != nil {
		return nil, nil, fmt.Errorf("node: not a kcs metadata backup (%v)", err)
	}
	if string(fixed[:4]) != backupMagic {
		return nil, nil, errors.New("node: not a kcs metadata backup (no KCMB magic)")
	}
	if fixed[4] != backupVersion {
		return nil, nil, fmt.Errorf("node: metadata backup of format %d; this kcs reads format %d", fixed[4], backupVersion)
	}
	l := binary.BigEndian.Uint32(fixed[5:])
	if l == 0 || l > maxBackupHeader {
		return nil, nil, fmt.Errorf("node: metadata backup with a header of %d bytes: damaged", l)
	}
	prefix := make([]byte, len(fixed)+int(l))
	copy(prefix, fixed)
	if _, err := io.ReadFull(r, prefix[len(fixed):]); err != nil {
		return nil, nil, fmt.Errorf("node: metadata backup header cut short: %w", err)
	}
	var info BackupInfo
	if err := json.Unmarshal(prefix[len(fixed):], &info); err != nil {
		return nil, nil, fmt.Errorf("node: metadata backup header: %w", err)
	}
	if info.Cluster == "" || info.ID == "" || len(info.Key) == 0 || info.Bytes <= 0 {
		return nil, nil, errors.New("node: metadata backup header incomplete: damaged")
	}
	return &info, prefix, nil
}

// OpenMetaBackup reads a backup's header from r and unwraps its key with
// the master keys given, and returns the header and a reader of the
// snapshot it holds (of info.Bytes bytes). The reader fails, having
// released only authenticated bytes, if anything of the file was changed,
// cut short or extended.
func OpenMetaBackup(r io.Reader, masterKeys []*crypt.MasterKey) (*BackupInfo, io.Reader, error) {
	info, prefix, err := ReadBackupInfo(r)
	if err != nil {
		return nil, nil, err
	}
	ring, err := crypt.NewKeyring(masterKeys...)
	if err != nil {
		return nil, nil, err
	}
	dk, err := ring.UnwrapBackupKey(info.Key, crypt.BackupOwner(info.Cluster, info.ID))
	if err != nil {
		return nil, nil, fmt.Errorf("node: the backup is sealed under master key %s; the keys given (%v) do not open it: %w", info.MasterKey, ring.IDs(), err)
	}
	return info, crypt.NewDecryptReader(r, dk, prefix), nil
}

// RestoreMetaBackup makes dir the metadata directory of node self in a
// new cluster from the backup r: the metadata as the backup holds it, and
// a Raft configuration of peers (self among them), every one of which is
// restored from the same backup with the same peers (meta.RestoreSnapshot).
// dir must hold no metadata; on an error nothing stays in it.
func RestoreMetaBackup(r io.Reader, masterKeys []*crypt.MasterKey, dir, self string, peers []RaftPeer, log *slog.Logger) (*BackupInfo, *RaftState, error) {
	info, snap, err := OpenMetaBackup(bufio.NewReaderSize(r, 1<<20), masterKeys)
	if err != nil {
		return nil, nil, err
	}
	st, err := meta.RestoreSnapshot(dir, self, peers, info.Index, info.Bytes, snap, log)
	if err != nil {
		return info, nil, err
	}
	if st.Cluster != info.Cluster {
		// Cannot happen to a backup that decrypted: the cluster id is
		// bound to its key.
		return info, st, fmt.Errorf("node: the backup's header names cluster %s, its metadata %s", info.Cluster, st.Cluster)
	}
	return info, st, nil
}
