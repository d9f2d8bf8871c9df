package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/tenancy"
)

// PluginConns are the connections plugins' SQL runs on: one pool per plugin
// and tenant, logged in as that plugin's runtime role in that tenant
// (pluginroles.go), its search path the tenant's schema. Their sessions
// belong to no other role, so whatever a statement does to its session, it
// cannot become a role with more rights.
//
// Pools are created on first use and forgotten (least recently used first)
// past a bound; together they never hold more than a set number of open
// connections: a pool that needs one while that many are open closes
// another pool's idle connections, or waits for one to close.
type PluginConns struct {
	core *pgxpool.Pool // the platform role's, to repair a plugin role's password
	base *pgx.ConnConfig
	keys *Keys
	inst func(context.Context) (string, error)
	opts PluginConnOptions
	log  *slog.Logger

	mu    sync.Mutex
	pools *simplelru.LRU[poolKey, *pgxpool.Pool]
	// scopes are, behind a transaction pooler, the statement that gives a
	// plugin's transaction the settings its connections cannot start with
	// (localSettings): its tenant's search path, its timeouts.
	scopes map[poolKey]string
	open   int
	freed  chan struct{} // closed, and replaced, whenever a connection closes
	shares *shares
}

// PluginConnOptions bound the plugins' connections.
type PluginConnOptions struct {
	// MaxConns bounds the connections open over every plugin and tenant.
	MaxConns int
	// MaxPools bounds the pools kept (each a plugin in a tenant).
	MaxPools int
	// IdleTime closes a connection unused for that long.
	IdleTime time.Duration
	// StatementTimeout bounds each statement and each idle moment inside a
	// transaction: no plugin holds locks past its call's deadline.
	StatementTimeout time.Duration
	// AcquireTimeout bounds a request's wait for its pool's share (shares).
	AcquireTimeout time.Duration
}

// NewPluginConns returns the plugins' connections to the database of pool,
// which are made with pool's settings (host, TLS) for other users.
func NewPluginConns(pool *pgxpool.Pool, keys *Keys, inst func(context.Context) (string, error), o PluginConnOptions, log *slog.Logger) *PluginConns {
	if o.MaxConns <= 0 {
		o.MaxConns = 20
	}
	if o.MaxPools <= 0 {
		o.MaxPools = 1024
	}
	if o.IdleTime <= 0 {
		o.IdleTime = time.Minute
	}
	if o.AcquireTimeout <= 0 {
		o.AcquireTimeout = 5 * time.Second
	}
	p := &PluginConns{core: pool, base: pool.Config().ConnConfig, keys: keys, inst: inst, opts: o, log: log,
		freed: make(chan struct{}), scopes: map[poolKey]string{}, shares: newShares(o.MaxConns)}
	p.pools, _ = simplelru.NewLRU(o.MaxPools, func(_ poolKey, evicted *pgxpool.Pool) { go evicted.Close() })
	return p
}

// Acquire returns a connection for plugin's SQL in tenant t, the
// statement to run after each BEGIN on it ("" unless behind a transaction
// pooler: localSettings), and the function to call after releasing the
// connection, once the pool's share allows it one more (shares).
func (p *PluginConns) Acquire(ctx context.Context, t *kernel.Tenant, plugin string) (*pgxpool.Conn, string, func(), error) {
	key := poolKey{t.ID, plugin}
	done, err := p.shares.take(ctx, key, p.opts.AcquireTimeout)
	if err != nil {
		return nil, "", nil, err
	}
	conn, scope, err := p.acquire(ctx, t, plugin)
	if err != nil {
		done()
		return nil, "", nil, err
	}
	return conn, scope, done, nil
}

func (p *PluginConns) acquire(ctx context.Context, t *kernel.Tenant, plugin string) (*pgxpool.Conn, string, error) {
	pool, err := p.pool(ctx, t, plugin)
	if err != nil {
		return nil, "", err
	}
	p.mu.Lock()
	scope := p.scopes[poolKey{t.ID, plugin}]
	p.mu.Unlock()
	conn, err := pool.Acquire(ctx)
	if errors.Is(err, errRoleSettingsRemoved) {
		conn, err = pool.Acquire(ctx) // a clean session now
	}
	if isCode(err, codeInvalidPassword) {
		// A role may change its own password; atriumd's is derived, and
		// set again.
		if err = p.repairPassword(ctx, pool.Config().ConnConfig.User); err == nil {
			conn, err = pool.Acquire(ctx)
		}
	}
	if err != nil {
		return nil, "", unavailable(fmt.Errorf("plugin %s's connection: %w", plugin, err))
	}
	return conn, scope, nil
}

