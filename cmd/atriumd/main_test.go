package main

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
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
			assert.Contains(t, usage, "ATRIUM_PLUGIN_AUTOREGISTER           [true]")
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
	line := failedStart(t, atriumd(t, "DATABASE_URL=postgres://atrium:pw@127.0.0.1:1/atrium?connect_timeout=2", "ATRIUM_LOG_LEVEL=error"))
	assert.True(t, strings.HasPrefix(line, "atriumd: cannot reach PostgreSQL at 127.0.0.1:1/atrium"), line)
	assert.NotContains(t, line, "pw@")
}

// failedStart runs cmd, an atriumd that must not start, and returns the one
// line it says on stderr; it must exit 1 within a minute.
func failedStart(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.WaitDelay = time.Second
	timer := time.AfterFunc(time.Minute, func() { _ = cmd.Process.Kill() }) // a start that serves is the failure
	defer timer.Stop()
	err := cmd.Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 1, exit.ExitCode())
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	require.Len(t, lines, 1, stderr.String())
	return lines[0]
}

func TestServesThenExitsZeroOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	cmd := atriumd(t, "DATABASE_URL="+postgrestest.NewDatabase(t), "ATRIUM_HTTP_ADDR=127.0.0.1:0", "ATRIUM_BLOB_URL=file://"+t.TempDir())
	cmd.Env = slices.DeleteFunc(cmd.Env, func(kv string) bool {
		return strings.HasPrefix(kv, "GOGC=") || strings.HasPrefix(kv, "GOMEMLIMIT=") || strings.HasPrefix(kv, "AUTOMEMLIMIT=")
	})
	s := serve(t, cmd)
	assert.Equal(t, map[string]string{"gogc_from": "atriumd", "memory_limit_from": "none"},
		map[string]string{"gogc_from": s.fields["garbage collector"]["gogc_from"], "memory_limit_from": s.fields["garbage collector"]["memory_limit_from"]},
		"atriumd sets its collector's pace; this machine's cgroup has no memory limit")
	s.stop(t)
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
	line := failedStart(t, atriumd(t, "DATABASE_URL="+postgrestest.NewDatabase(t), "ATRIUM_HTTP_ADDR=127.0.0.1:0",
		"ATRIUM_BLOB_URL=file://"+t.TempDir(), "REDIS_URL=redis://:secret@"+redisAddr+"/99", "ATRIUM_LOG_LEVEL=error"))
	assert.Contains(t, line, "redis at "+redisAddr)
	assert.Contains(t, line, "DB index is out of range")
	assert.NotContains(t, line, "secret")
}

// started is an atriumd that serves, and what it logged until it did.
type started struct {
	cmd    *exec.Cmd
	done   chan error
	msgs   []string
	fields map[string]map[string]string
	log    string
	addr   string
}

// serve starts cmd, an atriumd, and waits for /readyz 200.
func serve(t *testing.T, cmd *exec.Cmd) *started {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	s := &started{cmd: cmd, done: make(chan error, 1), fields: map[string]map[string]string{}}
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	var log strings.Builder
	addr := ""
	lines := bufio.NewScanner(stdout)
	for addr == "" && lines.Scan() {
		log.WriteString(lines.Text() + "\n")
		var rec map[string]any
		if json.Unmarshal(lines.Bytes(), &rec) != nil {
			continue
		}
		msg, _ := rec["msg"].(string)
		s.msgs = append(s.msgs, msg)
		s.fields[msg] = map[string]string{}
		for k, v := range rec {
			if str, ok := v.(string); ok {
				s.fields[msg][k] = str
			}
		}
		if msg == "serving HTTP" {
			addr = s.fields[msg]["addr"]
		}
	}
	s.log, s.addr = log.String(), addr
	require.NotEmpty(t, addr, "atriumd never served; stdout:\n%s\nstderr:\n%s", s.log, stderr.String())
	go func() { // keep draining the log so atriumd never blocks on stdout
		for lines.Scan() {
		}
		s.done <- cmd.Wait()
	}()

	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz") //nolint:noctx // test
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 50*time.Millisecond, "/readyz never answered 200")
	return s
}

func (s *started) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-s.done:
		require.NoError(t, err, "SIGTERM is a clean exit")
	case <-time.After(30 * time.Second):
		t.Fatal("atriumd did not exit after SIGTERM")
	}
}
