/*
 * check_context.c - contexts (Go's context package).
 *
 *  - background: never done, no deadline, one lazily made done channel
 *    (the same for racing first callers), cancel refused;
 *  - cancel closes done with GORT_ECANCELED; a deadline gives
 *    GORT_ETIMEDOUT; a parent's cancellation reaches children and
 *    grandchildren with the parent's error; a child of a done parent, or
 *    with a past deadline, is born done; the effective deadline is the
 *    earliest of the chain's; done works in gort_select;
 *  - cancel racing the deadline timer (err is one of the two and the same
 *    down the tree); the last release racing the deadline's callback and
 *    the parent's cancellation walking the children; children made,
 *    cancelled and released while their parent is cancelled;
 *  - reference counting: the last release cancels, a child keeps its
 *    parent, retained done channels outlive the context, timers go with
 *    the context (ASan and valgrind see leaks and late firings);
 *  - a chain 10,000 deep cancelled from the root, by cancel and by the
 *    root's deadline (constant C stack, also on the scheduler stack);
 *  - gort_context_wait with each deadline shape, from goroutines and
 *    threads; bad arguments.
 */
#define _GNU_SOURCE
#include "testutil.h"

/* done is closed: a receive fails at once with GORT_EPIPE. */
static void assert_done(gort_context *c)
{
  ASSERT_EQ(gort_chan_recv(gort_context_done(c), NULL, 0), GORT_EPIPE);
}
static void assert_live(gort_context *c)
{
  ASSERT_EQ(gort_context_err(c), 0);
  ASSERT_EQ(gort_chan_recv(gort_context_done(c), NULL, 0), GORT_EAGAIN);
}

/* ---- background ---------------------------------------------------------- */

static void *bg_done_thread(void *arg)
{
  (void)arg;
  return gort_context_done(gort_context_background());
}

START_TEST(test_background)
{
  pthread_t th[8];
  void *got[8];
  gort_context *bg = gort_context_background();
  ASSERT_NOT_NULL(bg);
  ASSERT_PTR_EQ(gort_context_background(), bg);
  /* first use from several threads at once: one channel */
  for (int i = 0; i < 8; i++)
    th[i] = gt_thread(bg_done_thread, NULL);
  for (int i = 0; i < 8; i++)
    ASSERT_EQ(pthread_join(th[i], &got[i]), 0);
  ASSERT_NOT_NULL(got[0]);
  for (int i = 1; i < 8; i++)
    ASSERT_PTR_EQ(got[i], got[0]);
  ASSERT_PTR_EQ(gort_context_done(bg), got[0]);
  ASSERT_EQ(gort_chan_elem_size(gort_context_done(bg)), 0);
  ASSERT_EQ(gort_context_err(bg), 0);
  ASSERT_EQ(gort_context_deadline(bg), GORT_NEVER);
  ASSERT_EQ(gort_context_cancel(bg), GORT_EINVAL);
  gort_context_retain(bg);
  gort_context_release(bg);
  gort_context_release(bg);
  assert_live(bg);
  ASSERT_EQ(gort_context_wait(bg, 0), GORT_EAGAIN);
  ASSERT_EQ(gort_context_wait(bg, gort_now() + GT_MS(5)), GORT_ETIMEDOUT);
}
END_TEST

/* ---- cancel and deadline ------------------------------------------------- */

static void cancel_body(void *arg)
{
  (void)arg;
  gort_context *c = NULL;
  ASSERT_EQ(gort_context_with_cancel(gort_context_background(), &c), 0);
  ASSERT_NOT_NULL(c);
  gort_chan *done = gort_context_done(c);
  ASSERT_NOT_NULL(done);
  ASSERT_EQ(gort_chan_elem_size(done), 0);
  ASSERT_EQ(gort_chan_cap(done), 0);
  ASSERT_EQ(gort_context_deadline(c), GORT_NEVER);
  assert_live(c);
  ASSERT_EQ(gort_context_cancel(c), 0);
  ASSERT_EQ(gort_context_err(c), GORT_ECANCELED);
  assert_done(c);
  ASSERT_EQ(gort_context_cancel(c), 0); /* again: still 0, nothing changes */
  ASSERT_EQ(gort_context_err(c), GORT_ECANCELED);
  ASSERT_EQ(gort_context_wait(c, 0), GORT_ECANCELED);
  gort_context_release(c);
}

START_TEST(test_cancel)
{
  gt_run_in(2, cancel_body, NULL);
}
END_TEST

