/*
 * check_dump.c - gort_dump, GORT_DEBUG=schedtrace and dumponquit.
 *
 * The dump tests park goroutines in known places (a channel receive, a
 * mutex, a sleep, a lane) and poll gort_dump's output until each shows
 * there, then check its line. The start functions whose names are checked
 * are not static and the program is linked with -rdynamic: dladdr sees
 * only the dynamic symbol table.
 *
 * GORT_DEBUG is read once per process, at the first scheduler: those tests
 * fork a child that sets it, points its stderr at a pipe and starts the
 * runtime; the parent reads the pipe. They need Check's fork mode (the
 * test process must not have started the runtime before it forks).
 */
#include "testutil.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

/* ---- helpers ------------------------------------------------------------- */

/* Dumps into a temporary file and returns its text (malloc'd) and, in
 * *count, what gort_dump returned. */
static char *dump_text(int *count)
{
  FILE *f = tmpfile();
  ASSERT_NOT_NULL(f);
  int rc = gort_dump(fileno(f));
  ASSERT_GE(rc, 0);
  if (count)
    *count = rc;
  long len = lseek(fileno(f), 0, SEEK_END);
  ASSERT_GE(len, 0);
  char *s = malloc((size_t)len + 1);
  ASSERT_NOT_NULL(s);
  ASSERT_EQ(pread(fileno(f), s, (size_t)len, 0), len);
  s[len] = 0;
  fclose(f);
  return s;
}

/* The line of goroutine id in a dump (malloc'd), or NULL. */
static char *g_line(const char *text, uint64_t id)
{
  char key[48];
  snprintf(key, sizeof key, "goroutine %" PRIu64 " [", id);
  for (const char *p = text; p && *p;) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    if (strncmp(p, key, strlen(key)) == 0) {
      char *l = malloc(n + 1);
      ASSERT_NOT_NULL(l);
      memcpy(l, p, n);
      l[n] = 0;
      return l;
    }
    p = nl ? nl + 1 : NULL;
  }
  return NULL;
}

/* Polls gort_dump until goroutine id's line contains want; returns the
 * line (malloc'd). Fails at the never-deadline. */
static char *await_line(uint64_t id, const char *want)
{
  int64_t end = gt_long_deadline();
  for (;;) {
    char *t = dump_text(NULL);
    char *l = g_line(t, id);
    free(t);
    if (l && strstr(l, want))
      return l;
    if (gort_now() > end) {
      gt_dump();
      ASSERT_STR_CONTAINS(l ? l : "(no line)", want);
    }
    free(l);
    if (gort_self())
      gort_yield();
    else
      sched_yield();
  }
}

static int count_lines(const char *text, const char *prefix)
{
  int n = 0;
  size_t k = strlen(prefix);
  for (const char *p = text; p && *p;) {
    if (strncmp(p, prefix, k) == 0)
      n++;
    p = strchr(p, '\n');
    if (p)
      p++;
  }
  return n;
}

static char *addr_str(const void *p, char *buf, size_t len)
{
  snprintf(buf, len, "%p", p);
  return buf;
}

/* The "N ms" of a waiting goroutine's line. */
static int64_t wait_ms(const char *line)
{
  const char *c = strstr(line, ", ");
  ASSERT_NOT_NULL(c);
  char *end;
  long long v = strtoll(c + 2, &end, 10);
  ASSERT_TRUE(strncmp(end, " ms", 3) == 0);
  return v;
}

/* ---- goroutine bodies (not static: their names are checked) ------------ */

void dump_recv_worker(void *arg);
void dump_mutex_worker(void *arg);
void dump_sleep_worker(void *arg);
void dump_self_body(void *arg);

void dump_recv_worker(void *arg)
{
  int v;
  (void)gort_chan_recv(arg, &v, gt_long_deadline());
}

void dump_mutex_worker(void *arg)
{
  if (gort_mutex_lock(arg, gt_long_deadline()) == 0)
    gort_mutex_unlock(arg);
}

void dump_sleep_worker(void *arg)
{
  (void)arg;
  (void)gort_sleep_until(gt_long_deadline()); /* until cancelled */
}

static gort_g *spawn(gort_sched *s, void (*fn)(void *), void *arg)
{
  gort_g *g = NULL;
  ASSERT_EQ(gort_spawn(s, fn, arg, 0, &g), 0);
  ASSERT_NOT_NULL(g);
  return g;
}

