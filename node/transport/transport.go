// Package transport secures connections between the nodes of a cluster:
// Raft traffic and shard and metadata RPCs. Every connection is TLS 1.3 and
// both ends prove that they know the cluster secret by an HMAC over the TLS
// session's exported keying material (channel binding): a peer without the
// secret is refused, a man in the middle cannot relay the proof into a
// session of its own, and the traffic is encrypted without any certificate
// to manage. Certificates are ephemeral and self-signed; they carry no
// trust, the secret does.
package transport

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"sync"
	"time"
)

const (
	exporterLabel    = "kcs cluster auth v1"
	proofMagic       = "KCS1" // protocol version of the proof exchange
	handshakeTimeout = 10 * time.Second
	minSecretLen     = 16
)

// ErrAuth is returned when a peer fails to prove the cluster secret, or
// refuses this node's proof: either way the two hold different cluster
// secrets (or the peer is no kcs node).
var ErrAuth = errors.New("transport: the cluster secrets differ (a proof of the cluster secret was refused)")

// Security holds what a node needs to accept and open connections.
type Security struct {
	secret []byte
	cert   tls.Certificate
	log    *slog.Logger
}

// New prepares connections secured with secret (at least 16 bytes).
func New(secret []byte, log *slog.Logger) (*Security, error) {
	if len(secret) < minSecretLen {
		return nil, fmt.Errorf("transport: cluster secret must be at least %d bytes", minSecretLen)
	}
	if log == nil {
		log = slog.Default()
	}
	cert, err := ephemeralCert()
	if err != nil {
		return nil, err
	}
	return &Security{secret: append([]byte(nil), secret...), cert: cert, log: log}, nil
}

func ephemeralCert() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "kcs node"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(10 * 365 * 24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func (s *Security) serverConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{s.cert}}
}

func (s *Security) clientConfig() *tls.Config {
	// The certificate is not checked: it is ephemeral and proves nothing.
	// The proof exchange below authenticates the peer, bound to this session.
	return &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true}
}

func (s *Security) proof(role string, cs tls.ConnectionState) ([]byte, error) {
	ekm, err := cs.ExportKeyingMaterial(exporterLabel, nil, 32)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(role))
	m.Write(ekm)
	return append([]byte(proofMagic), m.Sum(nil)...), nil
}

// exchange runs the proof exchange on an established TLS connection. The
// client speaks first so that a server never reveals a proof to a peer that
// has not shown its own.
func (s *Security) exchange(c *tls.Conn, client bool) error {
	cs := c.ConnectionState()
	mine, theirs := "server", "client"
	if client {
		mine, theirs = "client", "server"
	}
	own, err := s.proof(mine, cs)
	if err != nil {
		return err
	}
	want, err := s.proof(theirs, cs)
	if err != nil {
		return err
	}
	got := make([]byte, len(want))
	if client {
		if _, err := c.Write(own); err != nil {
			return err
		}
	}
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("%w: %v", ErrAuth, err)
	}
	if !hmac.Equal(got, want) {
		return ErrAuth
	}
	if !client {
		if _, err := c.Write(own); err != nil {
			return err
		}
	}
	return nil
}

// Dial opens an authenticated connection to addr.
func (s *Security) Dial(ctx context.Context, addr string) (net.Conn, error) {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: handshakeTimeout, KeepAlive: 30 * time.Second}, Config: s.clientConfig()}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	tc := c.(*tls.Conn)
	deadline := time.Now().Add(handshakeTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	tc.SetDeadline(deadline)
	if err := s.exchange(tc, true); err != nil {
		tc.Close()
		return nil, fmt.Errorf("transport: dial %s: %w", addr, err)
	}
	tc.SetDeadline(time.Time{})
	return tc, nil
}

// Listen returns a listener whose connections are authenticated. The TLS
// handshake and proof run on the connection's first Read or Write, in the
// goroutine that serves it, so a slow or hostile peer cannot stall Accept.
func (s *Security) Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return s.Wrap(ln), nil
}

// Wrap secures an existing listener.
func (s *Security) Wrap(ln net.Listener) net.Listener { return &listener{Listener: ln, s: s} }

type listener struct {
	net.Listener
	s *Security
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &serverConn{Conn: tls.Server(c, l.s.serverConfig()), s: l.s, raw: c}, nil
}

// serverConn authenticates the peer before the first byte passes.
type serverConn struct {
	net.Conn // *tls.Conn
	s        *Security
	raw      net.Conn
	once     sync.Once
	err      error
}

func (c *serverConn) handshake() error {
	c.once.Do(func() {
		tc := c.Conn.(*tls.Conn)
		tc.SetDeadline(time.Now().Add(handshakeTimeout))
		if err := tc.Handshake(); err != nil {
			c.err = err
		} else {
			c.err = c.s.exchange(tc, false)
		}
		if c.err != nil {
			msg := "refused a cluster connection"
			if errors.Is(c.err, ErrAuth) {
				msg = "refused a cluster connection: the peer does not hold this cluster's secret (--cluster-secret-file differs, or it belongs to another cluster)"
			}
			c.s.log.Warn(msg, "remote", c.raw.RemoteAddr().String(), "err", c.err)
			tc.Close()
			return
		}
		tc.SetDeadline(time.Time{})
	})
	return c.err
}

func (c *serverConn) Read(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *serverConn) Write(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}
