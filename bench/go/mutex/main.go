// Command mutex is the Go twin of bench/mutex.c: ns per sync.Mutex
// Lock+Unlock pair, by one goroutine (uncontended) or by G goroutines each
// doing N pairs around a shared counter (contended).
//
//	mutex uncontended [N=1e7]
//	mutex contended [G=4] [N=1e6]
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
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

var (
	mu      sync.Mutex
	counter int64
)

func locker(n int64) {
	for i := int64(0); i < n; i++ {
		mu.Lock()
		counter++
		mu.Unlock()
	}
}

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "contended" && os.Args[1] != "uncontended") {
		fmt.Fprintln(os.Stderr, "usage: mutex uncontended [N] | mutex contended [G] [N]")
		os.Exit(2)
	}
	contended := os.Args[1] == "contended"
	g, n := int64(1), int64(0)
	if contended {
		g = 4
		if len(os.Args) > 2 {
			g, _ = strconv.ParseInt(os.Args[2], 10, 64)
			if g < 1 {
				g = 1
			}
		}
		n = arg(3, 1e6)
	} else {
		n = arg(2, 1e7)
	}

	var wg sync.WaitGroup
	t0 := time.Now()
	if contended {
		wg.Add(int(g))
		for i := int64(0); i < g; i++ {
			go func() {
				locker(n)
				wg.Done()
			}()
		}
		wg.Wait()
	} else {
		locker(n)
	}
	t := time.Since(t0)
	if counter != g*n {
		fmt.Fprintf(os.Stderr, "bench: counter %d, expected %d\n", counter, g*n)
		os.Exit(1)
	}
	name := "uncontended"
	if contended {
		name = "contended"
	}
	fmt.Printf("BENCH name=mutex_%s impl=go procs=%d g=%d n=%d ns_per_op=%.1f\n",
		name, runtime.GOMAXPROCS(0), g, g*n, float64(t.Nanoseconds())/float64(g*n))
}
