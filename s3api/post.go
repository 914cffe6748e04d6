package s3api

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kommunal-cloud/kcs/node/objapi"
	"github.com/kommunal-cloud/kcs/s3api/sigv2"
	"github.com/kommunal-cloud/kcs/s3api/sigv4"
)

// Browser-based uploads (POST Object): a web page holds a form that the
// municipal application signed in advance (a policy document and its
// signature, SigV4 or, as boto3 makes them in us-east-1, SigV2); the
// citizen's browser posts it, with the file, as
// multipart/form-data to the bucket. The request itself carries no
// signature: the form does, and the policy's conditions bind every other
// field, the key and the size.
//
// The form streams: fields are read (at most maxPostFields bytes of them)
// until the file part, which S3 requires to come last; the file goes
// straight to the object layer, its size and checksums checked as it
// passes. Fields after the file are ignored, as S3 ignores them.

const (
	// maxPostFields bounds the fields before the file: names and values.
	maxPostFields = 20 << 10
	// maxPostParts bounds how many fields come before the file.
	maxPostParts = 1000
)

// postResponse is the body of a POST answered with
// success_action_status 201.
type postResponse struct {
	XMLName  xml.Name `xml:"PostResponse"`
	Location string
	Bucket   string
	Key      string
	ETag     string
}

// postForm is a form's fields before the file, by lower-case name.
type postForm struct {
	fields map[string]string
	names  []string // in the order and spelling sent
}

func (f *postForm) get(name string) (string, bool) {
	v, ok := f.fields[name]
	return v, ok
}

// postObject stores the file of a browser's POST form (PostObject).
func (s *Server) postObject(w http.ResponseWriter, r *http.Request, rq *request) error {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return errorf("PreconditionFailed", "Bucket POST must be of the enclosure-type multipart/form-data.")
	}
	// The fields come before anyone is authenticated: they are held to a
	// byte budget (readPostForm) and a time limit (limitFormReads).
	endLimit := s.limitFormReads(w, r)
	form, file, err := readPostForm(multipart.NewReader(r.Body, params["boundary"]))
	if endLimit() && err != nil {
		// mime/multipart reports a header cut off by the deadline as
		// malformed.
		err = requestTimeout(err)
	}
	if err != nil {
		return err
	}
	if _, ok := form.get("key"); !ok {
		// Also what a form with the file before the key gets: its fields
		// after the file are never read.
		return errorf("InvalidArgument", "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.")
	}
	if file == nil {
		return errorf("InvalidArgument", "POST requires exactly one file upload per request.")
	}
	if err := s.authenticateForm(r.Context(), rq, form); err != nil {
		return err
	}
	if err := s.admitForm(r, rq); err != nil {
		return err
	}
	pol, err := parsePostPolicy(form.fields["policy"])
	if err != nil {
		return err
	}
	if s.now().After(pol.expiration) {
		return errorf("AccessDenied", "Invalid according to Policy: Policy expired.")
	}
	if pol.tooLong(form.fields["x-amz-date"], s.now()) {
		return errorf("AccessDenied", "Invalid according to Policy: Policy expiration must be at most seven days after it was signed, as for presigned URLs.")
	}

	// The key may name the file the citizen picked; the policy's
	// conditions apply to the key that results.
	key := strings.ReplaceAll(form.fields["key"], "${filename}", file.FileName())
	if err := objapi.ValidObjectKey(key); err != nil {
		return err
	}
	rq.key = key
	values := make(map[string]string, len(form.fields)+1)
	for k, v := range form.fields {
		values[k] = v
	}
	values["key"] = key
	// The bucket is the one the request addresses, whatever a "bucket"
	// field (which minio-go sends) claims.
	values["bucket"] = rq.bucket
	if err := pol.check(values, form.names); err != nil {
		return err
	}

	opts, sums, err := postPutOptions(form, s.now())
	if err != nil {
		return err
	}
	limit := &postFile{r: file, max: maxPutSize, sums: sums}
	if pol.hasRange {
		limit.min, limit.max = pol.minLen, min(pol.maxLen, maxPutSize)
	}
	if len(sums) > 0 {
		opts.Checksums = limit.checksums
	}
	body := &bodyReader{r: limit, declared: -1, max: maxPutSize}
	rq.body = body
	info, err := s.layer.PutObject(r.Context(), rq.caller, rq.bucket, key, body, opts)
	if err := body.finish(err); err != nil {
		return err
	}
	return s.postAnswer(w, r, rq, form, key, info)
}

