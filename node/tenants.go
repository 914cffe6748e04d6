package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kommunal-cloud/kcs/node/crypt"
	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/objapi"
)

// Tenant ids name municipalities in commands and logs: lowercase slugs.
var tenantPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,62}$`)

// Access key ids are what S3 clients send in clear in every request.
var accessKeyPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{3,128}$`)

// TenantInfo describes a tenant for the admin API.
type TenantInfo struct {
	ID         string    `json:"id"`
	Created    time.Time `json:"created"`
	KeyVersion uint32    `json:"key_version"`
	// Retiring are older key versions whose data keys are still being
	// rewrapped after a rotation; empty once the rotation is done.
	Retiring   []uint32 `json:"retiring_versions,omitempty"`
	AccessKeys int      `json:"access_keys"`
	Buckets    int      `json:"buckets"`
	// Objects and Bytes are what the tenant stores (logical bytes,
	// objects and open uploads' parts): kcs admin tenant usage has the rest.
	Objects int64 `json:"objects"`
	Bytes   int64 `json:"bytes"`
}

// AccessKeyInfo describes an access key; Secret is set only when the key is
// created.
type AccessKeyInfo struct {
	AccessKey string    `json:"access_key"`
	Secret    string    `json:"secret,omitempty"`
	Tenant    string    `json:"tenant"`
	Created   time.Time `json:"created"`
	// BypassGovernance: requests signed with the key may override GOVERNANCE
	// retention (x-amz-bypass-governance-retention); an operator grants it
	// (SetKeyBypass).
	BypassGovernance bool `json:"bypass_governance"`
}

func secretOwner(accessKey string) crypt.Owner { return crypt.SecretOwner("s3-secret", accessKey) }

// newAccessKey makes an access key record: the given id and secret, or
// random ones (AWS-shaped: 20 characters, 40 of secret).
func (n *Node) newAccessKey(ctx context.Context, tenant, id, secret string) (*meta.AccessKey, string, error) {
	if id == "" {
		b := make([]byte, 15)
		rand.Read(b)
		id = "KCS" + strings.ToUpper(strings.TrimRight(base64.StdEncoding.EncodeToString(b), "="))[:17]
		id = strings.NewReplacer("+", "X", "/", "Y").Replace(id)
	}
	if !accessKeyPattern.MatchString(id) {
		return nil, "", objapi.Errorf("CreateAccessKey", objapi.KindInvalidArgument, "access key id %q: 3-128 letters, digits, '.', '_' or '-'", id)
	}
	if secret == "" {
		b := make([]byte, 30)
		rand.Read(b)
		secret = base64.StdEncoding.EncodeToString(b)
	}
	if len(secret) < 8 || len(secret) > 128 {
		return nil, "", objapi.Errorf("CreateAccessKey", objapi.KindInvalidArgument, "secret must be 8-128 characters")
	}
	mk, err := n.wrappingKey(ctx)
	if err != nil {
		return nil, "", err
	}
	wrapped, err := mk.WrapSecret([]byte(secret), secretOwner(id))
	if err != nil {
		return nil, "", err
	}
	return &meta.AccessKey{ID: id, Tenant: tenant, WrappedSecret: wrapped, Created: n.now().UnixNano()}, secret, nil
}

// CreateTenant creates a municipality's tenant with its own key and first
// access key. accessKey and secret may be empty (random ones are made).
func (n *Node) CreateTenant(ctx context.Context, id, accessKey, secret string) (*AccessKeyInfo, error) {
	if !tenantPattern.MatchString(id) {
		return nil, objapi.Errorf("CreateTenant", objapi.KindInvalidArgument, "tenant %q: 2-63 lowercase letters, digits or '-'", id)
	}
	key, err := n.newTenantKey(ctx, id, 1)
	if err != nil {
		return nil, err
	}
	ak, secret, err := n.newAccessKey(ctx, id, accessKey, secret)
	if err != nil {
		return nil, err
	}
	create := &meta.CreateTenant{
		Tenant:   meta.Tenant{ID: id, Created: key.Created, KeyVersion: 1, Keys: []meta.TenantKey{key}},
		FirstKey: ak,
	}
	if q := n.cfg.DefaultTenantQuota; !q.IsZero() {
		// A quota needs command level 2; while a member still runs an
		// older binary (a rolling upgrade) the tenant starts without one.
		var level meta.Level
		if err := n.store.FSM.View(func(r *meta.Reader) error {
			var err error
			level, err = r.MembersLevel()
			return err
		}); err != nil {
			return nil, err
		}
		if level >= 2 {
			create.Quota = &q
		} else {
			n.log.Warn("tenant created without the default quota: a member runs a binary before quotas; set one once all are upgraded",
				"tenant", id)
		}
	}
	res, err := n.cons.Propose(ctx, meta.NewCommand(create))
	if err != nil {
		return nil, err
	}
	if res.Err != nil {
		return nil, res.Err
	}
	n.log.Info("tenant created", "tenant", id, "access_key", ak.ID)
	return &AccessKeyInfo{AccessKey: ak.ID, Secret: secret, Tenant: id, Created: time.Unix(0, ak.Created)}, nil
}

