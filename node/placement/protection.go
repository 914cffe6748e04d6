package placement

// Protects reports whether a stream of geometry k+m whose shard i lives on
// drives[i] has the protection the topology promises (the README's
// placement rules): the full family's geometry, every shard on a distinct
// drive of the topology, at most m shards in any one site when there are
// several sites, and shards on distinct nodes where the topology has at
// least k+m nodes. Streams written while a site was down (a degraded
// family's geometry), streams with a shard on a drive that left the
// topology (drained, removed), and streams of a geometry an older topology
// chose fail it; the cluster re-codes them onto a set of the full family.
//
// A set the planner chose for the full family is always accepted by the
// caller, whatever this says (see meta's fullSets): the planner is the
// promise for the current topology, and a set it hands out for new
// writes must never count as below it.
func Protects(topology []Drive, full Geometry, k, m int, drives []string) bool {
	if k != full.K || m != full.M || len(drives) != k+m {
		return false
	}
	byID := make(map[string]Drive, len(topology))
	nodes := map[string]bool{}
	sites := map[string]bool{}
	for _, d := range topology {
		byID[d.ID] = d
		nodes[d.Node] = true
		sites[d.Site] = true
	}
	seen := map[string]bool{}
	perSite := map[string]int{}
	perNode := map[string]int{}
	for _, id := range drives {
		d, ok := byID[id]
		if !ok || seen[id] {
			return false
		}
		seen[id] = true
		perSite[d.Site]++
		perNode[d.Node]++
	}
	if len(sites) > 1 {
		for _, n := range perSite {
			if n > m {
				return false
			}
		}
	}
	if len(nodes) >= k+m {
		for _, n := range perNode {
			if n > 1 {
				return false
			}
		}
	}
	return true
}
