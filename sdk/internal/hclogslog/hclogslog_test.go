package hclogslog

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if l.IsDebug() || !l.IsInfo() || l.GetLevel() != hclog.Info {
		t.Errorf("levels: debug %v info %v get %v", l.IsDebug(), l.IsInfo(), l.GetLevel())
	}
	l.Debug("dropped")
	l.Named("x").With("a", 1).Warn("kept", "timestamp", "2024-01-01", "b", 2)
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("%q: %v", buf.String(), err)
	}
	if rec["level"] != "WARN" || rec["msg"] != "kept" || rec["a"] != 1.0 || rec["b"] != 2.0 {
		t.Errorf("record %v", rec)
	}
	if _, ok := rec["timestamp"]; ok || strings.Contains(buf.String(), "dropped") {
		t.Errorf("record %s", buf.String())
	}
	l.SetLevel(hclog.Error)
	if l.IsWarn() {
		t.Error("SetLevel did not narrow the level")
	}
}