// ListTenants lists the tenants.
func (n *Node) ListTenants(ctx context.Context) ([]TenantInfo, error) {
	if err := n.cons.Linearize(ctx); err != nil {
		return nil, err
	}
	var out []TenantInfo
	err := n.store.FSM.View(func(r *meta.Reader) error {
		ts, err := r.Tenants()
		if err != nil {
			return err
		}
		for _, t := range ts {
			keys, _ := r.AccessKeysOf(t.ID)
			bs, _ := r.BucketsOf(t.ID)
			u, _ := r.Usage(t.ID, "")
			info := TenantInfo{ID: t.ID, Created: time.Unix(0, t.Created), KeyVersion: t.KeyVersion, AccessKeys: len(keys), Buckets: len(bs),
				Objects: u.Objects, Bytes: u.StoredBytes()}
			for _, k := range t.Keys {
				if k.Version != t.KeyVersion {
					info.Retiring = append(info.Retiring, k.Version)
				}
			}
			out = append(out, info)
		}
		return nil
	})
	return out, err
}

// DeleteTenantBypassingGovernance is DeleteTenant as an operator's
// explicit override of GOVERNANCE retention: the tenant's versions under
// it go with the tenant. Versions under COMPLIANCE retention or legal hold
// still refuse the deletion (KindAccessDenied, saying how many, an example
// and until when).
func (n *Node) DeleteTenantBypassingGovernance(ctx context.Context, id string) (*TenantDeletion, error) {
	return n.deleteTenant(ctx, id, true)
}

// deleteTenant deletes a tenant, bypassing GOVERNANCE retention or not:
// the FSM refuses while the tenant holds versions object lock keeps.
func (n *Node) deleteTenant(ctx context.Context, id string, bypassGovernance bool) (*TenantDeletion, error) {
	const op = "DeleteTenant"
	if !tenantPattern.MatchString(id) {
		return nil, objapi.Errorf(op, objapi.KindNoSuchTenant, "tenant %q does not exist", id)
	}
	if err := n.cons.Linearize(ctx); err != nil {
		return nil, err
	}
	var buckets int
	if err := n.store.FSM.View(func(r *meta.Reader) error {
		bs, err := r.BucketsOf(id)
		buckets = len(bs)
		return err
	}); err != nil {
		return nil, err
	}
	res, err := n.cons.Propose(ctx, meta.NewCommand(&meta.DeleteTenant{ID: id, BypassGovernance: bypassGovernance}))
	if _, err := result(op, "", "", res, err); err != nil {
		return nil, err
	}
	if bypassGovernance {
		n.log.Warn("governance retention overridden by operator: the tenant's versions under it are deleted with it",
			"tenant", id, "buckets", buckets)
	}
	n.log.Warn("tenant deleted: its keys are shredded on every node, its buckets purged", "tenant", id, "buckets", buckets)
	return &TenantDeletion{Tenant: id, Buckets: buckets}, nil
}

// CreateAccessKey gives a tenant another access key (for rotation: create
// the new one, move the applications over, delete the old one).
func (n *Node) CreateAccessKey(ctx context.Context, tenant, accessKey, secret string) (*AccessKeyInfo, error) {
	ak, secret, err := n.newAccessKey(ctx, tenant, accessKey, secret)
	if err != nil {
		return nil, err
	}
	res, err := n.cons.Propose(ctx, meta.NewCommand((*meta.CreateAccessKey)(ak)))
	if err != nil {
		return nil, err
	}
	if res.Err != nil {
		return nil, res.Err
	}
	n.log.Info("access key created", "tenant", tenant, "access_key", ak.ID)
	return &AccessKeyInfo{AccessKey: ak.ID, Secret: secret, Tenant: tenant, Created: time.Unix(0, ak.Created)}, nil
}

// ListAccessKeys lists a tenant's access keys (without secrets).
func (n *Node) ListAccessKeys(ctx context.Context, tenant string) ([]AccessKeyInfo, error) {
	if err := n.cons.Linearize(ctx); err != nil {
		return nil, err
	}
	var out []AccessKeyInfo
	err := n.store.FSM.View(func(r *meta.Reader) error {
		if _, ok, _ := r.Tenant(tenant); !ok {
			return objapi.Errorf("ListAccessKeys", objapi.KindNoSuchTenant, "tenant %q does not exist", tenant)
		}
		keys, err := r.AccessKeysOf(tenant)
		for _, k := range keys {
			out = append(out, AccessKeyInfo{AccessKey: k.ID, Tenant: k.Tenant, Created: time.Unix(0, k.Created), BypassGovernance: k.BypassGovernance})
		}
		return err
	})
	return out, err
}

