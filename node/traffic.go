package node

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/metering"
	"github.com/kommunal-cloud/kcs/node/objapi"
)

// A tenant's traffic over time (package metering): each node counts what
// it served, and a report sums what every member counted.

// trafficAskTimeout bounds the wait for one member's rows: a report with
// a member missing, said so, beats no report.
const trafficAskTimeout = 10 * time.Second

// TrafficReport is a tenant's traffic summed over the cluster's members:
// what `kcs admin tenant usage` shows.
type TrafficReport struct {
	Tenant string `json:"tenant"`
	// From and To are the range covered, [From, To): the hours that
	// overlap the range asked for, whole.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Hours are the hours with traffic, one row per hour and class,
	// sorted by hour and then class.
	Hours  []metering.Row        `json:"hours"`
	Totals []metering.ClassTotal `json:"totals"` // per class with traffic, in class order
	Total  metering.Counts       `json:"total"`
	// Nodes are the members that answered (their counts are in); Missing
	// those that did not, whose traffic is therefore not counted, with
	// the reasons in Errors. A report with Missing nodes undercounts.
	Nodes   []string          `json:"nodes"`
	Missing []string          `json:"missing"`
	Errors  map[string]string `json:"errors,omitempty"`
}

// TrafficRows returns this node's own rows of tenant's traffic in the
// hours that overlap [from, to) (rpc.TrafficSource).
func (n *Node) TrafficRows(_ context.Context, tenant string, from, to time.Time) ([]metering.Row, error) {
	if !tenantPattern.MatchString(tenant) {
		return nil, objapi.Errorf("TenantTraffic", objapi.KindInvalidArgument, "tenant %q: 2-63 lowercase letters, digits or '-'", tenant)
	}
	if n.cfg.Traffic == nil {
		return nil, objapi.Errorf("TenantTraffic", objapi.KindUnavailable, "node %s keeps no traffic counts (no meter configured)", n.cfg.ID)
	}
	return n.cfg.Traffic.Query(tenant, from, to)
}

// TenantTraffic sums tenant's traffic in the hours that overlap [from, to)
// over every member of the cluster, itself included. The tenant need not
// exist any more: a deleted tenant's traffic is billing history, kept
// until the retention ends. Members that do not answer in time are listed
// in the report's Missing, not counted as no traffic; the report needs no
// Raft quorum (the counts are the nodes' own), only the members' list as
// this node's metadata has it.
func (n *Node) TenantTraffic(ctx context.Context, tenant string, from, to time.Time) (*TrafficReport, error) {
	if !tenantPattern.MatchString(tenant) {
		return nil, objapi.Errorf("TenantTraffic", objapi.KindInvalidArgument, "tenant %q: 2-63 lowercase letters, digits or '-'", tenant)
	}
	if !to.After(from) {
		return nil, objapi.Errorf("TenantTraffic", objapi.KindInvalidArgument, "the range ends (%v) before it begins (%v)", to, from)
	}
	from = from.UTC().Truncate(time.Hour)
	if end := to.UTC().Truncate(time.Hour); end.Before(to) {
		to = end.Add(time.Hour)
	} else {
		to = end
	}
	members := n.members()
	if !containsNode(members, n.cfg.ID) {
		// Not (or no longer) in the members' list as this node has it: its
		// own counts are real all the same.
		members = append(members, meta.Node{ID: n.cfg.ID})
	}
	rows := make([][]metering.Row, len(members))
	errs := make([]error, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if m.ID == n.cfg.ID {
				rows[i], errs[i] = n.TrafficRows(ctx, tenant, from, to)
				return
			}
			cctx, cancel := context.WithTimeout(ctx, trafficAskTimeout)
			defer cancel()
			rows[i], errs[i] = n.rpc.Traffic(cctx, m.RPCAddr, tenant, from, to)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rep := &TrafficReport{Tenant: tenant, From: from, To: to, Nodes: []string{}, Missing: []string{}}
	var answered [][]metering.Row
	for i, m := range members {
		if errs[i] != nil {
			if rep.Errors == nil {
				rep.Errors = map[string]string{}
			}
			rep.Missing = append(rep.Missing, m.ID)
			rep.Errors[m.ID] = errs[i].Error()
			n.log.Warn("traffic report without a member's counts", "tenant", tenant, "member", m.ID, "err", errs[i])
			continue
		}
		rep.Nodes = append(rep.Nodes, m.ID)
		answered = append(answered, rows[i])
	}
	sort.Strings(rep.Nodes)
	sort.Strings(rep.Missing)
	rep.Hours = metering.Merge(answered...)
	rep.Totals, rep.Total = metering.Totals(rep.Hours)
	return rep, nil
}

func containsNode(nodes []meta.Node, id string) bool {
	for _, m := range nodes {
		if m.ID == id {
			return true
		}
	}
	return false
}
