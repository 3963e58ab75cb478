/*
 * check_sync.c - the embeddable synchronisation types: mutex, rwmutex, cond,
 * wg, once, sema, bargelock.
 *
 * Every type is exercised from goroutines and from plain threads, with the
 * three deadline shapes (GORT_NEVER, 0, absolute), under contention with
 * 1..8 Ps, and for the property that makes it what it is (mutex starvation
 * mode, writer preference, cond re-locking, FIFO handoff, barging).
 */
#define _GNU_SOURCE
#include "testutil.h"

static const int procs[] = {1, 2, 4, 8};
#define NPROCS ((int)(sizeof procs / sizeof procs[0]))

/* Runs body on a fresh scheduler when _i says "goroutine", else on the
 * test's own thread. */
static void run_goroutine_or_thread(int in_goroutine, void (*body)(void *),
                                    void *arg)
{
  if (in_goroutine)
    gt_run_in(2, body, arg);
  else
    body(arg);
}

/* ---- mutex --------------------------------------------------------------- */

static void mutex_basic_body(void *arg)
{
  (void)arg;
  gort_mutex m = GORT_MUTEX_INIT;
  ASSERT_EQ(gort_mutex_lock(&m, GORT_NEVER), 0);
  ASSERT_EQ(gort_mutex_trylock(&m), GORT_EBUSY);
  ASSERT_EQ(gort_mutex_lock(&m, 0), GORT_EAGAIN);
  ASSERT_EQ(gort_mutex_lock(&m, GT_PAST), GORT_ETIMEDOUT);
  ASSERT_EQ(gort_mutex_unlock(&m), 0);
  ASSERT_EQ(gort_mutex_unlock(&m), GORT_EINVAL);
  ASSERT_EQ(gort_mutex_trylock(&m), 0);
  ASSERT_EQ(gort_mutex_trylock(&m), GORT_EBUSY);
  ASSERT_EQ(gort_mutex_unlock(&m), 0);
  ASSERT_EQ(gort_mutex_lock(&m, 0), 0); /* free: "only try" succeeds */
  ASSERT_EQ(gort_mutex_unlock(&m), 0);
  ASSERT_EQ(gort_mutex_lock(&m, gt_long_deadline()), 0);
  ASSERT_EQ(gort_mutex_unlock(&m), 0);
  gort_mutex_init(&m);
  ASSERT_EQ(gort_mutex_trylock(&m), 0);
  ASSERT_EQ(gort_mutex_unlock(&m), 0);
}

START_TEST(test_mutex_basic)
{
  run_goroutine_or_thread(_i, mutex_basic_body, NULL);
}
END_TEST

typedef struct {
  gort_mutex *m;
  int rc_try, rc0, rc_past, rc_timed;
  int64_t waited;
} mtry_t;

static void mutex_try_fn(void *arg)
{
  mtry_t *t = arg;
  t->rc_try = gort_mutex_trylock(t->m);
  t->rc0 = gort_mutex_lock(t->m, 0);
  t->rc_past = gort_mutex_lock(t->m, GT_PAST);
  int64_t t0 = gort_now();
  t->rc_timed = gort_mutex_lock(t->m, t0 + GT_MS(20));
  t->waited = gort_now() - t0;
}

/* Another goroutine meets a held mutex with each deadline shape; the timed
 * out waits leave nothing behind (the next lock is not handed to a waiter
 * that has gone). */
static void mutex_deadlines_body(void *arg)
{
  (void)arg;
  gort_mutex m = GORT_MUTEX_INIT;
  mtry_t t = {&m, 1, 1, 1, 1, 0};
  ASSERT_EQ(gort_mutex_lock(&m, GORT_NEVER), 0);
  gort_g *g = NULL;
  ASSERT_EQ(gort_spawn(NULL, mutex_try_fn, &t, 0, &g), 0);
  ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
  gort_g_release(g);
  ASSERT_EQ(t.rc_try, GORT_EBUSY);
  ASSERT_EQ(t.rc0, GORT_EAGAIN);
  ASSERT_EQ(t.rc_past, GORT_ETIMEDOUT);
  ASSERT_EQ(t.rc_timed, GORT_ETIMEDOUT);
  ASSERT_GE(t.waited, GT_MS(20));
  ASSERT_EQ(gort_mutex_unlock(&m), 0);
  ASSERT_EQ(gort_mutex_trylock(&m), 0);
  ASSERT_EQ(gort_mutex_unlock(&m), 0);
}

START_TEST(test_mutex_deadlines)
{
  gt_run_in(2, mutex_deadlines_body, NULL);
}
END_TEST

typedef struct {
  gort_mutex m;
  int64_t counter; /* only under m */
  _Atomic int64_t inside, overlap;
  int iters;
} cnt_t;

static void mutex_worker(void *arg)
{
  cnt_t *c = arg;
  for (int i = 0; i < c->iters; i++) {
    if (gort_mutex_lock(&c->m, GORT_NEVER) != 0) {
      atomic_fetch_add(&c->overlap, 1000000);
      return;
    }
    if (atomic_fetch_add(&c->inside, 1) != 0)
      atomic_fetch_add(&c->overlap, 1);
    c->counter++;
    if (i % 8 == 0)
      gort_yield(); /* hold it across a scheduling point */
    atomic_fetch_sub(&c->inside, 1);
    gort_mutex_unlock(&c->m);
  }
}

/* 16 goroutines on 1, 2, 4, 8 Ps: the count is exact and nobody is ever
 * inside together. */
START_TEST(test_mutex_contention)
{
  static cnt_t c;
  memset(&c, 0, sizeof c);
  c.iters = (int)SCALED(20000);
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, procs[_i]), 0);
  gt_spawn_join_n(s, 16, mutex_worker, &c, NULL);
  ASSERT_EQ(c.counter, 16 * (int64_t)c.iters);
  ASSERT_EQ(atomic_load(&c.overlap), 0);
  ASSERT_EQ(gort_mutex_trylock(&c.m), 0);
  ASSERT_EQ(gort_mutex_unlock(&c.m), 0);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

typedef struct {
  gort_mutex m;
  _Atomic int stop;
  _Atomic int64_t hog_rounds;
  _Atomic int64_t got, failed;
} starve_t;

static void starve_hog(void *arg)
{
  starve_t *st = arg;
  while (!atomic_load(&st->stop)) {
    gort_mutex_lock(&st->m, GORT_NEVER);
    atomic_fetch_add(&st->hog_rounds, 1);
    gort_mutex_unlock(&st->m);
  }
}
static void starve_waiter(void *arg)
{
  starve_t *st = arg;
  gort_sleep(GT_MS(2));
  int rc = gort_mutex_lock(&st->m, gt_deadline(GT_SEC(10)));
  if (rc == 0) {
    atomic_fetch_add(&st->got, 1);
    gort_mutex_unlock(&st->m);
  } else {
    atomic_fetch_add(&st->failed, 1);
  }
}

/* A goroutine re-locking in a tight loop does not keep waiters out: after
 * waiting more than a millisecond they are handed the lock. */
static void starvation_body(void *arg)
{
  starve_t *st = arg;
  gort_g *h = NULL;
  ASSERT_EQ(gort_spawn(NULL, starve_hog, st, 0, &h), 0);
  ASSERT_TRUE(gt_await_ge(&st->hog_rounds, 1000));
  gt_spawn_join_n(NULL, 3, starve_waiter, st, NULL);
  atomic_store(&st->stop, 1);
  ASSERT_EQ(gort_join(h, gt_long_deadline()), 0);
  gort_g_release(h);
  ASSERT_EQ(atomic_load(&st->got), 3);
  ASSERT_EQ(atomic_load(&st->failed), 0);
}

