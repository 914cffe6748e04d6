package meta

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Migrations of the database between schemas (see SchemaVersion). A
// migration runs in the transaction that opens the database, so it is
// whole or not at all, and it only derives: what it writes follows from
// the records of the older schema alone. A member that migrated the state
// an older binary wrote thus holds the same bytes as one that applied the
// same entries with this binary (TestMigratedStateEqualsApplied), and
// members of both releases go on applying the same entries during a
// rolling upgrade.
//
// Databases reach a migration in two ways: a node restarted with a newer
// binary opens its own, and a node of the newer binary installs a snapshot
// that a leader of the older one sent (Restore opens it like any other).

// migration counts what a migration moved, for the log.
type migration struct{ buckets, cors, uploads int }

// migrate1to2 takes a database from schema 1 to 2: every bucket enters
// the tenantbuckets index, CORS rules leave the bucket records for
// bucketcfg, and every upload with parts gets its running totals in
// uploadusage.
func migrate1to2(tx *bolt.Tx) (*migration, error) {
	m := &migration{}
	bs, err := records[Bucket](tx.Bucket(bBuckets), nil)
	if err != nil {
		return nil, err
	}
	for i := range bs {
		b := &bs[i]
		if err := indexBucket(tx, b.Tenant, b.Name); err != nil {
			return nil, err
		}
		m.buckets++
		if b.CORS == nil {
			continue
		}
		if len(b.CORS) > 0 {
			if err := putBucketConfig(tx, b.Name, cfgCORS, b.CORS); err != nil {
				return nil, err
			}
			m.cors++
		}
		b.CORS = nil
		if err := put(tx.Bucket(bBuckets), []byte(b.Name), b); err != nil {
			return nil, err
		}
	}

	// The parts of one upload are adjacent: id ‖ 0x00 ‖ number.
	usage := tx.Bucket(bUploadUsage)
	var id []byte
	var u UploadUsage
	flush := func() error {
		if id == nil {
			return nil
		}
		m.uploads++
		return put(usage, id, &u)
	}
	c := tx.Bucket(bParts).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) < 5 || k[len(k)-5] != 0 {
			return nil, fmt.Errorf("part key %q", k)
		}
		kid := k[:len(k)-5]
		if !bytes.Equal(kid, id) {
			if err := flush(); err != nil {
				return nil, err
			}
			id, u = bytes.Clone(kid), UploadUsage{}
		}
		var p Part
		if err := unmarshal(v, &p); err != nil {
			return nil, fmt.Errorf("part %q: %w", k, err)
		}
		u.Parts++
		u.InlineBytes += int64(len(p.Inline))
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return m, tx.Bucket(bSys).Put(kSchema, u32(2))
}
