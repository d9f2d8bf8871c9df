package loadtarget_test

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/internal/loadgen"
	"github.com/atriumhq/atrium/internal/loadtarget"
)

// TestPocketBase sets up the PocketBase at POCKETBASE_URL (superuser
// POCKETBASE_EMAIL / POCKETBASE_PASSWORD) and sends each operation: it
// needs one the tester started, and skips otherwise.
func TestPocketBase(t *testing.T) {
	base := os.Getenv("POCKETBASE_URL")
	if base == "" || testing.Short() {
		t.Skip("POCKETBASE_URL names no PocketBase")
	}
	ctx := context.Background()
	client := loadgen.NewClient(4)
	pb, err := loadtarget.SetUpPocketBase(ctx, client, base, os.Getenv("POCKETBASE_EMAIL"), os.Getenv("POCKETBASE_PASSWORD"),
		loadtarget.Shape{Owners: 2, Records: 3})
	require.NoError(t, err)
	for n := range 6 { // every record, each as its owner
		require.NoError(t, pb.Read(ctx, n))
		require.NoError(t, pb.Create(ctx, n))
	}

	// A second set-up replaces the first.
	_, err = loadtarget.SetUpPocketBase(ctx, client, base, os.Getenv("POCKETBASE_EMAIL"), os.Getenv("POCKETBASE_PASSWORD"),
		loadtarget.Shape{Owners: 2, Records: 1})
	require.NoError(t, err)
	require.Error(t, pb.Read(ctx, 0), "the first set-up's records are gone")
}
