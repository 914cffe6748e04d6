package node

import (
	"context"
	"strings"

	"github.com/kommunal-cloud/kcs/node/crypt"
	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/objapi"
)

// The commit step of every write. A write first makes its streams durable
// (shards on drives, or inline bytes in the command), then commits one
// metadata command that references them. What happens to the streams then
// follows one rule, written here once:
//
//   - committed: the command's garbage (the versions or parts it
//     replaced) goes to the collector, which deletes their shards after the
//     grace period if the metadata still does not reference them;
//   - refused by the metadata (a failed condition, the bucket gone): the
//     new streams were never referenced, their shards are deleted now;
//   - outcome unknown (no answer from the cluster in time, even when
//     asked by the command's id): the shards stay. If the command commits
//     later they are referenced; if it never does, the orphan scan deletes
//     them once they are older than its grace period. Deleting them here
//     could destroy an acknowledged-later version.

// wrapping says how a command carries a data key, so that the commit can
// rewrap it when the tenant's key was rotated while the stream was written.
type wrapping struct {
	tenant string
	dk     *crypt.DataKey
	owner  crypt.Owner
	set    func(crypt.WrappedKey, uint32) // stores a new wrapping into the command
}

// commit proposes cmd, which references the new streams fresh, and
// applies the rule above. It returns the metadata's result as an error
// for op on bucket/key when the command was refused.
func (n *Node) commit(ctx context.Context, op, bucket, key string, cmd *meta.Command, w *wrapping, fresh ...meta.Part) (*meta.Result, error) {
	var res *meta.Result
	var err error
	if w != nil {
		res, err = n.proposeWrapped(ctx, w, cmd)
	} else {
		res, err = n.cons.Propose(ctx, cmd)
	}
	if res, err = result(op, bucket, key, res, err); err != nil {
		if res != nil {
			for _, p := range fresh {
				n.deleteShardsSoon(p)
			}
		} else if len(fresh) > 0 {
			n.log.Warn("write outcome unknown; its shards stay for the orphan scan unless it commits", "op", op, "bucket", bucket, "key", key, "err", err)
		}
		return nil, err
	}
	n.gc.Add(res.Garbage)
	return res, nil
}

// proposeWrapped proposes cmd, which commits a data key wrapped as w says.
// Should the tenant's key be rotated after the key was wrapped (a long
// upload), the commit refuses the old version: the key is wrapped by the
// current one and the command proposed again, as a new command (the
// refusal was the first one's outcome), so the client never sees the
// rotation.
func (n *Node) proposeWrapped(ctx context.Context, w *wrapping, cmd *meta.Command) (*meta.Result, error) {
	for attempt := 1; ; attempt++ {
		res, err := n.cons.Propose(ctx, cmd)
		if err != nil || res.Err == nil || res.Err.Kind != objapi.KindStaleKey || attempt == 3 {
			return res, err
		}
		// The refusal came from the leader; this node may not have applied
		// the rotation yet.
		if err := n.cons.Linearize(ctx); err != nil {
			return nil, err
		}
		var tk *crypt.TenantKey
		if err := n.store.FSM.View(func(r *meta.Reader) error {
			var err error
			tk, err = n.currentTenantKey(r, w.tenant)
			return err
		}); err != nil {
			return nil, err
		}
		wrapped, err := tk.WrapDataKey(w.dk, w.owner)
		if err != nil {
			return nil, err
		}
		w.set(wrapped, tk.Version())
		cmd.ID, cmd.Proposed = meta.CommandID{}, 0
	}
}

// result turns a command's business outcome into an error for op.
func result(op, bucket, key string, res *meta.Result, err error) (*meta.Result, error) {
	if err != nil {
		return nil, err
	}
	if res.Err != nil {
		e := *res.Err
		e.Op, e.Bucket, e.Key = op, bucket, key
		return res, &e
	}
	return res, nil
}

// etagCondition writes an If-Match list as the metadata's commands carry
// it: entries unquoted and without weak markers, so that the FSM's matcher
// (which strips only quotes, and must decide as every older member does)
// reads the list as objapi.ETagMatches would.
func etagCondition(list string) string {
	if list == "" {
		return ""
	}
	parts := strings.Split(list, ",")
	for i, p := range parts {
		if p = strings.TrimSpace(p); p != "*" {
			p = objapi.UnquoteETag(p)
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}
