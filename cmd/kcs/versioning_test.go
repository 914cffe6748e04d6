package main

// End-to-end: S3 versioning and object lock as the aws CLI and boto3 see
// them, against a real three-node cluster, every version written through
// one node and read back by id through another. The boto3 halves are
// testdata/boto3_versioning.py and testdata/boto3_objectlock.py, which
// cite the S3 reference for each point.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// cliJSON runs the aws CLI against a node's HTTPS endpoint (as awsCLI)
// and decodes the JSON it prints; it does not stop the test, so that
// several can run at once (cliAll).
func cliJSON(c *cluster, endpoint, ak, sk string, args ...string) (map[string]any, string, error) {
	cmd := exec.Command("aws", append([]string{"--endpoint-url", endpoint}, args...)...)
	cmd.Env = append(cleanEnv(), "AWS_ACCESS_KEY_ID="+ak, "AWS_SECRET_ACCESS_KEY="+sk, "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CA_BUNDLE="+c.ca.caFile, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, string(out), fmt.Errorf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	m := map[string]any{}
	if len(bytes.TrimSpace(out)) > 0 {
		if err := json.Unmarshal(out, &m); err != nil {
			return nil, string(out), fmt.Errorf("aws %s printed no JSON: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return m, string(out), nil
}

// cliCall is one aws CLI command of cliAll; fails says it must fail.
type cliCall struct {
	endpoint string
	args     []string
	fails    bool
}

// cliAll runs the aws CLI commands at once (each CLI start costs about a
// second) and returns the JSON each printed, or for one that must fail
// what it printed.
func cliAll(t *testing.T, c *cluster, ak, sk string, calls ...cliCall) ([]map[string]any, []string) {
	t.Helper()
	ms, outs, errs := make([]map[string]any, len(calls)), make([]string, len(calls)), make([]error, len(calls))
	var wg sync.WaitGroup
	for i, call := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ms[i], outs[i], errs[i] = cliJSON(c, call.endpoint, ak, sk, call.args...)
			if call.fails {
				if errs[i] == nil {
					errs[i] = fmt.Errorf("aws %s succeeded:\n%s", strings.Join(call.args, " "), outs[i])
				} else {
					errs[i] = nil
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return ms, outs
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// cliEntry is one entry of list-object-versions' answer as the CLI prints it.
type cliEntry struct {
	Key, VersionID string
	IsLatest       bool
	Size           int64
}

func cliEntries(t *testing.T, m map[string]any, field string) []cliEntry {
	t.Helper()
	var out []cliEntry
	list, _ := m[field].([]any)
	for _, e := range list {
		v := e.(map[string]any)
		ce := cliEntry{Key: v["Key"].(string), VersionID: v["VersionId"].(string), IsLatest: v["IsLatest"].(bool)}
		if sz, ok := v["Size"].(float64); ok {
			ce.Size = int64(sz)
		}
		out = append(out, ce)
	}
	return out
}

// runBoto3 runs one of the boto3 scripts with the tenant's key and extra
// environment; it fails the test with the script's account of every point
// that does not hold.
func runBoto3(t *testing.T, ak, sk string, env []string, args ...string) {
	t.Helper()
	needTool(t, "python3")
	cmd := exec.Command("python3", args...)
	cmd.Env = append(cleanEnv(), "AWS_ACCESS_KEY_ID="+ak, "AWS_SECRET_ACCESS_KEY="+sk, "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s against kcs: %v\n%s", args[0], err, out)
	}
	t.Logf("%s", out)
}

// TestE2EVersioning: a versioned bucket through the aws CLI (s3api) and
// boto3: versions small (inline), above the inline limit (shard-coded) and
// multipart, each read back by id through another node at once; delete
// markers, ListObjectVersions and its pages, copies from old versions,
// suspended versioning's null version, DeleteObjects with version ids.
func TestE2EVersioning(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startCluster(t, 3)
	ak, sk := c.tenant("gemeinde-versionen")
	n1, n2 := c.servers[0], c.servers[1]
	https := func(s *server) string { return "https://" + s.s3tls() }

	t.Run("aws-cli", func(t *testing.T) {
		t.Parallel()
		needTool(t, "aws")
		dir := t.TempDir()
		on := func(s *server, args ...string) cliCall { return cliCall{endpoint: https(s), args: args} }
		failsOn := func(s *server, args ...string) cliCall { return cliCall{endpoint: https(s), args: args, fails: true} }
		one := func(call cliCall) map[string]any {
			t.Helper()
			ms, _ := cliAll(t, c, ak, sk, call)
			return ms[0]
		}
		const b, key = "cli-versionen", "akte.bin"
		one(on(n1, "s3api", "create-bucket", "--bucket", b))
		one(on(n1, "s3api", "put-bucket-versioning", "--bucket", b, "--versioning-configuration", "Status=Enabled"))

		// readBack GETs and HEADs one version by id through n2, while the
		// calls with run too (the next write: each costs a CLI start);
		// it returns what they printed.
		readBack := func(k, vid string, want []byte, name string, with ...cliCall) []map[string]any {
			t.Helper()
			dst := filepath.Join(dir, "get-"+name)
			ms, _ := cliAll(t, c, ak, sk, append([]cliCall{on(n2, "s3api", "get-object", "--bucket", b, "--key", k, "--version-id", vid, dst),
				on(n2, "s3api", "head-object", "--bucket", b, "--key", k, "--version-id", vid)}, with...)...)
			g, h := ms[0], ms[1]
			got, err := os.ReadFile(dst)
			if err != nil {
				t.Fatal(err)
			}
			if sha256hex(got) != sha256hex(want) || g["VersionId"] != vid {
				t.Fatalf("get-object %s --version-id %s: %d bytes (sha256 %s), version %v; want %d bytes (sha256 %s)",
					k, vid, len(got), sha256hex(got), g["VersionId"], len(want), sha256hex(want))
			}
			if h["VersionId"] != vid || h["ContentLength"] != float64(len(want)) || h["ETag"] != g["ETag"] {
				t.Fatalf("head-object %s --version-id %s: %v", k, vid, h)
			}
			return ms[2:]
		}

		// Versions: a small (inline) object, one above the inline limit
		// (shard-coded), one the CLI uploads in two parts.
		type version struct {
			id   string
			body []byte
		}
		var versions []version
		newVersion := func(r map[string]any, body []byte) {
			t.Helper()
			vid, _ := r["VersionId"].(string)
			if vid == "" || vid == "null" {
				t.Fatalf("put-object: VersionId %q", vid)
			}
			versions = append(versions, version{vid, body})
		}
		p0, body0 := randomFile(t, dir, "v0", 300)
		p1, body1 := randomFile(t, dir, "v1", 100<<10)
		pmp, bodymp := randomFile(t, dir, "mp", 11*mib)
		newVersion(one(on(n1, "s3api", "put-object", "--bucket", b, "--key", key, "--body", p0)), body0)
		newVersion(readBack(key, versions[0].id, body0, "v0", on(n1, "s3api", "put-object", "--bucket", b, "--key", key, "--body", p1))[0], body1)
		// The CLI uploads 11 MiB in two parts (8 MiB + 3 MiB).
		readBack(key, versions[1].id, body1, "v1", on(n1, "s3", "cp", "--only-show-errors", pmp, "s3://"+b+"/"+key))
		h := one(on(n2, "s3api", "head-object", "--bucket", b, "--key", key))
		mpVid, _ := h["VersionId"].(string)
		if mpVid == "" || mpVid == versions[1].id || !strings.HasSuffix(h["ETag"].(string), `-2"`) {
			t.Fatalf("head-object after the multipart upload: %v", h)
		}
		versions = append(versions, version{mpVid, bodymp})

		// Delete: a marker, newest of all; the key is gone, the marker
		// cannot be read, the versions are listed behind it.
		d := readBack(key, mpVid, bodymp, "mp", on(n1, "s3api", "delete-object", "--bucket", b, "--key", key))[0]
		marker, _ := d["VersionId"].(string)
		if d["DeleteMarker"] != true || marker == "" {
			t.Fatalf("delete-object: %v", d)
		}
		ms, outs := cliAll(t, c, ak, sk,
			failsOn(n2, "s3api", "get-object", "--bucket", b, "--key", key, filepath.Join(dir, "x")),
			failsOn(n2, "s3api", "get-object", "--bucket", b, "--key", key, "--version-id", marker, filepath.Join(dir, "y")),
			on(n2, "s3api", "list-object-versions", "--bucket", b),
			// The CLI pages with max-keys 1 through key and version-id markers.
			on(c.servers[2], "s3api", "list-object-versions", "--bucket", b, "--page-size", "1"))
		if !strings.Contains(outs[0], "NoSuchKey") {
			t.Fatalf("get-object after delete:\n%s", outs[0])
		}
		if !strings.Contains(outs[1], "MethodNotAllowed") {
			t.Fatalf("get-object --version-id <marker>:\n%s", outs[1])
		}
		l, paged := ms[2], ms[3]
		wantVersions := []cliEntry{}
		for i := len(versions) - 1; i >= 0; i-- {
			wantVersions = append(wantVersions, cliEntry{key, versions[i].id, false, int64(len(versions[i].body))})
		}
		if got := cliEntries(t, l, "Versions"); !reflect.DeepEqual(got, wantVersions) {
			t.Fatalf("list-object-versions Versions:\n got %+v\nwant %+v", got, wantVersions)
		}
		if got := cliEntries(t, l, "DeleteMarkers"); !reflect.DeepEqual(got, []cliEntry{{key, marker, true, 0}}) {
			t.Fatalf("list-object-versions DeleteMarkers: %+v, want the marker %s", got, marker)
		}
		for _, f := range []string{"Versions", "DeleteMarkers"} {
			if got, want := cliEntries(t, paged, f), cliEntries(t, l, f); !reflect.DeepEqual(got, want) {
				t.Fatalf("list-object-versions --page-size 1 %s:\n got %+v\nwant %+v", f, got, want)
			}
		}

		// Copy from the shard-coded version, and remove the marker, which
		// brings the object back.
		ms, _ = cliAll(t, c, ak, sk,
			on(n1, "s3api", "copy-object", "--bucket", b, "--key", "kopie.bin", "--copy-source", b+"/"+key+"?versionId="+versions[1].id),
			on(n1, "s3api", "delete-object", "--bucket", b, "--key", key, "--version-id", marker))
		cp, d := ms[0], ms[1]
		if cp["CopySourceVersionId"] != versions[1].id {
			t.Fatalf("copy-object: %v", cp)
		}
		if d["DeleteMarker"] != true || d["VersionId"] != marker {
			t.Fatalf("delete-object --version-id <marker>: %v", d)
		}
		dst := filepath.Join(dir, "back")
		ms, _ = cliAll(t, c, ak, sk, on(n2, "s3api", "get-object", "--bucket", b, "--key", key, dst),
			on(n2, "s3api", "get-object", "--bucket", b, "--key", "kopie.bin", "--version-id", cp["VersionId"].(string), filepath.Join(dir, "kopie")))
		sameFile(t, dst, versions[2].body)
		if ms[0]["VersionId"] != mpVid {
			t.Fatalf("get-object after removing the marker: version %v, want %s", ms[0]["VersionId"], mpVid)
		}
		sameFile(t, filepath.Join(dir, "kopie"), versions[1].body)
	})

	t.Run("boto3", func(t *testing.T) {
		t.Parallel()
		runBoto3(t, ak, sk, nil, "testdata/boto3_versioning.py", https(n1), "http://"+n2.s3(), c.ca.caFile, "boto3-versionen")
	})
}

// TestE2EObjectLock: object lock through boto3 (COMPLIANCE, GOVERNANCE
// with and without a key granted the bypass, legal holds, default
// retention, the checksum S3 requires), the operator's part through kcs
// admin (a refused tenant deletion, the bypass grant, a key rotation
// after which locked versions still read back).
func TestE2EObjectLock(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startCluster(t, 3)
	const tenant = "gemeinde-sperre"
	ak, sk := c.tenant(tenant)
	n1, n2, n3 := c.servers[0], c.servers[1], c.servers[2]
	runBoto3(t, ak, sk, []string{"KCS_BIN=" + kcsBin, "KCS_ADMIN_ENDPOINT=http://" + n3.s3(), "KCS_ADMIN_SECRET_FILE=" + c.adminFile},
		"testdata/boto3_objectlock.py", "https://"+n1.s3tls(), "http://"+n2.s3(), c.ca.caFile, "sperre", tenant)
}
