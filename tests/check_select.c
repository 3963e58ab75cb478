/*
 * check_select.c - gort_select (Go's select statement).
 *
 *  - contract: argument checks; NULL channels never proceed (alone they
 *    give GORT_EAGAIN, GORT_ETIMEDOUT, or block until cancelled); ready
 *    cases proceed at once with their result (GORT_EPIPE for a closed
 *    channel, the element zeroed); every combination of three cases drawn
 *    from eight kinds, in the spirit of Go's test/chan/select5.go; a
 *    blocked select woken by each kind of partner, the cases that did not
 *    proceed left untouched and unqueued; more cases than fit on the stack;
 *    plain threads; deadlines and cancellation;
 *  - fairness: among ready cases the choice is uniform (within 5% of the
 *    expected count at scale 1, never a flake: the bound is also at least
 *    7 sigma), NULL and blocked cases are never chosen;
 *  - programs: Go's doubleselect.go (values fanned out by selects and in
 *    by selects over overlapping channels, each delivered exactly once),
 *    select6.go (a select's dequeued case does not corrupt the queue),
 *    selects talking to selects;
 *  - races with several Ps: select wake-ups against deadlines and
 *    cancellation, selects against closes; values counted on both sides.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <stdbool.h>

static const int procs[] = {1, 2, 4};
#define NPROCS ((int)(sizeof procs / sizeof procs[0]))

/* ---- helpers ------------------------------------------------------------- */

static gort_chan *mkchan(size_t esz, size_t cap)
{
  gort_chan *c = NULL;
  ASSERT_EQ(gort_chan_new(&c, esz, cap), 0);
  ASSERT_NOT_NULL(c);
  return c;
}

static void spin(uint64_t n)
{
  for (volatile uint64_t i = 0; i < n; i++) {
  }
}

static uint64_t logrand(uint64_t *seed, int maxbits)
{
  uint64_t x = gt_rand(seed);
  int bits = (int)(x % (uint64_t)(maxbits + 1));
  return bits ? (x >> 8) & ((1ull << bits) - 1) : 0;
}

static uint64_t mix64(uint64_t x)
{
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

static int is_filled(const void *p, int byte, size_t n)
{
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != (unsigned char)byte)
      return 0;
  return 1;
}

/* ---- arguments ----------------------------------------------------------- */

START_TEST(test_invalid)
{
  gort_chan *c = mkchan(sizeof(int), 1);
  int v = 0;
  ASSERT_EQ(gort_select(NULL, 1, 0), GORT_EINVAL);
  ASSERT_EQ(gort_select(NULL, 1, GORT_NEVER), GORT_EINVAL);
  gort_case bad_op[1] = {{c, 0, &v, 0}};
  ASSERT_EQ(gort_select(bad_op, 1, 0), GORT_EINVAL);
  bad_op[0].op = 3;
  ASSERT_EQ(gort_select(bad_op, 1, GORT_NEVER), GORT_EINVAL);
  gort_case no_elem[2] = {{c, GORT_RECV, &v, 0}, {c, GORT_SEND, NULL, 0}};
  ASSERT_EQ(gort_select(no_elem, 2, GORT_NEVER), GORT_EINVAL);
  ASSERT_U64_EQ(gort_chan_len(c), 0); /* nothing happened */
  gort_case *many = calloc(65536, sizeof *many);
  ASSERT_NOT_NULL(many);
  for (int i = 0; i < 65536; i++)
    many[i].op = GORT_RECV;
  ASSERT_EQ(gort_select(many, 65536, 0), GORT_EINVAL);
  free(many);
  /* bindings' view of the frozen struct */
  ASSERT_U64_EQ(gort_sizeof_case(), sizeof(gort_case));
  ASSERT_EQ(gort_case_op_recv(), GORT_RECV);
  ASSERT_EQ(gort_case_op_send(), GORT_SEND);
  gort_chan_release(c);
}
END_TEST

/* ---- NULL channels ------------------------------------------------------- */

static void nil_body(void *arg)
{
  (void)arg;
  int v = 1;
  gort_case cs[4] = {{NULL, GORT_RECV, &v, 12345},
                     {NULL, GORT_SEND, &v, 12345},
                     {NULL, GORT_RECV, NULL, 12345},
                     {NULL, GORT_SEND, NULL, 12345}};
  for (size_t n = 0; n <= 4; n += 2) {
    gort_case *p = n ? cs : NULL;
    ASSERT_EQ(gort_select(p, n, 0), GORT_EAGAIN);
    ASSERT_EQ(gort_select(p, n, GT_PAST), GORT_ETIMEDOUT);
    int64_t t0 = gort_now();
    ASSERT_EQ(gort_select(p, n, t0 + GT_MS(10)), GORT_ETIMEDOUT);
    ASSERT_GE(gort_now() - t0, GT_MS(10));
  }
  ASSERT_EQ(gort_select(cs, 4, gort_now() + GT_MS(2)), GORT_ETIMEDOUT);
  for (int i = 0; i < 4; i++)
    ASSERT_EQ(cs[i].result, 12345);
  ASSERT_EQ(v, 1);

  /* beside a ready case, NULL ones never proceed, wherever they are */
  gort_chan *c = mkchan(sizeof(int), 1);
  for (int k = 0; k < 2000; k++) {
    gort_case m[5] = {{NULL, GORT_RECV, &v, 7},
                      {NULL, GORT_SEND, &v, 7},
                      {NULL, GORT_RECV, &v, 7},
                      {NULL, GORT_SEND, &v, 7},
                      {NULL, GORT_RECV, &v, 7}};
    int pos = k % 5;
    int x = k;
    m[pos].chan = c;
    m[pos].op = k % 2 ? GORT_RECV : GORT_SEND;
    m[pos].elem = &x;
    if (m[pos].op == GORT_RECV)
      ASSERT_EQ(gort_chan_send(c, &k, 0), 0);
    x = -1;
    ASSERT_EQ(gort_select(m, 5, k % 3 ? 0 : GORT_NEVER), pos);
    ASSERT_EQ(m[pos].result, 0);
    if (m[pos].op == GORT_RECV) {
      ASSERT_EQ(x, k);
    } else {
      ASSERT_EQ(gort_chan_recv(c, &x, 0), 0);
      ASSERT_EQ(x, -1);
    }
    for (int i = 0; i < 5; i++)
      if (i != pos)
        ASSERT_EQ(m[i].result, 7);
  }
  gort_chan_release(c);
}

START_TEST(test_nil_channels)
{
  gt_run_body(_i, 2, nil_body, NULL);
}
END_TEST

/* A select on nothing but NULL channels, forever (Go's `select {}`): only
 * cancellation ends it. */
typedef struct {
  _Atomic int64_t started;
  int rc, rc2;
} forever_t;

static void forever_fn(void *arg)
{
  forever_t *f = arg;
  gort_case cs[2] = {{NULL, GORT_RECV, NULL, 0}, {NULL, GORT_SEND, NULL, 0}};
  atomic_store(&f->started, 1);
  f->rc = gort_select(cs, 2, GORT_NEVER);
  f->rc2 = gort_select(NULL, 0, GORT_NEVER);
}

static void forever_body(void *arg)
{
  forever_t *f = arg;
  gort_g *g = gt_spawn(forever_fn, f);
  ASSERT_TRUE(gt_await_ge(&f->started, 1));
  gort_sleep(GT_MS(5)); /* it stays blocked */
  ASSERT_EQ(gort_join(g, 0), GORT_EAGAIN);
  ASSERT_EQ(gort_cancel(g), 0);
  gt_join(g);
  ASSERT_EQ(f->rc, GORT_ECANCELED);
  ASSERT_EQ(f->rc2, GORT_ECANCELED);
}

START_TEST(test_nil_forever)
{
  static forever_t f;
  memset(&f, 0, sizeof f);
  gt_run_body(0, procs[_i], forever_body, &f);
}
END_TEST

/* ---- cases that are ready --------------------------------------------------
 */

