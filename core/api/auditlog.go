package api

import (
	"context"
	"encoding/hex"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/atriumhq/atrium/core/api/model"
	"github.com/atriumhq/atrium/core/audit"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/spec"
)

func auditRecord(r *audit.Record) AuditRecord {
	out := AuditRecord{At: r.At.UTC(), Actor: model.AuditActor(r.Actor), Action: r.Action, Resource: model.AuditResource(r.Resource), Outcome: string(r.Outcome),
		Reasons: nonNil(r.Reasons), PolicyVersion: r.PolicyVersion, RequestID: r.RequestID, IP: r.IP,
		UserAgent: r.UserAgent, Details: r.Details}
	if r.Sealed() {
		seq, h, p := r.Seq, hex.EncodeToString(r.Hash), hex.EncodeToString(r.PrevHash)
		out.Seq, out.Hash, out.PrevHash = &seq, &h, &p
	}
	return out
}

// AuditTenants finds the tenant an operator's audit route names.
type AuditTenants interface {
	BySlug(ctx context.Context, slug string) (*kernel.Tenant, error)
}

// AuditRoutes are the tenant's audit log, for its admins and for operators.
func AuditRoutes(log *audit.Log, tenants AuditTenants, cps *audit.Checkpoints) []Route {
	tags := []string{"audit"}
	tenantOf := func(c *gin.Context) (*kernel.Tenant, error) {
		if t, ok := kernel.TenantFrom(c.Request.Context()); ok {
			return t, nil
		}
		return tenants.BySlug(c.Request.Context(), c.Param("slug"))
	}
	list := Output(func(c *gin.Context) (AuditList, error) {
		t, err := tenantOf(c)
		if err != nil {
			return AuditList{}, err
		}
		return listAudit(c, log, t)
	})
	verify := Output(func(c *gin.Context) (model.AuditVerification, error) {
		t, err := tenantOf(c)
		if err != nil {
			return model.AuditVerification{}, err
		}
		v, err := log.Verify(c.Request.Context(), t)
		return model.AuditVerification(v), err
	})
	return []Route{
		{
			Method: http.MethodGet, Path: "/api/v1/audit", Summary: "The tenant's audit records, newest first", Tags: tags,
			Access: Tenant, Permission: "audit.log.read", Handler: list,
		},
		{
			Method: http.MethodGet, Path: "/api/v1/audit/verify", Summary: "Walk the tenant's hash chain and report the first broken record",
			Tags: tags, Access: Tenant, Permission: "audit.log.read", Handler: verify, Timeout: verifyTimeout,
		},
		{
			Method: http.MethodGet, Path: "/api/v1/tenants/:slug/audit", Summary: "A tenant's audit records, newest first",
			Tags: tags, Access: Operator, Handler: list,
		},
		{
			Method: http.MethodGet, Path: "/api/v1/tenants/:slug/audit/verify", Summary: "Verify a tenant's audit chain",
			Tags: tags, Access: Operator, Handler: verify, Timeout: verifyTimeout,
		},
		{
			Method: http.MethodPost, Path: "/api/v1/tenants/:slug/audit/checkpoint",
			Summary: "Sign the tenant's chain head with the platform key and store it in the blob store",
			Tags:    tags, Access: Operator, Action: "audit.checkpoint.create",
			Handler: Output(func(c *gin.Context) (CheckpointResponse, error) {
				t, err := tenantOf(c)
				if err != nil {
					return CheckpointResponse{}, err
				}
				ctx := c.Request.Context()
				if err := log.Seal(ctx, t); err != nil {
					return CheckpointResponse{}, err
				}
				cp, err := cps.Write(ctx, t)
				if err != nil {
					return CheckpointResponse{}, err
				}
				return CheckpointResponse{Seq: cp.Seq, Hash: hex.EncodeToString(cp.Hash), Token: cp.Token}, nil
			}),
		},
	}
}

func listAudit(c *gin.Context, log *audit.Log, t *kernel.Tenant) (AuditList, error) {
	ctx := c.Request.Context()
	query := c.Request.URL.Query()
	since, err := timeParam(query, "since")
	if err != nil {
		return AuditList{}, err
	}
	until, err := timeParam(query, "until")
	if err != nil {
		return AuditList{}, err
	}
	codec, err := log.Cursors(ctx)
	if err != nil {
		return AuditList{}, err
	}
	q, err := spec.Parse(query, audit.Fields, spec.Options{Codec: codec, Reserved: []string{"since", "until"}})
	if err != nil {
		return AuditList{}, err
	}
	recs, next, err := log.List(ctx, t, q, since, until)
	if err != nil {
		return AuditList{}, err
	}
	out := AuditList{Items: make([]AuditRecord, 0, len(recs))}
	for _, r := range recs {
		out.Items = append(out.Items, auditRecord(r))
	}
	if next != "" {
		out.NextCursor = &next
	}
	return out, nil
}

// timeParam reads an optional RFC 3339 query parameter.
func timeParam(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil || len(q[name]) > 1 {
		return time.Time{}, &kernel.Error{Kind: kernel.KindBadRequest, Code: kernel.ErrInvalidQuery.Code, Message: "the query is not valid",
			Fields: []kernel.FieldError{{Field: name, Message: "must be one RFC 3339 time, for example 2025-01-31T09:00:00Z"}}}
	}
	return t, nil
}

// verifyTimeout bounds a walk of a whole audit chain, which grows with the
// tenant's history.
const verifyTimeout = 10 * time.Minute
