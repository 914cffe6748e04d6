package main

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/kommunal-cloud/kcs/s3api"
)

// Health checks for load balancers, keepalived and systemd-style
// supervisors, on the S3 listeners and on the metrics listener, without
// authentication:
//
//	GET|HEAD /_kcs/health/live   200 "ok" while the process serves HTTP
//	GET|HEAD /_kcs/health/ready  200 "ok" while the node should get
//	                             clients' requests (node.Node.Ready);
//	                             503 "not ready: <reason>" otherwise
//
// "_kcs" is no legal bucket name, so no bucket's path-style requests can
// be mistaken for them; virtual-hosted requests are never (their paths are
// keys). On the S3 listeners they are answered before the request caps
// (--max-requests, --max-requests-per-tenant), so that a loaded node still
// answers its load balancer: each costs no disk access and, for ready, at
// most one read index a second however many probes come (the connection
// caps still hold). They are neither logged nor metered.
const (
	healthPrefix = "/_kcs/health/"
	healthLive   = healthPrefix + "live"
	healthReady  = healthPrefix + "ready"
)

// readier is what the readiness probe asks (node.Node).
type readier interface {
	Ready(ctx context.Context) error
}

// healthHandler answers the health paths.
func healthHandler(n readier) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err error
		switch r.URL.Path {
		case healthLive:
		case healthReady:
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				err = n.Ready(r.Context())
			}
		default:
			healthAnswer(w, http.StatusNotFound, "not found: the health checks are "+healthLive+" and "+healthReady)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			healthAnswer(w, http.StatusMethodNotAllowed, "method not allowed: GET or HEAD")
			return
		}
		if err != nil {
			// One line, whatever the error holds.
			reason := strings.Join(strings.Fields(err.Error()), " ")
			healthAnswer(w, http.StatusServiceUnavailable, "not ready: "+reason)
			return
		}
		healthAnswer(w, http.StatusOK, "ok")
	})
}

func healthAnswer(w http.ResponseWriter, status int, line string) {
	body := line + "\n"
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write([]byte(body))
}

// ownPath reports whether r is for the binary's own handlers under /_kcs/
// (the admin API, the health checks) rather than for S3: a path-style
// request whose path begins with /_kcs/. A virtual-hosted request's path
// is a key of its bucket, whatever it begins with.
func ownPath(s3 *s3api.Server, r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/_kcs/") && !s3.VirtualHosted(r)
}

// starting answers every request while the node starts (serve): the
// process is live but not ready, and S3 clients get a 503 their SDKs
// retry.
func starting(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case healthLive:
		healthHandler(nil).ServeHTTP(w, r)
		return
	case healthReady:
		healthAnswer(w, http.StatusServiceUnavailable, "not ready: starting (checking the drives, opening the metadata, waiting for the cluster)")
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Retry-After", "5")
	w.WriteHeader(http.StatusServiceUnavailable)
	io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<Error><Code>ServiceUnavailable</Code><Message>The node is starting; please try again shortly.</Message></Error>`+"\n")
}