static void ready_body(void *arg)
{
  (void)arg;
  gort_chan *a = mkchan(sizeof(int64_t), 2);
  gort_chan *u = mkchan(sizeof(int64_t), 0); /* never ready here */
  int64_t x = 11, y = 0, z = 0;
  const int64_t dls[] = {0, GT_PAST, GORT_NEVER};
  for (int d = 0; d < 3; d++) {
    /* a send with room */
    gort_case cs[3] = {
        {u, GORT_RECV, &y, 1}, {a, GORT_SEND, &x, 1}, {u, GORT_SEND, &x, 1}};
    memset(&y, 0xAA, sizeof y);
    ASSERT_EQ(gort_select(cs, 3, dls[d]), 1);
    ASSERT_EQ(cs[1].result, 0);
    ASSERT_EQ(cs[0].result, 1);
    ASSERT_EQ(cs[2].result, 1);
    ASSERT_TRUE(is_filled(&y, 0xAA, sizeof y));
    ASSERT_U64_EQ(gort_chan_len(a), 1);
    /* a receive with a value */
    gort_case cr[3] = {
        {u, GORT_RECV, &y, 1}, {u, GORT_SEND, &x, 1}, {a, GORT_RECV, &z, 1}};
    z = 0;
    ASSERT_EQ(gort_select(cr, 3, dls[d]), 2);
    ASSERT_EQ(cr[2].result, 0);
    ASSERT_EQ(z, 11);
    ASSERT_TRUE(is_filled(&y, 0xAA, sizeof y));
    ASSERT_U64_EQ(gort_chan_len(a), 0);
  }

  /* receiving into NULL discards */
  ASSERT_EQ(gort_chan_send(a, &x, 0), 0);
  gort_case dis[1] = {{a, GORT_RECV, NULL, 1}};
  ASSERT_EQ(gort_select(dis, 1, 0), 0);
  ASSERT_EQ(dis[0].result, 0);
  ASSERT_U64_EQ(gort_chan_len(a), 0);

  /* the same channel twice, and both ways: a value and room, either case
   * may proceed; over many tries both do */
  int seen[4] = {0, 0, 0, 0};
  for (int k = 0; k < 400; k++) {
    int64_t one = k, got1 = -1, got2 = -1;
    ASSERT_EQ(gort_chan_send(a, &one, 0), 0); /* one value, one free slot */
    gort_case tw[4] = {{a, GORT_RECV, &got1, 1},
                       {a, GORT_SEND, &x, 1},
                       {a, GORT_RECV, &got2, 1},
                       {a, GORT_SEND, &x, 1}};
    int r = gort_select(tw, 4, 0);
    ASSERT_GE(r, 0);
    ASSERT_LT(r, 4);
    ASSERT_EQ(tw[r].result, 0);
    seen[r]++;
    if (r == 0 || r == 2) {
      ASSERT_EQ(r == 0 ? got1 : got2, k);
      ASSERT_EQ(r == 0 ? got2 : got1, -1);
      ASSERT_U64_EQ(gort_chan_len(a), 0);
    } else {
      ASSERT_U64_EQ(gort_chan_len(a), 2);
      ASSERT_EQ(gort_chan_recv(a, &got1, 0), 0);
      ASSERT_EQ(got1, k);
      ASSERT_EQ(gort_chan_recv(a, &got1, 0), 0);
      ASSERT_EQ(got1, 11);
    }
  }
  for (int i = 0; i < 4; i++)
    ASSERT_GT(seen[i], 40);

  /* closed: a receive proceeds with GORT_EPIPE and a zeroed element, a
   * send with GORT_EPIPE, for every deadline */
  ASSERT_EQ(gort_chan_close(a), 0);
  for (int d = 0; d < 3; d++) {
    memset(&y, 0xAA, sizeof y);
    memset(&z, 0xAA, sizeof z);
    gort_case cl[2] = {{u, GORT_RECV, &z, 1}, {a, GORT_RECV, &y, 1}};
    ASSERT_EQ(gort_select(cl, 2, dls[d]), 1);
    ASSERT_EQ(cl[1].result, GORT_EPIPE);
    ASSERT_EQ(y, 0);
    ASSERT_TRUE(is_filled(&z, 0xAA, sizeof z));
    ASSERT_EQ(cl[0].result, 1);
    gort_case cs2[2] = {{a, GORT_SEND, &x, 1}, {u, GORT_SEND, &x, 1}};
    ASSERT_EQ(gort_select(cs2, 2, dls[d]), 0);
    ASSERT_EQ(cs2[0].result, GORT_EPIPE);
  }
  gort_chan_release(a);
  gort_chan_release(u);
}

START_TEST(test_ready)
{
  gt_run_body(_i, 2, ready_body, NULL);
}
END_TEST

/* ---- every combination of three cases (Go's select5.go) ------------------ */

enum {
  K_NIL_RECV,
  K_NIL_SEND,
  K_EMPTY_RECV,  /* open, nothing to receive */
  K_FULL_SEND,   /* open, no room */
  K_READY_RECV,  /* a buffered value */
  K_READY_SEND,  /* buffered room */
  K_CLOSED_RECV, /* closed and empty */
  K_CLOSED_SEND,
  K_NKINDS
};

static bool kind_ready(int k)
{
  return k >= K_READY_RECV;
}

static void combos_body(void *arg)
{
  (void)arg;
  int combos = 0;
  for (int a = 0; a < K_NKINDS; a++)
    for (int b = 0; b < K_NKINDS; b++)
      for (int c = 0; c < K_NKINDS; c++)
        for (int dl = 0; dl < 3; dl++) {
          int kinds[3] = {a, b, c};
          gort_chan *ch[3];
          int64_t val[3];
          gort_case cs[3];
          bool any = false;
          for (int i = 0; i < 3; i++) {
            int k = kinds[i];
            any |= kind_ready(k);
            ch[i] = NULL;
            if (k != K_NIL_RECV && k != K_NIL_SEND)
              ch[i] = mkchan(sizeof(int64_t), 1);
            int64_t pre = 500 + i;
            if (k == K_FULL_SEND || k == K_READY_RECV)
              ASSERT_EQ(gort_chan_send(ch[i], &pre, 0), 0);
            if (k == K_CLOSED_RECV || k == K_CLOSED_SEND)
              ASSERT_EQ(gort_chan_close(ch[i]), 0);
            bool send = k == K_NIL_SEND || k == K_FULL_SEND ||
                        k == K_READY_SEND || k == K_CLOSED_SEND;
            val[i] = send ? 100 + i : -1;
            cs[i] =
                (gort_case){ch[i], send ? GORT_SEND : GORT_RECV, &val[i], 77};
          }
          /* dl: 0, past, or a short wait */
          int64_t deadline = dl == 0   ? 0
                             : dl == 1 ? GT_PAST
                                       : gort_now() + GT_US(200);
          int r = gort_select(cs, 3, deadline);
          if (!any) {
            ASSERT_EQ(r, dl == 0 ? GORT_EAGAIN : GORT_ETIMEDOUT);
          } else {
            ASSERT_GE(r, 0);
            ASSERT_LT(r, 3);
            ASSERT_TRUE(kind_ready(kinds[r]));
          }
          for (int i = 0; i < 3; i++) {
            int k = kinds[i];
            if (i != r) { /* untouched, and the channel unchanged */
              ASSERT_EQ(cs[i].result, 77);
              ASSERT_EQ(val[i], cs[i].op == GORT_SEND ? 100 + i : -1);
              if (ch[i])
                ASSERT_U64_EQ(gort_chan_len(ch[i]),
                              k == K_FULL_SEND || k == K_READY_RECV);
              continue;
            }
            switch (k) {
            case K_READY_RECV:
              ASSERT_EQ(cs[i].result, 0);
              ASSERT_EQ(val[i], 500 + i);
              ASSERT_U64_EQ(gort_chan_len(ch[i]), 0);
              break;
            case K_READY_SEND: {
              int64_t got = 0;
              ASSERT_EQ(cs[i].result, 0);
              ASSERT_EQ(gort_chan_recv(ch[i], &got, 0), 0);
              ASSERT_EQ(got, 100 + i);
              break;
            }
            case K_CLOSED_RECV:
              ASSERT_EQ(cs[i].result, GORT_EPIPE);
              ASSERT_EQ(val[i], 0);
              break;
            case K_CLOSED_SEND:
              ASSERT_EQ(cs[i].result, GORT_EPIPE);
              break;
            }
          }
          /* a blocking case left nothing queued behind */
          for (int i = 0; i < 3; i++) {
            if (!ch[i])
              continue;
            if (kinds[i] == K_EMPTY_RECV) {
              int64_t one = 1, got = 0;
              ASSERT_EQ(gort_chan_send(ch[i], &one, 0), 0); /* buffered */
              ASSERT_EQ(gort_chan_recv(ch[i], &got, 0), 0);
              ASSERT_EQ(got, 1);
            }
            gort_chan_release(ch[i]);
          }
          combos++;
        }
  ASSERT_EQ(combos, K_NKINDS * K_NKINDS * K_NKINDS * 3);
}

