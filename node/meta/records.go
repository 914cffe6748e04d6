// Package meta holds the cluster's metadata: the Raft group that agrees on
// it (hashicorp/raft, log and stable store in raft-boltdb/v2) and the FSM
// that applies its commands to a bbolt database on disk. Every metadata
// change — tenants, wrapped keys, buckets, object versions, uploads,
// membership, placement — is one command; the FSM is its only writer and
// applies it deterministically on every node.
//
// A command (commands.go) is an envelope — its id, the proposer's clock —
// and one payload, whose type names the op. Each payload type applies
// itself, next to the other commands of its domain (commands_cluster.go,
// commands_tenants.go, commands_keys.go, commands_buckets.go,
// commands_objects.go, commands_multipart.go, commands_streams.go), reading
// and checking what it depends on before its first write; one registry
// maps each op to its payload type and command level. Adding a command is
// a type, its apply method and one registry line. Command levels
// (levels.go) keep rolling upgrades safe: a command is proposed only once
// every member's binary knows it, and a binary that meets one it does not
// know halts its FSM and names the release it needs.
//
// Records and commands are CBOR with integer keys: compact (tens of millions
// of object records), deterministic, and open to new fields. Every command
// starts with a format byte; the database records its schema version.
// testdata/golden pins the encoding of every kind of entry and record.
package meta

// Cluster is the cluster's identity, written once at bootstrap.
type Cluster struct {
	ID      string `cbor:"1,keyasint"`
	Created int64  `cbor:"2,keyasint"`
	// KeyCheck is a random secret wrapped under the master key: a node
	// started with another master key fails to unwrap it and refuses to
	// serve, instead of failing on every object.
	KeyCheck []byte `cbor:"3,keyasint"`
	// MasterKey is the id of the master key that wraps tenant keys and
	// secrets from now on; empty in clusters made before key ids.
	MasterKey string `cbor:"4,keyasint,omitempty"`
}

// Node is a cluster member.
type Node struct {
	ID       string   `cbor:"1,keyasint"`
	Site     string   `cbor:"2,keyasint"`
	RaftAddr string   `cbor:"3,keyasint"`
	RPCAddr  string   `cbor:"4,keyasint"`
	S3Addrs  []string `cbor:"5,keyasint"`
	Drives   []Drive  `cbor:"6,keyasint"`
	Joined   int64    `cbor:"7,keyasint"`
	// MasterKeys are the ids of the master keys the node was given at
	// its last start: a master key rotation needs every member to have
	// the new one.
	MasterKeys []string `cbor:"8,keyasint,omitempty"`
	// CommandLevel is the highest command level the node's binary knows,
	// and Version that binary's version, as of its last start: a command
	// of a higher level is not proposed while the node is a member (see
	// levels.go). Zero in records of binaries before levels (level 1).
	CommandLevel Level  `cbor:"9,keyasint,omitempty"`
	Version      string `cbor:"10,keyasint,omitempty"`
	// Draining marks a node an operator is emptying before its removal
	// (SetDraining, level 2): none of its drives takes new shards, and the
	// leader moves every stream off them. Voter marks a node an operator
	// promoted (PromoteNode): the leader keeps it a Raft voter. Both are
	// the cluster's decisions, not the node's: a RegisterNode keeps them.
	Draining bool `cbor:"11,keyasint,omitempty"`
	Voter    bool `cbor:"12,keyasint,omitempty"`
}

// Drive is one of a node's drives. Its ID is "<node>/<index>".
type Drive struct {
	ID    string `cbor:"1,keyasint"`
	Index int    `cbor:"2,keyasint"`
	Path  string `cbor:"3,keyasint"`
	// Draining marks a drive being emptied (SetDraining, level 2), as
	// Node.Draining does a whole node's.
	Draining bool `cbor:"4,keyasint,omitempty"`
}

// Set is an erasure set: shard i of an object in the set lives on drive
// Drives[i]. Sets are never changed in place by placement; a new topology
// epoch adds sets, and replacing a drive (later) rewrites one set.
type Set struct {
	ID     uint32   `cbor:"1,keyasint"`
	K      int      `cbor:"2,keyasint"`
	M      int      `cbor:"3,keyasint"`
	Drives []string `cbor:"4,keyasint"`
}

// Layout is the current topology epoch: which sets new objects go to.
type Layout struct {
	Epoch    uint64   `cbor:"1,keyasint"`
	Families []Family `cbor:"2,keyasint"`
}

