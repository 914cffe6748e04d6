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
	"github.com/kommunal-cloud/kcs/node/testaddr"
)

// devBasePort finds a base port whose ports kcs dev uses are free.
func devBasePort(t *testing.T) int {
	return testaddr.Base(t, 1, 2, 100, 101, 102, 200, 201, 202, 300, 301, 302)
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
	base := devBasePort(t)
	cmd, out := startDev(t, dir, base)
	for _, want := range []string{"http://127.0.0.1:" + strconv.Itoa(base), "kcs-dev", "kcs-dev-secret", "3 sites"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("kcs dev output lacks %q:\n%s", want, out)
		}
	}
	ctx := context.Background()
	cl := goClient("http://127.0.0.1:"+strconv.Itoa(base), devAccessKey, devSecretKey, http.DefaultClient)
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

	cmd, out = startDev(t, dir, base)
	defer func() {
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
	}()
	cl = goClient("http://127.0.0.1:"+strconv.Itoa(base+2), devAccessKey, devSecretKey, http.DefaultClient)
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
