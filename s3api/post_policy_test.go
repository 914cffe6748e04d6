package s3api

import (
	"encoding/base64"
	"testing"
	"time"
)

func TestPostPolicyCheck(t *testing.T) {
	doc := `{"expiration": "2030-01-01T00:00:00.000Z", "conditions": [
		{"bucket": "post"},
		["starts-with", "$key", "user/"],
		["starts-with", "$Content-Type", "image/"],
		["eq", "$X-Amz-Meta-Stelle", "Bauamt"],
		["content-length-range", "1", 100],
		["starts-with", "$x-amz-meta-frei", ""]
	]}`
	p, err := parsePostPolicy(base64.StdEncoding.EncodeToString([]byte(doc)))
	if err != nil {
		t.Fatal(err)
	}
	if !p.hasRange || p.minLen != 1 || p.maxLen != 100 || !p.expiration.Equal(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("parsed %+v", p)
	}
	ok := map[string]string{"bucket": "post", "key": "user/a", "content-type": "image/png", "x-amz-meta-stelle": "Bauamt"}
	for _, tc := range []struct {
		name   string
		change map[string]string
		names  []string
		msg    string
	}{
		{"all hold", nil, []string{"key", "content-type", "x-amz-meta-stelle", "x-amz-signature", "policy", "x-ignore-knopf"}, ""},
		{"key prefix", map[string]string{"key": "admin/a"}, nil, `Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "user/"]`},
		{"every listed type", map[string]string{"content-type": "image/png, text/html"}, nil, `Invalid according to Policy: Policy Condition failed: ["starts-with", "$Content-Type", "image/"]`},
		{"eq is exact", map[string]string{"x-amz-meta-stelle": "bauamt"}, nil, `Invalid according to Policy: Policy Condition failed: ["eq", "$X-Amz-Meta-Stelle", "Bauamt"]`},
		{"missing field", map[string]string{"x-amz-meta-stelle": ""}, nil, `Invalid according to Policy: Policy Condition failed: ["eq", "$X-Amz-Meta-Stelle", "Bauamt"]`},
		{"uncovered field", nil, []string{"key", "success_action_status"}, "Invalid according to Policy: Extra input fields: success_action_status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := map[string]string{}
			for k, x := range ok {
				v[k] = x
			}
			for k, x := range tc.change {
				v[k] = x
			}
			err := p.check(v, tc.names)
			msg := ""
			if err != nil {
				if e := toAPIError(err); e.Code != "AccessDenied" {
					t.Fatalf("code %s", e.Code)
				}
				msg = toAPIError(err).Message
			}
			if msg != tc.msg {
				t.Errorf("%q, want %q", msg, tc.msg)
			}
		})
	}
	for _, bad := range []string{
		"!!!", `[]`, `{"conditions": []}`, `{"expiration": "morgen", "conditions": []}`, `{"expiration": "2030-01-01T00:00:00Z"}`,
		`{"expiration": "2030-01-01T00:00:00Z", "conditions": [["eq", "key", "x"]]}`,
		`{"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", 5, 1]]}`,
		`{"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", -1, 1]]}`,
		`{"expiration": "2030-01-01T00:00:00Z", "conditions": [{"key": 1}]}`,
		`{"expiration": "2030-01-01T00:00:00Z", "conditions": [{}]}`,
		`{"expiration": "2030-01-01T00:00:00Z", "conditions": ["key"]}`,
		`{"expiration": "2030-01-01T00:00:00Z", "conditions": [["eq", "$key"]]}`,
		// Keys are case-sensitive, as in S3: encoding/json would match
		// these to the fields.
		`{"expiration": "2030-01-01T00:00:00Z", "CONDITIONS": []}`,
		`{"EXPIRATION": "2030-01-01T00:00:00Z", "conditions": []}`,
		`{"Expiration": "2030-01-01T00:00:00Z", "Conditions": []}`,
		`{"expiration": 2030, "conditions": []}`,
		`{"expiration": "2030-01-01T00:00:00Z", "conditions": {"key": "x"}}`,
	} {
		if _, err := parsePostPolicy(base64.StdEncoding.EncodeToString([]byte(bad))); err == nil || toAPIError(err).Code != "InvalidPolicyDocument" {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// FuzzPostPolicy: whatever a form's policy holds, parsing and checking it
// ends in a verdict, never a panic.
func FuzzPostPolicy(f *testing.F) {
	f.Add(`{"expiration": "2030-01-01T00:00:00Z", "conditions": [{"bucket": "b"}, ["starts-with", "$key", ""], ["content-length-range", 0, 10]]}`)
	f.Add(`{"expiration": "2030-01-01T00:00:00Z", "conditions": [["eq", "$", 1], [1, 2, 3], {"a": null}]}`)
	f.Add(`{"conditions": [[]]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		p, err := parsePostPolicy(base64.StdEncoding.EncodeToString([]byte(doc)))
		if err != nil {
			if toAPIError(err).Code != "InvalidPolicyDocument" {
				t.Fatalf("%v", err)
			}
			return
		}
		_ = p.check(map[string]string{"key": "k", "bucket": "b"}, []string{"key", "bucket"})
	})
}
