/*
 * check_stress.c - volume and races, every count scaled by GORT_TEST_SCALE.
 *
 *  - a million goroutines spawned and finished (detached + wg; handles
 *    joined and released in batches), a million parked at once on one wg;
 *  - 1e5 sleepers with random durations, none waking early;
 *  - mutex / rwmutex / wg / cond under contention with 1..8 Ps;
 *  - cancellation racing the wake-up it competes with (mutex, sleep, wg,
 *    cond, sema): the result is always 0 or GORT_ECANCELED, nothing hangs,
 *    nothing is woken twice, the primitive stays consistent;
 *  - join racing exit; maxprocs flipped under load; shutdown with many
 *    goroutines alive, and schedulers created and shut down in a loop
 *    without leaking threads.
 */
#define _GNU_SOURCE
#include "testutil.h"

static const int procs[] = {1, 2, 4, 8};
#define NPROCS ((int)(sizeof procs / sizeof procs[0]))

static void noop(void *arg)
{
  (void)arg;
}

/* Busy-waits a few iterations: varies interleavings without sleeping. */
static void spin(uint64_t n)
{
  for (volatile uint64_t i = 0; i < n; i++) {
  }
}

/* ---- a million goroutines ------------------------------------------------ */

typedef struct {
  gort_wg wg;
  _Atomic int64_t ran;
  int64_t n;
  int spawners;
  _Atomic int64_t spawn_fail;
} mil_t;

static void mil_fn(void *arg)
{
  mil_t *m = arg;
  atomic_fetch_add_explicit(&m->ran, 1, memory_order_relaxed);
  gort_wg_done(&m->wg);
}
static void mil_spawner(void *arg)
{
  mil_t *m = arg;
  int64_t each = m->n / m->spawners;
  for (int64_t i = 0; i < each; i++)
    if (gort_go(mil_fn, m) != 0) {
      atomic_fetch_add(&m->spawn_fail, 1);
      gort_wg_done(&m->wg);
    }
}

/* Detached goroutines counted with a wg. */
START_TEST(test_million_detached)
{
  static mil_t m;
  memset(&m, 0, sizeof m);
  m.spawners = 4;
  m.n = SCALED(1000000) / m.spawners * m.spawners;
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 0), 0);
  ASSERT_EQ(gort_wg_add(&m.wg, m.n), 0);
  for (int i = 0; i < m.spawners; i++)
    ASSERT_EQ(gort_spawn(s, mil_spawner, &m, 0, NULL), 0);
  ASSERT_EQ(gort_wg_wait(&m.wg, gt_deadline(GT_SEC(120))), 0);
  ASSERT_EQ(atomic_load(&m.spawn_fail), 0);
  ASSERT_EQ(atomic_load(&m.ran), m.n);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

typedef struct {
  _Atomic int64_t ran;
  int64_t n;
} milh_t;

static void milh_fn(void *arg)
{
  atomic_fetch_add_explicit(&((milh_t *)arg)->ran, 1, memory_order_relaxed);
}

/* With handles: spawned, joined and released 10,000 at a time. */
static void million_handles_body(void *arg)
{
  milh_t *m = arg;
  enum { BATCH = 10000 };
  gort_g **g = calloc(BATCH, sizeof *g);
  ASSERT_NOT_NULL(g);
  for (int64_t done = 0; done < m->n;) {
    int64_t k = m->n - done < BATCH ? m->n - done : BATCH;
    for (int64_t i = 0; i < k; i++)
      ASSERT_EQ(gort_spawn(NULL, milh_fn, m, 0, &g[i]), 0);
    for (int64_t i = 0; i < k; i++) {
      ASSERT_EQ(gort_join(g[i], gt_long_deadline()), 0);
      gort_g_release(g[i]);
    }
    done += k;
    ASSERT_EQ(atomic_load(&m->ran), done);
  }
  free(g);
}

START_TEST(test_million_handles)
{
  static milh_t m;
  memset(&m, 0, sizeof m);
  m.n = SCALED(1000000);
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 0), 0);
  gort_g *g = NULL;
  ASSERT_EQ(gort_spawn(s, million_handles_body, &m, 0, &g), 0);
  ASSERT_EQ(gort_join(g, gt_deadline(GT_SEC(120))), 0);
  gort_g_release(g);
  ASSERT_EQ(atomic_load(&m.ran), m.n);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

typedef struct {
  gort_wg gate, arrived, done;
  _Atomic int64_t ok, bad, spawn_fail;
  int64_t n;
  int spawners;
} gate_t;

static void gated_fn(void *arg)
{
  gate_t *g = arg;
  gort_wg_done(&g->arrived);
  if (gort_wg_wait(&g->gate, GORT_NEVER) == 0)
    atomic_fetch_add_explicit(&g->ok, 1, memory_order_relaxed);
  else
    atomic_fetch_add(&g->bad, 1);
  gort_wg_done(&g->done);
}
static void gated_spawner(void *arg)
{
  gate_t *g = arg;
  for (int64_t i = 0; i < g->n / g->spawners; i++)
    if (gort_spawn(NULL, gated_fn, g, 0, NULL) != 0) {
      atomic_fetch_add(&g->spawn_fail, 1);
      gort_wg_done(&g->arrived);
      gort_wg_done(&g->done);
    }
}

