/*
 * echo_client.c - a load client for echo_server: one goroutine per
 * connection, each in a closed loop.
 *
 *   echo_client [-c CONNS] [-d SECONDS] [-m MESSAGES] [-p PROCS] ADDR
 *
 * CONNS goroutines (default 1000) each dial ADDR ("127.0.0.1:PORT"); once
 * all are connected they start together, and each sends a 64-byte message,
 * reads the whole echo and checks it, and sends the next, for SECONDS
 * (default 2) or, with -m, for MESSAGES round trips each. Then each shuts
 * down its sending side and expects the server's end of stream: an echo
 * that brought back more than was sent is caught too. Every message carries
 * its connection and sequence number, so an echo that comes back on the
 * wrong connection or out of order does not pass either.
 *
 * Each goroutine keeps its own latency samples (no shared state on the hot
 * path); they are merged and sorted at the end for p50/p99/max. Prints the
 * throughput in round trips per second and exits 0 only if every dial,
 * write and read succeeded and every echo was right.
 */
#include <gort.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MSG 64
#define SEC 1000000000LL
#define SLACK (10 * SEC) /* how long one call may take past the end */

struct worker {
  long id;
  int64_t *lat; /* ns per round trip */
  size_t n, cap;
  long bad; /* wrong echoes */
  int err;  /* first failure, 0 if none */
  const char *what;
};

static const char *addr;
static long conns = 1000, msgs; /* msgs 0: run for secs */
static double secs = 2;
static struct worker *workers;
static gort_wg dialed = GORT_WG_INIT, finished = GORT_WG_INIT;
static gort_chan *start; /* closed when every goroutine has dialed */
static int64_t end;      /* with msgs == 0: when to stop sending */
static _Atomic long reported;

static void fail(struct worker *w, const char *what, int err)
{
  if (w->err)
    return;
  w->err = err;
  w->what = what;
  if (atomic_fetch_add(&reported, 1) < 5)
    fprintf(stderr, "echo_client: conn %ld: %s: %s\n", w->id, what,
            gort_strerror(err));
}

static int record(struct worker *w, int64_t ns)
{
  if (w->n == w->cap) {
    size_t cap = w->cap ? w->cap * 2 : 1024;
    int64_t *p = realloc(w->lat, cap * sizeof *p);
    if (!p)
      return GORT_ENOMEM;
    w->lat = p;
    w->cap = cap;
  }
  w->lat[w->n++] = ns;
  return 0;
}

/* The message for round trip seq of connection id: both numbers, then a
 * pattern that depends on them. */
static void fill(unsigned char *m, long id, long seq)
{
  memcpy(m, &id, sizeof id);
  memcpy(m + sizeof id, &seq, sizeof seq);
  for (size_t i = 2 * sizeof(long); i < MSG; i++)
    m[i] = (unsigned char)(id * 7 + seq * 31 + (long)i);
}

/* One round trip; 1 if the echo was right, 0 if not, < 0 on failure. */
static int roundtrip(struct worker *w, gort_conn *c, long seq)
{
  unsigned char out[MSG], in[MSG];
  int64_t t0, limit;
  ssize_t r;
  fill(out, w->id, seq);
  t0 = gort_now();
  limit = t0 + SLACK;
  if ((r = gort_write(c, out, MSG, limit)) < 0) {
    fail(w, "write", (int)r);
    return (int)r;
  }
  for (size_t got = 0; got < MSG; got += (size_t)r) {
    /* asks for no more than the rest: extra bytes spoil the next echo */
    if ((r = gort_read(c, in + got, MSG - got, limit)) <= 0) {
      const char *what = got ? "read (mid-echo)" : "read";
      if (r == 0) {
        what = "end of stream before the echo";
        r = GORT_ECONNRESET;
      }
      fail(w, what, (int)r);
      return (int)r;
    }
  }
  if ((r = record(w, gort_now() - t0)) < 0) {
    fail(w, "record", (int)r);
    return (int)r;
  }
  return memcmp(in, out, MSG) == 0;
}

static void client(void *arg)
{
  struct worker *w = arg;
  gort_conn *c = NULL;
  int err;
  char rest;
  if ((err = gort_dial(&c, "tcp", addr, gort_now() + SLACK)) < 0)
    fail(w, "dial", err);
  gort_wg_done(&dialed);
  gort_chan_recv(start, NULL, GORT_NEVER); /* GORT_EPIPE once closed */
  if (!c)
    goto out;
  for (long seq = 0; msgs ? seq < msgs : gort_now() < end; seq++) {
    if ((err = roundtrip(w, c, seq)) < 0)
      break;
    if (!err && w->bad++ == 0 && atomic_fetch_add(&reported, 1) < 5)
      fprintf(stderr, "echo_client: conn %ld: wrong echo at message %ld\n",
              w->id, seq);
  }
  if (!w->err) {
    ssize_t r;
    if ((err = gort_conn_shutdown(c, GORT_SHUT_WR)) < 0)
      fail(w, "shutdown", err);
    else if ((r = gort_read(c, &rest, 1, gort_now() + SLACK)) != 0)
      fail(w, r > 0 ? "more bytes than were sent" : "read at close",
           r > 0 ? GORT_EMSGSIZE : (int)r);
  }
  gort_conn_close(c);
out:
  gort_wg_done(&finished);
}

