/*
 * sched.h - the bodies of G, M, P and the scheduler (Go's runtime2.go).
 *
 * G  a goroutine. Its descriptor lives in the top page of its stack slot, so
 *    a blocked goroutine costs one resident page when its frames are small.
 * M  an OS thread. It runs the scheduler on its own stack (g0) and switches
 *    to goroutines; it needs a P to run them, except lane Ms and Ms whose P
 *    sysmon took while their goroutine ran on.
 * P  a processor: the right to run goroutines, with a local run queue,
 *    runnext, a timer heap and a stack cache. maxprocs Ps exist.
 *
 * P ownership is one atomic word, (owner M id << 8) | status, so that an M
 * whose P was retaken by sysmon can never mistake the P for still its own:
 * its CAS on the word names it, and fails once another M owns the P.
 *
 *   P_IDLE     in the idle list, no owner
 *   P_RUNNING  owned; the owner is in the scheduler or in a runtime call
 *   P_USER     owned; the owner runs goroutine code (sysmon may retake it)
 *   P_SYSCALL  owned; the owner is in gort_syscall_enter (retaken sooner)
 *   P_DEAD     beyond maxprocs
 */
#ifndef GORT_SCHED_SCHED_H
#define GORT_SCHED_SCHED_H

#include "sched/runtime.h"
#include "net/netpoll.h"

/* Built with a sanitizer that must hear of every stack switch? */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GORT_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define GORT_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(GORT_ASAN)
#define GORT_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__) && !defined(GORT_TSAN)
#define GORT_TSAN 1
#endif

#define GORT__RUNQ_SIZE 256
/* A goroutine spawning in a loop yields once its queue holds this many
 * (goroutine.c says why). */
#define GORT__SPAWN_BATCH 16
#define GORT__CANARY 0x676f7274c0ffee42ULL /* "gort" + coffee */
#define GORT__MAXPROCS_LIMIT 1024
#define GORT__NEVER_WHEN INT64_MAX
#define GORT__STACK_MIN ((size_t)16 * 1024)
#define GORT__STACK_MAX ((size_t)1 << 30)
#define GORT__STACK_DEFAULT ((size_t)64 * 1024)
#define GORT__STACK_CLASSES 18 /* 16 KiB << 0..17: up to 2 GiB slots */
#define GORT__STACKCACHE_MAX 64

enum gort__gstatus {
  GORT__G_FREE = 0, /* a slot with no goroutine (zero page reads as this) */
  GORT__G_RUNNABLE,
  GORT__G_RUNNING,
  GORT__G_WAITING,
  GORT__G_DEAD, /* finished, not yet back in the pool */
};

enum gort__parkstate { GORT__PS_RUNNING = 0, GORT__PS_PARKED, GORT__PS_NOTIFIED };

/* What a goroutine asks g0 to do once it has switched away. */
enum gort__gop {
  GORT__OP_PARK = 1,
  GORT__OP_YIELD,
  GORT__OP_EXIT,
  GORT__OP_REACQUIRE, /* lost its P in a syscall region: queue me, idle */
};

enum gort__pstatus {
  GORT__P_IDLE = 0,
  GORT__P_RUNNING,
  GORT__P_USER,
  GORT__P_SYSCALL,
  GORT__P_DEAD,
};
#define GORT__PSTATE(mid, st) (((uint64_t)(mid) << 8) | (uint64_t)(st))
#define GORT__PSTATE_STATUS(v) ((int)((v)&0xff))

typedef struct gort__lane gort__lane;
typedef struct gort__foreign gort__foreign;
typedef struct gort__slot gort__slot;
typedef struct gort__handle gort__handle;

/* What a gort_g points to. It lives apart from the goroutine, whose stack
 * and descriptor go back to the pool the moment it ends, so a handle kept
 * for a late join pins a few dozen bytes, not a stack (a million unjoined
 * handles would otherwise hold a million slots). References: the handle's
 * owner, and the goroutine until it ends. A goroutine spawned without a
 * handle gets one only if it calls gort_self: "selfh", inside its own
 * descriptor, which that call returns borrowed (valid while it runs, as
 * gort_self promises) and which is never freed. */
