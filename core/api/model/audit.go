package model

import (
	"encoding/json"
	"time"
)

// AuditActor is who acted.
type AuditActor struct {
	Type  string `json:"type"`
	ID    string `json:"id,omitempty"`
	Email string `json:"email,omitempty"`
}

// AuditResource is what an action acted on.
type AuditResource struct {
	Type string `json:"type,omitempty"`
	ID   string `json:"id,omitempty"`
}

// AuditRecord is one audit log entry. Seq, Hash and PrevHash are null
// until the record is sealed into the hash chain.
type AuditRecord struct {
	Seq           *int64          `json:"seq"`
	At            time.Time       `json:"at"`
	Actor         AuditActor      `json:"actor"`
	Action        string          `json:"action"`
	Resource      AuditResource   `json:"resource"`
	Outcome       string          `json:"outcome"` // success, deny or error
	Reasons       []string        `json:"reasons"`
	PolicyVersion string          `json:"policy_version"`
	RequestID     string          `json:"request_id"`
	IP            string          `json:"ip"`
	UserAgent     string          `json:"user_agent"`
	Details       json.RawMessage `json:"details"`
	Hash          *string         `json:"hash"`
	PrevHash      *string         `json:"prev_hash"`
}

// AuditList is a page of audit records, newest first.
type AuditList struct {
	Items      []AuditRecord `json:"items"`
	NextCursor *string       `json:"next_cursor"`
}

// AuditVerification is the result of walking a tenant's hash chain.
type AuditVerification struct {
	OK             bool   `json:"ok"`
	RecordsChecked int64  `json:"records_checked"`
	FirstBrokenSeq int64  `json:"first_broken_seq,omitempty"`
	Problem        string `json:"problem,omitempty"`
	// Unsealed records are not in the chain yet, so not covered by it.
	Unsealed           int64 `json:"unsealed"`
	CheckpointsChecked int   `json:"checkpoints_checked"`
}

// CheckpointResponse is a signed checkpoint of a tenant's chain head.
type CheckpointResponse struct {
	Seq   int64  `json:"seq"`
	Hash  string `json:"hash"`
	Token string `json:"token"`
}
