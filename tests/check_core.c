/*
 * check_core.c - version, errors, time, and bad handles.
 *
 * Nothing here needs a goroutine except where a NULL handle is passed from
 * inside one; those tests start a scheduler of their own.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <limits.h>

/* ---- version ------------------------------------------------------------- */

START_TEST(test_version_number)
{
  ASSERT_EQ(gort_version(), GORT_VERSION_NUMBER);
  ASSERT_EQ(gort_version(), GORT_VERSION_MAJOR * 10000 +
                                GORT_VERSION_MINOR * 100 + GORT_VERSION_PATCH);
}
END_TEST

START_TEST(test_version_string)
{
  char want[64];
  snprintf(want, sizeof want, "%d.%d.%d", GORT_VERSION_MAJOR,
           GORT_VERSION_MINOR, GORT_VERSION_PATCH);
  ASSERT_NOT_NULL(gort_version_string());
  ASSERT_STR_EQ(gort_version_string(), GORT_VERSION_STRING);
  ASSERT_STR_EQ(gort_version_string(), want);
  /* The string agrees with the number the library reports. */
  int v = gort_version();
  snprintf(want, sizeof want, "%d.%d.%d", v / 10000, v / 100 % 100, v % 100);
  ASSERT_STR_EQ(gort_version_string(), want);
}
END_TEST

/* ---- errors -------------------------------------------------------------- */

typedef struct {
  const char *name; /* "ETIMEDOUT" */
  int code;
  const char *msg;
} err_entry;

static const err_entry errs[] = {
#define X_(name, value, msg) {#name, (value), msg},
    GORT_ERRNO_MAP(X_)
#undef X_
};
#define NERRS ((int)(sizeof errs / sizeof errs[0]))

START_TEST(test_err_codes_distinct_negative)
{
  ASSERT_GE(NERRS, 16);
  for (int i = 0; i < NERRS; i++) {
    ASSERT_LT(errs[i].code, 0);
    for (int j = i + 1; j < NERRS; j++)
      ASSERT_NE(errs[i].code, errs[j].code);
  }
}
END_TEST

START_TEST(test_err_names_and_messages)
{
  for (int i = 0; i < NERRS; i++) {
    char want[64];
    snprintf(want, sizeof want, "GORT_%s", errs[i].name);
    const char *n = gort_err_name(errs[i].code);
    const char *m = gort_strerror(errs[i].code);
    ASSERT_NOT_NULL(n);
    ASSERT_NOT_NULL(m);
    ASSERT_STR_EQ(n, want);
    ASSERT_GT(strlen(m), 0);
    ASSERT_STR_EQ(m, errs[i].msg);
  }
}
END_TEST

START_TEST(test_err_code_round_trip)
{
  for (int i = 0; i < NERRS; i++) {
    char prefixed[64];
    snprintf(prefixed, sizeof prefixed, "GORT_%s", errs[i].name);
    ASSERT_EQ(gort_err_code(errs[i].name), errs[i].code);
    ASSERT_EQ(gort_err_code(prefixed), errs[i].code);
    ASSERT_EQ(gort_err_code(gort_err_name(errs[i].code)), errs[i].code);
  }
  ASSERT_EQ(gort_err_code("ENOSUCHERROR"), 0);
  ASSERT_EQ(gort_err_code("GORT_"), 0);
  ASSERT_EQ(gort_err_code(""), 0);
  ASSERT_EQ(gort_err_code("GORT_ETIMEDOUTX"), 0);
  ASSERT_EQ(gort_err_code("ETIMEDOU"), 0);
  ASSERT_EQ(gort_err_code(NULL), 0);
}
END_TEST

