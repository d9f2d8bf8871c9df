package procmem_test

import (
	"net"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/internal/procmem"
)

func TestRSSOfThisProcess(t *testing.T) {
	rss, err := procmem.RSS(os.Getpid())
	require.NoError(t, err)
	assert.Greater(t, rss, int64(1<<20), "a Go test binary holds more than a MiB")
}

func TestTreeRSSCountsChildren(t *testing.T) {
	child := exec.Command("sleep", "30")
	require.NoError(t, child.Start())
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })

	own, err := procmem.RSS(os.Getpid())
	require.NoError(t, err)
	total, pids, err := procmem.TreeRSS(os.Getpid())
	require.NoError(t, err)

	assert.Equal(t, os.Getpid(), pids[0])
	assert.Contains(t, pids, child.Process.Pid)
	assert.Greater(t, total, own)
}

func TestTreeRSSOfNoProcess(t *testing.T) {
	_, _, err := procmem.TreeRSS(1 << 30)
	require.Error(t, err)
}

func TestListenerPID(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port

	pid, err := procmem.ListenerPID(port)
	require.NoError(t, err)
	assert.Equal(t, os.Getpid(), pid)

	require.NoError(t, l.Close())
	_, err = procmem.ListenerPID(port)
	require.ErrorIs(t, err, procmem.ErrNoListener)
}
