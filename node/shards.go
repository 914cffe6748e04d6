package node

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/kommunal-cloud/kcs/erasure"
	"github.com/kommunal-cloud/kcs/node/crypt"
	"github.com/kommunal-cloud/kcs/node/datapath"
	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/objapi"
	"github.com/kommunal-cloud/kcs/node/shardstore"
)

// shardWriter is a shard stream being written, locally or to a peer.
type shardWriter interface {
	io.Writer
	Commit() error // durable once it returns
	Abort()        // leaves nothing behind
}

// chooseSet picks the erasure set for a new stream: the full family's sets
// in an order that starts at a place the data id decides (spreading load),
// the first whose drives are all on nodes that answer and all have room
// (free space above the reserve); while a site is down no full set
// qualifies, and a degraded family over the remaining sites takes over.
func (n *Node) chooseSet(r *meta.Reader, dataID [16]byte) (*meta.Set, error) {
	lay, err := r.Layout()
	if err != nil {
		return nil, err
	}
	start := int(binary.BigEndian.Uint32(dataID[:4]) & 0x7fffffff)
	for _, fam := range lay.Families {
		for i := range fam.Sets {
			id := fam.Sets[(start+i)%len(fam.Sets)]
			set, ok, err := r.Set(id)
			if err != nil || !ok {
				continue
			}
			healthy := true
			for _, d := range set.Drives {
				if !n.live.IsUp(nodeOfDrive(d)) || !n.live.HasRoom(d) {
					healthy = false
					break
				}
			}
			if healthy {
				return set, nil
			}
		}
	}
	return nil, objapi.Errorf("place", objapi.KindUnavailable, "no erasure set has all its drives reachable and above the free-space reserve")
}

// inlineStream encrypts a small body in memory for the metadata record.
func (n *Node) inlineStream(plain []byte, dk *crypt.DataKey, streamAD []byte, partNumber int) (*stream, error) {
	er, err := crypt.NewEncryptReader(bytes.NewReader(plain), dk, streamAD, crypt.EncryptOptions{})
	if err != nil {
		return nil, err
	}
	var ct bytes.Buffer
	if _, err := er.WriteTo(&ct); err != nil {
		return nil, err
	}
	h := er.Header()
	dataID := newDataID()
	return &stream{
		part: meta.Part{Number: partNumber, Size: int64(len(plain)), DataID: dataID[:], Cipher: h[:],
			Modified: n.now().UnixNano(), Inline: ct.Bytes()},
		md5: md5.Sum(plain),
	}, nil
}

// writeQuorum is how many shards must be durable before a write counts:
// one more than k, so that losing any single further shard keeps the
// object readable (k when there is no parity).
func writeQuorum(k, m int) int {
	if m == 0 {
		return k
	}
	return k + 1
}

// stream is what writeStream produced.
type stream struct {
	part meta.Part
	md5  [16]byte
}

