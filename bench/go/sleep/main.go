// Command sleep is the Go twin of bench/sleep.c: N goroutines each sleep
// ROUNDS times for a pseudo-random 1-10 ms (splitmix64 of the sample's
// index, as in the C program) with time.Sleep(d), recording lateness =
// time.Since(start) - d, start taken just before, in a preallocated slice.
// The samples are sorted at the end; p50/p99 are nearest-rank percentiles,
// printed with the maximum in microseconds.
//
//	sleep [N=1e4] [ROUNDS=3]
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
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

// sleepNs is splitmix64: the sleep of sample i, the same in the C program.
func sleepNs(i uint64) time.Duration {
	z := (i + 1) * 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return time.Duration(1000000 + int64(z%9000001))
}

// pctUs is the nearest-rank percentile p of sorted v, in microseconds.
func pctUs(v []int64, p int64) float64 {
	k := (int64(len(v))*p + 99) / 100
	if k < 1 {
		k = 1
	}
	return float64(v[k-1]) / 1e3
}

func main() {
	n := arg(1, 1e4)
	rounds := int64(3) // BENCH_SCALE scales N only
	if len(os.Args) > 2 {
		rounds, _ = strconv.ParseInt(os.Args[2], 10, 64)
		if rounds < 1 {
			rounds = 1
		}
	}
	late := make([]int64, n*rounds)
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(int(n))
	for i := int64(0); i < n; i++ {
		go func(g int64) {
			for r := int64(0); r < rounds; r++ {
				s := g*rounds + r
				d := sleepNs(uint64(s))
				start := time.Now()
				time.Sleep(d)
				late[s] = int64(time.Since(start) - d)
			}
			wg.Done()
		}(i)
	}
	wg.Wait()
	t := time.Since(t0)
	sort.Slice(late, func(a, b int) bool { return late[a] < late[b] })
	if late[0] < 0 {
		fmt.Fprintf(os.Stderr, "bench: a sleeper woke %d ns early\n", -late[0])
		os.Exit(1)
	}
	fmt.Printf("BENCH name=sleep impl=go procs=%d n=%d rounds=%d p50_us=%.1f p99_us=%.1f max_us=%.1f wall_ms=%.1f\n",
		runtime.GOMAXPROCS(0), n, rounds, pctUs(late, 50), pctUs(late, 99),
		float64(late[len(late)-1])/1e3, float64(t.Nanoseconds())/1e6)
}
