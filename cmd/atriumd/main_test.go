package main

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/postgres/postgrestest"
)

// The test binary doubles as atriumd when asked, so these tests exercise the
// real process: its exit line, its exit code, its signal handling.
func TestMain(m *testing.M) {
	if os.Getenv("ATRIUMD_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func atriumd(t *testing.T, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), append([]string{"ATRIUMD_TEST_RUN_MAIN=1", "ATRIUM_BCRYPT_COST=10", "ATRIUM_SHUTDOWN_READINESS_DELAY=0s"}, env...)...)
	return cmd
}

// --help prints the usage, the environment included, and exits 0; an
// unknown flag or argument prints it on stderr and exits 2. Neither starts
// anything: with no DATABASE_URL a start would create a private cluster
// in the working directory.
func TestHelpAndUnknownArgumentsStartNothing(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"--help"}, 0},
		{[]string{"-h"}, 0},
		{[]string{"--verbose"}, 2},
		{[]string{"serve"}, 2},
		{[]string{"-h", "extra"}, 0},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			dir := t.TempDir()
			cmd := atriumd(t, "DATABASE_URL=", "ATRIUM_HTTP_ADDR=127.0.0.1:0")
			cmd.Args = append(cmd.Args, tt.args...)
			cmd.Dir = dir
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			done := make(chan error, 1)
			require.NoError(t, cmd.Start())
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				var exit *exec.ExitError
				if err != nil {
					require.ErrorAs(t, err, &exit)
				}
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("still running: it started something\n%s", stdout.String())
			}
			assert.Equal(t, tt.code, cmd.ProcessState.ExitCode())
			usage, other := stdout.String(), stderr.String()
			if tt.code != 0 {
				usage, other = other, usage
				assert.True(t, strings.HasPrefix(usage, "atriumd: "), usage)
			}
			assert.Contains(t, usage, "atriumd migrate [--parallelism N]")
			assert.Contains(t, usage, "DATABASE_URL")
			assert.Contains(t, usage, "ATRIUM_HTTP_ADDR                     [127.0.0.1:8080]")
			assert.Empty(t, other)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, entries, "no private cluster, no blob directory")
		})
	}
}

func TestBadConfigurationIsOneLineAndNonZero(t *testing.T) {
	out, err := atriumd(t, "ATRIUM_LOG_LEVEL=loud").CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 1, exit.ExitCode())
	assert.Equal(t, "atriumd: invalid configuration: ATRIUM_LOG_LEVEL=\"loud\": want debug, info, warn or error\n", string(out))
}

func TestUnreachableDatabaseIsOneLineAndNonZero(t *testing.T) {
	cmd := atriumd(t, "DATABASE_URL=postgres://atrium:pw@127.0.0.1:1/atrium?connect_timeout=2", "ATRIUM_LOG_LEVEL=error")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 1, exit.ExitCode())
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	require.Len(t, lines, 1, stderr.String())
	assert.True(t, strings.HasPrefix(lines[0], "atriumd: cannot reach PostgreSQL at 127.0.0.1:1/atrium"), lines[0])
	assert.NotContains(t, lines[0], "pw@")
}

func TestServesThenExitsZeroOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	cmd := atriumd(t, "DATABASE_URL="+postgrestest.NewDatabase(t), "ATRIUM_HTTP_ADDR=127.0.0.1:0", "ATRIUM_BLOB_URL=file://"+t.TempDir())
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	addr := ""
	lines := bufio.NewScanner(stdout)
	for addr == "" && lines.Scan() {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal(lines.Bytes(), &rec) == nil && rec.Msg == "serving HTTP" {
			addr = rec.Addr
		}
	}
	require.NotEmpty(t, addr, "atriumd never said where it serves")
	go func() { // keep draining the log so atriumd never blocks on stdout
		for lines.Scan() {
		}
	}()

	var resp *http.Response
	require.Eventually(t, func() bool {
		resp, err = http.Get("http://" + addr + "/readyz") //nolint:noctx,bodyclose // test; closed below
		return err == nil
	}, 5*time.Second, 20*time.Millisecond)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "SIGTERM is a clean exit; stderr: %s", stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatal("atriumd did not exit after SIGTERM")
	}
}

// Redis is optional while serving, so at start too: with Redis down atriumd
// starts, says so, and is ready but degraded. A Redis that answers and
// refuses (a wrong password, a database it does not have) is a configuration mistake: one line, exit 1.
func TestStartsDegradedWhileRedisIsDown(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	closed := freeAddr(t) // nothing listens there
	s := serve(t, atriumd(t, "DATABASE_URL="+postgrestest.NewDatabase(t), "ATRIUM_HTTP_ADDR=127.0.0.1:0",
		"ATRIUM_BLOB_URL=file://"+t.TempDir(), "REDIS_URL=redis://"+closed+"/0"))
	assert.Contains(t, s.msgs, "Redis does not answer; starting degraded: caches and sign-in rate limits are kept in process until it does")

	resp, err := http.Get("http://" + s.addr + "/readyz") //nolint:noctx // test
	require.NoError(t, err)
	defer resp.Body.Close()
	var ready struct {
		Status string
		Checks map[string]struct{ Status string }
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ready))
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "degraded", ready.Status)
	assert.Equal(t, "down", ready.Checks["redis"].Status)
	s.stop(t)
}

func TestARedisThatRefusesUsStopsTheStart(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis")
	}
	redisAddr := "127.0.0.1:6379"
	if conn, err := net.DialTimeout("tcp", redisAddr, time.Second); err != nil {
		t.Skipf("no Redis at %s: %v", redisAddr, err)
	} else {
		conn.Close()
	}
	// Redis has 16 databases unless configured otherwise: SELECT 99 is refused.
	cmd := atriumd(t, "DATABASE_URL="+postgrestest.NewDatabase(t), "ATRIUM_HTTP_ADDR=127.0.0.1:0",
		"ATRIUM_BLOB_URL=file://"+t.TempDir(), "REDIS_URL=redis://:secret@"+redisAddr+"/99", "ATRIUM_LOG_LEVEL=error")
	cmd.WaitDelay = time.Second
	timer := time.AfterFunc(time.Minute, func() { _ = cmd.Process.Kill() }) // a start that serves is the failure
	defer timer.Stop()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 1, exit.ExitCode())
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	require.Len(t, lines, 1, stderr.String())
	assert.Contains(t, lines[0], "redis at "+redisAddr)
	assert.Contains(t, lines[0], "DB index is out of range")
	assert.NotContains(t, lines[0], "secret")
}