struct gort__handle {
  union {
    struct {
      /* GORT__HDONE_*: ended, a joiner may park on it, the goroutine's
       * and the caller's references, and a count of callers reaching
       * into g, whom the end waits for */
      _Atomic uint32_t done;
      _Atomic uint32_t cancelled; /* sticky, copied from the goroutine as it
                                     ends */
      bool embedded;          /* it is some goroutine's selfh */
      gort__g *_Atomic g;     /* NULL once the goroutine ended */
      uint64_t id;
      gort__foreign *foreign; /* owned here (freed with the handle) if set */
    };
    struct {                  /* while free (goroutine.c) */
      struct gort__handle *link;  /* the next in its list */
      struct gort__handle *batch; /* a batch's first: the next batch */
      int n;                      /* a batch's first: its length */
    } free;
  };
};

struct gort__g {
  gort__ctx ctx; /* saved context while not running */
  gort__sched *sched;
  gort__m *m; /* while running */
  _Atomic uint32_t parkstate;
  int op; /* gort__gop, for g0 */
  gort__waiter *_Atomic curwaiter; /* cancellable wait in progress */
  _Atomic uint32_t cancelbusy;      /* a canceller holds curwaiter's w */
  gort__lock cancel_lock;           /* one canceller at a time */
  _Atomic uint32_t cancelled; /* sticky */
  gort__handle *handle;       /* NULL until gort_spawn's out or gort_self */
  gort__timer timer;          /* sleep and deadlines */
  gort__waiter *timerwaiter;  /* the wait g.timer ends */
  void *arg;
  gort__g *schedlink; /* run queues, free slot lists */
  /* the stack slot: [slot, slot+guard) guard, [stack_lo, g) stack */
  char *slot;
  char *stack_lo;
  size_t stack_size; /* usable bytes below the descriptor */
  uint32_t sclass;
  uint32_t guarded; /* a guard page protects the slot */
  void *asan_fake;
  void *tsan_fiber;
  gort__handle selfh; /* gort_self's, for a goroutine spawned without one */
  /* ---- gort_dump (and shutdown) read these from any thread at any time,
   * even while the slot is freed and reused: they are only ever written
   * atomically (the plain-typed ones through GORT__SET_RELAXED; their
   * owners may read them plainly), and slot_init resets the fields before
   * selfh one by one, never these. Keep them last. */
  _Atomic int status;
  _Atomic int waitreason;       /* set by the goroutine as it parks */
  const void *_Atomic waitwhat; /* the channel, lock word or fd */
  _Atomic int64_t waitsince;    /* coarse ns */
  uint64_t id;
  void (*fn)(void *);
  gort__lane *lane;
  gort__foreign *foreign;
};
/* A relaxed atomic store to a plain-typed field that gort_dump may be
 * reading from another thread (TSan then sees two atomic accesses). */
#define GORT__SET_RELAXED(x, v)                                               \
  atomic_store_explicit((_Atomic __typeof__(x) *)&(x), (v),                   \
                        memory_order_relaxed)

struct gort__m {
  gort__ctx g0ctx;
  gort__g *_Atomic curg;
  gort__p *p;
  gort__p *nextp;
  gort__sched *sched;
  gort__lane *lane;
  uint64_t id;
  _Atomic uint32_t note; /* park: 0 asleep, 1 woken */
  bool spinning;
  bool dying;
  int altstack; /* 1: we installed a sigaltstack */
  gort__m *schedlink; /* idle list */
  gort__m *alllink;
  gort__os_thread thread;
  uint32_t fastrand;
  void *g0_lo;
  size_t g0_size;
  void *asan_fake_g0;
  void *tsan_g0;
  /* free handles (goroutine.c): only the M's own thread touches them */
  gort__handle *hcache; /* a list of nhcache, below HBATCH */
  gort__handle *hspare; /* NULL or a full batch */
  int nhcache;
};