// writeStream stores one stream (an object or a part): hashed, encrypted
// under dk with streamAD, coded into the shards of a set, each shard
// durable on its drive. On error nothing it wrote stays referenced; shards
// already durable are deleted.
func (n *Node) writeStream(ctx context.Context, body io.Reader, dk *crypt.DataKey, streamAD []byte, partNumber int) (*stream, error) {
	if n.cfg.InlineLimit > 0 {
		// Read up to the limit: a body that ends within it is stored in the
		// metadata; a longer one streams on, its first bytes put back.
		buf := make([]byte, n.cfg.InlineLimit+1)
		got, err := io.ReadFull(body, buf)
		switch err {
		case io.EOF, io.ErrUnexpectedEOF:
			return n.inlineStream(buf[:got], dk, streamAD, partNumber)
		case nil:
			body = io.MultiReader(bytes.NewReader(buf), body)
		default:
			return nil, err
		}
	}
	dataID := newDataID()
	var set *meta.Set
	err := n.store.FSM.View(func(r *meta.Reader) error {
		var err error
		set, err = n.chooseSet(r, dataID)
		return err
	})
	if err != nil {
		return nil, err
	}
	params := erasure.Params{K: set.K, M: set.M, BlockSize: n.cfg.BlockSize}
	coder, err := n.coder(params)
	if err != nil {
		return nil, err
	}
	// Writes to peers carry their own context: if the client goes away,
	// ctx is canceled and every shard stream breaks off.
	writers := make([]shardWriter, len(set.Drives))
	ws := make([]io.Writer, len(set.Drives))
	for i, drive := range set.Drives {
		name := shardstore.Name{DataID: dataID, Part: uint32(partNumber), Shard: uint8(i)}
		w, err := n.openShardWriter(ctx, drive, name)
		if err != nil {
			n.log.Warn("shard writer", "drive", drive, "err", err)
			continue
		}
		writers[i], ws[i] = w, w
	}
	res, err := datapath.Put(ctx, body, datapath.PutRequest{ObjectID: dataID[:], DataKey: dk, StreamAD: streamAD, Coder: coder, Shards: ws})
	if err != nil {
		abortAll(writers)
		return nil, err
	}
	failed := map[int]bool{}
	for _, f := range res.Failed {
		failed[f.Shard] = true
		n.noteFailure(ctx, set.Drives[f.Shard], f.Err)
	}
	var mu sync.Mutex
	durable := 0
	done := make([]bool, len(writers))
	var wg sync.WaitGroup
	for i, w := range writers {
		if w == nil {
			continue
		}
		if failed[i] {
			w.Abort()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Commit(); err != nil {
				n.log.Warn("shard commit", "drive", set.Drives[i], "err", err)
				n.noteFailure(ctx, set.Drives[i], err)
				return
			}
			mu.Lock()
			durable++
			done[i] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	part := meta.Part{
		Number: partNumber, Size: res.PlainSize, DataID: dataID[:], SetID: set.ID,
		K: set.K, M: set.M, BlockSize: params.BlockSize, Format: erasure.FormatV1,
		Cipher: res.Header[:], Modified: n.now().UnixNano(), Drives: set.Drives,
	}
	if q := writeQuorum(set.K, set.M); durable < q {
		n.deleteShardsSoon(part)
		return nil, objapi.Errorf("write", objapi.KindUnavailable, "only %d of %d shards durable, %d needed", durable, len(set.Drives), q)
	}
	// Shards that did not make it are recorded with the commit: the stream
	// counts as below full protection until the leader has rebuilt them.
	for i, ok := range done {
		if !ok {
			part.Lost = append(part.Lost, i)
		}
	}
	if len(part.Lost) > 0 {
		n.log.Warn("stream written with shards missing; rebuilt after the commit", "data_id", fmt.Sprintf("%x", dataID), "lost", part.Lost)
	}
	return &stream{part: part, md5: res.MD5}, nil
}

// writeBody stores a client's body as part number (0 for a whole object)
// and checks it against what the client announced: its size (size < 0:
// not announced) and Content-MD5. A body that does not match leaves
// nothing behind.
func (n *Node) writeBody(ctx context.Context, op string, body io.Reader, size int64, contentMD5 []byte, dk *crypt.DataKey, number int) (*stream, error) {
	st, err := n.writeStream(ctx, &limitBody{r: body, left: MaxPutSize}, dk, partAD(number), number)
	if err != nil {
		return nil, err
	}
	if size >= 0 && st.part.Size != size {
		n.deleteShardsSoon(st.part)
		return nil, objapi.Errorf(op, objapi.KindIncompleteBody, "body of %d bytes, %d announced", st.part.Size, size)
	}
	if len(contentMD5) > 0 && !bytes.Equal(contentMD5, st.md5[:]) {
		n.deleteShardsSoon(st.part)
		return nil, objapi.Errorf(op, objapi.KindBadDigest, "the Content-MD5 you specified did not match what we received")
	}
	return st, nil
}

func abortAll(ws []shardWriter) {
	var wg sync.WaitGroup
	for _, w := range ws {
		if w != nil {
			wg.Add(1)
			go func() { defer wg.Done(); w.Abort() }()
		}
	}
	wg.Wait()
}

// deleteShardsSoon removes the shards of a stream that was never committed.
func (n *Node) deleteShardsSoon(p meta.Part) {
	go func() {
		ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
		defer cancel()
		n.deleteShards(ctx, p)
	}()
}

func (n *Node) openShardWriter(ctx context.Context, drive string, name shardstore.Name) (shardWriter, error) {
	owner := nodeOfDrive(drive)
	if owner == n.cfg.ID {
		d, ok := n.drives[drive]
		if !ok {
			return nil, fmt.Errorf("no local drive %s", drive)
		}
		return d.Create(name)
	}
	if !n.live.IsUp(owner) {
		return nil, fmt.Errorf("node %s is down", owner)
	}
	addr := n.nodeRPC(owner)
	if addr == "" {
		return nil, fmt.Errorf("node %s unknown", owner)
	}
	return n.rpc.CreateShard(ctx, addr, drive, name), nil
}

// noteFailure has a peer probed at once when talking to it failed, so that
// a peer that is really gone is marked down before the next ping and the
// next write picks a set without it. The failure itself is no verdict: a
// request cut off because its client went away (ctx ended) says nothing
// about the peer and is not even reported.
func (n *Node) noteFailure(ctx context.Context, drive string, err error) {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return
	}
	if owner := nodeOfDrive(drive); owner != n.cfg.ID && objapi.IsKind(err, objapi.KindUnavailable) {
		n.live.Suspect(owner)
	}
}

// shardSource reads one shard of a stream, from a local drive or a peer.
type shardSource struct {
	n     *Node
	drive string
	name  shardstore.Name
}

func (s *shardSource) OpenRange(ctx context.Context, off, length int64) (io.ReadCloser, error) {
	owner := nodeOfDrive(s.drive)
	if owner == s.n.cfg.ID {
		d, ok := s.n.drives[s.drive]
		if !ok {
			return nil, fmt.Errorf("no local drive %s", s.drive)
		}
		return d.OpenRange(s.name, off, length)
	}
	addr := s.n.nodeRPC(owner)
	if addr == "" {
		return nil, fmt.Errorf("%w: node %s unknown", erasure.ErrShardUnreachable, owner)
	}
	rc, err := s.n.rpc.OpenShard(ctx, addr, s.drive, s.name, off, length)
	if err != nil {
		if objapi.IsKind(err, objapi.KindUnavailable) {
			err = fmt.Errorf("%w: %w", erasure.ErrShardUnreachable, err)
		}
		return nil, err
	}
	return remoteShard{rc}, nil
}

// remoteShard marks a peer's shard stream that breaks off as unreachable:
// a peer's disk error ends the stream early, which the decoder sees as a
// truncated, corrupt shard; any other read error is the connection's.
type remoteShard struct{ io.ReadCloser }

func (r remoteShard) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err != nil && err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("%w: %w", erasure.ErrShardUnreachable, err)
	}
	return n, err
}

