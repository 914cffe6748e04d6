package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/kommunal-cloud/kcs/s3api"
)

// unitFile is a parsed systemd unit: section → key → values (a key may
// be given more than once).
type unitFile map[string]map[string][]string

func (u unitFile) get(section, key string) (string, bool) {
	v := u[section][key]
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

// parseUnit reads a unit file as systemd does: sections, Key=Value
// lines, comments (# and ;), and lines continued by a trailing backslash.
func parseUnit(t *testing.T, path string) unitFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(f)
	n, cont := 0, ""
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if cont != "" {
			line = cont + " " + line
			cont = ""
		}
		if strings.HasSuffix(line, `\`) {
			cont = strings.TrimSuffix(line, `\`)
			continue
		}
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			if u[section] != nil {
				t.Errorf("%s:%d: section [%s] twice", path, n, section)
			}
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a key=value line in a section: %q", path, n, line)
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			u[section][k] = append(u[section][k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// envVar is one KCS_ setting of the example environment file.
type envVar struct {
	name, value string
	set         bool // not commented out
	line        int
}

var envLine = regexp.MustCompile(`^(#?)(KCS_[A-Z0-9_]+)=(.*)$`)

func parseEnvExample(t *testing.T, path string) []envVar {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []envVar
	for i, line := range strings.Split(string(b), "\n") {
		if m := envLine.FindStringSubmatch(line); m != nil {
			out = append(out, envVar{name: m[2], value: m[3], set: m[1] == "", line: i + 1})
		} else if line != "" && !strings.HasPrefix(line, "#") {
			t.Errorf("%s:%d: neither a comment nor KCS_…=: %q", path, i+1, line)
		}
	}
	return out
}

// The systemd unit restarts, hardens and starts `kcs server` with the
// example environment file; every KCS_ variable of that file is a flag of
// kcs server with a value it accepts, and every flag is there; and
// systemd-analyze, where installed, finds nothing to complain about.
func TestPackaging(t *testing.T) {
	unitPath, envPath := filepath.Join("packaging", "kcs.service"), filepath.Join("packaging", "kcs.env.example")
	u := parseUnit(t, unitPath)
	for _, s := range []string{"Unit", "Service", "Install"} {
		if u[s] == nil {
			t.Errorf("no [%s] section", s)
		}
	}
	want := map[string]string{
		"Type": "exec", "User": "kcs", "Group": "kcs", "Restart": "on-failure", "EnvironmentFile": "/etc/kcs/kcs.env",
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
		"ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "CapabilityBoundingSet": "", "AmbientCapabilities": "",
		"LockPersonality": "yes", "MemoryDenyWriteExecute": "yes", "SystemCallFilter": "@system-service",
	}
	for k, v := range want {
		if got, ok := u.get("Service", k); !ok || got != v {
			t.Errorf("[Service] %s=%q, want %q", k, got, v)
		}
	}
	for _, k := range []string{"RestartSec", "TimeoutStopSec", "ReadWritePaths"} {
		if v, ok := u.get("Service", k); !ok || v == "" {
			t.Errorf("[Service] has no %s", k)
		}
	}
	if v, _ := u.get("Service", "LimitNOFILE"); func() bool { n, err := strconv.Atoi(v); return err != nil || n < 4*s3api.DefaultMaxConns }() {
		t.Errorf("LimitNOFILE=%q: want a number well above --max-conns (%d)", v, s3api.DefaultMaxConns)
	}
	exec0, _ := u.get("Service", "ExecStart")
	if f := strings.Fields(exec0); len(f) < 2 || filepath.Base(f[0]) != "kcs" || f[1] != "server" || !filepath.IsAbs(f[0]) {
		t.Errorf("ExecStart=%q: want /absolute/path/kcs server", exec0)
	}
	if v, _ := u.get("Install", "WantedBy"); v != "multi-user.target" {
		t.Errorf("WantedBy=%q", v)
	}

	// The example environment against kcs server's flags.
	vars := parseEnvExample(t, envPath)
	cmd := newServerCmd()
	flags := map[string]*pflag.Flag{}
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" && !f.Hidden {
			flags[envName(f.Name)] = f
		}
	})
	seen := map[string]bool{}
	settings := map[string]string{}
	for _, v := range vars {
		f, ok := flags[v.name]
		if !ok {
			t.Errorf("%s:%d: %s is no flag of kcs server", envPath, v.line, v.name)
			continue
		}
		if seen[v.name] {
			t.Errorf("%s:%d: %s twice", envPath, v.line, v.name)
		}
		seen[v.name] = true
		if v.value != "" {
			if err := newServerCmd().Flags().Set(f.Name, v.value); err != nil {
				t.Errorf("%s:%d: %s=%s: %v", envPath, v.line, v.name, v.value, err)
			}
		}
		if v.set {
			settings[v.name] = v.value
		}
	}
	for name := range flags {
		if !seen[name] {
			t.Errorf("%s: %s (--%s) is missing", envPath, name, flags[name].Name)
		}
	}
	for _, k := range []string{"KCS_ID", "KCS_SITE", "KCS_DRIVES", "KCS_MASTER_KEY_FILE", "KCS_CLUSTER_SECRET_FILE", "KCS_ADMIN_SECRET_FILE"} {
		if settings[k] == "" {
			t.Errorf("%s: %s is not set", envPath, k)
		}
	}
	// The drives and the metadata directory are writable in the unit.
	rw := strings.Fields(strings.Join(u["Service"]["ReadWritePaths"], " "))
	paths := strings.Split(settings["KCS_DRIVES"], ",")
	if m := settings["KCS_META_DIR"]; m != "" {
		paths = append(paths, m)
	}
	for _, p := range paths {
		ok := false
		for _, w := range rw {
			w = strings.TrimLeft(w, "-+")
			ok = ok || p == w || strings.HasPrefix(p, strings.TrimSuffix(w, "/")+"/")
		}
		if !ok {
			t.Errorf("%s is not under ReadWritePaths=%v", p, rw)
		}
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: the unit is not verified by systemd")
		return
	}
	// verify checks that ExecStart's binary exists: point it at the test
	// binary, and the environment file at the example.
	dir := t.TempDir()
	unit, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	envCopy := filepath.Join(dir, "kcs.env")
	if err := os.WriteFile(envCopy, mustRead(t, envPath), 0o600); err != nil {
		t.Fatal(err)
	}
	s := string(unit)
	s = regexp.MustCompile(`(?m)^ExecStart=\S+`).ReplaceAllString(s, "ExecStart="+kcsBin)
	s = regexp.MustCompile(`(?m)^EnvironmentFile=.*$`).ReplaceAllString(s, "EnvironmentFile="+envCopy)
	testUnit := filepath.Join(dir, "kcs.service")
	if err := os.WriteFile(testUnit, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", testUnit).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The exposure systemd computes from the hardening (0 best, 10 worst);
	// older systemd has no --offline.
	out, err = exec.Command(analyze, "security", "--offline=yes", "--no-pager", testUnit).CombinedOutput()
	if m := regexp.MustCompile(`Overall exposure level for \S+: (\d+\.\d+)`).FindSubmatch(out); err == nil && m != nil {
		t.Logf("systemd-analyze security: exposure %s", m[1])
		if lvl, _ := strconv.ParseFloat(string(m[1]), 64); lvl > 2.5 {
			t.Errorf("exposure %s: the hardening has weakened (1.6 when written)\n%s", m[1], out)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