// readPostForm reads the form's fields up to the file part, which it
// returns unread (nil if the form has none).
func readPostForm(mr *multipart.Reader) (*postForm, *multipart.Part, error) {
	form := &postForm{fields: map[string]string{}}
	budget := maxPostFields
	tooLarge := errorf("MaxPostPreDataLengthExceededError", "")
	for i := 0; ; i++ {
		// NextRawPart: a part's bytes as sent, never quoted-printable
		// decoded behind the policy's back.
		part, err := mr.NextRawPart()
		if err == io.EOF {
			return form, nil, nil
		}
		if err != nil {
			return nil, nil, formReadError(err)
		}
		sent := part.FormName()
		name := strings.ToLower(sent)
		if name == "" {
			return nil, nil, &s3Error{Code: "MalformedPOSTRequest", Err: errors.New("a form part without a field name")}
		}
		if name == "file" {
			return form, part, nil
		}
		budget -= len(name)
		if i >= maxPostParts || budget < 0 {
			return nil, nil, tooLarge
		}
		v, err := io.ReadAll(io.LimitReader(part, int64(budget)+1))
		if err != nil {
			return nil, nil, formReadError(err)
		}
		if budget -= len(v); budget < 0 {
			return nil, nil, tooLarge
		}
		if _, dup := form.fields[name]; dup {
			return nil, nil, errorf("InvalidArgument", "The POST form field "+name+" is given more than once.")
		}
		form.fields[name] = string(v)
		form.names = append(form.names, sent)
	}
}

// formReadError is the error of a form that could not be read: malformed,
// or too slow (its fields' time limit passed, or a read made no progress).
func formReadError(err error) error {
	if isRequestTimeout(err) {
		return requestTimeout(err)
	}
	return &s3Error{Code: "MalformedPOSTRequest", Err: err}
}

// authenticateForm verifies the form's policy signature and sets the
// caller. The form is signed with Signature Version 4 (x-amz-algorithm,
// x-amz-credential, x-amz-date, x-amz-signature) or Version 2
// (AWSAccessKeyId, signature), which boto3's generate_presigned_post still
// uses in us-east-1; a form with fields of both is refused. A form without
// a policy is anonymous, which kcs does not serve.
func (s *Server) authenticateForm(ctx context.Context, rq *request, form *postForm) error {
	has := func(names ...string) bool {
		for _, n := range names {
			if _, ok := form.get(n); ok {
				return true
			}
		}
		return false
	}
	v2 := has("awsaccesskeyid", "signature")
	if v2 && has("x-amz-algorithm", "x-amz-credential", "x-amz-signature") {
		return fmt.Errorf("%w: Signature Version 2 and 4 fields in one POST form", sigv2.ErrMixedAuth)
	}
	if has("x-amz-security-token") {
		return fmt.Errorf("%w: x-amz-security-token (temporary credentials are not supported)", sigv4.ErrUnsupportedAuth)
	}
	if !has("policy", "signature", "x-amz-signature") {
		return sigv4.ErrMissingAuth
	}
	if v2 {
		var f sigv2.PostForm
		if err := form.require(formField{"AWSAccessKeyId", &f.AccessKeyID}, formField{"policy", &f.Policy}, formField{"signature", &f.Signature}); err != nil {
			return err
		}
		return s.authenticatePost(ctx, rq, func(ctx context.Context) (string, error) { return s.authV2.VerifyPost(ctx, f) })
	}
	var f sigv4.PostForm
	if err := form.require(formField{"policy", &f.Policy}, formField{"x-amz-algorithm", &f.Algorithm}, formField{"x-amz-credential", &f.Credential},
		formField{"x-amz-date", &f.Date}, formField{"x-amz-signature", &f.Signature}); err != nil {
		return err
	}
	return s.authenticatePost(ctx, rq, func(ctx context.Context) (string, error) { return s.auth.VerifyPost(ctx, f) })
}

