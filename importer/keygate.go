package importer

import (
	"context"
	"strings"
	"sync"
)

// keyGate makes the rows of one key (the e-mail, phone or deal number a row names) go out one
// after another, in file order. GetCourse applies each call as one of its servers gets to it,
// so two rows of the same user sent at once can land in either order, and a CRM export that
// lists a person twice would keep the older row's values. Rows of different keys still go
// out concurrently.
//
// The dispatcher calls enter for every row it would hand to the workers. A row whose key has
// no row in flight goes at once; otherwise it is parked behind that key's rows, and the
// worker that finishes the row ahead of it takes it next (leave), without going back through
// the jobs channel. Parked rows are few in real files, but a file of one key repeated would
// park everything, so at most maxParked rows wait: past that, enter waits for a slot.
type keyGate struct {
	mu    sync.Mutex
	busy  map[string][]*job // key → rows parked behind the one in flight (present: one in flight)
	slots chan struct{}     // one token per parked row
}

// maxParked bounds the rows held back behind an earlier row of their key.
const maxParked = 1024

func newKeyGate() *keyGate {
	return &keyGate{busy: map[string][]*job{}, slots: make(chan struct{}, maxParked)}
}

// gateKey is the key rows are ordered by; "" for a row that names no one (never held back).
// E-mail addresses differ in case between exports of one person, so the key is lower-cased.
// enter works it out and keeps it on the job for leave.
func gateKey(j *job) string {
	return strings.ToLower(j.key)
}

// enter reports whether j may be sent now (go) or was parked behind an earlier row of its
// key, which a worker will send after that row. ok is false when ctx ended while waiting for
// room to park j: j is then neither sent nor parked.
func (g *keyGate) enter(ctx context.Context, j *job) (goNow, ok bool) {
	k := gateKey(j)
	j.gateKey = k
	if k == "" {
		return true, true
	}
	g.mu.Lock()
	if _, inFlight := g.busy[k]; !inFlight {
		g.busy[k] = nil
		g.mu.Unlock()
		return true, true
	}
	g.mu.Unlock()
	select {
	case g.slots <- struct{}{}:
	case <-ctx.Done():
		return false, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	q, inFlight := g.busy[k]
	if !inFlight { // the row ahead finished while this one waited for a slot
		<-g.slots
		g.busy[k] = nil
		return true, true
	}
	g.busy[k] = append(q, j)
	return false, true
}

// leave is called once j's request is done (whatever its outcome). It returns the next row of
// j's key, which the caller must now send (its key stays in flight), or nil.
func (g *keyGate) leave(j *job) *job {
	k := j.gateKey
	if k == "" {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	q := g.busy[k]
	if len(q) == 0 {
		delete(g.busy, k)
		return nil
	}
	next := q[0]
	q[0] = nil
	if len(q) == 1 {
		g.busy[k] = nil
	} else {
		g.busy[k] = q[1:]
	}
	<-g.slots
	return next
}
