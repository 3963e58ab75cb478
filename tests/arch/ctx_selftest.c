/*
 * ctx_selftest.c - checks one context-switch backend against arch/ctx.h.
 *
 * A standalone program (no framework, no runtime): link it with exactly one
 * of lib/arch/x86_64/switch_sysv.S, lib/arch/aarch64/switch.S or
 * lib/arch/generic/switch_ucontext.c (the last with -DGORT_CTX_UCONTEXT for
 * both files). Exits 0 when every check passes; otherwise prints each failed
 * check with both operands and exits 1.
 *
 * What is checked, and why each check exists:
 *   - ring/star: many switches among main and three contexts on mmap'd
 *     (with a guard page) and malloc'd stacks arrive in the right order.
 *   - regs: every callee-saved register survives a switch. A C compiler
 *     chooses its own registers, so the exact check is a small assembly
 *     probe that loads a pattern into each callee-saved register (x86-64:
 *     rbx rbp r12-r15; AArch64: x19-x29 and d8-d15), switches, and reports
 *     what came back, while the other side loads different patterns. A C
 *     variant with many live values (-O2) checks the same from the
 *     compiler's side.
 *   - fpctl: each context keeps its own FP control state (x86-64: MXCSR and
 *     x87 control word rounding; AArch64: FPCR), and a new context starts
 *     with the default even when its creator uses another mode.
 *   - align: sp at entry is what the ABI requires, measured by an assembly
 *     entry stub, plus a 16-aligned local and a varargs call with doubles
 *     (which on x86-64 spills xmm registers with aligned stores).
 *   - arg, recursion (with a switch out of the deepest frame), unwinding
 *     (backtrace stops at the context's first frame), that ctx_init writes
 *     nothing outside [lo, lo + size), and all of it while an interval
 *     timer delivers signals onto whichever stack is current.
 *
 * The register probe and the entry stub are assembly for x86-64 and
 * AArch64; on other CPUs (where only the ucontext backend exists) those two
 * checks are skipped and FP control is checked through <fenv.h>.
 *
 * Valgrind: the test registers its own stacks when <valgrind/valgrind.h> is
 * there, so `valgrind --error-exitcode=1 ./ctx_selftest` runs quietly.
 *
 * Build by hand, from the top of the tree (W = the project's warning flags):
 *   gcc -O2 $W -Ilib tests/arch/ctx_selftest.c \
 *       lib/arch/x86_64/switch_sysv.S -o ctx_selftest
 *   aarch64-linux-gnu-gcc -O2 $W -Ilib tests/arch/ctx_selftest.c \
 *       lib/arch/aarch64/switch.S -o ctx_selftest
 *   gcc -O2 $W -DGORT_CTX_UCONTEXT -Ilib tests/arch/ctx_selftest.c \
 *       lib/arch/generic/switch_ucontext.c -lm -o ctx_selftest
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>

#if defined(__GLIBC__)
#include <execinfo.h>
#define HAVE_BACKTRACE 1
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>) && !defined(CTX_NO_VALGRIND)
#include <valgrind/valgrind.h>
#define HAVE_VALGRIND 1
#endif
#endif

#if !defined(__x86_64__) && !defined(__aarch64__)
#include <fenv.h>
#endif

#include "arch/ctx.h"

/* ---- reporting ---------------------------------------------------------- */

static int failures;

static void fail_u(const char *file, int line, const char *a, const char *op,
                   const char *b, unsigned long long va,
                   unsigned long long vb) {
  failures++;
  fprintf(stderr, "%s:%d: FAIL %s %s %s: 0x%llx (%llu) vs 0x%llx (%llu)\n",
          file, line, a, op, b, va, va, vb, vb);
}

