/*
 * netpoll_kqueue.c - the kqueue backend of the netpoller (contract:
 * net/poll.h) for FreeBSD, macOS, OpenBSD, NetBSD and DragonFly.
 *
 * Owns one kqueue per scheduler and its wake-up channel. A descriptor gets
 * two knotes, (fd, EVFILT_READ) and (fd, EVFILT_WRITE), added together at
 * open with EV_ADD | EV_CLEAR and deleted together at close. EV_CLEAR makes
 * them edge-triggered: the kernel resets a knote's state when it reports
 * it, so each edge is reported once and the netpoller remembers it until a
 * waiter consumes it. Both carry the netpoller's cookie in udata.
 *
 * Invariants:
 *  - A kevent call that applies changes never fetches readiness: with
 *    EV_RECEIPT on every change and exactly one output slot per change, the
 *    kernel fills the slots with receipts only; without EV_RECEIPT the
 *    output list is empty. So open and close never swallow an edge.
 *  - The wake-up knote is EVFILT_USER with the fixed ident WAKE_IDENT
 *    (EV_CLEAR: retrieving the trigger re-arms it). Where EVFILT_USER is
 *    missing, a non-blocking pipe's read end is watched instead and drained
 *    by the poll that sees it. Either way "wakesig" lets one wake through
 *    per poll, as Go's netpollWakeSig does, so a storm of wakes costs one
 *    syscall.
 *  - A table indexed by fd records which descriptors are registered here:
 *    EV_ADD on a registered fd would silently take over its knotes (and
 *    its cookie), where epoll says EEXIST, which netpoll.c's gort_fd_wait
 *    relies on to leave a conn's registration alone. An fd is marked
 *    before its EV_ADD and unmarked after its EV_DELETE, and its number
 *    cannot be reused in between (poll.h: close before the caller's
 *    close(2)). The table's mutex is a leaf below every runtime lock and
 *    is never held across a kevent call.
 *  - udata is a void * on FreeBSD, macOS and OpenBSD and an intptr_t on
 *    older NetBSD: kev_set picks the conversion with _Generic. Where a
 *    pointer is narrower than the 64-bit cookie (32-bit platforms) udata
 *    holds the cookie's low half and the table the whole cookie; an event
 *    whose low half disagrees with the table is stale (the fd was closed
 *    and reused) and is dropped.
 *
 * Rejected:
 *  - EV_ONESHOT / EV_DISPATCH re-armed before each wait: one more kevent per
 *    read that blocks. Go's netpoll_kqueue.go also registers once, EV_CLEAR.
 *  - Level-triggered knotes: a ready descriptor nobody waits for would be
 *    reported by every poll.
 *  - Both changes in one call without EV_RECEIPT: the kernel stops at the
 *    first failing change and reports only its errno, which can leave a
 *    descriptor half registered with nobody knowing which half.
 *  - EV_SET: it assigns udata as the system declares it, which is not
 *    portable for a 64-bit cookie; kev_set zeroes the whole struct (also
 *    FreeBSD's ext[]) and converts explicitly.
 *  - Relying on close(2) to drop the knotes: poll.h promises the fd is no
 *    longer watched when gort__pb_close returns, and the caller closes it
 *    only after its last user has left.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/event.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>
/* udata cannot hold the whole cookie (tests/kqueue/check.sh also defines
 * this, to check the code on a 64-bit machine) */
#if UINTPTR_MAX < UINT64_MAX
#define COOKIE_TABLE 1
#endif

#include "gort.h"
#include "net/poll.h"
#include "sched/runtime.h"

/* events per poll: struct kevent is 32 to 64 bytes, so a few KiB of stack */
#define MAXEVENTS 128
/* (WAKE_IDENT, EVFILT_USER) is a pair no descriptor's knote can match */
#define WAKE_IDENT 0

const char gort__pb_name[] = "kqueue";

struct gort__pb {
  int kq;
  _Atomic int wakesig; /* a wake is on its way and not yet consumed */
#ifndef EVFILT_USER
  int wakerd, wakewr; /* the pipe, both ends non-blocking */
#endif
  pthread_mutex_t mu; /* guards the table: ntab, on, cookies */
  size_t ntab;
  unsigned char *on; /* fd -> registered here */
#ifdef COOKIE_TABLE
  uint64_t *cookies; /* fd -> the cookie of its registration */
#endif
};

