package opa

import (
	"fmt"
	"hash/maphash"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/atriumhq/atrium/core/access"
)

// inputAttrs are the input's free-form parts, converted: the only ones
// that can make an input invalid.
type inputAttrs struct{ subject, resource, settings *ast.Term }

func inputAttributes(in access.Input) (a inputAttrs, err error) {
	if a.subject, err = attributes(in.Subject.Attributes); err != nil {
		return a, fmt.Errorf("input.subject.attributes: %w", err)
	}
	if a.resource, err = attributes(in.Resource.Attributes); err != nil {
		return a, fmt.Errorf("input.resource.attributes: %w", err)
	}
	if a.settings, err = attributes(in.Tenant.Settings); err != nil {
		return a, fmt.Errorf("input.tenant.settings: %w", err)
	}
	return a, nil
}

// input builds the input document as an ast.Value directly, around the
// converted attributes: the rego package would otherwise turn the struct
// into JSON and back on every decision, its largest avoidable cost. The shape is access.Input's JSON
// (nil lists are [] and nil attribute maps {}, so rules need not test them).
func (a inputAttrs) input(in access.Input, terms *inputTerms) *inputDoc {
	var buf [512]byte // the term cache's keys: a hit allocates nothing
	d := inputDocs.Get().(*inputDoc)
	// The nested objects first: each Insert into the top object recomputes
	// its hash from its values' hashes, so the last one sees them current.
	d.resource.Insert(keyType, str(in.Resource.Type))
	d.resource.Insert(keyID, str(in.Resource.ID))
	d.resource.Insert(keyOwnerID, str(in.Resource.OwnerID))
	d.resource.Insert(keyAttributes, a.resource)
	d.request.Insert(keyMethod, str(in.Request.Method))
	d.request.Insert(keyPath, str(in.Request.Path))
	d.request.Insert(keyIP, str(in.Request.IP))
	d.request.Insert(keyTime, str(in.Request.Time))
	d.top.Insert(keySubject, terms.subject(buf[:0], in.Subject, a.subject))
	d.top.Insert(keyTenant, terms.tenant(buf[:0], in.Tenant, a.settings))
	d.top.Insert(keyAction, name(in.Action))
	return d
}

// inputDoc is a decision's input document. Its objects are recycled: an
// evaluation never changes its input and keeps nothing of it once the
// decision has returned (reasons are copied out as strings), so the next
// decision refills them with its own values instead of building them.
type inputDoc struct {
	top, resource, request ast.Object
	term                   *ast.Term // the top object
}

var inputDocs = sync.Pool{New: func() any { return newInputDoc() }}

func newInputDoc() *inputDoc {
	empty := ast.InternedTerm("")
	d := &inputDoc{
		resource: ast.NewObject([2]*ast.Term{keyType, empty}, [2]*ast.Term{keyID, empty},
			[2]*ast.Term{keyOwnerID, empty}, [2]*ast.Term{keyAttributes, ast.InternedEmptyObject}),
		request: ast.NewObject([2]*ast.Term{keyMethod, empty}, [2]*ast.Term{keyPath, empty},
			[2]*ast.Term{keyIP, empty}, [2]*ast.Term{keyTime, empty}),
	}
	d.top = ast.NewObject([2]*ast.Term{keySubject, ast.InternedEmptyObject}, [2]*ast.Term{keyAction, empty},
		[2]*ast.Term{keyResource, ast.NewTerm(d.resource)}, [2]*ast.Term{keyTenant, ast.InternedEmptyObject},
		[2]*ast.Term{keyRequest, ast.NewTerm(d.request)})
	d.term = ast.NewTerm(d.top)
	return d
}

func (d *inputDoc) release() { inputDocs.Put(d) }

// The input's keys, built once: evaluation never modifies a term, so every
// input can share them.
var (
	keySubject     = ast.StringTerm("subject")
	keyAction      = ast.StringTerm("action")
	keyResource    = ast.StringTerm("resource")
	keyTenant      = ast.StringTerm("tenant")
	keyRequest     = ast.StringTerm("request")
	keyID          = ast.StringTerm("id")
	keyType        = ast.StringTerm("type")
	keyEmail       = ast.StringTerm("email")
	keyRoles       = ast.StringTerm("roles")
	keyPermissions = ast.StringTerm("permissions")
	keyAttributes  = ast.StringTerm("attributes")
	keyOwnerID     = ast.StringTerm("owner_id")
	keySlug        = ast.StringTerm("slug")
	keySettings    = ast.StringTerm("settings")
	keyMethod      = ast.StringTerm("method")
	keyPath        = ast.StringTerm("path")
	keyIP          = ast.StringTerm("ip")
	keyTime        = ast.StringTerm("time")
)

func object(items ...[2]*ast.Term) *ast.Term { return ast.NewTerm(ast.NewObject(items...)) }

// str shares OPA's interned terms for common strings ("" and short ones).
func str(s string) *ast.Term { return ast.InternedTerm(s) }

// internedNames holds the terms of permission and role names: a bounded
// set (the registry's permissions, the tenants' roles) that every decision
// repeats, an admin's permissions by the dozen.
var internedNames struct {
	sync.Map
	n atomic.Int64
}

const maxInternedNames = 1 << 16 // beyond this, names are built afresh

