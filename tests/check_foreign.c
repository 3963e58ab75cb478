/*
 * check_foreign.c - binding support seen from C: foreign goroutines driven
 * through a fake gort_foreign_vt, and lanes (goroutines sharing one
 * dedicated OS thread).
 *
 * The fake vt keeps a "thread state" object per goroutine whose step counter
 * must advance new -> enter -> clear -> leave -> delete, counts every call,
 * and (for the one-goroutine tests) records the sequence of events so the
 * order can be checked exactly. state_leave() has no argument, like
 * PyEval_SaveThread: the fake finds the entered state through gort_self().
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <stddef.h>

/* ---- fake objects -------------------------------------------------------- */

enum { OBJ_CALLABLE = 0xCA11, OBJ_ARGS = 0xA565, OBJ_RESULT = 0x4E5 };
enum { BEH_RETURN, BEH_FAIL, BEH_SLEEP, BEH_GATE, BEH_CANCELLED };

typedef struct fobj {
  int kind;
  int id;
  int behaviour;
  _Atomic int drops;
  gort_wg *gate; /* BEH_GATE, BEH_CANCELLED: call waits on it */
  int gate_rc;
  struct fobj *result; /* what call returned */
  gort_lane *lane_seen;
  pthread_t call_thread;
  int stack_ok; /* a local of call lies in the range given to set_stack */
} fobj;

#define STATE_MAGIC 0x57A7E
typedef struct fstate {
  int magic;
  _Atomic int step; /* 1 new, 2 entered, 3 cleared, 4 left, 5 deleted */
  int called;
  pthread_t enter_thread, leave_thread;
  void *stack_base;
  size_t stack_size;
  _Atomic int set_stack_calls;
} fstate;

static int fake_rt;

static struct {
  _Atomic int64_t runtime, state_new, state_enter, set_stack, call, report,
      drop, state_clear, state_leave, state_delete;
} n;

/* ---- the event trace (one goroutine at a time) --------------------------- */

typedef struct {
  char ev;
  const void *p;
} event;
static event trace[256];
static int ntrace;
static pthread_mutex_t trace_lock = PTHREAD_MUTEX_INITIALIZER;

static void ev(char e, const void *p)
{
  pthread_mutex_lock(&trace_lock);
  if (ntrace < (int)(sizeof trace / sizeof trace[0]))
    trace[ntrace++] = (event){e, p};
  pthread_mutex_unlock(&trace_lock);
}

/* ---- goroutine -> entered state ------------------------------------------ */

#define MAPN 4096
static struct {
  gort_g *g;
  fstate *st;
} entered[MAPN];
static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER;

/* A plain table scanned under a lock: at most a few hundred entries live. */
static void map_put(gort_g *g, fstate *st)
{
  int dup = 0, slot = -1;
  pthread_mutex_lock(&map_lock);
  for (int i = 0; i < MAPN; i++) {
    if (entered[i].g == g)
      dup = 1;
    if (!entered[i].g && slot < 0)
      slot = i;
  }
  if (!dup && slot >= 0) {
    entered[slot].g = g;
    entered[slot].st = st;
  }
  pthread_mutex_unlock(&map_lock);
  ASSERT_EQ(dup, 0); /* entered twice without leaving */
  ASSERT_GE(slot, 0);
}

static fstate *map_get(gort_g *g, int take)
{
  fstate *st = NULL;
  pthread_mutex_lock(&map_lock);
  for (int i = 0; i < MAPN; i++)
    if (entered[i].g == g) {
      st = entered[i].st;
      if (take)
        entered[i].g = NULL, entered[i].st = NULL;
      break;
    }
  pthread_mutex_unlock(&map_lock);
  return st;
}

/* Fake states and objects outlive their goroutines on purpose (tests look
 * at them afterwards). They are all remembered here, so leak checkers
 * (ASan, valgrind) see them as reachable rather than lost. */
static void *volatile kept[1 << 16]; /* volatile: written, never read */
static _Atomic int nkept;

static void *keep(void *p)
{
  int i = atomic_fetch_add(&nkept, 1);
  if (i < (int)(sizeof kept / sizeof kept[0]))
    kept[i] = p;
  return p;
}

/* ---- the fake vt --------------------------------------------------------- */

static void *f_runtime(void)
{
  atomic_fetch_add(&n.runtime, 1);
  ev('R', NULL);
  return &fake_rt;
}

static void *f_state_new(void *rt)
{
  ASSERT_PTR_EQ(rt, &fake_rt);
  fstate *st = keep(calloc(1, sizeof *st));
  ASSERT_NOT_NULL(st);
  st->magic = STATE_MAGIC;
  atomic_store(&st->step, 1);
  atomic_fetch_add(&n.state_new, 1);
  ev('N', st);
  return st;
}

static void f_state_enter(void *state)
{
  fstate *st = state;
  ASSERT_EQ(st->magic, STATE_MAGIC);
  ASSERT_EQ(atomic_load(&st->step), 1);
  atomic_store(&st->step, 2);
  ASSERT_NOT_NULL(
      gort_self()); /* the body's state is entered in the goroutine */
  st->enter_thread = pthread_self();
  map_put(gort_self(), st);
  atomic_fetch_add(&n.state_enter, 1);
  ev('E', st);
}

static int f_set_stack(void *state, void *base, size_t size)
{
  fstate *st = state;
  ASSERT_EQ(st->magic, STATE_MAGIC);
  st->stack_base = base;
  st->stack_size = size;
  atomic_fetch_add(&st->set_stack_calls, 1);
  atomic_fetch_add(&n.set_stack, 1);
  ev('S', st);
  return 0;
}

