// Package localpg runs a private PostgreSQL cluster from the machine's server
// binaries, so `make run` works with no database to set up. The cluster lives
// in one directory, listens only on a unix socket there, trusts local
// connections, and is reused by the next run.
package localpg

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Superuser and Database are the names the private cluster is created with.
const (
	Superuser = "atrium"
	Database  = "atrium"
)

// maxSocketPath is the portable limit of a unix socket path (sun_path).
const maxSocketPath = 103

// Cluster is a running private cluster.
type Cluster struct {
	dir     string // .atrium/pg
	data    string // .atrium/pg/data
	sockDir string
	port    int
	bin     string
	cred    *syscall.Credential // run as this user when we are root
	log     *slog.Logger
}

// Start initialises the cluster under dir if it is new, starts it (or adopts
// one a previous run left running) and makes sure the atrium database exists.
func Start(ctx context.Context, dir string, log *slog.Logger) (*Cluster, error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: abs, data: filepath.Join(abs, "data"), bin: bin, log: log}
	if err := c.prepareOwner(); err != nil {
		return nil, err
	}
	if err := c.initdb(ctx); err != nil {
		return nil, err
	}
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	if err := c.createDatabase(ctx); err != nil {
		_ = c.Stop(context.Background())
		return nil, err
	}
	return c, nil
}

// prepareOwner makes the cluster directory owned by whoever runs the server.
// PostgreSQL refuses to run as root, so as root we run it as "postgres".
func (c *Cluster) prepareOwner() error {
	// The parents stay traversable: as root the server runs as another user.
	if err := os.MkdirAll(filepath.Dir(c.dir), 0o755); err != nil { //nolint:gosec // see above
		return fmt.Errorf("private PostgreSQL: %w", err)
	}
	if os.Geteuid() != 0 {
		return c.mkdir()
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return errors.New("private PostgreSQL: running as root and there is no 'postgres' user to run the server as; set DATABASE_URL or run as a normal user")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)} //nolint:gosec // uids fit
	if !reachable(filepath.Dir(c.dir), uid, gid) {
		// A checkout only root can read (a root home, say): the cluster
		// lives where the postgres user can reach it, one per checkout.
		sum := sha256.Sum256([]byte(c.dir))
		c.dir = filepath.Join(rootFallbackDir, "pg-"+hex.EncodeToString(sum[:6]))
		c.data = filepath.Join(c.dir, "data")
		c.log.Info("private PostgreSQL: the postgres user cannot reach the data directory; using another", "dir", c.dir)
		if err := os.MkdirAll(rootFallbackDir, 0o755); err != nil { //nolint:gosec // traversed by postgres
			return fmt.Errorf("private PostgreSQL: %w", err)
		}
	}
	if err := c.mkdir(); err != nil {
		return err
	}
	// initdb, running as that user, creates everything below it.
	if err := os.Chown(c.dir, uid, gid); err != nil {
		return fmt.Errorf("private PostgreSQL: %w", err)
	}
	return nil
}

// rootFallbackDir holds the clusters of checkouts the postgres user cannot
// reach, when atriumd runs as root.
const rootFallbackDir = "/var/lib/atrium"

func (c *Cluster) mkdir() error {
	if err := os.Mkdir(c.dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("private PostgreSQL: %w", err)
	}
	return nil
}

// reachable tells whether uid (in group gid) may traverse dir and every
// directory above it.
func reachable(dir string, uid, gid int) bool {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return false
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return false
		}
		mode := fi.Mode().Perm()
		switch {
		case int(st.Uid) == uid:
			if mode&0o100 == 0 {
				return false
			}
		case int(st.Gid) == gid:
			if mode&0o010 == 0 {
				return false
			}
		case mode&0o001 == 0:
			return false
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}

func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	// Own process group: a Ctrl-C aimed at atriumd must not reach the server
	// directly; atriumd stops it in order on the way out.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: c.cred}
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd
}

func (c *Cluster) run(ctx context.Context, name string, args ...string) error {
	out, err := c.command(ctx, name, args...).CombinedOutput()
	if errors.Is(err, fs.ErrPermission) && c.cred != nil {
		return fmt.Errorf("private PostgreSQL: the postgres user cannot reach %s; set ATRIUM_DATA_DIR to a directory it can reach, or set DATABASE_URL", c.dir)
	}
	if err != nil {
		return fmt.Errorf("private PostgreSQL: %s: %w: %s", name, err, lastLine(out))
	}
	return nil
}

func (c *Cluster) initdb(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(c.data, "PG_VERSION")); err == nil {
		return c.checkVersion()
	}
	c.log.Info("initialising private PostgreSQL cluster", "dir", c.data, "binaries", c.bin)
	return c.run(ctx, "initdb", "-D", c.data, "-U", Superuser, "-E", "UTF8", "--locale=C",
		"--auth-local=trust", "--auth-host=reject", "--no-instructions")
}