START_TEST(test_mutex_starvation)
{
  static starve_t st;
  memset(&st, 0, sizeof st);
  gt_run_in(2, starvation_body, &st);
}
END_TEST

/* ---- rwmutex ------------------------------------------------------------- */

static void rw_basic_body(void *arg)
{
  (void)arg;
  gort_rwmutex rw = GORT_RWMUTEX_INIT;
  ASSERT_EQ(gort_rwmutex_rlock(&rw, GORT_NEVER), 0);
  ASSERT_EQ(gort_rwmutex_rlock(&rw, 0), 0); /* readers share */
  ASSERT_EQ(gort_rwmutex_tryrlock(&rw), 0);
  ASSERT_EQ(gort_rwmutex_trylock(&rw), GORT_EBUSY);
  ASSERT_EQ(gort_rwmutex_lock(&rw, 0), GORT_EAGAIN);
  ASSERT_EQ(gort_rwmutex_runlock(&rw), 0);
  ASSERT_EQ(gort_rwmutex_runlock(&rw), 0);
  ASSERT_EQ(gort_rwmutex_runlock(&rw), 0);
  ASSERT_EQ(gort_rwmutex_runlock(&rw), GORT_EINVAL);
  ASSERT_EQ(gort_rwmutex_unlock(&rw), GORT_EINVAL);
  ASSERT_EQ(gort_rwmutex_lock(&rw, GORT_NEVER), 0);
  ASSERT_EQ(gort_rwmutex_trylock(&rw), GORT_EBUSY);
  ASSERT_EQ(gort_rwmutex_tryrlock(&rw), GORT_EBUSY);
  ASSERT_EQ(gort_rwmutex_rlock(&rw, 0), GORT_EAGAIN);
  ASSERT_EQ(gort_rwmutex_unlock(&rw), 0);
  ASSERT_EQ(gort_rwmutex_unlock(&rw), GORT_EINVAL);
  ASSERT_EQ(gort_rwmutex_trylock(&rw), 0);
  ASSERT_EQ(gort_rwmutex_unlock(&rw), 0);
  gort_rwmutex_init(&rw);
  ASSERT_EQ(gort_rwmutex_tryrlock(&rw), 0);
  ASSERT_EQ(gort_rwmutex_runlock(&rw), 0);
}

START_TEST(test_rwmutex_basic)
{
  run_goroutine_or_thread(_i, rw_basic_body, NULL);
}
END_TEST

typedef struct {
  gort_rwmutex rw;
  gort_wg arrive;
  int n;
  _Atomic int64_t ok, bad;
} rwc_t;

/* Each reader holds the read lock until every reader has arrived: only
 * possible if they are all inside at once. */
static void rw_meet(rwc_t *r)
{
  if (gort_rwmutex_rlock(&r->rw, GORT_NEVER) != 0) {
    atomic_fetch_add(&r->bad, 1);
    return;
  }
  gort_wg_done(&r->arrive);
  if (gort_wg_wait(&r->arrive, gt_deadline(GT_SEC(10))) == 0)
    atomic_fetch_add(&r->ok, 1);
  else
    atomic_fetch_add(&r->bad, 1);
  gort_rwmutex_runlock(&r->rw);
}
static void rw_meet_g(void *arg)
{
  rw_meet(arg);
}
static void *rw_meet_t(void *arg)
{
  rw_meet(arg);
  return NULL;
}

START_TEST(test_rwmutex_readers_concurrent)
{
  static rwc_t r;
  memset(&r, 0, sizeof r);
  const int ng = 8;
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, procs[_i]), 0);
  ASSERT_EQ(gort_wg_add(&r.arrive, ng + 1), 0);
  pthread_t t = gt_thread(rw_meet_t, &r); /* one reader is a plain thread */
  gt_spawn_join_n(s, ng, rw_meet_g, &r, NULL);
  gt_thread_join(t);
  ASSERT_EQ(atomic_load(&r.ok), ng + 1);
  ASSERT_EQ(atomic_load(&r.bad), 0);
  ASSERT_EQ(gort_rwmutex_trylock(&r.rw), 0);
  ASSERT_EQ(gort_rwmutex_unlock(&r.rw), 0);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

typedef struct {
  gort_rwmutex rw;
  _Atomic int64_t readers, writers, bad;
  int64_t a, b; /* a == b whenever no writer is inside */
  int iters;
} rwx_t;

static void rwx_reader(void *arg)
{
  rwx_t *x = arg;
  for (int i = 0; i < x->iters; i++) {
    gort_rwmutex_rlock(&x->rw, GORT_NEVER);
    atomic_fetch_add(&x->readers, 1);
    if (atomic_load(&x->writers) != 0)
      atomic_fetch_add(&x->bad, 1);
    if (x->a != x->b)
      atomic_fetch_add(&x->bad, 1);
    if (i % 16 == 0)
      gort_yield();
    atomic_fetch_sub(&x->readers, 1);
    gort_rwmutex_runlock(&x->rw);
  }
}
static void rwx_writer(void *arg)
{
  rwx_t *x = arg;
  for (int i = 0; i < x->iters / 4; i++) {
    gort_rwmutex_lock(&x->rw, GORT_NEVER);
    if (atomic_fetch_add(&x->writers, 1) != 0)
      atomic_fetch_add(&x->bad, 1);
    if (atomic_load(&x->readers) != 0)
      atomic_fetch_add(&x->bad, 1);
    x->a++;
    if (i % 8 == 0)
      gort_yield();
    x->b++;
    atomic_fetch_sub(&x->writers, 1);
    gort_rwmutex_unlock(&x->rw);
  }
}

/* Writers exclude readers and each other, with 1..8 Ps. */
START_TEST(test_rwmutex_writer_exclusion)
{
  static rwx_t x;
  memset(&x, 0, sizeof x);
  x.iters = (int)SCALED(8000);
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, procs[_i]), 0);
  gort_g *g[8];
  for (int i = 0; i < 8; i++)
    ASSERT_EQ(gort_spawn(s, i < 6 ? rwx_reader : rwx_writer, &x, 0, &g[i]), 0);
  for (int i = 0; i < 8; i++) {
    ASSERT_EQ(gort_join(g[i], gt_long_deadline()), 0);
    gort_g_release(g[i]);
  }
  ASSERT_EQ(atomic_load(&x.bad), 0);
  ASSERT_EQ(x.a, 2 * (int64_t)(x.iters / 4));
  ASSERT_EQ(x.b, x.a);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

typedef struct {
  gort_rwmutex rw;
  _Atomic int stop;
  _Atomic int64_t reads;
  int rc;
} rws_t;

static void rws_reader(void *arg)
{
  rws_t *r = arg;
  while (!atomic_load(&r->stop)) {
    gort_rwmutex_rlock(&r->rw, GORT_NEVER);
    atomic_fetch_add(&r->reads, 1);
    gort_yield(); /* readers overlap: there is nearly always one inside */
    gort_rwmutex_runlock(&r->rw);
  }
}

/* A stream of overlapping readers does not starve a writer. */
static void writer_not_starved_body(void *arg)
{
  rws_t *r = arg;
  gort_g *g[4];
  for (int i = 0; i < 4; i++)
    ASSERT_EQ(gort_spawn(NULL, rws_reader, r, 0, &g[i]), 0);
  ASSERT_TRUE(gt_await_ge(&r->reads, 200));
  r->rc = gort_rwmutex_lock(&r->rw, gt_deadline(GT_SEC(10)));
  if (r->rc == 0)
    gort_rwmutex_unlock(&r->rw);
  atomic_store(&r->stop, 1);
  for (int i = 0; i < 4; i++) {
    ASSERT_EQ(gort_join(g[i], gt_long_deadline()), 0);
    gort_g_release(g[i]);
  }
  ASSERT_EQ(r->rc, 0);
}

