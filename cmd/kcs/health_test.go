package main

// Health checks and operator-readable logs, on one cluster of real
// servers started with --log-format json.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// probe answers a health check: status and body.
func probe(hc *http.Client, method, url string) (int, string, error) {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// The health checks on every listener; /ready turns 503 when the node
// loses its leader and 200 again once a quorum is back, while /live stays
// 200; a bucket named "health" is untouched (path style and virtual-hosted
// style, a key beginning with _kcs/health/ included). The servers' logs
// are JSON, one object per line, with Raft's errors at ERROR and one line
// per admin action.
func TestE2EHealthAndLogs(t *testing.T) {
	const domain = "s3.test"
	c := startClusterWith(t, 3, clusterOptions{extraArgs: []string{"--log-format", "json", "--domain", domain}})
	ctx := context.Background()
	hc := &http.Client{Timeout: 10 * time.Second}
	hcTLS := c.httpsClient()
	hcTLS.Timeout = 10 * time.Second

	// Every listener answers both checks, GET and HEAD.
	for _, s := range c.servers {
		for _, base := range []struct {
			url string
			hc  *http.Client
		}{{"http://" + s.s3(), hc}, {"https://" + s.s3tls(), hcTLS}, {"http://" + s.metrics(), hc}} {
			for _, path := range []string{healthLive, healthReady} {
				eventually(t, 10*time.Second, func() error {
					if st, body, err := probe(base.hc, "GET", base.url+path); err != nil || st != 200 || body != "ok\n" {
						return fmt.Errorf("%s: GET %s%s: %d %q %v", s.id, base.url, path, st, body, err)
					}
					return nil
				})
				if st, body, err := probe(base.hc, "HEAD", base.url+path); err != nil || st != 200 || body != "" {
					t.Errorf("%s: HEAD %s%s: %d %q %v", s.id, base.url, path, st, body, err)
				}
			}
			if st, _, _ := probe(base.hc, "POST", base.url+healthReady); st != http.StatusMethodNotAllowed {
				t.Errorf("%s: POST %s: %d, want 405", s.id, base.url+healthReady, st)
			}
		}
	}

	// A bucket named health: path style /health/ready is its key "ready";
	// virtual-hosted style, /_kcs/health/ready is its key
	// "_kcs/health/ready".
	ak, sk := c.tenant("gemeinde-health")
	n1 := c.servers[0]
	cl := goClient(n1.endpoint(), ak, sk, &http.Client{Transport: c.transport()})
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("health")}); err != nil {
		t.Fatal(err)
	}
	vhostHC := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, n1.s3())
	}}}
	vhost := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("http://" + domain), UsePathStyle: false,
		Credentials: credentials.NewStaticCredentialsProvider(ak, sk, ""), HTTPClient: vhostHC,
	})
	objects := map[string]struct {
		cl   *s3.Client
		body string
	}{
		"ready":             {cl, "the ready object"},
		"live":              {cl, "the live object"},
		"_kcs/health/ready": {vhost, "a key that looks like the check"},
	}
	for key, o := range objects {
		if _, err := o.cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("health"), Key: aws.String(key), Body: strings.NewReader(o.body)}); err != nil {
			t.Fatalf("put health/%s: %v", key, err)
		}
	}
	for key, o := range objects {
		out, err := o.cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("health"), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("get health/%s: %v", key, err)
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(b) != o.body {
			t.Errorf("health/%s: %q, want %q", key, b, o.body)
		}
	}
	// Unsigned, the bucket's keys are refused as any S3 request is, and the
	// checks still answer.
	if st, _, _ := probe(hc, "GET", "http://"+n1.s3()+"/health/ready"); st != http.StatusForbidden {
		t.Errorf("unsigned GET /health/ready: %d, want 403", st)
	}

	// The others go: no quorum, no leader. n1 turns unready; it stays live.
	n2, n3 := c.servers[1], c.servers[2]
	c.stop(n2)
	c.stop(n3)
	start := time.Now()
	var reason string
	eventually(t, 20*time.Second, func() error {
		if st, body, err := probe(hc, "GET", "http://"+n1.s3()+healthLive); err != nil || st != 200 {
			t.Fatalf("live while the others are away: %d %q %v", st, body, err)
		}
		st, body, err := probe(hc, "GET", "http://"+n1.s3()+healthReady)
		if err != nil || st != http.StatusServiceUnavailable {
			return fmt.Errorf("ready with no quorum: %d %q %v", st, body, err)
		}
		reason = body
		return nil
	})
	t.Logf("unready %v after the others stopped: %q", time.Since(start).Round(time.Millisecond), reason)
	if !strings.HasPrefix(reason, "not ready: ") || strings.Count(reason, "\n") != 1 || !strings.HasSuffix(reason, "\n") {
		t.Errorf("the reason is not one line: %q", reason)
	}
	if st, _, err := probe(hc, "GET", "http://"+n1.metrics()+healthReady); err != nil || st != http.StatusServiceUnavailable {
		t.Errorf("metrics listener: ready with no quorum: %d %v", st, err)
	}
	t0 := time.Now()
	probe(hc, "GET", "http://"+n1.s3()+healthReady)
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("a probe of an unready node took %v", d)
	}

	// They come back (on the addresses they had, which n1 still knows):
	// ready again.
	c.startAt(n2, false, "", n2.bound())
	c.startAt(n3, false, "", n3.bound())
	c.waitReady(n2)
	c.waitReady(n3)
	for _, s := range c.servers {
		eventually(t, 30*time.Second, func() error {
			if st, body, err := probe(hc, "GET", "http://"+s.s3()+healthReady); err != nil || st != 200 {
				return fmt.Errorf("%s: not ready again: %d %q %v", s.id, st, body, err)
			}
			return nil
		})
	}
	if _, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("health"), Key: aws.String("ready")}); err != nil {
		t.Errorf("health/ready after the outage: %v", err)
	}

	// The logs: JSON, one object per line.
	raftErrors, adminActions := 0, 0
	for _, s := range c.servers {
		lines := jsonLogLines(t, filepath.Join(s.dir, "server.log"))
		for _, l := range lines {
			comp, _ := l["component"].(string)
			msg, _ := l["msg"].(string)
			if strings.HasPrefix(comp, "raft") {
				if strings.Contains(msg, "[ERROR]") || strings.Contains(msg, "[WARN]") || strings.Contains(msg, "[INFO]") {
					t.Errorf("%s: a Raft line nested in another: %v", s.id, l)
				}
				if l["level"] == "ERROR" && s == n1 {
					raftErrors++
				}
			}
			if msg == "admin action" && l["action"] == "POST /tenants" && l["tenant"] == "gemeinde-health" {
				if r, _ := l["remote"].(string); l["status"] != float64(201) || !strings.HasPrefix(r, "127.0.0.1:") {
					t.Errorf("%s: admin action line %v", s.id, l)
				}
				adminActions++
			}
		}
	}
	t.Logf("n1: %d Raft errors", raftErrors)
	if raftErrors == 0 {
		t.Errorf("n1 logged no Raft error at ERROR while the others were away")
	}
	if adminActions != 1 {
		t.Errorf("%d admin action lines for one tenant creation", adminActions)
	}
}

// jsonLogLines parses a log file that must hold one JSON object a line.
func jsonLogLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Errorf("%s: not JSON: %q", path, bytes.TrimSpace(line))
			continue
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := m[k]; !ok {
				t.Errorf("%s: no %s: %s", path, k, line)
			}
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Errorf("%s: empty", path)
	}
	return out
}
