// Command buffered is the Go twin of bench/buffered.c: a producer goroutine
// sends 0..N-1 on a chan int64 with room for CAP, the main goroutine
// receives and checks them; ns_per_op = elapsed / N.
//
//	buffered [CAP=1024] [N=1e7]
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
	capacity := int64(1024) // BENCH_SCALE scales N, not CAP
	if len(os.Args) > 1 {
		capacity, _ = strconv.ParseInt(os.Args[1], 10, 64)
		if capacity < 0 {
			capacity = 0
		}
	}
	n := arg(2, 1e7)
	ch := make(chan int64, capacity)
	var wg sync.WaitGroup
	wg.Add(1)
	t0 := time.Now()
	go func() {
		for i := int64(0); i < n; i++ {
			ch <- i
		}
		wg.Done()
	}()
	for i := int64(0); i < n; i++ {
		if v := <-ch; v != i {
			fmt.Fprintf(os.Stderr, "bench: item %d received as %d\n", i, v)
			os.Exit(1)
		}
	}
	wg.Wait()
	t := time.Since(t0)
	fmt.Printf("BENCH name=buffered impl=go procs=%d n=%d cap=%d ns_per_op=%.1f\n",
		runtime.GOMAXPROCS(0), n, capacity, float64(t.Nanoseconds())/float64(n))
}
