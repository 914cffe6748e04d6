package erasure

import (
	"errors"
	"fmt"
)

var (
	// ErrCorrupt marks data that failed verification: a bad frame header, a
	// wrong length or a hash mismatch. Check with errors.Is.
	ErrCorrupt = errors.New("erasure: corrupt shard data")

	// ErrTooManyBad is returned when more than m shards of a stripe are
	// missing or corrupt, so the data cannot be reconstructed from what is
	// stored. No byte of that stripe is written.
	ErrTooManyBad = errors.New("erasure: too many missing or corrupt shards")

	// ErrTooFewReachable is returned when a stripe lacks k good blocks
	// because shards could not be reached (sources that are nil or failed
	// with ErrShardUnreachable), while no more than m are known damaged: the
	// data is intact and a later try may read it. No byte of that stripe is
	// written.
	ErrTooFewReachable = errors.New("erasure: too few shards reachable")

	// ErrShardUnreachable is what a ShardSource wraps into its errors when
	// the shard could not be reached (its node is down or did not answer),
	// as opposed to found missing or corrupt.
	ErrShardUnreachable = errors.New("erasure: shard unreachable")

	// ErrTooManyFailed is returned by Encode when more than m shard writers
	// failed, so what was written could not be read back.
	ErrTooManyFailed = errors.New("erasure: too many shard writers failed")
)

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// ShardError says what went wrong with one shard.
type ShardError struct {
	Shard int
	Err   error
}

func (e ShardError) Error() string { return fmt.Sprintf("shard %d: %v", e.Shard, e.Err) }
func (e ShardError) Unwrap() error { return e.Err }
