package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

func echoServer(t *testing.T, s *Security) string {
	ln, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, err := bufio.NewReader(c).ReadString('\n')
				if err == nil {
					io.WriteString(c, "echo "+line)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func mustSecurity(t *testing.T, secret string) *Security {
	s, err := New([]byte(secret), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAuthenticatedConnection(t *testing.T) {
	server := mustSecurity(t, "the-cluster-secret-0123")
	addr := echoServer(t, server)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	c, err := mustSecurity(t, "the-cluster-secret-0123").Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "hi\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if err != nil || line != "echo hi\n" {
		t.Fatalf("echo: %q %v", line, err)
	}

	if _, err := mustSecurity(t, "another-secret-0123456").Dial(ctx, addr); !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong secret: %v", err)
	}

	// A TLS client that does not know the protocol gets nothing back.
	tc, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err == nil {
		io.WriteString(tc, "hi\n")
		tc.SetReadDeadline(time.Now().Add(3 * time.Second))
		b, _ := io.ReadAll(tc)
		tc.Close()
		if len(b) > 0 {
			t.Fatalf("unauthenticated TLS peer got %q", b)
		}
	}
	// Nor does plain TCP.
	pc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(pc, "hi\n")
	pc.SetReadDeadline(time.Now().Add(3 * time.Second))
	b, _ := io.ReadAll(pc)
	pc.Close()
	if len(b) > 0 && string(b[:min(len(b), 4)]) == "echo" {
		t.Fatalf("plain TCP peer got an answer")
	}

	if _, err := New([]byte("short"), nil); err == nil {
		t.Fatal("short secret accepted")
	}
}
