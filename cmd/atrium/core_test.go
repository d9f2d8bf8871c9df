package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"sigs.k8s.io/yaml"

	"github.com/atriumhq/atrium/core/api"
	"github.com/atriumhq/atrium/core/api/model"
	"github.com/atriumhq/atrium/core/app"
	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
)

const (
	testOperator   = "ops@cli.test"
	testOpPassword = "operator password 1"
	adminPassword  = "tenant admin password"
)

// core is a whole atriumd (the fx graph of core/app) on a fresh database,
// reached over real HTTP, with a config directory of its own for the
// CLI's sign-ins.
type core struct {
	t      *testing.T
	server string
	config string // XDG_CONFIG_HOME
}

func startCore(t *testing.T) *core {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	cfg, err := config.Parse(map[string]string{
		"ATRIUM_HTTP_ADDR":                   "127.0.0.1:0",
		"DATABASE_URL":                       postgrestest.NewDatabase(t),
		"ATRIUM_SHUTDOWN_TIMEOUT":            "5s",
		"ATRIUM_SHUTDOWN_READINESS_DELAY":    "0s",
		"ATRIUM_BCRYPT_COST":                 "10",
		"ATRIUM_BLOB_URL":                    "file://" + t.TempDir(),
		"ATRIUM_BOOTSTRAP_OPERATOR_EMAIL":    testOperator,
		"ATRIUM_BOOTSTRAP_OPERATOR_PASSWORD": testOpPassword,
	})
	require.NoError(t, err)
	var srv *api.Server
	a := fxtest.New(t, app.Options(cfg, slog.New(slog.DiscardHandler)), fx.Populate(&srv))
	a.RequireStart()
	c := &core{t: t, server: "http://" + srv.Addr(), config: t.TempDir()}
	t.Setenv("XDG_CONFIG_HOME", c.config)
	// Tenants own server-wide roles: delete them before the app stops.
	t.Cleanup(func() {
		var list model.TenantList
		out, _, err := c.run("", "tenants", "list", "--all", "-o", "json")
		if err == nil && json.Unmarshal([]byte(out), &list) == nil {
			for _, tn := range list.Items {
				_, _, err := c.run("", "tenants", "delete", tn.Slug, "--yes")
				assert.NoError(t, err, "delete tenant %s", tn.Slug)
			}
		}
		a.RequireStop()
	})
	return c
}

// run runs the CLI against the core with stdin and returns its stdout,
// stderr and error.
func (c *core) run(stdin string, args ...string) (string, string, error) {
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(append(args, "--server", c.server))
	err := root.Execute()
	return out.String(), errOut.String(), err
}

// ok runs the CLI and requires success.
func (c *core) ok(args ...string) string {
	c.t.Helper()
	out, stderr, err := c.run("", args...)
	require.NoError(c.t, err, "%v: %s", args, stderr)
	return out
}

// decode runs the CLI with -o json and decodes what it prints.
func decode[T any](c *core, args ...string) T {
	c.t.Helper()
	var v T
	out := c.ok(append(args, "-o", "json")...)
	require.NoError(c.t, json.Unmarshal([]byte(out), &v), out)
	return v
}

func (c *core) credentialsPath() string {
	return filepath.Join(c.config, "atrium", "credentials.json")
}

func (c *core) sessions() map[string]*session {
	c.t.Helper()
	f, err := (&credentialStore{path: c.credentialsPath()}).load()
	require.NoError(c.t, err)
	return f.Servers[c.server]
}

