package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/kommunal-cloud/kcs/node"
	"github.com/kommunal-cloud/kcs/node/metering"
)

// TestE2ETrafficCounters: a known number of GETs and PUTs of known sizes,
// sent through different nodes, shows up in the hourly traffic of the
// tenant that sent them and of no other, summed over the nodes at once
// (no flush waited for), the same whichever node is asked; a node that is
// down is named as missing instead of being counted as no traffic; and a
// node's counts survive its graceful restart.
func TestE2ETrafficCounters(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	start := time.Now().UTC()
	c := startCluster(t, 3)
	akA, skA := c.tenant("traffic-a")
	akB, skB := c.tenant("traffic-b")
	ctx := context.Background()
	n1, n2, n3 := c.servers[0], c.servers[1], c.servers[2]
	// Clients that never retry: every request sent is one request served.
	// The Go SDK sends PUT bodies aws-chunked with a trailing checksum;
	// the counts are of the payload as the object layer reads it, so
	// bytes in are exactly the objects' sizes.
	client := func(s *server, ak, sk string) *s3.Client { return oneShotClient(s, ak, sk, 30*time.Second) }
	a1, a2, a3 := client(n1, akA, skA), client(n2, akA, skA), client(n3, akA, skA)
	b2, b3 := client(n2, akB, skB), client(n3, akB, skB)

	const (
		putsA, sizeA = 5, 100_000 // through n1; above the inline limit: shards on every node
		getsA        = 7          // through n2
		listsA       = 3          // through n3
		putsB, sizeB = 4, 1_000   // through n2
	)
	if _, err := a1.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("traffic-a-akten")}); err != nil {
		t.Fatal(err)
	}
	for i := range putsA {
		body := bytes.Repeat([]byte{byte('a' + i)}, sizeA)
		if _, err := a1.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("traffic-a-akten"), Key: aws.String(fmt.Sprint("doc-", i)), Body: bytes.NewReader(body)}); err != nil {
			t.Fatalf("PUT %d: %v", i, err)
		}
	}
	for i := range getsA {
		out, err := a2.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("traffic-a-akten"), Key: aws.String(fmt.Sprint("doc-", i%putsA))})
		if err != nil {
			t.Fatalf("GET %d: %v", i, err)
		}
		n, err := io.Copy(io.Discard, out.Body)
		out.Body.Close()
		if err != nil || n != sizeA {
			t.Fatalf("GET %d: %d bytes, %v", i, n, err)
		}
	}
	for range listsA {
		if _, err := a3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("traffic-a-akten")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b2.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("traffic-b-akten")}); err != nil {
		t.Fatal(err)
	}
	for i := range putsB {
		body := bytes.Repeat([]byte{'b'}, sizeB)
		if _, err := b2.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("traffic-b-akten"), Key: aws.String(fmt.Sprint("b-", i)), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("traffic-b-akten"), Key: aws.String("b-0")}); err != nil {
		t.Fatal(err)
	}

	wantA := map[metering.Class]func(metering.Counts) error{
		metering.Write: exactly(putsA, putsA*sizeA, 0),
		metering.Read:  exactly(getsA, 0, getsA*sizeA),
		metering.List:  func(n metering.Counts) error { return countsAre(n, listsA, 0, -1) },
		metering.Admin: func(n metering.Counts) error { return countsAre(n, 1, -1, -1) }, // CreateBucket
	}
	wantB := map[metering.Class]func(metering.Counts) error{
		metering.Write:  exactly(putsB, putsB*sizeB, 0),
		metering.Delete: exactly(1, 0, 0),
		metering.Admin:  func(n metering.Counts) error { return countsAre(n, 1, -1, -1) },
	}
	// The s3 request is metered once its response is out: the client can
	// be a moment faster than the count.
	var rep *node.TrafficReport
	eventually(t, 5*time.Second, func() error {
		rep = traffic(t, c, n1, "traffic-a", start)
		return checkTraffic(rep, wantA)
	})
	eventually(t, 5*time.Second, func() error { return checkTraffic(traffic(t, c, n3, "traffic-b", start), wantB) })
	// Any node sums the same.
	if err := checkTraffic(traffic(t, c, n2, "traffic-a", start), wantA); err != nil {
		t.Errorf("asked through n2: %v", err)
	}
	// A tenant without traffic, and one that never existed: empty reports.
	if r := traffic(t, c, n1, "no-such-tenant", start); len(r.Hours) != 0 || r.Total != (metering.Counts{}) {
		t.Errorf("a tenant that never was: %+v", r)
	}

	// A node down: named, not counted as nothing. n1 served A's writes.
	c.stop(n1)
	down := traffic(t, c, n2, "traffic-a", start)
	if !slices.Equal(down.Missing, []string{"n1"}) || down.Errors["n1"] == "" {
		t.Errorf("with n1 down: missing %v (errors %v), want n1", down.Missing, down.Errors)
	}
	if byClass(down)[metering.Write].Requests != 0 || byClass(down)[metering.Read].Requests != getsA {
		t.Errorf("with n1 down: %+v, want the reads of n2 without the writes of n1", down.Totals)
	}
	// Its counts were saved when it stopped, and are there after its
	// restart (on new ports, which it tells the others when it rejoins).
	c.restart(n1)
	c.waitReady(n1)
	eventually(t, 20*time.Second, func() error {
		return checkTraffic(traffic(t, c, n2, "traffic-a", start), wantA)
	})
	t.Logf("report of traffic-a: %+v", rep)

	// The operator's command: the same sums as JSON, and as CSV one line
	// per hour and class that add up to them.
	since := start.UTC().Add(-time.Hour).Format(time.RFC3339)
	var cli usageReport
	if err := json.Unmarshal([]byte(kcsAdmin(t, c, n3, "tenant", "usage", "traffic-a", "--from", since, "--json")), &cli); err != nil {
		t.Fatal(err)
	}
	if cli.Stored == nil || cli.Stored.Objects != putsA || cli.Traffic == nil || checkTraffic(cli.Traffic, wantA) != nil {
		t.Fatalf("usage --json: stored %+v, traffic %+v", cli.Stored, cli.Traffic)
	}
	records, err := csv.NewReader(strings.NewReader(kcsAdmin(t, c, n2, "tenant", "usage", "traffic-a", "--from", since, "--csv"))).ReadAll()
	if err != nil || len(records) < 2 || strings.Join(records[0], ",") != "tenant,hour_utc,class,requests,bytes_in,bytes_out" {
		t.Fatalf("usage --csv: %v, %v", records, err)
	}
	sums := map[string][3]uint64{}
	for _, r := range records[1:] {
		if r[0] != "traffic-a" {
			t.Fatalf("a line of another tenant: %v", r)
		}
		if _, err := time.Parse("2006-01-02 15:04", r[1]); err != nil {
			t.Fatalf("hour %q: %v", r[1], err)
		}
		s := sums[r[2]]
		for i := range 3 {
			v, err := strconv.ParseUint(r[3+i], 10, 64)
			if err != nil {
				t.Fatalf("line %v: %v", r, err)
			}
			s[i] += v
		}
		sums[r[2]] = s
	}
	for class, n := range byClass(cli.Traffic) {
		if got := sums[class.String()]; got != [3]uint64{n.Requests, n.BytesIn, n.BytesOut} {
			t.Errorf("CSV %s: %v, want %+v", class, got, n)
		}
	}
}