func name(s string) *ast.Term {
	if t, ok := internedNames.Load(s); ok {
		return t.(*ast.Term)
	}
	t := ast.StringTerm(s)
	if internedNames.n.Load() < maxInternedNames {
		if _, loaded := internedNames.LoadOrStore(s, t); !loaded {
			internedNames.n.Add(1)
		}
	}
	return t
}

func names(ss []string) *ast.Term {
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = name(s)
	}
	return ast.ArrayTerm(terms...)
}

var errInputTooLarge = fmt.Errorf("over %d elements, the sandbox's limit", maxValueSize)

// attributes converts free-form attributes, of at most maxValueSize
// elements: every value a tenant's policy meets is within the sandbox's
// bound (bounded.go), input included, since unification walks what it
// matches element by element (a rule's key matched against input, say).
func attributes(m map[string]any) (*ast.Term, error) {
	if len(m) == 0 {
		return ast.InternedEmptyObject, nil
	}
	n := jsonSize(m, 0)
	if n > maxValueSize {
		return nil, errInputTooLarge
	}
	v, err := ast.InterfaceToValue(m)
	if err != nil {
		return nil, err
	}
	t := ast.NewTerm(v)
	if n < 0 && valueSize(t) > maxValueSize { // not decoded JSON: count what it became
		return nil, errInputTooLarge
	}
	return t, nil
}

// appendNames encodes a list of names unambiguously: its length, then each
// name length-prefixed.
func appendNames(dst []byte, ss []string) []byte {
	dst = strconv.AppendInt(dst, int64(len(ss)), 10)
	dst = append(dst, '#')
	for _, s := range ss {
		dst = appendName(dst, s)
	}
	return dst
}

// inputTerms keeps the parts of the input that repeat from decision to
// decision: permission and role lists (a principal's are the union of its
// roles', so a tenant has few distinct ones, an admin's dozens of names
// long), subjects without attributes and tenants without settings. A hit
// saves building them: about a third of a decision's allocations, and
// fewer allocations are fewer collections, which is where a decision's
// slowest percentile goes. Entries are keyed by a hash of their encoding
// and hold the encoding itself, so a collision is a miss, never a wrong
// term; lookups allocate nothing.
type inputTerms struct {
	seed  maphash.Seed
	mu    sync.RWMutex
	m     map[uint64]keyedTerm
	bytes int // of the keys held
}

type keyedTerm struct {
	key  string
	term *ast.Term
}

// The terms kept are bounded by count and by their keys' bytes (a subject's
// key holds its permission list); past either, they are dropped all at
// once and kept afresh. Hits only read-lock: no recency to keep, so
// decisions on every core share the map without queueing.
const (
	maxInputTerms     = 16384
	maxInputTermBytes = 16 << 20
)

func newInputTerms() *inputTerms {
	return &inputTerms{seed: maphash.MakeSeed(), m: map[uint64]keyedTerm{}}
}

// term returns key's kept term, or builds and keeps it; build may reuse
// key's buffer (the key is copied first, on a miss only).
func (c *inputTerms) term(key []byte, build func() *ast.Term) *ast.Term {
	h := maphash.Bytes(c.seed, key)
	c.mu.RLock()
	v, ok := c.m[h]
	c.mu.RUnlock()
	if ok && v.key == string(key) {
		return v.term
	}
	k := string(key)
	t := build()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxInputTerms || c.bytes+len(k) > maxInputTermBytes {
		c.m, c.bytes = make(map[uint64]keyedTerm, len(c.m)), 0
	}
	if old, ok := c.m[h]; ok {
		c.bytes -= len(old.key)
	}
	c.m[h] = keyedTerm{k, t}
	c.bytes += len(k)
	return t
}

func (c *inputTerms) list(buf []byte, ss []string) *ast.Term {
	return c.term(appendNames(append(buf[:0], 'l'), ss), func() *ast.Term { return names(ss) })
}

// subject returns the input's subject; attributes is the converted
// in.Subject.Attributes.
func (c *inputTerms) subject(buf []byte, s access.Subject, attributes *ast.Term) *ast.Term {
	build := func() *ast.Term {
		return object(
			[2]*ast.Term{keyID, str(s.ID)},
			[2]*ast.Term{keyType, str(s.Type)},
			[2]*ast.Term{keyEmail, str(s.Email)},
			[2]*ast.Term{keyRoles, c.list(buf, s.Roles)},
			[2]*ast.Term{keyPermissions, c.list(buf, s.Permissions)},
			[2]*ast.Term{keyAttributes, attributes},
		)
	}
	if len(s.Attributes) > 0 {
		return build()
	}
	key := append(buf[:0], 's')
	for _, f := range []string{s.ID, s.Type, s.Email} {
		key = appendName(key, f)
	}
	return c.term(appendNames(appendNames(key, s.Roles), s.Permissions), build)
}

// tenant returns the input's tenant; settings is the converted
// in.Tenant.Settings.
func (c *inputTerms) tenant(buf []byte, tn access.TenantInput, settings *ast.Term) *ast.Term {
	build := func() *ast.Term {
		return object(
			[2]*ast.Term{keyID, str(tn.ID)},
			[2]*ast.Term{keySlug, str(tn.Slug)},
			[2]*ast.Term{keySettings, settings},
		)
	}
	if len(tn.Settings) > 0 {
		return build()
	}
	return c.term(appendName(appendName(append(buf[:0], 't'), tn.ID), tn.Slug), build)
}
