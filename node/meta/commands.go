package meta

import (
	"encoding/binary"
	"fmt"

	"github.com/fxamacker/cbor/v2"

	"github.com/kommunal-cloud/kcs/node/errs"
)

// CommandVersion is the format of Raft log entries written by this version.
// Format 1 is one version byte, one op byte, then the op's CBOR payload.
// Format 2 puts the command's id (16 bytes) and the proposer's clock
// (unix nanoseconds, 8 bytes) between the op byte and the payload: the FSM
// answers a command whose id it has applied before with the first
// outcome. The FSM keeps decoding every version it ever wrote.
const CommandVersion = 2

// CommandID names one proposal. The proposer draws it at random once and
// keeps it across retries and forwards, so that a command that reaches
// the log twice (a forward whose answer was lost, retried with a new
// leader) is applied once.
type CommandID [16]byte

// IsZero reports whether the id is unset (commands of format 1).
func (id CommandID) IsZero() bool { return id == CommandID{} }

// Op names a command.
type Op uint8

// Ops. Append only: the numbers are in every Raft log and snapshot.
const (
	OpInit            Op = 1
	OpRegisterNode    Op = 2
	OpCreateTenant    Op = 3
	OpCreateAccessKey Op = 4
	OpDeleteAccessKey Op = 5
	OpCreateBucket    Op = 6
	OpDeleteBucket    Op = 7
	OpPutObject       Op = 8
	OpDeleteObject    Op = 9
	OpCreateUpload    Op = 10
	OpPutPart         Op = 11
	OpCompleteUpload  Op = 12
	OpAbortUpload     Op = 13
	OpNoop            Op = 14
	OpPutBucketCORS   Op = 15
	OpSetObjectMeta   Op = 16
	OpDeleteObjects   Op = 17
	OpDeleteTenant    Op = 18
	OpPurgeBucket     Op = 19
	OpRotateTenantKey Op = 20
	OpRewrapKeys      Op = 21
	OpRetireTenantKey Op = 22
	OpSetMasterKey    Op = 23
	OpRewrapMaster    Op = 24
	OpShardsRestored  Op = 25
)

// Command is one metadata change. Exactly one payload field is set, the one
// its Op names.
type Command struct {
	Op Op
	// ID and Proposed travel in the envelope (format 2), not the payload:
	// the id makes the command exactly-once, the proposer's clock lets the
	// FSM forget outcomes long after any retry could come.
	ID       CommandID
	Proposed int64

	Init            *Cluster
	RegisterNode    *Node
	CreateTenant    *CreateTenant
	CreateAccessKey *AccessKey
	DeleteAccessKey *DeleteAccessKey
	CreateBucket    *Bucket
	DeleteBucket    *DeleteBucket
	PutObject       *PutObject
	DeleteObject    *DeleteObject
	CreateUpload    *Upload
	PutPart         *PutPart
	CompleteUpload  *CompleteUpload
	AbortUpload     *AbortUpload
	PutBucketCORS   *PutBucketCORS
	SetObjectMeta   *SetObjectMeta
	DeleteObjects   *DeleteObjects
	DeleteTenant    *DeleteTenant
	PurgeBucket     *PurgeBucket
	RotateTenantKey *RotateTenantKey
	RewrapKeys      *RewrapKeys
	RetireTenantKey *RetireTenantKey
	SetMasterKey    *SetMasterKey
	RewrapMaster    *RewrapMaster
	ShardsRestored  *ShardsRestored
}

// ShardsRestored records that the shards of a stream that were not durable
// when it was committed (Part.Lost) have been rebuilt on their drives: the
// stream is back at full protection.
type ShardsRestored struct {
	DataID []byte `cbor:"1,keyasint"`
	Shards []int  `cbor:"2,keyasint"`
}

// SetMasterKey makes the master key with this id the one that wraps tenant
// keys and secrets. It is refused unless every member was started with
// that key (their records list the ids), so no node is left unable to
// unwrap; the leader then rewraps everything the old keys wrapped.
type SetMasterKey struct {
	ID string `cbor:"1,keyasint"`
}

