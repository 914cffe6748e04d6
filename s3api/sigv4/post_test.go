package sigv4

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// examplePostPolicy is the base64 policy of the AWS documentation's
// "Example: Browser-Based Upload using HTTP POST (Using AWS Signature
// Version 4)", signed with the example credentials on 20151229.
const (
	examplePostPolicy    = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9"
	examplePostSignature = "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"
)

func examplePostForm() PostForm {
	return PostForm{
		Algorithm:  "AWS4-HMAC-SHA256",
		Credential: exampleAccessKey + "/20151229/us-east-1/s3/aws4_request",
		Date:       "20151229T000000Z",
		Signature:  examplePostSignature,
		Policy:     examplePostPolicy,
	}
}

func TestVerifyPost(t *testing.T) {
	// The clock does not matter: a POST form is bounded by its policy's
	// expiration, which the caller checks.
	v := exampleVerifier(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	ak, err := v.VerifyPost(context.Background(), examplePostForm())
	if err != nil || ak != exampleAccessKey {
		t.Fatalf("the documentation's example: %q, %v", ak, err)
	}
	for _, tc := range []struct {
		name   string
		change func(f *PostForm)
		want   error
	}{
		{"policy changed", func(f *PostForm) { f.Policy = "e" + f.Policy[1:] + "=" }, ErrSignatureMismatch},
		{"signature changed", func(f *PostForm) { f.Signature = strings.Repeat("0", 64) }, ErrSignatureMismatch},
		{"signature upper-case hex of another", func(f *PostForm) { f.Signature = strings.ToUpper(f.Signature[:63]) + "0" }, ErrSignatureMismatch},
		{"signature too short", func(f *PostForm) { f.Signature = f.Signature[:10] }, ErrAuthHeaderMalformed},
		{"SigV2", func(f *PostForm) { f.Algorithm = "" }, ErrUnsupportedAuth},
		{"SigV4A", func(f *PostForm) { f.Algorithm = "AWS4-ECDSA-P256-SHA256" }, ErrUnsupportedAuth},
		{"other region", func(f *PostForm) { f.Credential = exampleAccessKey + "/20151229/eu-west-1/s3/aws4_request" }, ErrAuthHeaderMalformed},
		{"malformed credential", func(f *PostForm) { f.Credential = exampleAccessKey }, ErrAuthHeaderMalformed},
		{"date of another day", func(f *PostForm) { f.Date = "20151230T000000Z" }, ErrAuthHeaderMalformed},
		{"malformed date", func(f *PostForm) { f.Date = "2015-12-29" }, ErrAuthHeaderMalformed},
		{"unknown key", func(f *PostForm) { f.Credential = "AKIAUNKNOWN/20151229/us-east-1/s3/aws4_request" }, ErrUnknownAccessKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := examplePostForm()
			tc.change(&f)
			_, err := v.VerifyPost(context.Background(), f)
			if !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}
