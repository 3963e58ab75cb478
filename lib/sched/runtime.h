/*
 * runtime.h - the runtime's internal contract: G, M, P, the scheduler, and
 * the primitives every blocking feature is built on.
 *
 * Blocking, in one paragraph. Whoever waits (a goroutine or a plain OS
 * thread) puts a gort__waiter somewhere a waker can find it (a wait queue of
 * the parking lot, a channel's queue), then calls gort__wait(). Up to three
 * parties may try to end the wait: the waker, the deadline timer, and
 * gort_cancel. Each must first *claim* the waiter (one CAS); only the
 * claimant sets the result and makes the waiter runnable, so a wait ends
 * exactly once. A goroutine that is claimed before it has finished parking
 * is handled by the park token in gort__g.parkstate (ready before park means
 * park returns at once), so wakers never wait for the sleeper.
 *
 * Internal names are gort__*, hidden by -fvisibility=hidden.
 */
#ifndef GORT_SCHED_RUNTIME_H
#define GORT_SCHED_RUNTIME_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gort.h"
#include "arch/ctx.h"
#include "os/os.h"

#define GORT__LIKELY(x) __builtin_expect(!!(x), 1)
#define GORT__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define GORT__CACHELINE 64

/* A precondition is written twice: as a comment and as this assertion.
 * Always on: they guard invariants whose violation would corrupt memory. */
