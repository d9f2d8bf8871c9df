package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOpenAPIDocumentDescribesEveryRoute(t *testing.T) {
	h := newHarness(t)
	rec := h.do(t, http.MethodGet, "/openapi.json", "")
	require.Equal(t, http.StatusOK, rec.Code)

	doc, err := openapi3.NewLoader().LoadFromData(rec.Body.Bytes())
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background()), "the served document is valid OpenAPI 3")

	for _, p := range []string{"/things", "/things/{id}", "/panic", "/healthz", "/readyz", "/metrics", "/openapi.json"} {
		assert.NotNil(t, doc.Paths.Find(p), "path %s documented", p)
	}

	create := doc.Paths.Find("/things").Post
	require.NotNil(t, create)
	assert.Equal(t, "postThings", create.OperationID)
	body := create.RequestBody.Value.Content.Get("application/json").Schema
	require.NotNil(t, body)
	require.Equal(t, "#/components/schemas/createThing", body.Ref, "bodies are named components")
	schema := doc.Components.Schemas["createThing"].Value
	assert.ElementsMatch(t, []string{"name", "email"}, schema.Required, "validate:required becomes required")
	assert.Equal(t, "email", schema.Properties["email"].Value.Format)
	assert.Equal(t, []any{"a", "b"}, schema.Properties["kind"].Value.Enum)
	assert.Equal(t, uint64(2), schema.Properties["name"].Value.MinLength)
	assert.NotNil(t, create.Responses.Status(http.StatusCreated))
	assert.NotNil(t, create.Responses.Default(), "every operation documents its problem response")

	read := doc.Paths.Find("/things/{id}").Get
	require.Len(t, read.Parameters, 1)
	assert.Equal(t, "id", read.Parameters[0].Value.Name)
	assert.Equal(t, "path", read.Parameters[0].Value.In)
}
