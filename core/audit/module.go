package audit

import (
	"context"
	"log/slog"
	"sync"

	"go.uber.org/fx"

	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/kernel"
)

// TenantLister lists every tenant, for the sealer's sweep and the periodic
// checkpoints.
type TenantLister func(context.Context) ([]*kernel.Tenant, error)

// Module provides the audit log, its sealer and its checkpoints, and runs
// the sealer and the checkpoint writer while the application runs. The
// Store, Signer, CheckpointStore and TenantLister come from the wiring.
var Module = fx.Module("audit",
	fx.Provide(
		func(s Store, tenants TenantLister, log *slog.Logger, reg Registerer) *Sealer {
			return NewSealer(SealerOptions{Store: s, Tenants: tenants, Logger: log, Metrics: reg})
		},
		func(cs CheckpointStore, sig Signer, s Store, uow kernel.Transactor) *Checkpoints {
			return NewCheckpoints(cs, sig, s, uow, kernel.SystemClock{})
		},
		func(s Store, uow kernel.Transactor, sealer *Sealer, cps *Checkpoints, secret Secret, log *slog.Logger) *Log {
			return NewLog(LogOptions{Store: s, UnitOfWork: uow, Clock: kernel.SystemClock{}, Sealer: sealer,
				Checkpoints: cps, Secret: secret, Logger: log})
		},
		fx.Annotate(func(l *Log) *Log { return l }, fx.As(new(Recorder))),
	),
	fx.Invoke(runBackground),
)

// Secret keys list cursors (the installation secret).
type Secret func(context.Context) ([]byte, error)

func runBackground(lc fx.Lifecycle, cfg config.Config, s *Sealer, cps *Checkpoints, tenants TenantLister, log *slog.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			wg.Go(func() { s.Run(ctx) })
			if cfg.AuditCheckpointInterval > 0 {
				wg.Go(func() { cps.Run(ctx, cfg.AuditCheckpointInterval, tenants, log) })
			}
			return nil
		},
		OnStop: func(context.Context) error {
			cancel()
			wg.Wait()
			return nil
		},
	})
}
