package main

// kcs meta: offline work on a stopped node's metadata directory, for
// disaster recovery (README: Operations: backup and disaster recovery).

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kommunal-cloud/kcs/node"
)

func newMetaCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "meta",
		Short: "Disaster recovery on a stopped node's metadata: inspect, recover after losing the Raft majority, restore a backup",
		Long: `Work on the metadata directory (--meta-dir) of a node that is stopped: these
commands take the files' locks and refuse to run beside a kcs server on the same
directory. See README, "Operations: backup and disaster recovery", before using
recover or restore: both decide what the cluster's metadata will be from now on.`,
	}
	cmd.AddCommand(newMetaInspectCmd(), newMetaRecoverCmd(), newMetaRestoreCmd())
	return cmd
}

// parsePeers reads --peers: id=raft-address,… .
func parsePeers(specs []string) ([]node.RaftPeer, error) {
	var out []node.RaftPeer
	for _, s := range specs {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		id, addr, ok := strings.Cut(s, "=")
		if !ok || id == "" || addr == "" {
			return nil, fmt.Errorf("--peers %q: give each member as ID=RAFT_ADDRESS (e.g. n2=10.2.0.11:7000)", s)
		}
		out = append(out, node.RaftPeer{ID: id, RaftAddr: addr})
	}
	return out, nil
}

func peerList(ps []node.RaftPeer) string {
	var out []string
	for _, p := range ps {
		out = append(out, p.ID+"="+p.RaftAddr)
	}
	if len(out) == 0 {
		return "-"
	}
	return strings.Join(out, ", ")
}

func printRaftState(w io.Writer, st *node.RaftState) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "cluster\t%s\n", st.Cluster)
	fmt.Fprintf(tw, "last log entry\t%d (term %d)\n", st.LastIndex, st.LastTerm)
	fmt.Fprintf(tw, "metadata applied\t%d\n", st.Applied)
	fmt.Fprintf(tw, "Raft voters\t%s\n", peerList(st.Voters))
	if len(st.NonVoters) > 0 {
		fmt.Fprintf(tw, "Raft non-voters\t%s\n", peerList(st.NonVoters))
	}
	var nodes []string
	for _, n := range st.Nodes {
		nodes = append(nodes, fmt.Sprintf("%s (site %s, %d drives)", n.ID, n.Site, len(n.Drives)))
	}
	fmt.Fprintf(tw, "nodes recorded\t%s\n", strings.Join(nodes, ", "))
	tw.Flush()
}

func newMetaInspectCmd() *cobra.Command {
	var dir string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect --meta-dir DIR",
		Short: "Show a stopped node's Raft state: its last log entry, the voters it knows, the nodes its metadata records",
		Long: `Show what a stopped node's metadata directory holds. Before a recovery, run it on every
surviving member: the one with the highest last log entry (term first, then index) has the
most of what was committed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return errors.New("--meta-dir is required")
			}
			st, err := node.InspectMeta(dir, nil)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(st)
			}
			printRaftState(cmd.OutOrStdout(), st)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "meta-dir", "", "the node's metadata directory (kcs server's --meta-dir; by default <first drive>/.kcs-meta)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	annotateEnv(cmd)
	return cmd
}

func newMetaRecoverCmd() *cobra.Command {
	var dir, id, raftAddr, logLevel string
	var peers []string
	var yes bool
	cmd := &cobra.Command{
		Use:   "recover --meta-dir DIR --id ID [--raft-addr ADDR] [--peers ID=ADDR,…] --yes",
		Short: "After losing the Raft majority for good: make the surviving member(s) a cluster of their own",
		Long: `Recover a cluster whose Raft majority is lost for good (two of three sites destroyed),
from a surviving member, with hashicorp/raft's RecoverCluster. Run it on the stopped
survivor: every entry of its Raft log is applied to its metadata, committed or not, and
its Raft configuration becomes this node alone (or with --peers, this node and the other
survivors, each recovered with the same list). Then start the node as before, on the
same --raft-addr: it forms the cluster, and new nodes join it with --join.

Risks (README: Operations: backup and disaster recovery): writes acknowledged by the
lost majority that had not reached this member are lost, and entries this member had
but the others had not committed become committed. Never recover on more than one side
of a split: two sides recovered separately would each go on as the cluster, and their
metadata would fork for good.

Without --yes it only shows what it would do.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(logLevel, logFormatText)
			if err != nil {
				return err
			}
			if dir == "" || id == "" {
				return errors.New("--meta-dir and --id are required")
			}
			others, err := parsePeers(peers)
			if err != nil {
				return err
			}
			before, err := node.InspectMeta(dir, log)
			if err != nil {
				return err
			}
			if raftAddr == "" {
				for _, n := range before.Nodes {
					if n.ID == id {
						raftAddr = n.RaftAddr
					}
				}
				if raftAddr == "" {
					return fmt.Errorf("the metadata in %s records no node %s: give --raft-addr", dir, id)
				}
			}
			members := append([]node.RaftPeer{{ID: id, RaftAddr: raftAddr}}, others...)
			out := cmd.OutOrStdout()
			printRaftState(out, before)
			fmt.Fprintf(out, "\nnew Raft configuration: %s (voters)\n", peerList(members))
			if !yes {
				fmt.Fprintln(out, "\nNothing changed. Check that the lost members are gone for good and that no other side recovers, then run again with --yes.")
				return nil
			}
			_, after, err := node.RecoverMeta(dir, id, members, log)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "\nrecovered: the metadata holds log entry %d (term %d); Raft voters now %s\n", after.Applied, after.LastTerm, peerList(after.Voters))
			fmt.Fprintf(out, "Start the node on --raft-addr %s. Then run kcs admin meta loss-report, and let new nodes join.\n", raftAddr)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "meta-dir", "", "the stopped node's metadata directory (kcs server's --meta-dir)")
	f.StringVar(&id, "id", "", "the node's id (kcs server's --id)")
	f.StringVar(&raftAddr, "raft-addr", "", "the Raft address the node will be started on (default: the one its record holds)")
	f.StringSliceVar(&peers, "peers", nil, "the other surviving members to keep, as ID=RAFT_ADDRESS,… (each recovered with the same list); default none: this node alone")
	f.BoolVar(&yes, "yes", false, "do it (without: show what would be done)")
	f.StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error")
	annotateEnv(cmd)
	return cmd
}