/* ENFILE has no GORT_ code of its own: it is the system's EMFILE. */
static int oserr(int e)
{
  return e == ENFILE ? GORT_EMFILE : -e;
}

static void kev_set(struct kevent *k, uintptr_t ident, int filter, int flags,
                    unsigned fflags, uint64_t cookie)
{
  memset(k, 0, sizeof *k);
  k->ident = ident;
  k->filter = filter;
  k->flags = flags;
  k->fflags = fflags;
  k->udata = _Generic(k->udata, void *: (void *)(uintptr_t)cookie,
                      default: (intptr_t)(uintptr_t)cookie);
}

static uint64_t kev_cookie(const struct kevent *k)
{
  return (uint64_t)(uintptr_t)k->udata;
}

/* Applies n (at most 2) changes independently and fetches no events:
 * errs[i] becomes 0 or the errno of ch[i]. Returns 0, or a GORT_E* if
 * kevent itself failed. */
static int apply(gort__pb *b, struct kevent *ch, int n, int *errs)
{
  int i;
  gort__assert(n >= 1 && n <= 2);
#ifdef EV_RECEIPT
  static const struct timespec zero = {0, 0};
  struct kevent out[2];
  int j, r;
  for (i = 0; i < n; i++) {
    ch[i].flags |= EV_RECEIPT;
    errs[i] = 0;
  }
  r = kevent(b->kq, ch, n, out, n, &zero);
  if (r < 0)
    return oserr(errno);
  for (j = 0; j < r; j++)
    for (i = 0; i < n; i++)
      if ((out[j].flags & EV_ERROR) && out[j].ident == ch[i].ident &&
          out[j].filter == ch[i].filter)
        errs[i] = (int)out[j].data;
#else
  for (i = 0; i < n; i++)
    errs[i] = kevent(b->kq, &ch[i], 1, NULL, 0, NULL) < 0 ? errno : 0;
#endif
  return 0;
}

/* Makes the table cover fd. b->mu must be held. */
static int tab_grow(gort__pb *b, int fd)
{
  size_t n = b->ntab ? b->ntab : 64;
  unsigned char *on;
  while (n <= (size_t)fd)
    n *= 2;
  if (n > SIZE_MAX / sizeof(uint64_t))
    return GORT_ENOMEM;
  if (!(on = realloc(b->on, n)))
    return GORT_ENOMEM;
  b->on = on; /* longer than ntab says until both arrays have grown */
#ifdef COOKIE_TABLE
  uint64_t *c = realloc(b->cookies, n * sizeof *c);
  if (!c)
    return GORT_ENOMEM;
  b->cookies = c;
#endif
  memset(b->on + b->ntab, 0, n - b->ntab);
  b->ntab = n;
  return 0;
}

/* Marks fd registered: 0, -EEXIST if it already is, or GORT_ENOMEM. */
static int tab_mark(gort__pb *b, int fd, uint64_t cookie)
{
  int rc = 0;
  pthread_mutex_lock(&b->mu);
  if ((size_t)fd >= b->ntab)
    rc = tab_grow(b, fd);
  if (rc == 0 && b->on[fd])
    rc = -EEXIST;
  if (rc == 0) {
    b->on[fd] = 1;
#ifdef COOKIE_TABLE
    b->cookies[fd] = cookie;
#else
    (void)cookie;
#endif
  }
  pthread_mutex_unlock(&b->mu);
  return rc;
}

static void tab_unmark(gort__pb *b, int fd)
{
  pthread_mutex_lock(&b->mu);
  if ((size_t)fd < b->ntab)
    b->on[fd] = 0;
  pthread_mutex_unlock(&b->mu);
}

static int kq_open(void)
{
#ifdef KQUEUE_CLOEXEC
  return kqueuex(KQUEUE_CLOEXEC);
#else
  int kq = kqueue(), e;
  if (kq >= 0 && fcntl(kq, F_SETFD, FD_CLOEXEC) < 0) {
    e = errno;
    close(kq);
    errno = e;
    return -1;
  }
  return kq;
#endif
}

#ifndef EVFILT_USER
static int pipe_open(int fds[2])
{
#ifdef HAVE_PIPE2
  return pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0 ? oserr(errno) : 0;
#else
  int i, e;
  if (pipe(fds) < 0)
    return oserr(errno);
  for (i = 0; i < 2; i++)
    if (fcntl(fds[i], F_SETFD, FD_CLOEXEC) < 0 ||
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK) < 0) {
      e = errno;
      close(fds[0]);
      close(fds[1]);
      return oserr(e);
    }
  return 0;