// formField is a field a signed form must have: its name as S3 spells it
// in errors, and where its value goes.
type formField struct {
	name string
	dst  *string
}

// require reads fields, in order; the first one missing is S3's
// InvalidArgument.
func (f *postForm) require(fields ...formField) error {
	for _, fld := range fields {
		v, ok := f.get(strings.ToLower(fld.name))
		if !ok {
			return errorf("InvalidArgument", "Bucket POST must contain a field named '"+fld.name+"'.  If it is specified, please check the order of the fields.")
		}
		*fld.dst = v
	}
	return nil
}

// postHeaders are the form fields that describe the object as the
// same-named headers of a PUT do; x-amz-meta-* fields too.
var postHeaders = map[string]string{
	"content-type":                    "Content-Type",
	"cache-control":                   "Cache-Control",
	"content-disposition":             "Content-Disposition",
	"content-encoding":                "Content-Encoding",
	"content-language":                "Content-Language",
	"expires":                         "Expires",
	"acl":                             "X-Amz-Acl",
	"x-amz-storage-class":             "X-Amz-Storage-Class",
	"x-amz-server-side-encryption":    "X-Amz-Server-Side-Encryption",
	"x-amz-website-redirect-location": "X-Amz-Website-Redirect-Location",
}

// postPutOptions turns the form's fields into what PutObject stores, with
// the checks a PUT's headers get (checkWriteHeaders, metadata size), and
// returns the checksums the file must have. Object lock fields are read
// as a PUT's headers (lockHeaders), against now.
func postPutOptions(form *postForm, now time.Time) (objapi.PutOptions, []postSum, error) {
	h := http.Header{}
	for name, v := range form.fields {
		switch {
		case postHeaders[name] != "":
			h.Set(postHeaders[name], v)
		case strings.HasPrefix(name, metaPrefix),
			strings.HasPrefix(name, "x-amz-server-side-encryption-"),
			strings.HasPrefix(name, "x-amz-object-lock-"),
			strings.HasPrefix(name, "x-amz-grant-"):
			// Refused or kept exactly as their headers are.
			h.Set(name, v)
		}
	}
	if err := checkWriteHeaders(h); err != nil {
		return objapi.PutOptions{}, nil, err
	}
	opts, err := putOptions(h)
	if err != nil {
		return objapi.PutOptions{}, nil, err
	}
	if opts.Lock, err = lockHeaders(h, now); err != nil {
		return objapi.PutOptions{}, nil, err
	}
	if v, ok := form.get("tagging"); ok {
		// In a form, tags are a Tagging document, not a query string.
		var doc tagging
		empty, err := readXML(strings.NewReader(v), taggingLimits, doc.read)
		if err != nil {
			return objapi.PutOptions{}, nil, err
		}
		if empty {
			return objapi.PutOptions{}, nil, errorf("MalformedXML", "")
		}
		if opts.Tags, err = parseTagging(doc); err != nil {
			return objapi.PutOptions{}, nil, err
		}
	}
	if v, ok := form.get("content-md5"); ok {
		if opts.ContentMD5, err = contentMD5(http.Header{"Content-Md5": {v}}); err != nil {
			return objapi.PutOptions{}, nil, err
		}
	}
	sums, err := postChecksums(form)
	return opts, sums, err
}

// postSum is a checksum the form states for its file.
type postSum struct {
	c    objapi.Checksum
	want []byte
	h    hash.Hash
}

