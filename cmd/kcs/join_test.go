package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// startWithEnv starts s like c.start, with env added last (it wins over
// the cluster's secrets).
func (c *cluster) startWithEnv(s *server, join string, env ...string) {
	c.t.Helper()
	saved := c.extraEnv
	c.extraEnv = append(append([]string(nil), saved...), env...)
	c.start(s, false, join)
	c.extraEnv = saved
}

// newServer makes a server of c that is not started yet.
func (c *cluster) newServer(id, site string) *server {
	s := &server{id: id, site: site, dir: filepath.Join(c.dir, id)}
	s.drives = []string{filepath.Join(s.dir, "d1"), filepath.Join(s.dir, "d2")}
	c.servers = append(c.servers, s)
	return s
}

// exitOf waits for s to exit by itself and returns its log.
func (c *cluster) exitOf(s *server, within time.Duration) string {
	c.t.Helper()
	select {
	case <-s.exited:
	case <-time.After(within):
		c.t.Fatalf("%s still runs after %v:\n%s", s.id, within, c.logTail(s))
	}
	code := s.cmd.ProcessState.ExitCode()
	s.logf.Close()
	s.cmd = nil
	if code == 0 {
		c.t.Fatalf("%s exited with status 0:\n%s", s.id, c.logTail(s))
	}
	return c.logTail(s)
}

// members returns the node ids of the cluster's status, with their Raft
// roles.
func (c *cluster) members(s *server) map[string]string {
	c.t.Helper()
	st, err := c.admin(s).ClusterStatus(context.Background())
	if err != nil {
		c.t.Fatal(err)
	}
	out := map[string]string{}
	for _, site := range st.Sites {
		for _, n := range site.Nodes {
			out[n.ID] = n.Role
		}
	}
	return out
}