/* A million goroutines parked at once on one wg, then all released. */
START_TEST(test_million_blocked)
{
  static gate_t g;
  memset(&g, 0, sizeof g);
  g.spawners = 2;
  g.n = SCALED(1000000) / g.spawners * g.spawners;
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 0), 0);
  ASSERT_EQ(gort_wg_add(&g.gate, 1), 0);
  ASSERT_EQ(gort_wg_add(&g.arrived, g.n), 0);
  ASSERT_EQ(gort_wg_add(&g.done, g.n), 0);
  gort_g *sp[2];
  for (int i = 0; i < g.spawners; i++)
    ASSERT_EQ(gort_spawn(s, gated_spawner, &g, 0, &sp[i]), 0);
  for (int i = 0; i < g.spawners; i++) {
    ASSERT_EQ(gort_join(sp[i], gt_deadline(GT_SEC(120))), 0);
    gort_g_release(sp[i]);
  }
  ASSERT_EQ(atomic_load(&g.spawn_fail), 0);
  ASSERT_EQ(gort_wg_wait(&g.arrived, gt_deadline(GT_SEC(120))), 0);
  ASSERT_EQ(gort_sched_numgoroutine(s), g.n);
  ASSERT_EQ(atomic_load(&g.ok) + atomic_load(&g.bad), 0);
  ASSERT_EQ(gort_wg_done(&g.gate), 0);
  ASSERT_EQ(gort_wg_wait(&g.done, gt_deadline(GT_SEC(120))), 0);
  ASSERT_EQ(atomic_load(&g.ok), g.n);
  ASSERT_EQ(atomic_load(&g.bad), 0);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* ---- sleepers ------------------------------------------------------------ */

typedef struct {
  gort_wg wg;
  _Atomic int64_t early, bad_rc, next;
} slp_t;

static void slp_fn(void *arg)
{
  slp_t *s = arg;
  uint64_t seed = (uint64_t)atomic_fetch_add(&s->next, 1) * 2654435761u + 1;
  int64_t ask = (int64_t)(gt_rand(&seed) % (uint64_t)GT_MS(10));
  int until = (int)(gt_rand(&seed) & 1);
  int64_t before = gort_now();
  int rc = until ? gort_sleep_until(before + ask) : gort_sleep(ask);
  int64_t after = gort_now();
  if (rc != 0)
    atomic_fetch_add(&s->bad_rc, 1);
  if (after < before + ask)
    atomic_fetch_add(&s->early, 1);
  gort_wg_done(&s->wg);
}

/* 1e5 goroutines each sleeping 0-10 ms at random: all finish, none early. */
START_TEST(test_many_random_sleepers)
{
  static slp_t sl;
  memset(&sl, 0, sizeof sl);
  int64_t n = SCALED(100000);
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 0), 0);
  ASSERT_EQ(gort_wg_add(&sl.wg, n), 0);
  for (int64_t i = 0; i < n; i++)
    ASSERT_EQ(gort_spawn(s, slp_fn, &sl, 0, NULL), 0);
  ASSERT_EQ(gort_wg_wait(&sl.wg, gt_deadline(GT_SEC(120))), 0);
  ASSERT_EQ(atomic_load(&sl.early), 0);
  ASSERT_EQ(atomic_load(&sl.bad_rc), 0);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* ---- contention ---------------------------------------------------------- */

typedef struct {
  gort_mutex m;
  int64_t counter;
  _Atomic int64_t inside, bad;
  int iters;
} smx_t;

static void smx_fn(void *arg)
{
  smx_t *x = arg;
  for (int i = 0; i < x->iters; i++) {
    gort_mutex_lock(&x->m, GORT_NEVER);
    if (atomic_fetch_add_explicit(&x->inside, 1, memory_order_relaxed) != 0)
      atomic_fetch_add(&x->bad, 1);
    x->counter++;
    atomic_fetch_sub_explicit(&x->inside, 1, memory_order_relaxed);
    gort_mutex_unlock(&x->m);
    if (i % 32 == 0)
      gort_yield();
  }
}

START_TEST(test_stress_mutex)
{
  static smx_t x;
  memset(&x, 0, sizeof x);
  enum { N = 256 };
  x.iters = (int)SCALED(4000);
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, procs[_i]), 0);
  gt_spawn_join_n(s, N, smx_fn, &x, NULL);
  ASSERT_EQ(x.counter, (int64_t)N * x.iters);
  ASSERT_EQ(atomic_load(&x.bad), 0);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

typedef struct {
  gort_rwmutex rw;
  int64_t a, b;
  _Atomic int64_t readers, writers, bad, next;
  int iters;
} srw_t;

static void srw_fn(void *arg)
{
  srw_t *x = arg;
  int writer = atomic_fetch_add(&x->next, 1) % 8 == 0;
  for (int i = 0; i < x->iters; i++) {
    if (writer) {
      gort_rwmutex_lock(&x->rw, GORT_NEVER);
      if (atomic_fetch_add(&x->writers, 1) != 0 ||
          atomic_load(&x->readers) != 0)
        atomic_fetch_add(&x->bad, 1);
      x->a++;
      x->b++;
      atomic_fetch_sub(&x->writers, 1);
      gort_rwmutex_unlock(&x->rw);
    } else {
      gort_rwmutex_rlock(&x->rw, GORT_NEVER);
      atomic_fetch_add(&x->readers, 1);
      if (atomic_load(&x->writers) != 0 || x->a != x->b)
        atomic_fetch_add(&x->bad, 1);
      atomic_fetch_sub(&x->readers, 1);
      gort_rwmutex_runlock(&x->rw);
    }
    if (i % 32 == 0)
      gort_yield();
  }
}

START_TEST(test_stress_rwmutex)
{
  static srw_t x;
  memset(&x, 0, sizeof x);
  enum { N = 128 };
  x.iters = (int)SCALED(4000);
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, procs[_i]), 0);
  gt_spawn_join_n(s, N, srw_fn, &x, NULL);
  ASSERT_EQ(atomic_load(&x.bad), 0);
  ASSERT_EQ(x.a, (int64_t)(N / 8) * x.iters);
  ASSERT_EQ(x.b, x.a);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

typedef struct {
  gort_wg *wg;
  _Atomic int64_t *work;
} swg_arg;
static void swg_worker(void *arg)
{
  swg_arg *a = arg;
  atomic_fetch_add(a->work, 1);
  gort_wg_done(a->wg);
}
static void swg_waiter(void *arg)
{
  swg_arg *a = arg;
  ASSERT_EQ(gort_wg_wait(a->wg, gt_long_deadline()), 0);
}

