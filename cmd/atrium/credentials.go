package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/atriumhq/atrium/core/api/model"
)

// session is one stored sign-in: an operator's, or a tenant user's.
type session struct {
	Kind         string    `json:"kind"` // asOperator or asTenant
	Tenant       string    `json:"tenant,omitempty"`
	Email        string    `json:"email"`
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token"`
	ExpiresAt    time.Time `json:"expires_at"`
}

func (s *session) setTokens(t model.TokenResponse) {
	s.AccessToken, s.RefreshToken = t.AccessToken, t.RefreshToken
	s.ExpiresAt = time.Now().Add(time.Duration(t.ExpiresIn) * time.Second)
}

// credentialFile is what credentials.json holds: per server, a sign-in of
// each kind.
type credentialFile struct {
	Servers map[string]map[string]*session `json:"servers"`
}

// credentialStore is the file of stored sign-ins. It holds refresh tokens,
// so it is the user's alone: the file 0600 in a directory 0700, both
// enforced on every write (a file made by an older version, or copied
// with looser modes, is tightened).
type credentialStore struct{ path string }

// defaultStore is os.UserConfigDir()/atrium/credentials.json.
func defaultStore() (*credentialStore, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return nil, fmt.Errorf("where to keep sign-ins: %w", err)
	}
	return &credentialStore{path: filepath.Join(dir, "atrium", "credentials.json")}, nil
}

func (c *credentialStore) load() (*credentialFile, error) {
	f := &credentialFile{Servers: map[string]map[string]*session{}}
	b, err := os.ReadFile(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, f); err != nil {
		return nil, fmt.Errorf("%s: %w (remove it and sign in again)", c.path, err)
	}
	if f.Servers == nil {
		f.Servers = map[string]map[string]*session{}
	}
	return f, nil
}

func (c *credentialStore) get(server, kind string) (*session, error) {
	f, err := c.load()
	if err != nil {
		return nil, err
	}
	return f.Servers[server][kind], nil
}

func (c *credentialStore) put(server string, s *session) error {
	f, err := c.load()
	if err != nil {
		return err
	}
	if f.Servers[server] == nil {
		f.Servers[server] = map[string]*session{}
	}
	f.Servers[server][s.Kind] = s
	return c.save(f)
}

// remove forgets server's sign-in of kind; it says whether there was one.
func (c *credentialStore) remove(server, kind string) error {
	f, err := c.load()
	if err != nil {
		return err
	}
	delete(f.Servers[server], kind)
	if len(f.Servers[server]) == 0 {
		delete(f.Servers, server)
	}
	return c.save(f)
}

// save writes the file whole through a temporary file and a rename, so a
// crash leaves the old file or the new one, never half of one.
func (c *credentialStore) save(f *credentialFile) error {
	dir := filepath.Dir(c.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil { //nolint:gosec // G302: a directory needs x; 0700 is the user's alone
		return err
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".credentials-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename, nothing is left to remove
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), c.path)
}
