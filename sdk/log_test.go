package sdk

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"testing"
	"time"
)

// TestLoggerWritesHclogJSON checks the keys and timestamp layout go-plugin
// needs to forward a line with its level and fields rather than as text.
func TestLoggerWritesHclogJSON(t *testing.T) {
	var buf bytes.Buffer
	newLogger(&buf).With("request_id", "r1").Warn("careful", "n", 3, slog.Group("g", "k", "v"))
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%s: %v", buf.String(), err)
	}
	if line["@level"] != "warn" || line["@message"] != "careful" || line["request_id"] != "r1" || line["n"] != 3.0 {
		t.Errorf("line %v", line)
	}
	if _, err := time.Parse(hclogTime, line["@timestamp"].(string)); err != nil {
		t.Errorf("timestamp: %v", err)
	}
	if g, _ := line["g"].(map[string]any); g["k"] != "v" {
		t.Errorf("group %v", line["g"])
	}
	for l, want := range map[slog.Level]string{slog.LevelDebug - 4: "trace", slog.LevelDebug: "debug", slog.LevelInfo: "info", slog.LevelError: "error"} {
		if got := hclogLevel(l); got != want {
			t.Errorf("hclogLevel(%v) = %s, want %s", l, got, want)
		}
	}
}

func TestWatchParent(t *testing.T) {
	gone := make(chan struct{})
	go watchParent(os.Getppid()+1, 5*time.Millisecond, func() { close(gone) })
	select {
	case <-gone:
	case <-time.After(2 * time.Second):
		t.Fatal("a changed parent went unnoticed")
	}
}
