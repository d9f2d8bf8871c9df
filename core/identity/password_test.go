package identity_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/atriumhq/atrium/core/identity"
	"github.com/atriumhq/atrium/core/kernel"
)

// bcrypt reads 72 bytes; Atrium refuses longer passwords instead of
// silently ignoring the rest, counting bytes, not characters.
func TestPasswordLengthIsCountedInBytesAndNeverTruncated(t *testing.T) {
	p := identity.NewPasswords(bcrypt.MinCost, 2)
	for _, c := range []struct {
		name, password string
		ok             bool
	}{
		{"72 ASCII bytes", strings.Repeat("a", 72), true},
		{"73 ASCII bytes", strings.Repeat("a", 73), false},
		{"24 three-byte runes (72 bytes)", strings.Repeat("€", 24), true},
		{"25 three-byte runes (75 bytes)", strings.Repeat("€", 25), false},
		{"9 characters", "ninechars", false},
		{"invalid UTF-8", "abcdefghij\xff", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := p.Hash(c.password)
			if c.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, kernel.ErrInvalid)
		})
	}
}

func TestPasswordsWithNULAreWholeAndLongOnesNeverMatchAPrefix(t *testing.T) {
	ctx := context.Background()
	p := identity.NewPasswords(bcrypt.MinCost, 2)

	// C bcrypt implementations stop at NUL; the whole password must count here.
	withNUL := "correct\x00horse battery"
	h, err := p.Hash(withNUL)
	require.NoError(t, err)
	ok, err := p.Verify(ctx, h, withNUL)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, _ = p.Verify(ctx, h, "correct")
	assert.False(t, ok, "the part before NUL is not the password")

	// A 73-byte password never verifies against the hash of its 72-byte prefix.
	prefix := strings.Repeat("x", 72)
	h, err = p.Hash(prefix)
	require.NoError(t, err)
	ok, err = p.Verify(ctx, h, prefix+"y")
	require.NoError(t, err)
	assert.False(t, ok)

	// An unknown account (no hash) is a plain "no", after a real comparison.
	ok, err = p.Verify(ctx, "", "anything at all")
	require.NoError(t, err)
	assert.False(t, ok)
}
