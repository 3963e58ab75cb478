/*
 * gort.h - libgort, Go's goroutine runtime as a C library.
 *
 * One public header. Every name is gort_ / GORT_; every handle is opaque;
 * the only struct bodies are frozen plain-data ones (a select case) and the
 * fixed-size storage of the embeddable synchronisation types.
 *
 * Conventions (see docs/guide.md):
 *  - Success is 0 or a non-negative count; failure is a negative GORT_E*.
 *  - Every call that can block takes an absolute int64_t deadline last, in
 *    gort_now() nanoseconds: GORT_NEVER waits forever, 0 only tries
 *    (GORT_EAGAIN when it would block), a past deadline gives GORT_ETIMEDOUT.
 *  - A cancelled goroutine's blocking calls return GORT_ECANCELED, forever.
 *  - Every blocking call also works from a thread that is not a goroutine:
 *    that thread blocks.
 *  - NULL handles and bad sizes give GORT_EINVAL; they never crash.
 *  - A goroutine may resume on another OS thread after any call that can
 *    block: do not keep errno, a thread-local's address or a pthread mutex
 *    across one. Errors come back as return values, never through errno.
 */
#ifndef GORT_H
#define GORT_H

#include <stddef.h>
#include <stdint.h>
#if !defined(_WIN32)
#include <errno.h>
#include <sys/types.h> /* ssize_t */
#else
#include <basetsd.h>
typedef SSIZE_T ssize_t;
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* noplt (GCC): a caller compiled as position-independent code (Debian's
 * default) calls libgort through its GOT slot instead of a PLT stub, one
 * indirect jump less per call; for a lock/unlock pair that is about 1 ns of
 * 5. The ABI is unchanged and interposition still works. Define
 * GORT_NO_NOPLT before including this header to get plain PLT calls. */
#if defined(__GNUC__) && defined(__has_attribute) && !defined(GORT_NO_NOPLT)
#if __has_attribute(noplt)
#define GORT__NOPLT __attribute__((noplt))
#endif
#endif
#ifndef GORT__NOPLT
#define GORT__NOPLT
#endif

#if defined(_WIN32)
#define GORT_API __declspec(dllimport)
#elif defined(__GNUC__)
#define GORT_API __attribute__((visibility("default"))) GORT__NOPLT
#else
#define GORT_API
#endif

/* ---- Version ---------------------------------------------------------- */
#define GORT_VERSION_MAJOR 0
#define GORT_VERSION_MINOR 1
#define GORT_VERSION_PATCH 0
#define GORT_VERSION_STRING "0.1.0"
#define GORT_VERSION_NUMBER                                                   \
  (GORT_VERSION_MAJOR * 10000 + GORT_VERSION_MINOR * 100 + GORT_VERSION_PATCH)

GORT_API int gort_version(void); /* MAJOR*10000 + MINOR*100 + PATCH */
GORT_API const char *gort_version_string(void);

/* ---- Errors ----------------------------------------------------------- */
/* X(name, posix errno or fixed value, message). On POSIX a code is -errno;
 * GORT_ECLOSED has no errno and the same fixed value everywhere. */