START_TEST(test_err_posix_values)
{
#if defined(__linux__)
  ASSERT_EQ(GORT_ETIMEDOUT, -ETIMEDOUT);
  ASSERT_EQ(GORT_EINVAL, -EINVAL);
  ASSERT_EQ(GORT_ENOMEM, -ENOMEM);
  ASSERT_EQ(GORT_EAGAIN, -EAGAIN);
  ASSERT_EQ(GORT_ECANCELED, -ECANCELED);
  ASSERT_EQ(GORT_EPIPE, -EPIPE);
  ASSERT_EQ(GORT_EBADF, -EBADF);
  ASSERT_EQ(GORT_EMFILE, -EMFILE);
  ASSERT_EQ(GORT_ECONNREFUSED, -ECONNREFUSED);
  ASSERT_EQ(GORT_ECONNRESET, -ECONNRESET);
  ASSERT_EQ(GORT_EADDRINUSE, -EADDRINUSE);
  ASSERT_EQ(GORT_EDEADLK, -EDEADLK);
  ASSERT_EQ(GORT_ENOTSUP, -ENOTSUP);
  ASSERT_EQ(GORT_EBUSY, -EBUSY);
  ASSERT_EQ(GORT_ESRCH, -ESRCH);
  /* The library reports the same values it was built with. */
  ASSERT_EQ(gort_err_code("ETIMEDOUT"), -ETIMEDOUT);
#endif
  ASSERT_EQ(GORT_ECLOSED, -4095);
  ASSERT_EQ(gort_never(), GORT_NEVER);
  ASSERT_EQ(GORT_NEVER, -1);
}
END_TEST

/* Socket calls pass on errno values outside the table: they still get the
 * system's message (glibc 2.32+ has a thread-safe constant one). */
START_TEST(test_err_other_errno)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
  ASSERT_STR_NE(gort_strerror(-EPERM), "unknown error");
  ASSERT_STR_NE(gort_strerror(-ENOBUFS), "unknown error");
#endif
  ASSERT_STR_EQ(gort_strerror(-4093), "unknown error");
}
END_TEST

START_TEST(test_err_unknown_codes)
{
  static const int odd[] = {0,      1,       -1,      12345, -12345,     -4094,
                            -99999, INT_MIN, INT_MAX, -4096, INT_MIN + 1};
  for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
    const char *m = gort_strerror(odd[i]);
    const char *n = gort_err_name(odd[i]);
    ASSERT_NOT_NULL(m);
    ASSERT_NOT_NULL(n);
    /* Readable: touch every byte. */
    ASSERT_LT(strlen(m), 4096);
    ASSERT_LT(strlen(n), 4096);
    /* An unknown code is not given the name of a known one. */
    if (!gt_errname(odd[i]))
      for (int j = 0; j < NERRS; j++) {
        char known[64];
        snprintf(known, sizeof known, "GORT_%s", errs[j].name);
        ASSERT_STR_NE(n, known);
      }
  }
}
END_TEST

/* ---- time ---------------------------------------------------------------- */

START_TEST(test_now_monotonic)
{
  int64_t prev = gort_now();
  ASSERT_GT(prev, 0);
  for (int i = 0; i < 100000; i++) {
    int64_t t = gort_now();
    ASSERT_GE(t, prev);
    prev = t;
  }
}
END_TEST

START_TEST(test_now_advances_with_real_time)
{
  int64_t t0 = gort_now(), o0 = gt_os_now();
  struct timespec ts = {0, 20 * 1000 * 1000};
  while (nanosleep(&ts, &ts) != 0) {
  }
  int64_t t1 = gort_now(), o1 = gt_os_now();
  ASSERT_GE(t1 - t0, GT_MS(20));
  /* Nanoseconds, not some other unit: within 50 ms of CLOCK_MONOTONIC's
   * measure of the same interval. */
  ASSERT_LE(llabs((t1 - t0) - (o1 - o0)), GT_MS(50));
}
END_TEST

static _Atomic int64_t now_bad;
static void *now_thread(void *arg)
{
  (void)arg;
  int64_t prev = gort_now();
  for (int i = 0; i < 200000; i++) {
    int64_t t = gort_now();
    if (t < prev)
      atomic_fetch_add(&now_bad, 1);
    prev = t;
  }
  return NULL;
}

