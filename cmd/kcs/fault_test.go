package main

// Faults under load: clients write, overwrite and delete through every node
// while nodes are killed with SIGKILL and restarted (the Raft leader among
// them) and shard files are corrupted or deleted. Afterwards every write
// that was acknowledged reads back byte-identical through every node, and
// every acknowledged delete holds. `make test` runs a short round;
// `make soak` runs it for KCS_SOAK_DURATION (see README).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ledger is what clients were told: for each key, the content of the last
// acknowledged write, or that it was deleted.
type ledger struct {
	mu   sync.Mutex
	last map[string][32]byte
	gone map[string]bool
	// pending counts writes and deletes in flight per key: their outcome
	// is unknown (a timeout may have committed), so a key with anything
	// in flight when the load stops is checked loosely.
	unsure map[string]bool
}

func (l *ledger) wrote(key string, sum [32]byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last[key], l.gone[key] = sum, false
}

func (l *ledger) deleted(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.last, key)
	l.gone[key] = true
}

func (l *ledger) failed(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unsure[key] = true
}

func soakDuration(t *testing.T) time.Duration {
	if v := os.Getenv("KCS_SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("KCS_SOAK_DURATION: %v", err)
		}
		return d
	}
	return 25 * time.Second
}

func TestE2EFaultsUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("KCS_SEED"); v != "" {
		fmt.Sscan(v, &seed)
	}
	t.Logf("seed %d (rerun with KCS_SEED=%d)", seed, seed)
	duration := soakDuration(t)
	c := startCluster(t, 3)
	ak, sk := c.tenant("gemeinde-soak")
	ctx := context.Background()
	client := func(s *server) *s3.Client {
		return goClient("http://"+s.s3(), ak, sk, &http.Client{Timeout: 60 * time.Second})
	}
	bucket := aws.String("dauerlauf")
	if _, err := client(c.servers[0]).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	led := &ledger{last: map[string][32]byte{}, gone: map[string]bool{}, unsure: map[string]bool{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	stats := map[string]int{}
	count := func(k string) { mu.Lock(); stats[k]++; mu.Unlock() }

	// Writers: each owns its keys, so the ledger order is the commit order.
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(w)))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				s := c.servers[r.IntN(len(c.servers))]
				key := fmt.Sprintf("w%d/k%02d", w, r.IntN(25))
				if r.IntN(6) == 0 {
					_, err := client(s).DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: aws.String(key)})
					if err != nil {
						led.failed(key)
						count("delete-failed")
						continue
					}
					led.deleted(key)
					count("delete")
					continue
				}
				size := r.IntN(300 << 10)
				if r.IntN(10) == 0 {
					size = 2<<20 + r.IntN(2<<20)
				}
				data := make([]byte, size)
				for j := range data {
					data[j] = byte(r.Uint32())
				}
				_, err := client(s).PutObject(ctx, &s3.PutObjectInput{Bucket: bucket, Key: aws.String(key), Body: bytes.NewReader(data)})
				if err != nil {
					led.failed(key)
					count("put-failed")
					continue
				}
				led.wrote(key, sha256.Sum256(data))
				count("put")
			}
		}()
	}

	// The fault injector.
	r := rand.New(rand.NewPCG(seed, 99))
	deadline := time.Now().Add(duration)
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(1500+r.IntN(2000)) * time.Millisecond)
		switch r.IntN(3) {
		case 0, 1: // kill -9 a node (the leader half the time) and restart it
			victim := c.servers[r.IntN(len(c.servers))]
			if r.IntN(2) == 0 {
				if st, err := c.admin(c.servers[0]).ClusterStatus(ctx); err == nil {
					for _, s := range c.servers {
						if s.id == st.Leader {
							victim = s
						}
					}
				}
			}
			t.Logf("fault: kill -9 %s", victim.id)
			c.kill(victim)
			time.Sleep(time.Duration(1000+r.IntN(2000)) * time.Millisecond)
			c.restart(victim)
			c.waitReady(victim)
			count("kill")
		case 2: // corrupt or delete shard files
			// Always on the same drive: without self-healing (not built
			// yet) damage on a second drive of the same objects, plus a
			// node down at the same time, could exceed m and be real loss.
			drive := c.servers[0].drives[0]
			n := damageShards(t, drive, r)
			t.Logf("fault: damaged %d shard files on %s", n, drive)
			count("damage")
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("load: %v", stats)
	if stats["put"] < 20 {
		t.Fatalf("only %d acknowledged writes: the cluster did not keep serving", stats["put"])
	}

	// Verification, through every node, with every node up.
	for _, s := range c.servers {
		cl := client(s)
		for key, sum := range led.last {
			out, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String(key)})
			if err != nil {
				if led.unsure[key] && apiCode(err) == "NoSuchKey" {
					continue // a later delete's outcome was unknown to the client
				}
				t.Fatalf("acknowledged %s via %s: %v", key, s.id, err)
			}
			b, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil {
				t.Fatalf("acknowledged %s via %s: %v", key, s.id, err)
			}
			if sha256.Sum256(b) != sum && !led.unsure[key] {
				t.Fatalf("acknowledged %s via %s: content differs from the last acknowledged write", key, s.id)
			}
		}
		for key, gone := range led.gone {
			if !gone || led.unsure[key] {
				continue
			}
			if _, err := cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String(key)}); !statusIs(err, 404) {
				t.Fatalf("acknowledged delete of %s via %s: %v", key, s.id, err)
			}
		}
	}
}

// damageShards corrupts or deletes a few committed shard files on a drive.
func damageShards(t *testing.T, drive string, r *rand.Rand) int {
	var files []string
	filepath.Walk(filepath.Join(drive, "kcs", "shards"), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	r.Shuffle(len(files), func(i, j int) { files[i], files[j] = files[j], files[i] })
	n := min(len(files), 5)
	for _, p := range files[:n] {
		if r.IntN(2) == 0 {
			os.Remove(p)
			continue
		}
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			continue
		}
		if st, err := f.Stat(); err == nil && st.Size() > 0 {
			off := r.Int64N(st.Size())
			var b [1]byte
			f.ReadAt(b[:], off)
			b[0] ^= 0xff
			f.WriteAt(b[:], off)
		}
		f.Close()
	}
	return n
}
