package main

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kommunal-cloud/kcs/node"
)

// DefaultTenantQuota is what --default-tenant-quota gives every new
// tenant unless an operator says otherwise: room for a municipality's
// records, bounded so that no tenant can fill the cluster or the
// replicated metadata by accident. 100 buckets is S3's classic default;
// 256 MiB inline in the metadata bounds what 630 tenants could add to
// every node's metadata database (about 160 GiB at most, in practice far
// less).
const DefaultTenantQuota = "bytes=1TiB,objects=10000000,buckets=100,uploads=1000,parts=10000,inline=256MiB"

// defaultTenantQuota is DefaultTenantQuota parsed (a constant that
// TestDefaultTenantQuotaParses checks).
func defaultTenantQuota() node.Quota {
	q, err := parseQuota(DefaultTenantQuota)
	if err != nil {
		panic(err)
	}
	return q.Quota()
}

// quotaFields are the names a quota is written with, in order: on the
// command line, in --default-tenant-quota, in the output.
var quotaFields = []struct {
	name, help string
	size       bool
	field      func(*node.QuotaReport) *int64
}{
	{"bytes", "logical bytes stored: objects and the parts of open multipart uploads (e.g. 500GiB)", true, func(q *node.QuotaReport) *int64 { return &q.Bytes }},
	{"objects", "objects stored", false, func(q *node.QuotaReport) *int64 { return &q.Objects }},
	{"buckets", "buckets (a tenant's quota only)", false, func(q *node.QuotaReport) *int64 { return &q.Buckets }},
	{"uploads", "open multipart uploads", false, func(q *node.QuotaReport) *int64 { return &q.Uploads }},
	{"parts", "parts of any one multipart upload", false, func(q *node.QuotaReport) *int64 { return &q.Parts }},
	{"inline", "bytes kept in the replicated metadata (objects and parts of at most the inline limit)", true, func(q *node.QuotaReport) *int64 { return &q.Inline }},
}

// parseQuotaValue reads one bound: a count, or for sizes a number of
// bytes with a unit; "0", "none" and "unlimited" are no bound.
func parseQuotaValue(name, v string, size bool) (int64, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "none", "unlimited", "0":
		return 0, nil
	}
	if size {
		n, err := parseSize(v)
		if err != nil {
			return 0, fmt.Errorf("quota %s: %w", name, err)
		}
		return n, nil
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(v, "_", ""), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("quota %s: %q is not a count (0 or none: no bound)", name, v)
	}
	return n, nil
}

// parseQuota reads a quota written as "bytes=1TiB,objects=1000000,…";
// "" or "none" is no quota.
func parseQuota(s string) (node.QuotaReport, error) {
	var q node.QuotaReport
	s = strings.TrimSpace(s)
	if s == "" || s == "none" {
		return q, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		found := false
		for _, f := range quotaFields {
			if ok && f.name == strings.TrimSpace(k) {
				n, err := parseQuotaValue(f.name, v, f.size)
				if err != nil {
					return q, err
				}
				*f.field(&q) = n
				found = true
			}
		}
		if !found {
			return q, fmt.Errorf("quota %q: each bound is name=value, the names are bytes, objects, buckets, uploads, parts, inline", kv)
		}
	}
	return q, nil
}

// formatQuota writes a quota the way parseQuota reads it.
func formatQuota(q *node.QuotaReport) string {
	if q == nil || *q == (node.QuotaReport{}) {
		return "none"
	}
	var parts []string
	for _, f := range quotaFields {
		if v := *f.field(q); v != 0 {
			s := strconv.FormatInt(v, 10)
			if f.size {
				s = exactSize(v)
			}
			parts = append(parts, f.name+"="+s)
		}
	}
	return strings.Join(parts, ",")
}

