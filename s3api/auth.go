package s3api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/kommunal-cloud/kcs/node"
	"github.com/kommunal-cloud/kcs/s3api/sigv4"
)

// credSlot carries the credential sigv4's lookup found back to
// authenticate. sigv4 only needs the secret but s3api also needs the
// tenant; passing the slot in the request's context (sigv4 calls the
// lookup once per request with that context) saves a second lookup per
// request, and keeps the one shared Verifier, whose key cache must not be
// copied.
type credSlot struct{ cred node.Credential }

type credSlotKey struct{}

// newVerifier returns the Server's SigV4 verifier. StrictHeaders refuses
// x-amz-* headers the client did not sign, as AWS does; s3api acts on
// such headers (x-amz-meta-*, x-amz-acl, x-amz-copy-source), and a
// man in the middle must not be able to add them.
func newVerifier(cfg Config, creds Credentials) *sigv4.Verifier {
	return &sigv4.Verifier{
		Region:        cfg.Region,
		Service:       "s3",
		Now:           cfg.Now,
		MaxSkew:       cfg.MaxSkew,
		StrictHeaders: true,
		Lookup: func(ctx context.Context, accessKey string) (string, error) {
			c, err := creds.LookupAccessKey(ctx, accessKey)
			if node.IsKind(err, node.KindNoSuchAccessKey) {
				return "", fmt.Errorf("%w: %w", sigv4.ErrUnknownAccessKey, err)
			}
			if err != nil {
				return "", err
			}
			if slot, ok := ctx.Value(credSlotKey{}).(*credSlot); ok {
				slot.cred = c
			}
			return c.Secret, nil
		},
	}
}

// authenticate verifies the request's SigV4 signature (header or
// presigned) and sets rq.caller to the tenant behind the access key and
// rq.auth to the verified body. Every S3 request must be signed:
// anonymous requests get AccessDenied (sigv4.ErrMissingAuth).
func (s *Server) authenticate(r *http.Request, rq *request) error {
	slot := &credSlot{}
	// CompleteMultipartUpload's x-amz-checksum-* headers are the whole
	// object's checksum, not its XML body's.
	opts := sigv4.Options{ObjectChecksumHeaders: rq.op == "CompleteMultipartUpload"}
	res, err := s.auth.VerifyWith(r.WithContext(context.WithValue(r.Context(), credSlotKey{}, slot)), opts)
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
// and sets rq.caller. rq.auth stays nil: the form is the body, read by the
// handler.
func (s *Server) authenticatePost(ctx context.Context, rq *request, f sigv4.PostForm) error {
	slot := &credSlot{}
	ak, err := s.auth.VerifyPost(context.WithValue(ctx, credSlotKey{}, slot), f)
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

func callerOf(slot *credSlot, accessKey string) (node.Caller, error) {
	if slot.cred.Tenant == "" {
		// A key that belongs to no tenant cannot own anything; refusing it
		// here keeps an empty tenant from ever reaching the object layer.
		return node.Caller{}, &s3Error{Code: "AccessDenied", Err: fmt.Errorf("access key %q resolved to no tenant", accessKey)}
	}
	return node.Caller{Tenant: slot.cred.Tenant, AccessKey: accessKey}, nil
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