// RewrapMaster replaces tenant keys, access key secrets and the key check
// wrapped by an older master key with the same keys wrapped by MasterKey.
// Items are skipped if MasterKey is no longer current. Once nothing is left
// under another master key, every node shreds the old wrappings.
type RewrapMaster struct {
	MasterKey  string            `cbor:"1,keyasint"`
	TenantKeys []RewrappedTenant `cbor:"2,keyasint"`
	AccessKeys []RewrappedSecret `cbor:"3,keyasint"`
	KeyCheck   []byte            `cbor:"4,keyasint,omitempty"`
}

// RewrappedTenant is one version of a tenant's key wrapped anew. Old is
// the wrapping it replaces: a record that changed meanwhile (a tenant
// deleted and made anew under the same name) is left alone.
type RewrappedTenant struct {
	Tenant  string `cbor:"1,keyasint"`
	Version uint32 `cbor:"2,keyasint"`
	Wrapped []byte `cbor:"3,keyasint"`
	Old     []byte `cbor:"4,keyasint"`
}

// RewrappedSecret is an access key's secret wrapped anew, replacing Old.
type RewrappedSecret struct {
	ID      string `cbor:"1,keyasint"`
	Wrapped []byte `cbor:"2,keyasint"`
	Old     []byte `cbor:"3,keyasint"`
}

// RotateTenantKey adds a new version of a tenant's key and makes it the one
// new data keys are wrapped with. From this commit on, objects and uploads
// are committed only with data keys wrapped by that version (KindStaleKey
// otherwise: the proposer rewraps and tries again), so the set of data keys
// under older versions only shrinks while the leader rewraps them.
type RotateTenantKey struct {
	Tenant string    `cbor:"1,keyasint"`
	Key    TenantKey `cbor:"2,keyasint"`
}

// RewrapKeys replaces data keys wrapped by an old tenant key version with
// the same keys wrapped by the current one. An item whose record changed
// meanwhile (another version, already rewrapped, gone) is skipped.
type RewrapKeys struct {
	Tenant string   `cbor:"1,keyasint"`
	Items  []Rewrap `cbor:"2,keyasint"`
}

// Rewrap is one data key to rewrap: an object's current version (Bucket,
// Key, VersionID) or a multipart upload (Upload).
type Rewrap struct {
	Bucket    string `cbor:"1,keyasint,omitempty"`
	Key       string `cbor:"2,keyasint,omitempty"`
	VersionID string `cbor:"3,keyasint,omitempty"`
	Upload    string `cbor:"4,keyasint,omitempty"`
	From      uint32 `cbor:"5,keyasint"` // the version that wraps it now
	To        uint32 `cbor:"6,keyasint"` // the version of Wrapped
	Wrapped   []byte `cbor:"7,keyasint"`
}

// RetireTenantKey removes an old version of a tenant's key once no data key
// is wrapped by it any more; every node then shreds its copies, as after a
// tenant's deletion.
type RetireTenantKey struct {
	Tenant  string `cbor:"1,keyasint"`
	Version uint32 `cbor:"2,keyasint"`
}

// DeleteTenant removes a tenant's record with every version of its key and
// its access keys, and marks its buckets for purging. Every node shreds
// its copies of the key once it applies the command.
type DeleteTenant struct {
	ID string `cbor:"1,keyasint"`
}

// PurgeBucket removes up to Max objects and uploads of a bucket marked for
// purging (its tenant was deleted), and the bucket itself once it is empty.
type PurgeBucket struct {
	Bucket string `cbor:"1,keyasint"`
	Max    int    `cbor:"2,keyasint"`
}

// PutBucketCORS sets (or, with no rules, removes) a bucket's CORS rules.
type PutBucketCORS struct {
	Bucket string     `cbor:"1,keyasint"`
	Tenant string     `cbor:"2,keyasint"`
	Rules  []CORSRule `cbor:"3,keyasint"`
}

