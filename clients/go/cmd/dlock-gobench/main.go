// Command dlock-gobench runs the bench workloads with the Go client
// (bench/clients.py runs it beside the other clients): U, each client its
// own lock (acquire, release); H, one hot lock (acquire waiting, release).
// It prints one line as dlock-bench does.
//
//	dlock-gobench SERVERS U|H CLIENTS SECONDS WARMUP_SECONDS
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"dlock.dev/dlock"
)

func main() {
	if len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: dlock-gobench SERVERS U|H CLIENTS SECONDS WARMUP_SECONDS")
		os.Exit(2)
	}
	workload := os.Args[2]
	clients, _ := strconv.Atoi(os.Args[3])
	duration, _ := strconv.ParseFloat(os.Args[4], 64)
	warmup, _ := strconv.ParseFloat(os.Args[5], 64)
	ctx := context.Background()
	c, err := dlock.New(dlock.Options{Servers: os.Args[1]})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer c.Close(ctx)
	start := time.Now().Add(time.Duration(warmup * float64(time.Second)))
	stop := start.Add(time.Duration(duration * float64(time.Second)))
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		s, err := c.Session(ctx, 10*time.Second)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		name, wait := fmt.Sprintf("go-u-%d", i), time.Duration(0)
		if workload == "H" {
			name, wait = "go-hot", 10*time.Second
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for {
				t0 := time.Now()
				if !t0.Before(stop) {
					break
				}
				l, err := s.Lock(ctx, name, wait)
				if err != nil {
					continue
				}
				t1 := time.Now()
				_ = l.Unlock(ctx)
				if !t0.Before(start) {
					mine = append(mine, t1.Sub(t0))
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	var p50, p99 time.Duration
	if len(lat) > 0 {
		p50, p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	fmt.Printf("system=go workload=%s clients=%d ops_per_s=%d acquire_p50_us=%d acquire_p99_us=%d\n",
		workload, clients, int(float64(len(lat))/duration), p50.Microseconds(), p99.Microseconds())
}