static void *f_call(void *callable, void *args)
{
  fobj *c = callable, *a = args;
  ASSERT_EQ(c->kind, OBJ_CALLABLE);
  ASSERT_EQ(a->kind, OBJ_ARGS);
  ASSERT_EQ(a->id, c->id);
  ASSERT_NOT_NULL(gort_self());
  fstate *st = map_get(gort_self(), 0);
  ASSERT_NOT_NULL(st);
  ASSERT_EQ(atomic_load(&st->step), 2);
  st->called++;
  atomic_fetch_add(&n.call, 1);
  ev('C', c);
  c->lane_seen = gort_lane_current();
  c->call_thread = pthread_self();
  volatile char local = 0;
  if (st->stack_size) {
    uintptr_t lo = (uintptr_t)st->stack_base, p = (uintptr_t)&local;
    c->stack_ok = p >= lo && p < lo + st->stack_size;
  }
  switch (c->behaviour) {
  case BEH_FAIL:
    return NULL;
  case BEH_SLEEP:
    ASSERT_EQ(gort_sleep(GT_MS(2)), 0);
    break;
  case BEH_GATE:
    ASSERT_EQ(gort_wg_wait(c->gate, gt_long_deadline()), 0);
    break;
  case BEH_CANCELLED: /* waits until cancelled */
    c->gate_rc = gort_wg_wait(c->gate, gt_long_deadline());
    break;
  }
  /* Still the same goroutine, state and (on a lane) thread. */
  ASSERT_PTR_EQ(map_get(gort_self(), 0), st);
  if (c->lane_seen)
    ASSERT_TRUE(pthread_equal(c->call_thread, pthread_self()));
  fobj *r = keep(calloc(1, sizeof *r));
  ASSERT_NOT_NULL(r);
  r->kind = OBJ_RESULT;
  r->id = c->id;
  c->result = r;
  return r;
}

static void f_report(void *obj)
{
  fobj *c = obj;
  ASSERT_EQ(c->kind, OBJ_CALLABLE); /* called with the callable */
  ASSERT_NOT_NULL(gort_self());
  fstate *st = map_get(gort_self(), 0);
  ASSERT_NOT_NULL(st); /* inside the entered state */
  atomic_fetch_add(&n.report, 1);
  ev('P', c);
}

static void f_drop(void *obj)
{
  fobj *o = obj;
  ASSERT_TRUE(o->kind == OBJ_CALLABLE || o->kind == OBJ_ARGS ||
              o->kind == OBJ_RESULT);
  atomic_fetch_add(&o->drops, 1);
  atomic_fetch_add(&n.drop, 1);
  ev('D', o);
}

static void f_state_clear(void *state)
{
  fstate *st = state;
  ASSERT_EQ(st->magic, STATE_MAGIC);
  ASSERT_EQ(atomic_load(&st->step), 2);
  ASSERT_EQ(st->called, 1);
  atomic_store(&st->step, 3);
  atomic_fetch_add(&n.state_clear, 1);
  ev('X', st);
}

static void *f_state_leave(void)
{
  ASSERT_NOT_NULL(gort_self());
  fstate *st = map_get(gort_self(), 1);
  ASSERT_NOT_NULL(st);
  ASSERT_EQ(atomic_load(&st->step), 3);
  atomic_store(&st->step, 4);
  st->leave_thread = pthread_self();
  atomic_fetch_add(&n.state_leave, 1);
  ev('V', st);
  return st;
}

static void f_state_delete(void *state)
{
  fstate *st = state;
  ASSERT_EQ(st->magic, STATE_MAGIC);
  ASSERT_EQ(atomic_load(&st->step), 4);
  atomic_store(&st->step, 5);
  atomic_fetch_add(&n.state_delete, 1);
  ev('Z', st);
  /* kept (not freed) so tests can look at it afterwards */
}

static gort_foreign_vt make_vt(int with_set_stack)
{
  gort_foreign_vt vt;
  memset(&vt, 0, sizeof vt);
  vt.size = sizeof vt;
  vt.runtime = f_runtime;
  vt.state_new = f_state_new;
  vt.state_enter = f_state_enter;
  vt.state_set_stack = with_set_stack ? f_set_stack : NULL;
  vt.call = f_call;
  vt.report = f_report;
  vt.drop = f_drop;
  vt.state_clear = f_state_clear;
  vt.state_leave = f_state_leave;
  vt.state_delete = f_state_delete;
  return vt;
}

static void reset_fake(void)
{
  memset(&n, 0, sizeof n);
  pthread_mutex_lock(&trace_lock);
  ntrace = 0;
  pthread_mutex_unlock(&trace_lock);
}

static fobj *new_obj(int kind, int id, int behaviour)
{
  fobj *o = keep(calloc(1, sizeof *o));
  ASSERT_NOT_NULL(o);
  o->kind = kind;
  o->id = id;
  o->behaviour = behaviour;
  return o;
}

/* Checks the recorded sequence of one foreign goroutine:
 * R N E C [P] X V Z with exactly one drop of the callable and one of the
 * args, both after C and before V; P (report) only when the call failed. */
