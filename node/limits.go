package node

import (
	"fmt"

	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/objapi"
)

// What one client may store in the replicated metadata, which every member
// keeps a copy of. The node refuses what it can tell is beyond a bound
// before it writes anything; the FSM holds every command to the bounds the
// command carries (meta.Limits), which settles races and what the node
// could not tell in advance.
const (
	// DefaultMaxUploadInline is the default of Config.MaxUploadInline.
	// Only an upload's last part is ever small in a completed object
	// (every other is at least 5 MiB), so a client that reaches it is
	// uploading thousands of small parts.
	DefaultMaxUploadInline = 16 << 20
	// maxSealedMeta bounds an object's sealed metadata: content type,
	// standard headers and user metadata (together under S3's 8 KB of
	// request headers, which s3api enforces), and up to 10 tags of
	// 128 + 256 characters, sealed. Legitimate metadata stays far below
	// it; this is the backstop should a bound before it fail.
	maxSealedMeta = 64 << 10
)

// limits returns the bounds new commands carry, or nil while a member's
// binary does not know them (command level 2): such a member would apply
// the command without them, and store what the others refuse.
func (n *Node) limits(r *meta.Reader) *meta.Limits {
	if l, err := r.MembersLevel(); err != nil || l < 2 {
		return nil
	}
	return &meta.Limits{MaxPartNumber: MaxParts, MaxUploadInline: max(n.cfg.MaxUploadInline, 0), MaxSealedMeta: maxSealedMeta}
}

// checkInlineBudget refuses, before its data is written, a part whose
// stream would be kept in the metadata (it is at most InlineLimit bytes)
// and would take the upload's inline bytes beyond its limit. A part of
// unknown size is left to the FSM.
func (n *Node) checkInlineBudget(op string, u *meta.Upload, part int, size int64) error {
	if u.Limits == nil || u.Limits.MaxUploadInline <= 0 || size < 0 || size > int64(n.cfg.InlineLimit) {
		return nil
	}
	stream := n.inlineEstimate(size)
	var total int64
	err := n.store.FSM.View(func(r *meta.Reader) error {
		usage, err := r.UploadUsage(u.ID)
		if err != nil {
			return err
		}
		old, _, err := r.Part(u.ID, part)
		if err != nil {
			return err
		}
		total = usage.InlineBytes - int64(len(old.Inline)) + stream
		return nil
	})
	if err != nil {
		return err
	}
	if total > u.Limits.MaxUploadInline {
		return &objapi.Error{Op: op, Kind: objapi.KindEntityTooLarge, Bucket: u.Bucket, Key: u.Key,
			Msg: fmt.Sprintf("the upload's parts would keep %d bytes in the metadata, beyond its limit of %d: upload fewer, larger parts",
				total, u.Limits.MaxUploadInline)}
	}
	return nil
}

// checkSealedSize refuses sealed metadata beyond maxSealedMeta.
func checkSealedSize(sealed []byte) error {
	if len(sealed) > maxSealedMeta {
		return objapi.Errorf("", objapi.KindInvalidArgument, "the object's metadata takes %d bytes sealed, beyond the limit of %d", len(sealed), maxSealedMeta)
	}
	return nil
}
