/*
 * check_net.c - the poller and sockets through the public API only
 * (include/gort.h, "Poller and sockets"), as a user would drive them.
 *
 *  - scale: 10,000 concurrent connections through an echo server, one
 *    goroutine per connection on each side (the process needs ~20,000
 *    descriptors: RLIMIT_NOFILE is raised to the hard limit, the count
 *    shrinks to fit with a note);
 *  - full duplex: a reader and a writer on each end of one conn at once,
 *    large transfers both ways, every byte checked;
 *  - deadlines in read, write, accept and dial; 0 (only try) and past;
 *  - close while blocked (read, write, accept wake with GORT_ECLOSED) and
 *    the descriptor-number reuse race behind it; cancellation;
 *  - EMFILE: accept backs off and retries until its deadline, and serves
 *    again once descriptors are free;
 *  - UDP, unix stream/datagram/abstract, IPv6 loopback, address text,
 *    refused dials, half-close, peer reset, SIGPIPE, adopting socketpairs
 *    and pipes, gort_fd_wait, the poller backend, plain threads, bad input.
 *
 * Only 127.0.0.1 and ::1 are used. Sleeps never synchronise: a goroutine
 * is known to be parked in a socket call only when gort_dump shows it in
 * "IO wait" (closing a conn frees it, so closing before the victim is
 * inside its call would be the test's own use-after-free). No test assumes
 * a single P runs one goroutine at a time: sysmon hands a P away from a
 * goroutine that keeps its thread.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#define ADDRLEN 128

/* ---- helpers ------------------------------------------------------------- */

/* A short pause, only to let something happen sooner; never relied on. */
static void nap(int64_t ns)
{
  if (gort_self()) {
    gort_sleep(ns);
  } else {
    struct timespec ts = {ns / 1000000000, ns % 1000000000};
    nanosleep(&ts, NULL);
  }
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

static gort_listener *listen_on(const char *net, const char *address,
                                char *addr /* ADDRLEN */)
{
  gort_listener *l = NULL;
  ASSERT_EQ(gort_listen(&l, net, address), 0);
  ASSERT_NOT_NULL(l);
  ASSERT_GE(gort_listener_addr(l, addr, ADDRLEN), 0);
  return l;
}

static gort_listener *listen_tcp(char *addr)
{
  return listen_on("tcp", "127.0.0.1:0", addr);
}

static gort_conn *dial(const char *net, const char *addr)
{
  gort_conn *c = NULL;
  ASSERT_EQ(gort_dial(&c, net, addr, gt_long_deadline()), 0);
  ASSERT_NOT_NULL(c);
  return c;
}

static gort_conn *accept1(gort_listener *l)
{
  gort_conn *c = NULL;
  ASSERT_EQ(gort_accept(l, &c, gt_long_deadline()), 0);
  ASSERT_NOT_NULL(c);
  return c;
}

/* A connected TCP pair over 127.0.0.1 (the dial completes through the
 * backlog before the accept). */
static void tcp_pair(gort_conn **a, gort_conn **b)
{
  char addr[ADDRLEN];
  gort_listener *l = listen_tcp(addr);
  *a = dial("tcp", addr);
  *b = accept1(l);
  ASSERT_EQ(gort_listener_close(l), 0);
}

/* A socketpair, both ends adopted. */
static void sock_pair(gort_conn **a, gort_conn **b, int type)
{
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
  *a = *b = NULL;
  ASSERT_EQ(gort_conn_adopt(a, sv[0]), 0);
  ASSERT_EQ(gort_conn_adopt(b, sv[1]), 0);
  ASSERT_NOT_NULL(*a);
  ASSERT_NOT_NULL(*b);
}

static void close_conn(gort_conn *c)
{
  ASSERT_EQ(gort_conn_close(c), 0);
}

static void read_full(gort_conn *c, void *buf, size_t n)
{
  int64_t end = gt_long_deadline();
  size_t got = 0;
  while (got < n) {
    ssize_t r = gort_read(c, (char *)buf + got, n - got, end);
    ASSERT_GT(r, 0);
    got += (size_t)r;
  }
}

static void write_all(gort_conn *c, const void *buf, size_t n)
{
  ASSERT_EQ(gort_write(c, buf, n, gt_long_deadline()), (int64_t)n);
}

static void write_str(gort_conn *c, const char *s)
{
  write_all(c, s, strlen(s));
}

/* Reads exactly strlen(want) bytes and compares. */
static void expect_str(gort_conn *c, const char *want)
{
  char buf[256];
  size_t n = strlen(want);
  ASSERT_LT(n, sizeof buf);
  read_full(c, buf, n);
  buf[n] = 0;
  ASSERT_STR_EQ(buf, want);
}

static void expect_eof(gort_conn *c)
{
  char buf[16];
  ASSERT_EQ(gort_read(c, buf, sizeof buf, gt_long_deadline()), 0);
}

/* Small kernel buffers, so that a writer fills them quickly. */
static void shrink_bufs(gort_conn *c, int bytes)
{
  int fd = (int)gort_conn_handle(c);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes), 0);
  ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes), 0);
}

/* "127.0.0.1:41234" -> 41234; fails unless the text ends in a port. */
static int port_of(const char *addr)
{
  const char *colon = strrchr(addr, ':');
  ASSERT_NOT_NULL(colon);
  char *end = NULL;
  long p = strtol(colon + 1, &end, 10);
  ASSERT_TRUE(end && *end == 0 && end != colon + 1);
  ASSERT_GT(p, 0);
  ASSERT_LE(p, 65535);
  return (int)p;
}

static int starts_with(const char *s, const char *prefix)
{
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- "is it parked?" through gort_dump ---------------------------------- */

static FILE *dump_file;

/* 1 if gort_dump shows goroutine id waiting for one of reasons (NULL
 * ended): "IO wait" (parked on a descriptor), "mutex" (queued behind
 * another reader or writer of the same conn). */
static int waiting_in(uint64_t id, const char *const *reasons)
{
  if (!dump_file) {
    dump_file = tmpfile();
    ASSERT_NOT_NULL(dump_file);
  }
  int fd = fileno(dump_file);
  ASSERT_EQ(ftruncate(fd, 0), 0);
  ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
  ASSERT_GE(gort_dump(fd), 0);
  off_t len = lseek(fd, 0, SEEK_END);
  ASSERT_GE(len, 0);
  char *text = malloc((size_t)len + 1);
  ASSERT_NOT_NULL(text);
  ASSERT_EQ(pread(fd, text, (size_t)len, 0), len);
  text[len] = 0;
  char key[64];
  int found = 0;
  for (int r = 0; reasons[r] && !found; r++) {
    snprintf(key, sizeof key, "goroutine %" PRIu64 " [%s", id, reasons[r]);
    for (const char *p = text; p && *p && !found;) {
      found = starts_with(p, key);
      p = strchr(p, '\n');
      if (p)
        p++;
    }
  }
  free(text);
  return found;
}

static const char *const io_wait[] = {"IO wait", NULL};
static const char *const io_or_queued[] = {"IO wait", "mutex", NULL};

/* Waits until g has said it is about to make its call (*started >= 1) and
 * gort_dump shows it parked for one of reasons. */
static void await_waiting(gort_g *g, _Atomic int64_t *started,
                          const char *const *reasons)
{
  ASSERT_TRUE(gt_await_ge(started, 1));
  uint64_t id = gort_g_id(g);
  int64_t end = gt_long_deadline();
  for (int i = 0; !waiting_in(id, reasons); i++) {
    if (gort_now() > end) {
      gt_dump();
      ASSERT_TRUE(!"the goroutine never showed as parked in IO wait");
    }
    if (i < 10)
      gt_relax();
    else
      nap(GT_US(200));
  }
}

static void await_io_wait(gort_g *g, _Atomic int64_t *started)
{
  await_waiting(g, started, io_wait);
}

/* ---- descriptors --------------------------------------------------------- */

/* Makes room for n * per descriptors (plus a reserve) by raising the soft
 * RLIMIT_NOFILE toward the hard one; returns n, or fewer (with a note) if
 * the hard limit is too low. */
static int fit_fds(int n, int per, const char *what)
{
  const int reserve = 64;
  struct rlimit rl;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  rlim_t need = (rlim_t)n * (rlim_t)per + (rlim_t)reserve;
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
    return n;
  struct rlimit want = rl;
  want.rlim_cur = rl.rlim_max == RLIM_INFINITY ? need : rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &want) != 0 && want.rlim_cur > need) {
    want.rlim_cur = need; /* the hard limit may exceed what the kernel takes */
    (void)setrlimit(RLIMIT_NOFILE, &want);
  }
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_cur >= need)
    return n;
  int fit = rl.rlim_cur > (rlim_t)reserve
                ? (int)((rl.rlim_cur - (rlim_t)reserve) / (rlim_t)per)
                : 0;
  fprintf(stderr,
          "%s: note: RLIMIT_NOFILE %llu (hard %llu) is too low for %d "
          "connections; running %d\n",
          what, (unsigned long long)rl.rlim_cur,
          (unsigned long long)rl.rlim_max, n, fit);
  return fit;
}

/* ---- scale: many concurrent connections through an echo server ----------- */

enum { ECHO_MSGS = 4, ECHO_MAXMSG = 1500, ECHO_GATE = 128 };

static struct {
  gort_listener *l;
  char addr[ADDRLEN];
  int n;
  gort_sema *gate; /* connections between dial and first echo */
  gort_wg connected, clients, handlers;
  _Atomic int64_t echoed, max_open, open;
} es;

static size_t echo_msg(int i, int k, unsigned char *buf)
{
  uint64_t h = mix64((uint64_t)i * 16 + (uint64_t)k + 1);
  size_t len = 1 + (size_t)(h % ECHO_MAXMSG);
  for (size_t j = 0; j < len; j++)
    buf[j] = (unsigned char)(h >> (8 * (j % 8))) ^ (unsigned char)j;
  return len;
}

static void echo_handler(void *arg)
{
  gort_conn *c = arg;
  char buf[2048];
  for (;;) {
    ssize_t n = gort_read(c, buf, sizeof buf, gt_long_deadline());
    if (n == 0)
      break;
    ASSERT_GT(n, 0);
    ASSERT_EQ(gort_write(c, buf, (size_t)n, gt_long_deadline()), n);
    atomic_fetch_add(&es.echoed, n);
  }
  close_conn(c);
  gort_wg_done(&es.handlers);
}

static void echo_acceptor(void *arg)
{
  (void)arg;
  for (int i = 0; i < es.n; i++) {
    gort_conn *c = accept1(es.l);
    ASSERT_EQ(gort_wg_add(&es.handlers, 1), 0);
    ASSERT_EQ(gort_spawn(NULL, echo_handler, c, 0, NULL), 0);
  }
}

static void echo_roundtrip(gort_conn *c, int i, int k)
{
  unsigned char want[ECHO_MAXMSG], got[ECHO_MAXMSG];
  size_t len = echo_msg(i, k, want);
  write_all(c, want, len);
  read_full(c, got, len);
  ASSERT_EQ(memcmp(want, got, len), 0);
}

static void echo_client(void *arg)
{
  int i = (int)(intptr_t)arg;
  ASSERT_EQ(gort_sema_acquire(es.gate, gt_long_deadline()), 0);
  gort_conn *c = dial("tcp", es.addr);
  echo_roundtrip(c, i, 0);
  ASSERT_EQ(gort_sema_release(es.gate), 0);
  int64_t open = atomic_fetch_add(&es.open, 1) + 1;
  for (int64_t m = atomic_load(&es.max_open); open > m;)
    if (atomic_compare_exchange_weak(&es.max_open, &m, open))
      break;
  /* every connection is open at once before any goes on */
  ASSERT_EQ(gort_wg_done(&es.connected), 0);
  ASSERT_EQ(gort_wg_wait(&es.connected, gt_long_deadline()), 0);
  for (int k = 1; k < ECHO_MSGS; k++)
    echo_roundtrip(c, i, k);
  ASSERT_EQ(gort_conn_shutdown(c, GORT_SHUT_WR), 0);
  expect_eof(c); /* the handler saw our EOF and closed */
  atomic_fetch_sub(&es.open, 1);
  close_conn(c);
  gort_wg_done(&es.clients);
}

