package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kommunal-cloud/kcs/node"
	"github.com/kommunal-cloud/kcs/node/admin"
)

// kcs admin node drain|remove|promote and kcs admin cluster spread: full
// redundancy through a cluster's changes (README: Replacing a node).

func addRedundancyCommands(f *adminFlags, cluster, nodeCmd *cobra.Command) {
	var drive string
	var cancelDrain, wait bool
	drain := &cobra.Command{
		Use:   "drain ID [--drive INDEX] [--cancel] [--wait]",
		Short: "Move every shard off a node (or one of its drives), keeping full protection, so that it can be removed",
		Long: `Drain a node, or with --drive one of its drives (its index in the node's --drives, or
its id NODE/INDEX): from now on no new shard goes there, and the Raft leader re-codes every
stream with a shard there onto erasure sets without it, paced (--reprotect-rate), keeping
full protection throughout. Objects stay readable and writable meanwhile. Progress shows in
"kcs admin cluster status" (draining: streams left) and in kcs_streams_draining; with --wait
this command shows it until nothing is left. A drained node can be removed
(kcs admin node remove); a drained drive holds nothing and can be swapped without loss.
--cancel ends a drain (what moved stays where it is).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			rep, err := c.DrainNode(cmd.Context(), args[0], drive, cancelDrain)
			if err != nil {
				return err
			}
			what := rep.Node
			if rep.Drive != "" {
				what = rep.Drive
			}
			if err := f.print(cmd.OutOrStdout(), rep, func(tw *tabwriter.Writer) {
				if cancelDrain {
					fmt.Fprintf(tw, "drain of %s ended; %d streams still have a shard on it\n", what, rep.StreamsLeft)
					return
				}
				fmt.Fprintf(tw, "draining %s: %d streams to move\n", what, rep.StreamsLeft)
			}); err != nil {
				return err
			}
			if !wait || cancelDrain {
				return nil
			}
			return waitFor(cmd.Context(), c, cmd.OutOrStdout(), func(st *node.ClusterStatus) (int64, bool) {
				left, ok := st.Redundancy.Draining[what]
				return left, ok
			}, what+": streams left")
		},
	}
	drain.Flags().StringVar(&drive, "drive", "", "drain only this drive of the node (its index, or its id NODE/INDEX)")
	drain.Flags().BoolVar(&cancelDrain, "cancel", false, "end the drain")
	drain.Flags().BoolVar(&wait, "wait", false, "show the progress until nothing is left")

	var force bool
	remove := &cobra.Command{
		Use:   "remove ID [--force]",
		Short: "Remove a node from the cluster: refused while it holds shards or is its site's only voter",
		Long: `Remove a node from the cluster: out of the metadata's records, the erasure layout and the
Raft configuration. Its id can never join again (a node that comes back gets a new id and
empty drives). Stop its process afterwards.

It is refused while any stream still has a shard on the node (drain it first:
kcs admin node drain ID --wait), and while the node is the only Raft voter of a site that
has other members: promote one of them first (kcs admin node promote ID), so that the site
keeps a voter.

--force removes a node that still holds shards (one that is gone for good). It first prints
exactly what would be lost — every object and upload part with fewer than k shards on the
other members — and then acts; streams that keep k shards elsewhere are re-coded onto full
protection from them.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if force {
				plan, err := c.RemovalPlan(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				printRemovalPlan(out, plan)
			}
			rep, err := c.RemoveNode(cmd.Context(), args[0], force)
			if err != nil {
				return err
			}
			return f.print(out, rep, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "node %s (site %s) removed from the cluster; stop its process now\n", rep.Node, rep.Site)
			})
		},
	}
	remove.Flags().BoolVar(&force, "force", false, "remove the node even though streams still have shards on it; prints what would be lost first")

	promote := &cobra.Command{
		Use:   "promote ID",
		Short: "Make a node a Raft voter (before its site's only voter is removed)",
		Long: `Make a node a Raft voter of the metadata. A site keeps one voter: before the only
voter of a site is removed, promote another member of that site. The node must answer.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			if err := c.PromoteNode(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "node %s is a voter\n", args[0])
			return nil
		},
	}
	nodeCmd.AddCommand(drain, remove, promote)

	var stop, spreadWait bool
	spread := &cobra.Command{
		Use:   "spread [--stop] [--wait]",
		Short: "Move existing data onto the nodes, drives and sites added since it was written",
		Long: `New data goes to the current erasure sets, which use every node, drive and site. Data
written before some were added stays where it was; a spread moves it: the Raft leader
re-codes every stream that lives outside the current full family of sets onto one of them
(chosen by the stream's id, as new writes are), paced (--reprotect-rate), with full
protection throughout. Progress shows in "kcs admin cluster status" (spread: streams left)
and in kcs_streams_outside_full_family; the spread ends by itself when nothing is left.
--stop ends it early.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			rep, err := c.Spread(cmd.Context(), stop)
			if err != nil {
				return err
			}
			if err := f.print(cmd.OutOrStdout(), rep, func(tw *tabwriter.Writer) {
				if stop {
					fmt.Fprintf(tw, "spread stopped; %d streams live outside the full family\n", rep.StreamsLeft)
					return
				}
				fmt.Fprintf(tw, "spread started: %d streams to move\n", rep.StreamsLeft)
			}); err != nil {
				return err
			}
			if !spreadWait || stop {
				return nil
			}
			return waitFor(cmd.Context(), c, cmd.OutOrStdout(), func(st *node.ClusterStatus) (int64, bool) {
				return st.Redundancy.SpreadLeft, st.Redundancy.Spreading || st.Redundancy.SpreadLeft > 0
			}, "spread: streams left")
		},
	}
	spread.Flags().BoolVar(&stop, "stop", false, "end the spread")
	spread.Flags().BoolVar(&spreadWait, "wait", false, "show the progress until nothing is left")
	cluster.AddCommand(spread)
}

