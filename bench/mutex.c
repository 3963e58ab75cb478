/*
 * mutex.c - ns per gort_mutex lock+unlock pair.
 *
 *   mutex uncontended [N=1e7]
 *   mutex contended [G=4] [N=1e6]
 *
 * uncontended: one goroutine locks and unlocks N times.
 * contended:   G goroutines each lock, bump a shared counter, unlock, N
 *              times; ns_per_op = elapsed / (G N). GORT_MAXPROCS sets the
 *              Ps (run.sh measures 2 and 1).
 * Go twin: bench/go/mutex, the same loops on sync.Mutex. The final counter
 * is checked, so a broken lock shows up as a failure, not a fast figure.
 */
#include "bench.h"

static gort_mutex mu = GORT_MUTEX_INIT;
static gort_wg wg = GORT_WG_INIT;
static long long n, ng, counter;
static int contended;

static void locker(void *arg) {
  (void)arg;
  int err;
  for (long long i = 0; i < n; i++) {
    if ((err = gort_mutex_lock(&mu, GORT_NEVER)) < 0)
      bench_fail("gort_mutex_lock", i, err);
    counter++;
    if ((err = gort_mutex_unlock(&mu)) < 0)
      bench_fail("gort_mutex_unlock", i, err);
  }
  gort_wg_done(&wg);
}

static void bench(void *arg) {
  (void)arg;
  int err;
  long long g = contended ? ng : 1;
  int64_t t0 = bench_now();
  if (contended) {
    gort_wg_add(&wg, ng);
    for (long long i = 0; i < ng; i++)
      if ((err = gort_go(locker, NULL)) < 0)
        bench_fail("gort_go", i, err);
    if ((err = gort_wg_wait(&wg, GORT_NEVER)) < 0)
      bench_fail("gort_wg_wait", 0, err);
  } else {
    gort_wg_add(&wg, 1);
    locker(NULL);
  }
  int64_t t = bench_now() - t0;
  if (counter != g * n) {
    fprintf(stderr, "bench: counter %lld, expected %lld\n", counter, g * n);
    _exit(1);
  }
  printf("BENCH name=mutex_%s impl=gort procs=%d g=%lld n=%lld "
         "ns_per_op=%.1f\n",
         contended ? "contended" : "uncontended", bench_procs(), g, g * n,
         (double)t / (double)(g * n));
}

int main(int argc, char **argv) {
  contended = argc > 1 && strcmp(argv[1], "contended") == 0;
  if (argc < 2 || (!contended && strcmp(argv[1], "uncontended") != 0)) {
    fprintf(stderr, "usage: mutex uncontended [N] | mutex contended [G] [N]\n");
    return 2;
  }
  if (contended) {
    ng = argc > 2 ? atoll(argv[2]) : 4; /* BENCH_SCALE scales N, not G */
    if (ng < 1)
      ng = 1;
    n = bench_arg(argc, argv, 3, 1e6);
  } else {
    n = bench_arg(argc, argv, 2, 1e7);
  }
  int err = gort_main(bench, NULL);
  if (err < 0)
    bench_fail("gort_main", 0, err);
  return 0;
}
