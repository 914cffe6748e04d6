package admin

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kommunal-cloud/kcs/node"
)

// lossService answers loss reports only (the embedded nil Service panics
// on anything else): it finds lost streams, then fails after fail of them
// (fail < 0: never).
type lossService struct {
	Service
	lost []node.LostStream
	fail int
}

func (s *lossService) LossReport(ctx context.Context, lost func(node.LostStream) error, progress func(node.LossSummary)) (*node.LossSummary, error) {
	if s.fail == 0 {
		return nil, node.Errorf("loss", node.KindUnavailable, "no leader")
	}
	progress(node.LossSummary{Streams: 1})
	for i, l := range s.lost {
		if i == s.fail {
			return nil, errors.New("the walk broke off")
		}
		if err := lost(l); err != nil {
			return nil, err
		}
	}
	return &node.LossSummary{Streams: 10, Lost: int64(len(s.lost))}, nil
}

// A loss report streams each lost stream, then its summary; one that the
// node cuts short fails at the client, never passing for a whole report.
func TestLossReportStream(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	svc := &lossService{fail: -1, lost: []node.LostStream{
		{Tenant: "t", Bucket: "b", Key: "k1", VersionID: "v1", K: 4, M: 2, Found: 3},
		{Tenant: "t", Bucket: "b", Key: "k2", UploadID: "u", Part: 2, K: 4, M: 2},
	}}
	srv := httptest.NewServer(NewHandler(svc, secret, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	c := &Client{Endpoint: srv.URL, Secret: secret}
	ctx := context.Background()
	var got []node.LostStream
	sum, err := c.LossReport(ctx, func(l node.LostStream) error { got = append(got, l); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if sum.Lost != 2 || sum.Streams != 10 || len(got) != 2 || got[0] != svc.lost[0] || got[1] != svc.lost[1] {
		t.Fatalf("summary %+v, lost %+v", sum, got)
	}
	svc.fail = 1
	got = nil
	if _, err := c.LossReport(ctx, func(l node.LostStream) error { got = append(got, l); return nil }); err == nil || !strings.Contains(err.Error(), "the walk broke off") || len(got) != 1 {
		t.Fatalf("a report cut short: %v, %d lost", err, len(got))
	}
	svc.fail = 0
	var ae *Error
	if _, err := c.LossReport(ctx, func(node.LostStream) error { return nil }); !errors.As(err, &ae) || ae.Status != 503 {
		t.Fatalf("a report that cannot start: %v", err)
	}
	// The caller may stop reading.
	svc.fail = -1
	stop := errors.New("enough")
	if _, err := c.LossReport(ctx, func(node.LostStream) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("a caller that stops: %v", err)
	}
}
