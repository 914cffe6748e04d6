// Command kcs is the single binary of the Kommunal-Cloud storage engine: it
// runs a node (`kcs server`), a local development cluster (`kcs dev`), and
// the operator's admin commands. This file only wires commands together;
// the work happens in s3api, node and erasure.
package main

import (
	"errors"
	"os"
	"strconv"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		var ec exitCode
		if errors.As(err, &ec) {
			os.Exit(int(ec))
		}
		os.Exit(1)
	}
}

// exitCode is a result a command reports by its exit status alone (it has
// printed what it found): scripts tell outcomes apart without parsing.
type exitCode int

func (e exitCode) Error() string { return "exit status " + strconv.Itoa(int(e)) }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "kcs",
		Short:         "kcs: the distributed, encrypted object store of the Thuringian Kommunal-Cloud",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return bindEnv(cmd) }
	root.AddCommand(newServerCmd(), newDevCmd(), newAdminCmd(), newMetaCmd(), newBenchCmd(), newVersionCmd())
	return root
}
