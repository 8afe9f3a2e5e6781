package dlock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// hold is one grant of a session: a lock's, a semaphore's permits, an
// election's leadership.
type hold struct {
	s       *Session
	name    string
	owner   string
	token   uint64
	release []any
	lost    chan struct{}
	once    sync.Once
	done    atomic.Bool
}

var owners atomic.Uint64

func newOwner() string {
	return fmt.Sprintf("go-%d-%d", os.Getpid(), owners.Add(1))
}

// acquire sends args (with WAIT and REQ added) and makes the hold.
func (s *Session) acquire(ctx context.Context, name, owner string, args, release []any, wait time.Duration) (*hold, error) {
	if s.Lost() {
		return nil, &wrapped{kind: ErrLost, msg: fmt.Sprintf("dlock: session %d is lost", s.id)}
	}
	if wait > 0 {
		args = append(args, "WAIT", wait.Milliseconds())
	}
	args = append(args, "REQ", s.c.newReq())
	v, err := s.c.Do(ctx, wait, args...)
	if errors.Is(err, ErrNoSession) {
		s.lose()
		return nil, &wrapped{kind: ErrLost, msg: fmt.Sprintf("dlock: session %d has ended", s.id)}
	}
	if err != nil {
		return nil, err
	}
	h := &hold{s: s, name: name, owner: owner, token: uint64(v.(int64)), release: release,
		lost: make(chan struct{})}
	s.mu.Lock()
	s.holds[h] = true
	s.mu.Unlock()
	if s.Lost() {
		h.lose()
	}
	return h, nil
}

func (h *hold) lose() {
	h.once.Do(func() { close(h.lost) })
}

func (h *hold) isLost() bool {
	if h.s.Lost() {
		h.lose()
	}
	select {
	case <-h.lost:
		return true
	default:
		return false
	}
}

func (h *hold) safeUntil() time.Time {
	if h.done.Load() || h.isLost() {
		return time.Time{}
	}
	return h.s.SafeUntil()
}

// end releases the hold; ErrLost if it was lost before (the server is told
// all the same).
func (h *hold) end(ctx context.Context) error {
	if !h.done.CompareAndSwap(false, true) {
		return errors.New("dlock: " + h.name + " is released already")
	}
	h.s.mu.Lock()
	delete(h.s.holds, h)
	h.s.mu.Unlock()
	lost := h.isLost()
	_, err := h.s.c.Do(ctx, 0, append(append([]any(nil), h.release...), "REQ", h.s.c.newReq())...)
	if errors.Is(err, ErrNotHeld) || errors.Is(err, ErrNoSession) {
		lost, err = true, nil
	}
	if lost {
		return &wrapped{kind: ErrLost, msg: "dlock: " + h.name + " was lost before its release"}
	}
	return err
}

// Lock is a lock held by a session: exclusive, or shared (a read lock).
type Lock struct{ h *hold }

// Name is the lock's name.
func (l *Lock) Name() string { return l.h.name }

// Token is the grant's fencing token: pass it to the storage the lock
// protects, and have the storage refuse a token lower than one it saw.
func (l *Lock) Token() uint64 { return l.h.token }

// SafeUntil is until when the lock is known held; zero once lost.
func (l *Lock) SafeUntil() time.Time { return l.h.safeUntil() }

// Lost is closed the moment the lock can no longer be proven held.
func (l *Lock) Lost() <-chan struct{} {
	l.h.isLost()
	return l.h.lost
}

// Unlock releases it; an error that is ErrLost if it was lost before.
func (l *Lock) Unlock(ctx context.Context) error { return l.h.end(ctx) }

// Downgrade turns the exclusive hold into a shared one, in place, keeping
// the token.
func (l *Lock) Downgrade(ctx context.Context) error {
	_, err := l.h.s.c.Do(ctx, 0, "LOCK.DOWNGRADE", l.h.name, l.h.s.id, "OWNER", l.h.owner, "REQ", l.h.s.c.newReq())
	if err == nil {
		l.h.release = append(l.h.release, "SHARED")
	}
	return err
}

func (s *Session) lock(ctx context.Context, name string, wait time.Duration, shared bool) (*Lock, error) {
	owner := newOwner()
	args := []any{"LOCK.ACQUIRE", name, s.id, "OWNER", owner}
	release := []any{"LOCK.RELEASE", name, s.id, "OWNER", owner}
	if shared {
		args = append(args, "SHARED")
		release = append(release, "SHARED")
	}
	h, err := s.acquire(ctx, name, owner, args, release, wait)
	if err != nil {
		return nil, err
	}
	return &Lock{h: h}, nil
}

