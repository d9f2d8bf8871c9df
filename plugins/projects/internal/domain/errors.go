package domain

import (
	"fmt"
	"strings"
)

// NotFoundError reports a project or task that does not exist in the
// tenant (or whose id is not even well formed: it cannot exist).
type NotFoundError struct {
	What string // "project" or "task"
	ID   string
}

func (e *NotFoundError) Error() string { return fmt.Sprintf("%s %s not found", e.What, e.ID) }

// ConflictError reports an operation the resource's current state forbids:
// a task for an archived project, a status transition the workflow does not
// allow.
type ConflictError struct {
	Reason string
}

func (e *ConflictError) Error() string { return e.Reason }

// FieldError names one input field that breaks a rule.
type FieldError struct {
	Field   string
	Message string
}

// ValidationError lists every field that breaks a rule, so that a client
// fixes them all at once.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid: " + strings.Join(parts, "; ")
}

// fieldErrors collects field errors; err is nil when there are none.
type fieldErrors []FieldError

func (fe *fieldErrors) add(field, message string) {
	*fe = append(*fe, FieldError{Field: field, Message: message})
}

func (fe fieldErrors) err() error {
	if len(fe) == 0 {
		return nil
	}
	return &ValidationError{Fields: fe}
}
