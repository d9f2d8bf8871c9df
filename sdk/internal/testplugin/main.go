// Command testplugin is the plugin the SDK's transport tests launch. Its
// TESTPLUGIN_MODE variable picks a misbehaviour: "stdout" prints before
// Serve, "badname" has an invalid manifest, "bare" serves a bare go-plugin
// echo instead of the SDK.
package main

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-plugin"
	"go.opentelemetry.io/otel/trace"

	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/internal/testplugin/echo"
	"github.com/atriumhq/atrium/sdk/internal/wire"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Payload is the body the echo route binds and returns.
type Payload struct {
	ID    string   `json:"id"`
	Name  string   `json:"name"`
	Tags  []string `json:"tags"`
	Count int      `json:"count"`
	Body  string   `json:"body"`
}

func main() {
	switch os.Getenv("TESTPLUGIN_MODE") {
	case "stdout":
		fmt.Println("hello from init, before Serve")
	case "badname":
		p := testPlugin()
		p.Name = "Bad-Name"
		sdk.Serve(p)
		return
	case "bare":
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig: wire.Handshake,
			Plugins:         plugin.PluginSet{echo.Name: echo.Plugin{}},
			GRPCServer:      plugin.DefaultGRPCServer,
		})
		return
	}
	sdk.Serve(testPlugin())
}

func testPlugin() sdk.Plugin {
	mig, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err)
	}
	return sdk.Plugin{
		Name:    "testplugin",
		Version: "1.0.0",
		Permissions: []sdk.Permission{
			{Name: "testplugin.item.read", Description: "Read items", Roles: []string{"viewer", "member", "admin"}},
			{Name: "testplugin.item.write", Description: "Write items", Roles: []string{"member", "admin"}},
		},
		Settings:   []sdk.Setting{{Key: "greeting", Description: "How to greet"}},
		Migrations: mig,
		Routes: []sdk.Route{
			{Method: "POST", Path: "/echo", Permission: "testplugin.item.read", Summary: "Echo a payload",
				Request: Payload{}, Response: Payload{}, Handler: echoPayload},
			{Method: "GET", Path: "/items/{id}", Permission: "testplugin.item.read", Handler: getItem},
			{Method: "POST", Path: "/items", Permission: "testplugin.item.write", Mutates: true, Handler: createItem},
			{Method: "POST", Path: "/items/{id}/touch", Permission: "testplugin.item.write", Mutates: true, Handler: touchItem},
			{Method: "GET", Path: "/missing/{id}", Permission: "testplugin.item.read", Handler: missing},
			{Method: "GET", Path: "/panic", Permission: "testplugin.item.read", Handler: panics},
			{Method: "GET", Path: "/sleep", Permission: "testplugin.item.read", Handler: sleeps},
			{Method: "GET", Path: "/hang", Permission: "testplugin.item.read", Handler: hangs},
			{Method: "GET", Path: "/whoami/{id}", Permission: "testplugin.item.read", Handler: whoami},
			{Method: "POST", Path: "/services", Permission: "testplugin.item.write", Mutates: true, Handler: services},
			{Method: "GET", Path: "/required/{id}", Permission: "testplugin.item.read", Handler: required},
			{Method: "GET", Path: "/traced", Permission: "testplugin.item.read", Handler: traced},
			{Method: "GET", Path: "/fail/{kind}", Permission: "testplugin.item.read", Handler: fails},
		},
	}
}

func echoPayload(c *sdk.Context) error {
	var p Payload
	if err := c.Bind(&p); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, &p)
}

// required answers only if the host then allows reading the item.
func required(c *sdk.Context) error {
	if err := c.Require("testplugin.item.read", sdk.Resource{Type: "item", ID: c.Param("id"), Attributes: map[string]any{"n": 1}}); err != nil {
		return err
	}
	if c.Query("fail") != "" { // an error that would tell something of the item
		return sdk.NotFound("item %s has no price yet", c.Param("id"))
	}
	return c.JSON(http.StatusOK, map[string]string{"id": c.Param("id")})
}

// getItem reads one row through the host and reports its typed columns.
func getItem(c *sdk.Context) error {
	var (
		id      int64
		name    string
		price   float64
		active  bool
		created time.Time
		note    *string
		meta    []byte
	)
	err := c.DB().QueryRow(c, "SELECT id, name, price, active, created, note, meta FROM testplugin_items WHERE id = $1", c.Param("id")).
		Scan(&id, &name, &price, &active, &created, &note, &meta)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{
		"id": id, "name": name, "price": price, "active": active,
		"created": created, "note": note, "meta": string(meta),
	})
}

