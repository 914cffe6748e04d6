package meta

import (
	"reflect"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// unregistered is a payload type nobody put into kinds.
type unregistered struct{}

func (unregistered) apply(*bolt.Tx) (*Result, error) { return &Result{}, nil }

// The registry names one op per payload type and decodes each op into
// its type.
func TestCommandRegistry(t *testing.T) {
	for op, k := range kinds {
		c := NewCommand(k.new())
		if c.Op() != op {
			t.Errorf("%v: op %d, registered as %d", k.typ, c.Op(), op)
		}
		data, err := c.Encode()
		if err != nil {
			t.Fatalf("%v: %v", k.typ, err)
		}
		back, err := DecodeCommand(data)
		if err != nil {
			t.Fatalf("%v: %v", k.typ, err)
		}
		if reflect.TypeOf(back.Payload) != reflect.TypeOf(c.Payload) || back.Op() != op {
			t.Errorf("op %d decodes to %T", op, back.Payload)
		}
	}
	for _, c := range []*Command{{}, NewCommand((*PutObject)(nil)), NewCommand(&unregistered{}), NewCommand(unregistered{})} {
		if _, err := c.Encode(); err == nil {
			t.Errorf("a command with payload %#v encodes", c.Payload)
		}
		if c.Op() != 0 {
			t.Errorf("a command with payload %#v has op %d", c.Payload, c.Op())
		}
	}
	if _, err := DecodeCommand(entry(format2, 0xEE, 0, "", []byte{0xa0})); err == nil {
		t.Error("an unknown op decodes")
	}
}
