package sdk

import (
	"io"
	"log/slog"
)

// hclogTime is the timestamp layout go-plugin parses in a plugin's stderr;
// a line in another layout reaches the host as unparsed debug text.
const hclogTime = "2006-01-02T15:04:05.000000Z07:00"

// newLogger writes slog records as the JSON lines hclog writes, which
// go-plugin forwards to the host's log with their level and fields.
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level:       slog.LevelDebug,
		ReplaceAttr: hclogAttr,
	}))
}

func hclogAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.TimeKey:
		return slog.String("@timestamp", a.Value.Time().Format(hclogTime))
	case slog.LevelKey:
		return slog.String("@level", hclogLevel(a.Value.Any().(slog.Level)))
	case slog.MessageKey:
		return slog.Attr{Key: "@message", Value: a.Value}
	}
	return a
}

func hclogLevel(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}
