package s3api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// These tests drive the Server with minio-go, which restic and many
// applications use.

func TestMinio(t *testing.T) {
	transports(t, func(t *testing.T, h *harness) {
		ctx := context.Background()
		c := h.minio(keyA)
		if err := c.MakeBucket(ctx, "akten", minio.MakeBucketOptions{Region: h.region}); err != nil {
			t.Fatalf("MakeBucket: %v", err)
		}
		ok, err := c.BucketExists(ctx, "akten")
		if err != nil || !ok {
			t.Fatalf("BucketExists: %v %v", ok, err)
		}
		ok, err = c.BucketExists(ctx, "gibt-es-nicht")
		if err != nil || ok {
			t.Errorf("BucketExists of a missing bucket: %v %v", ok, err)
		}

		small := testData(70<<10, 1)
		info, err := c.PutObject(ctx, "akten", "wohngeld/antrag 1.json", bytes.NewReader(small), int64(len(small)), minio.PutObjectOptions{
			ContentType:  "application/json",
			UserMetadata: map[string]string{"Eingang": "2024-05-01"},
		})
		if err != nil {
			t.Fatalf("PutObject: %v", err)
		}
		if info.Size != int64(len(small)) || info.ETag == "" {
			t.Errorf("PutObject info %+v", info)
		}

		st, err := c.StatObject(ctx, "akten", "wohngeld/antrag 1.json", minio.StatObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if st.Size != int64(len(small)) || st.ContentType != "application/json" || st.UserMetadata["Eingang"] != "2024-05-01" || st.ETag != info.ETag {
			t.Errorf("StatObject %+v", st)
		}

		// A multipart upload: minio-go switches to parts for unknown sizes.
		big := testData(11<<20, 2)
		_, err = c.PutObject(ctx, "akten", "backup/restic-pack", io.NopCloser(bytes.NewReader(big)), -1, minio.PutObjectOptions{PartSize: 5 << 20})
		if err != nil {
			t.Fatalf("multipart PutObject: %v", err)
		}
		obj, err := c.GetObject(ctx, "akten", "backup/restic-pack", minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(obj)
		obj.Close()
		if err != nil || !bytes.Equal(got, big) {
			t.Fatalf("GetObject after multipart: %d bytes, %v", len(got), err)
		}

		// A range, as restic reads pack files.
		opts := minio.GetObjectOptions{}
		if err := opts.SetRange(1<<20, 1<<20+999); err != nil {
			t.Fatal(err)
		}
		obj, err = c.GetObject(ctx, "akten", "backup/restic-pack", opts)
		if err != nil {
			t.Fatal(err)
		}
		got, err = io.ReadAll(obj)
		obj.Close()
		if err != nil || !bytes.Equal(got, big[1<<20:1<<20+1000]) {
			t.Fatalf("ranged GetObject: %d bytes, %v", len(got), err)
		}

		var keys []string
		for o := range c.ListObjects(ctx, "akten", minio.ListObjectsOptions{Recursive: true}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			keys = append(keys, o.Key)
		}
		if want := []string{"backup/restic-pack", "wohngeld/antrag 1.json"}; !slices.Equal(keys, want) {
			t.Errorf("recursive listing %q, want %q", keys, want)
		}
		keys = nil
		for o := range c.ListObjects(ctx, "akten", minio.ListObjectsOptions{}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			keys = append(keys, o.Key)
		}
		if want := []string{"backup/", "wohngeld/"}; !slices.Equal(keys, want) {
			t.Errorf("listing with delimiter %q, want %q", keys, want)
		}
		// The v1 listing.
		keys = nil
		for o := range c.ListObjects(ctx, "akten", minio.ListObjectsOptions{Recursive: true, UseV1: true, MaxKeys: 1}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			keys = append(keys, o.Key)
		}
		if len(keys) != 2 {
			t.Errorf("v1 listing %q", keys)
		}

		u, err := c.PresignedGetObject(ctx, "akten", "wohngeld/antrag 1.json", time.Minute, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := h.srv.Client().Get(u.String())
		if err != nil {
			t.Fatal(err)
		}
		got, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, small) {
			t.Errorf("presigned GET: %d, %d bytes", resp.StatusCode, len(got))
		}

		if err := c.RemoveObject(ctx, "akten", "wohngeld/antrag 1.json", minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}

		b := h.minio(keyB)
		for _, tc := range []struct {
			name   string
			err    error
			status int
			code   string
		}{
			{"no such key", statErr(c.StatObject(ctx, "akten", "wohngeld/antrag 1.json", minio.StatObjectOptions{})), 404, "NoSuchKey"},
			{"get no such key", getErr(c.GetObject(ctx, "akten", "fehlt", minio.GetObjectOptions{})), 404, "NoSuchKey"},
			{"no such bucket", getErr(c.GetObject(ctx, "gibt-es-nicht", "k", minio.GetObjectOptions{})), 404, "NoSuchBucket"},
			{"bucket owned by you", c.MakeBucket(ctx, "akten", minio.MakeBucketOptions{Region: h.region}), 409, "BucketAlreadyOwnedByYou"},
			{"bucket of another tenant", b.MakeBucket(ctx, "akten", minio.MakeBucketOptions{Region: h.region}), 409, "BucketAlreadyExists"},
			{"another tenant's object", getErr(b.GetObject(ctx, "akten", "backup/restic-pack", minio.GetObjectOptions{})), 403, "AccessDenied"},
			{"bucket not empty", c.RemoveBucket(ctx, "akten"), 409, "BucketNotEmpty"},
			{"unknown key", getErr(h.minio(keyUnknown).GetObject(ctx, "akten", "k", minio.GetObjectOptions{})), 403, "InvalidAccessKeyId"},
			{"bucket policies are not implemented", c.SetBucketPolicy(ctx, "akten", `{"Version":"2012-10-17"}`), 501, "NotImplemented"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := minio.ToErrorResponse(tc.err)
				if e.Code != tc.code || e.StatusCode != tc.status {
					t.Errorf("error %d %q, want %d %q (%v)", e.StatusCode, e.Code, tc.status, tc.code, tc.err)
				}
			})
		}
	})
}

func statErr(_ minio.ObjectInfo, err error) error { return err }

// getErr reads an object: minio-go's GetObject only sends the request on
// the first read.
func getErr(o *minio.Object, err error) error {
	if err != nil {
		return err
	}
	defer o.Close()
	_, err = io.Copy(io.Discard, o)
	return err
}

// TestConcurrentClients runs uploads and downloads of several tenants at
// once, for the race detector and to check that nothing crosses between
// requests.
func TestConcurrentClients(t *testing.T) {
	h := newHarness(t, harnessOpts{tls: true})
	ctx := context.Background()
	h.mustCreateBucket(keyA, "akten")
	h.mustCreateBucket(keyB, "kreis")
	errs := make(chan error, 16)
	for i := range 16 {
		go func() {
			key, bucket := keyA, "akten"
			if i%2 == 1 {
				key, bucket = keyB, "kreis"
			}
			c := h.minio(key)
			data := testData(1000+i*997, byte(i))
			name := strings.Repeat("x", i+1)
			if _, err := c.PutObject(ctx, bucket, name, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
				errs <- err
				return
			}
			o, err := c.GetObject(ctx, bucket, name, minio.GetObjectOptions{})
			if err != nil {
				errs <- err
				return
			}
			got, err := io.ReadAll(o)
			o.Close()
			if err == nil && !bytes.Equal(got, data) {
				err = io.ErrUnexpectedEOF
			}
			errs <- err
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
