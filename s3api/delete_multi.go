package s3api

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// DeleteObjects (POST /bucket?delete): up to 1000 keys in one request, as
// rclone, restic's prune and the SDKs' batch deletes send them.

const (
	// maxDeleteKeys is S3's limit of keys per DeleteObjects. S3 answers a
	// longer list MalformedXML.
	maxDeleteKeys = 1000
	// maxDeleteBody bounds the document: 1000 keys of 1024 bytes, which
	// XML escaping can make up to six times longer, and the markup.
	maxDeleteBody = 8 << 20
)

// deleteLimits bound DeleteObjects' document while it is read: an Object
// has at most five elements (Key, VersionId, ETag, LastModifiedTime, Size).
var deleteLimits = listDocLimits(maxDeleteBody, 8*maxDeleteKeys+64)

// deleteRequest is DeleteObjects' request document, <Delete>.
type deleteRequest struct {
	Quiet   bool
	Objects []deleteObject
}

// read reads the document from its root, one Object at a time, and stops
// at the first beyond maxDeleteKeys.
func (doc *deleteRequest) read(d *xml.Decoder, root xml.StartElement) error {
	if root.Name.Local != "Delete" {
		return malformedXML("the root element is not Delete.")
	}
	return eachChild(d, func(child xml.StartElement) error {
		switch child.Name.Local {
		case "Object":
			if len(doc.Objects) == maxDeleteKeys {
				return malformedXML(fmt.Sprintf("a request deletes at most %d keys.", maxDeleteKeys))
			}
			var o deleteObject
			if err := d.DecodeElement(&o, &child); err != nil {
				return err
			}
			doc.Objects = append(doc.Objects, o)
			return nil
		case "Quiet":
			return d.DecodeElement(&doc.Quiet, &child)
		}
		return d.Skip()
	})
}

type deleteObject struct {
	Key       *string `xml:"Key"`
	VersionID *string `xml:"VersionId"`
	// Per-key conditions. kcs cannot make one key of a batch conditional
	// (the object layer deletes keys, not versions with an ETag), so a key
	// that carries one fails on its own instead of being deleted blindly.
	ETag             *string `xml:"ETag"`
	LastModifiedTime *string `xml:"LastModifiedTime"`
	Size             *string `xml:"Size"`
}

// deleteResult answers DeleteObjects.
type deleteResult struct {
	XMLName xml.Name      `xml:"http://s3.amazonaws.com/doc/2006-03-01/ DeleteResult"`
	Deleted []deletedItem `xml:"Deleted"`
	Errors  []deleteError `xml:"Error"`
}

type deletedItem struct {
	Key                   string
	VersionID             string `xml:"VersionId,omitempty"`
	DeleteMarker          bool   `xml:",omitempty"`
	DeleteMarkerVersionID string `xml:"DeleteMarkerVersionId,omitempty"`
}

type deleteError struct {
	Key       string
	VersionID string `xml:"VersionId,omitempty"`
	Code      string
	Message   string
}

// deleteObjects deletes the listed keys, or versions of them
// (DeleteObjects). S3 requires the body's integrity to be proven
// (Content-MD5 or an x-amz-checksum-*): a corrupted key list would delete
// the wrong objects. Keys and versions that do not exist count as
// deleted. Quiet mode reports only the failures. The bucket is looked up
// before the document is read, and the document is read key by key,
// refused at the first beyond S3's 1000.
func (s *Server) deleteObjects(w http.ResponseWriter, r *http.Request, rq *request) error {
	want, err := requestDigest(r.Header, true)
	if err != nil {
		return err
	}
	bypass, err := bypassGovernance(r.Header)
	if err != nil {
		return err
	}
	// Whether the bucket is the caller's is known before a byte of the
	// body is read: a stranger's key list is not worth parsing.
	if _, err := s.layer.HeadBucket(r.Context(), rq.caller, rq.bucket); err != nil {
		return err
	}
	var doc deleteRequest
	empty, err := readXMLRequest(rq, want, deleteLimits, doc.read)
	if err != nil {
		return err
	}
	if empty || len(doc.Objects) == 0 {
		return errorf("MalformedXML", "")
	}
	res := deleteResult{}
	fail := func(o deleteObject, err error) {
		e := toAPIError(err)
		res.Errors = append(res.Errors, deleteError{Key: *o.Key, VersionID: deref(o.VersionID), Code: e.Code, Message: e.Message})
	}
	// Versions the object layer is asked about, each once, in request
	// order.
	var objs []objapi.ObjectVersion
	asked := map[objapi.ObjectVersion]bool{}
	for _, o := range doc.Objects {
		if o.Key == nil {
			return errorf("MalformedXML", "")
		}
		ov := objapi.ObjectVersion{Key: *o.Key, VersionID: deref(o.VersionID)}
		if !asked[ov] && itemError(o) == nil {
			asked[ov] = true
			objs = append(objs, ov)
		}
	}
	var results []objapi.DeleteResult
	if len(objs) > 0 {
		if results, err = s.layer.DeleteVersions(r.Context(), rq.caller, rq.bucket, objs, bypass); err != nil {
			return err
		}
	}
	outcome := make(map[objapi.ObjectVersion]objapi.DeleteResult, len(results))
	for _, d := range results {
		outcome[objapi.ObjectVersion{Key: d.Key, VersionID: d.VersionID}] = d
	}
	for _, o := range doc.Objects {
		if err := itemError(o); err != nil {
			fail(o, err)
			continue
		}
		d, ok := outcome[objapi.ObjectVersion{Key: *o.Key, VersionID: deref(o.VersionID)}]
		switch {
		case !ok:
			// The object layer broke its contract; the client must not
			// believe the key is gone.
			fail(o, errors.New("the object layer reported nothing for this key"))
		case d.Err != nil && !objapi.IsKind(d.Err, objapi.KindNoSuchKey) && !objapi.IsKind(d.Err, objapi.KindNoSuchVersion):
			fail(o, d.Err)
		case !doc.Quiet:
			item := deletedItem{Key: *o.Key, VersionID: deref(o.VersionID)}
			if d.Err == nil {
				item.DeleteMarker, item.DeleteMarkerVersionID = d.DeleteMarker, d.DeleteMarkerVersionID
			}
			res.Deleted = append(res.Deleted, item)
		}
	}
	return writeXML(w, http.StatusOK, &res)
}

// itemError is why one key of a DeleteObjects cannot be deleted before
// the object layer is asked: an invalid key or version id, or a
// condition.
func itemError(o deleteObject) error {
	if err := objapi.ValidObjectKey(*o.Key); err != nil {
		return err
	}
	if o.VersionID != nil {
		if _, err := versionParam(url.Values{"versionId": {*o.VersionID}}); err != nil {
			return err
		}
	}
	if o.ETag != nil || o.LastModifiedTime != nil || o.Size != nil {
		return errorf("NotImplemented", "Conditional deletes of single keys in DeleteObjects are not implemented.")
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
