/*
 * dump.c - introspection: gort_dump, GORT_DEBUG=schedtrace=MS and
 * GORT_DEBUG=dumponquit=1 (Go's goroutine traceback and GODEBUG).
 *
 * gort_dump works in two phases, so that no runtime lock is held while it
 * writes: fd may be a pipe nobody drains yet, and a write blocked under
 * stacklock would stall every spawn and exit of the scheduler.
 *  1. Under the registry lock (which keeps each scheduler and its stack
 *     arenas alive) and each scheduler's stacklock, copy what every
 *     goroutine shows into plain records. The records live in a buffer from
 *     gort__os_map, never malloc: the SIGQUIT dumper must work while the
 *     interrupted thread holds malloc's lock.
 *  2. With no lock held, format each record (a few lines of formatter
 *     below: no stdio, no locale, no allocation), resolve start functions
 *     with dladdr(3) and write(2) in chunks.
 * Reading another goroutine's descriptor races with it: every field is
 * loaded relaxed (PEEK), and any of them may be stale: this is a
 * diagnostic. It cannot fault: slots stay mapped while their scheduler
 * lives, and a slot that was freed meanwhile reads as GORT__G_FREE.
 *
 * SIGQUIT (installed only when GORT_DEBUG has dumponquit=1): the handler
 * does not dump. It wakes a dedicated dumper thread with a futex word,
 * waits for it while its output keeps progressing, then restores the
 * default action and re-raises, so the process dies by SIGQUIT as it would
 * have. The handler itself only makes async-signal-safe calls (futex,
 * clock_gettime, write, sigaction, raise). Rejected: dumping inside the
 * handler. gort__sched_each and gort__stack_each_g take locks that the
 * interrupted thread may hold (a SIGQUIT landing inside gort_dump or a
 * spawn would deadlock), dladdr takes the dynamic loader's lock, and a
 * trylock variant that walks on without the lock would read lists in the
 * middle of an update. The dumper thread takes the locks like any thread;
 * if the interrupted thread holds one, the dumper stalls and the handler
 * gives up after a second without progress: a truncated dump, never a hang.
 * The thread also keeps symbol names in the SIGQUIT dump. Cost: one thread,
 * only in processes that asked for it.
 *
 * schedtrace: sysmon calls gort__schedtrace_tick every round (on its own
 * thread, without a P). The line's counts are read under sched.lock, which
 * sysmon takes anyway to hand off Ps and whose holders never block; the
 * lock is dropped before the write.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "sched/sched.h"

#if defined(HAVE_DLADDR1)
#include <link.h>
#endif

/* A relaxed atomic load of a descriptor field, whether sched.h declares it
 * _Atomic or plain (then TSan still sees an atomic read; the writer must
 * store it atomically too for the pair to be race-free). */
#define PEEK(x)                                                                \
  atomic_load_explicit((_Atomic __typeof__(x) *)&(x), memory_order_relaxed)

#define TEXT_BYTES 8192 /* the write chunk, inside the mapping */
#define MAP_MIN ((size_t)64 << 10)
#define MS_NS (1000 * 1000LL)

/* ---- output: a chunk buffer flushed with write(2) ---------------------- */

typedef struct out {
  int fd;
  int err; /* first write error, as GORT_E* */
  char *buf;
  size_t len, cap;
  _Atomic uint32_t *progress; /* bumped per chunk (the SIGQUIT dumper) */
} out;

static int err_of(int e)
{
  switch (e) {
  case EBADF:
    return GORT_EBADF;
  case EPIPE:
    return GORT_EPIPE;
  case ENOMEM:
  case ENOSPC:
  case EDQUOT:
    return GORT_ENOMEM;
  default:
    return GORT_EINVAL;
  }
}

static int write_all(int fd, const char *p, size_t n)
{
  while (n > 0) {
    ssize_t r = write(fd, p, n);
    if (r > 0) {
      p += r;
      n -= (size_t)r;
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      struct pollfd pf = {fd, POLLOUT, 0};
      poll(&pf, 1, -1); /* a non-blocking fd: wait for room */
    } else {
      return err_of(r < 0 ? errno : EPIPE);
    }
  }
  return 0;
}

