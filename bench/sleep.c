/*
 * sleep.c - how late N sleeping goroutines wake: p50, p99 and max, in us.
 *
 *   sleep [N=1e4] [ROUNDS=3]
 *
 * The spawner (a goroutine inside gort_main) starts N goroutines at once;
 * each sleeps ROUNDS times, each time for a pseudo-random 1-10 ms (the same
 * sequence as the Go twin: splitmix64 of the sample's index), with
 * gort_sleep_until and an absolute deadline taken just before, and records
 * lateness = gort_now() on waking - the deadline in a preallocated array
 * (one slot per sample). After gort_wg_wait the N x ROUNDS samples are
 * sorted; p50/p99 are nearest-rank percentiles. Lateness includes the
 * timer's own delay and the wait for a P once the goroutine is runnable, so
 * with many sleepers waking in a 9 ms window it mostly measures how fast the
 * runtime can wake and run them. GORT_MAXPROCS sets the Ps. Go twin:
 * bench/go/sleep, `time.Sleep(d)` with `start` taken before, lateness =
 * `time.Since(start) - d`.
 */
#include "bench.h"

static gort_wg wg = GORT_WG_INIT;
static long long n, rounds;
static int64_t *late;

/* splitmix64: the sleep of sample i, the same in the Go twin. */
static int64_t sleep_ns(uint64_t i)
{
  uint64_t z = (i + 1) * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return 1000000 + (int64_t)(z % 9000001);
}

static void sleeper(void *arg)
{
  long long g = (long long)(intptr_t)arg;
  int err;
  for (long long r = 0; r < rounds; r++) {
    long long s = g * rounds + r;
    int64_t deadline = gort_now() + sleep_ns((uint64_t)s);
    if ((err = gort_sleep_until(deadline)) < 0)
      bench_fail("gort_sleep_until", s, err);
    late[s] = gort_now() - deadline;
  }
  gort_wg_done(&wg);
}

static int cmp64(const void *a, const void *b)
{
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Nearest rank: the smallest sample with at least p% at or below it. */
static double pct_us(const int64_t *v, long long len, int p)
{
  long long k = (len * p + 99) / 100;
  return (double)v[k > 0 ? k - 1 : 0] / 1e3;
}

static void bench(void *arg)
{
  (void)arg;
  int err;
  long long total = n * rounds;
  int64_t t0 = bench_now();
  gort_wg_add(&wg, n);
  for (long long i = 0; i < n; i++)
    if ((err = gort_go(sleeper, (void *)(intptr_t)i)) < 0)
      bench_fail("gort_go", i, err);
  if ((err = gort_wg_wait(&wg, GORT_NEVER)) < 0)
    bench_fail("gort_wg_wait", 0, err);
  int64_t t = bench_now() - t0;
  qsort(late, (size_t)total, sizeof late[0], cmp64);
  if (late[0] < 0) {
    fprintf(stderr, "bench: a sleeper woke %lld ns early\n",
            (long long)-late[0]);
    _exit(1);
  }
  printf("BENCH name=sleep impl=gort procs=%d n=%lld rounds=%lld "
         "p50_us=%.1f p99_us=%.1f max_us=%.1f wall_ms=%.1f\n",
         bench_procs(), n, rounds, pct_us(late, total, 50),
         pct_us(late, total, 99), (double)late[total - 1] / 1e3,
         (double)t / 1e6);
}

int main(int argc, char **argv)
{
  n = bench_arg(argc, argv, 1, 1e4);
  rounds = argc > 2 ? atoll(argv[2]) : 3; /* BENCH_SCALE scales N only */
  if (rounds < 1)
    rounds = 1;
  late = malloc((size_t)(n * rounds) * sizeof late[0]);
  if (!late) {
    fprintf(stderr, "bench: out of memory for %lld samples\n", n * rounds);
    return 1;
  }
  memset(late, 0, (size_t)(n * rounds) * sizeof late[0]); /* touch it now */
  int err = gort_main(bench, NULL);
  if (err < 0)
    bench_fail("gort_main", 0, err);
  free(late);
  return 0;
}