static int cmp(const void *a, const void *b)
{
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static double pct(const int64_t *v, size_t n, double p)
{
  size_t i = (size_t)(p * (double)n + 0.999999); /* nearest rank */
  return n ? (double)v[i ? i - 1 : 0] / 1e6 : 0; /* ms */
}

static int status;

static void run(void *arg)
{
  int64_t t0, t1;
  size_t total = 0, k = 0;
  long bad = 0, failed = 0;
  int64_t *all;
  int err;
  (void)arg;
  if ((err = gort_chan_new(&start, 0, 0)) < 0) {
    fprintf(stderr, "echo_client: gort_chan_new: %s\n", gort_strerror(err));
    status = 1;
    return;
  }
  gort_wg_add(&dialed, conns);
  gort_wg_add(&finished, conns);
  for (long i = 0; i < conns; i++) {
    workers[i].id = i;
    if ((err = gort_go(client, &workers[i])) < 0) {
      fprintf(stderr, "echo_client: gort_go: %s\n", gort_strerror(err));
      exit(1);
    }
  }
  gort_wg_wait(&dialed, GORT_NEVER);
  t0 = gort_now();
  end = t0 + (int64_t)(secs * (double)SEC);
  gort_chan_close(start);
  gort_wg_wait(&finished, GORT_NEVER);
  t1 = gort_now();
  gort_chan_release(start);

  for (long i = 0; i < conns; i++) {
    total += workers[i].n;
    bad += workers[i].bad;
    failed += workers[i].err != 0;
  }
  if (!(all = malloc((total ? total : 1) * sizeof *all))) {
    fprintf(stderr, "echo_client: out of memory\n");
    exit(1);
  }
  for (long i = 0; i < conns; i++) {
    memcpy(all + k, workers[i].lat, workers[i].n * sizeof *all);
    k += workers[i].n;
    free(workers[i].lat);
  }
  qsort(all, total, sizeof *all, cmp);
  printf("echo_client: %ld conns, %zu round trips of %d bytes in %.2f s: "
         "%.0f rt/s\n",
         conns, total, MSG, (double)(t1 - t0) / SEC,
         (double)total * SEC / (double)(t1 - t0));
  printf("echo_client: latency p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
         pct(all, total, 0.50), pct(all, total, 0.99),
         total ? (double)all[total - 1] / 1e6 : 0.0);
  printf("echo_client: %ld wrong echoes, %ld failed conns\n", bad, failed);
  free(all);
  status = bad || failed || total == 0;
}

static void usage(void)
{
  fprintf(stderr, "usage: echo_client [-c CONNS] [-d SECONDS] [-m MESSAGES] "
                  "[-p PROCS] ADDR\n");
  exit(2);
}

int main(int argc, char **argv)
{
  int opt, procs = 0, err;
  char *e;
  while ((opt = getopt(argc, argv, "c:d:m:p:")) != -1) {
    switch (opt) {
    case 'c':
      conns = strtol(optarg, &e, 10);
      if (*e || conns < 1)
        usage();
      break;
    case 'd':
      secs = strtod(optarg, &e);
      if (*e || !(secs > 0))
        usage();
      break;
    case 'm':
      msgs = strtol(optarg, &e, 10);
      if (*e || msgs < 1)
        usage();
      break;
    case 'p':
      procs = (int)strtol(optarg, &e, 10);
      if (*e || procs < 1)
        usage();
      break;
    default:
      usage();
    }
  }
  if (optind != argc - 1)
    usage();
  addr = argv[optind];
  if (!(workers = calloc((size_t)conns, sizeof *workers))) {
    fprintf(stderr, "echo_client: out of memory\n");
    return 1;
  }
  if (procs && (err = gort_sched_maxprocs(NULL, procs)) < 0) {
    fprintf(stderr, "echo_client: -p %d: %s\n", procs, gort_strerror(err));
    return 2;
  }
  if ((err = gort_main(run, NULL)) < 0) {
    fprintf(stderr, "echo_client: %s\n", gort_strerror(err));
    return 1;
  }
  free(workers);
  return status;
}