// Family is the sets used while exactly these sites are up.
type Family struct {
	Sites []string `cbor:"1,keyasint"`
	K     int      `cbor:"2,keyasint"`
	M     int      `cbor:"3,keyasint"`
	Sets  []uint32 `cbor:"4,keyasint"`
}

// Tenant is a municipality.
type Tenant struct {
	ID         string      `cbor:"1,keyasint"`
	Created    int64       `cbor:"2,keyasint"`
	KeyVersion uint32      `cbor:"3,keyasint"` // the version new objects use
	Keys       []TenantKey `cbor:"4,keyasint"`
}

// TenantKey is one version of a tenant's key, wrapped by the master key.
type TenantKey struct {
	Version uint32 `cbor:"1,keyasint"`
	Wrapped []byte `cbor:"2,keyasint"`
	Created int64  `cbor:"3,keyasint"`
}

// AccessKey is an S3 access key; its secret is wrapped by the master key.
type AccessKey struct {
	ID            string `cbor:"1,keyasint"`
	Tenant        string `cbor:"2,keyasint"`
	WrappedSecret []byte `cbor:"3,keyasint"`
	Created       int64  `cbor:"4,keyasint"`
	// BypassGovernance lets the key's requests override GOVERNANCE
	// retention (x-amz-bypass-governance-retention); an operator grants
	// it (SetKeyBypass, level 2).
	BypassGovernance bool `cbor:"5,keyasint,omitempty"`
}

// Bucket is an S3 bucket; names are global, as in S3. The record stays
// small: listing a tenant's buckets decodes it, so configuration of any
// size lives apart from it (bucketcfg, see Reader.BucketCORS).
type Bucket struct {
	Name    string `cbor:"1,keyasint"`
	Tenant  string `cbor:"2,keyasint"`
	Created int64  `cbor:"3,keyasint"`
	// CORS is the bucket's CORS configuration in records of schema 1 and
	// in CreateBucket commands. Since schema 2 the FSM keeps it in
	// bucketcfg and stores records without it (the migration moves it).
	CORS []CORSRule `cbor:"4,keyasint"`
	// Purging marks a bucket whose tenant was deleted: nobody can use it,
	// its name stays taken, and the purge deletes its objects in batches.
	Purging bool `cbor:"5,keyasint,omitempty"`
	// Versioning is the bucket's versioning state (VersioningOff, …On,
	// …Suspended); ObjectLock marks a bucket with object lock enabled,
	// which keeps versioning on. Both level 2.
	Versioning uint8 `cbor:"6,keyasint,omitempty"`
	ObjectLock bool  `cbor:"7,keyasint,omitempty"`
}

// CORSRule is one rule of a bucket's CORS configuration.
type CORSRule struct {
	ID             string   `cbor:"1,keyasint"`
	AllowedOrigins []string `cbor:"2,keyasint"`
	AllowedMethods []string `cbor:"3,keyasint"`
	AllowedHeaders []string `cbor:"4,keyasint"`
	ExposeHeaders  []string `cbor:"5,keyasint"`
	MaxAgeSeconds  int      `cbor:"6,keyasint"`
}

// Checksum is a checksum as S3 names and encodes it.
type Checksum struct {
	Alg   string `cbor:"1,keyasint"`
	Value string `cbor:"2,keyasint"`
}

// Object is the current version of an object. What stays in clear is what
// the cluster needs without keys: key, size, times, ETag, checksums and
// where the data is. Content type and user metadata are sealed under the
// object's data key.
type Object struct {
	VersionID  string     `cbor:"1,keyasint"`
	Size       int64      `cbor:"2,keyasint"`
	ETag       string     `cbor:"3,keyasint"`
	Modified   int64      `cbor:"4,keyasint"` // unix nanoseconds
	SealedMeta []byte     `cbor:"5,keyasint"`
	WrappedKey []byte     `cbor:"6,keyasint"`
	KeyVersion uint32     `cbor:"7,keyasint"` // tenant key version that wrapped it
	Checksums  []Checksum `cbor:"8,keyasint"`
	Parts      []Part     `cbor:"9,keyasint"`
	Multipart  bool       `cbor:"10,keyasint"`
	// ChecksumType says how Checksums were formed: FULL_OBJECT (the whole
	// object's) or COMPOSITE (a checksum of the parts', "-N").
	ChecksumType string `cbor:"11,keyasint"`
	// UploadID is the multipart upload this version was completed from,
	// so that a CompleteMultipartUpload retried after it succeeded (an SDK
	// whose answer timed out) is answered as S3 does: with this version,
	// not NoSuchUpload. Set by proposers of command level 2 (a
	// CompleteUpload that sets it needs level 2); empty in versions
	// written otherwise.
	UploadID string `cbor:"12,keyasint,omitempty"`
	// Seq orders the versions of a key: the FSM assigns it at commit from
	// one counter (node clocks differ), so a later commit has a greater
	// Seq. Zero in versions written before versioning (schema 5).
	Seq uint64 `cbor:"13,keyasint,omitempty"`
	// Versioned marks a version with its own id, written while the
	// bucket's versioning was enabled; the others are the key's null
	// version, of which there is at most one (see versions.go).
	Versioned bool `cbor:"14,keyasint,omitempty"`
	// DeleteMarker marks a delete marker: no data, no size.
	DeleteMarker bool `cbor:"15,keyasint,omitempty"`
	// Object lock: the version's retention (LockMode GOVERNANCE or
	// COMPLIANCE until LockUntil, unix ns) and legal hold.
	LockMode  string `cbor:"16,keyasint,omitempty"`
	LockUntil int64  `cbor:"17,keyasint,omitempty"`
	LegalHold bool   `cbor:"18,keyasint,omitempty"`
}

