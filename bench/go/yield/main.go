// Command yield is the Go twin of bench/yield.c: two goroutines each call
// runtime.Gosched N times; ns_per_op = elapsed / (2 N). Run it with
// GOMAXPROCS=1.
//
//	GOMAXPROCS=1 yield [N=1e6]
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

func main() {
	n := arg(1, 1e6)
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(2)
	for i := 0; i < 2; i++ {
		go func() {
			for j := int64(0); j < n; j++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	t := time.Since(t0)
	fmt.Printf("BENCH name=yield impl=go procs=%d n=%d ns_per_op=%.1f\n",
		runtime.GOMAXPROCS(0), 2*n, float64(t.Nanoseconds())/float64(2*n))
}
