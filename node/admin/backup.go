package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/kommunal-cloud/kcs/node"
)

// Disaster recovery: metadata backups and the loss report. Both answers
// stream: a backup is as large as the metadata, a loss report as long as
// the list of what was lost, and neither is held in memory on either side.

// metaBackup answers GET /meta/backup with the backup file (node/metabackup.go):
// its exact length in Content-Length, so that a client sees a backup cut
// short as an error.
func (h *Handler) metaBackup(w http.ResponseWriter, r *http.Request) {
	b, err := h.svc.MetaBackup(r.Context())
	if err != nil {
		h.fail(w, err)
		return
	}
	defer b.Close()
	note(w, "backup", b.Info.ID, "index", b.Info.Index, "bytes", b.Size())
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(b.Size(), 10))
	w.WriteHeader(http.StatusOK)
	if _, err := b.WriteTo(w); err != nil {
		// The status is sent: the client finds the body short.
		if aw, ok := w.(*actionWriter); ok {
			aw.err = err
		}
		h.log.Warn("metadata backup cut short", "backup", b.Info.ID, "err", err)
	}
}

// LossLine is one line of a loss report's answer (JSON lines): a lost
// stream, progress, the summary that ends a whole report, or the error that
// ends one cut short.
type LossLine struct {
	Lost     *node.LostStream  `json:"lost,omitempty"`
	Progress *node.LossSummary `json:"progress,omitempty"`
	Summary  *node.LossSummary `json:"summary,omitempty"`
	Error    string            `json:"error,omitempty"`
}

// lossReport answers GET /meta/loss-report with JSON lines: each stream
// with fewer than k shards as the walk finds it, progress every few
// seconds (which also keeps proxies from cutting a long walk that finds
// nothing), and the summary last. A report without its summary is
// incomplete.
func (h *Handler) lossReport(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	started := false
	write := func(l LossLine) error {
		if !started {
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(http.StatusOK)
			started = true
		}
		if err := enc.Encode(l); err != nil {
			return err
		}
		if l.Lost == nil {
			return rc.Flush()
		}
		return nil
	}
	sum, err := h.svc.LossReport(r.Context(),
		func(s node.LostStream) error { return write(LossLine{Lost: &s}) },
		func(p node.LossSummary) { write(LossLine{Progress: &p}) })
	switch {
	case err != nil && !started:
		h.fail(w, err)
	case err != nil:
		if aw, ok := w.(*actionWriter); ok {
			aw.err = err
		}
		write(LossLine{Error: err.Error()})
	default:
		note(w, "streams", sum.Streams, "lost", sum.Lost)
		write(LossLine{Summary: sum})
	}
}

// MetaBackup streams a backup of the metadata into w and returns its
// size. The backup is sealed under the cluster's master key: it can be
// kept where the master key is not.
func (c *Client) MetaBackup(ctx context.Context, w io.Writer) (int64, error) {
	resp, err := c.stream(ctx, http.MethodGet, "/meta/backup")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return n, fmt.Errorf("metadata backup cut short after %d bytes: %w", n, err)
	}
	return n, nil
}

// LossReport asks for a loss report: lost is called for every stream with
// fewer than k shards, as the node finds it; the summary comes at the end.
func (c *Client) LossReport(ctx context.Context, lost func(node.LostStream) error) (*node.LossSummary, error) {
	resp, err := c.stream(ctx, http.MethodGet, "/meta/loss-report")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20) // a line holds one object key (≤ 1 KiB) and a few fields
	for sc.Scan() {
		var l LossLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("loss report: a line that does not parse: %w", err)
		}
		switch {
		case l.Lost != nil:
			if err := lost(*l.Lost); err != nil {
				return nil, err
			}
		case l.Error != "":
			return nil, fmt.Errorf("loss report cut short by the node: %s", l.Error)
		case l.Summary != nil:
			return l.Summary, nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("loss report cut short: %w", err)
	}
	return nil, errors.New("loss report cut short: the node's answer ended without its summary")
}

// stream sends a signed request whose answer the caller reads as it comes
// (the client's own timeout does not cut it; ctx does).
func (c *Client) stream(ctx context.Context, method, path string) (*http.Response, error) {
	req, err := c.request(ctx, method, path, nil)
	if err != nil {
		return nil, err
	}
	hc := http.DefaultClient
	if c.HTTP != nil {
		cp := *c.HTTP
		cp.Timeout = 0
		hc = &cp
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, errorOf(resp)
	}
	return resp, nil
}
