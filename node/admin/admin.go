// Package admin is the operators' API of a node — tenants, access keys,
// cluster status — and the client `kcs admin` uses. It is mounted on the S3
// listeners under /_kcs/admin/ (a path no bucket can have: bucket names
// never start with '_'), and every request is signed with the admin secret:
// an HMAC-SHA256 over method, path, query, time, a random request id and a
// hash of the body (sent in a header, so that the signature is checked
// before the body is read), so the secret itself never crosses the wire.
//
// A captured request cannot be replayed. It is valid for MaxSkew around
// its time only; each node remembers the ids it has served for that long
// and refuses a repeat; and a request that changes state commits its
// metadata command under its request id, so a repeat sent to another node
// finds the id committed and is refused there too (and, were it racing the
// original, the command would still be applied once).
package admin

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kommunal-cloud/kcs/node"
)

// Prefix is where the API is mounted.
const Prefix = "/_kcs/admin/v1"

const (
	authScheme = "KCS-ADMIN-HMAC-SHA256"
	// MaxSkew is how far a request's time may be from the node's: as short
	// as NTP-synchronised clocks allow, since a captured request is valid
	// this long (and every node remembers ids for this long).
	MaxSkew = time.Minute
	maxBody = 1 << 20
	// maxRemembered bounds the ids a node remembers: a flood of valid
	// requests beyond it is answered 503 rather than growing memory.
	maxRemembered = 200_000
	// MinSecret is the shortest admin secret a node accepts, in bytes
	// after decoding.
	MinSecret = 32
)

// Service is what the admin API needs of a node.
type Service interface {
	CreateTenant(ctx context.Context, id, accessKey, secret string) (*node.AccessKeyInfo, error)
	ListTenants(ctx context.Context) ([]node.TenantInfo, error)
	DeleteTenant(ctx context.Context, id string) (*node.TenantDeletion, error)
	// DeleteTenantBypassingGovernance is DeleteTenant overriding GOVERNANCE
	// retention (never COMPLIANCE retention or a legal hold).
	DeleteTenantBypassingGovernance(ctx context.Context, id string) (*node.TenantDeletion, error)
	RotateTenantKey(ctx context.Context, id string) (*node.KeyRotation, error)
	RotateMasterKey(ctx context.Context, id string) (*node.MasterKeyRotation, error)
	CreateAccessKey(ctx context.Context, tenant, accessKey, secret string) (*node.AccessKeyInfo, error)
	ListAccessKeys(ctx context.Context, tenant string) ([]node.AccessKeyInfo, error)
	DeleteAccessKey(ctx context.Context, tenant, accessKey string) error
	// SetKeyBypass lets a tenant's access key override GOVERNANCE
	// retention, or no longer.
	SetKeyBypass(ctx context.Context, tenant, accessKey string, allow bool) error
	ClusterStatus(ctx context.Context) (*node.ClusterStatus, error)
	TenantTraffic(ctx context.Context, tenant string, from, to time.Time) (*node.TrafficReport, error)
	TenantUsage(ctx context.Context, tenant string) (*node.TenantUsage, error)
	SetQuota(ctx context.Context, tenant, bucket string, q node.QuotaReport) error
	StartScrub()
	// Full redundancy (redundancy.go).
	DrainNode(ctx context.Context, id, drive string, cancel bool) (*node.DrainReport, error)
	RemovalPlan(ctx context.Context, id string) (*node.RemovalReport, error)
	RemoveNode(ctx context.Context, id string, force bool) (*node.RemovalReport, error)
	PromoteNode(ctx context.Context, id string) error
	Spread(ctx context.Context, stop bool) (*node.SpreadReport, error)
	// MetaBackup takes a backup of the metadata, and LossReport lists the
	// streams with fewer than k shards (backup.go).
	MetaBackup(ctx context.Context) (*node.MetaBackup, error)
	LossReport(ctx context.Context, lost func(node.LostStream) error, progress func(node.LossSummary)) (*node.LossSummary, error)
	// RequestDone reports whether an operation committed under this
	// request id (node.WithRequestID).
	RequestDone(ctx context.Context, id [16]byte) (bool, error)
}

// KeyRequest creates a tenant or an access key. Empty fields get random
// values.
type KeyRequest struct {
	Tenant    string `json:"tenant,omitempty"`
	AccessKey string `json:"access_key,omitempty"`
	Secret    string `json:"secret,omitempty"`
}

