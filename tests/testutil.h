/*
 * testutil.h - shared helpers for the libgort Check suites.
 *
 * What lives here:
 *  - ASSERT_* macros that print both operands (libuv's ASSERT_EQ). Integer
 *    operands are shown as int64_t and, when a value is a GORT_E* code, with
 *    its name, so a failure reads "rc == 0: -110 (GORT_ETIMEDOUT) == 0".
 *  - gort_test_scale() / SCALED(n): the slow runs (valgrind, qemu) set
 *    GORT_TEST_SCALE to a divisor >= 1 and every iteration count shrinks.
 *  - deadlines for "this should never take so long", stretched when the scale
 *    is above 1 (GORT_TEST_TIMEOUT_MULT overrides the stretch).
 *  - gt_run_in(maxprocs, fn, arg) / gt_run_main(fn, arg): run a test body as
 *    a goroutine on a fresh scheduler or through gort_main. The runtime is
 *    started inside each test, never in main(), because Check forks each test.
 *  - gt_run_body(on_thread, np, body, arg) with gt_spawn / gt_join /
 *    gt_relax: a body that runs as a goroutine or on the test's plain
 *    thread, spawning its goroutines on gt_spawn_sched.
 *  - GT_MAIN(suite): main() that runs one suite and remembers the fork mode.
 *
 * Tests that keep their state in static storage (goroutines outlive a
 * stack frame) memset it first, so a CK_FORK=no run, where every test
 * shares one process, starts each test afresh.
 *
 * Assertions may fail on any thread (a goroutine, a plain pthread, a
 * gort_blocking worker). Under Check's default fork mode that reports the
 * failure and ends the test process. Under CK_FORK=no, Check would longjmp
 * across threads, so a failure off the test's own thread prints and aborts.
 */
#ifndef GORT_TESTUTIL_H
#define GORT_TESTUTIL_H

#include <check.h>
#include <gort.h>

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GT_UNUSED __attribute__((unused))

/* ---- failure reporting --------------------------------------------------- */

static int gt_nofork_ GT_UNUSED;            /* CK_FORK=no */
static pthread_t gt_main_thread_ GT_UNUSED; /* the thread running tests */
static pthread_mutex_t gt_fail_lock_ GT_UNUSED = PTHREAD_MUTEX_INITIALIZER;

/* The name of a GORT_E* value, or NULL. */
static GT_UNUSED const char *gt_errname(int64_t v)
{
#define GT_ERRNAME_(name, value, msg)                                          \
  if (v == (int64_t)(value))                                                   \
    return "GORT_" #name;
  GORT_ERRNO_MAP(GT_ERRNAME_)
#undef GT_ERRNAME_
  return NULL;
}

/* Formats " (GORT_EXXX)" for error codes, "" otherwise. */
static GT_UNUSED const char *gt_errsuffix_(int64_t v, char *buf, size_t len)
{
  const char *n = v < 0 ? gt_errname(v) : NULL;
  if (!n)
    return "";
  snprintf(buf, len, " (%s)", n);
  return buf;
}

/* gort_dump lists every goroutine; weak so the tests still link against a
 * library that lacks it. */
#pragma weak gort_dump

/* After a wait that should never time out did: what was everyone doing? */
static GT_UNUSED void gt_dump(void)
{
  if (gort_dump) {
    fprintf(stderr, "---- goroutines at the failure ----\n");
    fflush(stderr);
    gort_dump(2);
  }
}

