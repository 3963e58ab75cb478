/*
 * check_timer.c - timer channels: gort_timer_* (Go's time.Timer and
 * time.Ticker) and gort_after (time.After).
 *
 *  - a one-shot fires once, at or after `when`; a ticker ticks with
 *    increasing values that honour the period; a slow reader gets ticks
 *    dropped, never queued;
 *  - stop before the firing returns 1 and nothing arrives; after it, 0;
 *    stop and reset drain a buffered value (Go 1.23), also for a cancelled
 *    goroutine; reset re-arms (one-shot <-> ticker);
 *  - gort_after, also released before it fires (leaks show under ASan);
 *  - stop racing the firing with several Ps, with a receiver parked on the
 *    channel: stop == 1 means nothing was delivered, a value is delivered
 *    at most once and never after stop returned;
 *  - timer channels in gort_select beside other channels; 10,000 timers;
 *    tickers freed while their callbacks run (ASan, TSan);
 *  - from a plain thread; bad arguments.
 * Sleeps appear only where time is what is tested ("nothing arrives before
 * this moment"); everything else waits on channels with long deadlines.
 */
#define _GNU_SOURCE
#include "testutil.h"

/* Receives one firing time, failing the test if none comes. */
static int64_t recv_time(gort_chan *ch)
{
  int64_t v = -1;
  ASSERT_EQ(gort_chan_recv(ch, &v, gt_long_deadline()), 0);
  return v;
}

/* Waits until a value sits in ch (a fired, unreceived timer). */
static void await_buffered(gort_chan *ch)
{
  int64_t end = gt_long_deadline();
  while (gort_chan_len(ch) == 0) {
    ASSERT_LT(gort_now(), end);
    if (gort_self())
      gort_sleep(GT_US(100));
    else
      usleep(100);
  }
}

static void spin_until(int64_t t)
{
  while (gort_now() < t) {
  }
}

/* ---- one-shot ------------------------------------------------------------ */

static void oneshot_body(void *arg)
{
  (void)arg;
  gort_timer *t = NULL;
  int64_t when = gort_now() + GT_MS(20), v;
  ASSERT_EQ(gort_timer_new(&t, when, 0), 0);
  ASSERT_NOT_NULL(t);
  gort_chan *ch = gort_timer_chan(t);
  ASSERT_NOT_NULL(ch);
  ASSERT_EQ(gort_chan_cap(ch), 1);
  ASSERT_EQ(gort_chan_elem_size(ch), sizeof(int64_t));
  v = recv_time(ch);
  ASSERT_GE(v, when);
  ASSERT_GE(gort_now(), when);
  /* once only: nothing more within several of its delays */
  ASSERT_EQ(gort_chan_recv(ch, &v, gort_now() + GT_MS(60)), GORT_ETIMEDOUT);
  ASSERT_EQ(gort_timer_stop(t), 0); /* had fired */
  ASSERT_EQ(gort_timer_stop(t), 0);
  gort_timer_free(t);

  /* a `when` in the past fires at once */
  when = gort_now();
  ASSERT_EQ(gort_timer_new(&t, 0, 0), 0);
  ASSERT_GE(recv_time(gort_timer_chan(t)), when);
  gort_timer_free(t);
}

START_TEST(test_oneshot)
{
  gt_run_in(2, oneshot_body, NULL);
}
END_TEST

/* ---- ticker -------------------------------------------------------------- */

static void ticker_body(void *arg)
{
  (void)arg;
  gort_timer *t = NULL;
  const int64_t period = GT_MS(5);
  int64_t when = gort_now() + GT_MS(2), prev = 0, v;
  ASSERT_EQ(gort_timer_new(&t, when, period), 0);
  for (int i = 0; i < 8; i++) {
    v = recv_time(gort_timer_chan(t));
    ASSERT_GT(v, prev);
    /* the i-th received tick is tick j >= i of the schedule */
    ASSERT_GE(v, when + i * period);
    prev = v;
  }
  ASSERT_EQ(gort_timer_stop(t), 1); /* a ticker is pending until stopped */
  ASSERT_EQ(gort_chan_len(gort_timer_chan(t)), 0);
  /* stopped: nothing arrives any more */
  ASSERT_EQ(gort_chan_recv(gort_timer_chan(t), &v, gort_now() + 6 * period),
            GORT_ETIMEDOUT);
  ASSERT_EQ(gort_timer_stop(t), 0);
  gort_timer_free(t);
}

