// Command rss is the Go twin of bench/rss.c: RSS (from /proc/self/statm)
// per idle goroutine blocked in wg.Wait on one start gate (wg) or in Lock
// of a sync.Mutex main holds (mutex).
//
//	rss [wg|mutex] [N=1e6]
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func arg(i int, dflt float64) int64 {
	if i < len(os.Args) {
		v, _ := strconv.ParseFloat(os.Args[i], 64)
		return int64(v)
	}
	scale := 1.0
	if s, err := strconv.ParseFloat(os.Getenv("BENCH_SCALE"), 64); err == nil && s > 0 {
		scale = s
	}
	if v := int64(dflt * scale); v > 0 {
		return v
	}
	return 1
}

// rss returns the resident set size in bytes: the second field of statm.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return -1
	}
	var size, resident int64
	if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
		return -1
	}
	return resident * int64(os.Getpagesize())
}

func main() {
	mode := "wg"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	if mode != "wg" && mode != "mutex" {
		fmt.Fprintln(os.Stderr, "usage: rss [wg|mutex] [N]")
		os.Exit(2)
	}
	n := arg(2, 1e6)
	settle := 200 * time.Millisecond
	if s, err := strconv.ParseInt(os.Getenv("BENCH_SETTLE_MS"), 10, 64); err == nil {
		settle = time.Duration(s) * time.Millisecond
	}

	var gate, all sync.WaitGroup
	var mu sync.Mutex
	var parked int64

	rss0 := rss()
	if mode == "mutex" {
		mu.Lock()
	} else {
		gate.Add(1)
	}
	all.Add(int(n))

	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		go func() {
			atomic.AddInt64(&parked, 1)
			if mode == "mutex" {
				mu.Lock()
				mu.Unlock()
			} else {
				gate.Wait()
			}
			all.Done()
		}()
	}
	for atomic.LoadInt64(&parked) < n {
		time.Sleep(time.Millisecond)
	}
	t1 := time.Now()
	time.Sleep(settle)
	rss1 := rss()

	t2 := time.Now()
	if mode == "mutex" {
		mu.Unlock()
	} else {
		gate.Done()
	}
	all.Wait()
	t3 := time.Now()

	fmt.Printf("BENCH name=rss_%s impl=go procs=%d n=%d bytes_per_g=%.0f rss_before_kb=%d rss_blocked_kb=%d block_ns_per_g=%.1f release_ns_per_g=%.1f\n",
		mode, runtime.GOMAXPROCS(0), n, float64(rss1-rss0)/float64(n), rss0/1024, rss1/1024,
		float64(t1.Sub(t0).Nanoseconds())/float64(n), float64(t3.Sub(t2).Nanoseconds())/float64(n))
}
