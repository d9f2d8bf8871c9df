package pluginhost

import "testing"

// benchSQL is a typical plugin statement: a page of the projects plugin's
// task list as sdk/query builds it.
const benchSQL = `SELECT id, project_id, title, status, assignee_id, due_date, created_at, updated_at FROM projects_tasks ` +
	`WHERE project_id = $1 AND "status" IN ($2, $3) AND (("due_date" > $4 OR "due_date" IS NULL) OR ("due_date" = $4 AND "id" > $5)) ` +
	`ORDER BY "due_date" ASC NULLS LAST, "id" ASC LIMIT $6`

// BenchmarkCheckSQL measures a statement's first check (parse and walk)
// and every later one (a cache hit).
func BenchmarkCheckSQL(b *testing.B) {
	b.Run("cold", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := checkSQL("projects", benchSQL); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("warm", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := CheckSQL("projects", benchSQL); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("warm-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := CheckSQL("projects", benchSQL); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
