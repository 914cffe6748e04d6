package meta

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// This test binary plays the binary of a release that added a command of
// level 2, testLevel2: members whose records say level 1 run the release
// before it.
const opTestLevel2 Op = 250

type testLevel2 struct {
	Note string `cbor:"1,keyasint"`
}

func (p *testLevel2) apply(tx *bolt.Tx) (*Result, error) {
	return &Result{}, tx.Bucket(bSys).Put([]byte("test-level-2"), []byte(p.Note))
}

const testRelease2 = "kcs test-2"

func init() {
	commandLevel = 2
	levelReleases[2] = testRelease2
	kinds[opTestLevel2] = kindOf[testLevel2](2)
	opsByType[reflect.TypeFor[testLevel2]()] = opTestLevel2
}

// entry builds a log entry of any format by hand, as a newer binary may
// write it.
func entry(format byte, op Op, level Level, release string, payload []byte) []byte {
	b := []byte{format, byte(op)}
	if format >= format3 {
		b = binary.BigEndian.AppendUint16(b, uint16(level))
		b = append(append(b, byte(len(release))), release...)
	}
	b = append(b, bytes.Repeat([]byte{7}, 16)...)
	b = binary.BigEndian.AppendUint64(b, uint64(goldenTime))
	return append(b, payload...)
}

// Commands of level 1 keep format 2, which binaries before levels read;
// commands of a higher level carry their level and the release that
// introduced it. Entries this binary does not know fail as TooNewError,
// naming what they need.
func TestCommandLevelsInEntries(t *testing.T) {
	old, err := NewCommand(&DeleteTenant{ID: "t"}).Encode()
	if err != nil || old[0] != format2 {
		t.Fatalf("a level 1 command: format %d, %v", old[0], err)
	}
	c := NewCommand(&testLevel2{Note: "hi"})
	c.ID, c.Proposed = goldenID, goldenTime
	data, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if data[0] != format3 || binary.BigEndian.Uint16(data[2:]) != 2 || string(data[5:5+data[4]]) != testRelease2 {
		t.Fatalf("a level 2 command's envelope: % x", data[:5+data[4]])
	}
	back, err := DecodeCommand(data)
	if err != nil || !reflect.DeepEqual(back, c) {
		t.Fatalf("decodes to %+v, %v", back, err)
	}

	putPayload, _ := marshal(&PutObject{Bucket: "b", Key: "k"})
	for _, tc := range []struct {
		name  string
		entry []byte
		want  TooNewError
		says  []string
	}{
		{"a known op at a higher level (new fields)", entry(format3, OpPutObject, 3, "kcs 2027.1", putPayload),
			TooNewError{Format: 3, Op: OpPutObject, Level: 3, Release: "kcs 2027.1"}, []string{"command level 3 (kcs 2027.1 or later)", "knows up to command level 2", "upgrade"}},
		{"an unknown op", entry(format3, 99, 3, "kcs 2027.1", []byte{0xa0}),
			TooNewError{Format: 3, Op: 99, Level: 3, Release: "kcs 2027.1"}, []string{"op 99", "kcs 2027.1"}},
		{"an unknown op in format 2", entry(format2, 99, 0, "", []byte{0xa0}),
			TooNewError{Format: 2, Op: 99}, []string{"a newer binary"}},
		{"a later format", entry(4, 99, 5, "kcs 2030.1", []byte("whatever follows")),
			TooNewError{Format: 4, Op: 99, Level: 5, Release: "kcs 2030.1"}, []string{"command format 4", "kcs 2030.1"}},
	} {
		_, err := DecodeCommand(tc.entry)
		var tn *TooNewError
		if !errors.As(err, &tn) || *tn != tc.want {
			t.Errorf("%s: %v, want %+v", tc.name, err, tc.want)
			continue
		}
		for _, s := range tc.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: %q does not say %q", tc.name, err, s)
			}
		}
	}
	for _, broken := range [][]byte{{format3, byte(OpNoop), 0}, {format3, byte(OpNoop), 0, 2, 9, 'x'}, {0, byte(OpNoop)}} {
		var tn *TooNewError
		if _, err := DecodeCommand(broken); err == nil || errors.As(err, &tn) {
			t.Errorf("% x: %v", broken, err)
		}
	}
}

