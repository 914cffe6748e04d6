package objtest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"slices"

	"github.com/kommunal-cloud/kcs/node/checksum"
	"github.com/kommunal-cloud/kcs/node/objapi"
)

// digest is alg's digest of b.
func digest(alg string, b []byte) []byte {
	a, ok := checksum.Lookup(alg)
	if !ok {
		panic("objtest: unknown checksum algorithm " + alg)
	}
	h := a.New()
	h.Write(b)
	return h.Sum(nil)
}

// crcOf is alg's checksum of b as S3 writes it (the name is historical:
// any algorithm).
func sumOf(alg string, b []byte) objapi.Checksum {
	return objapi.Checksum{Algorithm: alg, Value: base64.StdEncoding.EncodeToString(digest(alg, b))}
}

// compositeOf is S3's COMPOSITE checksum of parts: alg over the parts'
// binary digests, then "-N".
func compositeOf(alg string, parts ...[]byte) objapi.Checksum {
	var cat []byte
	for _, p := range parts {
		cat = append(cat, digest(alg, p)...)
	}
	return objapi.Checksum{Algorithm: alg, Value: fmt.Sprintf("%s-%d", base64.StdEncoding.EncodeToString(digest(alg, cat)), len(parts))}
}

// checksummedUpload uploads parts with their alg checksums and completes
// them; it returns the object's info.
func (t *T) checksummedUpload(bucket, key, alg, typ string, parts ...[]byte) objapi.ObjectInfo {
	t.Helper()
	id := t.upload(bucket, key, objapi.PutOptions{ChecksumAlgorithm: alg, ChecksumType: typ})
	var done []objapi.CompletePart
	for i, p := range parts {
		sum := sumOf(alg, p)
		info := t.part(bucket, key, id, i+1, p, sum)
		if !sameChecksums(info.Checksums, []objapi.Checksum{sum}) {
			t.Errorf("UploadPart %d: checksums %v, want %v", i+1, info.Checksums, sum)
		}
		done = append(done, objapi.CompletePart{Number: info.Number, ETag: info.ETag, Checksums: []objapi.Checksum{sum}})
	}
	res, err := t.l.ListParts(t.ctx, t.me, bucket, key, id, objapi.ListPartsOptions{MaxParts: 100})
	t.must(err, "ListParts")
	for i, p := range res.Parts {
		if !sameChecksums(p.Checksums, []objapi.Checksum{sumOf(alg, parts[i])}) {
			t.Errorf("ListParts: part %d's checksums %v", p.Number, p.Checksums)
		}
	}
	info, err := t.l.CompleteMultipartUpload(t.ctx, t.me, bucket, key, id, done, objapi.CompleteOptions{})
	t.must(err, "CompleteMultipartUpload %s %s", alg, typ)
	return info
}