/* Rounds of 16 workers and 4 extra waiters on one reused wg. */
static void stress_wg_body(void *arg)
{
  (void)arg;
  gort_wg wg = GORT_WG_INIT;
  _Atomic int64_t work = 0;
  swg_arg a = {&wg, &work};
  int rounds = (int)SCALED(2000);
  for (int r = 0; r < rounds; r++) {
    gort_g *w[4];
    ASSERT_EQ(gort_wg_add(&wg, 16), 0);
    for (int i = 0; i < 4; i++)
      ASSERT_EQ(gort_spawn(NULL, swg_waiter, &a, 0, &w[i]), 0);
    for (int i = 0; i < 16; i++)
      ASSERT_EQ(gort_spawn(NULL, swg_worker, &a, 0, NULL), 0);
    ASSERT_EQ(gort_wg_wait(&wg, gt_long_deadline()), 0);
    ASSERT_EQ(atomic_load(&work), 16 * (int64_t)(r + 1));
    for (int i = 0; i < 4; i++) {
      ASSERT_EQ(gort_join(w[i], gt_long_deadline()), 0);
      gort_g_release(w[i]);
    }
  }
}

START_TEST(test_stress_wg)
{
  gt_run_in(procs[_i], stress_wg_body, NULL);
}
END_TEST

/* Pairs passing a turn back and forth through a mutex and cond. */
typedef struct {
  gort_mutex m;
  gort_cond c;
  int turn; /* 0 or 1, under m */
  int64_t passes;
  int iters;
} pp_t;
typedef struct {
  pp_t *p;
  int side;
} pp_arg;

static void pp_fn(void *arg)
{
  pp_arg *a = arg;
  pp_t *p = a->p;
  for (int i = 0; i < p->iters; i++) {
    gort_mutex_lock(&p->m, GORT_NEVER);
    while (p->turn != a->side)
      ASSERT_EQ(gort_cond_wait(&p->c, &p->m, GORT_NEVER), 0);
    p->turn = !a->side;
    p->passes++;
    gort_cond_signal(&p->c);
    gort_mutex_unlock(&p->m);
  }
}

START_TEST(test_stress_cond_pingpong)
{
  enum { PAIRS = 32 };
  static pp_t p[PAIRS];
  static pp_arg a[2 * PAIRS];
  memset(p, 0, sizeof p);
  void *args[2 * PAIRS];
  int iters = (int)SCALED(2000);
  for (int i = 0; i < PAIRS; i++) {
    p[i].iters = iters;
    for (int k = 0; k < 2; k++) {
      a[2 * i + k].p = &p[i];
      a[2 * i + k].side = k;
      args[2 * i + k] = &a[2 * i + k];
    }
  }
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, procs[_i]), 0);
  gt_spawn_join_n(s, 2 * PAIRS, pp_fn, NULL, args);
  for (int i = 0; i < PAIRS; i++)
    ASSERT_EQ(p[i].passes, 2 * (int64_t)iters);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* ---- timed waits that mostly succeed -------------------------------------- *
 * Every lock/wait arms a deadline timer that must be disarmed when the wait
 * ends first; a few expire. Exercises timer insertion and removal under
 * contention; the counts stay exact. */
typedef struct {
  gort_mutex m;
  gort_sema *sem;
  int64_t counter; /* under m */
  _Atomic int64_t timeouts, bad;
  int iters;
} tw_churn_t;

static void churn_fn(void *arg)
{
  tw_churn_t *c = arg;
  uint64_t seed = (uint64_t)(uintptr_t)gort_self() | 1;
  for (int i = 0; i < c->iters; i++) {
    int64_t dl =
        gort_now() + (gt_rand(&seed) % 4 == 0 ? GT_US(20) : GT_SEC(10));
    int rc = gort_mutex_lock(&c->m, dl);
    if (rc == 0) {
      c->counter++;
      if (i % 16 == 0)
        gort_yield();
      gort_mutex_unlock(&c->m);
    } else if (rc == GORT_ETIMEDOUT) {
      atomic_fetch_add(&c->timeouts, 1);
    } else {
      atomic_fetch_add(&c->bad, 1);
    }
    rc = gort_sema_acquire(c->sem, gort_now() + GT_SEC(10));
    if (rc == 0)
      gort_sema_release(c->sem);
    else
      atomic_fetch_add(&c->bad, 1);
  }
}

START_TEST(test_timed_waits_churn)
{
  static tw_churn_t c;
  memset(&c, 0, sizeof c);
  c.iters = (int)SCALED(20000);
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, procs[_i]), 0);
  ASSERT_EQ(gort_sema_new(&c.sem, 2), 0);
  gt_spawn_join_n(s, 16, churn_fn, &c, NULL);
  ASSERT_EQ(atomic_load(&c.bad), 0);
  ASSERT_EQ(c.counter + atomic_load(&c.timeouts), 16 * (int64_t)c.iters);
  ASSERT_EQ(gort_sema_value(c.sem), 2);
  gort_sema_free(c.sem);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* The canceller is a plain OS thread (gort_cancel works from anywhere) so
 * it truly runs at the same time as the waking goroutine. Each round the
 * test arms it with a victim; it spins until "go", waits a random few
 * iterations and cancels, while the test waits its own random few and
 * wakes the victim: both outcomes of the race occur often. */
typedef struct {
  pthread_t thread;
  _Atomic int64_t armed, done;
  _Atomic int go, quit;
  gort_g *_Atomic victim;
  _Atomic uint64_t spin;
} racer;