// The operator's walkthrough: sign in (password on stdin, kept 0600),
// tenants created, listed page by page and in every format, suspended,
// resumed, backed up and restored.
func TestOperatorCommandsAgainstCore(t *testing.T) {
	c := startCore(t)

	// Not signed in: said so, exit 1, nothing stored.
	_, _, err := c.run("", "tenants", "list")
	require.ErrorContains(t, err, "not signed in")
	assert.Equal(t, exitFailed, exitCode(err))

	// A wrong password is the server's problem, printed with its code.
	_, _, err = c.run("wrong password\n", "login", "--operator", "--email", testOperator)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "401 Unauthorized")
	assert.Equal(t, exitFailed, exitCode(err))
	assert.NoFileExists(t, c.credentialsPath())

	out, _, err := c.run(testOpPassword+"\n", "login", "--operator", "--email", testOperator)
	require.NoError(t, err)
	assert.Contains(t, out, "signed in as operator as "+testOperator)
	st, err := os.Stat(c.credentialsPath())
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	dir, err := os.Stat(filepath.Dir(c.credentialsPath()))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), dir.Mode().Perm())
	raw, err := os.ReadFile(c.credentialsPath())
	require.NoError(t, err)
	assert.NotContains(t, string(raw), testOpPassword, "the password is never stored")
	op := c.sessions()[asOperator]
	require.NotNil(t, op)
	require.Equal(t, testOperator, op.Email)
	assert.NotEmpty(t, op.AccessToken)
	assert.NotEmpty(t, op.RefreshToken)

	acme := decode[model.TenantResponse](c, "tenants", "create", "acme", "--name", "Acme Inc",
		"--admin-email", "admin@acme.test", "--admin-password", adminPassword, "--setting", "region=eu", "--setting", "seats=5")
	assert.Equal(t, "acme", acme.Slug)
	assert.Equal(t, map[string]any{"region": "eu", "seats": float64(5)}, acme.Settings)
	for _, slug := range []string{"beta", "gamma", "delta", "epsilon"} {
		c.ok("tenants", "create", slug, "--name", slug, "--admin-email", "admin@"+slug+".test", "--admin-password", adminPassword)
	}

	// Paging: one page and where the next one is; --cursor follows it;
	// --all follows every next_cursor.
	out, stderr, err := c.run("", "tenants", "list", "--limit", "2")
	require.NoError(t, err)
	assert.Equal(t, 3, strings.Count(out, "\n"), out) // header and 2 rows
	assert.Contains(t, stderr, "more: --cursor ")
	first := decode[model.TenantList](c, "tenants", "list", "--limit", "2")
	require.Len(t, first.Items, 2)
	require.NotNil(t, first.NextCursor)
	second := decode[model.TenantList](c, "tenants", "list", "--limit", "2", "--cursor", *first.NextCursor)
	require.Len(t, second.Items, 2)
	assert.NotEqual(t, first.Items[0].Slug, second.Items[0].Slug)
	all := decode[model.TenantList](c, "tenants", "list", "--limit", "2", "--all")
	assert.Len(t, all.Items, 5)
	assert.Nil(t, all.NextCursor)
	var slugs []string
	for _, tn := range all.Items {
		slugs = append(slugs, tn.Slug)
	}
	assert.ElementsMatch(t, []string{"acme", "beta", "gamma", "delta", "epsilon"}, slugs)

	// The three formats say the same.
	var fromYAML model.TenantResponse
	require.NoError(t, yaml.Unmarshal([]byte(c.ok("tenants", "show", "acme", "-o", "yaml")), &fromYAML))
	assert.Equal(t, acme.ID, fromYAML.ID)
	assert.Equal(t, acme.Settings, fromYAML.Settings)
	table := c.ok("tenants", "show", "acme")
	assert.Contains(t, table, "SLUG:      acme\n")
	assert.Contains(t, table, `SETTINGS:  {"region":"eu","seats":5}`)

	assert.Equal(t, "tenant beta: suspended\n", c.ok("tenants", "suspend", "beta"))
	suspended := decode[model.TenantList](c, "tenants", "list", "--status", "suspended")
	require.Len(t, suspended.Items, 1)
	assert.Equal(t, "beta", suspended.Items[0].Slug)
	assert.Equal(t, "tenant beta: active\n", c.ok("tenants", "resume", "beta"))

	renamed := decode[model.TenantResponse](c, "tenants", "update", "acme", "--name", "Acme Corporation")
	assert.Equal(t, "Acme Corporation", renamed.Name)
	assert.Equal(t, acme.Settings, renamed.Settings, "what no flag names stays")

	// A backup downloaded to a file (0600: it holds every row) restores
	// into a new tenant.
	backup := filepath.Join(t.TempDir(), "acme.tar.gz")
	assert.Contains(t, c.ok("tenants", "backup", "acme", "-f", backup), "wrote "+backup)
	st, err = os.Stat(backup)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	assert.Positive(t, st.Size())
	// The upload is sent again, from the start, after the refresh a 401
	// brings (here the stored access token is not one).
	sess := c.sessions()[asOperator]
	sess.AccessToken = "not-a-token"
	require.NoError(t, (&credentialStore{path: c.credentialsPath()}).put(c.server, sess))
	copied := decode[model.TenantResponse](c, "tenants", "restore", "acme-copy", backup)
	assert.Equal(t, "acme-copy", copied.Slug)
	stored := decode[model.StoredBackup](c, "tenants", "backup", "acme", "--to-store")
	assert.NotEmpty(t, stored.Key)
	restored := decode[model.TenantResponse](c, "tenants", "restore", "acme-stored", "--backup-key", stored.Key)
	assert.Equal(t, "acme-stored", restored.Slug)

	// Delete asks for the slug again; a wrong answer deletes nothing.
	_, _, err = c.run("gamm\n", "tenants", "delete", "gamma")
	assert.Equal(t, exitUsage, exitCode(err))
	c.ok("tenants", "show", "gamma")
	_, _, err = c.run("gamma\n", "tenants", "delete", "gamma")
	require.NoError(t, err)
	_, _, err = c.run("", "tenants", "show", "gamma")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "404 Not Found (not_found)")
	assert.Contains(t, err.Error(), "[request ")

	// Completion offers the server's tenant slugs.
	root := newRoot()
	var comp bytes.Buffer
	root.SetOut(&comp)
	root.SetArgs([]string{"__complete", "tenants", "show", "--server", c.server, ""})
	require.NoError(t, root.Execute())
	assert.Contains(t, comp.String(), "acme\n")
	assert.Contains(t, comp.String(), "epsilon\n")

	// Operator break glass reads any tenant's audit log.
	recs := decode[model.AuditList](c, "audit", "list", "--tenant", "acme", "--action", "identity.session.login")
	assert.Empty(t, recs.Items, "nobody has signed in to acme yet")
	v := decode[model.AuditVerification](c, "audit", "verify", "--tenant", "acme")
	assert.True(t, v.OK)

	// A plugin list, in JSON as the model reads it.
	plugins := decode[model.PluginList](c, "plugins", "list")
	assert.NotNil(t, plugins.Items)

	last := c.sessions()[asOperator] // its refresh token unspent
	out = c.ok("logout", "--operator")
	assert.Contains(t, out, "signed out of "+c.server)
	assert.Nil(t, c.sessions()[asOperator])
	_, _, err = c.run("", "tenants", "list")
	require.ErrorContains(t, err, "not signed in")
	// The spent sign-in's refresh token was revoked on the server.
	r := remote{server: c.server}
	_, err = r.refresh(t.Context(), last)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "401")
}