#define gort__assert(cond)                                                    \
  do {                                                                        \
    if (GORT__UNLIKELY(!(cond)))                                              \
      gort__fatal(__FILE__, __LINE__, #cond);                                 \
  } while (0)
void gort__fatal(const char *file, int line, const char *what)
    __attribute__((noreturn));

/* One step of a short spin-wait for another thread's few instructions:
 * relax, after 64 steps yield the CPU instead (the other thread may have
 * been preempted; spinning on would burn its time slice), and after 64
 * yields sleep 50 us a step: a scheduler need not run the other thread
 * when we yield (valgrind's default lock does not), but it must when we
 * sleep. */
static inline void gort__spin_step(int *spins)
{
  if (++*spins < 64) {
    gort__os_relax();
  } else if (*spins < 128) {
    gort__os_yield();
  } else {
    uint32_t nothing = 0;
    gort__os_futex_wait(&nothing, 0, gort__os_now() + 50 * 1000);
  }
}

/* ---- M-level locks (lib/sched/lock.c) ------------------------------------
 * Short critical sections on the runtime's own structures. A holder never
 * parks or switches goroutines. Spins briefly, then sleeps on a futex.
 * Each lock has a rank; debug builds (--enable-debug) check that a thread
 * takes locks only in increasing rank (docs/HACKING.md has the table). */
enum gort__lockrank {
  GORT__RANK_DEFAULT = 2, /* creating the default scheduler */
  GORT__RANK_RESIZE = 4,  /* gort_sched_maxprocs, one at a time */
  GORT__RANK_SCHED = 10,  /* gort__sched.lock: idle lists, global runq */
  GORT__RANK_LANE = 20,   /* gort__lane.lock */
  GORT__RANK_BLOCKPOOL = 30,
  GORT__RANK_CHAN = 35,   /* a channel (select takes several, by address) */
  GORT__RANK_NETFD = 36,  /* a descriptor under the netpoller (gort__pd) */
  GORT__RANK_PDCACHE = 37, /* the free list of gort__pd */
  GORT__RANK_PLOT = 40,   /* a parking-lot bucket */
  GORT__RANK_TIMERS = 50, /* a P's timer heap (two, while moving timers:
                             retired P first, then allp[0]) */
  GORT__RANK_STACKS = 60, /* the stack pools */
  GORT__RANK_LEAF = 100,  /* nothing is taken while this is held */
};
typedef struct gort__lock {
  _Atomic uint32_t key; /* 0 unlocked, 1 locked, 2 locked with sleepers */
  uint32_t rank;
} gort__lock;
#define GORT__LOCK_INIT(rank) {0, (rank)}
static inline void gort__lock_init(gort__lock *l, uint32_t rank)
{
  atomic_store_explicit(&l->key, 0, memory_order_relaxed);
  l->rank = rank;
}
void gort__lock_acquire_slow(gort__lock *l, uint32_t v);
void gort__lock_release_slow(gort__lock *l);
#if defined(GORT_DEBUG_LOCKS)
void gort__lock_acquire(gort__lock *l);
void gort__lock_release(gort__lock *l);
#else
/* The uncontended paths inline (a channel operation takes and drops a lock
 * two to four times); lock.c has the rest. */
static inline void gort__lock_acquire(gort__lock *l)
{
  uint32_t v = atomic_exchange_explicit(&l->key, 1, memory_order_acquire);
  if (GORT__UNLIKELY(v != 0))
    gort__lock_acquire_slow(l, v);
}

static inline void gort__lock_release(gort__lock *l)
{
  if (GORT__UNLIKELY(atomic_exchange_explicit(&l->key, 0,
                                              memory_order_release) == 2))
    gort__lock_release_slow(l);
}
#endif

/* ---- Waiting ------------------------------------------------------------- */
typedef struct gort__g gort__g;
typedef struct gort__m gort__m;
typedef struct gort__p gort__p;
typedef struct gort__sched gort__sched;

enum gort__waitstate { GORT__W_WAITING = 0, GORT__W_CLAIMED = 1, GORT__W_DONE = 2 };

/* Wait reasons, printed by gort_dump. Keep in step with gort__waitreason_str. */
enum gort__waitreason {
  GORT__WR_NONE = 0,
  GORT__WR_SLEEP,
  GORT__WR_JOIN,
  GORT__WR_MUTEX,
  GORT__WR_RWMUTEX_R,
  GORT__WR_RWMUTEX_W,
  GORT__WR_COND,
  GORT__WR_WG,
  GORT__WR_ONCE,
  GORT__WR_SEMA,
  GORT__WR_BARGELOCK,
  GORT__WR_BLOCKING,
  GORT__WR_CHAN_SEND,
  GORT__WR_CHAN_RECV,
  GORT__WR_SELECT,
  GORT__WR_IO,
  GORT__WR_COUNT
};
const char *gort__waitreason_str(int reason);

/* One wait of one goroutine or thread. Lives on the waiter's stack for the
 * duration of the wait. Queue links belong to whatever queue holds it and
 * are protected by that queue's lock. */
typedef struct gort__waiter {
  _Atomic uint32_t state; /* gort__waitstate; the futex word for threads */
  int result;             /* set by the claimant before it wakes us */
  uintptr_t token;        /* a value the waker passes (parking lot) */
  gort__g *g;             /* NULL: a plain OS thread is waiting */
  /* queue links (parking lot, channels) */
  struct gort__waiter *next, *prev;
  const void *key;
  bool queued;  /* still linked into its queue (under that queue's lock) */
  bool lifo;    /* requested place at the front of the queue */
  void *data;   /* what the queue owner wants (a channel element) */
} gort__waiter;

/* Sets up w for the calling goroutine or thread. */
void gort__waiter_init(gort__waiter *w);
/* Ends the wait of w with result if nobody else has: true if we claimed it.
 * After this returns true the caller must not touch *w (it may be gone). */
bool gort__waiter_wake(gort__waiter *w, int result, uintptr_t token);
/* Claims w without waking it yet (for wakers that must finish bookkeeping
 * under a lock first): WAITING -> CLAIMED, true for exactly one caller.
 * Follow with gort__waiter_finish. */
static inline bool gort__waiter_claim(gort__waiter *w)
{
  uint32_t e = GORT__W_WAITING;
  return atomic_compare_exchange_strong_explicit(
      &w->state, &e, GORT__W_CLAIMED, memory_order_acq_rel,
      memory_order_relaxed);
}
void gort__waiter_finish(gort__waiter *w, int result, uintptr_t token);

/* Blocks until w is woken, the deadline passes (GORT_ETIMEDOUT) or the
 * goroutine is cancelled (GORT_ECANCELED); returns the result. A
 * deadline/cancel result means this wait claimed itself: w may still be
 * queued, and the caller must unlink it (w->queued, under the queue lock).
 * deadline GORT_NEVER: none. The caller has already handled deadline 0. */
int gort__wait(gort__waiter *w, int64_t deadline, int reason,
               const void *what);
/* Same, but cancellation does not end the wait (a lock that must be
 * re-taken, a blocking call whose work is under way). */
int gort__wait_nocancel(gort__waiter *w, int64_t deadline, int reason,
                        const void *what);

/* What every blocking entry point checks first: GORT_ECANCELED once the
 * calling goroutine is cancelled, GORT_EAGAIN for deadline 0 when the caller
 * says it would block, GORT_ETIMEDOUT for a past deadline; else 0. */
/* The cancelled flag of the goroutine this thread runs (NULL on g0 and on
 * plain threads), kept current by every switch, so the check that opens
 * every blocking call is two loads and no call. Only ever read it at the
 * entry of a call, before anything that can park: a compiler may keep a
 * thread-local's address in a register across a call, and after a park the
 * goroutine may be on another thread. */
extern _Thread_local const _Atomic uint32_t *gort__tls_cancelled
    __attribute__((tls_model("initial-exec")));
static inline int gort__check_cancel(void)
{
  const _Atomic uint32_t *p = gort__tls_cancelled;
  return p && atomic_load_explicit(p, memory_order_relaxed) ? GORT_ECANCELED
                                                             : 0;
}
/* Whether a locker should spin rather than park now (Go's canSpin): more
 * than one CPU, other Ps busy enough that the holder may be running, and
 * nothing waiting in the caller's own run queue. */
bool gort__can_spin(void);
int gort__deadline_expired(int64_t deadline); /* 0, EAGAIN or ETIMEDOUT */

/* ---- The parking lot (lib/sched/plot.c) ---------------------------------
 * Wait queues keyed by address, in a fixed hash table of buckets: any word
 * can be waited on without storage of its own, which is what lets every
 * gort_* sync type be a few zeroed bytes (WebKit's ParkingLot, Linux futex
 * hashing, Go's semtable). Queues are FIFO; lifo puts a waiter in front. */

/* Under the bucket lock, calls validate(ctx) (NULL: always true); if it
 * returns false, returns GORT_EAGAIN without waiting. Otherwise enqueues,
 * releases the bucket, calls before_sleep(ctx) (may be NULL) and waits.
 * Returns 0 with *token from the waker, GORT_ETIMEDOUT or GORT_ECANCELED
 * (already unlinked). */
typedef struct gort__park_opts {
  bool (*validate)(void *ctx);
  void (*before_sleep)(void *ctx);
  void *ctx;
  bool lifo;
  bool nocancel;
  int reason;
} gort__park_opts;
int gort__plot_park(const void *key, const gort__park_opts *o,
                    int64_t deadline, uintptr_t *token);

/* Wakes the first waiter on key that can still be claimed. Under the bucket
 * lock, calls cb(ctx, woke, more) (may be NULL) where woke says whether a
 * waiter was claimed and more whether others remain; its return value is
 * the token passed to the woken waiter. Returns 1 if one was woken, else 0. */
int gort__plot_unpark_one(const void *key,
                          uintptr_t (*cb)(void *ctx, bool woke, bool more),
                          void *ctx);
/* Wakes up to n waiters (SIZE_MAX: all) with token; returns how many.
 * If cb is not NULL it runs under the bucket lock with the number claimed,
 * before any of them runs. */
size_t gort__plot_unpark_n(const void *key, size_t n, uintptr_t token,
                           void (*cb)(void *ctx, size_t woke), void *ctx);

/* ---- Timers (lib/time/timer.c) ------------------------------------------
 * Per-P 4-ary min-heaps, each under its own lock. A timer's callback runs
 * on an M's scheduler stack (g0), never on a goroutine: it must not block. */
typedef struct gort__timer {
  int64_t when;
  void (*fn)(void *arg, int64_t now);
  void *arg;
  _Atomic(gort__p *) heap; /* the P whose heap holds it; NULL: not armed */
  uint32_t index;          /* position in that heap */
  /* while its callback runs: that firing's token, unique in the process
   * (a P's firing count and its id), so a late clear by one firing can
   * never clear another's, even in a reused descriptor */
  _Atomic uint64_t running;
} gort__timer;
static inline void gort__timer_init(gort__timer *t,
                                    void (*fn)(void *, int64_t), void *arg)
{
  t->when = 0;
  t->fn = fn;
  t->arg = arg;
  atomic_store_explicit(&t->heap, NULL, memory_order_relaxed);
  t->index = 0;
  atomic_store_explicit(&t->running, 0, memory_order_relaxed);
}
/* Arms t for when (absolute). t must not be armed. */
void gort__timer_add(gort__sched *s, gort__timer *t, int64_t when);
/* Disarms t if armed; if its callback is running, waits for it to return
 * (or to call gort__timer_release). Returns true if it was still armed. */
bool gort__timer_del(gort__timer *t);
/* From inside t's callback: it will not touch what gort__timer_del
 * protects any more, so a deleter need not wait for the rest (a wakeup's
 * syscalls). */
void gort__timer_release(gort__timer *t);

/* ---- Goroutines ---------------------------------------------------------- */
void gort__ready(gort__g *g);
gort__g *gort__getg(void) __attribute__((noinline));
gort__m *gort__getm(void) __attribute__((noinline));
gort__sched *gort__sched_of(gort__g *g);
/* Parks the calling goroutine (called through gort__wait). */
void gort__park(int reason, const void *what);
int64_t gort__nanotime(void);

/* Counts calls from goroutines that left their M to block (deadlock check). */
void gort__blocking_begin(gort__sched *s);
void gort__blocking_end(gort__sched *s);

#endif
