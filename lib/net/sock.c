/*
 * sock.c - conns: the socket half of gort.h's "Poller and sockets" (Go's
 * net.Conn, net.PacketConn, net.FileConn). lib/net/dial.c makes them
 * (listen, accept, dial); this file does their I/O, addresses, shutdown,
 * close and adoption, and the socket helpers both share (sock.h).
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
 *  - A stream write sends everything or fails; a datagram conn's read and
 *    write move one datagram, whole (sendto never splits one).
 *
 * Rejected.
 *  - Freeing the record in gort_conn_close: a reader parked in another
 *    goroutine would wake into freed memory. fin runs after the last user.
 *  - recv/send for every conn: an adopted pipe says ENOTSOCK. Sockets use
 *    recv and send (send for MSG_NOSIGNAL; recv skips the VFS layer read()
 *    goes through, about 1% of an echo server's CPU here), anything else
 *    read() and write().
 *
 * A second gort_conn_close (or gort_listener_close) returns GORT_ECLOSED
 * as long as the record is alive, i.e. while some goroutine is still inside
 * a call on it; once the last one has left the record is freed and the
 * handle must not be used again, as with free(). So a goroutine that may
 * be about to call into a conn must be told to stop (and have stopped)
 * before the conn is closed; one already blocked in it is safe.
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
#include <unistd.h>

#include "net/sock.h"

#ifdef MSG_NOSIGNAL
#define SEND_FLAGS MSG_NOSIGNAL
#else
#define SEND_FLAGS 0 /* SO_NOSIGPIPE is set on the socket instead */
#endif

#define MAXRW (1 << 30) /* one read or write at most (as Go) */

static struct {
  gort__lock lock;
  void *rec[GORT__SOCK_GRAVE];
  void (*release[GORT__SOCK_GRAVE])(void *);
  unsigned next; /* oldest slot once full */
} grave = {GORT__LOCK_INIT(GORT__RANK_LEAF), {0}, {0}, 0};

void gort__sock_bury(void *rec, void (*release)(void *rec))
{
  void *old;
  void (*oldrel)(void *);
  gort__lock_acquire(&grave.lock);
  old = grave.rec[grave.next];
  oldrel = grave.release[grave.next];
  grave.rec[grave.next] = rec;
  grave.release[grave.next] = release;
  grave.next = (grave.next + 1) % GORT__SOCK_GRAVE;
  gort__lock_release(&grave.lock);
  if (old)
    oldrel(old);
}

static void conn_fin(void *arg)
{
  gort_conn *c = arg;
  atomic_store_explicit(&c->closed, 1, memory_order_release);
  gort__sock_bury(c, free);
}

/* The entry checks of a blocking call, before any I/O (as Go: a past
 * deadline fails even if the call would not block). */
int gort__sock_entry(int64_t deadline)
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

int gort__sock_setflags(int fd)
{
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
    return -errno;
  fl = fcntl(fd, F_GETFD);
  if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
    return -errno;
  return 0;
}

int gort__sock_setopt(int fd, int level, int name, int value)
{
  if (setsockopt(fd, level, name, &value, sizeof value) < 0)
    return -errno;
  return 0;
}

int gort__sock_nosigpipe(int fd)
{
#ifdef SO_NOSIGPIPE
  return gort__sock_setopt(fd, SOL_SOCKET, SO_NOSIGPIPE, 1);
#else
  (void)fd;
  return 0;
#endif
}

/* Go's default options: an IPv6 socket is dual-stack unless the network
 * says "6" (tcp6, udp6); IP datagram sockets may broadcast. */
static int sock_setup(int fd, int family, const gort__netinfo *n)
{
  int rc = gort__sock_nosigpipe(fd), v6only = n->family == AF_INET6;
  if (rc == 0 && family == AF_INET6)
    rc = gort__sock_setopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only);
  if (rc == 0 && family != AF_UNIX && n->socktype == SOCK_DGRAM)
    rc = gort__sock_setopt(fd, SOL_SOCKET, SO_BROADCAST, 1);
  return rc;
}

int gort__sock_open(int family, const gort__netinfo *n, int *out)
{
  int fd, rc = 0, proto = family == AF_UNIX ? 0 : n->protocol;
  if ((fd = socket(family, n->socktype | GORT__SOCK_FLAGS, proto)) < 0)
    return -errno;
  if (GORT__SOCK_FLAGS == 0)
    rc = gort__sock_setflags(fd);
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
  sigset_t sigs, old, pend;
  bool was_pending;
  ssize_t n;
  int err, sig;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGPIPE);
  sigpending(&pend);
  was_pending = sigismember(&pend, SIGPIPE) == 1;
  pthread_sigmask(SIG_BLOCK, &sigs, &old);
  n = write(fd, buf, len);
  err = n < 0 ? errno : 0;
  if (err == EPIPE && !was_pending && sigpending(&pend) == 0 &&
      sigismember(&pend, SIGPIPE) == 1)
    sigwait(&sigs, &sig);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return n < 0 ? -err : n;
}

