package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/kommunal-cloud/kcs/bench/load"
)

// parseSize reads sizes such as 4096, 4KiB, 1MiB, 2GB.
func parseSize(s string) (int64, error) {
	n, err := humanize.ParseBytes(s)
	if err != nil || n > 1<<62 {
		return 0, fmt.Errorf("size %q: a number of bytes, or with KiB, MiB, GiB, KB, MB, GB", s)
	}
	return int64(n), nil
}

func newBenchCmd() *cobra.Command {
	var (
		cfg          load.Config
		size, caCert string
		asJSON       bool
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Generate S3 load against any S3 endpoint and report throughput and latency",
		Long: `Drive an S3 endpoint (kcs, or any other store for comparison) with PUTs and GETs of one size
from many concurrent clients for a while, and report operations and MB per second and latency
percentiles per operation. Credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
Example, against make run:

  AWS_ACCESS_KEY_ID=kcs-dev AWS_SECRET_ACCESS_KEY=kcs-dev-secret kcs bench --size 1MiB --concurrency 8 --duration 30s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if cfg.Size, err = parseSize(size); err != nil {
				return err
			}
			cfg.AccessKey, cfg.SecretKey = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
			if cfg.AccessKey == "" || cfg.SecretKey == "" {
				return fmt.Errorf("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
			}
			tr := &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency + 4}
			if caCert != "" {
				pem, err := os.ReadFile(caCert)
				if err != nil {
					return err
				}
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(pem) {
					return fmt.Errorf("%s: no certificate", caCert)
				}
				tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
			}
			cfg.HTTP = &http.Client{Transport: tr, Timeout: 10 * time.Minute}
			rep, err := load.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			fmt.Fprint(cmd.OutOrStdout(), rep.String())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Endpoint, "endpoint", "http://127.0.0.1:9000", "S3 endpoint")
	f.StringVar(&cfg.Region, "region", "us-east-1", "region for SigV4")
	f.StringVar(&cfg.Bucket, "bucket", "kcs-bench", "bucket to use (created if missing)")
	f.StringVar(&size, "size", "1MiB", "object size (bytes, or with KiB, MiB, GiB, KB, MB, GB)")
	f.IntVar(&cfg.Concurrency, "concurrency", 8, "concurrent clients")
	f.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long to run")
	f.IntVar(&cfg.PutPercent, "put-percent", 50, "share of PUTs in percent; the rest are GETs")
	f.IntVar(&cfg.Objects, "objects", 1000, "distinct keys written and read")
	f.BoolVar(&cfg.Cleanup, "cleanup", false, "delete the objects afterwards")
	f.StringVar(&caCert, "ca-cert", "", "CA certificate (PEM) to trust for an https endpoint")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	annotateEnv(cmd)
	return cmd
}