static void echo_many_body(void *arg)
{
  (void)arg;
  int64_t t0 = gt_os_now();
  es.l = listen_tcp(es.addr);
  ASSERT_EQ(gort_sema_new(&es.gate, ECHO_GATE), 0);
  ASSERT_EQ(gort_wg_add(&es.connected, es.n), 0);
  ASSERT_EQ(gort_wg_add(&es.clients, es.n), 0);
  gort_g *acc = gt_spawn(echo_acceptor, NULL);
  for (int i = 0; i < es.n; i++)
    ASSERT_EQ(gort_spawn(NULL, echo_client, (void *)(intptr_t)i, 0, NULL), 0);
  ASSERT_EQ(gort_wg_wait(&es.clients, gt_long_deadline()), 0);
  gt_join(acc);
  ASSERT_EQ(gort_wg_wait(&es.handlers, gt_long_deadline()), 0);
  ASSERT_EQ(gort_listener_close(es.l), 0);
  gort_sema_free(es.gate);
  int64_t want = 0;
  unsigned char buf[ECHO_MAXMSG];
  for (int i = 0; i < es.n; i++)
    for (int k = 0; k < ECHO_MSGS; k++)
      want += (int64_t)echo_msg(i, k, buf);
  ASSERT_EQ(atomic_load(&es.echoed), want);
  ASSERT_EQ(atomic_load(&es.max_open), es.n);
  fprintf(stderr,
          "echo: %d concurrent connections, %" PRId64 " bytes, %" PRId64
          " ms\n",
          es.n, want, (gt_os_now() - t0) / GT_MS(1));
}

START_TEST(test_echo_many)
{
  memset(&es, 0, sizeof es);
  es.n = fit_fds((int)SCALED(_i == 0 ? 10000 : 1000), 2, "echo");
  if (es.n < 1)
    return;
  gt_run_body(0, _i == 0 ? 2 : 1, echo_many_body, NULL);
}
END_TEST

/* ---- full duplex: a reader and a writer on each end at once -------------- */

typedef struct dx_dir {
  gort_conn *c;
  uint64_t seed;
  size_t total;
  uint64_t sum; /* FNV-1a of the stream, by the writer or the reader */
} dx_dir;

static unsigned char dx_byte(uint64_t seed, uint64_t pos)
{
  return (unsigned char)(((pos ^ seed) * 0x9E3779B97F4A7C15ull) >> 56);
}

static void dx_writer(void *arg)
{
  dx_dir *d = arg;
  enum { CHUNK = 65536 };
  unsigned char *buf = malloc(CHUNK);
  ASSERT_NOT_NULL(buf);
  uint64_t rnd = d->seed ^ 0x1234, sum = 0xcbf29ce484222325ull;
  size_t pos = 0;
  while (pos < d->total) {
    size_t n = 1 + (size_t)(gt_rand(&rnd) % CHUNK);
    if (n > d->total - pos)
      n = d->total - pos;
    for (size_t j = 0; j < n; j++) {
      buf[j] = dx_byte(d->seed, pos + j);
      sum = (sum ^ buf[j]) * 0x100000001b3ull;
    }
    write_all(d->c, buf, n);
    pos += n;
  }
  free(buf);
  d->sum = sum;
  ASSERT_EQ(gort_conn_shutdown(d->c, GORT_SHUT_WR), 0);
}

static void dx_reader(void *arg)
{
  dx_dir *d = arg;
  enum { CHUNK = 65536 };
  unsigned char *buf = malloc(CHUNK);
  ASSERT_NOT_NULL(buf);
  uint64_t rnd = d->seed ^ 0x5678, sum = 0xcbf29ce484222325ull;
  size_t pos = 0;
  int64_t end = gt_long_deadline();
  for (;;) {
    size_t want = 1 + (size_t)(gt_rand(&rnd) % CHUNK);
    ssize_t n = gort_read(d->c, buf, want, end);
    ASSERT_GE(n, 0);
    if (n == 0)
      break;
    ASSERT_LE(pos + (size_t)n, d->total);
    for (size_t j = 0; j < (size_t)n; j++) {
      if (buf[j] != dx_byte(d->seed, pos + j))
        ASSERT_EQ(buf[j], dx_byte(d->seed, pos + j)); /* reports pos */
      sum = (sum ^ buf[j]) * 0x100000001b3ull;
    }
    pos += (size_t)n;
  }
  ASSERT_U64_EQ(pos, d->total);
  free(buf);
  d->sum = sum;
}

static void *dx_writer_thread(void *arg)
{
  dx_writer(arg);
  return NULL;
}
static void *dx_reader_thread(void *arg)
{
  dx_reader(arg);
  return NULL;
}

enum { DX_TCP, DX_TCP_SMALLBUF, DX_UNIX, DX_THREADS, DX_NKIND };

static void duplex_body(void *arg)
{
  int kind = *(int *)arg;
  gort_conn *a, *b;
  if (kind == DX_UNIX)
    sock_pair(&a, &b, SOCK_STREAM);
  else
    tcp_pair(&a, &b);
  size_t total = (size_t)SCALED(8 << 20);
  if (kind == DX_TCP_SMALLBUF) {
    /* not smaller: with loopback's 64 KiB MTU a window below one segment
     * crawls on the persist timer, even between plain blocking threads */
    shrink_bufs(a, 32768);
    shrink_bufs(b, 32768);
    total = (size_t)SCALED(4 << 20);
  }
  int64_t t0 = gt_os_now();
  dx_dir aw = {a, 0xA11CE, total, 0}, br = {b, 0xA11CE, total, 0};
  dx_dir bw = {b, 0xB0B, total, 0}, ar = {a, 0xB0B, total, 0};
  gort_g *g_bw = gt_spawn(dx_writer, &bw), *g_br = gt_spawn(dx_reader, &br);
  if (kind == DX_THREADS) {
    /* a's reader and writer are plain threads on a goroutine's conn */
    pthread_t t_aw = gt_thread(dx_writer_thread, &aw);
    pthread_t t_ar = gt_thread(dx_reader_thread, &ar);
    gt_thread_join(t_aw);
    gt_thread_join(t_ar);
  } else {
    gort_g *g_aw = gt_spawn(dx_writer, &aw), *g_ar = gt_spawn(dx_reader, &ar);
    gt_join(g_aw);
    gt_join(g_ar);
  }
  gt_join(g_bw);
  gt_join(g_br);
  ASSERT_U64_EQ(aw.sum, br.sum);
  ASSERT_U64_EQ(bw.sum, ar.sum);
  close_conn(a);
  close_conn(b);
  static const char *const names[] = {"tcp", "tcp, small buffers", "unix",
                                      "tcp, one end on threads"};
  fprintf(stderr, "duplex(%s): %zu bytes each way, %" PRId64 " ms\n",
          names[kind], total, (gt_os_now() - t0) / GT_MS(1));
}

START_TEST(test_duplex)
{
  int kind = _i % DX_NKIND;
  gt_run_body(0, _i < DX_NKIND ? 2 : 1, duplex_body, &kind);
}
END_TEST

/* ---- deadlines ----------------------------------------------------------- */

static void deadline_body(void *arg)
{
  (void)arg;
  char buf[64], addr[ADDRLEN];
  gort_conn *a, *b, *c = NULL;
  int64_t dl;

  /* read */
  tcp_pair(&a, &b);
  ASSERT_EQ(gort_read(a, buf, sizeof buf, 0), GORT_EAGAIN);
  ASSERT_EQ(gort_read(a, buf, sizeof buf, GT_PAST), GORT_ETIMEDOUT);
  dl = gort_now() + GT_MS(30);
  ASSERT_EQ(gort_read(a, buf, sizeof buf, dl), GORT_ETIMEDOUT);
  ASSERT_GE(gort_now(), dl);
  /* a timed-out conn still works, both ways */
  write_str(b, "after timeouts");
  expect_str(a, "after timeouts");
  write_str(a, "and back");
  expect_str(b, "and back");

  /* write: fill both kernel buffers with nobody reading */
  shrink_bufs(a, 4096);
  shrink_bufs(b, 4096);
  size_t big = 8 << 20;
  char *p = calloc(1, big);
  ASSERT_NOT_NULL(p);
  dl = gort_now() + GT_MS(50);
  ASSERT_EQ(gort_write(a, p, big, dl), GORT_ETIMEDOUT);
  ASSERT_GE(gort_now(), dl);
  ASSERT_EQ(gort_write(a, p, 65536, 0), GORT_EAGAIN);
  ASSERT_EQ(gort_write(a, p, 1, GT_PAST), GORT_ETIMEDOUT);
  dl = gort_now() + GT_MS(20);
  ASSERT_EQ(gort_write(a, p, 65536, dl), GORT_ETIMEDOUT);
  ASSERT_GE(gort_now(), dl);
  free(p);
  close_conn(a);
  close_conn(b);

  /* deadline 0 finds data that is there (a socketpair delivers at once) */
  sock_pair(&a, &b, SOCK_STREAM);
  ASSERT_EQ(gort_read(a, buf, sizeof buf, 0), GORT_EAGAIN);
  ASSERT_EQ(gort_write(b, "now", 3, 0), 3);
  ASSERT_EQ(gort_read(a, buf, sizeof buf, 0), 3);
  ASSERT_EQ(memcmp(buf, "now", 3), 0);
  close_conn(a);
  close_conn(b);

  /* accept */
  gort_listener *l = listen_tcp(addr);
  ASSERT_EQ(gort_accept(l, &c, 0), GORT_EAGAIN);
  ASSERT_EQ(gort_accept(l, &c, GT_PAST), GORT_ETIMEDOUT);
  dl = gort_now() + GT_MS(30);
  ASSERT_EQ(gort_accept(l, &c, dl), GORT_ETIMEDOUT);
  ASSERT_GE(gort_now(), dl);

  /* dial: a past deadline never starts; 0 either connects at once or says
   * it would block; a short one to a listener nobody accepts from either
   * connects (the backlog takes it) or times out */
  ASSERT_EQ(gort_dial(&c, "tcp", addr, GT_PAST), GORT_ETIMEDOUT);
  int rc = gort_dial(&c, "tcp", addr, 0);
  ASSERT_ONE_OF(rc, 0, GORT_EAGAIN);
  if (rc == 0)
    close_conn(c);
  int connected = 0, timedout = 0, rounds = (int)SCALED(20);
  for (int i = 0; i < rounds; i++) {
    c = NULL;
    dl = gort_now() + GT_MS(20);
    rc = gort_dial(&c, "tcp", addr, dl);
    ASSERT_ONE_OF(rc, 0, GORT_ETIMEDOUT);
    if (rc == 0) {
      ASSERT_NOT_NULL(c);
      connected++;
      close_conn(c);
    } else {
      ASSERT_GE(gort_now(), dl);
      timedout++;
    }
  }
  /* the listener still serves afterwards */
  c = dial("tcp", addr);
  gort_conn *s = NULL;
  for (;;) { /* skip the ones dialled above, which may be queued first */
    ASSERT_EQ(gort_accept(l, &s, gt_long_deadline()), 0);
    char lbuf[ADDRLEN], pbuf[ADDRLEN];
    ASSERT_GE(gort_conn_local_addr(c, lbuf, sizeof lbuf), 0);
    ASSERT_GE(gort_conn_peer_addr(s, pbuf, sizeof pbuf), 0);
    if (strcmp(lbuf, pbuf) == 0)
      break;
    close_conn(s);
  }
  write_str(c, "served");
  expect_str(s, "served");
  close_conn(c);
  close_conn(s);
  ASSERT_EQ(gort_listener_close(l), 0);
  fprintf(stderr, "deadline: short dials: %d connected, %d timed out\n",
          connected, timedout);
}

START_TEST(test_deadlines)
{
  /* 0: a goroutine with 1 P; 1: 2 Ps; 2: the test's plain thread */
  gt_run_body(_i == 2, _i == 0 ? 1 : 2, deadline_body, NULL);
}
END_TEST

/* ---- close while blocked ------------------------------------------------- */

typedef struct victim {
  gort_conn *c;
  gort_listener *l;
  gort_conn *got; /* accept's result */
  void *buf;
  size_t len, want; /* read until want bytes (reader) */
  int64_t rc;
  _Atomic int64_t started;
} victim;

static void v_read(void *arg)
{
  victim *v = arg;
  atomic_store(&v->started, 1);
  size_t got = 0;
  do {
    v->rc =
        gort_read(v->c, (char *)v->buf + got, v->len - got, gt_long_deadline());
    if (v->rc > 0)
      got += (size_t)v->rc;
  } while (v->rc > 0 && got < v->want);
  if (v->rc > 0)
    v->rc = (int64_t)got;
}