static void deadline_body(void *arg)
{
  (void)arg;
  gort_context *c = NULL;
  int64_t dl = gort_now() + GT_MS(20);
  ASSERT_EQ(gort_context_with_deadline(gort_context_background(), dl, &c), 0);
  ASSERT_EQ(gort_context_deadline(c), dl);
  assert_live(c);
  ASSERT_EQ(gort_chan_recv(gort_context_done(c), NULL, gt_long_deadline()),
            GORT_EPIPE);
  ASSERT_GE(gort_now(), dl);
  ASSERT_EQ(gort_context_err(c), GORT_ETIMEDOUT);
  ASSERT_EQ(gort_context_cancel(c), 0); /* too late: the deadline won */
  ASSERT_EQ(gort_context_err(c), GORT_ETIMEDOUT);
  gort_context_release(c);

  /* cancelled before its deadline: ECANCELED, and the timer goes (ASan
   * sees a firing on freed memory otherwise) */
  dl = gort_now() + GT_MS(10);
  ASSERT_EQ(gort_context_with_deadline(gort_context_background(), dl, &c), 0);
  ASSERT_EQ(gort_context_cancel(c), 0);
  ASSERT_EQ(gort_context_err(c), GORT_ECANCELED);
  gort_context_release(c);
  ASSERT_EQ(gort_context_with_deadline(gort_context_background(), dl, &c), 0);
  gort_context_release(c); /* released live, timer armed */
  ASSERT_EQ(gort_sleep_until(dl + GT_MS(20)), 0);

  /* GORT_NEVER: no deadline of its own */
  ASSERT_EQ(
      gort_context_with_deadline(gort_context_background(), GORT_NEVER, &c), 0);
  ASSERT_EQ(gort_context_deadline(c), GORT_NEVER);
  assert_live(c);
  gort_context_release(c);
}

START_TEST(test_deadline)
{
  gt_run_in(2, deadline_body, NULL);
}
END_TEST

/* ---- the tree ------------------------------------------------------------ */

static void propagate_body(void *arg)
{
  (void)arg;
  gort_context *root, *a, *b, *a1, *a2, *b1;
  gort_context *bg = gort_context_background();
  ASSERT_EQ(gort_context_with_cancel(bg, &root), 0);
  ASSERT_EQ(gort_context_with_cancel(root, &a), 0);
  ASSERT_EQ(gort_context_with_deadline(root, gort_now() + GT_SEC(3600), &b), 0);
  ASSERT_EQ(gort_context_with_cancel(a, &a1), 0);
  ASSERT_EQ(gort_context_with_deadline(a, gort_now() + GT_SEC(3600), &a2), 0);
  ASSERT_EQ(gort_context_with_cancel(b, &b1), 0);
  /* cancelling a child touches neither its parent nor its sibling */
  ASSERT_EQ(gort_context_cancel(a2), 0);
  ASSERT_EQ(gort_context_err(a2), GORT_ECANCELED);
  assert_live(a);
  assert_live(a1);
  assert_live(root);
  ASSERT_EQ(gort_context_cancel(root), 0);
  gort_context *all[] = {root, a, b, a1, b1};
  for (int i = 0; i < 5; i++) {
    ASSERT_EQ(gort_context_err(all[i]), GORT_ECANCELED);
    assert_done(all[i]);
  }
  for (int i = 0; i < 5; i++)
    gort_context_release(all[i]);
  gort_context_release(a2);

  /* the root's deadline reaches the grandchildren as GORT_ETIMEDOUT */
  int64_t dl = gort_now() + GT_MS(20);
  ASSERT_EQ(gort_context_with_deadline(bg, dl, &root), 0);
  ASSERT_EQ(gort_context_with_cancel(root, &a), 0);
  ASSERT_EQ(gort_context_with_deadline(a, dl + GT_SEC(3600), &a1), 0);
  ASSERT_EQ(gort_context_deadline(a), dl);
  ASSERT_EQ(gort_context_deadline(a1), dl);
  ASSERT_EQ(gort_context_wait(a1, gt_long_deadline()), GORT_ETIMEDOUT);
  ASSERT_GE(gort_now(), dl);
  ASSERT_EQ(gort_context_err(a), GORT_ETIMEDOUT);
  ASSERT_EQ(gort_context_err(root), GORT_ETIMEDOUT);
  /* a child's earlier deadline fires alone */
  ASSERT_EQ(gort_context_with_cancel(bg, &b), 0);
  ASSERT_EQ(gort_context_with_deadline(b, gort_now() + GT_MS(5), &b1), 0);
  ASSERT_EQ(gort_context_wait(b1, gt_long_deadline()), GORT_ETIMEDOUT);
  assert_live(b);
  gort_context_release(b1);
  gort_context_release(b);
  /* released leaf first this time */
  gort_context_release(a1);
  gort_context_release(a);
  gort_context_release(root);
}