START_TEST(test_ticker)
{
  gt_run_in(2, ticker_body, NULL);
}
END_TEST

/* The reader takes a value every ten periods: the rest are dropped. */
static void ticker_slow_body(void *arg)
{
  (void)arg;
  gort_timer *t = NULL;
  const int64_t period = GT_MS(1);
  const int rounds = 10;
  int64_t t0 = gort_now(), count = 0, v;
  ASSERT_EQ(gort_timer_new(&t, t0, period), 0);
  gort_chan *ch = gort_timer_chan(t);
  for (int i = 0; i < rounds; i++) {
    ASSERT_EQ(gort_sleep(10 * period), 0);
    ASSERT_LE(gort_chan_len(ch), 1);
    while (gort_chan_recv(ch, &v, 0) == 0)
      count++;
  }
  int64_t elapsed = gort_now() - t0;
  ASSERT_EQ(gort_timer_stop(t), 1);
  gort_timer_free(t);
  /* queued ticks would give about elapsed / period */
  ASSERT_LE(count, 3 * rounds);
  ASSERT_LT(count, elapsed / period + 1);
}

START_TEST(test_ticker_slow_reader)
{
  gt_run_in(2, ticker_slow_body, NULL);
}
END_TEST

/* ---- stop ---------------------------------------------------------------- */

static void stop_before_body(void *arg)
{
  (void)arg;
  gort_timer *t = NULL;
  int64_t when = gort_now() + GT_MS(30), v;
  ASSERT_EQ(gort_timer_new(&t, when, 0), 0);
  ASSERT_EQ(gort_timer_stop(t), 1);
  ASSERT_EQ(gort_timer_stop(t), 0);
  /* well past `when`: nothing came */
  ASSERT_EQ(gort_chan_recv(gort_timer_chan(t), &v, when + GT_MS(50)),
            GORT_ETIMEDOUT);
  gort_timer_free(t);

  /* created stopped (GORT_NEVER): costs nothing, never fires */
  ASSERT_EQ(gort_timer_new(&t, GORT_NEVER, 0), 0);
  ASSERT_EQ(gort_chan_recv(gort_timer_chan(t), &v, gort_now() + GT_MS(20)),
            GORT_ETIMEDOUT);
  ASSERT_EQ(gort_timer_stop(t), 0);
  when = gort_now() + GT_MS(5);
  ASSERT_EQ(gort_timer_reset(t, when, 0), 0);
  ASSERT_GE(recv_time(gort_timer_chan(t)), when);
  gort_timer_free(t);
}

START_TEST(test_stop_before_fire)
{
  gt_run_in(2, stop_before_body, NULL);
}
END_TEST

static void stop_after_body(void *arg)
{
  (void)arg;
  gort_timer *t = NULL;
  int64_t v;
  /* received, then stopped */
  ASSERT_EQ(gort_timer_new(&t, gort_now(), 0), 0);
  recv_time(gort_timer_chan(t));
  ASSERT_EQ(gort_timer_stop(t), 0);
  gort_timer_free(t);

  /* fired into the buffer, then stopped: 0, and the value is gone */
  ASSERT_EQ(gort_timer_new(&t, gort_now(), 0), 0);
  await_buffered(gort_timer_chan(t));
  ASSERT_EQ(gort_timer_stop(t), 0);
  ASSERT_EQ(gort_chan_len(gort_timer_chan(t)), 0);
  ASSERT_EQ(gort_chan_recv(gort_timer_chan(t), &v, 0), GORT_EAGAIN);
  gort_timer_free(t);

  /* a ticker with a tick buffered: stop is 1 and drains it */
  ASSERT_EQ(gort_timer_new(&t, gort_now(), GT_MS(1)), 0);
  await_buffered(gort_timer_chan(t));
  ASSERT_EQ(gort_timer_stop(t), 1);
  ASSERT_EQ(gort_chan_len(gort_timer_chan(t)), 0);
  ASSERT_EQ(gort_chan_recv(gort_timer_chan(t), &v, gort_now() + GT_MS(10)),
            GORT_ETIMEDOUT);
  gort_timer_free(t);
}

