/*
 * stack.c - goroutine stacks: slots carved from mmap'd arenas, pooled.
 *
 * A slot is [guard page][stack ... grows down][goroutine descriptor]
 * [colour]. The descriptor (gort__g) sits in the top page, so a goroutine
 * whose frames are small touches exactly one page: the cost of an idle
 * goroutine is one page, not a page plus a malloc'd descriptor. The colour
 * (0 to 1.5 KiB, g_of_slot) keeps neighbouring slots' descriptors out of
 * each other's cache sets.
 *
 * Arenas hold many slots in one mapping; adjacent anonymous mappings merge,
 * and MADV_GUARD_INSTALL guards split nothing, so a million stacks stay
 * far below vm.max_map_count. Where the kernel lacks it, guards fall back to
 * mprotect (two mappings each) while the budget (a quarter of
 * max_map_count) lasts; after that slots rely on the canary at the bottom of
 * the stack, which every switch checks.
 *
 * Free slots go to a per-P cache (no lock) for the default size, then to
 * per-size pools under stacklock. Pools keep "hot" slots (pages resident,
 * reused first) and "cold" ones whose pages sysmon gave back with
 * MADV_DONTNEED once the hot count passed the high-water mark.
 *
 * Rejected: one mmap per stack (a syscall per spawn and a VMA each), and
 * malloc'd stacks (no guard page possible, heap fragmentation).
 */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "sched/sched.h"

#define ARENA_BYTES ((size_t)4 << 20)
#define ARENA_MAXSLOTS 64

static size_t g_size_rounded(void)
{
  return (sizeof(gort__g) + 63) & ~(size_t)63;
}

/* Where a slot's descriptor sits: at its top, lowered by its colour, one
 * of COLOURS offsets COLOUR_STEP apart taken in turn by neighbouring slots.
 * Slots are a power of two apart, so without it every descriptor, and the
 * frames just below it, would share one page offset and so the same few
 * L1 sets (bits 6-11 of the address): the 16 goroutines a spawner queues
 * before they run evict each other's hot lines from 8 ways. bench/spawn
 * wg at 1 P, medians, by colours x step: none 37.6 ns; 4 x 512 30.6,
 * 8 x 256 30.8, 6 x 192 30.3, 3 x 384 30.6; 3 x 320 32.6, 4 x 256 33.7,
 * 2 x 512 34.2, 4 x 192 34.3, 3 x 256 34.9; 4 x 128 36.6; whole pages
 * apart (L2 sets alone) 37.0-37.5. The good ones spread the descriptors
 * over 768 bytes or more. With 4 x 512: join at 1 P 48.1 -> 41.2, at 2
 * Ps 53.7 -> 44.8. The price: frames reach a second page up to 1.5 KiB
 * sooner. The blocked goroutines of bench/rss still touch one page each
 * (they did with colours of up to 2688 bytes). */
#define COLOURS 4
#define COLOUR_STEP 512
static gort__g *g_of_slot(char *slot, size_t slot_size)
{
  size_t c = ((uintptr_t)slot / slot_size) % COLOURS * COLOUR_STEP;
  return (gort__g *)(slot + slot_size - g_size_rounded() - c);
}

size_t gort__stack_round(size_t size)
{
  size_t c = GORT__STACK_MIN;
  if (size < GORT__STACK_MIN)
    size = GORT__STACK_MIN;
  while (c < size)
    c <<= 1;
  return c;
}

static uint32_t size_class(size_t stack)
{
  uint32_t k = 0;
  size_t c = GORT__STACK_MIN;
  while (c < stack) {
    c <<= 1;
    k++;
  }
  return k;
}

