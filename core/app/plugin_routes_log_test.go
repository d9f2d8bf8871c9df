package app_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
)

// A plugin's requests are logged and counted under the plugin route's
// template (a path under no route of the plugin under one label for the
// plugin), never as "unmatched" and never by raw path.
func TestPluginRoutesAreLoggedAndCountedByTemplate(t *testing.T) {
	t.Parallel()
	s := startPluginCore(t, nil)
	s.install("testplugin", "testplugin")
	s.mustRegister("testplugin", "testplugin")
	admin := s.tenant("acme", "testplugin")

	for _, id := range []string{"41", "42"} {
		s.call(http.MethodGet, "/api/v1/testplugin/whoami/"+id, admin, nil).want(t, http.StatusOK, nil)
	}
	s.call(http.MethodGet, "/api/v1/testplugin/no/such/route", admin, nil).problem(t, http.StatusNotFound, "not_found")

	line := s.logs.find(`"msg":"http request"`, `"path":"/api/v1/testplugin/whoami/42"`)
	assert.Contains(t, line, `"route":"/api/v1/testplugin/whoami/{id}"`)
	assert.NotContains(t, line, "unmatched")
	line = s.logs.find(`"msg":"http request"`, `"path":"/api/v1/testplugin/no/such/route"`)
	assert.Contains(t, line, `"route":"/api/v1/testplugin/*"`)
	assert.NotContains(t, line, "unmatched")

	assert.Equal(t, 2.0, s.metric(`atrium_http_requests_total{method="GET",route="/api/v1/testplugin/whoami/{id}",status="200"}`))
	assert.Equal(t, 1.0, s.metric(`atrium_http_requests_total{method="GET",route="/api/v1/testplugin/*",status="404"}`))
	assert.Equal(t, -1.0, s.metric(`atrium_http_requests_total{method="GET",route="unmatched",status="200"}`))
}