// TestE2ECheckedJoins: nodes that join with the wrong master key, the
// wrong cluster secret or the wrong address are refused before anything
// about them is committed, exit saying why, and cost the running
// single-node cluster nothing: it serves reads and writes throughout. A
// node with the right secrets joins as a non-voter and gets its vote once
// it has caught up.
func TestE2ECheckedJoins(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startCluster(t, 1)
	n1 := c.servers[0]
	ctx := context.Background()
	ak, sk := c.tenant("gemeinde-join")
	cl := goClient(n1.endpoint(), ak, sk, &http.Client{Transport: c.transport()})
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("akten")}); err != nil {
		t.Fatal(err)
	}
	// The cluster works on throughout.
	var ops, failed atomic.Int64
	var lastErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			key := fmt.Sprint("k", i%10)
			body := []byte(fmt.Sprint("version ", i))
			_, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("akten"), Key: aws.String(key), Body: bytes.NewReader(body)})
			if err == nil {
				var out *s3.GetObjectOutput
				if out, err = cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("akten"), Key: aws.String(key)}); err == nil {
					var got bytes.Buffer
					got.ReadFrom(out.Body)
					out.Body.Close()
					if !bytes.Equal(got.Bytes(), body) {
						err = fmt.Errorf("read %q after writing %q", got.Bytes(), body)
					}
				}
			}
			ops.Add(1)
			if err != nil {
				failed.Add(1)
				lastErr.Store(err.Error())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	otherKey := filepath.Join(c.dir, "other-master.key")
	writeSecret(t, otherKey)
	otherSecret := filepath.Join(c.dir, "other-cluster.secret")
	writeSecret(t, otherSecret)
	for _, tc := range []struct {
		id, join string
		env      []string
		says     string
	}{
		{"n2", n1.rpc(), []string{"KCS_MASTER_KEY_FILE=" + otherKey}, "master key differs from the cluster's"},
		{"n3", n1.rpc(), []string{"KCS_CLUSTER_SECRET_FILE=" + otherSecret}, "cluster secret differs"},
		{"n4", n1.s3(), nil, "is not a kcs RPC port"},
		{"n5", "http://" + n1.rpc(), nil, "without http://"},
	} {
		s := c.newServer(tc.id, "site-"+tc.id)
		t0 := time.Now()
		c.startWithEnv(s, tc.join, tc.env...)
		log := c.exitOf(s, 40*time.Second)
		if !strings.Contains(log, tc.says) {
			t.Fatalf("%s exited without saying %q:\n%s", tc.id, tc.says, log)
		}
		if strings.Contains(log, "--bootstrap") {
			t.Errorf("%s suggests --bootstrap:\n%s", tc.id, log)
		}
		t.Logf("%s refused after %v: …%s", tc.id, time.Since(t0).Round(100*time.Millisecond), lastLine(log))
		if m := c.members(n1); len(m) != 1 || m["n1"] == "" {
			t.Fatalf("after %s's attempt the members are %v", tc.id, m)
		}
	}
	// The n1's log names the refused secret.
	if log := c.logTail(n1); !strings.Contains(log, "does not hold this cluster's secret") {
		t.Errorf("n1 does not say why it refused n3:\n%s", log)
	}

	// The right secrets: a member, and a voter once caught up.
	n6 := c.newServer("n6", "site-b")
	c.start(n6, false, n1.rpc())
	c.waitReady(n6)
	deadline := time.Now().Add(30 * time.Second)
	for c.members(n1)["n6"] != "voter" {
		if time.Now().After(deadline) {
			t.Fatalf("n6 never got its vote: %v", c.members(n1))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if log := c.logTail(n6); !strings.Contains(log, "joined the cluster as a non-voter") {
		t.Errorf("n6 did not join as a non-voter first:\n%s", log)
	}
	// Enough traffic to have spanned the joins (they are quick).
	for deadline := time.Now().Add(30 * time.Second); ops.Load() < 10 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if ops.Load() < 10 || failed.Load() > 0 {
		t.Fatalf("the cluster's own clients: %d operations, %d failed (%v)", ops.Load(), failed.Load(), lastErr.Load())
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// TestE2EStartLikeAService: a node restarted while the others are down
// waits for them, saying so, instead of exiting; the cluster serves again
// once a majority is back. A second kcs server on the same drives and
// metadata exits within seconds, naming the lock.
func TestE2EStartLikeAService(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startCluster(t, 3)
	n1, n2, n3 := c.servers[0], c.servers[1], c.servers[2]

	// A second instance of n2 on its drives and metadata, on other ports.
	dup := exec.Command(kcsBin, "server", "--id", n2.id, "--site", n2.site, "--drives", strings.Join(n2.drives, ","),
		"--meta-dir", n2.metaDir(), "--s3-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0", "--rpc-addr", "127.0.0.1:0", "--fast-raft")
	dup.Env = append(os.Environ(), "KCS_MASTER_KEY_FILE="+c.masterFile, "KCS_CLUSTER_SECRET_FILE="+c.secretFile, "KCS_ADMIN_SECRET_FILE="+c.adminFile)
	t0 := time.Now()
	out, err := dup.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "locked by another process") {
		t.Fatalf("a second instance: %v\n%s", err, out)
	}
	if took := time.Since(t0); took > 15*time.Second {
		t.Fatalf("a second instance took %v to exit", took)
	}
	t.Logf("a second instance exited after %v: %s", time.Since(t0).Round(100*time.Millisecond), lastLine(string(out)))
	c.waitReady(n2) // the first is unharmed

	c.stopAll()
	// Only n1: no quorum.
	c.startAt(n1, false, "", n1.bound())
	const waiting = "waiting for the metadata cluster"
	fullLog := func(s *server) string {
		b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
		return string(b)
	}
	before := strings.Count(fullLog(n1), waiting)
	deadline := time.Now().Add(60 * time.Second)
	t0 = time.Now()
	for strings.Count(fullLog(n1), waiting) < before+3 {
		select {
		case <-n1.exited:
			t.Fatalf("n1 exited without a quorum:\n%s", c.logTail(n1))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("n1 does not say it waits:\n%s", c.logTail(n1))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("n1 waited %v without a quorum, saying so", time.Since(t0).Round(time.Second))
	// Meanwhile it is live, not ready, and tells S3 clients to retry.
	for path, want := range map[string]int{"/_kcs/health/live": 200, "/_kcs/health/ready": 503, "/": 503} {
		for _, addr := range []string{n1.s3(), n1.metrics()} {
			resp, err := http.Get("http://" + addr + path)
			if err != nil {
				t.Fatalf("%s while waiting for a quorum: %v", path, err)
			}
			resp.Body.Close()
			if resp.StatusCode != want && !(addr == n1.metrics() && path == "/") {
				t.Errorf("%s%s while waiting for a quorum: %d, want %d", addr, path, resp.StatusCode, want)
			}
		}
	}
	// Still running after several retries (the old binary exited after
	// about 14 s); the others come back and it serves.
	c.startAt(n2, false, "", n2.bound())
	c.startAt(n3, false, "", n3.bound())
	for _, s := range c.servers {
		c.waitReady(s)
	}
	ak, sk := c.tenant("gemeinde-dienst")
	cl := goClient(n1.endpoint(), ak, sk, &http.Client{Transport: c.transport()})
	if _, err := cl.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("nach-stromausfall")}); err != nil {
		t.Fatal(err)
	}
	// SIGTERM while waiting: a node without quorum stops at once.
	c.stopAll()
	c.startAt(n3, false, "", n3.bound())
	before = strings.Count(fullLog(n3), waiting)
	for strings.Count(fullLog(n3), waiting) == before {
		time.Sleep(100 * time.Millisecond)
	}
	t0 = time.Now()
	n3.cmd.Process.Signal(os.Interrupt)
	select {
	case <-n3.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("n3 ignored SIGINT while waiting for a quorum:\n%s", c.logTail(n3))
	}
	n3.logf.Close()
	n3.cmd = nil
	t.Logf("stopped while waiting after %v", time.Since(t0).Round(10*time.Millisecond))
}
