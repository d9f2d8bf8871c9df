// Command documents is the documents plugin: files of a tenant, optionally
// attached to a project, served under /api/v1/documents by the core that
// launches this binary. Uploads stream through the plugin into the core's
// blob store; downloads stream from the store without passing through the
// plugin. Build it with `make plugins`.
package main

import (
	"github.com/atriumhq/atrium/plugins/documents/internal/api"
	"github.com/atriumhq/atrium/sdk"
)

func main() { sdk.Serve(api.Plugin()) }
