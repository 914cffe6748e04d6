package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// buildInfo is what `kcs version` prints, from the build information Go
// records in the binary: the module version ("(devel)" for a build from a
// checkout), the commit it was built from and whether the tree had
// uncommitted changes (go build records both inside a git checkout unless
// -buildvcs=false), the commit's time, and the Go toolchain.
type buildInfo struct {
	Version    string
	Revision   string // "" when the build recorded none
	Modified   bool
	CommitTime string
	Go         string
	Platform   string
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: "(devel)", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if bi.Main.Version != "" {
		b.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		b.Go = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		case "vcs.time":
			b.CommitTime = s.Value
		}
	}
	return b
}

func (b buildInfo) write(w io.Writer) {
	fmt.Fprintln(w, "kcs", b.Version)
	switch {
	case b.Revision == "":
		fmt.Fprintln(w, "commit:      unknown (built without version control information)")
	case b.Modified:
		fmt.Fprintln(w, "commit:     ", b.Revision+"+dirty (built with uncommitted changes)")
	default:
		fmt.Fprintln(w, "commit:     ", b.Revision)
	}
	if b.CommitTime != "" {
		fmt.Fprintln(w, "commit time:", b.CommitTime)
	}
	fmt.Fprintln(w, "go:         ", b.Go, b.Platform)
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this binary: version, commit, commit time and Go version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			readBuildInfo().write(cmd.OutOrStdout())
		},
	}
}
