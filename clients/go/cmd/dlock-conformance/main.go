// Command dlock-conformance is the Go client's driver of the client
// conformance suite (tests/conformance/README.md): commands in on stdin,
// one line each, answers and events out on stdout; each command runs on a
// goroutine of its own.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"dlock.dev/dlock"
)

var (
	out     sync.Mutex
	mu      sync.Mutex
	client  *dlock.Client
	session *dlock.Session
	locks   = map[string]*dlock.Lock{}
)

func say(format string, a ...any) {
	out.Lock()
	defer out.Unlock()
	fmt.Printf(format+"\n", a...)
}

func code(err error) string {
	var se *dlock.ServerError
	switch {
	case errors.Is(err, dlock.ErrLost):
		return "LOST"
	case errors.As(err, &se):
		return se.Code
	case errors.Is(err, dlock.ErrUnavailable):
		return "UNAVAILABLE"
	}
	return "ERROR"
}

func run(tag, verb string, a []string) {
	ctx := context.Background()
	var err error
	switch verb {
	case "open":
		ttl, _ := strconv.Atoi(a[1])
		client, err = dlock.New(dlock.Options{Servers: a[0]})
		if err == nil {
			session, err = client.Session(ctx, time.Duration(ttl)*time.Millisecond)
		}
		if err == nil {
			say("%s ok %d", tag, session.ID())
			return
		}
	case "acquire":
		wait, _ := strconv.Atoi(a[1])
		var l *dlock.Lock
		l, err = session.Lock(ctx, a[0], time.Duration(wait)*time.Millisecond)
		if err == nil {
			mu.Lock()
			locks[a[0]] = l
			mu.Unlock()
			go func() {
				<-l.Lost()
				say("event lost %s", a[0])
			}()
			say("%s ok %d", tag, l.Token())
			return
		}
	case "release", "safe", "lost":
		mu.Lock()
		l := locks[a[0]]
		if verb == "release" {
			delete(locks, a[0])
		}
		mu.Unlock()
		if l == nil {
			say("%s err NOTHELD", tag)
			return
		}
		switch verb {
		case "release":
			if err = l.Unlock(ctx); err == nil {
				say("%s ok", tag)
				return
			}
		case "safe":
			left := time.Until(l.SafeUntil()).Milliseconds()
			if l.SafeUntil().IsZero() || left < 0 {
				left = 0
			}
			say("%s ok %d", tag, left)
			return
		default:
			lost := 0
			select {
			case <-l.Lost():
				lost = 1
			default:
			}
			say("%s ok %d", tag, lost)
			return
		}
	case "close":
		if err = session.Close(ctx); err == nil {
			_ = client.Close(ctx)
			say("%s ok", tag)
			return
		}
	default:
		say("%s err UNKNOWN", tag)
		return
	}
	say("%s err %s", tag, code(err))
}

func main() {
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		w := strings.Fields(sc.Text())
		if len(w) < 2 {
			continue
		}
		go run(w[0], w[1], w[2:])
	}
}