// sources returns the shard sources of a stream and the order to read
// them in: this node's shards first, then this site's, then the rest, data
// shards before parity within each group, and last the shards on nodes
// whose probe is overdue (hung, perhaps). Shards on nodes known to be down
// are left out.
func (n *Node) sources(p *meta.Part, sites map[string]string) ([]erasure.ShardSource, []int) {
	var id [16]byte
	copy(id[:], p.DataID)
	srcs := make([]erasure.ShardSource, len(p.Drives))
	var local, site, rest, late []int
	for i, drive := range p.Drives {
		owner := nodeOfDrive(drive)
		if !n.live.IsUp(owner) {
			continue
		}
		srcs[i] = &shardSource{n: n, drive: drive, name: shardstore.Name{DataID: id, Part: uint32(p.Number), Shard: uint8(i)}}
		switch {
		case owner == n.cfg.ID:
			local = append(local, i)
		case n.live.IsSlow(owner):
			late = append(late, i)
		case sites[owner] == n.cfg.Site:
			site = append(site, i)
		default:
			rest = append(rest, i)
		}
	}
	return srcs, append(append(append(local, site...), rest...), late...)
}

// readStream writes plaintext [off, off+length) of a stored stream to w.
func (n *Node) readStream(ctx context.Context, w io.Writer, p *meta.Part, dk *crypt.DataKey, streamAD []byte, sites map[string]string, off, length int64) error {
	if length == 0 {
		return nil
	}
	h, err := crypt.ParseHeader(p.Cipher)
	if err != nil {
		return &objapi.Error{Op: "read", Kind: objapi.KindCorrupt, Err: err}
	}
	if len(p.Inline) > 0 {
		return readInline(w, p, h, dk, streamAD, off, length)
	}
	coder, err := n.coder(erasure.Params{Format: p.Format, K: p.K, M: p.M, BlockSize: p.BlockSize})
	if err != nil {
		return &objapi.Error{Op: "read", Kind: objapi.KindCorrupt, Err: err}
	}
	if sites != nil {
		// Shards on nodes the records no longer list (removed after they
		// were destroyed) are gone, not out of reach: a stream left with
		// fewer than k elsewhere is lost, which no retry mends.
		held := 0
		for _, d := range p.Drives {
			if owner := nodeOfDrive(d); owner == n.cfg.ID || sites[owner] != "" {
				held++
			}
		}
		if held < p.K {
			n.log.Error("object data lost: too few of its shards are on members of the cluster (kcs admin meta loss-report lists every such object)",
				"data_id", fmt.Sprintf("%x", p.DataID), "part", p.Number, "shards_on_members", held, "k", p.K)
			return &objapi.Error{Op: "read", Kind: objapi.KindCorrupt,
				Msg: fmt.Sprintf("the object's data is lost: %d of its %d shards were on nodes still in the cluster, %d are needed", held, len(p.Drives), p.K)}
		}
	}
	srcs, prefer := n.sources(p, sites)
	rep, err := datapath.Get(ctx, w, datapath.GetRequest{
		ObjectID: p.DataID, DataKey: dk, StreamAD: streamAD, Header: h, PlainSize: p.Size,
		Coder: coder, Shards: srcs, Prefer: prefer, Offset: off, Length: length,
	})
	if ctx.Err() == nil {
		// A read its client gave up on finds shards "bad" that were only
		// cut off: no verdict on them.
		n.queueRepairs(p, rep.Bad)
		for _, b := range rep.Bad {
			n.noteFailure(ctx, p.Drives[b.Shard], b.Err)
			n.log.Warn("bad shard; queued for repair", "data_id", fmt.Sprintf("%x", p.DataID), "part", p.Number, "shard", b.Shard, "drive", p.Drives[b.Shard], "err", b.Err)
		}
	}
	if err != nil {
		switch {
		case errors.Is(err, erasure.ErrTooFewReachable):
			// The data is intact as far as anyone knows; its shards' nodes
			// are down or did not answer. Worth a retry later.
			return &objapi.Error{Op: "read", Kind: objapi.KindUnavailable, Msg: "too few of the object's shards are reachable", Err: err}
		case errors.Is(err, erasure.ErrTooManyBad) || errors.Is(err, crypt.ErrAuth) || errors.Is(err, crypt.ErrTruncated):
			n.log.Error("object data damaged beyond what its parity can repair", "data_id", fmt.Sprintf("%x", p.DataID), "part", p.Number, "err", err)
			return &objapi.Error{Op: "read", Kind: objapi.KindCorrupt, Err: err}
		}
		return err
	}
	return nil
}