struct gort__p {
  int id;
  _Atomic uint64_t state; /* GORT__PSTATE(owner, status) */
  gort__m *m;
  _Atomic uint32_t runqhead;
  _Atomic uint32_t runqtail;
  gort__g *_Atomic runq[GORT__RUNQ_SIZE];
  gort__g *_Atomic runnext;
  _Atomic uint32_t schedtick;
  _Atomic uint32_t syscalltick;
  /* sysmon's view */
  uint32_t mon_tick;
  int64_t mon_when;
  uint32_t mon_stick;
  int64_t mon_swhen;
  /* timers */
  gort__lock tlock;
  gort__timer **theap;
  uint32_t tlen, tcap;
  bool tdead;
  _Atomic int64_t timer0; /* earliest when, GORT__NEVER_WHEN if none */
  uint64_t tfired;         /* firings, for timer tokens (under tlock) */
  /* caches */
  gort__g *stackcache;
  int nstackcache;
  uint64_t goidcache, goidcacheend;
  _Atomic int64_t nspawned, nexited; /* owner-written; summed for counts */
  gort__p *link; /* idle list */
};

struct gort__lane {
  gort__sched *sched;
  gort__lock lock;
  gort__g *qhead, *qtail;
  _Atomic uint32_t wake;
  _Atomic int64_t ngs; /* live goroutines of the lane */
  bool closing;
  gort__m *m;
  gort__os_thread thread;
  gort__lane *next;
};

struct gort__foreign {
  gort_foreign_vt vt;
  void *callable;
  void *args;
  void *result;
  _Atomic int state; /* 0 running, 1 finished with result, 2 taken */
};

/* A stack pool for one slot size. */
typedef struct gort__stackpool {
  size_t slot_size;
  gort__g *hot; /* free slots whose pages are resident */
  size_t nhot;
  char **cold; /* free slots whose pages were given back */
  size_t ncold, capcold;
  struct gort__arena *arena; /* the newest arena of this size */
  char *arena_next;          /* bump allocation in it */
  size_t arena_left;
} gort__stackpool;

typedef struct gort__arena {
  char *base;
  size_t len;
  size_t slot_size;
  size_t nslots; /* carved so far */
  struct gort__arena *next;
  unsigned *vgid; /* valgrind stack ids, one a slot; NULL outside valgrind */
} gort__arena;

typedef struct gort__mainrec {
  _Atomic uint32_t state; /* 0 running, 1 returned, 2 deadlock */
  uint64_t gen;
} gort__mainrec;

typedef struct gort__blockjob gort__blockjob;

struct gort__sched {
  gort__lock lock; /* idle lists, global runq, allm, lanes, mainrec */
  gort__p **allp;  /* GORT__MAXPROCS_LIMIT slots; created on demand */
  _Atomic int nprocs;
  int nallp;
  gort__p *pidle;
  _Atomic int npidle;
  gort__m *midle;
  int nmidle;
  gort__m *allm;
  int mcount;
  int nstarting; /* Ms being created: shutdown waits for their handles */
  _Atomic int nmspinning;
  gort__g *runqhead, *runqtail;
  _Atomic int64_t runqsize;
  _Atomic int64_t ng_extra; /* spawns and exits made without a P */
  _Atomic int nblocking; /* goroutines parked on blocking-pool work */
  /* written under lock; read without it only as a hint */
  gort__mainrec *_Atomic mainrec;
  uint64_t maingen;
  gort__lane *lanes;
  /* the idle wait: one M at a time (polling) blocks in the netpoller
   * until the earliest timer; see lib/net/netpoll.h */
  _Atomic int polling;
  _Atomic int64_t polluntil;
  struct gort__netpoller *netpoll;
  /* sysmon */
  gort__os_thread sysmon;
  _Atomic uint32_t sysmonnote;
  _Atomic int sysmonwait;
  _Atomic int64_t coarse_now;
  /* stacks */
  gort__lock stacklock;
  gort__stackpool pools[GORT__STACK_CLASSES];
  gort__arena *arenas;
  size_t default_stack;
  uint32_t default_class; /* size class of default_stack */
  size_t stack_hwm;
  long guard_budget; /* mprotect guards we may still spend */
  int guard_how;     /* GORT__GUARD_* ways allowed (GORT_STACK_GUARD) */
  /* blocking pool */
  gort__lock bplock;
  gort__blockjob *bphead, *bptail;
  int bpthreads, bpidle;
  void *bpworkers; /* blocking.c's list of threads, joined at shutdown */
  _Atomic uint32_t bpseq;
  /* lifecycle */
  _Atomic int stopping;
  _Atomic int dead;
  _Atomic uint32_t exitseq; /* bumped on exits while stopping */
  bool is_default;
  gort__sched *alllink; /* every live scheduler (gort__sched_each) */
};

