package meta

import (
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// The commands of a tenant key rotation: once a version is current,
// nothing new is committed under an older one; rewraps apply only to the
// records they were computed from; only an old version can be retired,
// and retiring one asks every node to shred.
func TestKeyRotationCommands(t *testing.T) {
	f, err := OpenFSM(filepath.Join(t.TempDir(), "fsm.db"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var idx uint64
	apply := func(c *Command) *Result {
		t.Helper()
		data, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		idx++
		return f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: data}).(*Result)
	}
	do := func(c *Command) {
		t.Helper()
		if r := apply(c); r.Err != nil {
			t.Fatalf("op %d: %v", c.Op(), r.Err)
		}
	}
	refused := func(c *Command, k objapi.Kind) {
		t.Helper()
		if r := apply(c); r.Err == nil || r.Err.Kind != k {
			t.Fatalf("op %d: %v, want %v", c.Op(), r.Err, k)
		}
	}
	object := func(key string) *Object {
		t.Helper()
		var o *Object
		f.View(func(r *Reader) error {
			o, _, _ = r.Object("b", key)
			return nil
		})
		return o
	}
	put := func(key, version string, kv uint32) *Command {
		return NewCommand(&PutObject{Bucket: "b", Key: key, Tenant: "t",
			Object: Object{VersionID: version, KeyVersion: kv, WrappedKey: []byte("w-" + version)}})
	}

	do(NewCommand(&CreateTenant{Tenant: Tenant{ID: "t", KeyVersion: 1, Keys: []TenantKey{{Version: 1, Wrapped: []byte("k1")}}}}))
	do(NewCommand(&CreateBucket{Name: "b", Tenant: "t"}))
	do(put("x", "v1", 1))
	do(put("y", "v2", 1))
	rotate := NewCommand(&RotateTenantKey{Tenant: "t", Key: TenantKey{Version: 2, Wrapped: []byte("k2")}})
	do(rotate)
	refused(rotate, objapi.KindConflict) // a second rotation to the same version lost the race
	refused(put("z", "v3", 1), objapi.KindStaleKey)
	refused(NewCommand(&CreateUpload{ID: "u", Tenant: "t", Bucket: "b", Key: "z", KeyVersion: 1}), objapi.KindStaleKey)
	do(put("z", "v3", 2))

	var stale []Rewrap
	f.View(func(r *Reader) error {
		var err error
		stale, _, err = r.StaleObjects("b", 2, "", 10)
		return err
	})
	if len(stale) != 2 || stale[0].Key != "x" || stale[1].Key != "y" {
		t.Fatalf("stale objects: %+v", stale)
	}
	// y is overwritten after the scan: its rewrap must not apply.
	do(put("y", "v4", 2))
	items := []Rewrap{
		{Bucket: "b", Key: "x", VersionID: "v1", From: 1, To: 2, Wrapped: []byte("x-under-2")},
		{Bucket: "b", Key: "y", VersionID: "v2", From: 1, To: 2, Wrapped: []byte("y-under-2")},
	}
	do(NewCommand(&RewrapKeys{Tenant: "t", Items: items}))
	if o := object("x"); o.KeyVersion != 2 || string(o.WrappedKey) != "x-under-2" {
		t.Fatalf("x: %+v", o)
	}
	if o := object("y"); o.VersionID != "v4" || string(o.WrappedKey) != "w-v4" {
		t.Fatalf("y: the stale rewrap replaced the new version's key: %+v", o)
	}

	refused(NewCommand(&RetireTenantKey{Tenant: "t", Version: 2}), objapi.KindConflict)
	if f.ShredPending() {
		t.Fatal("shred pending before any retirement")
	}
	do(NewCommand(&RetireTenantKey{Tenant: "t", Version: 1}))
	var ten *Tenant
	f.View(func(r *Reader) error {
		ten, _, _ = r.Tenant("t")
		return nil
	})
	if ten.KeyVersion != 2 || len(ten.Keys) != 1 || ten.Keys[0].Version != 2 {
		t.Fatalf("tenant after retirement: %+v", ten)
	}
	if !f.ShredPending() {
		t.Fatal("retiring a key version does not ask for a shred")
	}
	select {
	case <-f.ShredRequests():
	default:
		t.Fatal("no shred signal")
	}
}
