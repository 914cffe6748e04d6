package erasure

import (
	"errors"
	"fmt"
)

var (
	// ErrCorrupt marks data that failed verification: a bad frame header, a
	// wrong length or a hash mismatch. Check with errors.Is.
	ErrCorrupt = errors.New("erasure: corrupt shard data")

	// ErrTooManyBad is returned when a stripe has more than m unusable shards,
	// so the data cannot be reconstructed. No byte of that stripe is written.
	ErrTooManyBad = errors.New("erasure: too many missing or corrupt shards")

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