// repairPassword sets role's password back to the one atriumd derives.
func (p *PluginConns) repairPassword(ctx context.Context, role string) error {
	password, err := p.keys.RolePassword(ctx, nil, role)
	if err != nil {
		return err
	}
	verifier, err := scramVerifier(password)
	if err != nil {
		return err
	}
	p.log.Warn("a plugin role's password was changed; setting it back", "role", role)
	_, err = p.core.Exec(ctx, "ALTER ROLE "+pgx.Identifier{role}.Sanitize()+" PASSWORD '"+verifier+"'")
	return err
}

// poolKey names a pool: a plugin in a tenant.
type poolKey struct {
	tenant uuid.UUID
	plugin string
}

func (p *PluginConns) pool(ctx context.Context, t *kernel.Tenant, plugin string) (*pgxpool.Pool, error) {
	key := poolKey{t.ID, plugin} // no string built per request
	p.mu.Lock()
	pool, ok := p.pools.Get(key)
	p.mu.Unlock()
	if ok {
		return pool, nil
	}
	inst, err := p.inst(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	_, runtime := tenancy.PluginRoles(inst, t.Slug, plugin)
	cc, err := pluginConnConfig(ctx, p.base, p.keys, runtime, t.Schema, "atriumd plugin "+plugin)
	if err != nil {
		return nil, err
	}
	if d := p.opts.StatementTimeout; d > 0 {
		// A transaction also waits, idle, while the handler works on and
		// until the core commits it after the call: twice the bound.
		cc.RuntimeParams["statement_timeout"] = fmt.Sprint(d.Milliseconds())
		cc.RuntimeParams["idle_in_transaction_session_timeout"] = fmt.Sprint(2 * d.Milliseconds())
	}
	scope := localSettings(cc)
	cfg, err := pgxpool.ParseConfig("")
	if err != nil {
		return nil, err
	}
	cfg.ConnConfig = cc
	cfg.MaxConns = int32(p.opts.MaxConns) //nolint:gosec // bounded by configuration
	cfg.MinConns = 0
	cfg.MaxConnIdleTime = p.opts.IdleTime
	cfg.MaxConnLifetime = time.Hour
	cfg.HealthCheckPeriod = p.opts.IdleTime / 2
	dial := cc.DialFunc
	cc.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if isCancelDial(ctx) {
			return dial(ctx, network, addr)
		}
		if err := p.reserve(ctx, key); err != nil {
			return nil, err
		}
		c, err := dial(ctx, network, addr)
		if err != nil {
			p.release()
			return nil, err
		}
		return &countedConn{Conn: c, release: p.release}, nil
	}
	cancelAtContextEnd(&cc.Config)
	cfg.AfterConnect = checkPluginSession
	pool, err = pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if cur, ok := p.pools.Get(key); ok { // another request made it first
		go pool.Close()
		return cur, nil
	}
	p.pools.Add(key, pool)
	p.scopes[key] = scope
	return pool, nil
}