#define CHECK_OP(a, op, b)                                                     \
  do {                                                                         \
    unsigned long long va_ = (unsigned long long)(a);                          \
    unsigned long long vb_ = (unsigned long long)(b);                          \
    if (!(va_ op vb_))                                                         \
      fail_u(__FILE__, __LINE__, #a, #op, #b, va_, vb_);                       \
  } while (0)
#define CHECK_EQ(a, b) CHECK_OP(a, ==, b)
#define CHECK_NE(a, b) CHECK_OP(a, !=, b)
#define CHECK_LT(a, b) CHECK_OP(a, <, b)

#define CHECK_STREQ(a, b)                                                      \
  do {                                                                         \
    const char *sa_ = (a), *sb_ = (b);                                         \
    if (strcmp(sa_, sb_) != 0) {                                               \
      failures++;                                                              \
      fprintf(stderr, "%s:%d: FAIL %s == %s: \"%s\" vs \"%s\"\n", __FILE__,    \
              __LINE__, #a, #b, sa_, sb_);                                     \
    }                                                                          \
  } while (0)

/* A crash (the usual symptom of a broken switch) still names the test. */
static const char *volatile current_test = "setup";

static void on_crash(int sig) {
  const char *t = current_test;
  char msg[160];
  size_t n = 0;
  const char *p;

  for (p = "ctx_selftest: FAIL: crashed (signal "; *p; p++)
    msg[n++] = *p;
  if (sig >= 10)
    msg[n++] = (char)('0' + sig / 10);
  msg[n++] = (char)('0' + sig % 10);
  for (p = ") in test "; *p; p++)
    msg[n++] = *p;
  for (p = t; *p && n < sizeof msg - 2; p++)
    msg[n++] = *p;
  msg[n++] = '\n';
  (void)!write(2, msg, n);
  _exit(1);
}

/* On its own stack, since the crash may be a bad stack pointer. */
static void crash_handlers(void) {
  static char altstack[64 * 1024];
  static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE};
  stack_t ss;
  struct sigaction sa;
  size_t i;

  memset(&ss, 0, sizeof ss);
  ss.ss_sp = altstack;
  ss.ss_size = sizeof altstack;
  sigaltstack(&ss, NULL);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_crash;
  sa.sa_flags = SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    sigaction(sigs[i], &sa, NULL);
}

#define RUN(test)                                                              \
  do {                                                                         \
    current_test = #test;                                                      \
    test();                                                                    \
  } while (0)

/* ---- stacks -------------------------------------------------------------- */

#define STACK_SIZE (256 * 1024)

struct stack {
  void *lo;       /* usable range [lo, lo + size) */
  size_t size;
  void *map;      /* mmap'd block including the guard page, or NULL */
  size_t maplen;
  unsigned vg_id; /* valgrind's id for the range */
};

/* mmap'd stacks get a PROT_NONE guard page below them, so an overflow (or
 * a backend writing below "lo") faults instead of corrupting memory. */
static void stack_alloc(struct stack *s, int use_mmap) {
  memset(s, 0, sizeof *s);
  if (use_mmap) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    s->maplen = STACK_SIZE + page;
    s->map = mmap(NULL, s->maplen, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s->map == MAP_FAILED) {
      perror("mmap");
      exit(2);
    }
    if (mprotect(s->map, page, PROT_NONE) != 0) {
      perror("mprotect");
      exit(2);
    }
    s->lo = (char *)s->map + page;
  } else {
    s->lo = malloc(STACK_SIZE);
    if (!s->lo) {
      perror("malloc");
      exit(2);
    }
  }
  s->size = STACK_SIZE;
#if HAVE_VALGRIND
  s->vg_id = VALGRIND_STACK_REGISTER(s->lo, (char *)s->lo + s->size);
#endif
}

static void stack_free(struct stack *s) {
#if HAVE_VALGRIND
  VALGRIND_STACK_DEREGISTER(s->vg_id);
#endif
  if (s->map)
    munmap(s->map, s->maplen);
  else
    free(s->lo);
}

/* ---- signals landing on every stack -------------------------------------- */

static volatile sig_atomic_t nsignals;

/* Uses a good chunk of whatever stack it lands on, so a switch that leaves
 * sp below live data gets that data overwritten and some check fails. */
static void on_timer(int sig) {
  volatile unsigned char junk[2048];
  size_t i;

  (void)sig;
  for (i = 0; i < sizeof junk; i++)
    junk[i] = (unsigned char)(0xA5 ^ i);
  nsignals = nsignals + 1;
}

static void signals_start(void) {
  struct sigaction sa;
  struct itimerval it;

  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_timer;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, NULL);
  memset(&it, 0, sizeof it);
  it.it_interval.tv_usec = 50;
  it.it_value.tv_usec = 50;
  setitimer(ITIMER_REAL, &it, NULL);
}

static void signals_stop(void) {
  struct itimerval it;

  memset(&it, 0, sizeof it);
  setitimer(ITIMER_REAL, &it, NULL);
}

/* ---- ring and star -------------------------------------------------------- */

#define NCTX 3
#define RING_ROUNDS 300000

static gort__ctx main_ctx;
static gort__ctx ctxs[NCTX];
static struct stack stacks[NCTX];
static unsigned long counters[NCTX];
static volatile int turn; /* who should run next: 0..NCTX-1, NCTX = main */

/* main -> 0 -> 1 -> 2 -> main, forever; main decides when to stop. */
static void ring_entry(void *arg, gort__ctx_pass pass) {
  (void)pass;
  int me = (int)(intptr_t)arg;

  for (;;) {
    CHECK_EQ(turn, me);
    counters[me]++;
    turn = me + 1;
    gort__ctx_switch(&ctxs[me], me == NCTX - 1 ? &main_ctx : &ctxs[me + 1],
                     NULL, NULL);
  }
}

/* main -> k -> main, for each k in turn. */
static void star_entry(void *arg, gort__ctx_pass pass) {
  (void)pass;
  int me = (int)(intptr_t)arg;

  for (;;) {
    CHECK_EQ(turn, me);
    counters[me]++;
    turn = NCTX;
    gort__ctx_switch(&ctxs[me], &main_ctx, NULL, NULL);
  }
}

