package sdk

import (
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/atriumhq/atrium/sdk/internal/wire"
)

var (
	namePattern       = regexp.MustCompile(`^[a-z][a-z0-9]{1,30}$`)
	permissionPattern = regexp.MustCompile(`^[a-z][a-z0-9]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$`)
	settingPattern    = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)
	literalPattern    = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	paramPattern      = regexp.MustCompile(`^\{[a-z][a-z0-9_]*\}$`)
	migrationPattern  = regexp.MustCompile(`^([0-9]+)_([a-z0-9_]+)\.(up|down)\.sql$`)
)

var (
	methods      = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}
	builtinRoles = []string{"admin", "member", "viewer"}
)

// Validate reports every problem of the manifest at once, so an author fixes
// them in one go. The host validates again what it receives.
func (m Manifest) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if !namePattern.MatchString(m.Name) {
		bad("name %q must match %s", m.Name, namePattern)
	}
	if strings.TrimSpace(m.Version) == "" {
		bad("version is empty")
	}
	if m.Protocol != ProtocolVersion {
		bad("protocol version %d, this SDK speaks %d", m.Protocol, ProtocolVersion)
	}

	declared := make(map[string]bool, len(m.Permissions))
	for _, p := range m.Permissions {
		switch {
		case !permissionPattern.MatchString(p.Name):
			bad("permission %q must look like %s.<noun>.<verb>", p.Name, m.Name)
		case !strings.HasPrefix(p.Name, m.Name+"."):
			bad("permission %q must start with the plugin name %q", p.Name, m.Name+".")
		case declared[p.Name]:
			bad("permission %q declared twice", p.Name)
		}
		declared[p.Name] = true
		if strings.TrimSpace(p.Description) == "" {
			bad("permission %q has no description", p.Name)
		}
		for _, r := range p.Roles {
			if !slices.Contains(builtinRoles, r) {
				bad("permission %q names role %q; only %v are built in", p.Name, r, builtinRoles)
			}
		}
	}

	routes := make(map[string]bool, len(m.Routes))
	for _, r := range m.Routes {
		where := fmt.Sprintf("route %s %q", r.Method, r.Path)
		if !slices.Contains(methods, r.Method) {
			bad("%s: method must be one of %v", where, methods)
		}
		shape, err := pathShape(r.Path)
		if err != nil {
			bad("%s: %v", where, err)
		}
		if key := r.Method + " " + shape; routes[key] {
			bad("%s: another route has the same method and path", where)
		} else {
			routes[key] = true
		}
		if !declared[r.Permission] {
			bad("%s: permission %q is not among the plugin's permissions", where, r.Permission)
		}
		if r.Method == "GET" && r.Mutates {
			bad("%s: a GET route must not mutate", where)
		}
	}

	keys := make(map[string]bool, len(m.Settings))
	for _, s := range m.Settings {
		if !settingPattern.MatchString(s.Key) {
			bad("setting %q must match %s", s.Key, settingPattern)
		}
		if keys[s.Key] {
			bad("setting %q declared twice", s.Key)
		}
		keys[s.Key] = true
	}

	for i, mg := range m.Migrations {
		if strings.TrimSpace(mg.Up) == "" {
			bad("migration %d_%s has an empty up script", mg.Version, mg.Name)
		}
		if i > 0 && mg.Version <= m.Migrations[i-1].Version {
			bad("migration %d_%s is out of order or duplicated", mg.Version, mg.Name)
		}
	}

	m.validateEvents(bad)

	if len(errs) > 0 {
		return fmt.Errorf("invalid manifest of plugin %q:\n%w", m.Name, errors.Join(errs...))
	}
	return nil
}

// pathShape checks a route path and returns it with every parameter
// replaced by {}, so "/{id}" and "/{key}" are seen as the same route.
func pathShape(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	if !strings.HasPrefix(path, "/") {
		return "", errors.New(`path must be empty or start with "/"`)
	}
	segments := strings.Split(path[1:], "/")
	params := make(map[string]bool)
	for i, s := range segments {
		switch {
		case paramPattern.MatchString(s):
			if params[s] {
				return "", fmt.Errorf("parameter %s appears twice", s)
			}
			params[s] = true
			segments[i] = "{}"
		case !literalPattern.MatchString(s):
			return "", fmt.Errorf("segment %q must be a lower-case literal or a {param}", s)
		}
	}
	return "/" + strings.Join(segments, "/"), nil
}

// readMigrations reads golang-migrate style files from the root of fsys.
func readMigrations(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	byVersion := make(map[uint64]*Migration)
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		parts := migrationPattern.FindStringSubmatch(e.Name())
		if parts == nil {
			return nil, fmt.Errorf("migration file %q: name must look like 000001_create_things.up.sql", e.Name())
		}
		version, err := strconv.ParseUint(parts[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("migration file %q: %w", e.Name(), err)
		}
		sql, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration: %w", err)
		}
		mg := byVersion[version]
		if mg == nil {
			mg = &Migration{Version: version, Name: parts[2]}
			byVersion[version] = mg
		} else if mg.Name != parts[2] {
			return nil, fmt.Errorf("migration %d has two names, %q and %q", version, mg.Name, parts[2])
		}
		if parts[3] == "up" {
			mg.Up = string(sql)
		} else {
			mg.Down = string(sql)
		}
	}
	out := make([]Migration, 0, len(byVersion))
	for _, mg := range byVersion {
		if mg.Up == "" {
			return nil, fmt.Errorf("migration %d_%s has no up script", mg.Version, mg.Name)
		}
		out = append(out, *mg)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// toWire converts a validated manifest for GetManifest.
func (m Manifest) toWire() *wire.Manifest {
	w := &wire.Manifest{
		Name:        m.Name,
		Version:     m.Version,
		Protocol:    wire.ProtocolVersion, // Validate checked m.Protocol
		Routes:      make([]*wire.Route, len(m.Routes)),
		Permissions: make([]*wire.Permission, len(m.Permissions)),
		Settings:    make([]*wire.Setting, len(m.Settings)),
		Migrations:  make([]*wire.Migration, len(m.Migrations)),
		// Handle answers a handler's first statement from the request's
		// prefetch (db.go).
		TakesPrefetch: true,
	}
	for i, r := range m.Routes {
		w.Routes[i] = &wire.Route{
			Method: r.Method, Path: r.Path, Permission: r.Permission, Mutates: r.Mutates,
			Summary: r.Summary, RequestSchema: r.RequestSchema, ResponseSchema: r.ResponseSchema,
			StreamBody: r.StreamBody,
		}
	}
	for i, p := range m.Permissions {
		w.Permissions[i] = &wire.Permission{Name: p.Name, Description: p.Description, Roles: p.Roles}
	}
	for i, s := range m.Settings {
		w.Settings[i] = &wire.Setting{Key: s.Key, Description: s.Description}
	}
	for i, mg := range m.Migrations {
		w.Migrations[i] = &wire.Migration{Version: mg.Version, Name: mg.Name, Up: mg.Up, Down: mg.Down}
	}
	for _, e := range m.Emits {
		w.Emits = append(w.Emits, &wire.EventType{Type: e.Type, Description: e.Description, Schema: e.Schema})
	}
	w.Subscribes = m.Subscribes
	return w
}