START_TEST(test_stop_after_fire)
{
  gt_run_in(2, stop_after_body, NULL);
}
END_TEST

/* A cancelled goroutine cannot receive, but its stop still drains. */
static void stop_cancelled_body(void *arg)
{
  (void)arg;
  gort_timer *t = NULL;
  ASSERT_EQ(gort_timer_new(&t, gort_now(), 0), 0);
  await_buffered(gort_timer_chan(t));
  ASSERT_EQ(gort_cancel(gort_self()), 0);
  ASSERT_EQ(gort_chan_recv(gort_timer_chan(t), NULL, 0), GORT_ECANCELED);
  ASSERT_EQ(gort_timer_stop(t), 0);
  ASSERT_EQ(gort_chan_len(gort_timer_chan(t)), 0);
  ASSERT_EQ(gort_timer_reset(t, GORT_NEVER, 0), 0);
  gort_timer_free(t);
}

START_TEST(test_stop_cancelled_goroutine)
{
  gt_run_in(1, stop_cancelled_body, NULL);
}
END_TEST

/* ---- reset --------------------------------------------------------------- */

static void reset_body(void *arg)
{
  (void)arg;
  gort_timer *t = NULL;
  int64_t v, when;
  /* a pending timer moved earlier */
  int64_t far = gort_now() + GT_SEC(3600);
  ASSERT_EQ(gort_timer_new(&t, far, 0), 0);
  when = gort_now() + GT_MS(5);
  ASSERT_EQ(gort_timer_reset(t, when, 0), 1);
  v = recv_time(gort_timer_chan(t));
  ASSERT_GE(v, when);
  ASSERT_LT(v, far);
  /* a fired one re-armed */
  when = gort_now() + GT_MS(5);
  ASSERT_EQ(gort_timer_reset(t, when, 0), 0);
  ASSERT_GE(recv_time(gort_timer_chan(t)), when);
  /* reset drains a buffered value: only the new firing arrives */
  ASSERT_EQ(gort_timer_reset(t, 0, 0), 0);
  await_buffered(gort_timer_chan(t));
  when = gort_now() + GT_MS(20);
  ASSERT_EQ(gort_timer_reset(t, when, 0), 0);
  ASSERT_EQ(gort_chan_len(gort_timer_chan(t)), 0);
  ASSERT_GE(recv_time(gort_timer_chan(t)), when);
  /* one-shot -> ticker -> one-shot */
  when = gort_now();
  ASSERT_EQ(gort_timer_reset(t, when, GT_MS(2)), 0);
  for (int i = 0; i < 3; i++)
    ASSERT_GE(recv_time(gort_timer_chan(t)), when + i * GT_MS(2));
  when = gort_now() + GT_MS(5);
  ASSERT_EQ(gort_timer_reset(t, when, 0), 1);
  ASSERT_GE(recv_time(gort_timer_chan(t)), when);
  ASSERT_EQ(gort_chan_recv(gort_timer_chan(t), &v, gort_now() + GT_MS(30)),
            GORT_ETIMEDOUT);
  /* reset to GORT_NEVER is a stop */
  ASSERT_EQ(gort_timer_reset(t, gort_now() + GT_MS(5), 0), 0);
  ASSERT_EQ(gort_timer_reset(t, GORT_NEVER, 0), 1);
  ASSERT_EQ(gort_timer_stop(t), 0);
  /* bad arguments leave it as it was */
  ASSERT_EQ(gort_timer_reset(t, gort_now(), -1), GORT_EINVAL);
  ASSERT_EQ(gort_timer_reset(t, -5, 0), GORT_EINVAL);
  ASSERT_EQ(gort_timer_stop(t), 0);
  gort_timer_free(t);
}

START_TEST(test_reset)
{
  gt_run_in(2, reset_body, NULL);
}
END_TEST

