package s3api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// meteredRequest is one call of a TrafficMeter.
type meteredRequest struct {
	tenant, op string
	status     int
	in, out    int64
}

// recordingMeter keeps what it is told.
type recordingMeter struct {
	mu   sync.Mutex
	seen []meteredRequest
}

func (m *recordingMeter) MeterRequest(tenant, op string, status int, in, out int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seen = append(m.seen, meteredRequest{tenant, op, status, in, out})
}

// wait returns what the meter saw once it saw n requests: the server
// meters after the response is out, so the client can be faster.
func (m *recordingMeter) wait(t *testing.T, n int) []meteredRequest {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		m.mu.Lock()
		seen := slices.Clone(m.seen)
		m.mu.Unlock()
		if len(seen) >= n || time.Now().After(deadline) {
			if len(seen) != n {
				t.Fatalf("metered %d requests, want %d: %+v", len(seen), n, seen)
			}
			return seen
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMeterSeesTenantsRequests: every authenticated request is metered
// for its tenant with the body bytes as the object layer read them and as
// sent, refused ones too; unauthenticated ones for no one.
func TestMeterSeesTenantsRequests(t *testing.T) {
	for _, tr := range []struct {
		name string
		tls  bool // over TLS the SDK sends aws-chunked bodies with a trailer
	}{{"http", false}, {"https", true}} {
		t.Run(tr.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{tls: tr.tls})
			m := &recordingMeter{}
			h.server.meter = m
			ctx := context.Background()
			a := h.sdk(keyA)
			if _, err := a.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("akten")}); err != nil {
				t.Fatal(err)
			}
			data := testData(70_000, 1)
			if _, err := a.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("akten"), Key: aws.String("k"), Body: bytes.NewReader(data)}); err != nil {
				t.Fatal(err)
			}
			out, err := a.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("akten"), Key: aws.String("k")})
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, out.Body)
			out.Body.Close()
			m.wait(t, 3) // the GET is metered before the refusals below
			_, err = h.sdk(keyB).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("akten"), Key: aws.String("k")})
			wantAPIError(t, err, http.StatusForbidden, "AccessDenied")
			m.wait(t, 4)
			h.wantError(h.do(rawReq{method: http.MethodGet, path: "/akten/k", unsigned: true}), http.StatusForbidden, "AccessDenied")
			h.wantError(h.do(rawReq{method: http.MethodGet, path: "/akten/k", key: keyUnknown}), http.StatusForbidden, "InvalidAccessKeyId")
			time.Sleep(50 * time.Millisecond)
			seen := m.wait(t, 4)
			if want := (meteredRequest{"gemeinde-a", "CreateBucket", 200, 0, 0}); seen[0] != want {
				t.Errorf("CreateBucket metered as %+v, want %+v", seen[0], want)
			}
			if want := (meteredRequest{"gemeinde-a", "PutObject", 200, int64(len(data)), 0}); seen[1] != want {
				t.Errorf("PutObject metered as %+v, want %+v", seen[1], want)
			}
			if want := (meteredRequest{"gemeinde-a", "GetObject", 200, 0, int64(len(data))}); seen[2] != want {
				t.Errorf("GetObject metered as %+v, want %+v", seen[2], want)
			}
			if got := seen[3]; got.tenant != "landkreis-b" || got.op != "GetObject" || got.status != http.StatusForbidden || got.in != 0 || got.out == 0 {
				t.Errorf("B's refused GetObject metered as %+v, want B's, 403, with the error document's bytes", got)
			}
		})
	}
}
