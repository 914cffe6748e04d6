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
type migration struct {
	from                            uint32
	buckets, cors, uploads, tenants int
}

// migrate takes a database of schema from up to SchemaVersion, one schema
// after the other, in the transaction that opens it.
func migrate(tx *bolt.Tx, from uint32) (*migration, error) {
	m := &migration{from: from}
	switch from {
	case 1:
		if err := migrate1to2(tx, m); err != nil {
			return nil, err
		}
		fallthrough
	case 2:
		if err := migrate2to3(tx, m); err != nil {
			return nil, err
		}
		fallthrough
	case 3:
		if err := migrate3to4(tx, m); err != nil {
			return nil, err
		}
		fallthrough
	case 4:
		// Schema 5 added versions, which starts empty.
		if err := tx.Bucket(bSys).Put(kSchema, u32(5)); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("no migration from schema %d", from)
	}
	return m, nil
}

// migrate1to2 takes a database from schema 1 to 2: every bucket enters
// the tenantbuckets index, CORS rules leave the bucket records for
// bucketcfg, and every upload with parts gets its running totals in
// uploadusage.
func migrate1to2(tx *bolt.Tx, m *migration) error {
	bs, err := records[Bucket](tx.Bucket(bBuckets), nil)
	if err != nil {
		return err
	}
	for i := range bs {
		b := &bs[i]
		if err := indexBucket(tx, b.Tenant, b.Name); err != nil {
			return err
		}
		m.buckets++
		if b.CORS == nil {
			continue
		}
		if len(b.CORS) > 0 {
			if err := putBucketConfig(tx, b.Name, cfgCORS, b.CORS); err != nil {
				return err
			}
			m.cors++
		}
		b.CORS = nil
		if err := put(tx.Bucket(bBuckets), []byte(b.Name), b); err != nil {
			return err
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
			return fmt.Errorf("part key %q", k)
		}
		kid := k[:len(k)-5]
		if !bytes.Equal(kid, id) {
			if err := flush(); err != nil {
				return err
			}
			id, u = bytes.Clone(kid), UploadUsage{}
		}
		var p Part
		if err := unmarshal(v, &p); err != nil {
			return fmt.Errorf("part %q: %w", k, err)
		}
		u.Parts++
		u.InlineBytes += int64(len(p.Inline))
	}
	if err := flush(); err != nil {
		return err
	}
	return tx.Bucket(bSys).Put(kSchema, u32(2))
}

// migrate2to3 computes the usage rows (usage.go) from what schema 2 holds:
// a row for every tenant, and one for every bucket not being purged, each
// holding its objects' and open uploads' totals, the tenant's the sum of
// its buckets' with their count. These are exactly the rows the commands
// keep, so a migrated member and one that applied every entry with this
// binary hold the same bytes.
func migrate2to3(tx *bolt.Tx, m *migration) error {
	rows, err := computeUsage(tx)
	if err != nil {
		return err
	}
	ub := tx.Bucket(bUsage)
	for _, r := range rows {
		if err := put(ub, []byte(r.key), &r.usage); err != nil {
			return err
		}
		if r.bucket == "" {
			m.tenants++
		}
	}
	return tx.Bucket(bSys).Put(kSchema, u32(3))
}

// usageRow is one computed usage row.
type usageRow struct {
	key    string // usageKey
	bucket string // "" for a tenant's row
	usage  Usage
}

// computeUsage computes the usage rows from the objects, uploads and
// parts alone: a row for every tenant, and one for every bucket not being
// purged, each holding its objects' and open uploads' totals, the
// tenant's the sum of its buckets' with their count. It reads every
// record, so only the migration uses it (and tests, as the oracle the
// rows the commands keep must equal).
func computeUsage(tx *bolt.Tx) ([]usageRow, error) {
	tenants := map[string]*Usage{}
	var order []string
	err := tx.Bucket(bTenants).ForEach(func(k, _ []byte) error {
		tenants[string(k)] = &Usage{}
		order = append(order, string(k))
		return nil
	})
	if err != nil {
		return nil, err
	}
	bs, err := records[Bucket](tx.Bucket(bBuckets), func(b *Bucket) bool { return !b.Purging })
	if err != nil {
		return nil, err
	}
	rows := map[string]*Usage{}
	for _, b := range bs {
		u := &Usage{}
		if ob := tx.Bucket(bObjects).Bucket([]byte(b.Name)); ob != nil {
			err := ob.ForEach(func(k, v []byte) error {
				var o Object
				if err := unmarshal(v, &o); err != nil {
					return fmt.Errorf("object %q/%q: %w", b.Name, k, err)
				}
				*u = u.plus(objectUsage(&o))
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
		if vb := tx.Bucket(bVersions); vb != nil && vb.Bucket([]byte(b.Name)) != nil {
			err := vb.Bucket([]byte(b.Name)).ForEach(func(k, v []byte) error {
				var o Object
				if err := unmarshal(v, &o); err != nil {
					return fmt.Errorf("version %q/%q: %w", b.Name, k, err)
				}
				*u = u.plus(versionUsage(&o))
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
		rows[b.Name] = u
	}
	ups, err := records[Upload](tx.Bucket(bUploads), nil)
	if err != nil {
		return nil, err
	}
	for _, up := range ups {
		u, ok := rows[up.Bucket]
		if !ok {
			continue // its bucket is being purged
		}
		parts, err := uploadParts(tx, up.ID)
		if err != nil {
			return nil, err
		}
		*u = u.plus(uploadUsageOf(parts))
	}
	var out []usageRow
	for _, b := range bs {
		u := rows[b.Name]
		t, ok := tenants[b.Tenant]
		if !ok {
			return nil, fmt.Errorf("bucket %q of tenant %q, which does not exist", b.Name, b.Tenant)
		}
		*t = t.plus(*u)
		t.Buckets++
		out = append(out, usageRow{key: string(usageKey(b.Tenant, b.Name)), bucket: b.Name, usage: *u})
	}
	for _, id := range order {
		out = append(out, usageRow{key: string(usageKey(id, "")), usage: *tenants[id]})
	}
	return out, nil
}
