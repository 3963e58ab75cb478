/*
 * fault_unix.c - turns a goroutine stack overflow into a clear death.
 *
 * A fault on a guard page happens with the stack exhausted, so the handler
 * runs on a per-thread sigaltstack. It asks the runtime whether the address
 * belongs to the running goroutine's guard region; if so it prints
 * "goroutine N: stack overflow" with write(2) (async-signal-safe) and
 * aborts. Any other fault is not ours: the previous disposition is put back
 * and the faulting instruction re-runs into it, so ASan, Python's
 * faulthandler or the default core dump still see their faults.
 */
#include "config.h"

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "os/os.h"

static uint64_t (*fault_classify)(void *addr);
static struct sigaction old_segv, old_bus;
static int fault_installed;

static size_t fmt_u64(char *buf, uint64_t v)
{
  char tmp[24];
  size_t n = 0, i;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (i = 0; i < n; i++)
    buf[i] = tmp[n - 1 - i];
  return n;
}

static void fault_handler(int sig, siginfo_t *si, void *uctx)
{
  uint64_t id = fault_classify ? fault_classify(si->si_addr) : 0;
  (void)uctx;
  if (id != 0) {
    char msg[64];
    size_t n = 0;
    memcpy(msg, "goroutine ", 10);
    n = 10;
    n += fmt_u64(msg + n, id);
    memcpy(msg + n, ": stack overflow\n", 17);
    n += 17;
    msg[n] = 0;
    gort__os_die(msg);
  }
  /* Not a goroutine overflow: hand the fault back to whoever had it. */
  sigaction(sig, sig == SIGSEGV ? &old_segv : &old_bus, NULL);
}

void gort__os_fault_init(uint64_t (*classify)(void *addr))
{
  struct sigaction sa;
  if (__atomic_exchange_n(&fault_installed, 1, __ATOMIC_ACQ_REL))
    return;
  fault_classify = classify;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = fault_handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &old_segv);
  sigaction(SIGBUS, &sa, &old_bus);
}

int gort__os_altstack_init(void)
{
  stack_t ss, old;
  if (sigaltstack(NULL, &old) == 0 && !(old.ss_flags & SS_DISABLE))
    return 0; /* the thread already has one (ASan installs its own) */
  ss.ss_size = 64 * 1024;
  ss.ss_sp = gort__os_map(ss.ss_size);
  ss.ss_flags = 0;
  if (!ss.ss_sp)
    return -1;
  if (sigaltstack(&ss, NULL) != 0) {
    gort__os_unmap(ss.ss_sp, ss.ss_size);
    return -1;
  }
  return 1;
}

void gort__os_altstack_free(void)
{
  stack_t ss, off;
  if (sigaltstack(NULL, &ss) != 0 || (ss.ss_flags & SS_DISABLE))
    return;
  memset(&off, 0, sizeof off);
  off.ss_flags = SS_DISABLE;
  if (sigaltstack(&off, NULL) == 0)
    gort__os_unmap(ss.ss_sp, ss.ss_size);
}

void gort__os_die(const char *msg)
{
  size_t n = strlen(msg);
  while (n > 0) {
    ssize_t w = write(2, msg, n);
    if (w <= 0)
      break;
    msg += w;
    n -= (size_t)w;
  }
  abort();
}