#if defined(_WIN32)
#define GORT__E(posix, fixed) (fixed)
#else
#define GORT__E(posix, fixed) (-(posix))
#endif
#define GORT_ERRNO_MAP(X)                                                     \
  X(EINVAL, GORT__E(EINVAL, -4071), "invalid argument")                       \
  X(ENOMEM, GORT__E(ENOMEM, -4057), "out of memory")                          \
  X(EAGAIN, GORT__E(EAGAIN, -4088), "operation would block")                  \
  X(ETIMEDOUT, GORT__E(ETIMEDOUT, -4039), "deadline exceeded")                \
  X(ECANCELED, GORT__E(ECANCELED, -4081), "goroutine cancelled")              \
  X(EPIPE, GORT__E(EPIPE, -4047), "channel closed")                           \
  X(ECLOSED, -4095, "handle closed while in use")                             \
  X(EBADF, GORT__E(EBADF, -4083), "bad file descriptor")                      \
  X(EMFILE, GORT__E(EMFILE, -4066), "too many open files")                    \
  X(ECONNREFUSED, GORT__E(ECONNREFUSED, -4078), "connection refused")         \
  X(ECONNRESET, GORT__E(ECONNRESET, -4077), "connection reset by peer")       \
  X(EADDRINUSE, GORT__E(EADDRINUSE, -4091), "address already in use")         \
  X(EDEADLK, GORT__E(EDEADLK, -4045), "all goroutines are asleep: deadlock")  \
  X(ENOTSUP, GORT__E(ENOTSUP, -4049), "operation not supported")              \
  X(EBUSY, GORT__E(EBUSY, -4082), "resource busy")                            \
  X(ESRCH, GORT__E(ESRCH, -4040), "not running in a goroutine")              \
  X(EADDRNOTAVAIL, GORT__E(EADDRNOTAVAIL, -4090), "address not available")   \
  X(ECONNABORTED, GORT__E(ECONNABORTED, -4079), "connection aborted")        \
  X(ENETUNREACH, GORT__E(ENETUNREACH, -4062), "network is unreachable")      \
  X(EHOSTUNREACH, GORT__E(EHOSTUNREACH, -4065), "host is unreachable")       \
  X(ENOTCONN, GORT__E(ENOTCONN, -4053), "socket is not connected")           \
  X(EMSGSIZE, GORT__E(EMSGSIZE, -4070), "message too long")                  \
  X(EAFNOSUPPORT, GORT__E(EAFNOSUPPORT, -4089), "address family not supported") \
  X(ENOENT, GORT__E(ENOENT, -4058), "no such file or directory")             \
  X(EACCES, GORT__E(EACCES, -4092), "permission denied")                     \
  X(ENOHOST, -4094, "no such host")

enum {
#define GORT__XENUM(name, value, msg) GORT_##name = (value),
  GORT_ERRNO_MAP(GORT__XENUM)
#undef GORT__XENUM
};

GORT_API const char *gort_strerror(int err);  /* never NULL */
GORT_API const char *gort_err_name(int err);  /* "GORT_ETIMEDOUT"; never NULL */
GORT_API int gort_err_code(const char *name); /* "ETIMEDOUT" or "GORT_ETIMEDOUT"
                                                 -> code; 0 if unknown */

/* ---- Time ------------------------------------------------------------- */
#define GORT_NEVER ((int64_t)-1)
GORT_API int64_t gort_now(void);   /* monotonic nanoseconds */
GORT_API int64_t gort_never(void); /* GORT_NEVER, for bindings */

/* ---- Runtime and scheduler -------------------------------------------- */
typedef struct gort_sched gort_sched;

/* The default scheduler, started on first use; GORT_MAXPROCS sets its Ps. */
GORT_API gort_sched *gort_sched_default(void);
/* The scheduler of the calling goroutine, or the default one. */
GORT_API gort_sched *gort_sched_current(void);
GORT_API int gort_sched_new(gort_sched **out, int maxprocs); /* <=0: CPUs */
/* Cancels every goroutine, waits for them to end (GORT_ETIMEDOUT if some
 * are still running at the deadline; call again), then frees every stack,
 * descriptor and thread. Every handle of s is invalid afterwards. From a
 * goroutine of s: GORT_EDEADLK. Deadline 0: GORT_EAGAIN if some remain. */
GORT_API int gort_sched_shutdown(gort_sched *s, int64_t deadline);
/* n > 0 sets the number of Ps (at most 1024, else GORT_EINVAL); returns the
 * previous number. n <= 0 only asks. s NULL: current or default. */
GORT_API int gort_sched_maxprocs(gort_sched *s, int n);
GORT_API int64_t gort_sched_numgoroutine(gort_sched *s); /* live goroutines */