var checksumTests = []test{
	// Checksums s3api verified are kept, and returned as FULL_OBJECT.
	{"PutObject", func(t *T) {
		b := t.bucket()
		body := data(3000, 40)
		sums := []objapi.Checksum{sumOf("CRC32", body), sumOf("SHA256", body)}
		info := t.put(b, "k", body, objapi.PutOptions{Checksums: func() []objapi.Checksum { return sums }})
		if !sameChecksums(info.Checksums, sums) || info.ChecksumType != "FULL_OBJECT" {
			t.Errorf("PutObject: checksums %v type %q", info.Checksums, info.ChecksumType)
		}
		obj, _ := t.get(b, "k", objapi.GetOptions{})
		if !sameChecksums(obj.Info.Checksums, sums) || obj.Info.ChecksumType != "FULL_OBJECT" {
			t.Errorf("GetObject: checksums %v type %q", obj.Info.Checksums, obj.Info.ChecksumType)
		}
		info = t.put(b, "ohne", body, objapi.PutOptions{Checksums: func() []objapi.Checksum { return nil }})
		if len(info.Checksums) != 0 || info.ChecksumType != "" {
			t.Errorf("PutObject without checksums: %v type %q", info.Checksums, info.ChecksumType)
		}
	}},
	{"Composite", func(t *T) {
		b := t.bucket()
		p1, p2 := data(minPart, 41), data(4321, 42)
		for _, alg := range []string{"CRC32", "SHA256"} {
			key := "composite-" + alg
			info := t.checksummedUpload(b, key, alg, "", p1, p2)
			want := []objapi.Checksum{compositeOf(alg, p1, p2)}
			if !sameChecksums(info.Checksums, want) || info.ChecksumType != "COMPOSITE" {
				t.Errorf("%s: checksums %v type %q, want %v COMPOSITE", alg, info.Checksums, info.ChecksumType, want)
			}
			obj, _ := t.get(b, key, objapi.GetOptions{})
			if !sameChecksums(obj.Info.Checksums, want) || obj.Info.ChecksumType != "COMPOSITE" {
				t.Errorf("%s: GetObject's checksums %v type %q", alg, obj.Info.Checksums, obj.Info.ChecksumType)
			}
			// Each part keeps its own checksum: a part read and the list
			// of parts answer with it.
			for n, p := range map[int][]byte{1: p1, 2: p2} {
				obj, _ := t.get(b, key, objapi.GetOptions{PartNumber: n})
				if part := obj.Info.Part; part == nil || !sameChecksums(part.Checksums, []objapi.Checksum{sumOf(alg, p)}) {
					t.Errorf("%s: part %d's description %+v", alg, n, part)
				}
			}
			obj, _ = t.get(b, key, objapi.GetOptions{Parts: true})
			if ps := obj.Info.Parts; len(ps) != 2 || !sameChecksums(ps[0].Checksums, []objapi.Checksum{sumOf(alg, p1)}) ||
				!sameChecksums(ps[1].Checksums, []objapi.Checksum{sumOf(alg, p2)}) {
				t.Errorf("%s: the object's parts %+v", alg, ps)
			}
		}
	}},
	// FULL_OBJECT: the CRC of the whole object, combined from the parts'.
	{"FullObject", func(t *T) {
		b := t.bucket()
		p1, p2 := data(minPart, 43), data(777, 44)
		for _, tc := range []struct{ alg, typ string }{{"CRC32", "FULL_OBJECT"}, {"CRC32C", "FULL_OBJECT"}, {"CRC64NVME", ""}} {
			key := "full-" + tc.alg
			info := t.checksummedUpload(b, key, tc.alg, tc.typ, p1, p2)
			want := []objapi.Checksum{sumOf(tc.alg, slices.Concat(p1, p2))}
			if !sameChecksums(info.Checksums, want) || info.ChecksumType != "FULL_OBJECT" {
				t.Errorf("%s %q: checksums %v type %q, want %v FULL_OBJECT", tc.alg, tc.typ, info.Checksums, info.ChecksumType, want)
			}
		}
	}},
	{"UploadModes", func(t *T) {
		b := t.bucket()
		for _, tc := range []struct {
			alg, typ string
			kind     objapi.Kind
		}{
			{"", "COMPOSITE", objapi.KindInvalidRequest},
			{"", "FULL_OBJECT", objapi.KindInvalidRequest},
			{"SHA256", "FULL_OBJECT", objapi.KindInvalidRequest},
			{"SHA1", "FULL_OBJECT", objapi.KindInvalidRequest},
			{"CRC64NVME", "COMPOSITE", objapi.KindInvalidRequest},
			{"MD4", "", objapi.KindInvalidArgument},
		} {
			_, err := t.l.CreateMultipartUpload(t.ctx, t.me, b, "k", objapi.PutOptions{ChecksumAlgorithm: tc.alg, ChecksumType: tc.typ})
			t.wantKind(err, tc.kind, "CreateMultipartUpload with algorithm %q type %q", tc.alg, tc.typ)
		}
		for alg, typ := range map[string]string{"CRC32": "COMPOSITE", "CRC32C": "COMPOSITE", "CRC64NVME": "FULL_OBJECT", "SHA1": "COMPOSITE", "SHA256": "COMPOSITE"} {
			id := t.upload(b, "k-"+alg, objapi.PutOptions{ChecksumAlgorithm: alg})
			res, err := t.l.ListParts(t.ctx, t.me, b, "k-"+alg, id, objapi.ListPartsOptions{MaxParts: 10})
			t.must(err, "ListParts")
			if res.Upload.ChecksumAlgorithm != alg || res.Upload.ChecksumType != typ {
				t.Errorf("upload with %s: algorithm %q type %q, want the default %q", alg, res.Upload.ChecksumAlgorithm, res.Upload.ChecksumType, typ)
			}
		}
		res, err := t.l.ListParts(t.ctx, t.me, b, "k", t.upload(b, "k", objapi.PutOptions{}), objapi.ListPartsOptions{MaxParts: 10})
		t.must(err, "ListParts")
		if res.Upload.ChecksumAlgorithm != "" || res.Upload.ChecksumType != "" {
			t.Errorf("upload without a checksum: algorithm %q type %q", res.Upload.ChecksumAlgorithm, res.Upload.ChecksumType)
		}
	}},
	// In an upload with a checksum algorithm every part brings that
	// checksum.
	{"PartNeedsChecksum", func(t *T) {
		b := t.bucket()
		id := t.upload(b, "k", objapi.PutOptions{ChecksumAlgorithm: "CRC32"})
		body := []byte("teil")
		for _, sums := range [][]objapi.Checksum{nil, {sumOf("SHA1", body)}} {
			opts := objapi.PartOptions{Size: 4, Checksums: func() []objapi.Checksum { return sums }}
			_, err := t.l.UploadPart(t.ctx, t.me, b, "k", id, 1, bytes.NewReader(body), opts)
			t.wantKind(err, objapi.KindInvalidRequest, "UploadPart with checksums %v", sums)
		}
		_, err := t.l.UploadPart(t.ctx, t.me, b, "k", id, 1, bytes.NewReader(body), objapi.PartOptions{Size: 4})
		t.wantKind(err, objapi.KindInvalidRequest, "UploadPart without checksums")
		res, err := t.l.ListParts(t.ctx, t.me, b, "k", id, objapi.ListPartsOptions{MaxParts: 10})
		t.must(err, "ListParts")
		if len(res.Parts) != 0 {
			t.Errorf("refused parts are listed: %+v", res.Parts)
		}
		t.part(b, "k", id, 1, body, sumOf("CRC32", body))
	}},
	// What the client states at completion must hold.
	{"CompleteChecks", func(t *T) {
		b := t.bucket()
		p1, p2 := data(minPart, 45), data(99, 46)
		id := t.upload(b, "k", objapi.PutOptions{ChecksumAlgorithm: "CRC32", ChecksumType: "FULL_OBJECT"})
		i1 := t.part(b, "k", id, 1, p1, sumOf("CRC32", p1))
		i2 := t.part(b, "k", id, 2, p2, sumOf("CRC32", p2))
		parts := completeParts(i1, i2)
		whole := sumOf("CRC32", slices.Concat(p1, p2))
		wrongPart := slices.Clone(parts)
		wrongPart[1].Checksums = []objapi.Checksum{sumOf("CRC32", p1)}
		for _, tc := range []struct {
			what  string
			parts []objapi.CompletePart
			opts  objapi.CompleteOptions
			kind  objapi.Kind
		}{
			{"a part's wrong checksum", wrongPart, objapi.CompleteOptions{}, objapi.KindInvalidPart},
			{"a wrong object checksum", parts, objapi.CompleteOptions{Checksums: []objapi.Checksum{sumOf("CRC32", p1)}}, objapi.KindBadDigest},
			{"another checksum type", parts, objapi.CompleteOptions{ChecksumType: "COMPOSITE"}, objapi.KindInvalidRequest},
		} {
			_, err := t.l.CompleteMultipartUpload(t.ctx, t.me, b, "k", id, tc.parts, tc.opts)
			t.wantKind(err, tc.kind, "CompleteMultipartUpload with %s", tc.what)
		}
		t.wantNoObject(b, "k")
		info, err := t.l.CompleteMultipartUpload(t.ctx, t.me, b, "k", id, parts, objapi.CompleteOptions{Checksums: []objapi.Checksum{whole}, ChecksumType: "FULL_OBJECT"})
		t.must(err, "CompleteMultipartUpload with the right checksum")
		if !sameChecksums(info.Checksums, []objapi.Checksum{whole}) {
			t.Errorf("checksums %v, want %v", info.Checksums, whole)
		}
	}},
}
