/*
 * switch.c - every stack switch, annotated for ASan, TSan and valgrind.
 *
 * The CPU backends (lib/arch) only move registers. Tools that track stacks
 * must be told about each move, and in the right places:
 *  - ASan: __sanitizer_start_switch_fiber just before the switch (with the
 *    stack we go to), __sanitizer_finish_switch_fiber first thing after it
 *    on the new stack. A goroutine that exits passes NULL so its fake stack
 *    is destroyed, and its stack is unpoisoned where its last frames were
 *    (gort__fiber_destroy), since they never return.
 *  - TSan: each goroutine is a fiber; __tsan_switch_to_fiber right before
 *    the switch, with nothing instrumented in between.
 *  - valgrind: each slot's stack is registered once (VALGRIND_STACK_REGISTER)
 *    so memcheck knows a jump of the stack pointer is a switch.
 *
 * Three switches: g0 -> g (gort__switch_to_g), g -> g0 (gort__switch_to_g0)
 * and, for a yield, park or end with a local goroutine ready, g -> g
 * directly (gort__switch_g_to_g; without sanitizers proc.c's direct_switch
 * calls gort__ctx_switch itself, since none of these hooks exist then). A
 * parking goroutine's state is published only once it is fully off its
 * stack, which is what makes a wakeup that races a park safe: on the g0
 * path g0 publishes it; on the direct path the goroutine switched to does,
 * first thing (gort__post_switch), before running on. The direct switch
 * hands it the M and the goroutine left behind in registers (arch/ctx.h).
 * An ended goroutine's slot is freed the same way.
 */
#include "config.h"

#include "sched/sched.h"

/* GORT_ASAN and GORT_TSAN come from sched.h */

#if defined(GORT_ASAN)
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom,
                                    size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save,
                                     const void **bottom_old,
                                     size_t *size_old);
#endif
#if defined(GORT_TSAN)
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#endif
#if defined(GORT_ASAN)
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
void __lsan_register_root_region(const void *p, size_t size);
void __lsan_unregister_root_region(const void *p, size_t size);
#endif
#if defined(HAVE_VALGRIND_VALGRIND_H)
#include <valgrind/valgrind.h>
#endif

#include <pthread.h>

void gort__m_fiber_init(gort__m *m)
{
  pthread_attr_t attr;
  void *lo = NULL;
  size_t size = 0;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    pthread_attr_getstack(&attr, &lo, &size);
    pthread_attr_destroy(&attr);
  }
  m->g0_lo = lo;
  m->g0_size = size;
#if defined(GORT_TSAN)
  m->tsan_g0 = __tsan_get_current_fiber();
#endif
}

#if defined(GORT_ASAN) || defined(GORT_TSAN)
void gort__fiber_create(gort__g *g)
{
#if defined(GORT_TSAN)
  g->tsan_fiber = __tsan_create_fiber(0);
#else
  (void)g;
#endif
}

void gort__fiber_destroy(gort__g *g)
{
#if defined(GORT_ASAN)
  /* The frames g ended in never returned, so the redzones ASan poisoned
   * around their locals are still marked (a goroutine that ends straight
   * into the next one ends inside the scheduler's frames): clear them, or
   * the next goroutine on this stack trips over them. The rest of the
   * stack was unpoisoned as its frames returned. */
#if defined(GORT_CTX_UCONTEXT)
  __asan_unpoison_memory_region(g->stack_lo, g->stack_size);
#else
  {
    char *top = g->stack_lo + g->stack_size;
    char *low = (char *)g->ctx.sp - 256; /* what it pushed below sp too */
    if (low < g->stack_lo || low > top)
      low = g->stack_lo;
    __asan_unpoison_memory_region(low, (size_t)(top - low));
  }
#endif
#endif
#if defined(GORT_TSAN)
  if (g->tsan_fiber)
    __tsan_destroy_fiber(g->tsan_fiber);
  g->tsan_fiber = NULL;
#endif
  (void)g;
}
#endif

/* Only valgrind hands out stack ids worth keeping (an arena's list of them
 * would otherwise be a few bytes of every idle goroutine's cost). */
bool gort__stack_ids_kept(void)
{
#if defined(HAVE_VALGRIND_VALGRIND_H)
  return RUNNING_ON_VALGRIND != 0;
#else
  return false;
#endif
}

