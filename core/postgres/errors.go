package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/atriumhq/atrium/core/kernel"
)

const rollbackTimeout = 5 * time.Second

// SQLSTATE codes Atrium translates.
const (
	codeUniqueViolation = "23505"
	codeDuplicateObject = "42710"
	codeDuplicateSchema = "42P06"
	codeInvalidPassword = "28P01"
)

// unavailable marks connection-level failures (pool exhausted, server gone)
// as retryable 503s; a caller's own cancellation stays what it is.
func unavailable(err error) error {
	if f := fault(err); f != nil {
		return f
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return err
	}
	return kernel.Wrap(kernel.KindUnavailable, err, "the database is unavailable")
}

func isCode(err error, codes ...string) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	for _, c := range codes {
		if pgErr.Code == c {
			return true
		}
	}
	return false
}

func notFound(err error, resource string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return kernel.NotFound(resource)
	}
	return err
}
