package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/atriumhq/atrium/core/api/model"
)

// Whose token a command shows: a platform operator's or a tenant user's.
// Each has its own stored sign-in, so one can be both at once.
const (
	asOperator = "operator"
	asTenant   = "tenant"
)

// remote is the server a command talks to and the token it shows, set from
// the command's --server and --token flags, ATRIUM_SERVER and ATRIUM_TOKEN,
// or else the sign-in `atrium login` stored.
type remote struct {
	server, token string
	// as says whose stored sign-in the command uses (asOperator or
	// asTenant); a func because some commands decide from their flags.
	as func() string
	// creds is where sign-ins are kept; "" is the user's config dir.
	creds string
}

// addFlags adds --server and --token to cmd; as says whose token it needs.
func (r *remote) addFlags(cmd *cobra.Command, as string) {
	r.addFlagsAs(cmd, func() string { return as }, whoseToken(as))
}

func whoseToken(as string) string {
	if as == asOperator {
		return "an operator's access token"
	}
	return "a tenant user's access token"
}

func (r *remote) addFlagsAs(cmd *cobra.Command, as func() string, tokenUsage string) {
	r.as = as
	cmd.Flags().StringVar(&r.server, "server", envOr("ATRIUM_SERVER", "http://127.0.0.1:8080"), "atriumd's base URL (ATRIUM_SERVER)")
	cmd.Flags().StringVar(&r.token, "token", "", tokenUsage+" (default ATRIUM_TOKEN, else the one `atrium login` stored)")
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// maxReply bounds what is read of a reply: the API's largest (a policy
// module with its tests, a plugin list) are far smaller.
const maxReply = 8 << 20

// base is the server's URL without a trailing slash: the key of its
// stored sign-ins too.
func (r *remote) base() string { return strings.TrimRight(r.server, "/") }

// call sends method path with in as its JSON body (none when nil) and
// decodes a 2xx reply into out (unless nil; a *json.RawMessage keeps the
// reply as it came). Any other status is a *problemError.
func (r *remote) call(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = b
	}
	resp, err := r.send(ctx, method, path, func() io.Reader {
		if body == nil {
			return nil
		}
		return bytes.NewReader(body)
	}, "application/json", -1)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return err
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(reply, out); err != nil {
		return fmt.Errorf("%s %s: the reply is not the JSON expected: %w", method, resp.Request.URL, err)
	}
	return nil
}

// send makes one request with the command's token and returns a 2xx
// response for the caller to read and close; any other status is a
// *problemError. A stored sign-in whose access token has expired is
// refreshed first, and once more on a 401 (the server may have a shorter
// idea of "expired"); body is called again for that retry. size is the
// body's length, or -1 when unknown.
func (r *remote) send(ctx context.Context, method, path string, body func() io.Reader, contentType string, size int64) (*http.Response, error) {
	token, sess, err := r.credentials(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := r.do(ctx, method, path, token, body(), contentType, size)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized && sess != nil {
		resp.Body.Close()
		if token, err = r.refresh(ctx, sess); err != nil {
			return nil, err
		}
		if resp, err = r.do(ctx, method, path, token, body(), contentType, size); err != nil {
			return nil, err
		}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, readProblem(resp)
	}
	return resp, nil
}

func (r *remote) do(ctx context.Context, method, path, token string, body io.Reader, contentType string, size int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, r.base()+path, body)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	if body != nil {
		req.Header.Set("Content-Type", contentType)
		if size >= 0 {
			req.ContentLength = size
		}
	}
	// No overall timeout: a backup streams as long as its data, and a long
	// audit chain takes a while; ^C cancels ctx.
	return http.DefaultClient.Do(req)
}

// readProblem turns an error response into a *problemError.
func readProblem(resp *http.Response) error {
	e := &problemError{method: resp.Request.Method, url: resp.Request.URL.String(), status: resp.Status}
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	_ = json.Unmarshal(reply, &e.problem) // not every error comes from atriumd (a proxy's, say)
	return e
}