unsigned gort__stack_register(char *lo, char *hi)
{
#if defined(HAVE_VALGRIND_VALGRIND_H)
  return VALGRIND_STACK_REGISTER(lo, hi);
#else
  (void)lo;
  (void)hi;
  return 0;
#endif
}

void gort__stack_deregister(unsigned id)
{
#if defined(HAVE_VALGRIND_VALGRIND_H)
  VALGRIND_STACK_DEREGISTER(id);
#else
  (void)id;
#endif
}

/* Goroutine stacks live in mappings LeakSanitizer does not scan by itself:
 * without this, anything only a parked goroutine points to looks leaked.
 * One region a slot, above its guard page (reading a guard would fault). */
void gort__arena_roots(void *base, size_t len, bool add)
{
#if defined(GORT_ASAN)
  if (add)
    __lsan_register_root_region(base, len);
  else
    __lsan_unregister_root_region(base, len);
#else
  (void)base;
  (void)len;
  (void)add;
#endif
}

/* On g0: run g until it switches back. */
void gort__switch_to_g(gort__m *m, gort__g *g)
{
#if defined(GORT_ASAN)
  __sanitizer_start_switch_fiber(&m->asan_fake_g0, g->stack_lo, g->stack_size);
#endif
#if defined(GORT_TSAN)
  __tsan_switch_to_fiber(g->tsan_fiber, 0);
#endif
  /* no M in the pass: g was not switched to directly */
  gort__ctx_switch(&m->g0ctx, &g->ctx, NULL, NULL);
#if defined(GORT_ASAN)
  __sanitizer_finish_switch_fiber(m->asan_fake_g0, NULL, NULL);
#endif
}

/* On g: give the M back to its scheduler. g->op says why. Returns, possibly
 * on another M, when g is resumed (never for GORT__OP_EXIT). */
void gort__switch_to_g0(gort__g *g)
{
  gort__m *m = g->m;
  gort__ctx_pass from;
#if defined(GORT_ASAN)
  __sanitizer_start_switch_fiber(g->op == GORT__OP_EXIT ? NULL : &g->asan_fake,
                                 m->g0_lo, m->g0_size);
#endif
#if defined(GORT_TSAN)
  __tsan_switch_to_fiber(m->tsan_g0, 0);
#endif
  from = gort__ctx_switch(&g->ctx, &m->g0ctx, NULL, NULL);
  /* m is stale from here on: we may be on another thread. */
#if defined(GORT_ASAN)
  __sanitizer_finish_switch_fiber(g->asan_fake, NULL, NULL);
#endif
  gort__post_switch(from);
}

/* On g1, which holds its P: run g2 straight away on this M. What g1 asked
 * for (g1->op) is finished by g2 once g1 is off its stack: the switch hands
 * g2 this M and g1. */
void gort__switch_g_to_g(gort__g *g1, gort__g *g2)
{
  gort__m *m = g1->m;
  gort__ctx_pass from;
#if defined(GORT_ASAN)
  /* an ending goroutine's fake stack ends with it */
  __sanitizer_start_switch_fiber(g1->op == GORT__OP_EXIT ? NULL
                                                         : &g1->asan_fake,
                                 g2->stack_lo, g2->stack_size);
#endif
#if defined(GORT_TSAN)
  __tsan_switch_to_fiber(g2->tsan_fiber, 0);
#endif
  from = gort__ctx_switch(&g1->ctx, &g2->ctx, m, g1);
#if defined(GORT_ASAN)
  __sanitizer_finish_switch_fiber(g1->asan_fake, NULL, NULL);
#endif
  gort__post_switch(from);
}

/* First thing a goroutine does when it runs again: if it was switched to
 * directly, finish what the goroutine before it asked for. The switch that
 * resumed us handed over its M and that goroutine (from.a, from.b; no M
 * when g0 resumed us), so no thread-local is read. */
void gort__post_switch(gort__ctx_pass from)
{
  gort__m *m = from.a;
  gort__g *d = from.b;
  if (GORT__LIKELY(m == NULL))
    return;
  gort__finish_deferred(m, d);
}

/* The first code every goroutine runs, on its own stack. */
void gort__g_bootstrap(void *arg, gort__ctx_pass from)
{
  gort__g *g = arg;
#if defined(GORT_ASAN)
  __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
  gort__post_switch(from);
  g->fn(g->arg);
  gort__g_exit(g);
}
