package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// devEndpoints reads the S3 endpoints kcs dev printed.
func devEndpoints(t *testing.T, out string) []string {
	t.Helper()
	var eps []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "S3" && f[1] == "endpoint" {
			eps = append(eps, f[2])
		}
	}
	if len(eps) != 3 {
		t.Fatalf("kcs dev printed %d S3 endpoints:\n%s", len(eps), out)
	}
	return eps
}

// startDev runs `kcs dev` and waits for it to say it is up.
func startDev(t *testing.T, dir string, base int) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(kcsBin, "dev", "--dir", dir, "--base-port", strconv.Itoa(base))
	var out bytes.Buffer
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	up := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "Press Ctrl-C to stop") {
				up <- true
			}
		}
	}()
	select {
	case <-up:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("kcs dev did not come up:\n%s", out.String())
	}
	return cmd, &out
}

// TestDevCluster is `make run`: kcs dev brings up three sites with the
// documented dev credentials, serves S3, stops cleanly on Ctrl-C, and finds
// its data again on the next start.
func TestDevCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	dir := filepath.Join(t.TempDir(), "kcs-dev")
	// Port 0: free ports, kept in the directory for the restart below.
	cmd, out := startDev(t, dir, 0)
	for _, want := range []string{"http://127.0.0.1:", "kcs-dev", "kcs-dev-secret", "3 sites"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("kcs dev output lacks %q:\n%s", want, out)
		}
	}
	eps := devEndpoints(t, out.String())
	ctx := context.Background()
	cl := goClient(eps[0], devAccessKey, devSecretKey, http.DefaultClient)
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("hello")}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("hello"), Key: aws.String("world.txt"), Body: strings.NewReader("hallo Thüringen")}); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("kcs dev did not stop cleanly on Ctrl-C: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "dev-master.key")); !strings.Contains(string(b), "DEVELOPMENT") {
		t.Fatal("the dev master key is not marked as such")
	}

	cmd, out = startDev(t, dir, 0)
	defer func() {
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
	}()
	if again := devEndpoints(t, out.String()); again[2] != eps[2] {
		t.Fatalf("the restarted dev cluster moved: %v, was %v", again, eps)
	}
	cl = goClient(eps[2], devAccessKey, devSecretKey, http.DefaultClient)
	got, err := cl.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("hello"), Key: aws.String("world.txt")})
	if err != nil {
		t.Fatalf("after restart: %v\n%s", err, out)
	}
	b, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if string(b) != "hallo Thüringen" {
		t.Fatalf("after restart: %q", b)
	}
}