static void *racer_main(void *arg)
{
  racer *r = arg;
  int64_t last = 0;
  for (;;) {
    unsigned k = 0;
    while (atomic_load(&r->armed) == last && !atomic_load(&r->quit))
      if (++k % 64 == 0)
        sched_yield();
    if (atomic_load(&r->quit))
      return NULL;
    last = atomic_load(&r->armed);
    k = 0;
    while (!atomic_load(&r->go))
      if (++k % 4096 == 0)
        sched_yield();
    spin(atomic_load(&r->spin));
    gort_cancel(atomic_load(&r->victim));
    atomic_store(&r->done, last);
  }
}

static void racer_start(racer *r)
{
  memset(r, 0, sizeof *r);
  r->thread = gt_thread(racer_main, r);
}
static void racer_stop(racer *r)
{
  atomic_store(&r->quit, 1);
  gt_thread_join(r->thread);
}
/* Arms the racer for one round; "go" is given by racer_go. */
static void racer_arm(racer *r, gort_g *victim, uint64_t spin_n)
{
  atomic_store(&r->go, 0);
  atomic_store(&r->victim, victim);
  atomic_store(&r->spin, spin_n);
  atomic_fetch_add(&r->armed, 1);
}
static void racer_go(racer *r)
{
  atomic_store(&r->go, 1);
}
/* Waits until the round's cancel has been issued (the handle stays valid). */
static void racer_wait(racer *r)
{
  int64_t end = gt_long_deadline();
  while (atomic_load(&r->done) != atomic_load(&r->armed)) {
    ASSERT_LT(gort_now(), end);
    gort_yield();
  }
}

/* ---- cancellation racing wake-up ----------------------------------------- */

enum { RV_MUTEX, RV_SLEEP, RV_WG, RV_COND, RV_SEMA, RV_JOIN, RV_N };
static const char *const rv_names[RV_N] = {"mutex", "sleep", "wg",
                                           "cond",  "sema",  "join"};

typedef struct {
  int kind;
  uint64_t seed;
  gort_mutex m;
  gort_cond c;
  gort_wg gate;
  gort_sema *sem;
  _Atomic int ready;
  _Atomic int body_holds;
  int waiting, flag; /* cond, under m */
  gort_g *victim;
  gort_g *target; /* RV_JOIN: what the victim joins */
  racer rc_thread;
  uint64_t spin_c;
  int64_t ask;
  /* results */
  int rc;
  int bad; /* a wake-up that cannot be */
  int64_t slept;
} race_t;

static void race_victim(void *arg)
{
  race_t *r = arg;
  switch (r->kind) {
  case RV_MUTEX:
    atomic_store(&r->ready, 1);
    r->rc = gort_mutex_lock(&r->m, GORT_NEVER);
    if (r->rc == 0) {
      if (atomic_load(&r->body_holds))
        r->bad = 1; /* woken while held */
      gort_mutex_unlock(&r->m);
    }
    break;
  case RV_SLEEP: {
    atomic_store(&r->ready, 1);
    int64_t t0 = gort_now();
    r->rc = gort_sleep(r->ask);
    r->slept = gort_now() - t0;
    if (r->rc == 0 && r->slept < r->ask)
      r->bad = 1;
    break;
  }
  case RV_WG:
    atomic_store(&r->ready, 1);
    r->rc = gort_wg_wait(&r->gate, GORT_NEVER);
    break;
  case RV_COND:
    gort_mutex_lock(&r->m, GORT_NEVER);
    r->waiting = 1;
    atomic_store(&r->ready, 1);
    r->rc = 0;
    while (!r->flag && r->rc == 0)
      r->rc = gort_cond_wait(&r->c, &r->m, GORT_NEVER);
    if (r->rc == 0 && !r->flag)
      r->bad = 1;
    /* Whatever happened, we hold m. */
    if (gort_mutex_trylock(&r->m) != GORT_EBUSY)
      r->bad = 1;
    if (gort_mutex_unlock(&r->m) != 0)
      r->bad = 1;
    break;
  case RV_SEMA:
    atomic_store(&r->ready, 1);
    r->rc = gort_sema_acquire(r->sem, GORT_NEVER);
    break;
  case RV_JOIN:
    atomic_store(&r->ready, 1);
    r->rc = gort_join(r->target, GORT_NEVER);
    if (r->rc == 0 && gort_join(r->target, 0) == GORT_EAGAIN)
      r->bad = 1;
    break;
  }
}

static void race_target(void *arg)
{
  race_t *r = arg;
  gort_wg_wait(&r->gate, GORT_NEVER);
}

static void race_await_ready(race_t *r)
{
  int64_t end = gt_long_deadline();
  while (!atomic_load(&r->ready)) {
    ASSERT_LT(gort_now(), end);
    gort_yield();
  }
}