START_TEST(test_now_monotonic_threads)
{
  pthread_t t[4];
  for (int i = 0; i < 4; i++)
    t[i] = gt_thread(now_thread, NULL);
  for (int i = 0; i < 4; i++)
    gt_thread_join(t[i]);
  ASSERT_EQ(atomic_load(&now_bad), 0);
}
END_TEST

/* ---- sizes and defaults -------------------------------------------------- */

START_TEST(test_sizeof_functions)
{
  ASSERT_EQ(gort_sizeof_mutex(), sizeof(gort_mutex));
  ASSERT_EQ(gort_sizeof_rwmutex(), sizeof(gort_rwmutex));
  ASSERT_EQ(gort_sizeof_cond(), sizeof(gort_cond));
  ASSERT_EQ(gort_sizeof_wg(), sizeof(gort_wg));
  ASSERT_EQ(gort_sizeof_once(), sizeof(gort_once));
  ASSERT_EQ(gort_sizeof_bargelock(), sizeof(gort_bargelock));
  if (!getenv("GORT_STACK_SIZE"))
    ASSERT_EQ(gort_stack_size_default(), 64 * 1024);
  else
    ASSERT_GT(gort_stack_size_default(), 0);
}
END_TEST

/* The static initialisers are all zero bytes, and a zeroed lock works from a
 * plain thread without any scheduler. */
START_TEST(test_static_init_zero)
{
  static const unsigned char zero[64];
  gort_mutex m = GORT_MUTEX_INIT;
  gort_rwmutex rw = GORT_RWMUTEX_INIT;
  gort_cond c = GORT_COND_INIT;
  gort_wg wg = GORT_WG_INIT;
  gort_once o = GORT_ONCE_INIT;
  gort_bargelock b = GORT_BARGELOCK_INIT;
  ASSERT_EQ(memcmp(&m, zero, sizeof m), 0);
  ASSERT_EQ(memcmp(&rw, zero, sizeof rw), 0);
  ASSERT_EQ(memcmp(&c, zero, sizeof c), 0);
  ASSERT_EQ(memcmp(&wg, zero, sizeof wg), 0);
  ASSERT_EQ(memcmp(&o, zero, sizeof o), 0);
  ASSERT_EQ(memcmp(&b, zero, sizeof b), 0);

  ASSERT_EQ(gort_mutex_lock(&m, GORT_NEVER), 0);
  ASSERT_EQ(gort_mutex_trylock(&m), GORT_EBUSY);
  ASSERT_EQ(gort_mutex_unlock(&m), 0);
  ASSERT_EQ(gort_wg_wait(&wg, 0), 0);
  ASSERT_EQ(gort_rwmutex_rlock(&rw, 0), 0);
  ASSERT_EQ(gort_rwmutex_runlock(&rw), 0);
  ASSERT_EQ(gort_bargelock_trylock(&b), 0);
  ASSERT_EQ(gort_bargelock_unlock(&b), 0);
  ASSERT_EQ(gort_cond_signal(&c), 0);
  ASSERT_EQ(gort_cond_broadcast(&c), 0);

  /* The init functions give the same state. */
  memset(&m, 0xA5, sizeof m);
  gort_mutex_init(&m);
  ASSERT_EQ(memcmp(&m, zero, sizeof m), 0);
  memset(&wg, 0xA5, sizeof wg);
  gort_wg_init(&wg);
  ASSERT_EQ(memcmp(&wg, zero, sizeof wg), 0);
}
END_TEST

START_TEST(test_self_outside_goroutine)
{
  ASSERT_NULL(gort_self());
  ASSERT_NULL(gort_lane_current());
}
END_TEST

/* ---- NULL handles -------------------------------------------------------- */

static void noop(void *arg)
{
  (void)arg;
}

/* Every entry point that takes a handle, given NULL. Runs both on the test's
 * thread and inside a goroutine. */