// A tenant admin's walkthrough: users, roles, service accounts and keys,
// policies, audit; the stored token refreshed when expired; problems
// printed with their fields; usage errors exit 2 and send nothing.
func TestTenantCommandsAgainstCore(t *testing.T) {
	c := startCore(t)
	c.ok("login", "--operator", "--email", testOperator, "--password", testOpPassword)
	c.ok("tenants", "create", "acme", "--name", "Acme", "--admin-email", "admin@acme.test", "--admin-password", adminPassword)
	t.Setenv("ATRIUM_PASSWORD", adminPassword)
	out := c.ok("login", "--tenant", "acme", "--email", "admin@acme.test")
	assert.Contains(t, out, "signed in to tenant acme as admin@acme.test")
	both := c.sessions()
	require.NotNil(t, both[asOperator], "the operator's sign-in stays beside the tenant user's")
	require.NotNil(t, both[asTenant])
	t.Setenv("ATRIUM_PASSWORD", "")

	// Users, by id or by email.
	ana := decode[model.UserResponse](c, "users", "create", "ana@acme.test", "--name", "Ana", "--password", "ana's password 1", "--role", "member")
	assert.Equal(t, []string{"member"}, ana.Roles)
	for i := range 3 {
		c.ok("users", "create", "u"+string(rune('a'+i))+"@acme.test", "--password", "a password of some length")
	}
	users := decode[model.UserList](c, "users", "list", "--limit", "2", "--all")
	assert.Len(t, users.Items, 5) // with the admin
	shown := decode[model.UserResponse](c, "users", "show", "ana@acme.test")
	assert.Equal(t, ana.ID, shown.ID)
	shown = decode[model.UserResponse](c, "users", "show", ana.ID.String())
	assert.Equal(t, "ana@acme.test", shown.Email)
	assert.Equal(t, []string{"viewer"}, decode[model.UserResponse](c, "users", "roles", "ana@acme.test", "viewer").Roles)
	assert.Equal(t, "disabled", decode[model.UserResponse](c, "users", "update", "ana@acme.test", "--status", "disabled").Status)
	_, _, err := c.run("", "users", "update", "ana@acme.test")
	assert.Equal(t, exitUsage, exitCode(err), "nothing to change")

	// A refused request prints the problem: status, code, detail, each
	// field, the request id; it exits 1.
	_, _, err = c.run("", "users", "create", "not-an-email", "--password", "x")
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, "422 Unprocessable Entity (validation_failed)")
	assert.Contains(t, msg, "\n  email: ")
	assert.Contains(t, msg, "[request ")
	assert.Equal(t, exitFailed, exitCode(err))

	// Roles.
	role := decode[model.RoleResponse](c, "roles", "create", "auditor", "--permission", "audit.log.read", "--description", "reads the log")
	assert.Equal(t, []string{"audit.log.read"}, role.Permissions)
	role = decode[model.RoleResponse](c, "roles", "update", "auditor", "--permission", "audit.log.read,access.policy.read")
	assert.ElementsMatch(t, []string{"audit.log.read", "access.policy.read"}, role.Permissions)
	assert.Contains(t, c.ok("roles", "list"), "auditor")
	assert.Contains(t, c.ok("roles", "permissions"), "identity.user.create")
	assert.Equal(t, "role auditor: deleted\n", c.ok("roles", "delete", "auditor"))

	// Service accounts and keys: a key's secret works as --token until it
	// is revoked.
	sa := decode[model.ServiceAccountResponse](c, "service-accounts", "create", "ci", "--role", "admin")
	key := decode[model.CreatedKeyResponse](c, "keys", "create", sa.ID.String(), "--name", "deploy", "--expires", "720h")
	require.NotEmpty(t, key.Key)
	require.NotNil(t, key.ExpiresAt)
	assert.WithinDuration(t, time.Now().Add(720*time.Hour), *key.ExpiresAt, time.Minute)
	keys := decode[model.KeyList](c, "keys", "list", sa.ID.String())
	require.Len(t, keys.Items, 1)
	assert.NotContains(t, c.ok("keys", "list", sa.ID.String(), "-o", "json"), key.Key, "a listed key has no secret")
	c.ok("users", "list", "--token", key.Key)
	c.ok("keys", "revoke", sa.ID.String(), key.ID.String())
	_, _, err = c.run("", "users", "list", "--token", key.Key)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "401")
	updated := decode[model.ServiceAccountResponse](c, "service-accounts", "update", sa.ID.String(), "--roles", "viewer")
	assert.Equal(t, []string{"viewer"}, updated.Roles)
	assert.Len(t, decode[model.ServiceAccountList](c, "service-accounts", "list").Items, 1)
	c.ok("service-accounts", "delete", sa.ID.String())

	// Policies: push, versions, eval with exit codes by decision.
	dir := writeFiles(t, map[string]string{
		"guard.rego": "package tenant.guard\n\ndeny contains \"no deletes on Fridays\" if endswith(input.action, \".delete\")\n",
	})
	assert.Contains(t, c.ok("policy", "push", "guard", filepath.Join(dir, "guard.rego")), "policy guard: version 1 activated")
	assert.Contains(t, c.ok("policy", "push", "guard", filepath.Join(dir, "guard.rego")), "version 2 activated")
	versions := decode[model.PolicyList](c, "policy", "versions", "guard")
	require.Len(t, versions.Items, 2)
	out = c.ok("policy", "eval", "identity.user.read")
	assert.Contains(t, out, "DECISION:        allow")
	out, _, err = c.run("", "policy", "eval", "identity.user.delete", "--resource-type", "user", "--resource-id", ana.ID.String())
	assert.ErrorIs(t, err, errDenied)
	assert.Equal(t, exitFailed, exitCode(err))
	assert.Contains(t, out, "DECISION:        deny")
	assert.Contains(t, out, "no deletes on Fridays")
	d := decode[model.EvaluateResponse](c, "policy", "eval", "identity.user.create", "--role", "viewer", "--allow-exit-zero")
	assert.False(t, d.Allow, "a viewer may not create users")
	// The README's walkthrough: the example policy, tested on upload, and
	// a decision it makes.
	c.ok("policy", "push", "projects", "../../policies/examples/projects.rego", "--tests", "../../policies/examples/projects_test.rego")
	out, _, err = c.run("", "policy", "eval", "projects.project.update", "--role", "member",
		"--resource-type", "project", "--resource-attrs", `{"status": "archived"}`)
	assert.ErrorIs(t, err, errDenied)
	assert.Contains(t, out, "archived projects are read-only")
	c.ok("policy", "rollback", "guard", "1")
	c.ok("policy", "delete", "guard")

	// Audit: what the commands above did, filtered; the chain verifies.
	created := decode[model.AuditList](c, "audit", "list", "--action", "identity.user.create", "--outcome", "success", "--all")
	assert.Len(t, created.Items, 4)
	for _, r := range created.Items {
		assert.Equal(t, "admin@acme.test", r.Actor.Email)
	}
	assert.Contains(t, c.ok("audit", "verify"), "the chain is intact")
	_, _, err = c.run("", "audit", "list", "--since", "yesterday")
	assert.Equal(t, exitUsage, exitCode(err))

	// An expired access token is refreshed with the refresh token, and
	// the new pair stored.
	store := &credentialStore{path: c.credentialsPath()}
	sess := c.sessions()[asTenant]
	sess.ExpiresAt = time.Now().Add(-time.Minute)
	require.NoError(t, store.put(c.server, sess))
	c.ok("users", "list")
	fresh := c.sessions()[asTenant]
	assert.NotEqual(t, sess.AccessToken, fresh.AccessToken)
	assert.NotEqual(t, sess.RefreshToken, fresh.RefreshToken)
	assert.True(t, fresh.ExpiresAt.After(time.Now()))
	st, err := os.Stat(c.credentialsPath())
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "still 0600 after a refresh")

	// A token the server no longer takes (here: not a token) is refreshed
	// once on its 401.
	fresh.AccessToken = "not-a-token"
	require.NoError(t, store.put(c.server, fresh))
	c.ok("roles", "list")
	assert.NotEqual(t, "not-a-token", c.sessions()[asTenant].AccessToken)

	c.ok("logout")
	assert.Nil(t, c.sessions()[asTenant])
	assert.NotNil(t, c.sessions()[asOperator])
}

