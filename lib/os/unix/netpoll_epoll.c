/*
 * netpoll_epoll.c - the epoll backend of the netpoller (contract: poll.h).
 *
 * Each descriptor is registered once, for input and output together,
 * edge-triggered (EPOLLET), with the netpoller's cookie in epoll_data: a
 * descriptor costs one epoll_ctl for its whole life, and a report is an
 * edge the netpoller remembers until a waiter consumes it (Go's netpoll
 * does the same). Rejected: level-triggered or EPOLLONESHOT registration,
 * which needs an epoll_ctl per wait (two syscalls per read that blocks).
 *
 * Wake-ups go through an eventfd registered level-triggered with a null
 * cookie: poll drains it when it fires, so later wakes are seen again.
 * Several wakes before a poll collapse into one read.
 *
 * The timeout is the scheduler's earliest timer, so it wants nanoseconds:
 * epoll_pwait2 (Linux 5.11) where the kernel has it; epoll_wait's
 * milliseconds, rounded up, otherwise.
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "gort.h"
#include "net/poll.h"

#define MAXEVENTS 128
#define WAKE_COOKIE UINT64_MAX

const char gort__pb_name[] = "epoll";

struct gort__pb {
  int epfd;
  int wakefd;
  _Atomic int wakepending; /* a wake is written and not yet drained */
};

int gort__pb_new(gort__pb **out)
{
  gort__pb *b = calloc(1, sizeof *b);
  struct epoll_event ev = {0};
  int err;
  if (!b)
    return GORT_ENOMEM;
  b->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (b->epfd < 0) {
    err = -errno;
    free(b);
    return err;
  }
  b->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (b->wakefd < 0) {
    err = -errno;
    close(b->epfd);
    free(b);
    return err;
  }
  ev.events = EPOLLIN;
  ev.data.u64 = WAKE_COOKIE;
  if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, b->wakefd, &ev) < 0) {
    err = -errno;
    close(b->wakefd);
    close(b->epfd);
    free(b);
    return err;
  }
  *out = b;
  return 0;
}

void gort__pb_free(gort__pb *b)
{
  if (!b)
    return;
  close(b->wakefd);
  close(b->epfd);
  free(b);
}

int gort__pb_open(gort__pb *b, int fd, uint64_t cookie)
{
  struct epoll_event ev = {0};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = cookie;
  if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
    return -errno;
  return 0;
}

int gort__pb_close(gort__pb *b, int fd)
{
  /* the event argument is ignored but must be non-NULL before 2.6.9 */
  struct epoll_event ev = {0};
  if (epoll_ctl(b->epfd, EPOLL_CTL_DEL, fd, &ev) < 0)
    return -errno;
  return 0;
}

static int to_ms(int64_t timeout)
{
  if (timeout < 0)
    return -1;
  if (timeout == 0)
    return 0;
  if (timeout < 1000000)
    return 1; /* round up: waking early only to sleep again costs more */
  if (timeout >= (int64_t)1000000 * 1000000000)
    return 1000000000;
  return (int)((timeout + 999999) / 1000000);
}

static int wait_events(gort__pb *b, struct epoll_event *ev, int max,
                       int64_t timeout)
{
#ifdef HAVE_EPOLL_PWAIT2
  static _Atomic int nopwait2;
  if (timeout > 0 && !atomic_load_explicit(&nopwait2, memory_order_relaxed)) {
    struct timespec ts;
    int n;
    ts.tv_sec = (time_t)(timeout / 1000000000);
    ts.tv_nsec = (long)(timeout % 1000000000);
    n = epoll_pwait2(b->epfd, ev, max, &ts, NULL);
    if (n >= 0 || errno != ENOSYS)
      return n;
    atomic_store_explicit(&nopwait2, 1, memory_order_relaxed);
  }
#endif
  return epoll_wait(b->epfd, ev, max, to_ms(timeout));
}

int gort__pb_poll(gort__pb *b, int64_t timeout, gort__pollev *evs, int max)
{
  struct epoll_event ev[MAXEVENTS];
  int n, i, k = 0;
  if (max > MAXEVENTS)
    max = MAXEVENTS;
  if (max < 1)
    return GORT_EINVAL;
  n = wait_events(b, ev, max, timeout);
  if (n < 0)
    return errno == EINTR ? 0 : -errno;
  for (i = 0; i < n; i++) {
    uint32_t e = ev[i].events, r = 0;
    if (ev[i].data.u64 == WAKE_COOKIE) {
      uint64_t v;
      /* Drain, then re-arm. The other order can strand the flag: a wake
       * between them writes again, this read eats that write too, and
       * every later wake sees the flag set and writes nothing. This way a
       * wake between them is only folded into this poll, which returns. */
      if (read(b->wakefd, &v, sizeof v) < 0) {
        /* EAGAIN: another poller drained it first */
      }
      atomic_store_explicit(&b->wakepending, 0, memory_order_seq_cst);
      continue;
    }
    if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
      r |= GORT__EV_READ;
    if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))
      r |= GORT__EV_WRITE;
    if (e & EPOLLERR)
      r |= GORT__EV_READ | GORT__EV_WRITE;
    if (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
      r |= GORT__EV_HUP;
    if (r) {
      evs[k].cookie = ev[i].data.u64;
      evs[k].events = r;
      k++;
    }
  }
  return k;
}

int gort__pb_wake(gort__pb *b)
{
  uint64_t one = 1;
  /* one eventfd write per poll is enough: later ones would only be
   * drained together with it */
  if (atomic_exchange_explicit(&b->wakepending, 1, memory_order_acq_rel))
    return 0;
  if (write(b->wakefd, &one, sizeof one) < 0 && errno != EAGAIN) {
    int err = -errno;
    atomic_store_explicit(&b->wakepending, 0, memory_order_relaxed);
    return err;
  }
  return 0;
}
