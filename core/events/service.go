package events

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/core/kernel"
)

// Service is the events' use cases for the API: each runs in the request's
// unit of work.
type Service struct {
	store    Store
	webhooks *WebhookClient
}

// NewService returns the service.
func NewService(store Store, webhooks *WebhookClient) *Service {
	return &Service{store: store, webhooks: webhooks}
}

// List limits.
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// Page is one page of events.
type Page struct {
	Items      []Record `json:"items"`
	NextCursor string   `json:"next_cursor,omitempty"`
}

// List lists events, newest first, whose type is typ (if set) and which
// have a delivery in status (if set), after the cursor of a previous page.
func (s *Service) List(ctx context.Context, status, typ, limit, cursor string) (Page, error) {
	q := ListQuery{Status: status, Type: typ, Limit: DefaultLimit}
	var errs []kernel.FieldError
	switch status {
	case "", StatusPending, StatusDelivered, StatusFailed:
	default:
		errs = append(errs, kernel.FieldError{Field: "status", Message: "must be pending, delivered or failed"})
	}
	if typ != "" && !typePattern.MatchString(typ) {
		errs = append(errs, kernel.FieldError{Field: "type", Message: "must be an event type, <plugin>.<noun>.<past verb>"})
	}
	if limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 1 || n > MaxLimit {
			errs = append(errs, kernel.FieldError{Field: "limit", Message: "must be a whole number from 1 to 200"})
		}
		q.Limit = n
	}
	if len(errs) > 0 {
		return Page{}, &kernel.Error{Kind: kernel.KindBadRequest, Code: kernel.ErrInvalidQuery.Code,
			Message: "the list's query is invalid", Fields: errs}
	}
	if cursor != "" {
		after, err := decodeCursor(cursor)
		if err != nil {
			return Page{}, kernel.E(kernel.KindBadRequest, "the cursor is not one this list gave").WithCode(kernel.ErrInvalidCursor.Code)
		}
		q.After = after
	}
	q.Limit++ // one more tells whether a next page exists
	recs, err := s.store.List(ctx, q)
	if err != nil {
		return Page{}, err
	}
	page := Page{Items: recs}
	if len(recs) == q.Limit {
		page.Items = recs[:q.Limit-1]
		page.NextCursor = encodeCursor(page.Items[len(page.Items)-1].Seq)
	}
	return page, nil
}

func encodeCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("ev:" + strconv.FormatInt(seq, 10)))
}

func decodeCursor(c string) (int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimPrefix(string(raw), "ev:"), 10, 64)
	if err != nil || !strings.HasPrefix(string(raw), "ev:") || n <= 0 {
		return 0, kernel.ErrInvalidCursor
	}
	return n, nil
}

// Retry makes an event's parked deliveries pending again.
func (s *Service) Retry(ctx context.Context, id uuid.UUID) (*Record, error) {
	return s.store.Retry(ctx, id)
}

var typePattern = regexp.MustCompile(`^[a-z][a-z0-9]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$`)

// CreateWebhook adds a webhook for the event types named ("*" for all);
// its secret is generated unless given, and returned only here.
func (s *Service) CreateWebhook(ctx context.Context, url string, types []string, secret string) (*Webhook, error) {
	var errs []kernel.FieldError
	if len(types) == 0 {
		errs = append(errs, kernel.FieldError{Field: "events", Message: "must name at least one event type, or \"*\""})
	}
	for _, t := range types {
		if t != "*" && !typePattern.MatchString(t) {
			errs = append(errs, kernel.FieldError{Field: "events", Message: "\"" + t + "\" is not an event type"})
		}
	}
	if secret != "" && len(secret) < 16 {
		errs = append(errs, kernel.FieldError{Field: "secret", Message: "must be at least 16 characters"})
	}
	if len(errs) > 0 {
		return nil, kernel.Invalid(errs...)
	}
	if err := s.webhooks.CheckURL(ctx, url); err != nil {
		return nil, err
	}
	if secret == "" {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		secret = "whsec_" + hex.EncodeToString(b)
	}
	w := &Webhook{ID: uuid.New(), URL: url, Events: types, Secret: secret, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := s.store.CreateWebhook(ctx, w); err != nil {
		return nil, err
	}
	return w, nil
}

// Webhooks lists the webhooks.
func (s *Service) Webhooks(ctx context.Context) ([]Webhook, error) { return s.store.ListWebhooks(ctx) }

// Webhook reads one.
func (s *Service) Webhook(ctx context.Context, id uuid.UUID) (*Webhook, error) {
	return s.store.GetWebhook(ctx, id)
}

// DeleteWebhook removes one, with its pending deliveries.
func (s *Service) DeleteWebhook(ctx context.Context, id uuid.UUID) error {
	return s.store.DeleteWebhook(ctx, id)
}

// Attempts lists a webhook's delivery attempts, newest first.
func (s *Service) Attempts(ctx context.Context, id uuid.UUID) ([]WebhookAttempt, error) {
	return s.store.WebhookAttempts(ctx, id, MaxLimit)
}