// SetObjectMeta replaces the sealed metadata (tags, say) of one object
// version; it fails with KindConflict if the version is no longer current.
type SetObjectMeta struct {
	Bucket     string `cbor:"1,keyasint"`
	Key        string `cbor:"2,keyasint"`
	Tenant     string `cbor:"3,keyasint"`
	VersionID  string `cbor:"4,keyasint"`
	SealedMeta []byte `cbor:"5,keyasint"`
}

// DeleteObjects removes the current versions of many keys of a bucket in
// one commit (S3's multi-object delete).
type DeleteObjects struct {
	Bucket string   `cbor:"1,keyasint"`
	Tenant string   `cbor:"2,keyasint"`
	Keys   []string `cbor:"3,keyasint"`
}

// CreateTenant creates a tenant with its first access key.
type CreateTenant struct {
	Tenant   Tenant     `cbor:"1,keyasint"`
	FirstKey *AccessKey `cbor:"2,keyasint"`
}

// DeleteAccessKey removes one of a tenant's access keys.
type DeleteAccessKey struct {
	ID     string `cbor:"1,keyasint"`
	Tenant string `cbor:"2,keyasint"`
}

// DeleteBucket removes an empty bucket.
type DeleteBucket struct {
	Name   string `cbor:"1,keyasint"`
	Tenant string `cbor:"2,keyasint"`
}

// PutObject makes Object the current version of Bucket/Key.
type PutObject struct {
	Bucket string `cbor:"1,keyasint"`
	Key    string `cbor:"2,keyasint"`
	Tenant string `cbor:"3,keyasint"`
	Object Object `cbor:"4,keyasint"`
	// Conditions, decided in the commit so that racing writers cannot
	// both win: IfNoneMatch requires no current version, IfMatch requires
	// the current version's ETag.
	IfNoneMatch bool   `cbor:"5,keyasint"`
	IfMatch     string `cbor:"6,keyasint"`
}

// DeleteObject removes the current version of Bucket/Key.
type DeleteObject struct {
	Bucket  string `cbor:"1,keyasint"`
	Key     string `cbor:"2,keyasint"`
	Tenant  string `cbor:"3,keyasint"`
	IfMatch string `cbor:"4,keyasint"`
}

// PutPart records an uploaded part, replacing an earlier upload of it.
type PutPart struct {
	UploadID string `cbor:"1,keyasint"`
	Tenant   string `cbor:"2,keyasint"`
	Part     Part   `cbor:"3,keyasint"`
}

// CompleteUpload turns an upload into the object's current version. The
// proposer lists the parts it chose in Object.Parts; the FSM checks that
// each is still the stored one (a part uploaded again meanwhile fails the
// commit) and returns the upload's other parts as garbage.
type CompleteUpload struct {
	UploadID    string `cbor:"1,keyasint"`
	Tenant      string `cbor:"2,keyasint"`
	Object      Object `cbor:"3,keyasint"`
	IfNoneMatch bool   `cbor:"4,keyasint"`
	IfMatch     string `cbor:"5,keyasint"`
}

// AbortUpload drops an upload and returns its parts as garbage.
type AbortUpload struct {
	UploadID string `cbor:"1,keyasint"`
	Tenant   string `cbor:"2,keyasint"`
}

// Result is what applying a command produced.
type Result struct {
	Err *errs.Error // a business outcome ("bucket exists"), not a failure of the FSM
	// Garbage are streams no longer referenced: replaced or deleted object
	// versions, replaced or unused parts. Their shards can be deleted once
	// reads in flight are done with them.
	Garbage []Part
	// Replaced is the object version a put or delete displaced, if any.
	Replaced *Object
	// Duplicate is set when the command's id had been applied before: the
	// outcome (Err) is the first application's; Garbage and Replaced went
	// to whoever got that first answer, or to the orphan scan.
	Duplicate bool
}

