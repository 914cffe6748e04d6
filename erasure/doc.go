// Package erasure turns a byte stream into k data and m parity shard streams
// and back, with every shard block framed by a SHA-256 bitrot hash that binds
// it to its object, shard and position.
//
// The package knows nothing of nodes, disks, keys or HTTP: it reads an
// io.Reader and writes io.Writers when encoding, and reads ShardSources and
// writes an io.Writer when decoding. Callers record the Layout it returns in
// their metadata; that record (parameters and size) is all a later decode
// needs besides the shards themselves.
//
// Memory per stream is a small fixed number of stripe buffers (see
// Encoder.BufferBytes and Decoder.BufferBytes); nothing buffers a whole
// object.
package erasure