/* Runs fn as a goroutine on the default scheduler and returns when it
 * returns: 0, or GORT_EDEADLK when every goroutine is blocked with nothing
 * left that could wake one (no timer, no blocking call in flight) and has
 * stayed so for 200 ms (a plain thread could still wake one: libgort cannot
 * see it coming, so it waits that long before saying so). GORT_EBUSY when
 * called from a goroutine or while another gort_main runs. */
GORT_API int gort_main(void (*fn)(void *), void *arg);

/* ---- Goroutines ------------------------------------------------------- */
typedef struct gort_g gort_g;

GORT_API int gort_go(void (*fn)(void *), void *arg); /* detached */
/* s NULL: the current scheduler (default outside goroutines);
 * stack_size 0: the default (GORT_STACK_SIZE, 64 KiB), else rounded up to a
 * power of two from 16 KiB (above 1 GiB: GORT_EINVAL);
 * out NULL: detached; else a handle to join/cancel, then gort_g_release.
 * GORT_ECLOSED while the scheduler shuts down. */
GORT_API int gort_spawn(gort_sched *s, void (*fn)(void *), void *arg,
                        size_t stack_size, gort_g **out);
/* 0 once g has finished (always, as often as asked); GORT_EDEADLK for
 * oneself. */
GORT_API int gort_join(gort_g *g, int64_t deadline);
GORT_API int gort_cancel(gort_g *g);
GORT_API void gort_g_release(gort_g *g);
GORT_API gort_g *gort_self(void); /* NULL outside goroutines; borrowed */
GORT_API uint64_t gort_g_id(const gort_g *g);
GORT_API int gort_g_cancelled(const gort_g *g); /* 1 once cancelled */
GORT_API int gort_yield(void); /* GORT_ECANCELED once cancelled */
GORT_API int gort_sleep(int64_t ns); /* ns <= 0: returns at once */
/* A past deadline returns 0 at once; GORT_NEVER sleeps until cancelled. */
GORT_API int gort_sleep_until(int64_t deadline);
GORT_API size_t gort_stack_size_default(void);

/* ---- Blocking work ---------------------------------------------------- */
/* Runs fn on the runtime's pool of blocking threads while the calling
 * goroutine parks (from a plain thread: runs fn there). Once started it is
 * not interruptible: fn runs to completion and gort_blocking returns 0. A
 * goroutine already cancelled gets GORT_ECANCELED and fn does not run. */
GORT_API int gort_blocking(void (*fn)(void *), void *arg);
/* Brackets a region in which the calling goroutine may block its OS thread
 * (Go's entersyscall/exitsyscall): its P is handed to another thread if the
 * region lasts. Outside goroutines they do nothing. */
GORT_API void gort_syscall_enter(void);
GORT_API void gort_syscall_exit(void);

/* ---- Lanes: goroutines that share one dedicated OS thread -------------- */
typedef struct gort_lane gort_lane;
GORT_API int gort_lane_new(gort_sched *s, gort_lane **out);
GORT_API int gort_lane_spawn(gort_lane *l, void (*fn)(void *), void *arg,
                             size_t stack_size, gort_g **out);
/* Waits for every goroutine of the lane to end, stops its thread, frees it. */
GORT_API int gort_lane_close(gort_lane *l, int64_t deadline);
GORT_API gort_lane *gort_lane_current(void); /* NULL unless on a lane */

/* ---- For language bindings -------------------------------------------- */
/* A goroutine whose body belongs to another language runtime. libgort calls
 * these around the body so each goroutine has its own interpreter state. */
typedef struct gort_foreign_vt {
  size_t size; /* sizeof(gort_foreign_vt), for growth */
  void *(*runtime)(void);
  void *(*state_new)(void *runtime);
  void (*state_enter)(void *state);
  int (*state_set_stack)(void *state, void *base, size_t size); /* optional */
  void *(*call)(void *callable, void *args); /* NULL result: an error */
  void (*report)(void *obj);                 /* called with the callable */
  void (*drop)(void *obj);
  void (*state_clear)(void *state);
  void *(*state_leave)(void);
  void (*state_delete)(void *state);
} gort_foreign_vt;