void gort__stack_init(gort__sched *s)
{
  size_t ps = gort__os_pagesize();
  const char *e;
  long maps;
  uint32_t k;

  gort__lock_init(&s->stacklock, GORT__RANK_STACKS);
  s->default_stack = GORT__STACK_DEFAULT;
  e = gort__os_getenv("GORT_STACK_SIZE");
  if (e && *e) {
    char *end;
    unsigned long long v = strtoull(e, &end, 0);
    if (*end == 'k' || *end == 'K')
      v <<= 10;
    else if (*end == 'm' || *end == 'M')
      v <<= 20;
    if (v >= GORT__STACK_MIN && v <= GORT__STACK_MAX)
      s->default_stack = gort__stack_round((size_t)v);
  }
  s->default_class = size_class(s->default_stack);
  s->stack_hwm = 512;
  e = gort__os_getenv("GORT_STACK_HWM");
  if (e && *e)
    s->stack_hwm = (size_t)strtoull(e, NULL, 0);
  for (k = 0; k < GORT__STACK_CLASSES; k++)
    s->pools[k].slot_size = (GORT__STACK_MIN << k) + ps;
  maps = gort__os_max_map_count();
  s->guard_budget = maps > 0 ? maps / 4 : 16384;
  /* GORT_STACK_GUARD: auto (default), mprotect (skip MADV_GUARD_INSTALL,
   * as on kernels before 6.13), or none (canary only): for tests and for
   * comparing the three. */
  s->guard_how = GORT__GUARD_INSTALL | GORT__GUARD_SPLIT;
  e = gort__os_getenv("GORT_STACK_GUARD");
  if (e && strcmp(e, "mprotect") == 0)
    s->guard_how = GORT__GUARD_SPLIT;
  else if (e && strcmp(e, "none") == 0)
    s->guard_how = 0;
}

/* stacklock must be held. Carves one slot of pool k. */
static char *arena_carve(gort__sched *s, gort__stackpool *pool)
{
  size_t ps = gort__os_pagesize();
  char *slot;
  int kind;

  if (pool->arena_left == 0) {
    size_t n = ARENA_BYTES / pool->slot_size;
    gort__arena *a;
    if (n < 1)
      n = 1;
    if (n > ARENA_MAXSLOTS)
      n = ARENA_MAXSLOTS;
    a = malloc(sizeof *a);
    if (!a)
      return NULL;
    a->vgid = NULL;
    if (gort__stack_ids_kept() &&
        !(a->vgid = calloc(ARENA_MAXSLOTS, sizeof *a->vgid))) {
      free(a);
      return NULL;
    }
    a->len = n * pool->slot_size;
    a->base = gort__os_map(a->len);
    if (!a->base) {
      free(a->vgid);
      free(a);
      return NULL;
    }
    a->slot_size = pool->slot_size;
    a->nslots = 0;
    a->next = s->arenas;
    s->arenas = a;
    pool->arena = a;
    pool->arena_next = a->base;
    pool->arena_left = n;
  }
  slot = pool->arena_next;
  pool->arena_next += pool->slot_size;
  pool->arena_left--;
  {
    unsigned id = gort__stack_register(slot + ps, slot + pool->slot_size);
    if (pool->arena->vgid)
      pool->arena->vgid[pool->arena->nslots] = id;
    pool->arena->nslots++;
  }
  /* below the guard page: LSan must not read the guard */
  gort__arena_roots(slot + ps, pool->slot_size - ps, true);
  kind = gort__os_guard(slot, ps,
                        s->guard_how & (s->guard_budget > 0
                                            ? GORT__GUARD_INSTALL |
                                                  GORT__GUARD_SPLIT
                                            : GORT__GUARD_INSTALL));
  if (kind == 2)
    s->guard_budget--;
  {
    gort__g *g = g_of_slot(slot, pool->slot_size);
    g->guarded = kind != 0;
  }
  return slot;
}

/* Lays out a fresh descriptor at the top of slot: what gort__slot_reset
 * resets, and what stays true of the slot while it is reused from a P's
 * cache. */