/* ---- gort_after ---------------------------------------------------------- */

static void after_body(void *arg)
{
  (void)arg;
  gort_chan *ch = NULL;
  int64_t when = gort_now() + GT_MS(10), v;
  ASSERT_EQ(gort_after(&ch, when), 0);
  ASSERT_NOT_NULL(ch);
  ASSERT_EQ(gort_chan_cap(ch), 1);
  ASSERT_GE(recv_time(ch), when);
  ASSERT_EQ(gort_chan_recv(ch, &v, gort_now() + GT_MS(30)), GORT_ETIMEDOUT);
  gort_chan_release(ch);

  /* released before it fires: the timer's own reference goes at the
   * firing (ASan reports a leak or a use after free otherwise) */
  for (int i = 0; i < 100; i++) {
    ASSERT_EQ(gort_after(&ch, gort_now() + GT_US(10 * i)), 0);
    gort_chan_release(ch);
  }
  /* let them fire before the scheduler goes (time is the point) */
  ASSERT_EQ(gort_sleep(GT_MS(20)), 0);
  ASSERT_EQ(gort_after(&ch, 0), 0); /* also reaps the fired ones */
  recv_time(ch);
  gort_chan_release(ch);

  /* GORT_NEVER: a channel that never receives */
  ASSERT_EQ(gort_after(&ch, GORT_NEVER), 0);
  ASSERT_EQ(gort_chan_recv(ch, &v, gort_now() + GT_MS(10)), GORT_ETIMEDOUT);
  gort_chan_release(ch);
}

START_TEST(test_after)
{
  gt_run_in(2, after_body, NULL);
}
END_TEST

/* ---- stop racing the firing ---------------------------------------------- */

typedef struct {
  gort_chan *ch, *quit;
  int64_t got, maxv;
} rx_t;

/* Parks on the timer's channel (a value goes straight to it, so no drain
 * can hide a delivery) until told to quit. */
static void rx_fn(void *arg)
{
  rx_t *r = arg;
  for (;;) {
    int64_t v = 0;
    gort_case cs[2] = {{r->ch, GORT_RECV, &v, 0},
                       {r->quit, GORT_RECV, NULL, 0}};
    int i = gort_select(cs, 2, gt_long_deadline());
    ASSERT_TRUE(i == 0 || i == 1);
    if (i == 1)
      return;
    ASSERT_EQ(cs[0].result, 0);
    r->got++;
    if (v > r->maxv)
      r->maxv = v;
  }
}

static void race_body(void *arg)
{
  int ticker = *(int *)arg;
  uint64_t seed = 0x1234567u + (uint64_t)ticker;
  int64_t n = SCALED(3000), stopped = 0, delivered = 0;
  for (int64_t i = 0; i < n; i++) {
    gort_timer *t = NULL;
    gort_g *g = NULL;
    rx_t r = {0};
    int64_t now = gort_now();
    int64_t when = now + (int64_t)(gt_rand(&seed) % GT_US(200));
    ASSERT_EQ(gort_timer_new(&t, when, ticker ? GT_US(20) : 0), 0);
    r.ch = gort_timer_chan(t);
    ASSERT_EQ(gort_chan_new(&r.quit, 0, 0), 0);
    ASSERT_EQ(gort_spawn(NULL, rx_fn, &r, 0, &g), 0);
    if (gt_rand(&seed) & 1)
      gort_yield();
    spin_until(now + (int64_t)(gt_rand(&seed) % GT_US(200)));
    int st = gort_timer_stop(t);
    int64_t tstop = gort_now();
    ASSERT_EQ(gort_chan_len(r.ch), 0);
    ASSERT_EQ(gort_chan_close(r.quit), 0);
    ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
    gort_g_release(g);
    gort_chan_release(r.quit);
    /* nothing after stop returned, nothing buffered behind it */
    ASSERT_EQ(gort_chan_len(r.ch), 0);
    if (r.got)
      ASSERT_LE(r.maxv, tstop);
    if (ticker) {
      ASSERT_EQ(st, 1);
    } else {
      ASSERT_ONE_OF(st, 0, 1);
      ASSERT_LE(r.got, 1);
      if (st == 1)
        ASSERT_EQ(r.got, 0); /* stopped in time: never delivered */
    }
    stopped += st;
    delivered += r.got;
    gort_timer_free(t);
  }
  if (!ticker)
    fprintf(stderr,
            "stop race: %" PRId64 " stopped, %" PRId64 " delivered of %" PRId64
            "\n",
            stopped, delivered, n);
}

