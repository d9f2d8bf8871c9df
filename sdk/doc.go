// Package sdk is everything a plugin author imports to build an Atrium
// plugin: a bounded context that runs as its own process next to the core,
// serves routes under /api/v1/<plugin>, and reaches tenant data only through
// the host services the core lends it for each request.
//
// A plugin is a value and one call:
//
//	//go:embed migrations/*.sql
//	var migrations embed.FS
//
//	func main() {
//		mig, _ := fs.Sub(migrations, "migrations")
//		sdk.Serve(sdk.Plugin{
//			Name:    "projects",
//			Version: "1.0.0",
//			Permissions: []sdk.Permission{
//				{Name: "projects.project.read", Description: "Read projects", Roles: []string{"viewer", "member", "admin"}},
//			},
//			Migrations: mig,
//			Routes: []sdk.Route{{
//				Method: "GET", Path: "/{id}", Permission: "projects.project.read",
//				Summary: "Get a project", Response: Project{}, Handler: getProject,
//			}},
//		})
//	}
//
//	func getProject(c *sdk.Context) error {
//		var p Project
//		err := c.DB().QueryRow(c, "SELECT id, name FROM projects WHERE id = $1", c.Param("id")).
//			Scan(&p.ID, &p.Name)
//		if err != nil {
//			return err // no row: ErrNotFound, which the client sees as a 404
//		}
//		return c.JSON(http.StatusOK, p)
//	}
//
// The core checks the route's permission before the handler runs, opens the
// request's unit of work (a transaction in the tenant's schema, under the
// plugin's own role there) and commits it only if the handler succeeds. Handlers
// return typed errors (NotFound, Conflict, Invalid, ...) whose kind survives
// the process boundary; a panic is recovered and becomes an internal error.
//
// gRPC, protobuf and go-plugin stay out of sight: the wire protocol lives in
// an internal package, and the host side is package sdk/transport.
package sdk
