package placement

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// topo builds sites × nodes × drives, named site-a/n0/d0 style.
func topo(sites, nodesPerSite, drivesPerNode int) []Drive {
	var ds []Drive
	for s := range sites {
		site := fmt.Sprintf("site-%c", 'a'+s)
		for n := range nodesPerSite {
			node := fmt.Sprintf("%s-n%d", site, n)
			for d := range drivesPerNode {
				ds = append(ds, Drive{ID: fmt.Sprintf("%s/%d", node, d), Node: node, Site: site})
			}
		}
	}
	return ds
}

func checkFamily(t *testing.T, f Family, drives []Drive, wantAll bool) {
	t.Helper()
	info := map[string]Drive{}
	for _, d := range drives {
		info[d.ID] = d
	}
	inFamily := map[string]bool{}
	for _, s := range f.Sites {
		inFamily[s] = true
	}
	used := map[string]bool{}
	for i, set := range f.Sets {
		if len(set.Drives) != set.K+set.M || set.Geometry != f.Geometry {
			t.Fatalf("set %d: %v holds %d drives", i, set.Geometry, len(set.Drives))
		}
		seen := map[string]bool{}
		perSite := map[string]int{}
		perNode := map[string]int{}
		for _, id := range set.Drives {
			d, ok := info[id]
			if !ok || seen[id] {
				t.Fatalf("set %d: drive %q unknown or repeated: %v", i, id, set.Drives)
			}
			if !inFamily[d.Site] {
				t.Fatalf("set %d: drive %q of site %s outside the family %v", i, id, d.Site, f.Sites)
			}
			seen[id] = true
			used[id] = true
			perSite[d.Site]++
			perNode[d.Node]++
		}
		if len(f.Sites) > 1 {
			for s, n := range perSite {
				if n > set.M {
					t.Fatalf("set %d: site %s holds %d shards of RS(%d,%d): losing it would lose data", i, s, n, set.K, set.M)
				}
			}
		}
		// Distinct nodes wherever a site has enough nodes for its shards.
		nodesInSite := map[string]map[string]bool{}
		for _, d := range drives {
			if nodesInSite[d.Site] == nil {
				nodesInSite[d.Site] = map[string]bool{}
			}
			nodesInSite[d.Site][d.Node] = true
		}
		for node, n := range perNode {
			site := strings.SplitN(node, "-n", 2)[0]
			if n > 1 && len(nodesInSite[site]) >= perSite[site] {
				t.Fatalf("set %d: node %s holds %d shards although its site has %d nodes", i, node, n, len(nodesInSite[site]))
			}
		}
	}
	if wantAll {
		for _, d := range drives {
			if inFamily[d.Site] && !used[d.ID] {
				t.Fatalf("drive %s is in no set", d.ID)
			}
		}
	}
}

func TestPlan(t *testing.T) {
	cases := []struct {
		name              string
		sites, nodes, drv int
		full              Geometry
		degraded          Geometry
	}{
		{"three sites, one node, two drives (kcs dev)", 3, 1, 2, Geometry{4, 2}, Geometry{2, 2}},
		{"three sites, three nodes, four drives", 3, 3, 4, Geometry{4, 2}, Geometry{2, 2}},
		{"four sites", 4, 2, 2, Geometry{4, 2}, Geometry{4, 2}},
		{"five sites, one drive each", 5, 1, 1, Geometry{2, 2}, Geometry{2, 2}},
		{"six sites", 6, 1, 3, Geometry{4, 2}, Geometry{4, 2}},
		{"two sites", 2, 2, 2, Geometry{2, 2}, Geometry{2, 2}},
		{"two sites, one drive each", 2, 1, 1, Geometry{1, 1}, Geometry{1, 0}},
		{"one site, six nodes", 1, 6, 1, Geometry{4, 2}, Geometry{}},
		{"one site, one node, two drives", 1, 1, 2, Geometry{1, 1}, Geometry{}},
		{"one site, one drive", 1, 1, 1, Geometry{1, 0}, Geometry{}},
		{"three sites, one drive each", 3, 1, 1, Geometry{2, 1}, Geometry{1, 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			drives := topo(c.sites, c.nodes, c.drv)
			fams, err := Plan(drives)
			if err != nil {
				t.Fatal(err)
			}
			if fams[0].Geometry != c.full || len(fams[0].Sites) != c.sites {
				t.Fatalf("full family %v over %v, want %v over %d sites", fams[0].Geometry, fams[0].Sites, c.full, c.sites)
			}
			checkFamily(t, fams[0], drives, true)
			if c.sites == 1 {
				if len(fams) != 1 {
					t.Fatalf("one site: %d families", len(fams))
				}
				return
			}
			if len(fams) != 1+c.sites {
				t.Fatalf("%d families, want the full one and %d degraded", len(fams), c.sites)
			}
			for _, f := range fams[1:] {
				if len(f.Sites) != c.sites-1 {
					t.Fatalf("degraded family over %v", f.Sites)
				}
				if f.Geometry != c.degraded {
					t.Fatalf("degraded family %v, want %v", f.Geometry, c.degraded)
				}
				checkFamily(t, f, drives, true)
			}
		})
	}
}

func TestPlanIsDeterministic(t *testing.T) {
	drives := topo(3, 3, 3)
	want, _ := Plan(drives)
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		shuffled := append([]Drive(nil), drives...)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		got, _ := Plan(shuffled)
		if !reflect.DeepEqual(got, want) {
			t.Fatal("plan depends on the order of its input")
		}
	}
}

// The default three-site development topology, pinned: every node's FSM must
// compute exactly this, and a change here moves new objects.
func TestDevTopologyLayout(t *testing.T) {
	fams, err := Plan(topo(3, 1, 2))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fams {
		for _, s := range f.Sets {
			got = append(got, fmt.Sprintf("%v %v: %s", f.Sites, s.Geometry, strings.Join(s.Drives, " ")))
		}
	}
	want := []string{
		"[site-a site-b site-c] RS(4,2): site-a-n0/0 site-b-n0/0 site-c-n0/0 site-a-n0/1 site-b-n0/1 site-c-n0/1",
		"[site-a site-b site-c] RS(4,2): site-b-n0/0 site-c-n0/0 site-a-n0/0 site-b-n0/1 site-c-n0/1 site-a-n0/1",
		"[site-a site-b site-c] RS(4,2): site-c-n0/0 site-a-n0/0 site-b-n0/0 site-c-n0/1 site-a-n0/1 site-b-n0/1",
		"[site-b site-c] RS(2,2): site-b-n0/0 site-c-n0/0 site-b-n0/1 site-c-n0/1",
		"[site-b site-c] RS(2,2): site-c-n0/0 site-b-n0/0 site-c-n0/1 site-b-n0/1",
		"[site-a site-c] RS(2,2): site-a-n0/0 site-c-n0/0 site-a-n0/1 site-c-n0/1",
		"[site-a site-c] RS(2,2): site-c-n0/0 site-a-n0/0 site-c-n0/1 site-a-n0/1",
		"[site-a site-b] RS(2,2): site-a-n0/0 site-b-n0/0 site-a-n0/1 site-b-n0/1",
		"[site-a site-b] RS(2,2): site-b-n0/0 site-a-n0/0 site-b-n0/1 site-a-n0/1",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("layout:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestNoDrives(t *testing.T) {
	if _, err := Plan(nil); err == nil {
		t.Fatal("empty topology planned")
	}
}