static void v_write(void *arg)
{
  victim *v = arg;
  atomic_store(&v->started, 1);
  v->rc = gort_write(v->c, v->buf, v->len, gt_long_deadline());
}

static void v_accept(void *arg)
{
  victim *v = arg;
  atomic_store(&v->started, 1);
  v->rc = gort_accept(v->l, &v->got, gt_long_deadline());
}

enum { VK_READ, VK_WRITE, VK_ACCEPT, VK_NKIND };

static void close_blocked_body(void *arg)
{
  int kind = *(int *)arg;
  char addr[ADDRLEN], buf[64];
  victim v;
  memset(&v, 0, sizeof v);
  gort_conn *peer = NULL;
  /* v2 queues behind v: closing wakes both */
  victim v2;
  gort_g *g2;
  if (kind == VK_ACCEPT) {
    v.l = listen_tcp(addr);
    v2 = v;
    gort_g *g = gt_spawn(v_accept, &v);
    await_io_wait(g, &v.started);
    g2 = gt_spawn(v_accept, &v2);
    await_waiting(g2, &v2.started, io_or_queued);
    ASSERT_EQ(gort_listener_close(v.l), 0);
    gt_join(g);
    gt_join(g2);
    ASSERT_EQ(v.rc, GORT_ECLOSED);
    ASSERT_EQ(v2.rc, GORT_ECLOSED);
    ASSERT_NULL(v.got);
    ASSERT_NULL(v2.got);
    /* the socket is gone once the accepter has left */
    gort_conn *c = NULL;
    ASSERT_EQ(gort_dial(&c, "tcp", addr, gt_long_deadline()),
              GORT_ECONNREFUSED);
    return;
  }
  tcp_pair(&v.c, &peer);
  if (kind == VK_READ) {
    v.buf = buf;
    v.len = v.want = sizeof buf;
  } else {
    shrink_bufs(v.c, 4096);
    shrink_bufs(peer, 4096);
    v.len = 8 << 20;
    v.buf = calloc(1, v.len);
    ASSERT_NOT_NULL(v.buf);
  }
  v2 = v;
  void (*fn)(void *) = kind == VK_READ ? v_read : v_write;
  gort_g *g = gt_spawn(fn, &v);
  await_io_wait(g, &v.started);
  g2 = gt_spawn(fn, &v2);
  await_waiting(g2, &v2.started, io_or_queued);
  close_conn(v.c);
  gt_join(g);
  gt_join(g2);
  ASSERT_EQ(v.rc, GORT_ECLOSED);
  ASSERT_EQ(v2.rc, GORT_ECLOSED);
  /* the descriptor was really closed: the peer sees the end (after what
   * the writer got out) */
  if (kind == VK_READ) {
    expect_eof(peer);
  } else {
    char *sink = malloc(65536);
    ASSERT_NOT_NULL(sink);
    size_t total = 0;
    ssize_t n;
    while ((n = gort_read(peer, sink, 65536, gt_long_deadline())) > 0)
      total += (size_t)n;
    ASSERT_ONE_OF(n, 0, GORT_ECONNRESET);
    ASSERT_LT(total, v.len);
    free(sink);
    free(v.buf);
  }
  close_conn(peer);
}

START_TEST(test_close_blocked)
{
  int kind = _i % VK_NKIND;
  gt_run_body(0, _i < VK_NKIND ? 1 : 2, close_blocked_body, &kind);
}
END_TEST

/* ---- several accepters on one listener ----------------------------------- */

enum { MA_ACCEPTERS = 4 };

static struct {
  gort_listener *l;
  char addr[ADDRLEN];
  int n;
  _Atomic int64_t accepted, started;
  _Atomic unsigned char *seen; /* by client id */
  int64_t closed_rc[MA_ACCEPTERS];
} ma;

static void ma_accepter(void *arg)
{
  int k = (int)(intptr_t)arg;
  atomic_fetch_add(&ma.started, 1);
  for (;;) {
    gort_conn *c = NULL;
    int rc = gort_accept(ma.l, &c, gt_long_deadline());
    if (rc < 0) {
      ma.closed_rc[k] = rc;
      return;
    }
    uint32_t id = 0;
    read_full(c, &id, sizeof id);
    ASSERT_LT(id, (uint32_t)ma.n);
    ASSERT_EQ(atomic_fetch_add(&ma.seen[id], 1), 0);
    write_all(c, &id, sizeof id);
    close_conn(c);
    atomic_fetch_add(&ma.accepted, 1);
  }
}

static void ma_client(void *arg)
{
  uint32_t id = (uint32_t)(intptr_t)arg, back = ~0u;
  gort_conn *c = dial("tcp", ma.addr);
  write_all(c, &id, sizeof id);
  read_full(c, &back, sizeof back);
  ASSERT_EQ(back, id);
  expect_eof(c);
  close_conn(c);
}

static void accepters_body(void *arg)
{
  (void)arg;
  ma.n = (int)SCALED(400);
  ma.seen = calloc((size_t)ma.n, 1);
  ASSERT_NOT_NULL(ma.seen);
  ma.l = listen_tcp(ma.addr);
  gort_g *acc[MA_ACCEPTERS];
  for (int k = 0; k < MA_ACCEPTERS; k++)
    acc[k] = gt_spawn(ma_accepter, (void *)(intptr_t)k);
  gort_g **cl = calloc((size_t)ma.n, sizeof *cl);
  ASSERT_NOT_NULL(cl);
  for (int i = 0; i < ma.n; i++)
    cl[i] = gt_spawn(ma_client, (void *)(intptr_t)i);
  for (int i = 0; i < ma.n; i++)
    gt_join(cl[i]);
  free(cl);
  ASSERT_TRUE(gt_await_ge(&ma.accepted, ma.n));
  for (int i = 0; i < ma.n; i++)
    ASSERT_EQ(ma.seen[i], 1);
  /* all of them wait again (one on the socket, the rest queued): closing
   * the listener sends every one home with GORT_ECLOSED */
  static _Atomic int64_t one = 1;
  for (int k = 0; k < MA_ACCEPTERS; k++)
    await_waiting(acc[k], &one, io_or_queued);
  ASSERT_EQ(gort_listener_close(ma.l), 0);
  for (int k = 0; k < MA_ACCEPTERS; k++) {
    gt_join(acc[k]);
    ASSERT_EQ(ma.closed_rc[k], GORT_ECLOSED);
  }
  free((void *)ma.seen);
}

START_TEST(test_accepters)
{
  memset(&ma, 0, sizeof ma);
  gt_run_body(_i == 2, _i == 0 ? 1 : 2, accepters_body, NULL);
}
END_TEST

/* ---- Go's TCP defaults ------------------------------------------------------
 * Dialled and accepted TCP conns have Nagle off and keep-alive on, as Go's
 * net package sets them; an adopted socket keeps whatever it had. */

static int sockopt(gort_conn *c, int level, int name)
{
  int v = -1;
  socklen_t len = sizeof v;
  ASSERT_EQ(getsockopt((int)gort_conn_handle(c), level, name, &v, &len), 0);
  return v;
}

static void tcpdef_body(void *arg)
{
  (void)arg;
  char addr[ADDRLEN];
  gort_listener *l = listen_tcp(addr);
  gort_conn *d = dial("tcp", addr), *a = NULL;
  ASSERT_EQ(gort_accept(l, &a, gt_long_deadline()), 0);
  ASSERT_NE(sockopt(d, IPPROTO_TCP, TCP_NODELAY), 0);
  ASSERT_NE(sockopt(a, IPPROTO_TCP, TCP_NODELAY), 0);
  ASSERT_NE(sockopt(d, SOL_SOCKET, SO_KEEPALIVE), 0);
  ASSERT_NE(sockopt(a, SOL_SOCKET, SO_KEEPALIVE), 0);
  int sv[2];
  gort_conn *p = NULL;
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ASSERT_EQ(gort_conn_adopt(&p, sv[0]), 0);
  ASSERT_EQ(sockopt(p, SOL_SOCKET, SO_KEEPALIVE), 0);
  ASSERT_EQ(gort_conn_close(p), 0);
  close(sv[1]);
  ASSERT_EQ(gort_conn_close(a), 0);
  ASSERT_EQ(gort_conn_close(d), 0);
  ASSERT_EQ(gort_listener_close(l), 0);
}

START_TEST(test_tcp_defaults)
{
  gt_run_body(0, 1, tcpdef_body, NULL);
}
END_TEST

/* ---- end of stream right behind the data ---------------------------------
 * The peer writes a little and closes at once, so the data and the end of
 * stream often arrive in one readiness edge. A short read must not make the
 * next read wait for an edge that will never come (gort_read skips the
 * read that would say EAGAIN after a short one, unless the peer hung up). */

typedef struct eofsrv {
  gort_listener *l;
  int rounds;
} eofsrv;

static void eof_server(void *arg)
{
  eofsrv *ef = arg;
  for (int r = 0; r < ef->rounds; r++) {
    gort_conn *c = NULL;
    ASSERT_EQ(gort_accept(ef->l, &c, gt_long_deadline()), 0);
    ASSERT_EQ(gort_write(c, "hello", 5, gt_long_deadline()), 5);
    if (r % 2)
      ASSERT_EQ(gort_conn_shutdown(c, GORT_SHUT_WR), 0);
    ASSERT_EQ(gort_conn_close(c), 0);
  }
}

static void eof_body(void *arg)
{
  (void)arg;
  char addr[ADDRLEN];
  eofsrv ef = {listen_tcp(addr), (int)SCALED(300)};
  gort_g *g = gt_spawn(eof_server, &ef);
  for (int r = 0; r < ef.rounds; r++) {
    gort_conn *c = dial("tcp", addr);
    char buf[256];
    ssize_t got = 0, n;
    /* the first read may return the data, then the next one must see
     * the end promptly (a lost edge would hang until the deadline) */
    while ((n = gort_read(c, buf + got, sizeof buf - (size_t)got,
                          gt_long_deadline())) > 0)
      got += n;
    ASSERT_EQ(n, 0);
    ASSERT_EQ(got, 5);
    ASSERT_EQ(memcmp(buf, "hello", 5), 0);
    ASSERT_EQ(gort_conn_close(c), 0);
  }
  gt_join(g);
  ASSERT_EQ(gort_listener_close(ef.l), 0);
}

START_TEST(test_eof_after_data)
{
  gt_run_body(_i == 2, _i == 0 ? 1 : 2, eof_body, NULL);
}
END_TEST

/* ---- Go's shutdown pattern ------------------------------------------------
 * A server goroutine loops on gort_accept, closing each conn it gets, until
 * accept fails; another goroutine closes the listener whenever it likes:
 * often while the loop is between two calls, not inside one. The late call
 * must return GORT_ECLOSED (the handle is kept, marked closed, for a while
 * after close), never touch freed memory. Run under valgrind and ASan. */

typedef struct loopsrv {
  gort_listener *l;
  _Atomic int accepted;
  int last_rc;
} loopsrv;

static void loop_server(void *arg)
{
  loopsrv *ls = arg;
  gort_conn *c;
  int rc;
  while ((rc = gort_accept(ls->l, &c, gt_long_deadline())) == 0) {
    atomic_fetch_add(&ls->accepted, 1);
    ASSERT_EQ(gort_conn_close(c), 0);
  }
  ls->last_rc = rc;
}

static void loopclose_body(void *arg)
{
  (void)arg;
  int rounds = (int)SCALED(200);
  for (int r = 0; r < rounds; r++) {
    char addr[ADDRLEN];
    loopsrv ls = {listen_tcp(addr), 0, 0};
    gort_g *g = gt_spawn(loop_server, &ls);
    int n = 1 + r % 4;
    for (int k = 0; k < n; k++) {
      gort_conn *c = dial("tcp", addr);
      ASSERT_EQ(gort_conn_close(c), 0);
    }
    if (r % 2)
      gt_relax(); /* sometimes let the loop catch up, sometimes not */
    ASSERT_EQ(gort_listener_close(ls.l), 0);
    ASSERT_EQ(gort_listener_close(ls.l), GORT_ECLOSED); /* a second close */
    gt_join(g);
    ASSERT_EQ(ls.last_rc, GORT_ECLOSED);
    ASSERT_LE(atomic_load(&ls.accepted), n);
  }
}

