/*
 * sock.c - conns and listeners: the socket half of gort.h's "Poller and
 * sockets" (Go's net.Listen, net.Dial, net.ListenPacket, net.FileConn).
 *
 * What it owns. A gort_conn or gort_listener is a small heap record around
 * one gort__pd (lib/net/netpoll.h), which owns the descriptor. The record
 * is freed by the pd's fin callback, never by close itself: goroutines
 * still inside a call on it hold pd references, and the record must outlive
 * them. Every operation brackets its work with gort__pd_lock/unlock: mode
 * GORT_READ for read, readfrom and accept, GORT_WRITE for write, writeto and
 * connect, 0 (a reference only) for address getters, shutdown, handle and
 * close. So one reader and one writer run at once, further ones queue, and
 * close wakes all of them with GORT_ECLOSED.
 *
 * Invariants.
 *  - Every descriptor made here is non-blocking and close-on-exec from its
 *    first instant where the OS allows (SOCK_NONBLOCK|SOCK_CLOEXEC,
 *    accept4), else right after (fcntl), before anyone else can see it.
 *  - No call raises SIGPIPE: sends use MSG_NOSIGNAL (SO_NOSIGPIPE where
 *    that is the OS's way); an adopted non-socket is written with write()
 *    with SIGPIPE blocked for the call and a signal it caused consumed.
 *  - errno is read into a local right after the call that set it, never
 *    across anything that can park (the goroutine may resume on another
 *    thread), and reported as -errno: on POSIX that is the GORT_E* code.
 *  - A record handed to the caller is reachable from its pd only; one that
 *    never was (a failed connect attempt) is thrown away with
 *    gort__pd_discard before the next address is tried.
 *
 * Rejected.
 *  - Freeing the record in gort_conn_close: a reader parked in another
 *    goroutine would wake into freed memory. fin runs after the last user.
 *  - A pure gort_sleep for accept's EMFILE back-off (Go's http.Server): the
 *    back-off here waits on the listener itself with the back-off as the
 *    deadline, so gort_listener_close ends it at once with GORT_ECLOSED
 *    instead of after up to a second.
 *  - Racing addresses (Go's Happy Eyeballs): dial tries them in turn, each
 *    with its share of the time left (Go's partialDeadline), which is what
 *    Go does when dual-stack racing is off.
 *  - Retrying a unix connect that says EAGAIN (the listener's backlog is
 *    full on Linux): no readiness edge announces room, so it is reported.
 *
 * A second gort_conn_close (or gort_listener_close) returns GORT_ECLOSED
 * as long as the record is alive, i.e. while some goroutine is still inside
 * a call on it; once the last one has left the record is freed and the
 * handle must not be used again, as with free().
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/addr.h"
#include "net/netpoll.h"

#ifdef MSG_NOSIGNAL
#define SEND_FLAGS MSG_NOSIGNAL
#else
#define SEND_FLAGS 0 /* SO_NOSIGPIPE is set on the socket instead */
#endif

/* Flags that make a new socket non-blocking and close-on-exec at birth;
 * 0 where the OS lacks them (fcntl does it right after). */
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
#define SOCK_FLAGS (SOCK_NONBLOCK | SOCK_CLOEXEC)
#else
#define SOCK_FLAGS 0
#endif

#define BACKLOG 4096          /* the kernel clamps it to its maximum */
#define MAXRW (1 << 30)       /* one read or write at most (as Go) */
#define MAXADDRS 8            /* addresses dial tries */
#define MINSHARE 2000000000LL /* a dial attempt gets at least 2 s */
#define BACKOFF0 5000000LL    /* accept's first EMFILE back-off, 5 ms */
#define BACKOFFMAX 1000000000LL

struct gort_conn {
  gort__pd *pd;
  gort__netinfo net; /* as named ("udp": AF_UNSPEC), to parse addresses */
  int family;        /* the socket's own */
  bool sock;         /* false: an adopted pipe, tty...: read() and write() */
};

struct gort_listener {
  gort__pd *pd;
  gort__netinfo net;
  int family;
  char *unlink_path; /* a unix socket file to remove at close, or NULL */
};

static void conn_fin(void *arg)
{
  free(arg);
}

static void listener_fin(void *arg)
{
  gort_listener *l = arg;
  free(l->unlink_path);
  free(l);
}

/* The entry checks of a blocking call, before any I/O (as Go: a past
 * deadline fails even if the call would not block). */
