package objtest

import (
	"fmt"
	"slices"

	"github.com/kommunal-cloud/kcs/node/objapi"
)

var corsRules = []objapi.CORSRule{
	{ID: "portal", AllowedOrigins: []string{"https://portal.example", "https://*.portal.example"}, AllowedMethods: []string{"GET", "PUT"},
		AllowedHeaders: []string{"*"}, ExposeHeaders: []string{"ETag", "x-amz-meta-akte"}, MaxAgeSeconds: 600},
	{AllowedOrigins: []string{"*"}, AllowedMethods: []string{"HEAD"}},
}

// sameRules compares CORS rules, nil and empty lists alike.
func sameRules(a, b []objapi.CORSRule) bool {
	return slices.EqualFunc(a, b, func(x, y objapi.CORSRule) bool {
		return x.ID == y.ID && x.MaxAgeSeconds == y.MaxAgeSeconds && slices.Equal(x.AllowedOrigins, y.AllowedOrigins) &&
			slices.Equal(x.AllowedMethods, y.AllowedMethods) && slices.Equal(x.AllowedHeaders, y.AllowedHeaders) &&
			slices.Equal(x.ExposeHeaders, y.ExposeHeaders)
	})
}

var corsTests = []test{
	{"PutGetDelete", func(t *T) {
		b := t.bucket()
		_, err := t.l.GetBucketCors(t.ctx, t.me, b)
		t.wantKind(err, objapi.KindNoSuchCORS, "GetBucketCors of a new bucket")
		if rules, err := t.l.BucketCORS(t.ctx, b); err != nil || len(rules) != 0 {
			t.Errorf("BucketCORS of a new bucket: %v, %v", rules, err)
		}
		t.must(t.l.PutBucketCors(t.ctx, t.me, b, corsRules), "PutBucketCors")
		rules, err := t.l.GetBucketCors(t.ctx, t.me, b)
		t.must(err, "GetBucketCors")
		if !sameRules(rules, corsRules) {
			t.Errorf("GetBucketCors: %+v", rules)
		}
		// Unsigned requests (preflights) read them without a caller.
		rules, err = t.l.BucketCORS(t.ctx, b)
		t.must(err, "BucketCORS")
		if !sameRules(rules, corsRules) {
			t.Errorf("BucketCORS: %+v", rules)
		}
		// Replaced, not merged.
		t.must(t.l.PutBucketCors(t.ctx, t.me, b, corsRules[1:]), "PutBucketCors")
		if rules, _ := t.l.GetBucketCors(t.ctx, t.me, b); !sameRules(rules, corsRules[1:]) {
			t.Errorf("GetBucketCors after replacing: %+v", rules)
		}
		t.must(t.l.DeleteBucketCors(t.ctx, t.me, b), "DeleteBucketCors")
		_, err = t.l.GetBucketCors(t.ctx, t.me, b)
		t.wantKind(err, objapi.KindNoSuchCORS, "GetBucketCors after DeleteBucketCors")
		if rules, err := t.l.BucketCORS(t.ctx, b); err != nil || len(rules) != 0 {
			t.Errorf("BucketCORS after DeleteBucketCors: %v, %v", rules, err)
		}
		t.must(t.l.DeleteBucketCors(t.ctx, t.me, b), "DeleteBucketCors without a configuration")
	}},
	{"Errors", func(t *T) {
		b := t.bucket()
		t.wantKind(t.l.PutBucketCors(t.ctx, t.me, b, nil), objapi.KindMalformedXML, "PutBucketCors without rules")
		const missing = "objtest-never-created"
		t.wantKind(t.l.PutBucketCors(t.ctx, t.me, missing, corsRules), objapi.KindNoSuchBucket, "PutBucketCors of a missing bucket")
		_, err := t.l.GetBucketCors(t.ctx, t.me, missing)
		t.wantKind(err, objapi.KindNoSuchBucket, "GetBucketCors of a missing bucket")
		t.wantKind(t.l.DeleteBucketCors(t.ctx, t.me, missing), objapi.KindNoSuchBucket, "DeleteBucketCors of a missing bucket")
		// A preflight cannot tell a missing bucket from one without rules.
		if rules, err := t.l.BucketCORS(t.ctx, missing); err != nil || rules != nil {
			t.Errorf("BucketCORS of a missing bucket: %v, %v", rules, err)
		}
	}},
	// Many rules, in order.
	{"Order", func(t *T) {
		b := t.bucket()
		var rules []objapi.CORSRule
		for i := range 20 {
			rules = append(rules, objapi.CORSRule{ID: fmt.Sprint("r", i), AllowedOrigins: []string{fmt.Sprintf("https://%d.example", i)}, AllowedMethods: []string{"GET"}})
		}
		t.must(t.l.PutBucketCors(t.ctx, t.me, b, rules), "PutBucketCors")
		if got, _ := t.l.BucketCORS(t.ctx, b); !sameRules(got, rules) {
			t.Errorf("BucketCORS: %+v", got)
		}
	}},
}