START_TEST(test_propagate)
{
  gt_run_in(2, propagate_body, NULL);
}
END_TEST

static void born_done_body(void *arg)
{
  (void)arg;
  gort_context *bg = gort_context_background(), *p, *c, *d;
  ASSERT_EQ(gort_context_with_cancel(bg, &p), 0);
  ASSERT_EQ(gort_context_cancel(p), 0);
  ASSERT_EQ(gort_context_with_cancel(p, &c), 0);
  ASSERT_EQ(gort_context_err(c), GORT_ECANCELED);
  assert_done(c);
  /* the parent's reason wins over the child's own past deadline */
  ASSERT_EQ(gort_context_with_deadline(p, GT_PAST, &d), 0);
  ASSERT_EQ(gort_context_err(d), GORT_ECANCELED);
  gort_context_release(d);
  gort_context_release(c);
  gort_context_release(p);

  /* a past deadline, also 0 (a time long gone) */
  ASSERT_EQ(gort_context_with_deadline(bg, GT_PAST, &c), 0);
  ASSERT_EQ(gort_context_err(c), GORT_ETIMEDOUT);
  assert_done(c);
  ASSERT_EQ(gort_context_with_cancel(c, &d), 0);
  ASSERT_EQ(gort_context_err(d), GORT_ETIMEDOUT);
  gort_context_release(d);
  gort_context_release(c);
  ASSERT_EQ(gort_context_with_deadline(bg, 0, &c), 0);
  ASSERT_EQ(gort_context_err(c), GORT_ETIMEDOUT);
  gort_context_release(c);

  /* the parent timed out */
  ASSERT_EQ(gort_context_with_deadline(bg, gort_now() + GT_MS(2), &p), 0);
  ASSERT_EQ(gort_context_wait(p, gt_long_deadline()), GORT_ETIMEDOUT);
  ASSERT_EQ(gort_context_with_deadline(p, GORT_NEVER, &c), 0);
  ASSERT_EQ(gort_context_err(c), GORT_ETIMEDOUT);
  gort_context_release(c);
  gort_context_release(p);
}

START_TEST(test_born_done)
{
  gt_run_in(2, born_done_body, NULL);
}
END_TEST

static void effective_deadline_body(void *arg)
{
  (void)arg;
  gort_context *bg = gort_context_background(), *p, *later, *sooner, *plain;
  int64_t now = gort_now();
  int64_t d1 = now + GT_SEC(3600), d2 = now + GT_SEC(7200),
          d3 = now + GT_SEC(600);
  ASSERT_EQ(gort_context_with_deadline(bg, d1, &p), 0);
  ASSERT_EQ(gort_context_with_deadline(p, d2, &later), 0);
  ASSERT_EQ(gort_context_with_deadline(p, d3, &sooner), 0);
  ASSERT_EQ(gort_context_with_cancel(sooner, &plain), 0);
  ASSERT_EQ(gort_context_deadline(p), d1);
  ASSERT_EQ(gort_context_deadline(later), d1);
  ASSERT_EQ(gort_context_deadline(sooner), d3);
  ASSERT_EQ(gort_context_deadline(plain), d3);
  /* the one without a timer of its own still ends with its parent */
  ASSERT_EQ(gort_context_cancel(p), 0);
  ASSERT_EQ(gort_context_err(later), GORT_ECANCELED);
  ASSERT_EQ(gort_context_err(plain), GORT_ECANCELED);
  gort_context_release(plain);
  gort_context_release(sooner);
  gort_context_release(later);
  gort_context_release(p);
}

START_TEST(test_effective_deadline)
{
  gt_run_in(2, effective_deadline_body, NULL);
}
END_TEST

/* ---- select -------------------------------------------------------------- */

typedef struct {
  gort_context *c;
  gort_chan *data;
  int idx[2];
  int res[2];
} sel_t;

static void sel_fn(void *arg)
{
  sel_t *s = arg;
  int64_t v = 0;
  for (int i = 0; i < 2; i++) {
    gort_case cs[2] = {{s->data, GORT_RECV, &v, 0},
                       {gort_context_done(s->c), GORT_RECV, NULL, 0}};
    s->idx[i] = gort_select(cs, 2, gt_long_deadline());
    s->res[i] = s->idx[i] >= 0 ? cs[s->idx[i]].result : 0;
  }
}

