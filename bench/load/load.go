// Package load is an S3 load generator (`kcs bench`): it drives any S3
// endpoint — kcs, or another store for comparison — with PUTs and GETs of a
// chosen size from many concurrent clients for a while, and reports
// throughput and latency percentiles per operation. It uses the AWS SDK
// for Go, so what it measures is what applications see.
package load

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Config says what load to generate.
type Config struct {
	Endpoint    string // e.g. http://127.0.0.1:9000
	Region      string
	AccessKey   string
	SecretKey   string
	Bucket      string // created if missing
	Size        int64  // bytes per object
	Concurrency int
	Duration    time.Duration
	PutPercent  int // the rest are GETs
	Objects     int // distinct keys; GETs read keys already written
	Prefix      string
	HTTP        *http.Client
	Cleanup     bool // delete the objects afterwards
}

// OpStats is what one kind of operation did.
type OpStats struct {
	Op       string        `json:"op"`
	Count    int           `json:"count"`
	Errors   int           `json:"errors"`
	Bytes    int64         `json:"bytes"`
	OpsPerS  float64       `json:"ops_per_s"`
	MBPerS   float64       `json:"mb_per_s"`
	P50      time.Duration `json:"p50_ns"`
	P90      time.Duration `json:"p90_ns"`
	P99      time.Duration `json:"p99_ns"`
	Max      time.Duration `json:"max_ns"`
	FirstErr string        `json:"first_error,omitempty"`
}

// Report is the outcome of a run.
type Report struct {
	Endpoint    string        `json:"endpoint"`
	Size        int64         `json:"size"`
	Concurrency int           `json:"concurrency"`
	Elapsed     time.Duration `json:"elapsed_ns"`
	Ops         []OpStats     `json:"ops"`
}

type sample struct {
	op    string
	dur   time.Duration
	bytes int64
	err   error
}

func (c *Config) client() *s3.Client {
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c.Concurrency + 4}}
	}
	region := c.Region
	if region == "" {
		region = "us-east-1"
	}
	return s3.New(s3.Options{
		Region: region, BaseEndpoint: aws.String(c.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(c.AccessKey, c.SecretKey, ""), HTTPClient: hc,
		RetryMaxAttempts: 1, // a benchmark reports failures, it does not hide them
	})
}

// Run generates the load and reports.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Concurrency < 1 || cfg.Size < 0 || cfg.Duration <= 0 || cfg.PutPercent < 0 || cfg.PutPercent > 100 {
		return nil, errors.New("load: need concurrency ≥ 1, size ≥ 0, a duration and put percent 0..100")
	}
	if cfg.Objects < 1 {
		cfg.Objects = 1000
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "kcs-bench/"
	}
	cl := cfg.client()
	if _, err := cl.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(cfg.Bucket)}); err != nil {
		if _, cerr := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(cfg.Bucket)}); cerr != nil {
			return nil, fmt.Errorf("load: bucket %s: %w", cfg.Bucket, cerr)
		}
	}
	data := make([]byte, cfg.Size)
	rand.Read(data)
	key := func(i int) string { return fmt.Sprintf("%sobj-%06d", cfg.Prefix, i) }
	// GETs need objects: with a mix that reads, write the first keys first.
	written := make([]bool, cfg.Objects)
	var wmu sync.Mutex
	if cfg.PutPercent < 100 {
		seed := min(cfg.Objects, max(cfg.Concurrency, 16))
		for i := range seed {
			if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(key(i)), Body: bytes.NewReader(data)}); err != nil {
				return nil, fmt.Errorf("load: seeding %s: %w", key(i), err)
			}
			written[i] = true
		}
	}
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	samples := make(chan sample, 1024)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256<<10)
			for i := 0; runCtx.Err() == nil; i++ {
				n := (w*7919 + i*104729) % cfg.Objects
				put := (w*31+i*17)%100 < cfg.PutPercent
				if !put {
					wmu.Lock()
					ok := written[n]
					wmu.Unlock()
					if !ok {
						n = n % min(cfg.Objects, max(cfg.Concurrency, 16))
					}
				}
				t0 := time.Now()
				var s sample
				if put {
					_, err := cl.PutObject(runCtx, &s3.PutObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(key(n)), Body: bytes.NewReader(data)})
					s = sample{op: "PUT", bytes: cfg.Size, err: err}
					if err == nil {
						wmu.Lock()
						written[n] = true
						wmu.Unlock()
					}
				} else {
					var got int64
					out, err := cl.GetObject(runCtx, &s3.GetObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(key(n))})
					if err == nil {
						got, err = io.CopyBuffer(io.Discard, out.Body, buf)
						out.Body.Close()
					}
					s = sample{op: "GET", bytes: got, err: err}
				}
				if runCtx.Err() != nil && s.err != nil {
					return // cut off by the end of the run, not a failure
				}
				s.dur = time.Since(t0)
				samples <- s
			}
		}()
	}
	go func() { wg.Wait(); close(samples) }()
	byOp := map[string][]sample{}
	for s := range samples {
		byOp[s.op] = append(byOp[s.op], s)
	}
	elapsed := time.Since(start)
	rep := &Report{Endpoint: cfg.Endpoint, Size: cfg.Size, Concurrency: cfg.Concurrency, Elapsed: elapsed}
	ops := make([]string, 0, len(byOp))
	for op := range byOp {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		rep.Ops = append(rep.Ops, stats(op, byOp[op], elapsed))
	}
	if cfg.Cleanup {
		for i := range cfg.Objects {
			cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(key(i))})
		}
	}
	return rep, nil
}

func stats(op string, ss []sample, elapsed time.Duration) OpStats {
	st := OpStats{Op: op}
	var lat []time.Duration
	for _, s := range ss {
		st.Count++
		if s.err != nil {
			st.Errors++
			if st.FirstErr == "" {
				st.FirstErr = s.err.Error()
			}
			continue
		}
		st.Bytes += s.bytes
		lat = append(lat, s.dur)
	}
	ok := st.Count - st.Errors
	st.OpsPerS = float64(ok) / elapsed.Seconds()
	st.MBPerS = float64(st.Bytes) / elapsed.Seconds() / 1e6
	if len(lat) > 0 {
		slices.Sort(lat)
		pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(math.Ceil(p*float64(len(lat))))-1)] }
		st.P50, st.P90, st.P99, st.Max = pct(0.50), pct(0.90), pct(0.99), lat[len(lat)-1]
	}
	return st
}

// String renders the report as a table.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d clients, %d-byte objects, %.1fs\n", r.Endpoint, r.Concurrency, r.Size, r.Elapsed.Seconds())
	fmt.Fprintf(&b, "%-4s %8s %7s %10s %9s %9s %9s %9s %9s\n", "op", "count", "errors", "ops/s", "MB/s", "p50", "p90", "p99", "max")
	for _, o := range r.Ops {
		fmt.Fprintf(&b, "%-4s %8d %7d %10.1f %9.1f %9s %9s %9s %9s\n", o.Op, o.Count, o.Errors, o.OpsPerS, o.MBPerS,
			round(o.P50), round(o.P90), round(o.P99), round(o.Max))
		if o.FirstErr != "" {
			fmt.Fprintf(&b, "     first error: %s\n", o.FirstErr)
		}
	}
	return b.String()
}

func round(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}
