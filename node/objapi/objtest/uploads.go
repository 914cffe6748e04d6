package objtest

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// uploadKeys get one upload each, "b/1" two, started in this order: the
// order of a listing (by key, then by initiation).
var uploadKeys = []string{"a", "b/1", "b/1", "b/2", "c/x/1", "d", "ä"}

// listUploadsAll lists every page of a bucket's uploads, following the
// next markers, and returns "key id" and "prefix/" entries.
func (t *T) listUploadsAll(bucket string, opts objapi.ListUploadsOptions) []string {
	t.Helper()
	var all []string
	for page := 0; ; page++ {
		if page > 100 {
			t.Fatalf("ListMultipartUploads %+v does not end", opts)
		}
		res, err := t.l.ListMultipartUploads(t.ctx, t.me, bucket, opts)
		t.must(err, "ListMultipartUploads %+v", opts)
		// Uploads (by key, then initiation) and prefixes, merged by key.
		var entries []string
		ups, ps := res.Uploads, res.Prefixes
		for len(ups) > 0 || len(ps) > 0 {
			if len(ps) == 0 || len(ups) > 0 && ups[0].Key < ps[0] {
				entries, ups = append(entries, ups[0].Key+" "+ups[0].UploadID), ups[1:]
			} else {
				entries, ps = append(entries, ps[0]), ps[1:]
			}
		}
		if len(entries) > opts.MaxUploads {
			t.Errorf("ListMultipartUploads %+v: %d entries", opts, len(entries))
		}
		all = append(all, entries...)
		if !res.Truncated {
			if res.NextKeyMarker != "" || res.NextUploadIDMarker != "" {
				t.Errorf("ListMultipartUploads %+v: not truncated, next markers %q %q", opts, res.NextKeyMarker, res.NextUploadIDMarker)
			}
			return all
		}
		last := entries[len(entries)-1]
		key, id, _ := strings.Cut(last, " ")
		if res.NextKeyMarker != key || res.NextUploadIDMarker != id {
			t.Errorf("ListMultipartUploads %+v: next markers %q %q, want the page's last entry %q", opts, res.NextKeyMarker, res.NextUploadIDMarker, last)
		}
		opts.KeyMarker, opts.UploadIDMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
}

var uploadListTests = []test{
	{"Order", func(t *T) {
		b := t.bucket()
		var ids []string
		for _, k := range uploadKeys {
			ids = append(ids, t.upload(b, k, objapi.PutOptions{ChecksumAlgorithm: "CRC32C"}))
		}
		res, err := t.l.ListMultipartUploads(t.ctx, t.me, b, objapi.ListUploadsOptions{MaxUploads: 1000})
		t.must(err, "ListMultipartUploads")
		if len(res.Uploads) != len(uploadKeys) || res.Truncated || len(res.Prefixes) != 0 {
			t.Fatalf("ListMultipartUploads: %+v", res)
		}
		for i, u := range res.Uploads {
			// uploadKeys is sorted, and the two uploads of "b/1" in the
			// order they were started.
			if u.Key != uploadKeys[i] || u.UploadID != ids[i] || u.Bucket != b || u.Initiated.IsZero() || u.Owner != t.me.Tenant ||
				u.StorageClass != "STANDARD" || u.ChecksumAlgorithm != "CRC32C" || u.ChecksumType != "COMPOSITE" {
				t.Errorf("upload %d: %+v, want key %s id %s", i, u, uploadKeys[i], ids[i])
			}
		}
		// The other tenant's uploads are its own.
		ob := fmt.Sprintf("%s-o", b)
		if err := t.l.CreateBucket(t.ctx, t.other, ob); err == nil {
			if _, err := t.l.CreateMultipartUpload(t.ctx, t.other, ob, "a", objapi.PutOptions{}); err != nil {
				t.Errorf("the other tenant's CreateMultipartUpload: %v", err)
			}
		}
		if again := t.listUploadsAll(b, objapi.ListUploadsOptions{MaxUploads: 1000}); len(again) != len(uploadKeys) {
			t.Errorf("uploads of another bucket are listed: %q", again)
		}
	}},
	// Every combination of prefix, delimiter and page size lists what one
	// big page lists, page by page, continuing after the next markers.
	{"Pages", func(t *T) {
		b := t.bucket()
		var ids []string
		for _, k := range uploadKeys {
			ids = append(ids, t.upload(b, k, objapi.PutOptions{}))
		}
		for _, prefix := range []string{"", "b", "b/", "c/", "nix"} {
			for _, delim := range []string{"", "/"} {
				var want []string
				for i, k := range uploadKeys {
					if !strings.HasPrefix(k, prefix) {
						continue
					}
					e := k + " " + ids[i]
					if j := strings.Index(k[len(prefix):], delim); delim != "" && j >= 0 {
						e = k[:len(prefix)+j+len(delim)]
					}
					if !slices.Contains(want, e) {
						want = append(want, e)
					}
				}
				for _, max := range []int{1, 2, 1000} {
					opts := objapi.ListUploadsOptions{Prefix: prefix, Delimiter: delim, MaxUploads: max}
					if got := t.listUploadsAll(b, opts); !slices.Equal(got, want) {
						t.Errorf("ListMultipartUploads %+v:\n\tgot  %q\n\twant %q", opts, got, want)
					}
				}
			}
		}
	}},
	// KeyMarker alone lists the keys after it; with UploadIDMarker, the
	// marker key's later uploads first.
	{"Markers", func(t *T) {
		b := t.bucket()
		var ids []string
		for _, k := range uploadKeys {
			ids = append(ids, t.upload(b, k, objapi.PutOptions{}))
		}
		keysAfter := func(opts objapi.ListUploadsOptions) []string {
			opts.MaxUploads = 1000
			res, err := t.l.ListMultipartUploads(t.ctx, t.me, b, opts)
			t.must(err, "ListMultipartUploads %+v", opts)
			var out []string
			for _, u := range res.Uploads {
				out = append(out, u.Key+" "+u.UploadID)
			}
			return out
		}
		entries := func(from int) []string {
			var out []string
			for i := from; i < len(uploadKeys); i++ {
				out = append(out, uploadKeys[i]+" "+ids[i])
			}
			return out
		}
		for _, tc := range []struct {
			opts objapi.ListUploadsOptions
			want []string
		}{
			{objapi.ListUploadsOptions{KeyMarker: "b/1"}, entries(3)},
			{objapi.ListUploadsOptions{KeyMarker: "b/1", UploadIDMarker: ids[1]}, entries(2)},
			{objapi.ListUploadsOptions{KeyMarker: "b/1", UploadIDMarker: ids[2]}, entries(3)},
			{objapi.ListUploadsOptions{KeyMarker: "b"}, entries(1)},
			{objapi.ListUploadsOptions{KeyMarker: "ä"}, nil},
		} {
			if got := keysAfter(tc.opts); !slices.Equal(got, tc.want) {
				t.Errorf("ListMultipartUploads %+v:\n\tgot  %q\n\twant %q", tc.opts, got, tc.want)
			}
		}
	}},
}
