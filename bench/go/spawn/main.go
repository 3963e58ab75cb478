// Command spawn is the Go twin of bench/spawn.c (mode wg): from main, add N
// to one sync.WaitGroup, start N goroutines that each call wg.Done, then
// wg.Wait. ns_per_op is the best of ROUNDS, cold_ns_per_op the first.
//
//	spawn [wg] [N=1e6] [ROUNDS=5]
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// arg returns os.Args[i] if present ("1e6" is accepted), else dflt times
// BENCH_SCALE, as bench.h does.
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

func main() {
	if len(os.Args) > 1 && os.Args[1] != "wg" {
		fmt.Fprintln(os.Stderr, "usage: spawn [wg] [N] [ROUNDS]")
		os.Exit(2)
	}
	n := arg(2, 1e6)
	rounds := int64(5)
	if len(os.Args) > 3 {
		rounds, _ = strconv.ParseInt(os.Args[3], 10, 64)
		if rounds < 1 {
			rounds = 1
		}
	}
	var best, cold time.Duration
	for r := int64(0); r < rounds; r++ {
		var wg sync.WaitGroup
		t0 := time.Now()
		wg.Add(int(n))
		for i := int64(0); i < n; i++ {
			go func() { wg.Done() }()
		}
		wg.Wait()
		t := time.Since(t0)
		if r == 0 {
			cold = t
		}
		if r == 0 || t < best {
			best = t
		}
	}
	fmt.Printf("BENCH name=spawn_wg impl=go procs=%d n=%d rounds=%d ns_per_op=%.1f cold_ns_per_op=%.1f\n",
		runtime.GOMAXPROCS(0), n, rounds,
		float64(best.Nanoseconds())/float64(n), float64(cold.Nanoseconds())/float64(n))
}
