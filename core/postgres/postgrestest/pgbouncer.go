package postgrestest

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PgBouncerEnv, set to 1, routes the core/app suite's DATABASE_URL through
// a PgBouncer in transaction pooling mode (StartPgBouncer), with the
// database itself as ATRIUM_DATABASE_DIRECT_URL.
const PgBouncerEnv = "ATRIUM_TEST_PGBOUNCER"

// PgBouncerWanted says whether PgBouncerEnv asks for the whole suite to
// run through PgBouncer.
func PgBouncerWanted() bool { return os.Getenv(PgBouncerEnv) == "1" }

// PgBouncer is a pgbouncer process in transaction pooling mode in front of
// the test server (AdminURL), started for one test.
type PgBouncer struct {
	Addr string // host:port
	dir  string
	cmd  *exec.Cmd
}

// StartPgBouncer starts Debian's pgbouncer (PGBOUNCER, else pgbouncer on
// PATH or in /usr/sbin) with a generated configuration: pool_mode
// transaction, auth_type trust (every role the server has may log in; the
// server itself decides), one pool per user and database, for every
// database of the test server. It skips the test when there is no
// pgbouncer, and stops it when the test ends. As root it runs as the
// postgres user: pgbouncer refuses to run as root.
func StartPgBouncer(tb testing.TB) *PgBouncer {
	tb.Helper()
	return StartPgBouncerWith(tb, PgBouncerConfig{})
}

// PgBouncerConfig changes what StartPgBouncer configures.
type PgBouncerConfig struct {
	// PoolSize is default_pool_size: server connections per user and
	// database (20 when 0). A small one makes clients share them.
	PoolSize int
	// ResetAlways sets server_reset_query_always (DISCARD ALL after every
	// transaction too): off by default, as atriumd needs it not.
	ResetAlways bool
}

// StartPgBouncerWith is StartPgBouncer configured by c.
func StartPgBouncerWith(tb testing.TB, c PgBouncerConfig) *PgBouncer {
	tb.Helper()
	bin := pgbouncerBinary()
	if bin == "" {
		tb.Skip("pgbouncer is not installed (apt-get install -y pgbouncer, or set PGBOUNCER to the binary)")
	}
	server, err := url.Parse(AdminURL())
	if err != nil {
		tb.Fatalf("postgrestest: %v", err)
	}
	host, port := server.Hostname(), server.Port()
	if host == "" || strings.HasPrefix(host, "/") {
		tb.Skip("pgbouncer: the test server is not reached over TCP")
	}
	if port == "" {
		port = "5432"
	}
	dir, err := os.MkdirTemp("", "atrium-pgbouncer-")
	if err != nil {
		tb.Fatalf("postgrestest: %v", err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	listen, err := freePort()
	if err != nil {
		tb.Fatalf("postgrestest: %v", err)
	}
	admin := server.User.Username()
	if admin == "" {
		admin = "postgres"
	}
	ensureAuthRole(tb)
	ini := fmt.Sprintf(`[databases]
* = host=%s port=%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
logfile = %s
pool_mode = transaction
auth_type = trust
auth_file = %s
auth_user = %s
auth_query = SELECT rolname, NULL::text FROM pg_catalog.pg_roles WHERE rolname = $1
max_client_conn = 2000
default_pool_size = %d
max_db_connections = 0
server_reset_query = DISCARD ALL
server_reset_query_always = %d
server_check_delay = 0
ignore_startup_parameters = extra_float_digits
admin_users = %s
`, host, port, listen, filepath.Join(dir, "pgbouncer.log"), filepath.Join(dir, "userlist.txt"), pgbouncerAuthRole,
		cmp.Or(c.PoolSize, 20), boolInt(c.ResetAlways), admin)
	userlist := fmt.Sprintf("%q \"\"\n", pgbouncerAuthRole)
	files := map[string]string{"pgbouncer.ini": ini, "userlist.txt": userlist}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			tb.Fatalf("postgrestest: %v", err)
		}
	}
	cmd := exec.Command(bin, filepath.Join(dir, "pgbouncer.ini"))
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			tb.Skip("pgbouncer refuses to run as root and there is no postgres user to run it as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		// The directory and its files are the postgres user's: pgbouncer
		// reads them and writes its log there.
		for _, path := range []string{dir, filepath.Join(dir, "pgbouncer.ini"), filepath.Join(dir, "userlist.txt")} {
			if err := os.Chown(path, uid, gid); err != nil {
				tb.Fatalf("postgrestest: %v", err)
			}
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}} //nolint:gosec // a uid
	}
	if os.Getenv("ATRIUM_TEST_LOG") == "" {
		cmd.Args = append(cmd.Args, "-q") // the log file has it all
	} else {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("postgrestest: start pgbouncer: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error // set before exited closes
	go func() { waitErr = cmd.Wait(); close(exited) }()
	b := &PgBouncer{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(listen)), dir: dir, cmd: cmd}
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT) // shut down at once
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", b.Addr, time.Second)
		if err == nil {
			_ = c.Close()
			return b
		}
		select {
		case <-exited:
			tb.Fatalf("postgrestest: pgbouncer exited: %v\n%s", waitErr, b.Log())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("postgrestest: pgbouncer does not answer on %s\n%s", b.Addr, b.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// URL is dbURL (a database on the test server) reached through PgBouncer.
func (b *PgBouncer) URL(tb testing.TB, dbURL string) string {
	tb.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		tb.Fatalf("postgrestest: %v", err)
	}
	u.Host = b.Addr
	return u.String()
}

// Log is what pgbouncer logged so far.
func (b *PgBouncer) Log() string {
	raw, _ := os.ReadFile(filepath.Join(b.dir, "pgbouncer.log"))
	return string(raw)
}

func pgbouncerBinary() string {
	if p := os.Getenv("PGBOUNCER"); p != "" {
		return p
	}
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/pgbouncer"); err == nil {
		return "/usr/sbin/pgbouncer"
	}
	return ""
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil //nolint:forcetypeassert // a TCP listener
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// OnTestServer says whether dbURL is a database on the test server itself
// (not behind a fault-injecting Proxy, not an address that answers nothing).
func OnTestServer(dbURL string) bool {
	u, err := url.Parse(dbURL)
	if err != nil {
		return false
	}
	admin, err := url.Parse(AdminURL())
	return err == nil && u.Host == admin.Host
}

// pgbouncerAuthRole is the role PgBouncer looks roles up as: a login with
// no rights (pg_roles is readable by everyone; with trust no password is
// read). A role of its own, so that the lookups have a server pool of their
// own: in the pool of a role the core uses, they would wait behind the
// core's units of work, which may themselves wait for a plugin connection
// that waits for its lookup.
const pgbouncerAuthRole = "atrium_test_pgbouncer_auth"

func ensureAuthRole(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		tb.Fatalf("postgrestest: %v", err)
	}
	defer admin.Close(context.Background())
	_, err = admin.Exec(ctx, `DO $$ BEGIN
		CREATE ROLE `+pgbouncerAuthRole+` LOGIN;
	EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
	END $$`)
	if err != nil {
		tb.Fatalf("postgrestest: create %s: %v", pgbouncerAuthRole, err)
	}
}