// KeyBypassRequest grants an access key the right to bypass GOVERNANCE
// retention (Allow) or takes it back.
type KeyBypassRequest struct {
	Allow bool `json:"allow"`
}

// bypassGovernanceParam is the query parameter of a tenant's deletion
// that overrides GOVERNANCE retention.
const bypassGovernanceParam = "bypass-governance"

type errorBody struct {
	Error string `json:"error"`
	Kind  string `json:"kind"`
}

// sign computes the request signature.
func sign(secret []byte, method, path, query, date, id string, bodyHash []byte) string {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "%s\n%s\n%s\n%s\n%s\n%x", method, path, query, date, id, bodyHash)
	return hex.EncodeToString(m.Sum(nil))
}

// Handler serves the admin API.
type Handler struct {
	svc    Service
	secret []byte
	log    *slog.Logger
	now    func() time.Time
	mux    *http.ServeMux

	mu   sync.Mutex
	seen map[[16]byte]time.Time // request ids served, until when they could still be valid
}

// NewHandler returns the admin API for svc, guarded by secret.
func NewHandler(svc Service, secret []byte, log *slog.Logger) *Handler {
	h := &Handler{svc: svc, secret: secret, log: log, now: time.Now, mux: http.NewServeMux(), seen: map[[16]byte]time.Time{}}
	h.mux.HandleFunc("POST "+Prefix+"/tenants", h.createTenant)
	h.mux.HandleFunc("GET "+Prefix+"/tenants", h.listTenants)
	h.mux.HandleFunc("DELETE "+Prefix+"/tenants/{tenant}", h.deleteTenant)
	h.mux.HandleFunc("POST "+Prefix+"/tenants/{tenant}/rotate-key", h.rotateKey)
	h.mux.HandleFunc("POST "+Prefix+"/master-key/rotate", h.rotateMaster)
	h.mux.HandleFunc("POST "+Prefix+"/tenants/{tenant}/keys", h.createKey)
	h.mux.HandleFunc("GET "+Prefix+"/tenants/{tenant}/keys", h.listKeys)
	h.mux.HandleFunc("DELETE "+Prefix+"/tenants/{tenant}/keys/{key}", h.deleteKey)
	h.mux.HandleFunc("PUT "+Prefix+"/tenants/{tenant}/keys/{key}/bypass-governance", h.setKeyBypass)
	h.mux.HandleFunc("GET "+Prefix+"/tenants/{tenant}/usage", h.tenantUsage)
	h.mux.HandleFunc("PUT "+Prefix+"/tenants/{tenant}/quota", h.setQuota)
	h.mux.HandleFunc("PUT "+Prefix+"/tenants/{tenant}/buckets/{bucket}/quota", h.setQuota)
	h.mux.HandleFunc("GET "+Prefix+"/tenants/{tenant}/traffic", h.tenantTraffic) // traffic.go
	h.mux.HandleFunc("GET "+Prefix+"/cluster/status", h.status)
	h.mux.HandleFunc("POST "+Prefix+"/node/scrub", h.scrub)
	h.redundancyRoutes()
	h.mux.HandleFunc("GET "+Prefix+"/meta/backup", h.metaBackup)      // backup.go
	h.mux.HandleFunc("GET "+Prefix+"/meta/loss-report", h.lossReport) // backup.go
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, id, err := h.authenticate(r)
	if err != nil {
		h.log.Warn("admin request refused", "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
		writeJSON(w, http.StatusForbidden, errorBody{Error: "access denied: " + err.Error(), Kind: "access denied"})
		return
	}
	if status, err := h.remember(id); err != nil {
		h.log.Warn("admin request refused", "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
		writeJSON(w, status, errorBody{Error: err.Error(), Kind: "replay"})
		return
	}
	start := time.Now()
	aw := &actionWriter{ResponseWriter: w}
	if r.Method != http.MethodGet {
		// A state change: refused if its id was committed through another
		// node; otherwise its command commits under the id.
		done, err := h.svc.RequestDone(r.Context(), id)
		if err != nil {
			h.fail(aw, err)
			h.logAction(r, aw, time.Since(start))
			return
		}
		if done {
			h.log.Warn("admin request refused: replayed", "remote", r.RemoteAddr, "path", r.URL.Path)
			writeJSON(w, http.StatusConflict, errorBody{Error: "this request was carried out already (a replay)", Kind: "replay"})
			return
		}
		r = r.WithContext(node.WithRequestID(r.Context(), id))
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	h.mux.ServeHTTP(aw, r)
	h.logAction(r, aw, time.Since(start))
}

// actionWriter records an admin action's answer for its log line.
type actionWriter struct {
	http.ResponseWriter
	status int
	err    error // the failure fail answered
	target []any // what the action was on, beyond the path's names (note)
}

func (w *actionWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *actionWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *actionWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// note adds key/value pairs naming what an action was on (a tenant
// created under a generated name, its first access key) to its log line.
// Never a secret.
func note(w http.ResponseWriter, kv ...any) {
	if aw, ok := w.(*actionWriter); ok {
		aw.target = append(aw.target, kv...)
	}
}

// logAction writes an authenticated admin request's one log line: who
// (the client's address; behind a trusted proxy the one it named), which
// action, on what, and how it ended. A refused request has its own line
// instead (a warning, in ServeHTTP). Failures of the node's making are
// errors, a node out of reach for now (503) a warning, the rest
// information.
func (h *Handler) logAction(r *http.Request, w *actionWriter, took time.Duration) {
	action := r.Method + " " + strings.TrimPrefix(r.URL.Path, Prefix)
	if r.Pattern != "" {
		action = strings.Replace(r.Pattern, Prefix, "", 1)
	}
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	attrs := []any{"remote", r.RemoteAddr, "action", action}
	for _, p := range []struct{ name, attr string }{{"tenant", "tenant"}, {"key", "access_key"}, {"bucket", "bucket"}} {
		if v := r.PathValue(p.name); v != "" {
			attrs = append(attrs, p.attr, v)
		}
	}
	attrs = append(attrs, w.target...)
	attrs = append(attrs, "status", status, "duration", took)
	level := slog.LevelInfo
	switch {
	case status == http.StatusServiceUnavailable:
		level = slog.LevelWarn
	case status >= 500:
		level = slog.LevelError
	}
	if w.err != nil {
		attrs = append(attrs, "err", w.err.Error())
	}
	h.log.Log(r.Context(), level, "admin action", attrs...)
}

// remember records a request id for as long as its request could be
// valid, refusing one seen before.
func (h *Handler) remember(id [16]byte) (int, error) {
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if until, ok := h.seen[id]; ok && now.Before(until) {
		return http.StatusConflict, errors.New("this request was served already (a replay)")
	}
	if len(h.seen) >= maxRemembered {
		for k, until := range h.seen {
			if !now.Before(until) {
				delete(h.seen, k)
			}
		}
		if len(h.seen) >= maxRemembered {
			return http.StatusServiceUnavailable, errors.New("too many admin requests; try again shortly")
		}
	}
	h.seen[id] = now.Add(2 * MaxSkew)
	return 0, nil
}

func (h *Handler) authenticate(r *http.Request) ([]byte, [16]byte, error) {
	var id [16]byte
	if len(h.secret) == 0 {
		return nil, id, errors.New("no admin secret configured on this node")
	}
	scheme, sig, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || scheme != authScheme {
		return nil, id, errors.New("missing or malformed Authorization")
	}
	date := r.Header.Get("X-Kcs-Date")
	t, err := time.Parse(time.RFC3339, date)
	if err != nil {
		return nil, id, errors.New("missing or malformed X-Kcs-Date")
	}
	if d := h.now().Sub(t); d > MaxSkew || d < -MaxSkew {
		return nil, id, fmt.Errorf("request time too far from this node's (more than %v): check both clocks", MaxSkew)
	}
	rid := r.Header.Get("X-Kcs-Request-Id")
	b, err := hex.DecodeString(rid)
	if err != nil || len(b) != len(id) {
		return nil, id, errors.New("missing or malformed X-Kcs-Request-Id")
	}
	copy(id[:], b)
	// The body's hash travels in a header under the signature, so that the
	// signature is checked before a byte of the body is read: a client
	// without the secret costs the node no body reads.
	claimed, err := hex.DecodeString(r.Header.Get(contentHashHeader))
	if err != nil || len(claimed) != sha256.Size {
		return nil, id, errors.New("missing or malformed " + contentHashHeader + " (a kcs admin client older than this node? upgrade it)")
	}
	want := sign(h.secret, r.Method, r.URL.Path, r.URL.RawQuery, date, rid, claimed)
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return nil, id, errors.New("signature does not match")
	}
	if r.ContentLength > maxBody {
		return nil, id, errors.New("body too large")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		return nil, id, errors.New("body unreadable or too large")
	}
	if sum := sha256.Sum256(body); !hmac.Equal(sum[:], claimed) {
		return nil, id, errors.New("the body does not match its signed hash")
	}
	return body, id, nil
}

// contentHashHeader carries the hex SHA-256 of a request's body, signed.
const contentHashHeader = "X-Kcs-Content-Sha256"

// CheckSecret refuses an admin secret shorter than MinSecret bytes after
// decoding (it is read as hex or base64 when it parses as either).
func CheckSecret(secret []byte) error {
	s := strings.TrimSpace(string(secret))
	n := len(s)
	if b, err := hex.DecodeString(s); err == nil {
		n = len(b)
	} else if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		n = len(b)
	}
	if n < MinSecret {
		return fmt.Errorf("the admin secret has %d bytes, at least %d are needed. Make a new one "+
			"(openssl rand -hex 32 > admin.secret), give it to every node and restart them one after the other "+
			"(a node accepts only requests signed with its own secret meanwhile), and give it to kcs admin", n, MinSecret)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func (h *Handler) fail(w http.ResponseWriter, err error) {
	k := node.KindOf(err)
	status := http.StatusInternalServerError
	switch k {
	case node.KindNoSuchTenant, node.KindNoSuchAccessKey, node.KindNoSuchBucket:
		status = http.StatusNotFound
	case node.KindTenantExists, node.KindConflict:
		status = http.StatusConflict
	case node.KindAccessDenied:
		// The cluster refuses the action as things stand (a tenant holding
		// versions under object lock): 409 with the reason, since 403 is
		// the API's answer to a request it cannot authenticate.
		status = http.StatusConflict
	case node.KindInvalidArgument:
		status = http.StatusBadRequest
	case node.KindUnavailable:
		status = http.StatusServiceUnavailable
	}
	msg := k.String()
	var e *node.Error
	if errors.As(err, &e) && e.Msg != "" {
		msg = e.Msg
	}
	if aw, ok := w.(*actionWriter); ok {
		aw.err = err // logged with the action (logAction)
	}
	writeJSON(w, status, errorBody{Error: msg, Kind: k.String()})
}

func decode(r *http.Request, v any) error {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil && err != io.EOF {
		return node.Errorf("admin", node.KindInvalidArgument, "bad request body: %v", err)
	}
	return nil
}

func (h *Handler) createTenant(w http.ResponseWriter, r *http.Request) {
	var req KeyRequest
	if err := decode(r, &req); err != nil {
		h.fail(w, err)
		return
	}
	if req.Tenant != "" {
		note(w, "tenant", req.Tenant)
	}
	info, err := h.svc.CreateTenant(r.Context(), req.Tenant, req.AccessKey, req.Secret)
	if err != nil {
		h.fail(w, err)
		return
	}
	if req.Tenant == "" {
		note(w, "tenant", info.Tenant)
	}
	note(w, "access_key", info.AccessKey)
	writeJSON(w, http.StatusCreated, info)
}

func (h *Handler) listTenants(w http.ResponseWriter, r *http.Request) {
	ts, err := h.svc.ListTenants(r.Context())
	if err != nil {
		h.fail(w, err)
		return
	}
	if ts == nil {
		ts = []node.TenantInfo{}
	}
	writeJSON(w, http.StatusOK, ts)
}

func (h *Handler) createKey(w http.ResponseWriter, r *http.Request) {
	var req KeyRequest
	if err := decode(r, &req); err != nil {
		h.fail(w, err)
		return
	}
	info, err := h.svc.CreateAccessKey(r.Context(), r.PathValue("tenant"), req.AccessKey, req.Secret)
	if err != nil {
		h.fail(w, err)
		return
	}
	note(w, "access_key", info.AccessKey)
	writeJSON(w, http.StatusCreated, info)
}

func (h *Handler) listKeys(w http.ResponseWriter, r *http.Request) {
	ks, err := h.svc.ListAccessKeys(r.Context(), r.PathValue("tenant"))
	if err != nil {
		h.fail(w, err)
		return
	}
	if ks == nil {
		ks = []node.AccessKeyInfo{}
	}
	writeJSON(w, http.StatusOK, ks)
}

func (h *Handler) deleteKey(w http.ResponseWriter, r *http.Request) {
	if err := h.svc.DeleteAccessKey(r.Context(), r.PathValue("tenant"), r.PathValue("key")); err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) setKeyBypass(w http.ResponseWriter, r *http.Request) {
	var req KeyBypassRequest
	if err := decode(r, &req); err != nil {
		h.fail(w, err)
		return
	}
	note(w, "bypass_governance", req.Allow)
	if err := h.svc.SetKeyBypass(r.Context(), r.PathValue("tenant"), r.PathValue("key"), req.Allow); err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	st, err := h.svc.ClusterStatus(r.Context())
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (h *Handler) deleteTenant(w http.ResponseWriter, r *http.Request) {
	bypass := false
	if v := r.URL.Query().Get(bypassGovernanceParam); v != "" {
		var err error
		if bypass, err = strconv.ParseBool(v); err != nil {
			h.fail(w, node.Errorf("DeleteTenant", node.KindInvalidArgument, "%s=%q: want true or false", bypassGovernanceParam, v))
			return
		}
	}
	var d *node.TenantDeletion
	var err error
	if bypass {
		note(w, "bypass_governance", true)
		d, err = h.svc.DeleteTenantBypassingGovernance(r.Context(), r.PathValue("tenant"))
	} else {
		d, err = h.svc.DeleteTenant(r.Context(), r.PathValue("tenant"))
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (h *Handler) rotateKey(w http.ResponseWriter, r *http.Request) {
	k, err := h.svc.RotateTenantKey(r.Context(), r.PathValue("tenant"))
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, k)
}

// MasterKeyRequest names the master key to rotate to; empty: the node's.
type MasterKeyRequest struct {
	KeyID string `json:"key_id,omitempty"`
}

func (h *Handler) rotateMaster(w http.ResponseWriter, r *http.Request) {
	var req MasterKeyRequest
	if err := decode(r, &req); err != nil {
		h.fail(w, err)
		return
	}
	if req.KeyID != "" {
		note(w, "master_key", req.KeyID)
	}
	k, err := h.svc.RotateMasterKey(r.Context(), req.KeyID)
	if err != nil {
		h.fail(w, err)
		return
	}
	if req.KeyID == "" {
		note(w, "master_key", k.MasterKey)
	}
	writeJSON(w, http.StatusOK, k)
}

// scrub starts a scrub pass on the node that serves the request.
func (h *Handler) scrub(w http.ResponseWriter, _ *http.Request) {
	h.svc.StartScrub()
	w.WriteHeader(http.StatusAccepted)
}

// Client calls the admin API of a node.
type Client struct {
	Endpoint string // e.g. https://kcs.example:9443
	Secret   []byte
	HTTP     *http.Client
}

// Error is an error answer of the admin API.
type Error struct {
	Status int
	Kind   string
	Msg    string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Msg, e.Status) }

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	req, err := c.request(ctx, method, path, body)
	if err != nil {
		return err
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return errorOf(resp)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

// request makes a signed request of the admin API.
func (c *Client) request(ctx context.Context, method, path string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.Endpoint, "/")+Prefix+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	date := time.Now().UTC().Format(time.RFC3339)
	var id [16]byte
	rand.Read(id[:])
	rid := hex.EncodeToString(id[:])
	sum := sha256.Sum256(body)
	req.Header.Set("X-Kcs-Date", date)
	req.Header.Set("X-Kcs-Request-Id", rid)
	req.Header.Set(contentHashHeader, hex.EncodeToString(sum[:]))
	req.Header.Set("Authorization", authScheme+" "+sign(c.Secret, method, req.URL.Path, req.URL.RawQuery, date, rid, sum[:]))
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// errorOf reads an error answer.
func errorOf(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e errorBody
	if json.Unmarshal(data, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(string(data))
		if e.Error == "" {
			e.Error = resp.Status
		}
	}
	return &Error{Status: resp.StatusCode, Kind: e.Kind, Msg: e.Error}
}

// CreateTenant creates a tenant and returns its first access key.
func (c *Client) CreateTenant(ctx context.Context, tenant, accessKey, secret string) (*node.AccessKeyInfo, error) {
	var out node.AccessKeyInfo
	err := c.do(ctx, http.MethodPost, "/tenants", KeyRequest{Tenant: tenant, AccessKey: accessKey, Secret: secret}, &out)
	return &out, err
}

// DeleteTenant deletes a tenant: its keys at once, its data after.
func (c *Client) DeleteTenant(ctx context.Context, tenant string) (*node.TenantDeletion, error) {
	var out node.TenantDeletion
	err := c.do(ctx, http.MethodDelete, "/tenants/"+tenant, nil, &out)
	return &out, err
}

// DeleteTenantBypassingGovernance deletes a tenant overriding GOVERNANCE
// retention: its versions under it go too. COMPLIANCE retention and legal
// holds still refuse the deletion (an *Error of HTTP 409 saying until when).
func (c *Client) DeleteTenantBypassingGovernance(ctx context.Context, tenant string) (*node.TenantDeletion, error) {
	var out node.TenantDeletion
	err := c.do(ctx, http.MethodDelete, "/tenants/"+tenant+"?"+bypassGovernanceParam+"=true", nil, &out)
	return &out, err
}

// RotateTenantKey gives a tenant a new key version.
func (c *Client) RotateTenantKey(ctx context.Context, tenant string) (*node.KeyRotation, error) {
	var out node.KeyRotation
	err := c.do(ctx, http.MethodPost, "/tenants/"+tenant+"/rotate-key", nil, &out)
	return &out, err
}

// RotateMasterKey makes a master key the cluster's (id "": the node's).
func (c *Client) RotateMasterKey(ctx context.Context, id string) (*node.MasterKeyRotation, error) {
	var out node.MasterKeyRotation
	err := c.do(ctx, http.MethodPost, "/master-key/rotate", MasterKeyRequest{KeyID: id}, &out)
	return &out, err
}

// ListTenants lists tenants.
func (c *Client) ListTenants(ctx context.Context) ([]node.TenantInfo, error) {
	var out []node.TenantInfo
	err := c.do(ctx, http.MethodGet, "/tenants", nil, &out)
	return out, err
}

// CreateAccessKey adds an access key to a tenant.
func (c *Client) CreateAccessKey(ctx context.Context, tenant, accessKey, secret string) (*node.AccessKeyInfo, error) {
	var out node.AccessKeyInfo
	err := c.do(ctx, http.MethodPost, "/tenants/"+tenant+"/keys", KeyRequest{AccessKey: accessKey, Secret: secret}, &out)
	return &out, err
}

// ListAccessKeys lists a tenant's access keys.
func (c *Client) ListAccessKeys(ctx context.Context, tenant string) ([]node.AccessKeyInfo, error) {
	var out []node.AccessKeyInfo
	err := c.do(ctx, http.MethodGet, "/tenants/"+tenant+"/keys", nil, &out)
	return out, err
}

// DeleteAccessKey deletes an access key.
func (c *Client) DeleteAccessKey(ctx context.Context, tenant, accessKey string) error {
	return c.do(ctx, http.MethodDelete, "/tenants/"+tenant+"/keys/"+accessKey, nil, nil)
}

// SetKeyBypass lets a tenant's access key override GOVERNANCE retention
// (allow), or no longer.
func (c *Client) SetKeyBypass(ctx context.Context, tenant, accessKey string, allow bool) error {
	return c.do(ctx, http.MethodPut, "/tenants/"+tenant+"/keys/"+accessKey+"/bypass-governance", KeyBypassRequest{Allow: allow}, nil)
}

// ClusterStatus returns the cluster's status.
func (c *Client) ClusterStatus(ctx context.Context) (*node.ClusterStatus, error) {
	var out node.ClusterStatus
	err := c.do(ctx, http.MethodGet, "/cluster/status", nil, &out)
	return &out, err
}

// StartScrub has the node at the client's endpoint start a scrub pass.
func (c *Client) StartScrub(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/node/scrub", nil, nil)
}

// The node implements the service.
var _ Service = (*node.Node)(nil)
