package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// request is what the fake server saw.
type request struct {
	method, path, auth, contentType, body string
}

// fakeServer answers every request with status and reply (as problem+json
// when the status is an error) and records the last request.
func fakeServer(t *testing.T, status int, reply string) (*httptest.Server, *request) {
	t.Helper()
	var got request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = request{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(b)}
		if status >= 400 {
			w.Header().Set("Content-Type", "application/problem+json")
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(reply))
	}))
	t.Cleanup(srv.Close)
	return srv, &got
}

// runCLI runs the CLI with args and returns its stdout and stderr.
func runCLI(args ...string) (stdout, stderr string, err error) {
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errOut.String(), err
}

func TestCallReportsProblems(t *testing.T) {
	cases := map[string]struct {
		status int
		reply  string
		want   []string
	}{
		"problem with field errors": {
			status: http.StatusUnprocessableEntity,
			reply: `{"status": 422, "code": "policy_invalid", "detail": "the policy does not compile", "request_id": "r1",
				"errors": [{"field": "rego", "message": "a.rego:1: one"}, {"field": "tests", "message": "a_test.rego:2: two"}]}`,
			want: []string{"GET ", "/x: 422 Unprocessable Entity (policy_invalid): the policy does not compile [request r1]",
				"\n  rego: a.rego:1: one", "\n  tests: a_test.rego:2: two"},
		},
		"not a problem document": {
			status: http.StatusBadGateway, reply: "<html>bad gateway</html>",
			want: []string{"/x: 502 Bad Gateway"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			srv, _ := fakeServer(t, tc.status, tc.reply)
			r := remote{server: srv.URL + "/", token: "t"}
			err := r.call(t.Context(), http.MethodGet, "/x", nil, nil)
			var p *problemError
			require.ErrorAs(t, err, &p)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// A backup goes where the user says, or into the current directory under
// the server's name: never where a name with a path would put it.
func TestSuggestedName(t *testing.T) {
	for cd, want := range map[string]string{
		`attachment; filename="acme-20260301T120000Z.atrium-backup.tar.gz"`: "acme-20260301T120000Z.atrium-backup.tar.gz",
		`attachment; filename=acme.tar.gz`:                                  "acme.tar.gz",
		`attachment; filename="../../etc/cron.d/x"`:                         "x",
		`attachment; filename="..\\..\\x"`:                                  "x",
		`attachment; filename=".."`:                                         "",
		`attachment`:                                                        "",
		``:                                                                  "",
	} {
		assert.Equal(t, want, suggestedName(cd), cd)
	}
}
