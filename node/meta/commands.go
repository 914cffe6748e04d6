package meta

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/fxamacker/cbor/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// Command formats: the first byte of every Raft log entry. The FSM keeps
// decoding every format it ever wrote.
//
// Format 1 is the format byte, the op byte, then the op's CBOR payload.
// Format 2 puts the command's id (16 bytes) and the proposer's clock
// (unix nanoseconds, 8 bytes) between the op byte and the payload: the FSM
// answers a command whose id it has applied before with the first
// outcome. Commands of level 1 are written in format 2.
// Format 3 puts the command level the entry needs (2 bytes) and the name
// of the first release at that level (a length byte, then the name)
// between the op byte and the id: commands of level 2 and above are
// written in it, so that an older binary can name the release it needs
// (see levels.go). Every later format begins the same way: format, op,
// level, release name.
const (
	format1 = 1
	format2 = 2
	format3 = 3
	// CommandVersion is the newest command format this binary reads and
	// writes.
	CommandVersion = format3
)

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
	OpSetQuota        Op = 26
	OpMoveStream      Op = 27
	OpSetDraining     Op = 28
	OpRemoveNode      Op = 29
	OpPromoteNode     Op = 30
	OpSpread          Op = 31
	OpSetVersioning   Op = 32
	OpSetBucketLock   Op = 33
	OpSetLifecycle    Op = 34
	OpSetObjectLock   Op = 35
	OpSetKeyBypass    Op = 36
	OpShredCycle      Op = 37
	OpSetBucketTags   Op = 38
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
// What apply writes is as much part of the format as the encoding:
// members running different releases apply the same entries and must
// reach the same state, so a change to what an existing command writes
// needs a new command, or a higher level for the payloads that ask for it
// (TestGoldenState pins the state a script of every command leaves).
//
// Optional interfaces a payload may implement: streamStorer (it makes
// streams referenced), keyRotation (the leader has keys to rewrap after
// it), topologyChange (the leader looks again at where streams live and
// who votes) and leveled (it needs a higher command level than its
// kind's).
type Payload interface {
	apply(tx *bolt.Tx) (*Result, error)
}

// Command is one metadata change: its envelope (ID, Proposed) and its
// payload, whose type names the op.
type Command struct {
	// ID and Proposed travel in the envelope (formats 2 and 3), not the
	// payload: the id makes the command exactly-once, the proposer's clock
	// lets the FSM forget outcomes long after any retry could come.
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
	typ   reflect.Type // the payload's type (a struct; the payload is a pointer to it)
	level Level        // the command level that introduced it
	new   func() Payload
}

// kinds is the registry of commands: the op of each payload type, its
// command level, and what the FSM decodes each op into. Adding a command
// is an Op above, its payload type with an apply method (in the
// commands_*.go file of its domain), and one line here with the level of
// the release that adds it (see levels.go: a release that adds commands
// raises CommandLevel).
var kinds = map[Op]kind{
	OpInit:            kindOf[Init](1),
	OpRegisterNode:    kindOf[RegisterNode](1),
	OpCreateTenant:    kindOf[CreateTenant](1),
	OpCreateAccessKey: kindOf[CreateAccessKey](1),
	OpDeleteAccessKey: kindOf[DeleteAccessKey](1),
	OpCreateBucket:    kindOf[CreateBucket](1),
	OpDeleteBucket:    kindOf[DeleteBucket](1),
	OpPutObject:       kindOf[PutObject](1),
	OpDeleteObject:    kindOf[DeleteObject](1),
	OpCreateUpload:    kindOf[CreateUpload](1),
	OpPutPart:         kindOf[PutPart](1),
	OpCompleteUpload:  kindOf[CompleteUpload](1),
	OpAbortUpload:     kindOf[AbortUpload](1),
	OpNoop:            kindOf[Noop](1),
	OpPutBucketCORS:   kindOf[PutBucketCORS](1),
	OpSetObjectMeta:   kindOf[SetObjectMeta](1),
	OpDeleteObjects:   kindOf[DeleteObjects](1),
	OpDeleteTenant:    kindOf[DeleteTenant](1),
	OpPurgeBucket:     kindOf[PurgeBucket](1),
	OpRotateTenantKey: kindOf[RotateTenantKey](1),
	OpRewrapKeys:      kindOf[RewrapKeys](1),
	OpRetireTenantKey: kindOf[RetireTenantKey](1),
	OpSetMasterKey:    kindOf[SetMasterKey](1),
	OpRewrapMaster:    kindOf[RewrapMaster](1),
	OpShardsRestored:  kindOf[ShardsRestored](1),
	OpSetQuota:        kindOf[SetQuota](2),
	OpMoveStream:      kindOf[MoveStream](2),
	OpSetDraining:     kindOf[SetDraining](2),
	OpRemoveNode:      kindOf[RemoveNode](2),
	OpPromoteNode:     kindOf[PromoteNode](2),
	OpSpread:          kindOf[Spread](2),
	OpSetVersioning:   kindOf[SetVersioning](2),
	OpSetBucketLock:   kindOf[SetBucketLock](2),
	OpSetLifecycle:    kindOf[SetLifecycle](2),
	OpSetObjectLock:   kindOf[SetObjectLock](2),
	OpSetKeyBypass:    kindOf[SetKeyBypass](2),
	OpShredCycle:      kindOf[ShredCycle](2),
	OpSetBucketTags:   kindOf[SetBucketTags](2),
}

