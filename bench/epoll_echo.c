/*
 * epoll_echo.c - the baseline for the echo benchmark: a single-threaded,
 * hand-written epoll echo server in plain C (no libgort).
 *
 *   epoll_echo PORT        (listens on 127.0.0.1:PORT until killed)
 *
 * What a competent engineer writes for the least CPU per round trip:
 * level-triggered epoll, one read per readiness event into one shared
 * buffer, and that read written straight back. Level-triggered costs no
 * extra read to find EAGAIN: a closed-loop client sends one message at a
 * time, so one read usually takes all there is, and anything left makes the
 * next epoll_wait report the socket again. A short write keeps the rest in
 * the connection's own buffer and switches its interest from EPOLLIN to
 * EPOLLOUT, so a peer that does not read stops being read (back-pressure)
 * instead of making the server buffer without limit. Per-connection state
 * sits in an array indexed by descriptor: no allocation per round trip.
 *
 * Rejected: edge-triggered (one more read per event, to reach EAGAIN);
 * one thread per core with SO_REUSEPORT (the benchmark compares CPU per
 * round trip against libgort at one P, where one thread is the fair peer).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFSZ 16384
#define NEVENTS 256

/* What a connection still owes its peer after a short write. */
struct conn {
  char *pend; /* NULL while nothing is pending */
  size_t off, len;
};

static struct conn *conns;
static size_t nconns;
static int ep;

static void die(const char *what)
{
  perror(what);
  exit(1);
}

static struct conn *conn_of(int fd)
{
  if ((size_t)fd >= nconns) {
    size_t n = nconns ? nconns : 1024;
    while (n <= (size_t)fd)
      n *= 2;
    struct conn *c = realloc(conns, n * sizeof *c);
    if (!c)
      die("realloc");
    memset(c + nconns, 0, (n - nconns) * sizeof *c);
    conns = c;
    nconns = n;
  }
  return &conns[fd];
}

static void conn_close(int fd)
{
  struct conn *c = conn_of(fd);
  free(c->pend);
  c->pend = NULL;
  close(fd); /* also removes it from the epoll set */
}

static void watch(int fd, int op, unsigned events)
{
  struct epoll_event ev = {.events = events, .data.fd = fd};
  if (epoll_ctl(ep, op, fd, &ev) < 0)
    die("epoll_ctl");
}

static void on_accept(int lfd)
{
  for (;;) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if (errno != EAGAIN && errno != EMFILE && errno != ENFILE)
        perror("accept4");
      return;
    }
    int one = 1; /* as Go does: the twin sets it on every conn */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn_of(fd); /* grow now, not on the hot path */
    watch(fd, EPOLL_CTL_ADD, EPOLLIN);
  }
}

/* Writes buf; keeps what did not go out and waits for EPOLLOUT. */
static void send_or_keep(int fd, const char *buf, size_t len)
{
  ssize_t w;
  do
    w = write(fd, buf, len);
  while (w < 0 && errno == EINTR);
  if (w < 0) {
    if (errno != EAGAIN) {
      conn_close(fd);
      return;
    }
    w = 0;
  }
  if ((size_t)w == len)
    return;
  struct conn *c = conn_of(fd);
  c->pend = malloc(len - (size_t)w);
  if (!c->pend) {
    conn_close(fd);
    return;
  }
  memcpy(c->pend, buf + w, len - (size_t)w);
  c->off = 0;
  c->len = len - (size_t)w;
  watch(fd, EPOLL_CTL_MOD, EPOLLOUT);
}

static void on_readable(int fd, char *buf)
{
  ssize_t r = read(fd, buf, BUFSZ);
  if (r > 0)
    send_or_keep(fd, buf, (size_t)r);
  else if (r == 0 || (errno != EAGAIN && errno != EINTR))
    conn_close(fd);
}

static void on_writable(int fd)
{
  struct conn *c = conn_of(fd);
  ssize_t w = write(fd, c->pend + c->off, c->len - c->off);
  if (w < 0) {
    if (errno != EAGAIN && errno != EINTR)
      conn_close(fd);
    return;
  }
  c->off += (size_t)w;
  if (c->off < c->len)
    return;
  free(c->pend);
  c->pend = NULL;
  watch(fd, EPOLL_CTL_MOD, EPOLLIN);
}

static int listen_on(const char *port)
{
  char *end;
  long p = strtol(port, &end, 10);
  if (*port == '\0' || *end != '\0' || p < 0 || p > 65535) {
    fprintf(stderr, "epoll_echo: bad port '%s'\n", port);
    exit(2);
  }
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((unsigned short)p),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd < 0)
    die("socket");
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
    die("bind");
  if (listen(fd, 4096) < 0)
    die("listen");
  return fd;
}

int main(int argc, char **argv)
{
  static char buf[BUFSZ];
  struct epoll_event evs[NEVENTS];
  if (argc != 2) {
    fprintf(stderr, "usage: epoll_echo PORT\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  int lfd = listen_on(argv[1]);
  if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
    die("epoll_create1");
  watch(lfd, EPOLL_CTL_ADD, EPOLLIN);
  for (;;) {
    int n = epoll_wait(ep, evs, NEVENTS, -1);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == lfd)
        on_accept(lfd);
      else if (conn_of(fd)->pend)
        on_writable(fd); /* also sees errors: write reports them */
      else
        on_readable(fd, buf);
    }
  }
}
