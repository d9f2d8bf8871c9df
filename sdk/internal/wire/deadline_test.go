package wire_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc/metadata"

	"github.com/atriumhq/atrium/sdk/internal/wire"
)

// The deadline travels as the time left, and comes out as a deadline at
// the same moment, give or take the trip.
func TestDeadlineTravelsInMetadata(t *testing.T) {
	deadline := time.Now().Add(3 * time.Second)
	md, _ := metadata.FromOutgoingContext(wire.WithDeadline(context.Background(), deadline))
	got, ok := wire.IncomingDeadline(metadata.NewIncomingContext(context.Background(), md))
	assert.True(t, ok)
	assert.WithinDuration(t, deadline, got, 50*time.Millisecond)

	_, ok = wire.IncomingDeadline(context.Background())
	assert.False(t, ok, "none sent")
	_, ok = wire.IncomingDeadline(metadata.NewIncomingContext(context.Background(), metadata.Pairs("atrium-deadline", "soon")))
	assert.False(t, ok, "unreadable")
}
