package loadtarget

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"
)

// Atrium is an Atrium server set up for the load: Owners tenants with the
// projects plugin, a member user in each owning Records projects. Reads
// are GET /api/v1/projects/{id}, which the plugin authorises per record
// through the core; creates are POST /api/v1/projects/{id}/tasks.
type Atrium struct {
	srv      server
	operator [2]string // email and password, to remove the tenants after
	tenants  []string  // slugs
	records  []record
}

var _ Target = (*Atrium)(nil)

// SetUpAtrium signs in at base as the platform operator, registers the
// projects plugin from the server's plugin directory unless it is
// registered, and creates the tenants, users and projects. Their slugs are
// new each time, so a server can be set up again; Close removes them.
func SetUpAtrium(ctx context.Context, client *http.Client, base, operatorEmail, operatorPassword string, shape Shape) (*Atrium, error) {
	a := &Atrium{srv: newServer(client, base), operator: [2]string{operatorEmail, operatorPassword}}
	op, err := a.operatorToken(ctx)
	if err != nil {
		return nil, err
	}
	if err := a.registerProjects(ctx, op); err != nil {
		return nil, fmt.Errorf("atrium: %w", err)
	}
	run := strings.ToLower(rand.Text()[:6])
	for i := range shape.Owners {
		if err := a.setUpTenant(ctx, op, fmt.Sprintf("load-%s-%d", run, i+1), shape.Records); err != nil {
			return a, fmt.Errorf("atrium: %w", err)
		}
	}
	return a, nil
}

func (a *Atrium) operatorToken(ctx context.Context) (string, error) {
	var tokens struct {
		AccessToken string `json:"access_token"`
	}
	if err := a.srv.call(ctx, http.MethodPost, "/api/v1/operator/login", "",
		map[string]string{"email": a.operator[0], "password": a.operator[1]}, http.StatusOK, &tokens); err != nil {
		return "", fmt.Errorf("atrium: operator sign-in: %w", err)
	}
	return tokens.AccessToken, nil
}

func (a *Atrium) registerProjects(ctx context.Context, op string) error {
	var plugins struct {
		Items []struct {
			Name string `json:"name"`
		} `json:"items"`
	}
	if err := a.srv.call(ctx, http.MethodGet, "/api/v1/plugins", op, nil, http.StatusOK, &plugins); err != nil {
		return err
	}
	for _, p := range plugins.Items {
		if p.Name == "projects" {
			return nil
		}
	}
	return a.srv.call(ctx, http.MethodPost, "/api/v1/plugins", op,
		map[string]string{"name": "projects", "file": "projects"}, http.StatusOK, nil)
}

func (a *Atrium) setUpTenant(ctx context.Context, op, slug string, records int) error {
	admin, user, pw := "admin@"+slug+".test", "owner@"+slug+".test", password()
	if err := a.srv.call(ctx, http.MethodPost, "/api/v1/tenants", op, map[string]any{
		"slug": slug, "name": slug, "plugins": []string{"projects"},
		"admin": map[string]string{"email": admin, "password": pw},
	}, http.StatusCreated, nil); err != nil {
		return err
	}
	a.tenants = append(a.tenants, slug)
	adminToken, err := a.signIn(ctx, slug, admin, pw)
	if err != nil {
		return err
	}
	var owner struct {
		ID string `json:"id"`
	}
	if err := a.srv.call(ctx, http.MethodPost, "/api/v1/users", adminToken, map[string]any{
		"email": user, "password": pw, "name": "Owner", "roles": []string{"member"},
	}, http.StatusCreated, &owner); err != nil {
		return err
	}
	token, err := a.signIn(ctx, slug, user, pw)
	if err != nil {
		return err
	}
	for i := range records {
		var p struct {
			ID string `json:"id"`
		}
		if err := a.srv.call(ctx, http.MethodPost, "/api/v1/projects", token,
			map[string]string{"name": fmt.Sprintf("Project %d", i+1)}, http.StatusCreated, &p); err != nil {
			return err
		}
		a.records = append(a.records, record{id: p.ID, ownerID: owner.ID, token: token})
	}
	return nil
}

func (a *Atrium) signIn(ctx context.Context, tenant, email, pw string) (string, error) {
	var tokens struct {
		AccessToken string `json:"access_token"`
	}
	err := a.srv.call(ctx, http.MethodPost, "/api/v1/auth/login", "",
		map[string]string{"tenant": tenant, "email": email, "password": pw}, http.StatusOK, &tokens)
	return tokens.AccessToken, err
}

// Name is "Atrium".
func (a *Atrium) Name() string { return "Atrium" }

// Read is GET /api/v1/projects/{id} as the project's owner: the plugin
// loads it and asks the core for a decision on that project.
func (a *Atrium) Read(ctx context.Context, n int) error {
	r := a.records[n%len(a.records)]
	return a.srv.send(ctx, http.MethodGet, "/api/v1/projects/"+r.id, r.token, nil, http.StatusOK)
}

// Create is POST /api/v1/projects/{id}/tasks as the project's owner.
func (a *Atrium) Create(ctx context.Context, n int) error {
	r := a.records[n%len(a.records)]
	body := fmt.Appendf(nil, `{"title":"Task %d"}`, n)
	return a.srv.send(ctx, http.MethodPost, "/api/v1/projects/"+r.id+"/tasks", r.token, body, http.StatusCreated)
}

// CoreRead is GET /api/v1/users/{id} of the owner as the owner: a read of
// one record served by the core itself, the in-core counterpart of Read.
func (a *Atrium) CoreRead(ctx context.Context, n int) error {
	r := a.records[n%len(a.records)]
	return a.srv.send(ctx, http.MethodGet, "/api/v1/users/"+r.ownerID, r.token, nil, http.StatusOK)
}

// Close removes the tenants the set-up created, with their data. It signs
// in again: the load may have outlasted the first token.
func (a *Atrium) Close(ctx context.Context) error {
	op, err := a.operatorToken(ctx)
	if err != nil {
		return err
	}
	for _, slug := range a.tenants {
		if err := a.srv.send(ctx, http.MethodDelete, "/api/v1/tenants/"+slug, op, nil, http.StatusNoContent); err != nil {
			return fmt.Errorf("atrium: remove tenant: %w", err)
		}
	}
	return nil
}
