package objtest

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// listKeys are stored by the listing tests: nested "directories", keys
// that are prefixes of others, and UTF-8 beyond ASCII, which sorts by
// bytes ("z" < "~" < "ä" < "😀").
var listKeys = []string{
	"a", "a/b", "a/c/d", "a/c/e", "a/d", "ab", "b/", "b/x", "c~", "cä", "c😀", "d/e/f/g", "e.txt", "z",
}

// entry is one item of a listing page: a key or a common prefix.
type entry struct {
	name   string
	prefix bool
}

func (e entry) String() string {
	if e.prefix {
		return e.name + "(prefix)"
	}
	return e.name
}

// listAll lists every page of a listing with maxKeys per page, following
// Next, and checks each page's shape.
func (t *T) listAll(bucket string, opts objapi.ListOptions) []entry {
	t.Helper()
	var all []entry
	for page := 0; ; page++ {
		if page > 100 {
			t.Fatalf("listing %+v does not end", opts)
		}
		res, err := t.l.ListObjects(t.ctx, t.me, bucket, opts)
		t.must(err, "ListObjects %+v", opts)
		entries := pageEntries(res)
		if len(entries) > opts.MaxKeys {
			t.Errorf("ListObjects %+v: %d entries, more than MaxKeys", opts, len(entries))
		}
		if len(entries) > 0 && res.Next != entries[len(entries)-1].name {
			t.Errorf("ListObjects %+v: Next %q, want the page's last entry %v", opts, res.Next, entries[len(entries)-1])
		}
		if res.Truncated && len(entries) == 0 {
			t.Fatalf("ListObjects %+v: truncated but empty", opts)
		}
		all = append(all, entries...)
		if !res.Truncated {
			return all
		}
		opts.After = res.Next
	}
}

