package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kommunal-cloud/kcs/node"
	"github.com/kommunal-cloud/kcs/node/admin"
)

type adminFlags struct {
	endpoint   string
	secretFile string
	caCert     string
	asJSON     bool
}

func (f *adminFlags) client() (*admin.Client, error) {
	secret, err := readSecret("admin secret", f.secretFile, "KCS_ADMIN_SECRET", true)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 60 * time.Second}
	if f.caCert != "" {
		pem, err := os.ReadFile(f.caCert)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no certificate", f.caCert)
		}
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	return &admin.Client{Endpoint: f.endpoint, Secret: secret, HTTP: hc}, nil
}

func (f *adminFlags) print(w io.Writer, v any, table func(tw *tabwriter.Writer)) error {
	if f.asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

func newAdminCmd() *cobra.Command {
	f := &adminFlags{}
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Operate a cluster: tenants, access keys, status",
		Long: `Operate a cluster through the admin API of any node. Requests are signed with the admin
secret (--admin-secret-file, or KCS_ADMIN_SECRET).`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.endpoint, "endpoint", "http://127.0.0.1:9000", "S3 endpoint of any node")
	pf.StringVar(&f.secretFile, "admin-secret-file", "", "file holding the admin secret")
	pf.StringVar(&f.caCert, "ca-cert", "", "CA certificate (PEM) to trust for an https endpoint")
	pf.BoolVar(&f.asJSON, "json", false, "print JSON for scripts")
	pf.VisitAll(func(fl *pflag.Flag) { fl.Usage += " (env " + envName(fl.Name) + ")" })

	tenant := &cobra.Command{Use: "tenant", Short: "Manage tenants (municipalities)"}
	var ak, sk string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a tenant with its own key; prints its first access key and secret",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			info, err := c.CreateTenant(cmd.Context(), args[0], ak, sk)
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), info, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "tenant\t%s\naccess key\t%s\nsecret key\t%s\n", info.Tenant, info.AccessKey, info.Secret)
				fmt.Fprintln(tw, "\nThe secret key is shown only now; keep it safe.")
			})
		},
	}
	create.Flags().StringVar(&ak, "access-key", "", "access key id to use (default: random)")
	create.Flags().StringVar(&sk, "secret-key", "", "secret to use (default: random)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List tenants",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			ts, err := c.ListTenants(cmd.Context())
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), ts, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "TENANT\tKEY VERSION\tRETIRING\tACCESS KEYS\tBUCKETS\tOBJECTS\tSTORED\tCREATED")
				for _, t := range ts {
					retiring := "-"
					if len(t.Retiring) > 0 {
						retiring = strings.Trim(fmt.Sprint(t.Retiring), "[]")
					}
					fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\t%s\t%s\n", t.ID, t.KeyVersion, retiring, t.AccessKeys, t.Buckets, t.Objects,
						human(uint64(max(t.Bytes, 0))), t.Created.Format(time.RFC3339))
				}
			})
		},
	}
	var confirm string
	var delBypass bool
	del := &cobra.Command{
		Use:   "delete NAME --confirm NAME [--bypass-governance]",
		Short: "Delete a tenant: its keys are shredded at once, its data becomes unreadable and is purged",
		Long: `Delete a tenant (a municipality leaving). In one metadata commit its key and access keys
are removed: from that moment none of its objects can be decrypted on any node. Every node
then destroys its own copies of the key (metadata database rewritten without free pages, Raft
log entries and snapshots that held it deleted), and the leader purges the tenant's buckets in
the background, deleting their shards. Bucket names stay taken until their purge ends.

This cannot be undone. Give the tenant's name twice: as the argument and to --confirm.

Object lock: while the tenant holds versions under retention or legal hold the deletion is
refused, and the refusal says how many, gives an example and until when the retention runs.
--bypass-governance overrides GOVERNANCE retention (those versions are deleted with the
tenant; the node logs the override); COMPLIANCE retention and legal holds yield to nothing:
wait until the retention has run out, or have the tenant remove its legal holds.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if confirm != args[0] {
				return fmt.Errorf("refusing to delete tenant %q without --confirm %s: its data becomes unreadable at once, for good", args[0], args[0])
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			var d *node.TenantDeletion
			if delBypass {
				d, err = c.DeleteTenantBypassingGovernance(cmd.Context(), args[0])
			} else {
				d, err = c.DeleteTenant(cmd.Context(), args[0])
			}
			if err != nil {
				var ae *admin.Error
				if errors.As(err, &ae) && ae.Kind == node.KindAccessDenied.String() {
					return fmt.Errorf("tenant %s was not deleted: %w", args[0], err)
				}
				return err
			}
			return f.print(cmd.OutOrStdout(), d, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "deleted tenant %s: its keys are shredded, %d bucket(s) are being purged\n", d.Tenant, d.Buckets)
			})
		},
	}
	del.Flags().StringVar(&confirm, "confirm", "", "the tenant's name again, to confirm")
	del.Flags().BoolVar(&delBypass, "bypass-governance", false,
		"also delete versions under GOVERNANCE retention (never COMPLIANCE retention or legal holds)")
	rotate := &cobra.Command{
		Use:   "rotate-key NAME",
		Short: "Give a tenant a new key; older versions are rewrapped and retired in the background",
		Long: `Rotate a tenant's key: a new random key version wraps every data key from now on. The
leader then rewraps the data keys of the tenant's existing objects and uploads (object data is
not rewritten) and, once none is left under an older version, retires it: every node destroys
its copies as after a tenant's deletion. "kcs admin tenant list" shows versions still retiring.
Applications notice nothing; uploads running meanwhile commit under the new version.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			k, err := c.RotateTenantKey(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), k, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "tenant %s now uses key version %d; retiring %v in the background\n", k.Tenant, k.KeyVersion, k.Retiring)
			})
		},
	}
	tenant.AddCommand(create, list, del, rotate, newQuotaCmd(f), newUsageCmd(f))

	key := &cobra.Command{Use: "key", Short: "Manage a tenant's S3 access keys (create a new one, move applications, delete the old: rotation)"}
	var kak, ksk string
	kcreate := &cobra.Command{
		Use:   "create TENANT",
		Short: "Create another access key for a tenant; prints it with its secret",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			info, err := c.CreateAccessKey(cmd.Context(), args[0], kak, ksk)
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), info, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "tenant\t%s\naccess key\t%s\nsecret key\t%s\n", info.Tenant, info.AccessKey, info.Secret)
			})
		},
	}
	kcreate.Flags().StringVar(&kak, "access-key", "", "access key id to use (default: random)")
	kcreate.Flags().StringVar(&ksk, "secret-key", "", "secret to use (default: random)")
	klist := &cobra.Command{
		Use:   "list TENANT",
		Short: "List a tenant's access keys",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			ks, err := c.ListAccessKeys(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), ks, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "ACCESS KEY\tCREATED\tBYPASS GOVERNANCE")
				for _, k := range ks {
					bypass := "no"
					if k.BypassGovernance {
						bypass = "yes"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\n", k.AccessKey, k.Created.Format(time.RFC3339), bypass)
				}
			})
		},
	}
	kdelete := &cobra.Command{
		Use:   "delete TENANT ACCESS_KEY",
		Short: "Delete an access key; requests signed with it fail at once",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			if err := c.DeleteAccessKey(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted access key %s of %s\n", args[1], args[0])
			return nil
		},
	}
	var revoke bool
	kbypass := &cobra.Command{
		Use:   "allow-bypass-governance TENANT ACCESS_KEY [--revoke]",
		Short: "Let an access key override GOVERNANCE retention (x-amz-bypass-governance-retention), or no longer",
		Long: `Let one of a tenant's access keys override GOVERNANCE object-lock retention: requests
signed with it that send x-amz-bypass-governance-retention: true may delete versions under
GOVERNANCE retention (DeleteObject, DeleteObjects) and shorten or remove their retention
(PutObjectRetention). Without this grant such requests are refused (AccessDenied). COMPLIANCE
retention and legal holds yield to no key.

Whoever holds the key can then undo what GOVERNANCE retention protects: grant it to a key kept
for that purpose (e.g. one created with "kcs admin key create"), not to an application's everyday
key, and take it back with --revoke once done. "kcs admin key list TENANT" shows which keys hold
the grant. The grant ends with the key (kcs admin key delete).`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			if err := c.SetKeyBypass(cmd.Context(), args[0], args[1], !revoke); err != nil {
				return err
			}
			if revoke {
				fmt.Fprintf(cmd.OutOrStdout(), "access key %s of %s may no longer bypass governance retention\n", args[1], args[0])
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "access key %s of %s may now bypass governance retention (revoke: --revoke)\n", args[1], args[0])
			}
			return nil
		},
	}
	kbypass.Flags().BoolVar(&revoke, "revoke", false, "take the grant back")
	key.AddCommand(kcreate, klist, kdelete, kbypass)

	cluster := &cobra.Command{Use: "cluster", Short: "Cluster-wide views"}
	status := &cobra.Command{
		Use:   "status",
		Short: "Sites, nodes, Raft roles, reachability and drive usage at a glance",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			st, err := c.ClusterStatus(ctx)
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), st, func(tw *tabwriter.Writer) { printStatus(tw, st) })
		},
	}
	cluster.AddCommand(status)

	nodeCmd := &cobra.Command{Use: "node", Short: "Commands for the node at --endpoint"}
	scrub := &cobra.Command{
		Use:   "scrub",
		Short: "Start a scrub pass now: check every shard on the node's drives, rebuild missing or corrupt ones",
		Long: `Start a scrub pass on the node at --endpoint now instead of at its next date
(--scrub-every): after replacing a drive, or when one is suspect. The command
returns at once; the node logs the pass's progress and outcome ("scrub pass
done" with the shards checked and the bad ones found), and rebuilds bad
shards in the background.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			if err := c.StartScrub(cmd.Context()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "scrub pass started on %s\n", c.Endpoint)
			return nil
		},
	}
	nodeCmd.AddCommand(scrub)

	masterCmd := &cobra.Command{Use: "master-key", Short: "The cluster's master key"}
	var keyID string
	mrotate := &cobra.Command{
		Use:   "rotate [--key-id ID]",
		Short: "Make a new master key the cluster's; everything the old one wrapped is rewrapped",
		Long: `Rotate the master key, in three steps:

1. Restart every node with the new key as --master-key-file and the old one as
   --old-master-key-file (a node logs the ids of its keys at start).
2. Run this command. It is refused while a member was not started with the new key.
   New tenant keys and secrets are wrapped by it at once; the leader rewraps every
   tenant key and access key secret in the background, then every node shreds the
   old wrappings. "kcs admin cluster status" shows what is left.
3. Once nothing is left, drop --old-master-key-file and restart the nodes at leisure.

--key-id defaults to the key the node at --endpoint was given as --master-key-file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			r, err := c.RotateMasterKey(cmd.Context(), keyID)
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), r, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "master key is now %s; %d wrapped keys to rewrap in the background\n", r.MasterKey, r.Pending)
			})
		},
	}
	mrotate.Flags().StringVar(&keyID, "key-id", "", "id of the new master key (mk-…)")
	masterCmd.AddCommand(mrotate)
	addRedundancyCommands(f, cluster, nodeCmd) // redundancycmd.go
	cmd.AddCommand(tenant, key, cluster, nodeCmd, masterCmd, newMetaAdminCmd(f))
	return cmd
}

