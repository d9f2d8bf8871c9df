package opa

import (
	"fmt"
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
func (a inputAttrs) input(in access.Input) ast.Value {
	subjectAttrs, resourceAttrs, settings := a.subject, a.resource, a.settings
	return ast.NewObject(
		[2]*ast.Term{keySubject, object(
			[2]*ast.Term{keyID, str(in.Subject.ID)},
			[2]*ast.Term{keyType, str(in.Subject.Type)},
			[2]*ast.Term{keyEmail, str(in.Subject.Email)},
			[2]*ast.Term{keyRoles, names(in.Subject.Roles)},
			[2]*ast.Term{keyPermissions, names(in.Subject.Permissions)},
			[2]*ast.Term{keyAttributes, subjectAttrs},
		)},
		[2]*ast.Term{keyAction, name(in.Action)},
		[2]*ast.Term{keyResource, object(
			[2]*ast.Term{keyType, str(in.Resource.Type)},
			[2]*ast.Term{keyID, str(in.Resource.ID)},
			[2]*ast.Term{keyOwnerID, str(in.Resource.OwnerID)},
			[2]*ast.Term{keyAttributes, resourceAttrs},
		)},
		[2]*ast.Term{keyTenant, object(
			[2]*ast.Term{keyID, str(in.Tenant.ID)},
			[2]*ast.Term{keySlug, str(in.Tenant.Slug)},
			[2]*ast.Term{keySettings, settings},
		)},
		[2]*ast.Term{keyRequest, object(
			[2]*ast.Term{keyMethod, str(in.Request.Method)},
			[2]*ast.Term{keyPath, str(in.Request.Path)},
			[2]*ast.Term{keyIP, str(in.Request.IP)},
			[2]*ast.Term{keyTime, str(in.Request.Time)},
		)},
	)
}

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

func attributes(m map[string]any) (*ast.Term, error) {
	if len(m) == 0 {
		return ast.InternedEmptyObject, nil
	}
	v, err := ast.InterfaceToValue(m)
	if err != nil {
		return nil, err
	}
	return ast.NewTerm(v), nil
}