// credentials is the token to show: --token, ATRIUM_TOKEN, or the stored
// sign-in (refreshed when expired), which it returns too.
func (r *remote) credentials(ctx context.Context) (string, *session, error) {
	if r.token != "" {
		return r.token, nil, nil
	}
	if t := os.Getenv("ATRIUM_TOKEN"); t != "" {
		return t, nil, nil
	}
	if r.as == nil { // a command that needs no token (login itself)
		return "", nil, nil
	}
	as := r.as()
	store, err := r.store()
	if err != nil {
		return "", nil, err
	}
	sess, err := store.get(r.base(), as)
	if err != nil {
		return "", nil, err
	}
	if sess == nil {
		how := "atrium login --operator"
		if as == asTenant {
			how = "atrium login --tenant SLUG"
		}
		return "", nil, fmt.Errorf("not signed in to %s as %s: run `%s`, or give --token or ATRIUM_TOKEN", r.base(), who(as), how)
	}
	if time.Until(sess.ExpiresAt) < 30*time.Second {
		tok, err := r.refresh(ctx, sess)
		return tok, sess, err
	}
	return sess.AccessToken, sess, nil
}

func who(as string) string {
	if as == asOperator {
		return "an operator"
	}
	return "a tenant user"
}

func (r *remote) store() (*credentialStore, error) {
	if r.creds != "" {
		return &credentialStore{path: r.creds}, nil
	}
	return defaultStore()
}

// refresh spends sess's refresh token for a new pair and stores it. A
// refused refresh (expired, revoked, reused) drops the stored sign-in.
func (r *remote) refresh(ctx context.Context, sess *session) (string, error) {
	path := "/api/v1/auth/refresh"
	if sess.Kind == asOperator {
		path = "/api/v1/operator/refresh"
	}
	b, err := json.Marshal(model.RefreshRequest{RefreshToken: sess.RefreshToken}) //nolint:gosec // G117: sending the refresh token is the point
	if err != nil {
		return "", err
	}
	resp, err := r.do(ctx, http.MethodPost, path, "", bytes.NewReader(b), "application/json", int64(len(b)))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	store, err := r.store()
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		perr := readProblem(resp)
		if resp.StatusCode == http.StatusUnauthorized {
			_ = store.remove(r.base(), sess.Kind)
			return "", fmt.Errorf("the stored sign-in has ended; run `atrium login` again: %w", perr)
		}
		return "", perr
	}
	var tok model.TokenResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxReply)).Decode(&tok); err != nil {
		return "", fmt.Errorf("refresh: the reply is not the JSON expected: %w", err)
	}
	sess.setTokens(tok)
	if err := store.put(r.base(), sess); err != nil {
		return "", err
	}
	return sess.AccessToken, nil
}

// problemError is an error reply, with what its problem+json document
// says (RFC 9457 as core/api writes it).
type problemError struct {
	method, url, status string
	problem             model.Problem
}

// Error is the status, code and detail on one line, then one line per field
// error: a policy's compiler messages and failing tests come that way.
func (e *problemError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %s", e.method, e.url, e.status)
	p := e.problem
	if p.Code != "" {
		fmt.Fprintf(&b, " (%s)", p.Code)
	}
	if p.Detail != "" {
		b.WriteString(": " + p.Detail)
	}
	if p.RequestID != "" {
		b.WriteString(" [request " + p.RequestID + "]")
	}
	for _, f := range p.Errors {
		fmt.Fprintf(&b, "\n  %s: %s", f.Field, f.Message)
	}
	return b.String()
}

// isStatus says whether err is the server's answer with that status.
func isStatus(err error, status int) bool {
	var p *problemError
	return errors.As(err, &p) && strings.HasPrefix(p.status, fmt.Sprint(status))
}