func printStatus(tw *tabwriter.Writer, st *node.ClusterStatus) {
	fmt.Fprintf(tw, "cluster %s   leader %s   topology epoch %d   master key %s", st.ClusterID, st.Leader, st.Epoch, st.MasterKey)
	if st.MasterKeyPending > 0 {
		fmt.Fprintf(tw, " (%d keys still wrapped by an older one: keep it on every node)", st.MasterKeyPending)
	}
	fmt.Fprint(tw, "\n\n")
	fmt.Fprintln(tw, "SITE\tNODE\tRAFT\tREACHABLE\tDRIVES (used / size)\tS3")
	for _, s := range st.Sites {
		for _, n := range s.Nodes {
			reach := "yes"
			if !n.Reachable {
				reach = "NO"
			} else if off := time.Duration(n.ClockOffsetMS) * time.Millisecond; off > time.Second || off < -time.Second {
				// Worth a look before it reaches a minute (then the
				// node commits nothing): NTP.
				reach = fmt.Sprintf("yes, clock %+v", off.Round(time.Second))
			}
			var drives []string
			for _, d := range n.Drives {
				if d.Err != "" {
					drives = append(drives, d.ID+" error")
					continue
				}
				used := d.Total - d.Free
				drives = append(drives, fmt.Sprintf("%s %s/%s", d.ID, human(used), human(d.Total)))
			}
			if !n.Reachable {
				drives = []string{"?"}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, n.ID, n.Role, reach, strings.Join(drives, ", "), strings.Join(n.S3Addrs, " "))
		}
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "LAYOUT\tSITES\tSETS")
	for i, fam := range st.Families {
		label := fam.Geometry
		if i > 0 {
			label += " (while a site is down)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\n", label, strings.Join(fam.Sites, ", "), fam.Sets)
	}
	printRedundancy(tw, st)
	printLifecycle(tw, st.Lifecycle)
}

