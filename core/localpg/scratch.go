package localpg

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ScratchDatabase creates an empty database named prefix plus a random
// suffix on the server at adminURL (whose user may create databases) and
// returns its URL: a fresh installation for a tool's run (a load test).
func ScratchDatabase(ctx context.Context, adminURL, prefix string) (string, error) {
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", fmt.Errorf("scratch database: %w", err)
	}
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", fmt.Errorf("scratch database: connect to %s: %w", u.Redacted(), err)
	}
	defer conn.Close(context.Background())
	name := prefix + strings.ToLower(rand.Text()[:10])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("scratch database: create: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// DropScratchDatabase drops the database at dbURL (ending the sessions
// still open on it) from the server at adminURL, with the roles its Atrium
// installation made: tenant and plugin roles are the server's, not the
// database's, and would outlive it.
func DropScratchDatabase(ctx context.Context, adminURL, dbURL string) error {
	u, err := url.Parse(dbURL)
	if err != nil {
		return fmt.Errorf("drop scratch database: %w", err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	inst := installation(ctx, dbURL)
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("drop scratch database: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop scratch database %s: %w", name, err)
	}
	if inst == "" {
		return nil
	}
	rows, err := conn.Query(ctx, `SELECT quote_ident(rolname) FROM pg_roles WHERE rolname ~ ('^at[rpo]_' || $1 || '_')`, inst)
	if err != nil {
		return fmt.Errorf("drop scratch database: list roles: %w", err)
	}
	roles, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("drop scratch database: list roles: %w", err)
	}
	for _, r := range roles {
		if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+r); err != nil {
			return fmt.Errorf("drop scratch database: drop role %s: %w", r, err)
		}
	}
	return nil
}

// installation is the Atrium installation ID of the database at dbURL, ""
// when it holds none.
func installation(ctx context.Context, dbURL string) string {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return ""
	}
	defer conn.Close(context.Background())
	var id string
	if err := conn.QueryRow(ctx, "SELECT id FROM atrium.installation").Scan(&id); err != nil {
		return ""
	}
	return id
}
