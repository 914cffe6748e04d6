// Package s3api turns S3 HTTP requests into calls on the object layer and
// the object layer's answers and errors into S3 responses. It never touches
// a disk or a key, and does not import package node: it speaks to the
// object layer in node/objapi's vocabulary (ObjectLayer is objapi.Layer;
// Credentials its own small interface), and maps every error to an S3 code
// in one place (errors.go).
//
// A request flows through Server.ServeHTTP: it gets a request id, the
// router (router.go) resolves the bucket and key (path style, or
// virtual-hosted style under Config.Domain) and picks the operation from
// the method and the query's subresources, the bucket's CORS headers are
// added when a browser sent an Origin (cors.go), sigv4 authenticates the
// request and hands back the verified body (sigv2 does, with the same
// result, for the Signature Version 2 that s3cmd and boto3's presigned
// URLs still send; auth.go), the operation's handler translates headers to
// objapi options and calls the object layer, and the answer or the error is
// written as S3 writes it. Every request ends in one structured log line.
// Object bodies stream in both directions; only small XML documents are
// held in memory, with a size limit.
//
// Two kinds of requests carry no signature of their own and skip that
// step: CORS preflights (OPTIONS, cors.go), which browsers send without
// credentials, and browser POST uploads (post.go, post_policy.go), whose
// form carries a signed policy document (SigV4 or SigV2) that the handler
// verifies.
//
// One file per concern: bucket.go (buckets), object_get.go, object_put.go,
// object_delete.go, delete_multi.go (DeleteObjects), copy.go (CopyObject,
// UploadPartCopy), multipart.go and multipart_list.go (uploads, parts and
// their listings), list.go (object listings), tagging.go, cors.go, post.go;
// headers.go and checksum.go translate headers, conditions and checksums;
// xml.go reads and writes documents; body.go bounds request bodies.
//
// Server answers S3 only: the kcs binary serves its admin API and health
// checks under /_kcs/ and must route those requests (path style; see
// Server.VirtualHosted) elsewhere before they reach it.
package s3api
