/*
 * pingpong.c - ns per round trip of a value over two unbuffered channels.
 *
 *   pingpong [N=1e6]
 *
 * The spawner (a goroutine inside gort_main) sends an int64 on `ping`; an
 * echo goroutine receives it and sends it back, plus one, on `pong`; the
 * spawner receives it and checks it. N round trips; ns_per_op = elapsed / N.
 * Both channels have cap 0, so every send meets a parked receiver or parks:
 * each round trip is two hand-offs and, at 1 P, two goroutine switches.
 * GORT_MAXPROCS sets the Ps (run.sh measures 1 and 2). Go twin:
 * bench/go/pingpong, the same on `chan int64`.
 */
#include "bench.h"

static gort_chan *ping, *pong;
static gort_wg wg = GORT_WG_INIT;
static long long n;

static void echo(void *arg)
{
  (void)arg;
  int err;
  int64_t v;
  for (long long i = 0; i < n; i++) {
    if ((err = gort_chan_recv(ping, &v, GORT_NEVER)) < 0)
      bench_fail("gort_chan_recv(ping)", i, err);
    v++;
    if ((err = gort_chan_send(pong, &v, GORT_NEVER)) < 0)
      bench_fail("gort_chan_send(pong)", i, err);
  }
  gort_wg_done(&wg);
}

static void bench(void *arg)
{
  (void)arg;
  int err;
  if ((err = gort_chan_new(&ping, sizeof(int64_t), 0)) < 0 ||
      (err = gort_chan_new(&pong, sizeof(int64_t), 0)) < 0)
    bench_fail("gort_chan_new", 0, err);
  gort_wg_add(&wg, 1);
  int64_t t0 = bench_now();
  if ((err = gort_go(echo, NULL)) < 0)
    bench_fail("gort_go", 0, err);
  for (long long i = 0; i < n; i++) {
    int64_t v = i;
    if ((err = gort_chan_send(ping, &v, GORT_NEVER)) < 0)
      bench_fail("gort_chan_send(ping)", i, err);
    if ((err = gort_chan_recv(pong, &v, GORT_NEVER)) < 0)
      bench_fail("gort_chan_recv(pong)", i, err);
    if (v != i + 1) {
      fprintf(stderr, "bench: round trip %lld came back as %lld\n", i,
              (long long)v);
      _exit(1);
    }
  }
  if ((err = gort_wg_wait(&wg, GORT_NEVER)) < 0)
    bench_fail("gort_wg_wait", 0, err);
  int64_t t = bench_now() - t0;
  printf("BENCH name=pingpong impl=gort procs=%d n=%lld ns_per_op=%.1f\n",
         bench_procs(), n, (double)t / (double)n);
  gort_chan_release(ping);
  gort_chan_release(pong);
}

int main(int argc, char **argv)
{
  n = bench_arg(argc, argv, 1, 1e6);
  int err = gort_main(bench, NULL);
  if (err < 0)
    bench_fail("gort_main", 0, err);
  return 0;
}
