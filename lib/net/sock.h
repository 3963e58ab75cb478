/*
 * sock.h - what lib/net/sock.c (conns: I/O, addresses, adopt) shares with
 * lib/net/dial.c (where conns come from: listen, accept, dial). Internal.
 */
#ifndef GORT_NET_SOCK_H
#define GORT_NET_SOCK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "net/addr.h"
#include "net/netpoll.h"

/* Flags that make a new socket non-blocking and close-on-exec at birth;
 * 0 where the OS lacks them (gort__sock_setflags does it right after). */
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
#define GORT__SOCK_FLAGS (SOCK_NONBLOCK | SOCK_CLOEXEC)
#else
#define GORT__SOCK_FLAGS 0
#endif

#define GORT__SOCK_MAXADDRS 8 /* addresses of one name that are tried */

/* Both records are released by their pd's fin callback, after the last
 * user has left (netpoll.h), never by close itself; and even then they are
 * kept, marked closed, until GORT__SOCK_GRAVE more have been released
 * (gort__sock_bury). So the common race of Go programs, a loop calling
 * gort_accept (gort_read) again just as another goroutine closes the
 * listener (conn), gets GORT_ECLOSED instead of touching freed memory. */
struct gort_conn {
  _Atomic int closed; /* gort_conn_close was called */
  gort__pd *pd;
  gort__netinfo net; /* as named ("udp": AF_UNSPEC), to parse addresses */
  int family;        /* the socket's own */
  bool sock;         /* false: an adopted pipe, tty...: read() and write() */
  bool rdempty;      /* the last stream read was short (under the read lock) */
};

struct gort_listener {
  _Atomic int closed;
  gort__pd *pd;
  gort__netinfo net;
  int family;        /* the socket's own */
  char *unlink_path; /* a unix socket file to remove at close, or NULL */
};

#define GORT__SOCK_GRAVE 1024
/* Keeps rec (a released conn or listener, marked closed) for a while, and
 * frees the oldest kept one with its release function. */
void gort__sock_bury(void *rec, void (*release)(void *rec));
/* GORT_ECLOSED once close was called on the record whose flag this is. */
static inline int gort__sock_closed(const _Atomic int *closed)
{
  return atomic_load_explicit(closed, memory_order_acquire) ? GORT_ECLOSED : 0;
}

/* What every blocking call checks before any I/O: GORT_ECANCELED,
 * GORT_EINVAL for a negative deadline other than GORT_NEVER,
 * GORT_ETIMEDOUT for a past one; else 0. */
int gort__sock_entry(int64_t deadline);

/* Each returns 0 or -errno. */
int gort__sock_setflags(int fd); /* O_NONBLOCK and FD_CLOEXEC */
int gort__sock_setopt(int fd, int level, int name, int value);
int gort__sock_nosigpipe(int fd); /* SO_NOSIGPIPE where there is one */
/* A non-blocking, close-on-exec socket of family for network n, with Go's
 * default options (IPV6_V6ONLY as n says, SO_BROADCAST for IP datagrams). */
int gort__sock_open(int family, const gort__netinfo *n, int *out);

/* One try of an I/O call: a count, or -errno (-EAGAIN: would block). */
typedef ssize_t (*gort__sock_op)(int fd, void *arg);
/* Tries op until it says something other than EAGAIN or EINTR, waiting for
 * readiness in mode in between. The caller holds gort__pd_lock of mode. */
ssize_t gort__sock_retry(gort__pd *pd, int mode, int64_t deadline,
                         gort__sock_op op, void *arg);

/* Wraps fd (non-blocking, close-on-exec) in a new conn of the calling
 * goroutine's scheduler. On failure fd is still the caller's. */
int gort__conn_new(gort_conn **out, int fd, const gort__netinfo *n, int family,
                   bool sock);

/* getsockname (peer: getpeername) of pd's socket, formatted into buf:
 * 0, GORT_EINVAL if it does not fit, GORT_ENOTSUP for a non-socket. */
int gort__sock_name(gort__pd *pd, const void *owner, bool peer, char *buf,
                    size_t len);

#endif
