/*
 * dial.c - where conns come from: gort_listen, gort_listen_packet,
 * gort_accept, gort_dial, and the listener (Go's net.Listen,
 * net.ListenPacket, Listener.Accept, net.Dial). The records and the socket
 * helpers are sock.c's (sock.h).
 *
 * Listening follows Go's defaults: SO_REUSEADDR for TCP; an IPv6 socket is
 * dual-stack for "tcp"/"udp" (so ":0" accepts IPv4 too) and v6-only for
 * "tcp6"/"udp6"; a unix listener refuses an existing path (EADDRINUSE) and
 * removes its file at close, unless abstract ("@name"). A unixgram socket
 * file is left in place at close, as Go leaves it.
 *
 * Accept survives running out of descriptors: EMFILE/ENFILE (and
 * ENOBUFS/ENOMEM) back off 5 ms doubling to 1 s and retry until the
 * deadline (Go's http.Server), then report GORT_EMFILE (GORT_ENOMEM).
 * Errors of one pending connection (ECONNABORTED, and the network errors
 * Linux passes on through accept) skip to the next.
 *
 * A failed connect attempt's conn was never seen by anyone: it is thrown
 * away with gort__pd_discard (which frees the record) before the next
 * address is tried.
 *
 * Rejected.
 *  - A pure gort_sleep for the back-off: it waits on the listener itself
 *    with the back-off as the deadline, so gort_listener_close ends it at
 *    once with GORT_ECLOSED instead of after up to a second.
 *  - Racing addresses (Go's Happy Eyeballs): dial tries them in turn, each
 *    with its share of the time left (Go's partialDeadline), which is what
 *    Go does without a dual-stack fallback delay.
 *  - Retrying a unix connect that says EAGAIN (the listener's backlog is
 *    full on Linux): no readiness edge announces room, so it is reported.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/sock.h"

#define BACKLOG 4096          /* the kernel clamps it to its maximum */
#define MINSHARE 2000000000LL /* a dial attempt gets at least 2 s */
#define BACKOFF0 5000000LL    /* accept's first EMFILE back-off, 5 ms */
#define BACKOFFMAX 1000000000LL

static void listener_free(void *arg)
{
  gort_listener *l = arg;
  free(l->unlink_path);
  free(l);
}

static void listener_fin(void *arg)
{
  gort_listener *l = arg;
  atomic_store_explicit(&l->closed, 1, memory_order_release);
  gort__sock_bury(l, listener_free);
}

#define KEEPALIVE_S 15 /* Go's default for dialled and accepted conns */

/* Go's defaults for a TCP conn it dials or accepts: no Nagle delay, and
 * keep-alive probes after 15 s idle, every 15 s. Best effort: a system
 * without an option keeps its own default. */
static void tcp_defaults(int fd)
{
  gort__sock_setopt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
  gort__sock_setopt(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
#ifdef TCP_KEEPIDLE
  gort__sock_setopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, KEEPALIVE_S);
#endif
#ifdef TCP_KEEPINTVL
  gort__sock_setopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, KEEPALIVE_S);
#endif
}

/* gort__conn_new for a socket; on failure fd is closed. */
static int conn_wrap(gort_conn **out, int fd, const gort__netinfo *n,
                     int family)
{
  int rc;
  if (n->socktype == SOCK_STREAM && (family == AF_INET || family == AF_INET6))
    tcp_defaults(fd);
  rc = gort__conn_new(out, fd, n, family, true);
  if (rc < 0)
    close(fd);
  return rc;
}

static int listener_new(gort_listener **out, int fd, const gort__netinfo *n,
                        const gort__addr *a)
{
  gort__sched *s = gort__net_sched();
  gort_listener *l;
  int rc;
  if (!s || !(l = calloc(1, sizeof *l)))
    return GORT_ENOMEM;
  l->net = *n;
  l->family = a->ss.ss_family;
  if (a->ss.ss_family == AF_UNIX) {
    const struct sockaddr_un *su = (const struct sockaddr_un *)&a->ss;
    size_t off = offsetof(struct sockaddr_un, sun_path);
    if (a->len > off && su->sun_path[0] != '\0' &&
        !(l->unlink_path = strndup(su->sun_path, a->len - off))) {
      free(l);
      return GORT_ENOMEM;
    }
  }
  if ((rc = gort__pd_open(&l->pd, s, fd, listener_fin, l)) < 0) {
    listener_free(l);
    return rc;
  }
  *out = l;
  return 0;
}

