// Package audit is the tenant's audit log: what happened, who did it, and
// how it ended, in records that are append-only in the database and chained
// by hashes so that an edit, a deletion or a reordering made behind Atrium's
// back is detected (docs/audit.md).
//
// Records are written in the unit of work of the change they record; the
// Sealer later gives them their place in the chain, one tenant at a time.
package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// Outcome is how an audited action ended.
type Outcome string

// Outcomes.
const (
	Success Outcome = "success"
	Deny    Outcome = "deny"
	Failure Outcome = "error"
)

// Actor types.
const (
	ActorUser      = "user"
	ActorOperator  = "operator"
	ActorService   = "service"
	ActorAnonymous = "anonymous"
)

// Actor is who acted: a user, an operator, or an anonymous caller (a failed
// sign-in, known by the email it tried and its IP).
type Actor struct {
	Type  string `json:"type"`
	ID    string `json:"id,omitempty"`
	Email string `json:"email,omitempty"`
}

// Resource is what an action acted on.
type Resource struct {
	Type string `json:"type,omitempty"`
	ID   string `json:"id,omitempty"`
}

// Record is one entry of a tenant's audit log.
type Record struct {
	ID            int64 // insertion order
	Seq           int64 // position in the chain; 0 until sealed
	At            time.Time
	Actor         Actor
	Action        string
	Resource      Resource
	Outcome       Outcome
	Reasons       []string
	PolicyVersion string
	RequestID     string
	IP            string
	UserAgent     string
	// Details is a JSON object, exactly as stored: the hash covers these
	// bytes, and the database's jsonb form is canonical.
	Details  []byte
	PrevHash []byte
	Hash     []byte
}

// Sealed reports whether the record has its place in the chain.
func (r *Record) Sealed() bool { return r.Seq > 0 }

// hashVersion is the first byte hashed: a new canonical form gets a new one.
const hashVersion = 1

// ChainHash is the hash of r at position seq after a record whose hash is
// prev: SHA-256 over prev and r's canonical form, in which every field is
// length-prefixed so no two records share an encoding.
func ChainHash(prev []byte, seq int64, r *Record) []byte {
	b := make([]byte, 0, 256+len(r.Details))
	b = append(b, hashVersion)
	b = appendBytes(b, prev)
	b = binary.BigEndian.AppendUint64(b, uint64(seq)) //nolint:gosec // positions are positive
	b = binary.BigEndian.AppendUint64(b, uint64(r.At.UnixMicro()))
	for _, s := range []string{r.Actor.Type, r.Actor.ID, r.Actor.Email, r.Action, r.Resource.Type,
		r.Resource.ID, string(r.Outcome), r.PolicyVersion, r.RequestID, r.IP, r.UserAgent} {
		b = appendBytes(b, []byte(s))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Reasons))) //nolint:gosec // a handful of reasons
	for _, s := range r.Reasons {
		b = appendBytes(b, []byte(s))
	}
	b = appendBytes(b, r.Details)
	sum := sha256.Sum256(b)
	return sum[:]
}

func appendBytes(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s))) //nolint:gosec // fields are far below 4 GiB
	return append(b, s...)
}

// Head is the chain's last sealed record: Seq 0 and a zero hash before the
// first.
type Head struct {
	Seq  int64
	Hash []byte
}

// Genesis is the hash the first record chains to.
var Genesis = make([]byte, sha256.Size)

// Seal gives pending records (in insertion order) their places after head
// and returns the new head.
func Seal(head Head, pending []*Record) Head {
	if len(head.Hash) == 0 {
		head.Hash = Genesis
	}
	for _, r := range pending {
		head.Seq++
		r.Seq, r.PrevHash = head.Seq, head.Hash
		r.Hash = ChainHash(head.Hash, head.Seq, r)
		head.Hash = r.Hash
	}
	return head
}