static void select_body(void *arg)
{
  (void)arg;
  sel_t s = {0};
  gort_g *g = NULL;
  int64_t v = 7;
  ASSERT_EQ(gort_context_with_cancel(gort_context_background(), &s.c), 0);
  ASSERT_EQ(gort_chan_new(&s.data, sizeof(int64_t), 0), 0);
  ASSERT_EQ(gort_spawn(NULL, sel_fn, &s, 0, &g), 0);
  ASSERT_EQ(gort_chan_send(s.data, &v, gt_long_deadline()), 0);
  ASSERT_EQ(gort_context_cancel(s.c), 0);
  ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
  gort_g_release(g);
  ASSERT_EQ(s.idx[0], 0);
  ASSERT_EQ(s.res[0], 0);
  ASSERT_EQ(s.idx[1], 1);
  ASSERT_EQ(s.res[1], GORT_EPIPE);
  gort_context_release(s.c);

  /* a live context's done never proceeds; a deadline context's does */
  gort_context *live, *timed;
  ASSERT_EQ(gort_context_with_cancel(gort_context_background(), &live), 0);
  ASSERT_EQ(gort_context_with_deadline(gort_context_background(),
                                       gort_now() + GT_MS(10), &timed),
            0);
  gort_case cs[3] = {{s.data, GORT_RECV, &v, 0},
                     {gort_context_done(live), GORT_RECV, NULL, 0},
                     {gort_context_done(timed), GORT_RECV, NULL, 0}};
  ASSERT_EQ(gort_select(cs, 3, 0), GORT_EAGAIN);
  ASSERT_EQ(gort_select(cs, 3, gt_long_deadline()), 2);
  ASSERT_EQ(cs[2].result, GORT_EPIPE);
  cs[2].chan = NULL;
  ASSERT_EQ(gort_select(cs, 3, gort_now() + GT_MS(10)), GORT_ETIMEDOUT);
  gort_context_release(timed);
  gort_context_release(live);
  gort_chan_release(s.data);
}

START_TEST(test_select)
{
  gt_run_in(2, select_body, NULL);
}
END_TEST

/* ---- races --------------------------------------------------------------- */

typedef struct {
  gort_context *c;
  int64_t at;
} canceller_t;

static void canceller_fn(void *arg)
{
  canceller_t *k = arg;
  while (gort_now() < k->at) {
  }
  ASSERT_EQ(gort_context_cancel(k->c), 0);
}

/* The user's cancel and the deadline timer at the same moment, with a
 * child and a grandchild below: one wins, everywhere. */
static void race_body(void *arg)
{
  (void)arg;
  uint64_t seed = 99;
  int64_t n = SCALED(3000), timedout = 0;
  for (int64_t i = 0; i < n; i++) {
    gort_context *c, *child, *gchild;
    gort_g *g = NULL;
    int64_t now = gort_now();
    int64_t dl = now + GT_US(20) + (int64_t)(gt_rand(&seed) % GT_US(100));
    canceller_t k;
    ASSERT_EQ(gort_context_with_deadline(gort_context_background(), dl, &c), 0);
    ASSERT_EQ(gort_context_with_cancel(c, &child), 0);
    ASSERT_EQ(gort_context_with_cancel(child, &gchild), 0);
    k.c = c;
    k.at = now + GT_US(20) + (int64_t)(gt_rand(&seed) % GT_US(100));
    ASSERT_EQ(gort_spawn(NULL, canceller_fn, &k, 0, &g), 0);
    ASSERT_EQ(
        gort_chan_recv(gort_context_done(gchild), NULL, gt_long_deadline()),
        GORT_EPIPE);
    int err = gort_context_err(c);
    ASSERT_ONE_OF(err, GORT_ECANCELED, GORT_ETIMEDOUT);
    ASSERT_EQ(gort_context_err(child), err);
    ASSERT_EQ(gort_context_err(gchild), err);
    ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
    gort_g_release(g);
    ASSERT_EQ(gort_context_err(c), err); /* never changes afterwards */
    assert_done(c);
    assert_done(child);
    timedout += err == GORT_ETIMEDOUT;
    /* release in a different order each time */
    if (i & 1) {
      gort_context_release(c);
      gort_context_release(gchild);
      gort_context_release(child);
    } else {
      gort_context_release(gchild);
      gort_context_release(child);
      gort_context_release(c);
    }
  }
  fprintf(stderr,
          "cancel/deadline race: %" PRId64 " of %" PRId64 " timed out\n",
          timedout, n);
}

START_TEST(test_cancel_deadline_race)
{
  gt_run_in(4, race_body, NULL);
}
END_TEST

/* Go's promise: once Err is non-nil, Done is closed. A watcher on another
 * P spins on gort_context_err while the context is cancelled, and looks at
 * done the moment err shows; and a child made just as its parent is
 * cancelled, if born done, must find its parent's done closed. */
