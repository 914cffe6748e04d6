package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
)

// checkJoinAddr refuses a --join that is no RPC address (host:port), with
// what to give instead: a URL's scheme would otherwise be looked up as a
// host name, and a missing port fail as a DNS error.
func checkJoinAddr(addr string) error {
	if addr == "" {
		return nil
	}
	if i := strings.Index(addr, "://"); i >= 0 {
		return fmt.Errorf("--join %q: give the member's RPC address as host:port, without %s:// (for example 10.1.2.3:7001)", addr, addr[:i])
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--join %q: give the member's RPC address as host:port (its --rpc-addr, for example 10.1.2.3:7001): %v", addr, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("--join %q: the port must be a number from 1 to 65535 (the member's --rpc-addr port)", addr)
	}
	if host == "" {
		return fmt.Errorf("--join %q: the host is missing (the member's --rpc-addr host)", addr)
	}
	return nil
}

// checkSecretFile refuses a secret file that others than its owner may
// read or write — a master key readable by every local user defeats the
// encryption at rest — unless allow is set, when it warns.
func checkSecretFile(what, path string, allow bool, log *slog.Logger) error {
	if path == "" {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	perm := fi.Mode().Perm()
	if perm&0o077 == 0 {
		return nil
	}
	msg := fmt.Sprintf("%s file %s is accessible to others than its owner (mode %04o)", what, path, perm)
	if allow {
		log.Warn(msg + ": chmod 600 it")
		return nil
	}
	return fmt.Errorf("%s; make it readable by the kcs user only (chmod 600 %s), or start with --allow-open-secret-files", msg, path)
}
