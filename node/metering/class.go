package metering

import (
	"fmt"
	"strconv"
	"time"
)

// Class is an operation class: what a tenant's request did, as billing
// sees it.
type Class uint8

// The classes, in the order they are stored and shown.
const (
	Read   Class = iota // an object's data or metadata
	Write               // new data, or a changed object
	List                // listings of buckets, objects, uploads and parts
	Delete              // objects and uploads removed
	Admin               // buckets and their configuration, permissions; requests that ran no operation
)

// NumClasses is the number of classes.
const NumClasses = 5

var classNames = [NumClasses]string{"read", "write", "list", "delete", "admin"}

// Classes returns every class, in order.
func Classes() []Class { return []Class{Read, Write, List, Delete, Admin} }

func (c Class) String() string {
	if int(c) < NumClasses {
		return classNames[c]
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

// MarshalText spells the class by its name ("read").
func (c Class) MarshalText() ([]byte, error) {
	if int(c) >= NumClasses {
		return nil, fmt.Errorf("metering: no class %d", c)
	}
	return []byte(classNames[c]), nil
}

// UnmarshalText reads a class's name.
func (c *Class) UnmarshalText(b []byte) error {
	for i, n := range classNames {
		if n == string(b) {
			*c = Class(i)
			return nil
		}
	}
	return fmt.Errorf("metering: no class %q", b)
}

// opClass maps every S3 operation s3api routes to (its names in the
// router and the logs) to its class. ARCHITECTURE.md (Traffic metering)
// has the same table; TestEveryOperationHasAClass checks the router's
// names against it.
var opClass = map[string]Class{
	"GetObject": Read, "HeadObject": Read, "GetObjectAttributes": Read, "GetObjectTagging": Read,
	"GetObjectRetention": Read, "GetObjectLegalHold": Read,

	"PutObject": Write, "PostObject": Write, "CopyObject": Write,
	"CreateMultipartUpload": Write, "UploadPart": Write, "UploadPartCopy": Write, "CompleteMultipartUpload": Write,
	"PutObjectTagging": Write, "DeleteObjectTagging": Write, "PutObjectRetention": Write, "PutObjectLegalHold": Write,

	"ListBuckets": List, "ListObjects": List, "ListObjectsV2": List, "ListObjectVersions": List,
	"ListMultipartUploads": List, "ListParts": List,

	"DeleteObject": Delete, "DeleteObjects": Delete, "AbortMultipartUpload": Delete,

	"CreateBucket": Admin, "DeleteBucket": Admin, "HeadBucket": Admin,
	"GetBucketLocation": Admin, "GetBucketVersioning": Admin, "GetBucketEncryption": Admin,
	"GetBucketAcl": Admin, "PutBucketAcl": Admin, "GetObjectAcl": Admin, "PutObjectAcl": Admin,
	"GetBucketCors": Admin, "PutBucketCors": Admin, "DeleteBucketCors": Admin, "PreflightCORS": Admin,
	"PutBucketVersioning": Admin, "GetObjectLockConfiguration": Admin, "PutObjectLockConfiguration": Admin,
	"GetBucketLifecycleConfiguration": Admin, "PutBucketLifecycleConfiguration": Admin, "DeleteBucketLifecycle": Admin,
	"GetBucketTagging": Admin, "PutBucketTagging": Admin, "DeleteBucketTagging": Admin,
}

// ClassOf returns the class of an S3 operation. A name that is no
// operation kcs serves — an unsupported subresource ("GET ?policy"),
// "MethodNotAllowed", "Unknown" — is a request refused before it did
// anything, in practice a bucket configuration kcs lacks: Admin.
func ClassOf(op string) Class {
	if c, ok := opClass[op]; ok {
		return c
	}
	return Admin
}

// Counts are one tenant's traffic in one hour and class on one node, or a
// sum of such.
type Counts struct {
	Requests uint64 `json:"requests"`
	BytesIn  uint64 `json:"bytes_in"`  // request bodies as received
	BytesOut uint64 `json:"bytes_out"` // response bodies as sent
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.Requests += o.Requests
	c.BytesIn += o.BytesIn
	c.BytesOut += o.BytesOut
}

// IsZero reports whether c counts nothing.
func (c Counts) IsZero() bool { return c == Counts{} }

// Row is a tenant's traffic of one class in one hour.
type Row struct {
	Hour  time.Time `json:"hour"` // the hour's start, UTC
	Class Class     `json:"class"`
	Counts
}

// ClassTotal is a tenant's traffic of one class over a range.
type ClassTotal struct {
	Class Class `json:"class"`
	Counts
}

// Merge sums rows from several sources (nodes) into one row per hour and
// class, sorted by hour and then class.
func Merge(sets ...[]Row) []Row {
	type key struct {
		hour  int64
		class Class
	}
	sum := map[key]*Row{}
	for _, rows := range sets {
		for _, r := range rows {
			k := key{r.Hour.Unix(), r.Class}
			if s, ok := sum[k]; ok {
				s.Add(r.Counts)
				continue
			}
			r.Hour = r.Hour.UTC()
			sum[k] = &r
		}
	}
	out := make([]Row, 0, len(sum))
	for _, r := range sum {
		out = append(out, *r)
	}
	sortRows(out)
	return out
}

// Totals sums rows per class (the classes with traffic, in class order)
// and over all classes.
func Totals(rows []Row) ([]ClassTotal, Counts) {
	var by [NumClasses]Counts
	var all Counts
	for _, r := range rows {
		if int(r.Class) < NumClasses {
			by[r.Class].Add(r.Counts)
			all.Add(r.Counts)
		}
	}
	out := []ClassTotal{}
	for c, n := range by {
		if !n.IsZero() {
			out = append(out, ClassTotal{Class: Class(c), Counts: n})
		}
	}
	return out, all
}
