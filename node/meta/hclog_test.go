package meta

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// Raft's lines become slog records at their own levels, one JSON object
// each, with their key/value pairs as attributes.
func TestHCLogger(t *testing.T) {
	var buf bytes.Buffer
	base := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})).With("node", "n1")
	l := hclogger("raft", base)

	if l.IsInfo() || l.IsDebug() || !l.IsWarn() || !l.IsError() {
		t.Errorf("at warn: info %v debug %v warn %v error %v", l.IsInfo(), l.IsDebug(), l.IsWarn(), l.IsError())
	}
	if l.GetLevel() != hclog.Warn {
		t.Errorf("level %v, want warn", l.GetLevel())
	}
	l.Info("entering follower state", "term", 3)
	l.Debug("vote granted")
	l.Trace("trace")
	l.Error("failed to heartbeat to", "peer", "10.0.0.2:7000", "error", errors.New("connection refused"), "node", "Node at x [Leader]")
	l.With("peer", "n2").Named("replication").Warn("failed to contact", "time", hclog.Fmt("%dms", 1500), "extra")
	l.Log(hclog.Error, "logged at a given level", "mode", hclog.Octal(0o755))

	var lines []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		if strings.Count(line, `"node":`) != 1 {
			t.Errorf("a key twice: %s", line)
		}
		lines = append(lines, m)
	}
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3 (info, debug and trace are below warn):\n%s", len(lines), buf.String())
	}
	for i, want := range []map[string]any{
		{"level": "ERROR", "msg": "failed to heartbeat to", "component": "raft", "node": "n1", "peer": "10.0.0.2:7000",
			"error": "connection refused", "raft-node": "Node at x [Leader]"},
		{"level": "WARN", "msg": "failed to contact", "component": "raft.replication", "node": "n1", "peer": "n2",
			"time": lines[1]["time"], "EXTRA_VALUE_AT_END": "extra"},
		{"level": "ERROR", "msg": "logged at a given level", "component": "raft", "mode": "0755"},
	} {
		for k, v := range want {
			if lines[i][k] != v {
				t.Errorf("line %d: %s = %v, want %v", i, k, lines[i][k], v)
			}
		}
	}
	// Raft's own "time" is renamed; slog's stays the record's time.
	if lines[1]["raft-time"] != "1500ms" {
		t.Errorf("raft's time key: %v", lines[1])
	}

	// At debug, Raft's debug and trace lines come through as DEBUG.
	buf.Reset()
	l = hclogger("raft-net", slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Trace("t")
	l.Debug("d")
	if got := strings.Count(buf.String(), "level=DEBUG"); got != 2 || !strings.Contains(buf.String(), "component=raft-net") {
		t.Errorf("debug lines:\n%s", buf.String())
	}
	if l.StandardLogger(nil) == nil || l.StandardWriter(nil) == nil || l.Name() != "raft-net" {
		t.Error("standard logger")
	}
}