/* ---- schedapi.c ---- */
/* Calls fn for every live scheduler, under the registry's lock (which
 * ranks below every scheduler lock: fn may take those). */
void gort__sched_each(void (*fn)(gort__sched *s, void *ctx), void *ctx);

/* ---- goroutine.c ---- */
int gort__spawn_internal(gort__sched *s, gort__lane *lane,
                         gort__foreign *foreign, void (*fn)(void *),
                         void *arg, size_t stack_size, gort_g **out);

/* ---- proc.c ---- */
extern _Thread_local gort__m *gort__tls_m
    __attribute__((tls_model("initial-exec")));
gort__sched *gort__sched_get(gort_sched *s); /* NULL: current or default */
void gort__wakep(gort__sched *s);
void gort__globrunqput(gort__sched *s, gort__g *g);
void gort__startm(gort__sched *s, gort__p *p, bool spinning);
gort__p *gort__pidleget(gort__sched *s);
void gort__handoffp(gort__sched *s, gort__p *p);
int gort__g_start(gort__sched *s, gort__g *g, bool front);
#define GORT__HDONE_ENDED 1u
#define GORT__HDONE_JOINWAIT 2u /* set under the bucket lock by gort_join */
#define GORT__HDONE_GREF 4u     /* the goroutine's reference (its end's) */
#define GORT__HDONE_CREF 8u     /* the caller's (gort_g_release's) */
#define GORT__HDONE_PIN 16u     /* one caller inside h->g (goroutine.c) */
/* The end of h's goroutine g, off its stack: publishes it to joiners,
 * waits out callers still reaching into g, and drops the goroutine's
 * reference (freeing h if it was the last). m: the calling thread's M. */
void gort__handle_end(gort__handle *h, gort__g *g, gort__m *m);
/* m's thread is leaving: its free handles go to the process's pool. */
void gort__handle_cache_flush(gort__m *m);
bool gort__p_has_work(gort__sched *s, gort__p *p);
uint32_t gort__fastrand(gort__m *m);
void gort__sysmon_wake(gort__sched *s);
void gort__execute(gort__m *m, gort__g *g);
/* An unguarded stack's lowest word still holds the canary? */
static inline bool gort__canary_ok(gort__g *g)
{
  return g->guarded || *(volatile uint64_t *)g->stack_lo == GORT__CANARY;
}
void gort__mstart_common(gort__m *m);
void gort__mexit_common(gort__m *m);
gort__m *gort__m_alloc(gort__sched *s);
void gort__notewakeup(gort__m *m);

/* ---- runq.c ---- */
bool gort__runqputslow(gort__p *p, gort__g *g, uint32_t h, uint32_t t);

/* Puts g at the tail of p's ring if it has room; else false, with the head
 * and tail it saw in *h and *t (for gort__runqputslow). Owner only. */
static inline bool gort__runqput_ring(gort__p *p, gort__g *g, uint32_t *h,
                                      uint32_t *t)
{
  *h = atomic_load_explicit(&p->runqhead, memory_order_acquire);
  *t = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
  if (*t - *h >= GORT__RUNQ_SIZE)
    return false;
  atomic_store_explicit(&p->runq[*t & (GORT__RUNQ_SIZE - 1)], g,
                        memory_order_relaxed);
  atomic_store_explicit(&p->runqtail, *t + 1, memory_order_release);
  return true;
}

/* Puts g on p's queue (front, as runnext, if next). Owner only. Returns
 * false if it had to spill to the global queue. Inline, with runqget:
 * each is on every switch and every ready (runq.c has the design). */