START_TEST(test_rwmutex_writer_not_starved)
{
  static rws_t r;
  memset(&r, 0, sizeof r);
  gt_run_in(2, writer_not_starved_body, &r);
}
END_TEST

static void rw_writer_once(void *arg)
{
  gort_rwmutex *rw = arg;
  ASSERT_EQ(gort_rwmutex_lock(rw, GORT_NEVER), 0);
  ASSERT_EQ(gort_rwmutex_unlock(rw), 0);
}

/* Once a writer waits, new readers wait behind it. */
static void pending_writer_body(void *arg)
{
  (void)arg;
  gort_rwmutex rw = GORT_RWMUTEX_INIT;
  ASSERT_EQ(gort_rwmutex_rlock(&rw, GORT_NEVER), 0);
  gort_g *w = NULL;
  ASSERT_EQ(gort_spawn(NULL, rw_writer_once, &rw, 0, &w), 0);
  int64_t end = gt_long_deadline();
  int rc;
  while ((rc = gort_rwmutex_tryrlock(&rw)) == 0) {
    ASSERT_EQ(gort_rwmutex_runlock(&rw), 0);
    ASSERT_LT(gort_now(), end);
    gort_yield();
  }
  ASSERT_EQ(rc, GORT_EBUSY);
  ASSERT_EQ(gort_rwmutex_rlock(&rw, 0), GORT_EAGAIN);
  ASSERT_EQ(gort_join(w, 0), GORT_EAGAIN); /* the writer still waits */
  ASSERT_EQ(gort_rwmutex_runlock(&rw), 0);
  ASSERT_EQ(gort_join(w, gt_long_deadline()), 0);
  gort_g_release(w);
  ASSERT_EQ(gort_rwmutex_tryrlock(&rw), 0);
  ASSERT_EQ(gort_rwmutex_runlock(&rw), 0);
}

START_TEST(test_rwmutex_pending_writer_blocks_readers)
{
  gt_run_in(2, pending_writer_body, NULL);
}
END_TEST

typedef struct {
  gort_rwmutex *rw;
  int write_held; /* what the test holds */
  int rc[8];
  int64_t waited[2];
} rwd_t;

static void rw_deadline_fn(void *arg)
{
  rwd_t *d = arg;
  gort_rwmutex *rw = d->rw;
  int64_t t0;
  if (d->write_held) {
    d->rc[0] = gort_rwmutex_tryrlock(rw);
    d->rc[1] = gort_rwmutex_rlock(rw, 0);
    d->rc[2] = gort_rwmutex_rlock(rw, GT_PAST);
    t0 = gort_now();
    d->rc[3] = gort_rwmutex_rlock(rw, t0 + GT_MS(20));
    d->waited[0] = gort_now() - t0;
  }
  d->rc[4] = gort_rwmutex_trylock(rw);
  d->rc[5] = gort_rwmutex_lock(rw, 0);
  d->rc[6] = gort_rwmutex_lock(rw, GT_PAST);
  t0 = gort_now();
  d->rc[7] = gort_rwmutex_lock(rw, t0 + GT_MS(20));
  d->waited[1] = gort_now() - t0;
}

static void rw_deadlines_body(void *arg)
{
  (void)arg;
  gort_rwmutex rw = GORT_RWMUTEX_INIT;
  for (int wh = 1; wh >= 0; wh--) {
    rwd_t d = {&rw, wh, {1, 1, 1, 1, 1, 1, 1, 1}, {0, 0}};
    if (wh)
      ASSERT_EQ(gort_rwmutex_lock(&rw, GORT_NEVER), 0);
    else
      ASSERT_EQ(gort_rwmutex_rlock(&rw, GORT_NEVER), 0);
    gort_g *g = NULL;
    ASSERT_EQ(gort_spawn(NULL, rw_deadline_fn, &d, 0, &g), 0);
    ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
    gort_g_release(g);
    if (wh) {
      ASSERT_EQ(d.rc[0], GORT_EBUSY);
      ASSERT_EQ(d.rc[1], GORT_EAGAIN);
      ASSERT_EQ(d.rc[2], GORT_ETIMEDOUT);
      ASSERT_EQ(d.rc[3], GORT_ETIMEDOUT);
      ASSERT_GE(d.waited[0], GT_MS(20));
    }
    ASSERT_EQ(d.rc[4], GORT_EBUSY);
    ASSERT_EQ(d.rc[5], GORT_EAGAIN);
    ASSERT_EQ(d.rc[6], GORT_ETIMEDOUT);
    ASSERT_EQ(d.rc[7], GORT_ETIMEDOUT);
    ASSERT_GE(d.waited[1], GT_MS(20));
    if (!wh) {
      /* The writer that gave up is gone: readers come in again. */
      ASSERT_EQ(gort_rwmutex_tryrlock(&rw), 0);
      ASSERT_EQ(gort_rwmutex_runlock(&rw), 0);
      ASSERT_EQ(gort_rwmutex_rlock(&rw, 0), 0);
      ASSERT_EQ(gort_rwmutex_runlock(&rw), 0);
      ASSERT_EQ(gort_rwmutex_runlock(&rw), 0);
    } else {
      ASSERT_EQ(gort_rwmutex_unlock(&rw), 0);
    }
  }
  ASSERT_EQ(gort_rwmutex_trylock(&rw), 0);
  ASSERT_EQ(gort_rwmutex_unlock(&rw), 0);
}

START_TEST(test_rwmutex_deadlines)
{
  gt_run_in(2, rw_deadlines_body, NULL);
}
END_TEST

/* ---- cond ---------------------------------------------------------------- */

typedef struct {
  gort_mutex m;
  gort_cond c;
  int waiting, tokens, woke, returns; /* under m */
} cs_t;

static void cs_waiter(void *arg)
{
  cs_t *s = arg;
  gort_mutex_lock(&s->m, GORT_NEVER);
  s->waiting++;
  while (s->tokens == 0) {
    ASSERT_EQ(gort_cond_wait(&s->c, &s->m, GORT_NEVER), 0);
    s->returns++;
  }
  s->tokens--;
  s->woke++;
  ASSERT_EQ(gort_mutex_unlock(&s->m), 0);
}

/* Waits until field (read under m) reaches v. */
static int cs_await(cs_t *s, const int *field, int v)
{
  int64_t end = gt_long_deadline();
  for (;;) {
    gort_mutex_lock(&s->m, GORT_NEVER);
    int cur = *field;
    gort_mutex_unlock(&s->m);
    if (cur >= v)
      return 1;
    if (gort_now() > end)
      return 0;
    gort_yield();
  }
}

/* signal wakes exactly one waiter, broadcast all the rest. */
static void signal_one_body(void *arg)
{
  cs_t *s = arg;
  enum { N = 5 };
  gort_g *g[N];
  for (int i = 0; i < N; i++)
    ASSERT_EQ(gort_spawn(NULL, cs_waiter, s, 0, &g[i]), 0);
  ASSERT_TRUE(cs_await(s, &s->waiting, N)); /* all inside cond_wait */
  gort_mutex_lock(&s->m, GORT_NEVER);
  s->tokens = 1;
  ASSERT_EQ(gort_cond_signal(&s->c), 0);
  gort_mutex_unlock(&s->m);
  ASSERT_TRUE(cs_await(s, &s->woke, 1));
  ASSERT_EQ(gort_sleep(GT_MS(30)), 0); /* room for a wrong second wake-up */
  gort_mutex_lock(&s->m, GORT_NEVER);
  ASSERT_EQ(s->woke, 1);
  ASSERT_EQ(s->returns, 1);
  s->tokens = N - 1;
  ASSERT_EQ(gort_cond_broadcast(&s->c), 0);
  gort_mutex_unlock(&s->m);
  for (int i = 0; i < N; i++) {
    ASSERT_EQ(gort_join(g[i], gt_long_deadline()), 0);
    gort_g_release(g[i]);
  }
  ASSERT_EQ(s->woke, N);
  ASSERT_EQ(s->returns, N);
  ASSERT_EQ(s->tokens, 0);
}

