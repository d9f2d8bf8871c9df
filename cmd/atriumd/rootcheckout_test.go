package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// make run's start path as a newcomer runs it in a container: as root, in a
// checkout only root can read, with no configuration. The private cluster
// lives where the postgres user can reach it, only postgres and root can
// read it, the log says where, the next run reuses it, and SIGTERM stops it.
func TestMakeRunAsRootInACheckoutOnlyRootCanRead(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a private PostgreSQL cluster")
	}
	if os.Geteuid() != 0 {
		t.Skip("runs as root only: the layout under test is root's")
	}
	pg, err := user.Lookup("postgres")
	if err != nil {
		t.Skip("no postgres system user to run the private cluster as")
	}
	pgUID, _ := strconv.Atoi(pg.Uid)
	checkout := t.TempDir()
	require.NoError(t, os.Chmod(checkout, 0o700))

	first := startInCheckout(t, checkout)
	dir := first.fields["private PostgreSQL: the postgres user cannot reach the data directory; using another"]["dir"]
	require.NotEmpty(t, dir, "the log does not say where the cluster lives:\n%s", first.log)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	assert.True(t, strings.HasPrefix(dir, "/var/lib/atrium/pg-"), dir)
	assert.Contains(t, first.msgs, "initialising private PostgreSQL cluster")
	assert.Less(t, slices.Index(first.msgs, "private PostgreSQL: the postgres user cannot reach the data directory; using another"), 3,
		"the cluster's place is among the first lines: %v", first.msgs)

	// Only postgres (and root) reach the cluster, its data and its socket.
	for _, p := range []string{dir, filepath.Join(dir, "data")} {
		fi, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), p)
		assert.Equal(t, uint32(pgUID), fi.Sys().(*syscall.Stat_t).Uid, p)
	}
	socks, err := filepath.Glob(filepath.Join(dir, ".s.PGSQL.*"))
	require.NoError(t, err)
	require.NotEmpty(t, socks, "no socket in %s", dir)
	for _, s := range socks {
		if strings.HasSuffix(s, ".lock") {
			continue
		}
		fi, err := os.Stat(s)
		require.NoError(t, err)
		assert.Zero(t, fi.Mode().Perm()&0o077, "socket %s is %v", s, fi.Mode())
	}
	_, err = os.Stat(filepath.Join(checkout, ".atrium", "pg", "data"))
	assert.ErrorIs(t, err, os.ErrNotExist, "nothing of the cluster in the checkout")

	// The first start creates the first operator, its generated password
	// in a file only root reads, never in the log; it signs in.
	const created = "created the first operator; its password is in the file"
	assert.Equal(t, filepath.Join(".atrium", "operator-password"), first.fields[created]["file"], "log:\n%s", first.log)
	pwFile := filepath.Join(checkout, ".atrium", "operator-password")
	fi, err := os.Stat(pwFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	password, err := os.ReadFile(pwFile)
	require.NoError(t, err)
	pw := strings.TrimSpace(string(password))
	assert.GreaterOrEqual(t, len(pw), 26)
	assert.NotContains(t, first.log, pw)
	body, _ := json.Marshal(map[string]string{"email": "operator@atrium.localhost", "password": pw})
	resp, err := http.Post("http://"+first.addr+"/api/v1/operator/login", "application/json", bytes.NewReader(body)) //nolint:noctx // test
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	first.stop(t)
	_, err = os.Stat(filepath.Join(dir, "data", "postmaster.pid"))
	assert.ErrorIs(t, err, os.ErrNotExist, "SIGTERM stops the cluster")

	// The next run reuses the same cluster.
	second := startInCheckout(t, checkout)
	assert.Equal(t, dir, second.fields["private PostgreSQL: the postgres user cannot reach the data directory; using another"]["dir"])
	assert.NotContains(t, second.msgs, "initialising private PostgreSQL cluster")
	assert.NotContains(t, second.msgs, created, "one first operator")
	again, err := os.ReadFile(pwFile)
	require.NoError(t, err)
	assert.Equal(t, password, again)
	assert.Equal(t, filepath.Join(dir, "data"), second.fields["starting private PostgreSQL cluster"]["dir"])
	second.stop(t)
}

// startInCheckout starts atriumd as make run does: in the checkout, with
// no database or data directory configured, and waits for /readyz 200.
func startInCheckout(t *testing.T, checkout string) *started {
	t.Helper()
	cmd := atriumd(t, "ATRIUM_HTTP_ADDR=127.0.0.1:0")
	cmd.Env = slices.DeleteFunc(cmd.Env, func(kv string) bool {
		return strings.HasPrefix(kv, "DATABASE_URL=") || strings.HasPrefix(kv, "ATRIUM_DATA_DIR=")
	})
	cmd.Dir = checkout
	return serve(t, cmd)
}
