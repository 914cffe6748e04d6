//lint:file-ignore SA1019 feature/s3/manager is deprecated, but the applications in the field use it: multipart uploads as they send them.
package main

// Full redundancy with real servers: objects written while a site is down
// come back to full protection once it returns (re-protection); a node is
// drained under load and removed; a site added later gets a share of the
// existing data on request (spread). Every check of where shards are is
// made on disk: shard files are named <data id>-<part>-<shard index>.

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/kommunal-cloud/kcs/node"
	"github.com/kommunal-cloud/kcs/node/meta"
)

// streamsOnDisk maps the data id of every shard file on the servers'
// drives to the number of its shard files on each server.
func (c *cluster) streamsOnDisk() map[string]map[string]int {
	out := map[string]map[string]int{}
	for _, s := range c.servers {
		for _, d := range s.drives {
			filepath.WalkDir(filepath.Join(d, "kcs", "shards"), func(p string, e fs.DirEntry, err error) error {
				if err != nil || e.IsDir() {
					return nil
				}
				id, _, ok := strings.Cut(e.Name(), "-")
				if !ok {
					return nil
				}
				if out[id] == nil {
					out[id] = map[string]int{}
				}
				out[id][s.id]++
				return nil
			})
		}
	}
	return out
}

// fullyProtectedOnDisk says why the shards on disk do not show every
// stream at full protection over the servers (k+m = 6 shards, at most
// perServer on each server, on at least minServers servers), or "" when
// they do; want is the number of coded streams there must be.
func (c *cluster) fullyProtectedOnDisk(want, perServer, minServers int) string {
	streams := c.streamsOnDisk()
	if len(streams) != want {
		return fmt.Sprintf("%d streams on disk, want %d", len(streams), want)
	}
	for id, by := range streams {
		total := 0
		for srv, n := range by {
			total += n
			if n > perServer {
				return fmt.Sprintf("stream %s has %d shards on %s, at most %d allowed", id, n, srv, perServer)
			}
		}
		if total != 6 || len(by) < minServers {
			return fmt.Sprintf("stream %s: shards %v, want 6 on at least %d servers", id, by, minServers)
		}
	}
	return ""
}

