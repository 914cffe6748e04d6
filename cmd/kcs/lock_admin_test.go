package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/kommunal-cloud/kcs/node"
)

// kcsAdminFails runs `kcs admin ARGS` against node s, which must fail, and
// returns what it printed.
func kcsAdminFails(t *testing.T, c *cluster, s *server, args ...string) string {
	t.Helper()
	cmd := exec.Command(kcsBin, append([]string{"admin", "--endpoint", "http://" + s.s3()}, args...)...)
	cmd.Env = append(cleanEnv(), "KCS_ADMIN_SECRET_FILE="+c.adminFile)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("kcs admin %s succeeded:\n%s", strings.Join(args, " "), out)
	}
	return string(out)
}

// An operator's part in object lock, through the CLI against a real
// cluster: an access key may bypass GOVERNANCE retention only once granted
// (kcs admin key allow-bypass-governance, shown by kcs admin key list) and
// no longer once revoked; a tenant holding versions under retention is
// not deleted, the refusal saying until when, unless the operator
// overrides GOVERNANCE retention (--bypass-governance), which the node
// logs.
func TestObjectLockAdmin(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startCluster(t, 3)
	n1, n2 := c.servers[0], c.servers[1]
	ctx := context.Background()
	ak, sk := c.tenant("gemeinde-lock")
	cl := goClient(n1.endpoint(), ak, sk, &http.Client{Transport: c.transport()})

	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("akten"), ObjectLockEnabledForBucket: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	versions := map[string]string{}
	for _, k := range []string{"a", "b"} {
		body := "bescheid " + k
		sum := md5.Sum([]byte(body))
		out, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("akten"), Key: aws.String(k), Body: strings.NewReader(body),
			ContentMD5: aws.String(base64.StdEncoding.EncodeToString(sum[:])), ObjectLockMode: types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: aws.Time(until)})
		if err != nil {
			t.Fatal(err)
		}
		versions[k] = aws.ToString(out.VersionId)
	}
	deleteBypassing := func(k string) error {
		_, err := cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("akten"), Key: aws.String(k),
			VersionId: aws.String(versions[k]), BypassGovernanceRetention: aws.Bool(true)})
		return err
	}
	keys := func(s *server) []node.AccessKeyInfo {
		t.Helper()
		var ks []node.AccessKeyInfo
		if err := json.Unmarshal([]byte(kcsAdmin(t, c, s, "key", "list", "gemeinde-lock", "--json")), &ks); err != nil {
			t.Fatal(err)
		}
		if len(ks) != 1 || ks[0].AccessKey != ak {
			t.Fatalf("keys: %+v", ks)
		}
		return ks
	}

	if keys(n2)[0].BypassGovernance {
		t.Fatal("a new key may bypass governance retention")
	}
	if err := deleteBypassing("a"); apiCode(err) != "AccessDenied" {
		t.Fatalf("a bypass without the grant: %v, want AccessDenied", err)
	}
	out := kcsAdmin(t, c, n1, "key", "allow-bypass-governance", "gemeinde-lock", ak)
	if !strings.Contains(out, "may now bypass") {
		t.Fatalf("the grant printed %q", out)
	}
	if !keys(n2)[0].BypassGovernance {
		t.Fatal("the grant does not show in the key list")
	}
	if table := kcsAdmin(t, c, n2, "key", "list", "gemeinde-lock"); !strings.Contains(table, "BYPASS GOVERNANCE") || !strings.Contains(table, "yes") {
		t.Fatalf("the key table does not show the grant:\n%s", table)
	}
	if err := deleteBypassing("a"); err != nil {
		t.Fatalf("a bypass with the grant: %v", err)
	}
	kcsAdmin(t, c, n2, "key", "allow-bypass-governance", "gemeinde-lock", ak, "--revoke")
	if keys(n1)[0].BypassGovernance {
		t.Fatal("the revocation does not show in the key list")
	}
	if err := deleteBypassing("b"); apiCode(err) != "AccessDenied" {
		t.Fatalf("a bypass after the revocation: %v, want AccessDenied", err)
	}
	// Another tenant's key, or none, is not found.
	c.tenant("gemeinde-other")
	if out := kcsAdminFails(t, c, n1, "key", "allow-bypass-governance", "gemeinde-other", ak); !strings.Contains(out, "no access key") {
		t.Fatalf("another tenant's key:\n%s", out)
	}

	// The tenant holds b under GOVERNANCE retention: refused, saying until
	// when; overridden by the operator, deleted and logged.
	out = kcsAdminFails(t, c, n1, "tenant", "delete", "gemeinde-lock", "--confirm", "gemeinde-lock")
	if !strings.Contains(out, "not deleted") || !strings.Contains(out, until.Format(time.RFC3339)) || !strings.Contains(out, "akten/b") {
		t.Fatalf("the refusal does not say what and until when:\n%s", out)
	}
	t.Logf("the refusal, as the operator reads it: %s", out)
	out = kcsAdmin(t, c, n1, "tenant", "delete", "gemeinde-lock", "--confirm", "gemeinde-lock", "--bypass-governance")
	if !strings.Contains(out, "deleted tenant gemeinde-lock") {
		t.Fatalf("the deletion printed %q", out)
	}
	logged, _ := os.ReadFile(filepath.Join(n1.dir, "server.log"))
	for _, line := range bytes.Split(logged, []byte("\n")) {
		if bytes.Contains(line, []byte("governance retention overridden by operator")) && bytes.Contains(line, []byte("gemeinde-lock")) {
			return
		}
	}
	t.Fatalf("the node did not log the override:\n%s", c.logTail(n1))
}
