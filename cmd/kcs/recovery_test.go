package main

// Disaster recovery end to end: a metadata backup restored into a new
// cluster given the old drives, and a cluster recovered from its one
// surviving member after two of its three sites were destroyed.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/kommunal-cloud/kcs/node"
)

// recoveryScale multiplies the objects of the recovery tests: 1 in `make
// test`, more in `make recovery` (KCS_RECOVERY_SCALE).
func recoveryScale() int {
	if n, err := strconv.Atoi(os.Getenv("KCS_RECOVERY_SCALE")); err == nil && n > 1 {
		return n
	}
	return 1
}

// kcsCmd runs the kcs binary with the cluster's secrets in the
// environment (as files), and returns its combined output.
func (c *cluster) kcsCmd(env []string, args ...string) (string, error) {
	cmd := exec.Command(kcsBin, args...)
	cmd.Env = append(os.Environ(), "KCS_MASTER_KEY_FILE="+c.masterFile, "KCS_ADMIN_SECRET_FILE="+c.adminFile)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// freeAddr returns a loopback address with a port free now, for a server
// whose address must be known before it starts: a restored Raft
// configuration names every member's address, so port 0 cannot serve
// here. The port is taken below the kernel's ephemeral range (32768 and
// up), which port-0 listeners and outgoing connections draw from, so
// nothing else takes it between this check and the server's bind.
func freeAddr(t *testing.T) string {
	t.Helper()
	for range 100 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+mrand.IntN(12000))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		l.Close()
		return addr
	}
	t.Fatal("no free port below the ephemeral range")
	return ""
}

