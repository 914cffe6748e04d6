package meta

import (
	"github.com/kommunal-cloud/kcs/node/objapi"
)

// Limits in commands (see Limits in records.go). The FSM enforces what a
// command carries, never a setting of its own node, so that every member
// decides alike; a command carries limits only once every member's binary
// knows them (MembersLevel), since an older binary would apply it without
// them and store what the others refuse.

// limitsLevel is the command level of a payload that carries l.
func limitsLevel(l *Limits) Level {
	if l == nil {
		return 1
	}
	return 2
}

// checkSealedMeta refuses sealed metadata beyond l's bound.
func checkSealedMeta(l *Limits, sealed []byte) (*Result, error) {
	if l != nil && l.MaxSealedMeta > 0 && len(sealed) > l.MaxSealedMeta {
		return fail(objapi.KindInvalidArgument, "the object's metadata takes %d bytes sealed, beyond the limit of %d", len(sealed), l.MaxSealedMeta)
	}
	return nil, nil
}

// MembersLevel is the highest command level every member's binary knows
// (and this one's): a proposer may use commands and fields up to it. With
// no member registered yet it is 1.
func (r *Reader) MembersLevel() (Level, error) {
	nodes, err := r.Nodes()
	if err != nil {
		return 0, err
	}
	l := commandLevel
	for i := range nodes {
		l = min(l, memberLevel(&nodes[i]))
	}
	if len(nodes) == 0 {
		l = 1
	}
	return l, nil
}
