package pluginhost

import (
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/kernel"
)

// A request that finds the process gone before its supervisor noticed is
// told that, not "not running (running)"; otherwise the state it is in.
func TestNotRunningSaysWhy(t *testing.T) {
	p := newSupervised(Entry{Name: "projects"}, nil, DefaultSupervision, slog.New(slog.DiscardHandler), nil)
	for state, want := range map[State]string{
		StateRunning:    "plugin projects is not running: its process exited; retry later",
		StateRestarting: "plugin projects is not running (restarting); retry later",
		StateFailed:     "plugin projects is not running (failed); retry later",
	} {
		p.state = state
		_, err := p.current()
		require.Error(t, err)
		var ke *kernel.Error
		require.ErrorAs(t, err, &ke)
		assert.Equal(t, want, ke.Message)
		assert.ErrorIs(t, err, ErrUnavailable)
	}
}
