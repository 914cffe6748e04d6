package s3api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The policy document of a browser POST form ("Creating a POST Policy" in
// the S3 reference): base64 JSON with an expiration and conditions that
// every form field must satisfy.
//
//	{ "expiration": "2015-12-30T12:00:00.000Z",
//	  "conditions": [ {"bucket": "b"}, ["starts-with", "$key", "user/"],
//	                  ["content-length-range", 1, 10485760], … ] }

// postPolicy is a parsed policy document.
type postPolicy struct {
	expiration time.Time
	conditions []postCondition
	// content-length-range, inclusive; hasRange is false without one.
	minLen, maxLen int64
	hasRange       bool
}

// postCondition is one "eq" or "starts-with" condition. {"field": "v"}
// is "eq".
type postCondition struct {
	op    string // "eq" or "starts-with"
	field string // the form field, lower case, without '$'
	value string
	text  string // the condition as S3 quotes it in errors
}

// parsePostPolicy decodes and parses a base64 policy document. A document
// that is not what the reference describes is InvalidPolicyDocument.
func parsePostPolicy(b64 string) (*postPolicy, error) {
	invalid := func(msg string, err error) error {
		return &s3Error{Code: "InvalidPolicyDocument", Msg: "Invalid Policy: " + msg, Err: err}
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, invalid("Invalid Base64 encoding.", err)
	}
	// S3 reads the document's keys as written: "EXPIRATION" is not the
	// expiration. encoding/json matches struct fields regardless of case,
	// so the keys are looked up in a map, whose keys it keeps exact.
	var doc map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil || doc == nil {
		return nil, invalid("Invalid JSON.", err)
	}
	rawExp, ok := doc["expiration"]
	if !ok {
		return nil, invalid("Policy missing expiration.", nil)
	}
	var expiration string
	if err := json.Unmarshal(rawExp, &expiration); err != nil {
		return nil, invalid(fmt.Sprintf("Invalid 'expiration' value: '%s'", rawExp), err)
	}
	p := &postPolicy{}
	if p.expiration, err = time.Parse(time.RFC3339, expiration); err != nil {
		return nil, invalid(fmt.Sprintf("Invalid 'expiration' value: '%s'", expiration), err)
	}
	rawConds, ok := doc["conditions"]
	if !ok {
		return nil, invalid("Policy missing conditions.", nil)
	}
	var conditions []json.RawMessage
	if err := json.Unmarshal(rawConds, &conditions); err != nil || conditions == nil {
		return nil, invalid("Policy missing conditions.", err)
	}
	for _, c := range conditions {
		if msg := p.addCondition(c); msg != "" {
			return nil, invalid(msg, nil)
		}
	}
	return p, nil
}

// addCondition parses one condition: an object of exact matches, or an
// array [op, "$field", value] or ["content-length-range", min, max]. It
// returns what is wrong with it, for the client, or "".
func (p *postPolicy) addCondition(raw json.RawMessage) string {
	switch t := bytes.TrimSpace(raw); {
	case len(t) > 0 && t[0] == '{':
		var m map[string]any
		if err := json.Unmarshal(t, &m); err != nil || len(m) == 0 {
			return fmt.Sprintf("Invalid Simple-Condition: %s", t)
		}
		for name, v := range m {
			s, ok := v.(string)
			if !ok {
				return fmt.Sprintf("Invalid Simple-Condition: value of %q must be a string.", name)
			}
			p.add("eq", name, s)
		}
		return ""
	case len(t) > 0 && t[0] == '[':
		dec := json.NewDecoder(bytes.NewReader(t))
		dec.UseNumber()
		var a []any
		if err := dec.Decode(&a); err != nil || len(a) != 3 {
			return fmt.Sprintf("Invalid Condition: %s", t)
		}
		op, _ := a[0].(string)
		switch op = strings.ToLower(op); op {
		case "content-length-range":
			lo, ok1 := jsonInt(a[1])
			hi, ok2 := jsonInt(a[2])
			if !ok1 || !ok2 || lo < 0 || hi < lo {
				return fmt.Sprintf("Invalid content-length-range: %s", t)
			}
			p.minLen, p.maxLen, p.hasRange = lo, hi, true
			return ""
		case "eq", "starts-with":
			field, ok1 := a[1].(string)
			value, ok2 := a[2].(string)
			name, ok3 := strings.CutPrefix(field, "$")
			if !ok1 || !ok2 || !ok3 || name == "" {
				return fmt.Sprintf("Invalid Condition: %s", t)
			}
			p.add(op, name, value)
			return ""
		}
		return fmt.Sprintf("Invalid Condition operator: %v", a[0])
	}
	return fmt.Sprintf("Invalid Condition: %s", raw)
}

func (p *postPolicy) add(op, field, value string) {
	p.conditions = append(p.conditions, postCondition{
		op:    op,
		field: strings.ToLower(field),
		value: value,
		text:  fmt.Sprintf(`["%s", "$%s", "%s"]`, op, field, value),
	})
}

// jsonInt reads a number of a content-length-range, given as a JSON
// number or (as some clients write it) a string of digits.
func jsonInt(v any) (int64, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	case string:
		i, err := strconv.ParseInt(n, 10, 64)
		return i, err == nil
	}
	return 0, false
}