// postChecksums collects the form's x-amz-checksum-* fields. An
// x-amz-checksum-algorithm field must come with the value it announces.
func postChecksums(form *postForm) ([]postSum, error) {
	var sums []postSum
	for _, sent := range form.names {
		name := strings.ToLower(sent)
		if !isChecksumValueHeader(name) {
			continue
		}
		c, err := parseChecksumValue(strings.TrimPrefix(name, "x-amz-checksum-"), form.fields[name], false)
		if err != nil {
			return nil, err
		}
		want, err := sigv4.DecodeChecksum(c.Algorithm, c.Value)
		if err != nil {
			return nil, err
		}
		h, err := sigv4.NewChecksum(c.Algorithm)
		if err != nil {
			return nil, err
		}
		sums = append(sums, postSum{c: c, want: want, h: h})
	}
	if v, ok := form.get("x-amz-checksum-algorithm"); ok {
		alg, err := parseChecksumAlgorithm(v)
		if err != nil {
			return nil, err
		}
		found := false
		for _, s := range sums {
			found = found || s.c.Algorithm == alg
		}
		if !found {
			return nil, errorf("InvalidRequest", "x-amz-checksum-algorithm names "+alg+" but the form has no "+checksumHeader(alg)+" field.")
		}
	}
	return sums, nil
}

// postFile is the file part as the object layer reads it: held to the
// policy's content-length-range while it streams (EntityTooLarge as soon
// as the limit is passed, EntityTooSmall at the end) and checked against
// the form's checksums at the end (BadDigest), so that a file that breaks
// the policy is never committed.
type postFile struct {
	r        io.Reader
	n        int64
	min, max int64
	sums     []postSum
	verified bool
}

func (f *postFile) Read(p []byte) (int, error) {
	if f.n > f.max {
		return 0, errorf("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
	}
	if int64(len(p)) > f.max-f.n+1 {
		// One byte past the limit is enough to know it was passed.
		p = p[:f.max-f.n+1]
	}
	n, err := f.r.Read(p)
	f.n += int64(n)
	for _, s := range f.sums {
		s.h.Write(p[:n])
	}
	if f.n > f.max {
		return n, errorf("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
	}
	if err != io.EOF {
		return n, err
	}
	if f.n < f.min {
		return n, errorf("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size")
	}
	for _, s := range f.sums {
		if !bytes.Equal(s.h.Sum(nil), s.want) {
			return n, errorf("BadDigest", "The "+s.c.Algorithm+" you specified did not match the calculated checksum.")
		}
	}
	f.verified = true
	return n, io.EOF
}

// checksums is PutOptions.Checksums: the form's checksums, once the file
// matched them.
func (f *postFile) checksums() []objapi.Checksum {
	if !f.verified {
		return nil
	}
	out := make([]objapi.Checksum, len(f.sums))
	for i, s := range f.sums {
		out[i] = s.c
	}
	return out
}

// postAnswer answers a stored upload as the form asks:
// success_action_redirect (303 to that URL with bucket, key and etag
// added), else success_action_status 200, 201 (with a PostResponse
// document) or 204, the default.
func (s *Server) postAnswer(w http.ResponseWriter, r *http.Request, rq *request, form *postForm, key string, info objapi.ObjectInfo) error {
	etag := quoteETag(info.ETag)
	loc := s.objectURL(r, rq.bucket, key)
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Location", loc)
	h.Set("X-Amz-Server-Side-Encryption", sseAlgorithm)
	setWriteVersion(h, info)
	redirect, ok := form.get("success_action_redirect")
	if !ok {
		redirect, _ = form.get("redirect") // the field's older name
	}
	// A value that is not an absolute URL is ignored, as S3 ignores it.
	if u, err := url.Parse(redirect); redirect != "" && err == nil && u.Scheme != "" && u.Host != "" {
		q := u.Query()
		q.Set("bucket", rq.bucket)
		q.Set("key", key)
		q.Set("etag", etag)
		u.RawQuery = q.Encode()
		h.Set("Location", u.String())
		w.WriteHeader(http.StatusSeeOther)
		return nil
	}
	switch status, _ := form.get("success_action_status"); status {
	case "200":
		w.WriteHeader(http.StatusOK)
	case "201":
		return writeXML(w, http.StatusCreated, &postResponse{Location: loc, Bucket: rq.bucket, Key: key, ETag: etag})
	default:
		w.WriteHeader(http.StatusNoContent)
	}
	return nil
}