static int entry(int64_t deadline)
{
  int rc = gort__check_cancel();
  if (rc)
    return rc;
  if (deadline < 0 && deadline != GORT_NEVER)
    return GORT_EINVAL;
  if (deadline > 0 && deadline <= gort__nanotime())
    return GORT_ETIMEDOUT;
  return 0;
}

/* ---- descriptors ---------------------------------------------------- */

static int set_flags(int fd)
{
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
    return -errno;
  fl = fcntl(fd, F_GETFD);
  if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
    return -errno;
  return 0;
}

static int setopt(int fd, int level, int name, int value)
{
  if (setsockopt(fd, level, name, &value, sizeof value) < 0)
    return -errno;
  return 0;
}

static int no_sigpipe(int fd)
{
#ifdef SO_NOSIGPIPE
  return setopt(fd, SOL_SOCKET, SO_NOSIGPIPE, 1);
#else
  (void)fd;
  return 0;
#endif
}

/* Go's default options: an IPv6 socket is dual-stack unless the network
 * says "6" (tcp6, udp6); IP datagram sockets may broadcast. */
static int sock_setup(int fd, int family, const gort__netinfo *n)
{
  int rc = no_sigpipe(fd);
  if (rc == 0 && family == AF_INET6)
    rc = setopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, n->family == AF_INET6);
  if (rc == 0 && family != AF_UNIX && n->socktype == SOCK_DGRAM)
    rc = setopt(fd, SOL_SOCKET, SO_BROADCAST, 1);
  return rc;
}

static int sock_open(int family, const gort__netinfo *n, int *out)
{
  int fd, rc = 0, proto = family == AF_UNIX ? 0 : n->protocol;
  if ((fd = socket(family, n->socktype | SOCK_FLAGS, proto)) < 0)
    return -errno;
  if (SOCK_FLAGS == 0)
    rc = set_flags(fd);
  if (rc == 0)
    rc = sock_setup(fd, family, n);
  if (rc < 0) {
    close(fd);
    return rc;
  }
  *out = fd;
  return 0;
}

/* write() to a non-socket without dying of SIGPIPE: the signal is blocked
 * for the call and, if the call raised it, taken back. No park happens in
 * between, so the mask is restored on the thread that set it. */
static ssize_t pipe_write(int fd, const void *buf, size_t len)
{
  sigset_t pipe, old, pend;
  bool was_pending;
  ssize_t n;
  int err, sig;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  sigpending(&pend);
  was_pending = sigismember(&pend, SIGPIPE) == 1;
  pthread_sigmask(SIG_BLOCK, &pipe, &old);
  n = write(fd, buf, len);
  err = n < 0 ? errno : 0;
  if (err == EPIPE && !was_pending && sigpending(&pend) == 0 &&
      sigismember(&pend, SIGPIPE) == 1)
    sigwait(&pipe, &sig);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return n < 0 ? -err : n;
}

/* Runs op(fd, arg) until it says something other than EAGAIN or EINTR,
 * waiting for the next readiness edge in mode between tries. op returns a
 * count or -errno. The caller holds gort__pd_lock(pd, mode). */
typedef ssize_t (*io_op)(int fd, void *arg);
static ssize_t retry(gort__pd *pd, int mode, int64_t deadline, io_op op,
                     void *arg)
{
  for (;;) {
    ssize_t n = op(gort__pd_fd(pd), arg);
    int rc;
    if (n == -EINTR)
      continue;
    if (n != -EAGAIN && n != -EWOULDBLOCK)
      return n;
    if ((rc = gort__pd_wait(pd, mode, deadline)) < 0)
      return rc;
  }
}

static ssize_t locked_io(gort__pd *pd, int mode, int64_t deadline, io_op op,
                         void *arg)
{
  ssize_t n = gort__pd_lock(pd, mode, deadline);
  if (n < 0)
    return n;
  n = retry(pd, mode, deadline, op, arg);
  gort__pd_unlock(pd, mode);
  return n;
}

/* ---- records ---------------------------------------------------------- */

/* Wraps fd (non-blocking, close-on-exec). On failure fd is still the
 * caller's. */
static int conn_new(gort_conn **out, int fd, const gort__netinfo *n, int family,
                    bool sock)
{
  gort__sched *s = gort__net_sched();
  gort_conn *c;
  int rc;
  if (!s)
    return GORT_ENOMEM;
  if (!(c = calloc(1, sizeof *c)))
    return GORT_ENOMEM;
  c->net = *n;
  c->family = family;
  c->sock = sock;
  if ((rc = gort__pd_open(&c->pd, s, fd, conn_fin, c)) < 0) {
    free(c);
    return rc;
  }
  *out = c;
  return 0;
}