static void err_watcher(void *arg)
{
  gort_context *c = arg;
  int64_t spins = 0;
  while (gort_context_err(c) == 0)
    if (++spins % 4096 == 0)
      gort_yield(); /* lets the canceller in if we share a P */
  assert_done(c);
}

static void cancel_fn(void *c)
{
  ASSERT_EQ(gort_context_cancel(c), 0);
}

static void err_done_body(void *arg)
{
  (void)arg;
  uint64_t seed = 5;
  int64_t n = SCALED(20000);
  for (int64_t i = 0; i < n; i++) {
    gort_context *c, *child = NULL;
    gort_g *g = NULL;
    int64_t until;
    ASSERT_EQ(gort_context_with_cancel(gort_context_background(), &c), 0);
    ASSERT_EQ(gort_spawn(NULL, err_watcher, c, 0, &g), 0);
    until = gort_now() + (int64_t)(gt_rand(&seed) % GT_US(5));
    while (gort_now() < until) {
    }
    if (i & 1) {
      ASSERT_EQ(gort_context_cancel(c), 0);
    } else {
      /* the watcher's P cancels nothing: a child is born as it may */
      gort_g *k = NULL;
      ASSERT_EQ(gort_spawn(NULL, cancel_fn, c, 0, &k), 0);
      ASSERT_EQ(gort_context_with_cancel(c, &child), 0);
      if (gort_context_err(child))
        assert_done(c);
      ASSERT_EQ(gort_join(k, gt_long_deadline()), 0);
      gort_g_release(k);
    }
    ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
    gort_g_release(g);
    if (child)
      gort_context_release(child);
    gort_context_release(c);
  }
}

START_TEST(test_err_means_done)
{
  gt_run_in(2, err_done_body, NULL);
}
END_TEST

/* The last release while the deadline's callback may be cancelling the
 * context and its child on another M: the free waits for it (ASan sees a
 * use after free otherwise). */
static void release_vs_deadline_body(void *arg)
{
  (void)arg;
  uint64_t seed = 7;
  int64_t n = SCALED(5000);
  for (int64_t i = 0; i < n; i++) {
    gort_context *c, *child;
    int64_t now = gort_now();
    ASSERT_EQ(gort_context_with_deadline(
                  gort_context_background(),
                  now + (int64_t)(gt_rand(&seed) % GT_US(60)), &c),
              0);
    ASSERT_EQ(gort_context_with_cancel(c, &child), 0);
    int64_t until = now + (int64_t)(gt_rand(&seed) % GT_US(60));
    while (gort_now() < until) {
    }
    if (i & 1) {
      gort_context_release(child);
      gort_context_release(c);
    } else {
      gort_context_release(c); /* child's reference keeps it */
      gort_context_release(child);
    }
  }
}

START_TEST(test_release_vs_deadline)
{
  gt_run_in(4, release_vs_deadline_body, NULL);
}
END_TEST

/* Children released while their parent's cancellation is walking them:
 * a child it has detached but not yet visited is pinned, and its free
 * waits (ASan sees a use after free otherwise). */
#define KIDS 32
typedef struct {
  gort_context *kids[KIDS];
  _Atomic int go;
} relkids_t;

static void release_kids_fn(void *arg)
{
  relkids_t *r = arg;
  while (!atomic_load(&r->go)) {
  }
  for (int i = KIDS - 1; i >= 0; i--)
    gort_context_release(r->kids[i]);
}

static void release_vs_cancel_body(void *arg)
{
  (void)arg;
  int64_t n = SCALED(2000);
  for (int64_t i = 0; i < n; i++) {
    relkids_t r;
    gort_context *root;
    gort_g *g = NULL;
    atomic_init(&r.go, 0);
    ASSERT_EQ(gort_context_with_cancel(gort_context_background(), &root), 0);
    for (int k = 0; k < KIDS; k++)
      ASSERT_EQ(gort_context_with_cancel(root, &r.kids[k]), 0);
    ASSERT_EQ(gort_spawn(NULL, release_kids_fn, &r, 0, &g), 0);
    gort_yield();
    atomic_store(&r.go, 1);
    ASSERT_EQ(gort_context_cancel(root), 0);
    ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
    gort_g_release(g);
    gort_context_release(root);
  }
}

START_TEST(test_release_vs_cancel)
{
  gt_run_in(4, release_vs_cancel_body, NULL);
}
END_TEST

/* Goroutines make, cancel and release children of one parent while it is
 * cancelled: list links, pins and references stay consistent. */
typedef struct {
  gort_context *root;
  _Atomic int64_t made;
  int64_t n;
  uint64_t seed;
} churn_t;

