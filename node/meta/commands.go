package meta

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"

	"github.com/fxamacker/cbor/v2"
	bolt "go.etcd.io/bbolt"

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

// Payload is what a command does: one type per kind of command, each
// registered under its op in kinds. The FSM applies it with apply, which is
// deterministic: the outcome depends only on the database and the payload
// (timestamps and ids come in it), so every node reaches the same state.
// Business outcomes come back in Result.Err. An error (a record that does
// not decode, a write bbolt refuses) means the command may have written
// part of its changes: the FSM rolls the transaction back and applies the
// batch again with this command answered KindInternal, on every node alike.
// So apply reads and checks everything it needs before its first write
// wherever that is practical, and the rollback is the safety net.
//
// Optional interfaces a payload may implement: streamStorer (it makes
// streams referenced) and keyRotation (the leader has keys to rewrap
// after it).
type Payload interface {
	apply(tx *bolt.Tx) (*Result, error)
}

// Command is one metadata change: its envelope (ID, Proposed) and its
// payload, whose type names the op.
type Command struct {
	// ID and Proposed travel in the envelope (format 2), not the payload:
	// the id makes the command exactly-once, the proposer's clock lets the
	// FSM forget outcomes long after any retry could come.
	ID       CommandID
	Proposed int64
	Payload  Payload
}

// NewCommand makes a command of a payload; the proposer gives it its id
// and clock.
func NewCommand(p Payload) *Command { return &Command{Payload: p} }

// Op is the command's op, 0 if its payload is not a registered kind.
func (c *Command) Op() Op {
	op, _ := opOf(c.Payload)
	return op
}

// kind is one registered kind of command.
type kind struct {
	typ reflect.Type // the payload's type (a struct; the payload is a pointer to it)
	new func() Payload
}

// kinds is the registry of commands: the op of each payload type, and
// what the FSM decodes each op into. Adding a command is an Op above, its
// payload type with an apply method, and one line here.
var kinds = map[Op]kind{
	OpInit:            kindOf[Init](),
	OpRegisterNode:    kindOf[RegisterNode](),
	OpCreateTenant:    kindOf[CreateTenant](),
	OpCreateAccessKey: kindOf[CreateAccessKey](),
	OpDeleteAccessKey: kindOf[DeleteAccessKey](),
	OpCreateBucket:    kindOf[CreateBucket](),
	OpDeleteBucket:    kindOf[DeleteBucket](),
	OpPutObject:       kindOf[PutObject](),
	OpDeleteObject:    kindOf[DeleteObject](),
	OpCreateUpload:    kindOf[CreateUpload](),
	OpPutPart:         kindOf[PutPart](),
	OpCompleteUpload:  kindOf[CompleteUpload](),
	OpAbortUpload:     kindOf[AbortUpload](),
	OpNoop:            kindOf[Noop](),
	OpPutBucketCORS:   kindOf[PutBucketCORS](),
	OpSetObjectMeta:   kindOf[SetObjectMeta](),
	OpDeleteObjects:   kindOf[DeleteObjects](),
	OpDeleteTenant:    kindOf[DeleteTenant](),
	OpPurgeBucket:     kindOf[PurgeBucket](),
	OpRotateTenantKey: kindOf[RotateTenantKey](),
	OpRewrapKeys:      kindOf[RewrapKeys](),
	OpRetireTenantKey: kindOf[RetireTenantKey](),
	OpSetMasterKey:    kindOf[SetMasterKey](),
	OpRewrapMaster:    kindOf[RewrapMaster](),
	OpShardsRestored:  kindOf[ShardsRestored](),
}

func kindOf[T any, P interface {
	*T
	Payload
}]() kind {
	return kind{typ: reflect.TypeFor[T](), new: func() Payload { return P(new(T)) }}
}

// opsByType inverts kinds.
var opsByType = func() map[reflect.Type]Op {
	m := make(map[reflect.Type]Op, len(kinds))
	for op, k := range kinds {
		if _, dup := m[k.typ]; dup {
			panic(fmt.Sprintf("meta: payload type %v registered twice", k.typ))
		}
		m[k.typ] = op
	}
	return m
}()

// opOf returns the op of a payload, and false for a payload that is nil or
// of no registered kind.
func opOf(p Payload) (Op, bool) {
	v := reflect.ValueOf(p)
	if !v.IsValid() || v.Kind() != reflect.Pointer || v.IsNil() {
		return 0, false
	}
	op, ok := opsByType[v.Type().Elem()]
	return op, ok
}

// The payloads of the commands that carry a record as it is stored: the
// same fields, and the same encoding.
type (
	// Init writes the cluster record, once, at bootstrap.
	Init Cluster
	// RegisterNode adds or updates a member and recomputes the layout.
	RegisterNode Node
	// CreateAccessKey gives a tenant another access key.
	CreateAccessKey AccessKey
	// CreateBucket creates a bucket for a tenant.
	CreateBucket Bucket
	// CreateUpload starts a multipart upload.
	CreateUpload Upload
)

// Noop changes nothing; it moves the log on (a shred's snapshot needs an
// entry after the last one).
type Noop struct{}

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
	op, ok := opOf(c.Payload)
	if !ok {
		if v := reflect.ValueOf(c.Payload); !v.IsValid() || v.Kind() == reflect.Pointer && v.IsNil() {
			return nil, errors.New("meta: command without a payload")
		}
		return nil, fmt.Errorf("meta: %T is not a registered command", c.Payload)
	}
	b, err := marshal(c.Payload)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, envelopeV2+len(b))
	out = append(out, CommandVersion, byte(op))
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
	c := &Command{}
	op := Op(b[1])
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
	k, ok := kinds[op]
	if !ok {
		return nil, fmt.Errorf("meta: unknown op %d", op)
	}
	c.Payload = k.new()
	if err := unmarshal(payload, c.Payload); err != nil {
		return nil, fmt.Errorf("meta: decode op %d: %w", op, err)
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