static void check_trace(const fobj *callable, const fobj *args, int failed)
{
  int pos[128];
  memset(pos, -1, sizeof pos);
  int drop_c = -1, drop_a = -1, ndrop_c = 0, ndrop_a = 0, nother = 0;
  char seq[300];
  int k = 0;
  pthread_mutex_lock(&trace_lock);
  for (int i = 0; i < ntrace; i++) {
    char e = trace[i].ev;
    seq[k++] = e;
    if (e == 'S')
      continue;
    if (e == 'D') {
      if (trace[i].p == callable)
        drop_c = i, ndrop_c++;
      else if (trace[i].p == args)
        drop_a = i, ndrop_a++;
      else
        nother++;
      continue;
    }
    if (pos[(int)e] >= 0)
      nother++; /* twice */
    pos[(int)e] = i;
  }
  pthread_mutex_unlock(&trace_lock);
  seq[k] = 0;
  int ok = nother == 0 && pos['R'] >= 0 && pos['R'] < pos['N'] &&
           pos['N'] < pos['E'] && pos['E'] < pos['C'] && pos['C'] < pos['X'] &&
           pos['X'] < pos['V'] && pos['V'] < pos['Z'] && ndrop_c == 1 &&
           ndrop_a == 1 && (failed ? pos['P'] > pos['C'] : pos['P'] == -1);
  if (!ok)
    fprintf(stderr, "foreign event order: %s\n", seq);
  ASSERT_EQ(nother, 0);
  ASSERT_GE(pos['R'], 0);
  ASSERT_GT(pos['N'], pos['R']);
  ASSERT_GT(pos['E'], pos['N']);
  ASSERT_GT(pos['C'], pos['E']);
  ASSERT_GT(pos['X'], pos['C']);
  ASSERT_GT(pos['V'], pos['X']);
  ASSERT_GT(pos['Z'], pos['V']);
  ASSERT_EQ(ndrop_c, 1);
  ASSERT_EQ(ndrop_a, 1);
  ASSERT_GT(drop_c, pos['C']);
  ASSERT_LT(drop_c, pos['V']);
  ASSERT_GT(drop_a, pos['C']);
  ASSERT_LT(drop_a, pos['V']);
  if (failed) {
    ASSERT_GT(pos['P'], pos['C']);
    ASSERT_LT(pos['P'], pos['V']);
  } else {
    ASSERT_EQ(pos['P'], -1);
  }
}

static void expect_counts(int64_t k, int64_t reports, int64_t drops)
{
  ASSERT_EQ(atomic_load(&n.runtime), k);
  ASSERT_EQ(atomic_load(&n.state_new), k);
  ASSERT_EQ(atomic_load(&n.state_enter), k);
  ASSERT_EQ(atomic_load(&n.call), k);
  ASSERT_EQ(atomic_load(&n.report), reports);
  ASSERT_EQ(atomic_load(&n.drop), drops);
  ASSERT_EQ(atomic_load(&n.state_clear), k);
  ASSERT_EQ(atomic_load(&n.state_leave), k);
  ASSERT_EQ(atomic_load(&n.state_delete), k);
}

/* ---- foreign goroutines -------------------------------------------------- */

static void foreign_order(int behaviour)
{
  reset_fake();
  gort_foreign_vt vt = make_vt(0);
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  fobj *c = new_obj(OBJ_CALLABLE, 1, behaviour), *a = new_obj(OBJ_ARGS, 1, 0);
  gort_g *g = NULL;
  ASSERT_EQ(gort_foreign_spawn(s, NULL, &vt, c, a, 0, &g), 0);
  ASSERT_NOT_NULL(g);
  ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
  int failed = behaviour == BEH_FAIL;
  check_trace(c, a, failed);
  expect_counts(1, failed, 2);
  ASSERT_EQ(atomic_load(&c->drops), 1);
  ASSERT_EQ(atomic_load(&a->drops), 1);
  void *res = (void *)&res;
  ASSERT_EQ(gort_foreign_result(g, &res), 0);
  if (failed) {
    ASSERT_NULL(res);
  } else {
    ASSERT_NOT_NULL(c->result);
    ASSERT_PTR_EQ(res, c->result);
    ASSERT_EQ(atomic_load(&c->result->drops), 0); /* ours now */
  }
  void *again = (void *)&again;
  ASSERT_EQ(gort_foreign_result(g, &again), GORT_EINVAL);
  gort_g_release(g);
  if (!failed)
    ASSERT_EQ(atomic_load(&c->result->drops), 0); /* taken: not dropped */
  ASSERT_EQ(atomic_load(&n.drop), 2);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}

START_TEST(test_foreign_order_success)
{
  foreign_order(BEH_RETURN);
}
END_TEST

START_TEST(test_foreign_order_failure)
{
  foreign_order(BEH_FAIL);
}
END_TEST

START_TEST(test_foreign_order_parks_in_call)
{
  foreign_order(BEH_SLEEP);
}
END_TEST

/* Before it finishes the result is not there (GORT_EAGAIN); it is kept
 * until taken. */