START_TEST(test_combinations)
{
  gt_run_body(_i, 2, combos_body, NULL);
}
END_TEST

/* ---- a blocked select and what wakes it ---------------------------------- */

enum { W_SEND_A, W_SEND_B, W_RECV_C, W_CLOSE_B, W_CLOSE_C, W_NWAYS };
typedef struct {
  gort_chan *a, *b, *c;
  int way;
  _Atomic int64_t started;
  int rc, res[4];
  int64_t ea, eb, ec;
} wake_t;

static void wake_selector(void *arg)
{
  wake_t *w = arg;
  gort_case cs[4] = {{w->a, GORT_RECV, &w->ea, 1},
                     {w->b, GORT_RECV, &w->eb, 1},
                     {w->c, GORT_SEND, &w->ec, 1},
                     {NULL, GORT_RECV, NULL, 1}};
  atomic_store(&w->started, 1);
  w->rc = gort_select(cs, 4, gt_long_deadline());
  for (int i = 0; i < 4; i++)
    w->res[i] = cs[i].result;
}

static void wake_body(void *arg)
{
  wake_t *w = arg;
  w->a = mkchan(sizeof(int64_t), 0);
  w->b = mkchan(sizeof(int64_t), 0);
  w->c = mkchan(sizeof(int64_t), 0);
  memset(&w->ea, 0xAA, sizeof w->ea);
  memset(&w->eb, 0xAA, sizeof w->eb);
  w->ec = 333;
  gort_g *g = gt_spawn(wake_selector, w);
  ASSERT_TRUE(gt_await_ge(&w->started, 1));
  int64_t v = 0;
  const int64_t junk = (int64_t)0xAAAAAAAAAAAAAAAAull;
  switch (w->way) {
  case W_SEND_A:
    v = 111;
    ASSERT_EQ(gort_chan_send(w->a, &v, gt_long_deadline()), 0);
    break;
  case W_SEND_B:
    v = 222;
    ASSERT_EQ(gort_chan_send(w->b, &v, gt_long_deadline()), 0);
    break;
  case W_RECV_C:
    ASSERT_EQ(gort_chan_recv(w->c, &v, gt_long_deadline()), 0);
    ASSERT_EQ(v, 333);
    break;
  case W_CLOSE_B:
    ASSERT_EQ(gort_chan_close(w->b), 0);
    break;
  case W_CLOSE_C:
    ASSERT_EQ(gort_chan_close(w->c), 0);
    break;
  }
  gt_join(g);
  const int want[W_NWAYS] = {0, 1, 2, 1, 2};
  ASSERT_EQ(w->rc, want[w->way]);
  for (int i = 0; i < 4; i++)
    if (i != w->rc)
      ASSERT_EQ(w->res[i], 1);
  ASSERT_EQ(w->res[w->rc],
            w->way == W_CLOSE_B || w->way == W_CLOSE_C ? GORT_EPIPE : 0);
  ASSERT_EQ(w->ea, w->way == W_SEND_A ? 111 : junk);
  ASSERT_EQ(w->eb, w->way == W_SEND_B ? 222 : w->way == W_CLOSE_B ? 0 : junk);
  /* the cases that did not proceed left no waiter behind */
  ASSERT_EQ(gort_chan_send(w->a, &v, 0), GORT_EAGAIN);
  if (w->way != W_CLOSE_B)
    ASSERT_EQ(gort_chan_send(w->b, &v, 0), GORT_EAGAIN);
  if (w->way != W_CLOSE_C)
    ASSERT_EQ(gort_chan_recv(w->c, &v, 0), GORT_EAGAIN);
  gort_chan_release(w->a);
  gort_chan_release(w->b);
  gort_chan_release(w->c);
}

START_TEST(test_wake)
{
  /* _i: ways x {1 P, 2 Ps} */
  static wake_t w;
  memset(&w, 0, sizeof w);
  w.way = _i % W_NWAYS;
  gt_run_body(0, _i < W_NWAYS ? 1 : 2, wake_body, &w);
}
END_TEST

/* More cases than fit the select's stack arrays: 150 cases over 50
 * channels (each received from twice and sent to once), woken by one
 * partner; and a plain thread doing the same. */
typedef struct {
  gort_chan *ch[50];
  int64_t in[150], out[150];
  int rc, res;
  _Atomic int64_t started;
} many_t;

static void many_selector(void *arg)
{
  many_t *m = arg;
  gort_case *cs = calloc(150, sizeof *cs);
  ASSERT_NOT_NULL(cs);
  for (int i = 0; i < 150; i++) {
    m->in[i] = -1;
    m->out[i] = 1000 + i;
    cs[i].chan = m->ch[i % 50];
    cs[i].op = i < 100 ? GORT_RECV : GORT_SEND;
    cs[i].elem = i < 100 ? &m->in[i] : &m->out[i];
    cs[i].result = 1;
  }
  atomic_store(&m->started, 1);
  m->rc = gort_select(cs, 150, gt_long_deadline());
  m->res = m->rc >= 0 ? cs[m->rc].result : 1;
  free(cs);
}

static void *many_selector_thread(void *arg)
{
  many_selector(arg);
  return NULL;
}

static void many_body(void *arg)
{
  int on_thread = *(int *)arg; /* the select runs on a plain thread */
  many_t *m = calloc(1, sizeof *m);
  ASSERT_NOT_NULL(m);
  for (int i = 0; i < 50; i++)
    m->ch[i] = mkchan(sizeof(int64_t), 0);
  for (int round = 0; round < 20; round++) {
    atomic_store(&m->started, 0);
    gort_g *g = NULL;
    pthread_t t;
    if (on_thread)
      t = gt_thread(many_selector_thread, m);
    else
      g = gt_spawn(many_selector, m);
    ASSERT_TRUE(gt_await_ge(&m->started, 1));
    int k = (round * 7) % 50;
    int64_t v = 5000 + round;
    if (round % 2 == 0) {
      ASSERT_EQ(gort_chan_send(m->ch[k], &v, gt_long_deadline()), 0);
      if (on_thread)
        gt_thread_join(t);
      else
        gt_join(g);
      ASSERT_TRUE(m->rc == k || m->rc == k + 50);
      ASSERT_EQ(m->res, 0);
      ASSERT_EQ(m->in[m->rc], v);
      for (int i = 0; i < 100; i++)
        if (i != m->rc)
          ASSERT_EQ(m->in[i], -1);
    } else {
      ASSERT_EQ(gort_chan_recv(m->ch[k], &v, gt_long_deadline()), 0);
      if (on_thread)
        gt_thread_join(t);
      else
        gt_join(g);
      ASSERT_EQ(m->rc, 100 + k);
      ASSERT_EQ(m->res, 0);
      ASSERT_EQ(v, 1000 + 100 + k);
    }
    for (int i = 0; i < 50; i++) { /* nothing left queued */
      ASSERT_EQ(gort_chan_send(m->ch[i], &v, 0), GORT_EAGAIN);
      ASSERT_EQ(gort_chan_recv(m->ch[i], &v, 0), GORT_EAGAIN);
    }
  }
  for (int i = 0; i < 50; i++)
    gort_chan_release(m->ch[i]);
  free(m);
}