static void null_handles_body(void *arg)
{
  (void)arg;
  gort_mutex m = GORT_MUTEX_INIT;
  gort_cond c = GORT_COND_INIT;
  gort_once o = GORT_ONCE_INIT;
  void *res = NULL;

  ASSERT_EQ(gort_join(NULL, GORT_NEVER), GORT_EINVAL);
  ASSERT_EQ(gort_join(NULL, 0), GORT_EINVAL);
  ASSERT_EQ(gort_join(NULL, GT_PAST), GORT_EINVAL);
  ASSERT_EQ(gort_cancel(NULL), GORT_EINVAL);
  gort_g_release(NULL); /* a no-op */
  ASSERT_U64_EQ(gort_g_id(NULL), 0);
  ASSERT_LE(gort_g_cancelled(NULL), 0);

  ASSERT_EQ(gort_mutex_lock(NULL, GORT_NEVER), GORT_EINVAL);
  ASSERT_EQ(gort_mutex_lock(NULL, 0), GORT_EINVAL);
  ASSERT_EQ(gort_mutex_trylock(NULL), GORT_EINVAL);
  ASSERT_EQ(gort_mutex_unlock(NULL), GORT_EINVAL);

  ASSERT_EQ(gort_rwmutex_rlock(NULL, GORT_NEVER), GORT_EINVAL);
  ASSERT_EQ(gort_rwmutex_tryrlock(NULL), GORT_EINVAL);
  ASSERT_EQ(gort_rwmutex_runlock(NULL), GORT_EINVAL);
  ASSERT_EQ(gort_rwmutex_lock(NULL, GORT_NEVER), GORT_EINVAL);
  ASSERT_EQ(gort_rwmutex_trylock(NULL), GORT_EINVAL);
  ASSERT_EQ(gort_rwmutex_unlock(NULL), GORT_EINVAL);

  ASSERT_EQ(gort_cond_wait(NULL, &m, GORT_NEVER), GORT_EINVAL);
  ASSERT_EQ(gort_cond_wait(&c, NULL, GORT_NEVER), GORT_EINVAL);
  ASSERT_EQ(gort_cond_signal(NULL), GORT_EINVAL);
  ASSERT_EQ(gort_cond_broadcast(NULL), GORT_EINVAL);

  ASSERT_EQ(gort_wg_add(NULL, 1), GORT_EINVAL);
  ASSERT_EQ(gort_wg_done(NULL), GORT_EINVAL);
  ASSERT_EQ(gort_wg_wait(NULL, GORT_NEVER), GORT_EINVAL);

  ASSERT_EQ(gort_once_do(NULL, noop, NULL), GORT_EINVAL);
  ASSERT_EQ(gort_once_do(&o, NULL, NULL), GORT_EINVAL);

  ASSERT_EQ(gort_bargelock_lock(NULL, GORT_NEVER), GORT_EINVAL);
  ASSERT_EQ(gort_bargelock_trylock(NULL), GORT_EINVAL);
  ASSERT_EQ(gort_bargelock_unlock(NULL), GORT_EINVAL);

  ASSERT_EQ(gort_sema_new(NULL, 1), GORT_EINVAL);
  ASSERT_EQ(gort_sema_acquire(NULL, GORT_NEVER), GORT_EINVAL);
  ASSERT_EQ(gort_sema_release(NULL), GORT_EINVAL);
  ASSERT_EQ(gort_sema_value(NULL), GORT_EINVAL);
  gort_sema_free(NULL); /* a no-op */

  ASSERT_EQ(gort_sched_new(NULL, 1), GORT_EINVAL);
  ASSERT_EQ(gort_sched_shutdown(NULL, GORT_NEVER), GORT_EINVAL);
  ASSERT_EQ(gort_go(NULL, NULL), GORT_EINVAL);
  gort_g *g = NULL;
  ASSERT_EQ(gort_spawn(NULL, NULL, NULL, 0, &g), GORT_EINVAL);
  ASSERT_EQ(gort_blocking(NULL, NULL), GORT_EINVAL);

  ASSERT_EQ(gort_lane_new(NULL, NULL), GORT_EINVAL);
  ASSERT_EQ(gort_lane_spawn(NULL, noop, NULL, 0, NULL), GORT_EINVAL);
  ASSERT_EQ(gort_lane_close(NULL, GORT_NEVER), GORT_EINVAL);
  ASSERT_EQ(gort_foreign_spawn(NULL, NULL, NULL, NULL, NULL, 0, NULL),
            GORT_EINVAL);
  ASSERT_EQ(gort_foreign_result(NULL, &res), GORT_EINVAL);
}

