package api

import (
	"encoding/json"
	"slices"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/plugins/projects/internal/domain"
	"github.com/atriumhq/atrium/sdk"
)

// bindPatch decodes a PATCH body strictly into v (malformed JSON is 400
// malformed_json; unknown fields and wrong types are Invalid, naming the
// field) and returns the
// fields it names that are explicitly null, which a pointer in v cannot
// tell from absent ones. A body that names no field is Invalid too: there
// is nothing to do.
func bindPatch(c *sdk.Context, v any, known []string) (nulls map[string]bool, err error) {
	if err := c.Bind(v); err != nil {
		return nil, err
	}
	var raw map[string]json.RawMessage
	if err := c.Bind(&raw); err != nil {
		return nil, err
	}
	if len(raw) == 0 {
		return nil, sdk.Invalid(sdk.FieldError{Field: "body", Message: "name at least one field to change"})
	}
	nulls = map[string]bool{}
	for k, v := range raw {
		// Decoding into a struct matches keys case-insensitively; the
		// contract's fields are lower case, exactly.
		if !slices.Contains(known, k) {
			return nil, sdk.Invalid(sdk.FieldError{Field: k, Message: "unknown field"})
		}
		if string(v) == "null" {
			nulls[k] = true
		}
	}
	return nulls, nil
}

// form collects the problems of an input's fields, so that a client sees
// them all at once.
type form struct {
	errs []sdk.FieldError
}

func (f *form) fail(field, message string) {
	f.errs = append(f.errs, sdk.FieldError{Field: field, Message: message})
}

func (f *form) err() error {
	if len(f.errs) == 0 {
		return nil
	}
	return sdk.Invalid(f.errs...)
}

// notNull refuses an explicit null for a field that cannot be emptied.
func (f *form) notNull(nulls map[string]bool, fields ...string) {
	for _, field := range fields {
		if nulls[field] {
			f.fail(field, "must not be null")
		}
	}
}

func (f *form) uuid(field string, s *string) *uuid.UUID {
	if s == nil {
		return nil
	}
	id, err := uuid.Parse(*s)
	if err != nil {
		f.fail(field, "must be a UUID")
		return nil
	}
	return &id
}

func (f *form) date(field string, s *string) *domain.Date {
	if s == nil {
		return nil
	}
	d, err := domain.ParseDate(*s)
	if err != nil {
		f.fail(field, err.Error())
		return nil
	}
	return &d
}

func (f *form) projectStatus(field string, s *string) *domain.ProjectStatus {
	if s == nil {
		return nil
	}
	st, err := domain.ParseProjectStatus(*s)
	if err != nil {
		f.fail(field, err.Error())
		return nil
	}
	return &st
}

func (f *form) taskStatus(field string, s *string) *domain.TaskStatus {
	if s == nil {
		return nil
	}
	st, err := domain.ParseTaskStatus(*s)
	if err != nil {
		f.fail(field, err.Error())
		return nil
	}
	return &st
}