START_TEST(test_cond_signal_one)
{
  static cs_t s;
  memset(&s, 0, sizeof s);
  gt_run_in(2, signal_one_body, &s);
}
END_TEST

typedef struct {
  gort_mutex m;
  gort_cond c;
  int flag, waiting; /* under m */
  _Atomic int64_t woke;
} cb_t;

static void cb_wait(cb_t *b)
{
  gort_mutex_lock(&b->m, GORT_NEVER);
  b->waiting++;
  while (!b->flag)
    ASSERT_EQ(gort_cond_wait(&b->c, &b->m, GORT_NEVER), 0);
  gort_mutex_unlock(&b->m);
  atomic_fetch_add(&b->woke, 1);
}
static void cb_wait_g(void *arg)
{
  cb_wait(arg);
}
static void *cb_wait_t(void *arg)
{
  cb_wait(arg);
  return NULL;
}

/* broadcast wakes every waiter: goroutines and plain threads. */
START_TEST(test_cond_broadcast_all)
{
  static cb_t b;
  memset(&b, 0, sizeof b);
  enum { N = 50 };
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  gort_g *g[N];
  pthread_t t[2];
  for (int i = 0; i < N; i++)
    ASSERT_EQ(gort_spawn(s, cb_wait_g, &b, 0, &g[i]), 0);
  for (int i = 0; i < 2; i++)
    t[i] = gt_thread(cb_wait_t, &b);
  int64_t end = gt_long_deadline();
  for (;;) {
    gort_mutex_lock(&b.m, GORT_NEVER);
    int w = b.waiting;
    if (w == N + 2)
      break; /* keep m: everyone is in cond_wait */
    gort_mutex_unlock(&b.m);
    ASSERT_LT(gort_now(), end);
    sched_yield();
  }
  ASSERT_EQ(atomic_load(&b.woke), 0);
  b.flag = 1;
  ASSERT_EQ(gort_cond_broadcast(&b.c), 0);
  ASSERT_EQ(gort_mutex_unlock(&b.m), 0);
  for (int i = 0; i < N; i++) {
    ASSERT_EQ(gort_join(g[i], gt_long_deadline()), 0);
    gort_g_release(g[i]);
  }
  for (int i = 0; i < 2; i++)
    gt_thread_join(t[i]);
  ASSERT_EQ(atomic_load(&b.woke), N + 2);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

START_TEST(test_cond_no_waiters)
{
  gort_cond c = GORT_COND_INIT;
  ASSERT_EQ(gort_cond_signal(&c), 0);
  ASSERT_EQ(gort_cond_broadcast(&c), 0);
  gort_cond_init(&c);
  ASSERT_EQ(gort_cond_signal(&c), 0);
}
END_TEST

/* cond_wait returns holding the mutex: after a signal, a timeout, deadline 0,
 * a past deadline, and cancellation. */
static void assert_holds(gort_mutex *m)
{
  ASSERT_EQ(gort_mutex_trylock(m), GORT_EBUSY);
  ASSERT_EQ(gort_mutex_unlock(m), 0);
}

typedef struct {
  gort_mutex m;
  gort_cond c;
  int waiting;  /* under m */
  int released; /* set under m by the holder just before it unlocks */
  int rc, saw_released;
  int64_t waited;
} cr_t;

static void cr_timeout_waiter(void *arg)
{
  cr_t *r = arg;
  gort_mutex_lock(&r->m, GORT_NEVER);
  r->waiting = 1;
  int64_t t0 = gort_now();
  r->rc = gort_cond_wait(&r->c, &r->m, t0 + GT_MS(20));
  r->waited = gort_now() - t0;
  r->saw_released = r->released;
  assert_holds(&r->m);
}
static void cr_cancel_waiter(void *arg)
{
  cr_t *r = arg;
  gort_mutex_lock(&r->m, GORT_NEVER);
  r->waiting = 1;
  r->rc = gort_cond_wait(&r->c, &r->m, GORT_NEVER);
  r->saw_released = r->released;
  assert_holds(&r->m);
}

/* Hold m (after the waiter is inside cond_wait) long past its timeout, or
 * while cancelling it: it can only return after we let go. */
static void cond_relock_contended(void (*waiter)(void *), int cancel)
{
  cr_t r;
  memset(&r, 0, sizeof r);
  r.rc = 1;
  gort_g *w = NULL;
  ASSERT_EQ(gort_spawn(NULL, waiter, &r, 0, &w), 0);
  int64_t end = gt_long_deadline();
  for (;;) {
    gort_mutex_lock(&r.m, GORT_NEVER);
    if (r.waiting)
      break; /* keep m */
    gort_mutex_unlock(&r.m);
    ASSERT_LT(gort_now(), end);
    gort_yield();
  }
  if (cancel)
    ASSERT_EQ(gort_cancel(w), 0);
  ASSERT_EQ(gort_sleep(GT_MS(100)), 0);
  r.released = 1;
  ASSERT_EQ(gort_mutex_unlock(&r.m), 0);
  ASSERT_EQ(gort_join(w, gt_long_deadline()), 0);
  gort_g_release(w);
  ASSERT_EQ(r.rc, cancel ? GORT_ECANCELED : GORT_ETIMEDOUT);
  ASSERT_EQ(r.saw_released, 1);
  if (!cancel)
    ASSERT_GE(r.waited, GT_MS(100));
}

static void cond_relock_body(void *arg)
{
  (void)arg;
  gort_mutex m = GORT_MUTEX_INIT;
  gort_cond c = GORT_COND_INIT;
  /* deadline 0, past, timeout: uncontended */
  ASSERT_EQ(gort_mutex_lock(&m, GORT_NEVER), 0);
  ASSERT_EQ(gort_cond_wait(&c, &m, 0), GORT_EAGAIN);
  ASSERT_EQ(gort_mutex_trylock(&m), GORT_EBUSY);
  ASSERT_EQ(gort_cond_wait(&c, &m, GT_PAST), GORT_ETIMEDOUT);
  ASSERT_EQ(gort_mutex_trylock(&m), GORT_EBUSY);
  int64_t t0 = gort_now();
  ASSERT_EQ(gort_cond_wait(&c, &m, t0 + GT_MS(20)), GORT_ETIMEDOUT);
  ASSERT_GE(gort_now() - t0, GT_MS(20));
  assert_holds(&m);
  /* timeout and cancel while another goroutine holds m */
  cond_relock_contended(cr_timeout_waiter, 0);
  cond_relock_contended(cr_cancel_waiter, 1);
  /* already cancelled: fails at once, still holding m */
  ASSERT_EQ(gort_mutex_lock(&m, GORT_NEVER), 0);
  ASSERT_EQ(gort_cancel(gort_self()), 0);
  ASSERT_EQ(gort_cond_wait(&c, &m, GORT_NEVER), GORT_ECANCELED);
  assert_holds(&m);
}

START_TEST(test_cond_wait_relocks)
{
  gt_run_in(2, cond_relock_body, NULL);
}
END_TEST

/* A plain thread waits on a cond a goroutine signals. */
typedef struct {
  cs_t s;
  int rc;
} ct_t;
static void *ct_thread(void *arg)
{
  ct_t *t = arg;
  gort_mutex_lock(&t->s.m, GORT_NEVER);
  t->s.waiting = 1;
  while (t->s.tokens == 0)
    t->rc = gort_cond_wait(&t->s.c, &t->s.m, gt_long_deadline());
  t->s.woke = 1;
  gort_mutex_unlock(&t->s.m);
  return NULL;
}
static void ct_signaller(void *arg)
{
  ct_t *t = arg;
  ASSERT_TRUE(cs_await(&t->s, &t->s.waiting, 1));
  gort_mutex_lock(&t->s.m, GORT_NEVER);
  t->s.tokens = 1;
  gort_cond_signal(&t->s.c);
  gort_mutex_unlock(&t->s.m);
}

START_TEST(test_cond_thread_waiter)
{
  static ct_t t;
  memset(&t, 0, sizeof t);
  t.rc = 1;
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 1), 0);
  pthread_t th = gt_thread(ct_thread, &t);
  gort_g *g = NULL;
  ASSERT_EQ(gort_spawn(s, ct_signaller, &t, 0, &g), 0);
  gt_thread_join(th);
  ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
  gort_g_release(g);
  ASSERT_EQ(t.rc, 0);
  ASSERT_EQ(t.s.woke, 1);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* A bounded queue with not_full / not_empty, signal only. */