// An FSM that meets an entry of a level above its binary's halts: nothing
// of the batch is applied, Stalled names the release to upgrade to, and
// the loop gives up only when the node shuts down.
func TestFSMHaltsOnAnEntryTooNew(t *testing.T) {
	h := newFSMHarness(t)
	h.apply(NewCommand(&CreateTenant{Tenant: Tenant{ID: "t1"}}))
	applied := h.f.Applied()
	tenant := h.entry(NewCommand(&CreateTenant{Tenant: Tenant{ID: "t2"}}))
	h.idx++
	future := &raft.Log{Index: h.idx, Type: raft.LogCommand, Data: entry(format3, 99, 3, "kcs 2027.1", []byte{0xa0})}
	done := make(chan []any)
	go func() { done <- h.f.ApplyBatch([]*raft.Log{tenant, future}) }()

	waitFor(t, "the FSM to halt", func() bool { return h.f.Stalled() != nil })
	msg := h.f.Stalled().Error()
	for _, s := range []string{"log entry 3", "command level 3 (kcs 2027.1 or later)", "upgrade this node"} {
		if !strings.Contains(msg, s) {
			t.Errorf("%q does not say %q", msg, s)
		}
	}
	var tn *TooNewError
	if !errors.As(h.f.Stalled(), &tn) {
		t.Errorf("Stalled: %T", h.f.Stalled())
	}
	time.Sleep(1500 * time.Millisecond) // it retries, and stays halted
	select {
	case <-done:
		t.Fatal("the FSM went on past an entry it does not know")
	default:
	}
	h.f.View(func(r *Reader) error {
		if _, ok, _ := r.Tenant("t2"); ok {
			t.Error("the batch of the unknown entry was applied in part")
		}
		return nil
	})
	if h.f.Applied() != applied {
		t.Fatalf("applied moved to %d", h.f.Applied())
	}
	h.f.Abandon() // shutting down
	for _, r := range <-done {
		if !objapi.IsKind(r.(*Result).Err, objapi.KindUnavailable) {
			t.Fatalf("after shutdown: %+v", r)
		}
	}
}

// A command of a new kind is not proposed while a member's binary does not
// know it, and is once every member has been upgraded.
func TestNewCommandKindWaitsForEveryMember(t *testing.T) {
	nodes := startCluster(t, 3) // their records: binaries before levels
	cmd := NewCommand(&testLevel2{Note: "upgraded"})
	check := func() error {
		t.Helper()
		var err error
		readOn(t, nodes, nodes[1], func(r *Reader) error {
			err = CheckProposable(r, cmd)
			return nil
		})
		return err
	}
	if err := check(); !objapi.IsKind(err, objapi.KindUnavailable) ||
		!strings.Contains(err.Error(), "n0 (a binary before command levels, level 1), n1 (a binary before command levels, level 1), n2 (a binary before command levels, level 1)") ||
		!strings.Contains(err.Error(), "testLevel2 needs command level 2 ("+testRelease2+" or later)") {
		t.Fatalf("before any upgrade: %v", err)
	}
	readOn(t, nodes, nodes[0], func(r *Reader) error {
		if err := CheckProposable(r, NewCommand(&DeleteTenant{ID: "t"})); err != nil {
			t.Errorf("a level 1 command: %v", err)
		}
		return nil
	})

	// n0 and n1 restart with the new binary and register again.
	register := func(i int, level Level, version string) {
		var rec *Node
		readOn(t, nodes, nodes[0], func(r *Reader) error {
			rec, _, _ = r.Node(nodes[i].id)
			return nil
		})
		rec.CommandLevel, rec.Version = level, version
		if r := apply(t, nodes, NewCommand((*RegisterNode)(rec))); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	register(0, 2, "v2.0.0")
	register(1, 2, "v2.0.0")
	if err := check(); !objapi.IsKind(err, objapi.KindUnavailable) || !strings.Contains(err.Error(), "members n2 (a binary before command levels, level 1) do not know") {
		t.Fatalf("with n2 not upgraded: %v", err)
	}
	register(2, 1, "v1.9.0") // restarted, still the old release
	if err := check(); err == nil || !strings.Contains(err.Error(), "n2 (v1.9.0, level 1)") {
		t.Fatalf("with n2 on v1.9.0: %v", err)
	}
	register(2, 2, "v2.0.0")
	if err := check(); err != nil {
		t.Fatalf("after every member was upgraded: %v", err)
	}
	if r := apply(t, nodes, cmd); r.Err != nil {
		t.Fatal(r.Err)
	}
	waitAllApplied(t, nodes)
	for _, n := range nodes {
		n.s.FSM.View(func(r *Reader) error {
			if v := r.tx.Bucket(bSys).Get([]byte("test-level-2")); string(v) != "upgraded" {
				t.Errorf("%s: the level 2 command was not applied (%q)", n.id, v)
			}
			return nil
		})
	}
}

// proposedAt reads the proposer's clock of both envelope formats as
// DecodeCommand does.
func TestProposedAt(t *testing.T) {
	for _, p := range []Payload{&Noop{}, &testLevel2{Note: "x"}} {
		c := NewCommand(p)
		c.ID[0], c.Proposed = 1, 1767225600123456789
		b, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, ok := proposedAt(b)
		d, err := DecodeCommand(b)
		if err != nil || !ok || got != c.Proposed || d.Proposed != got {
			t.Fatalf("%T: proposedAt %d %v, decoded %v %v", p, got, ok, d, err)
		}
	}
	if _, ok := proposedAt([]byte{format2}); ok {
		t.Fatal("a truncated command has a clock")
	}
}