static gort__g *slot_init(gort__sched *s, char *slot, size_t slot_size,
                          uint32_t k, uint32_t guarded)
{
  size_t ps = gort__os_pagesize();
  gort__g *g = g_of_slot(slot, slot_size);
  gort__slot_reset(g);
  g->slot = slot;
  g->stack_lo = slot + ps;
  g->stack_size = (size_t)((char *)g - g->stack_lo) & ~(size_t)15;
  g->sclass = k;
  g->guarded = guarded;
  g->sched = s;
  /* Only an unguarded stack carries the canary: writing it touches the
   * stack's lowest page, which would double an idle goroutine's cost. */
  if (!guarded)
    *(uint64_t *)g->stack_lo = GORT__CANARY;
  return g;
}

/* gort__stack_alloc's way when the P's cache has nothing for it. */
gort__g *gort__stack_alloc_slow(gort__sched *s, gort__p *p,
                                size_t stack_size)
{
  uint32_t k = size_class(stack_size);
  gort__stackpool *pool;
  gort__g *g;
  char *slot;
  uint32_t guarded;

  if (k >= GORT__STACK_CLASSES)
    return NULL;
  pool = &s->pools[k];
  gort__lock_acquire(&s->stacklock);
  if (pool->hot) {
    g = pool->hot;
    pool->hot = g->schedlink;
    pool->nhot--;
    /* refill the P's cache a little, so the next spawns need no lock */
    if (p && stack_size == s->default_stack) {
      while (pool->hot && p->nstackcache < GORT__STACKCACHE_MAX / 2) {
        gort__g *c = pool->hot;
        pool->hot = c->schedlink;
        pool->nhot--;
        c->schedlink = p->stackcache;
        p->stackcache = c;
        p->nstackcache++;
      }
    }
    gort__lock_release(&s->stacklock);
    return slot_init(s, g->slot, pool->slot_size, k, g->guarded);
  }
  if (pool->ncold) {
    slot = pool->cold[--pool->ncold];
    gort__lock_release(&s->stacklock);
    /* the descriptor page was given back: its guard bit went with it, so
     * the cold list stores it in the slot pointer's low bit */
    guarded = (uint32_t)((uintptr_t)slot & 1);
    slot = (char *)((uintptr_t)slot & ~(uintptr_t)1);
    return slot_init(s, slot, pool->slot_size, k, guarded);
  }
  slot = arena_carve(s, pool);
  gort__lock_release(&s->stacklock);
  if (!slot)
    return NULL;
  g = g_of_slot(slot, pool->slot_size);
  guarded = g->guarded;
  return slot_init(s, slot, pool->slot_size, k, guarded);
}

/* gort__stack_free's way when the slot does not go to p's cache: to its
 * pool, with half of a full cache. */
void gort__stack_free_slow(gort__sched *s, gort__p *p, gort__g *g)
{
  gort__stackpool *pool = &s->pools[g->sclass];
  atomic_store_explicit(&g->status, GORT__G_FREE, memory_order_release);
  gort__lock_acquire(&s->stacklock);
  g->schedlink = pool->hot;
  pool->hot = g;
  pool->nhot++;
  if (p && p->nstackcache >= GORT__STACKCACHE_MAX) {
    /* hand half the cache back so other Ps can reuse warm stacks */
    while (p->nstackcache > GORT__STACKCACHE_MAX / 2) {
      gort__g *c = p->stackcache;
      p->stackcache = c->schedlink;
      p->nstackcache--;
      c->schedlink = pool->hot;
      pool->hot = c;
      pool->nhot++;
    }
  }
  gort__lock_release(&s->stacklock);
}

void gort__stack_cache_flush(gort__sched *s, gort__p *p)
{
  while (p->stackcache) {
    gort__g *g = p->stackcache;
    p->stackcache = g->schedlink;
    p->nstackcache--;
    gort__lock_acquire(&s->stacklock);
    g->schedlink = s->pools[g->sclass].hot;
    s->pools[g->sclass].hot = g;
    s->pools[g->sclass].nhot++;
    gort__lock_release(&s->stacklock);
  }
}

