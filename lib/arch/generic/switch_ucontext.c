/*
 * switch_ucontext.c - portable context switch on top of <ucontext.h>
 * (see arch/ctx.h). Built with -DGORT_CTX_UCONTEXT, which makes gort__ctx a
 * ucontext_t.
 *
 * This backend exists so the runtime runs on a CPU nobody has written a
 * switch.S for yet. It is correct, not fast: glibc's swapcontext saves and
 * restores the signal mask with a sigprocmask system call on every switch,
 * and copies far more state than the ABI requires (the whole FP
 * environment, caller-saved registers). Use an assembly backend wherever one
 * exists.
 *
 * makecontext passes only int arguments to the function it starts, and an
 * int cannot hold a pointer on LP64. Passing pointers anyway "works" on some
 * libcs by accident of their calling convention; we do not rely on it. Instead
 * gort__ctx_init stores entry and arg in a small record at the top of the new
 * stack (above the part handed to makecontext, so nothing overwrites it) and
 * passes the record's address split into two unsigned halves, which the
 * trampoline joins again. The record is read once, before entry runs.
 *
 * The two words a switch hands over (arch/ctx.h) go through the context
 * switched to: the switcher writes them into to->pass, and whoever comes
 * back from swapcontext reads its own.
 *
 * The floating-point environment: getcontext captures the creator's, but the
 * assembly backends start every context with the ABI default (a goroutine's
 * FP behaviour must not depend on which goroutine spawned it), so the
 * trampoline resets it with fesetenv(FE_DFL_ENV) before calling entry. On
 * glibc that function lives in libm, so this backend needs -lm. After that,
 * swapcontext keeps each context's FP control state separate, as glibc
 * saves it on x86-64 and AArch64; a libc that does not would break this
 * part of the contract, and tests/arch/ctx_selftest.c would say so.
 */
#include "config.h"

#include <fenv.h>
#include <stdint.h>
#include <stdlib.h>
#include <ucontext.h>

#include "arch/ctx.h"

#if !defined(GORT_CTX_UCONTEXT)
#error "switch_ucontext.c needs -DGORT_CTX_UCONTEXT so gort__ctx holds a ucontext_t"
#endif

/* What the new context must call, parked at the top of its own stack. */
struct boot {
  void (*entry)(void *, gort__ctx_pass);
  void *arg;
  gort__ctx *self; /* where the first switch to us leaves its a and b */
};

/* Aligned for any type, so the part of the stack below the record keeps the
 * alignment of the stack top (makecontext aligns again anyway). */
#define BOOT_SPACE ((sizeof(struct boot) + 15) & ~(size_t)15)

static void start(unsigned int hi, unsigned int lo) {
  /* Two shifts of 16 instead of one of 32: on ILP32 uintptr_t is 32 bits,
   * and a 32-bit shift of it would be undefined. */
  uintptr_t p = ((uintptr_t)hi << 16 << 16) | (uintptr_t)lo;
  const struct boot *b = (const struct boot *)p;
  void (*entry)(void *, gort__ctx_pass) = b->entry;
  void *arg = b->arg;
  gort__ctx_pass pass = b->self->pass;

  fesetenv(FE_DFL_ENV);
  entry(arg, pass);
  /* The contract says entry never returns; uc_link is NULL, so returning
   * from here would silently end the thread. Trap instead. */
  __builtin_trap();
}

gort__ctx_pass gort__ctx_switch(gort__ctx *from, gort__ctx *to, void *a,
                                void *b) {
  to->pass.a = a;
  to->pass.b = b;
  /* Cannot fail with contexts built by getcontext and makecontext. */
  (void)swapcontext(&from->uc, &to->uc);
  /* whoever resumed us wrote these just before */
  return from->pass;
}

void gort__ctx_init(gort__ctx *c, void *lo, size_t size,
                    void (*entry)(void *, gort__ctx_pass), void *arg) {
  uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
  struct boot *b = (struct boot *)(top - BOOT_SPACE);
  uintptr_t p = (uintptr_t)b;

  b->entry = entry;
  b->arg = arg;
  b->self = c;
  /* getcontext only fails for invalid arguments; there is no error path in
   * the contract, and a context we could not build must not run. */
  if (getcontext(&c->uc) != 0)
    abort();
  c->uc.uc_stack.ss_sp = lo;
  c->uc.uc_stack.ss_size = (size_t)((uintptr_t)b - (uintptr_t)lo);
  c->uc.uc_stack.ss_flags = 0;
  c->uc.uc_link = NULL;
  makecontext(&c->uc, (void (*)(void))start, 2,
              (unsigned int)(p >> 16 >> 16), (unsigned int)p);
}