// printLifecycle prints the lifecycle section: the passes of the node
// that answered (they run on the leader).
func printLifecycle(tw *tabwriter.Writer, lc *node.LifecycleStatus) {
	if lc == nil {
		return
	}
	fmt.Fprintf(tw, "\nlifecycle (node %s", lc.Node)
	if !lc.Leader {
		fmt.Fprint(tw, ", not the leader: passes run on the leader")
	}
	fmt.Fprint(tw, ")\n")
	switch {
	case lc.Running:
		fmt.Fprintf(tw, "pass running since %s, at %s/%s\n", lc.LastStart.Format(time.RFC3339), lc.Bucket, lc.Key)
	case !lc.LastEnd.IsZero():
		state := "complete"
		if !lc.LastComplete {
			state = "interrupted (the next leader's pass goes on)"
		}
		fmt.Fprintf(tw, "last pass %s - %s, %s\n", lc.LastStart.Format(time.RFC3339), lc.LastEnd.Format(time.RFC3339), state)
	default:
		fmt.Fprint(tw, "no pass yet\n")
	}
	l := lc.Last
	fmt.Fprintf(tw, "last pass: %d buckets, %d versions looked at; %d expired, %d noncurrent removed, %d delete markers removed, %d uploads aborted, %d locked and kept, %d failed\n",
		l.Buckets, l.Versions, l.Expired, l.NoncurrentRemoved, l.MarkersRemoved, l.UploadsAborted, l.LockedSkipped, l.Failed)
}

func human(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%dB", b)
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(b)/float64(div), "KMGTPE"[exp])
}