/* Whether a is the IPv6 wildcard "[::]:port". */
static bool is_v6_any(const gort__addr *a)
{
  struct sockaddr_in6 v6;
  if (a->ss.ss_family != AF_INET6)
    return false;
  memcpy(&v6, &a->ss, sizeof v6);
  return IN6_IS_ADDR_UNSPECIFIED(&v6.sin6_addr);
}

/* "[::]:port" -> "0.0.0.0:port", for hosts without IPv6. */
static void v4_any(gort__addr *a)
{
  struct sockaddr_in6 v6;
  struct sockaddr_in v4;
  memcpy(&v6, &a->ss, sizeof v6);
  memset(&v4, 0, sizeof v4);
  v4.sin_family = AF_INET;
  v4.sin_port = v6.sin6_port;
  v4.sin_addr.s_addr = htonl(INADDR_ANY);
  memcpy(&a->ss, &v4, sizeof v4);
  a->len = sizeof v4;
}

/* ---- listening -------------------------------------------------------- */

/* A socket bound to a (SO_REUSEADDR for TCP, as Go). */
static int sock_bind(const gort__netinfo *n, const gort__addr *a, int *out)
{
  int fd, rc = gort__sock_open(a->ss.ss_family, n, &fd);
  if (rc < 0)
    return rc;
  if (n->socktype == SOCK_STREAM && a->ss.ss_family != AF_UNIX)
    rc = gort__sock_setopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  if (rc == 0 && bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0)
    rc = -errno;
  if (rc < 0) {
    close(fd);
    return rc;
  }
  *out = fd;
  return 0;
}

/* Resolves address for listening and binds a socket to it; a wildcard of
 * "tcp"/"udp" falls back to IPv4 on a host without IPv6. */
static int bind_addr(const gort__netinfo *n, const char *address, gort__addr *a,
                     int *fd)
{
  int rc = gort__addr_resolve(n, address, true, a, 1, GORT_NEVER);
  if (rc < 0)
    return rc;
  rc = sock_bind(n, a, fd);
  if (rc == GORT_EAFNOSUPPORT && n->family == AF_UNSPEC && is_v6_any(a)) {
    v4_any(a);
    rc = sock_bind(n, a, fd);
  }
  return rc;
}

/* Removes a unix socket file bind created, when setting up failed later. */
static void unbind(const gort__addr *a)
{
  const struct sockaddr_un *su = (const struct sockaddr_un *)&a->ss;
  char path[sizeof su->sun_path + 1];
  size_t off = offsetof(struct sockaddr_un, sun_path);
  if (a->ss.ss_family != AF_UNIX || a->len <= off || su->sun_path[0] == '\0')
    return;
  memcpy(path, su->sun_path, a->len - off);
  path[a->len - off] = '\0';
  unlink(path);
}

/* The socket of a gort_listen (socktype SOCK_STREAM) or gort_listen_packet
 * (SOCK_DGRAM), bound to address. */
static int open_bound(const char *network, const char *address, int socktype,
                      gort__netinfo *n, gort__addr *a, int *fd)
{
  if (!address || gort__net_parse(network, n) < 0 || n->socktype != socktype)
    return GORT_EINVAL;
  return bind_addr(n, address, a, fd);
}

GORT_API int gort_listen(gort_listener **out, const char *network,
                         const char *address)
{
  gort__netinfo n;
  gort__addr a;
  int fd, rc;
  if (!out)
    return GORT_EINVAL;
  *out = NULL;
  if ((rc = open_bound(network, address, SOCK_STREAM, &n, &a, &fd)) < 0)
    return rc;
  if (listen(fd, BACKLOG) < 0)
    rc = -errno;
  else
    rc = listener_new(out, fd, &n, &a);
  if (rc < 0) {
    close(fd);
    unbind(&a);
  }
  return rc;
}

GORT_API int gort_listen_packet(gort_conn **out, const char *network,
                                const char *address)
{
  gort__netinfo n;
  gort__addr a;
  int fd, rc;
  if (!out)
    return GORT_EINVAL;
  *out = NULL;
  if ((rc = open_bound(network, address, SOCK_DGRAM, &n, &a, &fd)) < 0)
    return rc;
  rc = gort__conn_new(out, fd, &n, a.ss.ss_family, true);
  if (rc < 0) {
    close(fd);
    unbind(&a);
  }
  return rc;
}

GORT_API int gort_listener_addr(gort_listener *l, char *buf, size_t len)
{
  if (!l)
    return GORT_EINVAL;
  if (gort__sock_closed(&l->closed))
    return GORT_ECLOSED;
  return gort__sock_name(l->pd, l, false, buf, len);
}

/* Only the first closer removes the socket file: a later listener may have
 * bound the same path by the time a second close comes. */