START_TEST(test_accept_loop_close)
{
  gt_run_body(_i == 2, _i == 0 ? 1 : 2, loopclose_body, NULL);
}
END_TEST

/* ---- the descriptor-number reuse race ------------------------------------
 * A waits on X; X is closed and a new conn Y opened at once, which often
 * gets X's number; Y is made readable. A must come back with GORT_ECLOSED
 * and Y's reader with Y's bytes: a stale registration of X must never
 * deliver Y's readiness or data to A. */

enum { RU_PAIR, RU_TCP, RU_NKIND };

typedef struct reuse_conn {
  gort_conn *c;
  int peer_fd;     /* RU_PAIR: the raw other end */
  gort_conn *peer; /* RU_TCP */
} reuse_conn;

static void reuse_open(int kind, gort_listener *l, const char *addr,
                       reuse_conn *rc)
{
  memset(rc, 0, sizeof *rc);
  rc->peer_fd = -1;
  if (kind == RU_PAIR) {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ASSERT_EQ(gort_conn_adopt(&rc->c, sv[0]), 0);
    rc->peer_fd = sv[1];
  } else {
    rc->c = dial("tcp", addr);
    rc->peer = accept1(l);
  }
}

/* Writes s to the other end; the far end may be closed already. */
static void reuse_poke(reuse_conn *rc, const char *s)
{
  if (rc->peer_fd >= 0)
    (void)send(rc->peer_fd, s, strlen(s), MSG_NOSIGNAL);
  else
    (void)gort_write(rc->peer, s, strlen(s), gt_long_deadline());
}

static void reuse_close_peer(reuse_conn *rc)
{
  if (rc->peer_fd >= 0)
    ASSERT_EQ(close(rc->peer_fd), 0);
  else
    close_conn(rc->peer);
}

static void reuse_body(void *arg)
{
  int kind = *(int *)arg;
  char addr[ADDRLEN];
  gort_listener *l = kind == RU_TCP ? listen_tcp(addr) : NULL;
  int rounds = (int)SCALED(kind == RU_TCP ? 400 : 1000), reused = 0;
  uint64_t seed = 42 + (uint64_t)kind;
  for (int round = 0; round < rounds; round++) {
    reuse_conn x, y;
    reuse_open(kind, l, addr, &x);
    intptr_t xfd = gort_conn_handle(x.c);
    char abuf[64], bbuf[64], msg[64];
    victim va, vb;
    memset(&va, 0, sizeof va);
    memset(&vb, 0, sizeof vb);
    va.c = x.c;
    va.buf = abuf;
    va.len = va.want = sizeof abuf;
    gort_g *ga = gt_spawn(v_read, &va);
    await_io_wait(ga, &va.started);
    close_conn(x.c);
    /* sometimes let A leave (and the number be freed) first */
    for (int k = (int)(gt_rand(&seed) % 4); k > 0; k--)
      gt_relax();
    reuse_open(kind, l, addr, &y);
    if (gort_conn_handle(y.c) == xfd)
      reused++;
    snprintf(msg, sizeof msg, "y-%d", round);
    vb.c = y.c;
    vb.buf = bbuf;
    vb.len = sizeof bbuf;
    vb.want = strlen(msg);
    gort_g *gb = gt_spawn(v_read, &vb);
    reuse_poke(&x, "x-data");
    reuse_poke(&y, msg);
    gt_join(ga);
    gt_join(gb);
    ASSERT_EQ(va.rc, GORT_ECLOSED);
    ASSERT_EQ(vb.rc, (int64_t)strlen(msg));
    bbuf[vb.rc] = 0;
    ASSERT_STR_EQ(bbuf, msg);
    reuse_close_peer(&x);
    close_conn(y.c);
    reuse_close_peer(&y);
  }
  if (l)
    ASSERT_EQ(gort_listener_close(l), 0);
  fprintf(stderr, "reuse(%s): %d rounds, the number was reused in %d\n",
          kind == RU_TCP ? "tcp" : "socketpair", rounds, reused);
}

START_TEST(test_fd_reuse)
{
  int kind = _i % RU_NKIND;
  gt_run_body(0, _i < RU_NKIND ? 1 : 2, reuse_body, &kind);
}
END_TEST

/* ---- cancellation -------------------------------------------------------- */

enum { CK_READ, CK_WRITE, CK_ACCEPT, CK_FDWAIT, CK_NKIND };

typedef struct cancel_t {
  int kind;
  gort_conn *c;
  gort_listener *l;
  int fd, wfd; /* a pipe's ends: fd waited on, wfd always writable */
  void *buf;
  size_t len;
  int64_t rc, rc_read, rc_write, rc_accept, rc_dial, rc_fdwait;
  char addr[ADDRLEN];
  _Atomic int64_t started;
} cancel_t;

static void cancel_victim(void *arg)
{
  cancel_t *t = arg;
  gort_conn *got = NULL;
  char b[8];
  atomic_store(&t->started, 1);
  switch (t->kind) {
  case CK_READ:
    t->rc = gort_read(t->c, t->buf, t->len, gt_long_deadline());
    break;
  case CK_WRITE:
    t->rc = gort_write(t->c, t->buf, t->len, gt_long_deadline());
    break;
  case CK_ACCEPT:
    t->rc = gort_accept(t->l, &got, gt_long_deadline());
    break;
  case CK_FDWAIT:
    t->rc = gort_fd_wait(t->fd, GORT_READ, GORT_NEVER);
    break;
  }
  /* sticky: every later blocking call fails the same way, even ones that
   * could complete at once (data is waiting, a connection is queued) */
  t->rc_read = gort_read(t->c, b, sizeof b, 0);
  t->rc_write = gort_write(t->c, "x", 1, gt_long_deadline());
  t->rc_accept = gort_accept(t->l, &got, gt_long_deadline());
  gort_conn *d = NULL;
  t->rc_dial = gort_dial(&d, "tcp", t->addr, gt_long_deadline());
  t->rc_fdwait = gort_fd_wait(t->wfd, GORT_WRITE, gt_long_deadline());
}

static void cancel_body(void *arg)
{
  cancel_t *t = arg;
  gort_conn *peer, *q;
  int pfd[2];
  char buf[16];
  ASSERT_EQ(pipe2(pfd, O_CLOEXEC), 0);
  t->fd = pfd[0];
  t->wfd = pfd[1];
  t->l = listen_tcp(t->addr);
  t->c = dial("tcp", t->addr);
  peer = accept1(t->l);
  if (t->kind == CK_WRITE) {
    shrink_bufs(t->c, 4096);
    shrink_bufs(peer, 4096);
    t->len = 8 << 20;
  } else {
    t->len = sizeof buf;
  }
  t->buf = calloc(1, t->len);
  ASSERT_NOT_NULL(t->buf);
  if (t->kind != CK_WRITE)
    write_str(peer, "waiting"); /* for the sticky read, after the wait */
  if (t->kind == CK_READ) {
    /* make the read block: take the bytes away first */
    expect_str(t->c, "waiting");
  }
  /* queued for the sticky accept (after the wait, for an accepter) */
  q = t->kind == CK_ACCEPT ? NULL : dial("tcp", t->addr);
  gort_g *g = gt_spawn(cancel_victim, t);
  await_io_wait(g, &t->started);
  ASSERT_EQ(gort_cancel(g), 0);
  gt_join(g);
  if (!q)
    q = dial("tcp", t->addr);
  ASSERT_EQ(t->rc, GORT_ECANCELED);
  ASSERT_EQ(t->rc_read, GORT_ECANCELED);
  ASSERT_EQ(t->rc_write, GORT_ECANCELED);
  ASSERT_EQ(t->rc_accept, GORT_ECANCELED);
  ASSERT_EQ(t->rc_dial, GORT_ECANCELED);
  ASSERT_EQ(t->rc_fdwait, GORT_ECANCELED);
  /* the conn and listener are intact and usable by others */
  if (t->kind != CK_WRITE) {
    if (t->kind != CK_READ)
      expect_str(t->c, "waiting");
    write_str(peer, "still here");
    expect_str(t->c, "still here");
    write_str(t->c, "and back");
    expect_str(peer, "and back");
  }
  gort_conn *s = accept1(t->l);
  write_str(q, "queued");
  expect_str(s, "queued");
  close_conn(s);
  close_conn(q);
  close_conn(peer);
  close_conn(t->c);
  ASSERT_EQ(gort_listener_close(t->l), 0);
  close(pfd[0]);
  close(pfd[1]);
  free(t->buf);
}

START_TEST(test_cancel)
{
  static cancel_t t;
  memset(&t, 0, sizeof t);
  t.kind = _i % CK_NKIND;
  gt_run_body(0, _i < CK_NKIND ? 1 : 2, cancel_body, &t);
}
END_TEST

/* ---- EMFILE -------------------------------------------------------------- */

static struct {
  int fill[64];
  int nfill;
  struct rlimit old;
  _Atomic int64_t freed;
} em;

static void em_free(void)
{
  for (int i = 0; i < em.nfill; i++)
    ASSERT_EQ(close(em.fill[i]), 0);
  em.nfill = 0;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &em.old), 0);
}

static void em_freer(void *arg)
{
  (void)arg;
  nap(GT_MS(30)); /* most likely while the accept is backing off */
  em_free();
  atomic_store(&em.freed, 1);
}

static void emfile_body(void *arg)
{
  (void)arg;
  char addr[ADDRLEN];
  gort_listener *l = listen_tcp(addr);
  gort_conn *c1 = dial("tcp", addr); /* both wait in the backlog */
  gort_conn *c2 = dial("tcp", addr);

  /* leave no descriptor free */
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &em.old), 0);
  int lowest = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(lowest, 0);
  ASSERT_EQ(close(lowest), 0);
  struct rlimit lim = em.old;
  lim.rlim_cur = (rlim_t)lowest + 8;
  ASSERT_LE(lim.rlim_cur, em.old.rlim_cur);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lim), 0);
  for (;;) {
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      ASSERT_EQ(errno, EMFILE);
      break;
    }
    ASSERT_LT(em.nfill, 64);
    em.fill[em.nfill++] = fd;
  }

  gort_conn *a = NULL;
  ASSERT_ONE_OF(gort_accept(l, &a, 0), GORT_EMFILE, GORT_EAGAIN);
  /* accept backs off and retries until its deadline, then says why */
  int64_t dl = gort_now() + GT_MS(100);
  ASSERT_EQ(gort_accept(l, &a, dl), GORT_EMFILE);
  ASSERT_GE(gort_now(), dl);
  ASSERT_NULL(a);
  /* nothing else can make a descriptor either */
  gort_conn *d = NULL;
  ASSERT_EQ(gort_dial(&d, "tcp", addr, gt_long_deadline()), GORT_EMFILE);
  gort_listener *l2 = NULL;
  ASSERT_EQ(gort_listen(&l2, "tcp", "127.0.0.1:0"), GORT_EMFILE);

  /* descriptors come free while an accept waits: it serves again */
  gort_g *g = gt_spawn(em_freer, NULL);
  a = accept1(l);
  gt_join(g);
  ASSERT_EQ(atomic_load(&em.freed), 1);
  gort_conn *b = accept1(l);
  char la[ADDRLEN], lc1[ADDRLEN];
  ASSERT_GE(gort_conn_peer_addr(a, la, sizeof la), 0);
  ASSERT_GE(gort_conn_local_addr(c1, lc1, sizeof lc1), 0);
  if (strcmp(la, lc1) != 0) { /* the kernel queues in order, but be sure */
    gort_conn *t = a;
    a = b;
    b = t;
  }
  write_str(c1, "one");
  expect_str(a, "one");
  write_str(b, "two");
  expect_str(c2, "two");
  gort_conn *c3 = dial("tcp", addr), *s3 = accept1(l);
  write_str(c3, "three");
  expect_str(s3, "three");
  gort_conn *all[] = {a, b, c1, c2, c3, s3};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    close_conn(all[i]);
  ASSERT_EQ(gort_listener_close(l), 0);
}

START_TEST(test_emfile)
{
  memset(&em, 0, sizeof em);
  if (RUNNING_ON_VALGRIND) {
    /* valgrind only emulates a lowered RLIMIT_NOFILE: the kernel's accept
     * succeeds, then valgrind closes the new descriptor and reports EMFILE,
     * and the queued connection is lost */
    fprintf(stderr, "emfile: note: skipped under valgrind\n");
    return;
  }
  gt_run_body(0, _i == 0 ? 1 : 2, emfile_body, NULL);
}
END_TEST

