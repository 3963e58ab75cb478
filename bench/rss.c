/*
 * rss.c - resident memory per idle, blocked goroutine.
 *
 *   rss [wg|mutex] [N=1e6]
 *
 * Reads RSS from /proc/self/statm, starts N detached goroutines that each
 * bump an atomic counter and then block: in gort_wg_wait on one "start
 * gate" gort_wg (wg, the default) or in gort_mutex_lock on a mutex the
 * spawner holds (mutex). Once the counter reaches N the spawner sleeps a
 * further SETTLE ms (env BENCH_SETTLE_MS, default 200) so the last ones
 * have really parked, reads RSS again, then opens the gate and waits for
 * all of them to finish. bytes_per_g = (RSS blocked - RSS before) / N.
 * Go twin: bench/go/rss, the same steps with sync.WaitGroup / sync.Mutex
 * (runtime.ReadMemStats is not RSS, so it reads statm as well).
 */
#include <stdatomic.h>

#include "bench.h"

static gort_wg gate = GORT_WG_INIT;
static gort_wg all = GORT_WG_INIT;
static gort_mutex mu = GORT_MUTEX_INIT;
static _Atomic long long parked;
static long long n;
static int mutex_mode;

static void blocker(void *arg) {
  (void)arg;
  int err;
  atomic_fetch_add_explicit(&parked, 1, memory_order_relaxed);
  if (mutex_mode) {
    if ((err = gort_mutex_lock(&mu, GORT_NEVER)) < 0)
      bench_fail("gort_mutex_lock", 0, err);
    gort_mutex_unlock(&mu);
  } else if ((err = gort_wg_wait(&gate, GORT_NEVER)) < 0) {
    bench_fail("gort_wg_wait(gate)", 0, err);
  }
  gort_wg_done(&all);
}

static void bench(void *arg) {
  (void)arg;
  const char *s = getenv("BENCH_SETTLE_MS");
  int64_t settle = (s ? atoll(s) : 200) * 1000000;
  int err;

  long long rss0 = bench_rss();
  if (mutex_mode)
    err = gort_mutex_lock(&mu, GORT_NEVER);
  else
    err = gort_wg_add(&gate, 1);
  if (err < 0)
    bench_fail("closing the gate", 0, err);
  if ((err = gort_wg_add(&all, n)) < 0)
    bench_fail("gort_wg_add", 0, err);

  int64_t t0 = bench_now();
  for (long long i = 0; i < n; i++)
    if ((err = gort_go(blocker, NULL)) < 0)
      bench_fail("gort_go", i, err);
  while (atomic_load(&parked) < n)
    gort_sleep(1000000);
  int64_t t1 = bench_now();
  gort_sleep(settle);
  long long rss1 = bench_rss();

  int64_t t2 = bench_now();
  if (mutex_mode)
    err = gort_mutex_unlock(&mu);
  else
    err = gort_wg_done(&gate);
  if (err < 0)
    bench_fail("opening the gate", 0, err);
  if ((err = gort_wg_wait(&all, GORT_NEVER)) < 0)
    bench_fail("gort_wg_wait(all)", 0, err);
  int64_t t3 = bench_now();

  printf("BENCH name=rss_%s impl=gort procs=%d n=%lld bytes_per_g=%.0f "
         "rss_before_kb=%lld rss_blocked_kb=%lld block_ns_per_g=%.1f "
         "release_ns_per_g=%.1f\n",
         mutex_mode ? "mutex" : "wg", bench_procs(), n,
         (double)(rss1 - rss0) / (double)n, rss0 / 1024, rss1 / 1024,
         (double)(t1 - t0) / (double)n, (double)(t3 - t2) / (double)n);
}

int main(int argc, char **argv) {
  mutex_mode = argc > 1 && strcmp(argv[1], "mutex") == 0;
  if (argc > 1 && !mutex_mode && strcmp(argv[1], "wg") != 0) {
    fprintf(stderr, "usage: rss [wg|mutex] [N]\n");
    return 2;
  }
  n = bench_arg(argc, argv, 2, 1e6);
  int err = gort_main(bench, NULL);
  if (err < 0)
    bench_fail("gort_main", 0, err);
  return 0;
}