// checkVersion refuses a data directory made by another major version with
// a line saying what to do, instead of pg_ctl's long log.
func (c *Cluster) checkVersion() error {
	b, err := os.ReadFile(filepath.Join(c.data, "PG_VERSION"))
	if err != nil {
		return fmt.Errorf("private PostgreSQL: %w", err)
	}
	have := strings.TrimSpace(string(b))
	out, err := exec.Command(filepath.Join(c.bin, "postgres"), "--version").Output()
	if err != nil {
		return fmt.Errorf("private PostgreSQL: postgres --version: %w", err)
	}
	fields := strings.Fields(string(out))
	want := strings.SplitN(fields[len(fields)-1], ".", 2)[0]
	if have != want {
		return fmt.Errorf("private PostgreSQL: %s was created by PostgreSQL %s but the binaries in %s are %s; remove it or set ATRIUM_PG_BIN", c.data, have, c.bin, want)
	}
	return nil
}

func (c *Cluster) start(ctx context.Context) error {
	if port, sock, ok := c.running(ctx); ok {
		c.port, c.sockDir = port, sock
		c.log.Info("adopting running private PostgreSQL cluster", "dir", c.data, "port", c.port)
		return nil
	}
	port, err := freePort()
	if err != nil {
		return fmt.Errorf("private PostgreSQL: pick a port: %w", err)
	}
	c.port = port
	c.sockDir = c.dir
	if len(filepath.Join(c.sockDir, ".s.PGSQL."+strconv.Itoa(port))) > maxSocketPath {
		if c.sockDir, err = c.shortSocketDir(); err != nil {
			return err
		}
	}
	return c.pgStart(ctx)
}

// pgStart starts the server on c.port and c.sockDir and waits for it.
func (c *Cluster) pgStart(ctx context.Context) error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses='' -c unix_socket_permissions=0700", c.port, c.sockDir)
	c.log.Info("starting private PostgreSQL cluster", "dir", c.data, "port", c.port)
	return c.run(ctx, "pg_ctl", "start", "-D", c.data, "-w", "-t", "60", "-s",
		"-l", filepath.Join(c.dir, "postgres.log"), "-o", opts)
}

// Restart starts a cluster that Stop stopped again, where it listened
// before (so its URL still reaches it), as a restarted server would be:
// tests restart the database under a running core with Stop and Restart.
func (c *Cluster) Restart(ctx context.Context) error {
	if c.sockDir != c.dir { // Stop removed it
		if err := os.MkdirAll(c.sockDir, 0o700); err != nil {
			return fmt.Errorf("private PostgreSQL: socket directory: %w", err)
		}
		if c.cred != nil {
			if err := os.Chown(c.sockDir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
				return fmt.Errorf("private PostgreSQL: socket directory: %w", err)
			}
		}
	}
	return c.pgStart(ctx)
}

// running reports a server already up on this data directory, from its
// postmaster.pid (line 4: port, line 5: socket directory).
func (c *Cluster) running(ctx context.Context) (port int, sockDir string, ok bool) {
	if c.run(ctx, "pg_ctl", "status", "-D", c.data) != nil {
		return 0, "", false
	}
	b, err := os.ReadFile(filepath.Join(c.data, "postmaster.pid"))
	if err != nil {
		return 0, "", false
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 5 {
		return 0, "", false
	}
	port, err = strconv.Atoi(strings.TrimSpace(lines[3]))
	return port, strings.TrimSpace(lines[4]), err == nil
}

// shortSocketDir is used when the project path is too deep for a socket path.
func (c *Cluster) shortSocketDir() (string, error) {
	d, err := os.MkdirTemp("", "atrium-pg-")
	if err != nil {
		return "", fmt.Errorf("private PostgreSQL: socket directory: %w", err)
	}
	if c.cred != nil {
		if err := os.Chown(d, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return "", fmt.Errorf("private PostgreSQL: socket directory: %w", err)
		}
	}
	return d, nil
}

func (c *Cluster) createDatabase(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, c.url("postgres"))
	if err != nil {
		return fmt.Errorf("private PostgreSQL: connect: %w", err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", Database).Scan(&exists); err != nil {
		return fmt.Errorf("private PostgreSQL: %w", err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{Database}.Sanitize()); err != nil {
		return fmt.Errorf("private PostgreSQL: create database: %w", err)
	}
	return nil
}

// URL is the connection URL of the atrium database.
func (c *Cluster) URL() string { return c.url(Database) }

func (c *Cluster) url(db string) string {
	q := url.Values{"host": {c.sockDir}, "port": {strconv.Itoa(c.port)}, "sslmode": {"disable"}}
	return (&url.URL{Scheme: "postgres", User: url.User(Superuser), Path: "/" + db, RawQuery: q.Encode()}).String()
}

// Stop shuts the cluster down (fast mode: open sessions are ended, data is
// flushed) and waits for it.
func (c *Cluster) Stop(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := c.run(ctx, "pg_ctl", "stop", "-D", c.data, "-m", "fast", "-w", "-s"); err != nil {
		return err
	}
	c.log.Info("stopped private PostgreSQL cluster", "dir", c.data)
	if c.sockDir != c.dir {
		_ = os.RemoveAll(c.sockDir)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLine(out []byte) string {
	var last string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			last = s
		}
	}
	return last
}

// AdminURL is the connection URL of the maintenance database, for tools that
// create databases of their own (tests).
func (c *Cluster) AdminURL() string { return c.url("postgres") }

// Reachable reports whether a PostgreSQL server answers at url.
func Reachable(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}
