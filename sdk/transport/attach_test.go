package transport_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/transport"
)

func TestAttach(t *testing.T) {
	p := sdk.Plugin{
		Name:        "inproc",
		Version:     "0.1.0",
		Permissions: []sdk.Permission{{Name: "inproc.thing.read", Description: "Read things"}},
		Routes: []sdk.Route{{
			Method: "GET", Path: "/{id}", Permission: "inproc.thing.read",
			Handler: func(c *sdk.Context) error {
				var name string
				if err := c.DB().QueryRow(c, "SELECT id, name FROM testplugin_items WHERE id = $1", c.Param("id")).Scan(new(int), &name); err != nil {
					return err
				}
				return c.JSON(http.StatusOK, map[string]string{"name": name})
			},
		}},
	}
	conn, err := transport.Attach(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	resp, err := handle(t, conn, &transport.Request{Params: map[string]string{"id": "1"}}, &narrowRow{newFake()})
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != `{"name":"first"}` {
		t.Errorf("body %s", resp.Body)
	}
	_, err = handle(t, conn, &transport.Request{Params: map[string]string{"id": "2"}}, &narrowRow{newFake()})
	if !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("err = %v", err)
	}

	if err := conn.Close(); err != nil || !conn.Exited() {
		t.Errorf("close: %v, exited %v", err, conn.Exited())
	}
	if _, err := handle(t, conn, &transport.Request{Params: map[string]string{"id": "1"}}, newFake()); !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("after close: %v", err)
	}
}

func TestAttachRefusesBadManifest(t *testing.T) {
	_, err := transport.Attach(context.Background(), sdk.Plugin{Name: "X"}, nil)
	if err == nil {
		t.Fatal("attached a plugin with an invalid manifest")
	}
}

// narrowRow trims the fake's item row to its first two columns.
type narrowRow struct{ *fakeServices }

func (n *narrowRow) Query(ctx context.Context, sql string, args []any) (*transport.ResultSet, error) {
	rs, err := n.fakeServices.Query(ctx, sql, args)
	if err != nil || len(rs.Rows) == 0 {
		return rs, err
	}
	return &transport.ResultSet{Columns: rs.Columns[:2], Rows: [][]any{rs.Rows[0][:2]}}, nil
}
