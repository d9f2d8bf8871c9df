package identity_test

import (
	"context"
	"strings"
	"testing"

	"github.com/atriumhq/atrium/core/identity"
)

// FuzzVerifyToken: no input panics the verifier, and nothing verifies but
// the one token the issuer signed (strict decoding leaves no second
// encoding of its signature).
func FuzzVerifyToken(f *testing.F) {
	ctx := context.Background()
	c := newClock()
	tokens := newTokens(&memKeys{clock: c}, c)
	valid, _, err := tokens.Issue(ctx, user, identity.AudienceTenant, session)
	if err != nil {
		f.Fatal(err)
	}
	parts := strings.Split(valid, ".")
	for _, seed := range []string{
		valid, "", ".", "..", "...", "a.b.c", parts[0] + "." + parts[1] + ".",
		parts[0] + ".." + parts[2], "eyJhbGciOiJub25lIn0.e30.", "eyJhbGciOiJIUzI1NiJ9.e30.AAAA",
		strings.Repeat(".", 5000), parts[0] + "." + parts[1] + "." + parts[2] + "A",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		acc, err := tokens.Verify(ctx, raw, identity.AudienceTenant)
		if err == nil && raw != valid {
			t.Fatalf("verified a token the issuer never signed: %q -> %+v", raw, acc)
		}
		if _, err := tokens.Verify(ctx, raw, identity.AudienceOperator); err == nil {
			t.Fatalf("a tenant token verified as an operator's: %q", raw)
		}
	})
}
