package events

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/atriumhq/atrium/core/kernel"
)

// Headers of a webhook delivery.
const (
	SignatureHeader = "Atrium-Signature"
	EventIDHeader   = "Atrium-Event-Id"
)

// Sign is the Atrium-Signature value of body sent at t: the HMAC-SHA256,
// under the webhook's secret, of "<unix seconds>.<body>", in hex.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// WebhookBody is what a webhook receives.
type WebhookBody struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Source     string          `json:"source"`
	Tenant     string          `json:"tenant"`
	OccurredAt time.Time       `json:"occurred_at"`
	Data       json.RawMessage `json:"data"`
}

// WebhookClient posts events to webhooks. Unless AllowPrivate, it refuses
// to connect to loopback, private, link-local and other non-public
// addresses, checked on the address it dials (after DNS resolution, so a
// name that resolves elsewhere later, DNS rebinding, is caught too).
type WebhookClient struct {
	AllowPrivate bool
	client       *http.Client
}

// NewWebhookClient returns a client whose requests time out after timeout.
func NewWebhookClient(allowPrivate bool, timeout time.Duration) *WebhookClient {
	w := &WebhookClient{AllowPrivate: allowPrivate}
	dialer := &net.Dialer{Timeout: timeout}
	if !allowPrivate {
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip, err := netip.ParseAddr(host)
			if err != nil {
				return fmt.Errorf("webhook: dialing %q: %w", address, err)
			}
			if !public(ip) {
				return fmt.Errorf("webhook: %s is not a public address", ip)
			}
			return nil
		}
	}
	tr := &http.Transport{DialContext: dialer.DialContext, Proxy: nil, MaxIdleConnsPerHost: 4,
		TLSHandshakeTimeout: timeout, ResponseHeaderTimeout: timeout}
	w.client = &http.Client{Transport: tr, Timeout: timeout,
		// A redirect could lead anywhere: it is a failed delivery.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return w
}

// public tells whether ip is an address a webhook may reach.
func public(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsValid() && ip.IsGlobalUnicast() && !ip.IsPrivate() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() &&
		!cgnat.Contains(ip) && !ip.Is4In6() && !nat64.Contains(ip)
}

var (
	cgnat = netip.MustParsePrefix("100.64.0.0/10")
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
)

// CheckURL refuses a webhook URL that is not http(s), or whose host is, or
// resolves to, an address the client would refuse.
func (w *WebhookClient) CheckURL(ctx context.Context, raw string) error {
	bad := func(msg string) error { return kernel.Invalid(kernel.FieldError{Field: "url", Message: msg}) }
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return bad("must be an http or https URL without credentials")
	}
	if len(raw) > 2048 {
		return bad("must be at most 2048 characters")
	}
	if w.AllowPrivate {
		return nil
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if !public(ip) {
			return bad("must not point at a loopback, private or link-local address")
		}
		return nil
	}
	// Spellings a resolver may read as an address (127.1, 0x7f.0.0.1,
	// 2130706433) are no host names: refused rather than guessed at.
	if strings.Trim(strings.ToLower(host), "0123456789abcdefx.") == "" {
		return bad("must name a host, or an address in its usual form")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return bad("its host does not resolve")
	}
	for _, a := range addrs {
		if !public(a) {
			return bad("must not point at a loopback, private or link-local address")
		}
	}
	return nil
}

// Send makes one attempt at delivering dl to w and says how it went.
func (w *WebhookClient) Send(ctx context.Context, hook *Webhook, t *kernel.Tenant, dl Delivery) WebhookAttempt {
	a := WebhookAttempt{WebhookID: hook.ID, EventID: dl.EventID, At: time.Now().UTC(), Attempt: dl.Attempts + 1}
	body, err := json.Marshal(WebhookBody{ID: dl.EventID.String(), Type: dl.Type, Source: dl.Source, Tenant: t.Slug,
		OccurredAt: dl.OccurredAt.UTC(), Data: dl.Payload})
	if err != nil {
		a.Error = err.Error()
		return a
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL, bytes.NewReader(body))
	if err != nil {
		a.Error = err.Error()
		return a
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Atrium-Webhook/1")
	req.Header.Set(EventIDHeader, dl.EventID.String())
	req.Header.Set(SignatureHeader, Sign(hook.Secret, time.Now(), body))
	start := time.Now()
	resp, err := w.client.Do(req)
	a.DurationMS = time.Since(start).Milliseconds()
	if err != nil {
		a.Error = err.Error()
		var ue *url.Error
		if errors.As(err, &ue) {
			a.Error = ue.Err.Error()
		}
		return a
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	a.StatusCode = resp.StatusCode
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		a.Error = "the receiver answered " + resp.Status
	}
	return a
}