static inline bool gort__runqput(gort__p *p, gort__g *g, bool next)
{
  if (next) {
    gort__g *old = atomic_load_explicit(&p->runnext, memory_order_relaxed);
    if (old == NULL) {
      /* only the owner makes runnext non-NULL; stealers only clear a
       * non-NULL one: an empty runnext can take a plain store */
      atomic_store_explicit(&p->runnext, g, memory_order_release);
      return true;
    }
    old = atomic_exchange_explicit(&p->runnext, g, memory_order_acq_rel);
    if (old == NULL)
      return true;
    g = old; /* the previous runnext goes to the tail */
  }
  for (;;) {
    uint32_t h, t;
    if (gort__runqput_ring(p, g, &h, &t))
      return true;
    if (gort__runqputslow(p, g, h, t))
      return false;
  }
}

/* Takes runnext, else the ring's head. Owner only. */
static inline gort__g *gort__runqget(gort__p *p)
{
  gort__g *next = atomic_load_explicit(&p->runnext, memory_order_relaxed);
  if (next && atomic_compare_exchange_strong_explicit(
                  &p->runnext, &next, NULL, memory_order_acq_rel,
                  memory_order_relaxed))
    return next;
  for (;;) {
    uint32_t h = atomic_load_explicit(&p->runqhead, memory_order_acquire);
    uint32_t t = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
    gort__g *g;
    if (t == h)
      return NULL;
    g = atomic_load_explicit(&p->runq[h & (GORT__RUNQ_SIZE - 1)],
                             memory_order_relaxed);
    if (atomic_compare_exchange_weak_explicit(&p->runqhead, &h, h + 1,
                                              memory_order_release,
                                              memory_order_relaxed))
      return g;
  }
}
bool gort__runqempty(gort__p *p);
gort__g *gort__runqsteal(gort__p *p, gort__p *p2, bool stealnext);
gort__g *gort__globrunqget(gort__sched *s, gort__p *p, int max);
void gort__runqdrain_global(gort__sched *s, gort__p *p);

/* ---- stack.c ---- */
gort__g *gort__stack_alloc_slow(gort__sched *s, gort__p *p,
                                size_t stack_size);
void gort__stack_free_slow(gort__sched *s, gort__p *p, gort__g *g);

/* Resets what one goroutine left in a descriptor for the next. The fields
 * from status on are read by gort_dump and shutdown at any time: never by
 * memset. status is GORT__G_FREE already (stack_free, or a fresh or
 * given-back page), and spawn sets id, fn, lane, foreign; the wait fields
 * are only read while the goroutine waits. selfh, just before them, is
 * written whole by gort_self when it is first needed. The rest is reset
 * field by field, not by a memset: that became a "rep stos", whose start-up
 * cost was a sixth of a spawn. ctx, cancel_lock, timer, arg and handle are
 * spawn's to set. */
static inline gort__g *gort__slot_reset(gort__g *g)
{
  _Static_assert(offsetof(gort__g, selfh) ==
                     offsetof(gort__g, tsan_fiber) + sizeof(void *),
                 "gort__slot_reset: a field was added before selfh; set it");
  g->m = NULL;
  atomic_store_explicit(&g->parkstate, 0, memory_order_relaxed);
  g->op = 0;
  atomic_store_explicit(&g->curwaiter, NULL, memory_order_relaxed);
  atomic_store_explicit(&g->cancelbusy, 0, memory_order_relaxed);
  atomic_store_explicit(&g->cancelled, 0, memory_order_relaxed);
  g->timerwaiter = NULL;
  g->schedlink = NULL;
  g->asan_fake = NULL;
  g->tsan_fiber = NULL;
  atomic_store_explicit(&g->status, GORT__G_FREE, memory_order_relaxed);
  return g;
}

/* A slot for a new goroutine, its descriptor at the top; NULL if out of
 * memory or stack_size is beyond the largest class. The common case, a
 * default-size slot from the P's cache, inlines: such a slot belongs to
 * this scheduler, its pages are resident and its canary (if any) intact,
 * so only what the last goroutine left needs resetting. */
static inline gort__g *gort__stack_alloc(gort__sched *s, gort__p *p,
                                         size_t stack_size)
{
  gort__g *g;
  if (GORT__LIKELY(p && stack_size == s->default_stack && p->stackcache)) {
    g = p->stackcache;
    p->stackcache = g->schedlink;
    p->nstackcache--;
    return gort__slot_reset(g);
  }
  return gort__stack_alloc_slow(s, p, stack_size);
}