#endif
}
#endif

/* Registers the wake-up channel with the fresh kqueue b->kq. */
static int wake_init(gort__pb *b)
{
  struct kevent ch;
  int err, rc;
#ifdef EVFILT_USER
  kev_set(&ch, WAKE_IDENT, EVFILT_USER, EV_ADD | EV_CLEAR, NOTE_FFNOP, 0);
#else
  int fds[2];
  if ((rc = pipe_open(fds)) < 0)
    return rc;
  b->wakerd = fds[0];
  b->wakewr = fds[1];
  kev_set(&ch, (uintptr_t)b->wakerd, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0);
#endif
  if ((rc = apply(b, &ch, 1, &err)) == 0 && err)
    rc = oserr(err);
#ifndef EVFILT_USER
  if (rc < 0) {
    close(b->wakerd);
    close(b->wakewr);
  }
#endif
  return rc;
}

int gort__pb_new(gort__pb **out)
{
  gort__pb *b = calloc(1, sizeof *b);
  int rc;
  if (!b)
    return GORT_ENOMEM;
  b->kq = kq_open();
  if (b->kq < 0) {
    rc = oserr(errno);
    free(b);
    return rc;
  }
  if ((rc = wake_init(b)) < 0) {
    close(b->kq);
    free(b);
    return rc;
  }
  pthread_mutex_init(&b->mu, NULL);
  *out = b;
  return 0;
}

void gort__pb_free(gort__pb *b)
{
  if (!b)
    return;
#ifndef EVFILT_USER
  close(b->wakerd);
  close(b->wakewr);
#endif
  pthread_mutex_destroy(&b->mu);
  free(b->on);
#ifdef COOKIE_TABLE
  free(b->cookies);
#endif
  close(b->kq);
  free(b);
}

int gort__pb_open(gort__pb *b, int fd, uint64_t cookie)
{
  struct kevent ch[2];
  int errs[2], junk[2], rc, e;
  gort__assert(b);
  if (fd < 0)
    return GORT_EBADF;
  if ((rc = tab_mark(b, fd, cookie)) < 0)
    return rc;
  kev_set(&ch[0], (uintptr_t)fd, EVFILT_READ, EV_ADD | EV_CLEAR, 0, cookie);
  kev_set(&ch[1], (uintptr_t)fd, EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, cookie);
  if ((rc = apply(b, ch, 2, errs)) < 0) {
    tab_unmark(b, fd);
    return rc;
  }
  if (!errs[0] && !errs[1])
    return 0;
  /* A one-way descriptor (a pipe end, a fifo) may refuse the other
   * direction's filter (EINVAL, or EPIPE once the peer is gone): watch the
   * direction it has. epoll, too, never reports output on a read end, and
   * the I/O call in that direction fails at once on its own. */
  e = errs[0] ? errs[0] : errs[1];
  if (!errs[0] != !errs[1] && (e == EINVAL || e == EPIPE))
    return 0;
  kev_set(&ch[0], (uintptr_t)fd, EVFILT_READ, EV_DELETE, 0, 0);
  kev_set(&ch[1], (uintptr_t)fd, EVFILT_WRITE, EV_DELETE, 0, 0);
  (void)apply(b, ch, 2, junk); /* undo the half that took, if one did */
  tab_unmark(b, fd);
  return oserr(e);
}

int gort__pb_close(gort__pb *b, int fd)
{
  struct kevent ch[2];
  int errs[2], rc, i;
  gort__assert(b);
  if (fd < 0)
    return GORT_EBADF;
  kev_set(&ch[0], (uintptr_t)fd, EVFILT_READ, EV_DELETE, 0, 0);
  kev_set(&ch[1], (uintptr_t)fd, EVFILT_WRITE, EV_DELETE, 0, 0);
  rc = apply(b, ch, 2, errs);
  /* unmarked whatever happened: the caller closes fd next, and close(2)
   * drops any knote left */
  tab_unmark(b, fd);
  if (rc < 0)
    return rc;
  /* ENOENT: never added (a one-way fd) or dropped by close(2); EBADF:
   * the fd is already closed, and with it its knotes. */
  for (i = 0; i < 2; i++)
    if (errs[i] && errs[i] != ENOENT && errs[i] != EBADF)
      return oserr(errs[i]);
  return 0;
}