static void race_one(race_t *r)
{
  uint64_t spin_b = gt_rand(&r->seed) % 2000;
  r->spin_c = gt_rand(&r->seed) % 2000;
  r->ask = (int64_t)(gt_rand(&r->seed) % (uint64_t)GT_US(20));
  atomic_store(&r->ready, 0);
  r->rc = 1;
  r->bad = 0;
  r->waiting = r->flag = 0;
  switch (r->kind) {
  case RV_MUTEX:
    ASSERT_EQ(gort_mutex_lock(&r->m, GORT_NEVER), 0);
    atomic_store(&r->body_holds, 1);
    ASSERT_EQ(gort_spawn(NULL, race_victim, r, 0, &r->victim), 0);
    race_await_ready(r);
    racer_arm(&r->rc_thread, r->victim, r->spin_c);
    racer_go(&r->rc_thread);
    spin(spin_b);
    atomic_store(&r->body_holds, 0);
    ASSERT_EQ(gort_mutex_unlock(&r->m), 0);
    break;
  case RV_SLEEP:
    ASSERT_EQ(gort_spawn(NULL, race_victim, r, 0, &r->victim), 0);
    race_await_ready(r);
    racer_arm(&r->rc_thread, r->victim, r->spin_c);
    racer_go(&r->rc_thread);
    break;
  case RV_WG:
    ASSERT_EQ(gort_wg_add(&r->gate, 1), 0);
    ASSERT_EQ(gort_spawn(NULL, race_victim, r, 0, &r->victim), 0);
    race_await_ready(r);
    racer_arm(&r->rc_thread, r->victim, r->spin_c);
    racer_go(&r->rc_thread);
    spin(spin_b);
    ASSERT_EQ(gort_wg_done(&r->gate), 0);
    break;
  case RV_COND:
    ASSERT_EQ(gort_spawn(NULL, race_victim, r, 0, &r->victim), 0);
    race_await_ready(r);
    /* ready is set under m: taking m means the victim is in cond_wait. */
    ASSERT_EQ(gort_mutex_lock(&r->m, GORT_NEVER), 0);
    racer_arm(&r->rc_thread, r->victim, r->spin_c);
    racer_go(&r->rc_thread);
    spin(spin_b);
    r->flag = 1;
    ASSERT_EQ(gort_cond_signal(&r->c), 0);
    ASSERT_EQ(gort_mutex_unlock(&r->m), 0);
    break;
  case RV_SEMA:
    ASSERT_EQ(gort_spawn(NULL, race_victim, r, 0, &r->victim), 0);
    race_await_ready(r);
    racer_arm(&r->rc_thread, r->victim, r->spin_c);
    racer_go(&r->rc_thread);
    spin(spin_b);
    ASSERT_EQ(gort_sema_release(r->sem), 0);
    break;
  case RV_JOIN: /* the joined goroutine exits as the joiner is cancelled */
    ASSERT_EQ(gort_wg_add(&r->gate, 1), 0);
    ASSERT_EQ(gort_spawn(NULL, race_target, r, 0, &r->target), 0);
    ASSERT_EQ(gort_spawn(NULL, race_victim, r, 0, &r->victim), 0);
    race_await_ready(r);
    racer_arm(&r->rc_thread, r->victim, r->spin_c);
    racer_go(&r->rc_thread);
    spin(spin_b);
    ASSERT_EQ(gort_wg_done(&r->gate), 0);
    ASSERT_EQ(gort_join(r->target, gt_long_deadline()), 0);
    break;
  }
  ASSERT_EQ(gort_join(r->victim, gt_long_deadline()), 0);
  racer_wait(&r->rc_thread);
  gort_g_release(r->victim);
  if (r->kind == RV_JOIN) /* only now: the victim may still be joining it */
    gort_g_release(r->target);
  if (r->rc != 0 && r->rc != GORT_ECANCELED)
    fprintf(stderr, "race %s: rc %d\n", rv_names[r->kind], r->rc);
  ASSERT_ONE_OF(r->rc, 0, GORT_ECANCELED);
  ASSERT_EQ(r->bad, 0);
  /* The primitive is consistent afterwards. */
  switch (r->kind) {
  case RV_MUTEX:
  case RV_COND:
    ASSERT_EQ(gort_mutex_trylock(&r->m), 0);
    ASSERT_EQ(gort_mutex_unlock(&r->m), 0);
    break;
  case RV_WG:
    ASSERT_EQ(gort_wg_wait(&r->gate, 0), 0);
    break;
  case RV_SEMA:
    /* The unit went to the victim or stayed: never lost, never doubled. */
    ASSERT_EQ(gort_sema_value(r->sem), r->rc == 0 ? 0 : 1);
    if (r->rc != 0)
      ASSERT_EQ(gort_sema_acquire(r->sem, 0), 0);
    break;
  }
}

static void cancel_race_body(void *arg)
{
  race_t *r = arg;
  ASSERT_EQ(gort_sema_new(&r->sem, 0), 0);
  racer_start(&r->rc_thread);
  int iters = (int)SCALED(5000);
  for (int i = 0; i < iters; i++)
    race_one(r);
  racer_stop(&r->rc_thread);
  gort_sema_free(r->sem);
}

START_TEST(test_cancel_races_wakeup)
{
  static race_t r;
  memset(&r, 0, sizeof r);
  r.kind = _i;
  r.seed = 0x1234567ull + (uint64_t)_i;
  gt_run_in(4, cancel_race_body, &r);
}
END_TEST

/* ---- an interrupted waiter must not swallow a wake-up --------------------- *
 * W1 and W2 wait on the same thing; one wake-up (unlock, signal, release,
 * done) races with W1 being cancelled or timing out. W1 ends with 0 or the
 * interruption; either way W2 must still be woken (when W1 took the unit,
 * the test hands out a second one): a wake-up spent on a waiter that then
 * reports ECANCELED/ETIMEDOUT is a lost wake-up and W2 hangs. */

enum { TW_MUTEX, TW_COND, TW_SEMA, TW_RW_W, TW_RW_R, TW_WG, TW_N };
static const char *const tw_names[TW_N] = {"mutex",      "cond",       "sema",
                                           "rw-writers", "rw-readers", "wg"};

typedef struct {
  int kind, by_timeout;
  uint64_t seed;
  gort_mutex m;
  gort_cond c;
  gort_sema *sem;
  gort_rwmutex rw;
  gort_wg wg;
  int tokens; /* TW_COND, under m */
  _Atomic int ready;
  int64_t w1_window;
  racer rc_thread;
  uint64_t spin_c;
  int rc[2];
  gort_g *w[2];
} tw_t;

typedef struct {
  tw_t *t;
  int who;
} tw_arg;

