package node

// Drives with identity. Every drive carries a format file naming its
// cluster, node and index (shardstore.Format). A node checks its drives in
// two steps, because its cluster id lives in the metadata:
//
//  1. Before anything is created (CheckDrives, called by cmd/kcs before it
//     opens anything in --meta-dir, and again by Start before the metadata
//     store opens): every listed path exists and is a directory — a node
//     with state creates no drive directories, for a missing one is a disk
//     not mounted or a mistyped path, and an empty directory made there
//     would put shards on the root file system; each format file names
//     this node, at the index --drives lists it; and a node without
//     metadata (new, or its metadata drive missing) has no drive that
//     belonged to a cluster: starting such a node new (--bootstrap) would
//     make a new cluster adopt the old one's drives and its orphan scan
//     delete their shards as unreferenced.
//  2. Once the metadata is open (openDrives, before the node serves RPC),
//     against the node's record: every recorded drive is listed (none left
//     out: the topology would silently shrink), an empty one where the
//     record has a drive is accepted only by --replace-drive, a drive
//     beyond the record only by --add-drive, and none names another
//     cluster. Then empty drives are formatted, and once the cluster id is
//     known (at once on a restart, after bootstrap or join for a new node)
//     every drive is stamped with it, which adopts format-1 drives.
//
// A replaced drive comes back empty under its old id: the erasure sets do
// not change, and a scrub pass started at once finds its shards missing and
// has them rebuilt from the other drives.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/kommunal-cloud/kcs/node/fsutil"
	"github.com/kommunal-cloud/kcs/node/meta"
	"github.com/kommunal-cloud/kcs/node/shardstore"
)

// listedDrive is what the start-up check learned of one --drives entry.
type listedDrive struct {
	index   int
	id      string // <node>/<index>
	path    string // absolute
	exists  bool
	format  *shardstore.Format // nil: unformatted (empty, new, or a mount point without its disk)
	replace bool               // named by --replace-drive
	add     bool               // named by --add-drive
}

func (d *listedDrive) String() string { return fmt.Sprintf("%s (%s)", d.path, d.id) }

// drivePlan is the outcome of the first step.
type drivePlan struct {
	drives []*listedDrive
	// hasState: the metadata directory holds this node's Raft state, so
	// the node was started before and its drives are known to the cluster.
	hasState bool
}

// CheckDrives is the first step of the drive checks (see above): it reads,
// and creates nothing. cmd/kcs calls it before it opens anything in the
// metadata directory, whose default lies on the first drive.
func CheckDrives(cfg Config) error {
	_, err := inspectDrives(cfg)
	return err
}

