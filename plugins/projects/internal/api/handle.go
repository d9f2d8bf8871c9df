package api

import (
	"errors"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/plugins/projects/internal/app"
	"github.com/atriumhq/atrium/plugins/projects/internal/domain"
	"github.com/atriumhq/atrium/plugins/projects/internal/store"
	"github.com/atriumhq/atrium/sdk"
)

// handle adapts a handler to the SDK: it builds the request's service (the
// store over the request's DB, the context as guard and auditor) and maps
// the domain's errors to the SDK's kinds, in this one place.
func handle(h func(c *sdk.Context, svc *app.Service) error) sdk.HandlerFunc {
	return func(c *sdk.Context) error {
		s := store.New(c.DB())
		svc := app.New(app.Deps{Projects: s, Tasks: s, Guard: guard{c}, Audit: c})
		return toSDK(h(c, svc))
	}
}

// toSDK maps a domain error to the SDK error the client sees: not found is
// 404, conflict 409, validation 422 naming each field. Errors that are
// already the SDK's (a refusal, a host failure) keep their kind; anything
// else is internal.
func toSDK(err error) error {
	var (
		notFound *domain.NotFoundError
		conflict *domain.ConflictError
		invalid  *domain.ValidationError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &notFound):
		return sdk.NotFound("%s", notFound.Error())
	case errors.As(err, &conflict):
		return sdk.Conflict("%s", conflict.Reason)
	case errors.As(err, &invalid):
		fields := make([]sdk.FieldError, len(invalid.Fields))
		for i, f := range invalid.Fields {
			fields[i] = sdk.FieldError{Field: f.Field, Message: f.Message}
		}
		return sdk.Invalid(fields...)
	}
	return err
}

// guard asks the core's policy about one resource, with the attributes the
// API contract promises tenant policies: a project's status, owner_id and
// name; a task's status, assignee_id, project_id and due_date. Each check
// is required of the response (sdk.Context.Require: decided as the handler
// returns, saving a round trip): a refusal replaces the response, and the
// request's changes, all in its transaction, roll back.
type guard struct{ c *sdk.Context }

func (g guard) Project(action string, p *domain.Project) error {
	return g.check(action, sdk.Resource{
		Type: "project", ID: p.ID().String(), Owner: p.OwnerID().String(),
		Attributes: map[string]any{"status": string(p.Status()), "owner_id": p.OwnerID().String(), "name": p.Name()},
	})
}

func (g guard) Task(action string, t *domain.Task) error {
	out := taskOut(t)
	return g.check(action, sdk.Resource{
		Type: "task", ID: out.ID,
		Attributes: map[string]any{"status": out.Status, "assignee_id": out.AssigneeID, "project_id": out.ProjectID, "due_date": out.DueDate},
	})
}

func (g guard) check(action string, res sdk.Resource) error {
	return g.c.Require(action, res)
}

// pathID reads a path parameter holding the id of what; one that is not a
// UUID names nothing that can exist, so it is a 404 like an unknown id.
func pathID(c *sdk.Context, param, what string) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param(param))
	if err != nil {
		return uuid.Nil, &domain.NotFoundError{What: what, ID: c.Param(param)}
	}
	return id, nil
}

// principal is the id of the user making the request.
func principal(c *sdk.Context) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Principal().ID)
	if err != nil {
		return uuid.Nil, sdk.Internal(err, "principal id %q is not a UUID", c.Principal().ID)
	}
	return id, nil
}
