/*
 * demo.c - a workload that shows libgort's runtime core, and ends by itself.
 *
 *  1. 100,000 goroutines each sleep a random 1-50 ms, then record how late
 *     their timer fired (all blocked at once, on a handful of OS threads).
 *  2. A pipeline of worker goroutines counts the primes below 2,000,000 in
 *     chunks handed out under a gort_mutex, results summed under another,
 *     completion signalled with a gort_wg.
 *  3. A CPU-bound goroutine that never yields does not starve a ticking
 *     one: sysmon hands its P away after ~10 ms.
 *  4. Go's concurrent prime sieve: a chain of 2,000 filter goroutines
 *     joined by unbuffered channels, a ticker and a context deadline
 *     watched with gort_select.
 *
 * Usage: demo [goroutines]   (default 100000)
 */
#include <gort.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define MS 1000000LL

/* ---- 1: many sleepers ---------------------------------------------------- */

static gort_wg sleepers = GORT_WG_INIT;
static _Atomic int64_t late_sum, late_max;

static void sleeper(void *arg)
{
  int64_t ms = 1 + (int64_t)((uintptr_t)arg % 50);
  int64_t want = gort_now() + ms * MS;
  int64_t late;
  gort_sleep_until(want);
  late = gort_now() - want;
  atomic_fetch_add(&late_sum, late);
  for (int64_t m = atomic_load(&late_max); late > m;)
    if (atomic_compare_exchange_weak(&late_max, &m, late))
      break;
  gort_wg_done(&sleepers);
}

/* ---- 2: primes ------------------------------------------------------------- */

#define LIMIT 2000000
#define CHUNK 20000

static gort_mutex next_lock = GORT_MUTEX_INIT;
static gort_mutex sum_lock = GORT_MUTEX_INIT;
static gort_wg workers = GORT_WG_INIT;
static long next_chunk, primes;

static int is_prime(long n)
{
  if (n < 2)
    return 0;
  for (long d = 2; d * d <= n; d++)
    if (n % d == 0)
      return 0;
  return 1;
}

static void worker(void *arg)
{
  (void)arg;
  for (;;) {
    long lo, count = 0;
    gort_mutex_lock(&next_lock, GORT_NEVER);
    lo = next_chunk;
    next_chunk += CHUNK;
    gort_mutex_unlock(&next_lock);
    if (lo >= LIMIT)
      break;
    for (long n = lo; n < lo + CHUNK && n < LIMIT; n++)
      count += is_prime(n);
    gort_mutex_lock(&sum_lock, GORT_NEVER);
    primes += count;
    gort_mutex_unlock(&sum_lock);
  }
  gort_wg_done(&workers);
}

/* ---- 3: a hog and a ticker ---------------------------------------------------- */

static _Atomic int hog_stop;
static _Atomic int ticks;

static void hog(void *arg)
{
  volatile unsigned long x = 0;
  (void)arg;
  while (!atomic_load_explicit(&hog_stop, memory_order_relaxed))
    x++; /* no scheduling point at all */
}

static void ticker(void *arg)
{
  int64_t end = gort_now() + 300 * MS;
  (void)arg;
  while (gort_now() < end && gort_sleep(MS) == 0)
    atomic_fetch_add(&ticks, 1);
  atomic_store(&hog_stop, 1);
}

/* ---- 4: the prime sieve ------------------------------------------------------ */

#define SIEVE_PRIMES 2000

static long sieve_last;

typedef struct filter {
  gort_chan *in, *out;
  long prime;
} filter;

static void generate(void *arg)
{
  gort_chan *out = arg;
  for (long i = 2; gort_chan_send(out, &i, GORT_NEVER) == 0; i++)
    ;
}

static void filter_fn(void *arg)
{
  filter *f = arg;
  long v;
  while (gort_chan_recv(f->in, &v, GORT_NEVER) == 0)
    if (v % f->prime != 0 && gort_chan_send(f->out, &v, GORT_NEVER) != 0)
      break;
  gort_chan_close(f->out); /* let the next filter finish too */
}

