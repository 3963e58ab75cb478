/*
 * bench.h - what every bench/ program shares: a clock that does not go
 * through the library, sizes from argv scaled by BENCH_SCALE, resident
 * memory from /proc/self/statm, and the one output line.
 *
 * Header-only (static functions) so that each benchmark is still a single
 * translation unit that links nothing but -lgort. The Go twins in
 * bench/go/<name>/main.go repeat these few helpers, because a GOPATH-mode
 * main package cannot share code without a package path.
 *
 * Output: one line per figure,
 *   BENCH name=<figure> impl=gort procs=<Ps> n=<count> <unit>=<value> ...
 * which bench/run.sh parses. Benchmarks print figures; they never assert a
 * timing.
 */
#ifndef GORT_BENCH_H
#define GORT_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gort.h"

static inline int64_t bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* argv[i] if present ("1e6" is accepted), else dflt times BENCH_SCALE. */
static inline long long bench_arg(int argc, char **argv, int i, double dflt) {
  if (i < argc)
    return (long long)strtod(argv[i], NULL);
  const char *s = getenv("BENCH_SCALE");
  double scale = s ? strtod(s, NULL) : 1.0;
  long long v = (long long)(dflt * (scale > 0 ? scale : 1.0));
  return v > 0 ? v : 1;
}

/* Resident set size in bytes, from /proc/self/statm (the second field). */
static inline long long bench_rss(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long long size = 0, resident = 0;
  if (!f)
    return -1;
  if (fscanf(f, "%lld %lld", &size, &resident) != 2)
    resident = -1;
  fclose(f);
  return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

/* The Ps of the scheduler running the caller. */
static inline int bench_procs(void) {
  return gort_sched_maxprocs(gort_sched_current(), 0);
}

/* A library call failed: say which and leave at once. _exit, not exit:
 * other goroutines are still running and atexit work could wait on them. */
static inline void bench_fail(const char *what, long long i, int err) {
  fprintf(stderr, "bench: %s failed (i=%lld): %d %s %s\n", what, i, err,
          gort_err_name(err), gort_strerror(err));
  fflush(stdout);
  fflush(stderr);
  _exit(1);
}

#endif
