package app_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/plugintest"
)

type greeting struct {
	Text string `json:"text"`
}

// A plugin's routes join the OpenAPI document with their schemas and
// permissions, and serve through the core (an attached plugin: no binary).
func TestPluginRoutesInOpenAPI(t *testing.T) {
	p := sdk.Plugin{
		Name: "hello", Version: "0.1.0",
		Permissions: []sdk.Permission{{Name: "hello.greeting.read", Description: "Read greetings"}},
		Routes: []sdk.Route{{
			Method: http.MethodGet, Path: "/{name}", Permission: "hello.greeting.read", Summary: "Greet someone",
			Response: greeting{},
			Handler: func(c *sdk.Context) error {
				return c.JSON(http.StatusOK, greeting{Text: "hello " + c.Param("name")})
			},
		}},
	}
	core := plugintest.Start(t, p)
	acme := core.Tenant("acme")
	var g greeting
	acme.Admin.Get("/api/v1/hello/world").Want(t, http.StatusOK).Decode(t, &g)
	assert.Equal(t, "hello world", g.Text)

	var doc struct {
		Paths map[string]map[string]struct {
			Summary    string `json:"summary"`
			Permission string `json:"x-atrium-permission"`
			Responses  map[string]struct {
				Content map[string]struct {
					Schema map[string]any `json:"schema"`
				} `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
	}
	res := acme.Admin.Get("/openapi.json").Want(t, http.StatusOK)
	res.Decode(t, &doc)
	op, ok := doc.Paths["/api/v1/hello/{name}"]["get"]
	require.True(t, ok, "the plugin's route is documented")
	assert.Equal(t, "Greet someone", op.Summary)
	assert.Equal(t, "hello.greeting.read", op.Permission)
	schema := op.Responses["2XX"].Content["application/json"].Schema
	assert.Contains(t, schema["properties"], "text")
	_, core2 := doc.Paths["/api/v1/tenants"]
	assert.True(t, core2, "the core's routes are still there")
}
