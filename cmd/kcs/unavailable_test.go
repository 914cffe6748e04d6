package main

// Unreachable is not corrupt: a read whose shards sit on nodes that are
// down answers 503 with Retry-After (retry later, nothing is lost), a read
// whose shards are damaged beyond what parity repairs answers 500, and the
// first read succeeds, byte for byte, once the nodes are back.

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// shardFiles lists the shard files on every server's drives.
func (c *cluster) shardFiles(t *testing.T) map[string]bool {
	t.Helper()
	files := map[string]bool{}
	for _, s := range c.servers {
		for _, d := range s.drives {
			filepath.WalkDir(filepath.Join(d, "kcs", "shards"), func(p string, e fs.DirEntry, err error) error {
				if err == nil && !e.IsDir() && !strings.Contains(e.Name(), ".tmp") {
					files[p] = true
				}
				return nil
			})
		}
	}
	return files
}

func TestE2EUnreachableIsNotCorrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startClusterWith(t, 3, clusterOptions{perSite: 2})
	ak, sk := c.tenant("gemeinde-sechs")
	ctx := context.Background()
	cl := oneShotClient(c.servers[0], ak, sk, 30*time.Second)
	bucket := aws.String("akten")
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	st, err := c.admin(c.servers[0]).ClusterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var nonVoters []*server
	for _, site := range st.Sites {
		for _, ns := range site.Nodes {
			if ns.Role == "non-voter" {
				for _, s := range c.servers {
					if s.id == ns.ID {
						nonVoters = append(nonVoters, s)
					}
				}
			}
		}
	}
	if len(nonVoters) != 3 {
		t.Fatalf("%d non-voters, want one per site: %+v", len(nonVoters), st.Sites)
	}

	// An object coded over six nodes, one shard each.
	put := func(key string) ([]byte, []string) {
		t.Helper()
		before := c.shardFiles(t)
		data := bytes.Repeat([]byte(key+"-Bauantrag "), 80_000) // ~1 MB: shards, not inline
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
		var fresh []string
		for f := range c.shardFiles(t) {
			if !before[f] {
				fresh = append(fresh, f)
			}
		}
		if len(fresh) != 6 {
			t.Fatalf("%s has %d shard files, want 6", key, len(fresh))
		}
		return data, fresh
	}
	get := func(key string) ([]byte, *http.Response, error) {
		presigned, err := s3.NewPresignClient(cl).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String(key)})
		if err != nil {
			return nil, nil, err
		}
		req, _ := http.NewRequest(http.MethodGet, presigned.URL, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return b, resp, err
	}
	data, _ := put("erreichbar")

	// The non-voters stop: the Raft quorum holds (three voters), but only
	// three of the object's six shards can be reached, fewer than k = 4.
	for _, s := range nonVoters {
		c.stop(s)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		body, resp, err := get("erreichbar")
		if err == nil && resp.StatusCode == 503 {
			if !bytes.Contains(body, []byte("<Code>ServiceUnavailable</Code>")) || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("503 without its code or Retry-After: %v %s", resp.Header, body)
			}
			break
		}
		if err == nil && resp.StatusCode == 500 {
			t.Fatalf("unreachable shards answered 500: %s", body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 503 with half the nodes down: %v %v", resp, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Back: the same GET is byte-identical.
	for _, s := range nonVoters {
		c.restart(s)
	}
	for _, s := range nonVoters {
		c.waitReady(s)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		body, resp, err := get("erreichbar")
		if err == nil && resp.StatusCode == 200 {
			if !bytes.Equal(body, data) {
				t.Fatal("the object differs once its nodes are back")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not readable with every node back: %v %v", resp, err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Every shard reachable, but three of six damaged (m = 2): 500.
	_, files := put("beschaedigt")
	for _, f := range files[:3] {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i := 100; i < len(b); i += 4096 {
			b[i] ^= 0x5a
		}
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	body, resp, err := get("beschaedigt")
	if err != nil || resp.StatusCode != 500 || !bytes.Contains(body, []byte("<Code>InternalError</Code>")) {
		t.Fatalf("damaged beyond repair: %v %v %s", resp, err, body)
	}
	if resp.Header.Get("Retry-After") != "" {
		t.Fatal("a 500 says to retry")
	}
}