/* Like conn_new, but on failure fd is closed. */
static int conn_wrap(gort_conn **out, int fd, const gort__netinfo *n,
                     int family)
{
  int rc = conn_new(out, fd, n, family, true);
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
    listener_fin(l);
    return rc;
  }
  *out = l;
  return 0;
}

/* ---- addresses -------------------------------------------------------- */

/* Makes a fit a socket of family: an IPv4 address becomes v4-mapped for an
 * IPv6 socket and a v4-mapped one plain for an IPv4 socket (as Go's
 * ipToSockaddr); anything else must match. */
static int addr_fit(gort__addr *a, int family)
{
  struct sockaddr_in v4;
  struct sockaddr_in6 v6;
  if (a->ss.ss_family == family)
    return 0;
  if (family == AF_INET6 && a->ss.ss_family == AF_INET) {
    memcpy(&v4, &a->ss, sizeof v4);
    memset(&v6, 0, sizeof v6);
    v6.sin6_family = AF_INET6;
    v6.sin6_port = v4.sin_port;
    v6.sin6_addr.s6_addr[10] = 0xff;
    v6.sin6_addr.s6_addr[11] = 0xff;
    memcpy(&v6.sin6_addr.s6_addr[12], &v4.sin_addr, 4);
    memcpy(&a->ss, &v6, sizeof v6);
    a->len = sizeof v6;
    return 0;
  }
  if (family == AF_INET && a->ss.ss_family == AF_INET6) {
    memcpy(&v6, &a->ss, sizeof v6);
    if (!IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr))
      return GORT_EAFNOSUPPORT;
    memset(&v4, 0, sizeof v4);
    v4.sin_family = AF_INET;
    v4.sin_port = v6.sin6_port;
    memcpy(&v4.sin_addr, &v6.sin6_addr.s6_addr[12], 4);
    memcpy(&a->ss, &v4, sizeof v4);
    a->len = sizeof v4;
    return 0;
  }
  return GORT_EAFNOSUPPORT;
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

typedef int (*name_fn)(int fd, struct sockaddr *sa, socklen_t *len);

/* getsockname/getpeername formatted into buf. */
static int name_of(gort__pd *pd, name_fn fn, char *buf, size_t len)
{
  gort__addr a;
  int rc, err;
  if (!buf || len == 0)
    return GORT_EINVAL;
  buf[0] = '\0';
  if ((rc = gort__pd_lock(pd, 0, GORT_NEVER)) < 0)
    return rc;
  memset(&a, 0, sizeof a);
  a.len = sizeof a.ss;
  rc = fn(gort__pd_fd(pd), (struct sockaddr *)&a.ss, &a.len);
  err = rc < 0 ? errno : 0;
  gort__pd_unlock(pd, 0);
  if (rc < 0)
    return err == ENOTSOCK ? GORT_ENOTSUP : -err;
  rc = gort__addr_format(&a, buf, len);
  return rc < 0 ? rc : 0;
}

static int sockname(int fd, struct sockaddr *sa, socklen_t *len)
{
  return getsockname(fd, sa, len);
}

static int peername(int fd, struct sockaddr *sa, socklen_t *len)
{
  return getpeername(fd, sa, len);
}

/* ---- listening -------------------------------------------------------- */