// Usage errors exit 2 before anything is sent.
func TestUsageErrorsExit2AndSendNothing(t *testing.T) {
	srv, got := fakeServer(t, http.StatusOK, `{"items": []}`)
	for _, args := range [][]string{
		{"tenants", "list", "--limit", "500"},
		{"tenants", "list", "--all", "--cursor", "x"},
		{"tenants", "list", "-o", "xml"},
		{"tenants", "list", "--no-such-flag"},
		{"tenants", "show"},
		{"tenants", "nosuch"},
		{"nosuch"},
		{"tenants", "update", "acme"},
		{"tenants", "create", "acme", "--name", "Acme"},
		{"keys", "create", "id"},
		{"keys", "create", "id", "--name", "k", "--expires", "soon"},
		{"policy", "eval", "x.y.z", "--subject-attrs", "[1]"},
		{"plugin", "new", "Bad-Name"},
		{"login"},
		{"login", "--operator", "--tenant", "acme"},
	} {
		_, _, err := runCLI(append(args, "--server", srv.URL, "--token", "tok")...)
		require.Error(t, err, "%v", args)
		assert.Equal(t, exitUsage, exitCode(err), "%v: %v", args, err)
		assert.Empty(t, got.method, "%v: nothing sent", args)
	}
	assert.Equal(t, exitOK, exitCode(nil))
}