static void tw_waiter(void *arg)
{
  tw_arg *a = arg;
  tw_t *t = a->t;
  int rc = 1;
  int64_t dl = GORT_NEVER;
  if (t->kind == TW_COND)
    gort_mutex_lock(&t->m, GORT_NEVER);
  if (a->who == 0 && t->by_timeout)
    dl = gort_now() + t->w1_window;
  atomic_fetch_add(&t->ready, 1);
  switch (t->kind) {
  case TW_MUTEX:
    rc = gort_mutex_lock(&t->m, dl);
    if (rc == 0)
      gort_mutex_unlock(&t->m);
    break;
  case TW_COND:
    rc = 0;
    while (t->tokens == 0 && rc == 0)
      rc = gort_cond_wait(&t->c, &t->m, dl);
    if (rc == 0)
      t->tokens--;
    gort_mutex_unlock(&t->m);
    break;
  case TW_SEMA:
    rc = gort_sema_acquire(t->sem, dl);
    break;
  case TW_RW_W:
    rc = gort_rwmutex_lock(&t->rw, dl);
    if (rc == 0)
      gort_rwmutex_unlock(&t->rw);
    break;
  case TW_RW_R:
    rc = gort_rwmutex_rlock(&t->rw, dl);
    if (rc == 0)
      gort_rwmutex_runlock(&t->rw);
    break;
  case TW_WG:
    rc = gort_wg_wait(&t->wg, dl);
    break;
  }
  t->rc[a->who] = rc;
}

static void tw_await(tw_t *t, int n)
{
  int64_t end = gt_long_deadline();
  while (atomic_load(&t->ready) < n) {
    ASSERT_LT(gort_now(), end);
    gort_yield();
  }
}

static void tw_one(tw_t *t)
{
  tw_arg a[2] = {{t, 0}, {t, 1}};
  uint64_t spin_b = gt_rand(&t->seed) % 2000;
  t->spin_c = gt_rand(&t->seed) % 2000;
  t->w1_window = (int64_t)(gt_rand(&t->seed) % (uint64_t)GT_US(30));
  atomic_store(&t->ready, 0);
  t->rc[0] = t->rc[1] = 1;
  switch (t->kind) {
  case TW_MUTEX:
    ASSERT_EQ(gort_mutex_lock(&t->m, GORT_NEVER), 0);
    break;
  case TW_RW_W:
    ASSERT_EQ(gort_rwmutex_rlock(&t->rw, GORT_NEVER), 0);
    break;
  case TW_RW_R:
    ASSERT_EQ(gort_rwmutex_lock(&t->rw, GORT_NEVER), 0);
    break;
  case TW_WG:
    ASSERT_EQ(gort_wg_add(&t->wg, 1), 0);
    break;
  }
  ASSERT_EQ(gort_spawn(NULL, tw_waiter, &a[0], 0, &t->w[0]), 0);
  tw_await(t, 1);
  ASSERT_EQ(gort_spawn(NULL, tw_waiter, &a[1], 0, &t->w[1]), 0);
  tw_await(t, 2);
  if (!t->by_timeout) {
    racer_arm(&t->rc_thread, t->w[0], t->spin_c);
    racer_go(&t->rc_thread);
  }
  spin(spin_b);
  switch (t->kind) {
  case TW_MUTEX:
    ASSERT_EQ(gort_mutex_unlock(&t->m), 0);
    break;
  case TW_COND:
    gort_mutex_lock(&t->m, GORT_NEVER);
    t->tokens++;
    ASSERT_EQ(gort_cond_signal(&t->c), 0);
    gort_mutex_unlock(&t->m);
    break;
  case TW_SEMA:
    ASSERT_EQ(gort_sema_release(t->sem), 0);
    break;
  case TW_RW_W:
    ASSERT_EQ(gort_rwmutex_runlock(&t->rw), 0);
    break;
  case TW_RW_R:
    ASSERT_EQ(gort_rwmutex_unlock(&t->rw), 0);
    break;
  case TW_WG:
    ASSERT_EQ(gort_wg_done(&t->wg), 0);
    break;
  }
  ASSERT_EQ(gort_join(t->w[0], gt_long_deadline()), 0);
  int interrupted = t->by_timeout ? GORT_ETIMEDOUT : GORT_ECANCELED;
  if (t->rc[0] != 0 && t->rc[0] != interrupted)
    fprintf(stderr, "two waiters %s: W1 rc %d\n", tw_names[t->kind], t->rc[0]);
  ASSERT_ONE_OF(t->rc[0], 0, interrupted);
  /* W1 took the only unit: hand W2 one of its own. */
  if (t->rc[0] == 0) {
    if (t->kind == TW_COND) {
      gort_mutex_lock(&t->m, GORT_NEVER);
      t->tokens++;
      ASSERT_EQ(gort_cond_signal(&t->c), 0);
      gort_mutex_unlock(&t->m);
    } else if (t->kind == TW_SEMA) {
      ASSERT_EQ(gort_sema_release(t->sem), 0);
    }
  }
  int rc = gort_join(t->w[1], gt_deadline(GT_SEC(10)));
  if (rc != 0)
    fprintf(stderr, "two waiters %s (%s): W1 rc %d, W2 never woke\n",
            tw_names[t->kind], t->by_timeout ? "timeout" : "cancel", t->rc[0]);
  ASSERT_EQ(rc, 0);
  ASSERT_EQ(t->rc[1], 0);
  if (!t->by_timeout)
    racer_wait(&t->rc_thread);
  gort_g_release(t->w[0]);
  gort_g_release(t->w[1]);
  /* consistent afterwards */
  switch (t->kind) {
  case TW_MUTEX:
  case TW_COND:
    ASSERT_EQ(gort_mutex_trylock(&t->m), 0);
    ASSERT_EQ(t->tokens, 0);
    ASSERT_EQ(gort_mutex_unlock(&t->m), 0);
    break;
  case TW_SEMA:
    ASSERT_EQ(gort_sema_value(t->sem), 0);
    break;
  case TW_RW_W:
  case TW_RW_R:
    ASSERT_EQ(gort_rwmutex_trylock(&t->rw), 0);
    ASSERT_EQ(gort_rwmutex_unlock(&t->rw), 0);
    ASSERT_EQ(gort_rwmutex_tryrlock(&t->rw), 0);
    ASSERT_EQ(gort_rwmutex_runlock(&t->rw), 0);
    break;
  case TW_WG:
    ASSERT_EQ(gort_wg_wait(&t->wg, 0), 0);
    break;
  }
}