// Canonical encoding: the same command encodes to the same bytes on every
// node and every version. Both modes are immutable once built.
var (
	encMode = must(cbor.CanonicalEncOptions().EncMode())
	decMode = must(cbor.DecOptions{MaxArrayElements: 1 << 20, MaxMapPairs: 1 << 20, MaxNestedLevels: 16}.DecMode())
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func marshal(v any) ([]byte, error) { return encMode.Marshal(v) }

func unmarshal(b []byte, v any) error { return decMode.Unmarshal(b, v) }

// Encode serializes a command for the Raft log.
func (c *Command) Encode() ([]byte, error) {
	var payload any
	switch c.Op {
	case OpInit:
		payload = c.Init
	case OpRegisterNode:
		payload = c.RegisterNode
	case OpCreateTenant:
		payload = c.CreateTenant
	case OpCreateAccessKey:
		payload = c.CreateAccessKey
	case OpDeleteAccessKey:
		payload = c.DeleteAccessKey
	case OpCreateBucket:
		payload = c.CreateBucket
	case OpDeleteBucket:
		payload = c.DeleteBucket
	case OpPutObject:
		payload = c.PutObject
	case OpDeleteObject:
		payload = c.DeleteObject
	case OpCreateUpload:
		payload = c.CreateUpload
	case OpPutPart:
		payload = c.PutPart
	case OpCompleteUpload:
		payload = c.CompleteUpload
	case OpAbortUpload:
		payload = c.AbortUpload
	case OpNoop:
		payload = struct{}{}
	case OpPutBucketCORS:
		payload = c.PutBucketCORS
	case OpSetObjectMeta:
		payload = c.SetObjectMeta
	case OpDeleteObjects:
		payload = c.DeleteObjects
	case OpDeleteTenant:
		payload = c.DeleteTenant
	case OpPurgeBucket:
		payload = c.PurgeBucket
	case OpRotateTenantKey:
		payload = c.RotateTenantKey
	case OpRewrapKeys:
		payload = c.RewrapKeys
	case OpRetireTenantKey:
		payload = c.RetireTenantKey
	case OpSetMasterKey:
		payload = c.SetMasterKey
	case OpRewrapMaster:
		payload = c.RewrapMaster
	case OpShardsRestored:
		payload = c.ShardsRestored
	default:
		return nil, fmt.Errorf("meta: unknown op %d", c.Op)
	}
	b, err := marshal(payload)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, envelopeV2+len(b))
	out = append(out, CommandVersion, byte(c.Op))
	out = append(out, c.ID[:]...)
	out = binary.BigEndian.AppendUint64(out, uint64(c.Proposed))
	return append(out, b...), nil
}

// envelopeV2 is the length of a format 2 command's envelope: version, op,
// id, proposer's clock.
const envelopeV2 = 2 + 16 + 8