static void test_ring_and_star(void) {
  int i;
  long r;

  for (i = 0; i < NCTX; i++) {
    counters[i] = 0;
    gort__ctx_init(&ctxs[i], stacks[i].lo, stacks[i].size, ring_entry,
                   (void *)(intptr_t)i);
  }
  for (r = 0; r < RING_ROUNDS; r++) {
    turn = 0;
    gort__ctx_switch(&main_ctx, &ctxs[0], NULL, NULL);
    CHECK_EQ(turn, NCTX);
    if (turn != NCTX)
      return;
  }
  for (i = 0; i < NCTX; i++)
    CHECK_EQ(counters[i], RING_ROUNDS);

  /* The ring contexts are abandoned mid-loop; building new contexts on the
   * same stacks must be fine, since a suspended context owns nothing else. */
  for (i = 0; i < NCTX; i++) {
    counters[i] = 0;
    gort__ctx_init(&ctxs[i], stacks[i].lo, stacks[i].size, star_entry,
                   (void *)(intptr_t)i);
  }
  for (r = 0; r < RING_ROUNDS; r++) {
    for (i = 0; i < NCTX; i++) {
      turn = i;
      gort__ctx_switch(&main_ctx, &ctxs[i], NULL, NULL);
      CHECK_EQ(turn, NCTX);
    }
  }
  for (i = 0; i < NCTX; i++)
    CHECK_EQ(counters[i], RING_ROUNDS);
}

/* ---- the two words a switch hands over ---------------------------------- */

#define PASS_ROUNDS 100000

/* What the switch into context k carries in round r: distinct per hop, so a
 * value left over from another hop, or swapped a and b, shows. */
static void *pass_word(long r, int k, int which) {
  return (void *)(uintptr_t)(((uintptr_t)r << 8) | (uintptr_t)(k << 1) |
                             (uintptr_t)which);
}

static long pass_round;

/* Context k of a ring main -> 0 -> 1 -> 2 -> main: checks what the switch
 * into it carried (on its first run as entry's argument, later as the
 * switch's return value) and hands the next context its own words. */
static void pass_entry(void *arg, gort__ctx_pass pass) {
  int me = (int)(intptr_t)arg;

  for (;;) {
    int next = me + 1;
    CHECK_EQ(pass.a, pass_word(pass_round, me, 0));
    CHECK_EQ(pass.b, pass_word(pass_round, me, 1));
    pass = gort__ctx_switch(&ctxs[me], next == NCTX ? &main_ctx : &ctxs[next],
                            pass_word(pass_round, next, 0),
                            pass_word(pass_round, next, 1));
  }
}

static void test_pass(void) {
  int i;
  long r;

  for (i = 0; i < NCTX; i++)
    gort__ctx_init(&ctxs[i], stacks[i].lo, stacks[i].size, pass_entry,
                   (void *)(intptr_t)i);
  for (r = 0; r < PASS_ROUNDS; r++) {
    gort__ctx_pass got;
    pass_round = r;
    got = gort__ctx_switch(&main_ctx, &ctxs[0], pass_word(r, 0, 0),
                           pass_word(r, 0, 1));
    CHECK_EQ(got.a, pass_word(r, NCTX, 0));
    CHECK_EQ(got.b, pass_word(r, NCTX, 1));
    if (got.a != pass_word(r, NCTX, 0))
      return;
  }
}

/* ---- callee-saved registers: assembly probe ------------------------------- */

/* t_regprobe(from, to, seed, out): saves its caller's callee-saved
 * registers, loads seed + k * 0x0101010101010101 into the k-th callee-saved
 * register (k = 1..NPROBE), calls gort__ctx_switch(from, to), stores what
 * those registers hold afterwards into out[0..NPROBE-1], restores its
 * caller's registers and returns. */
void t_regprobe(gort__ctx *from, gort__ctx *to, uint64_t seed, uint64_t *out)
    __attribute__((visibility("hidden")));

#define PATTERN_STEP 0x0101010101010101ULL

#if defined(__x86_64__)
#if defined(__CET__) && (__CET__ & 1)
#define T_ENTRY_MARK "endbr64\n"
#else
#define T_ENTRY_MARK ""
#endif
#define NPROBE 6 /* rbx rbp r12 r13 r14 r15 */
static const char *const probe_names[NPROBE] = {"rbx", "rbp", "r12",
                                                "r13", "r14", "r15"};
__asm__(".text\n"
        ".globl t_regprobe\n"
        ".hidden t_regprobe\n"
        ".type t_regprobe, @function\n"
        "t_regprobe:\n" T_ENTRY_MARK
        "  pushq %rbp\n"
        "  pushq %rbx\n"
        "  pushq %r12\n"
        "  pushq %r13\n"
        "  pushq %r14\n"
        "  pushq %r15\n"
        "  pushq %rcx\n" /* out; also makes rsp 16-aligned for the call */
        "  movabsq $0x0101010101010101, %rax\n"
        "  leaq (%rdx,%rax), %rbx\n"
        "  leaq (%rbx,%rax), %rbp\n"
        "  leaq (%rbp,%rax), %r12\n"
        "  leaq (%r12,%rax), %r13\n"
        "  leaq (%r13,%rax), %r14\n"
        "  leaq (%r14,%rax), %r15\n"
        "  call gort__ctx_switch\n"
        "  popq %rcx\n"
        "  movq %rbx, 0(%rcx)\n"
        "  movq %rbp, 8(%rcx)\n"
        "  movq %r12, 16(%rcx)\n"
        "  movq %r13, 24(%rcx)\n"
        "  movq %r14, 32(%rcx)\n"
        "  movq %r15, 40(%rcx)\n"
        "  popq %r15\n"
        "  popq %r14\n"
        "  popq %r13\n"
        "  popq %r12\n"
        "  popq %rbx\n"
        "  popq %rbp\n"
        "  ret\n"
        ".size t_regprobe, .-t_regprobe\n");
