package main

// End-to-end: S3's answers as boto3 sees them where they are subtle —
// metadata names and values, the parts of an object and their checksums,
// part reads, a retried completion, POST policies, Content-Encoding and
// deleting a bucket with unfinished uploads — against a real three-node
// cluster. testdata/boto3_fidelity.py cites the S3 reference for each.

import (
	"os/exec"
	"testing"
)

func TestE2EBoto3Fidelity(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	needTool(t, "python3")
	c := startCluster(t, 3)
	ak, sk := c.tenant("gemeinde-fidelity")
	n1, n2 := c.servers[0], c.servers[1]
	cmd := exec.Command("python3", "testdata/boto3_fidelity.py", "https://"+n1.s3tls(), "http://"+n2.s3(), c.ca.caFile, "treue")
	cmd.Env = append(cleanEnv(), "AWS_ACCESS_KEY_ID="+ak, "AWS_SECRET_ACCESS_KEY="+sk, "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("boto3 against kcs: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
