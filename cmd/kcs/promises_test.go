package main

// The core promises against real processes: a paused (hung) leader stops
// the cluster only for as long as the others need to elect a new one, and
// clients that give up on their requests do not make other clients' reads
// and writes fail.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// oneShotClient is an S3 client of one node that does not retry: every
// failure shows.
func oneShotClient(s *server, ak, sk string, timeout time.Duration) *s3.Client {
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("http://" + s.s3()), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(ak, sk, ""),
		HTTPClient:  &http.Client{Timeout: timeout}, Retryer: aws.NopRetryer{},
	})
}

// leaderOf finds the Raft leader from the servers' metrics.
func (c *cluster) leaderOf(t *testing.T) *server {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, s := range c.servers {
			if s.cmd == nil {
				continue
			}
			if m := scrape(t, s); m["kcs_raft_leader"][""] == 1 {
				return s
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("no Raft leader")
	return nil
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// With the leader paused (SIGSTOP) for 20 s, the other nodes serve reads
// and writes again within 5 s of the pause's start, and everything written
// reads back once the old leader is resumed.
func TestE2ELeaderPause(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startCluster(t, 3)
	ak, sk := c.tenant("gemeinde-pause")
	ctx := context.Background()
	bucket := aws.String("akten")
	if _, err := goClient("http://"+c.servers[0].s3(), ak, sk, &http.Client{Timeout: time.Minute}).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	written := map[string][]byte{}
	for i := range 6 {
		data := make([]byte, 20_000+i*30_000) // inline and coded
		for j := range data {
			data[j] = byte(i + j)
		}
		key := fmt.Sprintf("vorher/%d", i)
		if _, err := goClient("http://"+c.servers[i%3].s3(), ak, sk, &http.Client{Timeout: time.Minute}).PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
		written[key] = data
	}

	leader := c.leaderOf(t)
	var others []*server
	for _, s := range c.servers {
		if s != leader {
			others = append(others, s)
		}
	}
	if err := leader.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	resumed := false
	resume := func() {
		if !resumed {
			leader.cmd.Process.Signal(syscall.SIGCONT)
			resumed = true
		}
	}
	defer resume()

	// Clients on the other nodes read and write without pause; each
	// request gets 3 s. Record when each kind first succeeds again.
	var mu sync.Mutex
	firstOK := map[string]time.Duration{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var puts atomic.Int64
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := others[w%2]
			cl := oneShotClient(s, ak, sk, 3*time.Second)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var kind string
				var err error
				start := time.Now()
				if w < 2 {
					kind = "put"
					key := fmt.Sprintf("waehrend/%d/%d", w, i)
					data := bytes.Repeat([]byte{byte(i)}, 40_000)
					_, err = cl.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String(key), Body: bytes.NewReader(data)})
					if err == nil {
						mu.Lock()
						written[key] = data
						mu.Unlock()
						puts.Add(1)
					}
				} else {
					kind = "get"
					key := fmt.Sprintf("vorher/%d", i%6)
					var out *s3.GetObjectOutput
					out, err = cl.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String(key)})
					if err == nil {
						var got []byte
						got, err = io.ReadAll(out.Body)
						out.Body.Close()
						mu.Lock()
						want := written[key]
						mu.Unlock()
						if err == nil && !bytes.Equal(got, want) {
							t.Errorf("%s read back differs during the pause", key)
						}
					}
				}
				if err == nil && start.After(paused) {
					mu.Lock()
					if _, ok := firstOK[kind]; !ok {
						firstOK[kind] = time.Since(paused)
					}
					mu.Unlock()
				}
				if err != nil {
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	time.Sleep(20 * time.Second)
	resume()
	close(stop)
	wg.Wait()
	t.Logf("with the leader paused: first GET after %v, first PUT after %v; %d PUTs acknowledged", firstOK["get"], firstOK["put"], puts.Load())
	for _, kind := range []string{"get", "put"} {
		d, ok := firstOK[kind]
		if !ok || d > 5*time.Second {
			t.Errorf("%s: served again after %v (ok=%v), want within 5 s of the pause", kind, d, ok)
		}
	}
	// Everything acknowledged reads back through every node, the resumed
	// one included (it catches up as a follower).
	for _, s := range c.servers {
		cl := goClient("http://"+s.s3(), ak, sk, &http.Client{Timeout: 30 * time.Second})
		for key, want := range written {
			out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String(key)})
			if err != nil {
				t.Fatalf("%s via %s after the pause: %v", key, s.id, err)
			}
			got, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s via %s after the pause differs (%v)", key, s.id, err)
			}
		}
	}
}