/* ---- UDP ----------------------------------------------------------------- */

static gort_conn *listen_packet(const char *net, const char *address,
                                char *addr /* ADDRLEN */)
{
  gort_conn *c = NULL;
  ASSERT_EQ(gort_listen_packet(&c, net, address), 0);
  ASSERT_NOT_NULL(c);
  ASSERT_GE(gort_conn_local_addr(c, addr, ADDRLEN), 0);
  return c;
}

static void udp_body(void *arg)
{
  (void)arg;
  char a1[ADDRLEN], a2[ADDRLEN], from[ADDRLEN], buf[2048];
  gort_conn *u1 = listen_packet("udp", "127.0.0.1:0", a1);
  gort_conn *u2 = listen_packet("udp4", "127.0.0.1:0", a2);
  ASSERT_TRUE(starts_with(a1, "127.0.0.1:"));
  ASSERT_TRUE(starts_with(a2, "127.0.0.1:"));
  port_of(a1);
  ASSERT_STR_NE(a1, a2);

  /* nothing there yet */
  ASSERT_EQ(gort_readfrom(u1, buf, sizeof buf, from, sizeof from, 0),
            GORT_EAGAIN);
  ASSERT_EQ(gort_readfrom(u1, buf, sizeof buf, from, sizeof from, GT_PAST),
            GORT_ETIMEDOUT);
  int64_t dl = gort_now() + GT_MS(30);
  ASSERT_EQ(gort_readfrom(u1, buf, sizeof buf, NULL, 0, dl), GORT_ETIMEDOUT);
  ASSERT_GE(gort_now(), dl);

  /* a round trip, with the sender's address as text */
  ASSERT_EQ(gort_writeto(u2, "hello", 5, a1, gt_long_deadline()), 5);
  memset(from, 0, sizeof from);
  ASSERT_EQ(
      gort_readfrom(u1, buf, sizeof buf, from, sizeof from, gt_long_deadline()),
      5);
  ASSERT_EQ(memcmp(buf, "hello", 5), 0);
  ASSERT_STR_EQ(from, a2);
  ASSERT_EQ(gort_writeto(u1, "world!", 6, from, gt_long_deadline()), 6);
  ASSERT_EQ(
      gort_readfrom(u2, buf, sizeof buf, from, sizeof from, gt_long_deadline()),
      6);
  ASSERT_EQ(memcmp(buf, "world!", 6), 0);
  ASSERT_STR_EQ(from, a1);

  /* datagram boundaries are kept */
  static const size_t sizes[] = {1, 100, 1400, 7, 1000};
  enum { NS = sizeof sizes / sizeof sizes[0] };
  for (size_t i = 0; i < NS; i++) {
    memset(buf, 'a' + (int)i, sizes[i]);
    ASSERT_EQ(gort_writeto(u2, buf, sizes[i], a1, gt_long_deadline()),
              (int64_t)sizes[i]);
  }
  for (size_t i = 0; i < NS; i++) {
    memset(buf, 0, sizeof buf);
    ASSERT_EQ(gort_readfrom(u1, buf, sizeof buf, NULL, 0, gt_long_deadline()),
              (int64_t)sizes[i]);
    ASSERT_EQ(buf[0], 'a' + (int)i);
    ASSERT_EQ(buf[sizes[i] - 1], 'a' + (int)i);
  }

  /* a dialled ("connected") datagram conn: read and write */
  char ad[ADDRLEN], pd[ADDRLEN];
  gort_conn *d = dial("udp", a1);
  ASSERT_GE(gort_conn_local_addr(d, ad, sizeof ad), 0);
  ASSERT_GE(gort_conn_peer_addr(d, pd, sizeof pd), 0);
  ASSERT_STR_EQ(pd, a1);
  ASSERT_TRUE(starts_with(ad, "127.0.0.1:"));
  ASSERT_EQ(gort_write(d, "abc", 3, gt_long_deadline()), 3);
  ASSERT_EQ(gort_write(d, "defgh", 5, gt_long_deadline()), 5);
  ASSERT_EQ(
      gort_readfrom(u1, buf, sizeof buf, from, sizeof from, gt_long_deadline()),
      3);
  ASSERT_STR_EQ(from, ad);
  ASSERT_EQ(
      gort_readfrom(u1, buf, sizeof buf, from, sizeof from, gt_long_deadline()),
      5);
  ASSERT_EQ(memcmp(buf, "defgh", 5), 0);
  ASSERT_EQ(gort_writeto(u1, "12", 2, ad, gt_long_deadline()), 2);
  ASSERT_EQ(gort_writeto(u1, "3456", 4, ad, gt_long_deadline()), 4);
  ASSERT_EQ(gort_read(d, buf, sizeof buf, gt_long_deadline()), 2);
  ASSERT_EQ(gort_read(d, buf, sizeof buf, gt_long_deadline()), 4);
  ASSERT_EQ(memcmp(buf, "3456", 4), 0);
  ASSERT_EQ(gort_read(d, buf, sizeof buf, 0), GORT_EAGAIN);

  /* a blocked reader is woken by a datagram from another goroutine */
  victim v;
  memset(&v, 0, sizeof v);
  v.c = d;
  v.buf = buf;
  v.len = sizeof buf;
  v.want = 1;
  gort_g *g = gt_spawn(v_read, &v);
  await_io_wait(g, &v.started);
  ASSERT_EQ(gort_writeto(u1, "wake", 4, ad, gt_long_deadline()), 4);
  gt_join(g);
  ASSERT_EQ(v.rc, 4);

  /* a bad destination */
  ASSERT_EQ(gort_writeto(u1, "x", 1, "not an address", gt_long_deadline()),
            GORT_EINVAL);
  ASSERT_EQ(gort_writeto(u1, "x", 1, "127.0.0.1", gt_long_deadline()),
            GORT_EINVAL);
  close_conn(d);
  close_conn(u1);
  close_conn(u2);
}

START_TEST(test_udp)
{
  gt_run_body(_i == 1, 2, udp_body, NULL);
}
END_TEST

/* ---- unix sockets -------------------------------------------------------- */

static void unix_stream_echo(gort_listener *l, const char *addr)
{
  gort_conn *c = dial("unix", addr);
  gort_conn *s = accept1(l);
  char pa[ADDRLEN], ls[ADDRLEN];
  ASSERT_GE(gort_conn_peer_addr(c, pa, sizeof pa), 0);
  ASSERT_STR_EQ(pa, addr);
  ASSERT_GE(gort_conn_local_addr(s, ls, sizeof ls), 0);
  ASSERT_STR_EQ(ls, addr);
  write_str(c, "over unix");
  expect_str(s, "over unix");
  write_str(s, "and back");
  expect_str(c, "and back");
  ASSERT_EQ(gort_conn_shutdown(c, GORT_SHUT_WR), 0);
  expect_eof(s);
  close_conn(s);
  expect_eof(c);
  close_conn(c);
}

static void unix_body(void *arg)
{
  (void)arg;
  char dir[] = "/tmp/gort-check-net-XXXXXX";
  ASSERT_NOT_NULL(mkdtemp(dir));
  char path[ADDRLEN], addr[ADDRLEN], pa[ADDRLEN], pb[ADDRLEN];
  char from[ADDRLEN], buf[256];
  struct stat st;

  /* stream: the listener's file comes and goes with it */
  snprintf(path, sizeof path, "%s/stream.sock", dir);
  gort_listener *l = listen_on("unix", path, addr);
  ASSERT_STR_EQ(addr, path);
  ASSERT_EQ(stat(path, &st), 0);
  ASSERT_TRUE(S_ISSOCK(st.st_mode));
  unix_stream_echo(l, path);
  ASSERT_EQ(gort_listener_close(l), 0);
  ASSERT_EQ(stat(path, &st), -1);
  ASSERT_EQ(errno, ENOENT);
  /* nobody there now */
  gort_conn *c = NULL;
  ASSERT_ONE_OF(gort_dial(&c, "unix", path, gt_long_deadline()), GORT_ENOENT,
                GORT_ECONNREFUSED);

  /* a stale socket file: refused */
  int raw = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(raw, 0);
  struct sockaddr_un sun;
  memset(&sun, 0, sizeof sun);
  sun.sun_family = AF_UNIX;
  snprintf(sun.sun_path, sizeof sun.sun_path, "%s/stale.sock", dir);
  ASSERT_EQ(bind(raw, (struct sockaddr *)&sun, sizeof sun), 0);
  ASSERT_EQ(close(raw), 0);
  ASSERT_EQ(gort_dial(&c, "unix", sun.sun_path, gt_long_deadline()),
            GORT_ECONNREFUSED);
  ASSERT_EQ(unlink(sun.sun_path), 0);

  /* datagrams */
  snprintf(pa, sizeof pa, "%s/a.sock", dir);
  snprintf(pb, sizeof pb, "%s/b.sock", dir);
  gort_conn *ga = listen_packet("unixgram", pa, addr);
  ASSERT_STR_EQ(addr, pa);
  gort_conn *gb = listen_packet("unixgram", pb, addr);
  ASSERT_STR_EQ(addr, pb);
  ASSERT_EQ(gort_writeto(gb, "hello", 5, pa, gt_long_deadline()), 5);
  ASSERT_EQ(gort_writeto(gb, "x", 1, pa, gt_long_deadline()), 1);
  ASSERT_EQ(
      gort_readfrom(ga, buf, sizeof buf, from, sizeof from, gt_long_deadline()),
      5);
  ASSERT_EQ(memcmp(buf, "hello", 5), 0);
  ASSERT_STR_EQ(from, pb);
  ASSERT_EQ(
      gort_readfrom(ga, buf, sizeof buf, from, sizeof from, gt_long_deadline()),
      1);
  ASSERT_EQ(gort_writeto(ga, "reply", 5, from, gt_long_deadline()), 5);
  ASSERT_EQ(
      gort_readfrom(gb, buf, sizeof buf, from, sizeof from, gt_long_deadline()),
      5);
  ASSERT_STR_EQ(from, pa);
  ASSERT_EQ(gort_readfrom(ga, buf, sizeof buf, NULL, 0, 0), GORT_EAGAIN);
  gort_conn *d = dial("unixgram", pa);
  ASSERT_EQ(gort_write(d, "dgram-one", 9, gt_long_deadline()), 9);
  ASSERT_EQ(gort_write(d, "two", 3, gt_long_deadline()), 3);
  ASSERT_EQ(gort_readfrom(ga, buf, sizeof buf, NULL, 0, gt_long_deadline()), 9);
  ASSERT_EQ(gort_read(ga, buf, sizeof buf, gt_long_deadline()), 3);
  ASSERT_EQ(memcmp(buf, "two", 3), 0);
  close_conn(d);
  close_conn(ga);
  close_conn(gb);
  (void)unlink(pa); /* a packet conn may or may not remove its file */
  (void)unlink(pb);

#ifdef __linux__
  /* the abstract namespace: no file at all */
  char abs[ADDRLEN];
  snprintf(abs, sizeof abs, "@gort-check-net-%d-%" PRId64, (int)getpid(),
           gt_os_now());
  l = listen_on("unix", abs, addr);
  ASSERT_STR_EQ(addr, abs);
  unix_stream_echo(l, abs);
  ASSERT_EQ(gort_listener_close(l), 0);
  ASSERT_ONE_OF(gort_dial(&c, "unix", abs, gt_long_deadline()),
                GORT_ECONNREFUSED, GORT_ENOENT);
#endif
  ASSERT_EQ(rmdir(dir), 0); /* nothing left behind */
}

START_TEST(test_unix)
{
  gt_run_body(_i == 1, 2, unix_body, NULL);
}
END_TEST

/* ---- refused, addresses, IPv6 -------------------------------------------- */

static void refused_body(void *arg)
{
  (void)arg;
  char addr[ADDRLEN];
  gort_listener *l = listen_tcp(addr);
  ASSERT_EQ(gort_listener_close(l), 0);
  gort_conn *c = NULL;
  ASSERT_EQ(gort_dial(&c, "tcp", addr, gt_long_deadline()), GORT_ECONNREFUSED);
  ASSERT_NULL(c);
  ASSERT_EQ(gort_dial(&c, "tcp4", addr, gt_long_deadline()), GORT_ECONNREFUSED);
}

