package pluginhost

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
)

const byID = "SELECT name FROM projects WHERE id = $1"

// TestPrefetchLearnsAFirstStatementFromThePath: a route is prefetched only
// after prefetchAfter requests in a row began with the same query whose
// arguments are the path's parameters, and then with this request's.
func TestPrefetchLearnsAFirstStatementFromThePath(t *testing.T) {
	p := newPrefetcher(2)
	names := []string{"id"}
	for i := range prefetchAfter {
		_, _, ok := p.plan(0, map[string]string{"id": "a"})
		assert.False(t, ok, "after %d requests", i)
		id := strconv.Itoa(i)
		p.observe(0, &firstStatement{sql: byID, args: []any{id}}, map[string]string{"id": id}, names)
	}
	sql, args, ok := p.plan(0, map[string]string{"id": "next"})
	assert.True(t, ok)
	assert.Equal(t, byID, sql)
	assert.Equal(t, []any{"next"}, args)
	_, _, ok = p.plan(1, map[string]string{"id": "next"})
	assert.False(t, ok, "another route learned nothing")
	_, _, ok = p.plan(7, nil)
	assert.False(t, ok, "a route the process does not have")
}

// TestPrefetchOnlyFromPathParameters: an argument that is not a path
// parameter (a query string's, a constant, the principal's), or a first
// statement that is not a query, resets what was learned.
func TestPrefetchOnlyFromPathParameters(t *testing.T) {
	params := map[string]string{"id": "7"}
	names := []string{"id"}
	cases := map[string]*firstStatement{
		"an argument from elsewhere": {sql: byID, args: []any{"8"}},
		"a float":                    {sql: byID, args: []any{7.0}},
		"bytes":                      {sql: byID, args: []any{[]byte("7")}},
		"no query first":             nil,
	}
	for name, first := range cases {
		t.Run(name, func(t *testing.T) {
			p := newPrefetcher(1)
			for range prefetchAfter {
				p.observe(0, &firstStatement{sql: byID, args: []any{"7"}}, params, names)
			}
			p.observe(0, first, params, names)
			_, _, ok := p.plan(0, params)
			assert.False(t, ok)
		})
	}
}

// TestPrefetchKeepsTheArgumentsType: a handler that parsed the parameter as
// an integer gets an int64 (the plugin compares what it would send); a
// parameter that is no integer this time is not prefetched.
func TestPrefetchKeepsTheArgumentsType(t *testing.T) {
	p := newPrefetcher(1)
	names := []string{"project", "task"}
	for range prefetchAfter {
		p.observe(0, &firstStatement{sql: "SELECT 1 FROM t WHERE project = $1 AND n = $2", args: []any{"ab", int64(12)}},
			map[string]string{"project": "ab", "task": "12"}, names)
	}
	_, args, ok := p.plan(0, map[string]string{"project": "cd", "task": "13"})
	assert.True(t, ok)
	assert.Equal(t, []any{"cd", int64(13)}, args)
	_, _, ok = p.plan(0, map[string]string{"project": "cd", "task": "x"})
	assert.False(t, ok)
}

// TestPrefetchBacksOffAfterAMiss: each prefetch the handler did not use
// doubles the requests the route must be seen again before the next.
func TestPrefetchBacksOffAfterAMiss(t *testing.T) {
	p := newPrefetcher(1)
	params, names := map[string]string{"id": "1"}, []string{"id"}
	learn := func() int {
		n := 0
		for {
			if _, _, ok := p.plan(0, params); ok {
				return n
			}
			p.observe(0, &firstStatement{sql: byID, args: []any{"1"}}, params, names)
			n++
		}
	}
	assert.Equal(t, prefetchAfter, learn())
	p.outcome(0, true)
	_, _, ok := p.plan(0, params)
	assert.True(t, ok, "a used prefetch keeps the plan")
	p.outcome(0, false)
	assert.Equal(t, 2*prefetchAfter, learn())
	p.outcome(0, false)
	assert.Equal(t, 4*prefetchAfter, learn())
}

// TestPrefetchRelearnsAChangedFirstStatement: another first statement
// starts the count over.
func TestPrefetchRelearnsAChangedFirstStatement(t *testing.T) {
	p := newPrefetcher(1)
	params, names := map[string]string{"id": "1"}, []string{"id"}
	for range prefetchAfter - 1 {
		p.observe(0, &firstStatement{sql: byID, args: []any{"1"}}, params, names)
	}
	p.observe(0, &firstStatement{sql: "SELECT other FROM projects WHERE id = $1", args: []any{"1"}}, params, names)
	_, _, ok := p.plan(0, params)
	assert.False(t, ok)
}
