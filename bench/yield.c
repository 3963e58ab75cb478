/*
 * yield.c - ns per gort_yield, two goroutines passing the P back and forth.
 *
 *   GORT_MAXPROCS=1 yield [N=1e6]
 *
 * Two goroutines each call gort_yield N times; the spawner waits on a
 * gort_wg. ns_per_op = elapsed / (2 N). Meant for one P, where each yield is
 * a switch to the other goroutine; at more Ps it still prints (procs says
 * how many). Go twin: bench/go/yield, runtime.Gosched with GOMAXPROCS=1.
 */
#include "bench.h"

static gort_wg wg = GORT_WG_INIT;
static long long n;

static void yielder(void *arg) {
  (void)arg;
  int err;
  for (long long i = 0; i < n; i++)
    if ((err = gort_yield()) < 0)
      bench_fail("gort_yield", i, err);
  gort_wg_done(&wg);
}

static void bench(void *arg) {
  (void)arg;
  int err;
  int64_t t0 = bench_now();
  gort_wg_add(&wg, 2);
  for (int i = 0; i < 2; i++)
    if ((err = gort_go(yielder, NULL)) < 0)
      bench_fail("gort_go", i, err);
  if ((err = gort_wg_wait(&wg, GORT_NEVER)) < 0)
    bench_fail("gort_wg_wait", 0, err);
  int64_t t = bench_now() - t0;
  printf("BENCH name=yield impl=gort procs=%d n=%lld ns_per_op=%.1f\n",
         bench_procs(), 2 * n, (double)t / (double)(2 * n));
}

int main(int argc, char **argv) {
  n = bench_arg(argc, argv, 1, 1e6);
  int err = gort_main(bench, NULL);
  if (err < 0)
    bench_fail("gort_main", 0, err);
  return 0;
}