static void flush(out *o)
{
  if (o->len && !o->err)
    o->err = write_all(o->fd, o->buf, o->len);
  o->len = 0;
  if (o->progress)
    atomic_fetch_add_explicit(o->progress, 1, memory_order_relaxed);
}

static void put(out *o, const char *s, size_t n)
{
  while (n > 0) {
    size_t k = o->cap - o->len;
    if (k == 0) {
      flush(o);
      k = o->cap;
    }
    if (k > n)
      k = n;
    memcpy(o->buf + o->len, s, k);
    o->len += k;
    s += k;
    n -= k;
  }
}

static void puts_(out *o, const char *s)
{
  put(o, s, strlen(s));
}

static void putu(out *o, uint64_t v)
{
  char b[24];
  int i = sizeof b;
  do {
    b[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  put(o, b + i, sizeof b - (size_t)i);
}

/* As printf's %p does with glibc: 0x and lowercase hex, no padding. */
static void putx(out *o, uintptr_t v)
{
  char b[2 + 2 * sizeof v];
  int i = sizeof b;
  do {
    b[--i] = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v);
  b[--i] = 'x';
  b[--i] = '0';
  put(o, b + i, sizeof b - (size_t)i);
}

static void putp(out *o, const void *p)
{
  putx(o, (uintptr_t)p);
}

/* ---- phase 1: records, copied under the locks ------------------------- */

enum { REC_SCHED = 1, REC_G };

typedef struct rec {
  int kind;
  int status; /* REC_G: gort__gstatus; REC_SCHED: maxprocs */
  int reason; /* while waiting */
  bool foreign;
  uint64_t id;      /* REC_SCHED: goroutines listed */
  const void *addr; /* REC_G: what it waits on; REC_SCHED: the scheduler */
  const void *lane;
  void (*fn)(void *);
  int64_t since; /* coarse ns, while waiting */
} rec;

typedef struct recbuf {
  char *map; /* [0, TEXT_BYTES) the write chunk, then records */
  size_t bytes;
  size_t n, cap;
  bool truncated; /* out of memory: the list stops here */
  _Atomic uint32_t *progress;
} recbuf;

static rec *recs(recbuf *b)
{
  return (rec *)(void *)(b->map + TEXT_BYTES);
}

static bool rb_init(recbuf *b, _Atomic uint32_t *progress)
{
  memset(b, 0, sizeof *b);
  b->progress = progress;
  b->map = gort__os_map(MAP_MIN);
  if (!b->map)
    return false;
  b->bytes = MAP_MIN;
  b->cap = (MAP_MIN - TEXT_BYTES) / sizeof(rec);
  return true;
}

static void rb_free(recbuf *b)
{
  if (b->map)
    gort__os_unmap(b->map, b->bytes);
  b->map = NULL;
}

/* A new record, or NULL (and truncated) when memory runs out. May run
 * under stacklock: mapping memory takes no runtime lock. */
static rec *rb_push(recbuf *b)
{
  rec *r;
  if (b->truncated)
    return NULL;
  if (b->n == b->cap) {
    size_t nbytes = b->bytes * 2;
    char *m = gort__os_map(nbytes);
    if (!m) {
      b->truncated = true;
      return NULL;
    }
    memcpy(m + TEXT_BYTES, b->map + TEXT_BYTES, b->n * sizeof(rec));
    gort__os_unmap(b->map, b->bytes);
    b->map = m;
    b->bytes = nbytes;
    b->cap = (nbytes - TEXT_BYTES) / sizeof(rec);
  }
  r = &recs(b)[b->n++];
  memset(r, 0, sizeof *r);
  return r;
}

/* Under stacklock (gort__stack_each_g): no stack allocation, no lock. */
static void collect_g(gort__g *g, void *ctx)
{
  recbuf *b = ctx;
  int st = atomic_load_explicit(&g->status, memory_order_acquire);
  rec *r;
  if (st == GORT__G_FREE || st == GORT__G_DEAD)
    return; /* finished since the walk looked */
  r = rb_push(b);
  if (!r)
    return;
  r->kind = REC_G;
  r->status = st;
  r->id = PEEK(g->id);
  r->fn = PEEK(g->fn);
  r->lane = PEEK(g->lane);
  r->foreign = PEEK(g->foreign) != NULL;
  if (st == GORT__G_WAITING) {
    r->reason = PEEK(g->waitreason);
    r->addr = PEEK(g->waitwhat);
    r->since = PEEK(g->waitsince);
  }
  if (b->progress && (b->n & 1023) == 0)
    atomic_fetch_add_explicit(b->progress, 1, memory_order_relaxed);
}

/* Under the registry lock (gort__sched_each): s stays alive. */
static void collect_sched(gort__sched *s, void *ctx)
{
  recbuf *b = ctx;
  rec *r = rb_push(b);
  size_t at;
  if (!r)
    return;
  at = b->n - 1;
  r->kind = REC_SCHED;
  r->addr = s;
  r->status = atomic_load_explicit(&s->nprocs, memory_order_relaxed);
  gort__stack_each_g(s, collect_g, b);
  recs(b)[at].id = b->n - at - 1; /* the buffer may have moved */
}

/* ---- phase 2: formatting, with no lock held ---------------------------- */

/* dladdr names the nearest exported symbol at or below a: for a static
 * function that is some other function. Where dladdr1 gives the symbol's
 * size, a name whose symbol ends below a is dropped. */
static bool sym_lookup(void *a, Dl_info *di)
{
#if defined(HAVE_DLADDR1)
  const ElfW(Sym) *sym = NULL;
  if (!dladdr1(a, di, (void **)&sym, RTLD_DL_SYMENT))
    return false;
  if (sym && sym->st_size &&
      (uintptr_t)a >= (uintptr_t)di->dli_saddr + sym->st_size) {
    di->dli_sname = NULL;
    di->dli_saddr = NULL;
  }
  return true;
#else
  return dladdr(a, di) != 0;
#endif
}

/* The start function: its symbol when the dynamic symbol table has it
 * (dladdr sees only exported symbols: link programs with -rdynamic for
 * theirs), else its address. Never in signal context: dladdr takes the
 * loader's lock (see the SIGQUIT dumper below). */
static void put_fn(out *o, void (*fn)(void *))
{
  Dl_info di;
  void *a = (void *)(uintptr_t)fn;
  memset(&di, 0, sizeof di);
  if (fn && sym_lookup(a, &di) && di.dli_sname && di.dli_saddr) {
    puts_(o, di.dli_sname);
    puts_(o, " (+");
    putx(o, (uintptr_t)a - (uintptr_t)di.dli_saddr);
    if (di.dli_fname && *di.dli_fname) {
      puts_(o, " in ");
      puts_(o, di.dli_fname);
    }
    puts_(o, ")");
    return;
  }
  putp(o, a);
  if (fn && di.dli_fname && *di.dli_fname) {
    puts_(o, " (in ");
    puts_(o, di.dli_fname);
    puts_(o, ")");
  }
}

static void put_wait(out *o, int64_t ns)
{
  int64_t ms = ns > 0 ? ns / MS_NS : 0;
  if (ms >= 60 * 1000) {
    putu(o, (uint64_t)(ms / (60 * 1000)));
    puts_(o, " minutes"); /* as Go says it past a minute */
  } else {
    putu(o, (uint64_t)ms);
    puts_(o, " ms");
  }
}

/* goroutine 17 [chan receive 0x55d0c3a2b0e0, 1234 ms]: worker (+0x0 in ./p) */
static void put_g(out *o, const rec *r, int64_t now)
{
  puts_(o, "goroutine ");
  putu(o, r->id);
  puts_(o, " [");
  switch (r->status) {
  case GORT__G_RUNNABLE:
    puts_(o, "runnable");
    break;
  case GORT__G_RUNNING:
    puts_(o, "running");
    break;
  case GORT__G_WAITING:
    /* a goroutine between parking and being resumed may show no reason */
    puts_(o, r->reason == GORT__WR_NONE ? "waiting"
                                        : gort__waitreason_str(r->reason));
    if (r->addr && r->reason == GORT__WR_IO) {
      puts_(o, " fd "); /* the netpoller passes fd + 1 */
      putu(o, (uint64_t)(uintptr_t)r->addr - 1);
    } else if (r->addr) {
      puts_(o, " ");
      putp(o, r->addr);
    }
    puts_(o, ", ");
    put_wait(o, now - r->since);
    break;
  default:
    puts_(o, "status ");
    putu(o, (uint64_t)(unsigned)r->status);
  }
  if (r->lane) {
    puts_(o, ", lane ");
    putp(o, r->lane);
  }
  puts_(o, "]: ");
  if (r->foreign)
    puts_(o, "foreign"); /* its body belongs to another runtime */
  else
    put_fn(o, r->fn);
  puts_(o, "\n");
}

static int emit(recbuf *b, int fd)
{
  out o = {fd, 0, b->map, 0, TEXT_BYTES, b->progress};
  int64_t now = gort__nanotime();
  int listed = 0;
  size_t i;
  for (i = 0; i < b->n && !o.err; i++) {
    const rec *r = &recs(b)[i];
    if (r->kind == REC_SCHED) {
      if (i > 0)
        puts_(&o, "\n");
      puts_(&o, "scheduler ");
      putp(&o, r->addr);
      puts_(&o, ": maxprocs=");
      putu(&o, (uint64_t)(unsigned)r->status);
      puts_(&o, " goroutines=");
      putu(&o, r->id);
      puts_(&o, "\n");
    } else {
      put_g(&o, r, now);
      listed++;
    }
  }
  if (b->truncated)
    puts_(&o, "... out of memory: the list stops here\n");
  flush(&o);
  return o.err ? o.err : listed;
}

/* A write to a pipe or socket whose reader is gone must fail with EPIPE,
 * not kill the process: SIGPIPE is held for this thread while we write,
 * and one it raised is taken back before the mask is restored. */
static bool pipe_block(sigset_t *old)
{
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  if (pthread_sigmask(SIG_BLOCK, &set, old) != 0)
    return false;
  return !sigismember(old, SIGPIPE);
}

static void pipe_unblock(const sigset_t *old, bool blocked, int err)
{
  if (!blocked)
    return;
  if (err == GORT_EPIPE) {
    sigset_t set, pend;
    struct timespec zero = {0, 0};
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigpending(&pend);
    if (sigismember(&pend, SIGPIPE))
      while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR) {
      }
  }
  pthread_sigmask(SIG_SETMASK, old, NULL);
}

static int dump(int fd, _Atomic uint32_t *progress)
{
  recbuf b;
  sigset_t old;
  bool held;
  int flags, r, e = errno;

  if (fd < 0)
    return GORT_EBADF;
  flags = fcntl(fd, F_GETFL);
  if (flags < 0 || (flags & O_ACCMODE) == O_RDONLY) {
    errno = e;
    return GORT_EBADF;
  }
  if (!rb_init(&b, progress))
    return GORT_ENOMEM;
  gort__sched_each(collect_sched, &b);
  gort_syscall_enter(); /* a goroutine may block its M writing: lend the P */
  held = pipe_block(&old);
  r = emit(&b, fd);
  pipe_unblock(&old, held, r);
  gort_syscall_exit();
  rb_free(&b);
  errno = e;
  return r;
}

GORT_API int gort_dump(int fd)
{
  return dump(fd, NULL);
}

/* ---- GORT_DEBUG ---------------------------------------------------------- */

static _Atomic int dbg_state;        /* 0 unread, 1 being read, 2 read */
static _Atomic int64_t trace_period; /* ns; 0: no schedtrace */
static _Atomic int64_t dbg_start;    /* the "SCHED 1004ms" origin */

/* SIGQUIT: the handler bumps quit_req; the dumper answers in quit_done. */
static _Atomic uint32_t quit_req, quit_done, quit_progress;
static _Atomic int quit_busy;
static pid_t quit_pid;

static void say(const char *s)
{
  int e = errno;
  write_all(2, s, strlen(s));
  errno = e;
}

static void *quit_dumper(void *arg)
{
  (void)arg;
  gort__os_thread_name("gort-dump");
  for (;;) {
    uint32_t seen = atomic_load_explicit(&quit_done, memory_order_acquire);
    uint32_t req;
    while ((req = atomic_load_explicit(&quit_req, memory_order_acquire)) ==
           seen)
      gort__os_futex_wait((uint32_t *)&quit_req, seen, GORT_NEVER);
    dump(2, &quit_progress);
    atomic_store_explicit(&quit_done, req, memory_order_release);
    gort__os_futex_wake((uint32_t *)&quit_done, INT32_MAX);
  }
  return NULL;
}

/* Signal context: only async-signal-safe calls from here on. */
static void quit_handler(int sig)
{
  int e = errno;
  struct sigaction dfl;
  if (getpid() == quit_pid &&
      !atomic_exchange_explicit(&quit_busy, 1, memory_order_acq_rel)) {
    uint32_t req, p, last;
    say("SIGQUIT: quit\n");
    last = atomic_load_explicit(&quit_progress, memory_order_relaxed);
    req = atomic_fetch_add_explicit(&quit_req, 1, memory_order_acq_rel) + 1;
    gort__os_futex_wake((uint32_t *)&quit_req, 1);
    for (;;) {
      uint32_t d = atomic_load_explicit(&quit_done, memory_order_acquire);
      if (d == req)
        break;
      if (gort__os_futex_wait((uint32_t *)&quit_done, d,
                              gort__os_now() + 1000 * MS_NS) != GORT_ETIMEDOUT)
        continue;
      p = atomic_load_explicit(&quit_progress, memory_order_relaxed);
      if (p == last) {
        say("libgort: goroutine dump stalled (a runtime lock is held by "
            "the interrupted thread?)\n");
        break;
      }
      last = p;
    }
  }
  /* die of the signal, as without us: raised while blocked in here, it is
   * delivered with the default action when the handler returns */
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, NULL);
  raise(sig);
  errno = e;
}

