/*
 * tests/kqueue/sys/event.h - a declaration-only stand-in for the BSDs'
 * <sys/event.h>, written from the FreeBSD kqueue(2) manual page.
 *
 * It exists only so CI can syntax-check lib/os/unix/netpoll_kqueue.c on
 * Linux, which has no kqueue (tests/kqueue/check.sh). Nothing is ever
 * linked against it: the values below follow FreeBSD's for realism, but
 * only the names and types matter here.
 *
 * -DGORT_KQCHECK_BARE describes an older or smaller kqueue instead (no
 * EVFILT_USER, no EV_RECEIPT, no kqueuex, udata an intptr_t as on NetBSD
 * before 10), so the backend's fallback paths get checked too.
 */
#ifndef GORT_TESTS_KQUEUE_SYS_EVENT_H
#define GORT_TESTS_KQUEUE_SYS_EVENT_H

#include <stdint.h>
#include <time.h> /* struct timespec */

struct kevent {
  uintptr_t ident;      /* the identifier: a descriptor for READ/WRITE */
  short filter;         /* EVFILT_* */
  unsigned short flags; /* EV_* actions and returned flags */
  unsigned int fflags;  /* filter-specific flags (NOTE_*) */
  int64_t data;         /* filter-specific data; errno with EV_ERROR */
#ifdef GORT_KQCHECK_BARE
  intptr_t udata; /* opaque user data, passed through unchanged */
#else
  void *udata;     /* opaque user data, passed through unchanged */
  uint64_t ext[4]; /* extensions; zero unless a filter uses them */
#endif
};

#define EV_SET(kevp, a, b, c, d, e, f)                                         \
  do {                                                                         \
    struct kevent *ev_set_p_ = (kevp);                                         \
    ev_set_p_->ident = (a);                                                    \
    ev_set_p_->filter = (b);                                                   \
    ev_set_p_->flags = (c);                                                    \
    ev_set_p_->fflags = (d);                                                   \
    ev_set_p_->data = (e);                                                     \
    ev_set_p_->udata = (f);                                                    \
  } while (0)

/* filters */
#define EVFILT_READ (-1)
#define EVFILT_WRITE (-2)
#ifndef GORT_KQCHECK_BARE
#define EVFILT_USER (-11)
#endif

/* actions */
#define EV_ADD 0x0001     /* add the event, or modify it; implies enable */
#define EV_DELETE 0x0002  /* remove the event */
#define EV_ENABLE 0x0004  /* let kevent() return it */
#define EV_DISABLE 0x0008 /* keep it, do not return it */
/* flags */
#define EV_ONESHOT 0x0010 /* delete after the first report */
#define EV_CLEAR 0x0020   /* reset the state after each report */
#ifndef GORT_KQCHECK_BARE
/* answer each change with an EV_ERROR entry, data 0 on success */
#define EV_RECEIPT 0x0040
#endif
/* returned */
#define EV_ERROR 0x4000 /* data holds an errno */
#define EV_EOF 0x8000   /* end of file or hang-up; fflags may hold an errno */

#ifndef GORT_KQCHECK_BARE
/* EVFILT_USER fflags */
#define NOTE_FFNOP 0x00000000   /* leave the user flags alone */
#define NOTE_TRIGGER 0x01000000 /* fire the user event */

/* kqueuex() flags (FreeBSD 14) */
#define KQUEUE_CLOEXEC 0x00000001

int kqueuex(unsigned int flags);
#endif
int kqueue(void);
int kevent(int kq, const struct kevent *changelist, int nchanges,
           struct kevent *eventlist, int nevents,
           const struct timespec *timeout);

#endif
