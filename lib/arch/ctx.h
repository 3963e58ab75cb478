/*
 * ctx.h - the context-switch contract every CPU backend implements.
 *
 * A context is the state a suspended goroutine (or an M's scheduler stack,
 * g0) needs to resume: for the assembly backends just the stack pointer,
 * because gort__ctx_switch pushes the callee-saved registers, the FP control
 * words and the return address onto the stack it leaves. Nothing else is
 * saved: caller-saved state is dead across a call by the ABI, which is why a
 * switch costs a handful of instructions.
 *
 * Backends (picked by configure, never by #ifdef in the scheduler):
 *   lib/arch/x86_64/switch_sysv.S      x86-64 System V
 *   lib/arch/aarch64/switch.S          AArch64 AAPCS64
 *   lib/arch/generic/switch_ucontext.c anything else (--with-context=ucontext)
 *
 * Sanitizer and valgrind annotations are not done here: the scheduler's
 * switch wrappers in lib/sched/switch.c own them, so every backend gets them.
 */
#ifndef GORT_ARCH_CTX_H
#define GORT_ARCH_CTX_H

#include <stddef.h>

/* Two words a switch hands to whatever it resumes. */
typedef struct gort__ctx_pass {
  void *a, *b;
} gort__ctx_pass;

#if defined(GORT_CTX_UCONTEXT)
#include <ucontext.h>
typedef struct gort__ctx {
  ucontext_t uc;
  gort__ctx_pass pass; /* left here by the switch that resumes this one */
} gort__ctx;
#else
typedef struct gort__ctx {
  void *sp; /* saved stack pointer; everything else lives on that stack */
} gort__ctx;
#endif

/* Saves the running context into *from and resumes *to. Returns when some
 * later switch resumes *from, with the a and b that switch was given. from
 * and to must differ.
 *
 * a and b travel in registers on the assembly backends: the scheduler hands
 * the goroutine it switched away from, and its M, to the goroutine it
 * switched to without a store and a dependent load through memory on the
 * way (with it a yield took 9.6-10.2 ns instead of 11.3-11.6 on an AMD
 * EPYC; x86_64/switch_sysv.S has the details). */
gort__ctx_pass gort__ctx_switch(gort__ctx *from, gort__ctx *to, void *a,
                                void *b);

/* Prepares *c so that the first switch to it calls entry(arg, pass) on the
 * stack [lo, lo + size), with the stack pointer aligned as the ABI requires
 * at a call; pass holds that switch's a and b. entry must never return (it
 * switches away for good instead); if it does, the process traps. */
void gort__ctx_init(gort__ctx *c, void *lo, size_t size,
                    void (*entry)(void *, gort__ctx_pass), void *arg);

#endif
