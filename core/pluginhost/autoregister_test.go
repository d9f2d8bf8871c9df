package pluginhost

import (
	"bytes"
	"context"
	"crypto/sha256"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/sdk/transport"
)

// Only executable regular files directly in the directory count, links to
// them included; a missing directory has none.
func TestExecutablesInThePluginDirectory(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), mode))
	}
	write("b-plugin", 0o755)
	write("a-owner-only", 0o700)
	write("notes.txt", 0o644)
	write(".hidden", 0o755)
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sub", "nested"), []byte("#!/bin/sh\n"), 0o755))
	require.NoError(t, os.Symlink(filepath.Join(dir, "b-plugin"), filepath.Join(dir, "c-link")))
	require.NoError(t, os.Symlink(filepath.Join(dir, "sub"), filepath.Join(dir, "d-dirlink")))

	files, err := executables(dir)
	require.NoError(t, err)
	assert.Equal(t, []string{"a-owner-only", "b-plugin", "c-link"}, files)

	files, err = executables(filepath.Join(dir, "missing"))
	require.NoError(t, err)
	assert.Empty(t, files)
}

// lateCatalog is the catalog as a replica sees it when another replica
// registers the plugin between this one's reading the catalog and its
// writing: the first two Lists (Start's, RegisterDir's) have nothing, Add
// finds the entry there.
type lateCatalog struct {
	mu     sync.Mutex
	lists  int
	other  Entry
	puts   int
	writes int
}

func (c *lateCatalog) List(context.Context) ([]Entry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lists++
	if c.lists <= 2 {
		return nil, nil
	}
	return []Entry{c.other}, nil
}

func (c *lateCatalog) Put(context.Context, Entry) error {
	c.mu.Lock()
	c.puts++
	c.mu.Unlock()
	return nil
}

func (c *lateCatalog) Add(context.Context, Entry) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	return false, nil
}

func (*lateCatalog) Delete(context.Context, string) error { return nil }

// A replica that loses the race to register a plugin says nothing of it,
// changes nothing in the catalog, and runs the winner's entry.
func TestRegisterDirAfterAnotherReplicaRegistered(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "testplugin")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/atriumhq/atrium/sdk/internal/testplugin").CombinedOutput()
	require.NoError(t, err, string(out))
	data, err := os.ReadFile(bin)
	require.NoError(t, err)
	sum := sha256.Sum256(data)

	var logs bytes.Buffer
	var logMu sync.Mutex
	catalog := &lateCatalog{other: Entry{Name: "testplugin", Version: "1.0.0", File: "testplugin", SHA256: sum[:], RegisteredAt: time.Now()}}
	h := New(Options{Catalog: catalog, Permissions: anyPermissions{}, Migrator: noMigrations{}, Dir: dir,
		Limits: transport.Limits{Mechanism: transport.MechanismOff}, StartTimeout: 20 * time.Second,
		Logger: slog.New(slog.NewTextHandler(&lockedWriter{mu: &logMu, w: &logs}, nil))})
	require.NoError(t, h.Start(t.Context()))
	t.Cleanup(func() { _ = h.Stop(context.Background()) })

	require.NoError(t, h.RegisterDir(t.Context()))
	st := h.Statuses()
	require.Len(t, st, 1, logs.String())
	assert.Equal(t, "testplugin", st[0].Name)
	assert.Equal(t, StateRunning, st[0].State, st[0].LastError)
	assert.Equal(t, 1, catalog.writes, "one Add, which found it registered")
	assert.Zero(t, catalog.puts, "never an upgrade")
	logMu.Lock()
	defer logMu.Unlock()
	assert.NotContains(t, logs.String(), "plugin registered from the plugin directory")
	assert.NotContains(t, logs.String(), "not registered")
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