// checkMetadataOnDisk stops the cluster and checks, from one server's
// metadata, every stream an object or upload references: each of its
// shard files is on the drive its record names, and its drives give it
// full protection over the sites (six shards, at most two per site, on
// sites many sites). It returns the number of streams checked.
func (c *cluster) checkMetadataOnDisk(t *testing.T, sites int) int {
	t.Helper()
	c.stopAll()
	files := map[string]string{} // shard file name → server id
	site := map[string]string{}
	var from *server
	for _, s := range c.servers {
		site[s.id] = s.site
		from = s
		for _, d := range s.drives {
			filepath.WalkDir(filepath.Join(d, "kcs", "shards"), func(p string, e fs.DirEntry, err error) error {
				if err == nil && !e.IsDir() {
					files[e.Name()] = s.id
				}
				return nil
			})
		}
	}
	f, err := meta.OpenFSM(filepath.Join(from.metaDir(), "fsm.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	checked := 0
	f.View(func(r *meta.Reader) error {
		var after []byte
		for {
			parts, last, err := r.Streams(after, 1000)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range parts {
				if len(p.Inline) > 0 {
					continue
				}
				checked++
				perSite := map[string]int{}
				for i, d := range p.Drives {
					owner, _, _ := strings.Cut(d, "/")
					name := fmt.Sprintf("%x-%d-%d", p.DataID, p.Number, i)
					if files[name] != owner {
						t.Fatalf("stream %x: shard %d is not on %s's drive %s (found on %q)", p.DataID, i, owner, d, files[name])
					}
					perSite[site[owner]]++
				}
				if p.K != 4 || p.M != 2 || len(perSite) != sites {
					t.Fatalf("stream %x: RS(%d,%d) over %v, want RS(4,2) over %d sites", p.DataID, p.K, p.M, perSite, sites)
				}
				for st, n := range perSite {
					if n > 2 {
						t.Fatalf("stream %x has %d shards in %s", p.DataID, n, st)
					}
				}
			}
			if last == nil {
				return nil
			}
			after = last
		}
	})
	return checked
}

// waitFor polls cond until it returns "" or within passes.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() string) time.Duration {
	t.Helper()
	start := time.Now()
	last := ""
	for {
		if last = cond(); last == "" {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v: %s", what, within, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// status is the cluster status through s.
func (c *cluster) status(t *testing.T, s *server) *node.ClusterStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := c.admin(s).ClusterStatus(ctx)
	if err != nil {
		t.Fatalf("status through %s: %v", s.id, err)
	}
	return st
}

// putRetrying writes an object, retrying what a site's loss makes fail
// for a moment (503 until the others notice it is gone).
func putRetrying(t *testing.T, cl *s3.Client, bucket, key string, data []byte) {
	t.Helper()
	up := manager.NewUploader(cl, func(u *manager.Uploader) { u.PartSize = 5 * mib })
	start := time.Now()
	for {
		_, err := up.Upload(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)})
		if err == nil {
			return
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("put %s: %v", key, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// readsBack checks every object through every running server, byte for
// byte.
func readsBack(t *testing.T, c *cluster, ak, sk, bucket string, objects map[string][]byte) {
	t.Helper()
	for _, s := range c.servers {
		if s.cmd == nil {
			continue
		}
		cl := goClient("http://"+s.s3(), ak, sk, http.DefaultClient)
		for key, data := range objects {
			out, err := cl.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
			if err != nil {
				t.Fatalf("get %s via %s: %v", key, s.id, err)
			}
			b, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil || !bytes.Equal(b, data) {
				t.Fatalf("%s via %s: %v, %d of %d bytes, differs", key, s.id, err, len(b), len(data))
			}
		}
	}
}

// codedStreams is how many shard streams objects of these sizes take with
// the default inline limit and 5 MiB parts.
func codedStreams(objects map[string][]byte) int {
	n := 0
	for _, data := range objects {
		switch {
		case len(data) <= 16<<10:
		case len(data) < 5*mib:
			n++
		default:
			n += (len(data) + 5*mib - 1) / (5 * mib)
		}
	}
	return n
}

// redundancyObjects is how many objects TestE2EReprotect writes while a
// site is down: 24 in make test, KCS_REDUNDANCY_OBJECTS in make redundancy.
func redundancyObjects() int {
	if n, err := strconv.Atoi(os.Getenv("KCS_REDUNDANCY_OBJECTS")); err == nil && n > 0 {
		return n
	}
	return 24
}

// TestE2EReprotect: one site of three is killed while objects are written
// (in the degraded geometry, RS(2,2) over the two others); once it is
// back, within a bounded time every one of them is at full protection
// again — the status and the metrics count down to zero, and on disk every
// stream has its six shards over the three servers, two on the returning
// one — and everything reads back byte for byte through every server.
func TestE2EReprotect(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startClusterWith(t, 3, clusterOptions{extraArgs: []string{"--reprotect-every", "1s", "--gc-grace", "1s"}})
	ak, sk := c.tenant("gemeinde-reprotect")
	ctx := context.Background()
	client := func(s *server) *s3.Client { return goClient("http://"+s.s3(), ak, sk, http.DefaultClient) }
	if _, err := client(c.servers[0]).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("akten")}); err != nil {
		t.Fatal(err)
	}
	objects := map[string][]byte{}
	put := func(s *server, key string, n int) {
		t.Helper()
		_, data := randomFile(t, t.TempDir(), "f", n)
		putRetrying(t, client(s), "akten", key, data)
		objects[key] = data
	}
	for i, n := range []int{100, 40 << 10, 700 << 10} {
		put(c.servers[i], fmt.Sprintf("before/%d", i), n)
	}

	lost := c.servers[2]
	c.kill(lost)
	sizes := []int{1, 20 << 10, 64 << 10, 200 << 10, 1 * mib, 3 * mib}
	if n := redundancyObjects(); n > 24 {
		// make redundancy: many small objects, as a day's writes of a
		// municipality while its site is down.
		sizes = []int{20 << 10, 40 << 10, 100 << 10, 20 << 10, 40 << 10, 1 * mib}
	}
	for i := range redundancyObjects() {
		put(c.servers[i%2], fmt.Sprintf("during/%04d", i), sizes[i%len(sizes)]+i)
	}
	put(c.servers[0], "during/multipart", 12*mib)
	wantStreams := codedStreams(objects)
	during := 0
	for key, data := range objects {
		if strings.HasPrefix(key, "during/") {
			during += codedStreams(map[string][]byte{key: data})
		}
	}
	st := c.status(t, c.servers[0])
	if st.BelowFullProtection < during {
		t.Fatalf("%d streams below full protection while a site is down, want the %d written meanwhile", st.BelowFullProtection, during)
	}
	if got := scrape(t, c.servers[1])["kcs_streams_below_full_protection"][""]; int(got) != st.BelowFullProtection {
		t.Fatalf("metrics: %v below full protection, status %d", got, st.BelowFullProtection)
	}
	t.Logf("site down: %d streams below full protection (%d written meanwhile)", st.BelowFullProtection, during)

	c.restart(lost)
	c.waitReady(lost)
	// With many streams to re-code (make redundancy), the leader is killed
	// half-way: the work is in the metadata, and goes on once its site is
	// back under whichever node leads then. (Its count of moves goes with
	// it, so the counts below are checked only for being there.)
	killed := false
	if redundancyObjects() > 24 {
		waitUntil(t, time.Minute, "the first streams re-coded", func() string {
			if st = c.status(t, c.servers[1]); st.Redundancy.StreamsMoved == 0 && st.BelowFullProtection > 0 {
				return "none yet"
			}
			return ""
		})
		for _, s := range c.servers {
			if s.id == st.Leader && st.BelowFullProtection > 0 {
				t.Logf("killing the leader %s half-way: %d streams re-coded, %d below full protection", s.id, st.Redundancy.StreamsMoved, st.BelowFullProtection)
				c.kill(s)
				time.Sleep(2 * time.Second)
				c.restart(s)
				c.waitReady(s)
				killed = true
			}
		}
	}
	took := waitUntil(t, 2*time.Minute+time.Duration(redundancyObjects())*100*time.Millisecond, "full protection after the site returned", func() string {
		st = c.status(t, c.servers[1])
		if st.BelowFullProtection != 0 {
			return fmt.Sprintf("%d streams below full protection", st.BelowFullProtection)
		}
		return ""
	})
	t.Logf("full protection again %v after the site was back; %d streams re-coded", took.Round(time.Millisecond), st.Redundancy.StreamsMoved)
	if st.Redundancy.StreamsMoved < int64(during) && !killed || st.Redundancy.StreamsMoved == 0 {
		t.Fatalf("%d streams re-coded, want at least the %d written while the site was down", st.Redundancy.StreamsMoved, during)
	}
	// On disk, once the old streams' shards are collected (--gc-grace):
	// every stream has six shards, two on each server. (A killed leader's
	// garbage queue dies with it: what it held waits for the orphan scan.)
	if !killed {
		waitUntil(t, time.Minute, "every stream's shards over the three sites", func() string {
			return c.fullyProtectedOnDisk(wantStreams, 2, 3)
		})
	}
	readsBack(t, c, ak, sk, "akten", objects)
	moved := 0.0
	for _, s := range c.servers {
		m := scrape(t, s)
		if got := m["kcs_streams_below_full_protection"][""]; got != 0 {
			t.Fatalf("metrics of %s: %v streams below full protection", s.id, got)
		}
		moved += m["kcs_streams_moved_total"][""]
	}
	if moved < float64(during) && !killed || moved == 0 {
		t.Fatalf("metrics: %v streams moved, want at least %d", moved, during)
	}
	if n := c.checkMetadataOnDisk(t, 3); n != wantStreams {
		t.Fatalf("%d streams in the metadata, want %d", n, wantStreams)
	}
}

// kcsAdmin runs `kcs admin` against s and returns its output.
func (c *cluster) kcsAdmin(s *server, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcsBin, append([]string{"admin", "--endpoint", "http://" + s.s3()}, args...)...)
	cmd.Env = append(cleanEnv(), "KCS_ADMIN_SECRET_FILE="+c.adminFile)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// load writes new objects through the given servers until stopped, and
// remembers those acknowledged: what a drain and a removal must keep.
type clientLoad struct {
	mu      sync.Mutex
	objects map[string][]byte
	failed  int
	stop    chan struct{}
	done    chan struct{}
}

func startLoad(ak, sk, bucket string, via ...*server) *clientLoad {
	l := &clientLoad{objects: map[string][]byte{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		sizes := []int{30 << 10, 300 << 10, 2 * mib}
		for i := 0; ; i++ {
			select {
			case <-l.stop:
				return
			default:
			}
			s := via[i%len(via)]
			data := make([]byte, sizes[i%len(sizes)]+i)
			rand.Read(data)
			key := fmt.Sprintf("load/%04d", i)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, err := goClient("http://"+s.s3(), ak, sk, http.DefaultClient).PutObject(ctx, &s3.PutObjectInput{
				Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)})
			cancel()
			l.mu.Lock()
			if err == nil {
				l.objects[key] = data
			} else {
				l.failed++ // not acknowledged: nothing to keep
			}
			l.mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return l
}

func (l *clientLoad) end() (map[string][]byte, int) {
	close(l.stop)
	<-l.done
	return l.objects, l.failed
}

// siteProtectedOnDisk says why the shards on disk do not show every
// stream at full protection over three sites (six shards, two per site),
// or "" when they do.
func (c *cluster) siteProtectedOnDisk(want int) string {
	site := map[string]string{}
	for _, s := range c.servers {
		site[s.id] = s.site
	}
	streams := c.streamsOnDisk()
	if len(streams) != want {
		return fmt.Sprintf("%d streams on disk, want %d", len(streams), want)
	}
	for id, by := range streams {
		perSite, total := map[string]int{}, 0
		for srv, n := range by {
			perSite[site[srv]] += n
			total += n
		}
		if total != 6 || len(perSite) != 3 {
			return fmt.Sprintf("stream %s: shards %v, want 6 over three sites", id, by)
		}
		for s, n := range perSite {
			if n != 2 {
				return fmt.Sprintf("stream %s has %d shards in %s, want 2", id, n, s)
			}
		}
	}
	return ""
}

// TestE2EDrainAndRemove: three sites with two nodes each. Under client
// load, site-a's voter n1 is drained (kcs admin node drain --wait) until
// no stream has a shard on it; removing it is refused while it is its
// site's only voter, until n4 (site-a's other member) is promoted; then
// it is removed and stopped. Every object, those written during the drain
// included, reads back byte for byte, and on disk every stream has full
// protection on the remaining nodes. A drive drain empties one drive the
// same way, and a node that died is removed with --force, which says what
// is lost first.
func TestE2EDrainAndRemove(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startClusterWith(t, 3, clusterOptions{perSite: 2, extraArgs: []string{"--reprotect-every", "1s", "--gc-grace", "1s"}})
	n1, n2, n4, n5, n6 := c.servers[0], c.servers[1], c.servers[3], c.servers[4], c.servers[5]
	ak, sk := c.tenant("gemeinde-umzug")
	ctx := context.Background()
	if _, err := goClient("http://"+n2.s3(), ak, sk, http.DefaultClient).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("akten")}); err != nil {
		t.Fatal(err)
	}
	objects := map[string][]byte{}
	for i := range 16 {
		_, data := randomFile(t, t.TempDir(), "f", []int{5000, 50 << 10, 400 << 10, 3 * mib}[i%4]+i)
		putRetrying(t, goClient("http://"+c.servers[i%6].s3(), ak, sk, http.DefaultClient), "akten", fmt.Sprintf("vorher/%02d", i), data)
		objects[fmt.Sprintf("vorher/%02d", i)] = data
	}
	if msg := c.siteProtectedOnDisk(codedStreams(objects)); msg != "" {
		t.Fatalf("before the drain: %s", msg)
	}
	before := len(c.streamsOnDisk())
	onN1 := 0
	for _, by := range c.streamsOnDisk() {
		if by[n1.id] > 0 {
			onN1++
		}
	}
	if onN1 == 0 {
		t.Fatal("no stream has a shard on n1: the drain would prove nothing")
	}

	ld := startLoad(ak, sk, "akten", n2, n5, n6)
	out, err := c.kcsAdmin(n2, "node", "drain", n1.id, "--wait")
	if err != nil || !strings.Contains(out, "done") {
		t.Fatalf("kcs admin node drain --wait: %v\n%s", err, out)
	}
	t.Logf("drain of n1 (%d of %d streams had a shard there):\n%s", onN1, before, out)
	st := c.status(t, n4)
	if left, ok := st.Redundancy.Draining[n1.id]; !ok || left != 0 {
		t.Fatalf("status after the drain: %+v", st.Redundancy)
	}
	// Nothing of the metadata's is left on n1's drives once the old
	// shards are collected.
	waitUntil(t, time.Minute, "n1's drives emptied", func() string {
		for id, by := range c.streamsOnDisk() {
			if by[n1.id] > 0 {
				return fmt.Sprintf("stream %s has %d shards on n1", id, by[n1.id])
			}
		}
		return ""
	})

	// n1 is site-a's only voter: refused until n4 is promoted.
	if out, err := c.kcsAdmin(n2, "node", "remove", n1.id); err == nil || !strings.Contains(out, "promote") || !strings.Contains(out, n4.id) {
		t.Fatalf("removing site-a's only voter: %v\n%s", err, out)
	}
	// A node that still holds shards is refused too.
	if out, err := c.kcsAdmin(n2, "node", "remove", n5.id); err == nil || !strings.Contains(out, "drain it first") {
		t.Fatalf("removing a node that holds shards: %v\n%s", err, out)
	}
	if out, err := c.kcsAdmin(n2, "node", "promote", n4.id); err != nil || !strings.Contains(out, "voter") {
		t.Fatalf("kcs admin node promote: %v\n%s", err, out)
	}
	if role := c.members(n2)[n4.id]; role != "voter" && role != "leader" {
		t.Fatalf("n4 is %s after its promotion", role)
	}
	if out, err := c.kcsAdmin(n2, "node", "remove", n1.id); err != nil || !strings.Contains(out, "removed") {
		t.Fatalf("kcs admin node remove: %v\n%s", err, out)
	}
	c.stop(n1)
	c.servers = slices.DeleteFunc(c.servers, func(s *server) bool { return s == n1 })
	members := c.members(n2)
	if _, ok := members[n1.id]; ok || (members[n4.id] != "voter" && members[n4.id] != "leader") {
		t.Fatalf("members after the removal: %v", members)
	}
	loaded, failed := ld.end()
	t.Logf("client load during drain and removal: %d objects written, %d writes not acknowledged", len(loaded), failed)
	if len(loaded) < 10 {
		t.Fatalf("only %d objects written under load", len(loaded))
	}
	maps.Copy(objects, loaded)
	waitUntil(t, 2*time.Minute, "full protection on disk after the removal", func() string {
		if st := c.status(t, n2); st.BelowFullProtection != 0 {
			return fmt.Sprintf("%d streams below full protection", st.BelowFullProtection)
		}
		return c.siteProtectedOnDisk(codedStreams(objects))
	})
	readsBack(t, c, ak, sk, "akten", objects)

	// A drive drain: n6's second drive ends up empty, the data stays whole.
	if out, err := c.kcsAdmin(n5, "node", "drain", n6.id, "--drive", "1", "--wait"); err != nil || !strings.Contains(out, "done") {
		t.Fatalf("kcs admin node drain --drive: %v\n%s", err, out)
	}
	waitUntil(t, time.Minute, "n6's drive 1 emptied", func() string {
		n := 0
		filepath.WalkDir(filepath.Join(n6.drives[1], "kcs", "shards"), func(_ string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				n++
			}
			return nil
		})
		if n > 0 {
			return fmt.Sprintf("%d shard files left", n)
		}
		return ""
	})
	if st := c.status(t, n2); st.BelowFullProtection != 0 {
		t.Fatalf("%d streams below full protection after the drive drain", st.BelowFullProtection)
	}
	if out, err := c.kcsAdmin(n5, "node", "drain", n6.id, "--drive", "1", "--cancel"); err != nil {
		t.Fatalf("ending the drive drain: %v\n%s", err, out)
	}
	readsBack(t, c, ak, sk, "akten", objects)

	// A node gone for good cannot be drained: --force removes it, saying
	// first what is lost (nothing: every stream keeps four shards), and
	// its streams are re-coded from the others.
	c.kill(n5)
	if out, err := c.kcsAdmin(n2, "node", "remove", n5.id); err == nil || !strings.Contains(out, "drain it first") {
		t.Fatalf("removing a dead node without --force: %v\n%s", err, out)
	}
	out, err = c.kcsAdmin(n2, "node", "remove", n5.id, "--force")
	if err != nil || !strings.Contains(out, "nothing would be lost") || !strings.Contains(out, "removed") {
		t.Fatalf("kcs admin node remove --force: %v\n%s", err, out)
	}
	t.Logf("forced removal of the dead n5:\n%s", out)
	c.servers = slices.DeleteFunc(c.servers, func(s *server) bool { return s == n5 })
	waitUntil(t, 2*time.Minute, "full protection on disk after the forced removal", func() string {
		if st := c.status(t, n2); st.BelowFullProtection != 0 {
			return fmt.Sprintf("%d streams below full protection", st.BelowFullProtection)
		}
		return c.siteProtectedOnDisk(codedStreams(objects))
	})
	readsBack(t, c, ak, sk, "akten", objects)
	if n := c.checkMetadataOnDisk(t, 3); n != codedStreams(objects) {
		t.Fatalf("%d streams in the metadata, want %d", n, codedStreams(objects))
	}
}

// sitesOf maps each stream on disk to the number of its shards per site.
func (c *cluster) sitesOf() map[string]map[string]int {
	site := map[string]string{}
	for _, s := range c.servers {
		site[s.id] = s.site
	}
	out := map[string]map[string]int{}
	for id, by := range c.streamsOnDisk() {
		out[id] = map[string]int{}
		for srv, n := range by {
			out[id][site[srv]] += n
		}
	}
	return out
}

// TestE2ESpread: a fourth site joins a three-site cluster. New objects use
// it at once; the existing ones stay where they are (with full protection:
// nothing is below it) until a spread is asked for, which moves them onto
// the four-site sets — with full protection throughout — until every
// site holds a share of every stream.
func TestE2ESpread(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startClusterWith(t, 3, clusterOptions{extraArgs: []string{"--reprotect-every", "1s", "--gc-grace", "1s"}})
	ak, sk := c.tenant("gemeinde-wachstum")
	ctx := context.Background()
	if _, err := goClient("http://"+c.servers[0].s3(), ak, sk, http.DefaultClient).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("akten")}); err != nil {
		t.Fatal(err)
	}
	objects := map[string][]byte{}
	put := func(s *server, key string, n int) string {
		t.Helper()
		_, data := randomFile(t, t.TempDir(), "f", n)
		before := c.streamsOnDisk()
		putRetrying(t, goClient("http://"+s.s3(), ak, sk, http.DefaultClient), "akten", key, data)
		objects[key] = data
		for id := range c.streamsOnDisk() {
			if _, ok := before[id]; !ok {
				return id
			}
		}
		return ""
	}
	for i := range 20 {
		put(c.servers[i%3], fmt.Sprintf("alt/%02d", i), []int{40 << 10, 300 << 10, 2 * mib}[i%3]+i)
	}
	old := len(c.streamsOnDisk())

	d := c.newServer("n4", "site-d")
	c.start(d, false, c.servers[0].rpc())
	c.waitReady(d)
	waitUntil(t, 30*time.Second, "the fourth site in the layout", func() string {
		st := c.status(t, c.servers[1])
		if len(st.Families) == 0 || len(st.Families[0].Sites) != 4 {
			return fmt.Sprintf("layout %+v", st.Families)
		}
		return ""
	})
	// New objects use the new site.
	for i := range 4 {
		id := put(c.servers[i%4], fmt.Sprintf("neu/%d", i), 100<<10+i)
		if by := c.sitesOf()[id]; by["site-d"] == 0 {
			t.Fatalf("a new object's stream %s has no shard on the new site: %v", id, by)
		}
	}
	// The old ones stay where they were, with full protection: lopsided.
	st := c.status(t, c.servers[0])
	if st.BelowFullProtection != 0 || st.Redundancy.SpreadLeft != int64(old) || st.Redundancy.Spreading {
		t.Fatalf("after the join: %d below full protection, %+v; want the %d old streams outside the new family", st.BelowFullProtection, st.Redundancy, old)
	}
	onD := 0
	for _, by := range c.sitesOf() {
		if by["site-d"] > 0 {
			onD++
		}
	}
	if onD != 4 {
		t.Fatalf("%d streams on the new site before the spread, want the 4 new ones", onD)
	}

	out, err := c.kcsAdmin(c.servers[2], "cluster", "spread")
	if err != nil || !strings.Contains(out, fmt.Sprintf("%d streams to move", old)) {
		t.Fatalf("kcs admin cluster spread: %v\n%s", err, out)
	}
	took := waitUntil(t, 2*time.Minute, "the spread", func() string {
		st := c.status(t, c.servers[1])
		if st.BelowFullProtection != 0 {
			t.Fatalf("during the spread: %d streams below full protection", st.BelowFullProtection)
		}
		if st.Redundancy.Spreading || st.Redundancy.SpreadLeft > 0 {
			return fmt.Sprintf("%d streams left", st.Redundancy.SpreadLeft)
		}
		return ""
	})
	t.Logf("spread of %d streams onto four sites took %v", old, took.Round(time.Millisecond))
	waitUntil(t, time.Minute, "every stream on all four sites", func() string {
		by := c.sitesOf()
		if len(by) != codedStreams(objects) {
			return fmt.Sprintf("%d streams on disk, want %d", len(by), codedStreams(objects))
		}
		for id, sites := range by {
			total := 0
			for s, n := range sites {
				total += n
				if n > 2 {
					return fmt.Sprintf("stream %s has %d shards in %s", id, n, s)
				}
			}
			if total != 6 || len(sites) != 4 {
				return fmt.Sprintf("stream %s: %v, want 6 shards over all four sites", id, sites)
			}
		}
		return ""
	})
	readsBack(t, c, ak, sk, "akten", objects)
	if out, err := c.kcsAdmin(c.servers[0], "cluster", "status"); err != nil || !regexp.MustCompile(`BELOW FULL PROTECTION +0 streams`).MatchString(out) {
		t.Fatalf("cluster status: %v\n%s", err, out)
	}
	if n := c.checkMetadataOnDisk(t, 4); n != codedStreams(objects) {
		t.Fatalf("%d streams in the metadata, want %d", n, codedStreams(objects))
	}
}
