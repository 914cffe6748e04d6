package admin

import (
	"strings"
	"testing"
)

func TestCheckSecret(t *testing.T) {
	for _, tc := range []struct {
		secret string
		ok     bool
	}{
		{strings.Repeat("ab", 32), true},                       // 64 hex digits: 32 bytes
		{strings.Repeat("ab", 31), false},                      // 31 bytes
		{"a-short-secret", false},                              // 14 bytes, neither hex nor base64
		{strings.Repeat("x-", 20), true},                       // raw (neither hex nor base64), 40 bytes
		{"MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=", true}, // base64 of 32 bytes
	} {
		err := CheckSecret([]byte(tc.secret))
		if (err == nil) != tc.ok {
			t.Errorf("%q: %v", tc.secret, err)
		}
		if err != nil && !strings.Contains(err.Error(), "openssl rand -hex 32") {
			t.Errorf("the refusal does not say how to make a new secret: %v", err)
		}
	}
}