// Part is one independently coded and encrypted stream of an object: the
// whole of a simple object (Number 0) or one multipart part.
type Part struct {
	Number    int        `cbor:"1,keyasint"`
	Size      int64      `cbor:"2,keyasint"` // plaintext bytes
	ETag      string     `cbor:"3,keyasint"` // hex MD5 of the part
	DataID    []byte     `cbor:"4,keyasint"` // 16 random bytes: shard names and bitrot binding
	SetID     uint32     `cbor:"5,keyasint"`
	K         int        `cbor:"6,keyasint"`
	M         int        `cbor:"7,keyasint"`
	BlockSize int        `cbor:"8,keyasint"`
	Format    uint8      `cbor:"9,keyasint"`  // erasure shard format
	Cipher    []byte     `cbor:"10,keyasint"` // the 16-byte encryption stream header
	Checksums []Checksum `cbor:"11,keyasint"`
	Modified  int64      `cbor:"12,keyasint"`
	// Drives names the drive of each shard when the part was written, so a
	// later change of the set does not lose track of it. Empty: the set's.
	Drives []string `cbor:"13,keyasint"`
	// Inline holds the whole encrypted stream (header and packages) of a
	// small part instead of shards: it is replicated by Raft to every
	// member and durable once committed. Empty for coded parts.
	Inline []byte `cbor:"14,keyasint"`
	// Lost lists the shards that were not durable when the stream was
	// committed (a drive failed mid-stream; the write needed k+1). The
	// FSM's degraded index tracks them until they are rebuilt
	// (ShardsRestored); this field keeps what was true at the write.
	Lost []int `cbor:"15,keyasint,omitempty"`
	// MovedFrom is the data id an upload's part had before the leader
	// re-coded it onto another set (MoveStream, level 2), so that a
	// completion proposed with the part as it was still takes it (see
	// CompleteUpload). Empty in parts never moved, and in objects' parts.
	MovedFrom []byte `cbor:"16,keyasint,omitempty"`
}

// Upload is a multipart upload in progress.
type Upload struct {
	ID         string `cbor:"1,keyasint"`
	Tenant     string `cbor:"2,keyasint"`
	Bucket     string `cbor:"3,keyasint"`
	Key        string `cbor:"4,keyasint"`
	Initiated  int64  `cbor:"5,keyasint"`
	WrappedKey []byte `cbor:"6,keyasint"` // bound to the upload; rewrapped for the object on completion
	KeyVersion uint32 `cbor:"7,keyasint"`
	SealedMeta []byte `cbor:"8,keyasint"`
	// The checksum every part carries and how the object's is formed.
	ChecksumAlgorithm string `cbor:"9,keyasint"`
	ChecksumType      string `cbor:"10,keyasint"`
	// Limits bound the upload's parts (and its sealed metadata): set by
	// proposers of command level 2, nil in uploads created before, which
	// stay unbounded. A CreateUpload that sets them needs level 2.
	Limits *Limits `cbor:"11,keyasint,omitempty"`
	// The object lock the completed version gets (x-amz-object-lock-* at
	// creation; level 2).
	LockMode  string `cbor:"12,keyasint,omitempty"`
	LockUntil int64  `cbor:"13,keyasint,omitempty"`
	LegalHold bool   `cbor:"14,keyasint,omitempty"`
}