/* Gives back the pages of hot slots beyond the high-water mark (sysmon).
 * The lock is dropped around each madvise so spawns never wait on it. */
void gort__stack_trim(gort__sched *s)
{
  uint32_t k;
  for (k = 0; k < GORT__STACK_CLASSES; k++) {
    gort__stackpool *pool = &s->pools[k];
    for (;;) {
      gort__g *g;
      char *slot;
      uintptr_t guarded;
      gort__lock_acquire(&s->stacklock);
      if (pool->nhot <= s->stack_hwm) {
        gort__lock_release(&s->stacklock);
        break;
      }
      if (pool->ncold == pool->capcold) {
        size_t cap = pool->capcold ? pool->capcold * 2 : 1024;
        char **n = realloc(pool->cold, cap * sizeof *n);
        if (!n) {
          gort__lock_release(&s->stacklock);
          break;
        }
        pool->cold = n;
        pool->capcold = cap;
      }
      g = pool->hot;
      pool->hot = g->schedlink;
      pool->nhot--;
      gort__lock_release(&s->stacklock);
      slot = g->slot;
      guarded = g->guarded ? 1 : 0;
      gort__os_discard(g->stack_lo,
                       pool->slot_size - gort__os_pagesize());
      gort__lock_acquire(&s->stacklock);
      pool->cold[pool->ncold++] = (char *)((uintptr_t)slot | guarded);
      gort__lock_release(&s->stacklock);
    }
  }
}

void gort__stack_term(gort__sched *s)
{
  uint32_t k;
  gort__arena *a = s->arenas;
  while (a) {
    gort__arena *n = a->next;
    size_t i;
    for (i = 0; i < a->nslots; i++) {
      if (a->vgid)
        gort__stack_deregister(a->vgid[i]);
      gort__arena_roots(a->base + i * a->slot_size + gort__os_pagesize(),
                        a->slot_size - gort__os_pagesize(), false);
    }
    gort__os_unmap(a->base, a->len);
    free(a->vgid);
    free(a);
    a = n;
  }
  s->arenas = NULL;
  for (k = 0; k < GORT__STACK_CLASSES; k++)
    free(s->pools[k].cold);
}

/* Calls fn for every slot holding a goroutine that has not finished.
 * stacklock is held: fn must not allocate stacks. Cold slots read as
 * zero pages (GORT__G_FREE) and cost no memory to look at. */
void gort__stack_each_g(gort__sched *s, void (*fn)(gort__g *g, void *ctx),
                        void *ctx)
{
  gort__arena *a;
  gort__lock_acquire(&s->stacklock);
  for (a = s->arenas; a; a = a->next) {
    size_t i;
    for (i = 0; i < a->nslots; i++) {
      gort__g *g = g_of_slot(a->base + i * a->slot_size, a->slot_size);
      int st = atomic_load_explicit(&g->status, memory_order_acquire);
      if (st != GORT__G_FREE && st != GORT__G_DEAD)
        fn(g, ctx);
    }
  }
  gort__lock_release(&s->stacklock);
}

/* For the fault handler: is addr below the running goroutine's stack,
 * in its guard page or just past it? Returns its id, or 0. */
uint64_t gort__fault_classify(void *addr)
{
  gort__m *m = gort__tls_m;
  gort__g *g;
  char *a = addr;
  if (!m)
    return 0;
  g = atomic_load_explicit(&m->curg, memory_order_relaxed);
  if (!g)
    return 0;
  if (a >= g->slot - 64 * 1024 && a < g->stack_lo)
    return g->id;
  /* no guard: an overflow runs on into other memory until something
   * faults; the smashed canary tells us who did it */
  if (!g->guarded && !gort__canary_ok(g))
    return g->id;
  return 0;
}
