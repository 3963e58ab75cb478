/*
 * spawn.c - spawn and finish N goroutines; ns per goroutine.
 *
 *   spawn [wg|join] [N=1e6] [ROUNDS=5]
 *
 * wg:   the spawner (a goroutine, inside gort_main) adds N to one gort_wg,
 *       starts N detached goroutines with gort_go that each call
 *       gort_wg_done, then waits in gort_wg_wait. Go twin: bench/go/spawn,
 *       `go func() { wg.Done() }()` N times, then wg.Wait().
 * join: the same N goroutines started with gort_spawn and a handle each
 *       (empty body); then gort_join and gort_g_release every handle, in
 *       order. The handles array is allocated and touched before the clock
 *       starts. Go has no handles; compare it with Go's wg figure.
 *
 * The first round pays for fresh stacks and descriptors; later rounds reuse
 * what the runtime cached. ns_per_op is the best round, cold_ns_per_op the
 * first. GORT_MAXPROCS sets the Ps.
 */
#include "bench.h"

static gort_wg wg = GORT_WG_INIT;
static gort_g **handles;
static long long n, rounds;
static int join_mode;

static void done(void *arg) {
  (void)arg;
  gort_wg_done(&wg);
}

static void empty(void *arg) { (void)arg; }

static int64_t round_wg(void) {
  int64_t t0 = bench_now();
  int err = gort_wg_add(&wg, n);
  if (err < 0)
    bench_fail("gort_wg_add", 0, err);
  for (long long i = 0; i < n; i++)
    if ((err = gort_go(done, NULL)) < 0)
      bench_fail("gort_go", i, err);
  if ((err = gort_wg_wait(&wg, GORT_NEVER)) < 0)
    bench_fail("gort_wg_wait", 0, err);
  return bench_now() - t0;
}

static int64_t round_join(void) {
  int64_t t0 = bench_now();
  int err;
  for (long long i = 0; i < n; i++)
    if ((err = gort_spawn(NULL, empty, NULL, 0, &handles[i])) < 0)
      bench_fail("gort_spawn", i, err);
  for (long long i = 0; i < n; i++) {
    if ((err = gort_join(handles[i], GORT_NEVER)) < 0)
      bench_fail("gort_join", i, err);
    gort_g_release(handles[i]);
  }
  return bench_now() - t0;
}

static void bench(void *arg) {
  (void)arg;
  int64_t best = INT64_MAX, cold = 0;
  for (long long r = 0; r < rounds; r++) {
    int64_t t = join_mode ? round_join() : round_wg();
    if (r == 0)
      cold = t;
    if (t < best)
      best = t;
  }
  printf("BENCH name=%s impl=gort procs=%d n=%lld rounds=%lld "
         "ns_per_op=%.1f cold_ns_per_op=%.1f\n",
         join_mode ? "spawn_join" : "spawn_wg", bench_procs(), n, rounds,
         (double)best / (double)n, (double)cold / (double)n);
}

int main(int argc, char **argv) {
  join_mode = argc > 1 && strcmp(argv[1], "join") == 0;
  if (argc > 1 && !join_mode && strcmp(argv[1], "wg") != 0) {
    fprintf(stderr, "usage: spawn [wg|join] [N] [ROUNDS]\n");
    return 2;
  }
  n = bench_arg(argc, argv, 2, 1e6);
  rounds = argc > 3 ? atoll(argv[3]) : 5; /* not scaled by BENCH_SCALE */
  if (rounds < 1)
    rounds = 1;
  if (join_mode) {
    handles = calloc((size_t)n, sizeof *handles);
    if (!handles)
      return perror("calloc"), 1;
    memset(handles, 0xff, (size_t)n * sizeof *handles); /* fault it in */
  }
  int err = gort_main(bench, NULL);
  if (err < 0)
    bench_fail("gort_main", 0, err);
  return 0;
}