func newMetaRestoreCmd() *cobra.Command {
	var dir, id, raftAddr, masterFile, oldMasterFile, logLevel string
	var peers []string
	var allowOpenSecrets bool
	cmd := &cobra.Command{
		Use:   "restore BACKUP --meta-dir DIR --id ID --raft-addr ADDR [--peers ID=ADDR,…]",
		Short: "Make a node of a new cluster from a metadata backup (kcs admin meta backup)",
		Long: `Restore a metadata backup into the empty metadata directory of a node of a new cluster
that is given the old cluster's drives. The new cluster's nodes take the old nodes' ids
(and sites) and each gets its old drives, listed in --drives in the same order; run this
on every one of them with the same --peers (every node of the new cluster but this one,
as ID=RAFT_ADDRESS), then start them all as restarted nodes (no --bootstrap, no --join).
They elect a leader and go on from the backup; each tells the others its new addresses.

The backup is sealed under the master key that was the cluster's when it was taken: give
it (--master-key-file or KCS_MASTER_KEY; an older one with --old-master-key-file).

What comes back is the metadata as it was when the backup was taken: objects written
since then are lost (their shards are deleted as orphans an hour after the start),
objects deleted since then come back if their shards are still there, and tenants
deleted since then come back with their keys. Run kcs admin meta loss-report afterwards.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := newLogger(logLevel, logFormatText)
			if err != nil {
				return err
			}
			if dir == "" || id == "" || raftAddr == "" {
				return errors.New("--meta-dir, --id and --raft-addr are required")
			}
			others, err := parsePeers(peers)
			if err != nil {
				return err
			}
			for _, f := range []struct{ what, path string }{{"master key", masterFile}, {"old master key", oldMasterFile}} {
				if err := checkSecretFile(f.what, f.path, allowOpenSecrets, log); err != nil {
					return err
				}
			}
			raw, err := readSecret("master key", masterFile, "KCS_MASTER_KEY", true)
			if err != nil {
				return err
			}
			keys, err := parseMasterKeys(raw)
			if err != nil {
				return err
			}
			old, err := readSecret("old master key", oldMasterFile, "KCS_OLD_MASTER_KEY", false)
			if err != nil {
				return err
			}
			oldKeys, err := parseMasterKeys(old)
			if err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			members := append([]node.RaftPeer{{ID: id, RaftAddr: raftAddr}}, others...)
			info, st, err := node.RestoreMetaBackup(f, append(keys, oldKeys...), dir, id, members, log)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			printBackupInfo(out, args[0], -1, info)
			fmt.Fprintln(out)
			printRaftState(out, st)
			fmt.Fprintf(out, "\nRestored into %s. Start this node (--id %s, --raft-addr %s, its old drives in their old order) without --bootstrap or --join,\n"+
				"and the other nodes restored alike; then run kcs admin meta loss-report.\n", dir, id, raftAddr)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "meta-dir", "", "the new node's metadata directory, empty (kcs server's --meta-dir)")
	f.StringVar(&id, "id", "", "the node's id: one of the old cluster's nodes, whose drives it gets")
	f.StringVar(&raftAddr, "raft-addr", "", "the Raft address the node will be started on (kcs server's --raft-addr)")
	f.StringSliceVar(&peers, "peers", nil, "the new cluster's other nodes, as ID=RAFT_ADDRESS,… (the same list, less each one itself, on every node)")
	f.StringVar(&masterFile, "master-key-file", "", "file holding the master key the backup is sealed under")
	f.StringVar(&oldMasterFile, "old-master-key-file", "", "file holding older master keys, one per line")
	f.BoolVar(&allowOpenSecrets, "allow-open-secret-files", false, "read a secret file that others than its owner may read (warns instead of refusing)")
	f.StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error")
	annotateEnv(cmd)
	return cmd
}