/* g is dead and off its stack: its slot goes to p's cache (inline) or to
 * the pools. */
static inline void gort__stack_free(gort__sched *s, gort__p *p, gort__g *g)
{
  if (GORT__LIKELY(p && g->sclass == s->default_class &&
                   p->nstackcache < GORT__STACKCACHE_MAX)) {
    atomic_store_explicit(&g->status, GORT__G_FREE, memory_order_release);
    g->schedlink = p->stackcache;
    p->stackcache = g;
    p->nstackcache++;
    return;
  }
  gort__stack_free_slow(s, p, g);
}
void gort__stack_cache_flush(gort__sched *s, gort__p *p);
void gort__stack_trim(gort__sched *s);
void gort__stack_init(gort__sched *s);
void gort__stack_term(gort__sched *s);
size_t gort__stack_round(size_t size);
uint64_t gort__fault_classify(void *addr);
void gort__stack_each_g(gort__sched *s, void (*fn)(gort__g *g, void *ctx),
                        void *ctx);

/* ---- switch.c ---- */
void gort__switch_to_g(gort__m *m, gort__g *g);
void gort__switch_g_to_g(gort__g *g1, gort__g *g2);
void gort__post_switch(gort__ctx_pass from);
/* On the goroutine switched to directly: what d (off its stack now) asked
 * for in d->op. */
void gort__finish_deferred(gort__m *m, gort__g *d);
void gort__switch_to_g0(gort__g *g);
void gort__g_bootstrap(void *arg, gort__ctx_pass from);
/* never returns; not declared noreturn, since ASan would then run
 * __asan_handle_no_return on the goroutine's stack before each call */
void gort__g_exit(gort__g *g);
#if defined(GORT_ASAN) || defined(GORT_TSAN)
void gort__fiber_create(gort__g *g);
void gort__fiber_destroy(gort__g *g);
#else
/* nothing to tell a sanitizer: no call on every spawn and end */
static inline void gort__fiber_create(gort__g *g) { (void)g; }
static inline void gort__fiber_destroy(gort__g *g) { (void)g; }
#endif
void gort__m_fiber_init(gort__m *m);
bool gort__stack_ids_kept(void); /* running under valgrind */
unsigned gort__stack_register(char *lo, char *hi);
void gort__arena_roots(void *base, size_t len, bool add);
void gort__stack_deregister(unsigned id);

/* ---- timer.c ---- */
int64_t gort__timers_run(gort__p *p, int64_t now);
/* The earliest timer of any P. Inline: the direct switch checks it every
 * 8th time without making a call. */
static inline int64_t gort__timers_earliest(gort__sched *s)
{
  int64_t min = GORT__NEVER_WHEN;
  int i, n = atomic_load_explicit(&s->nprocs, memory_order_acquire);
  for (i = 0; i < n; i++) {
    int64_t w = atomic_load_explicit(&s->allp[i]->timer0, memory_order_seq_cst);
    if (w < min)
      min = w;
  }
  return min;
}
void gort__timers_move(gort__sched *s, gort__p *from);
void gort__timers_init(gort__p *p);
void gort__timers_free(gort__p *p);

/* ---- wait.c ---- */
void gort__cancel_g(gort__g *g);

/* ---- blocking.c ---- */
void gort__blockpool_stop(gort__sched *s);

/* ---- lane.c ---- */
void gort__lane_ready(gort__lane *l, gort__g *g);
void gort__lanes_close_all(gort__sched *s, int64_t deadline);
bool gort__lanes_busy(gort__sched *s);

/* ---- dump.c ---- */
void gort__debug_init(void); /* reads GORT_DEBUG once per process */
int64_t gort__schedtrace_period(void);
void gort__schedtrace_tick(gort__sched *s, int64_t now, int64_t *last);

/* ---- sysmon.c ---- */
int gort__sysmon_start(gort__sched *s);

/* ---- foreign.c ---- */
void gort__foreign_release(gort__foreign *f);

#endif
