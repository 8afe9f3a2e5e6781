package dlock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DriftPPM is how far clocks may drift apart (parts per million), and
// Safety the margin taken off every safe-until deadline, as libdlock.
const (
	DriftPPM = 1000
	Safety   = 50 * time.Millisecond
)

// Session is a lease on the cluster that a goroutine of the library renews
// every third of its TTL. Its locks, permits and leaderships are held as
// long as it lives; when its lease can no longer be proven (safe-until
// passed without a renewal, or the server ended it), Done() is closed, and
// every Lost() channel of what it held.
type Session struct {
	c     *Client
	id    uint64
	ttl   time.Duration
	done  chan struct{}
	stop  chan struct{}
	once  sync.Once
	mu    sync.Mutex
	safe  time.Time
	holds map[*hold]bool
	ended sync.WaitGroup
}

func safeUntil(sent time.Time, ttl time.Duration) time.Time {
	ms := ttl.Milliseconds()
	margin := time.Duration((ms*DriftPPM+999999)/1000000)*time.Millisecond + Safety
	if ttl > margin {
		return sent.Add(ttl - margin)
	}
	return sent
}

// Session opens a session with a lease of ttl (100 ms to 1 h), kept alive
// by a goroutine of the library.
func (c *Client) Session(ctx context.Context, ttl time.Duration) (*Session, error) {
	if ttl < 100*time.Millisecond || ttl > time.Hour {
		return nil, fmt.Errorf("dlock: a session's TTL is 100 ms to 1 h, not %v", ttl)
	}
	sent := time.Now()
	v, err := c.Do(ctx, 0, "SESSION.OPEN", ttl.Milliseconds(), "NAME", c.name, "REQ", c.newReq())
	if err != nil {
		return nil, err
	}
	s := &Session{c: c, id: uint64(v.(int64)), ttl: ttl, done: make(chan struct{}),
		stop: make(chan struct{}), safe: safeUntil(sent, ttl), holds: map[*hold]bool{}}
	c.mu.Lock()
	c.sessions[s] = true
	c.mu.Unlock()
	s.ended.Add(1)
	go s.keep()
	return s, nil
}

// ID is the session's id.
func (s *Session) ID() uint64 { return s.id }

// Done is closed the moment the session is lost.
func (s *Session) Done() <-chan struct{} { return s.done }

// SafeUntil is until when the lease is known to hold; zero once lost.
func (s *Session) SafeUntil() time.Time {
	if s.Lost() {
		return time.Time{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.safe
}

// Lost is true once the lease can no longer be proven. Final.
func (s *Session) Lost() bool {
	s.mu.Lock()
	past := !time.Now().Before(s.safe)
	s.mu.Unlock()
	if past {
		s.lose()
	}
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *Session) keep() {
	defer s.ended.Done()
	next := time.Now().Add(s.ttl / 3)
	for {
		s.mu.Lock()
		safe := s.safe
		s.mu.Unlock()
		now := time.Now()
		if !now.Before(safe) {
			s.lose()
			return
		}
		at := next
		if safe.Before(at) {
			at = safe
		}
		if d := at.Sub(now); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-s.stop:
				t.Stop()
				return
			case <-s.done:
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		sent := time.Now()
		ctx, cancel := context.WithDeadline(context.Background(), safe)
		_, err := s.c.Do(ctx, 0, "SESSION.KEEPALIVE", s.id)
		cancel()
		switch {
		case err == nil:
			u := safeUntil(sent, s.ttl)
			s.mu.Lock()
			if u.After(s.safe) {
				s.safe = u
			}
			s.mu.Unlock()
			next = sent.Add(s.ttl / 3)
		case errors.Is(err, ErrNoSession):
			s.lose()
			return
		default:
			next = time.Now().Add(minDur(s.ttl/3, 100*time.Millisecond))
		}
	}
}

func (s *Session) lose() {
	s.once.Do(func() {
		s.mu.Lock()
		hs := make([]*hold, 0, len(s.holds))
		for h := range s.holds {
			hs = append(hs, h)
		}
		s.mu.Unlock()
		close(s.done)
		for _, h := range hs {
			h.lose()
		}
	})
}

// Close closes the session: the server releases all it holds at once.
func (s *Session) Close(ctx context.Context) error {
	select {
	case <-s.stop:
		return nil
	default:
		close(s.stop)
	}
	s.ended.Wait()
	s.c.mu.Lock()
	delete(s.c.sessions, s)
	s.c.mu.Unlock()
	defer s.lose()
	select {
	case <-s.done:
		return nil
	default:
	}
	_, err := s.c.Do(ctx, 0, "SESSION.CLOSE", s.id, "REQ", s.c.newReq())
	if errors.Is(err, ErrNoSession) {
		return nil
	}
	return err
}

// defaultSession is the client's own session, opened on first use and
// again once lost.
func (c *Client) defaultSession(ctx context.Context) (*Session, error) {
	c.mu.Lock()
	s := c.session
	c.mu.Unlock()
	if s != nil && !s.Lost() {
		return s, nil
	}
	s, err := c.Session(ctx, c.ttl)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.session = s
	c.mu.Unlock()
	return s, nil
}
