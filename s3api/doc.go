// Package s3api turns S3 HTTP requests into calls on the object layer and
// the object layer's answers and errors into S3 responses. It never touches
// a disk or a key: it declares the small interfaces it needs from node
// (ObjectLayer, Credentials) and maps every error to an S3 code in one
// place (errors.go).
//
// A request flows through Server.ServeHTTP: it gets a request id, the
// router (router.go) picks the operation from the method, the path-style
// resource and the query's subresources, sigv4 authenticates it and hands
// back the verified body, the operation's handler (bucket.go, object_*.go,
// list.go, multipart.go) translates headers to node options and calls the
// object layer, and the answer or the error is written as S3 writes it.
// Every request ends in one structured log line. Object bodies stream in
// both directions; only small XML documents are held in memory, with a
// size limit.
//
// Server answers S3 only: the kcs binary serves its admin API under
// /_kcs/ and must route those requests elsewhere before they reach it.
package s3api
