package shardstore

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing a range of f to disk
// without waiting for it (sync_file_range with SYNC_FILE_RANGE_WRITE). It is
// an optimisation only: durability still comes from Commit's fsync, so an
// error is ignored.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