START_TEST(test_refused)
{
  gt_run_body(_i == 1, 1, refused_body, NULL);
}
END_TEST

/* Checks the four address texts of a connected pair c (dialled) / s
 * (accepted) against the listener's laddr; prefix is "127.0.0.1:" or
 * "[::1]:". */
static void check_pair_addrs(gort_conn *c, gort_conn *s, const char *laddr,
                             const char *prefix)
{
  char cl[ADDRLEN], cp[ADDRLEN], sl[ADDRLEN], sp[ADDRLEN];
  ASSERT_GE(gort_conn_local_addr(c, cl, sizeof cl), 0);
  ASSERT_GE(gort_conn_peer_addr(c, cp, sizeof cp), 0);
  ASSERT_GE(gort_conn_local_addr(s, sl, sizeof sl), 0);
  ASSERT_GE(gort_conn_peer_addr(s, sp, sizeof sp), 0);
  ASSERT_STR_EQ(cp, laddr);
  ASSERT_STR_EQ(sl, laddr);
  ASSERT_STR_EQ(sp, cl);
  ASSERT_TRUE(starts_with(cl, prefix));
  port_of(cl);
}

static void addr_body(void *arg)
{
  (void)arg;
  char addr[ADDRLEN], buf[ADDRLEN];
  gort_listener *l = listen_tcp(addr);
  ASSERT_TRUE(starts_with(addr, "127.0.0.1:"));
  int port = port_of(addr);
  char want[ADDRLEN];
  snprintf(want, sizeof want, "127.0.0.1:%d", port);
  ASSERT_STR_EQ(addr, want);
  /* the return is 0 or the length; too small a buffer is GORT_EINVAL */
  int rc = gort_listener_addr(l, buf, sizeof buf);
  ASSERT_TRUE(rc == 0 || rc == (int)strlen(buf));
  ASSERT_EQ(gort_listener_addr(l, buf, strlen(addr)), GORT_EINVAL);
  ASSERT_GE(gort_listener_addr(l, buf, strlen(addr) + 1), 0);
  ASSERT_STR_EQ(buf, addr);
  ASSERT_EQ(gort_listener_addr(l, buf, 0), GORT_EINVAL);
  ASSERT_EQ(gort_listener_addr(l, NULL, sizeof buf), GORT_EINVAL);

  gort_conn *c = dial("tcp", addr), *s = accept1(l);
  check_pair_addrs(c, s, addr, "127.0.0.1:");
  ASSERT_EQ(gort_conn_local_addr(c, buf, 4), GORT_EINVAL);
  ASSERT_EQ(gort_conn_peer_addr(c, buf, 4), GORT_EINVAL);
  close_conn(c);
  close_conn(s);

  /* "tcp4", and a name resolved off the scheduler */
  c = dial("tcp4", addr);
  s = accept1(l);
  check_pair_addrs(c, s, addr, "127.0.0.1:");
  close_conn(c);
  close_conn(s);
  char byname[ADDRLEN];
  snprintf(byname, sizeof byname, "localhost:%d", port);
  c = NULL;
  rc = gort_dial(&c, "tcp", byname, gt_long_deadline());
  if (rc == GORT_ENOHOST) {
    fprintf(stderr, "addr: note: \"localhost\" does not resolve here\n");
  } else {
    ASSERT_EQ(rc, 0);
    s = accept1(l);
    check_pair_addrs(c, s, addr, "127.0.0.1:");
    close_conn(c);
    close_conn(s);
  }

  /* the port is taken while the listener lives */
  gort_listener *l2 = NULL;
  ASSERT_EQ(gort_listen(&l2, "tcp", addr), GORT_EADDRINUSE);
  ASSERT_EQ(gort_listener_close(l), 0);
}

START_TEST(test_addr)
{
  gt_run_body(_i == 1, 2, addr_body, NULL);
}
END_TEST

static int have_ipv6_loopback(void)
{
  int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return 0;
  struct sockaddr_in6 a;
  memset(&a, 0, sizeof a);
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
  close(fd);
  return ok;
}

static void ipv6_body(void *arg)
{
  (void)arg;
  char addr[ADDRLEN], want[ADDRLEN];
  static const char *const nets[] = {"tcp", "tcp6"};
  for (int i = 0; i < 2; i++) {
    gort_listener *l = listen_on(nets[i], "[::1]:0", addr);
    snprintf(want, sizeof want, "[::1]:%d", port_of(addr));
    ASSERT_STR_EQ(addr, want);
    gort_conn *c = dial(nets[i], addr), *s = accept1(l);
    check_pair_addrs(c, s, addr, "[::1]:");
    write_str(c, "six");
    expect_str(s, "six");
    write_str(s, "xis");
    expect_str(c, "xis");
    close_conn(c);
    close_conn(s);
    ASSERT_EQ(gort_listener_close(l), 0);
  }
  /* the family of the network and of the literal must agree */
  gort_listener *l = NULL;
  int rc = gort_listen(&l, "tcp4", "[::1]:0");
  ASSERT_ONE_OF(rc, GORT_EINVAL, GORT_EAFNOSUPPORT);
  rc = gort_listen(&l, "tcp6", "127.0.0.1:0");
  ASSERT_ONE_OF(rc, GORT_EINVAL, GORT_EAFNOSUPPORT);

  /* UDP over ::1 */
  char a1[ADDRLEN], a2[ADDRLEN], from[ADDRLEN], buf[64];
  gort_conn *u1 = listen_packet("udp6", "[::1]:0", a1);
  gort_conn *u2 = listen_packet("udp", "[::1]:0", a2);
  ASSERT_TRUE(starts_with(a1, "[::1]:"));
  ASSERT_EQ(gort_writeto(u2, "v6", 2, a1, gt_long_deadline()), 2);
  ASSERT_EQ(
      gort_readfrom(u1, buf, sizeof buf, from, sizeof from, gt_long_deadline()),
      2);
  ASSERT_STR_EQ(from, a2);
  close_conn(u1);
  close_conn(u2);
}

START_TEST(test_ipv6)
{
  if (!have_ipv6_loopback()) {
    fprintf(stderr, "ipv6: note: ::1 is not available here; skipped\n");
    return;
  }
  gt_run_body(_i == 1, 2, ipv6_body, NULL);
}
END_TEST

/* ---- half-close, reset, SIGPIPE ------------------------------------------ */

static void halfclose_body(void *arg)
{
  int unix_ = *(int *)arg;
  gort_conn *a, *b;
  if (unix_)
    sock_pair(&a, &b, SOCK_STREAM);
  else
    tcp_pair(&a, &b);
  write_str(a, "request");
  ASSERT_EQ(gort_conn_shutdown(a, GORT_SHUT_WR), 0);
  expect_str(b, "request");
  expect_eof(b);
  expect_eof(b); /* and again */
  /* the other direction still flows */
  write_str(b, "response");
  expect_str(a, "response");
  /* a can no longer write */
  ASSERT_ONE_OF(gort_write(a, "x", 1, gt_long_deadline()), GORT_EPIPE,
                GORT_ECONNRESET);
  ASSERT_EQ(gort_conn_shutdown(a, 99), GORT_EINVAL);
  close_conn(b);
  expect_eof(a);
  close_conn(a);

  /* GORT_SHUT_RD: reads end at once */
  if (unix_)
    sock_pair(&a, &b, SOCK_STREAM);
  else
    tcp_pair(&a, &b);
  ASSERT_EQ(gort_conn_shutdown(a, GORT_SHUT_RD), 0);
  expect_eof(a);
  write_str(a, "still writes");
  expect_str(b, "still writes");
  ASSERT_EQ(gort_conn_shutdown(a, GORT_SHUT_RDWR), 0);
  expect_eof(b);
  close_conn(a);
  close_conn(b);
}

START_TEST(test_halfclose)
{
  int unix_ = _i;
  gt_run_body(0, 2, halfclose_body, &unix_);
}
END_TEST

/* Writes until the write fails (bounded); the failure must be one of a
 * closed peer's. Then it keeps failing. */
static void write_until_broken(gort_conn *c)
{
  char buf[1024];
  memset(buf, 'w', sizeof buf);
  int64_t rc = 0;
  for (int i = 0; i < 1000 && rc >= 0; i++) {
    rc = gort_write(c, buf, sizeof buf, gt_long_deadline());
    if (rc >= 0) {
      ASSERT_EQ(rc, (int64_t)sizeof buf);
      nap(GT_MS(1)); /* give the peer's RST time to come back */
    }
  }
  ASSERT_ONE_OF(rc, GORT_EPIPE, GORT_ECONNRESET);
  for (int i = 0; i < 20; i++)
    ASSERT_ONE_OF(gort_write(c, buf, sizeof buf, gt_long_deadline()),
                  GORT_EPIPE, GORT_ECONNRESET);
}

static void reset_body(void *arg)
{
  (void)arg;
  gort_conn *a, *b;
  char buf[64];
  tcp_pair(&a, &b);
  write_str(a, "hi");
  expect_str(b, "hi");
  struct linger lg = {1, 0};
  ASSERT_EQ(setsockopt((int)gort_conn_handle(b), SOL_SOCKET, SO_LINGER, &lg,
                       sizeof lg),
            0);
  close_conn(b); /* RST, no FIN */
  ssize_t rc = gort_read(a, buf, sizeof buf, gt_long_deadline());
  ASSERT_ONE_OF(rc, GORT_ECONNRESET, 0);
  write_until_broken(a);
  rc = gort_read(a, buf, sizeof buf, gt_long_deadline());
  ASSERT_ONE_OF(rc, GORT_ECONNRESET, 0);
  close_conn(a);
}

START_TEST(test_reset)
{
  gt_run_body(_i == 1, 2, reset_body, NULL);
}
END_TEST