static struct timespec *to_ts(int64_t timeout, struct timespec *ts)
{
  if (timeout < 0)
    return NULL;
  /* beyond three years is "forever" in practice, and a 32-bit time_t and
   * some kernels' limits on tv_sec stay out of play */
  if (timeout > (int64_t)100000000 * 1000000000)
    timeout = (int64_t)100000000 * 1000000000;
  ts->tv_sec = (time_t)(timeout / 1000000000);
  ts->tv_nsec = (long)(timeout % 1000000000);
  return ts;
}

/* Whether k is the wake-up channel firing; if so it is consumed here. */
static int wake_seen(gort__pb *b, const struct kevent *k)
{
#ifdef EVFILT_USER
  if (k->filter != EVFILT_USER)
    return 0;
#else
  char buf[64];
  if (k->filter != EVFILT_READ || k->ident != (uintptr_t)b->wakerd)
    return 0;
  while (read(b->wakerd, buf, sizeof buf) > 0)
    ; /* to EAGAIN: EV_CLEAR reports the next write as a new edge */
#endif
  /* an exchange, not a store: it orders the waker's writes before
   * whatever the netpoller reads after this poll */
  atomic_exchange_explicit(&b->wakesig, 0, memory_order_acq_rel);
  return 1;
}

/* An error or end-of-file on either filter wakes both directions (as Go
 * does: a pipe whose reader is gone may only say EV_EOF on EVFILT_READ). */
static uint32_t kev_events(const struct kevent *k)
{
  if (k->flags & (EV_EOF | EV_ERROR))
    return GORT__EV_READ | GORT__EV_WRITE | GORT__EV_HUP;
  if (k->filter == EVFILT_READ)
    return GORT__EV_READ;
  if (k->filter == EVFILT_WRITE)
    return GORT__EV_WRITE;
  return 0;
}

int gort__pb_poll(gort__pb *b, int64_t timeout, gort__pollev *evs, int max)
{
  struct kevent ev[MAXEVENTS];
  struct timespec ts;
  int n, i, k = 0;
  gort__assert(b);
  if (!evs || max < 1)
    return GORT_EINVAL;
  if (max > MAXEVENTS)
    max = MAXEVENTS;
  n = kevent(b->kq, NULL, 0, ev, max, to_ts(timeout, &ts));
  if (n < 0)
    return errno == EINTR ? 0 : oserr(errno);
#ifdef COOKIE_TABLE
  pthread_mutex_lock(&b->mu);
#endif
  for (i = 0; i < n; i++) {
    uint64_t cookie = kev_cookie(&ev[i]);
    uint32_t e;
    if (wake_seen(b, &ev[i]) || !(e = kev_events(&ev[i])))
      continue;
#ifdef COOKIE_TABLE
    if (ev[i].ident >= b->ntab || !b->on[ev[i].ident] ||
        (uintptr_t)b->cookies[ev[i].ident] != (uintptr_t)cookie)
      continue; /* the fd was closed and reused: a stale event */
    cookie = b->cookies[ev[i].ident];
#endif
    evs[k].cookie = cookie;
    evs[k].events = e;
    k++;
  }
#ifdef COOKIE_TABLE
  pthread_mutex_unlock(&b->mu);
#endif
  return k;
}

int gort__pb_wake(gort__pb *b)
{
  int rc = 0;
  gort__assert(b);
  if (atomic_exchange_explicit(&b->wakesig, 1, memory_order_acq_rel))
    return 0; /* a wake is already on its way */
#ifdef EVFILT_USER
  struct kevent ch;
  kev_set(&ch, WAKE_IDENT, EVFILT_USER, 0, NOTE_TRIGGER, 0);
  if (kevent(b->kq, &ch, 1, NULL, 0, NULL) < 0)
    rc = oserr(errno);
#else
  char c = 0;
  if (write(b->wakewr, &c, 1) < 0 && errno != EAGAIN)
    rc = oserr(errno); /* EAGAIN: the pipe is full, a wake is pending */
#endif
  if (rc < 0)
    atomic_store_explicit(&b->wakesig, 0, memory_order_relaxed);
  return rc;
}
