package identity

import (
	"context"
	"log/slog"
	"runtime"

	"go.uber.org/fx"

	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/kernel"
)

// Module provides passwords, tokens, operator and user sign-in, and the
// authenticator; on start it creates the bootstrap operator if configured.
var Module = fx.Module("identity",
	fx.Provide(
		func(cfg config.Config) *Passwords { return NewPasswords(cfg.BcryptCost, runtime.GOMAXPROCS(0)) },
		func(keys KeyStore, cfg config.Config) *Tokens {
			return NewTokens(keys, "atrium", cfg.AccessTokenTTL, kernel.SystemClock{})
		},
		func(s OperatorStore, p *Passwords, t *Tokens) *Operators {
			return NewOperators(s, p, t, kernel.SystemClock{})
		},
		NewUsers,
		NewAuthenticator,
	),
	fx.Invoke(bootstrap),
)

func bootstrap(lc fx.Lifecycle, cfg config.Config, ops *Operators, tokens *Tokens, log *slog.Logger) {
	lc.Append(fx.StartHook(func(ctx context.Context) error {
		if _, err := tokens.keys.Active(ctx); err != nil { // make sure a signing key exists
			return err
		}
		if err := tokens.Reload(ctx); err != nil {
			return err
		}
		if cfg.BootstrapOperatorEmail == "" {
			return nil
		}
		created, err := ops.Bootstrap(ctx, cfg.BootstrapOperatorEmail, cfg.BootstrapOperatorPassword)
		if err != nil {
			return err
		}
		if created {
			log.Info("created bootstrap operator", "email", cfg.BootstrapOperatorEmail)
		}
		return nil
	}))
}