GORT_API int gort_listener_close(gort_listener *l)
{
  int rc;
  if (!l)
    return GORT_EINVAL;
  if (atomic_exchange_explicit(&l->closed, 1, memory_order_acq_rel))
    return GORT_ECLOSED;
  if ((rc = gort__pd_lock(l->pd, l, 0, GORT_NEVER)) < 0)
    return rc;
  rc = gort__pd_close(l->pd);
  if (rc == 0 && l->unlink_path)
    unlink(l->unlink_path);
  gort__pd_unlock(l->pd, 0);
  return rc;
}

/* ---- accepting -------------------------------------------------------- */

static ssize_t accept_op(int fd, void *arg)
{
  int nfd, rc = 0;
  (void)arg;
#ifdef HAVE_ACCEPT4
  nfd = accept4(fd, NULL, NULL, GORT__SOCK_FLAGS);
  if (nfd < 0)
    return -errno;
  if (GORT__SOCK_FLAGS == 0)
    rc = gort__sock_setflags(nfd);
#else
  if ((nfd = accept(fd, NULL, NULL)) < 0)
    return -errno;
  rc = gort__sock_setflags(nfd);
#endif
  if (rc < 0) {
    close(nfd);
    return rc;
  }
  return nfd;
}

/* Errors of one pending connection, not of the listener: try the next
 * one (Linux passes a connection's network errors on through accept). */
static bool accept_skip(ssize_t err)
{
  switch (-err) {
  case ECONNABORTED:
  case EPROTO:
  case ENETDOWN:
  case ENOPROTOOPT:
  case EHOSTDOWN:
  case EHOSTUNREACH:
  case EOPNOTSUPP:
  case ENETUNREACH:
#ifdef ENONET
  case ENONET:
#endif
    return true;
  default:
    return false;
  }
}

/* Out of descriptors or memory: waits and tries again (Go's http.Server). */
static bool accept_backoff(ssize_t err)
{
  return err == -EMFILE || err == -ENFILE || err == -ENOBUFS || err == -ENOMEM;
}

/* Waits *delay (then doubles it, up to BACKOFFMAX) on the listener itself,
 * so a close ends the wait. 0 to try again; GORT_EMFILE/ENOMEM once the
 * deadline is reached; GORT_ECLOSED, GORT_ECANCELED. */
static int backoff(gort__pd *pd, int64_t *delay, int64_t deadline, ssize_t err)
{
  int fail = err == -EMFILE || err == -ENFILE ? GORT_EMFILE : GORT_ENOMEM;
  int64_t now = gort__nanotime(), until = now + *delay;
  int rc;
  if (deadline == 0 || (deadline != GORT_NEVER && deadline <= now))
    return fail;
  if (deadline != GORT_NEVER && deadline < until)
    until = deadline;
  *delay = *delay * 2 > BACKOFFMAX ? BACKOFFMAX : *delay * 2;
  do /* a new connection wakes us early: keep waiting */
    rc = gort__pd_wait(pd, GORT_READ, until);
  while (rc == 0);
  return rc == GORT_ETIMEDOUT ? 0 : rc;
}

static ssize_t accept_fd(gort__pd *pd, int64_t deadline)
{
  int64_t delay = BACKOFF0;
  ssize_t fd;
  int rc;
  for (;;) {
    fd = gort__sock_retry(pd, GORT_READ, deadline, accept_op, NULL);
    if (fd >= 0)
      return fd;
    if (accept_skip(fd))
      continue;
    if (!accept_backoff(fd))
      return fd;
    if ((rc = backoff(pd, &delay, deadline, fd)) < 0)
      return rc;
  }
}

GORT_API int gort_accept(gort_listener *l, gort_conn **out, int64_t deadline)
{
  gort__netinfo n;
  ssize_t fd;
  int rc, family;
  if (!out)
    return GORT_EINVAL;
  *out = NULL;
  if (!l)
    return GORT_EINVAL;
  if ((rc = gort__sock_closed(&l->closed)) < 0)
    return rc;
  if ((rc = gort__sock_entry(deadline)) < 0)
    return rc;
  if ((rc = gort__pd_lock(l->pd, l, GORT_READ, deadline)) < 0)
    return rc;
  fd = accept_fd(l->pd, deadline);
  n = l->net; /* l may be freed by the unlock if it was closed meanwhile */
  family = l->family;
  gort__pd_unlock(l->pd, GORT_READ);
  if (fd < 0)
    return (int)fd;
  if ((rc = gort__sock_nosigpipe((int)fd)) < 0) {
    close((int)fd);
    return rc;
  }
  return conn_wrap(out, (int)fd, &n, family);
}