static void churn_fn(void *arg)
{
  churn_t *ch = arg;
  uint64_t seed = atomic_fetch_add(&ch->made, 1) * 7919 + 1;
  gort_context *keep[8] = {0};
  for (int64_t i = 0; i < ch->n; i++) {
    gort_context *c = NULL, *cc = NULL;
    ASSERT_EQ(gort_context_with_cancel(ch->root, &c), 0);
    if (gt_rand(&seed) & 1)
      ASSERT_EQ(gort_context_with_deadline(c, gort_now() + GT_US(50), &cc), 0);
    if (gt_rand(&seed) & 1)
      ASSERT_EQ(gort_context_cancel(c), 0);
    int slot = (int)(gt_rand(&seed) % 8);
    gort_context_release(keep[slot]);
    keep[slot] = c;
    gort_context_release(cc);
    if (i % 64 == 0)
      gort_yield();
  }
  for (int i = 0; i < 8; i++) {
    if (keep[i]) {
      /* every survivor ends up done: its parent was cancelled */
      ASSERT_EQ(gort_context_wait(keep[i], gt_long_deadline()), GORT_ECANCELED);
      gort_context_release(keep[i]);
    }
  }
}

static void churn_body(void *arg)
{
  (void)arg;
  churn_t ch = {0};
  gort_g *gs[4];
  ch.n = SCALED(5000);
  ASSERT_EQ(gort_context_with_cancel(gort_context_background(), &ch.root), 0);
  for (int i = 0; i < 4; i++)
    ASSERT_EQ(gort_spawn(NULL, churn_fn, &ch, 0, &gs[i]), 0);
  ASSERT_EQ(gort_sleep(GT_MS(5)), 0); /* some churn before and after */
  ASSERT_EQ(gort_context_cancel(ch.root), 0);
  for (int i = 0; i < 4; i++) {
    ASSERT_EQ(gort_join(gs[i], gt_long_deadline()), 0);
    gort_g_release(gs[i]);
  }
  gort_context_release(ch.root);
}

START_TEST(test_churn)
{
  gt_run_in(4, churn_body, NULL);
}
END_TEST

/* ---- references ---------------------------------------------------------- */

static void refs_body(void *arg)
{
  (void)arg;
  gort_context *bg = gort_context_background(), *p, *c;
  gort_chan *pd, *cd;
  /* the last release cancels; a retained done channel outlives c */
  ASSERT_EQ(gort_context_with_cancel(bg, &c), 0);
  cd = gort_context_done(c);
  gort_chan_retain(cd);
  gort_context_retain(c);
  gort_context_release(c);
  ASSERT_EQ(gort_context_err(c), 0); /* one reference left */
  gort_context_release(c);
  ASSERT_EQ(gort_chan_recv(cd, NULL, 0), GORT_EPIPE);
  gort_chan_release(cd);

  /* releasing the parent cancels it and its subtree at once (Go's
   * `defer cancel()`); the child's reference only keeps its memory */
  ASSERT_EQ(gort_context_with_cancel(bg, &p), 0);
  ASSERT_EQ(gort_context_with_cancel(p, &c), 0);
  pd = gort_context_done(p);
  cd = gort_context_done(c);
  gort_chan_retain(pd);
  gort_chan_retain(cd);
  gort_context_release(p);
  ASSERT_EQ(gort_chan_recv(pd, NULL, 0), GORT_EPIPE);
  ASSERT_EQ(gort_chan_recv(cd, NULL, 0), GORT_EPIPE);
  ASSERT_EQ(gort_context_err(c), GORT_ECANCELED);
  gort_context_release(c); /* frees c, then p */
  ASSERT_EQ(gort_chan_recv(cd, NULL, 0), GORT_EPIPE);
  ASSERT_EQ(gort_chan_recv(pd, NULL, 0), GORT_EPIPE);
  gort_chan_release(pd);
  gort_chan_release(cd);

  /* released with timers armed all over a tree, in both orders */
  for (int order = 0; order < 2; order++) {
    gort_context *cs[16];
    int64_t dl = gort_now() + GT_MS(10);
    ASSERT_EQ(gort_context_with_deadline(bg, dl + GT_MS(16), &cs[0]), 0);
    for (int i = 1; i < 16; i++)
      ASSERT_EQ(gort_context_with_deadline(cs[(i - 1) / 2], dl + GT_MS(16 - i),
                                           &cs[i]),
                0);
    for (int i = 0; i < 16; i++)
      gort_context_release(cs[order ? 15 - i : i]);
  }
  /* any timer left would fire on freed memory now */
  ASSERT_EQ(gort_sleep(GT_MS(40)), 0);
}