#elif defined(__aarch64__)
#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define T_ENTRY_MARK "bti c\n"
#else
#define T_ENTRY_MARK ""
#endif
#define NPROBE 19 /* x19-x29, d8-d15 */
static const char *const probe_names[NPROBE] = {
    "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28",
    "x29", "d8",  "d9",  "d10", "d11", "d12", "d13", "d14", "d15"};
__asm__(".text\n"
        ".globl t_regprobe\n"
        ".hidden t_regprobe\n"
        ".type t_regprobe, %function\n"
        "t_regprobe:\n" T_ENTRY_MARK
        "  stp x29, x30, [sp, #-176]!\n"
        "  stp x19, x20, [sp, #16]\n"
        "  stp x21, x22, [sp, #32]\n"
        "  stp x23, x24, [sp, #48]\n"
        "  stp x25, x26, [sp, #64]\n"
        "  stp x27, x28, [sp, #80]\n"
        "  stp d8, d9, [sp, #96]\n"
        "  stp d10, d11, [sp, #112]\n"
        "  stp d12, d13, [sp, #128]\n"
        "  stp d14, d15, [sp, #144]\n"
        "  str x3, [sp, #160]\n"
        "  mov x9, #0x0101010101010101\n"
        "  add x19, x2, x9\n"
        "  add x20, x19, x9\n"
        "  add x21, x20, x9\n"
        "  add x22, x21, x9\n"
        "  add x23, x22, x9\n"
        "  add x24, x23, x9\n"
        "  add x25, x24, x9\n"
        "  add x26, x25, x9\n"
        "  add x27, x26, x9\n"
        "  add x28, x27, x9\n"
        "  add x29, x28, x9\n"
        "  add x10, x29, x9\n"
        "  fmov d8, x10\n"
        "  add x10, x10, x9\n"
        "  fmov d9, x10\n"
        "  add x10, x10, x9\n"
        "  fmov d10, x10\n"
        "  add x10, x10, x9\n"
        "  fmov d11, x10\n"
        "  add x10, x10, x9\n"
        "  fmov d12, x10\n"
        "  add x10, x10, x9\n"
        "  fmov d13, x10\n"
        "  add x10, x10, x9\n"
        "  fmov d14, x10\n"
        "  add x10, x10, x9\n"
        "  fmov d15, x10\n"
        "  bl gort__ctx_switch\n"
        "  ldr x3, [sp, #160]\n"
        "  stp x19, x20, [x3, #0]\n"
        "  stp x21, x22, [x3, #16]\n"
        "  stp x23, x24, [x3, #32]\n"
        "  stp x25, x26, [x3, #48]\n"
        "  stp x27, x28, [x3, #64]\n"
        "  str x29, [x3, #80]\n"
        "  stp d8, d9, [x3, #88]\n"
        "  stp d10, d11, [x3, #104]\n"
        "  stp d12, d13, [x3, #120]\n"
        "  stp d14, d15, [x3, #136]\n"
        "  ldp x19, x20, [sp, #16]\n"
        "  ldp x21, x22, [sp, #32]\n"
        "  ldp x23, x24, [sp, #48]\n"
        "  ldp x25, x26, [sp, #64]\n"
        "  ldp x27, x28, [sp, #80]\n"
        "  ldp d8, d9, [sp, #96]\n"
        "  ldp d10, d11, [sp, #112]\n"
        "  ldp d12, d13, [sp, #128]\n"
        "  ldp d14, d15, [sp, #144]\n"
        "  ldp x29, x30, [sp], #176\n"
        "  ret\n"
        ".size t_regprobe, .-t_regprobe\n");
#endif

#if defined(NPROBE)
#define PROBE_ROUNDS 20000

static void check_probe(const uint64_t *out, uint64_t seed, long round) {
  int k;

  for (k = 0; k < NPROBE; k++) {
    uint64_t want = seed + (uint64_t)(k + 1) * PATTERN_STEP;
    if (out[k] != want) {
      fprintf(stderr, "register %s, round %ld:\n", probe_names[k], round);
      CHECK_EQ(out[k], want);
    }
  }
}

/* The other side: clobbers every callee-saved register with its own
 * patterns (a different seed each round) before switching back. */
static void probe_entry(void *arg, gort__ctx_pass pass) {
  (void)pass;
  uint64_t out[NPROBE];
  long r;

  (void)arg;
  for (r = 0;; r++) {
    uint64_t seed = 0xB000000000000000ULL + (uint64_t)r * 7;
    t_regprobe(&ctxs[0], &main_ctx, seed, out);
    check_probe(out, seed, r);
  }
}

