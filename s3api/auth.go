package s3api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/kommunal-cloud/kcs/node/objapi"
	"github.com/kommunal-cloud/kcs/s3api/sigv2"
	"github.com/kommunal-cloud/kcs/s3api/sigv4"
)

// credSlot carries the credential the verifier's lookup found back to
// authenticate. The verifiers (sigv4's and sigv2's) only need the secret
// but s3api also needs the tenant; passing the slot in the request's
// context (a verifier calls the lookup once per request with that context)
// saves a second lookup per request, and keeps the one shared sigv4
// Verifier, whose key cache must not be copied.
type credSlot struct{ cred objapi.Credential }

type credSlotKey struct{}

// secretLookup is the verifiers' SecretLookup: it asks creds and leaves
// the credential in the request's credSlot.
func secretLookup(creds Credentials) sigv4.SecretLookup {
	return func(ctx context.Context, accessKey string) (string, error) {
		c, err := creds.LookupAccessKey(ctx, accessKey)
		if objapi.IsKind(err, objapi.KindNoSuchAccessKey) {
			return "", fmt.Errorf("%w: %w", sigv4.ErrUnknownAccessKey, err)
		}
		if err != nil {
			return "", err
		}
		if slot, ok := ctx.Value(credSlotKey{}).(*credSlot); ok {
			slot.cred = c
		}
		return c.Secret, nil
	}
}

// newVerifier returns the Server's SigV4 verifier. StrictHeaders refuses
// x-amz-* headers the client did not sign, as AWS does; s3api acts on
// such headers (x-amz-meta-*, x-amz-acl, x-amz-copy-source), and a
// man in the middle must not be able to add them.
func newVerifier(cfg Config, lookup sigv4.SecretLookup) *sigv4.Verifier {
	return &sigv4.Verifier{
		Region:        cfg.Region,
		Service:       "s3",
		Now:           cfg.Now,
		MaxSkew:       cfg.MaxSkew,
		StrictHeaders: true,
		Lookup:        lookup,
	}
}

// newVerifierV2 returns the Server's Signature Version 2 verifier. It needs
// no StrictHeaders: Version 2 signs every x-amz-* header there is.
// hostBucket is the router's rule for virtual-hosted style, so that the
// bucket the signature names is the one the request is routed to.
func newVerifierV2(cfg Config, lookup sigv4.SecretLookup, hostBucket func(string) string) *sigv2.Verifier {
	return &sigv2.Verifier{
		Lookup:     lookup,
		Now:        cfg.Now,
		MaxSkew:    cfg.MaxSkew,
		HostBucket: hostBucket,
	}
}

// authenticate verifies the request's signature and sets rq.caller to the
// tenant behind the access key and rq.auth to the verified body. Every S3
// request must be signed: anonymous requests get AccessDenied
// (sigv4.ErrMissingAuth).
//
// Signature Version 4 (header or presigned) is sigv4's; Version 2 (an
// "AWS AccessKeyId:Signature" header, or AWSAccessKeyId, Expires and
// Signature in the query) is sigv2's, for every operation: the tools that
// still sign with it (s3cmd, old SDKs, boto3's presigned URLs in
// us-east-1) use it for everything, as S3 and MinIO accept it. Both hand
// back the same Result, so no handler knows which version signed.
func (s *Server) authenticate(r *http.Request, rq *request) error {
	slot := &credSlot{}
	// CompleteMultipartUpload's x-amz-checksum-* headers are the whole
	// object's checksum, not its XML body's.
	opts := sigv4.Options{ObjectChecksumHeaders: rq.op == "CompleteMultipartUpload"}
	r = r.WithContext(context.WithValue(r.Context(), credSlotKey{}, slot))
	var res *sigv4.Result
	var err error
	if sigv2.Signed(r) {
		res, err = s.authV2.Verify(r, opts)
	} else {
		res, err = s.auth.VerifyWith(r, opts)
	}
	if err != nil {
		return err
	}
	caller, err := callerOf(slot, res.AccessKey)
	if err != nil {
		return err
	}
	rq.caller = caller
	rq.auth = res
	return nil
}

// authenticatePost verifies the signature of a browser POST form's policy
// with verify (sigv4's or sigv2's VerifyPost, which call the lookup with
// the context they are given) and sets rq.caller. rq.auth stays nil: the
// form is the body, read by the handler.
func (s *Server) authenticatePost(ctx context.Context, rq *request, verify func(context.Context) (string, error)) error {
	slot := &credSlot{}
	ak, err := verify(context.WithValue(ctx, credSlotKey{}, slot))
	if err != nil {
		return err
	}
	caller, err := callerOf(slot, ak)
	if err != nil {
		return err
	}
	rq.caller = caller
	return nil
}

func callerOf(slot *credSlot, accessKey string) (objapi.Caller, error) {
	if slot.cred.Tenant == "" {
		// A key that belongs to no tenant cannot own anything; refusing it
		// here keeps an empty tenant from ever reaching the object layer.
		return objapi.Caller{}, &s3Error{Code: "AccessDenied", Err: fmt.Errorf("access key %q resolved to no tenant", accessKey)}
	}
	return objapi.Caller{Tenant: slot.cred.Tenant, AccessKey: accessKey}, nil
}

// checkExpectedOwner honours x-amz-expected-bucket-owner: a client that
// names the owner it expects must not act on a bucket someone else owns.
// Every bucket a caller can reach belongs to the caller's tenant (the
// object layer refuses the others), so the header must name that tenant.
func checkExpectedOwner(r *http.Request, rq *request) error {
	if v := r.Header.Get("X-Amz-Expected-Bucket-Owner"); v != "" && v != rq.caller.Tenant {
		return &s3Error{Code: "AccessDenied", Err: fmt.Errorf("x-amz-expected-bucket-owner %q is not the caller's tenant %q", v, rq.caller.Tenant)}
	}
	return nil
}
