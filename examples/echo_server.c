/*
 * echo_server.c - a TCP echo server: one goroutine per connection.
 *
 *   echo_server [-p PROCS] [-a ADDR] [-n CONNS]
 *
 * Listens on ADDR (default 127.0.0.1:0: a port chosen by the kernel) and
 * prints "listening on ADDR" with the real port. Each accepted connection
 * gets a goroutine that reads into a buffer on its own stack and writes back
 * what it read, until the peer closes: the straight-line code a thread per
 * connection would need, while the runtime parks the goroutine on the poller
 * whenever the socket is not ready. PROCS sets the number of Ps (default:
 * the CPUs or GORT_MAXPROCS). With -n the server stops accepting after CONNS
 * connections and exits once all of them have closed (so a demo ends by
 * itself); without it, it serves until killed (bench/echo.sh).
 */
#include <gort.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* On the goroutine's stack (64 KiB by default). A closed-loop peer's message
 * fits many times over; a smaller frame touches fewer stack pages. */
#define BUFSZ 8192

static const char *addr = "127.0.0.1:0";
static long limit; /* 0: serve until killed */
static gort_wg live = GORT_WG_INIT;
static int status;

static void serve(void *arg)
{
  gort_conn *c = arg;
  char buf[BUFSZ];
  ssize_t n;
  while ((n = gort_read(c, buf, sizeof buf, GORT_NEVER)) > 0)
    if (gort_write(c, buf, (size_t)n, GORT_NEVER) < 0)
      break;
  gort_conn_close(c);
  if (limit)
    gort_wg_done(&live);
}

/* Accept errors that say nothing about the listener: go on after a pause
 * (as Go's net/http does) rather than give up while others are served. */
static int transient(int err)
{
  return err == GORT_EMFILE || err == GORT_ENOMEM || err == GORT_ECONNABORTED ||
         err == GORT_ECONNRESET;
}

static void run(void *arg)
{
  gort_listener *l;
  char where[128];
  int err;
  (void)arg;
  if ((err = gort_listen(&l, "tcp", addr)) < 0 ||
      (err = gort_listener_addr(l, where, sizeof where)) < 0) {
    fprintf(stderr, "echo_server: listen on %s: %s\n", addr,
            gort_strerror(err));
    status = 1;
    return;
  }
  printf("listening on %s\n", where);
  fflush(stdout);
  for (long accepted = 0; !limit || accepted < limit;) {
    gort_conn *c;
    if ((err = gort_accept(l, &c, GORT_NEVER)) < 0) {
      fprintf(stderr, "echo_server: accept: %s\n", gort_strerror(err));
      if (!transient(err)) {
        status = 1;
        break;
      }
      gort_sleep(10 * 1000000);
      continue;
    }
    if (limit)
      gort_wg_add(&live, 1);
    if ((err = gort_go(serve, c)) < 0) {
      fprintf(stderr, "echo_server: gort_go: %s\n", gort_strerror(err));
      gort_conn_close(c);
      if (limit)
        gort_wg_done(&live);
      status = 1;
      break;
    }
    accepted++;
  }
  gort_listener_close(l);
  gort_wg_wait(&live, GORT_NEVER);
}

static void usage(void)
{
  fprintf(stderr, "usage: echo_server [-p PROCS] [-a ADDR] [-n CONNS]\n");
  exit(2);
}

int main(int argc, char **argv)
{
  int opt, procs = 0, err;
  char *end;
  while ((opt = getopt(argc, argv, "p:a:n:")) != -1) {
    switch (opt) {
    case 'p':
      procs = (int)strtol(optarg, &end, 10);
      if (*end || procs < 1)
        usage();
      break;
    case 'a':
      addr = optarg;
      break;
    case 'n':
      limit = strtol(optarg, &end, 10);
      if (*end || limit < 1)
        usage();
      break;
    default:
      usage();
    }
  }
  if (optind != argc)
    usage();
  if (procs && (err = gort_sched_maxprocs(NULL, procs)) < 0) {
    fprintf(stderr, "echo_server: -p %d: %s\n", procs, gort_strerror(err));
    return 2;
  }
  if ((err = gort_main(run, NULL)) < 0) {
    fprintf(stderr, "echo_server: %s\n", gort_strerror(err));
    return 1;
  }
  return status;
}