START_TEST(test_stop_race)
{
  int ticker = _i;
  gt_run_in(4, race_body, &ticker);
}
END_TEST

/* ---- select -------------------------------------------------------------- */

static void select_body(void *arg)
{
  (void)arg;
  gort_chan *data = NULL;
  gort_timer *t = NULL, *tk = NULL;
  int64_t v = 0, when;
  ASSERT_EQ(gort_chan_new(&data, sizeof(int64_t), 0), 0);
  ASSERT_EQ(gort_timer_new(&t, gort_now() + GT_SEC(3600), 0), 0);
  when = gort_now() + GT_MS(1);
  ASSERT_EQ(gort_timer_new(&tk, when, GT_MS(2)), 0);
  gort_case cs[3] = {{data, GORT_RECV, &v, 0},
                     {gort_timer_chan(t), GORT_RECV, &v, 0},
                     {gort_timer_chan(tk), GORT_RECV, &v, 0}};
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(gort_select(cs, 3, gt_long_deadline()), 2);
    ASSERT_EQ(cs[2].result, 0);
    ASSERT_GE(v, when);
  }
  ASSERT_EQ(gort_timer_stop(tk), 1);
  when = gort_now() + GT_MS(5);
  ASSERT_EQ(gort_timer_reset(t, when, 0), 1);
  ASSERT_EQ(gort_select(cs, 3, gt_long_deadline()), 1);
  ASSERT_GE(v, when);
  /* everything stopped: the select's own deadline */
  ASSERT_EQ(gort_select(cs, 3, gort_now() + GT_MS(20)), GORT_ETIMEDOUT);
  ASSERT_EQ(gort_select(cs, 3, 0), GORT_EAGAIN);
  gort_timer_free(t);
  gort_timer_free(tk);
  gort_chan_release(data);
}

START_TEST(test_select)
{
  gt_run_in(2, select_body, NULL);
}
END_TEST

/* ---- volume -------------------------------------------------------------- */

static void many_body(void *arg)
{
  (void)arg;
  int64_t n = SCALED(10000);
  gort_timer **ts = calloc((size_t)n, sizeof *ts);
  gort_chan **as = calloc((size_t)n, sizeof *as);
  int64_t *whens = calloc((size_t)n, sizeof *whens);
  ASSERT_NOT_NULL(ts);
  ASSERT_NOT_NULL(as);
  ASSERT_NOT_NULL(whens);
  int64_t base = gort_now();
  for (int64_t i = 0; i < n; i++) {
    whens[i] = base + (i * 7919 % 50) * GT_MS(1);
    ASSERT_EQ(gort_timer_new(&ts[i], whens[i], 0), 0);
    ASSERT_EQ(gort_after(&as[i], whens[i]), 0);
  }
  for (int64_t i = n - 1; i >= 0; i--) {
    ASSERT_GE(recv_time(gort_timer_chan(ts[i])), whens[i]);
    ASSERT_GE(recv_time(as[i]), whens[i]);
  }
  for (int64_t i = 0; i < n; i++) {
    ASSERT_EQ(gort_timer_stop(ts[i]), 0);
    gort_timer_free(ts[i]);
    gort_chan_release(as[i]);
  }
  free(ts);
  free(as);
  free(whens);
}

START_TEST(test_many_timers)
{
  gt_run_in(4, many_body, NULL);
}
END_TEST

/* A ticker freed while its callback may be running on another M; half the
 * time the user keeps the channel, which must then stay quiet. */