static void test_regs_asm(void) {
  uint64_t out[NPROBE];
  long r;

  gort__ctx_init(&ctxs[0], stacks[0].lo, stacks[0].size, probe_entry, NULL);
  for (r = 0; r < PROBE_ROUNDS; r++) {
    uint64_t seed = 0x1000000000000000ULL + (uint64_t)r * 13;
    t_regprobe(&main_ctx, &ctxs[0], seed, out);
    check_probe(out, seed, r);
  }
}
#endif /* NPROBE */

/* ---- callee-saved registers: seen from C ---------------------------------- */

static gort__ctx *heavy_from, *heavy_to;
static volatile uint64_t heavy_seed = 12345;
static volatile double heavy_fseed = 1.25;

static __attribute__((noinline)) void hook_switch(void) {
  gort__ctx_switch(heavy_from, heavy_to, NULL, NULL);
}

static __attribute__((noinline)) void hook_none(void) {
  __asm__ volatile("" ::: "memory");
}

/* Keeps more values live across hook() than there are caller-saved
 * registers, so at -O2 most of them sit in callee-saved ones. */
static __attribute__((noinline)) uint64_t heavy(void (*hook)(void),
                                                uint64_t *fbits) {
  uint64_t a = heavy_seed, b = a * 3 + 1, c = b ^ (a >> 3), d = c * 5 + b;
  uint64_t e = d ^ (c << 7), f = e + a * 11, g = f ^ (e >> 5), h = g * 9 + d;
  uint64_t i = h ^ (g << 3), j = i + f * 17, k = j ^ (i >> 11);
  double fa = heavy_fseed, fb = fa * 1.5, fc = fb + fa, fd = fc * fb;
  double fe = fd - fa, ff = fe * 0.75, fg = ff + fc, fh = fg * fd;
  double sum;

  hook();
  sum = fa + 2 * fb + 3 * fc + 5 * fd + 7 * fe + 11 * ff + 13 * fg + 17 * fh;
  memcpy(fbits, &sum, sizeof sum);
  return a + 2 * b + 3 * c + 5 * d + 7 * e + 11 * f + 13 * g + 17 * h +
         19 * i + 23 * j + 29 * k;
}

static void heavy_other(void *arg, gort__ctx_pass pass) {
  (void)pass;
  uint64_t fb;

  (void)arg;
  for (;;) {
    /* Different values in the same registers on this side. */
    heavy_seed = heavy_seed + 999;
    heavy_fseed = heavy_fseed + 3.5;
    heavy_from = &ctxs[1];
    heavy_to = &main_ctx;
    (void)heavy(hook_switch, &fb);
  }
}

static void test_regs_c(void) {
  uint64_t want, got, wantf, gotf;
  int r;

  gort__ctx_init(&ctxs[1], stacks[1].lo, stacks[1].size, heavy_other, NULL);
  for (r = 0; r < 1000; r++) {
    heavy_seed = 12345 + (uint64_t)r;
    heavy_fseed = 1.25 + r;
    want = heavy(hook_none, &wantf);
    heavy_from = &main_ctx;
    heavy_to = &ctxs[1];
    got = heavy(hook_switch, &gotf);
    CHECK_EQ(got, want);
    CHECK_EQ(gotf, wantf);
    heavy_seed = 12345 + (uint64_t)r; /* the other side changed it */
    heavy_fseed = 1.25 + r;
  }
}

/* ---- FP control state ------------------------------------------------------ */

/* A mode is what the test sets and compares: on x86-64 the MXCSR and x87
 * control word, on AArch64 FPCR, elsewhere the C rounding mode. Only the
 * rounding fields differ between modes, because valgrind models only those. */
struct fpmode {
  uint32_t a, b;
};

#if defined(__x86_64__)
static struct fpmode fp_get(void) {
  uint32_t mxcsr;
  uint16_t cw;
  struct fpmode m;

  __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
  __asm__ volatile("fnstcw %0" : "=m"(cw));
  m.a = mxcsr & 0xFFC0; /* control bits; the low six are status flags */
  m.b = cw & 0x0F3F;    /* exception masks, precision, rounding */
  return m;
}

static void fp_set(struct fpmode m) {
  uint32_t mxcsr = m.a;
  uint16_t cw = (uint16_t)m.b;

  __asm__ volatile("ldmxcsr %0" ::"m"(mxcsr));
  __asm__ volatile("fldcw %0" ::"m"(cw));
}

/* MXCSR rounding is bits 13-14, x87 control word rounding bits 10-11. */
static const struct fpmode fp_default = {0x1F80, 0x037F & 0x0F3F};
static const struct fpmode fp_main = {0x5F80, 0x0B7F & 0x0F3F}; /* up, up */
static const struct fpmode fp_a = {0x3F80, 0x0F7F & 0x0F3F}; /* down, zero */
static const struct fpmode fp_b = {0x7F80, 0x077F & 0x0F3F}; /* zero, down */
#elif defined(__aarch64__)
static struct fpmode fp_get(void) {
  uint64_t fpcr;
  struct fpmode m;

  __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
  m.a = (uint32_t)fpcr;
  m.b = 0;
  return m;
}