/* callable and args are owned (dropped) by the goroutine. lane NULL: runs
 * anywhere. With out, the result is kept until gort_foreign_result takes it
 * or the handle is released (then it is dropped). */
GORT_API int gort_foreign_spawn(gort_sched *s, gort_lane *lane,
                                const gort_foreign_vt *vt, void *callable,
                                void *args, size_t stack_size, gort_g **out);
/* Takes the finished goroutine's result (ownership passes to the caller):
 * 0 and *result set (NULL if the call failed), GORT_EAGAIN if it has not
 * finished, GORT_EINVAL if not foreign or already taken. */
GORT_API int gort_foreign_result(gort_g *g, void **result);

/* ---- Synchronisation: embeddable, static initialisers ------------------ */
/* Fixed-size storage, frozen for the ABI; zero bytes are the initial state. */
typedef struct gort_mutex { uint64_t opaque_[2]; } gort_mutex;
typedef struct gort_rwmutex { uint64_t opaque_[4]; } gort_rwmutex;
typedef struct gort_cond { uint64_t opaque_[2]; } gort_cond;
typedef struct gort_wg { uint64_t opaque_[2]; } gort_wg;
typedef struct gort_once { uint64_t opaque_[4]; } gort_once;
/* A lock a running goroutine can re-take ahead of queued ones (barging,
 * never handed off): for a binding's per-interpreter lock. */
typedef struct gort_bargelock { uint64_t opaque_[2]; } gort_bargelock;
typedef struct gort_sema gort_sema;

#define GORT_MUTEX_INIT {{0, 0}}
#define GORT_RWMUTEX_INIT {{0, 0, 0, 0}}
#define GORT_COND_INIT {{0, 0}}
#define GORT_WG_INIT {{0, 0}}
#define GORT_ONCE_INIT {{0, 0, 0, 0}}
#define GORT_BARGELOCK_INIT {{0, 0}}

GORT_API void gort_mutex_init(gort_mutex *m);
GORT_API int gort_mutex_lock(gort_mutex *m, int64_t deadline);
GORT_API int gort_mutex_trylock(gort_mutex *m); /* 0 or GORT_EBUSY */
GORT_API int gort_mutex_unlock(gort_mutex *m);  /* GORT_EINVAL if unlocked */

GORT_API void gort_rwmutex_init(gort_rwmutex *rw);
GORT_API int gort_rwmutex_rlock(gort_rwmutex *rw, int64_t deadline);
GORT_API int gort_rwmutex_tryrlock(gort_rwmutex *rw);
GORT_API int gort_rwmutex_runlock(gort_rwmutex *rw);
GORT_API int gort_rwmutex_lock(gort_rwmutex *rw, int64_t deadline);
GORT_API int gort_rwmutex_trylock(gort_rwmutex *rw);
GORT_API int gort_rwmutex_unlock(gort_rwmutex *rw);

GORT_API void gort_cond_init(gort_cond *c);
/* Unlocks m, waits, and re-locks m before returning, whatever it returns. */
GORT_API int gort_cond_wait(gort_cond *c, gort_mutex *m, int64_t deadline);
GORT_API int gort_cond_signal(gort_cond *c);
GORT_API int gort_cond_broadcast(gort_cond *c);

GORT_API void gort_wg_init(gort_wg *wg);
GORT_API int gort_wg_add(gort_wg *wg, int64_t n); /* GORT_EINVAL if < 0 */
GORT_API int gort_wg_done(gort_wg *wg);
GORT_API int gort_wg_wait(gort_wg *wg, int64_t deadline);

GORT_API void gort_once_init(gort_once *o);
/* Runs fn once; concurrent callers wait until it has returned. */
GORT_API int gort_once_do(gort_once *o, void (*fn)(void *), void *arg);