// exactSize writes a size in the largest binary unit that divides it, so
// that it reads back as the same number of bytes.
func exactSize(v int64) string {
	for _, u := range []struct {
		name string
		n    int64
	}{{"PiB", 1 << 50}, {"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v >= u.n && v%u.n == 0 {
			return strconv.FormatInt(v/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(v, 10)
}

// bound prints a usage value against its bound.
func bound(used, limit int64, size bool) string {
	s := strconv.FormatInt(used, 10)
	if size {
		s = human(uint64(max(used, 0)))
	}
	if limit <= 0 {
		return s
	}
	l := strconv.FormatInt(limit, 10)
	if size {
		l = human(uint64(limit))
	}
	return fmt.Sprintf("%s / %s (%d%%)", s, l, used*100/limit)
}

func newQuotaCmd(f *adminFlags) *cobra.Command {
	quota := &cobra.Command{Use: "quota", Short: "Set and show a tenant's or a bucket's quota",
		Long: `A quota bounds what a tenant, or one of its buckets, stores: logical bytes, objects, buckets,
open multipart uploads, parts per upload and bytes kept in the replicated metadata. A request that
would cross a bound is refused before any data is written, with 403 QuotaExceeded (400
TooManyBuckets for the bucket count); the tenant's other requests go on. A lowered quota keeps
what is stored: deletes and smaller replacements still work, growth is refused.`}
	var bucket string
	vals := map[string]*string{}
	var clear bool
	set := &cobra.Command{
		Use:   "set NAME [--bucket BUCKET] [--bytes SIZE] [--objects N] [--buckets N] [--uploads N] [--parts N] [--inline SIZE]",
		Short: "Change the bounds given (0 or none removes one); --clear removes the whole quota",
		Example: `  kcs admin tenant quota set gemeinde-oberhof --bytes 2TiB --objects 20000000
  kcs admin tenant quota set gemeinde-oberhof --bucket archiv --bytes 500GiB
  kcs admin tenant quota set gemeinde-oberhof --clear`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			var q node.QuotaReport
			if !clear {
				// The bounds not given stay as they are.
				u, err := c.TenantUsage(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				cur := u.Quota
				if bucket != "" {
					cur = nil
					for _, b := range u.Buckets {
						if b.Bucket == bucket {
							cur = b.Quota
						}
					}
				}
				if cur != nil {
					q = *cur
				}
				changed := false
				for _, fl := range quotaFields {
					if !cmd.Flags().Changed(fl.name) {
						continue
					}
					n, err := parseQuotaValue(fl.name, *vals[fl.name], fl.size)
					if err != nil {
						return err
					}
					*fl.field(&q) = n
					changed = true
				}
				if !changed {
					return fmt.Errorf("give the bounds to change (--bytes, --objects, --buckets, --uploads, --parts, --inline) or --clear")
				}
			}
			if err := c.SetQuota(cmd.Context(), args[0], bucket, q); err != nil {
				return err
			}
			what := "tenant " + args[0]
			if bucket != "" {
				what = "bucket " + bucket + " of tenant " + args[0]
			}
			return f.print(cmd.OutOrStdout(), q, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "quota of %s: %s\n", what, formatQuota(&q))
			})
		},
	}
	set.Flags().StringVar(&bucket, "bucket", "", "set the quota of this bucket of the tenant instead of the tenant's")
	set.Flags().BoolVar(&clear, "clear", false, "remove the quota")
	for _, fl := range quotaFields {
		vals[fl.name] = set.Flags().String(fl.name, "", fl.help)
	}
	get := &cobra.Command{
		Use:   "get NAME",
		Short: "Show a tenant's quota and its buckets' with what they use",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			u, err := c.TenantUsage(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			type bucketQuota struct {
				Bucket string            `json:"bucket"`
				Quota  *node.QuotaReport `json:"quota"`
			}
			out := struct {
				Tenant  string            `json:"tenant"`
				Quota   *node.QuotaReport `json:"quota"`
				Buckets []bucketQuota     `json:"buckets"`
			}{Tenant: u.Tenant, Quota: u.Quota, Buckets: []bucketQuota{}}
			for _, b := range u.Buckets {
				if b.Quota != nil {
					out.Buckets = append(out.Buckets, bucketQuota{b.Bucket, b.Quota})
				}
			}
			return f.print(cmd.OutOrStdout(), out, func(tw *tabwriter.Writer) { printStored(tw, u) })
		},
	}
	quota.AddCommand(set, get)
	return quota
}

// printStored prints a tenant's stored usage against its quotas, and its
// buckets'.
func printStored(tw *tabwriter.Writer, u *node.TenantUsage) {
	q := u.Quota
	if q == nil {
		q = &node.QuotaReport{}
	}
	fmt.Fprintf(tw, "tenant %s   quota %s\n\n", u.Tenant, formatQuota(u.Quota))
	fmt.Fprintln(tw, "STORED\tUSED / QUOTA")
	fmt.Fprintf(tw, "bytes (logical, objects + open uploads)\t%s\n", bound(u.Bytes+u.UploadBytes, q.Bytes, true))
	fmt.Fprintf(tw, "bytes on drives and in metadata\t%s\n", human(uint64(max(u.PhysicalBytes+u.UploadPhysical, 0))))
	fmt.Fprintf(tw, "objects\t%s\n", bound(u.Objects, q.Objects, false))
	fmt.Fprintf(tw, "buckets\t%s\n", bound(u.UsageReport.Buckets, q.Buckets, false))
	fmt.Fprintf(tw, "open multipart uploads\t%s (%d parts)\n", bound(u.Uploads, q.Uploads, false), u.UploadParts)
	fmt.Fprintf(tw, "bytes in the metadata (inline)\t%s\n", bound(u.InlineBytes+u.UploadInline, q.Inline, true))
	if q.Parts > 0 {
		fmt.Fprintf(tw, "parts per upload\tat most %d\n", q.Parts)
	}
	if len(u.Buckets) == 0 {
		return
	}
	fmt.Fprintln(tw, "\nBUCKET\tOBJECTS\tBYTES\tPHYSICAL\tUPLOADS\tQUOTA")
	for _, b := range u.Buckets {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%s\n", b.Bucket, b.Objects, human(uint64(max(b.Bytes+b.UploadBytes, 0))),
			human(uint64(max(b.PhysicalBytes+b.UploadPhysical, 0))), b.Uploads, formatQuota(b.Quota))
	}
}