// waitFor prints a count from the cluster status every few seconds until
// it is zero (or gone).
func waitFor(ctx context.Context, c *admin.Client, out io.Writer, left func(*node.ClusterStatus) (int64, bool), what string) error {
	last := int64(-1)
	for {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		st, err := c.ClusterStatus(sctx)
		cancel()
		if err == nil && st.Redundancy != nil {
			n, ok := left(st)
			if !ok || n == 0 {
				fmt.Fprintf(out, "%s: 0, done\n", what)
				return nil
			}
			if n != last {
				fmt.Fprintf(out, "%s: %d (%d re-coded in the last minute)\n", what, n, st.Redundancy.StreamsMovedLastMinute)
				last = n
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(3 * time.Second):
		}
	}
}

func printRemovalPlan(out io.Writer, p *node.RemovalReport) {
	fmt.Fprintf(out, "node %s (site %s): %d streams have a shard on it\n", p.Node, p.Site, p.StreamsOnNode)
	if p.LostCount == 0 {
		fmt.Fprintln(out, "nothing would be lost: every stream keeps at least k shards on the other members")
		return
	}
	fmt.Fprintf(out, "%d objects and upload parts would be LOST (fewer than k of their shards are elsewhere):\n", p.LostCount)
	for _, l := range p.Lost {
		fmt.Fprintf(out, "  %s\n", l)
	}
	if int64(len(p.Lost)) < p.LostCount {
		fmt.Fprintf(out, "  … and %d more\n", p.LostCount-int64(len(p.Lost)))
	}
}

// printRedundancy is the cluster status's part on protection, drains and
// spreads.
func printRedundancy(tw *tabwriter.Writer, st *node.ClusterStatus) {
	r := st.Redundancy
	if r == nil {
		return
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "BELOW FULL PROTECTION\t%d streams", st.BelowFullProtection)
	if st.BelowFullProtection > 0 {
		fmt.Fprintf(tw, " (%d on sets below it, %d with lost shards)", r.StreamsInSetsBelow, r.StreamsWithLostShards)
	}
	fmt.Fprintf(tw, "; %d re-coded in the last minute\n", r.StreamsMovedLastMinute)
	ids := make([]string, 0, len(r.Draining))
	for id := range r.Draining {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		state := fmt.Sprintf("%d streams left", r.Draining[id])
		if r.Draining[id] == 0 {
			state = "drained"
			if !strings.Contains(id, "/") {
				state += ": kcs admin node remove " + id
			}
		}
		fmt.Fprintf(tw, "DRAINING %s\t%s\n", id, state)
	}
	if r.Spreading || r.SpreadLeft > 0 {
		state := "not running (kcs admin cluster spread)"
		if r.Spreading {
			state = "running"
		}
		fmt.Fprintf(tw, "SPREAD\t%s: %d streams outside the full family\n", state, r.SpreadLeft)
	}
}
