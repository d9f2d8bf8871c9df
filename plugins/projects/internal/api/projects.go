package api

import (
	"net/http"

	"github.com/atriumhq/atrium/plugins/projects/internal/app"
	"github.com/atriumhq/atrium/plugins/projects/internal/domain"
	"github.com/atriumhq/atrium/plugins/projects/internal/store"
	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/query"
)

// newestFirst is the lists' order when the client gives none.
var newestFirst = []query.SortKey{{Field: "created_at", Desc: true}}

// listProjects: GET /api/v1/projects?status=&owner_id=&sort=&limit=&cursor=
func listProjects(c *sdk.Context, svc *app.Service) error {
	spec, err := query.Parse(c.QueryValues(), store.ProjectFields, query.Options{Sort: newestFirst})
	if err != nil {
		return err
	}
	page, err := svc.ListProjects(c, spec)
	if err != nil {
		return err
	}
	out := ProjectList{Items: make([]Project, len(page.Items)), NextCursor: cursor(page.NextCursor)}
	for i, p := range page.Items {
		out.Items[i] = projectOut(p)
	}
	return c.JSON(http.StatusOK, out)
}

// createProject: POST /api/v1/projects {name, description?}
func createProject(c *sdk.Context, svc *app.Service) error {
	var in CreateProjectRequest
	if err := c.Bind(&in); err != nil {
		return err
	}
	owner, err := principal(c)
	if err != nil {
		return err
	}
	p, err := svc.CreateProject(c, owner, app.CreateProject{Name: in.Name, Description: in.Description})
	if err != nil {
		return err
	}
	if err := c.Emit(EventProjectCreated, projectOut(p)); err != nil {
		return err
	}
	c.SetHeader("Location", "/api/v1/projects/"+p.ID().String())
	return c.JSON(http.StatusCreated, projectOut(p))
}

// getProject: GET /api/v1/projects/{id}
func getProject(c *sdk.Context, svc *app.Service) error {
	id, err := pathID(c, "id", "project")
	if err != nil {
		return err
	}
	p, err := svc.GetProject(c, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, projectOut(p))
}

// updateProject: PATCH /api/v1/projects/{id} {name?, description?, status?}
func updateProject(c *sdk.Context, svc *app.Service) error {
	id, err := pathID(c, "id", "project")
	if err != nil {
		return err
	}
	var in UpdateProjectRequest
	nulls, err := bindPatch(c, &in, []string{"name", "description", "status"})
	if err != nil {
		return err
	}
	var f form
	f.notNull(nulls, "name", "description", "status")
	ch := domain.ProjectChanges{Name: in.Name, Description: in.Description, Status: f.projectStatus("status", in.Status)}
	if err := f.err(); err != nil {
		return err
	}
	p, err := svc.UpdateProject(c, id, ch)
	if err != nil {
		return err
	}
	if err := c.Emit(EventProjectUpdated, projectOut(p)); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, projectOut(p))
}

// deleteProject: DELETE /api/v1/projects/{id}
func deleteProject(c *sdk.Context, svc *app.Service) error {
	id, err := pathID(c, "id", "project")
	if err != nil {
		return err
	}
	if err := svc.DeleteProject(c, id); err != nil {
		return err
	}
	if err := c.Emit(EventProjectDeleted, ProjectDeleted{ID: id.String()}); err != nil {
		return err
	}
	return c.NoContent()
}