static void free_running_body(void *arg)
{
  (void)arg;
  uint64_t seed = 42;
  int64_t n = SCALED(3000);
  for (int64_t i = 0; i < n; i++) {
    gort_timer *t = NULL;
    int64_t now = gort_now();
    ASSERT_EQ(gort_timer_new(&t, now,
                             GT_US(5) + (int64_t)(gt_rand(&seed) % GT_US(20))),
              0);
    gort_chan *ch = gort_timer_chan(t);
    int keep = (int)(gt_rand(&seed) & 1);
    if (keep)
      gort_chan_retain(ch);
    spin_until(now + (int64_t)(gt_rand(&seed) % GT_US(60)));
    gort_timer_free(t);
    if (keep) {
      ASSERT_EQ(gort_chan_recv(ch, NULL, 0), GORT_EAGAIN);
      gort_chan_release(ch);
    }
  }
}

START_TEST(test_free_running_ticker)
{
  gt_run_in(4, free_running_body, NULL);
}
END_TEST

/* ---- plain threads, bad arguments ---------------------------------------- */

START_TEST(test_plain_thread)
{
  gort_timer *t = NULL;
  gort_chan *ch = NULL;
  int64_t when = gort_now() + GT_MS(5), prev = 0;
  ASSERT_EQ(gort_timer_new(&t, when, GT_MS(2)), 0);
  for (int i = 0; i < 3; i++) {
    int64_t v = recv_time(gort_timer_chan(t));
    ASSERT_GT(v, prev);
    ASSERT_GE(v, when);
    prev = v;
  }
  ASSERT_EQ(gort_timer_stop(t), 1);
  gort_timer_free(t);
  when = gort_now() + GT_MS(5);
  ASSERT_EQ(gort_after(&ch, when), 0);
  ASSERT_GE(recv_time(ch), when);
  gort_chan_release(ch);
}
END_TEST

START_TEST(test_bad_args)
{
  gort_timer *t = NULL;
  gort_chan *ch = NULL;
  ASSERT_EQ(gort_timer_new(NULL, 0, 0), GORT_EINVAL);
  ASSERT_EQ(gort_timer_new(&t, 0, -1), GORT_EINVAL);
  ASSERT_EQ(gort_timer_new(&t, -2, 0), GORT_EINVAL);
  ASSERT_EQ(gort_timer_new(&t, INT64_MIN, 5), GORT_EINVAL);
  ASSERT_NULL(t);
  ASSERT_NULL(gort_timer_chan(NULL));
  ASSERT_EQ(gort_timer_stop(NULL), GORT_EINVAL);
  ASSERT_EQ(gort_timer_reset(NULL, 0, 0), GORT_EINVAL);
  gort_timer_free(NULL);
  ASSERT_EQ(gort_after(NULL, 0), GORT_EINVAL);
  ASSERT_EQ(gort_after(&ch, -7), GORT_EINVAL);
  ASSERT_NULL(ch);
  /* a huge period saturates rather than wrapping into the past */
  ASSERT_EQ(gort_timer_new(&t, 0, INT64_MAX), 0);
  recv_time(gort_timer_chan(t));
  ASSERT_EQ(gort_chan_recv(gort_timer_chan(t), NULL, gort_now() + GT_MS(10)),
            GORT_ETIMEDOUT);
  ASSERT_EQ(gort_timer_stop(t), 1);
  gort_timer_free(t);
}
END_TEST

static Suite *timer_suite(void)
{
  Suite *s = suite_create("timer");
  TCase *tc = gt_tcase(s, "basic", 120);
  tcase_add_test(tc, test_oneshot);
  tcase_add_test(tc, test_ticker);
  tcase_add_test(tc, test_ticker_slow_reader);
  tcase_add_test(tc, test_stop_before_fire);
  tcase_add_test(tc, test_stop_after_fire);
  tcase_add_test(tc, test_stop_cancelled_goroutine);
  tcase_add_test(tc, test_reset);
  tcase_add_test(tc, test_after);
  tcase_add_test(tc, test_select);
  tcase_add_test(tc, test_plain_thread);
  tcase_add_test(tc, test_bad_args);

  tc = gt_tcase(s, "stress", 300);
  tcase_add_loop_test(tc, test_stop_race, 0, 2);
  tcase_add_test(tc, test_many_timers);
  tcase_add_test(tc, test_free_running_ticker);
  return s;
}

GT_MAIN(timer_suite)
