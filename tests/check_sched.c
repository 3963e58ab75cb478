/*
 * check_sched.c - goroutines and schedulers: spawn/join/release, self and
 * ids, yield, sleep, cancellation, gort_main and its deadlock report,
 * several schedulers, maxprocs, shutdown, blocking calls from plain threads,
 * gort_blocking, syscall regions, preemption of CPU hogs, numgoroutine.
 *
 * Waiting is done with wg/join/atomics; sleeps appear only where sleeping is
 * what is tested or to widen a race window whose every outcome is legal.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>

static void noop(void *arg)
{
  (void)arg;
}

/* Waits on the wg passed as arg; used as "a goroutine blocked forever" or
 * until a test releases the gate. */
static void gate_wait(void *arg)
{
  gort_wg_wait((gort_wg *)arg, GORT_NEVER);
}

/* ---- spawn / join / release ---------------------------------------------- */

typedef struct {
  _Atomic int64_t ran;
  void *seen_arg;
  gort_sched *seen_sched;
} basic_t;

static void basic_fn(void *arg)
{
  basic_t *b = arg;
  b->seen_arg = arg;
  b->seen_sched = gort_sched_current();
  atomic_fetch_add(&b->ran, 1);
}

START_TEST(test_spawn_join_from_thread)
{
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  basic_t b = {0};
  gort_g *g = NULL;
  ASSERT_EQ(gort_spawn(s, basic_fn, &b, 0, &g), 0);
  ASSERT_NOT_NULL(g);
  ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
  ASSERT_EQ(atomic_load(&b.ran), 1);
  ASSERT_PTR_EQ(b.seen_arg, &b);
  ASSERT_PTR_EQ(b.seen_sched, s);
  /* Joining a finished goroutine returns 0 as often as asked, whatever the
   * deadline. */
  for (int i = 0; i < 5; i++) {
    ASSERT_EQ(gort_join(g, GORT_NEVER), 0);
    ASSERT_EQ(gort_join(g, 0), 0);
    ASSERT_EQ(gort_join(g, GT_PAST), 0);
  }
  ASSERT_EQ(atomic_load(&b.ran), 1);
  gort_g_release(g);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

static void spawn_join_body(void *arg)
{
  (void)arg;
  gort_sched *me = gort_sched_current();
  ASSERT_NOT_NULL(me);
  basic_t b[16];
  gort_g *g[16];
  memset(b, 0, sizeof b);
  for (int i = 0; i < 16; i++)
    ASSERT_EQ(gort_spawn(NULL, basic_fn, &b[i], 0, &g[i]), 0);
  for (int i = 0; i < 16; i++) {
    ASSERT_EQ(gort_join(g[i], gt_long_deadline()), 0);
    ASSERT_EQ(gort_join(g[i], 0), 0);
    ASSERT_EQ(atomic_load(&b[i].ran), 1);
    ASSERT_PTR_EQ(b[i].seen_arg, &b[i]);
    /* s NULL inside a goroutine: the current scheduler. */
    ASSERT_PTR_EQ(b[i].seen_sched, me);
    gort_g_release(g[i]);
  }
}

START_TEST(test_spawn_join_from_goroutine)
{
  gt_run_in(2, spawn_join_body, NULL);
}
END_TEST

typedef struct {
  gort_wg wg;
  _Atomic int64_t count;
  _Atomic int64_t wrong_sched;
  gort_sched *want;
} detached_t;

static void detached_fn(void *arg)
{
  detached_t *d = arg;
  if (gort_sched_current() != d->want)
    atomic_fetch_add(&d->wrong_sched, 1);
  atomic_fetch_add(&d->count, 1);
  gort_wg_done(&d->wg);
}

/* gort_go from a plain thread: the default scheduler. */
START_TEST(test_go_detached_default)
{
  static detached_t d;
  memset(&d, 0, sizeof d);
  d.want = gort_sched_default();
  ASSERT_NOT_NULL(d.want);
  ASSERT_EQ(gort_wg_add(&d.wg, 200), 0);
  for (int i = 0; i < 200; i++)
    ASSERT_EQ(gort_go(detached_fn, &d), 0);
  ASSERT_EQ(gort_wg_wait(&d.wg, gt_long_deadline()), 0);
  ASSERT_EQ(atomic_load(&d.count), 200);
  ASSERT_EQ(atomic_load(&d.wrong_sched), 0);
}
END_TEST

static void go_in_sched_body(void *arg)
{
  detached_t *d = arg;
  d->want = gort_sched_current();
  ASSERT_EQ(gort_wg_add(&d->wg, 500), 0);
  for (int i = 0; i < 250; i++)
    ASSERT_EQ(gort_go(detached_fn, d), 0);
  for (int i = 0; i < 250; i++)
    ASSERT_EQ(gort_spawn(NULL, detached_fn, d, 0, NULL), 0);
  ASSERT_EQ(gort_wg_wait(&d->wg, gt_long_deadline()), 0);
}

/* gort_go and detached gort_spawn inside a goroutine stay on its scheduler. */
START_TEST(test_go_detached_in_sched)
{
  static detached_t d;
  memset(&d, 0, sizeof d);
  gt_run_in(2, go_in_sched_body, &d);
  ASSERT_EQ(atomic_load(&d.count), 500);
  ASSERT_EQ(atomic_load(&d.wrong_sched), 0);
}
END_TEST

typedef struct {
  gort_wg gate, done;
  _Atomic int64_t finished;
} rel_t;

static void rel_fn(void *arg)
{
  rel_t *r = arg;
  gort_wg_wait(&r->gate, GORT_NEVER);
  atomic_fetch_add(&r->finished, 1);
  gort_wg_done(&r->done);
}

/* Releasing the handle of a running goroutine detaches it: it keeps
 * running to the end. */
static void release_running_body(void *arg)
{
  rel_t *r = arg;
  ASSERT_EQ(gort_wg_add(&r->gate, 1), 0);
  ASSERT_EQ(gort_wg_add(&r->done, 10), 0);
  for (int i = 0; i < 10; i++) {
    gort_g *g = NULL;
    ASSERT_EQ(gort_spawn(NULL, rel_fn, r, 0, &g), 0);
    gort_g_release(g);
  }
  ASSERT_EQ(gort_wg_done(&r->gate), 0);
  ASSERT_EQ(gort_wg_wait(&r->done, gt_long_deadline()), 0);
  ASSERT_EQ(atomic_load(&r->finished), 10);
}

START_TEST(test_release_running)
{
  static rel_t r;
  memset(&r, 0, sizeof r);
  gt_run_in(2, release_running_body, &r);
}
END_TEST

static void __attribute__((noinline)) big_stack_fn(void *arg)
{
  volatile char buf[512 * 1024];
  for (size_t i = 0; i < sizeof buf; i += 1024)
    buf[i] = (char)i;
  buf[sizeof buf - 1] = 1;
  int64_t n = 0;
  for (size_t i = 0; i < sizeof buf; i += 1024)
    n += buf[i] == (char)i;
  atomic_store((_Atomic int64_t *)arg, n * 1024);
}

START_TEST(test_spawn_stack_sizes)
{
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  basic_t b = {0};
  static const size_t sizes[] = {0, 64 * 1024, 100000, 256 * 1024, 1024 * 1024};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    gort_g *g = NULL;
    ASSERT_EQ(gort_spawn(s, basic_fn, &b, sizes[i], &g), 0);
    ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
    gort_g_release(g);
  }
  ASSERT_EQ(atomic_load(&b.ran), (int64_t)(sizeof sizes / sizeof sizes[0]));
  /* A big stack is really there: use half of a 1 MiB one. */
  _Atomic int64_t used = 0;
  gort_g *g = NULL;
  ASSERT_EQ(gort_spawn(s, big_stack_fn, &used, 1024 * 1024, &g), 0);
  ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
  gort_g_release(g);
  ASSERT_EQ(atomic_load(&used), 512 * 1024);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* ---- join deadlines ------------------------------------------------------ */

static void join_deadlines_body(void *arg)
{
  gort_sched *s = arg; /* NULL inside a goroutine */
  gort_wg gate = GORT_WG_INIT;
  ASSERT_EQ(gort_wg_add(&gate, 1), 0);
  gort_g *g = NULL;
  ASSERT_EQ(gort_spawn(s, gate_wait, &gate, 0, &g), 0);
  ASSERT_EQ(gort_join(g, 0), GORT_EAGAIN);
  ASSERT_EQ(gort_join(g, GT_PAST), GORT_ETIMEDOUT);
  ASSERT_EQ(gort_join(g, gort_now() - GT_MS(1)), GORT_ETIMEDOUT);
  int64_t t0 = gort_now();
  ASSERT_EQ(gort_join(g, t0 + GT_MS(20)), GORT_ETIMEDOUT);
  int64_t el = gort_now() - t0;
  ASSERT_GE(el, GT_MS(20));
  ASSERT_LE(el, GT_SEC(5) * gt_timeout_mult());
  /* The timed-out joins left nothing behind: the goroutine still runs and
   * a later join sees it finish. */
  ASSERT_EQ(gort_join(g, 0), GORT_EAGAIN);
  ASSERT_EQ(gort_wg_done(&gate), 0);
  ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
  ASSERT_EQ(gort_join(g, 0), 0);
  ASSERT_EQ(gort_join(g, GT_PAST), 0);
  gort_g_release(g);
}

START_TEST(test_join_deadlines_goroutine)
{
  gt_run_in(2, join_deadlines_body, NULL);
}
END_TEST

START_TEST(test_join_deadlines_thread)
{
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  join_deadlines_body(s);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

typedef struct {
  gort_g *target;
  _Atomic int64_t ok, bad;
} joiners_t;

static void joiner_fn(void *arg)
{
  joiners_t *j = arg;
  if (gort_join(j->target, gt_long_deadline()) == 0)
    atomic_fetch_add(&j->ok, 1);
  else
    atomic_fetch_add(&j->bad, 1);
}
static void *joiner_thread(void *arg)
{
  joiner_fn(arg);
  return NULL;
}

/* Many goroutines and threads join one goroutine; all see it finish. */
START_TEST(test_many_joiners)
{
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  gort_wg gate = GORT_WG_INIT;
  ASSERT_EQ(gort_wg_add(&gate, 1), 0);
  joiners_t j = {0};
  ASSERT_EQ(gort_spawn(s, gate_wait, &gate, 0, &j.target), 0);
  gort_g *g[8];
  pthread_t t[2];
  for (int i = 0; i < 8; i++)
    ASSERT_EQ(gort_spawn(s, joiner_fn, &j, 0, &g[i]), 0);
  for (int i = 0; i < 2; i++)
    t[i] = gt_thread(joiner_thread, &j);
  ASSERT_EQ(gort_wg_done(&gate), 0);
  for (int i = 0; i < 8; i++) {
    ASSERT_EQ(gort_join(g[i], gt_long_deadline()), 0);
    gort_g_release(g[i]);
  }
  for (int i = 0; i < 2; i++)
    gt_thread_join(t[i]);
  ASSERT_EQ(atomic_load(&j.ok), 10);
  ASSERT_EQ(atomic_load(&j.bad), 0);
  gort_g_release(j.target);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* ---- self and ids -------------------------------------------------------- */

#define NIDS 64
typedef struct {
  uint64_t id[NIDS];
  _Atomic int64_t bad;
} ids_t;
typedef struct {
  ids_t *ids;
  int i;
} ids_arg;

static void ids_fn(void *arg)
{
  ids_arg *a = arg;
  gort_g *self = gort_self();
  if (!self) {
    atomic_fetch_add(&a->ids->bad, 1);
    return;
  }
  uint64_t id = gort_g_id(self);
  gort_yield();
  /* Stable across a scheduling point (maybe on another thread now). */
  if (gort_self() != self || gort_g_id(gort_self()) != id)
    atomic_fetch_add(&a->ids->bad, 1);
  a->ids->id[a->i] = id;
}

static void ids_body(void *arg)
{
  ids_t *ids = arg;
  ids_arg a[NIDS];
  gort_g *g[NIDS];
  ASSERT_NOT_NULL(gort_self());
  uint64_t me = gort_g_id(gort_self());
  ASSERT_U64_NE(me, 0);
  for (int i = 0; i < NIDS; i++) {
    a[i].ids = ids;
    a[i].i = i;
    ASSERT_EQ(gort_spawn(NULL, ids_fn, &a[i], 0, &g[i]), 0);
  }
  for (int i = 0; i < NIDS; i++) {
    ASSERT_EQ(gort_join(g[i], gt_long_deadline()), 0);
    /* The handle names the same goroutine the goroutine saw as itself. */
    ASSERT_U64_EQ(gort_g_id(g[i]), ids->id[i]);
    gort_g_release(g[i]);
  }
  ASSERT_EQ(atomic_load(&ids->bad), 0);
  for (int i = 0; i < NIDS; i++) {
    ASSERT_U64_NE(ids->id[i], 0);
    ASSERT_U64_NE(ids->id[i], me);
    for (int k = i + 1; k < NIDS; k++)
      ASSERT_U64_NE(ids->id[i], ids->id[k]);
  }
}

START_TEST(test_self_and_ids)
{
  static ids_t ids;
  memset(&ids, 0, sizeof ids);
  ASSERT_NULL(gort_self());
  gt_run_in(2, ids_body, &ids);
  ASSERT_NULL(gort_self());
}
END_TEST

/* A handle outlives its goroutine's stack: the stack goes back to the pool
 * as the goroutine ends, not when the handle is released, so a million
 * handles kept for late joins do not hold a million stacks. At one P the
 * P's stack cache hands the slot just freed to the next spawn, which shows
 * it as the same stack address. */
typedef struct {
  uintptr_t where; /* an address in the goroutine's stack */
  uint64_t id;
} reuse_mark_t;
typedef struct {
  reuse_mark_t m[2];
} reuse_t;
static void reuse_mark(void *arg)
{
  reuse_mark_t *m = arg;
  volatile char mark = 0;
  m->where = (uintptr_t)&mark;
  m->id = gort_g_id(gort_self());
}
static void stack_reuse_body(void *arg)
{
  reuse_t *r = arg;
  gort_g *a = NULL, *b = NULL;
  ASSERT_EQ(gort_spawn(NULL, reuse_mark, &r->m[0], 0, &a), 0);
  ASSERT_EQ(gort_join(a, gt_long_deadline()), 0);
  ASSERT_EQ(gort_spawn(NULL, reuse_mark, &r->m[1], 0, &b), 0);
  ASSERT_EQ(gort_join(b, gt_long_deadline()), 0);
  ASSERT_U64_EQ((uint64_t)r->m[1].where, (uint64_t)r->m[0].where);
  /* a's handle still answers for a, not for b */
  ASSERT_U64_NE(r->m[0].id, r->m[1].id);
  ASSERT_U64_EQ(gort_g_id(a), r->m[0].id);
  ASSERT_U64_EQ(gort_g_id(b), r->m[1].id);
  ASSERT_EQ(gort_join(a, 0), 0);
  ASSERT_EQ(gort_g_cancelled(a), 0);
  ASSERT_EQ(gort_cancel(a), 0); /* b, on a's old stack, is not touched */
  ASSERT_EQ(gort_g_cancelled(a), 1);
  ASSERT_EQ(gort_g_cancelled(b), 0);
  gort_g_release(a);
  gort_g_release(b);
}

START_TEST(test_handle_outlives_stack)
{
  static reuse_t r;
  memset(&r, 0, sizeof r);
  gt_run_in(1, stack_reuse_body, &r);
}
END_TEST

/* Handles stay valid after their scheduler is shut down and freed. */
#define NLATE 256
static uint64_t late_ids[NLATE];
static void late_fn(void *arg)
{
  late_ids[(intptr_t)arg] = gort_g_id(gort_self());
}

START_TEST(test_handles_after_shutdown)
{
  gort_sched *s = NULL;
  gort_g *h[NLATE];
  memset(late_ids, 0, sizeof late_ids);
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  for (intptr_t i = 0; i < NLATE; i++)
    ASSERT_EQ(gort_spawn(s, late_fn, (void *)i, 0, &h[i]), 0);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
  for (int i = 0; i < NLATE; i++) {
    ASSERT_EQ(gort_join(h[i], 0), 0);
    ASSERT_U64_NE(late_ids[i], 0);
    ASSERT_U64_EQ(gort_g_id(h[i]), late_ids[i]);
    ASSERT_EQ(gort_cancel(h[i]), 0);
    ASSERT_EQ(gort_g_cancelled(h[i]), 1);
    gort_g_release(h[i]);
  }
}
END_TEST

/* Handle memory is pooled: a cache per M, batches between them, and a
 * loose list for handles freed by plain threads. Handles made and released
 * every way at once (by goroutines on two Ps, by a plain thread, before
 * and after their goroutines end, across a maxprocs change and a
 * shutdown) must each still name their own goroutine: two live handles
 * sharing memory would mix up the ids. */
#define HCHURN 1500
typedef struct {
  gort_sched *s;
  gort_g *h[2][HCHURN];
  _Atomic uint64_t ids[2][HCHURN];
} hchurn_t;
static void hchurn_rec(void *arg)
{
  atomic_store((_Atomic uint64_t *)arg, gort_g_id(gort_self()));
}
static void hchurn_spawn(hchurn_t *c, int k, int n)
{
  for (int i = 0; i < n; i++) {
    atomic_store(&c->ids[k][i], 0);
    ASSERT_EQ(gort_spawn(c->s, hchurn_rec, &c->ids[k][i], 0, &c->h[k][i]), 0);
  }
}
static void hchurn_release(hchurn_t *c, int k, int n)
{
  for (int i = 0; i < n; i++) {
    ASSERT_EQ(gort_join(c->h[k][i], gt_long_deadline()), 0);
    ASSERT_U64_NE(atomic_load(&c->ids[k][i]), 0);
    ASSERT_U64_EQ(gort_g_id(c->h[k][i]), atomic_load(&c->ids[k][i]));
    gort_g_release(c->h[k][i]);
  }
}
typedef struct {
  hchurn_t *c;
  int k, n, release;
} hchurn_arg;
static void hchurn_body(void *arg)
{
  hchurn_arg *a = arg;
  hchurn_spawn(a->c, a->k, a->n);
  if (a->release)
    hchurn_release(a->c, a->k, a->n);
}
typedef struct {
  gort_wg gate, done;
} hchurn_gate_t;
static void hchurn_gated(void *arg)
{
  hchurn_gate_t *t = arg;
  gort_wg_wait(&t->gate, GORT_NEVER);
  gort_wg_done(&t->done);
}
/* n handles released while their goroutines still wait: each end frees
 * its own handle */
static void hchurn_release_first(hchurn_t *c, int n)
{
  static hchurn_gate_t t;
  memset(&t, 0, sizeof t);
  ASSERT_EQ(gort_wg_add(&t.gate, 1), 0);
  ASSERT_EQ(gort_wg_add(&t.done, n), 0);
  for (int i = 0; i < n; i++) {
    gort_g *h;
    ASSERT_EQ(gort_spawn(c->s, hchurn_gated, &t, 0, &h), 0);
    gort_g_release(h);
  }
  ASSERT_EQ(gort_wg_done(&t.gate), 0);
  ASSERT_EQ(gort_wg_wait(&t.done, gt_long_deadline()), 0);
}
static void hchurn_release_body(void *arg)
{
  hchurn_arg *a = arg;
  hchurn_release(a->c, a->k, a->n);
}
/* k = 0 and 1 on two goroutines; each releases its own if release */
static void hchurn_goroutines(hchurn_t *c, int n, int release)
{
  hchurn_arg a[2] = {{c, 0, n, release}, {c, 1, n, release}};
  gort_g *g[2];
  for (int k = 0; k < 2; k++)
    ASSERT_EQ(gort_spawn(c->s, hchurn_body, &a[k], 0, &g[k]), 0);
  for (int k = 0; k < 2; k++) {
    ASSERT_EQ(gort_join(g[k], gt_long_deadline()), 0);
    gort_g_release(g[k]);
  }
}

START_TEST(test_handle_pool_churn)
{
  static hchurn_t c;
  /* at least 300 even in the slow runs: enough to fill an M's cache
   * (64) several times, so that TSan sees batches move through the pool */
  int n = (int)gt_scaled(HCHURN, 300);
  if (n > HCHURN)
    n = HCHURN;
  memset(&c, 0, sizeof c);
  ASSERT_EQ(gort_sched_new(&c.s, 2), 0);
  for (int round = 0; round < 3; round++) {
    /* made and released by goroutines on two Ps */
    hchurn_goroutines(&c, n, 1);
    /* made by goroutines, released by this thread, which is not an M */
    hchurn_goroutines(&c, n, 0);
    hchurn_release(&c, 0, n);
    hchurn_release(&c, 1, n);
    /* made by this thread, released by a goroutine */
    hchurn_spawn(&c, 0, n);
    {
      hchurn_arg a = {&c, 0, n, 1};
      gort_g *g;
      ASSERT_EQ(gort_spawn(c.s, hchurn_release_body, &a, 0, &g), 0);
      ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
      gort_g_release(g);
    }
    /* released before their goroutines end, which free them */
    hchurn_release_first(&c, n);
    /* a P retired, then back */
    ASSERT_EQ(gort_sched_maxprocs(c.s, 1), 2);
    hchurn_goroutines(&c, n, 1);
    ASSERT_EQ(gort_sched_maxprocs(c.s, 2), 1);
  }
  /* shut down with handles live and cached; they outlive it, and the next
   * scheduler makes its handles from the same pool */
  hchurn_goroutines(&c, n, 0);
  ASSERT_EQ(gort_sched_shutdown(c.s, gt_long_deadline()), 0);
  hchurn_release(&c, 0, n);
  hchurn_release(&c, 1, n);
  ASSERT_EQ(gort_sched_new(&c.s, 2), 0);
  hchurn_goroutines(&c, n, 1);
  ASSERT_EQ(gort_sched_shutdown(c.s, gt_long_deadline()), 0);
}
END_TEST

/* gort_cancel racing the goroutine's end, from another P: the canceller
 * must never reach into a stack already given back (ASan and TSan runs
 * watch this one). */
static void end_soon(void *arg)
{
  if (arg)
    gort_yield();
}
static void cancel_race_body(void *arg)
{
  (void)arg;
  int n = (int)SCALED(20000);
  for (int i = 0; i < n; i++) {
    gort_g *g = NULL;
    ASSERT_EQ(gort_spawn(NULL, end_soon, (void *)(intptr_t)(i & 1), 0, &g),
              0);
    if (i & 2)
      gort_yield();
    ASSERT_EQ(gort_cancel(g), 0);
    ASSERT_EQ(gort_g_cancelled(g), 1);
    ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
    ASSERT_EQ(gort_g_cancelled(g), 1);
    gort_g_release(g);
  }
}

START_TEST(test_cancel_races_end)
{
  gt_run_in(2, cancel_race_body, NULL);
}
END_TEST

/* gort_g_cancelled reaches into a running goroutine (it pins the handle,
 * and the end waits for the pin): a thread asks over and over while
 * goroutines end on their own, so ends often find it inside. */
typedef struct {
  gort_g *_Atomic cur;
  _Atomic int stop;
  _Atomic long asked;
  _Atomic int bad;
} pin_race_t;
static void *pin_asker(void *arg)
{
  pin_race_t *t = arg;
  while (!atomic_load(&t->stop)) {
    gort_g *h = atomic_load(&t->cur);
    if (h && gort_g_cancelled(h) != 0)
      atomic_store(&t->bad, 1);
    atomic_fetch_add(&t->asked, 1);
  }
  return NULL;
}
static void spin_a_little(void *arg)
{
  for (volatile int i = 0; i < (int)(intptr_t)arg; i++)
    ;
}

START_TEST(test_cancel_query_races_end)
{
  static pin_race_t t;
  gort_sched *s = NULL;
  pthread_t th;
  int n = (int)SCALED(20000);
  memset(&t, 0, sizeof t);
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  ASSERT_EQ(pthread_create(&th, NULL, pin_asker, &t), 0);
  for (int i = 0; i < n; i++) {
    gort_g *h = NULL;
    ASSERT_EQ(gort_spawn(s, spin_a_little, (void *)(intptr_t)(i % 64), 0, &h),
              0);
    atomic_store(&t.cur, h);
    ASSERT_EQ(gort_join(h, gt_long_deadline()), 0);
    /* the asker may still hold h: swap it out, then let it finish a turn */
    atomic_store(&t.cur, NULL);
    long seen = atomic_load(&t.asked);
    while (atomic_load(&t.asked) < seen + 2)
      sched_yield();
    ASSERT_EQ(gort_g_cancelled(h), 0);
    gort_g_release(h);
  }
  atomic_store(&t.stop, 1);
  ASSERT_EQ(pthread_join(th, NULL), 0);
  ASSERT_EQ(atomic_load(&t.bad), 0);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* gort_self in a goroutine started without a handle: a borrowed handle,
 * the same on every call, that gort_g_release leaves alone. In a goroutine
 * started with one, gort_self is that handle. */
typedef struct {
  gort_wg done;
  gort_g *spawned;
  gort_g *seen;
  int bad;
} selfh_t;
static void selfh_detached(void *arg)
{
  selfh_t *t = arg;
  gort_g *h = gort_self();
  if (!h || gort_self() != h || gort_g_id(h) == 0 || gort_g_cancelled(h) != 0)
    t->bad |= 1;
  gort_g_release(h); /* borrowed: a no-op */
  if (gort_self() != h || gort_g_id(h) == 0)
    t->bad |= 2;
  if (gort_join(h, 0) != GORT_EDEADLK)
    t->bad |= 4;
  gort_wg_done(&t->done);
}
static void selfh_handled(void *arg)
{
  selfh_t *t = arg;
  t->seen = gort_self();
}
static void self_handle_body(void *arg)
{
  selfh_t *t = arg;
  ASSERT_EQ(gort_wg_add(&t->done, 1), 0);
  ASSERT_EQ(gort_go(selfh_detached, t), 0);
  ASSERT_EQ(gort_wg_wait(&t->done, gt_long_deadline()), 0);
  ASSERT_EQ(t->bad, 0);
  ASSERT_EQ(gort_spawn(NULL, selfh_handled, t, 0, &t->spawned), 0);
  ASSERT_EQ(gort_join(t->spawned, gt_long_deadline()), 0);
  ASSERT_PTR_EQ(t->seen, t->spawned);
  gort_g_release(t->spawned);
}

START_TEST(test_self_handle)
{
  static selfh_t t;
  memset(&t, 0, sizeof t);
  gt_run_in(2, self_handle_body, &t);
}
END_TEST

/* Ids are unique across schedulers too. */
static void id_record(void *arg)
{
  *(uint64_t *)arg = gort_g_id(gort_self());
}

START_TEST(test_ids_unique_across_scheds)
{
  gort_sched *s1 = NULL, *s2 = NULL;
  ASSERT_EQ(gort_sched_new(&s1, 1), 0);
  ASSERT_EQ(gort_sched_new(&s2, 1), 0);
  uint64_t id[20] = {0};
  for (int i = 0; i < 20; i++) {
    gort_g *g = NULL;
    ASSERT_EQ(gort_spawn(i % 2 ? s1 : s2, id_record, &id[i], 0, &g), 0);
    ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
    gort_g_release(g);
  }
  for (int i = 0; i < 20; i++) {
    ASSERT_U64_NE(id[i], 0);
    for (int k = i + 1; k < 20; k++)
      ASSERT_U64_NE(id[i], id[k]);
  }
  ASSERT_EQ(gort_sched_shutdown(s1, gt_long_deadline()), 0);
  ASSERT_EQ(gort_sched_shutdown(s2, gt_long_deadline()), 0);
}
END_TEST

/* ---- yield --------------------------------------------------------------- */

typedef struct {
  _Atomic int b_done;
  _Atomic int64_t spins;
  _Atomic int64_t bad_rc;
} yield_t;

static void yield_spinner(void *arg)
{
  yield_t *y = arg;
  while (!atomic_load(&y->b_done)) {
    int rc = gort_yield();
    if (rc != 0)
      atomic_fetch_add(&y->bad_rc, 1);
    atomic_fetch_add(&y->spins, 1);
  }
}
static void yield_setter(void *arg)
{
  atomic_store(&((yield_t *)arg)->b_done, 1);
}

/* With one P, a goroutine that only yields lets the other one run. */
static void yield_body(void *arg)
{
  yield_t *y = arg;
  gort_g *a = NULL, *b = NULL;
  ASSERT_EQ(gort_spawn(NULL, yield_spinner, y, 0, &a), 0);
  ASSERT_EQ(gort_spawn(NULL, yield_setter, y, 0, &b), 0);
  ASSERT_EQ(gort_join(a, gt_long_deadline()), 0);
  ASSERT_EQ(gort_join(b, gt_long_deadline()), 0);
  gort_g_release(a);
  gort_g_release(b);
  ASSERT_EQ(gort_yield(), 0);
}

START_TEST(test_yield_lets_others_run)
{
  static yield_t y;
  memset(&y, 0, sizeof y);
  gt_run_in(1, yield_body, &y);
  ASSERT_EQ(atomic_load(&y.b_done), 1);
  ASSERT_EQ(atomic_load(&y.bad_rc), 0);
}
END_TEST

/* ---- sleep --------------------------------------------------------------- */

static void sleep_body(void *arg)
{
  (void)arg;
  static const int64_t asks[] = {0,        1,         1000,     GT_US(100),
                                 GT_MS(1), GT_MS(10), GT_MS(25)};
  for (size_t i = 0; i < sizeof asks / sizeof asks[0]; i++) {
    int64_t t0 = gort_now();
    ASSERT_EQ(gort_sleep(asks[i]), 0);
    int64_t el = gort_now() - t0;
    ASSERT_GE(el, asks[i]);
    ASSERT_LE(el, GT_SEC(5) * gt_timeout_mult());
  }
  int64_t d = gort_now() + GT_MS(15);
  ASSERT_EQ(gort_sleep_until(d), 0);
  ASSERT_GE(gort_now(), d);
  /* A deadline already past: back at once, with 0 or ETIMEDOUT. */
  int64_t t0 = gort_now();
  ASSERT_ONE_OF(gort_sleep_until(GT_PAST), 0, GORT_ETIMEDOUT);
  ASSERT_ONE_OF(gort_sleep_until(gort_now() - GT_MS(1)), 0, GORT_ETIMEDOUT);
  ASSERT_LE(gort_now() - t0, GT_SEC(5) * gt_timeout_mult());
}

START_TEST(test_sleep_goroutine)
{
  gt_run_in(2, sleep_body, NULL);
}
END_TEST

START_TEST(test_sleep_thread)
{
  ASSERT_NULL(gort_self());
  sleep_body(NULL);
}
END_TEST

typedef struct {
  int64_t ask;
  int rc;
  int64_t slept;
} sleeper_t;

static void sleeper_fn(void *arg)
{
  sleeper_t *s = arg;
  int64_t t0 = gort_now();
  s->rc = gort_sleep(s->ask);
  s->slept = gort_now() - t0;
}

/* Many goroutines sleeping at once, each at least as long as asked. */
static void many_sleepers_body(void *arg)
{
  (void)arg;
  enum { N = 100 };
  sleeper_t sl[N];
  void *args[N];
  for (int i = 0; i < N; i++) {
    sl[i].ask = GT_US(200) * (i % 25);
    sl[i].rc = 1;
    args[i] = &sl[i];
  }
  gt_spawn_join_n(NULL, N, sleeper_fn, NULL, args);
  for (int i = 0; i < N; i++) {
    ASSERT_EQ(sl[i].rc, 0);
    ASSERT_GE(sl[i].slept, sl[i].ask);
  }
}

START_TEST(test_many_sleepers)
{
  gt_run_in(2, many_sleepers_body, NULL);
}
END_TEST

typedef struct {
  _Atomic int64_t seq;
  int64_t order[4];
} order_t;
typedef struct {
  order_t *o;
  int i;
  int64_t ask;
} order_arg;

static void order_fn(void *arg)
{
  order_arg *a = arg;
  ASSERT_EQ(gort_sleep(a->ask), 0);
  a->o->order[a->i] = atomic_fetch_add(&a->o->seq, 1);
}

/* Sleepers wake in deadline order when the deadlines are far apart. */
static void sleep_order_body(void *arg)
{
  order_t *o = arg;
  order_arg a[4];
  void *args[4];
  int64_t gap = GT_MS(150) * gt_timeout_mult();
  for (int i = 0; i < 4; i++) {
    a[i].o = o;
    a[i].i = i;
    a[i].ask = gap * (3 - i); /* spawned longest first */
    args[i] = &a[i];
  }
  gt_spawn_join_n(NULL, 4, order_fn, NULL, args);
  for (int i = 0; i < 4; i++)
    ASSERT_EQ(o->order[i], 3 - i);
}

START_TEST(test_sleep_order)
{
  static order_t o;
  memset(&o, 0, sizeof o);
  gt_run_in(2, sleep_order_body, &o);
}
END_TEST

/* ---- extreme durations --------------------------------------------------- */

typedef struct {
  gort_mutex m;
  gort_wg started;
  int rc[4];
} huge_t;

static void huge_sleep(void *arg)
{
  huge_t *h = arg;
  gort_wg_done(&h->started);
  h->rc[0] = gort_sleep(INT64_MAX);
}
static void huge_sleep_until(void *arg)
{
  huge_t *h = arg;
  gort_wg_done(&h->started);
  h->rc[1] = gort_sleep_until(INT64_MAX);
}
static void huge_lock(void *arg)
{
  huge_t *h = arg;
  gort_wg_done(&h->started);
  h->rc[2] = gort_mutex_lock(&h->m, INT64_MAX);
  if (h->rc[2] == 0)
    gort_mutex_unlock(&h->m);
}

/* INT64_MAX as a duration or a deadline means "a very long time": the
 * arithmetic must not wrap into the past. The sleepers are still asleep
 * 50 ms later and end by cancellation; the locker gets the lock. */
static void huge_body(void *arg)
{
  huge_t *h = arg;
  gort_g *g[3];
  ASSERT_EQ(gort_wg_add(&h->started, 3), 0);
  ASSERT_EQ(gort_mutex_lock(&h->m, GORT_NEVER), 0);
  ASSERT_EQ(gort_spawn(NULL, huge_sleep, h, 0, &g[0]), 0);
  ASSERT_EQ(gort_spawn(NULL, huge_sleep_until, h, 0, &g[1]), 0);
  ASSERT_EQ(gort_spawn(NULL, huge_lock, h, 0, &g[2]), 0);
  ASSERT_EQ(gort_wg_wait(&h->started, gt_long_deadline()), 0);
  ASSERT_EQ(gort_sleep(GT_MS(50)), 0);
  static const char *const what[3] = {"gort_sleep(INT64_MAX)",
                                      "gort_sleep_until(INT64_MAX)",
                                      "gort_mutex_lock(held, INT64_MAX)"};
  for (int i = 0; i < 3; i++) {
    int rc = gort_join(g[i], 0);
    if (rc != GORT_EAGAIN)
      fprintf(stderr, "%s returned at once: %d (%s)\n", what[i], h->rc[i],
              gort_err_name(h->rc[i]));
    ASSERT_EQ(rc, GORT_EAGAIN);
  }
  ASSERT_EQ(gort_mutex_unlock(&h->m), 0);
  ASSERT_EQ(gort_join(g[2], gt_long_deadline()), 0);
  ASSERT_EQ(h->rc[2], 0);
  for (int i = 0; i < 2; i++) {
    ASSERT_EQ(gort_cancel(g[i]), 0);
    ASSERT_EQ(gort_join(g[i], gt_long_deadline()), 0);
    ASSERT_EQ(h->rc[i], GORT_ECANCELED);
  }
  for (int i = 0; i < 3; i++)
    gort_g_release(g[i]);
  /* A negative duration does not hang. */
  int64_t t0 = gort_now();
  ASSERT_ONE_OF(gort_sleep(-GT_MS(5)), 0, GORT_EINVAL);
  ASSERT_LE(gort_now() - t0, GT_SEC(5) * gt_timeout_mult());
}

START_TEST(test_huge_durations)
{
  static huge_t h;
  memset(&h, 0, sizeof h);
  gt_run_in(2, huge_body, &h);
}
END_TEST

/* ---- cancellation -------------------------------------------------------- */

enum {
  K_SLEEP,
  K_SLEEP_UNTIL,
  K_JOIN,
  K_MUTEX,
  K_WG,
  K_SEMA,
  K_RW_LOCK,
  K_RW_RLOCK,
  K_BARGE,
  K_NKINDS
};
static const char *const kind_names[K_NKINDS] = {
    "sleep", "sleep_until", "join",     "mutex",    "wg",
    "sema",  "rw_lock",     "rw_rlock", "bargelock"};

typedef struct {
  int kind;
  gort_wg started;
  gort_wg gate;      /* never done while the victim runs */
  gort_mutex m;      /* held by the test */
  gort_sema *sem;    /* count 0 */
  gort_rwmutex rw;   /* write-held by the test */
  gort_bargelock bl; /* held by the test */
  gort_g *other;     /* blocked on gate */
  int rc_first;
  int rc_after[K_NKINDS];
  int rc_yield;
  int cancelled;
} cancel_t;

static int block_on(cancel_t *c, int kind)
{
  switch (kind) {
  case K_SLEEP:
    return gort_sleep(GT_SEC(3600));
  case K_SLEEP_UNTIL:
    return gort_sleep_until(gort_now() + GT_SEC(3600));
  case K_JOIN:
    return gort_join(c->other, GORT_NEVER);
  case K_MUTEX:
    return gort_mutex_lock(&c->m, GORT_NEVER);
  case K_WG:
    return gort_wg_wait(&c->gate, GORT_NEVER);
  case K_SEMA:
    return gort_sema_acquire(c->sem, GORT_NEVER);
  case K_RW_LOCK:
    return gort_rwmutex_lock(&c->rw, GORT_NEVER);
  case K_RW_RLOCK:
    return gort_rwmutex_rlock(&c->rw, GORT_NEVER);
  case K_BARGE:
    return gort_bargelock_lock(&c->bl, GORT_NEVER);
  }
  return 1;
}

static void victim_fn(void *arg)
{
  cancel_t *c = arg;
  gort_wg_done(&c->started);
  c->rc_first = block_on(c, c->kind);
  /* Sticky: every later blocking call fails the same way, at once. */
  for (int k = 0; k < K_NKINDS; k++)
    c->rc_after[k] = block_on(c, k);
  c->rc_yield = gort_yield();
  c->cancelled = gort_g_cancelled(gort_self());
}

static void cancel_setup(cancel_t *c)
{
  ASSERT_EQ(gort_wg_add(&c->started, 1), 0);
  ASSERT_EQ(gort_wg_add(&c->gate, 1), 0);
  ASSERT_EQ(gort_mutex_lock(&c->m, GORT_NEVER), 0);
  ASSERT_EQ(gort_sema_new(&c->sem, 0), 0);
  ASSERT_EQ(gort_rwmutex_lock(&c->rw, GORT_NEVER), 0);
  ASSERT_EQ(gort_bargelock_lock(&c->bl, GORT_NEVER), 0);
  ASSERT_EQ(gort_spawn(NULL, gate_wait, &c->gate, 0, &c->other), 0);
}

/* Releases everything and checks the cancelled waits left every primitive
 * consistent (no phantom waiter, no pending writer). */
static void cancel_teardown(cancel_t *c)
{
  ASSERT_EQ(gort_mutex_unlock(&c->m), 0);
  ASSERT_EQ(gort_mutex_trylock(&c->m), 0);
  ASSERT_EQ(gort_mutex_unlock(&c->m), 0);
  ASSERT_EQ(gort_rwmutex_unlock(&c->rw), 0);
  ASSERT_EQ(gort_rwmutex_tryrlock(&c->rw), 0);
  ASSERT_EQ(gort_rwmutex_runlock(&c->rw), 0);
  ASSERT_EQ(gort_rwmutex_trylock(&c->rw), 0);
  ASSERT_EQ(gort_rwmutex_unlock(&c->rw), 0);
  ASSERT_EQ(gort_bargelock_unlock(&c->bl), 0);
  ASSERT_EQ(gort_bargelock_trylock(&c->bl), 0);
  ASSERT_EQ(gort_bargelock_unlock(&c->bl), 0);
  /* A cancelled acquire took no unit. */
  ASSERT_EQ(gort_sema_value(c->sem), 0);
  ASSERT_EQ(gort_sema_release(c->sem), 0);
  ASSERT_EQ(gort_sema_acquire(c->sem, 0), 0);
  gort_sema_free(c->sem);
  ASSERT_EQ(gort_wg_done(&c->gate), 0);
  ASSERT_EQ(gort_join(c->other, gt_long_deadline()), 0);
  gort_g_release(c->other);
}

static void cancel_body(void *arg)
{
  cancel_t *c = arg;
  cancel_setup(c);
  gort_g *v = NULL;
  ASSERT_EQ(gort_spawn(NULL, victim_fn, c, 0, &v), 0);
  ASSERT_EQ(gort_wg_wait(&c->started, gt_long_deadline()), 0);
  /* A window so the victim is most likely parked; if not, its first call
   * sees the cancellation at entry, which must give the same result. */
  ASSERT_EQ(gort_sleep(GT_MS(10)), 0);
  ASSERT_EQ(gort_cancel(v), 0);
  ASSERT_EQ(gort_join(v, gt_long_deadline()), 0);
  gort_g_release(v);
  if (c->rc_first != GORT_ECANCELED)
    fprintf(stderr, "cancel while blocked in %s\n", kind_names[c->kind]);
  ASSERT_EQ(c->rc_first, GORT_ECANCELED);
  for (int k = 0; k < K_NKINDS; k++) {
    if (c->rc_after[k] != GORT_ECANCELED)
      fprintf(stderr, "after cancel (%s): %s\n", kind_names[c->kind],
              kind_names[k]);
    ASSERT_EQ(c->rc_after[k], GORT_ECANCELED);
  }
  ASSERT_EQ(c->rc_yield, GORT_ECANCELED);
  ASSERT_EQ(c->cancelled, 1);
  cancel_teardown(c);
}

START_TEST(test_cancel_wakes_blocked)
{
  static cancel_t c;
  memset(&c, 0, sizeof c);
  c.kind = _i;
  gt_run_in(2, cancel_body, &c);
}
END_TEST

/* The same, with the test on a plain thread cancelling. */
START_TEST(test_cancel_from_thread)
{
  static cancel_t c;
  memset(&c, 0, sizeof c);
  c.kind = K_WG;
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  ASSERT_EQ(gort_wg_add(&c.started, 1), 0);
  ASSERT_EQ(gort_wg_add(&c.gate, 1), 0);
  ASSERT_EQ(gort_mutex_lock(&c.m, GORT_NEVER), 0);
  ASSERT_EQ(gort_sema_new(&c.sem, 0), 0);
  ASSERT_EQ(gort_rwmutex_lock(&c.rw, GORT_NEVER), 0);
  ASSERT_EQ(gort_bargelock_lock(&c.bl, GORT_NEVER), 0);
  ASSERT_EQ(gort_spawn(s, gate_wait, &c.gate, 0, &c.other), 0);
  gort_g *v = NULL;
  ASSERT_EQ(gort_spawn(s, victim_fn, &c, 0, &v), 0);
  ASSERT_EQ(gort_wg_wait(&c.started, gt_long_deadline()), 0);
  ASSERT_EQ(gort_cancel(v), 0);
  ASSERT_EQ(gort_join(v, gt_long_deadline()), 0);
  gort_g_release(v);
  ASSERT_EQ(c.rc_first, GORT_ECANCELED);
  for (int k = 0; k < K_NKINDS; k++)
    ASSERT_EQ(c.rc_after[k], GORT_ECANCELED);
  ASSERT_EQ(c.cancelled, 1);
  cancel_teardown(&c);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* A goroutine cancelling itself: blocking calls fail, but what cleanup
 * needs (unlock, done, trylock) still works. */
static void self_cancel_body(void *arg)
{
  (void)arg;
  gort_mutex m = GORT_MUTEX_INIT, held = GORT_MUTEX_INIT;
  gort_wg wg = GORT_WG_INIT;
  ASSERT_EQ(gort_wg_add(&wg, 1), 0);
  ASSERT_EQ(gort_mutex_lock(&m, GORT_NEVER), 0);
  ASSERT_EQ(gort_g_cancelled(gort_self()), 0);
  ASSERT_EQ(gort_cancel(gort_self()), 0);
  ASSERT_EQ(gort_g_cancelled(gort_self()), 1);
  ASSERT_EQ(gort_sleep(GT_MS(1)), GORT_ECANCELED);
  ASSERT_EQ(gort_sleep(GT_SEC(3600)), GORT_ECANCELED);
  ASSERT_EQ(gort_yield(), GORT_ECANCELED);
  ASSERT_EQ(gort_mutex_lock(&m, GORT_NEVER), GORT_ECANCELED);
  ASSERT_EQ(gort_wg_wait(&wg, GORT_NEVER), GORT_ECANCELED);
  /* Non-blocking operations and releases still work. */
  ASSERT_EQ(gort_mutex_unlock(&m), 0);
  ASSERT_EQ(gort_mutex_trylock(&held), 0);
  ASSERT_EQ(gort_mutex_unlock(&held), 0);
  ASSERT_EQ(gort_wg_done(&wg), 0);
  ASSERT_EQ(gort_g_cancelled(gort_self()), 1);
  /* Cancelling again is harmless. */
  ASSERT_EQ(gort_cancel(gort_self()), 0);
}

START_TEST(test_self_cancel)
{
  gt_run_in(1, self_cancel_body, NULL);
}
END_TEST

typedef struct {
  _Atomic int ran;
  int rc;
  int cancelled;
} early_t;

static void early_fn(void *arg)
{
  early_t *e = arg;
  atomic_store(&e->ran, 1);
  e->cancelled = gort_g_cancelled(gort_self());
  e->rc = gort_sleep(GT_MS(1));
}

/* Cancelled before it ever ran (one P, the spawner does not yield): it still
 * runs, and its first blocking call fails. */
static void cancel_before_start_body(void *arg)
{
  early_t *e = arg;
  gort_g *g = NULL;
  ASSERT_EQ(gort_spawn(NULL, early_fn, e, 0, &g), 0);
  ASSERT_EQ(gort_cancel(g), 0);
  ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
  ASSERT_EQ(atomic_load(&e->ran), 1);
  ASSERT_EQ(e->cancelled, 1);
  ASSERT_EQ(e->rc, GORT_ECANCELED);
  /* Cancelling a finished goroutine is harmless; joining it still gives 0. */
  gort_cancel(g);
  ASSERT_EQ(gort_join(g, 0), 0);
  gort_g_release(g);
}

START_TEST(test_cancel_before_start)
{
  static early_t e;
  memset(&e, 0, sizeof e);
  gt_run_in(1, cancel_before_start_body, &e);
}
END_TEST

/* Cancelling one goroutine does not disturb another blocked on the same
 * thing. */
typedef struct {
  gort_wg gate, started;
  int rc[2];
} two_t;
static void two_a(void *arg)
{
  two_t *t = arg;
  gort_wg_done(&t->started);
  t->rc[0] = gort_wg_wait(&t->gate, GORT_NEVER);
}
static void two_b(void *arg)
{
  two_t *t = arg;
  gort_wg_done(&t->started);
  t->rc[1] = gort_wg_wait(&t->gate, GORT_NEVER);
}

static void cancel_one_of_two_body(void *arg)
{
  two_t *t = arg;
  ASSERT_EQ(gort_wg_add(&t->gate, 1), 0);
  ASSERT_EQ(gort_wg_add(&t->started, 2), 0);
  gort_g *a = NULL, *b = NULL;
  ASSERT_EQ(gort_spawn(NULL, two_a, t, 0, &a), 0);
  ASSERT_EQ(gort_spawn(NULL, two_b, t, 0, &b), 0);
  ASSERT_EQ(gort_wg_wait(&t->started, gt_long_deadline()), 0);
  ASSERT_EQ(gort_sleep(GT_MS(5)), 0); /* window: both most likely parked */
  ASSERT_EQ(gort_cancel(a), 0);
  ASSERT_EQ(gort_join(a, gt_long_deadline()), 0);
  ASSERT_EQ(t->rc[0], GORT_ECANCELED);
  ASSERT_EQ(gort_join(b, 0), GORT_EAGAIN); /* b still waits */
  ASSERT_EQ(gort_wg_done(&t->gate), 0);
  ASSERT_EQ(gort_join(b, gt_long_deadline()), 0);
  ASSERT_EQ(t->rc[1], 0);
  gort_g_release(a);
  gort_g_release(b);
}

START_TEST(test_cancel_one_of_two)
{
  static two_t t;
  memset(&t, 0, sizeof t);
  gt_run_in(2, cancel_one_of_two_body, &t);
}
END_TEST

/* ---- gort_main ----------------------------------------------------------- */

typedef struct {
  _Atomic int64_t flag;
  _Atomic int64_t children;
  int self_ok, sched_ok;
} main_t;
static main_t mainst;

static void main_child(void *arg)
{
  atomic_fetch_add(&((main_t *)arg)->children, 1);
}

static void main_ok_fn(void *arg)
{
  main_t *m = arg;
  m->self_ok = gort_self() != NULL;
  m->sched_ok = gort_sched_current() == gort_sched_default();
  gort_wg wg = GORT_WG_INIT;
  gort_g *g[10];
  for (int i = 0; i < 10; i++)
    gort_spawn(NULL, main_child, m, 0, &g[i]);
  for (int i = 0; i < 10; i++) {
    gort_join(g[i], GORT_NEVER);
    gort_g_release(g[i]);
  }
  gort_wg_wait(&wg, GORT_NEVER); /* at zero: returns */
  atomic_store(&m->flag, 1);
}

/* gort_main more than once in a process, one after the other. */
START_TEST(test_main_twice)
{
  int64_t c0 = atomic_load(&mainst.children);
  ASSERT_EQ(gort_main(main_ok_fn, &mainst), 0);
  ASSERT_EQ(atomic_load(&mainst.children), c0 + 10);
  ASSERT_EQ(gort_main(main_ok_fn, &mainst), 0);
  ASSERT_EQ(atomic_load(&mainst.children), c0 + 20);
}
END_TEST

START_TEST(test_main_returns_zero)
{
  int64_t c0 = atomic_load(&mainst.children);
  ASSERT_EQ(gort_main(main_ok_fn, &mainst), 0);
  ASSERT_EQ(atomic_load(&mainst.flag), 1);
  ASSERT_EQ(atomic_load(&mainst.children), c0 + 10);
  ASSERT_EQ(mainst.self_ok, 1);
  ASSERT_EQ(mainst.sched_ok, 1);
}
END_TEST

/* Not deadlocks: a pending timer, a timed wait, a gort_blocking call in
 * flight, a goroutine busy computing. */
static void main_sleeps(void *arg)
{
  (void)arg;
  gort_sleep(GT_MS(50));
  atomic_store(&mainst.flag, 1);
}

static void main_timed_wait(void *arg)
{
  (void)arg;
  gort_wg wg = GORT_WG_INIT;
  gort_wg_add(&wg, 1);
  if (gort_wg_wait(&wg, gort_now() + GT_MS(50)) == GORT_ETIMEDOUT)
    atomic_store(&mainst.flag, 1);
}

static void usleep_100ms(void *arg)
{
  (void)arg;
  usleep(100000);
}
static void blocking_then_done(void *arg)
{
  gort_blocking(usleep_100ms, NULL);
  gort_wg_done((gort_wg *)arg);
}
static void main_waits_for_blocking(void *arg)
{
  (void)arg;
  gort_wg wg = GORT_WG_INIT;
  gort_wg_add(&wg, 1);
  gort_go(blocking_then_done, &wg);
  if (gort_wg_wait(&wg, GORT_NEVER) == 0)
    atomic_store(&mainst.flag, 1);
}

static void busy_then_done(void *arg)
{
  int64_t end = gt_os_now() + GT_MS(100);
  volatile uint64_t x = 0;
  while (gt_os_now() < end)
    x++;
  gort_wg_done((gort_wg *)arg);
}
static void main_waits_for_busy(void *arg)
{
  (void)arg;
  gort_wg wg = GORT_WG_INIT;
  gort_wg_add(&wg, 1);
  gort_go(busy_then_done, &wg);
  if (gort_wg_wait(&wg, GORT_NEVER) == 0)
    atomic_store(&mainst.flag, 1);
}

static void sleep_then_done(void *arg)
{
  gort_sleep(GT_MS(50));
  gort_wg_done((gort_wg *)arg);
}
static void main_waits_for_sleeper(void *arg)
{
  (void)arg;
  gort_wg wg = GORT_WG_INIT;
  gort_wg_add(&wg, 1);
  gort_go(sleep_then_done, &wg);
  if (gort_wg_wait(&wg, GORT_NEVER) == 0)
    atomic_store(&mainst.flag, 1);
}

/* The sleeper lives on a lane of the default scheduler. */
static void main_waits_for_lane(void *arg)
{
  (void)arg;
  gort_wg wg = GORT_WG_INIT;
  gort_lane *l = NULL;
  gort_wg_add(&wg, 1);
  if (gort_lane_new(NULL, &l) != 0)
    return;
  gort_lane_spawn(l, sleep_then_done, &wg, 0, NULL);
  if (gort_wg_wait(&wg, GORT_NEVER) == 0 && gort_lane_close(l, GORT_NEVER) == 0)
    atomic_store(&mainst.flag, 1);
}

static void (*const main_not_deadlocked[])(void *) = {
    main_sleeps,         main_timed_wait,        main_waits_for_blocking,
    main_waits_for_busy, main_waits_for_sleeper, main_waits_for_lane};

START_TEST(test_main_not_deadlock)
{
  ASSERT_EQ(gort_main(main_not_deadlocked[_i], NULL), 0);
  ASSERT_EQ(atomic_load(&mainst.flag), 1);
}
END_TEST

/* Deadlocks: every goroutine blocked with nothing that could wake one. */
static void main_dl_wg(void *arg)
{
  (void)arg;
  gort_wg wg = GORT_WG_INIT;
  gort_wg_add(&wg, 1);
  gort_wg_wait(&wg, GORT_NEVER);
  atomic_store(&mainst.flag, 1);
}
static void main_dl_mutex(void *arg)
{
  (void)arg;
  static gort_mutex m = GORT_MUTEX_INIT;
  gort_mutex_lock(&m, GORT_NEVER);
  gort_mutex_lock(&m, GORT_NEVER);
  atomic_store(&mainst.flag, 1);
}
static void main_dl_join(void *arg)
{
  (void)arg;
  static gort_wg gate;
  gort_wg_add(&gate, 1);
  gort_g *g = NULL;
  gort_spawn(NULL, gate_wait, &gate, 0, &g);
  gort_join(g, GORT_NEVER);
  atomic_store(&mainst.flag, 1);
}
static void main_dl_sema(void *arg)
{
  (void)arg;
  gort_sema *s = NULL;
  gort_sema_new(&s, 0);
  gort_sema_acquire(s, GORT_NEVER);
  atomic_store(&mainst.flag, 1);
}
static void main_dl_cond(void *arg)
{
  (void)arg;
  static gort_mutex m = GORT_MUTEX_INIT;
  static gort_cond c = GORT_COND_INIT;
  gort_mutex_lock(&m, GORT_NEVER);
  gort_cond_wait(&c, &m, GORT_NEVER);
  atomic_store(&mainst.flag, 1);
}
/* Several goroutines, all stuck on each other. */
static gort_wg dl_gate;
static void dl_many_child(void *arg)
{
  (void)arg;
  gort_wg_wait(&dl_gate, GORT_NEVER);
}
static void main_dl_many(void *arg)
{
  (void)arg;
  gort_wg_add(&dl_gate, 1);
  for (int i = 0; i < 50; i++)
    gort_go(dl_many_child, NULL);
  gort_wg_wait(&dl_gate, GORT_NEVER);
  atomic_store(&mainst.flag, 1);
}
/* Deadlocked only after a timer has fired. */
static void main_dl_after_sleep(void *arg)
{
  (void)arg;
  gort_sleep(GT_MS(30));
  main_dl_wg(NULL);
}

/* The other goroutine, stuck too, is on a lane. */
static void main_dl_lane(void *arg)
{
  (void)arg;
  static gort_wg gate;
  gort_lane *l = NULL;
  gort_g *g = NULL;
  gort_wg_add(&gate, 1);
  if (gort_lane_new(NULL, &l) != 0 ||
      gort_lane_spawn(l, gate_wait, &gate, 0, &g) != 0)
    return;
  gort_join(g, GORT_NEVER);
  atomic_store(&mainst.flag, 1);
}

static void (*const main_deadlocked[])(void *) = {
    main_dl_wg,   main_dl_mutex, main_dl_join,        main_dl_sema,
    main_dl_cond, main_dl_many,  main_dl_after_sleep, main_dl_lane};
static const char *const main_deadlocked_names[] = {
    "wg_wait",       "mutex locked twice",
    "join",          "sema",
    "cond_wait",     "50 goroutines on a wg",
    "after a timer", "join of a lane goroutine"};

/* gort_main has no deadline: a watchdog thread fails the test if the
 * deadlock is not reported in time, rather than waiting for Check's
 * timeout. */
typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int done;
  int which;
} watchdog_t;

static void *watchdog_main(void *arg)
{
  watchdog_t *w = arg;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += 10 * gt_timeout_mult();
  pthread_mutex_lock(&w->lock);
  while (!w->done)
    if (pthread_cond_timedwait(&w->cond, &w->lock, &ts) != 0)
      break;
  int done = w->done;
  pthread_mutex_unlock(&w->lock);
  if (!done)
    gt_fail_(__FILE__, __LINE__,
             "deadlock (%s): gort_main did not return GORT_EDEADLK within 10 s",
             main_deadlocked_names[w->which]);
  return NULL;
}

START_TEST(test_main_deadlock)
{
  GT_REQUIRE_FORK();
  static watchdog_t w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0,
                         0};
  w.which = _i;
  pthread_t t = gt_thread(watchdog_main, &w);
  int rc = gort_main(main_deadlocked[_i], NULL);
  pthread_mutex_lock(&w.lock);
  w.done = 1;
  pthread_cond_signal(&w.cond);
  pthread_mutex_unlock(&w.lock);
  gt_thread_join(t);
  ASSERT_EQ(rc, GORT_EDEADLK);
  ASSERT_EQ(atomic_load(&mainst.flag), 0);
}
END_TEST

/* ---- several schedulers -------------------------------------------------- */

typedef struct {
  gort_sched *s;
  _Atomic int64_t count, wrong;
} ms_t;

static void ms_child(void *arg)
{
  ms_t *m = arg;
  if (gort_sched_current() != m->s)
    atomic_fetch_add(&m->wrong, 1);
  atomic_fetch_add(&m->count, 1);
}
static void ms_fn(void *arg)
{
  ms_t *m = arg;
  if (gort_sched_current() != m->s)
    atomic_fetch_add(&m->wrong, 1);
  gort_g *g = NULL;
  /* A child of a goroutine on s lands on s. */
  if (gort_spawn(NULL, ms_child, m, 0, &g) != 0 ||
      gort_join(g, gt_long_deadline()) != 0)
    atomic_fetch_add(&m->wrong, 1);
  gort_g_release(g);
  atomic_fetch_add(&m->count, 1);
}

START_TEST(test_several_scheds)
{
  enum { NS = 3, N = 100 };
  static ms_t m[NS];
  gort_g *g[NS][N];
  for (int i = 0; i < NS; i++)
    ASSERT_EQ(gort_sched_new(&m[i].s, i + 1), 0);
  for (int i = 0; i < NS; i++)
    ASSERT_PTR_NE(m[i].s, gort_sched_default());
  ASSERT_PTR_NE(m[0].s, m[1].s);
  for (int k = 0; k < N; k++)
    for (int i = 0; i < NS; i++)
      ASSERT_EQ(gort_spawn(m[i].s, ms_fn, &m[i], 0, &g[i][k]), 0);
  for (int i = 0; i < NS; i++)
    for (int k = 0; k < N; k++) {
      ASSERT_EQ(gort_join(g[i][k], gt_long_deadline()), 0);
      gort_g_release(g[i][k]);
    }
  for (int i = 0; i < NS; i++) {
    ASSERT_EQ(atomic_load(&m[i].count), 2 * N);
    ASSERT_EQ(atomic_load(&m[i].wrong), 0);
  }
  /* Shutting one down leaves the others working. */
  ASSERT_EQ(gort_sched_shutdown(m[0].s, gt_long_deadline()), 0);
  for (int i = 1; i < NS; i++) {
    gort_g *h = NULL;
    ASSERT_EQ(gort_spawn(m[i].s, ms_fn, &m[i], 0, &h), 0);
    ASSERT_EQ(gort_join(h, gt_long_deadline()), 0);
    gort_g_release(h);
    ASSERT_EQ(atomic_load(&m[i].count), 2 * N + 2);
    ASSERT_EQ(gort_sched_shutdown(m[i].s, gt_long_deadline()), 0);
  }
}
END_TEST

/* Synchronisation between goroutines of different schedulers. */
typedef struct {
  gort_mutex m;
  int64_t counter; /* protected by m */
  gort_wg ready;
  int rc_wait;
  gort_g *joinee;
  int rc_join;
} cross_t;

static void cross_inc(void *arg)
{
  cross_t *c = arg;
  for (int i = 0; i < 2000; i++) {
    gort_mutex_lock(&c->m, GORT_NEVER);
    c->counter++;
    gort_mutex_unlock(&c->m);
    if (i % 64 == 0)
      gort_yield();
  }
}
static void cross_waiter(void *arg)
{
  cross_t *c = arg;
  c->rc_wait = gort_wg_wait(&c->ready, gt_long_deadline());
  c->rc_join = gort_join(c->joinee, gt_long_deadline());
}
static void cross_signaller(void *arg)
{
  cross_t *c = arg;
  gort_sleep(GT_MS(10));
  gort_wg_done(&c->ready);
}

START_TEST(test_cross_sched_sync)
{
  gort_sched *a = NULL, *b = NULL;
  ASSERT_EQ(gort_sched_new(&a, 1), 0);
  ASSERT_EQ(gort_sched_new(&b, 2), 0);
  static cross_t c;
  memset(&c, 0, sizeof c);
  ASSERT_EQ(gort_wg_add(&c.ready, 1), 0);
  gort_g *g[8], *w = NULL, *sig = NULL;
  for (int i = 0; i < 8; i++)
    ASSERT_EQ(gort_spawn(i % 2 ? a : b, cross_inc, &c, 0, &g[i]), 0);
  ASSERT_EQ(gort_spawn(b, cross_signaller, &c, 0, &sig), 0);
  c.joinee = sig;
  ASSERT_EQ(gort_spawn(a, cross_waiter, &c, 0, &w), 0);
  for (int i = 0; i < 8; i++) {
    ASSERT_EQ(gort_join(g[i], gt_long_deadline()), 0);
    gort_g_release(g[i]);
  }
  ASSERT_EQ(gort_join(w, gt_long_deadline()), 0);
  ASSERT_EQ(c.counter, 8 * 2000);
  ASSERT_EQ(c.rc_wait, 0);
  ASSERT_EQ(c.rc_join, 0);
  gort_g_release(w);
  gort_g_release(sig);
  ASSERT_EQ(gort_sched_shutdown(a, gt_long_deadline()), 0);
  ASSERT_EQ(gort_sched_shutdown(b, gt_long_deadline()), 0);
}
END_TEST

/* ---- maxprocs ------------------------------------------------------------ */

START_TEST(test_maxprocs_query_set)
{
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  ASSERT_EQ(gort_sched_maxprocs(s, 0), 2);
  ASSERT_EQ(gort_sched_maxprocs(s, -1), 2);
  ASSERT_EQ(gort_sched_maxprocs(s, 4), 2);
  ASSERT_EQ(gort_sched_maxprocs(s, 0), 4);
  ASSERT_EQ(gort_sched_maxprocs(s, 1), 4);
  ASSERT_EQ(gort_sched_maxprocs(s, 0), 1);
  ASSERT_EQ(gort_sched_maxprocs(s, 1), 1);
  ASSERT_EQ(gort_sched_maxprocs(s, 0), 1);
  ASSERT_EQ(gort_sched_maxprocs(s, 64), 1); /* more Ps than CPUs is allowed */
  gt_spawn_join_n(s, 200, noop, NULL, NULL);
  ASSERT_EQ(gort_sched_maxprocs(s, 1), 64);
  /* Still schedules after the changes. */
  basic_t b = {0};
  gort_g *g = NULL;
  ASSERT_EQ(gort_spawn(s, basic_fn, &b, 0, &g), 0);
  ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
  gort_g_release(g);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

START_TEST(test_maxprocs_default_is_ncpu)
{
  long onln = sysconf(_SC_NPROCESSORS_ONLN);
  long conf = sysconf(_SC_NPROCESSORS_CONF);
  cpu_set_t set;
  long aff = -1;
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    aff = CPU_COUNT(&set);
  for (int ask = 0; ask >= -3; ask -= 3) {
    gort_sched *s = NULL;
    ASSERT_EQ(gort_sched_new(&s, ask), 0);
    long n = gort_sched_maxprocs(s, 0);
    ASSERT_GE(n, 1);
    ASSERT_LE(n, conf > onln ? conf : onln);
    if (n != onln && n != aff)
      gt_fail_(__FILE__, __LINE__,
               "maxprocs %ld: not online %ld nor affinity %ld", n, onln, aff);
    ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
  }
}
END_TEST

typedef struct {
  gort_mutex m;
  int64_t counter;
  gort_wg done;
  int iters;
} mpl_t;

static void mpl_worker(void *arg)
{
  mpl_t *w = arg;
  for (int i = 0; i < w->iters; i++) {
    gort_mutex_lock(&w->m, GORT_NEVER);
    w->counter++;
    gort_mutex_unlock(&w->m);
    if (i % 16 == 0)
      gort_yield();
  }
  gort_wg_done(&w->done);
}

/* Changing maxprocs while goroutines work: they all keep finishing. */
START_TEST(test_maxprocs_under_load)
{
  static mpl_t w;
  memset(&w, 0, sizeof w);
  const int n = 200;
  w.iters = (int)SCALED(2000);
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  ASSERT_EQ(gort_wg_add(&w.done, n), 0);
  for (int i = 0; i < n; i++)
    ASSERT_EQ(gort_spawn(s, mpl_worker, &w, 0, NULL), 0);
  int last = 2, k = 1, flips = 0;
  int64_t end = gt_long_deadline();
  int rc;
  while ((rc = gort_wg_wait(&w.done, gort_now() + GT_MS(1))) ==
         GORT_ETIMEDOUT) {
    ASSERT_LT(gort_now(), end);
    ASSERT_EQ(gort_sched_maxprocs(s, k), last);
    last = k;
    k = k % 4 + 1;
    flips++;
  }
  ASSERT_EQ(rc, 0);
  ASSERT_EQ(w.counter, (int64_t)n * w.iters);
  ASSERT_EQ(gort_sched_maxprocs(s, 0), last);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* ---- shutdown ------------------------------------------------------------ */

typedef struct {
  gort_wg started, gate;
  gort_mutex m; /* held by "holder", who waits on gate forever */
  gort_mutex cm;
  gort_cond c;
  gort_sema *sem;
  gort_g *forever; /* a goroutine to join */
  _Atomic int64_t cancelled, other, spun_out, unlock_bad;
} sd_t;

/* A wait that ended with 0 (the holder let go of the mutex while being
 * cancelled, the joined goroutine ended) is followed by one that only
 * cancellation can end. */
static void sd_count(sd_t *d, int rc)
{
  if (rc == 0)
    rc = gort_sleep(GT_SEC(3600));
  atomic_fetch_add(rc == GORT_ECANCELED ? &d->cancelled : &d->other, 1);
}

static void sd_wg(void *arg)
{
  sd_t *d = arg;
  gort_wg_done(&d->started);
  int rc = gort_wg_wait(&d->gate, GORT_NEVER);
  sd_count(d, rc);
}
static void sd_sleep(void *arg)
{
  sd_t *d = arg;
  gort_wg_done(&d->started);
  int rc = gort_sleep(GT_SEC(3600));
  sd_count(d, rc);
}
static void sd_yield(void *arg)
{
  sd_t *d = arg;
  gort_wg_done(&d->started);
  int rc;
  while ((rc = gort_yield()) == 0) {
  }
  sd_count(d, rc);
}
static void sd_holder(void *arg)
{
  sd_t *d = arg;
  gort_mutex_lock(&d->m, GORT_NEVER);
  gort_wg_done(&d->started);
  int rc = gort_wg_wait(&d->gate, GORT_NEVER);
  if (gort_mutex_unlock(&d->m) != 0)
    atomic_fetch_add(&d->unlock_bad, 1);
  sd_count(d, rc);
}
static void sd_mutex(void *arg)
{
  sd_t *d = arg;
  gort_wg_done(&d->started);
  int rc = gort_mutex_lock(&d->m, GORT_NEVER);
  if (rc == 0)
    gort_mutex_unlock(&d->m);
  sd_count(d, rc);
}
static void sd_cond(void *arg)
{
  sd_t *d = arg;
  gort_mutex_lock(&d->cm, GORT_NEVER);
  gort_wg_done(&d->started);
  int rc = gort_cond_wait(&d->c, &d->cm, GORT_NEVER);
  if (gort_mutex_unlock(&d->cm) != 0)
    atomic_fetch_add(&d->unlock_bad, 1);
  sd_count(d, rc);
}
static void sd_sema(void *arg)
{
  sd_t *d = arg;
  gort_wg_done(&d->started);
  int rc = gort_sema_acquire(d->sem, GORT_NEVER);
  sd_count(d, rc);
}
static void sd_join(void *arg)
{
  sd_t *d = arg;
  gort_wg_done(&d->started);
  int rc = gort_join(d->forever, GORT_NEVER);
  sd_count(d, rc);
}
/* Computes without scheduling points, polling its cancelled flag. */
static void sd_spin(void *arg)
{
  sd_t *d = arg;
  gort_wg_done(&d->started);
  int64_t end = gt_os_now() + GT_SEC(60);
  while (!gort_g_cancelled(gort_self()) && gt_os_now() < end) {
  }
  atomic_fetch_add(gort_g_cancelled(gort_self()) ? &d->cancelled : &d->spun_out,
                   1);
}

/* Shutting down a scheduler whose goroutines are all stuck: each sees
 * GORT_ECANCELED and shutdown returns 0 well within its deadline. */
START_TEST(test_shutdown_with_live_goroutines)
{
  static sd_t d;
  memset(&d, 0, sizeof d);
  static void (*const fns[])(void *) = {sd_wg,   sd_sleep, sd_yield, sd_mutex,
                                        sd_cond, sd_sema,  sd_join};
  const int nf = (int)(sizeof fns / sizeof fns[0]), per = 5;
  const int total = 3 + nf * per;
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  ASSERT_EQ(gort_sema_new(&d.sem, 0), 0);
  ASSERT_EQ(gort_wg_add(&d.gate, 1), 0);
  ASSERT_EQ(gort_wg_add(&d.started, total), 0);
  ASSERT_EQ(gort_spawn(s, sd_holder, &d, 0, NULL), 0);
  /* One CPU-bound goroutine: it keeps a P to itself. */
  ASSERT_EQ(gort_spawn(s, sd_spin, &d, 0, NULL), 0);
  ASSERT_EQ(gort_spawn(s, sd_wg, &d, 0, &d.forever), 0);
  for (int i = 0; i < per; i++)
    for (int f = 0; f < nf; f++)
      ASSERT_EQ(gort_spawn(s, fns[f], &d, 0, NULL), 0);
  ASSERT_EQ(gort_wg_wait(&d.started, gt_long_deadline()), 0);
  ASSERT_EQ(gort_sched_numgoroutine(s), total);
  int64_t t0 = gort_now();
  ASSERT_EQ(gort_sched_shutdown(s, t0 + GT_SEC(10) * gt_timeout_mult()), 0);
  ASSERT_EQ(atomic_load(&d.cancelled), total);
  ASSERT_EQ(atomic_load(&d.other), 0);
  ASSERT_EQ(atomic_load(&d.spun_out), 0);
  ASSERT_EQ(atomic_load(&d.unlock_bad), 0);
  gort_sema_free(d.sem);
}
END_TEST

/* The default scheduler can be shut down; the next use starts a new one. */
START_TEST(test_default_shutdown_restart)
{
  static detached_t d;
  memset(&d, 0, sizeof d);
  gort_sched *d1 = gort_sched_default();
  ASSERT_NOT_NULL(d1);
  gt_spawn_join_n(NULL, 10, noop, NULL, NULL);
  ASSERT_EQ(gort_sched_shutdown(d1, gt_long_deadline()), 0);
  d.want = gort_sched_default();
  ASSERT_NOT_NULL(d.want);
  ASSERT_EQ(gort_wg_add(&d.wg, 10), 0);
  for (int i = 0; i < 10; i++)
    ASSERT_EQ(gort_go(detached_fn, &d), 0);
  ASSERT_EQ(gort_wg_wait(&d.wg, gt_long_deadline()), 0);
  ASSERT_EQ(atomic_load(&d.count), 10);
  ASSERT_EQ(atomic_load(&d.wrong_sched), 0);
  ASSERT_EQ(gort_main(noop, NULL), 0);
}
END_TEST

START_TEST(test_shutdown_idle)
{
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
  ASSERT_EQ(gort_sched_new(&s, 1), 0);
  gt_spawn_join_n(s, 10, noop, NULL, NULL);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* Signals from inside fn, so the call is surely in flight. */
static void done_then_usleep_300ms(void *arg)
{
  gort_wg_done((gort_wg *)arg);
  usleep(300000);
}
static void in_blocking(void *arg)
{
  gort_blocking(done_then_usleep_300ms, arg);
}

/* A goroutine in gort_blocking cannot be interrupted: a short deadline gives
 * ETIMEDOUT, and calling again finishes the job. */
START_TEST(test_shutdown_timeout_then_again)
{
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 1), 0);
  gort_wg started = GORT_WG_INIT;
  ASSERT_EQ(gort_wg_add(&started, 1), 0);
  ASSERT_EQ(gort_spawn(s, in_blocking, &started, 0, NULL), 0);
  ASSERT_EQ(gort_wg_wait(&started, gt_long_deadline()), 0);
  ASSERT_EQ(gort_sched_shutdown(s, gort_now() + GT_MS(10)), GORT_ETIMEDOUT);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* ---- blocking calls from plain threads ----------------------------------- */

typedef struct {
  _Atomic int flag;
} pt_join_t;
static void pt_sleep_set(void *arg)
{
  gort_sleep(GT_MS(30));
  atomic_store(&((pt_join_t *)arg)->flag, 1);
}
typedef struct {
  gort_g *g;
  pt_join_t *pj;
  int rc;
  int flag_seen;
} pt_joiner_t;
static void *pt_joiner(void *arg)
{
  pt_joiner_t *j = arg;
  j->rc = gort_join(j->g, GORT_NEVER);
  j->flag_seen = atomic_load(&j->pj->flag);
  return NULL;
}

START_TEST(test_thread_join)
{
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 1), 0);
  pt_join_t pj = {0};
  pt_joiner_t j = {NULL, &pj, 1, 0};
  ASSERT_EQ(gort_spawn(s, pt_sleep_set, &pj, 0, &j.g), 0);
  pthread_t t = gt_thread(pt_joiner, &j);
  gt_thread_join(t);
  ASSERT_EQ(j.rc, 0);
  ASSERT_EQ(j.flag_seen, 1);
  gort_g_release(j.g);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

static void *pt_sleeper(void *arg)
{
  (void)arg;
  ASSERT_NULL(gort_self());
  sleep_body(NULL);
  return NULL;
}

START_TEST(test_thread_sleep)
{
  pthread_t t = gt_thread(pt_sleeper, NULL);
  gt_thread_join(t);
}
END_TEST

typedef struct {
  gort_mutex m;
  int64_t counter;
  _Atomic int64_t inside, overlap;
  int iters;
} pt_mutex_t;

static void pt_mutex_work(pt_mutex_t *p)
{
  for (int i = 0; i < p->iters; i++) {
    ASSERT_EQ(gort_mutex_lock(&p->m, GORT_NEVER), 0);
    if (atomic_fetch_add(&p->inside, 1) != 0)
      atomic_fetch_add(&p->overlap, 1);
    p->counter++;
    atomic_fetch_sub(&p->inside, 1);
    ASSERT_EQ(gort_mutex_unlock(&p->m), 0);
  }
}
static void pt_mutex_g(void *arg)
{
  pt_mutex_work(arg);
}
static void *pt_mutex_t_fn(void *arg)
{
  pt_mutex_work(arg);
  return NULL;
}

/* A mutex contended between goroutines and plain threads. */
START_TEST(test_thread_mutex_contended)
{
  static pt_mutex_t p;
  memset(&p, 0, sizeof p);
  p.iters = (int)SCALED(20000);
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  gort_g *g[4];
  pthread_t t[2];
  for (int i = 0; i < 4; i++)
    ASSERT_EQ(gort_spawn(s, pt_mutex_g, &p, 0, &g[i]), 0);
  for (int i = 0; i < 2; i++)
    t[i] = gt_thread(pt_mutex_t_fn, &p);
  for (int i = 0; i < 2; i++)
    gt_thread_join(t[i]);
  for (int i = 0; i < 4; i++) {
    ASSERT_EQ(gort_join(g[i], gt_long_deadline()), 0);
    gort_g_release(g[i]);
  }
  ASSERT_EQ(p.counter, 6 * (int64_t)p.iters);
  ASSERT_EQ(atomic_load(&p.overlap), 0);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* A plain thread waits for a mutex a goroutine holds; deadline 0 and a
 * timed wait behave as in a goroutine. */
typedef struct {
  gort_mutex m;
  gort_wg locked, release;
} pt_hold_t;
static void pt_holder(void *arg)
{
  pt_hold_t *h = arg;
  gort_mutex_lock(&h->m, GORT_NEVER);
  gort_wg_done(&h->locked);
  gort_wg_wait(&h->release, GORT_NEVER);
  gort_mutex_unlock(&h->m);
}

START_TEST(test_thread_mutex_deadlines)
{
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 1), 0);
  static pt_hold_t h;
  memset(&h, 0, sizeof h);
  ASSERT_EQ(gort_wg_add(&h.locked, 1), 0);
  ASSERT_EQ(gort_wg_add(&h.release, 1), 0);
  gort_g *g = NULL;
  ASSERT_EQ(gort_spawn(s, pt_holder, &h, 0, &g), 0);
  ASSERT_EQ(gort_wg_wait(&h.locked, gt_long_deadline()), 0);
  ASSERT_EQ(gort_mutex_trylock(&h.m), GORT_EBUSY);
  ASSERT_EQ(gort_mutex_lock(&h.m, 0), GORT_EAGAIN);
  ASSERT_EQ(gort_mutex_lock(&h.m, GT_PAST), GORT_ETIMEDOUT);
  int64_t t0 = gort_now();
  ASSERT_EQ(gort_mutex_lock(&h.m, t0 + GT_MS(20)), GORT_ETIMEDOUT);
  ASSERT_GE(gort_now() - t0, GT_MS(20));
  ASSERT_EQ(gort_wg_done(&h.release), 0);
  ASSERT_EQ(gort_mutex_lock(&h.m, gt_long_deadline()), 0);
  ASSERT_EQ(gort_mutex_unlock(&h.m), 0);
  ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
  gort_g_release(g);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

typedef struct {
  gort_wg wg;
  _Atomic int64_t work;
  int rc;
} pt_wg_t;
static void pt_wg_worker(void *arg)
{
  pt_wg_t *w = arg;
  gort_sleep(GT_MS(5));
  atomic_fetch_add(&w->work, 1);
  gort_wg_done(&w->wg);
}
static void *pt_wg_waiter(void *arg)
{
  pt_wg_t *w = arg;
  w->rc = gort_wg_wait(&w->wg, GORT_NEVER);
  return NULL;
}

START_TEST(test_thread_wg_wait)
{
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  static pt_wg_t w;
  memset(&w, 0, sizeof w);
  w.rc = 1;
  ASSERT_EQ(gort_wg_add(&w.wg, 20), 0);
  pthread_t t = gt_thread(pt_wg_waiter, &w);
  for (int i = 0; i < 20; i++)
    ASSERT_EQ(gort_spawn(s, pt_wg_worker, &w, 0, NULL), 0);
  gt_thread_join(t);
  ASSERT_EQ(w.rc, 0);
  ASSERT_EQ(atomic_load(&w.work), 20);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* ---- gort_blocking ------------------------------------------------------- */

typedef struct {
  _Atomic int64_t ticks;
  _Atomic int stop;
  pthread_t g_thread, fn_thread;
  gort_g *self_in_fn;
  gort_g *self_before, *self_after;
  gort_sched *sched_before, *sched_after;
  int64_t progressed;
  int rc;
} blk_t;

static void ticker(void *arg)
{
  blk_t *b = arg;
  while (!atomic_load(&b->stop)) {
    atomic_fetch_add(&b->ticks, 1);
    if (gort_sleep(GT_MS(1)) != 0)
      break;
  }
}

/* Blocks the OS thread until the ticker has advanced 20 times, or gives up
 * after a long while: progress can only come from another thread running
 * the ticker's scheduler. */
static void wait_for_ticks_blocking(blk_t *b)
{
  int64_t start = atomic_load(&b->ticks);
  int64_t end = gt_os_now() + GT_SEC(10) * gt_timeout_mult();
  while (atomic_load(&b->ticks) < start + 20 && gt_os_now() < end)
    usleep(10000);
  b->progressed = atomic_load(&b->ticks) - start;
}

static void blk_fn(void *arg)
{
  blk_t *b = arg;
  b->fn_thread = pthread_self();
  b->self_in_fn = gort_self();
  usleep(200000); /* a real blocking sleep */
  wait_for_ticks_blocking(b);
}
static void blk_caller(void *arg)
{
  blk_t *b = arg;
  b->g_thread = pthread_self();
  b->self_before = gort_self();
  b->sched_before = gort_sched_current();
  b->rc = gort_blocking(blk_fn, b);
  b->self_after = gort_self();
  b->sched_after = gort_sched_current();
  atomic_store(&b->stop, 1);
}

static void blocking_body(void *arg)
{
  blk_t *b = arg;
  gort_g *t = NULL, *c = NULL;
  ASSERT_EQ(gort_spawn(NULL, ticker, b, 0, &t), 0);
  ASSERT_TRUE(gt_await_ge(&b->ticks, 1));
  ASSERT_EQ(gort_spawn(NULL, blk_caller, b, 0, &c), 0);
  ASSERT_EQ(gort_join(c, gt_long_deadline()), 0);
  ASSERT_EQ(gort_join(t, gt_long_deadline()), 0);
  gort_g_release(c);
  gort_g_release(t);
}

/* One P: a goroutine in gort_blocking must not keep the other from running. */
START_TEST(test_blocking_runs_elsewhere)
{
  static blk_t b;
  memset(&b, 0, sizeof b);
  gt_run_in(1, blocking_body, &b);
  ASSERT_EQ(b.rc, 0);
  ASSERT_FALSE(pthread_equal(b.fn_thread, b.g_thread));
  ASSERT_NULL(b.self_in_fn);
  ASSERT_GE(b.progressed, 20);
  ASSERT_PTR_EQ(b.self_after, b.self_before);
  ASSERT_PTR_EQ(b.sched_after, b.sched_before);
}
END_TEST

typedef struct {
  pthread_t t;
  int ran;
} blk_plain_t;
static void blk_plain_fn(void *arg)
{
  blk_plain_t *p = arg;
  p->t = pthread_self();
  p->ran++;
}

START_TEST(test_blocking_from_thread)
{
  blk_plain_t p = {0};
  ASSERT_EQ(gort_blocking(blk_plain_fn, &p), 0);
  ASSERT_EQ(p.ran, 1);
  ASSERT_TRUE(pthread_equal(p.t, pthread_self()));
}
END_TEST

typedef struct {
  _Atomic int64_t done;
  _Atomic int64_t concurrent, max_concurrent;
} blk_many_t;
static void blk_many_fn(void *arg)
{
  blk_many_t *m = arg;
  int64_t c = atomic_fetch_add(&m->concurrent, 1) + 1;
  int64_t mx = atomic_load(&m->max_concurrent);
  while (c > mx && !atomic_compare_exchange_weak(&m->max_concurrent, &mx, c)) {
  }
  usleep(20000);
  atomic_fetch_sub(&m->concurrent, 1);
  atomic_fetch_add(&m->done, 1);
}
static void blk_many_g(void *arg)
{
  ASSERT_EQ(gort_blocking(blk_many_fn, arg), 0);
}

/* Several blocking calls at once from one P: they all complete, and more
 * than one runs at a time (each has its own thread). */
static void blocking_many_body(void *arg)
{
  blk_many_t *m = arg;
  gt_spawn_join_n(NULL, 16, blk_many_g, m, NULL);
  ASSERT_EQ(atomic_load(&m->done), 16);
  ASSERT_GE(atomic_load(&m->max_concurrent), 2);
}

START_TEST(test_blocking_many)
{
  static blk_many_t m;
  memset(&m, 0, sizeof m);
  gt_run_in(1, blocking_many_body, &m);
}
END_TEST

typedef struct {
  gort_wg in_fn;
  _Atomic int fn_done;
  int rc, fn_done_at_return;
} blk_cancel_t;
static void blk_cancel_fn(void *arg)
{
  blk_cancel_t *b = arg;
  gort_wg_done(&b->in_fn);
  usleep(100000);
  atomic_store(&b->fn_done, 1);
}
static void blk_cancel_caller(void *arg)
{
  blk_cancel_t *b = arg;
  b->rc = gort_blocking(blk_cancel_fn, b);
  b->fn_done_at_return = atomic_load(&b->fn_done);
}

/* Cancelling a goroutine inside gort_blocking does not cut fn short: the
 * call returns (0 or ECANCELED) only after fn has run to completion. */
static void blocking_cancel_body(void *arg)
{
  blk_cancel_t *b = arg;
  ASSERT_EQ(gort_wg_add(&b->in_fn, 1), 0);
  gort_g *g = NULL;
  ASSERT_EQ(gort_spawn(NULL, blk_cancel_caller, b, 0, &g), 0);
  ASSERT_EQ(gort_wg_wait(&b->in_fn, gt_long_deadline()), 0);
  ASSERT_EQ(gort_cancel(g), 0);
  ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
  gort_g_release(g);
  ASSERT_ONE_OF(b->rc, 0, GORT_ECANCELED);
  ASSERT_EQ(b->fn_done_at_return, 1);
}

START_TEST(test_blocking_cancel_runs_to_completion)
{
  static blk_cancel_t b;
  memset(&b, 0, sizeof b);
  gt_run_in(1, blocking_cancel_body, &b);
}
END_TEST

typedef struct {
  gort_wg wg;
  int rc_sleep, rc_lock;
  gort_g *self;
} blk_inner_t;
static void blk_inner_fn(void *arg)
{
  blk_inner_t *b = arg;
  gort_mutex m = GORT_MUTEX_INIT;
  b->self = gort_self();
  b->rc_sleep = gort_sleep(GT_MS(5));
  b->rc_lock = gort_mutex_lock(&m, GORT_NEVER);
  gort_mutex_unlock(&m);
  gort_wg_done(&b->wg);
}
static void blk_inner_caller(void *arg)
{
  ASSERT_EQ(gort_blocking(blk_inner_fn, arg), 0);
}

/* fn runs on a plain thread, so the blocking calls it makes block that
 * thread and work. */
static void blocking_inner_body(void *arg)
{
  blk_inner_t *b = arg;
  b->rc_sleep = b->rc_lock = 1;
  ASSERT_EQ(gort_wg_add(&b->wg, 1), 0);
  gort_g *g = NULL;
  ASSERT_EQ(gort_spawn(NULL, blk_inner_caller, b, 0, &g), 0);
  ASSERT_EQ(gort_wg_wait(&b->wg, gt_long_deadline()), 0);
  ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
  gort_g_release(g);
  ASSERT_NULL(b->self);
  ASSERT_EQ(b->rc_sleep, 0);
  ASSERT_EQ(b->rc_lock, 0);
}

START_TEST(test_blocking_fn_blocks_as_thread)
{
  static blk_inner_t b;
  memset(&b, 0, sizeof b);
  gt_run_in(1, blocking_inner_body, &b);
}
END_TEST

/* ---- syscall regions ----------------------------------------------------- */

static void sys_caller(void *arg)
{
  blk_t *b = arg;
  b->g_thread = pthread_self();
  b->self_before = gort_self();
  gort_syscall_enter();
  usleep(300000); /* blocks the thread, P and all */
  wait_for_ticks_blocking(b);
  gort_syscall_exit();
  b->self_after = gort_self();
  b->rc = gort_yield(); /* still a working goroutine */
  atomic_store(&b->stop, 1);
}

static void syscall_body(void *arg)
{
  blk_t *b = arg;
  gort_g *t = NULL, *c = NULL;
  ASSERT_EQ(gort_spawn(NULL, ticker, b, 0, &t), 0);
  ASSERT_TRUE(gt_await_ge(&b->ticks, 1));
  ASSERT_EQ(gort_spawn(NULL, sys_caller, b, 0, &c), 0);
  ASSERT_EQ(gort_join(c, gt_long_deadline()), 0);
  ASSERT_EQ(gort_join(t, gt_long_deadline()), 0);
  gort_g_release(c);
  gort_g_release(t);
}

/* One P: sysmon hands the P of a goroutine stuck in a syscall region to
 * another thread, so the ticker keeps ticking. */
START_TEST(test_syscall_region_hands_off_p)
{
  static blk_t b;
  memset(&b, 0, sizeof b);
  gt_run_in(1, syscall_body, &b);
  ASSERT_GE(b.progressed, 20);
  ASSERT_EQ(b.rc, 0);
  ASSERT_PTR_EQ(b.self_after, b.self_before);
}
END_TEST

START_TEST(test_syscall_outside_goroutine)
{
  gort_syscall_enter();
  gort_syscall_exit();
  gort_syscall_exit(); /* unbalanced: still nothing */
  ASSERT_NULL(gort_self());
}
END_TEST

typedef struct {
  _Atomic int64_t done;
  int iters;
} sysfast_t;
static void sys_fast(void *arg)
{
  sysfast_t *f = arg;
  for (int i = 0; i < f->iters; i++) {
    gort_syscall_enter();
    gort_syscall_exit();
    if (i % 100 == 0)
      gort_yield();
  }
  atomic_fetch_add(&f->done, 1);
}

/* Short regions many times, with the P being retaken at random. */
static void syscall_fast_body(void *arg)
{
  sysfast_t *f = arg;
  gt_spawn_join_n(NULL, 8, sys_fast, f, NULL);
  ASSERT_EQ(atomic_load(&f->done), 8);
}

START_TEST(test_syscall_fast_path)
{
  static sysfast_t f;
  memset(&f, 0, sizeof f);
  f.iters = (int)SCALED(20000);
  gt_run_in(2, syscall_fast_body, &f);
}
END_TEST

/* ---- preemption ---------------------------------------------------------- */

static volatile int hog_stop;

static void hog_fn(void *arg)
{
  blk_t *b = arg;
  int64_t start = atomic_load(&b->ticks);
  int64_t t0 = gt_os_now();
  int64_t end1 = t0 + GT_SEC(1);
  int64_t end_max = t0 + GT_SEC(10) * gt_timeout_mult();
  /* No calls into libgort, no function calls at all but the vDSO clock:
   * only asynchronous preemption can take this P away. */
  for (;;) {
    if (hog_stop)
      break;
    int64_t now = gt_os_now();
    if (now >= end_max)
      break;
    if (now >= end1 &&
        atomic_load_explicit(&b->ticks, memory_order_relaxed) >= start + 20)
      break;
  }
  b->progressed = atomic_load(&b->ticks) - start;
  atomic_store(&b->stop, 1);
}

static void hog_body(void *arg)
{
  blk_t *b = arg;
  gort_g *t = NULL, *h = NULL;
  ASSERT_EQ(gort_spawn(NULL, ticker, b, 0, &t), 0);
  ASSERT_TRUE(gt_await_ge(&b->ticks, 1));
  ASSERT_EQ(gort_spawn(NULL, hog_fn, b, 0, &h), 0);
  ASSERT_EQ(gort_join(h, gt_long_deadline()), 0);
  ASSERT_EQ(gort_join(t, gt_long_deadline()), 0);
  gort_g_release(h);
  gort_g_release(t);
}

/* One P: a goroutine spinning for a second does not starve a ticker. */
START_TEST(test_cpu_hog_preempted)
{
  static blk_t b;
  memset(&b, 0, sizeof b);
  gt_run_in(1, hog_body, &b);
  ASSERT_GE(b.progressed, 20);
}
END_TEST

/* ---- numgoroutine -------------------------------------------------------- */

typedef struct {
  gort_wg started, gate;
  int64_t inside;
} ng_t;
static void ng_fn(void *arg)
{
  ng_t *n = arg;
  gort_wg_done(&n->started);
  gort_wg_wait(&n->gate, GORT_NEVER);
}
static void ng_self(void *arg)
{
  ((ng_t *)arg)->inside = gort_sched_numgoroutine(gort_sched_current());
}

START_TEST(test_numgoroutine)
{
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  ASSERT_EQ(gort_sched_numgoroutine(s), 0);
  static ng_t n;
  memset(&n, 0, sizeof n);
  ASSERT_EQ(gort_wg_add(&n.started, 10), 0);
  ASSERT_EQ(gort_wg_add(&n.gate, 1), 0);
  gort_g *g[10];
  for (int i = 0; i < 10; i++)
    ASSERT_EQ(gort_spawn(s, ng_fn, &n, 0, &g[i]), 0);
  ASSERT_EQ(gort_wg_wait(&n.started, gt_long_deadline()), 0);
  ASSERT_EQ(gort_sched_numgoroutine(s), 10);
  gort_g *h = NULL;
  ASSERT_EQ(gort_spawn(s, ng_self, &n, 0, &h), 0);
  ASSERT_EQ(gort_join(h, gt_long_deadline()), 0);
  gort_g_release(h);
  ASSERT_EQ(n.inside, 11);
  ASSERT_EQ(gort_wg_done(&n.gate), 0);
  for (int i = 0; i < 10; i++) {
    ASSERT_EQ(gort_join(g[i], gt_long_deadline()), 0);
    gort_g_release(g[i]);
  }
  /* Joined goroutines have ended: none is live. */
  ASSERT_EQ(gort_sched_numgoroutine(s), 0);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

static Suite *sched_suite(void)
{
  Suite *s = suite_create("sched");
  TCase *tc = gt_tcase(s, "spawn", 120);
  tcase_add_test(tc, test_spawn_join_from_thread);
  tcase_add_test(tc, test_spawn_join_from_goroutine);
  tcase_add_test(tc, test_go_detached_default);
  tcase_add_test(tc, test_go_detached_in_sched);
  tcase_add_test(tc, test_release_running);
  tcase_add_test(tc, test_spawn_stack_sizes);
  tcase_add_test(tc, test_join_deadlines_goroutine);
  tcase_add_test(tc, test_join_deadlines_thread);
  tcase_add_test(tc, test_many_joiners);
  tcase_add_test(tc, test_self_and_ids);
  tcase_add_test(tc, test_ids_unique_across_scheds);
  tcase_add_test(tc, test_handle_outlives_stack);
  tcase_add_test(tc, test_handles_after_shutdown);
  tcase_add_test(tc, test_handle_pool_churn);
  tcase_add_test(tc, test_cancel_races_end);
  tcase_add_test(tc, test_cancel_query_races_end);
  tcase_add_test(tc, test_self_handle);
  tcase_add_test(tc, test_yield_lets_others_run);

  tc = gt_tcase(s, "sleep", 120);
  tcase_add_test(tc, test_sleep_goroutine);
  tcase_add_test(tc, test_sleep_thread);
  tcase_add_test(tc, test_many_sleepers);
  tcase_add_test(tc, test_sleep_order);
  tcase_add_test(tc, test_huge_durations);

  tc = gt_tcase(s, "cancel", 120);
  tcase_add_loop_test(tc, test_cancel_wakes_blocked, 0, K_NKINDS);
  tcase_add_test(tc, test_cancel_from_thread);
  tcase_add_test(tc, test_self_cancel);
  tcase_add_test(tc, test_cancel_before_start);
  tcase_add_test(tc, test_cancel_one_of_two);

  tc = gt_tcase(s, "main", 120);
  tcase_add_test(tc, test_main_returns_zero);
  tcase_add_test(tc, test_main_twice);
  tcase_add_loop_test(
      tc, test_main_not_deadlock, 0,
      (int)(sizeof main_not_deadlocked / sizeof main_not_deadlocked[0]));
  tcase_add_loop_test(
      tc, test_main_deadlock, 0,
      (int)(sizeof main_deadlocked / sizeof main_deadlocked[0]));

  tc = gt_tcase(s, "scheds", 120);
  tcase_add_test(tc, test_several_scheds);
  tcase_add_test(tc, test_cross_sched_sync);
  tcase_add_test(tc, test_maxprocs_query_set);
  tcase_add_test(tc, test_maxprocs_default_is_ncpu);
  tcase_add_test(tc, test_maxprocs_under_load);
  tcase_add_test(tc, test_shutdown_with_live_goroutines);
  tcase_add_test(tc, test_shutdown_idle);
  tcase_add_test(tc, test_default_shutdown_restart);
  tcase_add_test(tc, test_shutdown_timeout_then_again);
  tcase_add_test(tc, test_numgoroutine);

  tc = gt_tcase(s, "threads", 120);
  tcase_add_test(tc, test_thread_join);
  tcase_add_test(tc, test_thread_sleep);
  tcase_add_test(tc, test_thread_mutex_contended);
  tcase_add_test(tc, test_thread_mutex_deadlines);
  tcase_add_test(tc, test_thread_wg_wait);

  tc = gt_tcase(s, "blocking", 120);
  tcase_add_test(tc, test_blocking_runs_elsewhere);
  tcase_add_test(tc, test_blocking_from_thread);
  tcase_add_test(tc, test_blocking_many);
  tcase_add_test(tc, test_blocking_cancel_runs_to_completion);
  tcase_add_test(tc, test_blocking_fn_blocks_as_thread);
  tcase_add_test(tc, test_syscall_region_hands_off_p);
  tcase_add_test(tc, test_syscall_outside_goroutine);
  tcase_add_test(tc, test_syscall_fast_path);
  tcase_add_test(tc, test_cpu_hog_preempted);
  return s;
}

GT_MAIN(sched_suite)
