package wire

import (
	"context"
	"time"

	"google.golang.org/grpc/metadata"
)

// deadlineKey carries a request's deadline into the plugin, as the time
// left when the call was sent (as gRPC's own grpc-timeout does, so the two
// processes' clocks need not agree). The call itself may run longer than
// that: the host keeps it open a grace period so that a handler that gives
// up at its deadline still gets its answer through.
const deadlineKey = "atrium-deadline"

// WithDeadline returns ctx whose outgoing metadata carries deadline.
func WithDeadline(ctx context.Context, deadline time.Time) context.Context {
	return metadata.AppendToOutgoingContext(ctx, deadlineKey, time.Until(deadline).String())
}

// IncomingDeadline returns the deadline a call carried, if it carried one.
func IncomingDeadline(ctx context.Context) (time.Time, bool) {
	v := metadata.ValueFromIncomingContext(ctx, deadlineKey)
	if len(v) == 0 {
		return time.Time{}, false
	}
	left, err := time.ParseDuration(v[0])
	if err != nil {
		return time.Time{}, false
	}
	return time.Now().Add(left), true
}
