package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
)

// Log formats (--log-format).
const (
	logFormatText = "text" // logfmt-style key=value lines, for people
	logFormatJSON = "json" // one JSON object per line, for log shippers
)

// newLogger returns the process's logger on stderr, at level ("debug",
// "info", "warn", "error") in format (logFormatText or logFormatJSON),
// and makes it slog's default, so that what libraries write through the
// standard log package comes out in the same format, one record a line.
func newLogger(level, format string) (*slog.Logger, error) {
	log, err := newLoggerTo(os.Stderr, level, format)
	if err != nil {
		return nil, err
	}
	slog.SetDefault(log)
	return log, nil
}

func newLoggerTo(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case logFormatText, "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case logFormatJSON:
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is neither %q nor %q", format, logFormatText, logFormatJSON)
}

// logFormatUsage is the --log-format flag's help.
const logFormatUsage = "log format: text (key=value lines) or json (one object per line)"

// logFailure makes cmd, when it fails with --log-format json, report its
// error as a JSON record on stderr instead of cobra's plain "Error: …"
// line, so that a log shipper parses every line of a failed start too.
// format is the flag's variable.
func logFailure(cmd *cobra.Command, format *string) {
	run := cmd.RunE
	cmd.RunE = func(c *cobra.Command, args []string) error {
		err := run(c, args)
		if err != nil && *format == logFormatJSON {
			if log, lerr := newLoggerTo(c.ErrOrStderr(), "error", logFormatJSON); lerr == nil {
				log.Error(c.CommandPath()+" failed", "err", err)
				c.SilenceErrors = true
			}
		}
		return err
	}
}