func kindOf[T any, P interface {
	*T
	Payload
}](level Level) kind {
	return kind{typ: reflect.TypeFor[T](), level: level, new: func() Payload { return P(new(T)) }}
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

// Result is what applying a command produced. Its parts never carry their
// inline bytes (Part.Inline): whoever collects garbage needs a stream's
// data id and drives, and an abort of an upload of thousands of small
// parts would otherwise hand its whole data to the proposer, across the
// network when it forwarded the command.
type Result struct {
	Err *objapi.Error // a business outcome ("bucket exists"), not a failure of the FSM
	// Garbage are streams no longer referenced: replaced or deleted object
	// versions, replaced or unused parts. Their shards can be deleted once
	// reads in flight are done with them.
	Garbage []Part
	// Replaced is the object version a put or delete displaced, if any
	// (its parts without their inline bytes, too).
	Replaced *Object
	// Duplicate is set when the command's id had been applied before: the
	// outcome (Err) is the first application's; Garbage and Replaced went
	// to whoever got that first answer, or to the orphan scan.
	Duplicate bool
	// VersionID is the S3 version id of the version a command wrote or
	// removed, or of the delete marker it added (DeleteMarker).
	VersionID    string
	DeleteMarker bool
	// Entries are the outcomes of a DeleteObjects' Entries, in order.
	Entries []EntryResult
}

// EntryResult is the outcome of one entry of a DeleteObjects.
type EntryResult struct {
	Failed       bool   `cbor:"1,keyasint,omitempty"`
	Kind         uint16 `cbor:"2,keyasint,omitempty"`
	Msg          string `cbor:"3,keyasint,omitempty"`
	VersionID    string `cbor:"4,keyasint,omitempty"`
	DeleteMarker bool   `cbor:"5,keyasint,omitempty"`
}

// Error is the entry's failure, nil if it succeeded.
func (e *EntryResult) Error() *objapi.Error {
	if !e.Failed {
		return nil
	}
	return &objapi.Error{Kind: objapi.Kind(e.Kind), Msg: e.Msg}
}

// withoutInline returns r with its parts' inline bytes left out, sharing
// nothing with r that it changes (r itself when no part has any).
func (r *Result) withoutInline() *Result {
	has := slices.ContainsFunc(r.Garbage, func(p Part) bool { return len(p.Inline) > 0 })
	if r.Replaced != nil {
		has = has || slices.ContainsFunc(r.Replaced.Parts, func(p Part) bool { return len(p.Inline) > 0 })
	}
	if !has {
		return r
	}
	out := *r
	out.Garbage = partsWithoutInline(r.Garbage)
	if r.Replaced != nil {
		o := *r.Replaced
		o.Parts = partsWithoutInline(o.Parts)
		out.Replaced = &o
	}
	return &out
}

func partsWithoutInline(ps []Part) []Part {
	if ps == nil {
		return nil
	}
	out := make([]Part, len(ps))
	for i, p := range ps {
		p.Inline = nil
		out[i] = p
	}
	return out
}

// MaxCommand bounds an encoded command: the leader refuses a larger one,
// and so does the RPC that forwards commands to it. A command stores at
// most one inline stream and the records of up to 10 000 parts, far
// below it.
const MaxCommand = 16 << 20

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
	_, ok := opOf(c.Payload)
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
	level := c.Level()
	if level <= 1 {
		return c.encode(format2, 0, "", b), nil
	}
	return c.encode(format3, level, levelReleases[level], b), nil
}