// readInline decrypts a range of a stream kept in the metadata.
func readInline(w io.Writer, p *meta.Part, h crypt.Header, dk *crypt.DataKey, streamAD []byte, off, length int64) error {
	dw, err := crypt.NewDecryptWriter(w, dk, h, streamAD, p.Size, off, length)
	if err != nil {
		return err
	}
	ctOff, ctLen := h.CiphertextRange(p.Size, off, length)
	if ctOff+ctLen > int64(len(p.Inline)) {
		return &objapi.Error{Op: "read", Kind: objapi.KindCorrupt, Msg: "inline stream shorter than its size"}
	}
	if _, err := dw.Write(p.Inline[ctOff : ctOff+ctLen]); err != nil {
		return &objapi.Error{Op: "read", Kind: objapi.KindCorrupt, Err: err}
	}
	if err := dw.Close(); err != nil {
		return &objapi.Error{Op: "read", Kind: objapi.KindCorrupt, Err: err}
	}
	return nil
}

// partAD binds a part's ciphertext to its number within the object, so
// parts cannot be swapped.
func partAD(number int) []byte {
	return binary.BigEndian.AppendUint32([]byte("kcs-part"), uint32(number))
}

// deleteShards removes every shard of a stream, best effort.
func (n *Node) deleteShards(ctx context.Context, p meta.Part) {
	drives := p.Drives
	var id [16]byte
	copy(id[:], p.DataID)
	var wg sync.WaitGroup
	for i, drive := range drives {
		name := shardstore.Name{DataID: id, Part: uint32(p.Number), Shard: uint8(i)}
		owner := nodeOfDrive(drive)
		if owner == n.cfg.ID {
			if d, ok := n.drives[drive]; ok {
				if err := d.Remove(name); err != nil {
					n.log.Warn("delete shard", "shard", name.String(), "err", err)
				}
			}
			continue
		}
		addr := n.nodeRPC(owner)
		if addr == "" || !n.live.IsUp(owner) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.rpc.DeleteShard(ctx, addr, drive, name); err != nil {
				n.log.Warn("delete remote shard", "shard", name.String(), "drive", drive, "err", err)
			}
		}()
	}
	wg.Wait()
}

// nodeRPC returns a member's RPC address.
func (n *Node) nodeRPC(id string) string {
	var addr string
	n.store.FSM.View(func(r *meta.Reader) error {
		if rec, ok, _ := r.Node(id); ok {
			addr = rec.RPCAddr
		}
		return nil
	})
	return addr
}