static void two_waiters_body(void *arg)
{
  tw_t *t = arg;
  ASSERT_EQ(gort_sema_new(&t->sem, 0), 0);
  if (!t->by_timeout)
    racer_start(&t->rc_thread);
  int iters = (int)SCALED(3000);
  for (int i = 0; i < iters; i++)
    tw_one(t);
  if (!t->by_timeout)
    racer_stop(&t->rc_thread);
  gort_sema_free(t->sem);
}

START_TEST(test_interrupt_race_two_waiters)
{
  static tw_t t;
  memset(&t, 0, sizeof t);
  t.kind = _i % TW_N;
  t.by_timeout = _i / TW_N;
  t.seed = 0xC0FFEEull + (uint64_t)_i;
  gt_run_in(4, two_waiters_body, &t);
}
END_TEST

/* ---- join racing exit ---------------------------------------------------- */

typedef struct {
  int iters;
  _Atomic int64_t bad;
} jr_t;

static void jr_work(jr_t *j)
{
  for (int i = 0; i < j->iters; i++) {
    gort_g *g = NULL;
    if (gort_spawn(NULL, noop, NULL, 0, &g) != 0 ||
        gort_join(g, gt_long_deadline()) != 0)
      atomic_fetch_add(&j->bad, 1);
    if (gort_join(g, 0) != 0)
      atomic_fetch_add(&j->bad, 1);
    gort_g_release(g);
  }
}
static void jr_g(void *arg)
{
  jr_work(arg);
}
typedef struct {
  jr_t *j;
  gort_sched *s;
} jr_targ;
static void *jr_thread(void *arg)
{
  jr_targ *t = arg;
  for (int i = 0; i < t->j->iters; i++) {
    gort_g *g = NULL;
    if (gort_spawn(t->s, noop, NULL, 0, &g) != 0 ||
        gort_join(g, gt_long_deadline()) != 0)
      atomic_fetch_add(&t->j->bad, 1);
    gort_g_release(g);
  }
  return NULL;
}

/* Spawn and join at once, from 8 goroutines and 2 threads. */
START_TEST(test_join_races_exit)
{
  static jr_t j;
  memset(&j, 0, sizeof j);
  j.iters = (int)SCALED(20000);
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 4), 0);
  jr_targ ta = {&j, s};
  pthread_t t[2];
  for (int i = 0; i < 2; i++)
    t[i] = gt_thread(jr_thread, &ta);
  gt_spawn_join_n(s, 8, jr_g, &j, NULL);
  for (int i = 0; i < 2; i++)
    gt_thread_join(t[i]);
  ASSERT_EQ(atomic_load(&j.bad), 0);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

typedef struct {
  gort_g *target;
  _Atomic int64_t bad;
} mj_t;
static void mj_joiner(void *arg)
{
  mj_t *m = arg;
  if (gort_join(m->target, gt_long_deadline()) != 0)
    atomic_fetch_add(&m->bad, 1);
}

/* Several joiners of one goroutine that is exiting as they arrive. */
static void multi_join_body(void *arg)
{
  (void)arg;
  int iters = (int)SCALED(3000);
  mj_t m = {NULL, 0};
  for (int i = 0; i < iters; i++) {
    gort_g *j[3];
    ASSERT_EQ(gort_spawn(NULL, noop, NULL, 0, &m.target), 0);
    for (int k = 0; k < 3; k++)
      ASSERT_EQ(gort_spawn(NULL, mj_joiner, &m, 0, &j[k]), 0);
    ASSERT_EQ(gort_join(m.target, gt_long_deadline()), 0);
    for (int k = 0; k < 3; k++) {
      ASSERT_EQ(gort_join(j[k], gt_long_deadline()), 0);
      gort_g_release(j[k]);
    }
    gort_g_release(m.target);
  }
  ASSERT_EQ(atomic_load(&m.bad), 0);
}

START_TEST(test_multi_join_races_exit)
{
  gt_run_in(4, multi_join_body, NULL);
}
END_TEST

/* ---- maxprocs under load ------------------------------------------------- */

typedef struct {
  gort_mutex m;
  int64_t counter;
  gort_wg done;
} mpf_t;

static void mpf_fn(void *arg)
{
  mpf_t *w = arg;
  for (int i = 0; i < 100; i++) {
    gort_mutex_lock(&w->m, GORT_NEVER);
    w->counter++;
    gort_mutex_unlock(&w->m);
    gort_yield();
  }
  gort_wg_done(&w->done);
}

/* 10k goroutines working while maxprocs flips between 1 and 4. */
START_TEST(test_maxprocs_flip_under_load)
{
  static mpf_t w;
  memset(&w, 0, sizeof w);
  int64_t n = SCALED(10000);
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 4), 0);
  ASSERT_EQ(gort_wg_add(&w.done, n), 0);
  for (int64_t i = 0; i < n; i++)
    ASSERT_EQ(gort_spawn(s, mpf_fn, &w, 0, NULL), 0);
  int last = 4, k = 1, rc;
  int64_t end = gt_deadline(GT_SEC(60));
  while ((rc = gort_wg_wait(&w.done, gort_now() + GT_US(500))) ==
         GORT_ETIMEDOUT) {
    ASSERT_LT(gort_now(), end);
    ASSERT_EQ(gort_sched_maxprocs(s, k), last);
    last = k;
    k = k % 4 + 1;
  }
  ASSERT_EQ(rc, 0);
  ASSERT_EQ(w.counter, n * 100);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* ---- shutdown ------------------------------------------------------------ */

typedef struct {
  gort_wg started, gate;
  gort_mutex m, cm;
  gort_cond c;
  _Atomic int64_t next, cancelled, other;
} sds_t;

