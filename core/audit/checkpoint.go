package audit

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/core/kernel"
)

// A checkpoint is a tenant's chain head signed with the platform key and
// kept outside the database (the blob store). The chain alone shows edits,
// deletions and reorderings; a checkpoint also exposes a chain rewritten
// from the start or cut short, which stays self-consistent.
type Checkpoint struct {
	TenantID uuid.UUID
	Seq      int64
	Hash     []byte
	At       time.Time
	Token    string // the signed statement, a JWT the JWKS document verifies
}

// Signer signs and verifies statements with the platform key.
type Signer interface {
	SignStatement(ctx context.Context, typ string, claims map[string]any) (string, error)
	// VerifyStatement checks the signature with any key the platform has
	// signed with and returns the claims.
	VerifyStatement(ctx context.Context, typ, token string) (map[string]any, error)
}

// CheckpointStore keeps signed checkpoints (the blob store).
type CheckpointStore interface {
	Put(ctx context.Context, key string, data []byte) error
	Get(ctx context.Context, key string) ([]byte, error)
	List(ctx context.Context, prefix string) ([]string, error)
}

// checkpointType is the JWT typ of a checkpoint.
const checkpointType = "atrium-audit-checkpoint+jwt"

// Checkpoints writes and reads tenants' signed checkpoints.
type Checkpoints struct {
	store  CheckpointStore
	signer Signer
	chain  Store
	uow    kernel.Transactor
	clock  kernel.Clock

	mu   sync.Mutex
	last map[uuid.UUID]int64 // the last seq checkpointed, per tenant, by this process
}

// NewCheckpoints returns the checkpoint service.
func NewCheckpoints(store CheckpointStore, signer Signer, chain Store, uow kernel.Transactor, clock kernel.Clock) *Checkpoints {
	return &Checkpoints{store: store, signer: signer, chain: chain, uow: uow, clock: clock, last: map[uuid.UUID]int64{}}
}

func checkpointPrefix(t uuid.UUID) string { return "audit/" + t.String() + "/checkpoints/" }

// Write signs t's current head and stores it. The zero Checkpoint and no
// error mean there was nothing new to sign.
func (c *Checkpoints) Write(ctx context.Context, t *kernel.Tenant) (Checkpoint, error) {
	var head Head
	err := c.uow.InTenant(ctx, t, func(ctx context.Context) error {
		var err error
		head, err = c.chain.Head(ctx)
		return err
	})
	if err != nil || head.Seq == 0 {
		return Checkpoint{}, err
	}
	c.mu.Lock()
	done := c.last[t.ID] >= head.Seq
	c.mu.Unlock()
	if done {
		return Checkpoint{}, nil
	}
	cp := Checkpoint{TenantID: t.ID, Seq: head.Seq, Hash: head.Hash, At: c.clock.Now().UTC()}
	cp.Token, err = c.signer.SignStatement(ctx, checkpointType, map[string]any{
		"sub": t.ID.String(), "seq": cp.Seq, "head": hex.EncodeToString(cp.Hash), "iat": cp.At.Unix(),
	})
	if err != nil {
		return Checkpoint{}, fmt.Errorf("sign audit checkpoint: %w", err)
	}
	// Zero-padded, so keys sort by position.
	key := fmt.Sprintf("%s%020d.jwt", checkpointPrefix(t.ID), cp.Seq)
	if err := c.store.Put(ctx, key, []byte(cp.Token)); err != nil {
		return Checkpoint{}, fmt.Errorf("store audit checkpoint: %w", err)
	}
	c.mu.Lock()
	c.last[t.ID] = max(c.last[t.ID], cp.Seq)
	c.mu.Unlock()
	return cp, nil
}

// Load returns t's checkpoints. One whose signature or content does not
// verify is an error: someone wrote it who does not hold the platform key.
func (c *Checkpoints) Load(ctx context.Context, t *kernel.Tenant) ([]Checkpoint, error) {
	keys, err := c.store.List(ctx, checkpointPrefix(t.ID))
	if err != nil {
		return nil, fmt.Errorf("list audit checkpoints: %w", err)
	}
	out := make([]Checkpoint, 0, len(keys))
	for _, key := range keys {
		raw, err := c.store.Get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("read audit checkpoint %s: %w", path.Base(key), err)
		}
		cp, err := c.parse(ctx, t, strings.TrimSpace(string(raw)))
		if err != nil {
			return nil, kernel.Wrap(kernel.KindConflict, err, "audit checkpoint %s is not genuine", path.Base(key)).WithCode("checkpoint_invalid")
		}
		out = append(out, cp)
	}
	return out, nil
}

func (c *Checkpoints) parse(ctx context.Context, t *kernel.Tenant, token string) (Checkpoint, error) {
	claims, err := c.signer.VerifyStatement(ctx, checkpointType, token)
	if err != nil {
		return Checkpoint{}, err
	}
	sub, _ := claims["sub"].(string)
	seq, _ := claims["seq"].(float64)
	head, _ := claims["head"].(string)
	hash, err := hex.DecodeString(head)
	if sub != t.ID.String() || seq < 1 || err != nil || len(hash) != len(Genesis) {
		return Checkpoint{}, fmt.Errorf("claims do not describe a checkpoint of tenant %s", t.ID)
	}
	return Checkpoint{TenantID: t.ID, Seq: int64(seq), Hash: hash, Token: token}, nil
}

// Run writes a checkpoint of every tenant whose chain moved, every
// interval, until ctx ends.
func (c *Checkpoints) Run(ctx context.Context, interval time.Duration, tenants TenantLister, log *slog.Logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		ts, err := tenants(ctx)
		if err != nil {
			log.WarnContext(ctx, "audit checkpoints: list tenants", "error", err)
			continue
		}
		for _, t := range ts {
			if _, err := c.Write(ctx, t); err != nil && ctx.Err() == nil {
				log.WarnContext(ctx, "audit checkpoint not written", "tenant", t.Slug, "error", err)
			}
		}
	}
}
