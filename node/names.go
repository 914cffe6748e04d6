package node

import "github.com/kommunal-cloud/kcs/node/objapi"

// S3's name rules are defined in node/objapi, where s3api checks them too.

// MaxKeyLen is S3's limit on object keys, in bytes of UTF-8.
const MaxKeyLen = objapi.MaxKeyLen

// ValidBucketName checks S3's rules for general purpose bucket names (see
// objapi.ValidBucketName).
func ValidBucketName(name string) error { return objapi.ValidBucketName(name) }

// ValidObjectKey checks an object key: 1..1024 bytes of valid UTF-8 (see
// objapi.ValidObjectKey).
func ValidObjectKey(key string) error { return objapi.ValidObjectKey(key) }