GORT_API void gort_bargelock_init(gort_bargelock *l);
GORT_API int gort_bargelock_lock(gort_bargelock *l, int64_t deadline);
GORT_API int gort_bargelock_trylock(gort_bargelock *l);
GORT_API int gort_bargelock_unlock(gort_bargelock *l);

GORT_API int gort_sema_new(gort_sema **out, int64_t count);
GORT_API void gort_sema_free(gort_sema *s);
GORT_API int gort_sema_acquire(gort_sema *s, int64_t deadline);
GORT_API int gort_sema_release(gort_sema *s);
GORT_API int64_t gort_sema_value(gort_sema *s);

/* ---- Channels and select ------------------------------------------------ */
typedef struct gort_chan gort_chan;

/* elem_size 0 makes a signal channel; cap 0 an unbuffered one (a send
 * completes only when a receiver has taken the value). One reference. */
GORT_API int gort_chan_new(gort_chan **out, size_t elem_size, size_t cap);
/* Copies elem_size bytes from elem. GORT_EPIPE if the channel is closed. */
GORT_API int gort_chan_send(gort_chan *c, const void *elem, int64_t deadline);
/* 0 with a value in elem; GORT_EPIPE once closed and drained (elem zeroed).
 * elem may be NULL to discard the value. */
GORT_API int gort_chan_recv(gort_chan *c, void *elem, int64_t deadline);
/* Wakes every waiter; receivers drain what is buffered first. GORT_EPIPE
 * if already closed. */
GORT_API int gort_chan_close(gort_chan *c);
GORT_API size_t gort_chan_len(gort_chan *c);
GORT_API size_t gort_chan_cap(gort_chan *c);
GORT_API size_t gort_chan_elem_size(gort_chan *c);
GORT_API void gort_chan_retain(gort_chan *c);
GORT_API void gort_chan_release(gort_chan *c); /* freed at zero references */

enum { GORT_RECV = 1, GORT_SEND = 2 };
/* A select case: plain data, frozen for the ABI. result is written for the
 * case that proceeds: 0, or GORT_EPIPE for a closed channel. */
typedef struct gort_case {
  gort_chan *chan; /* NULL: this case never proceeds */
  int op;          /* GORT_RECV or GORT_SEND */
  void *elem;      /* the value to send / where to receive (may be NULL) */
  int result;
} gort_case;
/* Returns the index of the case that proceeded; among several ready ones
 * one is chosen uniformly at random. Deadline 0 is Go's default branch
 * (GORT_EAGAIN when none is ready); GORT_ETIMEDOUT, GORT_ECANCELED;
 * GORT_EINVAL for more than 65535 cases or a bad op; GORT_EDEADLK for a
 * plain thread selecting forever on no channel at all. */
GORT_API int gort_select(gort_case *cases, size_t n, int64_t deadline);
GORT_API int gort_case_op_recv(void); /* GORT_RECV, for bindings */
GORT_API int gort_case_op_send(void); /* GORT_SEND, for bindings */
GORT_API size_t gort_sizeof_case(void);

/* ---- Timer channels (Go's time.Timer, time.Ticker, time.After) ---------- */
typedef struct gort_timer gort_timer;

/* A timer that sends its firing time (int64_t, gort_now() ns) on its
 * channel at when (absolute, >= 0; GORT_NEVER: created stopped), then
 * every period ns if period > 0 (a ticker; a slow reader gets ticks
 * dropped, never queued, as in Go). The channel has room for one value. A
 * stopped timer costs no heap entry. Free timers (and release contexts
 * with a deadline) before shutting their scheduler down. */
GORT_API int gort_timer_new(gort_timer **out, int64_t when, int64_t period);
GORT_API gort_chan *gort_timer_chan(gort_timer *t); /* borrowed */
/* 1 if the call stopped a pending timer, 0 if it had fired or was stopped.
 * After stop or reset no value sent before the call is received (Go 1.23's
 * rule: the channel is drained). */