static void fp_set(struct fpmode m) {
  uint64_t fpcr = m.a;

  __asm__ volatile("msr fpcr, %0" ::"r"(fpcr));
}

/* FPCR.RMode is bits 22-23, FZ bit 24, DN bit 25. */
static const struct fpmode fp_default = {0, 0};
static const struct fpmode fp_main = {0x00400000, 0};            /* RP */
static const struct fpmode fp_a = {0x00800000 | 0x02000000, 0}; /* RM, DN */
static const struct fpmode fp_b = {0x00C00000 | 0x01000000, 0}; /* RZ, FZ */
#else
static struct fpmode fp_get(void) {
  struct fpmode m = {(uint32_t)fegetround(), 0};
  return m;
}

static void fp_set(struct fpmode m) {
  fesetround((int)m.a);
}

static const struct fpmode fp_default = {FE_TONEAREST, 0};
static const struct fpmode fp_main = {FE_UPWARD, 0};
static const struct fpmode fp_a = {FE_DOWNWARD, 0};
static const struct fpmode fp_b = {FE_TOWARDZERO, 0};
#endif

#define CHECK_FP(want, who)                                                    \
  do {                                                                         \
    struct fpmode got_ = fp_get();                                             \
    if (got_.a != (want).a || got_.b != (want).b)                              \
      fprintf(stderr, "FP control state in %s:\n", who);                       \
    CHECK_EQ(got_.a, (want).a);                                                \
    CHECK_EQ(got_.b, (want).b);                                                \
  } while (0)

#define FP_ROUNDS 1000

/* A: starts with the default, sets its own mode, then verifies it on every
 * resume. It hands over to B directly, so B's checks also cover a switch
 * between two non-main contexts. */
static void fp_entry_a(void *arg, gort__ctx_pass pass) {
  (void)pass;
  (void)arg;
  CHECK_FP(fp_default, "A at start");
  fp_set(fp_a);
  gort__ctx_switch(&ctxs[0], &main_ctx, NULL, NULL);
  for (;;) {
    CHECK_FP(fp_a, "A");
    gort__ctx_switch(&ctxs[0], &ctxs[1], NULL, NULL);
  }
}

static void fp_entry_b(void *arg, gort__ctx_pass pass) {
  (void)pass;
  (void)arg;
  CHECK_FP(fp_default, "B at start");
  fp_set(fp_b);
  gort__ctx_switch(&ctxs[1], &main_ctx, NULL, NULL);
  for (;;) {
    CHECK_FP(fp_b, "B");
    gort__ctx_switch(&ctxs[1], &main_ctx, NULL, NULL);
  }
}

static void test_fpctl(void) {
  struct fpmode saved = fp_get();
  int r;

  CHECK_FP(fp_default, "main before the test");
  /* Non-default in the creator, to show new contexts do not inherit it. */
  fp_set(fp_main);
  gort__ctx_init(&ctxs[0], stacks[0].lo, stacks[0].size, fp_entry_a, NULL);
  gort__ctx_init(&ctxs[1], stacks[1].lo, stacks[1].size, fp_entry_b, NULL);
  gort__ctx_switch(&main_ctx, &ctxs[0], NULL, NULL);
  CHECK_FP(fp_main, "main after starting A");
  gort__ctx_switch(&main_ctx, &ctxs[1], NULL, NULL);
  CHECK_FP(fp_main, "main after starting B");
  for (r = 0; r < FP_ROUNDS; r++) {
    /* main -> A -> B -> main */
    gort__ctx_switch(&main_ctx, &ctxs[0], NULL, NULL);
    CHECK_FP(fp_main, "main");
  }
  fp_set(saved);
}

/* ---- alignment, argument, varargs ------------------------------------------ */

/* Entry stub in assembly: records sp exactly as the backend delivered it,
 * then tail-jumps to t_align_c with the argument untouched. */
void t_align_entry(void *arg, gort__ctx_pass pass)
    __attribute__((visibility("hidden")));
void t_align_c(void *arg, gort__ctx_pass pass)
    __attribute__((visibility("hidden")));
__attribute__((visibility("hidden"))) uintptr_t t_align_sp;

#if defined(__x86_64__)
__asm__(".text\n"
        ".globl t_align_entry\n"
        ".hidden t_align_entry\n"
        ".type t_align_entry, @function\n"
        "t_align_entry:\n" T_ENTRY_MARK
        "  movq %rsp, t_align_sp(%rip)\n"
        "  jmp t_align_c\n"
        ".size t_align_entry, .-t_align_entry\n");
/* At a function's first instruction rsp + 8 (past the return address) is a
 * multiple of 16. */
#define ENTRY_SP_BIAS 8
#elif defined(__aarch64__)
__asm__(".text\n"
        ".globl t_align_entry\n"
        ".hidden t_align_entry\n"
        ".type t_align_entry, %function\n"
        "t_align_entry:\n" T_ENTRY_MARK
        "  mov x9, sp\n"
        "  adrp x10, t_align_sp\n"
        "  str x9, [x10, :lo12:t_align_sp]\n"
        "  b t_align_c\n"
        ".size t_align_entry, .-t_align_entry\n");