// Limits bound what a command may store in the metadata, which every
// member replicates: the proposer states them (from its configuration)
// and the FSM holds the command to them, so every node decides alike
// whatever its own configuration. A zero field is no bound. A payload
// that carries limits needs command level 2: a binary before them would
// store what they refuse.
type Limits struct {
	// MaxPartNumber is the highest part number an upload takes (S3's
	// 10 000).
	MaxPartNumber int `cbor:"1,keyasint,omitempty"`
	// MaxUploadInline bounds the bytes of inline streams (Part.Inline)
	// that one upload's parts hold together.
	MaxUploadInline int64 `cbor:"2,keyasint,omitempty"`
	// MaxSealedMeta bounds an object's or upload's sealed metadata
	// (content type, standard headers, user metadata, tags).
	MaxSealedMeta int `cbor:"3,keyasint,omitempty"`
}

// UploadUsage is what an upload's parts hold in the metadata, kept up to
// date as parts arrive (PutPart) and are replaced: the running totals the
// upload's limits are checked against without reading every part.
type UploadUsage struct {
	Parts       int   `cbor:"1,keyasint,omitempty"` // part records
	InlineBytes int64 `cbor:"2,keyasint,omitempty"` // the sum of their Part.Inline lengths
}

// DataRef is the value of the dataids index: where the part record of a
// stream lives. Bucket and Key name an object's current version, Upload a
// multipart upload; Part is the part's number.
type DataRef struct {
	Bucket string `cbor:"1,keyasint,omitempty"`
	Key    string `cbor:"2,keyasint,omitempty"`
	Upload string `cbor:"3,keyasint,omitempty"`
	Part   int    `cbor:"4,keyasint"`
	// Seq names the version of Bucket/Key (Object.Seq): current or not,
	// a version keeps its Seq, so its streams' entries never change when
	// a newer version comes or goes.
	Seq uint64 `cbor:"5,keyasint,omitempty"`
}

// Usage is what a tenant, or one of its buckets, stores: kept exact by the
// commands that store, replace and drop objects, parts, uploads and
// buckets, in the transaction that changes them (usage.go), so that it is
// read, never computed, when asked. Objects counts stored object versions,
// noncurrent ones and delete markers included (a marker holds no bytes,
// but it is a record every member keeps); the
// Upload fields count the parts of open multipart uploads, which are
// stored bytes as much as objects are. Physical counts what the streams
// take where they are kept: every shard file of a coded stream (all k+m,
// frames included, as erasure.Layout computes them), or the ciphertext of
// an inline one, of which Inline is the part kept in the replicated
// metadata. Buckets is set in a tenant's row only.
type Usage struct {
	Objects        int64 `cbor:"1,keyasint,omitempty"`
	Bytes          int64 `cbor:"2,keyasint,omitempty"` // logical: the objects' sizes
	Physical       int64 `cbor:"3,keyasint,omitempty"`
	Inline         int64 `cbor:"4,keyasint,omitempty"`
	Uploads        int64 `cbor:"5,keyasint,omitempty"` // open multipart uploads
	UploadParts    int64 `cbor:"6,keyasint,omitempty"`
	UploadBytes    int64 `cbor:"7,keyasint,omitempty"` // logical: the parts' sizes
	UploadPhysical int64 `cbor:"8,keyasint,omitempty"`
	UploadInline   int64 `cbor:"9,keyasint,omitempty"`
	Buckets        int64 `cbor:"10,keyasint,omitempty"`
}

// Quota bounds what a tenant, or one of its buckets, may store; operators
// set it (SetQuota), and new tenants may get one at creation
// (CreateTenant.Quota). A zero field is no bound. Buckets applies to
// tenants only.
type Quota struct {
	// Bytes bounds the logical bytes stored: objects' sizes and the sizes
	// of open uploads' parts (Usage.Bytes + Usage.UploadBytes).
	Bytes   int64 `cbor:"1,keyasint,omitempty"`
	Objects int64 `cbor:"2,keyasint,omitempty"` // stored object versions
	Buckets int64 `cbor:"3,keyasint,omitempty"`
	Uploads int64 `cbor:"4,keyasint,omitempty"` // open multipart uploads
	// Parts bounds the parts of any one upload.
	Parts int64 `cbor:"5,keyasint,omitempty"`
	// Inline bounds the bytes kept in the replicated metadata (inline
	// streams of objects and parts: Usage.Inline + Usage.UploadInline).
	Inline int64 `cbor:"6,keyasint,omitempty"`
}
