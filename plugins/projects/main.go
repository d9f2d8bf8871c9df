// Command projects is the projects plugin: the projects and tasks bounded
// context of the API contract, served under /api/v1/projects by the core
// that launches this binary. Build it with `make plugins`; register it with
// POST /api/v1/plugins (see docs/plugins.md).
package main

import (
	"github.com/atriumhq/atrium/plugins/projects/internal/api"
	"github.com/atriumhq/atrium/sdk"
)

func main() { sdk.Serve(api.Plugin()) }