/* sp is a multiple of 16, always. */
#define ENTRY_SP_BIAS 0
#else
/* No stub: enter the C part directly and skip the exact sp check. */
#define t_align_entry t_align_c
#endif

static const char align_magic[] = "align-arg";
static int align_ran;

static __attribute__((noinline)) int fmt(char *buf, size_t n, const char *f,
                                         ...) __attribute__((format(printf, 3, 4)));
static int fmt(char *buf, size_t n, const char *f, ...) {
  va_list ap;
  int r;

  va_start(ap, f);
  r = vsnprintf(buf, n, f, ap);
  va_end(ap);
  return r;
}

void t_align_c(void *arg, gort__ctx_pass pass) {
  alignas(16) unsigned char local16[16];
  long double ld = 1.5L;
  volatile double x = 2.5, y = -0.125;
  char buf[128];

  align_ran = 1;
  CHECK_EQ(arg, align_magic);
  /* the stub passed the pass registers on untouched too */
  CHECK_EQ(pass.a, (void *)&align_ran);
  CHECK_EQ(pass.b, (void *)align_magic);
#if defined(ENTRY_SP_BIAS)
  CHECK_EQ((t_align_sp + ENTRY_SP_BIAS) % 16, 0);
#endif
  CHECK_EQ((uintptr_t)local16 % 16, 0);
  CHECK_EQ((uintptr_t)&ld % 16, 0);
  CHECK_EQ((uintptr_t)__builtin_frame_address(0) % 16, 0);
  /* A varargs call with FP arguments: on x86-64 the callee's prologue
   * stores xmm registers with movaps, which faults on a misaligned stack. */
  snprintf(buf, sizeof buf, "%.3f %.4f %g %.1Lf", x, y, x * y, ld);
  CHECK_STREQ(buf, "2.500 -0.1250 -0.3125 1.5");
  fmt(buf, sizeof buf, "%.2f|%.2f|%.2f|%.2f|%.2f|%.2f|%.2f|%.2f|%.2f", 1.0,
      2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, x);
  CHECK_STREQ(buf, "1.00|2.00|3.00|4.00|5.00|6.00|7.00|8.00|2.50");
  memset(local16, 0, sizeof local16);
  gort__ctx_switch(&ctxs[2], &main_ctx, NULL, NULL);
  CHECK_EQ(0, 1); /* never resumed */
  for (;;)
    gort__ctx_switch(&ctxs[2], &main_ctx, NULL, NULL);
}

static void test_align(void) {
  int i;

  /* Every offset of the stack top mod 16, so the backend's rounding down
   * is exercised, not just a top that happens to be aligned already. */
  for (i = 0; i < 16; i++) {
    align_ran = 0;
    t_align_sp = 1;
    gort__ctx_init(&ctxs[2], stacks[2].lo, stacks[2].size - (size_t)i,
                   t_align_entry, (void *)align_magic);
    gort__ctx_switch(&main_ctx, &ctxs[2], (void *)&align_ran,
                     (void *)align_magic);
    CHECK_EQ(align_ran, 1);
  }
}

/* ---- ctx_init stays inside [lo, lo + size) ---------------------------------- */

static void idle_entry(void *arg, gort__ctx_pass pass) {
  (void)pass;
  (void)arg;
  for (;;)
    gort__ctx_switch(&ctxs[2], &main_ctx, NULL, NULL);
}

/* A fresh buffer, filled before any stack use: refilling a stack that has
 * already run would be a write below its sp, which valgrind reports. */
static void test_bounds(void) {
  enum { PAD = 64, SIZE = 64 * 1024 - 5 }; /* odd top on purpose */
  unsigned char *buf = malloc(PAD + SIZE + PAD);
  unsigned vg_id = 0;
  size_t i;
  int bad = 0;

  if (!buf) {
    perror("malloc");
    exit(2);
  }
  memset(buf, 0x5A, PAD + SIZE + PAD);
#if HAVE_VALGRIND
  vg_id = VALGRIND_STACK_REGISTER(buf + PAD, buf + PAD + SIZE);
#endif
  gort__ctx_init(&ctxs[2], buf + PAD, SIZE, idle_entry, NULL);
  gort__ctx_switch(&main_ctx, &ctxs[2], NULL, NULL);
  gort__ctx_switch(&main_ctx, &ctxs[2], NULL, NULL);
  for (i = 0; i < PAD; i++)
    bad += buf[i] != 0x5A;
  for (i = PAD + SIZE; i < PAD + SIZE + PAD; i++)
    bad += buf[i] != 0x5A;
  CHECK_EQ(bad, 0);
#if HAVE_VALGRIND
  VALGRIND_STACK_DEREGISTER(vg_id);
#endif
  (void)vg_id;
  free(buf);
}

/* ---- recursion, with a switch out of the deepest frame --------------------- */

#define DEPTH 1000

static int recursion_paused;

