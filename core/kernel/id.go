package kernel

import "github.com/google/uuid"

// NewID returns a new time-ordered identifier (UUIDv7): sortable by creation
// and friendly to B-tree indexes.
func NewID() uuid.UUID {
	return uuid.Must(uuid.NewV7())
}

// ParseID parses a client-supplied identifier; a malformed one is a not-found,
// not a bad request, so probing IDs reveals nothing about their format rules.
func ParseID(resource, s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, NotFound(resource)
	}
	return id, nil
}