static void quit_install(void)
{
  struct sigaction sa;
  gort__os_thread t;
  quit_pid = getpid();
  /* a runtime thread: every asynchronous signal blocked, SIGQUIT too */
  if (gort__os_thread_start(&t, quit_dumper, NULL) != 0) {
    say("libgort: GORT_DEBUG=dumponquit=1: no dumper thread\n");
    return;
  }
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = quit_handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_ONSTACK;
  sigaction(SIGQUIT, &sa, NULL);
}

/* "123" -> 123; anything else -> -1. */
static int64_t parse_num(const char *s, size_t n)
{
  int64_t v = 0;
  size_t i;
  if (n == 0 || n > 12)
    return -1;
  for (i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

static bool key_is(const char *k, size_t n, const char *want)
{
  return strlen(want) == n && memcmp(k, want, n) == 0;
}

/* GORT_DEBUG: comma-separated key=value, as Go's GODEBUG; unknown keys
 * and malformed values are ignored. */
static void parse_debug(const char *e)
{
  while (e && *e) {
    const char *end = strchr(e, ',');
    const char *eq;
    size_t len = end ? (size_t)(end - e) : strlen(e);
    eq = memchr(e, '=', len);
    if (eq) {
      size_t kn = (size_t)(eq - e), vn = len - kn - 1;
      int64_t v = parse_num(eq + 1, vn);
      if (key_is(e, kn, "schedtrace") && v > 0)
        atomic_store_explicit(&trace_period, v * MS_NS, memory_order_relaxed);
      else if (key_is(e, kn, "dumponquit") && v == 1)
        quit_install();
    }
    e = end ? end + 1 : NULL;
  }
}

/* Reads GORT_DEBUG once per process; later calls return at once. Called
 * when a scheduler is created, before its sysmon starts. */
void gort__debug_init(void);
void gort__debug_init(void)
{
  int z = 0;
  if (atomic_load_explicit(&dbg_state, memory_order_acquire) == 2)
    return;
  if (!atomic_compare_exchange_strong_explicit(
          &dbg_state, &z, 1, memory_order_acq_rel, memory_order_acquire)) {
    while (atomic_load_explicit(&dbg_state, memory_order_acquire) != 2)
      gort__os_yield();
    return;
  }
  atomic_store_explicit(&dbg_start, gort__nanotime(), memory_order_relaxed);
  parse_debug(gort__os_getenv("GORT_DEBUG"));
  atomic_store_explicit(&dbg_state, 2, memory_order_release);
}

/* ---- schedtrace ---------------------------------------------------------- */

/* The schedtrace period in ns, 0 when off: sysmon caps its idle sleep to
 * it, so lines keep coming while every P is idle (as Go's sysmon does). */
int64_t gort__schedtrace_period(void);
int64_t gort__schedtrace_period(void)
{
  return atomic_load_explicit(&trace_period, memory_order_relaxed);
}

/* SCHED 1004ms: gomaxprocs=2 idleprocs=1 threads=5 spinningthreads=0
 * idlethreads=2 goroutines=7 runqueue=0 [0 3] sched=0x55d0c3a2b000
 * The bracket holds each P's local queue (runnext included). */
static void schedtrace_print(gort__sched *s, int64_t now)
{
  uint16_t q[GORT__MAXPROCS_LIMIT];
  char text[1024];
  out o = {2, 0, text, 0, sizeof text, NULL};
  int nprocs, npidle, mcount, nmidle, nspin, i;
  int64_t runq, ng;

  gort__lock_acquire(&s->lock);
  nprocs = atomic_load_explicit(&s->nprocs, memory_order_relaxed);
  npidle = atomic_load_explicit(&s->npidle, memory_order_relaxed);
  nspin = atomic_load_explicit(&s->nmspinning, memory_order_relaxed);
  runq = atomic_load_explicit(&s->runqsize, memory_order_relaxed);
  mcount = s->mcount;
  nmidle = s->nmidle;
  ng = atomic_load_explicit(&s->ng_extra, memory_order_relaxed);
  for (i = 0; i < s->nallp; i++) {
    gort__p *p = s->allp[i];
    ng += atomic_load_explicit(&p->nspawned, memory_order_relaxed) -
          atomic_load_explicit(&p->nexited, memory_order_relaxed);
  }
  if (nprocs > s->nallp)
    nprocs = s->nallp;
  for (i = 0; i < nprocs; i++) {
    gort__p *p = s->allp[i];
    uint32_t h = atomic_load_explicit(&p->runqhead, memory_order_relaxed);
    uint32_t t = atomic_load_explicit(&p->runqtail, memory_order_relaxed);
    uint32_t n = t - h;
    if (n > GORT__RUNQ_SIZE)
      n = 0; /* torn: head and tail read at different moments */
    if (atomic_load_explicit(&p->runnext, memory_order_relaxed))
      n++;
    q[i] = (uint16_t)n;
  }
  gort__lock_release(&s->lock);

  puts_(&o, "SCHED ");
  putu(&o, (uint64_t)((now -
                       atomic_load_explicit(&dbg_start, memory_order_relaxed)) /
                      MS_NS));
  puts_(&o, "ms: gomaxprocs=");
  putu(&o, (uint64_t)nprocs);
  puts_(&o, " idleprocs=");
  putu(&o, (uint64_t)npidle);
  puts_(&o, " threads=");
  putu(&o, (uint64_t)mcount);
  puts_(&o, " spinningthreads=");
  putu(&o, (uint64_t)nspin);
  puts_(&o, " idlethreads=");
  putu(&o, (uint64_t)nmidle);
  puts_(&o, " goroutines=");
  putu(&o, (uint64_t)(ng > 0 ? ng : 0));
  puts_(&o, " runqueue=");
  putu(&o, (uint64_t)(runq > 0 ? runq : 0));
  puts_(&o, " [");
  for (i = 0; i < nprocs; i++) {
    if (i)
      puts_(&o, " ");
    putu(&o, q[i]);
  }
  puts_(&o, "] sched=");
  putp(&o, s);
  puts_(&o, "\n");
  flush(&o);
}

/* sysmon, every round: prints s's line when one is due. *last is sysmon's
 * own (start it at 0: the first round prints). */
void gort__schedtrace_tick(gort__sched *s, int64_t now, int64_t *last);
void gort__schedtrace_tick(gort__sched *s, int64_t now, int64_t *last)
{
  int64_t period = atomic_load_explicit(&trace_period, memory_order_relaxed);
  if (period <= 0 || (*last != 0 && now - *last < period))
    return;
  *last = now;
  schedtrace_print(s, now);
}