// DeleteAccessKey deletes an access key; requests signed with it fail at
// once on every node.
func (n *Node) DeleteAccessKey(ctx context.Context, tenant, accessKey string) error {
	res, err := n.cons.Propose(ctx, meta.NewCommand(&meta.DeleteAccessKey{ID: accessKey, Tenant: tenant}))
	if err != nil {
		return err
	}
	if res.Err != nil {
		return res.Err
	}
	n.log.Info("access key deleted", "tenant", tenant, "access_key", accessKey)
	return nil
}

// LookupAccessKey returns an access key's secret and tenant, for SigV4.
// The read is linearizable: a key deleted on any node stops working on
// every node at once, and a key just created works everywhere.
func (n *Node) LookupAccessKey(ctx context.Context, accessKey string) (Credential, error) {
	if err := n.cons.LinearizeAuth(ctx); err != nil {
		return Credential{}, err
	}
	var ak *meta.AccessKey
	var found bool
	if err := n.store.FSM.View(func(r *meta.Reader) error {
		var err error
		ak, found, err = r.AccessKey(accessKey)
		return err
	}); err != nil {
		return Credential{}, err
	}
	if !found {
		return Credential{}, objapi.Errorf("LookupAccessKey", objapi.KindNoSuchAccessKey, "")
	}
	secret, err := n.keys.UnwrapSecret(ak.WrappedSecret, secretOwner(ak.ID))
	if err != nil {
		return Credential{}, &objapi.Error{Op: "LookupAccessKey", Kind: objapi.KindInternal, Err: err}
	}
	return Credential{AccessKey: ak.ID, Secret: string(secret), Tenant: ak.Tenant}, nil
}

// newTenantKey makes a random version of a tenant's key, wrapped by the
// cluster's master key.
func (n *Node) newTenantKey(ctx context.Context, tenant string, version uint32) (meta.TenantKey, error) {
	tk, err := crypt.GenerateTenantKey(tenant, version)
	if err != nil {
		return meta.TenantKey{}, err
	}
	mk, err := n.wrappingKey(ctx)
	if err != nil {
		return meta.TenantKey{}, err
	}
	wrapped, err := mk.WrapTenantKey(tk)
	if err != nil {
		return meta.TenantKey{}, err
	}
	return meta.TenantKey{Version: version, Wrapped: wrapped, Created: n.now().UnixNano()}, nil
}

// tenantKey returns a tenant's key of the given version, unwrapped once
// and then kept in memory.
func (n *Node) tenantKey(r *meta.Reader, tenant string, version uint32) (*crypt.TenantKey, error) {
	// The record is read first, cache or not: a key whose tenant was
	// deleted (or whose version was retired) in this read's view is gone,
	// even before the shredder has emptied the cache.
	t, ok, err := r.Tenant(tenant)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, objapi.Errorf("tenant key", objapi.KindAccessDenied, "tenant %q does not exist", tenant)
	}
	cacheKey := tenant + "\x00" + strconv.FormatUint(uint64(version), 10)
	for _, k := range t.Keys {
		if k.Version == version {
			// The wrapping must match too: a tenant deleted and made anew
			// has a new key under the same name and version.
			if c, ok := n.tkeys.Load(cacheKey); ok && bytes.Equal(c.(cachedKey).wrapped, k.Wrapped) {
				return c.(cachedKey).key, nil
			}
			tk, err := n.keys.UnwrapTenantKey(k.Wrapped, tenant, version)
			if err != nil {
				return nil, &objapi.Error{Op: "tenant key", Kind: objapi.KindInternal, Err: err}
			}
			n.tkeys.Store(cacheKey, cachedKey{wrapped: k.Wrapped, key: tk})
			return tk, nil
		}
	}
	return nil, objapi.Errorf("tenant key", objapi.KindInternal, "tenant %q has no key version %d", tenant, version)
}

// cachedKey is an unwrapped tenant key version with the wrapping it came
// from.
type cachedKey struct {
	wrapped []byte
	key     *crypt.TenantKey
}

// currentTenantKey returns the key version new objects of a tenant use.
func (n *Node) currentTenantKey(r *meta.Reader, tenant string) (*crypt.TenantKey, error) {
	t, ok, err := r.Tenant(tenant)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, objapi.Errorf("tenant key", objapi.KindAccessDenied, "tenant %q does not exist", tenant)
	}
	return n.tenantKey(r, tenant, t.KeyVersion)
}