/* ---- dialling --------------------------------------------------------- */

/* After connect said EINPROGRESS: done once SO_ERROR is clear and the
 * socket has a peer (the poller may wake a writer early, Go issue 19289). */
static ssize_t connected_op(int fd, void *arg)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int err = 0;
  socklen_t elen = sizeof err;
  (void)arg;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
    return -errno;
  switch (err) {
  case 0:
  case EISCONN:
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
      return 0;
    return errno == ENOTCONN ? -EAGAIN : -errno;
  case EINPROGRESS:
  case EALREADY:
  case EINTR:
    return -EAGAIN;
  default:
    return -err;
  }
}

static int connect_pd(gort__pd *pd, const gort__addr *a, int64_t deadline)
{
  int rc, err = 0;
  if ((rc = gort__pd_lock(pd, NULL, GORT_WRITE, deadline)) < 0)
    return rc;
  if (connect(gort__pd_fd(pd), (const struct sockaddr *)&a->ss, a->len) < 0)
    err = errno;
  /* EINTR: the connect goes on in the background, as after EINPROGRESS */
  if (err == EINPROGRESS || err == EALREADY || err == EINTR)
    rc = (int)gort__sock_retry(pd, GORT_WRITE, deadline, connected_op, NULL);
  else
    rc = -err;
  gort__pd_unlock(pd, GORT_WRITE);
  return rc;
}

/* An unbound unixgram client can send but never get a reply. Linux binds
 * it to a fresh abstract name when given an empty address (autobind);
 * elsewhere it stays unbound, as in Go. */
static int autobind(int fd)
{
#ifdef __linux__
  struct sockaddr_un su;
  memset(&su, 0, sizeof su);
  su.sun_family = AF_UNIX;
  if (bind(fd, (struct sockaddr *)&su, sizeof(sa_family_t)) < 0)
    return -errno;
#else
  (void)fd;
#endif
  return 0;
}

static int dial_one(gort_conn **out, const gort__netinfo *n,
                    const gort__addr *a, int64_t deadline)
{
  int fd, rc, family = a->ss.ss_family;
  gort_conn *c;
  if ((rc = gort__sock_open(family, n, &fd)) < 0)
    return rc;
  if (family == AF_UNIX && n->socktype == SOCK_DGRAM &&
      (rc = autobind(fd)) < 0) {
    close(fd);
    return rc;
  }
  if ((rc = conn_wrap(&c, fd, n, family)) < 0)
    return rc;
  if ((rc = connect_pd(c->pd, a, deadline)) < 0) {
    gort__pd_discard(c->pd);
    return rc;
  }
  *out = c;
  return 0;
}

/* The deadline of one attempt when left addresses remain: an equal share
 * of the time left, but at least MINSHARE (or all of it), as Go's
 * partialDeadline. */
static int64_t share(int64_t deadline, int left)
{
  int64_t now, rem, d;
  if (deadline == GORT_NEVER || deadline == 0 || left <= 1)
    return deadline;
  now = gort__nanotime();
  if ((rem = deadline - now) <= 0)
    return deadline;
  d = rem / left;
  if (d < MINSHARE)
    d = rem < MINSHARE ? rem : MINSHARE;
  return now + d;
}

/* Tries each address in turn; the first error if none connects, unless
 * the whole dial timed out or was cancelled. */
GORT_API int gort_dial(gort_conn **out, const char *network,
                       const char *address, int64_t deadline)
{
  gort__netinfo n;
  gort__addr a[GORT__SOCK_MAXADDRS];
  int i, cnt, rc, first = 0;
  if (!out)
    return GORT_EINVAL;
  *out = NULL;
  if (!address || gort__net_parse(network, &n) < 0)
    return GORT_EINVAL;
  if ((rc = gort__sock_entry(deadline)) < 0)
    return rc;
  cnt =
      gort__addr_resolve(&n, address, false, a, GORT__SOCK_MAXADDRS, deadline);
  if (cnt < 0)
    return cnt;
  for (i = 0; i < cnt; i++) {
    int64_t d = share(deadline, cnt - i);
    if (i > 0 && (rc = gort__sock_entry(deadline)) < 0)
      return rc;
    if ((rc = dial_one(out, &n, &a[i], d)) == 0)
      return 0;
    if (rc == GORT_ECANCELED || rc == GORT_EAGAIN ||
        (rc == GORT_ETIMEDOUT && d == deadline))
      return rc;
    if (first == 0)
      first = rc;
  }
  return first;
}
