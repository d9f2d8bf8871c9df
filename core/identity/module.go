package identity

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"

	"go.uber.org/fx"

	"github.com/atriumhq/atrium/core/audit"
	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/kernel"
)

// Module provides passwords, tokens, operator and user sign-in, and the
// authenticator; on start it makes sure a signing key exists and creates
// the bootstrap operator if configured. The stores and the Limiter come
// from infrastructure.
var Module = fx.Module("identity",
	fx.Provide(
		func(cfg config.Config) *Passwords { return NewPasswords(cfg.BcryptCost, runtime.GOMAXPROCS(0)) },
		func(keys KeyStore, cfg config.Config) *Tokens {
			return NewTokens(keys, TokenOptions{
				Issuer: "atrium", TTL: cfg.AccessTokenTTL, RotateAfter: cfg.SigningKeyRotation, Clock: kernel.SystemClock{},
			})
		},
		func(p *Passwords, t *Tokens, l Limiter, cfg config.Config, log *slog.Logger, rec audit.Recorder) SignIn {
			wide := NewMemoryLimiter(cfg.LoginIPRateLimit, cfg.LoginRateWindow, kernel.SystemClock{})
			return SignIn{Passwords: p, Tokens: t, Limiter: l, Wide: wide, RefreshTTL: cfg.RefreshTokenTTL, Clock: kernel.SystemClock{}, Log: log, Audit: rec}
		},
		NewOperators,
		NewUsers,
		NewAuthenticator,
	),
	fx.Invoke(bootstrap),
)

func bootstrap(lc fx.Lifecycle, cfg config.Config, ops *Operators, tokens *Tokens, log *slog.Logger) {
	lc.Append(fx.StartHook(func(ctx context.Context) error {
		if _, err := tokens.signingKey(ctx); err != nil { // a key exists, young enough
			return err
		}
		if err := tokens.Reload(ctx); err != nil {
			return err
		}
		if cfg.BootstrapOperatorEmail == "" {
			return firstOperator(ctx, cfg.FirstOperatorFile, ops, log)
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

// firstOperator creates the first operator of a developer's private
// cluster, its generated password kept in file (0600), never in the log.
func firstOperator(ctx context.Context, file string, ops *Operators, log *slog.Logger) error {
	if file == "" {
		return nil
	}
	password, err := ops.First(ctx, FirstOperatorEmail)
	if err != nil || password == "" {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("keep the first operator's password: %w", err)
	}
	if err := os.WriteFile(file, []byte(password+"\n"), 0o600); err != nil {
		return fmt.Errorf("keep the first operator's password: %w", err)
	}
	log.Info("created the first operator; its password is in the file", "email", FirstOperatorEmail, "file", file)
	return nil
}
