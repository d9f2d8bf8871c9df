package sdk

import (
	"encoding/json"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func nop(*Context) error { return nil }

func validPlugin() Plugin {
	return Plugin{
		Name:    "projects",
		Version: "1.2.0",
		Permissions: []Permission{
			{Name: "projects.project.read", Description: "Read projects", Roles: []string{"viewer"}},
			{Name: "projects.project.create", Description: "Create projects"},
		},
		Settings: []Setting{{Key: "projects.max_open", Description: "Open projects allowed"}},
		Routes: []Route{
			{Method: "GET", Path: "", Permission: "projects.project.read", Handler: nop},
			{Method: "POST", Path: "", Permission: "projects.project.create", Mutates: true, Handler: nop},
			{Method: "GET", Path: "/{id}/tasks/{task_id}", Permission: "projects.project.read", Handler: nop},
		},
		Migrations: fstest.MapFS{
			"000002_tasks.up.sql":      {Data: []byte("CREATE TABLE tasks ();")},
			"000001_projects.up.sql":   {Data: []byte("CREATE TABLE projects ();")},
			"000001_projects.down.sql": {Data: []byte("DROP TABLE projects;")},
		},
	}
}

func TestManifestValid(t *testing.T) {
	m, err := validPlugin().Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.Protocol != ProtocolVersion || len(m.Routes) != 3 {
		t.Errorf("manifest %+v", m)
	}
	if len(m.Migrations) != 2 || m.Migrations[0].Version != 1 || m.Migrations[0].Down == "" || m.Migrations[1].Name != "tasks" {
		t.Errorf("migrations %+v", m.Migrations)
	}
}

func TestManifestInvalid(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Plugin)
		want   string
	}{
		{"bad name", func(p *Plugin) { p.Name = "Projects" }, `name "Projects" must match`},
		{"name too short", func(p *Plugin) { p.Name = "p" }, `must match`},
		{"no version", func(p *Plugin) { p.Version = " " }, "version is empty"},
		{"no handler", func(p *Plugin) { p.Routes[0].Handler = nil }, "has no handler"},
		{"bad method", func(p *Plugin) { p.Routes[0].Method = "get" }, "method must be one of"},
		{"bad path", func(p *Plugin) { p.Routes[0].Path = "items" }, `must be empty or start with "/"`},
		{"bad segment", func(p *Plugin) { p.Routes[0].Path = "/Items" }, `segment "Items"`},
		{"bad param", func(p *Plugin) { p.Routes[0].Path = "/{Id}" }, `segment "{Id}"`},
		{"repeated param", func(p *Plugin) { p.Routes[2].Path = "/{id}/tasks/{id}" }, "appears twice"},
		{"same route", func(p *Plugin) { p.Routes[0].Path = "/{x}/tasks/{y}" }, "same method and path"},
		{"undeclared permission", func(p *Plugin) { p.Routes[0].Permission = "projects.task.read" }, "not among the plugin's permissions"},
		{"mutating GET", func(p *Plugin) { p.Routes[0].Mutates = true }, "must not mutate"},
		{"foreign permission", func(p *Plugin) { p.Permissions[0].Name = "tasks.task.read" }, `must start with the plugin name`},
		{"permission shape", func(p *Plugin) { p.Permissions[0].Name = "projects.read" }, `must look like projects.<noun>.<verb>`},
		{"no description", func(p *Plugin) { p.Permissions[1].Description = "" }, "has no description"},
		{"unknown role", func(p *Plugin) { p.Permissions[0].Roles = []string{"owner"} }, `names role "owner"`},
		{"duplicate setting", func(p *Plugin) { p.Settings = append(p.Settings, p.Settings[0]) }, "declared twice"},
		{"bad migration name", func(p *Plugin) { p.Migrations = fstest.MapFS{"1.sql": {Data: []byte("x")}} }, "must look like 000001_"},
		{"down without up", func(p *Plugin) {
			p.Migrations = fstest.MapFS{"000001_a.down.sql": {Data: []byte("x")}}
		}, "has no up script"},
		{"empty up", func(p *Plugin) {
			p.Migrations = fstest.MapFS{"000001_a.up.sql": {Data: []byte(" \n")}}
		}, "has an empty up script"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPlugin()
			tt.change(&p)
			_, err := p.Manifest()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestManifestReportsEveryProblem(t *testing.T) {
	p := validPlugin()
	p.Version = ""
	p.Routes[0].Method = "FETCH"
	_, err := p.Manifest()
	if err == nil || !strings.Contains(err.Error(), "version is empty") || !strings.Contains(err.Error(), "FETCH") {
		t.Errorf("err = %v", err)
	}
}

type schemaExample struct {
	ID      string            `json:"id"`
	Name    string            `json:"name"`
	Due     *time.Time        `json:"due"`
	Tags    []string          `json:"tags,omitempty"`
	Labels  map[string]int    `json:"labels,omitempty"`
	Secret  string            `json:"-"`
	Raw     json.RawMessage   `json:"raw,omitempty"`
	Nested  struct{ A bool }  `json:"nested"`
	Self    *schemaExample    `json:"self,omitempty"`
	private int               //nolint:unused // shows unexported fields are skipped
	Attrs   map[string]string `json:"attrs,omitempty"`
	Embedded
}

type Embedded struct {
	Version int `json:"version"`
}

func TestSchemaOf(t *testing.T) {
	raw, err := schemaOf(schemaExample{})
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Type       string                     `json:"type"`
		Properties map[string]json.RawMessage `json:"properties"`
		Required   []string                   `json:"required"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	if s.Type != "object" || strings.Join(s.Required, ",") != "id,name,due,nested,version" {
		t.Errorf("schema %s", raw)
	}
	for prop, want := range map[string]string{
		"due":    `{"format":"date-time","type":["string","null"]}`,
		"tags":   `{"items":{"type":"string"},"type":"array"}`,
		"labels": `{"additionalProperties":{"type":"integer"},"type":"object"}`,
		"raw":    `{}`,
		"self":   `{"type":["object","null"]}`,
	} {
		if got := string(s.Properties[prop]); got != want {
			t.Errorf("%s: %s, want %s", prop, got, want)
		}
	}
	if _, ok := s.Properties["Secret"]; ok {
		t.Error(`json:"-" field in schema`)
	}
	if _, err := schemaOf(map[int]string{}); err == nil {
		t.Error("a map with int keys has no JSON object form")
	}
}