// DecodeCommand parses a Raft log entry. An entry that does not decode is
// corruption of the log (or a binary too old for it): the FSM stops loudly
// rather than apply something else.
func DecodeCommand(b []byte) (*Command, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("meta: command of %d bytes", len(b))
	}
	c := &Command{Op: Op(b[1])}
	payload := b[2:]
	switch b[0] {
	case 1:
	case 2:
		if len(b) < envelopeV2 {
			return nil, fmt.Errorf("meta: command of %d bytes", len(b))
		}
		copy(c.ID[:], b[2:18])
		c.Proposed = int64(binary.BigEndian.Uint64(b[18:26]))
		payload = b[envelopeV2:]
	default:
		return nil, fmt.Errorf("meta: command format %d not supported by this binary (it reads formats 1 and %d)", b[0], CommandVersion)
	}
	var dst any
	switch c.Op {
	case OpInit:
		c.Init = new(Cluster)
		dst = c.Init
	case OpRegisterNode:
		c.RegisterNode = new(Node)
		dst = c.RegisterNode
	case OpCreateTenant:
		c.CreateTenant = new(CreateTenant)
		dst = c.CreateTenant
	case OpCreateAccessKey:
		c.CreateAccessKey = new(AccessKey)
		dst = c.CreateAccessKey
	case OpDeleteAccessKey:
		c.DeleteAccessKey = new(DeleteAccessKey)
		dst = c.DeleteAccessKey
	case OpCreateBucket:
		c.CreateBucket = new(Bucket)
		dst = c.CreateBucket
	case OpDeleteBucket:
		c.DeleteBucket = new(DeleteBucket)
		dst = c.DeleteBucket
	case OpPutObject:
		c.PutObject = new(PutObject)
		dst = c.PutObject
	case OpDeleteObject:
		c.DeleteObject = new(DeleteObject)
		dst = c.DeleteObject
	case OpCreateUpload:
		c.CreateUpload = new(Upload)
		dst = c.CreateUpload
	case OpPutPart:
		c.PutPart = new(PutPart)
		dst = c.PutPart
	case OpCompleteUpload:
		c.CompleteUpload = new(CompleteUpload)
		dst = c.CompleteUpload
	case OpAbortUpload:
		c.AbortUpload = new(AbortUpload)
		dst = c.AbortUpload
	case OpNoop:
		return c, nil
	case OpPutBucketCORS:
		c.PutBucketCORS = new(PutBucketCORS)
		dst = c.PutBucketCORS
	case OpSetObjectMeta:
		c.SetObjectMeta = new(SetObjectMeta)
		dst = c.SetObjectMeta
	case OpDeleteObjects:
		c.DeleteObjects = new(DeleteObjects)
		dst = c.DeleteObjects
	case OpDeleteTenant:
		c.DeleteTenant = new(DeleteTenant)
		dst = c.DeleteTenant
	case OpPurgeBucket:
		c.PurgeBucket = new(PurgeBucket)
		dst = c.PurgeBucket
	case OpRotateTenantKey:
		c.RotateTenantKey = new(RotateTenantKey)
		dst = c.RotateTenantKey
	case OpRewrapKeys:
		c.RewrapKeys = new(RewrapKeys)
		dst = c.RewrapKeys
	case OpRetireTenantKey:
		c.RetireTenantKey = new(RetireTenantKey)
		dst = c.RetireTenantKey
	case OpSetMasterKey:
		c.SetMasterKey = new(SetMasterKey)
		dst = c.SetMasterKey
	case OpRewrapMaster:
		c.RewrapMaster = new(RewrapMaster)
		dst = c.RewrapMaster
	case OpShardsRestored:
		c.ShardsRestored = new(ShardsRestored)
		dst = c.ShardsRestored
	default:
		return nil, fmt.Errorf("meta: unknown op %d", c.Op)
	}
	if err := unmarshal(payload, dst); err != nil {
		return nil, fmt.Errorf("meta: decode op %d: %w", c.Op, err)
	}
	return c, nil
}

// wire form of a Result, for results that cross from the leader to the
// node that proposed the command.
type wireResult struct {
	Kind      uint16  `cbor:"1,keyasint"`
	Msg       string  `cbor:"2,keyasint"`
	Failed    bool    `cbor:"3,keyasint"`
	Garbage   []Part  `cbor:"4,keyasint"`
	Replaced  *Object `cbor:"5,keyasint"`
	Duplicate bool    `cbor:"6,keyasint,omitempty"`
}

// EncodeResult serializes r for the RPC that forwards commands to the leader.
func EncodeResult(r *Result) ([]byte, error) {
	w := wireResult{Garbage: r.Garbage, Replaced: r.Replaced, Duplicate: r.Duplicate}
	if r.Err != nil {
		w.Failed, w.Kind, w.Msg = true, uint16(r.Err.Kind), r.Err.Msg
	}
	return marshal(w)
}

// DecodeResult parses what EncodeResult wrote.
func DecodeResult(b []byte) (*Result, error) {
	var w wireResult
	if err := unmarshal(b, &w); err != nil {
		return nil, err
	}
	r := &Result{Garbage: w.Garbage, Replaced: w.Replaced, Duplicate: w.Duplicate}
	if w.Failed {
		r.Err = &errs.Error{Kind: errs.Kind(w.Kind), Msg: w.Msg}
	}
	return r, nil
}