// policyExempt are the form fields no condition needs to cover (the S3
// reference lists them: x-amz-signature for Signature Version 4,
// AWSAccessKeyId and signature for Version 2), besides those starting with
// "x-ignore-". A form never has both versions' fields (authenticateForm).
var policyExempt = map[string]bool{"x-amz-signature": true, "awsaccesskeyid": true, "signature": true, "file": true, "policy": true}

// check evaluates every condition against the form's values (by lower-case
// name; the bucket is the one the request addresses) and checks that
// every field (names as sent) is covered by a condition. A failure is AccessDenied with
// S3's "Invalid according to Policy" message.
func (p *postPolicy) check(values map[string]string, names []string) error {
	denied := func(msg string) error {
		return errorf("AccessDenied", "Invalid according to Policy: "+msg)
	}
	covered := make(map[string]bool, len(p.conditions))
	for _, c := range p.conditions {
		covered[c.field] = true
		v := values[c.field]
		ok := false
		switch {
		case c.op == "eq":
			ok = v == c.value
		case c.field == "content-type":
			// A list of types ("text/plain, text/html") must have each
			// start with the prefix.
			ok = true
			for t := range strings.SplitSeq(v, ",") {
				ok = ok && strings.HasPrefix(strings.TrimSpace(t), c.value)
			}
		default:
			ok = strings.HasPrefix(v, c.value)
		}
		if !ok {
			return denied("Policy Condition failed: " + c.text)
		}
	}
	for _, name := range names {
		lower := strings.ToLower(name)
		if !policyExempt[lower] && !strings.HasPrefix(lower, "x-ignore-") && !covered[lower] {
			return denied("Extra input fields: " + name)
		}
	}
	return nil
}

// maxPolicyLifetime caps how long a POST policy is valid, as presigned
// URLs are capped: a form handed to a citizen's browser stays usable at
// most a week. S3 sets no such cap; kcs does, since a leaked form is as
// good as a presigned URL.
const maxPolicyLifetime = 7 * 24 * time.Hour

// tooLong reports whether the policy expires more than maxPolicyLifetime
// after it was signed: at the form's x-amz-date (SigV4), or now when the
// form has none (SigV2 signs no time).
func (p *postPolicy) tooLong(amzDate string, now time.Time) bool {
	signed := now
	if t, err := time.Parse("20060102T150405Z", amzDate); err == nil {
		signed = t
	}
	return p.expiration.Sub(signed) > maxPolicyLifetime
}