// reserve counts a connection about to open, making room when the bound is
// reached by closing one idle connection of a pool that has more open than
// its share (least recently used first: an idle tenant's pool has none), or
// waiting for one to close. Taking from a pool within its share would only
// have it take one back.
func (p *PluginConns) reserve(ctx context.Context, key poolKey) error {
	for {
		p.mu.Lock()
		if p.open < p.opts.MaxConns {
			p.open++
			p.mu.Unlock()
			return nil
		}
		var victim *pgxpool.Pool
		share, atWork := p.shares.current()
		for _, k := range p.pools.Keys() {
			pool, ok := p.pools.Peek(k)
			if !ok || k == key || pool.Stat().IdleConns() == 0 {
				continue
			}
			if open := int(pool.Stat().TotalConns()); !atWork(k) || open > share {
				victim = pool
				break
			}
		}
		freed := p.freed
		p.mu.Unlock()
		if victim != nil {
			for i, c := range victim.AcquireAllIdle(ctx) {
				if i == 0 {
					_ = c.Conn().Close(ctx)
				}
				c.Release()
			}
			continue
		}
		// A connection of another pool going idle is not announced (only
		// one closing is): look again shortly, or a waiter would sit out
		// its whole acquire timeout beside an idle connection.
		select {
		case <-freed:
		case <-time.After(reserveRescan):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// reserveRescan is how often a pool waiting for room looks for idle
// connections of other pools to close.
const reserveRescan = 10 * time.Millisecond

func (p *PluginConns) release() {
	p.mu.Lock()
	p.open--
	close(p.freed)
	p.freed = make(chan struct{})
	p.mu.Unlock()
}

// Forget closes the pools of a tenant that changed (deleted, restored,
// suspended: its plugin roles may be gone or made anew); uuid.Nil, every
// tenant's.
func (p *PluginConns) Forget(tenant uuid.UUID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range p.pools.Keys() {
		if tenant == uuid.Nil || k.tenant == tenant {
			p.pools.Remove(k) // closes it
			delete(p.scopes, k)
		}
	}
}

// Close closes every pool, waiting for their connections to be released.
func (p *PluginConns) Close() {
	p.mu.Lock()
	pools := p.pools.Values()
	p.pools.Purge()
	p.mu.Unlock()
	for _, pool := range pools {
		pool.Close()
	}
}

// countedConn gives its place back when closed.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// errPluginRoleHoldsMore is a plugin role that can do more than it was
// made for: atriumd runs no plugin SQL as it.
var errPluginRoleHoldsMore = errors.New("refusing to run plugin SQL as a role that is a superuser, may create roles or databases, " +
	"bypasses row level security, replicates or is a member of another role")

// errRoleSettingsRemoved is a plugin role's session that started with
// settings the role had given itself; they are removed, and the next
// session starts clean.
var errRoleSettingsRemoved = errors.New("the role had settings of its own, now removed")

// pluginSessionSQL tells whether the current user (a plugin's role) is more
// than a login with privileges on objects, and whether it has settings of
// its own, which a role may give itself (ALTER ROLE CURRENT_USER SET) and
// every later session would start with.
const pluginSessionSQL = `SELECT r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolbypassrls OR r.rolreplication
		OR EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m WHERE m.member = r.oid),
	EXISTS (SELECT 1 FROM pg_catalog.pg_db_role_setting s WHERE s.setrole = r.oid)
	FROM pg_catalog.pg_roles r WHERE r.rolname = current_user`

// checkPluginSession refuses a connection whose role holds more than a
// plugin may: atriumd created it with no such attribute, so one found is
// someone else's change, and plugin SQL must not run with it. A role that
// gave itself settings has them removed, and the connection, which started
// with them, is refused: the pool makes a clean one.
func checkPluginSession(ctx context.Context, conn *pgx.Conn) error {
	var more, settings bool
	if err := conn.QueryRow(ctx, pluginSessionSQL).Scan(&more, &settings); err != nil {
		return err
	}
	if more {
		return fmt.Errorf("%s: %w", conn.Config().User, errPluginRoleHoldsMore)
	}
	if settings {
		db := pgx.Identifier{conn.Config().Database}.Sanitize()
		if _, err := conn.Exec(ctx, "ALTER ROLE CURRENT_USER RESET ALL; ALTER ROLE CURRENT_USER IN DATABASE "+db+" RESET ALL"); err != nil {
			return fmt.Errorf("%s: remove the role's own settings: %w", conn.Config().User, err)
		}
		return fmt.Errorf("%s: %w", conn.Config().User, errRoleSettingsRemoved)
	}
	return nil
}

// CheckPluginRoles reports, at start, every plugin role that holds more
// than a plugin may: requests of those plugins in those tenants fail until
// an operator takes the attribute or membership away.
func CheckPluginRoles(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	rows, err := pool.Query(ctx, `SELECT r.rolname FROM atrium.tenant_plugin_roles p
		JOIN pg_roles r ON r.rolname IN (p.owner_role, p.runtime_role)
		WHERE r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolbypassrls OR r.rolreplication
			OR EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.member = r.oid)
		ORDER BY 1`)
	if err != nil {
		return fmt.Errorf("check plugin roles: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("check plugin roles: %w", err)
	}
	for _, n := range names {
		log.Error("plugin role holds more than a plugin may; its plugin's SQL will not run", "role", n, "error", errPluginRoleHoldsMore)
	}
	return nil
}