static void sds_fn(void *arg)
{
  sds_t *d = arg;
  int kind = (int)(atomic_fetch_add(&d->next, 1) % 5);
  int rc = 0;
  switch (kind) {
  case 0:
    gort_wg_done(&d->started);
    rc = gort_wg_wait(&d->gate, GORT_NEVER);
    break;
  case 1:
    gort_wg_done(&d->started);
    rc = gort_sleep(GT_SEC(3600));
    break;
  case 2:
    gort_wg_done(&d->started);
    while ((rc = gort_yield()) == 0) {
    }
    break;
  case 3: /* every one of these but the first queues on m */
    gort_wg_done(&d->started);
    rc = gort_mutex_lock(&d->m, GORT_NEVER);
    if (rc == 0) { /* keep it until cancelled, then pass it on */
      rc = gort_wg_wait(&d->gate, GORT_NEVER);
      gort_mutex_unlock(&d->m);
    }
    break;
  case 4:
    gort_mutex_lock(&d->cm, GORT_NEVER);
    gort_wg_done(&d->started);
    rc = gort_cond_wait(&d->c, &d->cm, GORT_NEVER);
    gort_mutex_unlock(&d->cm);
    break;
  }
  atomic_fetch_add(rc == GORT_ECANCELED ? &d->cancelled : &d->other, 1);
}

/* 10k goroutines blocked every which way; shutdown cancels them all. */
START_TEST(test_shutdown_many_alive)
{
  static sds_t d;
  memset(&d, 0, sizeof d);
  int64_t n = SCALED(10000);
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  ASSERT_EQ(gort_wg_add(&d.gate, 1), 0);
  ASSERT_EQ(gort_wg_add(&d.started, n), 0);
  for (int64_t i = 0; i < n; i++)
    ASSERT_EQ(gort_spawn(s, sds_fn, &d, 0, NULL), 0);
  ASSERT_EQ(gort_wg_wait(&d.started, gt_deadline(GT_SEC(60))), 0);
  ASSERT_EQ(gort_sched_shutdown(s, gt_deadline(GT_SEC(60))), 0);
  ASSERT_EQ(atomic_load(&d.cancelled), n);
  ASSERT_EQ(atomic_load(&d.other), 0);
}
END_TEST

static long thread_count(void)
{
  FILE *f = fopen("/proc/self/status", "r");
  if (!f)
    return -1;
  char line[256];
  long n = -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "Threads:", 8) == 0)
      n = strtol(line + 8, NULL, 10);
  fclose(f);
  return n;
}

static void blocker_fn(void *arg)
{
  (void)arg;
  gort_sleep(GT_SEC(3600));
}
static void usleep_fn(void *arg)
{
  (void)arg;
  usleep(1000);
}
static void blocking_user(void *arg)
{
  (void)arg;
  gort_blocking(usleep_fn, NULL);
  gort_sleep(GT_SEC(3600));
}

/* The thread count once it is at most want, or after a few seconds: a
 * joined thread may linger in the kernel's (or qemu-user's) books for a
 * moment after pthread_join has returned. */
static long thread_count_settled(long want)
{
  int64_t end = gort_now() + GT_SEC(5);
  long n;
  while ((n = thread_count()) > want && gort_now() < end)
    usleep(1000);
  return n;
}

static void sched_cycle(void)
{
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  gt_spawn_join_n(s, 20, noop, NULL, NULL);
  for (int i = 0; i < 20; i++)
    ASSERT_EQ(gort_spawn(s, blocker_fn, NULL, 0, NULL), 0);
  for (int i = 0; i < 4; i++)
    ASSERT_EQ(gort_spawn(s, blocking_user, NULL, 0, NULL), 0);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}

/* Schedulers created and shut down over and over: the thread count does not
 * grow with the number of cycles. */
START_TEST(test_sched_cycles_no_thread_leak)
{
  long base = thread_count();
  int cycles = (int)SCALED(50);
  for (int i = 0; i < 5; i++)
    sched_cycle();
  long after_few = thread_count();
  for (int i = 5; i < cycles; i++)
    sched_cycle();
  long after_many = thread_count_settled(after_few);
  ASSERT_GE(base, 1);
  ASSERT_LE(after_many, after_few);
  ASSERT_LE(after_many, base + 4);
}
END_TEST

static Suite *stress_suite(void)
{
  Suite *s = suite_create("stress");
  TCase *tc = gt_tcase(s, "million", 300);
  tcase_add_test(tc, test_million_detached);
  tcase_add_test(tc, test_million_handles);
  tcase_add_test(tc, test_million_blocked);
  tcase_add_test(tc, test_many_random_sleepers);

  tc = gt_tcase(s, "contention", 120);
  tcase_add_loop_test(tc, test_stress_mutex, 0, NPROCS);
  tcase_add_loop_test(tc, test_stress_rwmutex, 0, NPROCS);
  tcase_add_loop_test(tc, test_stress_wg, 0, NPROCS);
  tcase_add_loop_test(tc, test_stress_cond_pingpong, 0, NPROCS);
  tcase_add_loop_test(tc, test_timed_waits_churn, 0, NPROCS);

  tc = gt_tcase(s, "races", 120);
  tcase_add_loop_test(tc, test_cancel_races_wakeup, 0, RV_N);
  tcase_add_loop_test(tc, test_interrupt_race_two_waiters, 0, 2 * TW_N);
  tcase_add_test(tc, test_join_races_exit);
  tcase_add_test(tc, test_multi_join_races_exit);

  tc = gt_tcase(s, "sched", 120);
  tcase_add_test(tc, test_maxprocs_flip_under_load);
  tcase_add_test(tc, test_shutdown_many_alive);
  tcase_add_test(tc, test_sched_cycles_no_thread_leak);
  return s;
}

GT_MAIN(stress_suite)
