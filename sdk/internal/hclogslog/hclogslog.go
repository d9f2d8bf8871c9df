// Package hclogslog lets go-plugin, which logs through hclog, write into a
// log/slog logger: go-plugin's own messages and the plugin's forwarded
// stderr lines join the structured log with their level and fields.
package hclogslog

import (
	"context"
	"io"
	"log"
	"log/slog"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// New returns an hclog.Logger writing to l. The level filter starts at
// Trace, leaving the decision to l's handler, and SetLevel narrows it.
func New(l *slog.Logger) hclog.Logger {
	lvl := new(atomic.Int32)
	lvl.Store(int32(hclog.Trace))
	return &logger{l: l, level: lvl}
}

type logger struct {
	l       *slog.Logger
	name    string
	implied []any
	level   *atomic.Int32 // shared with derived loggers, as in hclog
}

var _ hclog.Logger = (*logger)(nil)

func toSlog(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (g *logger) enabled(level hclog.Level) bool {
	if level == hclog.Off || level < hclog.Level(g.level.Load()) {
		return false
	}
	return g.l.Enabled(context.Background(), toSlog(level))
}

func (g *logger) Log(level hclog.Level, msg string, args ...any) {
	if !g.enabled(level) {
		return
	}
	// go-plugin adds the plugin's own "timestamp" to forwarded lines; the
	// record has its own time, so a second one is noise.
	for i := 0; i+1 < len(args); i += 2 {
		if k, ok := args[i].(string); ok && k == "timestamp" {
			args = append(args[:i:i], args[i+2:]...)
			break
		}
	}
	g.l.Log(context.Background(), toSlog(level), msg, renamePlugin(args)...)
}

// renamePlugin renames go-plugin's "plugin" attribute (the binary's path) to
// "plugin_path": "plugin" is the plugin's name, which the host already set.
func renamePlugin(args []any) []any {
	for i := 0; i+1 < len(args); i += 2 {
		if k, ok := args[i].(string); ok && k == "plugin" {
			out := append([]any(nil), args...)
			out[i] = "plugin_path"
			return out
		}
	}
	return args
}

func (g *logger) Trace(msg string, args ...any) { g.Log(hclog.Trace, msg, args...) }
func (g *logger) Debug(msg string, args ...any) { g.Log(hclog.Debug, msg, args...) }
func (g *logger) Info(msg string, args ...any)  { g.Log(hclog.Info, msg, args...) }
func (g *logger) Warn(msg string, args ...any)  { g.Log(hclog.Warn, msg, args...) }
func (g *logger) Error(msg string, args ...any) { g.Log(hclog.Error, msg, args...) }

func (g *logger) IsTrace() bool { return g.enabled(hclog.Trace) }
func (g *logger) IsDebug() bool { return g.enabled(hclog.Debug) }
func (g *logger) IsInfo() bool  { return g.enabled(hclog.Info) }
func (g *logger) IsWarn() bool  { return g.enabled(hclog.Warn) }
func (g *logger) IsError() bool { return g.enabled(hclog.Error) }

func (g *logger) ImpliedArgs() []any { return g.implied }

func (g *logger) With(args ...any) hclog.Logger {
	c := *g
	c.l = g.l.With(renamePlugin(args)...)
	c.implied = append(append([]any(nil), g.implied...), args...)
	return &c
}

func (g *logger) Name() string { return g.name }

func (g *logger) Named(name string) hclog.Logger {
	if g.name != "" {
		name = g.name + "." + name
	}
	return g.ResetNamed(name)
}

func (g *logger) ResetNamed(name string) hclog.Logger {
	c := *g
	c.name = name
	return &c
}

func (g *logger) SetLevel(level hclog.Level) { g.level.Store(int32(level)) }

// GetLevel reports the lowest level that gets through, so go-plugin can skip
// parsing plugin lines that would be dropped anyway.
func (g *logger) GetLevel() hclog.Level {
	for l := hclog.Level(g.level.Load()); l <= hclog.Error; l++ {
		if g.enabled(l) {
			return l
		}
	}
	return hclog.Off
}

func (g *logger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return slog.NewLogLogger(g.l.Handler(), g.forced(opts))
}

func (g *logger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	return g.StandardLogger(opts).Writer()
}

func (g *logger) forced(opts *hclog.StandardLoggerOptions) slog.Level {
	if opts != nil && opts.ForceLevel != hclog.NoLevel {
		return toSlog(opts.ForceLevel)
	}
	return slog.LevelInfo
}