/* A socket bound to a (SO_REUSEADDR for TCP, as Go). */
static int sock_bind(const gort__netinfo *n, const gort__addr *a, int *out)
{
  int fd, rc = sock_open(a->ss.ss_family, n, &fd);
  if (rc < 0)
    return rc;
  if (n->socktype == SOCK_STREAM && a->ss.ss_family != AF_UNIX)
    rc = setopt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
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

GORT_API int gort_listen(gort_listener **out, const char *network,
                         const char *address)
{
  gort__netinfo n;
  gort__addr a;
  int fd, rc;
  if (!out)
    return GORT_EINVAL;
  *out = NULL;
  if (!address || gort__net_parse(network, &n) < 0 || n.socktype != SOCK_STREAM)
    return GORT_EINVAL;
  if ((rc = bind_addr(&n, address, &a, &fd)) < 0)
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
  if (!address || gort__net_parse(network, &n) < 0 || n.socktype != SOCK_DGRAM)
    return GORT_EINVAL;
  if ((rc = bind_addr(&n, address, &a, &fd)) < 0)
    return rc;
  rc = conn_new(out, fd, &n, a.ss.ss_family, true);
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
  return name_of(l->pd, sockname, buf, len);
}

/* Only the first closer removes the socket file: a later listener may have
 * bound the same path by the time a second close comes. */
GORT_API int gort_listener_close(gort_listener *l)
{
  int rc;
  if (!l)
    return GORT_EINVAL;
  if ((rc = gort__pd_lock(l->pd, 0, GORT_NEVER)) < 0)
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
  nfd = accept4(fd, NULL, NULL, SOCK_FLAGS);
  if (nfd < 0)
    return -errno;
  if (SOCK_FLAGS == 0)
    rc = set_flags(nfd);
#else
  if ((nfd = accept(fd, NULL, NULL)) < 0)
    return -errno;
  rc = set_flags(nfd);
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
    fd = retry(pd, GORT_READ, deadline, accept_op, NULL);
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
  if ((rc = entry(deadline)) < 0)
    return rc;
  if ((rc = gort__pd_lock(l->pd, GORT_READ, deadline)) < 0)
    return rc;
  fd = accept_fd(l->pd, deadline);
  n = l->net; /* l may be freed by the unlock if it was closed meanwhile */
  family = l->family;
  gort__pd_unlock(l->pd, GORT_READ);
  if (fd < 0)
    return (int)fd;
  if ((rc = no_sigpipe((int)fd)) < 0) {
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
  if ((rc = gort__pd_lock(pd, GORT_WRITE, deadline)) < 0)
    return rc;
  if (connect(gort__pd_fd(pd), (const struct sockaddr *)&a->ss, a->len) < 0)
    err = errno;
  /* EINTR: the connect goes on in the background, as after EINPROGRESS */
  if (err == EINPROGRESS || err == EALREADY || err == EINTR)
    rc = (int)retry(pd, GORT_WRITE, deadline, connected_op, NULL);
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
  if ((rc = sock_open(family, n, &fd)) < 0)
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
  gort__addr a[MAXADDRS];
  int i, cnt, rc, first = 0;
  if (!out)
    return GORT_EINVAL;
  *out = NULL;
  if (!address || gort__net_parse(network, &n) < 0)
    return GORT_EINVAL;
  if ((rc = entry(deadline)) < 0)
    return rc;
  cnt = gort__addr_resolve(&n, address, false, a, MAXADDRS, deadline);
  if (cnt < 0)
    return cnt;
  for (i = 0; i < cnt; i++) {
    int64_t d = share(deadline, cnt - i);
    if (i > 0 && (rc = entry(deadline)) < 0)
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

/* ---- reading and writing ---------------------------------------------- */

typedef struct iobuf {
  void *buf;
  size_t len;
  bool sock;
} iobuf;

typedef struct dgram {
  void *buf;
  size_t len;
  gort__addr a;
} dgram;

static bool is_stream(const gort_conn *c)
{
  return c->net.socktype == SOCK_STREAM;
}

static ssize_t read_op(int fd, void *arg)
{
  iobuf *b = arg;
  ssize_t n = read(fd, b->buf, b->len);
  return n < 0 ? -errno : n;
}

static ssize_t send_op(int fd, void *arg)
{
  iobuf *b = arg;
  if (b->sock) {
    ssize_t n = send(fd, b->buf, b->len, SEND_FLAGS);
    if (n >= 0)
      return n;
    if (errno != ENOTSOCK)
      return -errno;
  }
  return pipe_write(fd, b->buf, b->len);
}

static ssize_t recvfrom_op(int fd, void *arg)
{
  dgram *d = arg;
  ssize_t n;
  d->a.len = sizeof d->a.ss;
  n = recvfrom(fd, d->buf, d->len, 0, (struct sockaddr *)&d->a.ss, &d->a.len);
  return n < 0 ? -errno : n;
}

static ssize_t sendto_op(int fd, void *arg)
{
  dgram *d = arg;
  ssize_t n = sendto(fd, d->buf, d->len, SEND_FLAGS,
                     (const struct sockaddr *)&d->a.ss, d->a.len);
  return n < 0 ? -errno : n;
}

GORT_API ssize_t gort_read(gort_conn *c, void *buf, size_t len,
                           int64_t deadline)
{
  iobuf b;
  ssize_t rc;
  if (!c || (!buf && len))
    return GORT_EINVAL;
  if ((rc = entry(deadline)) < 0)
    return rc;
  if (len == 0)
    return 0;
  b.buf = buf;
  b.len = len > MAXRW ? MAXRW : len;
  b.sock = c->sock;
  return locked_io(c->pd, GORT_READ, deadline, read_op, &b);
}

/* With the write lock held: all of buf, in as many sends as it takes on a
 * stream; one send of one datagram otherwise. */
static ssize_t write_all(gort_conn *c, const char *buf, size_t len,
                         int64_t deadline)
{
  bool stream = is_stream(c);
  size_t off = 0;
  do {
    iobuf b = {(void *)(buf + off), len - off, c->sock};
    ssize_t n;
    if (stream && b.len > MAXRW)
      b.len = MAXRW;
    if ((n = retry(c->pd, GORT_WRITE, deadline, send_op, &b)) < 0)
      return n;
    off += (size_t)n;
  } while (stream && off < len);
  return (ssize_t)off;
}

GORT_API ssize_t gort_write(gort_conn *c, const void *buf, size_t len,
                            int64_t deadline)
{
  ssize_t rc;
  if (!c || (!buf && len) || len > SSIZE_MAX)
    return GORT_EINVAL;
  if ((rc = entry(deadline)) < 0)
    return rc;
  if (len == 0 && is_stream(c))
    return 0;
  if ((rc = gort__pd_lock(c->pd, GORT_WRITE, deadline)) < 0)
    return rc;
  rc = write_all(c, buf, len, deadline);
  gort__pd_unlock(c->pd, GORT_WRITE);
  return rc;
}

/* The sender's address goes to addr as text, or "" if it has none (an
 * unbound unix socket) or does not fit: the datagram is returned anyway. */
GORT_API ssize_t gort_readfrom(gort_conn *c, void *buf, size_t len, char *addr,
                               size_t addrlen, int64_t deadline)
{
  dgram d;
  ssize_t n;
  if (addr && addrlen)
    addr[0] = '\0';
  if (!c || (!buf && len))
    return GORT_EINVAL;
  if ((n = entry(deadline)) < 0)
    return n;
  if (!c->sock)
    return GORT_ENOTSUP;
  memset(&d, 0, sizeof d);
  d.buf = buf;
  d.len = len > MAXRW ? MAXRW : len;
  n = locked_io(c->pd, GORT_READ, deadline, recvfrom_op, &d);
  if (n >= 0 && addr && addrlen && d.a.len > 0)
    gort__addr_format(&d.a, addr, addrlen);
  return n;
}

/* The first of address's addresses a datagram from c can go to, those of
 * the socket's own family first. */
static int dest_of(gort_conn *c, const char *address, gort__addr *out,
                   int64_t deadline)
{
  gort__addr a[MAXADDRS];
  int i, cnt;
  cnt = gort__addr_resolve(&c->net, address, false, a, MAXADDRS, deadline);
  if (cnt < 0)
    return cnt;
  for (i = 0; i < cnt; i++)
    if (a[i].ss.ss_family == c->family) {
      *out = a[i];
      return 0;
    }
  for (i = 0; i < cnt; i++)
    if (addr_fit(&a[i], c->family) == 0) {
      *out = a[i];
      return 0;
    }
  return GORT_EAFNOSUPPORT;
}

/* One datagram in one sendto: GORT_EMSGSIZE if it is too big for that. */
GORT_API ssize_t gort_writeto(gort_conn *c, const void *buf, size_t len,
                              const char *addr, int64_t deadline)
{
  dgram d;
  ssize_t n;
  if (!c || !addr || (!buf && len) || len > SSIZE_MAX)
    return GORT_EINVAL;
  if ((n = entry(deadline)) < 0)
    return n;
  if (!c->sock || is_stream(c))
    return GORT_ENOTSUP;
  memset(&d, 0, sizeof d);
  if ((n = dest_of(c, addr, &d.a, deadline)) < 0)
    return n;
  d.buf = (void *)buf;
  d.len = len;
  return locked_io(c->pd, GORT_WRITE, deadline, sendto_op, &d);
}

/* ---- the rest of a conn ------------------------------------------------ */

GORT_API int gort_conn_close(gort_conn *c)
{
  if (!c)
    return GORT_EINVAL;
  return gort__pd_close(c->pd);
}

GORT_API int gort_conn_shutdown(gort_conn *c, int how)
{
  int rc, h;
  if (!c)
    return GORT_EINVAL;
  switch (how) {
  case GORT_SHUT_RD:
    h = SHUT_RD;
    break;
  case GORT_SHUT_WR:
    h = SHUT_WR;
    break;
  case GORT_SHUT_RDWR:
    h = SHUT_RDWR;
    break;
  default:
    return GORT_EINVAL;
  }
  if (!c->sock)
    return GORT_ENOTSUP;
  if ((rc = gort__pd_lock(c->pd, 0, GORT_NEVER)) < 0)
    return rc;
  rc = shutdown(gort__pd_fd(c->pd), h) < 0 ? -errno : 0;
  gort__pd_unlock(c->pd, 0);
  return rc;
}

/* Not for non-sockets (GORT_ENOTSUP); GORT_ENOTCONN without a peer. */
GORT_API int gort_conn_local_addr(gort_conn *c, char *buf, size_t len)
{
  if (!c)
    return GORT_EINVAL;
  return name_of(c->pd, sockname, buf, len);
}

GORT_API int gort_conn_peer_addr(gort_conn *c, char *buf, size_t len)
{
  if (!c)
    return GORT_EINVAL;
  return name_of(c->pd, peername, buf, len);
}

/* -1 for NULL and for a conn being closed. */
GORT_API intptr_t gort_conn_handle(gort_conn *c)
{
  intptr_t fd;
  if (!c || gort__pd_lock(c->pd, 0, GORT_NEVER) < 0)
    return -1;
  fd = gort__pd_fd(c->pd);
  gort__pd_unlock(c->pd, 0);
  return fd;
}

/* ---- adopting ------------------------------------------------------------ */

/* A socket's family, type and protocol, as if named by a network (a
 * dual-stack IPv6 socket as "tcp"/"udp", a v6-only one as "tcp6"...). */
static int sock_kind(int fd, int type, gort__netinfo *n)
{
  gort__addr a;
  int v6only = 0;
  socklen_t len = sizeof v6only;
  a.len = sizeof a.ss;
  if (getsockname(fd, (struct sockaddr *)&a.ss, &a.len) < 0)
    return -errno;
  n->family = a.ss.ss_family;
  n->socktype = type;
  n->protocol = 0;
  if (n->family != AF_INET && n->family != AF_INET6)
    return 0;
  n->protocol = type == SOCK_STREAM  ? IPPROTO_TCP
                : type == SOCK_DGRAM ? IPPROTO_UDP
                                     : 0;
  if (n->family == AF_INET6 &&
      getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len) == 0 && !v6only)
    n->family = AF_UNSPEC;
  return 0;
}

/* What fd is: a socket (*sock) or a byte stream for read() and write(). */
static int fd_kind(int fd, gort__netinfo *n, bool *sock)
{
  int type, err;
  socklen_t len = sizeof type;
  memset(n, 0, sizeof *n);
  n->socktype = SOCK_STREAM;
  *sock = false;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
    err = errno;
    return err == ENOTSOCK ? 0 : -err;
  }
  *sock = true;
  return sock_kind(fd, type, n);
}

/* On failure fd is left as it was, still the caller's. */
GORT_API int gort_conn_adopt(gort_conn **out, intptr_t handle)
{
  gort__netinfo n;
  gort__addr a;
  bool sock;
  int fd, fl, fdfl, rc;
  if (!out)
    return GORT_EINVAL;
  *out = NULL;
  if (handle < 0 || handle > INT_MAX)
    return GORT_EBADF;
  fd = (int)handle;
  if ((fl = fcntl(fd, F_GETFL)) < 0 || (fdfl = fcntl(fd, F_GETFD)) < 0)
    return -errno;
  if ((rc = fd_kind(fd, &n, &sock)) < 0)
    return rc;
  if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
      fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0)
    rc = -errno;
  if (rc == 0 && sock)
    rc = no_sigpipe(fd);
  a.len = sizeof a.ss;
  if (rc == 0 && sock && getsockname(fd, (struct sockaddr *)&a.ss, &a.len) < 0)
    rc = -errno;
  if (rc == 0)
    rc = conn_new(out, fd, &n, sock ? a.ss.ss_family : AF_UNSPEC, sock);
  if (rc < 0) {
    fcntl(fd, F_SETFL, fl);
    fcntl(fd, F_SETFD, fdfl);
  }
  return rc;
}