GORT_API int gort_timer_stop(gort_timer *t);
/* Re-arms for when/period; returns what gort_timer_stop would have. */
GORT_API int gort_timer_reset(gort_timer *t, int64_t when, int64_t period);
GORT_API void gort_timer_free(gort_timer *t); /* stops it; drops its channel
                                                 reference */
/* time.After: a channel (one reference, the caller's) that receives the
 * time once at when (GORT_NEVER: never). */
GORT_API int gort_after(gort_chan **out, int64_t when);

/* ---- Contexts (Go's context package) ------------------------------------- */
typedef struct gort_context gort_context;

/* The root: never cancelled, no deadline. Shared; release is a no-op. */
GORT_API gort_context *gort_context_background(void);
/* A child cancelled by gort_context_cancel, or when its parent is, or (with
 * a deadline) at that absolute time (GORT_NEVER: none of its own). One
 * reference, the caller's. */
GORT_API int gort_context_with_cancel(gort_context *parent, gort_context **out);
GORT_API int gort_context_with_deadline(gort_context *parent, int64_t deadline,
                                        gort_context **out);
/* 0, also when already done; GORT_EINVAL for background. */
GORT_API int gort_context_cancel(gort_context *c);
/* Closed when c is cancelled: receive or select on it. Borrowed: valid
 * while the caller holds a reference to c. */
GORT_API gort_chan *gort_context_done(gort_context *c);
/* 0 while live; then GORT_ECANCELED (cancelled) or GORT_ETIMEDOUT
 * (deadline), the reason of whichever came first, also when it came from a
 * parent. */
GORT_API int gort_context_err(gort_context *c);
/* The effective deadline (the earliest of c's and its ancestors'), or
 * GORT_NEVER; GORT_EINVAL for NULL. */
GORT_API int64_t gort_context_deadline(gort_context *c);
/* Waits until c is done or the deadline passes: the context's error once
 * done; GORT_ETIMEDOUT when the wait's deadline passed first (0: only
 * tries, GORT_EAGAIN); GORT_ECANCELED if the calling goroutine is
 * cancelled. gort_context_err tells the context's own reason apart. */
GORT_API int gort_context_wait(gort_context *c, int64_t deadline);
GORT_API void gort_context_retain(gort_context *c);
/* Drops a reference. The last of the caller's references (the one from
 * with_* plus any retains) cancels c and its subtree, as Go's
 * `defer cancel()` does; its memory goes once its children are gone too. */
GORT_API void gort_context_release(gort_context *c);

/* ---- Poller and sockets ------------------------------------------------
 * Every scheduler owns a poller (epoll or kqueue, chosen by configure). A
 * goroutine that waits for a socket parks; the OS thread goes on running
 * other goroutines. The same calls work from plain threads (they block).
 * Conns and listeners belong to the scheduler of the goroutine that made
 * them (the default one when made from a plain thread). */
#define GORT_READ 1
#define GORT_WRITE 2
typedef struct gort_poller gort_poller;
/* s NULL: the current or default scheduler. Never NULL for a live s. */
GORT_API gort_poller *gort_sched_poller(gort_sched *s);
/* "epoll", "kqueue", "iocp" or "io_uring"; "" for NULL. */
GORT_API const char *gort_poller_backend(const gort_poller *p);
/* Waits until fd (any pollable descriptor the caller owns, blocking or not)
 * is ready for events (GORT_READ | GORT_WRITE); returns the ready events
 * (> 0). Errors and hang-up count as both. The fd is watched only for the
 * duration of the call. */
GORT_API int gort_fd_wait(intptr_t fd, int events, int64_t deadline);

typedef struct gort_listener gort_listener;
typedef struct gort_conn gort_conn;
/* network "tcp" "tcp4" "tcp6" "unix"; address "127.0.0.1:8080", "[::1]:0",
 * ":0" (every address, port chosen), "localhost:80", "/path/to/socket" (Go's
 * net.Listen). A unix socket file is removed again by gort_listener_close. */
GORT_API int gort_listen(gort_listener **out, const char *network,
                         const char *address);
