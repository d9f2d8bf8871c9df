package events

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/pluginhost"
)

// Module provides the outbox plugins emit to, the events' API service and
// the deliverer, which runs from start to stop.
var Module = fx.Module("events",
	fx.Provide(
		func(cfg config.Config) *WebhookClient {
			return NewWebhookClient(cfg.WebhookAllowPrivate, cfg.WebhookTimeout)
		},
		func(reg *prometheus.Registry) *Metrics { return NewMetrics(reg) },
		NewOutbox,
		fx.Annotate(func(o *Outbox) *Outbox { return o }, fx.As(new(pluginhost.Outbox))),
		NewService,
		newDeliverer,
	),
)

func newDeliverer(lc fx.Lifecycle, cfg config.Config, store Store, uow kernel.Transactor, plugins Plugins,
	services pluginhost.Services, tenants Tenants, webhooks *WebhookClient, metrics *Metrics, log *slog.Logger) *Deliverer {
	d := NewDeliverer(Options{MaxAttempts: cfg.EventMaxAttempts, RetryBase: cfg.EventRetryBase, RetryMax: cfg.EventRetryMax,
		Workers: cfg.EventWorkers}, store, uow, plugins, services, tenants, webhooks, metrics, log)
	lc.Append(fx.Hook{OnStart: d.Start, OnStop: d.Stop})
	return d
}
