package meta

import (
	"fmt"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// Rolling upgrades. Members of a cluster run different binaries while it
// is upgraded one node at a time, and every release may add commands. A
// command that some member's binary does not know must not reach the log
// before that member is upgraded, and a binary that meets one anyway (a
// member rolled back, a node joining with an old binary) must stop, not
// misapply it.
//
// So every kind of command has a command level: the ops 1–25 are level 1,
// ops 26–31 (SetQuota and full redundancy's) level 2,
// and a release that adds commands raises CommandLevel by one, registers
// them with the new level and names itself in levelReleases. A payload
// whose new fields change what an existing command does declares the
// higher level too (leveled). Each member records the level its binary
// knows (Node.CommandLevel, registered at join and at every restart), and
// a proposer refuses a command of a level some member lacks
// (CheckProposable). A command of level 2 or more travels in a format 3
// entry, which carries the level and the name of the first release that
// knows it: a binary that meets a level above its own halts its FSM and
// reports the release it needs (see FSM.ApplyBatch). Commands of level 1
// keep format 2, which binaries before levels read.
//
// Level 2 added Limits to CreateUpload, PutObject and SetObjectMeta: the
// bounds a proposer holds an upload's parts and an object's sealed
// metadata to. A binary of level 1 would store what they refuse. The same
// (unreleased) level added quotas: the command SetQuota, and Quota in
// CreateTenant (a new tenant's default quota). The commands that store
// data (PutObject, PutPart, CreateUpload, CompleteUpload, CreateBucket)
// enforce the quotas the state holds and keep their levels: only a binary
// of level 2 ever applies a command that sets a quota, and a binary of
// level 1 refuses a database of schema 3 (it cannot install such a
// snapshot), so no member that would ignore a quota ever holds one.
// Level 2 also has DeleteBucket with AbortUploads (the bucket's uploads
// in progress are aborted with it, where level 1 refuses the deletion)
// and CompleteUpload recording its upload in the object (Object.UploadID,
// which answers a retried completion), and the commands of full
// redundancy — MoveStream, SetDraining, RemoveNode, PromoteNode, Spread
// (commands_redundancy.go) — with the record fields only they set, and
// versioning, object lock, lifecycle and bucket tags (SetBucketTags).

// Level is a command level: a binary of level L knows every command of
// level L and below.
type Level uint16

// commandLevel is the highest command level this binary knows. (A
// variable only so that tests can play a newer binary.)
var commandLevel Level = 2

// CommandLevel is the highest command level this binary knows.
func CommandLevel() Level { return commandLevel }

// levelReleases names the first release of kcs at each command level
// above 1, for the messages that tell an operator what to upgrade to. A
// release that raises CommandLevel adds its name here. (Level 2 has no
// release name yet: entries of level 2 name none, and messages say
// "command level 2"; whoever cuts the release that brings it names it
// here.)
var levelReleases = map[Level]string{}

// BinaryVersion is this binary's version, as members' records show it.
var BinaryVersion = binaryVersion()

func binaryVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if v == "(devel)" && rev != "" {
		v += " " + rev[:min(12, len(rev))]
		if dirty {
			v += "+dirty"
		}
	}
	return v
}

// A leveled payload needs a higher level than its kind's: fields a later
// release added that change what the command does, and that an older
// binary, which would ignore them, must not apply.
type leveled interface {
	Payload
	level() Level
}

// Level is the command level a binary needs to apply c.
func (c *Command) Level() Level {
	op, ok := opOf(c.Payload)
	if !ok {
		return 0
	}
	l := kinds[op].level
	if p, ok := c.Payload.(leveled); ok {
		l = max(l, p.level())
	}
	return l
}

// memberLevel is the command level a member's binary knows; a record
// without one is from a binary before levels, which knows level 1.
func memberLevel(n *Node) Level { return max(n.CommandLevel, 1) }

// describeLevel names a level for an operator.
func describeLevel(l Level, release string) string {
	if release == "" {
		release = levelReleases[l]
	}
	if release == "" {
		return fmt.Sprintf("command level %d", l)
	}
	return fmt.Sprintf("command level %d (%s or later)", l, release)
}

// CheckProposable refuses a command that a member's binary does not know:
// every proposal passes here before it is handed to Raft, so a new kind of
// command is used only once every member has been upgraded to a binary
// that applies it. The error (KindUnavailable) names the members to
// upgrade. Members are read from r, this node's view; a member that is
// rolled back afterwards meets the entry and halts (TooNewError).
func CheckProposable(r *Reader, c *Command) error {
	op, ok := opOf(c.Payload)
	if !ok {
		return fmt.Errorf("meta: %T is not a registered command", c.Payload)
	}
	need := c.Level()
	if need > commandLevel {
		return &objapi.Error{Op: "propose", Kind: objapi.KindInternal,
			Msg: fmt.Sprintf("op %d needs %s, above this binary's %d", op, describeLevel(need, ""), commandLevel)}
	}
	if need <= 1 {
		return nil // every binary knows level 1
	}
	nodes, err := r.Nodes()
	if err != nil {
		return err
	}
	var behind []string
	for i := range nodes {
		if l := memberLevel(&nodes[i]); l < need {
			v := nodes[i].Version
			if v == "" {
				v = "a binary before command levels"
			}
			behind = append(behind, fmt.Sprintf("%s (%s, level %d)", nodes[i].ID, v, l))
		}
	}
	if len(behind) == 0 {
		return nil
	}
	slices.Sort(behind)
	return &objapi.Error{Op: "propose", Kind: objapi.KindUnavailable,
		Msg: fmt.Sprintf("%s needs %s, which members %s do not know yet: upgrade them first",
			kinds[op].typ.Name(), describeLevel(need, ""), strings.Join(behind, ", "))}
}

// TooNewError is a log entry this binary cannot apply: it was written by a
// newer binary, for a command level above this one's (or of an op this
// binary does not know). The FSM halts on it rather than skip or misapply
// it; the node needs the binary the error names.
type TooNewError struct {
	Format  byte
	Op      Op
	Level   Level  // the level the entry needs; 0 if it does not say
	Release string // the first release at Level, if the entry names it
}

func (e *TooNewError) Error() string {
	need := "a newer binary (the entry does not say which)"
	if e.Level > 0 {
		need = describeLevel(e.Level, e.Release)
	}
	return fmt.Sprintf("the entry (command format %d, op %d) needs %s; this binary (kcs %s) knows up to command level %d: upgrade this node's kcs binary",
		e.Format, e.Op, need, BinaryVersion, commandLevel)
}
