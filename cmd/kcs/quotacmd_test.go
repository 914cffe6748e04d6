package main

import (
	"strings"
	"testing"

	"github.com/kommunal-cloud/kcs/node"
)

func TestDefaultTenantQuotaParses(t *testing.T) {
	q := defaultTenantQuota()
	if q.Bytes != 1<<40 || q.Objects != 10_000_000 || q.Buckets != 100 || q.Uploads != 1000 || q.Parts != 10000 || q.Inline != 256<<20 {
		t.Fatalf("default quota %+v", q)
	}
}

// A quota reads as the flag and the output write it, and nothing else.
func TestParseQuota(t *testing.T) {
	for in, want := range map[string]node.QuotaReport{
		"":                          {},
		"none":                      {},
		"bytes=2TiB, objects=1_000": {Bytes: 2 << 40, Objects: 1000},
		"buckets=5,uploads=none":    {Buckets: 5},
		"parts=100,inline=1MiB":     {Parts: 100, Inline: 1 << 20},
		"bytes=1536MiB,inline=1025": {Bytes: 1536 << 20, Inline: 1025},
	} {
		got, err := parseQuota(in)
		if err != nil || got != want {
			t.Errorf("%q: %+v, %v; want %+v", in, got, err, want)
		}
		back, err := parseQuota(formatQuota(&got))
		if err != nil || back != got {
			t.Errorf("%q: formatted %q reads back as %+v, %v", in, formatQuota(&got), back, err)
		}
	}
	for in, says := range map[string]string{
		"bytes":         "name=value",
		"byts=1":        "name=value",
		"objects=-1":    "not a count",
		"objects=1.5":   "not a count",
		"bytes=lots":    "size",
		"buckets=1,x=2": "name=value",
	} {
		if _, err := parseQuota(in); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("%q: %v, want an error saying %q", in, err, says)
		}
	}
}