/* "udp" "udp4" "udp6" "unixgram": a bound datagram conn (net.ListenPacket). */
GORT_API int gort_listen_packet(gort_conn **out, const char *network,
                                const char *address);
/* The bound address as text ("127.0.0.1:41234", "[::1]:80", "/path");
 * GORT_EINVAL if it does not fit in len (with its NUL). */
GORT_API int gort_listener_addr(gort_listener *l, char *buf, size_t len);
GORT_API int gort_accept(gort_listener *l, gort_conn **out, int64_t deadline);
/* Closes and frees l; accepters blocked on it return GORT_ECLOSED, and so
 * do calls made soon after (and a second close): a closed handle is kept,
 * marked closed, until 1024 more have been closed, so a Go-style accept
 * loop racing the close gets GORT_ECLOSED rather than freed memory. */
GORT_API int gort_listener_close(gort_listener *l);
/* "tcp" "tcp4" "tcp6" "udp" "udp4" "udp6" "unix" "unixgram". Names are
 * resolved with getaddrinfo on the blocking pool; each address is tried
 * in turn until the deadline. "udp" gives a connected datagram conn. */
GORT_API int gort_dial(gort_conn **out, const char *network,
                       const char *address, int64_t deadline);
/* Reads what is there (at least 1 byte); 0 at end of stream. */
GORT_API ssize_t gort_read(gort_conn *c, void *buf, size_t len,
                             int64_t deadline);
/* Writes everything, or fails; a deadline mid-way returns GORT_ETIMEDOUT
 * (how much went out is then unknown to the caller, as in Go). */
GORT_API ssize_t gort_write(gort_conn *c, const void *buf, size_t len,
                              int64_t deadline);
/* One datagram; addr (may be NULL) receives the sender as text. */
GORT_API ssize_t gort_readfrom(gort_conn *c, void *buf, size_t len,
                                 char *addr, size_t addrlen, int64_t deadline);
GORT_API ssize_t gort_writeto(gort_conn *c, const void *buf, size_t len,
                                const char *addr, int64_t deadline);
/* Closes and frees c: goroutines blocked on it wake with GORT_ECLOSED; the
 * descriptor is closed once the last of them has left. Calls made soon
 * after (and a second close) return GORT_ECLOSED, as for listeners. */
GORT_API int gort_conn_close(gort_conn *c);
#define GORT_SHUT_RD 0
#define GORT_SHUT_WR 1
#define GORT_SHUT_RDWR 2
GORT_API int gort_conn_shutdown(gort_conn *c, int how);
GORT_API int gort_conn_local_addr(gort_conn *c, char *buf, size_t len);
GORT_API int gort_conn_peer_addr(gort_conn *c, char *buf, size_t len);
GORT_API intptr_t gort_conn_handle(gort_conn *c); /* the fd; -1 for NULL */
/* Wraps a connected or bound socket the caller owns (it becomes c's: made
 * non-blocking and close-on-exec, closed by gort_conn_close). */
GORT_API int gort_conn_adopt(gort_conn **out, intptr_t handle);

/* ---- Introspection ----------------------------------------------------- */
/* Writes every goroutine of every scheduler to fd: id, state, wait reason
 * (and the channel, lock or fd waited on), time waiting, start function.
 * Returns the number listed. GORT_DEBUG=schedtrace=MS prints scheduler
 * state every MS ms to stderr; GORT_DEBUG=dumponquit=1 dumps on SIGQUIT. */
GORT_API int gort_dump(int fd);

/* Sizes of the embeddable types, for bindings that allocate them. */
GORT_API size_t gort_sizeof_mutex(void);
GORT_API size_t gort_sizeof_rwmutex(void);
GORT_API size_t gort_sizeof_cond(void);
GORT_API size_t gort_sizeof_wg(void);
GORT_API size_t gort_sizeof_once(void);
GORT_API size_t gort_sizeof_bargelock(void);

#ifdef __cplusplus
}
#endif
#endif /* GORT_H */
