// Package datapath joins the stages every object byte passes through: on a
// PUT, the client's body is hashed (MD5 for the ETag and any checksum asked
// for), encrypted under the object's data key and erasure coded into shard
// streams; on a GET, shards are verified and decoded, and the ciphertext is
// authenticated and decrypted, for exactly the range asked for.
//
// The stages run concurrently on bounded buffers: hashing on goroutines of
// its own, encryption feeding the coder, each shard's bitrot hash and write
// on its own goroutine. Nothing holds a whole object. Memory per PUT stream
// is PutBufferBytes.
package datapath
