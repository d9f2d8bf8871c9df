package loadtarget

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// PocketBase is a PocketBase server set up for the load through its own
// API: a projects collection whose records each have an owner (a relation
// to users) and a view rule `owner = @request.auth.id`, and a tasks
// collection whose create rule requires the project's owner. Reads are
// GET /api/collections/projects/records/{id}; creates are
// POST /api/collections/tasks/records.
type PocketBase struct {
	srv     server
	records []record
}

var _ Target = (*PocketBase)(nil)

// pbDomain is the e-mail domain of the users the set-up creates, by which
// a later set-up finds and removes them.
const pbDomain = "@loadgen.test"

// SetUpPocketBase signs in at base as a superuser, replaces the projects
// and tasks collections and the users of an earlier set-up, and creates
// Owners users with Records projects each.
func SetUpPocketBase(ctx context.Context, client *http.Client, base, email, pw string, shape Shape) (*PocketBase, error) {
	p := &PocketBase{srv: newServer(client, base)}
	su, err := p.signIn(ctx, "_superusers", email, pw)
	if err != nil {
		return nil, fmt.Errorf("pocketbase: superuser sign-in: %w", err)
	}
	if err := p.clear(ctx, su); err != nil {
		return nil, fmt.Errorf("pocketbase: remove an earlier set-up: %w", err)
	}
	if err := p.createCollections(ctx, su); err != nil {
		return nil, fmt.Errorf("pocketbase: %w", err)
	}
	for i := range shape.Owners {
		if err := p.setUpOwner(ctx, su, fmt.Sprintf("owner%d%s", i+1, pbDomain), shape.Records); err != nil {
			return nil, fmt.Errorf("pocketbase: %w", err)
		}
	}
	if err := p.checkRule(ctx); err != nil {
		return nil, fmt.Errorf("pocketbase: the view rule does not hold: %w", err)
	}
	return p, nil
}

// checkRule makes sure the rules are checked per record: another owner
// does not find one owner's project, and may not add tasks to it (which
// PocketBase refuses with a 400).
func (p *PocketBase) checkRule(ctx context.Context) error {
	first, last := p.records[0], p.records[len(p.records)-1]
	if first.ownerID == last.ownerID {
		return nil
	}
	if err := p.srv.send(ctx, http.MethodGet, "/api/collections/projects/records/"+first.id, last.token, nil, http.StatusNotFound); err != nil {
		return err
	}
	body := fmt.Appendf(nil, `{"title":"not mine","project":%q}`, first.id)
	return p.srv.send(ctx, http.MethodPost, "/api/collections/tasks/records", last.token, body, http.StatusBadRequest)
}

func (p *PocketBase) signIn(ctx context.Context, collection, email, pw string) (string, error) {
	var auth struct {
		Token string `json:"token"`
	}
	err := p.srv.call(ctx, http.MethodPost, "/api/collections/"+collection+"/auth-with-password", "",
		map[string]string{"identity": email, "password": pw}, http.StatusOK, &auth)
	return auth.Token, err
}

// clear deletes the collections and users an earlier set-up left.
func (p *PocketBase) clear(ctx context.Context, su string) error {
	for _, c := range []string{"tasks", "projects"} { // tasks refer to projects
		err := p.srv.send(ctx, http.MethodDelete, "/api/collections/"+c, su, nil, http.StatusNoContent)
		if err != nil && !isStatus(err, http.StatusNotFound) {
			return err
		}
	}
	var users struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	q := url.Values{"filter": {"email ~ '" + pbDomain + "'"}, "perPage": {"500"}}
	if err := p.srv.call(ctx, http.MethodGet, "/api/collections/users/records?"+q.Encode(), su, nil, http.StatusOK, &users); err != nil {
		return err
	}
	for _, u := range users.Items {
		if err := p.srv.send(ctx, http.MethodDelete, "/api/collections/users/records/"+u.ID, su, nil, http.StatusNoContent); err != nil {
			return err
		}
	}
	return nil
}

func (p *PocketBase) createCollections(ctx context.Context, su string) error {
	var users, projects struct {
		ID string `json:"id"`
	}
	if err := p.srv.call(ctx, http.MethodGet, "/api/collections/users", su, nil, http.StatusOK, &users); err != nil {
		return err
	}
	owner := "owner = @request.auth.id"
	if err := p.srv.call(ctx, http.MethodPost, "/api/collections", su, map[string]any{
		"name": "projects", "type": "base",
		"fields": []map[string]any{
			{"name": "name", "type": "text", "required": true},
			{"name": "owner", "type": "relation", "collectionId": users.ID, "maxSelect": 1, "required": true},
		},
		"listRule": owner, "viewRule": owner, "createRule": owner,
	}, http.StatusOK, &projects); err != nil {
		return err
	}
	projectOwner := "project.owner = @request.auth.id"
	return p.srv.call(ctx, http.MethodPost, "/api/collections", su, map[string]any{
		"name": "tasks", "type": "base",
		"fields": []map[string]any{
			{"name": "title", "type": "text", "required": true},
			{"name": "project", "type": "relation", "collectionId": projects.ID, "maxSelect": 1, "required": true},
		},
		"listRule": projectOwner, "viewRule": projectOwner, "createRule": projectOwner,
	}, http.StatusOK, nil)
}

func (p *PocketBase) setUpOwner(ctx context.Context, su, email string, records int) error {
	pw := password()
	var owner struct {
		ID string `json:"id"`
	}
	if err := p.srv.call(ctx, http.MethodPost, "/api/collections/users/records", su,
		map[string]string{"email": email, "password": pw, "passwordConfirm": pw}, http.StatusOK, &owner); err != nil {
		return err
	}
	token, err := p.signIn(ctx, "users", email, pw)
	if err != nil {
		return err
	}
	for i := range records {
		var rec struct {
			ID string `json:"id"`
		}
		if err := p.srv.call(ctx, http.MethodPost, "/api/collections/projects/records", token,
			map[string]string{"name": fmt.Sprintf("Project %d", i+1), "owner": owner.ID}, http.StatusOK, &rec); err != nil {
			return err
		}
		p.records = append(p.records, record{id: rec.ID, ownerID: owner.ID, token: token})
	}
	return nil
}

// Name is "PocketBase".
func (p *PocketBase) Name() string { return "PocketBase" }

// Read is GET /api/collections/projects/records/{id} as the owner, which
// the view rule lets through.
func (p *PocketBase) Read(ctx context.Context, n int) error {
	r := p.records[n%len(p.records)]
	return p.srv.send(ctx, http.MethodGet, "/api/collections/projects/records/"+r.id, r.token, nil, http.StatusOK)
}

// Create is POST /api/collections/tasks/records under one project as its
// owner, which the create rule checks.
func (p *PocketBase) Create(ctx context.Context, n int) error {
	r := p.records[n%len(p.records)]
	body := fmt.Appendf(nil, `{"title":"Task %d","project":%q}`, n, r.id)
	return p.srv.send(ctx, http.MethodPost, "/api/collections/tasks/records", r.token, body, http.StatusOK)
}
