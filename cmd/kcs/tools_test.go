package main

// End-to-end: the tools municipal applications and operators use — the aws
// CLI's cp and sync, boto3 with every checksum it computes without awscrt,
// rclone and s3cmd — against a real three-site cluster.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// writeTree makes n small files in nested directories and returns them by
// relative path.
func writeTree(t *testing.T, root string, n int) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for i := range n {
		rel := filepath.Join(fmt.Sprintf("amt-%d", i%4), fmt.Sprintf("vorgang-%d", i%7), fmt.Sprintf("dokument-%03d.txt", i))
		p, b := randomFile(t, t.TempDir(), "f", 100+i*37)
		os.MkdirAll(filepath.Dir(filepath.Join(root, rel)), 0o700)
		if err := os.Rename(p, filepath.Join(root, rel)); err != nil {
			t.Fatal(err)
		}
		files[rel] = b
	}
	return files
}

func sameTree(t *testing.T, root string, want map[string][]byte) {
	t.Helper()
	got := 0
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			got++
		}
		return err
	})
	if got != len(want) {
		t.Fatalf("%s holds %d files, want %d", root, got, len(want))
	}
	for rel, b := range want {
		sameFile(t, filepath.Join(root, rel), b)
	}
}

func TestE2ETools(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startCluster(t, 3)
	ak, sk := c.tenant("gemeinde-tools")
	n1, n2, n3 := c.servers[0], c.servers[1], c.servers[2]
	https := func(s *server) string { return "https://" + s.s3tls() }

	t.Run("aws-cli-cp-200MiB-and-sync", func(t *testing.T) {
		needTool(t, "aws")
		dir := t.TempDir()
		awsCLI(t, c, https(n1), ak, sk, "s3", "mb", "s3://cli-tools")
		big, data := randomFile(t, dir, "gross.bin", 200*mib)
		awsCLI(t, c, https(n1), ak, sk, "s3", "cp", big, "s3://cli-tools/gross.bin")
		back := filepath.Join(dir, "gross.back")
		awsCLI(t, c, https(n2), ak, sk, "s3", "cp", "s3://cli-tools/gross.bin", back)
		sameFile(t, back, data)
		os.Remove(back)

		src := filepath.Join(dir, "tree")
		files := writeTree(t, src, 60)
		awsCLI(t, c, https(n2), ak, sk, "s3", "sync", src, "s3://cli-tools/tree")
		dst := filepath.Join(dir, "tree-back")
		awsCLI(t, c, https(n3), ak, sk, "s3", "sync", "s3://cli-tools/tree", dst)
		sameTree(t, dst, files)
		// Nothing changed: a second sync transfers nothing.
		if out := awsCLI(t, c, https(n1), ak, sk, "s3", "sync", src, "s3://cli-tools/tree"); strings.Contains(out, "upload:") {
			t.Fatalf("second sync uploaded again:\n%s", out)
		}
		// One file changes and one goes: sync --delete mirrors it.
		changed := "amt-0/vorgang-0/dokument-000.txt"
		os.WriteFile(filepath.Join(src, changed), []byte("neue Fassung, länger als vorher"), 0o600)
		files[changed] = []byte("neue Fassung, länger als vorher")
		gone := "amt-1/vorgang-1/dokument-001.txt"
		os.Remove(filepath.Join(src, gone))
		delete(files, gone)
		awsCLI(t, c, https(n3), ak, sk, "s3", "sync", "--delete", src, "s3://cli-tools/tree")
		dst2 := filepath.Join(dir, "tree-back-2")
		awsCLI(t, c, https(n1), ak, sk, "s3", "sync", "s3://cli-tools/tree", dst2)
		sameTree(t, dst2, files)
	})

	t.Run("boto3-checksums", func(t *testing.T) {
		needTool(t, "python3")
		dir := t.TempDir()
		small, smallData := randomFile(t, dir, "klein.bin", 100*1024)
		large, largeData := randomFile(t, dir, "gross.bin", 13*mib)
		cmd := exec.Command("python3", "testdata/boto3_checksums.py", https(n2), https(n3), c.ca.caFile, "boto3-sums", dir, small, large)
		cmd.Env = append(cleanEnv(), "AWS_ACCESS_KEY_ID="+ak, "AWS_SECRET_ACCESS_KEY="+sk, "AWS_DEFAULT_REGION=us-east-1",
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("boto3 checksums: %v\n%s", err, out)
		}
		for _, alg := range []string{"CRC32", "SHA1", "SHA256", "SHA512"} {
			sameFile(t, filepath.Join(dir, "back-"+alg+"-klein.bin"), smallData)
			sameFile(t, filepath.Join(dir, "back-"+alg+"-gross.bin"), largeData)
		}
	})

	t.Run("rclone", func(t *testing.T) {
		needTool(t, "rclone")
		dir := t.TempDir()
		src := filepath.Join(dir, "src")
		files := writeTree(t, src, 40)
		_, bigData := randomFile(t, src, "gross.bin", 23*mib)
		files["gross.bin"] = bigData
		rc := func(args ...string) string {
			t.Helper()
			cmd := exec.Command("rclone", append([]string{"--config", "/dev/null", "--s3-upload-cutoff", "8M", "--s3-chunk-size", "5M", "--retries", "1"}, args...)...)
			cmd.Env = append(cleanEnv(), "RCLONE_CONFIG_KCS_TYPE=s3", "RCLONE_CONFIG_KCS_PROVIDER=Other",
				"RCLONE_CONFIG_KCS_ENDPOINT=http://"+n2.s3(), "RCLONE_CONFIG_KCS_ACCESS_KEY_ID="+ak,
				"RCLONE_CONFIG_KCS_SECRET_ACCESS_KEY="+sk, "RCLONE_CONFIG_KCS_REGION=us-east-1", "RCLONE_CONFIG_KCS_FORCE_PATH_STYLE=true")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("rclone %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return string(out)
		}
		rc("mkdir", "kcs:rclone-bucket")
		rc("copy", src, "kcs:rclone-bucket/akten")
		rc("check", src, "kcs:rclone-bucket/akten") // sizes and MD5 (from the ETags)
		dst := filepath.Join(dir, "dst")
		rc("copy", "kcs:rclone-bucket/akten", dst)
		sameTree(t, dst, files)
		if out := rc("ls", "kcs:rclone-bucket/akten"); !strings.Contains(out, "gross.bin") {
			t.Fatalf("rclone ls: %s", out)
		}
		rc("purge", "kcs:rclone-bucket")
	})

	t.Run("restic", func(t *testing.T) {
		needTool(t, "restic")
		dir := t.TempDir()
		src := filepath.Join(dir, "daten")
		files := writeTree(t, src, 30)
		_, big := randomFile(t, src, "datenbank.dump", 9*mib)
		files["datenbank.dump"] = big
		repo := "s3:http://" + n1.s3() + "/restic-backup"
		env := append(cleanEnv(), "AWS_ACCESS_KEY_ID="+ak, "AWS_SECRET_ACCESS_KEY="+sk, "AWS_DEFAULT_REGION=us-east-1",
			"RESTIC_PASSWORD=kommunal", "RESTIC_CACHE_DIR="+filepath.Join(dir, "cache"))
		restic := func(args ...string) string {
			t.Helper()
			cmd := exec.Command("restic", append([]string{"-r", repo}, args...)...)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("restic %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return string(out)
		}
		restic("init")
		restic("backup", "--host", "rathaus", src)
		restic("check", "--read-data")
		dst := filepath.Join(dir, "restore")
		restic("restore", "latest", "--target", dst)
		sameTree(t, filepath.Join(dst, src), files)
	})

	// s3cmd signs with V4, or with V2 when told to (as older setups are).
	for _, v2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("s3cmd-signature-v2=%v", v2), func(t *testing.T) {
			needTool(t, "s3cmd")
			dir := t.TempDir()
			bkt := fmt.Sprintf("s3://s3cmd-bucket-v2-%v", v2)
			cfg := filepath.Join(dir, "s3cfg")
			os.WriteFile(cfg, []byte(fmt.Sprintf(`[default]
access_key = %s
secret_key = %s
host_base = %s
host_bucket = %s
use_https = False
bucket_location = us-east-1
signature_v2 = %s
multipart_chunk_size_mb = 5
`, ak, sk, n3.s3(), n3.s3(), map[bool]string{false: "False", true: "True"}[v2])), 0o600)
			s3c := func(args ...string) string {
				t.Helper()
				out, err := exec.Command("s3cmd", append([]string{"-c", cfg}, args...)...).CombinedOutput()
				if err != nil {
					t.Fatalf("s3cmd %s: %v\n%s", strings.Join(args, " "), err, out)
				}
				return string(out)
			}
			s3c("mb", bkt)
			small, smallData := randomFile(t, dir, "klein.txt", 3000)
			large, largeData := randomFile(t, dir, "gross.bin", 12*mib)
			s3c("put", small, bkt+"/klein.txt")
			s3c("put", large, bkt+"/gross.bin") // multipart in 5 MiB chunks
			if out := s3c("ls", bkt); !strings.Contains(out, "klein.txt") || !strings.Contains(out, "gross.bin") {
				t.Fatalf("s3cmd ls: %s", out)
			}
			s3c("get", bkt+"/klein.txt", filepath.Join(dir, "klein.back"))
			s3c("get", bkt+"/gross.bin", filepath.Join(dir, "gross.back"))
			sameFile(t, filepath.Join(dir, "klein.back"), smallData)
			sameFile(t, filepath.Join(dir, "gross.back"), largeData)
			s3c("del", bkt+"/klein.txt", bkt+"/gross.bin")
			s3c("rb", bkt)
		})
	}
}
