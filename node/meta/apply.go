package meta

import (
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// applyCommand applies a command's payload (see Payload) and keeps the
// indexes of the streams the metadata references in step with it.
func applyCommand(tx *bolt.Tx, c *Command) (*Result, error) {
	// The record that will hold the streams is named before the command
	// applies: completing an upload drops the upload record that names the
	// object's bucket and key.
	st, _ := c.Payload.(streamStorer)
	var home *DataRef
	if st != nil {
		var err error
		if home, err = st.streamHome(tx); err != nil {
			return nil, err
		}
	}
	r, err := c.Payload.apply(tx)
	if err != nil {
		return nil, err
	}
	if r.Err == nil {
		if err := indexStreams(tx, st, home, r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func fail(k objapi.Kind, format string, args ...any) (*Result, error) {
	return &Result{Err: objapi.Errorf("", k, format, args...)}, nil
}

func put(b *bolt.Bucket, k []byte, v any) error {
	data, err := marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, data)
}

func get(b *bolt.Bucket, k []byte, v any) (bool, error) {
	data := b.Get(k)
	if data == nil {
		return false, nil
	}
	if err := unmarshal(data, v); err != nil {
		return false, fmt.Errorf("meta: record %q: %w", k, err)
	}
	return true, nil
}

// recordsByKey decodes every record of bucket b, by key.
func recordsByKey[T any](b *bolt.Bucket) (map[string]*T, error) {
	out := map[string]*T{}
	err := b.ForEach(func(k, v []byte) error {
		rec := new(T)
		if err := unmarshal(v, rec); err != nil {
			return fmt.Errorf("meta: record %q: %w", k, err)
		}
		out[string(k)] = rec
		return nil
	})
	return out, err
}

// records decodes the records of bucket b that keep accepts (all with a
// nil keep), in key order.
func records[T any](b *bolt.Bucket, keep func(*T) bool) ([]T, error) {
	var out []T
	err := b.ForEach(func(k, v []byte) error {
		var rec T
		if err := unmarshal(v, &rec); err != nil {
			return fmt.Errorf("meta: record %q: %w", k, err)
		}
		if keep == nil || keep(&rec) {
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}