START_TEST(test_refs)
{
  gt_run_in(2, refs_body, NULL);
}
END_TEST

/* ---- a deep chain -------------------------------------------------------- */

#define DEEP 10000

static void deep_body(void *arg)
{
  int by_deadline = *(int *)arg;
  gort_context **cs = calloc(DEEP, sizeof *cs);
  ASSERT_NOT_NULL(cs);
  /* long enough to build the chain first, even under valgrind */
  int64_t dl = gt_deadline(GT_MS(300));
  if (by_deadline)
    ASSERT_EQ(gort_context_with_deadline(gort_context_background(), dl, &cs[0]),
              0);
  else
    ASSERT_EQ(gort_context_with_cancel(gort_context_background(), &cs[0]), 0);
  for (int i = 1; i < DEEP; i++)
    ASSERT_EQ(gort_context_with_cancel(cs[i - 1], &cs[i]), 0);
  assert_live(cs[DEEP - 1]);
  if (by_deadline) {
    ASSERT_EQ(gort_context_deadline(cs[DEEP - 1]), dl);
    /* the root's timer callback cancels all of them on the scheduler stack */
    ASSERT_EQ(gort_context_wait(cs[DEEP - 1], gt_long_deadline()),
              GORT_ETIMEDOUT);
  } else {
    ASSERT_EQ(gort_context_cancel(cs[0]), 0);
  }
  int want = by_deadline ? GORT_ETIMEDOUT : GORT_ECANCELED;
  for (int i = 0; i < DEEP; i++) {
    ASSERT_EQ(gort_context_err(cs[i]), want);
    if (i % 1000 == 999)
      assert_done(cs[i]);
  }
  /* root first: every free but the last is deferred to the leaf's release,
   * which then frees the whole chain in a loop */
  for (int i = 0; i < DEEP; i++)
    gort_context_release(cs[i]);

  /* a live chain released from the leaf up, and one cut in the middle */
  ASSERT_EQ(gort_context_with_cancel(gort_context_background(), &cs[0]), 0);
  for (int i = 1; i < DEEP; i++)
    ASSERT_EQ(gort_context_with_cancel(cs[i - 1], &cs[i]), 0);
  ASSERT_EQ(gort_context_cancel(cs[DEEP / 2]), 0);
  ASSERT_EQ(gort_context_err(cs[DEEP / 2 - 1]), 0);
  ASSERT_EQ(gort_context_err(cs[DEEP - 1]), GORT_ECANCELED);
  for (int i = DEEP - 1; i >= 0; i--)
    gort_context_release(cs[i]);
  free(cs);
}

