/*
 * check_overflow.c - a goroutine that overflows its stack dies loudly.
 *
 * Each overflow runs in a child process whose stderr goes to a pipe. The
 * goroutine first sends its id down a second pipe, then recurses with a big
 * local array until it hits the guard page. The child must die of SIGABRT
 * after printing "goroutine N: stack overflow" with that id. Deep recursion
 * that stays within the stack is the control: it must not die.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

/* Recurses forever, 4 KiB a frame. volatile and the use of the callee's
 * result after the call keep the compiler from turning it into a loop or
 * shrinking the frame; the depth test is never true in practice and keeps
 * -Winfinite-recursion quiet. */
static int __attribute__((noinline, noclone))
recurse(volatile char *prev, long depth, long limit)
{
  volatile char buf[4096];
  buf[0] = (char)depth;
  buf[sizeof buf - 1] = prev ? prev[0] : 0;
  if (depth >= limit)
    return buf[0];
  int r = recurse(buf, depth + 1, limit);
  __asm__ volatile("" ::: "memory");
  return r + buf[sizeof buf - 1];
}

static int id_fd = -1;

static void overflow_fn(void *arg)
{
  (void)arg;
  uint64_t id = gort_g_id(gort_self());
  ssize_t w = write(id_fd, &id, sizeof id);
  (void)w;
  recurse(NULL, 0, 1L << 40);
  static const char msg[] = "overflow test: survived the recursion\n";
  w = write(2, msg, sizeof msg - 1);
  (void)w;
}

static void noop(void *arg)
{
  (void)arg;
}

static void busy_fn(void *arg)
{
  (void)arg;
  for (;;) {
    if (gort_sleep(GT_US(100)) != 0)
      return;
    gort_yield();
  }
}

enum { V_DEFAULT, V_BIG_STACK, V_MAIN, V_BUSY, V_N };

static void main_fn(void *arg)
{
  for (int i = 0; i < 3; i++)
    gort_go(noop, NULL);
  overflow_fn(arg);
}

/* In the child: never returns normally. */
static void child(int variant)
{
  gort_sched *s = NULL;
  gort_g *g = NULL;
  switch (variant) {
  case V_DEFAULT:
  case V_BIG_STACK:
  case V_BUSY:
    if (gort_sched_new(&s, variant == V_BUSY ? 4 : 2) != 0)
      _exit(10);
    /* Some goroutines first, so the one that overflows is not id 1. */
    for (int i = 0; i < 5; i++) {
      gort_g *h = NULL;
      if (gort_spawn(s, noop, NULL, 0, &h) != 0)
        _exit(11);
      gort_join(h, GORT_NEVER);
      gort_g_release(h);
    }
    if (variant == V_BUSY)
      for (int i = 0; i < 8; i++)
        gort_spawn(s, busy_fn, NULL, 0, NULL);
    if (gort_spawn(s, overflow_fn, NULL,
                   variant == V_BIG_STACK ? 256 * 1024 : 0, &g) != 0)
      _exit(12);
    gort_join(g, GORT_NEVER);
    _exit(13);
  case V_MAIN:
    gort_main(main_fn, NULL);
    _exit(14);
  }
  _exit(15);
}

START_TEST(test_stack_overflow_aborts)
{
  int errp[2], idp[2];
  ASSERT_EQ(pipe(errp), 0);
  ASSERT_EQ(pipe(idp), 0);
  fflush(NULL);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    close(errp[0]);
    close(idp[0]);
    dup2(errp[1], 2);
    close(errp[1]);
    id_fd = idp[1];
    child(_i);
  }
  close(errp[1]);
  close(idp[1]);

  char err[8192];
  size_t elen = 0;
  unsigned char idbuf[sizeof(uint64_t)];
  size_t ilen = 0;
  int err_open = 1, id_open = 1;
  int64_t end = gt_deadline(GT_SEC(30));
  while (err_open || id_open) {
    struct pollfd pf[2] = {{errp[0], POLLIN, 0}, {idp[0], POLLIN, 0}};
    int64_t left_ms = (end - gort_now()) / 1000000;
    if (left_ms <= 0)
      break;
    int rc = poll(pf, 2, (int)(left_ms > 1000 ? 1000 : left_ms));
    if (rc < 0)
      continue;
    if (err_open && (pf[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t r = read(errp[0], err + elen, sizeof err - 1 - elen);
      if (r <= 0)
        err_open = 0;
      else
        elen += (size_t)r;
    }
    if (id_open && (pf[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t r = read(idp[0], idbuf + ilen,
                       ilen < sizeof idbuf ? sizeof idbuf - ilen : 1);
      if (r <= 0)
        id_open = 0;
      else if (ilen < sizeof idbuf)
        ilen += (size_t)r;
    }
  }
  err[elen] = 0;
  int status = 0;
  if (err_open || id_open)
    kill(pid, SIGKILL); /* hung: fail below */
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  close(errp[0]);
  close(idp[0]);
  if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
    fprintf(stderr, "child stderr:\n%s\n", err);
  ASSERT_EQ(err_open, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  ASSERT_EQ(WTERMSIG(status), SIGABRT);
  ASSERT_EQ(ilen, sizeof(uint64_t));
  uint64_t id;
  memcpy(&id, idbuf, sizeof id);
  ASSERT_U64_NE(id, 0);
  char want[64];
  snprintf(want, sizeof want, "goroutine %" PRIu64 ": stack overflow", id);
  ASSERT_STR_CONTAINS(err, want);
}
END_TEST

/* ---- the control: deep but within bounds --------------------------------- */

typedef struct {
  long depth;
  int done;
} deep_t;
static void deep_fn(void *arg)
{
  deep_t *d = arg;
  recurse(NULL, 0, d->depth);
  d->done = 1;
}

START_TEST(test_deep_recursion_within_stack)
{
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  /* 6 x 4 KiB frames on the default 64 KiB stack; 128 on a 1 MiB one. */
  deep_t d1 = {6, 0}, d2 = {128, 0};
  gort_g *g = NULL;
  ASSERT_EQ(gort_spawn(s, deep_fn, &d1, 0, &g), 0);
  ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
  gort_g_release(g);
  ASSERT_EQ(gort_spawn(s, deep_fn, &d2, 1024 * 1024, &g), 0);
  ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
  gort_g_release(g);
  ASSERT_EQ(d1.done, 1);
  ASSERT_EQ(d2.done, 1);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

static Suite *overflow_suite(void)
{
  Suite *s = suite_create("overflow");
  TCase *tc = gt_tcase(s, "overflow", 120);
  tcase_add_loop_test(tc, test_stack_overflow_aborts, 0, V_N);
  tcase_add_test(tc, test_deep_recursion_within_stack);
  return s;
}

GT_MAIN(overflow_suite)
