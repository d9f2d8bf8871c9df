package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atriumhq/atrium/core/kernel"
)

// A COMMIT whose answer is lost with its connection (the server shut down
// or the network broke after COMMIT was sent) may have committed or not:
// PostgreSQL flushes a pipeline's answers only at its end, so a commit
// applied just before the server stopped is as silent as one that never
// ran. Answering "nothing was changed" then is a lie a client acts on
// (a PostgreSQL restart under load showed it: a 503 for a write that was
// kept, with its audit record). So a unit of work that wrote learns its
// transaction id before committing (one round trip, writes only) and,
// when the answer is lost, asks the server for that transaction's fate
// once it answers again, within the request's deadline.

// inDoubtWait bounds the wait for the server to tell a lost commit's fate.
const inDoubtWait = 10 * time.Second

// txid is the current transaction's id when it has written, else 0 (a
// transaction that wrote nothing loses nothing with its commit). Simple
// protocol: a plugin's dirty connection may hold a statement prepared
// under a name the driver would use.
func txid(ctx context.Context, conn *pgx.Conn) (int64, error) {
	var id *int64
	err := conn.QueryRow(ctx, "SELECT txid_current_if_assigned()", pgx.QueryExecModeSimpleProtocol).Scan(&id)
	if err != nil || id == nil {
		return 0, err
	}
	return *id, nil
}

// errInDoubt marks a commit whose outcome is unknown: the unit of work's
// rollback hooks must not run, since it may have committed.
var errInDoubt = errors.New("commit in doubt")

// settle tells the fate of transaction id, whose COMMIT failed with lost:
// committed when it committed after all. Otherwise unknown is nil when it
// did not (or id is 0, or lost is no fault: the server refused the COMMIT),
// and an unavailable error saying the outcome is unknown when the server
// does not answer within inDoubtWait or ctx's end.
func settle(ctx context.Context, pool *pgxpool.Pool, id int64, lost error) (committed bool, unknown error) {
	if id == 0 || !isFault(lost) {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, inDoubtWait)
	defer cancel()
	for {
		var status *string
		err := pool.QueryRow(ctx, "SELECT txid_status($1)", id).Scan(&status)
		switch {
		case err == nil && status != nil && *status == "committed":
			return true, nil
		case err == nil && (status == nil || *status != "in progress"):
			return false, nil // aborted (a transaction cut short is rolled back on restart)
		}
		select {
		case <-ctx.Done():
			return false, kernel.Wrap(kernel.KindUnavailable, errors.Join(lost, errInDoubt),
				"the database went away while the change was being committed; whether it was applied is unknown")
		case <-time.After(100 * time.Millisecond):
		}
	}
}