/* Runs op(fd, arg) until it says something other than EAGAIN or EINTR,
 * waiting for the next readiness edge in mode between tries. op returns a
 * count or -errno. The caller holds gort__pd_lock(pd, owner, mode). */
ssize_t gort__sock_retry(gort__pd *pd, int mode, int64_t deadline,
                         gort__sock_op op, void *arg)
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

static ssize_t locked_io(gort_conn *c, int mode, int64_t deadline,
                         gort__sock_op op, void *arg)
{
  gort__pd *pd = c->pd;
  ssize_t n = gort__pd_lock(pd, c, mode, deadline);
  if (n < 0)
    return n;
  n = gort__sock_retry(pd, mode, deadline, op, arg);
  gort__pd_unlock(pd, mode);
  return n;
}

/* ---- records ---------------------------------------------------------- */

/* Wraps fd (non-blocking, close-on-exec). On failure fd is still the
 * caller's. */
int gort__conn_new(gort_conn **out, int fd, const gort__netinfo *n, int family,
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

/* getsockname or getpeername, formatted into buf. */
int gort__sock_name(gort__pd *pd, const void *owner, bool peer, char *buf,
                    size_t len)
{
  gort__addr a;
  int rc, fd, err;
  if (!buf || len == 0)
    return GORT_EINVAL;
  buf[0] = '\0';
  if ((rc = gort__pd_lock(pd, owner, 0, GORT_NEVER)) < 0)
    return rc;
  memset(&a, 0, sizeof a);
  a.len = sizeof a.ss;
  fd = gort__pd_fd(pd);
  rc = peer ? getpeername(fd, (struct sockaddr *)&a.ss, &a.len)
            : getsockname(fd, (struct sockaddr *)&a.ss, &a.len);
  err = rc < 0 ? errno : 0;
  gort__pd_unlock(pd, 0);
  if (rc < 0)
    return err == ENOTSOCK ? GORT_ENOTSUP : -err;
  rc = gort__addr_format(&a, buf, len);
  return rc < 0 ? rc : 0;
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
  ssize_t n = b->sock ? recv(fd, b->buf, b->len, 0) : read(fd, b->buf, b->len);
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

/* A stream socket's read. After a short read the socket was empty, and
 * data that comes later raises a new edge (the poller registers
 * edge-triggered; epoll and kqueue report every arrival), so the next read
 * waits for that edge instead of first trying a read that would only say
 * EAGAIN: one system call less per message in a request-reply loop (nginx
 * does the same under epoll). Not when the peer has hung up: its end of
 * stream may have come with the data just read, in the same edge, and the
 * next read must see it without waiting. Deadline 0 always tries. */
static ssize_t stream_read(gort_conn *c, iobuf *b, int64_t deadline)
{
  ssize_t n = gort__pd_lock(c->pd, c, GORT_READ, deadline);
  if (n < 0)
    return n;
  if (c->rdempty && deadline != 0 && !gort__pd_hup(c->pd) &&
      (n = gort__pd_wait(c->pd, GORT_READ, deadline)) < 0)
    goto out;
  n = gort__sock_retry(c->pd, GORT_READ, deadline, read_op, b);
  c->rdempty = n > 0 && (size_t)n < b->len;
out:
  gort__pd_unlock(c->pd, GORT_READ);
  return n;
}

GORT_API ssize_t gort_read(gort_conn *c, void *buf, size_t len,
                           int64_t deadline)
{
  iobuf b;
  ssize_t rc;
  if (!c || (!buf && len))
    return GORT_EINVAL;
  if ((rc = gort__sock_closed(&c->closed)) < 0)
    return rc;
  if ((rc = gort__sock_entry(deadline)) < 0)
    return rc;
  if (len == 0)
    return 0;
  b.buf = buf;
  b.len = len > MAXRW ? MAXRW : len;
  b.sock = c->sock;
  if (!c->sock || !is_stream(c))
    return locked_io(c, GORT_READ, deadline, read_op, &b);
  return stream_read(c, &b, deadline);
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
    if ((n = gort__sock_retry(c->pd, GORT_WRITE, deadline, send_op, &b)) < 0)
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
  if ((rc = gort__sock_closed(&c->closed)) < 0)
    return rc;
  if ((rc = gort__sock_entry(deadline)) < 0)
    return rc;
  if (len == 0 && is_stream(c))
    return 0;
  if ((rc = gort__pd_lock(c->pd, c, GORT_WRITE, deadline)) < 0)
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
  if ((n = gort__sock_closed(&c->closed)) < 0)
    return n;
  if ((n = gort__sock_entry(deadline)) < 0)
    return n;
  if (!c->sock)
    return GORT_ENOTSUP;
  memset(&d, 0, sizeof d);
  d.buf = buf;
  d.len = len > MAXRW ? MAXRW : len;
  n = locked_io(c, GORT_READ, deadline, recvfrom_op, &d);
  if (n >= 0 && addr && addrlen && d.a.len > 0)
    gort__addr_format(&d.a, addr, addrlen);
  return n;
}

/* The first of address's addresses a datagram from c can go to, those of
 * the socket's own family first. */
static int dest_of(gort_conn *c, const char *address, gort__addr *out,
                   int64_t deadline)
{
  gort__addr a[GORT__SOCK_MAXADDRS];
  int i, cnt;
  cnt = gort__addr_resolve(&c->net, address, false, a, GORT__SOCK_MAXADDRS,
                           deadline);
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
  if ((n = gort__sock_closed(&c->closed)) < 0)
    return n;
  if ((n = gort__sock_entry(deadline)) < 0)
    return n;
  if (!c->sock || is_stream(c))
    return GORT_ENOTSUP;
  memset(&d, 0, sizeof d);
  if ((n = dest_of(c, addr, &d.a, deadline)) < 0)
    return n;
  d.buf = (void *)buf;
  d.len = len;
  return locked_io(c, GORT_WRITE, deadline, sendto_op, &d);
}

/* ---- the rest of a conn ------------------------------------------------ */

GORT_API int gort_conn_close(gort_conn *c)
{
  if (!c)
    return GORT_EINVAL;
  if (atomic_exchange_explicit(&c->closed, 1, memory_order_acq_rel))
    return GORT_ECLOSED;
  return gort__pd_close(c->pd);
}

GORT_API int gort_conn_shutdown(gort_conn *c, int how)
{
  int rc, h;
  if (!c)
    return GORT_EINVAL;
  if ((rc = gort__sock_closed(&c->closed)) < 0)
    return rc;
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
  if ((rc = gort__pd_lock(c->pd, c, 0, GORT_NEVER)) < 0)
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
  if (gort__sock_closed(&c->closed))
    return GORT_ECLOSED;
  return gort__sock_name(c->pd, c, false, buf, len);
}

GORT_API int gort_conn_peer_addr(gort_conn *c, char *buf, size_t len)
{
  if (!c)
    return GORT_EINVAL;
  if (gort__sock_closed(&c->closed))
    return GORT_ECLOSED;
  return gort__sock_name(c->pd, c, true, buf, len);
}

/* -1 for NULL and for a conn being closed. */
GORT_API intptr_t gort_conn_handle(gort_conn *c)
{
  intptr_t fd;
  if (!c || gort__sock_closed(&c->closed) ||
      gort__pd_lock(c->pd, c, 0, GORT_NEVER) < 0)
    return -1;
  fd = gort__pd_fd(c->pd);
  gort__pd_unlock(c->pd, 0);
  return fd;
}

/* ---- adopting ------------------------------------------------------------ */

/* A socket's network, as if named (a dual-stack IPv6 socket as "tcp" or
 * "udp", a v6-only one as "tcp6"...), and its own family. */
static int sock_kind(int fd, int type, gort__netinfo *n, int *family)
{
  gort__addr a;
  int v6only = 0;
  socklen_t len = sizeof v6only;
  a.len = sizeof a.ss;
  if (getsockname(fd, (struct sockaddr *)&a.ss, &a.len) < 0)
    return -errno;
  *family = n->family = a.ss.ss_family;
  n->socktype = type;
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

/* What fd is: a socket (*sock), or else a byte stream for read() and
 * write() (a pipe, a tty...). */
static int fd_kind(int fd, gort__netinfo *n, int *family, bool *sock)
{
  int type, err;
  socklen_t len = sizeof type;
  memset(n, 0, sizeof *n);
  n->socktype = SOCK_STREAM;
  *family = AF_UNSPEC;
  *sock = false;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
    err = errno;
    return err == ENOTSOCK ? 0 : -err;
  }
  *sock = true;
  return sock_kind(fd, type, n, family);
}

/* On failure fd is left as it was, still the caller's. */
GORT_API int gort_conn_adopt(gort_conn **out, intptr_t handle)
{
  gort__netinfo n;
  bool sock;
  int fd, fl, fdfl, family, rc;
  if (!out)
    return GORT_EINVAL;
  *out = NULL;
  if (handle < 0 || handle > INT_MAX)
    return GORT_EBADF;
  fd = (int)handle;
  if ((fl = fcntl(fd, F_GETFL)) < 0 || (fdfl = fcntl(fd, F_GETFD)) < 0)
    return -errno;
  if ((rc = fd_kind(fd, &n, &family, &sock)) < 0)
    return rc;
  if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
      fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0)
    rc = -errno;
  if (rc == 0 && sock)
    rc = gort__sock_nosigpipe(fd);
  if (rc == 0)
    rc = gort__conn_new(out, fd, &n, family, sock);
  if (rc < 0) {
    fcntl(fd, F_SETFL, fl);
    fcntl(fd, F_SETFD, fdfl);
  }
  return rc;
}
