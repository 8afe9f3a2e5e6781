// Command redsync-check drives go-redsync's Mutex, unchanged, against a
// server at the address given (dlockd: tests/system/test_redis_locks.py)
// and prints what each step gave, one "step: result" line each.
//
//	redsync-check HOST:PORT all
//	redsync-check HOST:PORT take NAME          (prints the value)
//	redsync-check HOST:PORT use NAME VALUE     (extends, then unlocks)
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/go-redsync/redsync/v4"
	"github.com/go-redsync/redsync/v4/redis/goredis/v9"
	goredislib "github.com/redis/go-redis/v9"
)

func say(step string, v ...any) {
	fmt.Println(append([]any{step + ":"}, v...)...)
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: redsync-check HOST:PORT all|take NAME|use NAME VALUE")
		os.Exit(2)
	}
	client := goredislib.NewClient(&goredislib.Options{Addr: os.Args[1]})
	rs := redsync.New(goredis.NewPool(client))
	ctx := context.Background()
	switch os.Args[2] {
	case "take":
		m := rs.NewMutex(os.Args[3], redsync.WithExpiry(30*time.Second))
		say("lock", m.Lock() == nil)
		say("value", m.Value())
	case "use":
		m := rs.NewMutex(os.Args[3], redsync.WithExpiry(30*time.Second),
			redsync.WithValue(os.Args[4]))
		ok, err := m.Extend()
		say("extend", ok, err == nil)
		ok, err = m.Unlock()
		say("unlock", ok, err == nil)
	default:
		m := rs.NewMutex("redsync-job", redsync.WithExpiry(5*time.Second),
			redsync.WithTries(1))
		say("lock", m.Lock() == nil)
		other := rs.NewMutex("redsync-job", redsync.WithTries(1))
		say("other", other.TryLock() == nil)
		ok, err := m.Extend()
		say("extend", ok, err == nil)
		ttl, _ := client.PTTL(ctx, "redsync-job").Result()
		say("ttl", ttl > 4*time.Second)
		ok, err = m.Unlock()
		say("unlock", ok, err == nil)
		ok, err = m.Unlock()
		say("unlock again", ok, err != nil)
		short := rs.NewMutex("redsync-job", redsync.WithExpiry(time.Second))
		say("short", short.Lock() == nil)
		waiter := rs.NewMutex("redsync-job", redsync.WithExpiry(5*time.Second),
			redsync.WithTries(64), redsync.WithRetryDelay(100*time.Millisecond))
		say("waiter", waiter.Lock() == nil)
		ok, _ = waiter.Unlock()
		say("waiter unlock", ok)
	}
}