static void sieve(void)
{
  static filter filters[SIEVE_PRIMES];
  gort_chan *ch, *first;
  gort_timer *tick;
  gort_context *ctx;
  long p = 0, ticks_seen = 0;
  int64_t t0 = gort_now();
  int n = 0;

  gort_chan_new(&ch, sizeof(long), 0);
  first = ch;
  gort_go(generate, ch);
  gort_timer_new(&tick, gort_now() + 10 * MS, 10 * MS);
  gort_context_with_deadline(gort_context_background(), gort_now() + 30000 * MS,
                             &ctx);
  while (n < SIEVE_PRIMES) {
    int64_t when;
    gort_case cs[3] = {
        {ch, GORT_RECV, &p, 0},
        {gort_timer_chan(tick), GORT_RECV, &when, 0},
        {gort_context_done(ctx), GORT_RECV, NULL, 0},
    };
    int r = gort_select(cs, 3, GORT_NEVER);
    if (r == 1) {
      ticks_seen++;
      continue;
    }
    if (r != 0 || cs[0].result != 0)
      break; /* the deadline, or a closed channel */
    filters[n].in = ch;
    filters[n].prime = p;
    gort_chan_new(&filters[n].out, sizeof(long), 0);
    ch = filters[n].out;
    gort_go(filter_fn, &filters[n]);
    n++;
  }
  printf("sieve: prime #%d is %ld, through %d filter goroutines, %.1f ms "
         "(%ld ticks of a 10 ms ticker meanwhile)\n",
         n, p, n, (gort_now() - t0) / 1e6, ticks_seen);
  /* closing the first channel ends the generator and, filter by filter,
   * the whole chain */
  gort_chan_close(first);
  gort_timer_free(tick);
  gort_context_release(ctx);
  sieve_last = p;
}

/* ---- main ------------------------------------------------------------------- */

static int nsleepers = 100000;

static void demo(void *arg)
{
  int64_t t0, t1;
  gort_g *h, *t;
  int nworkers = 8;
  (void)arg;

  printf("libgort %s, %d Ps\n", gort_version_string(),
         gort_sched_maxprocs(NULL, 0));

  t0 = gort_now();
  gort_wg_add(&sleepers, nsleepers);
  for (int i = 0; i < nsleepers; i++)
    if (gort_go(sleeper, (void *)(uintptr_t)(i * 2654435761u)) != 0) {
      gort_wg_done(&sleepers);
    }
  printf("sleepers: %d goroutines spawned in %.1f ms, %lld alive\n",
         nsleepers, (gort_now() - t0) / 1e6,
         (long long)gort_sched_numgoroutine(NULL));
  gort_wg_wait(&sleepers, GORT_NEVER);
  t1 = gort_now();
  printf("sleepers: all woke within %.1f ms; lateness mean %.3f ms, max %.3f ms\n",
         (t1 - t0) / 1e6, atomic_load(&late_sum) / (double)nsleepers / 1e6,
         atomic_load(&late_max) / 1e6);

  t0 = gort_now();
  gort_wg_add(&workers, nworkers);
  for (int i = 0; i < nworkers; i++)
    gort_go(worker, NULL);
  gort_wg_wait(&workers, GORT_NEVER);
  printf("primes: %ld below %d, %d worker goroutines, %.1f ms\n", primes,
         LIMIT, nworkers, (gort_now() - t0) / 1e6);

  {
    int old = gort_sched_maxprocs(NULL, 1);
    gort_spawn(NULL, hog, NULL, 0, &h);
    gort_spawn(NULL, ticker, NULL, 0, &t);
    gort_join(t, GORT_NEVER);
    gort_join(h, GORT_NEVER);
    gort_g_release(h);
    gort_g_release(t);
    gort_sched_maxprocs(NULL, old);
    printf("fairness: at 1 P, a goroutine ticking every 1 ms ticked %d times "
           "in 300 ms beside a CPU hog\n",
           atomic_load(&ticks));
  }
  sieve();
}

int main(int argc, char **argv)
{
  int r;
  if (argc > 1)
    nsleepers = atoi(argv[1]) > 0 ? atoi(argv[1]) : nsleepers;
  r = gort_main(demo, NULL);
  if (r != 0) {
    fprintf(stderr, "demo: %s\n", gort_strerror(r));
    return 1;
  }
  /* the 2000th prime is 17389 */
  return primes == 148933 && sieve_last == 17389 ? 0 : 1;
}