START_TEST(test_many_cases)
{
  /* _i: the select in {a goroutine, a plain thread} x {1 P, 2 Ps} */
  int on_thread = _i % 2;
  gt_run_body(0, _i < 2 ? 1 : 2, many_body, &on_thread);
}
END_TEST

/* ---- fairness ------------------------------------------------------------ */

/* Each count within max(5% of the expected, 7 sigma) of it, and a
 * chi-square far below anything a uniform choice produces by chance
 * (mean k-1, sd sqrt(2(k-1)); 3(k-1)+30 is > 9 sd above the mean). */
static void check_uniform(const int64_t *cnt, int k, int64_t total)
{
  double p = 1.0 / k, expct = (double)total * p;
  double var = (double)total * p * (1 - p);
  double tol2 = 0.0025 * expct * expct;
  if (49 * var > tol2)
    tol2 = 49 * var;
  double chi2 = 0;
  int64_t sum = 0;
  for (int i = 0; i < k; i++) {
    double d = (double)cnt[i] - expct;
    if (d * d > tol2) {
      for (int j = 0; j < k; j++)
        fprintf(stderr, "case %d: %" PRId64 " (expected %.0f)\n", j, cnt[j],
                expct);
    }
    ASSERT_LE((int64_t)(d * d), (int64_t)tol2);
    chi2 += d * d / expct;
    sum += cnt[i];
  }
  ASSERT_EQ(sum, total);
  ASSERT_LE((int64_t)chi2, 3 * (k - 1) + 30);
}

enum { F_CLOSED, F_VALUES, F_ROOM, F_NVARIANTS };
typedef struct {
  int k, variant;
} fair_cfg;

/* k ready cases: closed channels (always ready), channels each holding one
 * value (refilled after each choice), or channels each with room (drained
 * after each choice). */
static void fair_body(void *arg)
{
  fair_cfg *f = arg;
  int k = f->k;
  int64_t total = k <= 4 ? k * SCALED(40000) : SCALED(160000);
  gort_chan *ch[16];
  gort_case cs[16];
  int64_t cnt[16], vals[16];
  memset(cnt, 0, sizeof cnt);
  for (int i = 0; i < k; i++) {
    ch[i] = mkchan(sizeof(int64_t), 1);
    vals[i] = i;
    if (f->variant == F_CLOSED)
      ASSERT_EQ(gort_chan_close(ch[i]), 0);
    if (f->variant == F_VALUES)
      ASSERT_EQ(gort_chan_send(ch[i], &vals[i], 0), 0);
    cs[i] = (gort_case){ch[i], f->variant == F_ROOM ? GORT_SEND : GORT_RECV,
                        &vals[i], 1};
  }
  for (int64_t n = 0; n < total; n++) {
    int r = gort_select(cs, (size_t)k, n % 2 ? 0 : GORT_NEVER);
    ASSERT_GE(r, 0);
    ASSERT_LT(r, k);
    cnt[r]++;
    switch (f->variant) {
    case F_CLOSED:
      ASSERT_EQ(cs[r].result, GORT_EPIPE);
      break;
    case F_VALUES:
      ASSERT_EQ(cs[r].result, 0);
      ASSERT_EQ(vals[r], r);
      ASSERT_EQ(gort_chan_send(ch[r], &vals[r], 0), 0);
      break;
    case F_ROOM:
      ASSERT_EQ(cs[r].result, 0);
      ASSERT_EQ(gort_chan_recv(ch[r], NULL, 0), 0);
      break;
    }
  }
  check_uniform(cnt, k, total);
  for (int i = 0; i < k; i++)
    gort_chan_release(ch[i]);
}

START_TEST(test_fairness)
{
  /* _i: k {2, 3, 4, 8, 16} x variants */
  static const int ks[] = {2, 3, 4, 8, 16};
  fair_cfg f = {ks[_i / F_NVARIANTS], _i % F_NVARIANTS};
  gt_run_body(0, 1, fair_body, &f);
}
END_TEST

/* Ready cases among NULL and blocked ones: those are never chosen, the
 * ready ones uniformly; also from a plain thread. */
static void fair_mixed_body(void *arg)
{
  (void)arg;
  int64_t total = 4 * SCALED(40000);
  gort_chan *ready[4], *empty = mkchan(sizeof(int64_t), 0);
  gort_chan *full = mkchan(sizeof(int64_t), 1);
  int64_t v = 9, cnt4[4] = {0, 0, 0, 0}, cnt[9];
  ASSERT_EQ(gort_chan_send(full, &v, 0), 0);
  for (int i = 0; i < 4; i++) {
    ready[i] = mkchan(sizeof(int64_t), 1);
    ASSERT_EQ(gort_chan_send(ready[i], &v, 0), 0);
  }
  gort_case cs[9] = {
      {NULL, GORT_RECV, &v, 1},     {ready[0], GORT_RECV, &v, 1},
      {empty, GORT_RECV, &v, 1},    {ready[1], GORT_RECV, &v, 1},
      {full, GORT_SEND, &v, 1},     {NULL, GORT_SEND, &v, 1},
      {ready[2], GORT_RECV, &v, 1}, {empty, GORT_SEND, &v, 1},
      {ready[3], GORT_RECV, &v, 1},
  };
  static const int slot[9] = {-1, 0, -1, 1, -1, -1, 2, -1, 3};
  memset(cnt, 0, sizeof cnt);
  for (int64_t n = 0; n < total; n++) {
    int r = gort_select(cs, 9, 0);
    ASSERT_GE(r, 0);
    ASSERT_LT(r, 9);
    cnt[r]++;
    ASSERT_GE(slot[r], 0);
    cnt4[slot[r]]++;
    v = 9;
    ASSERT_EQ(gort_chan_send(cs[r].chan, &v, 0), 0);
  }
  check_uniform(cnt4, 4, total);
  for (int i = 0; i < 4; i++)
    gort_chan_release(ready[i]);
  gort_chan_release(empty);
  gort_chan_release(full);
}

START_TEST(test_fairness_mixed)
{
  gt_run_body(_i, 2, fair_mixed_body, NULL);
}
END_TEST

/* ---- deadlines and cancellation ----------------------------------------- */

static void sel_deadlines_body(void *arg)
{
  (void)arg;
  gort_chan *a = mkchan(sizeof(int64_t), 0), *b = mkchan(sizeof(int64_t), 0);
  gort_chan *f = mkchan(sizeof(int64_t), 1);
  int64_t v = 3, x = -1;
  ASSERT_EQ(gort_chan_send(f, &v, 0), 0);
  for (int k = 0; k < 3; k++) {
    gort_case cs[3] = {
        {a, GORT_RECV, &x, 1}, {b, GORT_SEND, &v, 1}, {f, GORT_SEND, &v, 1}};
    ASSERT_EQ(gort_select(cs, 3, 0), GORT_EAGAIN);
    ASSERT_EQ(gort_select(cs, 3, GT_PAST), GORT_ETIMEDOUT);
    int64_t t0 = gort_now(), os0 = gt_os_now();
    ASSERT_EQ(gort_select(cs, 3, t0 + GT_MS(20)), GORT_ETIMEDOUT);
    ASSERT_GE(gort_now() - t0, GT_MS(20));
    ASSERT_GE(gt_os_now() - os0, GT_MS(19));
    for (int i = 0; i < 3; i++)
      ASSERT_EQ(cs[i].result, 1);
    ASSERT_EQ(x, -1);
    /* nothing left queued: no stale receiver on a, no stale sender on b
     * or f */
    ASSERT_EQ(gort_chan_send(a, &v, 0), GORT_EAGAIN);
    ASSERT_EQ(gort_chan_recv(b, &x, 0), GORT_EAGAIN);
    ASSERT_U64_EQ(gort_chan_len(f), 1);
  }
  ASSERT_EQ(gort_chan_recv(f, &x, 0), 0);
  ASSERT_EQ(gort_chan_recv(f, &x, 0), GORT_EAGAIN);
  gort_chan_release(a);
  gort_chan_release(b);
  gort_chan_release(f);
}