// createItem runs a batch, then an insert the host refuses, and reports
// what the error looked like on this side of the boundary.
func createItem(c *sdk.Context) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := c.Bind(&in); err != nil {
		return err
	}
	results, err := c.DB().Batch(c,
		sdk.Statement{SQL: "SELECT count(*) FROM testplugin_items"},
		sdk.Statement{SQL: "UPDATE testplugin_items SET touched = true", Args: nil},
	)
	if err != nil {
		return err
	}
	var count int
	results[0].Rows.Next()
	if err := results[0].Rows.Scan(&count); err != nil {
		return err
	}
	_, err = c.DB().Exec(c, "INSERT INTO testplugin_items (name) VALUES ($1)", in.Name)
	var se *sdk.Error
	errors.As(err, &se)
	report := map[string]any{
		"count":    count,
		"updated":  results[1].RowsAffected,
		"conflict": errors.Is(err, sdk.ErrConflict),
	}
	if se != nil {
		report["source"] = se.Source.String()
		report["message"] = se.Message
	}
	if err == nil {
		return c.JSON(http.StatusCreated, report)
	}
	return c.JSON(http.StatusOK, report)
}

// touchItem updates one row: it waits for another transaction's lock on
// it, as a handler's SQL does.
func touchItem(c *sdk.Context) error {
	n, err := c.DB().Exec(c, "UPDATE testplugin_items SET touched = true WHERE id = $1", c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]int64{"touched": n})
}

func missing(c *sdk.Context) error { return sdk.NotFound("item %s", c.Param("id")) }

func panics(*sdk.Context) error { panic("boom") }

// fails returns an error of the kind numbered in the path, with a field, so
// a test can follow every kind to the client.
func fails(c *sdk.Context) error {
	k, err := strconv.ParseUint(c.Param("kind"), 10, 8)
	if err != nil {
		return sdk.Invalid(sdk.FieldError{Field: "kind", Message: "must be a kind's number"})
	}
	return &sdk.Error{Kind: sdk.Kind(k), Message: "refused as asked", Fields: []sdk.FieldError{{Field: "f", Message: "bad"}}}
}

func sleeps(c *sdk.Context) error {
	select {
	case <-c.Done():
		return c.Err()
	case <-time.After(30 * time.Second):
		return c.NoContent()
	}
}

// hangs ignores its deadline, as a stuck handler does: only killing the
// process ends it.
func hangs(c *sdk.Context) error {
	time.Sleep(time.Minute)
	return c.NoContent()
}

// whoami returns what the plugin knows of the request.
func whoami(c *sdk.Context) error {
	c.Logger().Info("whoami called", "id", c.Param("id"))
	c.SetHeader("X-Item", c.Param("id"))
	sc := trace.SpanContextFromContext(c)
	return c.JSON(http.StatusOK, map[string]any{
		"id":        c.Param("id"),
		"q":         c.QueryValues()["q"],
		"lang":      c.Header("accept-language"),
		"principal": c.Principal(),
		"tenant":    c.Tenant(),
		"requestID": c.RequestID(),
		"traceID":   sc.TraceID().String(),
		"remote":    sc.IsRemote(),
	})
}

// traced makes one host call and reports the span it ran in.
func traced(c *sdk.Context) error {
	var ctx context.Context = c
	if c.Query("foreign") != "" { // a span of another trace than the request's
		tid, _ := trace.TraceIDFromHex("0af7651916cd43dd8448eb211c80319c")
		sid, _ := trace.SpanIDFromHex("b7ad6b7169203331")
		ctx = trace.ContextWithSpanContext(c, trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	}
	if _, _, err := c.Cache().Get(ctx, "k"); err != nil {
		return err
	}
	sc := trace.SpanContextFromContext(c)
	return c.JSON(http.StatusOK, map[string]string{"traceID": sc.TraceID().String(), "spanID": sc.SpanID().String()})
}

// services exercises cache, blobs, authorization and audit.
func services(c *sdk.Context) error {
	if err := c.Cache().Set(c, "k", []byte("v"), time.Minute); err != nil {
		return err
	}
	v, found, err := c.Cache().Get(c, "k")
	if err != nil {
		return err
	}
	if _, err := c.Blobs().Put(c, "b", strings.NewReader("blob!"), 5, "text/plain"); err != nil {
		return err
	}
	b, err := c.Blobs().Get(c, "b")
	if err != nil {
		return err
	}
	body := make([]byte, b.Size)
	if _, err := b.Body.Read(body); err != nil {
		return err
	}
	_, blobErr := c.Blobs().Get(c, "absent")
	authErr := c.Authorize("testplugin.item.write", sdk.Resource{Type: "item", ID: "7", Attributes: map[string]any{"secret": true}})
	if err := c.Audit(map[string]any{"item": "7"}); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{
		"cache":      string(v),
		"found":      found,
		"blob":       string(body),
		"blobType":   b.ContentType,
		"blobAbsent": errors.Is(blobErr, sdk.ErrNotFound),
		"forbidden":  errors.Is(authErr, sdk.ErrForbidden),
	})
}
