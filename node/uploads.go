package node

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/kommunal-cloud/kcs/node/meta"
)

// newUploadID returns an upload id that sorts by initiation time: eight
// bytes of time, eight random. S3 lists a key's uploads by initiation and
// continues after an upload-id-marker "lexicographically greater": with
// these ids both orders are one.
func newUploadID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixNano()))
	rnd := newDataID()
	copy(b[8:], rnd[:8])
	return hex.EncodeToString(b[:])
}

func (n *Node) uploadInfo(u *meta.Upload) UploadInfo {
	return UploadInfo{Bucket: u.Bucket, Key: u.Key, UploadID: u.ID, Initiated: time.Unix(0, u.Initiated).UTC(),
		Owner: u.Tenant, StorageClass: storageStd, ChecksumAlgorithm: u.ChecksumAlgorithm, ChecksumType: u.ChecksumType}
}

// ListParts lists an upload's parts in number order, after opts.Marker.
func (n *Node) ListParts(ctx context.Context, c Caller, bucket, key, uploadID string, opts ListPartsOptions) (ListPartsResult, error) {
	var out ListPartsResult
	if err := n.cons.Linearize(ctx); err != nil {
		return out, err
	}
	u, _, err := n.upload(ctx, "ListParts", c, bucket, key, uploadID)
	if err != nil {
		return out, err
	}
	out.Upload = n.uploadInfo(u)
	var parts map[int]meta.Part
	if err := n.store.FSM.View(func(r *meta.Reader) error {
		parts, err = r.Parts(uploadID)
		return err
	}); err != nil {
		return out, err
	}
	nums := make([]int, 0, len(parts))
	for num := range parts {
		if num > opts.Marker {
			nums = append(nums, num)
		}
	}
	sort.Ints(nums)
	max := opts.MaxParts
	if max <= 0 || max > 1000 {
		max = 1000
	}
	if len(nums) > max {
		nums, out.Truncated = nums[:max], true
	}
	for _, num := range nums {
		p := parts[num]
		out.Parts = append(out.Parts, PartInfo{Number: num, ETag: p.ETag, Size: p.Size, Modified: time.Unix(0, p.Modified).UTC(), Checksums: fromChecksums(p.Checksums)})
		out.NextMarker = num
	}
	return out, nil
}

// ListMultipartUploads lists a bucket's uploads in progress.
func (n *Node) ListMultipartUploads(ctx context.Context, c Caller, bucket string, opts ListUploadsOptions) (ListUploadsResult, error) {
	var out ListUploadsResult
	if err := n.cons.Linearize(ctx); err != nil {
		return out, err
	}
	max := opts.MaxUploads
	if max <= 0 || max > 1000 {
		max = 1000
	}
	err := n.store.FSM.View(func(r *meta.Reader) error {
		if _, err := bucketFor(r, "ListMultipartUploads", c, bucket); err != nil {
			return err
		}
		entries, prefixes, truncated, err := r.ListUploads(bucket, opts.Prefix, opts.Delimiter, opts.KeyMarker, opts.UploadIDMarker, max)
		if err != nil {
			return err
		}
		for i := range entries {
			out.Uploads = append(out.Uploads, n.uploadInfo(&entries[i].Upload))
		}
		out.Prefixes, out.Truncated = prefixes, truncated
		if truncated {
			// The last entry of the page, upload or prefix, whichever sorts
			// last, is where the next page starts.
			var lastKey, lastID string
			if len(out.Uploads) > 0 {
				u := out.Uploads[len(out.Uploads)-1]
				lastKey, lastID = u.Key, u.UploadID
			}
			if len(prefixes) > 0 && prefixes[len(prefixes)-1] > lastKey {
				lastKey, lastID = prefixes[len(prefixes)-1], ""
			}
			out.NextKeyMarker, out.NextUploadIDMarker = lastKey, lastID
		}
		return nil
	})
	return out, err
}

// expireUploads is the kcs policy for uploads left unfinished (S3 leaves
// that to lifecycle rules): on the leader, uploads older than the
// configured age are aborted and their parts' shards collected.
func (n *Node) expireUploads(ctx context.Context) {
	if !n.store.IsLeader() {
		return
	}
	age := n.cfg.UploadExpiry
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var old []meta.Upload
	n.store.FSM.View(func(r *meta.Reader) error {
		// A bucket's own AbortIncompleteMultipartUpload rule replaces the
		// cluster-wide expiry for the keys it covers (the lifecycle
		// worker applies it).
		rules := map[string][]meta.LifecycleRule{}
		ownRule := func(u *meta.Upload) bool {
			rs, seen := rules[u.Bucket]
			if !seen {
				rs = bucketRules(r, u.Bucket)
				rules[u.Bucket] = rs
			}
			return slices.ContainsFunc(rs, func(l meta.LifecycleRule) bool {
				return l.Enabled && l.AbortIncompleteDays > 0 && strings.HasPrefix(u.Key, l.Prefix)
			})
		}
		var err error
		old, err = r.UploadsOlderThan(n.now().Add(-age).UnixNano(), 100, ownRule)
		return err
	})
	for _, u := range old {
		res, err := n.cons.Propose(ctx, meta.NewCommand(&meta.AbortUpload{UploadID: u.ID, Tenant: u.Tenant}))
		if err != nil || res.Err != nil {
			continue
		}
		n.log.Info("expired an unfinished multipart upload", "tenant", u.Tenant, "bucket", u.Bucket, "key", u.Key, "upload", u.ID,
			"initiated", time.Unix(0, u.Initiated).UTC())
		n.gc.Add(res.Garbage)
		n.counters.uploadsExpired.Add(1)
	}
}

// uploadExpiryEvery is how often the leader looks for expired uploads: a
// quarter of the expiry age, at most every 10 minutes, at least every
// second.
func uploadExpiryEvery(age time.Duration) time.Duration {
	return max(min(age/4, 10*time.Minute), time.Second)
}
