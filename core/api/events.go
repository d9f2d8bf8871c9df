package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/atriumhq/atrium/core/events"
	"github.com/atriumhq/atrium/core/kernel"
)

// CreateWebhookRequest is the body of POST /api/v1/webhooks.
type CreateWebhookRequest struct {
	URL string `json:"url" validate:"required,max=2048"`
	// Events are the event types delivered, "*" for all.
	Events []string `json:"events" validate:"required,min=1,max=50,dive,min=1,max=200"`
	// Secret signs the deliveries; one is generated when left out. It is
	// shown only in the answer to this request.
	Secret string `json:"secret" validate:"max=200"`
}

// WebhookList lists the tenant's webhooks.
type WebhookList struct {
	Items []events.Webhook `json:"items"`
}

// WebhookAttemptList lists a webhook's delivery attempts, newest first.
type WebhookAttemptList struct {
	Items []events.WebhookAttempt `json:"items"`
}

// EventRoutes are the tenant's integration events and webhooks
// (docs/events.md): admin only.
func EventRoutes(svc *events.Service) []Route {
	eventTags, hookTags := []string{"events"}, []string{"webhooks"}
	hookID := func(c *gin.Context) (uuid.UUID, error) { return kernel.ParseID("webhook", c.Param("id")) }
	return []Route{
		{
			Method: http.MethodGet, Path: "/api/v1/events",
			Summary: "List the tenant's events, newest first, with each subscriber's delivery state (?status=pending|delivered|failed, ?type=, ?limit=, ?cursor=)",
			Tags:    eventTags, Access: Tenant, Permission: "platform.event.read",
			Handler: Output(func(c *gin.Context) (events.Page, error) {
				q := c.Request.URL.Query()
				return svc.List(c.Request.Context(), q.Get("status"), q.Get("type"), q.Get("limit"), q.Get("cursor"))
			}),
		},
		{
			Method: http.MethodPost, Path: "/api/v1/events/:id/retry", Summary: "Deliver an event's parked (failed) deliveries again",
			Tags: eventTags, Access: Tenant, Permission: "platform.event.retry",
			Handler: Output(byID(func(c *gin.Context) (uuid.UUID, error) { return kernel.ParseID("event", c.Param("id")) },
				func(c *gin.Context, id uuid.UUID) (*events.Record, error) { return svc.Retry(c.Request.Context(), id) },
				func(r *events.Record) *events.Record { return r })),
		},
		{
			Method: http.MethodGet, Path: "/api/v1/webhooks", Summary: "List the tenant's webhooks (never their secrets)",
			Tags: hookTags, Access: Tenant, Permission: "platform.webhook.read",
			Handler: Output(func(c *gin.Context) (WebhookList, error) {
				ws, err := svc.Webhooks(c.Request.Context())
				if ws == nil {
					ws = []events.Webhook{}
				}
				return WebhookList{Items: ws}, err
			}),
		},
		{
			Method: http.MethodPost, Path: "/api/v1/webhooks", Summary: "Add a webhook; its secret is shown in this answer only",
			Tags: hookTags, Access: Tenant, Permission: "platform.webhook.manage",
			Handler: JSON(http.StatusCreated, func(c *gin.Context, in *CreateWebhookRequest) (*events.Webhook, error) {
				w, err := svc.CreateWebhook(c.Request.Context(), in.URL, in.Events, in.Secret)
				if err != nil {
					return nil, err
				}
				c.Header("Location", "/api/v1/webhooks/"+w.ID.String())
				return w, nil
			}),
		},
		{
			Method: http.MethodGet, Path: "/api/v1/webhooks/:id", Summary: "Read a webhook (never its secret)",
			Tags: hookTags, Access: Tenant, Permission: "platform.webhook.read",
			Handler: Output(byID(hookID, func(c *gin.Context, id uuid.UUID) (*events.Webhook, error) {
				return svc.Webhook(c.Request.Context(), id)
			}, func(w *events.Webhook) *events.Webhook { return w })),
		},
		{
			Method: http.MethodDelete, Path: "/api/v1/webhooks/:id", Summary: "Delete a webhook and its pending deliveries",
			Tags: hookTags, Access: Tenant, Permission: "platform.webhook.manage",
			Handler: NoContent(func(c *gin.Context) error {
				id, err := hookID(c)
				if err != nil {
					return err
				}
				return svc.DeleteWebhook(c.Request.Context(), id)
			}),
		},
		{
			Method: http.MethodGet, Path: "/api/v1/webhooks/:id/deliveries", Summary: "A webhook's delivery attempts, newest first (the last 200)",
			Tags: hookTags, Access: Tenant, Permission: "platform.webhook.read",
			Handler: Output(func(c *gin.Context) (WebhookAttemptList, error) {
				id, err := hookID(c)
				if err != nil {
					return WebhookAttemptList{}, err
				}
				as, err := svc.Attempts(c.Request.Context(), id)
				if as == nil {
					as = []events.WebhookAttempt{}
				}
				return WebhookAttemptList{Items: as}, err
			}),
		},
	}
}
