/*
 * os.h - what the runtime needs from the operating system.
 *
 * The scheduler never says #ifdef __linux__: it calls these, and configure
 * picks the files that define them (lib/os/unix/ today; lib/os/win/ when
 * Windows lands). Each function reports failure as a negative GORT_E* value,
 * never through errno alone, because errno belongs to the OS thread and a
 * goroutine may resume on another one.
 */
#ifndef GORT_OS_H
#define GORT_OS_H

#include <stddef.h>
#include <stdint.h>

/* ---- time ---- */
int64_t gort__os_now(void); /* monotonic ns */

/* ---- futex-style word wait (lib/os/unix/futex_linux.c) ----
 * Blocks the OS thread while *addr == val, until woken or the absolute
 * monotonic deadline (GORT_NEVER: none). May wake spuriously; callers loop.
 * Returns 0, or GORT_ETIMEDOUT once the deadline has passed. */
int gort__os_futex_wait(uint32_t *addr, uint32_t val, int64_t deadline);
void gort__os_futex_wake(uint32_t *addr, int n);

/* ---- threads (lib/os/unix/thread_posix.c) ---- */
typedef struct gort__os_thread {
  uintptr_t h;
} gort__os_thread;
/* Starts fn(arg) on a new OS thread with every signal blocked except the
 * synchronous ones, and a sigaltstack installed for the overflow handler. */
int gort__os_thread_start(gort__os_thread *t, void *(*fn)(void *), void *arg);
int gort__os_thread_join(gort__os_thread t);
void gort__os_thread_name(const char *name);
int gort__os_ncpu(void);
void gort__os_yield(void); /* the OS thread gives up its CPU */
void gort__os_usleep(int64_t ns); /* a short sleep of the OS thread */
void gort__os_relax(void); /* a spin-wait hint (pause/yield instruction) */

/* ---- memory for stacks (lib/os/unix/mem_unix.c) ---- */
/* Reserves len bytes (a multiple of the page size), read-write, committed
 * lazily, never counted against overcommit. NULL on failure. */
void *gort__os_map(size_t len);
void gort__os_unmap(void *p, size_t len);
/* Gives the pages back: later reads see zeroes. */
void gort__os_discard(void *p, size_t len);
/* Makes [p, p+len) fault on any access: 1 if done without a new mapping
 * (MADV_GUARD_INSTALL), 2 if done with mprotect (one more mapping),
 * 0 if not done. how: GORT__GUARD_INSTALL and/or GORT__GUARD_SPLIT, the
 * ways the caller allows. */
enum { GORT__GUARD_INSTALL = 1, GORT__GUARD_SPLIT = 2 };
int gort__os_guard(void *p, size_t len, int how);
size_t gort__os_pagesize(void);
long gort__os_max_map_count(void); /* the mapping budget; -1 if unknown */

/* ---- faults ---- */
/* Installs the handler that turns a fault inside a guard region into
 * "goroutine N: stack overflow" and abort(). classify(addr) returns the
 * goroutine id whose guard holds addr, or 0; any other fault goes to the
 * previous handler. Idempotent. */
void gort__os_fault_init(uint64_t (*classify)(void *addr));
/* Each thread that runs goroutines needs its own alternate signal stack. */
int gort__os_altstack_init(void);
void gort__os_altstack_free(void);
/* Writes msg to stderr with write(2) and aborts: async-signal-safe. */
void gort__os_die(const char *msg) __attribute__((noreturn));

/* ---- environment ---- */
const char *gort__os_getenv(const char *name);

#endif