// pageEntries merges a page's objects and prefixes into their order.
func pageEntries(res objapi.ListResult) []entry {
	var out []entry
	for _, o := range res.Objects {
		out = append(out, entry{name: o.Key})
	}
	for _, p := range res.Prefixes {
		out = append(out, entry{name: p, prefix: true})
	}
	slices.SortFunc(out, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	return out
}

// expectList is what a listing of listKeys must return, computed the
// plain way: filter, roll up, dedupe, drop what is not after After.
func expectList(opts objapi.ListOptions) []entry {
	var out []entry
	for _, k := range slices.Sorted(slices.Values(listKeys)) {
		if !strings.HasPrefix(k, opts.Prefix) {
			continue
		}
		e := entry{name: k}
		if opts.Delimiter != "" {
			if i := strings.Index(k[len(opts.Prefix):], opts.Delimiter); i >= 0 {
				e = entry{name: k[:len(opts.Prefix)+i+len(opts.Delimiter)], prefix: true}
			}
		}
		if e.name <= opts.After || len(out) > 0 && out[len(out)-1] == e {
			continue
		}
		out = append(out, e)
	}
	return out
}

func (t *T) listBucket() string {
	t.Helper()
	b := t.bucket()
	for i, k := range listKeys {
		t.put(b, k, data(i+1, byte(i)), objapi.PutOptions{})
	}
	return b
}

var listTests = []test{
	{"Order", func(t *T) {
		b := t.listBucket()
		res, err := t.l.ListObjects(t.ctx, t.me, b, objapi.ListOptions{MaxKeys: 1000})
		t.must(err, "ListObjects")
		want := slices.Sorted(slices.Values(listKeys))
		var got []string
		for i, o := range res.Objects {
			got = append(got, o.Key)
			k := slices.Index(listKeys, o.Key)
			if k < 0 {
				continue
			}
			body := data(k+1, byte(k))
			if o.Size != int64(len(body)) || o.ETag != md5hex(body) || o.Modified.IsZero() || o.Owner != t.me.Tenant || o.StorageClass != "STANDARD" {
				t.Errorf("listed object %d: %+v", i, o)
			}
		}
		if !slices.Equal(got, want) || res.Truncated || len(res.Prefixes) != 0 {
			t.Errorf("ListObjects: %q truncated %v prefixes %q, want %q", got, res.Truncated, res.Prefixes, want)
		}
	}},
	// Every combination of prefix, delimiter and page size lists what one
	// big page lists, page by page, continuing after Next.
	{"Pages", func(t *T) {
		b := t.listBucket()
		for _, prefix := range []string{"", "a", "a/", "a/c/", "c", "nix"} {
			for _, delim := range []string{"", "/", "/c/", "~"} {
				for _, max := range []int{1, 2, 3, 1000} {
					opts := objapi.ListOptions{Prefix: prefix, Delimiter: delim, MaxKeys: max}
					got, want := t.listAll(b, opts), expectList(opts)
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Errorf("ListObjects %+v:\n\tgot  %v\n\twant %v", opts, got, want)
					}
				}
			}
		}
	}},
	// After is StartAfter or a continuation: keys and prefixes strictly
	// after it, whether or not it names a key.
	{"After", func(t *T) {
		b := t.listBucket()
		for _, tc := range []objapi.ListOptions{
			{After: "a/c/d"},
			{After: "a/c/"},
			{After: "b"},
			{After: "c~"},
			{After: "z"},
			{After: "zz"},
			{After: "0"},
			{Prefix: "c", After: "a"},
			{Prefix: "a/", After: "a/c/d", Delimiter: "/"},
			{Delimiter: "/", After: "a/"},
			{Delimiter: "/", After: "a/c/d"},
			{Delimiter: "/", After: "b"},
		} {
			tc.MaxKeys = 1000
			res, err := t.l.ListObjects(t.ctx, t.me, b, tc)
			t.must(err, "ListObjects %+v", tc)
			if got, want := pageEntries(res), expectList(tc); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("ListObjects %+v:\n\tgot  %v\n\twant %v", tc, got, want)
			}
		}
	}},
	// Truncated means more follow: a page that ends exactly at the end of
	// the listing is not truncated.
	{"Truncated", func(t *T) {
		b := t.bucket()
		for _, k := range []string{"a", "b", "c"} {
			t.put(b, k, nil, objapi.PutOptions{})
		}
		for max, want := range map[int]bool{1: true, 2: true, 3: false, 4: false} {
			res, err := t.l.ListObjects(t.ctx, t.me, b, objapi.ListOptions{MaxKeys: max})
			t.must(err, "ListObjects")
			if res.Truncated != want {
				t.Errorf("MaxKeys %d of 3 keys: truncated %v", max, res.Truncated)
			}
		}
		res, err := t.l.ListObjects(t.ctx, t.me, t.bucket(), objapi.ListOptions{MaxKeys: 10})
		t.must(err, "ListObjects of an empty bucket")
		if len(res.Objects) != 0 || len(res.Prefixes) != 0 || res.Truncated {
			t.Errorf("empty bucket: %+v", res)
		}
	}},
	{"Checksums", func(t *T) {
		b := t.bucket()
		body := []byte("mit Prüfsumme")
		sum := sumOf("CRC32", body)
		t.put(b, "k", body, objapi.PutOptions{Checksums: func() []objapi.Checksum { return []objapi.Checksum{sum} }})
		t.put(b, "ohne", body, objapi.PutOptions{})
		res, err := t.l.ListObjects(t.ctx, t.me, b, objapi.ListOptions{MaxKeys: 10})
		t.must(err, "ListObjects")
		if len(res.Objects) != 2 || !sameChecksums(res.Objects[0].Checksums, []objapi.Checksum{sum}) || len(res.Objects[1].Checksums) != 0 {
			t.Errorf("listed %+v, want the checksum %v on k only", res.Objects, sum)
		}
	}},
	// ListObjectsV2 names each object's checksum type (S3's Object type
	// has ChecksumType; s3api writes it).
	{"ChecksumType", func(t *T) {
		b := t.bucket()
		body := []byte("mit Prüfsumme")
		t.put(b, "a", body, objapi.PutOptions{Checksums: func() []objapi.Checksum { return []objapi.Checksum{sumOf("CRC32", body)} }})
		t.checksummedUpload(b, "b", "SHA1", "COMPOSITE", body)
		res, err := t.l.ListObjects(t.ctx, t.me, b, objapi.ListOptions{MaxKeys: 10})
		t.must(err, "ListObjects")
		if len(res.Objects) != 2 || res.Objects[0].ChecksumType != "FULL_OBJECT" || res.Objects[1].ChecksumType != "COMPOSITE" {
			t.Errorf("listed %+v, want checksum types FULL_OBJECT and COMPOSITE", res.Objects)
		}
	}},
}