START_TEST(test_foreign_result_eagain)
{
  reset_fake();
  gort_foreign_vt vt = make_vt(0);
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  gort_wg gate = GORT_WG_INIT;
  ASSERT_EQ(gort_wg_add(&gate, 1), 0);
  fobj *c = new_obj(OBJ_CALLABLE, 7, BEH_GATE), *a = new_obj(OBJ_ARGS, 7, 0);
  c->gate = &gate;
  gort_g *g = NULL;
  ASSERT_EQ(gort_foreign_spawn(s, NULL, &vt, c, a, 0, &g), 0);
  void *res = NULL;
  ASSERT_EQ(gort_foreign_result(g, &res), GORT_EAGAIN);
  ASSERT_EQ(gort_join(g, 0), GORT_EAGAIN);
  ASSERT_EQ(gort_foreign_result(g, &res), GORT_EAGAIN);
  ASSERT_EQ(gort_wg_done(&gate), 0);
  ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
  ASSERT_EQ(gort_foreign_result(g, NULL), GORT_EINVAL); /* bad address */
  ASSERT_EQ(gort_foreign_result(g, &res), 0);
  ASSERT_PTR_EQ(res, c->result);
  ASSERT_EQ(((fobj *)res)->id, 7);
  ASSERT_EQ(gort_foreign_result(g, &res), GORT_EINVAL);
  gort_g_release(g);
  ASSERT_EQ(atomic_load(&c->result->drops), 0);
  expect_counts(1, 0, 2);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* Never taken: dropped (once) when the handle is released. */
START_TEST(test_foreign_result_dropped_on_release)
{
  reset_fake();
  gort_foreign_vt vt = make_vt(0);
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  fobj *c = new_obj(OBJ_CALLABLE, 3, BEH_RETURN), *a = new_obj(OBJ_ARGS, 3, 0);
  gort_g *g = NULL;
  ASSERT_EQ(gort_foreign_spawn(s, NULL, &vt, c, a, 0, &g), 0);
  ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
  ASSERT_NOT_NULL(c->result);
  ASSERT_EQ(atomic_load(&c->result->drops), 0); /* kept for the handle */
  gort_g_release(g);
  ASSERT_EQ(atomic_load(&c->result->drops), 1);
  expect_counts(1, 0, 3);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

static int await_count(_Atomic int64_t *v, int64_t want)
{
  int64_t end = gt_long_deadline();
  while (atomic_load(v) < want) {
    if (gort_now() > end)
      return 0;
    usleep(1000);
  }
  return 1;
}

/* Handle released while it runs, or no handle at all: the goroutine drops
 * its own result when it finishes. */
START_TEST(test_foreign_result_dropped_when_unowned)
{
  reset_fake();
  gort_foreign_vt vt = make_vt(0);
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  gort_wg gate = GORT_WG_INIT;
  ASSERT_EQ(gort_wg_add(&gate, 1), 0);
  fobj *c1 = new_obj(OBJ_CALLABLE, 1, BEH_GATE), *a1 = new_obj(OBJ_ARGS, 1, 0);
  fobj *c2 = new_obj(OBJ_CALLABLE, 2, BEH_GATE), *a2 = new_obj(OBJ_ARGS, 2, 0);
  c1->gate = c2->gate = &gate;
  gort_g *g = NULL;
  ASSERT_EQ(gort_foreign_spawn(s, NULL, &vt, c1, a1, 0, &g), 0);
  gort_g_release(g); /* released while running */
  ASSERT_EQ(gort_foreign_spawn(s, NULL, &vt, c2, a2, 0, NULL),
            0); /* detached */
  ASSERT_EQ(gort_wg_done(&gate), 0);
  ASSERT_TRUE(await_count(&n.state_delete, 2));
  ASSERT_TRUE(await_count(&n.drop, 6));
  ASSERT_EQ(atomic_load(&c1->result->drops), 1);
  ASSERT_EQ(atomic_load(&c2->result->drops), 1);
  ASSERT_EQ(atomic_load(&c1->drops), 1);
  ASSERT_EQ(atomic_load(&a2->drops), 1);
  expect_counts(2, 0, 6);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* Many at once, parking inside their calls: every state has its own
 * complete life, every object is dropped once. */
START_TEST(test_foreign_many_concurrent)
{
  enum { N = 200 };
  reset_fake();
  gort_foreign_vt vt = make_vt(0);
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 4), 0);
  static fobj *c[N], *a[N];
  static gort_g *g[N];
  for (int i = 0; i < N; i++) {
    c[i] = new_obj(OBJ_CALLABLE, i, i % 7 == 3 ? BEH_FAIL : BEH_SLEEP);
    a[i] = new_obj(OBJ_ARGS, i, 0);
    ASSERT_EQ(gort_foreign_spawn(s, NULL, &vt, c[i], a[i], 0, &g[i]), 0);
  }
  int fails = 0;
  for (int i = 0; i < N; i++) {
    ASSERT_EQ(gort_join(g[i], gt_long_deadline()), 0);
    void *res = (void *)&res;
    ASSERT_EQ(gort_foreign_result(g[i], &res), 0);
    if (c[i]->behaviour == BEH_FAIL) {
      ASSERT_NULL(res);
      fails++;
    } else {
      ASSERT_PTR_EQ(res, c[i]->result);
      ASSERT_EQ(((fobj *)res)->id, i);
    }
    gort_g_release(g[i]);
    ASSERT_EQ(atomic_load(&c[i]->drops), 1);
    ASSERT_EQ(atomic_load(&a[i]->drops), 1);
  }
  expect_counts(N, fails, 2 * N);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* With state_set_stack: called once per goroutine, before the call, with a
 * range that holds the goroutine's stack. */
START_TEST(test_foreign_set_stack)
{
  reset_fake();
  gort_foreign_vt vt = make_vt(1);
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  static const size_t sizes[] = {0, 256 * 1024};
  for (int i = 0; i < 2; i++) {
    fobj *c = new_obj(OBJ_CALLABLE, i, BEH_RETURN),
         *a = new_obj(OBJ_ARGS, i, 0);
    gort_g *g = NULL;
    ASSERT_EQ(gort_foreign_spawn(s, NULL, &vt, c, a, sizes[i], &g), 0);
    ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
    gort_g_release(g);
    ASSERT_EQ(atomic_load(&n.set_stack), i + 1);
    ASSERT_EQ(c->stack_ok, 1);
  }
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

START_TEST(test_foreign_bad_args)
{
  gort_foreign_vt vt = make_vt(0);
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 1), 0);
  fobj *c = new_obj(OBJ_CALLABLE, 0, BEH_RETURN), *a = new_obj(OBJ_ARGS, 0, 0);
  gort_g *g = NULL;
  ASSERT_EQ(gort_foreign_spawn(s, NULL, NULL, c, a, 0, &g), GORT_EINVAL);
  gort_foreign_vt bad = vt;
  bad.size = 0;
  ASSERT_EQ(gort_foreign_spawn(s, NULL, &bad, c, a, 0, &g), GORT_EINVAL);
  bad = vt;
  bad.size = offsetof(gort_foreign_vt, call); /* too small to hold call */
  ASSERT_EQ(gort_foreign_spawn(s, NULL, &bad, c, a, 0, &g), GORT_EINVAL);
  bad = vt;
  bad.call = NULL;
  ASSERT_EQ(gort_foreign_spawn(s, NULL, &bad, c, a, 0, &g), GORT_EINVAL);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* Cancelled inside its call (parked on a wg): the call sees ECANCELED, and
 * the state is still cleared, left and deleted, the objects dropped. */
START_TEST(test_foreign_cancelled_in_call)
{
  reset_fake();
  gort_foreign_vt vt = make_vt(0);
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  gort_wg gate = GORT_WG_INIT;
  ASSERT_EQ(gort_wg_add(&gate, 1), 0);
  fobj *c = new_obj(OBJ_CALLABLE, 5, BEH_CANCELLED),
       *a = new_obj(OBJ_ARGS, 5, 0);
  c->gate = &gate;
  gort_g *g = NULL;
  ASSERT_EQ(gort_foreign_spawn(s, NULL, &vt, c, a, 0, &g), 0);
  ASSERT_TRUE(await_count(&n.call, 1));
  ASSERT_EQ(gort_cancel(g), 0);
  ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
  ASSERT_EQ(c->gate_rc, GORT_ECANCELED);
  void *res = NULL;
  ASSERT_EQ(gort_foreign_result(g, &res), 0);
  ASSERT_PTR_EQ(res, c->result);
  gort_g_release(g);
  expect_counts(1, 0, 2);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* Shutdown with foreign goroutines parked in their calls: every state is
 * torn down and every object dropped. */
START_TEST(test_foreign_shutdown_alive)
{
  enum { N = 10 };
  reset_fake();
  gort_foreign_vt vt = make_vt(0);
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  gort_wg gate = GORT_WG_INIT;
  ASSERT_EQ(gort_wg_add(&gate, 1), 0);
  fobj *c[N], *a[N];
  for (int i = 0; i < N; i++) {
    c[i] = new_obj(OBJ_CALLABLE, i, BEH_CANCELLED);
    c[i]->gate = &gate;
    a[i] = new_obj(OBJ_ARGS, i, 0);
    ASSERT_EQ(gort_foreign_spawn(s, NULL, &vt, c[i], a[i], 0, NULL), 0);
  }
  ASSERT_TRUE(await_count(&n.call, N));
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
  for (int i = 0; i < N; i++) {
    ASSERT_EQ(c[i]->gate_rc, GORT_ECANCELED);
    ASSERT_EQ(atomic_load(&c[i]->drops), 1);
    ASSERT_EQ(atomic_load(&a[i]->drops), 1);
    ASSERT_EQ(atomic_load(&c[i]->result->drops), 1); /* nobody could take it */
  }
  expect_counts(N, 0, 3 * N);
}
END_TEST

/* ---- lanes --------------------------------------------------------------- */

typedef struct {
  gort_lane *lane;
  gort_sched *sched;
  pthread_t lane_thread;
  _Atomic int have_thread;
  _Atomic int64_t ran, wrong_thread, wrong_lane, wrong_sched;
  _Atomic int64_t plain_ran, plain_on_lane_thread, plain_lane_nonnull;
  pthread_mutex_t lock;
} lanes_t;

static void note_lane_thread(lanes_t *L)
{
  pthread_mutex_lock(&L->lock);
  if (!atomic_load(&L->have_thread)) {
    L->lane_thread = pthread_self();
    atomic_store(&L->have_thread, 1);
  } else if (!pthread_equal(L->lane_thread, pthread_self())) {
    atomic_fetch_add(&L->wrong_thread, 1);
  }
  pthread_mutex_unlock(&L->lock);
}

static void lane_fn(void *arg)
{
  lanes_t *L = arg;
  for (int i = 0; i < 5; i++) {
    note_lane_thread(L);
    if (gort_lane_current() != L->lane)
      atomic_fetch_add(&L->wrong_lane, 1);
    if (gort_sched_current() != L->sched)
      atomic_fetch_add(&L->wrong_sched, 1);
    gort_yield();
  }
  atomic_fetch_add(&L->ran, 1);
}

static void plain_fn(void *arg)
{
  lanes_t *L = arg;
  for (int i = 0; i < 50; i++) {
    if (gort_lane_current() != NULL)
      atomic_fetch_add(&L->plain_lane_nonnull, 1);
    pthread_mutex_lock(&L->lock);
    if (atomic_load(&L->have_thread) &&
        pthread_equal(L->lane_thread, pthread_self()))
      atomic_fetch_add(&L->plain_on_lane_thread, 1);
    pthread_mutex_unlock(&L->lock);
    gort_yield();
  }
  atomic_fetch_add(&L->plain_ran, 1);
}

/* Half the lane goroutines are spawned from an ordinary goroutine. */
static void lane_spawner(void *arg)
{
  lanes_t *L = arg;
  for (int i = 0; i < 25; i++)
    ASSERT_EQ(gort_lane_spawn(L->lane, lane_fn, L, 0, NULL), 0);
}

/* Every lane goroutine runs on one thread, not the caller's; ordinary
 * goroutines keep running meanwhile and never on that thread. */
START_TEST(test_lane_one_thread)
{
  static lanes_t L;
  memset(&L, 0, sizeof L);
  pthread_mutex_init(&L.lock, NULL);
  ASSERT_EQ(gort_sched_new(&L.sched, 2), 0);
  ASSERT_EQ(gort_lane_new(L.sched, &L.lane), 0);
  ASSERT_NOT_NULL(L.lane);
  gort_g *g[25], *p[4], *sp = NULL;
  for (int i = 0; i < 4; i++)
    ASSERT_EQ(gort_spawn(L.sched, plain_fn, &L, 0, &p[i]), 0);
  for (int i = 0; i < 25; i++)
    ASSERT_EQ(gort_lane_spawn(L.lane, lane_fn, &L, 0, &g[i]), 0);
  ASSERT_EQ(gort_spawn(L.sched, lane_spawner, &L, 0, &sp), 0);
  for (int i = 0; i < 25; i++) {
    ASSERT_EQ(gort_join(g[i], gt_long_deadline()), 0);
    gort_g_release(g[i]);
  }
  for (int i = 0; i < 4; i++) {
    ASSERT_EQ(gort_join(p[i], gt_long_deadline()), 0);
    gort_g_release(p[i]);
  }
  ASSERT_EQ(gort_join(sp, gt_long_deadline()), 0);
  gort_g_release(sp);
  ASSERT_EQ(gort_lane_close(L.lane, gt_long_deadline()), 0);
  ASSERT_EQ(atomic_load(&L.ran), 50);
  ASSERT_EQ(atomic_load(&L.plain_ran), 4);
  ASSERT_EQ(atomic_load(&L.have_thread), 1);
  ASSERT_FALSE(pthread_equal(L.lane_thread, pthread_self()));
  ASSERT_EQ(atomic_load(&L.wrong_thread), 0);
  ASSERT_EQ(atomic_load(&L.wrong_lane), 0);
  ASSERT_EQ(atomic_load(&L.wrong_sched), 0);
  ASSERT_EQ(atomic_load(&L.plain_on_lane_thread), 0);
  ASSERT_EQ(atomic_load(&L.plain_lane_nonnull), 0);
  ASSERT_NULL(gort_lane_current());
  ASSERT_EQ(gort_sched_shutdown(L.sched, gt_long_deadline()), 0);
}
END_TEST

typedef struct {
  lanes_t L;
  gort_mutex m;
  int64_t counter; /* under m */
  gort_wg gate;
  int iters;
  _Atomic int64_t gate_rc_bad, joined_bad;
  gort_g *plain_target;
} lblock_t;

static void lblock_lane_fn(void *arg)
{
  lblock_t *b = arg;
  uint64_t seed = (uint64_t)(uintptr_t)gort_self();
  for (int i = 0; i < b->iters; i++) {
    gort_mutex_lock(&b->m, GORT_NEVER);
    note_lane_thread(&b->L);
    b->counter++;
    gort_mutex_unlock(&b->m);
    gort_sleep((int64_t)(gt_rand(&seed) % GT_US(500)));
    note_lane_thread(&b->L);
  }
  if (gort_wg_wait(&b->gate, gt_long_deadline()) != 0)
    atomic_fetch_add(&b->gate_rc_bad, 1);
  note_lane_thread(&b->L);
  if (gort_join(b->plain_target, gt_long_deadline()) != 0)
    atomic_fetch_add(&b->joined_bad, 1);
  note_lane_thread(&b->L);
}
static void lblock_plain_fn(void *arg)
{
  lblock_t *b = arg;
  for (int i = 0; i < b->iters; i++) {
    gort_mutex_lock(&b->m, GORT_NEVER);
    b->counter++;
    gort_mutex_unlock(&b->m);
    gort_yield();
  }
}
static void lblock_release(void *arg)
{
  lblock_t *b = arg;
  gort_sleep(GT_MS(5));
  gort_wg_done(&b->gate);
}

/* Lane goroutines park (mutex, sleep, wg, join) and always wake on the lane
 * thread; ordinary goroutines contend for the same mutex. */
START_TEST(test_lane_blocking)
{
  static lblock_t b;
  memset(&b, 0, sizeof b);
  pthread_mutex_init(&b.L.lock, NULL);
  b.iters = (int)SCALED(300);
  ASSERT_EQ(gort_sched_new(&b.L.sched, 2), 0);
  ASSERT_EQ(gort_lane_new(b.L.sched, &b.L.lane), 0);
  ASSERT_EQ(gort_wg_add(&b.gate, 1), 0);
  ASSERT_EQ(gort_spawn(b.L.sched, lblock_release, &b, 0, &b.plain_target), 0);
  gort_g *lg[20], *pg[4];
  for (int i = 0; i < 20; i++)
    ASSERT_EQ(gort_lane_spawn(b.L.lane, lblock_lane_fn, &b, 0, &lg[i]), 0);
  for (int i = 0; i < 4; i++)
    ASSERT_EQ(gort_spawn(b.L.sched, lblock_plain_fn, &b, 0, &pg[i]), 0);
  for (int i = 0; i < 20; i++) {
    ASSERT_EQ(gort_join(lg[i], gt_long_deadline()), 0);
    gort_g_release(lg[i]);
  }
  for (int i = 0; i < 4; i++) {
    ASSERT_EQ(gort_join(pg[i], gt_long_deadline()), 0);
    gort_g_release(pg[i]);
  }
  ASSERT_EQ(b.counter, 24 * (int64_t)b.iters);
  ASSERT_EQ(atomic_load(&b.L.wrong_thread), 0);
  ASSERT_EQ(atomic_load(&b.gate_rc_bad), 0);
  ASSERT_EQ(atomic_load(&b.joined_bad), 0);
  ASSERT_EQ(gort_lane_close(b.L.lane, gt_long_deadline()), 0);
  gort_g_release(b.plain_target);
  ASSERT_EQ(gort_sched_shutdown(b.L.sched, gt_long_deadline()), 0);
}
END_TEST

/* An ordinary goroutine joins a lane goroutine and waits on a wg the lane
 * goroutine completes. */
typedef struct {
  gort_wg wg;
  gort_g *lane_g;
  int rc_wait, rc_join;
} lx_t;
static void lx_lane(void *arg)
{
  lx_t *x = arg;
  gort_sleep(GT_MS(2));
  gort_wg_done(&x->wg);
}
static void lx_plain(void *arg)
{
  lx_t *x = arg;
  x->rc_wait = gort_wg_wait(&x->wg, gt_long_deadline());
  x->rc_join = gort_join(x->lane_g, gt_long_deadline());
}

START_TEST(test_lane_cross_wakeups)
{
  static lx_t x;
  memset(&x, 0, sizeof x);
  gort_sched *s = NULL;
  gort_lane *l = NULL;
  ASSERT_EQ(gort_sched_new(&s, 1), 0);
  ASSERT_EQ(gort_lane_new(s, &l), 0);
  ASSERT_EQ(gort_wg_add(&x.wg, 1), 0);
  gort_g *p = NULL;
  ASSERT_EQ(gort_lane_spawn(l, lx_lane, &x, 0, &x.lane_g), 0);
  ASSERT_EQ(gort_spawn(s, lx_plain, &x, 0, &p), 0);
  ASSERT_EQ(gort_join(p, gt_long_deadline()), 0);
  ASSERT_EQ(x.rc_wait, 0);
  ASSERT_EQ(x.rc_join, 0);
  gort_g_release(p);
  gort_g_release(x.lane_g);
  ASSERT_EQ(gort_lane_close(l, gt_long_deadline()), 0);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

typedef struct {
  _Atomic int done;
} lc_t;
static void lc_fn(void *arg)
{
  gort_sleep(GT_MS(50));
  atomic_fetch_add(&((lc_t *)arg)->done, 1);
}
static void lc_long(void *arg)
{
  gort_sleep(GT_MS(300));
  atomic_fetch_add(&((lc_t *)arg)->done, 1);
}

/* gort_lane_close returns once every goroutine of the lane has ended. */
START_TEST(test_lane_close_waits)
{
  static lc_t c;
  memset(&c, 0, sizeof c);
  gort_sched *s = NULL;
  gort_lane *l = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  ASSERT_EQ(gort_lane_new(s, &l), 0);
  ASSERT_EQ(gort_lane_close(l, gt_long_deadline()), 0); /* empty */
  ASSERT_EQ(gort_lane_new(s, &l), 0);
  for (int i = 0; i < 10; i++)
    ASSERT_EQ(gort_lane_spawn(l, lc_fn, &c, 0, NULL), 0);
  ASSERT_EQ(gort_lane_close(l, gt_long_deadline()), 0);
  ASSERT_EQ(atomic_load(&c.done), 10);
  /* A deadline too short: ETIMEDOUT, and the lane is still there to close. */
  ASSERT_EQ(gort_lane_new(s, &l), 0);
  ASSERT_EQ(gort_lane_spawn(l, lc_long, &c, 0, NULL), 0);
  ASSERT_EQ(gort_lane_close(l, gort_now() + GT_MS(10)), GORT_ETIMEDOUT);
  ASSERT_EQ(gort_lane_close(l, gt_long_deadline()), 0);
  ASSERT_EQ(atomic_load(&c.done), 11);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

typedef struct {
  gort_lane *want;
  gort_lane *seen;
  pthread_t t;
} lcur_t;
static void lcur_fn(void *arg)
{
  lcur_t *c = arg;
  c->seen = gort_lane_current();
  c->t = pthread_self();
}

/* Two lanes: two threads, each goroutine sees its own lane. */
START_TEST(test_lane_current_two_lanes)
{
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  gort_lane *l[2];
  lcur_t c[3];
  memset(c, 0, sizeof c);
  gort_g *g[3];
  for (int i = 0; i < 2; i++)
    ASSERT_EQ(gort_lane_new(s, &l[i]), 0);
  ASSERT_PTR_NE(l[0], l[1]);
  for (int i = 0; i < 2; i++)
    ASSERT_EQ(gort_lane_spawn(l[i], lcur_fn, &c[i], 0, &g[i]), 0);
  ASSERT_EQ(gort_spawn(s, lcur_fn, &c[2], 0, &g[2]), 0);
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(gort_join(g[i], gt_long_deadline()), 0);
    gort_g_release(g[i]);
  }
  ASSERT_PTR_EQ(c[0].seen, l[0]);
  ASSERT_PTR_EQ(c[1].seen, l[1]);
  ASSERT_NULL(c[2].seen);
  ASSERT_FALSE(pthread_equal(c[0].t, c[1].t));
  ASSERT_NULL(gort_lane_current());
  for (int i = 0; i < 2; i++)
    ASSERT_EQ(gort_lane_close(l[i], gt_long_deadline()), 0);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* A lane goroutine that blocks its thread outright (no syscall bracket)
 * stops only its lane: with 2 Ps, the scheduler's other goroutines tick. */
typedef struct {
  _Atomic int64_t ticks;
  _Atomic int stop;
  int64_t progressed;
} lh_t;
static void lh_ticker(void *arg)
{
  lh_t *h = arg;
  while (!atomic_load(&h->stop)) {
    atomic_fetch_add(&h->ticks, 1);
    gort_sleep(GT_MS(1));
  }
}
static void lh_lane(void *arg)
{
  lh_t *h = arg;
  int64_t start = atomic_load(&h->ticks);
  int64_t end = gt_os_now() + GT_SEC(10) * gt_timeout_mult();
  usleep(100000);
  while (atomic_load(&h->ticks) < start + 20 && gt_os_now() < end)
    usleep(10000);
  h->progressed = atomic_load(&h->ticks) - start;
  atomic_store(&h->stop, 1);
}

START_TEST(test_lane_thread_blocked)
{
  static lh_t h;
  memset(&h, 0, sizeof h);
  gort_sched *s = NULL;
  gort_lane *l = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  ASSERT_EQ(gort_lane_new(s, &l), 0);
  gort_g *t = NULL, *lg = NULL;
  ASSERT_EQ(gort_spawn(s, lh_ticker, &h, 0, &t), 0);
  ASSERT_TRUE(gt_await_ge(&h.ticks, 1));
  ASSERT_EQ(gort_lane_spawn(l, lh_lane, &h, 0, &lg), 0);
  ASSERT_EQ(gort_join(lg, gt_long_deadline()), 0);
  ASSERT_EQ(gort_join(t, gt_long_deadline()), 0);
  gort_g_release(lg);
  gort_g_release(t);
  ASSERT_GE(h.progressed, 20);
  ASSERT_EQ(gort_lane_close(l, gt_long_deadline()), 0);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* Foreign goroutines on a lane: every callback of the body runs on the
 * lane's thread, and calls that park interleave on it. */
START_TEST(test_foreign_on_lane)
{
  enum { N = 20 };
  reset_fake();
  gort_foreign_vt vt = make_vt(0);
  gort_sched *s = NULL;
  gort_lane *l = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  ASSERT_EQ(gort_lane_new(s, &l), 0);
  lcur_t probe = {0};
  gort_g *pg = NULL;
  ASSERT_EQ(gort_lane_spawn(l, lcur_fn, &probe, 0, &pg), 0);
  ASSERT_EQ(gort_join(pg, gt_long_deadline()), 0);
  gort_g_release(pg);
  static fobj *c[N], *a[N];
  gort_g *g[N];
  for (int i = 0; i < N; i++) {
    c[i] = new_obj(OBJ_CALLABLE, i, BEH_SLEEP);
    a[i] = new_obj(OBJ_ARGS, i, 0);
    ASSERT_EQ(gort_foreign_spawn(s, l, &vt, c[i], a[i], 0, &g[i]), 0);
  }
  for (int i = 0; i < N; i++) {
    ASSERT_EQ(gort_join(g[i], gt_long_deadline()), 0);
    void *res = NULL;
    ASSERT_EQ(gort_foreign_result(g[i], &res), 0);
    ASSERT_PTR_EQ(res, c[i]->result);
    gort_g_release(g[i]);
    ASSERT_PTR_EQ(c[i]->lane_seen, l);
    ASSERT_TRUE(pthread_equal(c[i]->call_thread, probe.t));
  }
  /* every state entered and left on the lane thread */
  pthread_mutex_lock(&trace_lock);
  int states = 0;
  for (int i = 0; i < ntrace; i++)
    if (trace[i].ev == 'Z') {
      const fstate *st = trace[i].p;
      states++;
      ASSERT_TRUE(pthread_equal(st->enter_thread, probe.t));
      ASSERT_TRUE(pthread_equal(st->leave_thread, probe.t));
      ASSERT_EQ(atomic_load(&st->step), 5);
    }
  pthread_mutex_unlock(&trace_lock);
  ASSERT_EQ(states, N);
  expect_counts(N, 0, 2 * N);
  ASSERT_EQ(gort_lane_close(l, gt_long_deadline()), 0);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

static void lane_noop(void *arg)
{
  (void)arg;
}

typedef struct {
  gort_wg started;
  _Atomic int64_t cancelled, other;
} lsd_t;
static void lsd_fn(void *arg)
{
  lsd_t *d = arg;
  gort_wg_done(&d->started);
  int rc = gort_sleep(GT_SEC(3600));
  atomic_fetch_add(rc == GORT_ECANCELED ? &d->cancelled : &d->other, 1);
}

/* Shutdown with lanes still open and their goroutines asleep: they are
 * cancelled and the lanes closed. */
START_TEST(test_lane_shutdown_alive)
{
  static lsd_t d;
  memset(&d, 0, sizeof d);
  gort_sched *s = NULL;
  gort_lane *l[2];
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  ASSERT_EQ(gort_wg_add(&d.started, 10), 0);
  for (int k = 0; k < 2; k++) {
    ASSERT_EQ(gort_lane_new(s, &l[k]), 0);
    for (int i = 0; i < 5; i++)
      ASSERT_EQ(gort_lane_spawn(l[k], lsd_fn, &d, 0, NULL), 0);
  }
  ASSERT_EQ(gort_wg_wait(&d.started, gt_long_deadline()), 0);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
  ASSERT_EQ(atomic_load(&d.cancelled), 10);
  ASSERT_EQ(atomic_load(&d.other), 0);
}
END_TEST

START_TEST(test_lane_bad_args)
{
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 1), 0);
  gort_lane *l = NULL;
  ASSERT_EQ(gort_lane_new(s, NULL), GORT_EINVAL);
  ASSERT_EQ(gort_lane_new(s, &l), 0);
  ASSERT_EQ(gort_lane_spawn(l, NULL, NULL, 0, NULL), GORT_EINVAL);
  ASSERT_EQ(gort_lane_spawn(NULL, lane_noop, NULL, 0, NULL), GORT_EINVAL);
  ASSERT_EQ(gort_lane_close(l, gt_long_deadline()), 0);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

static Suite *foreign_suite(void)
{
  Suite *s = suite_create("foreign");
  TCase *tc = gt_tcase(s, "foreign", 120);
  tcase_add_test(tc, test_foreign_order_success);
  tcase_add_test(tc, test_foreign_order_failure);
  tcase_add_test(tc, test_foreign_order_parks_in_call);
  tcase_add_test(tc, test_foreign_result_eagain);
  tcase_add_test(tc, test_foreign_result_dropped_on_release);
  tcase_add_test(tc, test_foreign_result_dropped_when_unowned);
  tcase_add_test(tc, test_foreign_many_concurrent);
  tcase_add_test(tc, test_foreign_set_stack);
  tcase_add_test(tc, test_foreign_bad_args);
  tcase_add_test(tc, test_foreign_cancelled_in_call);
  tcase_add_test(tc, test_foreign_shutdown_alive);

  tc = gt_tcase(s, "lanes", 120);
  tcase_add_test(tc, test_lane_one_thread);
  tcase_add_test(tc, test_lane_blocking);
  tcase_add_test(tc, test_lane_cross_wakeups);
  tcase_add_test(tc, test_lane_close_waits);
  tcase_add_test(tc, test_lane_current_two_lanes);
  tcase_add_test(tc, test_lane_thread_blocked);
  tcase_add_test(tc, test_foreign_on_lane);
  tcase_add_test(tc, test_lane_bad_args);
  tcase_add_test(tc, test_lane_shutdown_alive);
  return s;
}

GT_MAIN(foreign_suite)
