package placement

import (
	"fmt"
	"testing"
)

func topology(sites, nodesPerSite, drivesPerNode int) []Drive {
	var out []Drive
	for s := range sites {
		for n := range nodesPerSite {
			for d := range drivesPerNode {
				node := fmt.Sprintf("s%dn%d", s, n)
				out = append(out, Drive{ID: fmt.Sprintf("%s/%d", node, d), Node: node, Site: fmt.Sprintf("s%d", s)})
			}
		}
	}
	return out
}

func TestProtects(t *testing.T) {
	three := topology(3, 1, 2) // three nodes: distinct nodes not possible for 6 shards
	six := topology(3, 2, 1)   // six nodes: shards on distinct nodes
	rs42 := Geometry{K: 4, M: 2}
	for _, tc := range []struct {
		name   string
		topo   []Drive
		k, m   int
		drives []string
		want   bool
	}{
		{"the full family's kind of set", three, 4, 2, []string{"s0n0/0", "s1n0/0", "s2n0/0", "s0n0/1", "s1n0/1", "s2n0/1"}, true},
		{"a degraded geometry", three, 2, 2, []string{"s0n0/0", "s1n0/0", "s0n0/1", "s1n0/1"}, false},
		{"three shards in one site", three, 4, 2, []string{"s0n0/0", "s0n0/1", "s1n0/0", "s2n0/0", "s1n0/1", "s0n0/0"}, false},
		{"a drive twice", three, 4, 2, []string{"s0n0/0", "s1n0/0", "s2n0/0", "s0n0/0", "s1n0/1", "s2n0/1"}, false},
		{"a drive that left", three, 4, 2, []string{"s0n0/0", "s1n0/0", "s2n0/0", "gone/1", "s1n0/1", "s2n0/1"}, false},
		{"too few drives", three, 4, 2, []string{"s0n0/0", "s1n0/0", "s2n0/0"}, false},
		{"six nodes, one each", six, 4, 2, []string{"s0n0/0", "s0n1/0", "s1n0/0", "s1n1/0", "s2n0/0", "s2n1/0"}, true},
	} {
		if got := Protects(tc.topo, rs42, tc.k, tc.m, tc.drives); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	// Six nodes but two shards on one node: not on distinct nodes.
	six2 := append(six, Drive{ID: "s0n0/1", Node: "s0n0", Site: "s0"})
	if Protects(six2, rs42, 4, 2, []string{"s0n0/0", "s0n0/1", "s1n0/0", "s1n1/0", "s2n0/0", "s2n1/0"}) {
		t.Error("two shards on one node of six are full protection")
	}
	// Every set the planner makes for a topology protects.
	for _, topo := range [][]Drive{three, six, topology(4, 1, 2), topology(3, 3, 2), topology(2, 1, 2), topology(1, 3, 2)} {
		fams, err := Plan(topo)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range fams[0].Sets {
			if !Protects(topo, fams[0].Geometry, s.K, s.M, s.Drives) {
				t.Errorf("the planner's set %v of %d drives does not protect", s.Drives, len(topo))
			}
		}
	}
}
