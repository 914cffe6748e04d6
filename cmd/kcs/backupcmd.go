package main

// kcs admin meta: metadata backups and the loss report, through any node's
// admin API.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kommunal-cloud/kcs/node"
	"github.com/kommunal-cloud/kcs/node/fsutil"
)

func newMetaAdminCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "meta", Short: "The cluster's metadata: backups, and the loss report after a disaster"}
	cmd.AddCommand(newBackupCmd(f), newLossReportCmd(f))
	return cmd
}

// backupReport is what `kcs admin meta backup --json` prints.
type backupReport struct {
	File  string          `json:"file"`
	Bytes int64           `json:"bytes"`
	Info  node.BackupInfo `json:"backup"`
}

func printBackupInfo(w io.Writer, file string, size int64, info *node.BackupInfo) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "backup\t%s", file)
	if size >= 0 {
		fmt.Fprintf(tw, " (%s)", human(uint64(size)))
	}
	fmt.Fprintf(tw, "\ncluster\t%s\nRaft index\t%d\nmaster key\t%s\ntaken\t%s on %s (kcs %s)\nid\t%s\n",
		info.Cluster, info.Index, info.MasterKey, info.Created.Format(time.RFC3339), info.Node, info.Version, info.ID)
	tw.Flush()
}

func newBackupCmd(f *adminFlags) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent backup of the metadata to FILE, sealed under the cluster's master key",
		Long: `Write a backup of the cluster's metadata — tenants and their wrapped keys, buckets, object
records, uploads, the nodes and their drives — as of one moment: every write acknowledged
before the command started is in it. It is sealed under the cluster's current master key,
so it can be kept where the master key is not; it cannot be restored without that key.

A backup holds the wrapped keys of tenants deleted after it was taken: restoring it
brings them back. Keep backups no longer than crypto-shredding allows (README:
Operations: backup and disaster recovery).

FILE is written with mode 0600, through a temporary file in its directory; an existing
FILE is kept unless --force.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			if _, err := os.Stat(path); err == nil && !force {
				return fmt.Errorf("%s exists: give another name, or --force to replace it", path)
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name()) // a no-op once renamed
			if err := tmp.Chmod(0o600); err != nil {
				tmp.Close()
				return err
			}
			n, err := c.MetaBackup(cmd.Context(), tmp)
			if err == nil {
				err = tmp.Sync()
			}
			if cerr := tmp.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("backup not written: %w", err)
			}
			// What arrived is checked before it takes the name: a header
			// that parses and the size the node announced.
			info, err := backupInfoOf(tmp.Name())
			if err != nil {
				return fmt.Errorf("backup not written: %w", err)
			}
			if err := os.Rename(tmp.Name(), path); err != nil {
				return err
			}
			if err := fsutil.SyncDir(filepath.Dir(path)); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.asJSON {
				rep := backupReport{File: path, Bytes: n, Info: *info}
				rep.Info.Key = nil // no secret, but nothing a script needs
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			printBackupInfo(out, path, n, info)
			fmt.Fprintf(out, "\nSealed under master key %s: keep that key, apart from the backup. Restoring needs it.\n", info.MasterKey)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "replace FILE if it exists")
	return cmd
}

func backupInfoOf(path string) (*node.BackupInfo, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	info, _, err := node.ReadBackupInfo(fh)
	return info, err
}

func newLossReportCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "loss-report",
		Short: "List every object (and open upload part) that no longer has k shards anywhere",
		Long: `After a disaster — a recovery from the loss of the Raft majority, a restore from a
backup — list every stream the metadata references that has fewer than k whole shards on
the drives of the members that answer: an object's data (or a part of it), or a part of
an open multipart upload, with its tenant, bucket, key and version. Objects kept inline
in the metadata (up to --inline-limit) are never lost. Members that do not answer are
named: a stream listed may then only be out of reach; ask again once they are back.

With --json it prints one JSON document, {"lost": [...], "summary": {...}}, written as the
node finds them; a report cut short ends without its summary, and the command fails.

Exit status: 0 nothing lost and every member answered; 3 streams are lost; 2 nothing
found lost but members did not answer (the report may be incomplete); 1 the report
itself failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			var sum *node.LossSummary
			if f.asJSON {
				sum, err = lossReportJSON(cmd.Context(), c, cmd.OutOrStdout())
			} else {
				sum, err = lossReportTable(cmd.Context(), c, cmd.OutOrStdout())
			}
			if err != nil {
				return err
			}
			// The report is printed; its outcome is the exit status.
			switch {
			case sum.Lost > 0:
				cmd.SilenceErrors = true
				return exitCode(3)
			case len(sum.Unreachable) > 0:
				cmd.SilenceErrors = true
				return exitCode(2)
			}
			return nil
		},
	}
	return cmd
}

type lossClient interface {
	LossReport(ctx context.Context, lost func(node.LostStream) error) (*node.LossSummary, error)
}

func lossReportJSON(ctx context.Context, c lossClient, out io.Writer) (*node.LossSummary, error) {
	io.WriteString(out, "{\"lost\": [")
	first := true
	sum, err := c.LossReport(ctx, func(s node.LostStream) error {
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		sep := ",\n  "
		if first {
			sep, first = "\n  ", false
		}
		_, err = fmt.Fprintf(out, "%s%s", sep, b)
		return err
	})
	if err != nil {
		// An incomplete document, so that no script takes it for a whole
		// report; the error says why.
		io.WriteString(out, "\n")
		return nil, err
	}
	b, err := json.Marshal(sum)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "\n],\n\"summary\": %s}\n", b)
	return sum, nil
}

func lossReportTable(ctx context.Context, c lossClient, out io.Writer) (*node.LossSummary, error) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	header := false
	sum, err := c.LossReport(ctx, func(s node.LostStream) error {
		if !header {
			fmt.Fprintln(tw, "TENANT\tBUCKET\tKEY\tVERSION\tUPLOAD\tPART\tSIZE\tSHARDS FOUND")
			header = true
		}
		what := s.VersionID
		if what == "" {
			what = "-"
		}
		upload := s.UploadID
		if upload == "" {
			upload = "-"
		}
		found := fmt.Sprintf("%d of %d, %d needed", s.Found, s.K+s.M, s.K)
		if s.Unreachable > 0 {
			found += fmt.Sprintf(" (%d unreachable)", s.Unreachable)
		}
		_, err := fmt.Fprintf(tw, "%s\t%s\t%q\t%s\t%s\t%d\t%s\t%s\n", s.Tenant, s.Bucket, s.Key, what, upload, s.Part, human(uint64(max(s.Size, 0))), found)
		return err
	})
	tw.Flush()
	if err != nil {
		return nil, err
	}
	if header {
		fmt.Fprintln(out)
	}
	fmt.Fprintf(out, "%d streams checked (%d inline, never lost): %d lost, %d below full protection\n", sum.Streams, sum.Inline, sum.Lost, sum.Degraded)
	if len(sum.Unreachable) > 0 {
		fmt.Fprintf(out, "WARNING: %v did not answer; their shards were counted as missing. Ask again once they are back:\n", sum.Unreachable)
		for _, id := range sum.Unreachable {
			fmt.Fprintf(out, "  %s: %s\n", id, sum.Errors[id])
		}
	}
	return sum, nil
}