START_TEST(test_deep_chain)
{
  int by_deadline = _i;
  /* a small goroutine stack: nothing may recurse */
  gort_sched *s = NULL;
  gort_g *g = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  ASSERT_EQ(gort_spawn(s, deep_body, &by_deadline, 32 * 1024, &g), 0);
  ASSERT_EQ(gort_join(g, gt_deadline(2 * GT_WAIT)), 0);
  gort_g_release(g);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* ---- wait ---------------------------------------------------------------- */

typedef struct {
  gort_context *c;
  int64_t deadline;
  int rc;
} waiter_t;

static void waiter_fn(void *arg)
{
  waiter_t *w = arg;
  w->rc = gort_context_wait(w->c, w->deadline);
}
static void *waiter_thread(void *arg)
{
  waiter_fn(arg);
  return NULL;
}

static void wait_body(void *arg)
{
  (void)arg;
  gort_context *c = NULL;
  gort_g *g = NULL;
  ASSERT_EQ(gort_context_with_cancel(gort_context_background(), &c), 0);
  ASSERT_EQ(gort_context_wait(c, 0), GORT_EAGAIN);
  ASSERT_EQ(gort_context_wait(c, GT_PAST), GORT_ETIMEDOUT);
  int64_t t0 = gort_now();
  ASSERT_EQ(gort_context_wait(c, t0 + GT_MS(10)), GORT_ETIMEDOUT);
  ASSERT_GE(gort_now(), t0 + GT_MS(10));

  /* a goroutine and a thread woken by the cancel */
  waiter_t wg = {c, GORT_NEVER, 1}, wt = {c, gt_long_deadline(), 1};
  ASSERT_EQ(gort_spawn(NULL, waiter_fn, &wg, 0, &g), 0);
  pthread_t th = gt_thread(waiter_thread, &wt);
  ASSERT_EQ(gort_join(g, gort_now() + GT_MS(10)), GORT_ETIMEDOUT);
  ASSERT_EQ(gort_context_cancel(c), 0);
  ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
  gort_g_release(g);
  gt_thread_join(th);
  ASSERT_EQ(wg.rc, GORT_ECANCELED);
  ASSERT_EQ(wt.rc, GORT_ECANCELED);
  /* done: every deadline shape gives the error */
  ASSERT_EQ(gort_context_wait(c, 0), GORT_ECANCELED);
  ASSERT_EQ(gort_context_wait(c, GT_PAST), GORT_ECANCELED);
  ASSERT_EQ(gort_context_wait(c, GORT_NEVER), GORT_ECANCELED);
  gort_context_release(c);

  /* the waiting goroutine itself cancelled: ECANCELED, the context live */
  ASSERT_EQ(gort_context_with_cancel(gort_context_background(), &c), 0);
  waiter_t wc = {c, GORT_NEVER, 1};
  ASSERT_EQ(gort_spawn(NULL, waiter_fn, &wc, 0, &g), 0);
  ASSERT_EQ(gort_join(g, gort_now() + GT_MS(10)), GORT_ETIMEDOUT);
  ASSERT_EQ(gort_cancel(g), 0);
  ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
  gort_g_release(g);
  ASSERT_EQ(wc.rc, GORT_ECANCELED);
  assert_live(c);
  gort_context_release(c);

  /* the context's deadline, from a goroutine */
  ASSERT_EQ(gort_context_with_deadline(gort_context_background(),
                                       gort_now() + GT_MS(10), &c),
            0);
  ASSERT_EQ(gort_context_wait(c, gt_long_deadline()), GORT_ETIMEDOUT);
  ASSERT_EQ(gort_context_err(c), GORT_ETIMEDOUT);
  gort_context_release(c);
}

START_TEST(test_wait)
{
  gt_run_in(2, wait_body, NULL);
}
END_TEST

/* The default scheduler's timers, from the test's own thread. */
START_TEST(test_plain_thread)
{
  gort_context *c = NULL, *d = NULL;
  ASSERT_EQ(gort_context_with_deadline(gort_context_background(),
                                       gort_now() + GT_MS(10), &c),
            0);
  ASSERT_EQ(gort_context_with_cancel(c, &d), 0);
  ASSERT_EQ(gort_context_wait(d, gt_long_deadline()), GORT_ETIMEDOUT);
  ASSERT_EQ(gort_context_err(c), GORT_ETIMEDOUT);
  gort_context_release(c);
  gort_context_release(d);
}
END_TEST

START_TEST(test_bad_args)
{
  gort_context *c = NULL, *bg = gort_context_background();
  ASSERT_EQ(gort_context_with_cancel(NULL, &c), GORT_EINVAL);
  ASSERT_EQ(gort_context_with_cancel(bg, NULL), GORT_EINVAL);
  ASSERT_EQ(gort_context_with_deadline(NULL, 0, &c), GORT_EINVAL);
  ASSERT_EQ(gort_context_with_deadline(bg, GORT_NEVER, NULL), GORT_EINVAL);
  ASSERT_EQ(gort_context_with_deadline(bg, -5, &c), GORT_EINVAL);
  ASSERT_NULL(c);
  ASSERT_EQ(gort_context_cancel(NULL), GORT_EINVAL);
  ASSERT_NULL(gort_context_done(NULL));
  ASSERT_EQ(gort_context_err(NULL), GORT_EINVAL);
  ASSERT_EQ(gort_context_deadline(NULL), GORT_EINVAL);
  ASSERT_EQ(gort_context_wait(NULL, 0), GORT_EINVAL);
  gort_context_retain(NULL);
  gort_context_release(NULL);
}
END_TEST

static Suite *context_suite(void)
{
  Suite *s = suite_create("context");
  TCase *tc = gt_tcase(s, "basic", 120);
  tcase_add_test(tc, test_background);
  tcase_add_test(tc, test_cancel);
  tcase_add_test(tc, test_deadline);
  tcase_add_test(tc, test_propagate);
  tcase_add_test(tc, test_born_done);
  tcase_add_test(tc, test_effective_deadline);
  tcase_add_test(tc, test_select);
  tcase_add_test(tc, test_refs);
  tcase_add_test(tc, test_wait);
  tcase_add_test(tc, test_plain_thread);
  tcase_add_test(tc, test_bad_args);

  tc = gt_tcase(s, "stress", 300);
  tcase_add_test(tc, test_cancel_deadline_race);
  tcase_add_test(tc, test_err_means_done);
  tcase_add_test(tc, test_release_vs_deadline);
  tcase_add_test(tc, test_release_vs_cancel);
  tcase_add_test(tc, test_churn);
  tcase_add_loop_test(tc, test_deep_chain, 0, 2);
  return s;
}

GT_MAIN(context_suite)
