/*
 * lock.c - the runtime's own short locks (Go's lock_futex.go).
 *
 * key: 0 unlocked, 1 locked, 2 locked and someone may sleep in the kernel.
 * Acquire spins a little (the holder is running: critical sections are a
 * few hundred instructions), then yields, then sleeps on the futex. Release
 * makes a syscall only when key was 2. A holder never parks or switches
 * goroutines, so these are safe to take on g0 and in goroutine code alike.
 *
 * Debug builds (--enable-debug) keep the ranks a thread holds and abort on
 * an out-of-order acquisition: docs/HACKING.md has the table. Thread-local
 * state is fine here precisely because a holder never switches.
 */
#include "config.h"

#include "sched/runtime.h"

#if defined(GORT_DEBUG_LOCKS)
static _Thread_local uint32_t held_rank[16];
static _Thread_local int nheld;

/* Only the first 16 ranks are kept (a select may hold a lock for every
 * channel it names, all of one rank): deeper, compare with the 16th. */
static void rank_push(gort__lock *l)
{
  int top = nheld < 16 ? nheld : 16;
  if (top > 0 && held_rank[top - 1] > l->rank &&
      l->rank != GORT__RANK_LEAF)
    gort__fatal(__FILE__, __LINE__, "lock rank order violated");
  if (nheld < 16)
    held_rank[nheld] = l->rank;
  nheld++;
}

static void rank_pop(gort__lock *l)
{
  (void)l;
  if (nheld > 0)
    nheld--;
}
#else
#define rank_push(l) ((void)0)
#define rank_pop(l) ((void)0)
#endif

/* v: what the first exchange found (1 or 2). */
void gort__lock_acquire_slow(gort__lock *l, uint32_t v)
{
  uint32_t wait;
  int i, j;

  wait = v; /* keep 2 if a sleeper may exist, or we would lose its wakeup */
  for (;;) {
    /* As Go's lock2: look, then pause 30 times before looking again.
     * Looking after every pause pulled the holder's cache line over 30
     * times as often, slowing the holder down. */
    for (i = 0; i < 4; i++) {
      uint32_t z = 0;
      while (atomic_load_explicit(&l->key, memory_order_relaxed) == 0) {
        if (atomic_compare_exchange_weak_explicit(
                &l->key, &z, wait, memory_order_acquire, memory_order_relaxed))
          return;
        z = 0;
      }
      for (j = 0; j < 30; j++)
        gort__os_relax();
    }
    {
      uint32_t z = 0;
      gort__os_yield();
      if (atomic_compare_exchange_strong_explicit(&l->key, &z, wait,
                                                  memory_order_acquire,
                                                  memory_order_relaxed))
        return;
    }
    v = atomic_exchange_explicit(&l->key, 2, memory_order_acquire);
    if (v == 0)
      return;
    wait = 2;
    gort__os_futex_wait((uint32_t *)&l->key, 2, GORT_NEVER);
  }
}

void gort__lock_release_slow(gort__lock *l)
{
  gort__os_futex_wake((uint32_t *)&l->key, 1);
}

#if defined(GORT_DEBUG_LOCKS)
void gort__lock_acquire(gort__lock *l)
{
  uint32_t v;
  rank_push(l);
  v = atomic_exchange_explicit(&l->key, 1, memory_order_acquire);
  if (v != 0)
    gort__lock_acquire_slow(l, v);
}

void gort__lock_release(gort__lock *l)
{
  rank_pop(l);
  if (atomic_exchange_explicit(&l->key, 0, memory_order_release) == 2)
    gort__lock_release_slow(l);
}
#endif
