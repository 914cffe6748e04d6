// Package s3api turns S3 HTTP requests into calls on the object layer and
// the object layer's answers and errors into S3 responses. It never touches
// a disk or a key: it declares the small interfaces it needs from node and
// maps every error to an S3 code in one place.
package s3api
