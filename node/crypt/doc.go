// Package crypt encrypts object data as an authenticated stream of
// fixed-size packages and holds the key hierarchy that protects it: an
// operator's master key wraps tenant keys, a tenant key wraps the data key of
// each object.
//
// It lives below node because only the object layer holds keys; s3api and
// erasure never see plaintext keys, and erasure only ever sees ciphertext.
// Every format here starts with a version byte, and readers keep accepting
// the versions written before. ARCHITECTURE.md describes the formats byte by
// byte.
package crypt
