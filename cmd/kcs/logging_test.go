package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// A start that fails with --log-format json says why in JSON too; a
// format kcs does not know is refused.
func TestLogFormatFailure(t *testing.T) {
	cmd := exec.Command(kcsBin, "server", "--log-format", "json", "--id", "n1", "--site", "a", "--drives", t.TempDir())
	for _, kv := range cleanEnv() {
		if !strings.HasPrefix(kv, "KCS_") { // no secrets from the environment
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err == nil {
		t.Fatal("started without secrets")
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	var last map[string]any
	for _, l := range lines {
		last = nil
		if err := json.Unmarshal([]byte(l), &last); err != nil {
			t.Errorf("not JSON: %q", l)
		}
	}
	if last["level"] != "ERROR" || !strings.Contains(last["err"].(string), "master key") {
		t.Errorf("the failure: %v", last)
	}
	if stdout.Len() > 0 {
		t.Errorf("stdout: %q", stdout.String())
	}

	out, err := exec.Command(kcsBin, "server", "--log-format", "xml", "--id", "n1", "--site", "a", "--drives", t.TempDir()).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `--log-format: "xml" is neither "text" nor "json"`) {
		t.Errorf("--log-format xml: %v %s", err, out)
	}
}
