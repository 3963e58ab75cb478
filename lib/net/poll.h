/*
 * poll.h - the contract between the netpoller (lib/net/netpoll.c) and one
 * OS readiness backend. Exactly one backend is linked, chosen by configure
 * (--with-poller=epoll|kqueue): lib/os/unix/netpoll_epoll.c,
 * lib/os/unix/netpoll_kqueue.c.
 *
 * The backend knows nothing of goroutines. It watches descriptors for
 * readiness edges and reports them with the 64-bit cookie given at open;
 * the netpoller turns cookies back into descriptors and waiters.
 *
 * Threads: gort__pb_poll may run on several threads at once (each event is
 * reported to one of them); gort__pb_open/close run on any thread, at any
 * time, also while another thread polls; gort__pb_wake is async-safe with
 * respect to all of them. Every function returns 0 or a count on success and
 * a negative GORT_E* on failure; errno never leaks out.
 */
#ifndef GORT_NET_POLL_H
#define GORT_NET_POLL_H

#include <stdint.h>

/* Readiness bits in a gort__pollev. An error or hang-up condition on the
 * descriptor is reported as both READ and WRITE (the I/O call then tells
 * what happened), as Go does. */
enum { GORT__EV_READ = 1, GORT__EV_WRITE = 2, GORT__EV_HUP = 4 };
/* GORT__EV_HUP comes with READ and WRITE when the peer has shut down its
 * side (EPOLLRDHUP, EV_EOF) or an error is pending: an end of stream a
 * reader will see without any further edge. The netpoller keeps it. */

typedef struct gort__pollev {
  uint64_t cookie; /* as given to gort__pb_open */
  uint32_t events; /* GORT__EV_* */
} gort__pollev;

typedef struct gort__pb gort__pb; /* one backend instance (per scheduler) */

/* "epoll" or "kqueue": the backend linked in. */
extern const char gort__pb_name[];

/* Creates an instance (its kernel object is close-on-exec) together with
 * its wake-up channel (an eventfd under epoll, EVFILT_USER under kqueue). */
int gort__pb_new(gort__pb **out);
/* Destroys it. No poll or open may be in progress or follow. */
void gort__pb_free(gort__pb *b);

/* Starts watching fd for both read and write readiness, edge-triggered
 * (EPOLLET / EV_CLEAR): one registration for the descriptor's life, one
 * report per edge. If fd is already ready, the first poll reports it.
 * Returns -EEXIST if fd is already watched (never takes over another
 * registration), -EPERM for a descriptor that cannot be watched because it
 * is always ready (a regular file under epoll), -ENOSPC when the kernel's
 * watch limit is reached. */
int gort__pb_open(gort__pb *b, int fd, uint64_t cookie);
/* Stops watching fd (before the caller closes it). Events already fetched
 * by a concurrent poll may still carry fd's cookie: the netpoller tells
 * them apart by the sequence number it packs into the cookie. */
int gort__pb_close(gort__pb *b, int fd);

/* Waits up to timeout nanoseconds (-1: forever, 0: only looks) for events
 * and writes at most max of them to evs. Returns how many (0 on timeout, on
 * EINTR, and when only a wake-up arrived). A wake-up is consumed here: the
 * wake channel is re-armed so the next gort__pb_wake is seen again. */
int gort__pb_poll(gort__pb *b, int64_t timeout, gort__pollev *evs, int max);

/* Makes a poll in progress, or else the next one, return promptly. Several
 * wakes before a poll may coalesce into one. Safe from any thread. */
int gort__pb_wake(gort__pb *b);

#endif
