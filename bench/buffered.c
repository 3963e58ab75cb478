/*
 * buffered.c - ns per int64 through a buffered channel, one producer to one
 * consumer.
 *
 *   buffered [CAP=1024] [N=1e7]
 *
 * A producer goroutine sends 0..N-1 on a channel of int64 with room for CAP;
 * the spawner (a goroutine inside gort_main) receives N values and checks
 * that they arrive in order. ns_per_op = elapsed / N. The producer runs
 * ahead until the buffer fills, so most operations find room or a value
 * without parking. GORT_MAXPROCS sets the Ps. Go twin: bench/go/buffered,
 * `make(chan int64, CAP)`.
 */
#include "bench.h"

static gort_chan *ch;
static gort_wg wg = GORT_WG_INIT;
static long long n, cap;

static void producer(void *arg)
{
  (void)arg;
  int err;
  for (long long i = 0; i < n; i++) {
    int64_t v = i;
    if ((err = gort_chan_send(ch, &v, GORT_NEVER)) < 0)
      bench_fail("gort_chan_send", i, err);
  }
  gort_wg_done(&wg);
}

static void bench(void *arg)
{
  (void)arg;
  int err;
  if ((err = gort_chan_new(&ch, sizeof(int64_t), (size_t)cap)) < 0)
    bench_fail("gort_chan_new", cap, err);
  gort_wg_add(&wg, 1);
  int64_t t0 = bench_now();
  if ((err = gort_go(producer, NULL)) < 0)
    bench_fail("gort_go", 0, err);
  for (long long i = 0; i < n; i++) {
    int64_t v;
    if ((err = gort_chan_recv(ch, &v, GORT_NEVER)) < 0)
      bench_fail("gort_chan_recv", i, err);
    if (v != i) {
      fprintf(stderr, "bench: item %lld received as %lld\n", i, (long long)v);
      _exit(1);
    }
  }
  if ((err = gort_wg_wait(&wg, GORT_NEVER)) < 0)
    bench_fail("gort_wg_wait", 0, err);
  int64_t t = bench_now() - t0;
  printf("BENCH name=buffered impl=gort procs=%d n=%lld cap=%lld "
         "ns_per_op=%.1f\n",
         bench_procs(), n, cap, (double)t / (double)n);
  gort_chan_release(ch);
}

int main(int argc, char **argv)
{
  cap = argc > 1 ? atoll(argv[1]) : 1024; /* BENCH_SCALE scales N, not CAP */
  n = bench_arg(argc, argv, 2, 1e7);
  if (cap < 0)
    cap = 0;
  int err = gort_main(bench, NULL);
  if (err < 0)
    bench_fail("gort_main", 0, err);
  return 0;
}