START_TEST(test_null_handles_thread)
{
  null_handles_body(NULL);
}
END_TEST

START_TEST(test_null_handles_goroutine)
{
  gt_run_in(2, null_handles_body, NULL);
}
END_TEST

START_TEST(test_main_null_fn)
{
  ASSERT_EQ(gort_main(NULL, NULL), GORT_EINVAL);
}
END_TEST

/* A handle that is not NULL but wrong for the call: a plain goroutine has
 * no foreign result. */
static void foreign_result_plain(void *arg)
{
  (void)arg;
  gort_g *g = NULL;
  void *res = (void *)&res;
  ASSERT_EQ(gort_spawn(NULL, noop, NULL, 0, &g), 0);
  ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
  ASSERT_EQ(gort_foreign_result(g, &res), GORT_EINVAL);
  gort_g_release(g);
}

START_TEST(test_foreign_result_not_foreign)
{
  gt_run_in(1, foreign_result_plain, NULL);
}
END_TEST

/* Bad sizes: a negative semaphore count, a negative wg delta, a stack no
 * machine has. */
START_TEST(test_bad_values)
{
  gort_sched *sc = NULL;
  ASSERT_EQ(gort_sched_new(&sc, 1), 0);
  gort_g *g = NULL;
  ASSERT_ONE_OF(gort_spawn(sc, noop, NULL, SIZE_MAX, &g), GORT_EINVAL,
                GORT_ENOMEM);
  ASSERT_ONE_OF(gort_spawn(sc, noop, NULL, SIZE_MAX / 2, &g), GORT_EINVAL,
                GORT_ENOMEM);
  ASSERT_EQ(gort_sched_shutdown(sc, gt_long_deadline()), 0);
  gort_sema *s = NULL;
  ASSERT_EQ(gort_sema_new(&s, -1), GORT_EINVAL);
  gort_wg wg = GORT_WG_INIT;
  ASSERT_EQ(gort_wg_add(&wg, -1), GORT_EINVAL);
  ASSERT_EQ(gort_wg_wait(&wg, 0), 0);
  gort_mutex m = GORT_MUTEX_INIT;
  ASSERT_EQ(gort_mutex_unlock(&m), GORT_EINVAL);
}
END_TEST

static Suite *core_suite(void)
{
  Suite *s = suite_create("core");
  TCase *tc = gt_tcase(s, "version", 10);
  tcase_add_test(tc, test_version_number);
  tcase_add_test(tc, test_version_string);

  tc = gt_tcase(s, "errors", 10);
  tcase_add_test(tc, test_err_codes_distinct_negative);
  tcase_add_test(tc, test_err_names_and_messages);
  tcase_add_test(tc, test_err_code_round_trip);
  tcase_add_test(tc, test_err_posix_values);
  tcase_add_test(tc, test_err_unknown_codes);
  tcase_add_test(tc, test_err_other_errno);

  tc = gt_tcase(s, "time", 30);
  tcase_add_test(tc, test_now_monotonic);
  tcase_add_test(tc, test_now_advances_with_real_time);
  tcase_add_test(tc, test_now_monotonic_threads);

  tc = gt_tcase(s, "types", 10);
  tcase_add_test(tc, test_sizeof_functions);
  tcase_add_test(tc, test_static_init_zero);
  tcase_add_test(tc, test_self_outside_goroutine);

  tc = gt_tcase(s, "null", 120);
  tcase_add_test(tc, test_null_handles_thread);
  tcase_add_test(tc, test_null_handles_goroutine);
  tcase_add_test(tc, test_main_null_fn);
  tcase_add_test(tc, test_foreign_result_not_foreign);
  tcase_add_test(tc, test_bad_values);
  return s;
}

GT_MAIN(core_suite)