START_TEST(test_select_deadlines)
{
  gt_run_body(_i, 2, sel_deadlines_body, NULL);
}
END_TEST

typedef struct {
  gort_chan *a, *b, *ready;
  size_t n;
  _Atomic int64_t started;
  int rc, rc2, rc3;
  int64_t got;
} scancel_t;

static void scancel_fn(void *arg)
{
  scancel_t *s = arg;
  gort_case *cs = calloc(s->n, sizeof *cs);
  ASSERT_NOT_NULL(cs);
  int64_t v = 1;
  for (size_t i = 0; i < s->n; i++)
    cs[i] = (gort_case){i % 2 ? s->a : s->b, i % 3 ? GORT_RECV : GORT_SEND,
                        i % 3 ? (void *)&s->got : (void *)&v, 1};
  atomic_store(&s->started, 1);
  s->rc = gort_select(cs, s->n, GORT_NEVER);
  /* sticky, even with a ready case and deadline 0 */
  gort_case r[1] = {{s->ready, GORT_RECV, &s->got, 1}};
  s->rc2 = gort_select(r, 1, 0);
  s->rc3 = gort_select(r, 1, GORT_NEVER);
  free(cs);
}

static void scancel_body(void *arg)
{
  scancel_t *s = arg;
  s->a = mkchan(sizeof(int64_t), 0);
  s->b = mkchan(sizeof(int64_t), 0);
  s->ready = mkchan(sizeof(int64_t), 1);
  int64_t v = 8;
  ASSERT_EQ(gort_chan_send(s->ready, &v, 0), 0);
  s->got = -1;
  gort_g *g = gt_spawn(scancel_fn, s);
  ASSERT_TRUE(gt_await_ge(&s->started, 1));
  ASSERT_EQ(gort_cancel(g), 0);
  gt_join(g);
  ASSERT_EQ(s->rc, GORT_ECANCELED);
  ASSERT_EQ(s->rc2, GORT_ECANCELED);
  ASSERT_EQ(s->rc3, GORT_ECANCELED);
  ASSERT_EQ(s->got, -1);
  ASSERT_U64_EQ(gort_chan_len(s->ready), 1);
  ASSERT_EQ(gort_chan_send(s->a, &v, 0), GORT_EAGAIN);
  ASSERT_EQ(gort_chan_send(s->b, &v, 0), GORT_EAGAIN);
  ASSERT_EQ(gort_chan_recv(s->a, &v, 0), GORT_EAGAIN);
  ASSERT_EQ(gort_chan_recv(s->b, &v, 0), GORT_EAGAIN);
  gort_chan_release(s->a);
  gort_chan_release(s->b);
  gort_chan_release(s->ready);
}

START_TEST(test_select_cancel)
{
  /* _i: {3 cases, 40 cases} x {1 P, 2 Ps} */
  static scancel_t s;
  memset(&s, 0, sizeof s);
  s.n = _i % 2 ? 40 : 3;
  gt_run_body(0, _i < 2 ? 1 : 2, scancel_body, &s);
}
END_TEST

/* ---- plain threads ------------------------------------------------------- */

typedef struct {
  gort_chan *c;
  int64_t base, n;
  int rc;
} feeder_t;

static void feeder(void *arg)
{
  feeder_t *f = arg;
  for (int64_t k = 0; k < f->n; k++) {
    int64_t v = f->base + k;
    if ((f->rc = gort_chan_send(f->c, &v, gt_long_deadline())) != 0)
      return;
  }
}

static void eater(void *arg)
{
  feeder_t *f = arg;
  for (int64_t k = 0; k < f->n; k++) {
    int64_t v;
    if ((f->rc = gort_chan_recv(f->c, &v, gt_long_deadline())) != 0)
      return;
    if (v != f->base + k) {
      f->rc = 1000;
      return;
    }
  }
}

/* The test's own thread selects, blocking, against goroutines: receives
 * from two feeders and sends to two eaters in one select. */