static void sigpipe_body(void *arg)
{
  (void)arg;
  gort_conn *a, *b;
  /* TCP: the peer closed normally; its kernel answers with an RST */
  tcp_pair(&a, &b);
  close_conn(b);
  expect_eof(a);
  write_until_broken(a);
  close_conn(a);
  /* a socketpair: EPIPE at once */
  sock_pair(&a, &b, SOCK_STREAM);
  close_conn(b);
  for (int i = 0; i < 20; i++)
    ASSERT_EQ(gort_write(a, "x", 1, gt_long_deadline()), GORT_EPIPE);
  close_conn(a);
  /* an adopted pipe whose reader is gone: write(2) cannot be told not to
   * raise SIGPIPE, yet it must not kill either */
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  gort_conn *w = NULL;
  ASSERT_EQ(gort_conn_adopt(&w, p[1]), 0);
  ASSERT_EQ(close(p[0]), 0);
  for (int i = 0; i < 20; i++)
    ASSERT_EQ(gort_write(w, "x", 1, gt_long_deadline()), GORT_EPIPE);
  close_conn(w);
  /* a unix stream through a listener */
  char dir[] = "/tmp/gort-check-net-XXXXXX", path[ADDRLEN], addr[ADDRLEN];
  ASSERT_NOT_NULL(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/p.sock", dir);
  gort_listener *l = listen_on("unix", path, addr);
  a = dial("unix", path);
  b = accept1(l);
  close_conn(b);
  write_until_broken(a);
  close_conn(a);
  ASSERT_EQ(gort_listener_close(l), 0);
  ASSERT_EQ(rmdir(dir), 0);
}

START_TEST(test_sigpipe)
{
  /* the default action, which kills: the library must never raise it */
  signal(SIGPIPE, SIG_DFL);
  gt_run_body(_i == 1, 2, sigpipe_body, NULL);
}
END_TEST

/* ---- adopting descriptors ------------------------------------------------ */

static void adopt_body(void *arg)
{
  (void)arg;
  char buf[64];
  int sv[2];
  gort_conn *a = NULL, *b = NULL;
  /* a socketpair made blocking and inheritable: adopt changes both */
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  ASSERT_EQ(gort_conn_adopt(&a, sv[0]), 0);
  ASSERT_EQ(gort_conn_adopt(&b, sv[1]), 0);
  ASSERT_EQ(gort_conn_handle(a), sv[0]);
  ASSERT_EQ(gort_conn_handle(b), sv[1]);
  ASSERT_TRUE(fcntl(sv[0], F_GETFL) & O_NONBLOCK);
  ASSERT_TRUE(fcntl(sv[0], F_GETFD) & FD_CLOEXEC);
  ASSERT_TRUE(fcntl(sv[1], F_GETFL) & O_NONBLOCK);
  write_str(a, "pair a->b");
  expect_str(b, "pair a->b");
  write_str(b, "pair b->a");
  expect_str(a, "pair b->a");
  /* a blocked reader on an adopted end is woken by the other */
  victim v;
  memset(&v, 0, sizeof v);
  v.c = a;
  v.buf = buf;
  v.len = sizeof buf;
  v.want = 5;
  gort_g *g = gt_spawn(v_read, &v);
  await_io_wait(g, &v.started);
  write_str(b, "woken");
  gt_join(g);
  ASSERT_EQ(v.rc, 5);
  close_conn(a);
  close_conn(b);
  /* closing closed the descriptor */
  ASSERT_EQ(fcntl(sv[0], F_GETFD), -1);

  /* a seqpacket pair keeps message boundaries */
  sock_pair(&a, &b, SOCK_SEQPACKET);
  write_str(a, "one");
  write_str(a, "three");
  ASSERT_EQ(gort_read(b, buf, sizeof buf, gt_long_deadline()), 3);
  ASSERT_EQ(gort_read(b, buf, sizeof buf, gt_long_deadline()), 5);
  close_conn(a);
  close_conn(b);

  /* a pipe: both ends */
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  gort_conn *r = NULL, *w = NULL;
  ASSERT_EQ(gort_conn_adopt(&r, p[0]), 0);
  ASSERT_EQ(gort_conn_adopt(&w, p[1]), 0);
  ASSERT_EQ(gort_conn_handle(r), p[0]);
  ASSERT_EQ(gort_read(r, buf, sizeof buf, 0), GORT_EAGAIN);
  write_str(w, "through a pipe");
  expect_str(r, "through a pipe");
  /* bigger than the pipe's buffer: the writer parks and resumes */
  size_t big = (size_t)SCALED(1 << 20);
  unsigned char *bp = malloc(big);
  ASSERT_NOT_NULL(bp);
  for (size_t i = 0; i < big; i++)
    bp[i] = (unsigned char)(i * 7);
  victim vw;
  memset(&vw, 0, sizeof vw);
  vw.c = w;
  vw.buf = bp;
  vw.len = big;
  g = gt_spawn(v_write, &vw);
  unsigned char *rb = malloc(big);
  ASSERT_NOT_NULL(rb);
  read_full(r, rb, big);
  gt_join(g);
  ASSERT_EQ(vw.rc, (int64_t)big);
  ASSERT_EQ(memcmp(bp, rb, big), 0);
  free(bp);
  free(rb);
  close_conn(w);
  expect_eof(r);
  close_conn(r);

  /* an adopted bound UDP socket */
  int u = socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(u, 0);
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(u, (struct sockaddr *)&sin, sizeof sin), 0);
  gort_conn *uc = NULL;
  ASSERT_EQ(gort_conn_adopt(&uc, u), 0);
  char ua[ADDRLEN], oa[ADDRLEN], from[ADDRLEN];
  ASSERT_GE(gort_conn_local_addr(uc, ua, sizeof ua), 0);
  ASSERT_TRUE(starts_with(ua, "127.0.0.1:"));
  gort_conn *o = listen_packet("udp", "127.0.0.1:0", oa);
  ASSERT_EQ(gort_writeto(o, "adopted", 7, ua, gt_long_deadline()), 7);
  ASSERT_EQ(
      gort_readfrom(uc, buf, sizeof buf, from, sizeof from, gt_long_deadline()),
      7);
  ASSERT_STR_EQ(from, oa);
  close_conn(uc);
  close_conn(o);

  /* not a descriptor */
  gort_conn *bad = NULL;
  ASSERT_ONE_OF(gort_conn_adopt(&bad, -1), GORT_EINVAL, GORT_EBADF);
  ASSERT_NULL(bad);
  int closed = dup(2);
  ASSERT_GE(closed, 0);
  ASSERT_EQ(close(closed), 0);
  ASSERT_ONE_OF(gort_conn_adopt(&bad, closed), GORT_EINVAL, GORT_EBADF);
  ASSERT_NULL(bad);
}

START_TEST(test_adopt)
{
  gt_run_body(_i == 1, 2, adopt_body, NULL);
}
END_TEST

/* ---- gort_fd_wait -------------------------------------------------------- */

typedef struct fdw {
  int fd, events;
  int rc;
  _Atomic int64_t started;
} fdw;

static void fdw_fn(void *arg)
{
  fdw *f = arg;
  atomic_store(&f->started, 1);
  f->rc = gort_fd_wait(f->fd, f->events, gt_long_deadline());
}

static void *fdw_thread(void *arg)
{
  fdw_fn(arg);
  return NULL;
}

static void *write_byte_thread(void *arg)
{
  int fd = (int)(intptr_t)arg;
  ASSERT_EQ(write(fd, "t", 1), 1);
  return NULL;
}

static void fd_wait_body(void *arg)
{
  (void)arg;
  int p[2];
  char c;
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0); /* blocking: fd_wait does not care */
  int rc = gort_fd_wait(p[1], GORT_WRITE, gt_long_deadline());
  ASSERT_GT(rc, 0);
  ASSERT_TRUE(rc & GORT_WRITE);
  ASSERT_EQ(gort_fd_wait(p[0], GORT_READ, 0), GORT_EAGAIN);
  ASSERT_EQ(gort_fd_wait(p[0], GORT_READ, GT_PAST), GORT_ETIMEDOUT);
  int64_t dl = gort_now() + GT_MS(30);
  ASSERT_EQ(gort_fd_wait(p[0], GORT_READ, dl), GORT_ETIMEDOUT);
  ASSERT_GE(gort_now(), dl);
  ASSERT_EQ(write(p[1], "x", 1), 1);
  rc = gort_fd_wait(p[0], GORT_READ, gt_long_deadline());
  ASSERT_GT(rc, 0);
  ASSERT_TRUE(rc & GORT_READ);
  rc = gort_fd_wait(p[0], GORT_READ, 0); /* still readable: level, not edge */
  ASSERT_TRUE(rc > 0 && (rc & GORT_READ));
  ASSERT_EQ(read(p[0], &c, 1), 1);
  ASSERT_EQ(gort_fd_wait(p[0], GORT_READ, 0), GORT_EAGAIN);

  /* woken by another goroutine, and by a plain thread */
  for (int by_thread = 0; by_thread < 2; by_thread++) {
    fdw f = {p[0], GORT_READ, 0, 0};
    gort_g *g = gt_spawn(fdw_fn, &f);
    await_io_wait(g, &f.started);
    if (by_thread)
      gt_thread_join(gt_thread(write_byte_thread, (void *)(intptr_t)p[1]));
    else
      ASSERT_EQ(write(p[1], "g", 1), 1);
    gt_join(g);
    ASSERT_GT(f.rc, 0);
    ASSERT_TRUE(f.rc & GORT_READ);
    ASSERT_EQ(read(p[0], &c, 1), 1);
  }
  /* a plain thread waiting, woken by this goroutine or thread */
  {
    fdw f = {p[0], GORT_READ, 0, 0};
    pthread_t t = gt_thread(fdw_thread, &f);
    ASSERT_TRUE(gt_await_ge(&f.started, 1));
    nap(GT_MS(5)); /* likelier to be blocked by now; either way it wakes */
    ASSERT_EQ(write(p[1], "t", 1), 1);
    gt_thread_join(t);
    ASSERT_GT(f.rc, 0);
    ASSERT_TRUE(f.rc & GORT_READ);
    ASSERT_EQ(read(p[0], &c, 1), 1);
  }

  /* write readiness: fill the pipe, then drain it */
  ASSERT_EQ(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
  char chunk[4096];
  memset(chunk, 'f', sizeof chunk);
  size_t filled = 0;
  for (;;) {
    ssize_t n = write(p[1], chunk, sizeof chunk);
    if (n < 0) {
      ASSERT_EQ(errno, EAGAIN);
      break;
    }
    filled += (size_t)n;
    ASSERT_LT(filled, (size_t)64 << 20);
  }
  ASSERT_EQ(gort_fd_wait(p[1], GORT_WRITE, 0), GORT_EAGAIN);
  dl = gort_now() + GT_MS(30);
  ASSERT_EQ(gort_fd_wait(p[1], GORT_WRITE, dl), GORT_ETIMEDOUT);
  fdw f = {p[1], GORT_WRITE, 0, 0};
  gort_g *g = gt_spawn(fdw_fn, &f);
  await_io_wait(g, &f.started);
  while (filled > 0) {
    ssize_t n = read(p[0], chunk, sizeof chunk);
    ASSERT_GT(n, 0);
    filled -= (size_t)n;
  }
  gt_join(g);
  ASSERT_GT(f.rc, 0);
  ASSERT_TRUE(f.rc & GORT_WRITE);

  /* hang-up counts as ready */
  ASSERT_EQ(close(p[1]), 0);
  rc = gort_fd_wait(p[0], GORT_READ, gt_long_deadline());
  ASSERT_GT(rc, 0);
  ASSERT_TRUE(rc & GORT_READ);
  ASSERT_EQ(read(p[0], &c, 1), 0);

  /* bad input */
  ASSERT_ONE_OF(gort_fd_wait(-1, GORT_READ, 0), GORT_EINVAL, GORT_EBADF);
  ASSERT_EQ(gort_fd_wait(p[0], 0, 0), GORT_EINVAL);
  ASSERT_EQ(gort_fd_wait(p[0], 8, 0), GORT_EINVAL);
  ASSERT_EQ(close(p[0]), 0);
  ASSERT_ONE_OF(gort_fd_wait(p[0], GORT_READ, 0), GORT_EINVAL, GORT_EBADF);

  /* the watch ends with the call: the number is reused at once */
  for (int i = 0; i < (int)SCALED(100); i++) {
    ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
    ASSERT_EQ(write(p[1], "r", 1), 1);
    rc = gort_fd_wait(p[0], GORT_READ, gt_long_deadline());
    ASSERT_TRUE(rc > 0 && (rc & GORT_READ));
    ASSERT_EQ(gort_fd_wait(p[1], GORT_WRITE, 0) & GORT_WRITE, GORT_WRITE);
    ASSERT_EQ(close(p[0]), 0);
    ASSERT_EQ(close(p[1]), 0);
  }
}

START_TEST(test_fd_wait)
{
  /* 0, 1: goroutines with 1 and 2 Ps; 2: the test's plain thread */
  gt_run_body(_i == 2, _i == 0 ? 1 : 2, fd_wait_body, NULL);
}
END_TEST

/* ---- the poller ---------------------------------------------------------- */

static int known_backend(const char *b)
{
  return b && (strcmp(b, "epoll") == 0 || strcmp(b, "kqueue") == 0 ||
               strcmp(b, "iocp") == 0 || strcmp(b, "io_uring") == 0);
}

static gort_poller *poller_seen;

static void poller_fn(void *arg)
{
  gort_sched *s = arg;
  poller_seen = gort_sched_poller(NULL);
  ASSERT_PTR_EQ(poller_seen, gort_sched_poller(s));
}

START_TEST(test_poller)
{
  poller_seen = NULL;
  ASSERT_STR_EQ(gort_poller_backend(NULL), "");
  gort_poller *pd = gort_sched_poller(NULL); /* the default scheduler's */
  ASSERT_NOT_NULL(pd);
  ASSERT_PTR_EQ(pd, gort_sched_poller(gort_sched_default()));
  const char *name = gort_poller_backend(pd);
  ASSERT_TRUE(known_backend(name));
#ifdef __linux__
  ASSERT_TRUE(strcmp(name, "epoll") == 0 || strcmp(name, "io_uring") == 0);
#endif
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 1), 0);
  gort_poller *ps = gort_sched_poller(s);
  ASSERT_NOT_NULL(ps);
  ASSERT_PTR_NE(ps, pd); /* every scheduler owns one */
  ASSERT_STR_EQ(gort_poller_backend(ps), name);
  gort_g *g = NULL;
  ASSERT_EQ(gort_spawn(s, poller_fn, s, 0, &g), 0);
  ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
  gort_g_release(g);
  ASSERT_PTR_EQ(poller_seen, ps);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
  fprintf(stderr, "poller: %s\n", name);
}
END_TEST

/* ---- plain threads beside goroutines ------------------------------------- */

static struct {
  gort_chan *addrc; /* char[ADDRLEN]: the goroutine server's address */
  char taddr[ADDRLEN];
  int rounds;
} th;

