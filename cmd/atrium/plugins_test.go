package main

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// httpCase is one CLI command against the fake server: what it must send
// and what it must print or fail with.
type httpCase struct {
	args         []string
	status       int
	reply        string
	method, path string
	body         string // JSON; "" for none
	out          []string
	err          []string // nil: must succeed
}

func runHTTPCases(t *testing.T, cases map[string]httpCase) {
	t.Helper()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			srv, got := fakeServer(t, tc.status, tc.reply)
			out, _, err := runCLI(append(tc.args, "--server", srv.URL, "--token", "tok")...)
			assert.Equal(t, tc.method, got.method)
			assert.Equal(t, tc.path, got.path)
			assert.Equal(t, "Bearer tok", got.auth)
			if tc.body == "" {
				assert.Empty(t, got.body)
			} else {
				assert.Equal(t, "application/json", got.contentType)
				assert.JSONEq(t, tc.body, got.body)
			}
			for _, w := range tc.out {
				assert.Contains(t, out, w)
			}
			if tc.err == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.err {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

const pluginList = `{"items": [
	{"name": "notes", "version": "1.2.0", "state": "running", "required": true, "restarts": 2, "pid": 4242,
	 "routes": [{"method": "GET", "path": "/api/v1/x/notes/notes"}, {"method": "POST", "path": "/api/v1/x/notes/notes"}], "permissions": []},
	{"name": "billing", "version": "0.9.0", "state": "failed", "restarts": 5, "last_error": "exit status 1", "routes": [], "permissions": []}]}`

func TestPluginsCommands(t *testing.T) {
	runHTTPCases(t, map[string]httpCase{
		"list": {
			args: []string{"plugins", "list"}, status: http.StatusOK, reply: pluginList,
			method: http.MethodGet, path: "/api/v1/plugins",
			out: []string{
				"NAME     VERSION  STATE    RESTARTS  PID   ROUTES\n",
				"notes    1.2.0    running  2         4242  2\n",
				"billing  0.9.0    failed   5         -     0\n",
			},
		},
		"list --json prints the server's JSON": {
			args: []string{"plugins", "list", "--json"}, status: http.StatusOK, reply: pluginList,
			method: http.MethodGet, path: "/api/v1/plugins",
			out: []string{pluginList + "\n"},
		},
		"list with none": {
			args: []string{"plugins", "list"}, status: http.StatusOK, reply: `{"items": []}`,
			method: http.MethodGet, path: "/api/v1/plugins",
			out: []string{"no plugins registered"},
		},
		"list refused": {
			args: []string{"plugins", "list"}, status: http.StatusForbidden,
			reply:  `{"status": 403, "code": "forbidden", "detail": "operators only"}`,
			method: http.MethodGet, path: "/api/v1/plugins",
			err: []string{"403 Forbidden (forbidden): operators only"},
		},
		"register": {
			args: []string{"plugins", "register", "notes", "--file", "notes-1.3.0", "--required"}, status: http.StatusOK,
			reply:  `{"name": "notes", "version": "1.3.0", "state": "running", "required": true, "restarts": 0, "routes": [], "permissions": []}`,
			method: http.MethodPost, path: "/api/v1/plugins",
			body: `{"name": "notes", "file": "notes-1.3.0", "required": true}`,
			out:  []string{"plugin notes: version 1.3.0, running\n"},
		},
		"register refused": {
			args: []string{"plugins", "register", "notes", "--file", "nope"}, status: http.StatusUnprocessableEntity,
			reply: `{"status": 422, "code": "validation_failed", "detail": "the plugin was not registered",
				"errors": [{"field": "file", "message": "no such file in the plugin directory"}]}`,
			method: http.MethodPost, path: "/api/v1/plugins",
			body: `{"name": "notes", "file": "nope", "required": false}`,
			err:  []string{"422 Unprocessable Entity (validation_failed): the plugin was not registered", "\n  file: no such file in the plugin directory"},
		},
		"remove": {
			args: []string{"plugins", "remove", "notes"}, status: http.StatusNoContent,
			method: http.MethodDelete, path: "/api/v1/plugins/notes",
			out: []string{"plugin notes removed\n"},
		},
		"remove unknown": {
			args: []string{"plugins", "remove", "nope"}, status: http.StatusNotFound,
			reply:  `{"status": 404, "code": "not_found", "detail": "plugin not found"}`,
			method: http.MethodDelete, path: "/api/v1/plugins/nope",
			err: []string{"404 Not Found (not_found): plugin not found"},
		},
	})
}

func TestPluginsNeedATokenAndAFile(t *testing.T) {
	t.Setenv("ATRIUM_TOKEN", "")
	_, _, err := runCLI("plugins", "list", "--server", "http://127.0.0.1:1")
	assert.ErrorContains(t, err, "token")

	_, _, err = runCLI("plugins", "register", "notes", "--token", "t")
	assert.ErrorContains(t, err, `"file" not set`)
}
