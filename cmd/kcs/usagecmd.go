package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kommunal-cloud/kcs/node"
	"github.com/kommunal-cloud/kcs/node/admin"
)

// usageReport is what `kcs admin tenant usage --json` prints.
type usageReport struct {
	Tenant string `json:"tenant"`
	// Stored is what the tenant stores now; absent for a tenant deleted
	// since (its traffic stays, as billing history).
	Stored  *node.TenantUsage   `json:"stored,omitempty"`
	Traffic *node.TrafficReport `json:"traffic"`
}

// parseWhen reads a range end: RFC 3339, or a UTC day (2026-03-01) or
// month (2026-03).
func parseWhen(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02", "2006-01"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("--%s %q: a time (2026-03-01T00:00:00Z), a day (2026-03-01) or a month (2026-03), UTC", flag, s)
}

// writeTrafficCSV writes one line per hour and class, with a header, in
// the form spreadsheets open as they are: comma-separated (RFC 4180),
// hours as "2026-03-01 13:00" (UTC, which the header says).
func writeTrafficCSV(w io.Writer, r *node.TrafficReport) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"tenant", "hour_utc", "class", "requests", "bytes_in", "bytes_out"})
	for _, h := range r.Hours {
		cw.Write([]string{r.Tenant, h.Hour.UTC().Format("2006-01-02 15:04"), h.Class.String(),
			strconv.FormatUint(h.Requests, 10), strconv.FormatUint(h.BytesIn, 10), strconv.FormatUint(h.BytesOut, 10)})
	}
	cw.Flush()
	return cw.Error()
}

func newUsageCmd(f *adminFlags) *cobra.Command {
	var from, to string
	var asCSV bool
	cmd := &cobra.Command{
		Use:   "usage NAME [--from WHEN] [--to WHEN] [--json | --csv]",
		Short: "Show what a tenant stores and what it moved: requests and bytes per hour and class",
		Long: `Show a tenant's stored usage — logical bytes, bytes on the drives and in the metadata
(erasure overhead included), objects, buckets, open multipart uploads — in all and per bucket,
against its quotas; and its traffic in a range of hours: requests, bytes received and bytes sent
per operation class (read, write, list, delete, admin), summed over every node.

The range is [--from, --to), in whole hours, UTC: RFC 3339 times, days (2026-03-01) or months
(2026-03). It defaults to the current month. --csv prints the traffic one line per hour and
class, for a spreadsheet; --json everything, hour by hour.

The stored figures are exact (kept by the metadata commands); the traffic is what each node
counted, and a node that does not answer is named in a warning: its share is then missing.
A deleted tenant's traffic stays available until --traffic-retention ends.`,
		Example: `  kcs admin tenant usage gemeinde-oberhof
  kcs admin tenant usage gemeinde-oberhof --from 2026-03 --to 2026-04 --csv > oberhof-2026-03.csv`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if asCSV && f.asJSON {
				return errors.New("--csv and --json exclude each other")
			}
			fromT, err := parseWhen("from", from)
			if err != nil {
				return err
			}
			toT, err := parseWhen("to", to)
			if err != nil {
				return err
			}
			if to != "" && len(to) <= len("2006-01") {
				// A month given as the end means up to its end.
				toT = toT.AddDate(0, 1, 0)
			} else if to != "" && len(to) == len("2006-01-02") {
				toT = toT.AddDate(0, 0, 1)
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			rep := usageReport{Tenant: args[0]}
			if rep.Traffic, err = c.TenantTraffic(cmd.Context(), args[0], fromT, toT); err != nil {
				return err
			}
			if len(rep.Traffic.Missing) > 0 {
				var why []string
				for _, id := range rep.Traffic.Missing {
					why = append(why, id+": "+rep.Traffic.Errors[id])
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: the traffic lacks what these nodes counted (they did not answer; ask again later): %s\n",
					strings.Join(why, "; "))
			}
			if asCSV {
				return writeTrafficCSV(cmd.OutOrStdout(), rep.Traffic)
			}
			rep.Stored, err = c.TenantUsage(cmd.Context(), args[0])
			var ae *admin.Error
			if errors.As(err, &ae) && ae.Status == 404 {
				rep.Stored, err = nil, nil // deleted: its traffic is all there is
			}
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), rep, func(tw *tabwriter.Writer) {
				if rep.Stored != nil {
					printStored(tw, rep.Stored)
				} else {
					fmt.Fprintf(tw, "tenant %s does not exist (any more): traffic only\n", rep.Tenant)
				}
				t := rep.Traffic
				fmt.Fprintf(tw, "\nTRAFFIC %s – %s (UTC)\tREQUESTS\tBYTES IN\tBYTES OUT\n", t.From.Format("2006-01-02 15:04"), t.To.Format("2006-01-02 15:04"))
				for _, ct := range t.Totals {
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", ct.Class, ct.Requests, human(ct.BytesIn), human(ct.BytesOut))
				}
				fmt.Fprintf(tw, "all\t%d\t%s\t%s\n", t.Total.Requests, human(t.Total.BytesIn), human(t.Total.BytesOut))
				fmt.Fprintln(tw, "\n(hour by hour: --csv or --json)")
			})
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "start of the traffic range (default: the current month's start)")
	cmd.Flags().StringVar(&to, "to", "", "end of the traffic range, exclusive (default: now); a day or a month given counts whole")
	cmd.Flags().BoolVar(&asCSV, "csv", false, "print the traffic as CSV, one line per hour and class")
	return cmd
}
