// Package objapi is the object layer's vocabulary, shared by the layer
// (package node) and its consumer (s3api): the Layer interface in five
// roles, the types its methods take and return (Caller, ObjectInfo, the
// options and results, Checksum, CORSRule, …), the error type and its
// kinds, S3's name rules, and matching ETag lists of conditional requests.
//
// It is a leaf: it imports only the standard library, so s3api can speak
// to the object layer without linking Raft, bbolt or anything else of
// node. Package node re-exports these names as aliases.
package objapi