#define PQ_CAP 8
typedef struct {
  gort_mutex m;
  gort_cond not_full, not_empty;
  int64_t buf[PQ_CAP];
  int head, count, done; /* under m */
  int per_producer;
  _Atomic int64_t sum, got;
  _Atomic int64_t next_producer;
} pq_t;

static void pq_producer(void *arg)
{
  pq_t *q = arg;
  int64_t p = atomic_fetch_add(&q->next_producer, 1);
  for (int i = 0; i < q->per_producer; i++) {
    int64_t v = p * q->per_producer + i + 1;
    gort_mutex_lock(&q->m, GORT_NEVER);
    while (q->count == PQ_CAP)
      gort_cond_wait(&q->not_full, &q->m, GORT_NEVER);
    q->buf[(q->head + q->count) % PQ_CAP] = v;
    q->count++;
    gort_cond_signal(&q->not_empty);
    gort_mutex_unlock(&q->m);
  }
}
static void pq_consumer(void *arg)
{
  pq_t *q = arg;
  for (;;) {
    gort_mutex_lock(&q->m, GORT_NEVER);
    while (q->count == 0 && !q->done)
      gort_cond_wait(&q->not_empty, &q->m, GORT_NEVER);
    if (q->count == 0) {
      gort_mutex_unlock(&q->m);
      return;
    }
    int64_t v = q->buf[q->head];
    q->head = (q->head + 1) % PQ_CAP;
    q->count--;
    gort_cond_signal(&q->not_full);
    gort_mutex_unlock(&q->m);
    atomic_fetch_add(&q->sum, v);
    atomic_fetch_add(&q->got, 1);
  }
}

START_TEST(test_cond_producer_consumer)
{
  static pq_t q;
  memset(&q, 0, sizeof q);
  const int np = 4, nc = 4;
  q.per_producer = (int)SCALED(10000);
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, procs[_i]), 0);
  gort_g *p[4], *c[4];
  for (int i = 0; i < nc; i++)
    ASSERT_EQ(gort_spawn(s, pq_consumer, &q, 0, &c[i]), 0);
  for (int i = 0; i < np; i++)
    ASSERT_EQ(gort_spawn(s, pq_producer, &q, 0, &p[i]), 0);
  for (int i = 0; i < np; i++) {
    ASSERT_EQ(gort_join(p[i], gt_long_deadline()), 0);
    gort_g_release(p[i]);
  }
  gort_mutex_lock(&q.m, GORT_NEVER);
  q.done = 1;
  gort_cond_broadcast(&q.not_empty);
  gort_mutex_unlock(&q.m);
  for (int i = 0; i < nc; i++) {
    ASSERT_EQ(gort_join(c[i], gt_long_deadline()), 0);
    gort_g_release(c[i]);
  }
  int64_t n = (int64_t)np * q.per_producer;
  ASSERT_EQ(atomic_load(&q.got), n);
  ASSERT_EQ(atomic_load(&q.sum), n * (n + 1) / 2);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* ---- wg ------------------------------------------------------------------ */

static void wg_done_fn(void *arg)
{
  gort_yield();
  gort_wg_done((gort_wg *)arg);
}

static void wg_basic_body(void *arg)
{
  (void)arg;
  gort_wg wg = GORT_WG_INIT;
  /* At zero: returns at once, whatever the deadline. */
  ASSERT_EQ(gort_wg_wait(&wg, GORT_NEVER), 0);
  ASSERT_EQ(gort_wg_wait(&wg, 0), 0);
  ASSERT_EQ(gort_wg_wait(&wg, GT_PAST), 0);
  ASSERT_EQ(gort_wg_add(&wg, 0), 0);
  ASSERT_EQ(gort_wg_wait(&wg, 0), 0);
  /* Above zero: the deadline shapes. */
  ASSERT_EQ(gort_wg_add(&wg, 3), 0);
  ASSERT_EQ(gort_wg_wait(&wg, 0), GORT_EAGAIN);
  ASSERT_EQ(gort_wg_wait(&wg, GT_PAST), GORT_ETIMEDOUT);
  int64_t t0 = gort_now();
  ASSERT_EQ(gort_wg_wait(&wg, t0 + GT_MS(20)), GORT_ETIMEDOUT);
  ASSERT_GE(gort_now() - t0, GT_MS(20));
  for (int i = 0; i < 3; i++)
    ASSERT_EQ(gort_spawn(NULL, wg_done_fn, &wg, 0, NULL), 0);
  ASSERT_EQ(gort_wg_wait(&wg, gt_long_deadline()), 0);
  ASSERT_EQ(gort_wg_wait(&wg, 0), 0);
}

START_TEST(test_wg_basic)
{
  gt_run_in(2, wg_basic_body, NULL);
}
END_TEST

START_TEST(test_wg_negative)
{
  gort_wg wg = GORT_WG_INIT;
  ASSERT_EQ(gort_wg_add(&wg, -1), GORT_EINVAL);
  ASSERT_EQ(gort_wg_wait(&wg, 0), 0); /* unchanged: still zero */
  ASSERT_EQ(gort_wg_done(&wg), GORT_EINVAL);
  ASSERT_EQ(gort_wg_wait(&wg, 0), 0);
  ASSERT_EQ(gort_wg_add(&wg, 2), 0);
  ASSERT_EQ(gort_wg_add(&wg, -3), GORT_EINVAL);
  ASSERT_EQ(gort_wg_wait(&wg, 0), GORT_EAGAIN); /* unchanged: still 2 */
  ASSERT_EQ(gort_wg_done(&wg), 0);
  ASSERT_EQ(gort_wg_wait(&wg, 0), GORT_EAGAIN); /* 1 */
  ASSERT_EQ(gort_wg_done(&wg), 0);
  ASSERT_EQ(gort_wg_wait(&wg, 0), 0);
  ASSERT_EQ(gort_wg_done(&wg), GORT_EINVAL);
  ASSERT_EQ(gort_wg_add(&wg, INT64_MIN), GORT_EINVAL);
  ASSERT_EQ(gort_wg_wait(&wg, 0), 0);
  /* A negative delta down to exactly zero is fine. */
  ASSERT_EQ(gort_wg_add(&wg, 5), 0);
  ASSERT_EQ(gort_wg_add(&wg, -5), 0);
  ASSERT_EQ(gort_wg_wait(&wg, 0), 0);
}
END_TEST