static void join_release(gort_g *g)
{
  ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
  gort_g_release(g);
}

/* ---- gort_dump ----------------------------------------------------------- */

START_TEST(test_dump_wait_reasons)
{
  gort_sched *s = NULL;
  gort_chan *c = NULL;
  gort_mutex m = GORT_MUTEX_INIT;
  char a[32], want[96];
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  ASSERT_EQ(gort_chan_new(&c, sizeof(int), 0), 0);
  ASSERT_EQ(gort_mutex_lock(&m, GORT_NEVER), 0); /* this thread holds it */

  gort_g *gr = spawn(s, dump_recv_worker, c);
  gort_g *gm = spawn(s, dump_mutex_worker, &m);
  gort_g *gs = spawn(s, dump_sleep_worker, NULL);

  snprintf(want, sizeof want, "[chan receive %s, ", addr_str(c, a, sizeof a));
  char *lr = await_line(gort_g_id(gr), want);
  snprintf(want, sizeof want, "[mutex %s, ", addr_str(&m, a, sizeof a));
  char *lm = await_line(gort_g_id(gm), want);
  char *ls = await_line(gort_g_id(gs), "[sleep, ");

  /* start functions, by name */
  ASSERT_STR_CONTAINS(lr, "]: dump_recv_worker (+0x0");
  ASSERT_STR_CONTAINS(lm, "]: dump_mutex_worker (+0x0");
  ASSERT_STR_CONTAINS(ls, "]: dump_sleep_worker (+0x0");
  ASSERT_GE(wait_ms(lr), 0);

  /* the count is the number of goroutine lines, under one header */
  int n = 0;
  char *t = dump_text(&n);
  ASSERT_EQ(n, count_lines(t, "goroutine "));
  ASSERT_EQ(n, 3);
  snprintf(want, sizeof want, "scheduler %s: maxprocs=2 goroutines=3\n",
           addr_str(s, a, sizeof a));
  ASSERT_STR_CONTAINS(t, want);
  free(t);
  free(lr);
  free(lm);
  free(ls);

  int v = 1;
  ASSERT_EQ(gort_chan_send(c, &v, gt_long_deadline()), 0);
  ASSERT_EQ(gort_mutex_unlock(&m), 0);
  ASSERT_EQ(gort_cancel(gs), 0);
  join_release(gr);
  join_release(gm);
  join_release(gs);
  gort_chan_release(c);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

START_TEST(test_dump_wait_time_grows)
{
  gort_sched *s = NULL;
  gort_chan *c = NULL;
  ASSERT_EQ(gort_sched_new(&s, 1), 0);
  ASSERT_EQ(gort_chan_new(&c, sizeof(int), 0), 0);
  gort_g *g = spawn(s, dump_recv_worker, c);
  char *l = await_line(gort_g_id(g), "[chan receive ");
  int64_t first = wait_ms(l);
  free(l);
  /* the clock moves on while it waits: poll until the dump says so */
  int64_t end = gt_long_deadline(), now_ms = first;
  while (now_ms <= first && gort_now() < end) {
    sched_yield();
    l = await_line(gort_g_id(g), "[chan receive ");
    now_ms = wait_ms(l);
    free(l);
  }
  ASSERT_GT(now_ms, first);
  gort_chan_close(c);
  join_release(g);
  gort_chan_release(c);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* Every goroutine started is listed, by id, and the count says so. */
START_TEST(test_dump_lists_all)
{
  enum { N = 40 };
  gort_sched *s = NULL;
  gort_chan *c = NULL;
  gort_g *gs[N];
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  ASSERT_EQ(gort_chan_new(&c, sizeof(int), 0), 0);
  for (int i = 0; i < N; i++)
    gs[i] = spawn(s, dump_recv_worker, c);
  for (int i = 0; i < N; i++)
    free(await_line(gort_g_id(gs[i]), "[chan receive "));
  int n = 0;
  char *t = dump_text(&n);
  ASSERT_EQ(n, N);
  ASSERT_EQ(count_lines(t, "goroutine "), N);
  for (int i = 0; i < N; i++) {
    char *l = g_line(t, gort_g_id(gs[i]));
    ASSERT_NOT_NULL(l);
    free(l);
  }
  free(t);
  ASSERT_EQ(gort_chan_close(c), 0);
  for (int i = 0; i < N; i++)
    join_release(gs[i]);
  gort_chan_release(c);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* From a goroutine: it lists itself as running. */
static _Atomic int64_t self_ok;
void dump_self_body(void *arg)
{
  (void)arg;
  char *l = await_line(gort_g_id(gort_self()), "[running]");
  ASSERT_STR_CONTAINS(l, "]: dump_self_body (+0x0");
  free(l);
  atomic_store(&self_ok, 1);
}

START_TEST(test_dump_from_goroutine)
{
  atomic_store(&self_ok, 0);
  gt_run_in(2, dump_self_body, NULL);
  ASSERT_EQ(atomic_load(&self_ok), 1);
}
END_TEST

/* Into a pipe (a raw fd, no stdio), from a plain thread. */
START_TEST(test_dump_pipe)
{
  gort_sched *s = NULL;
  gort_chan *c = NULL;
  int p[2];
  char a[32], want[64];
  ASSERT_EQ(gort_sched_new(&s, 1), 0);
  ASSERT_EQ(gort_chan_new(&c, sizeof(int), 0), 0);
  gort_g *g = spawn(s, dump_recv_worker, c);
  free(await_line(gort_g_id(g), "[chan receive "));
  ASSERT_EQ(pipe(p), 0);
  ASSERT_EQ(gort_dump(p[1]), 1); /* a few hundred bytes: fits the pipe */
  close(p[1]);
  char buf[4096];
  size_t len = 0;
  ssize_t r;
  while ((r = read(p[0], buf + len, sizeof buf - 1 - len)) > 0)
    len += (size_t)r;
  buf[len] = 0;
  close(p[0]);
  snprintf(want, sizeof want, "scheduler %s: ", addr_str(s, a, sizeof a));
  ASSERT_STR_CONTAINS(buf, want);
  char *l = g_line(buf, gort_g_id(g));
  ASSERT_NOT_NULL(l);
  free(l);
  gort_chan_close(c);
  join_release(g);
  gort_chan_release(c);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* A reader that went away: GORT_EPIPE, and no SIGPIPE kills us. */
START_TEST(test_dump_closed_pipe)
{
  gort_sched *s = NULL;
  int p[2];
  ASSERT_EQ(gort_sched_new(&s, 1), 0);
  ASSERT_EQ(pipe(p), 0);
  close(p[0]);
  ASSERT_EQ(gort_dump(p[1]), GORT_EPIPE);
  close(p[1]);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

START_TEST(test_dump_bad_fd)
{
  ASSERT_EQ(gort_dump(-1), GORT_EBADF);
  int fd = open("/dev/null", O_WRONLY);
  ASSERT_GE(fd, 0);
  close(fd);
  ASSERT_EQ(gort_dump(fd), GORT_EBADF); /* closed */
  fd = open("/dev/null", O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(gort_dump(fd), GORT_EBADF); /* not open for writing */
  close(fd);
}
END_TEST

START_TEST(test_dump_lane)
{
  gort_sched *s = NULL;
  gort_lane *lane = NULL;
  gort_g *g = NULL;
  char a[32], want[64];
  ASSERT_EQ(gort_sched_new(&s, 1), 0);
  ASSERT_EQ(gort_lane_new(s, &lane), 0);
  ASSERT_EQ(gort_lane_spawn(lane, dump_sleep_worker, NULL, 0, &g), 0);
  snprintf(want, sizeof want, ", lane %s]: dump_sleep_worker",
           addr_str(lane, a, sizeof a));
  char *l = await_line(gort_g_id(g), "[sleep, ");
  ASSERT_STR_CONTAINS(l, want);
  free(l);
  ASSERT_EQ(gort_cancel(g), 0);
  join_release(g);
  ASSERT_EQ(gort_lane_close(lane, gt_long_deadline()), 0);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* Dumps while goroutines spawn, park, wake and exit around it: it must
 * never crash (and, under TSan, never race). */
typedef struct churn {
  gort_chan *c;
  _Atomic int stop;
  _Atomic int64_t rounds;
} churn;

static void churn_leaf(void *arg)
{
  churn *ch = arg;
  int v = 0;
  if (gort_chan_recv(ch->c, &v, gort_now() + GT_MS(1)) != 0)
    gort_sleep(GT_US(100));
}

static void churn_worker(void *arg)
{
  churn *ch = arg;
  while (!atomic_load(&ch->stop)) {
    int v = 1;
    ASSERT_EQ(gort_go(churn_leaf, ch), 0);
    (void)gort_chan_send(ch->c, &v, gort_now() + GT_US(200));
    gort_yield();
    atomic_fetch_add(&ch->rounds, 1);
  }
}

START_TEST(test_dump_under_churn)
{
  static churn ch;
  gort_sched *s = NULL;
  gort_g *w[4];
  memset(&ch, 0, sizeof ch);
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  ASSERT_EQ(gort_chan_new(&ch.c, sizeof(int), 0), 0);
  for (int i = 0; i < 4; i++)
    w[i] = spawn(s, churn_worker, &ch);
  int fd = open("/dev/null", O_WRONLY);
  ASSERT_GE(fd, 0);
  int64_t n = SCALED(300);
  for (int64_t i = 0; i < n; i++)
    ASSERT_GE(gort_dump(fd), 0);
  close(fd);
  ASSERT_TRUE(gt_await_ge(&ch.rounds, 1));
  atomic_store(&ch.stop, 1);
  for (int i = 0; i < 4; i++)
    join_release(w[i]);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
  gort_chan_release(ch.c);
}
END_TEST

/* ---- GORT_DEBUG, in a child process -------------------------------------- */

typedef struct child_out {
  char text[65536];
  size_t len;
  int status;
} child_out;

/* Forks a child that runs body with GORT_DEBUG=debug (NULL: unset) and its
 * stderr on a pipe. Reads the pipe until it closes or, if until is not
 * NULL, until until appears (then kills the child); reaps the child. */
static void run_child(const char *debug, void (*body)(void), const char *until,
                      child_out *co)
{
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  fflush(NULL);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core); /* SIGQUIT dumps core by default */
    /* a shell without job control starts background jobs with SIGQUIT
     * ignored, and exec keeps that: the tests want the default action */
    signal(SIGQUIT, SIG_DFL);
    close(p[0]);
    dup2(p[1], 2);
    close(p[1]);
    if (debug)
      setenv("GORT_DEBUG", debug, 1);
    else
      unsetenv("GORT_DEBUG");
    body();
    _exit(0);
  }
  close(p[1]);
  co->len = 0;
  int open_ = 1, found = 0;
  int64_t end = gt_long_deadline();
  while (open_ && !found) {
    struct pollfd pf = {p[0], POLLIN, 0};
    int64_t left_ms = (end - gort_now()) / 1000000;
    if (left_ms <= 0)
      break;
    if (poll(&pf, 1, (int)(left_ms > 1000 ? 1000 : left_ms)) <= 0)
      continue;
    ssize_t r = read(p[0], co->text + co->len, sizeof co->text - 1 - co->len);
    if (r <= 0) {
      open_ = 0;
    } else {
      co->len += (size_t)r;
      co->text[co->len] = 0;
      found = until && strstr(co->text, until) != NULL;
    }
  }
  co->text[co->len] = 0;
  if (open_)
    kill(pid, SIGKILL); /* done reading, or hung */
  ASSERT_EQ(waitpid(pid, &co->status, 0), pid);
  close(p[0]);
  if (until && !found)
    fprintf(stderr, "child stderr:\n%s\n", co->text);
  if (until)
    ASSERT_TRUE(found);
}

/* An idle scheduler and one goroutine that runs now and then. */
static void trace_child(void)
{
  gort_sched *s = NULL;
  gort_g *g = NULL;
  if (gort_sched_new(&s, 2) != 0 ||
      gort_spawn(s, dump_sleep_worker, NULL, 0, &g) != 0)
    _exit(3);
  for (;;)
    pause(); /* the parent kills us */
}

START_TEST(test_schedtrace)
{
  GT_REQUIRE_FORK();
  static child_out co;
  /* an unknown key is ignored, as GODEBUG does */
  run_child("nosuchkey=7,schedtrace=50", trace_child, "\nSCHED ", &co);
  /* several lines, each Go's shape, one queue length per P */
  const char *l = strstr(co.text, "SCHED ");
  ASSERT_TRUE(l == co.text);
  ASSERT_GE(count_lines(co.text, "SCHED "), 2);
  ASSERT_STR_CONTAINS(l, "ms: gomaxprocs=2 idleprocs=");
  ASSERT_STR_CONTAINS(l, " threads=");
  ASSERT_STR_CONTAINS(l, " spinningthreads=");
  ASSERT_STR_CONTAINS(l, " idlethreads=");
  ASSERT_STR_CONTAINS(l, " goroutines=1 runqueue=");
  const char *br = strchr(l, '[');
  ASSERT_NOT_NULL(br);
  unsigned q0, q1;
  ASSERT_EQ(sscanf(br, "[%u %u]", &q0, &q1), 2);
}
END_TEST

static gort_chan *quit_chan;

static void quit_child(void)
{
  gort_sched *s = NULL;
  gort_g *g = NULL;
  if (gort_sched_new(&s, 2) != 0 ||
      gort_chan_new(&quit_chan, sizeof(int), 0) != 0 ||
      gort_spawn(s, dump_recv_worker, quit_chan, 0, &g) != 0)
    _exit(3);
  /* parked before the signal: the dump should say where (into /dev/null
   * while polling, so only the SIGQUIT dump reaches stderr) */
  int64_t end = gt_long_deadline();
  for (;;) {
    FILE *f = tmpfile();
    if (!f || gort_dump(fileno(f)) < 0)
      _exit(4);
    char buf[4096];
    ssize_t n = pread(fileno(f), buf, sizeof buf - 1, 0);
    fclose(f);
    buf[n > 0 ? n : 0] = 0;
    if (strstr(buf, "[chan receive "))
      break;
    if (gort_now() > end)
      _exit(5);
    sched_yield();
  }
  kill(getpid(), SIGQUIT); /* process-directed: this thread takes it */
  for (;;)
    pause();
}

START_TEST(test_dumponquit)
{
  GT_REQUIRE_FORK();
  static child_out co;
  run_child("dumponquit=1", quit_child, NULL, &co);
  if (!WIFSIGNALED(co.status) || WTERMSIG(co.status) != SIGQUIT)
    fprintf(stderr, "child stderr:\n%s\n", co.text);
  ASSERT_TRUE(WIFSIGNALED(co.status));
  ASSERT_EQ(WTERMSIG(co.status), SIGQUIT);
  ASSERT_STR_CONTAINS(co.text, "SIGQUIT: quit\n");
  ASSERT_STR_CONTAINS(co.text, "\nscheduler 0x");
  ASSERT_STR_CONTAINS(co.text, "\ngoroutine ");
  ASSERT_STR_CONTAINS(co.text, "[chan receive ");
  ASSERT_STR_CONTAINS(co.text, "]: dump_recv_worker (+0x0");
}
END_TEST

START_TEST(test_quit_not_caught_by_default)
{
  GT_REQUIRE_FORK();
  static child_out co;
  run_child(NULL, quit_child, NULL, &co);
  ASSERT_TRUE(WIFSIGNALED(co.status));
  ASSERT_EQ(WTERMSIG(co.status), SIGQUIT);
  /* (a tool the test runs under may say how the child died: only our own
   * lines are looked for) */
  ASSERT_TRUE(strstr(co.text, "goroutine ") == NULL);
  ASSERT_TRUE(strstr(co.text, "SIGQUIT: quit") == NULL);
  ASSERT_TRUE(strstr(co.text, "SCHED ") == NULL); /* no schedtrace either */
}
END_TEST

static Suite *dump_suite(void)
{
  Suite *s = suite_create("dump");
  TCase *tc = gt_tcase(s, "dump", 60);
  tcase_add_test(tc, test_dump_wait_reasons);
  tcase_add_test(tc, test_dump_wait_time_grows);
  tcase_add_test(tc, test_dump_lists_all);
  tcase_add_test(tc, test_dump_from_goroutine);
  tcase_add_test(tc, test_dump_pipe);
  tcase_add_test(tc, test_dump_closed_pipe);
  tcase_add_test(tc, test_dump_bad_fd);
  tcase_add_test(tc, test_dump_lane);
  tcase_add_test(tc, test_dump_under_churn);
  tc = gt_tcase(s, "debug", 60);
  tcase_add_test(tc, test_schedtrace);
  tcase_add_test(tc, test_dumponquit);
  tcase_add_test(tc, test_quit_not_caught_by_default);
  return s;
}

GT_MAIN(dump_suite)