START_TEST(test_thread_select)
{
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  gt_spawn_sched = s;
  int64_t n = SCALED(10000);
  size_t cap = _i ? 2 : 0;
  feeder_t f[4];
  gort_g *g[4];
  for (int i = 0; i < 4; i++) {
    f[i] = (feeder_t){mkchan(sizeof(int64_t), cap), (int64_t)i << 32, n, 1};
    g[i] = gt_spawn(i < 2 ? feeder : eater, &f[i]);
  }
  int64_t next[4] = {0, 0, 0, 0}, in = 0, out[4] = {0, 0, f[2].base, f[3].base};
  int64_t done = 0;
  while (done < 4 * n) {
    gort_case cs[4];
    for (int i = 0; i < 4; i++) {
      bool finished = next[i] == n;
      cs[i] =
          (gort_case){finished ? NULL : f[i].c, i < 2 ? GORT_RECV : GORT_SEND,
                      i < 2 ? &in : &out[i], 1};
    }
    int r = gort_select(cs, 4, gt_long_deadline());
    ASSERT_GE(r, 0);
    ASSERT_EQ(cs[r].result, 0);
    if (r < 2)
      ASSERT_EQ(in, f[r].base + next[r]);
    else
      out[r]++;
    next[r]++;
    done++;
  }
  for (int i = 0; i < 4; i++) {
    gt_join(g[i]);
    ASSERT_EQ(f[i].rc, 0);
    gort_chan_release(f[i].c);
  }
  /* a thread's timed select on a channel nobody uses, and on nothing */
  gort_chan *c = mkchan(sizeof(int64_t), 0);
  gort_case cs[2] = {{c, GORT_RECV, &in, 1}, {NULL, GORT_SEND, &in, 1}};
  int64_t t0 = gort_now();
  ASSERT_EQ(gort_select(cs, 2, t0 + GT_MS(10)), GORT_ETIMEDOUT);
  ASSERT_GE(gort_now() - t0, GT_MS(10));
  ASSERT_EQ(gort_chan_send(c, &in, 0), GORT_EAGAIN);
  t0 = gort_now();
  ASSERT_EQ(gort_select(cs + 1, 1, t0 + GT_MS(10)), GORT_ETIMEDOUT);
  ASSERT_GE(gort_now() - t0, GT_MS(10));
  ASSERT_EQ(gort_select(NULL, 0, 0), GORT_EAGAIN);
  gort_chan_release(c);
  gt_spawn_sched = NULL;
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* ---- Go's test/chan/doubleselect.go ---------------------------------------
 */

/* Senders spread values over four channels with selects; relays take them
 * with selects over overlapping subsets of the four and pass them on to one
 * channel; two receivers mark each value. Every value arrives exactly
 * once. */
enum { DS_NSEND = 2, DS_NRELAY = 6, DS_NRECV = 2 };
typedef struct {
  gort_chan *c[4], *mux, *senders_done;
  int64_t n; /* per sender */
  _Atomic unsigned char *seen;
  _Atomic int64_t received, dups, errors, relays_left;
} ds_t;
typedef struct {
  ds_t *d;
  int id;
} ds_arg;

static const unsigned ds_subsets[DS_NRELAY] = {0x1, 0x2, 0xC, 0xF, 0x6, 0x9};

static void ds_sender(void *arg)
{
  ds_arg *a = arg;
  ds_t *d = a->d;
  for (int64_t k = 0; k < d->n; k++) {
    int64_t v = a->id * d->n + k;
    gort_case cs[4];
    for (int i = 0; i < 4; i++)
      cs[i] = (gort_case){d->c[i], GORT_SEND, &v, 1};
    int r = gort_select(cs, 4, gt_long_deadline());
    if (r < 0 || cs[r].result != 0) {
      atomic_fetch_add(&d->errors, 1);
      break;
    }
  }
  if (gort_chan_send(d->senders_done, NULL, gt_long_deadline()) != 0)
    atomic_fetch_add(&d->errors, 1);
}

/* Closes the four once every sender is done. */
static void ds_closer(void *arg)
{
  ds_t *d = arg;
  for (int i = 0; i < DS_NSEND; i++)
    if (gort_chan_recv(d->senders_done, NULL, gt_long_deadline()) != 0)
      atomic_fetch_add(&d->errors, 1);
  for (int i = 0; i < 4; i++)
    ASSERT_EQ(gort_chan_close(d->c[i]), 0);
}

static void ds_relay(void *arg)
{
  ds_arg *a = arg;
  ds_t *d = a->d;
  gort_case cs[4];
  int64_t v;
  int open = 0;
  for (int i = 0; i < 4; i++) {
    bool mine = ds_subsets[a->id] >> i & 1;
    cs[i] = (gort_case){mine ? d->c[i] : NULL, GORT_RECV, &v, 1};
    open += mine;
  }
  while (open > 0) {
    int r = gort_select(cs, 4, gt_long_deadline());
    if (r < 0) {
      atomic_fetch_add(&d->errors, 1);
      break;
    }
    if (cs[r].result == GORT_EPIPE) { /* closed: stop listening there */
      cs[r].chan = NULL;
      open--;
      continue;
    }
    /* forward; alternately through a select with a NULL case beside */
    int rc;
    if (v % 2) {
      rc = gort_chan_send(d->mux, &v, gt_long_deadline());
    } else {
      gort_case f[2] = {{NULL, GORT_SEND, &v, 1}, {d->mux, GORT_SEND, &v, 1}};
      int fr = gort_select(f, 2, gt_long_deadline());
      rc = fr == 1 ? f[1].result : fr < 0 ? fr : 1000;
    }
    if (rc != 0) {
      atomic_fetch_add(&d->errors, 1);
      break;
    }
  }
  if (atomic_fetch_sub(&d->relays_left, 1) == 1)
    ASSERT_EQ(gort_chan_close(d->mux), 0);
}

static void ds_receiver(void *arg)
{
  ds_t *d = arg;
  for (;;) {
    int64_t v = -1;
    int rc = gort_chan_recv(d->mux, &v, gt_long_deadline());
    if (rc == GORT_EPIPE)
      break;
    if (rc != 0 || v < 0 || v >= DS_NSEND * d->n) {
      atomic_fetch_add(&d->errors, 1);
      break;
    }
    if (atomic_exchange(&d->seen[v], 1))
      atomic_fetch_add(&d->dups, 1);
    atomic_fetch_add(&d->received, 1);
  }
}

static void doubleselect_body(void *arg)
{
  size_t cap = *(size_t *)arg;
  ds_t *d = calloc(1, sizeof *d);
  ASSERT_NOT_NULL(d);
  d->n = SCALED(20000);
  d->seen = calloc((size_t)(DS_NSEND * d->n), 1);
  ASSERT_NOT_NULL(d->seen);
  for (int i = 0; i < 4; i++)
    d->c[i] = mkchan(sizeof(int64_t), cap);
  d->mux = mkchan(sizeof(int64_t), cap);
  d->senders_done = mkchan(0, 0);
  atomic_store(&d->relays_left, DS_NRELAY);
  ds_arg sa[DS_NSEND], ra[DS_NRELAY];
  gort_g *g[DS_NSEND + DS_NRELAY + DS_NRECV + 1];
  int ng = 0;
  for (int i = 0; i < DS_NRELAY; i++) {
    ra[i] = (ds_arg){d, i};
    g[ng++] = gt_spawn(ds_relay, &ra[i]);
  }
  for (int i = 0; i < DS_NRECV; i++)
    g[ng++] = gt_spawn(ds_receiver, d);
  g[ng++] = gt_spawn(ds_closer, d);
  for (int i = 0; i < DS_NSEND; i++) {
    sa[i] = (ds_arg){d, i};
    g[ng++] = gt_spawn(ds_sender, &sa[i]);
  }
  for (int i = 0; i < ng; i++)
    gt_join(g[i]);
  ASSERT_EQ(atomic_load(&d->errors), 0);
  ASSERT_EQ(atomic_load(&d->dups), 0);
  ASSERT_EQ(atomic_load(&d->received), DS_NSEND * d->n);
  for (int64_t v = 0; v < DS_NSEND * d->n; v++)
    ASSERT_EQ(atomic_load(&d->seen[v]), 1);
  for (int i = 0; i < 4; i++)
    gort_chan_release(d->c[i]);
  gort_chan_release(d->mux);
  gort_chan_release(d->senders_done);
  free((void *)d->seen);
  free(d);
}

START_TEST(test_doubleselect)
{
  /* _i: procs {1,2,4} x cap {0, 4} */
  size_t cap = _i % 2 ? 4 : 0;
  gt_run_body(0, procs[_i / 2], doubleselect_body, &cap);
}
END_TEST

/* ---- Go's test/chan/select6.go --------------------------------------------
 */

/* Issue 2075: a select whose losing case had been dequeued must not
 * corrupt that channel's queue for the waiters queued behind it. */
typedef struct {
  gort_chan *c1, *c2, *c3;
  _Atomic int64_t stage;
  int rc_a, rc_b1, rc_b2, rc_c, idx_b;
} s6_t;

static void s6_a(void *arg)
{
  s6_t *s = arg;
  atomic_fetch_add(&s->stage, 1);
  s->rc_a = gort_chan_recv(s->c1, NULL, gt_long_deadline());
}

static void s6_b(void *arg)
{
  s6_t *s = arg;
  gort_case cs[2] = {{s->c1, GORT_RECV, NULL, 1}, {s->c2, GORT_RECV, NULL, 1}};
  atomic_fetch_add(&s->stage, 1);
  s->idx_b = gort_select(cs, 2, gt_long_deadline());
  if (s->idx_b == 1)
    s->rc_b1 = gort_chan_send(s->c3, NULL, gt_long_deadline());
  s->rc_b2 = gort_chan_recv(s->c1, NULL, gt_long_deadline());
}

static void s6_c(void *arg)
{
  s6_t *s = arg;
  s->rc_c = gort_chan_send(s->c2, NULL, gt_long_deadline());
}

static void select6_body(void *arg)
{
  s6_t *s = arg;
  for (int round = 0; round < (int)SCALED(500); round++) {
    s->c1 = mkchan(0, 0);
    s->c2 = mkchan(0, 0);
    s->c3 = mkchan(0, 0);
    atomic_store(&s->stage, 0);
    s->rc_a = s->rc_b1 = s->rc_b2 = s->rc_c = s->idx_b = 99;
    gort_g *a = gt_spawn(s6_a, s);
    ASSERT_TRUE(gt_await_ge(&s->stage, 1));
    gort_g *b = gt_spawn(s6_b, s);
    ASSERT_TRUE(gt_await_ge(&s->stage, 2));
    gort_g *c = gt_spawn(s6_c, s);
    ASSERT_EQ(gort_chan_recv(s->c3, NULL, gt_long_deadline()), 0);
    ASSERT_EQ(gort_chan_send(s->c1, NULL, gt_long_deadline()), 0);
    ASSERT_EQ(gort_chan_send(s->c1, NULL, gt_long_deadline()), 0);
    gt_join(a);
    gt_join(b);
    gt_join(c);
    ASSERT_EQ(s->idx_b, 1);
    ASSERT_EQ(s->rc_a, 0);
    ASSERT_EQ(s->rc_b1, 0);
    ASSERT_EQ(s->rc_b2, 0);
    ASSERT_EQ(s->rc_c, 0);
    ASSERT_EQ(gort_chan_send(s->c1, NULL, 0), GORT_EAGAIN);
    gort_chan_release(s->c1);
    gort_chan_release(s->c2);
    gort_chan_release(s->c3);
  }
}

START_TEST(test_select6)
{
  static s6_t s;
  memset(&s, 0, sizeof s);
  gt_run_body(0, procs[_i], select6_body, &s);
}
END_TEST

/* ---- selects talking to selects ------------------------------------------ */

/* A goroutines select {send c1, receive c2}, B goroutines select
 * {receive c1, send c2, receive quit}: every exchange is select to select
 * (or select to buffer). What was sent equals what was received, on each
 * channel, counting what is left buffered at the end. */
enum { SS_NA = 3, SS_NB = 3 };
typedef struct {
  gort_chan *c1, *c2, *quit;
  int64_t k;
  _Atomic int64_t s1_n, s1_h, r1_n, r1_h, s2_n, s2_h, r2_n, r2_h, errors;
} ss_t;
typedef struct {
  ss_t *s;
  int id;
} ss_arg;

static void ss_count(_Atomic int64_t *n, _Atomic int64_t *h, int64_t v)
{
  atomic_fetch_add(n, 1);
  atomic_fetch_add(h, (int64_t)mix64((uint64_t)v));
}

static void ss_a(void *arg)
{
  ss_arg *a = arg;
  ss_t *s = a->s;
  for (int64_t k = 0; k < s->k; k++) {
    int64_t out = (int64_t)a->id << 40 | k, in = -1;
    gort_case cs[2] = {{s->c1, GORT_SEND, &out, 1}, {s->c2, GORT_RECV, &in, 1}};
    int r = gort_select(cs, 2, gt_long_deadline());
    if (r < 0 || cs[r].result != 0) {
      atomic_fetch_add(&s->errors, 1);
      return;
    }
    if (r == 0)
      ss_count(&s->s1_n, &s->s1_h, out);
    else
      ss_count(&s->r2_n, &s->r2_h, in);
  }
}

static void ss_b(void *arg)
{
  ss_arg *a = arg;
  ss_t *s = a->s;
  for (int64_t k = 0;; k++) {
    int64_t out = (int64_t)(a->id + 100) << 40 | k, in = -1;
    gort_case cs[3] = {{s->c1, GORT_RECV, &in, 1},
                       {s->c2, GORT_SEND, &out, 1},
                       {s->quit, GORT_RECV, NULL, 1}};
    int r = gort_select(cs, 3, gt_long_deadline());
    if (r == 2)
      return;
    if (r < 0 || cs[r].result != 0) {
      atomic_fetch_add(&s->errors, 1);
      return;
    }
    if (r == 0)
      ss_count(&s->r1_n, &s->r1_h, in);
    else
      ss_count(&s->s2_n, &s->s2_h, out);
  }
}

static void select_pairs_body(void *arg)
{
  size_t cap = *(size_t *)arg;
  ss_t *s = calloc(1, sizeof *s);
  ASSERT_NOT_NULL(s);
  s->c1 = mkchan(sizeof(int64_t), cap);
  s->c2 = mkchan(sizeof(int64_t), cap);
  s->quit = mkchan(0, 0);
  s->k = SCALED(20000);
  ss_arg aa[SS_NA], ba[SS_NB];
  gort_g *ga[SS_NA], *gb[SS_NB];
  for (int i = 0; i < SS_NB; i++) {
    ba[i] = (ss_arg){s, i};
    gb[i] = gt_spawn(ss_b, &ba[i]);
  }
  for (int i = 0; i < SS_NA; i++) {
    aa[i] = (ss_arg){s, i};
    ga[i] = gt_spawn(ss_a, &aa[i]);
  }
  for (int i = 0; i < SS_NA; i++)
    gt_join(ga[i]);
  ASSERT_EQ(gort_chan_close(s->quit), 0);
  for (int i = 0; i < SS_NB; i++)
    gt_join(gb[i]);
  ASSERT_EQ(atomic_load(&s->errors), 0);
  ASSERT_EQ(atomic_load(&s->s1_n) + atomic_load(&s->r2_n), SS_NA * s->k);
  /* what is still buffered was sent and not received */
  int64_t v;
  while (gort_chan_recv(s->c1, &v, 0) == 0)
    ss_count(&s->r1_n, &s->r1_h, v);
  while (gort_chan_recv(s->c2, &v, 0) == 0)
    ss_count(&s->r2_n, &s->r2_h, v);
  ASSERT_EQ(atomic_load(&s->s1_n), atomic_load(&s->r1_n));
  ASSERT_EQ(atomic_load(&s->s1_h), atomic_load(&s->r1_h));
  ASSERT_EQ(atomic_load(&s->s2_n), atomic_load(&s->r2_n));
  ASSERT_EQ(atomic_load(&s->s2_h), atomic_load(&s->r2_h));
  ASSERT_GT(atomic_load(&s->s1_n), 0);
  gort_chan_release(s->c1);
  gort_chan_release(s->c2);
  gort_chan_release(s->quit);
  free(s);
}

START_TEST(test_select_pairs)
{
  /* _i: procs {1,2,4} x cap {0, 2} */
  size_t cap = _i % 2 ? 2 : 0;
  gt_run_body(0, procs[_i / 2], select_pairs_body, &cap);
}
END_TEST

/* ---- races ----------------------------------------------------------------
 */

/* A select over two channels whose deadline (or cancellation) races two
 * partners arriving on both: at most one case proceeds, its partner is
 * served, the other partner's operation is still pending and is completed
 * by the test. Receiving and sending selects. */
typedef struct {
  gort_chan *c[2];
  int how, sending;
  int64_t deadline;
  int rc, res;
  int64_t in[2], out[2];
  _Atomic int64_t started;
} sr_t;

static void sr_selector(void *arg)
{
  sr_t *s = arg;
  int op = s->sending ? GORT_SEND : GORT_RECV;
  gort_case cs[3] = {{s->c[0], op, s->sending ? &s->out[0] : &s->in[0], 1},
                     {NULL, GORT_RECV, NULL, 1},
                     {s->c[1], op, s->sending ? &s->out[1] : &s->in[1], 1}};
  atomic_store(&s->started, 1);
  s->rc = gort_select(cs, 3, s->how ? s->deadline : GORT_NEVER);
  s->res = s->rc >= 0 ? cs[s->rc].result : 1;
}

typedef struct {
  gort_chan *c;
  int sending;
  int64_t v;
  int rc;
  uint64_t spin;
} srp_t;

static void sr_partner(void *arg)
{
  srp_t *p = arg;
  spin(p->spin);
  if (p->sending)
    p->rc = gort_chan_send(p->c, &p->v, gt_long_deadline());
  else
    p->rc = gort_chan_recv(p->c, &p->v, gt_long_deadline());
}

static void select_race_body(void *arg)
{
  int how = *(int *)arg;
  int rounds = (int)SCALED(2000);
  uint64_t seed = 4242 + (uint64_t)how;
  int outcomes[3] = {0, 0, 0};
  for (int round = 0; round < rounds; round++) {
    sr_t s;
    memset(&s, 0, sizeof s);
    s.how = how;
    s.sending = round % 2;
    s.c[0] = mkchan(sizeof(int64_t), 0);
    s.c[1] = mkchan(sizeof(int64_t), 0);
    s.in[0] = s.in[1] = -1;
    s.out[0] = 10 * round;
    s.out[1] = 10 * round + 1;
    srp_t p[2];
    for (int i = 0; i < 2; i++)
      p[i] = (srp_t){s.c[i], !s.sending, s.sending ? -1 : 10 * round + 5 + i, 1,
                     logrand(&seed, 13)};
    s.deadline = gort_now() + (int64_t)logrand(&seed, 16);
    gort_g *sg = gt_spawn(sr_selector, &s);
    if (round / 2 % 4 != 0)
      ASSERT_TRUE(gt_await_ge(&s.started, 1));
    gort_g *pg0, *pg1;
    if (round / 8 % 2) {
      pg1 = gt_spawn(sr_partner, &p[1]);
      pg0 = gt_spawn(sr_partner, &p[0]);
    } else {
      pg0 = gt_spawn(sr_partner, &p[0]);
      pg1 = gt_spawn(sr_partner, &p[1]);
    }
    if (how == 0) {
      spin(logrand(&seed, 18));
      ASSERT_EQ(gort_cancel(sg), 0);
    }
    gt_join(sg);
    int chosen = -1;
    if (s.rc >= 0) {
      ASSERT_TRUE(s.rc == 0 || s.rc == 2);
      ASSERT_EQ(s.res, 0);
      chosen = s.rc / 2;
      outcomes[chosen]++;
    } else {
      ASSERT_EQ(s.rc, how ? GORT_ETIMEDOUT : GORT_ECANCELED);
      outcomes[2]++;
    }
    /* serve the partners the select did not */
    for (int i = 0; i < 2; i++) {
      int64_t v = -7;
      if (i == chosen)
        continue;
      if (s.sending) {
        ASSERT_EQ(gort_chan_send(s.c[i], &v, gt_long_deadline()), 0);
      } else {
        ASSERT_EQ(gort_chan_recv(s.c[i], &v, gt_long_deadline()), 0);
        ASSERT_EQ(v, 10 * round + 5 + i);
      }
    }
    gt_join(pg0);
    gt_join(pg1);
    for (int i = 0; i < 2; i++) {
      ASSERT_EQ(p[i].rc, 0);
      if (s.sending)
        ASSERT_EQ(p[i].v, i == chosen ? 10 * round + i : -7);
      else
        ASSERT_EQ(s.in[i], i == chosen ? 10 * round + 5 + i : -1);
      int64_t v = 0;
      ASSERT_EQ(gort_chan_send(s.c[i], &v, 0), GORT_EAGAIN);
      ASSERT_EQ(gort_chan_recv(s.c[i], &v, 0), GORT_EAGAIN);
      gort_chan_release(s.c[i]);
    }
  }
  fprintf(stderr, "select race (%s): case 0 %d, case 2 %d, none %d\n",
          how ? "deadline" : "cancel", outcomes[0], outcomes[1], outcomes[2]);
}

START_TEST(test_select_race)
{
  /* _i: {cancel, deadline} x {2, 4 Ps} */
  int how = _i % 2;
  gt_run_body(0, _i < 2 ? 2 : 4, select_race_body, &how);
}
END_TEST

/* Selects against closes: senders select over three channels and receivers
 * select over the same three while a closer closes them one by one;
 * each side drops a channel once it reports GORT_EPIPE. Every value a
 * sender got 0 for is received exactly once. */
enum { SC_NS = 3, SC_NR = 3 };
typedef struct {
  gort_chan *c[3];
  uint64_t slow; /* receivers dawdle: senders block more often */
  _Atomic int64_t sent_n, sent_h, recv_n, recv_h, errors;
} sc_t;
typedef struct {
  sc_t *s;
  int id;
} sc_arg;

static void sc_sender(void *arg)
{
  sc_arg *a = arg;
  sc_t *s = a->s;
  gort_case cs[3];
  int64_t v = 0;
  int open = 3;
  for (int i = 0; i < 3; i++)
    cs[i] = (gort_case){s->c[i], GORT_SEND, &v, 1};
  for (int64_t k = 1; open > 0; k++) {
    v = (int64_t)a->id << 40 | k;
    int r = gort_select(cs, 3, gt_long_deadline());
    if (r < 0) {
      atomic_fetch_add(&s->errors, 1);
      return;
    }
    if (cs[r].result == GORT_EPIPE) {
      cs[r].chan = NULL;
      open--;
    } else if (cs[r].result == 0) {
      ss_count(&s->sent_n, &s->sent_h, v);
    } else {
      atomic_fetch_add(&s->errors, 1);
      return;
    }
  }
}

static void sc_receiver(void *arg)
{
  sc_arg *a = arg;
  sc_t *s = a->s;
  gort_case cs[3];
  int64_t v = 0;
  int open = 3;
  for (int i = 0; i < 3; i++)
    cs[i] = (gort_case){s->c[i], GORT_RECV, &v, 1};
  while (open > 0) {
    v = -1;
    int r = gort_select(cs, 3, gt_long_deadline());
    if (r < 0) {
      atomic_fetch_add(&s->errors, 1);
      return;
    }
    if (cs[r].result == GORT_EPIPE) {
      if (v != 0)
        atomic_fetch_add(&s->errors, 1);
      cs[r].chan = NULL;
      open--;
    } else if (cs[r].result == 0) {
      ss_count(&s->recv_n, &s->recv_h, v);
      spin(s->slow);
    } else {
      atomic_fetch_add(&s->errors, 1);
      return;
    }
  }
}

static void select_close_body(void *arg)
{
  (void)arg;
  int rounds = (int)SCALED(300);
  uint64_t seed = 31337;
  static const size_t caps[] = {0, 1, 4};
  for (int round = 0; round < rounds; round++) {
    sc_t s;
    memset(&s, 0, sizeof s);
    for (int i = 0; i < 3; i++)
      s.c[i] = mkchan(sizeof(int64_t), caps[(round + i) % 3]);
    s.slow = round % 2 ? logrand(&seed, 14) : 0;
    sc_arg args[SC_NS + SC_NR];
    gort_g *g[SC_NS + SC_NR];
    for (int i = 0; i < SC_NS + SC_NR; i++) {
      args[i] = (sc_arg){&s, i + 1};
      g[i] = gt_spawn(i < SC_NS ? sc_sender : sc_receiver, &args[i]);
    }
    int order = (int)(gt_rand(&seed) % 6);
    static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                    {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    for (int i = 0; i < 3; i++) {
      uint64_t w = logrand(&seed, 16);
      if (w > 40000)
        gort_sleep((int64_t)w); /* widen the window, sometimes */
      else
        spin(w);
      ASSERT_EQ(gort_chan_close(s.c[perms[order][i]]), 0);
    }
    for (int i = 0; i < SC_NS + SC_NR; i++)
      gt_join(g[i]);
    ASSERT_EQ(atomic_load(&s.errors), 0);
    ASSERT_EQ(atomic_load(&s.sent_n), atomic_load(&s.recv_n));
    ASSERT_EQ(atomic_load(&s.sent_h), atomic_load(&s.recv_h));
    for (int i = 0; i < 3; i++) {
      ASSERT_U64_EQ(gort_chan_len(s.c[i]), 0);
      gort_chan_release(s.c[i]);
    }
  }
}

START_TEST(test_select_close_race)
{
  gt_run_body(0, _i ? 4 : 2, select_close_body, NULL);
}
END_TEST

/* ---- the suite ----------------------------------------------------------- */

static Suite *select_suite(void)
{
  Suite *s = suite_create("select");
  TCase *tc = gt_tcase(s, "basic", 60);
  tcase_add_test(tc, test_invalid);
  tcase_add_loop_test(tc, test_nil_channels, 0, 2);
  tcase_add_loop_test(tc, test_nil_forever, 0, NPROCS);
  tcase_add_loop_test(tc, test_ready, 0, 2);
  tcase_add_loop_test(tc, test_combinations, 0, 2);
  tcase_add_loop_test(tc, test_wake, 0, 2 * W_NWAYS);
  tcase_add_loop_test(tc, test_many_cases, 0, 4);
  tcase_add_loop_test(tc, test_select_deadlines, 0, 2);
  tcase_add_loop_test(tc, test_select_cancel, 0, 4);
  tcase_add_loop_test(tc, test_thread_select, 0, 2);

  tc = gt_tcase(s, "fairness", 120);
  tcase_add_loop_test(tc, test_fairness, 0, 5 * F_NVARIANTS);
  tcase_add_loop_test(tc, test_fairness_mixed, 0, 2);

  tc = gt_tcase(s, "programs", 120);
  tcase_add_loop_test(tc, test_doubleselect, 0, 2 * NPROCS);
  tcase_add_loop_test(tc, test_select6, 0, NPROCS);
  tcase_add_loop_test(tc, test_select_pairs, 0, 2 * NPROCS);

  tc = gt_tcase(s, "race", 120);
  tcase_add_loop_test(tc, test_select_race, 0, 4);
  tcase_add_loop_test(tc, test_select_close_race, 0, 2);
  return s;
}

GT_MAIN(select_suite)