/* Counts beyond 32 bits are kept, not wrapped. */
START_TEST(test_wg_sema_large_counts)
{
  gort_wg wg = GORT_WG_INIT;
  const int64_t big = (int64_t)1 << 32;
  int rc = gort_wg_add(&wg, big);
  if (rc == 0) {
    ASSERT_EQ(gort_wg_wait(&wg, 0), GORT_EAGAIN);
    ASSERT_EQ(gort_wg_add(&wg, -big + 1), 0);
    ASSERT_EQ(gort_wg_wait(&wg, 0), GORT_EAGAIN); /* 1 left */
    ASSERT_EQ(gort_wg_done(&wg), 0);
  } else {
    ASSERT_EQ(rc, GORT_EINVAL); /* refusing is fine; wrapping is not */
  }
  ASSERT_EQ(gort_wg_wait(&wg, 0), 0);
  gort_sema *s = NULL;
  rc = gort_sema_new(&s, (int64_t)1 << 40);
  if (rc == 0) {
    ASSERT_EQ(gort_sema_value(s), (int64_t)1 << 40);
    ASSERT_EQ(gort_sema_acquire(s, 0), 0);
    ASSERT_EQ(gort_sema_value(s), ((int64_t)1 << 40) - 1);
    gort_sema_free(s);
  } else {
    ASSERT_EQ(rc, GORT_EINVAL);
  }
}
END_TEST

typedef struct {
  gort_wg wg, arrived;
  _Atomic int64_t released, bad;
} wgm_t;

static void wgm_wait(wgm_t *w)
{
  gort_wg_done(&w->arrived);
  if (gort_wg_wait(&w->wg, gt_long_deadline()) == 0)
    atomic_fetch_add(&w->released, 1);
  else
    atomic_fetch_add(&w->bad, 1);
}
static void wgm_wait_g(void *arg)
{
  wgm_wait(arg);
}
static void *wgm_wait_t(void *arg)
{
  wgm_wait(arg);
  return NULL;
}

/* Many waiters, all released by one add(-n) reaching zero. */
START_TEST(test_wg_many_waiters)
{
  static wgm_t w;
  memset(&w, 0, sizeof w);
  enum { N = 200 };
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  ASSERT_EQ(gort_wg_add(&w.wg, 2), 0);
  ASSERT_EQ(gort_wg_add(&w.arrived, N + 2), 0);
  gort_g *g[N];
  pthread_t t[2];
  for (int i = 0; i < N; i++)
    ASSERT_EQ(gort_spawn(s, wgm_wait_g, &w, 0, &g[i]), 0);
  for (int i = 0; i < 2; i++)
    t[i] = gt_thread(wgm_wait_t, &w);
  ASSERT_EQ(gort_wg_wait(&w.arrived, gt_long_deadline()), 0);
  ASSERT_EQ(atomic_load(&w.released), 0);
  ASSERT_EQ(gort_wg_add(&w.wg, -2), 0);
  for (int i = 0; i < N; i++) {
    ASSERT_EQ(gort_join(g[i], gt_long_deadline()), 0);
    gort_g_release(g[i]);
  }
  for (int i = 0; i < 2; i++)
    gt_thread_join(t[i]);
  ASSERT_EQ(atomic_load(&w.released), N + 2);
  ASSERT_EQ(atomic_load(&w.bad), 0);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

typedef struct {
  gort_wg wg;
  _Atomic int64_t work, bad;
} wgr_t;
static void wgr_worker(void *arg)
{
  wgr_t *r = arg;
  atomic_fetch_add(&r->work, 1);
  gort_wg_done(&r->wg);
}
static void wgr_waiter(void *arg)
{
  wgr_t *r = arg;
  if (gort_wg_wait(&r->wg, gt_long_deadline()) != 0)
    atomic_fetch_add(&r->bad, 1);
}

/* The same wg reused round after round, with extra waiters each round. */
static void wg_reuse_body(void *arg)
{
  wgr_t *r = arg;
  int rounds = (int)SCALED(300);
  for (int k = 0; k < rounds; k++) {
    ASSERT_EQ(gort_wg_add(&r->wg, 4), 0);
    gort_g *w[2];
    for (int i = 0; i < 2; i++)
      ASSERT_EQ(gort_spawn(NULL, wgr_waiter, r, 0, &w[i]), 0);
    for (int i = 0; i < 4; i++)
      ASSERT_EQ(gort_spawn(NULL, wgr_worker, r, 0, NULL), 0);
    ASSERT_EQ(gort_wg_wait(&r->wg, gt_long_deadline()), 0);
    ASSERT_EQ(atomic_load(&r->work), 4 * (int64_t)(k + 1));
    for (int i = 0; i < 2; i++) {
      ASSERT_EQ(gort_join(w[i], gt_long_deadline()), 0);
      gort_g_release(w[i]);
    }
  }
  ASSERT_EQ(atomic_load(&r->bad), 0);
}

START_TEST(test_wg_reuse)
{
  static wgr_t r;
  memset(&r, 0, sizeof r);
  gt_run_in(2, wg_reuse_body, &r);
}
END_TEST

/* ---- once ---------------------------------------------------------------- */

typedef struct {
  gort_once o;
  _Atomic int64_t runs, finished, early, bad_rc;
} once_t;

static void once_fn(void *arg)
{
  once_t *o = arg;
  atomic_fetch_add(&o->runs, 1);
  gort_sleep(GT_MS(10)); /* racers must wait for this */
  atomic_store(&o->finished, 1);
}
static void once_caller(once_t *o)
{
  if (gort_once_do(&o->o, once_fn, o) != 0)
    atomic_fetch_add(&o->bad_rc, 1);
  if (!atomic_load(&o->finished))
    atomic_fetch_add(&o->early, 1);
}
static void once_caller_g(void *arg)
{
  once_caller(arg);
}
static void *once_caller_t(void *arg)
{
  once_caller(arg);
  return NULL;
}

/* 1000 goroutines and 2 threads race: fn runs once, nobody returns before
 * it has finished, and later calls do nothing. */
START_TEST(test_once_race)
{
  static once_t o;
  memset(&o, 0, sizeof o);
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 4), 0);
  pthread_t t[2];
  for (int i = 0; i < 2; i++)
    t[i] = gt_thread(once_caller_t, &o);
  gt_spawn_join_n(s, 1000, once_caller_g, &o, NULL);
  for (int i = 0; i < 2; i++)
    gt_thread_join(t[i]);
  ASSERT_EQ(atomic_load(&o.runs), 1);
  ASSERT_EQ(atomic_load(&o.early), 0);
  ASSERT_EQ(atomic_load(&o.bad_rc), 0);
  ASSERT_EQ(gort_once_do(&o.o, once_fn, &o), 0);
  ASSERT_EQ(atomic_load(&o.runs), 1);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

static void count_fn(void *arg)
{
  (*(int *)arg)++;
}

START_TEST(test_once_init)
{
  gort_once o;
  int n = 0;
  memset(&o, 0xA5, sizeof o);
  gort_once_init(&o);
  ASSERT_EQ(gort_once_do(&o, count_fn, &n), 0);
  ASSERT_EQ(gort_once_do(&o, count_fn, &n), 0);
  ASSERT_EQ(n, 1);
  gort_once o2 = GORT_ONCE_INIT;
  ASSERT_EQ(gort_once_do(&o2, count_fn, &n), 0);
  ASSERT_EQ(n, 2);
}
END_TEST

/* ---- sema ---------------------------------------------------------------- */