// metaHasState reports whether dir holds Raft state: the files
// meta.OpenStore creates (the Raft log and the metadata database). A node
// that made them but never entered a cluster counts as having state: it
// then gets no drive directories made up either, and step 2 treats it as
// new (it has no record).
func metaHasState(dir string) bool {
	for _, f := range []string{"raft.db", "fsm.db"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	return false
}

// formattedDrives returns the paths among paths that hold a drive format
// file (of any version, readable or not): drives that belonged, or belong,
// to a node.
func formattedDrives(paths []string) []string {
	var out []string
	for _, p := range paths {
		if _, err := os.Stat(filepath.Join(p, shardstore.FormatFile)); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// driveIndex resolves a --replace-drive or --add-drive entry: a path as
// --drives lists it (or the same path written otherwise), or a drive id
// "<node>/<index>".
func driveIndex(cfg Config, spec string, abs []string) (int, bool) {
	spec = strings.TrimSpace(spec)
	for i, p := range cfg.Drives {
		if spec == p || spec == cfg.ID+"/"+strconv.Itoa(i) {
			return i, true
		}
	}
	if a, err := filepath.Abs(spec); err == nil {
		for i := range abs {
			if a == abs[i] {
				return i, true
			}
		}
	}
	return 0, false
}

// refusal is the error of a refused start: every problem found, each with
// what to do.
func refusal(problems []string) error {
	if len(problems) == 1 {
		return fmt.Errorf("node: refusing to start: %s", problems[0])
	}
	return fmt.Errorf("node: refusing to start:\n  - %s", strings.Join(problems, "\n  - "))
}

// inspectDrives is the first step: it checks the listed drives against
// their format files and the metadata directory's presence, and returns
// what it found. It writes nothing.
func inspectDrives(cfg Config) (*drivePlan, error) {
	plan := &drivePlan{hasState: metaHasState(cfg.MetaDir)}
	var problems []string
	abs := make([]string, len(cfg.Drives))
	seen := map[string]int{}
	for i, p := range cfg.Drives {
		a, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("node: drive %s: %w", p, err)
		}
		abs[i] = a
		if j, dup := seen[a]; dup {
			problems = append(problems, fmt.Sprintf("--drives lists %s twice (drives %d and %d)", p, j, i))
		}
		seen[a] = i
	}
	for i := range cfg.Drives {
		d := &listedDrive{index: i, id: cfg.ID + "/" + strconv.Itoa(i), path: abs[i]}
		plan.drives = append(plan.drives, d)
		st, err := os.Stat(d.path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			if plan.hasState {
				problems = append(problems, fmt.Sprintf("drive %s does not exist. Is its disk mounted? A node that has started before creates no drive directories (an empty directory there would put shards on the file system below the mount point). "+
					"Mount the disk and start again; if the disk was replaced, mount the new, empty one there and start with --replace-drive %s", d, cfg.Drives[i]))
			}
			// A new node creates its drive directories (openDrives),
			// unless other drives show it is not new (below).
			continue
		case err != nil:
			problems = append(problems, fmt.Sprintf("drive %s: %v", d, err))
			continue
		case !st.IsDir():
			problems = append(problems, fmt.Sprintf("drive %s is not a directory", d))
			continue
		}
		d.exists = true
		f, err := shardstore.ReadFormat(d.path)
		switch {
		case errors.Is(err, shardstore.ErrNoFormat):
			continue
		case err != nil:
			problems = append(problems, fmt.Sprintf("drive %s: %v", d, err))
			continue
		}
		d.format = f
		switch {
		case f.Node != cfg.ID:
			problems = append(problems, fmt.Sprintf("drive %s is drive %s of node %s%s, not of this node (%s): was it put into the wrong server, or is --drives mistyped? "+
				"kcs will not write to another node's drive. If that node and its data are gone for good and the disk is to be reused here, empty it first", d, f.Drive, f.Node, ofCluster(f), cfg.ID))
		case f.Drive != d.id:
			problems = append(problems, fmt.Sprintf("drive %s is this node's drive %s, not %s: list the drives in --drives in the order they had at the node's first start", d, f.Drive, d.id))
		}
	}
	for _, x := range []struct {
		flag  string
		specs []string
		set   func(*listedDrive)
	}{
		{"--replace-drive", cfg.ReplaceDrives, func(d *listedDrive) { d.replace = true }},
		{"--add-drive", cfg.AddDrives, func(d *listedDrive) { d.add = true }},
	} {
		for _, spec := range x.specs {
			i, ok := driveIndex(cfg, spec, abs)
			if !ok {
				problems = append(problems, fmt.Sprintf("%s %s is not one of --drives: name a drive by its path as --drives lists it, or by its id (%s/<index>)", x.flag, spec, cfg.ID))
				continue
			}
			if !plan.hasState {
				problems = append(problems, fmt.Sprintf("%s %s: this node has no state in %s yet, and a new node formats all its empty drives itself: start without %s", x.flag, spec, cfg.MetaDir, x.flag))
				continue
			}
			x.set(plan.drives[i])
		}
	}
	if !plan.hasState {
		// A new node, or one whose metadata directory is missing: no
		// drive of it may have belonged to a cluster.
		if p := plan.claimed(cfg); p != "" {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		return nil, refusal(problems)
	}
	return plan, nil
}

// claimed is the refusal of a node without metadata whose drives belonged
// to a cluster ("" if none did). Drives of this node formatted at a first
// start that got into no cluster (format 2 without a cluster id) hold no
// shards and do not count.
func (plan *drivePlan) claimed(cfg Config) string {
	metaAbs, _ := filepath.Abs(cfg.MetaDir)
	metaAbs = filepath.Clean(metaAbs)
	paths := make([]string, len(plan.drives))
	byPath := map[string]*listedDrive{}
	for i, d := range plan.drives {
		paths[i], byPath[d.path] = d.path, d
	}
	var owned, missing []string
	for _, p := range formattedDrives(paths) {
		d := byPath[p]
		if d.format == nil || d.format.Node != cfg.ID || d.format.Drive != d.id || d.format.Version == shardstore.FormatVersion && d.format.Cluster == "" {
			continue // refused for what it is, or this node's own
		}
		owned = append(owned, fmt.Sprintf("%s is drive %s of node %s%s", d.path, d.format.Drive, d.format.Node, ofCluster(d.format)))
	}
	if len(owned) == 0 {
		return ""
	}
	for _, d := range plan.drives {
		if !d.exists {
			what := "does not exist"
			if metaAbs == d.path || strings.HasPrefix(metaAbs, d.path+string(filepath.Separator)) {
				what = "holds the metadata directory and does not exist"
			}
			missing = append(missing, fmt.Sprintf(" Drive %s %s.", d, what))
		}
	}
	return fmt.Sprintf("this node has no metadata at %s (no Raft state there), but its drives are formatted: %s.%s Is the disk holding %s mounted? "+
		"kcs will not start a node whose drives are formatted as a new node: a new cluster would take over the old one's drives and delete their shards. "+
		"Mount what is missing and start again; if this node's metadata is lost for good, its drives can be reused only emptied",
		cfg.MetaDir, strings.Join(owned, "; "), strings.Join(missing, ""), cfg.MetaDir)
}

func ofCluster(f *shardstore.Format) string {
	switch {
	case f.Version == 1:
		return " (format 1, from before drives recorded their cluster)"
	case f.Cluster == "":
		return " (not yet in a cluster)"
	}
	return " of cluster " + f.Cluster
}

// openDrives is the second step, once the metadata store is open and
// before the node serves anything: it checks the drives against the
// node's record in the local metadata, formats the empty drives it
// accepts, opens every drive and stamps them with the cluster id where
// the local metadata has it. It returns the ids of drives accepted as
// replacements (to be refilled). On a refusal it has written nothing.
func (n *Node) openDrives(plan *drivePlan) (replaced []string, err error) {
	var cluster string
	var rec *meta.Node
	n.store.FSM.View(func(r *meta.Reader) error {
		if c, ok, _ := r.Cluster(); ok {
			cluster = c.ID
		}
		if x, ok, _ := r.Node(n.cfg.ID); ok {
			rec = x
		}
		return nil
	})
	var problems []string
	if raftState, err := n.store.HasState(); err != nil {
		return nil, err
	} else if !raftState {
		// The metadata files exist, but hold no Raft state (a first start
		// that got into no cluster): still a new node, and the same rule
		// holds, so that no start with a cluster's drives reaches the
		// advice to bootstrap.
		if p := plan.claimed(n.cfg); p != "" {
			problems = append(problems, p)
		}
	}
	var format []*listedDrive // to format, once nothing is refused
	if rec != nil && len(plan.drives) < len(rec.Drives) {
		var left []string
		for _, d := range rec.Drives[len(plan.drives):] {
			left = append(left, fmt.Sprintf("%s (%s)", d.Path, d.ID))
		}
		problems = append(problems, fmt.Sprintf("this node has %d drives in the cluster's metadata, but --drives lists %d: %s left out. kcs cannot take a drive out of a node (the erasure sets holding its shards would lose it): list it again, in its place",
			len(rec.Drives), len(plan.drives), strings.Join(left, ", ")))
	}
	for _, d := range plan.drives {
		recorded := rec != nil && d.index < len(rec.Drives)
		switch {
		case d.format != nil:
			if d.format.Cluster != "" && cluster != "" && d.format.Cluster != cluster {
				problems = append(problems, fmt.Sprintf("drive %s belongs to cluster %s, but this node is a member of cluster %s: it is another cluster's disk, and kcs will neither use it nor touch its shards. "+
					"Put it back where it belongs; if it is to be reused here, empty it and start with --replace-drive %s", d, d.format.Cluster, cluster, n.cfg.Drives[d.index]))
			}
			if d.replace || d.add {
				n.log.Warn("--replace-drive or --add-drive names a drive that is formatted already: nothing to do; remove the flag", "drive", d.id, "path", d.path)
			}
		case rec == nil:
			// A new node (or one that never got into a cluster): it
			// formats its drives, creating the directories it needs.
			format = append(format, d)
		case recorded && d.replace:
			format = append(format, d)
			replaced = append(replaced, d.id)
		case recorded:
			problems = append(problems, fmt.Sprintf("drive %s is empty (no %s), but this node's record in the cluster has it as drive %s. Is its disk mounted? kcs will not take an empty directory for a drive that held shards. "+
				"If the disk was replaced by a new, empty one, start with --replace-drive %s: it is then formatted, and a scrub pass rebuilds its shards from the other drives",
				d, shardstore.FormatFile, d.id, n.cfg.Drives[d.index]))
		case d.add:
			format = append(format, d)
		default:
			problems = append(problems, fmt.Sprintf("drive %s is new: this node's record in the cluster has %d drives. New drives join only when asked: start with --add-drive %s to add it (new objects are then spread over it too); if the path is a mistake, correct --drives",
				d, len(rec.Drives), n.cfg.Drives[d.index]))
		}
	}
	if len(problems) > 0 {
		return nil, refusal(problems)
	}
	now := n.now()
	for _, d := range format {
		if !d.exists {
			n.log.Info("creating the drive directory of a new node", "drive", d.id, "path", d.path)
			if err := fsutil.MkdirAll(d.path, 0o700); err != nil {
				return nil, fmt.Errorf("node: drive %s: %w", d, err)
			}
		}
		if err := shardstore.WriteFormat(d.path, shardstore.Format{Cluster: cluster, Node: n.cfg.ID, Drive: d.id, Created: now.UTC()}); err != nil {
			return nil, fmt.Errorf("node: formatting drive %s: %w", d, err)
		}
		switch {
		case d.replace:
			n.log.Warn("replaced drive accepted and formatted; a scrub pass refills it; remove --replace-drive from the settings", "drive", d.id, "path", d.path)
		case d.add:
			n.log.Warn("new drive added; remove --add-drive from the settings", "drive", d.id, "path", d.path)
		default:
			n.log.Info("drive formatted", "drive", d.id, "path", d.path)
		}
		if (d.replace || d.add) && !isMountPoint(d.path) {
			n.log.Warn("the drive accepted is no mount point (it is on the file system of its parent directory): if a disk should be mounted there, it is not", "drive", d.id, "path", d.path)
		}
	}
	for _, d := range plan.drives {
		sd, err := shardstore.Open(d.path, d.id, n.cfg.ID)
		if err != nil {
			return nil, fmt.Errorf("node: drive %s: %w", d, err)
		}
		n.drives[d.id] = sd
	}
	if cluster != "" {
		if err := n.stampDrives(cluster); err != nil {
			return nil, err
		}
	}
	return replaced, nil
}

// stampDrives records the cluster id in every drive's format (see
// shardstore.Drive.Stamp), adopting drives of format 1.
func (n *Node) stampDrives(cluster string) error {
	for _, d := range n.drives {
		was, err := d.Stamp(cluster, n.now())
		if err != nil {
			return fmt.Errorf("node: refusing to start: drive %s (%s): %w", d.Path, d.ID, err)
		}
		if was == 1 {
			n.log.Info("drive adopted: format 1 rewritten as format 2 with the cluster id", "drive", d.ID, "path", d.Path, "cluster", cluster)
		}
	}
	return nil
}

// clusterID returns the cluster id as this node's metadata has it ("" if
// it has none yet).
func (n *Node) clusterID() string {
	var id string
	n.store.FSM.View(func(r *meta.Reader) error {
		if c, ok, _ := r.Cluster(); ok {
			id = c.ID
		}
		return nil
	})
	return id
}

// isMountPoint reports whether path is on another file system than its
// parent directory (true where it cannot tell).
func isMountPoint(path string) bool {
	st, err1 := os.Stat(path)
	pst, err2 := os.Stat(filepath.Dir(path))
	if err1 != nil || err2 != nil {
		return true
	}
	a, ok1 := st.Sys().(*syscall.Stat_t)
	b, ok2 := pst.Sys().(*syscall.Stat_t)
	if !ok1 || !ok2 {
		return true
	}
	return a.Dev != b.Dev
}

// refill has the scrub start a whole pass as soon as the node runs, so
// that drives accepted as replacements (empty under their old ids) get
// their shards back: the pass finds each missing and the repairer
// rebuilds it from the other drives. A pass cut short by the last stop
// would resume at its cursor and miss what lies before it, so it starts
// over. Called before the scrub's loop starts.
func (n *Node) refill(drives []string) {
	s := n.loadScrubState()
	s.Cursor = nil
	n.saveScrubState(s)
	poke(n.scrubNow)
	n.log.Warn("a scrub pass starts now to refill the replaced drives from the others", "drives", strings.Join(drives, ","))
}
