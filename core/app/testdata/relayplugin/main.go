// Command relayplugin is the plugin the core's event tests launch: it emits
// relay.thing.happened on request, and subscribes to it and to
// projects.project.deleted, recording each event it applies. Its handler
// fails while told to (relay_mode), and crashes the process mid-event
// (after its write, before the commit) on the first delivery of an event
// whose payload asks for it. It is built by the tests, never shipped.
package main

import (
	"errors"
	"net/http"
	"os"
	"testing/fstest"

	"github.com/atriumhq/atrium/sdk"
)

type thing struct {
	N     int  `json:"n"`
	Crash bool `json:"crash,omitempty"`
}

type emitInput struct {
	Count    int  `json:"count"`
	Start    int  `json:"start"`
	Crash    bool `json:"crash"`
	Rollback bool `json:"rollback"`
}

type applied struct {
	EventID string `json:"event_id"`
	Type    string `json:"type"`
	N       int64  `json:"n"`
	Attempt int64  `json:"attempt"`
}

func main() {
	sdk.Serve(sdk.Plugin{
		Name:    "relay",
		Version: "0.1.0",
		Permissions: []sdk.Permission{
			{Name: "relay.thing.read", Description: "Read what the relay applied", Roles: []string{"viewer", "member", "admin"}},
			{Name: "relay.thing.write", Description: "Emit things", Roles: []string{"member", "admin"}},
		},
		Migrations: fstest.MapFS{
			"000001_relay.up.sql": {Data: []byte(`CREATE TABLE relay_applied (id bigserial PRIMARY KEY, event_id text NOT NULL,
				type text NOT NULL, n bigint NOT NULL, attempt bigint NOT NULL,
				at timestamptz NOT NULL DEFAULT clock_timestamp());
				CREATE TABLE relay_mode (id boolean PRIMARY KEY DEFAULT true, fail boolean NOT NULL);`)},
			"000001_relay.down.sql": {Data: []byte("DROP TABLE relay_applied; DROP TABLE relay_mode;")},
		},
		Emits: []sdk.EventType{{Type: "relay.thing.happened", Description: "Something happened", Payload: thing{}}},
		Subscriptions: []sdk.Subscription{
			{Type: "relay.thing.happened", Handler: apply},
			{Type: "projects.project.deleted", Handler: apply},
		},
		Routes: []sdk.Route{
			{Method: http.MethodPost, Path: "", Permission: "relay.thing.write", Mutates: true, Handler: emit},
			{Method: http.MethodPost, Path: "/undeclared", Permission: "relay.thing.write", Mutates: true, Handler: undeclared},
			{Method: http.MethodPost, Path: "/badpayload", Permission: "relay.thing.write", Mutates: true, Handler: badPayload},
			{Method: http.MethodPost, Path: "/mode", Permission: "relay.thing.write", Mutates: true, Handler: mode},
			{Method: http.MethodPost, Path: "/sql", Permission: "relay.thing.write", Mutates: true, Handler: runSQL},
			{Method: http.MethodGet, Path: "/applied", Permission: "relay.thing.read", Handler: list},
		},
	})
}

func emit(c *sdk.Context) error {
	var in emitInput
	if err := c.Bind(&in); err != nil {
		return err
	}
	for i := range in.Count {
		if err := c.Emit("relay.thing.happened", thing{N: in.Start + i, Crash: in.Crash}); err != nil {
			return err
		}
	}
	if in.Rollback {
		if _, err := c.DB().Exec(c, "INSERT INTO relay_mode (fail) VALUES (false) ON CONFLICT (id) DO NOTHING"); err != nil {
			return err
		}
		return errors.New("told to fail after emitting")
	}
	return c.NoContent()
}

func undeclared(c *sdk.Context) error { return c.Emit("relay.other.happened", thing{}) }

// badPayload emits a payload its schema refuses.
func badPayload(c *sdk.Context) error {
	return c.Emit("relay.thing.happened", map[string]any{"n": "not a number", "extra": true})
}

func mode(c *sdk.Context) error {
	var in struct {
		Fail bool `json:"fail"`
	}
	if err := c.Bind(&in); err != nil {
		return err
	}
	_, err := c.DB().Exec(c, "INSERT INTO relay_mode (fail) VALUES ($1) ON CONFLICT (id) DO UPDATE SET fail = excluded.fail", in.Fail)
	return err
}

// runSQL runs the statement it is sent: a probe of what the plugin may
// reach of the events' tables.
func runSQL(c *sdk.Context) error {
	var in struct {
		SQL string `json:"sql"`
	}
	if err := c.Bind(&in); err != nil {
		return err
	}
	rows, err := c.DB().Query(c, in.SQL)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"rows": rows.Len()})
}

func list(c *sdk.Context) error {
	rows, err := c.DB().Query(c, "SELECT event_id, type, n, attempt FROM relay_applied ORDER BY id")
	if err != nil {
		return err
	}
	out := []applied{}
	for rows.Next() {
		var a applied
		if err := rows.Scan(&a.EventID, &a.Type, &a.N, &a.Attempt); err != nil {
			return err
		}
		out = append(out, a)
	}
	return c.JSON(http.StatusOK, map[string]any{"items": out})
}

func apply(c *sdk.Context, e sdk.Event) error {
	var fail bool
	if err := c.DB().QueryRow(c, "SELECT coalesce((SELECT fail FROM relay_mode), false)").Scan(&fail); err != nil {
		return err
	}
	if fail {
		return errors.New("the relay is told to fail")
	}
	var th thing
	if e.Type == "relay.thing.happened" {
		if err := e.Decode(&th); err != nil {
			return err
		}
	}
	if _, err := c.DB().Exec(c, "INSERT INTO relay_applied (event_id, type, n, attempt) VALUES ($1, $2, $3, $4)",
		e.ID, e.Type, th.N, e.Attempt); err != nil {
		return err
	}
	if th.Crash && e.Attempt == 1 {
		os.Exit(3) // mid-event: written, not committed
	}
	return nil
}