static void sema_basic_body(void *arg)
{
  (void)arg;
  gort_sema *s = NULL;
  ASSERT_EQ(gort_sema_new(&s, -1), GORT_EINVAL);
  ASSERT_EQ(gort_sema_new(&s, 3), 0);
  ASSERT_NOT_NULL(s);
  ASSERT_EQ(gort_sema_value(s), 3);
  for (int i = 0; i < 3; i++)
    ASSERT_EQ(gort_sema_acquire(s, 0), 0);
  ASSERT_EQ(gort_sema_value(s), 0);
  ASSERT_EQ(gort_sema_acquire(s, 0), GORT_EAGAIN);
  ASSERT_EQ(gort_sema_acquire(s, GT_PAST), GORT_ETIMEDOUT);
  int64_t t0 = gort_now();
  ASSERT_EQ(gort_sema_acquire(s, t0 + GT_MS(20)), GORT_ETIMEDOUT);
  ASSERT_GE(gort_now() - t0, GT_MS(20));
  ASSERT_EQ(gort_sema_value(s), 0);
  ASSERT_EQ(gort_sema_release(s), 0);
  ASSERT_EQ(gort_sema_value(s), 1);
  ASSERT_EQ(gort_sema_acquire(s, GORT_NEVER), 0);
  ASSERT_EQ(gort_sema_value(s), 0);
  for (int i = 0; i < 5; i++)
    ASSERT_EQ(gort_sema_release(s), 0);
  ASSERT_EQ(gort_sema_value(s), 5);
  gort_sema_free(s);
  ASSERT_EQ(gort_sema_new(&s, 0), 0);
  ASSERT_EQ(gort_sema_value(s), 0);
  gort_sema_free(s);
}

START_TEST(test_sema_basic)
{
  run_goroutine_or_thread(_i, sema_basic_body, NULL);
}
END_TEST

typedef struct {
  gort_sema *s;
  _Atomic int64_t inside, max_inside, bad;
  int rounds;
} semc_t;

static void semc_worker(void *arg)
{
  semc_t *c = arg;
  for (int r = 0; r < c->rounds; r++) {
    if (gort_sema_acquire(c->s, GORT_NEVER) != 0) {
      atomic_fetch_add(&c->bad, 1);
      return;
    }
    int64_t in = atomic_fetch_add(&c->inside, 1) + 1;
    int64_t mx = atomic_load(&c->max_inside);
    while (in > mx && !atomic_compare_exchange_weak(&c->max_inside, &mx, in)) {
    }
    gort_sleep(GT_US(200));
    atomic_fetch_sub(&c->inside, 1);
    gort_sema_release(c->s);
  }
}

/* A count of 3 admits at most 3 at once, and the units all come back. */
START_TEST(test_sema_counting)
{
  static semc_t c;
  memset(&c, 0, sizeof c);
  c.rounds = (int)SCALED(50);
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 4), 0);
  ASSERT_EQ(gort_sema_new(&c.s, 3), 0);
  gt_spawn_join_n(s, 12, semc_worker, &c, NULL);
  ASSERT_EQ(atomic_load(&c.bad), 0);
  ASSERT_LE(atomic_load(&c.max_inside), 3);
  ASSERT_GE(atomic_load(&c.max_inside), 1);
  ASSERT_EQ(gort_sema_value(c.s), 3);
  gort_sema_free(c.s);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

typedef struct {
  gort_sema *s;
  _Atomic int64_t queued;
  _Atomic int64_t seq;
  int64_t order[5];
} semf_t;
typedef struct {
  semf_t *f;
  int i;
} semf_arg;

static void semf_waiter(void *arg)
{
  semf_arg *a = arg;
  atomic_fetch_add(&a->f->queued, 1);
  ASSERT_EQ(gort_sema_acquire(a->f->s, GORT_NEVER), 0);
  a->f->order[a->i] = atomic_fetch_add(&a->f->seq, 1);
}

/* One P, so each waiter has parked before the next is spawned: waiters are
 * served in arrival order, and a release hands the unit to the first
 * waiter rather than leaving it for whoever asks next. */
static void sema_fifo_body(void *arg)
{
  semf_t *f = arg;
  semf_arg a[5];
  gort_g *g[5];
  ASSERT_EQ(gort_sema_new(&f->s, 0), 0);
  for (int i = 0; i < 5; i++) {
    a[i].f = f;
    a[i].i = i;
    ASSERT_EQ(gort_spawn(NULL, semf_waiter, &a[i], 0, &g[i]), 0);
    ASSERT_TRUE(gt_await_ge(&f->queued, i + 1));
    for (int k = 0; k < 3; k++)
      gort_yield(); /* let it reach the queue */
  }
  ASSERT_EQ(gort_sema_release(f->s), 0);
  ASSERT_EQ(gort_sema_acquire(f->s, 0), GORT_EAGAIN); /* handed off */
  ASSERT_EQ(gort_join(g[0], gt_long_deadline()), 0);
  for (int i = 1; i < 5; i++) {
    ASSERT_EQ(gort_sema_release(f->s), 0);
    ASSERT_EQ(gort_join(g[i], gt_long_deadline()), 0);
  }
  for (int i = 0; i < 5; i++) {
    ASSERT_EQ(f->order[i], i);
    gort_g_release(g[i]);
  }
  ASSERT_EQ(gort_sema_value(f->s), 0);
  gort_sema_free(f->s);
}

START_TEST(test_sema_fifo_handoff)
{
  static semf_t f;
  memset(&f, 0, sizeof f);
  gt_run_in(1, sema_fifo_body, &f);
}
END_TEST

typedef struct {
  gort_sema *s;
  int rc;
} semt_t;
static void *semt_thread(void *arg)
{
  semt_t *t = arg;
  t->rc = gort_sema_acquire(t->s, gt_long_deadline());
  return NULL;
}
static void semt_release(void *arg)
{
  gort_sleep(GT_MS(5));
  gort_sema_release(((semt_t *)arg)->s);
}

START_TEST(test_sema_thread)
{
  semt_t t = {NULL, 1};
  ASSERT_EQ(gort_sema_new(&t.s, 0), 0);
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 1), 0);
  pthread_t th = gt_thread(semt_thread, &t);
  ASSERT_EQ(gort_spawn(s, semt_release, &t, 0, NULL), 0);
  gt_thread_join(th);
  ASSERT_EQ(t.rc, 0);
  ASSERT_EQ(gort_sema_value(t.s), 0);
  gort_sema_free(t.s);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* ---- bargelock ----------------------------------------------------------- */

static void barge_basic_body(void *arg)
{
  (void)arg;
  gort_bargelock l = GORT_BARGELOCK_INIT;
  ASSERT_EQ(gort_bargelock_lock(&l, GORT_NEVER), 0);
  ASSERT_EQ(gort_bargelock_trylock(&l), GORT_EBUSY);
  ASSERT_EQ(gort_bargelock_lock(&l, 0), GORT_EAGAIN);
  ASSERT_EQ(gort_bargelock_lock(&l, GT_PAST), GORT_ETIMEDOUT);
  int64_t t0 = gort_now();
  ASSERT_EQ(gort_bargelock_lock(&l, t0 + GT_MS(20)), GORT_ETIMEDOUT);
  ASSERT_GE(gort_now() - t0, GT_MS(20));
  ASSERT_EQ(gort_bargelock_unlock(&l), 0);
  ASSERT_EQ(gort_bargelock_unlock(&l), GORT_EINVAL);
  ASSERT_EQ(gort_bargelock_trylock(&l), 0);
  ASSERT_EQ(gort_bargelock_unlock(&l), 0);
  ASSERT_EQ(gort_bargelock_lock(&l, 0), 0);
  ASSERT_EQ(gort_bargelock_unlock(&l), 0);
  gort_bargelock_init(&l);
  ASSERT_EQ(gort_bargelock_trylock(&l), 0);
  ASSERT_EQ(gort_bargelock_unlock(&l), 0);
}

START_TEST(test_bargelock_basic)
{
  run_goroutine_or_thread(_i, barge_basic_body, NULL);
}
END_TEST

typedef struct {
  gort_bargelock l;
  _Atomic int64_t trying;
  _Atomic int64_t got;
} barge_t;

