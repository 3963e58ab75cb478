/*
 * netpoll.h - descriptors under the scheduler's poller (after Go's
 * runtime/netpoll.go pollDesc and internal/poll.FD), and the hooks the
 * scheduler calls. lib/net/sock.c builds conns and listeners on this.
 *
 * A gort__pd wraps one non-blocking descriptor registered once with the
 * poller (edge-triggered). Each direction (GORT_READ, GORT_WRITE) has:
 *  - a readiness word: an edge seen since the last wait, or the one parked
 *    waiter (at most one parked reader and one parked writer at a time);
 *  - an I/O lock: further readers (writers) queue on it, FIFO, so whole
 *    operations do not interleave. Readers never wait for writers.
 * Every use holds a reference (taken by gort__pd_lock); gort__pd_close marks
 * the pd closing, wakes every waiter (queued or parked) with GORT_ECLOSED,
 * and the last reference to leave deregisters and closes the descriptor.
 * A pd's memory is never returned to the system: a stale event from the
 * kernel for a closed pd finds a bumped sequence number and is dropped.
 *
 * The usual operation, in sock.c:
 *
 *   if ((rc = gort__pd_lock(pd, c, GORT_READ, deadline)) < 0) return rc;
 *   for (;;) {
 *     n = read(gort__pd_fd(pd), ...);
 *     if (n >= 0 || errno != EAGAIN) break;
 *     if ((rc = gort__pd_wait(pd, GORT_READ, deadline)) < 0) break;
 *   }
 *   gort__pd_unlock(pd, GORT_READ);
 */
#ifndef GORT_NET_NETPOLL_H
#define GORT_NET_NETPOLL_H

#include <stdbool.h>
#include <stdint.h>

#include "sched/runtime.h"
#include "net/poll.h"

typedef struct gort__pd gort__pd;

/* Registers fd (already O_NONBLOCK) with s's poller. The pd owns fd from
 * now on: it is closed when the pd is. fin(arg), if not NULL, runs once
 * after the descriptor is closed and the last reference is gone (sock.c
 * frees its conn there). GORT_EMFILE/ENOMEM/EINVAL on failure; fd is then
 * still the caller's. */
int gort__pd_open(gort__pd **out, gort__sched *s, int fd,
                  void (*fin)(void *arg), void *arg);

/* Takes a reference and, for mode GORT_READ or GORT_WRITE, that
 * direction's I/O lock (waiting for it, with deadline and cancellation).
 * mode 0 takes only the reference (getsockname, shutdown, close of a
 * listener...). Returns 0, or GORT_ECLOSED once the pd is closing,
 * GORT_ETIMEDOUT, GORT_EAGAIN (deadline 0) or GORT_ECANCELED; on failure
 * nothing is held.
 *
 * owner is the arg the pd was opened with (NULL: not checked). A call that
 * raced its handle's close may reach a pd already finished and recycled,
 * perhaps open again for another record: the reference is taken only while
 * some are held (never from zero), and then only if the pd still belongs
 * to owner; otherwise GORT_ECLOSED. */
int gort__pd_lock(gort__pd *pd, const void *owner, int mode, int64_t deadline);
/* Undoes one successful gort__pd_lock(pd, mode). May close and recycle pd:
 * do not touch it afterwards unless another reference is held. */
void gort__pd_unlock(gort__pd *pd, int mode);

/* With the mode's lock held, after the I/O call said EAGAIN: waits for the
 * next readiness edge in mode (or one that arrived since the last wait).
 * Returns 0 (try the I/O again; wake-ups may be spurious), GORT_ECLOSED,
 * GORT_ETIMEDOUT (GORT_EAGAIN for deadline 0) or GORT_ECANCELED. From a
 * plain thread it blocks the thread. */
int gort__pd_wait(gort__pd *pd, int mode, int64_t deadline);

/* Begins closing: later locks and waits fail with GORT_ECLOSED, parked and
 * queued users are woken with it, and the owner's reference is dropped.
 * The descriptor is closed when the last user leaves (at once if none).
 * GORT_ECLOSED if already closing. */
int gort__pd_close(gort__pd *pd);

/* Closes the descriptor and recycles pd right away, for a pd nobody else
 * has seen yet (a failed connect, an accepted socket being thrown away). */
void gort__pd_discard(gort__pd *pd);

int gort__pd_fd(const gort__pd *pd);
/* Whether the poller has reported a hang-up or error on pd (sticky): an
 * end of stream or error is pending that no further edge will announce. */
bool gort__pd_hup(gort__pd *pd);
gort__sched *gort__pd_sched(const gort__pd *pd);

/* The scheduler a new descriptor should belong to: the calling goroutine's,
 * else the default one (started if needed). NULL only if it cannot start. */
gort__sched *gort__net_sched(void);

/* ---- for the scheduler (proc.c, sysmon.c, schedapi.c) ----
 * Go's model: an M with nothing to run looks at the poller without
 * blocking; the last idle M (s->polling) blocks in it until the earliest
 * timer; sysmon looks when nobody has for 10 ms. Readiness wakes waiters
 * through gort__waiter_wake, so goroutines land on the waking M's P. */
int gort__netpoll_init(gort__sched *s); /* creates s's poller */
void gort__netpoll_fini(gort__sched *s);
/* Whether a goroutine or thread is parked on a descriptor of s. */
bool gort__netpoll_waiters(gort__sched *s);
/* Events fetched but not yet dispatched (lives on the polling M's stack). */
typedef struct gort__netbatch {
  int n;
  gort__pollev ev[128];
} gort__netbatch;
/* Waits up to timeout ns (-1 forever, 0 only looks) for readiness;
 * returns how many events b holds (0 after a timeout or a break). */
int gort__netpoll_fetch(gort__sched *s, int64_t timeout, gort__netbatch *b);
/* Wakes the waiters the events of b are for; returns how many woke. Call
 * with a P if possible: woken goroutines go to the caller's P (else to the
 * global queue). */
int gort__netpoll_dispatch(gort__sched *s, gort__netbatch *b);
/* fetch(0) + dispatch, if anyone waits: for findrunnable and sysmon. */
int gort__netpoll_nonblock(gort__sched *s);
/* When anyone last looked (gort__nanotime). */
int64_t gort__netpoll_lastpoll(gort__sched *s);
/* Makes a gort__netpoll_fetch in progress return, or else the next one. */
void gort__netpoll_break(gort__sched *s);

#endif
