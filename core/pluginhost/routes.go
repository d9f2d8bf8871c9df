package pluginhost

import (
	"strings"

	"github.com/atriumhq/atrium/sdk"
)

// Prefix is where plugins' routes live: /api/v1/<plugin>/...
const Prefix = "/api/v1/"

// Match is a request matched to one of a plugin's routes.
type Match struct {
	Plugin string
	Index  int // into the manifest's routes
	Route  sdk.RouteSpec
	// Template is the route's full path in OpenAPI form:
	// /api/v1/projects/{id}/tasks.
	Template string
	Params   map[string]string
	Names    []string // the parameters in path order
}

// table matches request paths to a plugin's routes.
type table struct {
	routes []compiled
}

type compiled struct {
	index    int
	spec     sdk.RouteSpec
	template string
	segments []string // "{name}" for a parameter
}

func newTable(m sdk.Manifest) *table {
	t := &table{routes: make([]compiled, len(m.Routes))}
	for i, r := range m.Routes {
		tmpl := Prefix + m.Name + r.Path
		t.routes[i] = compiled{index: i, spec: r, template: tmpl, segments: split(tmpl)}
	}
	return t
}

func split(path string) []string { return strings.Split(strings.Trim(path, "/"), "/") }

// match finds the route for method and path. methodOK reports whether some
// route has the path (under another method): a 405 rather than a 404.
func (t *table) match(method, path string) (m Match, found, pathFound bool) {
	segs := split(path)
	for _, r := range t.routes {
		params, ok := r.bind(segs)
		if !ok {
			continue
		}
		pathFound = true
		if r.spec.Method == method {
			return Match{Index: r.index, Route: r.spec, Template: r.template, Params: params, Names: r.names()}, true, true
		}
	}
	return Match{}, false, pathFound
}

func (r compiled) bind(segs []string) (map[string]string, bool) {
	if len(segs) != len(r.segments) {
		return nil, false
	}
	var params map[string]string
	for i, s := range r.segments {
		if name, ok := strings.CutPrefix(s, "{"); ok {
			if segs[i] == "" {
				return nil, false
			}
			if params == nil {
				params = map[string]string{}
			}
			params[strings.TrimSuffix(name, "}")] = segs[i]
			continue
		}
		if s != segs[i] {
			return nil, false
		}
	}
	return params, true
}

// names are the route's parameters in path order.
func (r compiled) names() []string {
	var out []string
	for _, s := range r.segments {
		if name, ok := strings.CutPrefix(s, "{"); ok {
			out = append(out, strings.TrimSuffix(name, "}"))
		}
	}
	return out
}

// pluginOf is the plugin a path names: /api/v1/<plugin>/... .
func pluginOf(path string) string {
	rest, ok := strings.CutPrefix(path, Prefix)
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}