static void barge_other(void *arg)
{
  barge_t *b = arg;
  atomic_fetch_add(&b->trying, 1);
  ASSERT_EQ(gort_bargelock_lock(&b->l, GORT_NEVER), 0);
  atomic_fetch_add(&b->got, 1);
  ASSERT_EQ(gort_bargelock_unlock(&b->l), 0);
}

/* One P. We hold the lock while another goroutine queues on it; we unlock
 * and at once re-take it: a barging lock lets us (a handoff lock would have
 * given it to the queued one). Then the queued one still gets its turn. */
static void barging_body(void *arg)
{
  barge_t *b = arg;
  int rounds = 20;
  for (int r = 0; r < rounds; r++) {
    ASSERT_EQ(gort_bargelock_lock(&b->l, GORT_NEVER), 0);
    gort_g *g = NULL;
    ASSERT_EQ(gort_spawn(NULL, barge_other, b, 0, &g), 0);
    ASSERT_TRUE(gt_await_ge(&b->trying, r + 1));
    for (int k = 0; k < 3; k++)
      gort_yield(); /* let it park */
    ASSERT_EQ(atomic_load(&b->got), r);
    ASSERT_EQ(gort_bargelock_unlock(&b->l), 0);
    ASSERT_EQ(gort_bargelock_trylock(&b->l), 0); /* barged */
    ASSERT_EQ(gort_bargelock_unlock(&b->l), 0);
    ASSERT_EQ(gort_bargelock_lock(&b->l, 0), 0); /* and again */
    ASSERT_EQ(gort_bargelock_unlock(&b->l), 0);
    ASSERT_EQ(gort_join(g, gt_long_deadline()), 0); /* no lost wake-up */
    gort_g_release(g);
    ASSERT_EQ(atomic_load(&b->got), r + 1);
  }
}

START_TEST(test_bargelock_barging)
{
  static barge_t b;
  memset(&b, 0, sizeof b);
  gt_run_in(1, barging_body, &b);
}
END_TEST

typedef struct {
  gort_bargelock l;
  int64_t counter;
  _Atomic int64_t inside, overlap;
  int iters;
} bcnt_t;

static void bcnt_work(bcnt_t *c)
{
  for (int i = 0; i < c->iters; i++) {
    if (gort_bargelock_lock(&c->l, GORT_NEVER) != 0) {
      atomic_fetch_add(&c->overlap, 1000000);
      return;
    }
    if (atomic_fetch_add(&c->inside, 1) != 0)
      atomic_fetch_add(&c->overlap, 1);
    c->counter++;
    if (i % 8 == 0)
      gort_yield();
    atomic_fetch_sub(&c->inside, 1);
    gort_bargelock_unlock(&c->l);
  }
}
static void bcnt_g(void *arg)
{
  bcnt_work(arg);
}
static void *bcnt_t_fn(void *arg)
{
  bcnt_work(arg);
  return NULL;
}

/* Under contention on several Ps (and a plain thread), every lock is
 * granted: nobody sleeps through an unlock. */
START_TEST(test_bargelock_contention)
{
  static bcnt_t c;
  memset(&c, 0, sizeof c);
  c.iters = (int)SCALED(20000);
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, procs[_i]), 0);
  pthread_t t = gt_thread(bcnt_t_fn, &c);
  gt_spawn_join_n(s, 8, bcnt_g, &c, NULL);
  gt_thread_join(t);
  ASSERT_EQ(c.counter, 9 * (int64_t)c.iters);
  ASSERT_EQ(atomic_load(&c.overlap), 0);
  ASSERT_EQ(gort_bargelock_trylock(&c.l), 0);
  ASSERT_EQ(gort_bargelock_unlock(&c.l), 0);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* ---- deadlines when nothing needs waiting -------------------------------- */

/* A past deadline on something available at once still succeeds: the
 * deadline bounds waiting, like 0 ("only try") does. */
START_TEST(test_past_deadline_when_available)
{
  gort_mutex m = GORT_MUTEX_INIT;
  gort_rwmutex rw = GORT_RWMUTEX_INIT;
  gort_bargelock b = GORT_BARGELOCK_INIT;
  gort_wg wg = GORT_WG_INIT;
  gort_sema *s = NULL;
  ASSERT_EQ(gort_mutex_lock(&m, GT_PAST), 0);
  ASSERT_EQ(gort_mutex_unlock(&m), 0);
  ASSERT_EQ(gort_rwmutex_rlock(&rw, GT_PAST), 0);
  ASSERT_EQ(gort_rwmutex_runlock(&rw), 0);
  ASSERT_EQ(gort_rwmutex_lock(&rw, GT_PAST), 0);
  ASSERT_EQ(gort_rwmutex_unlock(&rw), 0);
  ASSERT_EQ(gort_bargelock_lock(&b, GT_PAST), 0);
  ASSERT_EQ(gort_bargelock_unlock(&b), 0);
  ASSERT_EQ(gort_wg_wait(&wg, GT_PAST), 0);
  ASSERT_EQ(gort_sema_new(&s, 1), 0);
  ASSERT_EQ(gort_sema_acquire(s, GT_PAST), 0);
  gort_sema_free(s);
}
END_TEST

static Suite *sync_suite(void)
{
  Suite *s = suite_create("sync");
  TCase *tc = gt_tcase(s, "mutex", 120);
  tcase_add_loop_test(tc, test_mutex_basic, 0, 2);
  tcase_add_test(tc, test_mutex_deadlines);
  tcase_add_loop_test(tc, test_mutex_contention, 0, NPROCS);
  tcase_add_test(tc, test_mutex_starvation);

  tc = gt_tcase(s, "rwmutex", 120);
  tcase_add_loop_test(tc, test_rwmutex_basic, 0, 2);
  tcase_add_loop_test(tc, test_rwmutex_readers_concurrent, 0, NPROCS);
  tcase_add_loop_test(tc, test_rwmutex_writer_exclusion, 0, NPROCS);
  tcase_add_test(tc, test_rwmutex_writer_not_starved);
  tcase_add_test(tc, test_rwmutex_pending_writer_blocks_readers);
  tcase_add_test(tc, test_rwmutex_deadlines);

  tc = gt_tcase(s, "cond", 120);
  tcase_add_test(tc, test_cond_signal_one);
  tcase_add_test(tc, test_cond_broadcast_all);
  tcase_add_test(tc, test_cond_no_waiters);
  tcase_add_test(tc, test_cond_wait_relocks);
  tcase_add_test(tc, test_cond_thread_waiter);
  tcase_add_loop_test(tc, test_cond_producer_consumer, 0, NPROCS);

  tc = gt_tcase(s, "wg", 120);
  tcase_add_test(tc, test_wg_basic);
  tcase_add_test(tc, test_wg_negative);
  tcase_add_test(tc, test_wg_many_waiters);
  tcase_add_test(tc, test_wg_reuse);
  tcase_add_test(tc, test_wg_sema_large_counts);

  tc = gt_tcase(s, "once", 120);
  tcase_add_test(tc, test_once_race);
  tcase_add_test(tc, test_once_init);

  tc = gt_tcase(s, "sema", 120);
  tcase_add_loop_test(tc, test_sema_basic, 0, 2);
  tcase_add_test(tc, test_sema_counting);
  tcase_add_test(tc, test_sema_fifo_handoff);
  tcase_add_test(tc, test_sema_thread);

  tc = gt_tcase(s, "bargelock", 120);
  tcase_add_loop_test(tc, test_bargelock_basic, 0, 2);
  tcase_add_test(tc, test_bargelock_barging);
  tcase_add_loop_test(tc, test_bargelock_contention, 0, NPROCS);

  tc = gt_tcase(s, "deadline", 120);
  tcase_add_test(tc, test_past_deadline_when_available);
  return s;
}

GT_MAIN(sync_suite)
