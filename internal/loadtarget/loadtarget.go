// Package loadtarget sets servers up for a side-by-side load comparison
// through their own HTTP APIs and gives each the same operations: an
// authorised read of one record that only its owner may see, and the
// creation of a child record that only the parent's owner may add. Atrium
// and PocketBase are the two targets.
package loadtarget

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Target is a server set up for the load. Request n picks the record,
// round robin over every owner's records, and is sent as that owner.
type Target interface {
	// Name labels the target's figures.
	Name() string
	// Read fetches one record, authorised per record.
	Read(ctx context.Context, n int) error
	// Create adds a child record under one record.
	Create(ctx context.Context, n int) error
}

// Shape is how much a target is set up with: Owners users (each in a
// tenant of its own on Atrium) with Records records each.
type Shape struct {
	Owners, Records int
}

// DefaultShape is the comparison's: 4 owners x 20 records.
var DefaultShape = Shape{Owners: 4, Records: 20}

// record is one record to read, with its owner's credentials.
type record struct {
	id      string // the record
	ownerID string // its owner, a user
	token   string // the owner's access token
}

// server is a base URL reached with one HTTP client.
type server struct {
	client *http.Client
	base   string
}

// send sends method path as token (none when empty) with body (JSON, none
// when nil), wants status want, and discards the reply: the load's path.
func (s server) send(ctx context.Context, method, path, token string, body []byte, want int) error {
	_, err := s.do(ctx, method, path, token, body, want)
	return err
}

// call is send with in marshalled and the reply decoded into out (unless
// nil): the set-up's path.
func (s server) call(ctx context.Context, method, path, token string, in any, want int, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	reply, err := s.do(ctx, method, path, token, body, want)
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(reply, out); err != nil {
		return fmt.Errorf("%s %s: the reply is not the JSON expected: %w", method, path, err)
	}
	return nil
}

// maxReply bounds what is read of a reply; the set-up's are small.
const maxReply = 1 << 20

func (s server) do(ctx context.Context, method, path, token string, body []byte, want int) ([]byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, r)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return nil, &statusError{method: method, path: path, status: resp.StatusCode, want: want, body: string(reply[:min(len(reply), 300)])}
	}
	return reply, nil
}

// statusError is a reply with another status than the one wanted.
type statusError struct {
	method, path string
	status, want int
	body         string // the start of the reply: a problem document says why
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s, want %d: %s", e.method, e.path, e.status, http.StatusText(e.status), e.want, strings.TrimSpace(e.body))
}

// isStatus reports whether err is a reply with status.
func isStatus(err error, status int) bool {
	var e *statusError
	return errors.As(err, &e) && e.status == status
}

func newServer(client *http.Client, base string) server {
	return server{client: client, base: strings.TrimRight(base, "/")}
}

// password is a fresh password for a user the set-up creates.
func password() string { return "load-" + rand.Text() }
