/*
 * select.c - ns per gort_select over four receive cases.
 *
 *   select [CAP=0] [N=1e6]
 *
 * Four channels of int64 with room for CAP each (0: unbuffered), one
 * producer goroutine per channel sending N/4 values (its channel index plus
 * 4 times a counter); the spawner (a goroutine inside gort_main) runs N
 * selects with one receive case per channel and checks that every value
 * arrived on its own channel, in order. ns_per_op = elapsed / N selects.
 * Unbuffered, a select mostly finds a sender parked on some case or parks
 * on all four; buffered, it mostly finds a value at once. GORT_MAXPROCS
 * sets the Ps. Go twin: bench/go/select, a `select` statement with four
 * `case v := <-c[i]:` arms.
 */
#include "bench.h"

enum { NCASE = 4 };

static gort_chan *chans[NCASE];
static gort_wg wg = GORT_WG_INIT;
static long long n, cap;

static void producer(void *arg)
{
  int k = (int)(intptr_t)arg;
  int err;
  for (long long i = 0; i < n / NCASE; i++) {
    int64_t v = k + NCASE * i;
    if ((err = gort_chan_send(chans[k], &v, GORT_NEVER)) < 0)
      bench_fail("gort_chan_send", i, err);
  }
  gort_wg_done(&wg);
}

static void bench(void *arg)
{
  (void)arg;
  int err;
  int64_t vals[NCASE], next[NCASE];
  gort_case cases[NCASE];
  for (int k = 0; k < NCASE; k++) {
    if ((err = gort_chan_new(&chans[k], sizeof(int64_t), (size_t)cap)) < 0)
      bench_fail("gort_chan_new", k, err);
    cases[k] = (gort_case){chans[k], GORT_RECV, &vals[k], 0};
    next[k] = k;
  }
  gort_wg_add(&wg, NCASE);
  int64_t t0 = bench_now();
  for (int k = 0; k < NCASE; k++)
    if ((err = gort_go(producer, (void *)(intptr_t)k)) < 0)
      bench_fail("gort_go", k, err);
  for (long long i = 0; i < n; i++) {
    int k = gort_select(cases, NCASE, GORT_NEVER);
    if (k < 0)
      bench_fail("gort_select", i, k);
    if (k >= NCASE || cases[k].result != 0 || vals[k] != next[k]) {
      fprintf(stderr, "bench: select %lld: case %d result %d value %lld\n", i,
              k, k < NCASE ? cases[k].result : 0,
              k < NCASE ? (long long)vals[k] : 0LL);
      _exit(1);
    }
    next[k] += NCASE;
  }
  if ((err = gort_wg_wait(&wg, GORT_NEVER)) < 0)
    bench_fail("gort_wg_wait", 0, err);
  int64_t t = bench_now() - t0;
  printf("BENCH name=select impl=gort procs=%d cases=%d cap=%lld n=%lld "
         "ns_per_op=%.1f\n",
         bench_procs(), NCASE, cap, n, (double)t / (double)n);
  for (int k = 0; k < NCASE; k++)
    gort_chan_release(chans[k]);
}

int main(int argc, char **argv)
{
  cap = argc > 1 ? atoll(argv[1]) : 0; /* BENCH_SCALE scales N, not CAP */
  n = bench_arg(argc, argv, 2, 1e6) / NCASE * NCASE;
  if (n < NCASE)
    n = NCASE;
  if (cap < 0)
    cap = 0;
  int err = gort_main(bench, NULL);
  if (err < 0)
    bench_fail("gort_main", 0, err);
  return 0;
}