// traffic asks s's admin API for tenant's traffic since from.
func traffic(t *testing.T, c *cluster, s *server, tenant string, from time.Time) *node.TrafficReport {
	t.Helper()
	rep, err := c.admin(s).TenantTraffic(context.Background(), tenant, from.Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatalf("traffic of %s through %s: %v", tenant, s.id, err)
	}
	return rep
}

// checkTraffic checks a complete report (no member missing) against the
// counts wanted per class: every class with traffic must be wanted, and
// the hours must add up to the totals.
func checkTraffic(rep *node.TrafficReport, want map[metering.Class]func(metering.Counts) error) error {
	if len(rep.Missing) != 0 {
		return fmt.Errorf("members missing: %v (%v)", rep.Missing, rep.Errors)
	}
	if len(rep.Nodes) != 3 {
		return fmt.Errorf("nodes counted: %v, want 3", rep.Nodes)
	}
	got := byClass(rep)
	for cl, check := range want {
		if err := check(got[cl]); err != nil {
			return fmt.Errorf("%s: %w", cl, err)
		}
	}
	for cl, n := range got {
		if want[cl] == nil {
			return fmt.Errorf("%s: %+v, want none (another tenant's traffic?)", cl, n)
		}
	}
	var sum metering.Counts
	for _, h := range rep.Hours {
		if h.Hour.Before(rep.From) || !h.Hour.Before(rep.To) || h.Hour.Minute() != 0 {
			return fmt.Errorf("row of hour %v outside [%v, %v)", h.Hour, rep.From, rep.To)
		}
		sum.Add(h.Counts)
	}
	if sum != rep.Total {
		return fmt.Errorf("the hours add up to %+v, the total is %+v", sum, rep.Total)
	}
	return nil
}

func byClass(rep *node.TrafficReport) map[metering.Class]metering.Counts {
	m := map[metering.Class]metering.Counts{}
	for _, ct := range rep.Totals {
		m[ct.Class] = ct.Counts
	}
	return m
}

// countsAre checks counts; -1 accepts any value of a field.
func countsAre(n metering.Counts, requests, in, out int) error {
	ok := func(got uint64, want int) bool { return want < 0 || got == uint64(want) }
	if !ok(n.Requests, requests) || !ok(n.BytesIn, in) || !ok(n.BytesOut, out) {
		return fmt.Errorf("%+v, want %d requests, %d bytes in, %d out (-1: any)", n, requests, in, out)
	}
	return nil
}

func exactly(requests, in, out int) func(metering.Counts) error {
	return func(n metering.Counts) error { return countsAre(n, requests, in, out) }
}

// eventually retries check until it passes or the time is up.
func eventually(t *testing.T, d time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
