package localpg

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// ErrNoBinaries means no PostgreSQL server binaries were found.
var ErrNoBinaries = errors.New("no PostgreSQL server binaries (initdb, pg_ctl) found: install them " +
	"(Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql@17), " +
	"set ATRIUM_PG_BIN to their directory, or set DATABASE_URL")

// searchGlobs are where distributions put server binaries that are not on PATH.
// versionDigits finds the major version in "16", "postgresql@16" or "pgsql-16".
var versionDigits = regexp.MustCompile(`^(?:postgresql@|pgsql-)?([0-9]+)(?:\.[0-9]+)?$`)

var searchGlobs = []string{
	"/usr/lib/postgresql/*/bin",          // Debian, Ubuntu
	"/usr/pgsql-*/bin",                   // RHEL, Fedora (PGDG)
	"/opt/homebrew/opt/postgresql@*/bin", // macOS Homebrew, Apple silicon
	"/usr/local/opt/postgresql@*/bin",    // macOS Homebrew, Intel
	"/Applications/Postgres.app/Contents/Versions/*/bin",
}

// findBinaries returns the directory holding initdb and pg_ctl: ATRIUM_PG_BIN,
// else PATH, else the newest version among the usual install locations.
func findBinaries() (string, error) {
	if dir := os.Getenv("ATRIUM_PG_BIN"); dir != "" {
		if hasServer(dir) {
			return dir, nil
		}
		return "", errors.New("ATRIUM_PG_BIN=" + dir + ": no initdb and pg_ctl there")
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		if dir := filepath.Dir(p); hasServer(dir) {
			return dir, nil
		}
	}
	var found []string
	for _, g := range searchGlobs {
		m, _ := filepath.Glob(g)
		for _, dir := range m {
			if hasServer(dir) {
				found = append(found, dir)
			}
		}
	}
	if len(found) == 0 {
		return "", ErrNoBinaries
	}
	sort.Slice(found, func(i, j int) bool { return majorOf(found[i]) > majorOf(found[j]) })
	return found[0], nil
}

func hasServer(dir string) bool {
	for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() { //nolint:gosec // dir comes from the operator or fixed globs
			return false
		}
	}
	return true
}

// majorOf reads the version number out of a path such as /usr/lib/postgresql/16/bin.
func majorOf(dir string) int {
	for _, part := range strings.Split(dir, string(filepath.Separator)) {
		if m := versionDigits.FindStringSubmatch(part); m != nil {
			n, _ := strconv.Atoi(m[1])
			return n
		}
	}
	return 0
}
