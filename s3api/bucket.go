package s3api

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

// maxCreateBucketBody bounds CreateBucket's configuration document, which
// holds one short element.
const maxCreateBucketBody = 64 << 10

// maxBucketsPage is S3's default and cap for ListBuckets' max-buckets.
const maxBucketsPage = 10000

// listBuckets lists the caller's buckets (ListBuckets), with S3's optional
// prefix, max-buckets and continuation-token. A tenant has few buckets, so
// the object layer returns them all and paging happens here.
func (s *Server) listBuckets(w http.ResponseWriter, r *http.Request, rq *request) error {
	q := rq.query
	limit := maxBucketsPage
	if v := q.Get("max-buckets"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxBucketsPage {
			return errorf("InvalidArgument", "max-buckets must be an integer between 1 and 10000.")
		}
		limit = n
	}
	after := ""
	if q.Has("continuation-token") {
		var err error
		if after, err = decodeToken(q.Get("continuation-token")); err != nil {
			return err
		}
	}
	prefix := q.Get("prefix")

	buckets, err := s.layer.ListBuckets(r.Context(), rq.caller)
	if err != nil {
		return err
	}
	slices.SortFunc(buckets, func(a, b objapi.BucketInfo) int { return cmp.Compare(a.Name, b.Name) })
	res := listAllMyBucketsResult{
		Owner:   owner{ID: rq.caller.Tenant, DisplayName: rq.caller.Tenant},
		Buckets: []bucketItem{},
		Prefix:  prefix,
	}
	for _, b := range buckets {
		if !strings.HasPrefix(b.Name, prefix) || b.Name <= after {
			continue
		}
		if len(res.Buckets) == limit {
			res.ContinuationToken = encodeToken(res.Buckets[len(res.Buckets)-1].Name)
			break
		}
		res.Buckets = append(res.Buckets, bucketItem{Name: b.Name, CreationDate: xmlTime(b.Created), BucketRegion: s.region})
	}
	return writeXML(w, http.StatusOK, &res)
}

// createBucket creates a bucket (CreateBucket). The optional body names a
// LocationConstraint, which must be this server's region.
func (s *Server) createBucket(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := objapi.ValidBucketName(rq.bucket); err != nil {
		return err
	}
	if err := checkWriteHeaders(r.Header); err != nil {
		return err
	}
	var cfg createBucketConfiguration
	if _, err := decodeXMLBody(rq.auth.Body, maxCreateBucketBody, &cfg); err != nil {
		return err
	}
	if err := s.checkLocation(cfg.LocationConstraint); err != nil {
		return err
	}
	var opts objapi.CreateBucketOptions
	switch v := strings.TrimSpace(r.Header.Get("X-Amz-Bucket-Object-Lock-Enabled")); {
	case v == "" || strings.EqualFold(v, "false"):
	case strings.EqualFold(v, "true"):
		// Object lock, and versioning with it.
		opts.ObjectLock = true
	default:
		return errorf("InvalidArgument", "x-amz-bucket-object-lock-enabled must be true or false.")
	}
	if err := s.layer.CreateBucketWith(r.Context(), rq.caller, rq.bucket, opts); err != nil {
		// S3 in us-east-1 answers 200 to re-creating a bucket one owns
		// (legacy behaviour, every other region says 409), and clients
		// and suites written against it re-create buckets freely. Not
		// when object lock is asked for: the bucket may lack it, and a
		// 200 would claim it.
		if !objapi.IsKind(err, objapi.KindBucketOwnedByYou) || s.region != DefaultRegion || opts.ObjectLock {
			return err
		}
	}
	w.Header().Set("Location", "/"+rq.bucket)
	w.WriteHeader(http.StatusOK)
	return nil
}

// checkLocation checks CreateBucket's LocationConstraint. A constraint
// that names this region, or none at all, is accepted; one that names
// another region cannot be honoured here (IllegalLocationConstraint-
// Exception); anything that is not a region name is invalid.
func (s *Server) checkLocation(lc string) error {
	lc = strings.TrimSpace(lc)
	switch {
	case lc == "" || lc == s.region:
		return nil
	case regionShaped(lc):
		return errorf("IllegalLocationConstraintException",
			fmt.Sprintf("The %s location constraint is incompatible for the region specific endpoint this request was sent to (%s).", lc, s.region))
	default:
		return errorf("InvalidLocationConstraint", "")
	}
}

// regionShaped reports whether s looks like a region name ("eu-west-1",
// or the legacy "EU").
func regionShaped(s string) bool {
	if s == "EU" {
		return true
	}
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// headBucket answers whether the bucket exists and the caller may use it
// (HeadBucket). Errors have no body; the status says it all.
func (s *Server) headBucket(w http.ResponseWriter, r *http.Request, rq *request) error {
	if _, err := s.layer.HeadBucket(r.Context(), rq.caller, rq.bucket); err != nil {
		return err
	}
	w.Header().Set("X-Amz-Bucket-Region", s.region)
	w.WriteHeader(http.StatusOK)
	return nil
}

// deleteBucket removes an empty bucket (DeleteBucket).
func (s *Server) deleteBucket(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := s.layer.DeleteBucket(r.Context(), rq.caller, rq.bucket); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// getBucketLocation answers the bucket's region (GetBucketLocation). S3
// answers an empty LocationConstraint for us-east-1, and clients expect
// that.
func (s *Server) getBucketLocation(w http.ResponseWriter, r *http.Request, rq *request) error {
	if _, err := s.layer.HeadBucket(r.Context(), rq.caller, rq.bucket); err != nil {
		return err
	}
	res := locationConstraint{Region: s.region}
	if s.region == "us-east-1" {
		res.Region = ""
	}
	return writeXML(w, http.StatusOK, &res)
}