static __attribute__((noinline)) uint64_t recurse(int n, uint64_t acc) {
  volatile uint64_t frame[8];
  uint64_t r;
  int i;

  for (i = 0; i < 8; i++)
    frame[i] = acc * 31 + (uint64_t)(n * 8 + i);
  if (n == 0) {
    recursion_paused = 1;
    /* main scribbles on its stack */
    gort__ctx_switch(&ctxs[0], &main_ctx, NULL, NULL);
    r = acc;
  } else {
    r = recurse(n - 1, acc * 7 + (uint64_t)n);
  }
  for (i = 0; i < 8; i++)
    r += frame[i] - (acc * 31 + (uint64_t)(n * 8 + i)); /* 0 if intact */
  return r + 1;
}

static uint64_t recurse_plain(int n, uint64_t acc) {
  return n == 0 ? acc + 1 : recurse_plain(n - 1, acc * 7 + (uint64_t)n) + 1;
}

static uint64_t recursion_result;

static void recursion_entry(void *arg, gort__ctx_pass pass) {
  (void)pass;
  (void)arg;
  recursion_result = recurse(DEPTH, 1);
  for (;;)
    gort__ctx_switch(&ctxs[0], &main_ctx, NULL, NULL);
}

static __attribute__((noinline)) void scribble(void) {
  volatile unsigned char junk[16384];
  size_t i;

  for (i = 0; i < sizeof junk; i++)
    junk[i] = (unsigned char)i;
}

static void test_recursion(void) {
  recursion_paused = 0;
  recursion_result = 0;
  gort__ctx_init(&ctxs[0], stacks[0].lo, stacks[0].size, recursion_entry,
                 NULL);
  gort__ctx_switch(&main_ctx, &ctxs[0], NULL, NULL);
  CHECK_EQ(recursion_paused, 1);
  scribble();
  gort__ctx_switch(&main_ctx, &ctxs[0], NULL, NULL);
  CHECK_EQ(recursion_result, recurse_plain(DEPTH, 1));
}

/* ---- unwinding stops at the context's first frame --------------------------- */

#if HAVE_BACKTRACE
static int bt_depth;

static __attribute__((noinline)) void bt_leaf(void) {
  void *pcs[256];

  bt_depth = backtrace(pcs, 256);
}

static void bt_entry(void *arg, gort__ctx_pass pass) {
  (void)pass;
  (void)arg;
  bt_leaf();
  for (;;)
    gort__ctx_switch(&ctxs[1], &main_ctx, NULL, NULL);
}

static __attribute__((noinline)) void *some_return_address(void) {
  return __builtin_return_address(0);
}

/* bt_leaf <- bt_entry <- the backend's start frame(s): a handful of frames.
 * Above the stack top lies bait: copies of a valid return address, so an
 * unwinder that does not stop at the start frame keeps finding "frames"
 * and hits the limit (or crashes) instead of stopping by luck on a zero. */
static void test_unwind(void) {
  enum { SIZE = 64 * 1024, BAIT = 4096 };
  unsigned char *buf = malloc(SIZE + BAIT);
  void *ra = some_return_address();
  unsigned vg_id = 0;
  size_t i;

  if (!buf) {
    perror("malloc");
    exit(2);
  }
  for (i = SIZE; i + sizeof ra <= SIZE + BAIT; i += sizeof ra)
    memcpy(buf + i, &ra, sizeof ra);
#if HAVE_VALGRIND
  vg_id = VALGRIND_STACK_REGISTER(buf, buf + SIZE);
#endif
  bt_depth = -1;
  gort__ctx_init(&ctxs[1], buf, SIZE, bt_entry, NULL);
  gort__ctx_switch(&main_ctx, &ctxs[1], NULL, NULL);
  CHECK_LT(0, bt_depth);
  CHECK_LT(bt_depth, 8);
#if HAVE_VALGRIND
  VALGRIND_STACK_DEREGISTER(vg_id);
#endif
  (void)vg_id;
  free(buf);
}
#endif

/* ---- main ----------------------------------------------------------------- */

int main(void) {
  int i;

  setvbuf(stdout, NULL, _IOLBF, 0);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  /* This drives the bare backend, with none of the fiber annotations the
   * runtime's switch wrappers add, so a sanitizer would only see stack
   * confusion. The sanitizer runs test those wrappers through every other
   * test instead. 77: automake's "skipped". */
  printf("ctx_selftest: skipped under a sanitizer (unannotated switches)\n");
  return 77;
#endif
  for (i = 0; i < NCTX; i++)
    stack_alloc(&stacks[i], i != 1); /* 0 and 2 mmap'd, 1 malloc'd */

  crash_handlers();
  signals_start();
  RUN(test_ring_and_star);
  RUN(test_pass);
#if defined(NPROBE)
  RUN(test_regs_asm);
#else
  printf("ctx_selftest: no register probe for this CPU, skipped\n");
#endif
  RUN(test_regs_c);
  RUN(test_fpctl);
  RUN(test_align);
  RUN(test_bounds);
  RUN(test_recursion);
#if HAVE_BACKTRACE
  RUN(test_unwind);
#endif
  signals_stop();

  for (i = 0; i < NCTX; i++)
    stack_free(&stacks[i]);
  if (failures) {
    printf("ctx_selftest: %d check(s) FAILED\n", failures);
    return 1;
  }
  printf("ctx_selftest: all checks passed (%d timer signals landed)\n",
         (int)nsignals);
  return 0;
}
