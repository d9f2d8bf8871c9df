// Package query turns a plugin list endpoint's query string into a checked
// specification (filters, sort, page) and that specification into
// parameterised SQL, following the API's list conventions (api-contract
// "Lists"):
//
//	?limit=        page size, 1 to 200, 50 when absent
//	?cursor=       the next_cursor of the previous page
//	?sort=a,-b     fields the allow-list marks sortable; "-" is descending
//	?field=value   a filter; repeat the key for "one of"
//
// It is the plugins' face of the core's own list engine (internal/listquery,
// which core/spec fronts for the core's lists), so a query string gets the
// same answer on a plugin list as on a core list.
//
// Only what the list's allow-list (Fields) names reaches SQL, and only as a
// column name the plugin wrote; every client value becomes a $n placeholder.
// Anything off the allow-list or of the wrong type (a filter value over 1024
// bytes, a "one of" over 100 values included) is an error of
// sdk.KindInvalidQuery naming the parameter, and a bad cursor one of
// sdk.KindInvalidCursor: the client sees 400 invalid_query or 400
// invalid_cursor, as on the core's own lists.
//
//	var taskFields = query.NewFields("tasks", "id", map[string]query.Field{
//		"id":         {Column: "id", Type: query.UUID},
//		"status":     {Column: "status", Type: query.Enum, Values: []string{"todo", "done"}, Filter: true},
//		"created_at": {Column: "created_at", Type: query.Time, Sort: true},
//	})
//
//	spec, err := query.Parse(c.QueryValues(), taskFields, query.Options{
//		Sort:  []query.SortKey{{Field: "created_at", Desc: true}},
//		Scope: []query.Filter{query.Equal("project_id", projectID)},
//	})
//	clause, err := query.SQL(spec, 0)
//	rows, err := c.DB().Query(c, "SELECT id, status, created_at FROM tasks WHERE "+
//		clause.Where+" "+clause.OrderLimit, clause.Args...)
//	// scan the rows, then
//	items, next, err := query.Paginate(spec, scanned, func(t Task) map[string]any {
//		return map[string]any{"id": t.ID, "created_at": t.CreatedAt}
//	})
//
// Policy. A list whose Fields are declared WithResource holds only the rows
// the tenant's policy lets the caller read (a resource-level decision on each
// would allow it): SQL adds a placeholder to Where, for which the host puts
// the policy's condition, and when part of the policy has no SQL form the
// host decides the rows one by one and fetches more until the page is full.
// The handler's code does not change (docs/plugins.md, docs/policies.md).
//
// Order. A list is ordered by its sort keys, then by its tiebreak field (a
// unique, non-null column, normally id) in the direction of the last key, so
// the order is total and pages never overlap or skip rows. NULLs sort last
// in both directions.
//
// Pages. Pagination is by keyset: the SQL fetches one row more than the page
// to learn whether a next page exists, and a cursor carries the last row's
// sort-key values; the next page starts strictly after them.
//
// Cursors are validated but not secret. A cursor is base64url of the shape
// of the list it was made for (list name, order, filters), the last row's
// sort-key values and an HMAC-SHA256 of both, as the core's cursors are; but
// where the core's key is a deployment secret, the plugins' key is written in
// this package's source, so the MAC is a checksum, not a signature. Decoding
// refuses anything malformed, truncated, corrupted, or made for another list,
// sort or filter set, with an sdk.KindInvalidCursor error (400), never a 500.
// A client can read the values in a cursor (values of a row it was shown) and
// could craft one. A crafted cursor is harmless: its values are type-checked
// against the allow-list and only move where the page starts inside the same
// filtered list. Never put anything in a sort key that the client may not
// see.
package query