// A client that gives up on its requests — downloads dropped half-way,
// uploads cut off mid-body — in a loop, on every node, causes no error
// for another client's reads and writes: a cancelled request says nothing
// about the peers its shards were on.
func TestE2ECancellingClient(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startCluster(t, 3)
	ak, sk := c.tenant("gemeinde-abbruch")
	ctx := context.Background()
	bucket := aws.String("akten")
	if _, err := goClient("http://"+c.servers[0].s3(), ak, sk, &http.Client{Timeout: time.Minute}).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 16<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	if _, err := goClient("http://"+c.servers[0].s3(), ak, sk, &http.Client{Timeout: time.Minute}).PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String("gross.bin"), Body: bytes.NewReader(big)}); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var cancelled atomic.Int64
	// The impatient client.
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			cl := oneShotClient(c.servers[w], ak, sk, 30*time.Second)
			presign := s3.NewPresignClient(cl)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				cctx, cancel := context.WithCancel(ctx)
				if i%2 == 0 {
					out, err := cl.GetObject(cctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("gross.bin")})
					if err == nil {
						io.CopyN(io.Discard, out.Body, int64(r.IntN(4<<20)))
						cancel()
						out.Body.Close()
					}
				} else {
					// A presigned PUT whose body trickles in and is cut off.
					req, err := presign.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String(fmt.Sprintf("abbruch/%d", w))})
					if err != nil {
						cancel()
						t.Error(err)
						return
					}
					hreq, _ := http.NewRequestWithContext(cctx, http.MethodPut, req.URL, io.LimitReader(slowZeros{}, 8<<20))
					hreq.ContentLength = 8 << 20
					go func() { time.Sleep(time.Duration(20+r.IntN(200)) * time.Millisecond); cancel() }()
					if resp, err := http.DefaultClient.Do(hreq); err == nil {
						resp.Body.Close()
					}
				}
				cancel()
				cancelled.Add(1)
			}
		}()
	}
	// The patient client: every one of its requests must succeed.
	var failures []string
	var mu sync.Mutex
	var done atomic.Int64
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := oneShotClient(c.servers[w], ak, sk, 30*time.Second)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("geduldig/%d/%d", w, i%5)
				data := bytes.Repeat([]byte{byte(i), byte(w)}, 60_000)
				_, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String(key), Body: bytes.NewReader(data)})
				if err == nil {
					var out *s3.GetObjectOutput
					out, err = cl.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String(key)})
					if err == nil {
						got, rerr := io.ReadAll(out.Body)
						out.Body.Close()
						if rerr != nil || !bytes.Equal(got, data) {
							err = fmt.Errorf("read back differs: %v", rerr)
						}
					}
				}
				if err != nil {
					var ae smithy.APIError
					errors.As(err, &ae)
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%s via %s: HTTP %d: %v", key, c.servers[w].id, httpStatus(err), err))
					mu.Unlock()
				}
				done.Add(1)
			}
		}()
	}
	time.Sleep(20 * time.Second)
	close(stop)
	wg.Wait()
	t.Logf("%d requests cancelled by one client; %d put+get rounds by the other", cancelled.Load(), done.Load())
	if len(failures) > 0 {
		t.Fatalf("%d of the patient client's requests failed, first: %s", len(failures), failures[0])
	}
	if cancelled.Load() < 20 || done.Load() < 20 {
		t.Fatalf("too little traffic to tell (%d cancelled, %d rounds)", cancelled.Load(), done.Load())
	}
}

// slowZeros yields zeros at a trickle, so an upload is cut off mid-body.
type slowZeros struct{}

func (slowZeros) Read(p []byte) (int, error) {
	time.Sleep(time.Millisecond)
	n := min(len(p), 32<<10)
	clear(p[:n])
	return n, nil
}
