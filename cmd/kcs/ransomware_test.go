package main

// The ransomware case, end to end: restic backs up into a bucket with
// object lock and a default retention; an attacker holding the tenant's
// valid keys overwrites and deletes every object of the repository and
// tries to destroy the versions beneath; the locked versions survive, the
// aws CLI brings them back as current versions, and restic verifies and
// restores the backup byte for byte.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// awsRun runs the aws CLI against endpoint, with extra environment, and
// returns what it printed and whether it failed; unlike awsCLI it may run
// in any goroutine.
func awsRun(c *cluster, endpoint, ak, sk string, extraEnv []string, args ...string) (string, error) {
	cmd := exec.Command("aws", append([]string{"--endpoint-url", endpoint}, args...)...)
	cmd.Env = append(cleanEnv(), "AWS_ACCESS_KEY_ID="+ak, "AWS_SECRET_ACCESS_KEY="+sk, "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CA_BUNDLE="+c.ca.caFile, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true")
	cmd.Env = append(cmd.Env, extraEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// parallel runs f(0..n-1) a few at a time (an aws CLI process takes most
// of a second of CPU to start) and fails the test with every error.
func parallel(t *testing.T, n int, f func(i int) error) {
	t.Helper()
	var (
		mu   sync.Mutex
		errs []string
		wg   sync.WaitGroup
		sem  = make(chan struct{}, max(2, runtime.NumCPU()))
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := f(i); err != nil {
				mu.Lock()
				errs = append(errs, err.Error())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		sort.Strings(errs)
		t.Fatal(strings.Join(errs, "\n"))
	}
}

type objectVersions struct {
	Versions []struct {
		Key       string
		VersionId string
		IsLatest  bool
		Size      int64
		ETag      string
	}
	DeleteMarkers []struct {
		Key       string
		VersionId string
		IsLatest  bool
	}
}

func TestE2ERansomware(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	needTool(t, "restic")
	needTool(t, "aws")
	c := startCluster(t, 3)
	ak, sk := c.tenant("gemeinde-ransomware")
	n1, n2, n3 := c.servers[0], c.servers[1], c.servers[2]
	https := func(s *server) string { return "https://" + s.s3tls() }
	attackers := []*server{n1, n2, n3}
	const bucket = "backup-gesperrt"
	aws := func(s *server, args ...string) string {
		t.Helper()
		return awsCLI(t, c, https(s), ak, sk, args...)
	}
	listVersions := func(s *server) objectVersions {
		t.Helper()
		var v objectVersions
		if err := json.Unmarshal([]byte(aws(s, "s3api", "list-object-versions", "--bucket", bucket, "--output", "json")), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}

	// 1. A bucket with object lock and a default COMPLIANCE retention of a
	// day: every version written into it is kept at least that long,
	// whoever holds the keys.
	aws(n1, "s3api", "create-bucket", "--bucket", bucket, "--object-lock-enabled-for-bucket")
	aws(n1, "s3api", "put-object-lock-configuration", "--bucket", bucket, "--object-lock-configuration",
		`{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"COMPLIANCE","Days":1}}}`)

	// A write under the default retention must prove its bytes (S3 wants
	// Content-MD5 or an x-amz-checksum-*); restic (minio-go) sends
	// Content-MD5 on every PUT, the aws CLI a CRC32. Without either, the
	// write is refused.
	probe, _ := randomFile(t, t.TempDir(), "probe", 100)
	if out, err := awsRun(c, https(n2), ak, sk, []string{"AWS_REQUEST_CHECKSUM_CALCULATION=when_required"},
		"s3api", "put-object", "--bucket", bucket, "--key", "ohne-pruefsumme", "--body", probe); err == nil || !strings.Contains(out, "InvalidRequest") {
		t.Fatalf("a PUT without Content-MD5 or checksum under default retention: %v, want InvalidRequest\n%s", err, out)
	}

	// 2. restic backs up a directory: a few MiB in files large and small.
	dir := t.TempDir()
	src := filepath.Join(dir, "daten")
	files := writeTree(t, src, 12)
	for name, n := range map[string]int{"datenbank.dump": 3 * mib, "register.bin": 700 * 1024, "protokoll.log": 40 * 1024, "leer.txt": 0, "ein-byte": 1} {
		_, b := randomFile(t, src, name, n)
		files[name] = b
	}
	repo := "s3:http://" + n2.s3() + "/" + bucket
	env := append(cleanEnv(), "AWS_ACCESS_KEY_ID="+ak, "AWS_SECRET_ACCESS_KEY="+sk, "AWS_DEFAULT_REGION=us-east-1",
		"RESTIC_PASSWORD=kommunal", "RESTIC_CACHE_DIR="+filepath.Join(dir, "cache"))
	resticRun := func(args ...string) (string, error) {
		cmd := exec.Command("restic", append([]string{"-r", repo}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	restic := func(args ...string) string {
		t.Helper()
		out, err := resticRun(args...)
		if err != nil {
			t.Fatalf("restic %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	restic("init")
	restic("backup", "--host", "rathaus", src)

	// What restic wrote: the current version of every key. Lock files it
	// deleted again are not part of the repository.
	good := map[string]string{}
	before := listVersions(n3)
	for _, v := range before.Versions {
		if v.IsLatest {
			good[v.Key] = v.VersionId
		}
	}
	var keys []string
	for k := range good {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, prefix := range []string{"config", "keys/", "data/", "index/", "snapshots/"} {
		found := false
		for _, k := range keys {
			found = found || strings.HasPrefix(k, prefix)
		}
		if !found {
			t.Fatalf("no %s in the repository: %v", prefix, keys)
		}
	}
	t.Logf("the repository: %d objects, %d versions, %d delete markers", len(keys), len(before.Versions), len(before.DeleteMarkers))
	// config, like every version, has the default retention: a day.
	var ret struct {
		Retention struct{ Mode, RetainUntilDate string }
	}
	if err := json.Unmarshal([]byte(aws(n1, "s3api", "get-object-retention", "--bucket", bucket, "--key", "config", "--version-id", good["config"])), &ret); err != nil {
		t.Fatal(err)
	}
	until, err := time.Parse(time.RFC3339, ret.Retention.RetainUntilDate)
	if ret.Retention.Mode != "COMPLIANCE" || err != nil || until.Before(time.Now().Add(23*time.Hour)) {
		t.Fatalf("config's retention: %+v (%v)", ret.Retention, err)
	}

	// 3. The attacker, with the tenant's own keys, "encrypts" the
	// repository: every object is overwritten with garbage (one aws s3 cp
	// of a tree of the same names) and then deleted (aws s3 rm, which
	// leaves delete markers).
	start := time.Now()
	evil := filepath.Join(dir, "verschluesselt")
	for _, k := range keys {
		os.MkdirAll(filepath.Dir(filepath.Join(evil, k)), 0o700)
		randomFile(t, filepath.Dir(filepath.Join(evil, k)), filepath.Base(k), 1000+len(k))
	}
	aws(n1, "s3", "cp", "--recursive", "--only-show-errors", evil, "s3://"+bucket+"/")
	aws(n2, "s3", "rm", "--recursive", "--only-show-errors", "s3://"+bucket+"/")
	// The versions beneath stay: deleting them is refused, one by one or
	// in bulk, ...
	var objs []map[string]string
	for _, k := range keys {
		objs = append(objs, map[string]string{"Key": k, "VersionId": good[k]})
	}
	del, _ := json.Marshal(map[string]any{"Objects": objs})
	var bulk struct {
		Deleted []struct{ Key string }
		Errors  []struct{ Key, Code string }
	}
	if err := json.Unmarshal([]byte(aws(n3, "s3api", "delete-objects", "--bucket", bucket, "--delete", string(del))), &bulk); err != nil {
		t.Fatal(err)
	}
	if len(bulk.Deleted) != 0 || len(bulk.Errors) != len(keys) {
		t.Fatalf("delete-objects of the locked versions: %d deleted, %d errors of %d", len(bulk.Deleted), len(bulk.Errors), len(keys))
	}
	for _, e := range bulk.Errors {
		if e.Code != "AccessDenied" {
			t.Fatalf("delete-objects of %s: %s, want AccessDenied", e.Key, e.Code)
		}
	}
	// ... as is shortening their retention, or trading it for a shorter
	// GOVERNANCE one, or suspending versioning.
	shorter := time.Now().Add(time.Minute).UTC().Format(time.RFC3339)
	refused := [][]string{
		{"s3api", "delete-object", "--bucket", bucket, "--key", "config", "--version-id", good["config"]},
		{"s3api", "delete-object", "--bucket", bucket, "--key", "config", "--version-id", good["config"], "--bypass-governance-retention"},
		{"s3api", "put-object-retention", "--bucket", bucket, "--key", "config", "--version-id", good["config"],
			"--retention", `{"Mode":"COMPLIANCE","RetainUntilDate":"` + shorter + `"}`},
		{"s3api", "put-object-retention", "--bucket", bucket, "--key", keys[len(keys)-1], "--version-id", good[keys[len(keys)-1]],
			"--bypass-governance-retention", "--retention", `{"Mode":"GOVERNANCE","RetainUntilDate":"` + shorter + `"}`},
		{"s3api", "put-bucket-versioning", "--bucket", bucket, "--versioning-configuration", "Status=Suspended"},
	}
	wantCode := []string{"AccessDenied", "AccessDenied", "AccessDenied", "AccessDenied", "InvalidBucketState"}
	parallel(t, len(refused), func(i int) error {
		out, err := awsRun(c, https(attackers[i%3]), ak, sk, nil, refused[i]...)
		if err == nil || !strings.Contains(out, wantCode[i]) {
			return fmt.Errorf("aws %s: %v, want %s\n%s", strings.Join(refused[i], " "), err, wantCode[i], out)
		}
		return nil
	})
	t.Logf("the attack: %v", time.Since(start).Round(time.Millisecond))
	// Every key now has restic's version, the garbage and a delete marker
	// on top; restic finds no repository.
	after := listVersions(n1)
	kept, garbage, marked := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, v := range after.Versions {
		kept[v.Key] = kept[v.Key] || v.VersionId == good[v.Key]
		garbage[v.Key] = garbage[v.Key] || v.VersionId != good[v.Key] && v.Size == int64(1000+len(v.Key))
		if v.IsLatest {
			t.Fatalf("after the attack %s version %s is still current", v.Key, v.VersionId)
		}
	}
	for _, m := range after.DeleteMarkers {
		marked[m.Key] = marked[m.Key] || m.IsLatest
	}
	for _, k := range keys {
		if !kept[k] || !garbage[k] || !marked[k] {
			t.Fatalf("after the attack %s: restic's version kept %v, overwritten %v, deleted %v", k, kept[k], garbage[k], marked[k])
		}
	}
	if out, err := resticRun("--no-cache", "snapshots"); err == nil {
		t.Fatalf("restic still reads the attacked repository:\n%s", out)
	} else {
		t.Logf("restic after the attack: %v: %s", err, strings.TrimSpace(out))
	}

	// 4. Recovery with the aws CLI: the version restic wrote becomes the
	// current one again, by a copy of itself.
	start = time.Now()
	parallel(t, len(keys), func(i int) error {
		k := keys[i]
		_, err := awsRun(c, https(attackers[i%3]), ak, sk, nil, "s3api", "copy-object", "--bucket", bucket, "--key", k,
			"--copy-source", bucket+"/"+k+"?versionId="+good[k])
		return err
	})
	t.Logf("the recovery: %v", time.Since(start).Round(time.Millisecond))
	// The copies are new versions, themselves under the default retention.
	if err := json.Unmarshal([]byte(aws(n2, "s3api", "get-object-retention", "--bucket", bucket, "--key", "config")), &ret); err != nil {
		t.Fatal(err)
	}
	if again, err := time.Parse(time.RFC3339, ret.Retention.RetainUntilDate); ret.Retention.Mode != "COMPLIANCE" || err != nil || !again.After(until) {
		t.Fatalf("the recovered config's retention: %+v (%v), want COMPLIANCE after %v", ret.Retention, err, until)
	}

	// 5. restic verifies every byte and restores the originals.
	restic("--no-cache", "check", "--read-data")
	dst := filepath.Join(dir, "restore")
	restic("--no-cache", "restore", "latest", "--target", dst)
	sameTree(t, filepath.Join(dst, src), files)
}