static void gt_fail_(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
static GT_UNUSED void gt_fail_(const char *file, int line, const char *fmt, ...)
{
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  /* The value checked (printed first) is a timeout: something hung. */
  char timed_out[48];
  snprintf(timed_out, sizeof timed_out, ": %d (GORT_ETIMEDOUT)",
           (int)GORT_ETIMEDOUT);
  if (strstr(buf, timed_out))
    gt_dump();
  if (gt_nofork_) {
    if (!pthread_equal(pthread_self(), gt_main_thread_)) {
      pthread_mutex_lock(&gt_fail_lock_);
      fprintf(stderr,
              "%s:%d: %s\n(failed off the test thread with CK_FORK=no: "
              "aborting)\n",
              file, line, buf);
      fflush(stderr);
      abort();
    }
    _ck_assert_failed(file, line, "Assertion failed", "%s", buf);
  }
  /* Fork mode: the first failing thread reports; any other one waits here
   * until the process is gone. */
  pthread_mutex_lock(&gt_fail_lock_);
  _ck_assert_failed(file, line, "Assertion failed", "%s", buf);
  abort(); /* not reached */
}

#define GT_ICMP_(a, op, b)                                                     \
  do {                                                                         \
    int64_t gt_a_ = (int64_t)(a), gt_b_ = (int64_t)(b);                        \
    if (!(gt_a_ op gt_b_)) {                                                   \
      char gt_sa_[48], gt_sb_[48];                                             \
      gt_fail_(__FILE__, __LINE__, "%s %s %s: %" PRId64 "%s %s %" PRId64 "%s", \
               #a, #op, #b, gt_a_, gt_errsuffix_(gt_a_, gt_sa_, 48), #op,      \
               gt_b_, gt_errsuffix_(gt_b_, gt_sb_, 48));                       \
    }                                                                          \
  } while (0)

#define ASSERT_EQ(a, b) GT_ICMP_(a, ==, b)
#define ASSERT_NE(a, b) GT_ICMP_(a, !=, b)
#define ASSERT_GE(a, b) GT_ICMP_(a, >=, b)
#define ASSERT_LE(a, b) GT_ICMP_(a, <=, b)
#define ASSERT_GT(a, b) GT_ICMP_(a, >, b)
#define ASSERT_LT(a, b) GT_ICMP_(a, <, b)

/* Unsigned 64-bit operands (goroutine ids, sizes). */
#define GT_UCMP_(a, op, b)                                                     \
  do {                                                                         \
    uint64_t gt_a_ = (uint64_t)(a), gt_b_ = (uint64_t)(b);                     \
    if (!(gt_a_ op gt_b_))                                                     \
      gt_fail_(__FILE__, __LINE__, "%s %s %s: %" PRIu64 " %s %" PRIu64, #a,    \
               #op, #b, gt_a_, #op, gt_b_);                                    \
  } while (0)
#define ASSERT_U64_EQ(a, b) GT_UCMP_(a, ==, b)
#define ASSERT_U64_NE(a, b) GT_UCMP_(a, !=, b)
#define ASSERT_U64_GE(a, b) GT_UCMP_(a, >=, b)

/* rc is one of two values (a race with two legal outcomes). */
#define ASSERT_ONE_OF(a, b, c)                                                 \
  do {                                                                         \
    int64_t gt_a_ = (int64_t)(a), gt_b_ = (int64_t)(b), gt_c_ = (int64_t)(c);  \
    if (gt_a_ != gt_b_ && gt_a_ != gt_c_) {                                    \
      char gt_sa_[48], gt_sb_[48], gt_sc_[48];                                 \
      gt_fail_(__FILE__, __LINE__,                                             \
               "%s in {%s, %s}: %" PRId64 "%s not in {%" PRId64 "%s, %" PRId64 \
               "%s}",                                                          \
               #a, #b, #c, gt_a_, gt_errsuffix_(gt_a_, gt_sa_, 48), gt_b_,     \
               gt_errsuffix_(gt_b_, gt_sb_, 48), gt_c_,                        \
               gt_errsuffix_(gt_c_, gt_sc_, 48));                              \
    }                                                                          \
  } while (0)

#define GT_PCMP_(a, op, b)                                                     \
  do {                                                                         \
    const void *gt_a_ = (const void *)(a), *gt_b_ = (const void *)(b);         \
    if (!(gt_a_ op gt_b_))                                                     \
      gt_fail_(__FILE__, __LINE__, "%s %s %s: %p %s %p", #a, #op, #b, gt_a_,   \
               #op, gt_b_);                                                    \
  } while (0)
#define ASSERT_PTR_EQ(a, b) GT_PCMP_(a, ==, b)
#define ASSERT_PTR_NE(a, b) GT_PCMP_(a, !=, b)
#define ASSERT_NULL(a) GT_PCMP_(a, ==, NULL)
#define ASSERT_NOT_NULL(a) GT_PCMP_(a, !=, NULL)

#define GT_SCMP_(a, op, b)                                                     \
  do {                                                                         \
    const char *gt_a_ = (a), *gt_b_ = (b);                                     \
    if (!gt_a_ || !gt_b_ || !(strcmp(gt_a_, gt_b_) op 0))                      \
      gt_fail_(__FILE__, __LINE__, "%s %s %s: \"%s\" %s \"%s\"", #a, #op, #b,  \
               gt_a_ ? gt_a_ : "(null)", #op, gt_b_ ? gt_b_ : "(null)");       \
  } while (0)
#define ASSERT_STR_EQ(a, b) GT_SCMP_(a, ==, b)
#define ASSERT_STR_NE(a, b) GT_SCMP_(a, !=, b)
#define ASSERT_STR_CONTAINS(hay, needle)                                       \
  do {                                                                         \
    const char *gt_h_ = (hay), *gt_n_ = (needle);                              \
    if (!gt_h_ || !gt_n_ || !strstr(gt_h_, gt_n_))                             \
      gt_fail_(__FILE__, __LINE__, "%s contains %s: \"%s\" lacks \"%s\"",      \
               #hay, #needle, gt_h_ ? gt_h_ : "(null)",                        \
               gt_n_ ? gt_n_ : "(null)");                                      \
  } while (0)

#define ASSERT_TRUE(c)                                                         \
  do {                                                                         \
    if (!(c))                                                                  \
      gt_fail_(__FILE__, __LINE__, "expected true: %s", #c);                   \
  } while (0)
#define ASSERT_FALSE(c)                                                        \
  do {                                                                         \
    if (c)                                                                     \
      gt_fail_(__FILE__, __LINE__, "expected false: %s", #c);                  \
  } while (0)

/* ---- scale and time ------------------------------------------------------ */

/* GORT_TEST_SCALE: a divisor >= 1 for every iteration count (default 1). */
static GT_UNUSED int64_t gort_test_scale(void)
{
  static _Atomic int64_t cached;
  int64_t v = atomic_load(&cached);
  if (v > 0)
    return v;
  const char *e = getenv("GORT_TEST_SCALE");
  v = e && *e ? strtoll(e, NULL, 10) : 1;
  if (v < 1)
    v = 1;
  atomic_store(&cached, v);
  return v;
}

/* max(n / scale, min(n, floor)) */
static GT_UNUSED int64_t gt_scaled(int64_t n, int64_t floor_)
{
  int64_t v = n / gort_test_scale();
  int64_t lo = n < floor_ ? n : floor_;
  return v > lo ? v : lo;
}
#define SCALED(n) gt_scaled((int64_t)(n), 10)

/* How much longer than at scale 1 "never takes so long" may take: the slow
 * runs are slow per operation even though they do fewer. */
static GT_UNUSED int64_t gt_timeout_mult(void)
{
  const char *e = getenv("GORT_TEST_TIMEOUT_MULT");
  if (e && *e && strtoll(e, NULL, 10) > 0)
    return strtoll(e, NULL, 10);
  return gort_test_scale() > 1 ? 10 : 1;
}

#define GT_US(x) ((int64_t)(x)*1000)
#define GT_MS(x) ((int64_t)(x)*1000000)
#define GT_SEC(x) ((int64_t)(x)*1000000000)

/* The bound for anything that should complete: generous for a loaded 2-core
 * machine, and stretched under the slow runs. */
#define GT_WAIT GT_SEC(30)

static GT_UNUSED int64_t gt_deadline(int64_t ns)
{
  return gort_now() + ns * gt_timeout_mult();
}
static GT_UNUSED int64_t gt_long_deadline(void)
{
  return gt_deadline(GT_WAIT);
}

/* A deadline that is surely in the past but is not 0 ("only try"). */
#define GT_PAST ((int64_t)1)

/* A monotonic clock that does not go through libgort. */
static GT_UNUSED int64_t gt_os_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Waits until *v >= target, yielding (goroutine) or giving up the CPU
 * (thread) between looks; 1 on success, 0 at the "never" deadline. For
 * states no primitive can report (a goroutine has queued on a lock). */
static GT_UNUSED int gt_await_ge(_Atomic int64_t *v, int64_t target)
{
  int64_t end = gt_long_deadline();
  while (atomic_load(v) < target) {
    if (gort_now() > end)
      return 0;
    if (gort_self())
      gort_yield();
    else
      sched_yield();
  }
  return 1;
}

/* xorshift64*: a cheap per-goroutine generator. */
static GT_UNUSED uint64_t gt_rand(uint64_t *st)
{
  uint64_t x = *st ? *st : 0x9E3779B97F4A7C15ull;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *st = x;
  return x * 0x2545F4914F6CDD1Dull;
}

/* ---- running a body ------------------------------------------------------ */

/* Runs fn(arg) as a goroutine on a fresh scheduler with maxprocs Ps, waits
 * for it, and shuts the scheduler down. */
static GT_UNUSED void gt_run_in(int maxprocs, void (*fn)(void *), void *arg)
{
  gort_sched *s = NULL;
  gort_g *g = NULL;
  ASSERT_EQ(gort_sched_new(&s, maxprocs), 0);
  ASSERT_NOT_NULL(s);
  ASSERT_EQ(gort_spawn(s, fn, arg, 0, &g), 0);
  ASSERT_NOT_NULL(g);
  /* Longer than any wait inside a body, so a hang is reported by the wait
   * that hung, with its line. */
  ASSERT_EQ(gort_join(g, gt_deadline(2 * GT_WAIT)), 0);
  gort_g_release(g);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}

/* ---- bodies that run either as a goroutine or on the test's thread ------ */

/* The scheduler gt_spawn uses: NULL (the caller's) while a gt_run_body body
 * runs as a goroutine, a scheduler of its own when it runs on the test's
 * plain thread. */
static gort_sched *gt_spawn_sched;

static GT_UNUSED gort_g *gt_spawn(void (*fn)(void *), void *arg)
{
  gort_g *g = NULL;
  ASSERT_EQ(gort_spawn(gt_spawn_sched, fn, arg, 0, &g), 0);
  ASSERT_NOT_NULL(g);
  return g;
}

/* Joins g (with the long deadline) and releases its handle. */
static GT_UNUSED void gt_join(gort_g *g)
{
  ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
  gort_g_release(g);
}

/* Gives the CPU away: a yield in a goroutine, sched_yield on a thread. */
static GT_UNUSED void gt_relax(void)
{
  if (gort_self())
    gort_yield();
  else
    sched_yield();
}

/* Runs body as a goroutine on a fresh scheduler with np Ps (on_thread 0),
 * or on the test's own plain thread with its goroutines on such a scheduler
 * (on_thread 1). */
static GT_UNUSED void gt_run_body(int on_thread, int np, void (*body)(void *),
                                  void *arg)
{
  if (!on_thread) {
    gt_spawn_sched = NULL;
    gt_run_in(np, body, arg);
    return;
  }
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, np), 0);
  gt_spawn_sched = s;
  body(arg);
  gt_spawn_sched = NULL;
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}

/* Runs fn(arg) through gort_main on the default scheduler. */
static GT_UNUSED void gt_run_main(void (*fn)(void *), void *arg)
{
  ASSERT_EQ(gort_main(fn, arg), 0);
}

/* Spawns n goroutines of fn on s, each with args[i] (or arg if args is
 * NULL), joins them all and releases the handles. */
static GT_UNUSED void gt_spawn_join_n(gort_sched *s, int n, void (*fn)(void *),
                                      void *arg, void **args)
{
  gort_g **gs = calloc((size_t)n, sizeof *gs);
  ASSERT_NOT_NULL(gs);
  for (int i = 0; i < n; i++)
    ASSERT_EQ(gort_spawn(s, fn, args ? args[i] : arg, 0, &gs[i]), 0);
  int64_t end = gt_long_deadline();
  for (int i = 0; i < n; i++) {
    ASSERT_EQ(gort_join(gs[i], end), 0);
    gort_g_release(gs[i]);
  }
  free(gs);
}

/* Plain OS threads. */
static GT_UNUSED pthread_t gt_thread(void *(*fn)(void *), void *arg)
{
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, NULL, fn, arg), 0);
  return t;
}
static GT_UNUSED void gt_thread_join(pthread_t t)
{
  ASSERT_EQ(pthread_join(t, NULL), 0);
}

/* Tests that need their own process (the default scheduler is per process:
 * gort_main deadlock tests leave goroutines blocked in it). */
#define GT_REQUIRE_FORK()                                                      \
  do {                                                                         \
    if (gt_nofork_) {                                                          \
      fprintf(stderr, "%s: skipped: needs Check's fork mode\n", __func__);     \
      return;                                                                  \
    }                                                                          \
  } while (0)

/* ---- suites -------------------------------------------------------------- */

/* A test case with a timeout in seconds, stretched like the deadlines (Check
 * also multiplies it by CK_TIMEOUT_MULTIPLIER). */
static GT_UNUSED TCase *gt_tcase(Suite *s, const char *name, double secs)
{
  TCase *tc = tcase_create(name);
  tcase_set_timeout(tc, secs * (double)gt_timeout_mult());
  suite_add_tcase(s, tc);
  return tc;
}

static GT_UNUSED int gt_main_(Suite *s)
{
  SRunner *sr = srunner_create(s);
  gt_nofork_ = srunner_fork_status(sr) == CK_NOFORK;
  gt_main_thread_ = pthread_self();
  if (gort_test_scale() > 1)
    fprintf(stderr, "GORT_TEST_SCALE=%" PRId64 "\n", gort_test_scale());
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#define GT_MAIN(suite_fn)                                                      \
  int main(void)                                                               \
  {                                                                            \
    return gt_main_(suite_fn());                                               \
  }

#endif /* GORT_TESTUTIL_H */
