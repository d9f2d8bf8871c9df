package listquery

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Resource declares what a list's rows are to the tenant's policy, so that
// the list holds only what the policy lets the caller read: the resource
// type and read action of the resource-level decision on one row, and the
// fields holding what a policy reads of it (input.resource.id, owner_id and
// attributes). Attributes must name every attribute the list's handlers put
// in resource-level decisions: one left out is absent from the list's rows.
type Resource struct {
	Type       string            // the resource type, as in resource-level decisions ("project")
	Action     string            // the permission that reads one ("projects.project.read")
	ID         string            // the field holding its id
	Owner      string            // the field holding its owner's subject id; "" when it has none
	Attributes map[string]string // policy attribute name -> field
}

var (
	typePattern   = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	actionPattern = regexp.MustCompile(`^[a-z][a-z0-9]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$`)
)

// WithResource returns f, whose lists SQL then filters by the tenant's
// policy for r (see PolicyFilter).
func (f Fields) WithResource(r Resource) (Fields, error) {
	if err := f.built(); err != nil {
		return Fields{}, err
	}
	var errs []error
	if !typePattern.MatchString(r.Type) {
		errs = append(errs, fmt.Errorf("resource type %q is not a lower-case name", r.Type))
	}
	if !actionPattern.MatchString(r.Action) {
		errs = append(errs, fmt.Errorf("action %q is not a permission name", r.Action))
	}
	field := func(what, name string) {
		if _, ok := f.byName[name]; !ok {
			errs = append(errs, fmt.Errorf("%s: %q is not a field of the list", what, name))
		}
	}
	field("ID", r.ID)
	if r.Owner != "" {
		field("Owner", r.Owner)
	}
	for attr, name := range r.Attributes {
		if attr == "" {
			errs = append(errs, errors.New("an attribute has no name"))
		}
		field("attribute "+attr, name)
	}
	if err := errors.Join(errs...); err != nil {
		return Fields{}, fmt.Errorf("list %s: resource: %w", f.list, err)
	}
	out := f
	out.resource = &r
	return out, nil
}

// Resource returns the policy resource of the list's rows, if declared.
func (f Fields) Resource() (Resource, bool) {
	if f.resource == nil {
		return Resource{}, false
	}
	return *f.resource, true
}

// PolicyFilter stands among a Clause's Args for the condition the tenant's
// policy puts on a list's rows (Fields.WithResource). Its placeholder is
// one of the conjuncts of Where; the host puts the condition there, and
// sends the value false to any host that does not, so that such a list is
// empty rather than unfiltered. Limit is the placeholder number of the
// LIMIT, which the host may raise to fetch past rows the policy hides.
type PolicyFilter struct {
	Action, Type string
	ID, Owner    *PolicyColumn // Owner nil: none
	Attributes   map[string]PolicyColumn
	Param, Limit int
}

// PolicyColumn is the column holding one field of the resource.
type PolicyColumn struct {
	Column   string // quoted-free, optionally qualified: "t.status"
	Type     Type
	Nullable bool
}

func (f Fields) policyFilter(table string) *PolicyFilter {
	r := f.resource
	col := func(name string) *PolicyColumn {
		d := f.byName[name]
		c := d.Column
		if table != "" && !strings.Contains(c, ".") {
			c = table + "." + c
		}
		return &PolicyColumn{Column: c, Type: d.Type, Nullable: d.Nullable}
	}
	p := &PolicyFilter{Action: r.Action, Type: r.Type, ID: col(r.ID), Attributes: make(map[string]PolicyColumn, len(r.Attributes))}
	if r.Owner != "" {
		p.Owner = col(r.Owner)
	}
	for attr, name := range r.Attributes {
		p.Attributes[attr] = *col(name)
	}
	return p
}
