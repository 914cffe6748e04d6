package meta

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// hclogger is the hclog.Logger Raft wants, writing to log: each of Raft's
// lines becomes one slog record at the matching level (Trace and Debug as
// DEBUG, Info as INFO, Warn as WARN, Error as ERROR), its key/value pairs
// as attributes and the logger's name as "component", so that Raft's
// errors pass --log-level warn and a JSON log stays one object per line.
func hclogger(name string, log *slog.Logger) hclog.Logger {
	return &slogHCLogger{base: log, name: name, log: log.With("component", name)}
}

type slogHCLogger struct {
	base  *slog.Logger // without component and implied args
	name  string
	log   *slog.Logger // base with component and implied args
	args  []any        // implied args (With)
	level hclog.Level  // a floor set by SetLevel; NoLevel: the slog handler's alone
}

// slogLevel maps an hclog level to slog's.
func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace, hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default: // Info, NoLevel
		return slog.LevelInfo
	}
}

// attrs turns hclog's alternating keys and values into slog's, rendering
// hclog's formatting helpers; a value without a key is kept under
// "EXTRA_VALUE_AT_END", as hclog does. Keys that our records carry
// already (Raft's "node" is its own description, ours the node's id) get
// a "raft-" prefix, so that a JSON line never holds a key twice.
func attrs(args []any) []any {
	out := make([]any, 0, len(args))
	for i := 0; i < len(args); i += 2 {
		if i+1 == len(args) {
			out = append(out, slog.Any("EXTRA_VALUE_AT_END", value(args[i])))
			break
		}
		key, ok := args[i].(string)
		if !ok {
			key = fmt.Sprint(args[i])
		}
		if reservedKeys[key] {
			key = "raft-" + key
		}
		out = append(out, slog.Any(key, value(args[i+1])))
	}
	return out
}

// reservedKeys are the attributes slog's handlers and our loggers set.
var reservedKeys = map[string]bool{
	slog.TimeKey: true, slog.LevelKey: true, slog.MessageKey: true, slog.SourceKey: true,
	"component": true, "node": true,
}

func value(v any) any {
	switch v := v.(type) {
	case hclog.Format:
		if len(v) == 0 {
			return ""
		}
		f, _ := v[0].(string)
		return fmt.Sprintf(f, v[1:]...)
	case hclog.Hex:
		return fmt.Sprintf("0x%x", int(v))
	case hclog.Octal:
		return fmt.Sprintf("0%o", int(v))
	case hclog.Binary:
		return fmt.Sprintf("0b%b", int(v))
	case hclog.Quote:
		return string(v)
	case error:
		return v.Error()
	case fmt.Stringer:
		return v.String()
	}
	return v
}

func (l *slogHCLogger) enabled(level hclog.Level) bool {
	if l.level != hclog.NoLevel && level < l.level {
		return false
	}
	return l.log.Enabled(context.Background(), slogLevel(level))
}

func (l *slogHCLogger) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off || !l.enabled(level) {
		return
	}
	l.log.Log(context.Background(), slogLevel(level), msg, attrs(args)...)
}

func (l *slogHCLogger) Trace(msg string, args ...any) { l.Log(hclog.Trace, msg, args...) }
func (l *slogHCLogger) Debug(msg string, args ...any) { l.Log(hclog.Debug, msg, args...) }
func (l *slogHCLogger) Info(msg string, args ...any)  { l.Log(hclog.Info, msg, args...) }
func (l *slogHCLogger) Warn(msg string, args ...any)  { l.Log(hclog.Warn, msg, args...) }
func (l *slogHCLogger) Error(msg string, args ...any) { l.Log(hclog.Error, msg, args...) }

func (l *slogHCLogger) IsTrace() bool { return l.enabled(hclog.Trace) }
func (l *slogHCLogger) IsDebug() bool { return l.enabled(hclog.Debug) }
func (l *slogHCLogger) IsInfo() bool  { return l.enabled(hclog.Info) }
func (l *slogHCLogger) IsWarn() bool  { return l.enabled(hclog.Warn) }
func (l *slogHCLogger) IsError() bool { return l.enabled(hclog.Error) }

func (l *slogHCLogger) ImpliedArgs() []any { return l.args }

func (l *slogHCLogger) With(args ...any) hclog.Logger {
	c := *l
	c.args = append(append([]any(nil), l.args...), args...)
	c.log = l.log.With(attrs(args)...)
	return &c
}

func (l *slogHCLogger) Name() string { return l.name }

func (l *slogHCLogger) Named(name string) hclog.Logger {
	if l.name != "" {
		name = l.name + "." + name
	}
	return l.ResetNamed(name)
}

func (l *slogHCLogger) ResetNamed(name string) hclog.Logger {
	c := *l
	c.name = name
	c.log = l.base.With("component", name).With(attrs(l.args)...)
	return &c
}

// SetLevel can only raise the floor: slog's handler decides the rest.
func (l *slogHCLogger) SetLevel(level hclog.Level) { l.level = level }

func (l *slogHCLogger) GetLevel() hclog.Level {
	for _, lv := range []hclog.Level{hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if l.enabled(lv) {
			return lv
		}
	}
	return hclog.Off
}

func (l *slogHCLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return slog.NewLogLogger(l.log.Handler(), l.standardLevel(opts))
}

func (l *slogHCLogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	return l.StandardLogger(opts).Writer()
}

func (l *slogHCLogger) standardLevel(opts *hclog.StandardLoggerOptions) slog.Level {
	if opts != nil && opts.ForceLevel != hclog.NoLevel {
		return slogLevel(opts.ForceLevel)
	}
	return slog.LevelInfo
}
