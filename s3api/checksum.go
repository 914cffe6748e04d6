package s3api

import (
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"

	"github.com/kommunal-cloud/kcs/node/objapi"
	"github.com/kommunal-cloud/kcs/s3api/sigv4"
)

// This file translates checksums between sigv4, the object layer, headers
// and XML. sigv4 verifies the checksums of request bodies; what remains
// here is naming them, checking the values clients state about objects
// (CompleteMultipartUpload, POST forms) and the multipart checksum modes.

const (
	checksumComposite  = "COMPOSITE"   // a checksum of the parts' checksums, "-N"
	checksumFullObject = "FULL_OBJECT" // the checksum of the whole object's bytes
)

// checksumHeader is the header S3 uses for an algorithm's checksum, e.g.
// "x-amz-checksum-crc32".
func checksumHeader(alg string) string { return "x-amz-checksum-" + strings.ToLower(alg) }

func setChecksumHeaders(h http.Header, cs []objapi.Checksum) {
	for _, c := range cs {
		if c.Algorithm != "" && c.Value != "" {
			h.Set(checksumHeader(c.Algorithm), c.Value)
		}
	}
}

// isChecksumValueHeader reports whether a canonical header name carries a
// checksum value (and not the mode, type or algorithm).
func isChecksumValueHeader(name string) bool {
	lower := strings.ToLower(name)
	switch lower {
	case "x-amz-checksum-mode", "x-amz-checksum-algorithm", "x-amz-checksum-type":
		return false
	}
	return strings.HasPrefix(lower, "x-amz-checksum-")
}

// parseChecksumAlgorithm checks an algorithm a client names
// (x-amz-checksum-algorithm) and returns it as S3 spells it.
func parseChecksumAlgorithm(v string) (string, error) {
	for _, a := range sigv4.ChecksumAlgorithms() {
		if strings.EqualFold(a, strings.TrimSpace(v)) {
			return a, nil
		}
	}
	return "", errorf("InvalidRequest", "Value for x-amz-checksum-algorithm header is invalid.")
}

// checksumMode checks a multipart upload's checksum algorithm and type
// (x-amz-checksum-algorithm, x-amz-checksum-type) and returns the type in
// effect: the one given, or S3's default for the algorithm. Only CRCs can
// be combined into a FULL_OBJECT checksum, and CRC64NVME is never
// COMPOSITE.
func checksumMode(alg, typ string) (string, error) {
	typ = strings.ToUpper(strings.TrimSpace(typ))
	if alg == "" {
		if typ != "" {
			return "", errorf("InvalidRequest", "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.")
		}
		return "", nil
	}
	crc := alg == "CRC32" || alg == "CRC32C" || alg == "CRC64NVME"
	switch typ {
	case "":
		if alg == "CRC64NVME" {
			return checksumFullObject, nil
		}
		return checksumComposite, nil
	case checksumFullObject:
		if !crc {
			return "", errorf("InvalidRequest", "The FULL_OBJECT checksum type cannot be used with the "+strings.ToLower(alg)+" checksum algorithm.")
		}
	case checksumComposite:
		if alg == "CRC64NVME" {
			return "", errorf("InvalidRequest", "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm.")
		}
	default:
		return "", errorf("InvalidRequest", "Value for x-amz-checksum-type header is invalid.")
	}
	return typ, nil
}

// objectChecksums reads the x-amz-checksum-* headers of a request whose
// checksums describe an object rather than the body
// (CompleteMultipartUpload). A COMPOSITE value ends in "-N", the number
// of parts.
func objectChecksums(h http.Header) ([]objapi.Checksum, error) {
	var out []objapi.Checksum
	for name, vs := range h {
		if !isChecksumValueHeader(name) {
			continue
		}
		c, err := parseChecksumValue(strings.TrimPrefix(strings.ToLower(name), "x-amz-checksum-"), strings.Join(vs, ","), true)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// parseChecksumValue checks one checksum a client states: a known
// algorithm and the canonical base64 of its digest, followed by "-N"
// (1 ≤ N ≤ 10000) if composite is allowed.
func parseChecksumValue(alg, value string, composite bool) (objapi.Checksum, error) {
	name, err := parseChecksumAlgorithm(alg)
	if err != nil {
		return objapi.Checksum{}, errorf("InvalidRequest", "The checksum algorithm "+alg+" is not supported.")
	}
	digest := value
	if composite {
		if d, n, ok := strings.Cut(value, "-"); ok {
			parts, err := strconv.Atoi(n)
			if err != nil || parts < 1 || parts > maxParts || n != strconv.Itoa(parts) {
				return objapi.Checksum{}, errorf("InvalidRequest", "Value for "+checksumHeader(name)+" header is invalid.")
			}
			digest = d
		}
	}
	if _, err := sigv4.DecodeChecksum(name, digest); err != nil {
		return objapi.Checksum{}, errorf("InvalidRequest", "Value for "+checksumHeader(name)+" header is invalid.")
	}
	return objapi.Checksum{Algorithm: name, Value: value}, nil
}

// xmlChecksum is one checksum element of an S3 document: the element is
// named "Checksum" + the algorithm (ChecksumCRC32, ChecksumSHA256, …),
// which lets one slice carry any of them.
type xmlChecksum struct {
	XMLName xml.Name
	Value   string `xml:",chardata"`
}

// xmlChecksums turns checksums into their elements.
func xmlChecksums(cs []objapi.Checksum) []xmlChecksum {
	var out []xmlChecksum
	for _, c := range cs {
		if c.Algorithm != "" && c.Value != "" {
			out = append(out, xmlChecksum{XMLName: xml.Name{Local: "Checksum" + c.Algorithm}, Value: c.Value})
		}
	}
	return out
}

// checksumsFromXML reads the checksum elements among elems (others are
// ignored, as S3 ignores elements it does not know), for the parts of a
// CompleteMultipartUpload.
func checksumsFromXML(elems []xmlChecksum) ([]objapi.Checksum, error) {
	var out []objapi.Checksum
	for _, e := range elems {
		alg, ok := strings.CutPrefix(e.XMLName.Local, "Checksum")
		if !ok || alg == "" || alg == "Type" || alg == "Algorithm" {
			continue
		}
		c, err := parseChecksumValue(alg, strings.TrimSpace(e.Value), false)
		if err != nil {
			return nil, errorf("InvalidRequest", "Value for "+e.XMLName.Local+" is invalid.")
		}
		out = append(out, c)
	}
	return out, nil
}