// lossReport runs kcs admin meta loss-report --json against s.
func (c *cluster) lossReport(t *testing.T, s *server) ([]node.LostStream, node.LossSummary) {
	t.Helper()
	out, err := c.kcsCmd(nil, "admin", "meta", "loss-report", "--json", "--endpoint", "http://"+s.s3())
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("loss report: %v\n%s", err, out)
	}
	var rep struct {
		Lost    []node.LostStream `json:"lost"`
		Summary *node.LossSummary `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Summary == nil {
		t.Fatalf("loss report does not parse (%v, exit status %d):\n%s", err, code, out)
	}
	// The exit status tells a script the outcome: 3 lost, 2 incomplete.
	want := 0
	if rep.Summary.Lost > 0 {
		want = 3
	} else if len(rep.Summary.Unreachable) > 0 {
		want = 2
	}
	if code != want {
		t.Fatalf("loss report: exit status %d, want %d:\n%s", code, want, out)
	}
	return rep.Lost, *rep.Summary
}

// objectSet is what a test wrote and expects back.
type objectSet map[string][]byte

func (o objectSet) put(t *testing.T, cl *s3.Client, bucket, key string, size int) {
	t.Helper()
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i*7 + len(key))
	}
	copy(b, key)
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if _, err = cl.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(b)}); err == nil {
			o[key] = b
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("put %s: %v", key, err)
}

// readBack checks every object of o through cl, byte for byte. A node
// that has just started (a restore moved every node's addresses) finds
// its peers within seconds: reads that fail meanwhile are tried again.
func (o objectSet) readBack(t *testing.T, cl *s3.Client, bucket, via string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for key, want := range o {
		for {
			out, err := cl.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
			var got []byte
			if err == nil {
				got, err = io.ReadAll(out.Body)
				out.Body.Close()
			}
			if err == nil {
				if !bytes.Equal(got, want) {
					t.Fatalf("%s via %s: %d bytes differ from the %d written", key, via, len(got), len(want))
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s via %s: %v", key, via, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// putMultipart writes a two-part object (5 MiB and a small last part).
func (o objectSet) putMultipart(t *testing.T, cl *s3.Client, bucket, key string) {
	t.Helper()
	ctx := context.Background()
	up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	var whole []byte
	var parts []types.CompletedPart
	for i, size := range []int{5 << 20, 70 << 10} {
		b := bytes.Repeat([]byte{byte('a' + i)}, size)
		copy(b, fmt.Sprint(key, i))
		p, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(b)})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{ETag: p.ETag, PartNumber: aws.Int32(int32(i + 1))})
		whole = append(whole, b...)
	}
	if _, err := cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatal(err)
	}
	o[key] = whole
}

// impatient is a client that does not retry: reads of what is lost fail
// at once.
func impatient(c *cluster, s *server, ak, sk string) *s3.Client {
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(s.endpoint()), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(ak, sk, ""), HTTPClient: &http.Client{Transport: c.transport()},
		RetryMaxAttempts: 1,
	})
}

// TestE2EMetaBackupRestore: a metadata backup, restored into a new cluster
// of new processes on new addresses that is given the old drives (the old
// metadata directories deleted), serves every object the backup knows,
// byte for byte; the loss report finds nothing lost. The backup names
// nothing in clear and opens only with the master key.
func TestE2EMetaBackupRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startCluster(t, 3)
	n1, n2 := c.servers[0], c.servers[1]
	ak, sk := c.tenant("gemeinde-sicherung")
	cl := goClient(n1.endpoint(), ak, sk, &http.Client{Transport: c.transport()})
	ctx := context.Background()
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("standesamt")}); err != nil {
		t.Fatal(err)
	}
	objs := objectSet{}
	for i := range 3 * recoveryScale() {
		objs.put(t, cl, "standesamt", fmt.Sprintf("klein/%03d.txt", i), 1000+i)    // inline
		objs.put(t, cl, "standesamt", fmt.Sprintf("gross/%03d.pdf", i), 200<<10+i) // coded
	}
	objs.putMultipart(t, cl, "standesamt", "mehrteilig.tar")

	file := filepath.Join(c.dir, "meta.kcsbackup")
	t0 := time.Now()
	out, err := c.kcsCmd(nil, "admin", "meta", "backup", file, "--endpoint", "http://"+n2.s3())
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	t.Logf("backup in %v:\n%s", time.Since(t0).Round(time.Millisecond), out)
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 || !strings.Contains(out, "Raft index") || !strings.Contains(out, "mk-") {
		t.Fatalf("backup file %v (%v), output:\n%s", st, err, out)
	}
	raw, _ := os.ReadFile(file)
	for _, clear := range []string{"standesamt", "klein/000.txt", "gemeinde-sicherung", ak} {
		if bytes.Contains(raw, []byte(clear)) {
			t.Errorf("the backup holds %q in clear", clear)
		}
	}
	if out, err := c.kcsCmd(nil, "admin", "meta", "backup", file, "--endpoint", "http://"+n2.s3()); err == nil || !strings.Contains(out, "exists") {
		t.Errorf("a backup over an existing file: %v\n%s", err, out)
	}
	// Written after the backup: the restored cluster does not know it.
	objsAfter := objectSet{}
	objsAfter.put(t, cl, "standesamt", "nach-der-sicherung", 100<<10)

	// The old cluster is gone but for its drives.
	c.stopAll()
	for _, s := range c.servers {
		if err := os.RemoveAll(s.metaDir()); err != nil {
			t.Fatal(err)
		}
	}
	addrs := map[string]string{}
	for _, s := range c.servers {
		addrs[s.id] = freeAddr(t)
	}
	restore := func(s *server, env ...string) (string, error) {
		var peers []string
		for _, o := range c.servers {
			if o != s {
				peers = append(peers, o.id+"="+addrs[o.id])
			}
		}
		return c.kcsCmd(env, "meta", "restore", file, "--meta-dir", s.metaDir(), "--id", s.id, "--raft-addr", addrs[s.id], "--peers", strings.Join(peers, ","))
	}
	otherKey := filepath.Join(c.dir, "other-master.key")
	writeSecret(t, otherKey)
	if out, err := restore(n1, "KCS_MASTER_KEY_FILE="+otherKey); err == nil || !strings.Contains(out, "do not open it") {
		t.Fatalf("restore with another master key: %v\n%s", err, out)
	}
	if ents, _ := os.ReadDir(n1.metaDir()); len(ents) != 0 {
		t.Fatalf("a refused restore left %v", ents)
	}
	for _, s := range c.servers {
		out, err := restore(s)
		if err != nil {
			t.Fatalf("restore %s: %v\n%s", s.id, err, out)
		}
		if s == n1 {
			t.Logf("restore:\n%s", out)
		}
	}
	t0 = time.Now()
	for _, s := range c.servers {
		c.startAt(s, false, "", boundAddrs{Raft: addrs[s.id]})
	}
	for _, s := range c.servers {
		c.waitReady(s)
	}
	t.Logf("restored cluster serves after %v", time.Since(t0).Round(time.Millisecond))
	for _, s := range c.servers {
		objs.readBack(t, goClient(s.endpoint(), ak, sk, &http.Client{Transport: c.transport()}), "standesamt", s.id)
	}
	if _, err := impatient(c, n2, ak, sk).GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("standesamt"), Key: aws.String("nach-der-sicherung")}); apiCode(err) != "NoSuchKey" {
		t.Errorf("an object written after the backup: %v", err)
	}
	lost, sum := c.lossReport(t, n1)
	if len(lost) != 0 || sum.Lost != 0 || len(sum.Unreachable) != 0 || sum.Streams < int64(len(objs)) {
		t.Fatalf("loss report after the restore: %+v %+v", lost, sum)
	}
	// The restored cluster goes on.
	objs.put(t, goClient(n2.endpoint(), ak, sk, &http.Client{Transport: c.transport()}), "standesamt", "nach-der-wiederherstellung", 300<<10)
	objs.readBack(t, goClient(n1.endpoint(), ak, sk, &http.Client{Transport: c.transport()}), "standesamt", n1.id)
	voters := 0
	for _, role := range c.members(n1) {
		if role == "voter" || role == "leader" {
			voters++
		}
	}
	if voters != 3 {
		t.Errorf("members after the restore: %v", c.members(n1))
	}
}

// TestE2ERecoverFromLosingTheMajority: two of three sites are destroyed
// (their processes killed, their directories deleted). The survivor,
// recovered with kcs meta recover, forms the cluster again and new nodes
// join it; objects held inline and objects with k shards on the survivor's
// drives read back byte-identical, and the loss report lists exactly the
// others.
func TestE2ERecoverFromLosingTheMajority(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startCluster(t, 3)
	n1, n2, n3 := c.servers[0], c.servers[1], c.servers[2]
	ak, sk := c.tenant("gemeinde-katastrophe")
	cl := goClient(n1.endpoint(), ak, sk, &http.Client{Transport: c.transport()})
	ctx := context.Background()
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("akten")}); err != nil {
		t.Fatal(err)
	}
	scale := recoveryScale()
	survive, lose := objectSet{}, objectSet{}
	for i := range 3 * scale {
		survive.put(t, cl, "akten", fmt.Sprintf("klein/%03d", i), 16<<10-i) // inline: in the metadata
		// RS(4,2) over three sites: the survivor holds two shards, k is 4.
		lose.put(t, cl, "akten", fmt.Sprintf("voll/%03d", i), 100<<10+i)
	}
	// A part of an open upload is a stream that can be lost as well.
	up, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("akten"), Key: aws.String("offen")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("akten"), Key: aws.String("offen"), UploadId: up.UploadId,
		PartNumber: aws.Int32(2), Body: bytes.NewReader(bytes.Repeat([]byte("p"), 100<<10))}); err != nil {
		t.Fatal(err)
	}
	// Site b goes down first: objects written meanwhile are RS(2,2) over
	// sites a and c, and the survivor holds k = 2 of their shards.
	c.kill(n2)
	t0 := time.Now()
	for i := range 3 * scale {
		survive.put(t, cl, "akten", fmt.Sprintf("halb/%03d", i), 100<<10+i)
	}
	t.Logf("degraded writes with site b down took %v", time.Since(t0).Round(time.Millisecond))
	// Read through the survivor, which has then applied everything.
	survive.readBack(t, cl, "akten", n1.id)

	// Sites b and c are destroyed.
	c.kill(n3)
	for _, s := range []*server{n2, n3} {
		if err := os.RemoveAll(s.dir); err != nil {
			t.Fatal(err)
		}
	}
	c.stop(n1)
	meta := n1.metaDir()
	out, err := c.kcsCmd(nil, "meta", "recover", "--meta-dir", meta, "--id", "n1")
	if err != nil || !strings.Contains(out, "Nothing changed") || !strings.Contains(out, "n1="+n1.bound().Raft) {
		t.Fatalf("recover without --yes: %v\n%s", err, out)
	}
	out, err = c.kcsCmd(nil, "meta", "inspect", "--meta-dir", meta, "--json")
	var before struct{ Voters []struct{ ID string } }
	if err == nil {
		err = json.Unmarshal([]byte(out), &before)
	}
	if err != nil || len(before.Voters) != 3 {
		t.Fatalf("inspect: %v\n%s", err, out)
	}
	t0 = time.Now()
	out, err = c.kcsCmd(nil, "meta", "recover", "--meta-dir", meta, "--id", "n1", "--yes")
	if err != nil || !strings.Contains(out, "recovered") {
		t.Fatalf("recover: %v\n%s", err, out)
	}
	t.Logf("recovered in %v:\n%s", time.Since(t0).Round(time.Millisecond), out)
	c.startAt(n1, false, "", boundAddrs{Raft: n1.bound().Raft})
	c.waitReady(n1)

	survive.readBack(t, cl, "akten", n1.id)
	quick := impatient(c, n1, ak, sk)
	for key := range lose {
		if _, err := quick.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("akten"), Key: aws.String(key)}); apiCode(err) != "ServiceUnavailable" {
			t.Fatalf("%s, with 2 of its 6 shards left: %v", key, err)
		}
	}
	lost, sum := c.lossReport(t, n1)
	var keys []string
	for _, l := range lost {
		keys = append(keys, l.Key)
		if l.Tenant != "gemeinde-katastrophe" || l.Bucket != "akten" || l.Found != 2 || l.K != 4 {
			t.Errorf("lost %+v", l)
		}
		if l.Key == "offen" && (l.UploadID != *up.UploadId || l.Part != 2) {
			t.Errorf("the open upload's part: %+v", l)
		}
		if l.Key != "offen" && l.VersionID == "" {
			t.Errorf("no version: %+v", l)
		}
	}
	var want []string
	for k := range lose {
		want = append(want, k)
	}
	want = append(want, "offen")
	slices.Sort(keys)
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Fatalf("the loss report lists %v, want %v", keys, want)
	}
	if !slices.Equal(sum.Unreachable, []string{"n2", "n3"}) || sum.Lost != int64(len(want)) || sum.Inline != int64(3*scale) {
		t.Errorf("summary %+v", sum)
	}

	// New nodes join the recovered cluster, get their votes, and serve.
	n4, n5 := c.newServer("n4", "site-b"), c.newServer("n5", "site-c")
	for _, s := range []*server{n4, n5} {
		c.start(s, false, n1.rpc())
		c.waitReady(s)
	}
	deadline := time.Now().Add(30 * time.Second)
	for m := c.members(n1); m["n4"] != "voter" && m["n4"] != "leader" || m["n5"] != "voter" && m["n5"] != "leader"; m = c.members(n1) {
		if time.Now().After(deadline) {
			t.Fatalf("the new nodes never got their votes: %v", m)
		}
		time.Sleep(200 * time.Millisecond)
	}
	survive.readBack(t, goClient(n5.endpoint(), ak, sk, &http.Client{Transport: c.transport()}), "akten", n5.id)

	// The destroyed nodes leave the records: their shards now count as
	// missing, no longer as out of reach, and the report stays the same.
	for _, id := range []string{"n2", "n3"} {
		if out, err := c.kcsCmd(nil, "admin", "node", "remove", id, "--force", "--endpoint", "http://"+n1.s3()); err != nil {
			t.Fatalf("remove %s: %v\n%s", id, err, out)
		}
	}
	lost, sum = c.lossReport(t, n1)
	keys = keys[:0]
	for _, l := range lost {
		keys = append(keys, l.Key)
		if l.Unreachable != 0 {
			t.Errorf("lost after the removals: %+v", l)
		}
	}
	slices.Sort(keys)
	if !slices.Equal(keys, want) || len(sum.Unreachable) != 0 {
		t.Fatalf("after the removals the loss report lists %v (%+v), want %v", keys, sum, want)
	}
	// Reads of what is lost say so now: no retry mends it.
	for key := range lose {
		if _, err := quick.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("akten"), Key: aws.String(key)}); apiCode(err) != "InternalError" {
			t.Fatalf("%s after its nodes were removed: %v", key, err)
		}
	}
	// The cluster takes writes again.
	fresh := objectSet{}
	fresh.put(t, cl, "akten", "nach-der-wiederherstellung", 300<<10)
	fresh.readBack(t, goClient(n5.endpoint(), ak, sk, &http.Client{Transport: c.transport()}), "akten", n5.id)
	// The new voters keep the metadata going without the survivor: what
	// it holds inline still reads (the coded objects' shards are on its
	// drives alone).
	c.stop(n1)
	inline := objectSet{}
	for k, v := range survive {
		if strings.HasPrefix(k, "klein/") {
			inline[k] = v
		}
	}
	inline.readBack(t, goClient(n4.endpoint(), ak, sk, &http.Client{Transport: c.transport()}), "akten", n4.id)
}
