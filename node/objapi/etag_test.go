package objapi

import "testing"

func TestETagMatches(t *testing.T) {
	const etag = "9e107d9d372bb6826bd81d3542a419d6"
	for _, tc := range []struct {
		list string
		want bool
	}{
		{"*", true},
		{etag, true},
		{`"` + etag + `"`, true},
		{` W/"` + etag + `" `, true},
		{`"aaa", "` + etag + `"`, true},
		{`"aaa",W/"` + etag + `"`, true},
		{`"aaa", *`, true},
		{`"aaa"`, false},
		{`"aaa", "bbb"`, false},
		{etag + "-2", false},
		{"", false},
	} {
		if got := ETagMatches(tc.list, etag); got != tc.want {
			t.Errorf("ETagMatches(%q) = %v", tc.list, got)
		}
	}
	for in, want := range map[string]string{`"abc"`: "abc", `W/"abc"`: "abc", " abc ": "abc", `"`: `"`, `""`: ""} {
		if got := UnquoteETag(in); got != want {
			t.Errorf("UnquoteETag(%q) = %q, want %q", in, got, want)
		}
	}
}
