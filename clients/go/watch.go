package dlock

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Change is one change of a name's holders (docs/protocol.md §4, Watches):
// its revision; its event (granted, released, lost, withdrawn, downgraded,
// proclaimed; gone: the changes before Revision are no longer kept, read
// the state and go on); the hold it is about (Session, Owner, Token, its
// Exclusive and Shared holds after it); the name's Holders after it, and
// an election's Value.
type Change struct {
	Name      string
	Revision  uint64
	Event     string
	Session   uint64
	Owner     string
	Token     uint64
	Exclusive uint64
	Shared    uint64
	Holders   uint64
	Value     string
}

// Watch follows the changes of a name in the order the cluster applied
// them, with nothing missed across failures: it reads with WATCH.NEXT from
// the last revision given.
type Watch struct {
	c       *Client
	name    string
	rev     uint64
	pending []Change
}

// Watch follows the changes of name from now.
func (c *Client) Watch(ctx context.Context, name string) (*Watch, error) {
	v, err := c.Do(ctx, 0, "INFO", "raft")
	if err != nil {
		return nil, err
	}
	b, _ := v.([]byte)
	var applied uint64
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "applied_index:") {
			applied, _ = strconv.ParseUint(strings.TrimSpace(line[len("applied_index:"):]), 10, 64)
		}
	}
	return &Watch{c: c, name: name, rev: applied}, nil
}

// WatchFrom follows the changes of name after revision.
func (c *Client) WatchFrom(name string, revision uint64) *Watch {
	return &Watch{c: c, name: name, rev: revision}
}

// Revision is the revision of the last change given.
func (w *Watch) Revision() uint64 { return w.rev }

// Next is the next change; it waits until one comes or ctx ends.
func (w *Watch) Next(ctx context.Context) (Change, error) {
	for len(w.pending) == 0 {
		if err := ctx.Err(); err != nil {
			return Change{}, err
		}
		wait := 30 * time.Second
		if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
			wait = maxDur(time.Millisecond, time.Until(d))
		}
		v, err := w.c.Do(ctx, wait, "WATCH.NEXT", w.name, w.rev, "WAIT", wait.Milliseconds())
		if err != nil {
			return Change{}, err
		}
		list, _ := v.([]any)
		for _, e := range list {
			a, _ := e.([]any)
			if len(a) < 11 {
				return Change{}, errors.New("dlock: a change of an unexpected form")
			}
			ch := Change{Name: str(a[1]), Revision: u64(a[2]), Event: str(a[3]), Session: u64(a[4]),
				Owner: str(a[5]), Token: u64(a[6]), Exclusive: u64(a[7]), Shared: u64(a[8]),
				Holders: u64(a[9]), Value: str(a[10])}
			w.pending = append(w.pending, ch)
			if ch.Revision > w.rev {
				w.rev = ch.Revision
			}
		}
	}
	ch := w.pending[0]
	w.pending = w.pending[1:]
	return ch, nil
}

func str(v any) string {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return ""
}

func u64(v any) uint64 {
	if n, ok := v.(int64); ok && n >= 0 {
		return uint64(n)
	}
	return 0
}

// LeaderState is who leads an election: Session 0 when nobody does.
type LeaderState struct {
	Session uint64
	Token   uint64
	Value   string
}

// Observe reports the leader of the election name: first as read now,
// then at each change of leader or value, in order, until ctx ends (the
// channel is then closed).
func (c *Client) Observe(ctx context.Context, name string) (<-chan LeaderState, error) {
	w, err := c.Watch(ctx, name)
	if err != nil {
		return nil, err
	}
	st, err := c.Leader(ctx, name)
	if err != nil {
		return nil, err
	}
	cur := LeaderState{Session: uint64(st["leader"].(int64)), Token: uint64(st["token"].(int64)),
		Value: st["value"].(string)}
	out := make(chan LeaderState, 16)
	go func() {
		defer close(out)
		select {
		case out <- cur:
		case <-ctx.Done():
			return
		}
		for {
			ch, err := w.Next(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
				continue
			}
			next := cur
			switch {
			case ch.Event == "gone":
				if st, err := c.Leader(ctx, name); err == nil {
					next = LeaderState{Session: uint64(st["leader"].(int64)),
						Token: uint64(st["token"].(int64)), Value: st["value"].(string)}
				}
			case ch.Holders == 0:
				next = LeaderState{}
			case ch.Event == "granted" || ch.Event == "proclaimed":
				next = LeaderState{Session: ch.Session, Token: ch.Token, Value: ch.Value}
			}
			if next != cur {
				cur = next
				select {
				case out <- cur:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}
