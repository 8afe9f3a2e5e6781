package dlock

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var bg = context.Background()

func TestTryLockTokenAndOtherSessions(t *testing.T) {
	s := startServers(t, 1)
	a, b := newClient(t, s.addrs[0], 2*time.Second), newClient(t, s.addrs[0], 2*time.Second)
	l, err := a.TryLock(bg, "t")
	if err != nil {
		t.Fatal(err)
	}
	if !l.SafeUntil().After(time.Now()) || l.Token() < 1 {
		t.Fatalf("token %d, safe until %v", l.Token(), l.SafeUntil())
	}
	var se *ServerError
	if _, err := b.TryLock(bg, "t"); !errors.Is(err, ErrHeld) || !errors.As(err, &se) || se.Holder() == 0 {
		t.Fatalf("a try of a held lock: %v", err)
	}
	if err := l.Unlock(bg); err != nil {
		t.Fatal(err)
	}
	l2, err := b.TryLock(bg, "t")
	if err != nil || l2.Token() <= l.Token() {
		t.Fatalf("after the release: %v, token %d", err, l2.Token())
	}
	_ = l2.Unlock(bg)
}

func TestAWaiterIsHandedTheLock(t *testing.T) {
	s := startServers(t, 1)
	a, b := newClient(t, s.addrs[0], 2*time.Second), newClient(t, s.addrs[0], 2*time.Second)
	held, err := a.Lock(bg, "hot", 0)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *Lock, 1)
	go func() {
		l, err := b.Lock(bg, "hot", 5*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	time.Sleep(300 * time.Millisecond)
	_ = held.Unlock(bg)
	l := <-got
	if l == nil || l.Token() <= held.Token() {
		t.Fatal("the waiter's token is not above the holder's")
	}
	_ = l.Unlock(bg)
	ctx, cancel := context.WithTimeout(bg, 200*time.Millisecond)
	defer cancel()
	busy, _ := a.Lock(bg, "busy", 0)
	if _, err := b.Lock(ctx, "busy", 10*time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a wait whose context ends: %v", err)
	}
	_ = busy.Unlock(bg)
}

func TestToldWhenLost(t *testing.T) {
	s := startServers(t, 1)
	c := newClient(t, s.addrs[0], 2*time.Second)
	sess, err := c.Session(bg, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	l, err := sess.Lock(bg, "lost", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(bg, 0, "SESSION.CLOSE", sess.ID()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Lost():
	case <-time.After(3 * time.Second):
		t.Fatal("not told the lock was lost")
	}
	<-sess.Done()
	if !l.SafeUntil().IsZero() {
		t.Fatal("a lost lock's safe-until is not zero")
	}
	if err := l.Unlock(bg); !errors.Is(err, ErrLost) {
		t.Fatalf("unlock of a lost lock: %v", err)
	}
}

func TestLostWhenTheServerIsPaused(t *testing.T) {
	s := startServers(t, 1)
	c := newClient(t, s.addrs[0], time.Second)
	l, err := c.Lock(bg, "paused", 0)
	if err != nil {
		t.Fatal(err)
	}
	s.signal(0, syscall.SIGSTOP)
	defer s.signal(0, syscall.SIGCONT)
	select {
	case <-l.Lost():
		if time.Since(l.h.s.safe) > 500*time.Millisecond {
			t.Fatal("told too late")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("not told")
	}
}

func TestSharedSemaphoreElection(t *testing.T) {
	s := startServers(t, 1)
	c := newClient(t, s.addrs[0], 2*time.Second)
	s1, _ := c.Session(bg, 2*time.Second)
	s2, _ := c.Session(bg, 2*time.Second)
	r1, err1 := s1.RLock(bg, "prices", 0)
	r2, err2 := s2.RLock(bg, "prices", 0)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if _, err := c.TryLock(bg, "prices"); !errors.Is(err, ErrHeld) {
		t.Fatal(err)
	}
	_ = r1.Unlock(bg)
	_ = r2.Unlock(bg)
	w, _ := c.Lock(bg, "prices", 0)
	if err := w.Downgrade(bg); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.LockStatus(bg, "prices"); st["mode"] != "shared" {
		t.Fatal(st)
	}
	_ = w.Unlock(bg)
	p1, err := s1.Acquire(bg, "slots", 2, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Acquire(bg, "slots", 2, 1, 0); !errors.Is(err, ErrHeld) {
		t.Fatal(err)
	}
	if _, err := s2.Acquire(bg, "slots", 3, 1, 0); !errors.Is(err, ErrKind) {
		t.Fatal(err)
	}
	_ = p1.Release(bg)
	lead, err := s1.Campaign(bg, "primary", "10.0.0.1", 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = lead.Proclaim(bg, "10.0.0.2")
	if st, _ := c.Leader(bg, "primary"); st["value"] != "10.0.0.2" {
		t.Fatal(st)
	}
	_ = lead.Resign(bg)
	if err := lead.Proclaim(bg, "late"); !errors.Is(err, ErrLost) {
		t.Fatal(err)
	}
}

func TestAcrossALeaderKill(t *testing.T) {
	s := startServers(t, 3)
	leader := s.leader()
	order := append([]string{s.addrs[(leader+1)%3]}, s.addrs[leader], s.addrs[(leader+2)%3])
	a := newClient(t, strings.Join(order, ","), 3*time.Second)
	b := newClient(t, strings.Join(order, ","), 3*time.Second)
	held, err := a.Lock(bg, "across", 0)
	if err != nil {
		t.Fatal(err)
	}
	if a.LastServer() != s.addrs[leader] {
		t.Fatalf("answered by %s, not the leader %s", a.LastServer(), s.addrs[leader])
	}
	var wg sync.WaitGroup
	var got *Lock
	wg.Add(1)
	go func() {
		defer wg.Done()
		got, _ = b.Lock(bg, "across", 20*time.Second)
	}()
	time.Sleep(500 * time.Millisecond)
	s.kill(leader)
	s.leader()
	if st, err := a.LockStatus(bg, "across"); err != nil || st["token"] != int64(held.Token()) {
		t.Fatalf("at the new leader: %v %v", st, err)
	}
	time.Sleep(1500 * time.Millisecond)
	select {
	case <-held.Lost():
		t.Fatal("lost across the leader kill")
	default:
	}
	_ = held.Unlock(bg)
	wg.Wait()
	if got == nil || got.Token() <= held.Token() {
		t.Fatal("the waiter did not keep its place")
	}
}

func TestNothingListening(t *testing.T) {
	port := freePort(t)
	c, _ := New(Options{Servers: fmt.Sprintf("127.0.0.1:%d", port)})
	t0 := time.Now()
	if _, err := c.LockStatus(bg, "x"); !errors.Is(err, ErrUnavailable) ||
		!strings.Contains(err.Error(), "nothing is listening") || time.Since(t0) > 2*time.Second {
		t.Fatal(err)
	}
	if _, err := New(Options{Servers: "no-port"}); err == nil {
		t.Fatal("a server without a port accepted")
	}
}

// FuzzReader: no bytes from a server make the reader panic or loop.
func FuzzReader(f *testing.F) {
	for _, s := range []string{"+OK\r\n", "-HELD by session 3\r\n", ":42\r\n", "$3\r\nabc\r\n",
		"*2\r\n$1\r\na\r\n:1\r\n", "$-1\r\n", "*-1\r\n", "*3\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(strings.NewReader(string(data)))
		for i := 0; i < 16; i++ {
			if _, err := readReply(r); err != nil {
				return
			}
		}
	})
}

func TestWatchAndObserve(t *testing.T) {
	s := startServers(t, 1)
	c := newClient(t, s.addrs[0], 2*time.Second)
	w, err := c.Watch(bg, "w")
	if err != nil {
		t.Fatal(err)
	}
	l, _ := c.Lock(bg, "w", 0)
	_ = l.Unlock(bg)
	ctx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	g, err1 := w.Next(ctx)
	r, err2 := w.Next(ctx)
	if err1 != nil || err2 != nil || g.Event != "granted" || g.Token != l.Token() || r.Event != "released" ||
		r.Holders != 0 || r.Revision <= g.Revision {
		t.Fatalf("changes %+v %+v (%v %v)", g, r, err1, err2)
	}
	again := c.WatchFrom("w", g.Revision-1)
	if ch, err := again.Next(ctx); err != nil || ch.Revision != g.Revision {
		t.Fatalf("from a revision: %+v %v", ch, err)
	}
	obs, err := c.Observe(ctx, "primary")
	if err != nil {
		t.Fatal(err)
	}
	if first := <-obs; first.Session != 0 {
		t.Fatalf("no leader yet: %+v", first)
	}
	sess, _ := c.Session(bg, 2*time.Second)
	lead, _ := sess.Campaign(bg, "primary", "a", 0)
	_ = lead.Proclaim(bg, "b")
	_ = lead.Resign(bg)
	want := []LeaderState{{sess.ID(), lead.Token(), "a"}, {sess.ID(), lead.Token(), "b"}, {}}
	for _, wnt := range want {
		if got := <-obs; got != wnt {
			t.Fatalf("observed %+v, want %+v", got, wnt)
		}
	}
}