static void th_server(void *arg)
{
  (void)arg;
  char addr[ADDRLEN];
  gort_listener *l = listen_tcp(addr);
  ASSERT_EQ(gort_chan_send(th.addrc, addr, gt_long_deadline()), 0);
  gort_conn *c = accept1(l);
  char buf[512];
  for (;;) {
    ssize_t n = gort_read(c, buf, sizeof buf, gt_long_deadline());
    if (n == 0)
      break;
    ASSERT_GT(n, 0);
    write_all(c, buf, (size_t)n);
  }
  close_conn(c);
  ASSERT_EQ(gort_listener_close(l), 0);
}

static void th_client(void *arg)
{
  (void)arg;
  gort_conn *c = dial("tcp", th.taddr);
  for (int i = 0; i < th.rounds; i++) {
    char msg[64];
    snprintf(msg, sizeof msg, "from a goroutine %d", i);
    write_str(c, msg);
    expect_str(c, msg);
  }
  ASSERT_EQ(gort_conn_shutdown(c, GORT_SHUT_WR), 0);
  expect_eof(c);
  close_conn(c);
}

START_TEST(test_threads)
{
  memset(&th, 0, sizeof th);
  th.rounds = (int)SCALED(200);
  gort_sched *s = NULL;
  ASSERT_EQ(gort_sched_new(&s, 2), 0);
  ASSERT_EQ(gort_chan_new(&th.addrc, ADDRLEN, 1), 0);

  /* this thread dials a goroutine's server */
  gort_g *g = NULL;
  ASSERT_EQ(gort_spawn(s, th_server, NULL, 0, &g), 0);
  char addr[ADDRLEN];
  ASSERT_EQ(gort_chan_recv(th.addrc, addr, gt_long_deadline()), 0);
  gort_conn *c = dial("tcp", addr);
  char buf[64];
  ASSERT_EQ(gort_read(c, buf, sizeof buf, 0), GORT_EAGAIN);
  int64_t dl = gort_now() + GT_MS(20);
  ASSERT_EQ(gort_read(c, buf, sizeof buf, dl), GORT_ETIMEDOUT);
  ASSERT_GE(gort_now(), dl);
  for (int i = 0; i < th.rounds; i++) {
    char msg[64];
    snprintf(msg, sizeof msg, "from the thread %d", i);
    write_str(c, msg);
    expect_str(c, msg);
  }
  ASSERT_EQ(gort_conn_shutdown(c, GORT_SHUT_WR), 0);
  expect_eof(c);
  close_conn(c);
  ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
  gort_g_release(g);

  /* this thread serves a goroutine's client */
  gort_listener *l = listen_tcp(th.taddr);
  gort_conn *a = NULL;
  ASSERT_EQ(gort_accept(l, &a, 0), GORT_EAGAIN);
  ASSERT_EQ(gort_spawn(s, th_client, NULL, 0, &g), 0);
  a = accept1(l);
  for (;;) {
    ssize_t n = gort_read(a, buf, sizeof buf, gt_long_deadline());
    if (n == 0)
      break;
    ASSERT_GT(n, 0);
    write_all(a, buf, (size_t)n);
  }
  close_conn(a);
  ASSERT_EQ(gort_join(g, gt_long_deadline()), 0);
  gort_g_release(g);
  ASSERT_EQ(gort_listener_close(l), 0);
  gort_chan_release(th.addrc);
  ASSERT_EQ(gort_sched_shutdown(s, gt_long_deadline()), 0);
}
END_TEST

/* ---- bad input ----------------------------------------------------------- */

static void invalid_body(void *arg)
{
  (void)arg;
  char buf[ADDRLEN], addr[ADDRLEN];
  gort_listener *l = NULL;
  gort_conn *c = NULL;

  ASSERT_EQ(gort_listen(NULL, "tcp", "127.0.0.1:0"), GORT_EINVAL);
  ASSERT_EQ(gort_listen(&l, NULL, "127.0.0.1:0"), GORT_EINVAL);
  ASSERT_EQ(gort_listen(&l, "tcp", NULL), GORT_EINVAL);
  static const char *const bad_nets[] = {"",    "tcp5",     "TCP ", "ip",
                                         "udp", "unixgram", "sctp"};
  for (size_t i = 0; i < sizeof bad_nets / sizeof bad_nets[0]; i++)
    ASSERT_EQ(gort_listen(&l, bad_nets[i], "127.0.0.1:0"), GORT_EINVAL);
  /* (not "" nor "127.0.0.1:", which mean port 0 as in Go, nor a port
   * that could be a service name) */
  static const char *const bad_addrs[] = {
      "127.0.0.1", "127.0.0.1:99999", "127.0.0.1:65536", "[::1:0",
      "::1:0",     "[::1]",           "127.0.0.1:0:0",   "[127.0.0.1]x:0"};
  for (size_t i = 0; i < sizeof bad_addrs / sizeof bad_addrs[0]; i++) {
    ASSERT_EQ(gort_listen(&l, "tcp", bad_addrs[i]), GORT_EINVAL);
    ASSERT_EQ(gort_dial(&c, "tcp", bad_addrs[i], gt_long_deadline()),
              GORT_EINVAL);
    ASSERT_EQ(gort_listen_packet(&c, "udp", bad_addrs[i]), GORT_EINVAL);
  }
  char longpath[300];
  memset(longpath, 'p', sizeof longpath - 1);
  longpath[0] = '/';
  longpath[sizeof longpath - 1] = 0;
  ASSERT_EQ(gort_listen(&l, "unix", longpath), GORT_EINVAL);
  ASSERT_EQ(gort_dial(&c, "unix", longpath, gt_long_deadline()), GORT_EINVAL);

  ASSERT_EQ(gort_listen_packet(NULL, "udp", "127.0.0.1:0"), GORT_EINVAL);
  ASSERT_EQ(gort_listen_packet(&c, NULL, "127.0.0.1:0"), GORT_EINVAL);
  ASSERT_EQ(gort_listen_packet(&c, "udp", NULL), GORT_EINVAL);
  ASSERT_EQ(gort_listen_packet(&c, "tcp", "127.0.0.1:0"), GORT_EINVAL);
  ASSERT_EQ(gort_listen_packet(&c, "bogus", "127.0.0.1:0"), GORT_EINVAL);

  ASSERT_EQ(gort_dial(NULL, "tcp", "127.0.0.1:1", 0), GORT_EINVAL);
  ASSERT_EQ(gort_dial(&c, NULL, "127.0.0.1:1", 0), GORT_EINVAL);
  ASSERT_EQ(gort_dial(&c, "tcp", NULL, 0), GORT_EINVAL);
  ASSERT_EQ(gort_dial(&c, "bogus", "127.0.0.1:1", 0), GORT_EINVAL);

  ASSERT_EQ(gort_listener_addr(NULL, buf, sizeof buf), GORT_EINVAL);
  ASSERT_EQ(gort_accept(NULL, &c, 0), GORT_EINVAL);
  ASSERT_EQ(gort_accept(NULL, &c, GORT_NEVER), GORT_EINVAL);
  ASSERT_EQ(gort_listener_close(NULL), GORT_EINVAL);

  ASSERT_EQ(gort_read(NULL, buf, sizeof buf, 0), GORT_EINVAL);
  ASSERT_EQ(gort_read(NULL, buf, sizeof buf, GORT_NEVER), GORT_EINVAL);
  ASSERT_EQ(gort_write(NULL, "x", 1, GORT_NEVER), GORT_EINVAL);
  ASSERT_EQ(gort_readfrom(NULL, buf, sizeof buf, NULL, 0, 0), GORT_EINVAL);
  ASSERT_EQ(gort_writeto(NULL, "x", 1, "127.0.0.1:1", 0), GORT_EINVAL);
  ASSERT_EQ(gort_conn_close(NULL), GORT_EINVAL);
  ASSERT_EQ(gort_conn_shutdown(NULL, GORT_SHUT_WR), GORT_EINVAL);
  ASSERT_EQ(gort_conn_local_addr(NULL, buf, sizeof buf), GORT_EINVAL);
  ASSERT_EQ(gort_conn_peer_addr(NULL, buf, sizeof buf), GORT_EINVAL);
  ASSERT_EQ(gort_conn_handle(NULL), -1);
  ASSERT_EQ(gort_conn_adopt(NULL, 0), GORT_EINVAL);

  /* live handles, bad buffers */
  l = listen_tcp(addr);
  ASSERT_EQ(gort_accept(l, NULL, 0), GORT_EINVAL);
  ASSERT_EQ(gort_accept(l, NULL, GORT_NEVER), GORT_EINVAL);
  gort_conn *a = dial("tcp", addr), *s = accept1(l);
  ASSERT_EQ(gort_read(a, NULL, 16, 0), GORT_EINVAL);
  ASSERT_EQ(gort_read(a, NULL, 16, GORT_NEVER), GORT_EINVAL);
  ASSERT_EQ(gort_write(a, NULL, 16, GORT_NEVER), GORT_EINVAL);
  ASSERT_EQ(gort_conn_local_addr(a, NULL, sizeof buf), GORT_EINVAL);
  ASSERT_EQ(gort_conn_peer_addr(a, buf, 0), GORT_EINVAL);
  ASSERT_EQ(gort_conn_shutdown(a, -1), GORT_EINVAL);
  ASSERT_EQ(gort_conn_shutdown(a, 3), GORT_EINVAL);
  gort_conn *u = listen_packet("udp", "127.0.0.1:0", buf);
  ASSERT_EQ(gort_readfrom(u, NULL, 16, NULL, 0, 0), GORT_EINVAL);
  ASSERT_EQ(gort_writeto(u, NULL, 1, addr, 0), GORT_EINVAL);
  ASSERT_EQ(gort_writeto(u, "x", 1, "[::1", 0), GORT_EINVAL);
  ASSERT_EQ(gort_writeto(u, "x", 1, "127.0.0.1:70000", 0), GORT_EINVAL);
  /* and everything still works afterwards */
  write_str(a, "fine");
  expect_str(s, "fine");
  close_conn(u);
  close_conn(a);
  close_conn(s);
  ASSERT_EQ(gort_listener_close(l), 0);
}

START_TEST(test_invalid)
{
  gt_run_body(_i == 1, 1, invalid_body, NULL);
}
END_TEST

/* ---- the suite ----------------------------------------------------------- */

static Suite *net_suite(void)
{
  Suite *s = suite_create("net");
  TCase *tc = gt_tcase(s, "basic", 60);
  tcase_add_loop_test(tc, test_invalid, 0, 2);
  tcase_add_test(tc, test_poller);
  tcase_add_loop_test(tc, test_addr, 0, 2);
  tcase_add_loop_test(tc, test_refused, 0, 2);
  tcase_add_test(tc, test_tcp_defaults);
  tcase_add_loop_test(tc, test_ipv6, 0, 2);
  tcase_add_loop_test(tc, test_udp, 0, 2);
  tcase_add_loop_test(tc, test_unix, 0, 2);
  tcase_add_loop_test(tc, test_halfclose, 0, 2);
  tcase_add_loop_test(tc, test_reset, 0, 2);
  tcase_add_loop_test(tc, test_sigpipe, 0, 2);
  tcase_add_loop_test(tc, test_adopt, 0, 2);
  tcase_add_loop_test(tc, test_fd_wait, 0, 3);
  tcase_add_test(tc, test_threads);

  tc = gt_tcase(s, "deadline", 60);
  tcase_add_loop_test(tc, test_deadlines, 0, 3);
  tcase_add_loop_test(tc, test_cancel, 0, 2 * CK_NKIND);
  tcase_add_loop_test(tc, test_emfile, 0, 2);

  tc = gt_tcase(s, "close", 90);
  tcase_add_loop_test(tc, test_close_blocked, 0, 2 * VK_NKIND);
  tcase_add_loop_test(tc, test_fd_reuse, 0, 2 * RU_NKIND);
  tcase_add_loop_test(tc, test_accepters, 0, 3);
  tcase_add_loop_test(tc, test_accept_loop_close, 0, 3);
  tcase_add_loop_test(tc, test_eof_after_data, 0, 3);

  tc = gt_tcase(s, "load", 180);
  tcase_add_loop_test(tc, test_duplex, 0, DX_NKIND + 1);
  tcase_add_loop_test(tc, test_echo_many, 0, 2);
  return s;
}

GT_MAIN(net_suite)
