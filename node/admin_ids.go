package node

import (
	"context"

	"github.com/kommunal-cloud/kcs/node/consensus"
	"github.com/kommunal-cloud/kcs/node/meta"
)

// WithRequestID returns a context under which the operation's metadata
// command is committed with id as its command id (see consensus): the
// admin API passes a signed request's id, so that a replay of the request
// is recognised on every node (RequestDone) and never applied twice.
func WithRequestID(ctx context.Context, id [16]byte) context.Context {
	return consensus.WithCommandID(ctx, meta.CommandID(id))
}

// RequestDone reports whether an operation carrying id was committed
// (within the last minutes, which is how long outcomes are remembered).
func (n *Node) RequestDone(ctx context.Context, id [16]byte) (bool, error) {
	return n.cons.Done(ctx, meta.CommandID(id))
}
