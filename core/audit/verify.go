package audit

import (
	"bytes"
	"fmt"
)

// Verification is what walking a tenant's chain found.
type Verification struct {
	OK             bool   `json:"ok"`
	RecordsChecked int64  `json:"records_checked"`
	FirstBrokenSeq int64  `json:"first_broken_seq,omitempty"`
	Problem        string `json:"problem,omitempty"`
	// Unsealed records are not in the chain yet, so not covered by it.
	Unsealed           int64 `json:"unsealed"`
	CheckpointsChecked int   `json:"checkpoints_checked"`
}

// walker checks sealed records in chain order, one page at a time, and
// stops at the first broken link.
type walker struct {
	seq         int64
	prev        []byte
	checkpoints map[int64][]byte // seq -> the hash a signed checkpoint vouches for
	v           Verification
}

func newWalker(checkpoints []Checkpoint) *walker {
	w := &walker{prev: Genesis, checkpoints: map[int64][]byte{}}
	for _, c := range checkpoints {
		w.checkpoints[c.Seq] = c.Hash
	}
	w.v.CheckpointsChecked = len(checkpoints)
	return w
}

func (w *walker) broken(seq int64, format string, args ...any) bool {
	w.v.FirstBrokenSeq, w.v.Problem = seq, fmt.Sprintf(format, args...)
	return false
}

// next checks r, the record after the last one checked; false means broken.
func (w *walker) next(r *Record) bool {
	want := w.seq + 1
	switch {
	case r.Seq != want:
		// A deletion leaves a gap; a record moved here from later does too.
		return w.broken(want, "record %d is missing (the next record is %d)", want, r.Seq)
	case !bytes.Equal(r.PrevHash, w.prev):
		return w.broken(want, "record %d does not point at its predecessor's hash", want)
	case !bytes.Equal(r.Hash, ChainHash(w.prev, want, r)):
		return w.broken(want, "record %d does not match its hash: its content was changed", want)
	}
	if h, ok := w.checkpoints[want]; ok && !bytes.Equal(h, r.Hash) {
		return w.broken(want, "record %d differs from the signed checkpoint at that position: the chain was rewritten", want)
	}
	w.seq, w.prev = want, r.Hash
	w.v.RecordsChecked++
	return true
}

// finish compares the end of the walk with the head and the checkpoints.
func (w *walker) finish(st State) Verification {
	w.v.Unsealed = st.Unsealed
	if w.v.FirstBrokenSeq != 0 {
		return w.v
	}
	head := st.Head
	switch {
	case head.Seq != w.seq:
		// Records removed from the end (or a head moved by hand).
		w.broken(min(head.Seq, w.seq)+1, "the chain ends at record %d but its head says %d", w.seq, head.Seq)
	case w.seq > 0 && !bytes.Equal(head.Hash, w.prev):
		w.broken(w.seq, "the chain head does not match record %d", w.seq)
	case st.Orphans > 0:
		w.broken(w.seq+1, "%d records are neither in the chain nor waiting to be sealed: their queue entries were removed", st.Orphans)
	default:
		for seq := range w.checkpoints {
			if seq > w.seq {
				w.broken(w.seq+1, "a signed checkpoint vouches for record %d, but the chain ends at %d: records were removed", seq, w.seq)
				break
			}
		}
	}
	w.v.OK = w.v.FirstBrokenSeq == 0
	return w.v
}
