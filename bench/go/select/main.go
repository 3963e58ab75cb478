// Command select is the Go twin of bench/select.c: four chan int64 with
// room for CAP each, one producer goroutine per channel sending N/4 values,
// and the main goroutine running N select statements with four receive
// arms, checking that every value arrived on its own channel in order.
// ns_per_op = elapsed / N selects.
//
//	select [CAP=0] [N=1e6]
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

const ncase = 4

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
	capacity := int64(0) // BENCH_SCALE scales N, not CAP
	if len(os.Args) > 1 {
		capacity, _ = strconv.ParseInt(os.Args[1], 10, 64)
		if capacity < 0 {
			capacity = 0
		}
	}
	n := arg(2, 1e6) / ncase * ncase
	if n < ncase {
		n = ncase
	}
	var c [ncase]chan int64
	var next [ncase]int64
	for k := range c {
		c[k] = make(chan int64, capacity)
		next[k] = int64(k)
	}
	var wg sync.WaitGroup
	wg.Add(ncase)
	t0 := time.Now()
	for k := 0; k < ncase; k++ {
		go func(k int) {
			for i := int64(0); i < n/ncase; i++ {
				c[k] <- int64(k) + ncase*i
			}
			wg.Done()
		}(k)
	}
	for i := int64(0); i < n; i++ {
		var k int
		var v int64
		select {
		case v = <-c[0]:
			k = 0
		case v = <-c[1]:
			k = 1
		case v = <-c[2]:
			k = 2
		case v = <-c[3]:
			k = 3
		}
		if v != next[k] {
			fmt.Fprintf(os.Stderr, "bench: select %d: case %d value %d\n", i, k, v)
			os.Exit(1)
		}
		next[k] += ncase
	}
	wg.Wait()
	t := time.Since(t0)
	fmt.Printf("BENCH name=select impl=go procs=%d cases=%d cap=%d n=%d ns_per_op=%.1f\n",
		runtime.GOMAXPROCS(0), ncase, capacity, n, float64(t.Nanoseconds())/float64(n))
}