func (c *Command) encode(format byte, level Level, release string, payload []byte) []byte {
	op, _ := opOf(c.Payload)
	release = release[:min(len(release), 255)]
	out := make([]byte, 0, envelopeV2+3+len(release)+len(payload))
	out = append(out, format, byte(op))
	if format >= format3 {
		out = binary.BigEndian.AppendUint16(out, uint16(level))
		out = append(out, byte(len(release)))
		out = append(out, release...)
	}
	out = append(out, c.ID[:]...)
	out = binary.BigEndian.AppendUint64(out, uint64(c.Proposed))
	return append(out, payload...)
}

// envelopeV2 is the length of a format 2 command's envelope: format, op,
// id, proposer's clock.
const envelopeV2 = 2 + 16 + 8

// proposedAt reads the proposer's clock from an encoded command's
// envelope without decoding its payload; false for formats without one.
func proposedAt(b []byte) (int64, bool) {
	if len(b) < 2 {
		return 0, false
	}
	rest := b[2:]
	switch b[0] {
	case format2:
	case format3:
		if len(rest) < 3 || len(rest) < 3+int(rest[2]) {
			return 0, false
		}
		rest = rest[3+int(rest[2]):]
	default:
		return 0, false
	}
	if len(rest) < 16+8 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(rest[16:24])), true
}

// DecodeCommand parses a Raft log entry. An entry written by a newer
// binary, for a command level or an op this one does not know, fails with
// a *TooNewError naming what it needs; any other entry that does not
// decode is corruption of the log. The FSM applies neither.
func DecodeCommand(b []byte) (*Command, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("meta: command of %d bytes", len(b))
	}
	c := &Command{}
	format, op := b[0], Op(b[1])
	rest := b[2:]
	var level Level // 0: the entry does not say
	var release string
	if format >= format3 {
		// Every format from 3 on begins with the level and the release.
		if len(rest) < 3 || len(rest) < 3+int(rest[2]) {
			return nil, fmt.Errorf("meta: command of %d bytes", len(b))
		}
		level = Level(binary.BigEndian.Uint16(rest))
		release = string(rest[3 : 3+int(rest[2])])
		rest = rest[3+int(rest[2]):]
	}
	switch format {
	case format1:
	case format2, format3:
		if len(rest) < 16+8 {
			return nil, fmt.Errorf("meta: command of %d bytes", len(b))
		}
		copy(c.ID[:], rest[:16])
		c.Proposed = int64(binary.BigEndian.Uint64(rest[16:24]))
		rest = rest[24:]
	case 0:
		return nil, errors.New("meta: command of format 0")
	default:
		return nil, &TooNewError{Format: format, Op: op, Level: level, Release: release}
	}
	k, ok := kinds[op]
	if level > commandLevel || !ok {
		return nil, &TooNewError{Format: format, Op: op, Level: level, Release: release}
	}
	c.Payload = k.new()
	if err := unmarshal(rest, c.Payload); err != nil {
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
	// Versions (level 2 commands).
	VersionID    string        `cbor:"7,keyasint,omitempty"`
	DeleteMarker bool          `cbor:"8,keyasint,omitempty"`
	Entries      []EntryResult `cbor:"9,keyasint,omitempty"`
}

// EncodeResult serializes r for the RPC that forwards commands to the
// leader, without inline bytes (see Result).
func EncodeResult(r *Result) ([]byte, error) {
	r = r.withoutInline()
	w := wireResult{Garbage: r.Garbage, Replaced: r.Replaced, Duplicate: r.Duplicate,
		VersionID: r.VersionID, DeleteMarker: r.DeleteMarker, Entries: r.Entries}
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
	r := &Result{Garbage: w.Garbage, Replaced: w.Replaced, Duplicate: w.Duplicate,
		VersionID: w.VersionID, DeleteMarker: w.DeleteMarker, Entries: w.Entries}
	if w.Failed {
		r.Err = &objapi.Error{Kind: objapi.Kind(w.Kind), Msg: w.Msg}
	}
	return r, nil
}
