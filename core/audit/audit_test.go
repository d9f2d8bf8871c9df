package audit

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func records(n int) []*Record {
	out := make([]*Record, n)
	for i := range out {
		out[i] = &Record{ID: int64(i + 1), At: time.Unix(1700000000, int64(i)*1000).UTC(), Actor: Actor{Type: ActorUser, ID: "u", Email: "u@x"},
			Action: "x.y.update", Outcome: Success, Reasons: []string{}, Details: []byte(fmt.Sprintf(`{"n": %d}`, i))}
	}
	return out
}

func walk(recs []*Record, head Head, cps ...Checkpoint) Verification {
	w := newWalker(cps)
	for _, r := range recs {
		if !w.next(r) {
			break
		}
	}
	return w.finish(State{Head: head})
}

func TestChainHashCoversEveryField(t *testing.T) {
	base := records(1)[0]
	h := ChainHash(Genesis, 1, base)
	for name, change := range map[string]func(r *Record){
		"at":             func(r *Record) { r.At = r.At.Add(time.Microsecond) },
		"actor type":     func(r *Record) { r.Actor.Type = ActorOperator },
		"actor id":       func(r *Record) { r.Actor.ID = "v" },
		"actor email":    func(r *Record) { r.Actor.Email = "v@x" },
		"action":         func(r *Record) { r.Action = "x.y.delete" },
		"resource type":  func(r *Record) { r.Resource.Type = "z" },
		"resource id":    func(r *Record) { r.Resource.ID = "1" },
		"outcome":        func(r *Record) { r.Outcome = Deny },
		"reasons":        func(r *Record) { r.Reasons = []string{"no"} },
		"policy version": func(r *Record) { r.PolicyVersion = "7" },
		"request id":     func(r *Record) { r.RequestID = "r" },
		"ip":             func(r *Record) { r.IP = "10.0.0.1" },
		"user agent":     func(r *Record) { r.UserAgent = "curl" },
		"details":        func(r *Record) { r.Details = []byte(`{"n": 1}`) },
		// Length prefixes: moving a byte between fields changes the hash.
		"field boundary": func(r *Record) { r.Actor.ID, r.Actor.Email = "uu", "@x" },
	} {
		r := *base
		change(&r)
		assert.False(t, bytes.Equal(h, ChainHash(Genesis, 1, &r)), name)
	}
	assert.False(t, bytes.Equal(h, ChainHash(Genesis, 2, base)), "the position")
	other := bytes.Repeat([]byte{1}, 32)
	assert.False(t, bytes.Equal(h, ChainHash(other, 1, base)), "the predecessor")
}

func TestSealAndWalk(t *testing.T) {
	recs := records(5)
	head := Seal(Head{}, recs[:3])
	head = Seal(head, recs[3:]) // a second batch continues the chain
	assert.EqualValues(t, 5, head.Seq)
	for i, r := range recs {
		assert.EqualValues(t, i+1, r.Seq)
	}
	v := walk(recs, head)
	assert.True(t, v.OK, v.Problem)
	assert.EqualValues(t, 5, v.RecordsChecked)

	clone := func() []*Record {
		out := make([]*Record, len(recs))
		for i, r := range recs {
			c := *r
			out[i] = &c
		}
		return out
	}
	edited := clone()
	edited[2].Action = "x.y.read"
	assert.EqualValues(t, 3, walk(edited, head).FirstBrokenSeq)

	deleted := append(clone()[:1], clone()[2:]...)
	assert.EqualValues(t, 2, walk(deleted, head).FirstBrokenSeq)

	reordered := clone()
	reordered[1].Seq, reordered[3].Seq = 4, 2
	reordered[1], reordered[3] = reordered[3], reordered[1]
	assert.EqualValues(t, 2, walk(reordered, head).FirstBrokenSeq)

	cut := clone()[:4]
	v = walk(cut, head)
	assert.EqualValues(t, 5, v.FirstBrokenSeq, v.Problem)

	// Cut and the head moved back: consistent, but a checkpoint knows better.
	v = walk(cut, Head{Seq: 4, Hash: cut[3].Hash}, Checkpoint{Seq: 5, Hash: recs[4].Hash})
	assert.False(t, v.OK)
	assert.EqualValues(t, 5, v.FirstBrokenSeq, v.Problem)

	// Rewritten from record 2 on, consistently: only the checkpoint tells.
	rewritten := clone()
	rewritten[1].Action = "x.y.read"
	newHead := Seal(Head{Seq: 1, Hash: rewritten[0].Hash}, rewritten[1:])
	assert.True(t, walk(rewritten, newHead).OK)
	v = walk(rewritten, newHead, Checkpoint{Seq: 3, Hash: recs[2].Hash})
	assert.EqualValues(t, 3, v.FirstBrokenSeq, v.Problem)
	assert.Contains(t, v.Problem, "checkpoint")
}

func TestNoteCollectsTheRecord(t *testing.T) {
	ctx, note := WithNote(context.Background())
	Describe(ctx, Resource{Type: "user", ID: "1"}, map[string]any{"fields": map[string]any{"slug": "acme"}})
	Describe(ctx, Resource{ID: "2"}, map[string]any{"more": true})
	NoteDecision(ctx, Decision{Action: "a.b.update", Allow: true, PolicyVersion: "3"})
	e := note.Entry("a.b.update", Success)
	assert.Equal(t, Resource{Type: "user", ID: "2"}, e.Resource)
	assert.Equal(t, "3", e.PolicyVersion)
	assert.Equal(t, true, e.Details["more"])
	assert.Equal(t, "acme", note.Field("slug"))
	assert.False(t, note.Denied())

	NoteDecision(ctx, Decision{Action: "a.c.read", Resource: Resource{Type: "c", ID: "9"}, Reasons: []string{"no"}, PolicyVersion: "4"})
	NoteDecision(ctx, Decision{Action: "a.d.read", Allow: true}) // a refusal stands
	require.True(t, note.Denied())
	e = note.Entry("a.b.update", Failure)
	assert.Equal(t, Deny, e.Outcome)
	assert.Equal(t, "a.c.read", e.Action)
	assert.Equal(t, []string{"no"}, e.Reasons)
	assert.Equal(t, Resource{Type: "c", ID: "9"}, e.Resource)

	Describe(context.Background(), Resource{Type: "x"}, nil) // no note: nothing happens
}

func TestMask(t *testing.T) {
	in := map[string]any{"email": "a@b", "password": "hunter2"}
	out := Mask(in, "password", "token")
	assert.Equal(t, map[string]any{"email": "a@b", "password": "***"}, out)
	assert.Equal(t, "hunter2", in["password"], "the input is left alone")
}