// Lock acquires name exclusive, waiting up to wait in its FIFO queue
// (0: a try, ErrHeld when held; ErrTimeout when the wait runs out).
func (s *Session) Lock(ctx context.Context, name string, wait time.Duration) (*Lock, error) {
	return s.lock(ctx, name, wait, false)
}

// TryLock is Lock without a wait.
func (s *Session) TryLock(ctx context.Context, name string) (*Lock, error) {
	return s.lock(ctx, name, 0, false)
}

// RLock acquires name shared (a read lock): any number of holders, never
// beside an exclusive one.
func (s *Session) RLock(ctx context.Context, name string, wait time.Duration) (*Lock, error) {
	return s.lock(ctx, name, wait, true)
}

// Lock acquires name for the client's own session (opened on first use).
func (c *Client) Lock(ctx context.Context, name string, wait time.Duration) (*Lock, error) {
	s, err := c.defaultSession(ctx)
	if err != nil {
		return nil, err
	}
	return s.Lock(ctx, name, wait)
}

// TryLock tries name for the client's own session.
func (c *Client) TryLock(ctx context.Context, name string) (*Lock, error) {
	return c.Lock(ctx, name, 0)
}

// Permits are permits of a semaphore.
type Permits struct{ h *hold }

// Token is the grant's fencing token.
func (p *Permits) Token() uint64 { return p.h.token }

// SafeUntil is until when they are known held; zero once lost.
func (p *Permits) SafeUntil() time.Time { return p.h.safeUntil() }

// Lost is closed the moment they can no longer be proven held.
func (p *Permits) Lost() <-chan struct{} { p.h.isLost(); return p.h.lost }

// Release gives them back.
func (p *Permits) Release(ctx context.Context) error { return p.h.end(ctx) }

// Acquire takes count permits of the semaphore name of permits permits.
func (s *Session) Acquire(ctx context.Context, name string, permits, count int, wait time.Duration) (*Permits, error) {
	owner := newOwner()
	h, err := s.acquire(ctx, name, owner,
		[]any{"SEM.ACQUIRE", name, s.id, permits, "COUNT", count, "OWNER", owner},
		[]any{"SEM.RELEASE", name, s.id, "COUNT", count, "OWNER", owner}, wait)
	if err != nil {
		return nil, err
	}
	return &Permits{h: h}, nil
}

// Leadership is the leadership of an election.
type Leadership struct{ h *hold }

// Token is the leadership token: fence the leader's writes with it.
func (l *Leadership) Token() uint64 { return l.h.token }

// SafeUntil is until when it is known to lead; zero once lost.
func (l *Leadership) SafeUntil() time.Time { return l.h.safeUntil() }

// Lost is closed the moment it can no longer be proven to lead.
func (l *Leadership) Lost() <-chan struct{} { l.h.isLost(); return l.h.lost }

// Resign steps down; the next candidate leads at once.
func (l *Leadership) Resign(ctx context.Context) error { return l.h.end(ctx) }

// Proclaim publishes a new value; ErrLost if it no longer leads.
func (l *Leadership) Proclaim(ctx context.Context, value string) error {
	_, err := l.h.s.c.Do(ctx, 0, "ELECT.PROCLAIM", l.h.name, l.h.s.id, l.h.token, value, "REQ", l.h.s.c.newReq())
	if errors.Is(err, ErrNotHeld) {
		l.h.lose()
		return &wrapped{kind: ErrLost, msg: "dlock: no longer the leader of " + l.h.name}
	}
	return err
}

// Campaign stands for leader of the election name with value, waiting up
// to wait in FIFO order behind the other candidates.
func (s *Session) Campaign(ctx context.Context, name, value string, wait time.Duration) (*Leadership, error) {
	owner := newOwner()
	h, err := s.acquire(ctx, name, owner, []any{"ELECT.CAMPAIGN", name, s.id, value, "OWNER", owner},
		[]any{"ELECT.RESIGN", name, s.id, "OWNER", owner}, wait)
	if err != nil {
		return nil, err
	}
	return &Leadership{h: h}, nil
}
