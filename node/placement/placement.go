// Package placement decides where an object's shards go: which erasure
// geometry a topology of sites, nodes and drives can hold with the promise
// that losing one whole site loses nothing, and which groups of drives (erasure
// sets) shards are written to. It is a pure function of the topology, so that
// every node's FSM computes the same layout from the same Raft log.
package placement

import (
	"errors"
	"fmt"
	"slices"
	"sort"
)

// Drive is one drive of the topology.
type Drive struct {
	ID   string // unique in the cluster, e.g. "node1/0"
	Node string
	Site string
}

// Geometry is a Reed-Solomon code: K data and M parity shards.
type Geometry struct{ K, M int }

func (g Geometry) String() string { return fmt.Sprintf("RS(%d,%d)", g.K, g.M) }

// Set is an erasure set: shard i of an object in the set goes to Drives[i].
type Set struct {
	Geometry
	Drives []string
}

// Family is the sets used while a given group of sites is up. The full
// family spans every site; a degraded family leaves one site out and is used
// for new objects while that site is down.
type Family struct {
	Sites []string // sorted
	Geometry
	Sets []Set
}

// ErrNoGeometry is returned when no rule serves the topology (no drives).
var ErrNoGeometry = errors.New("placement: no geometry fits this topology")

// Candidates, in order of preference. With two or more sites a site may hold
// at most M shards of an object, so losing a site loses at most M: three or
// more sites with two drives each hold RS(4,2) (two shards per site; 1.5×
// overhead); two sites hold RS(2,2) (two per site; 2×); sites with a single
// drive fall back to one shard per site. One site alone has no site to lose:
// its objects spread over distinct drives (distinct nodes where there are
// enough) and survive the loss of M drives or nodes.
var (
	multiSite  = []Geometry{{4, 2}, {2, 2}, {2, 1}, {1, 1}}
	singleSite = []Geometry{{4, 2}, {2, 2}, {2, 1}, {1, 1}, {1, 0}}
)

// maxSets bounds how many sets one family has; enough to spread load over
// thousands of drives.
const maxSets = 4096

// Plan returns the full family over all sites and, when there are two or
// more sites, one degraded family for each site left out.
func Plan(drives []Drive) ([]Family, error) {
	bySite := groupBySite(drives)
	sites := sortedKeys(bySite)
	full, err := plan(sites, bySite)
	if err != nil {
		return nil, err
	}
	fams := []Family{full}
	if len(sites) >= 2 {
		for _, down := range sites {
			rest := slices.DeleteFunc(slices.Clone(sites), func(s string) bool { return s == down })
			f, err := plan(rest, bySite)
			if err != nil {
				continue // no geometry without this site: writes wait for it
			}
			fams = append(fams, f)
		}
	}
	return fams, nil
}

// Choose returns the geometry for the given sites and their drive counts.
func Choose(sites []string, drivesPerSite map[string]int) (Geometry, error) {
	cands := multiSite
	if len(sites) == 1 {
		cands = singleSite
	}
	for _, g := range cands {
		if capacity(g, sites, drivesPerSite) >= g.K+g.M {
			return g, nil
		}
	}
	return Geometry{}, fmt.Errorf("%w: sites %v with drives %v", ErrNoGeometry, sites, drivesPerSite)
}

// capacity is how many shards of one object the sites can hold: each site
// at most M (when there are several sites) and at most one per drive.
func capacity(g Geometry, sites []string, drivesPerSite map[string]int) int {
	n := 0
	for _, s := range sites {
		c := drivesPerSite[s]
		if len(sites) > 1 {
			c = min(c, g.M)
		}
		n += c
	}
	return n
}

func plan(sites []string, bySite map[string][]Drive) (Family, error) {
	counts := map[string]int{}
	order := map[string][]string{}
	for _, s := range sites {
		order[s] = interleave(bySite[s])
		counts[s] = len(order[s])
	}
	g, err := Choose(sites, counts)
	if err != nil {
		return Family{}, err
	}
	f := Family{Sites: slices.Clone(sites), Geometry: g}
	cursor := map[string]int{}
	used := map[string]bool{}
	total := 0
	for _, s := range sites {
		total += counts[s]
	}
	for j := 0; j < maxSets; j++ {
		f.Sets = append(f.Sets, Set{Geometry: g, Drives: nextSet(g, sites, j, counts, order, cursor, used)})
		if len(used) == total && j+1 >= len(sites) {
			break
		}
	}
	return f, nil
}

// nextSet allocates the shards of set j: sites take turns, starting at a
// site that rotates with j, one shard per turn while they have room (at most
// M per site when there are several), and each site hands out its drives in
// an order that alternates between its nodes.
func nextSet(g Geometry, sites []string, j int, counts map[string]int, order map[string][]string, cursor map[string]int, used map[string]bool) []string {
	n := g.K + g.M
	room := map[string]int{}
	for _, s := range sites {
		room[s] = counts[s]
		if len(sites) > 1 {
			room[s] = min(room[s], g.M)
		}
	}
	taken := map[string]int{}
	var out []string
	for len(out) < n {
		progress := false
		for i := range sites {
			s := sites[(i+j)%len(sites)]
			if len(out) == n || taken[s] >= room[s] {
				continue
			}
			d := order[s][cursor[s]%counts[s]]
			cursor[s]++
			taken[s]++
			used[d] = true
			out = append(out, d)
			progress = true
		}
		if !progress {
			break // cannot happen: Choose checked the capacity
		}
	}
	return out
}

// interleave orders a site's drives so that consecutive drives sit on
// different nodes: the first drive of every node, then the second, and so on.
func interleave(drives []Drive) []string {
	byNode := map[string][]string{}
	for _, d := range drives {
		byNode[d.Node] = append(byNode[d.Node], d.ID)
	}
	nodes := sortedKeys(byNode)
	for _, n := range nodes {
		sort.Strings(byNode[n])
	}
	var out []string
	for r := 0; ; r++ {
		added := false
		for _, n := range nodes {
			if r < len(byNode[n]) {
				out = append(out, byNode[n][r])
				added = true
			}
		}
		if !added {
			return out
		}
	}
}

func groupBySite(drives []Drive) map[string][]Drive {
	m := map[string][]Drive{}
	for _, d := range drives {
		m[d.Site] = append(m[d.Site], d)
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
