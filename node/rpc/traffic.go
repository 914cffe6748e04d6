package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/kommunal-cloud/kcs/node/metering"
	"github.com/kommunal-cloud/kcs/node/objapi"
)

// TrafficSource is what a node offers of its own traffic counts (package
// metering): the rows of one tenant's hours that overlap [from, to). A
// Handler that is one answers GET /rpc/v1/traffic; one that is not
// answers it with an error, which the asking node reports as a node that
// did not answer rather than as no traffic.
type TrafficSource interface {
	TrafficRows(ctx context.Context, tenant string, from, to time.Time) ([]metering.Row, error)
}

// maxTrafficAnswer bounds a traffic answer: 400 days of hours in five
// classes are about 48 000 rows of some 110 bytes of JSON.
const maxTrafficAnswer = 32 << 20

type trafficAnswer struct {
	Rows []metering.Row `json:"rows"`
}

func (s *server) traffic(w http.ResponseWriter, r *http.Request) {
	src, ok := s.h.(TrafficSource)
	if !ok {
		s.fail(w, r, objapi.Errorf("rpc", objapi.KindUnavailable, "this node keeps no traffic counts"))
		return
	}
	q := r.URL.Query()
	from, err1 := time.Parse(time.RFC3339Nano, q.Get("from"))
	to, err2 := time.Parse(time.RFC3339Nano, q.Get("to"))
	if err := errors.Join(err1, err2); err != nil {
		s.fail(w, r, &objapi.Error{Op: "rpc", Kind: objapi.KindInvalidArgument, Msg: "bad traffic range", Err: err})
		return
	}
	rows, err := src.TrafficRows(r.Context(), q.Get("tenant"), from, to)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if rows == nil {
		rows = []metering.Row{}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(trafficAnswer{Rows: rows})
}

// Traffic asks the node at addr for its rows of tenant's traffic in the
// hours that overlap [from, to).
func (c *Client) Traffic(ctx context.Context, addr, tenant string, from, to time.Time) ([]metering.Row, error) {
	q := url.Values{"tenant": {tenant}, "from": {from.UTC().Format(time.RFC3339Nano)}, "to": {to.UTC().Format(time.RFC3339Nano)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint(addr, "/traffic")+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := readAtMost(resp.Body, maxTrafficAnswer, "a traffic answer", objapi.KindInternal)
	if err != nil {
		return nil, err
	}
	var a trafficAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, &objapi.Error{Op: "rpc", Kind: objapi.KindInternal, Msg: "traffic answer from " + addr, Err: err}
	}
	return a.Rows, nil
}
