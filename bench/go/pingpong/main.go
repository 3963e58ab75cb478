// Command pingpong is the Go twin of bench/pingpong.c: the main goroutine
// sends an int64 on an unbuffered channel, an echo goroutine sends it back
// plus one on another; ns_per_op = elapsed / N round trips. GOMAXPROCS sets
// the Ps.
//
//	pingpong [N=1e6]
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
	ping, pong := make(chan int64), make(chan int64)
	var wg sync.WaitGroup
	wg.Add(1)
	t0 := time.Now()
	go func() {
		for i := int64(0); i < n; i++ {
			v := <-ping
			pong <- v + 1
		}
		wg.Done()
	}()
	for i := int64(0); i < n; i++ {
		ping <- i
		if v := <-pong; v != i+1 {
			fmt.Fprintf(os.Stderr, "bench: round trip %d came back as %d\n", i, v)
			os.Exit(1)
		}
	}
	wg.Wait()
	t := time.Since(t0)
	fmt.Printf("BENCH name=pingpong impl=go procs=%d n=%d ns_per_op=%.1f\n",
		runtime.GOMAXPROCS(0), n, float64(t.Nanoseconds())/float64(n))
}
