package s3api

import (
	"encoding/xml"
	"net/http"
	"strings"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

type getObjectAttributesResponse struct {
	XMLName      xml.Name               `xml:"GetObjectAttributesResponse"`
	Xmlns        string                 `xml:"xmlns,attr"`
	ETag         string                 `xml:"ETag,omitempty"`
	Checksum     *attributesChecksum    `xml:"Checksum,omitempty"`
	ObjectParts  *attributesObjectParts `xml:"ObjectParts,omitempty"`
	StorageClass string                 `xml:"StorageClass,omitempty"`
	ObjectSize   *int64                 `xml:"ObjectSize,omitempty"`
}

type attributesChecksum struct {
	CRC32        string `xml:"ChecksumCRC32,omitempty"`
	CRC32C       string `xml:"ChecksumCRC32C,omitempty"`
	CRC64NVME    string `xml:"ChecksumCRC64NVME,omitempty"`
	SHA1         string `xml:"ChecksumSHA1,omitempty"`
	SHA256       string `xml:"ChecksumSHA256,omitempty"`
	ChecksumType string `xml:"ChecksumType,omitempty"`
}

type attributesObjectParts struct {
	TotalPartsCount int `xml:"PartsCount"`
}

// getObjectAttributes answers GetObjectAttributes (GET ?attributes with
// x-amz-object-attributes): the object's ETag, checksum, parts count,
// storage class and size, without its data. The per-part listing
// (ObjectParts.Parts) is not given: only the count.
func (s *Server) getObjectAttributes(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := objapi.ValidObjectKey(rq.key); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, v := range r.Header.Values("X-Amz-Object-Attributes") {
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				want[a] = true
			}
		}
	}
	if len(want) == 0 {
		return errorf("InvalidArgument", "The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty")
	}
	for a := range want {
		switch a {
		case "ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize":
		default:
			return errorf("InvalidArgument", "Invalid attribute name specified: "+a)
		}
	}
	obj, err := s.layer.GetObject(r.Context(), rq.caller, rq.bucket, rq.key, objapi.GetOptions{})
	if err != nil {
		return err
	}
	info := obj.Info
	res := getObjectAttributesResponse{Xmlns: s3NS}
	if want["ETag"] {
		res.ETag = info.ETag
	}
	if want["StorageClass"] {
		res.StorageClass = info.StorageClass
	}
	if want["ObjectSize"] {
		size := info.Size
		res.ObjectSize = &size
	}
	if want["ObjectParts"] && info.PartsCount > 0 {
		res.ObjectParts = &attributesObjectParts{TotalPartsCount: info.PartsCount}
	}
	if want["Checksum"] && len(info.Checksums) > 0 {
		c := &attributesChecksum{ChecksumType: info.ChecksumType}
		for _, cs := range info.Checksums {
			switch cs.Algorithm {
			case "CRC32":
				c.CRC32 = cs.Value
			case "CRC32C":
				c.CRC32C = cs.Value
			case "CRC64NVME":
				c.CRC64NVME = cs.Value
			case "SHA1":
				c.SHA1 = cs.Value
			case "SHA256":
				c.SHA256 = cs.Value
			}
		}
		res.Checksum = c
	}
	w.Header().Set("Last-Modified", info.Modified.UTC().Format(http.TimeFormat))
	return writeXML(w, http.StatusOK, &res)
}
