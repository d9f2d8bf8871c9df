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
)

// remote is the server a command talks to and the token it shows, set from
// the command's --server and --token flags.
type remote struct {
	server, token string
}

// addFlags adds --server and --token to cmd; tokenUsage says whose token.
func (r *remote) addFlags(cmd *cobra.Command, tokenUsage string) {
	cmd.Flags().StringVar(&r.server, "server", envOr("ATRIUM_SERVER", "http://127.0.0.1:8080"), "atriumd's base URL (ATRIUM_SERVER)")
	cmd.Flags().StringVar(&r.token, "token", "", tokenUsage+" (default ATRIUM_TOKEN)")
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

// call sends method path with in as its JSON body (none when nil) and
// decodes a 2xx reply into out (unless nil; a *json.RawMessage keeps the
// reply as it came). Any other status is a *problemError.
func (r *remote) call(ctx context.Context, method, path string, in, out any) error {
	token := r.token
	if token == "" {
		token = os.Getenv("ATRIUM_TOKEN")
	}
	if token == "" {
		return errors.New("a token is needed: --token or ATRIUM_TOKEN")
	}
	u := strings.TrimRight(r.server, "/") + path
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json, application/problem+json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{Timeout: 5 * time.Minute} // a long audit chain takes a while
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &problemError{method: method, url: u, status: resp.Status}
		_ = json.Unmarshal(reply, &e.problem) // not every error comes from atriumd (a proxy's, say)
		return e
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(reply, out); err != nil {
		return fmt.Errorf("%s %s: the reply is not the JSON expected: %w", method, u, err)
	}
	return nil
}

// problemError is an error reply, with what its problem+json document
// says (RFC 9457 as core/api writes it).
type problemError struct {
	method, url, status string
	problem             struct {
		Code      string `json:"code"`
		Detail    string `json:"detail"`
		RequestID string `json:"request_id"`
		Errors    []struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"errors"`
	}
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
