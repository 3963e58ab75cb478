/*
 * thread_posix.c - OS threads for Ms, sysmon, lanes and the blocking pool.
 *
 * Runtime threads block every asynchronous signal: a signal meant for the
 * application must be delivered to one of its own threads, never to an M in
 * the middle of a context switch. Synchronous faults (SIGSEGV, SIGBUS) stay
 * deliverable so a stack overflow is reported.
 */
#include "config.h"

#include <time.h>

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(HAVE_SYS_PRCTL_H)
#include <sys/prctl.h>
#endif

#include "gort.h"
#include "os/os.h"

int gort__os_thread_start(gort__os_thread *t, void *(*fn)(void *), void *arg)
{
  pthread_attr_t attr;
  sigset_t all, old;
  pthread_t th;
  int r;

  pthread_attr_init(&attr);
  /* g0 stacks run the scheduler and timer callbacks only: 256 KiB is ample
   * and keeps the virtual size of many Ms small. */
  pthread_attr_setstacksize(&attr, 256 * 1024);
  sigfillset(&all);
  sigdelset(&all, SIGSEGV);
  sigdelset(&all, SIGBUS);
  sigdelset(&all, SIGFPE);
  sigdelset(&all, SIGILL);
  sigdelset(&all, SIGABRT);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  r = pthread_create(&th, &attr, fn, arg);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  if (r != 0)
    return r == ENOMEM ? GORT_ENOMEM : GORT_EAGAIN;
  t->h = (uintptr_t)th;
  return 0;
}

int gort__os_thread_join(gort__os_thread t)
{
  return pthread_join((pthread_t)t.h, NULL) == 0 ? 0 : GORT_EINVAL;
}

void gort__os_thread_name(const char *name)
{
#if defined(HAVE_SYS_PRCTL_H) && defined(PR_SET_NAME)
  prctl(PR_SET_NAME, name, 0, 0, 0);
#else
  (void)name;
#endif
}

int gort__os_ncpu(void)
{
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0)
      return n;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

void gort__os_yield(void) { sched_yield(); }

/* At least ns; the kernel's timer slack (50 us by default on Linux) may
 * stretch it, as it does Go's usleep. An interrupted sleep just ends. */
void gort__os_usleep(int64_t ns)
{
  struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
  nanosleep(&ts, NULL);
}

void gort__os_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield" ::: "memory");
#else
  __asm__ __volatile__("" ::: "memory");
#endif
}

const char *gort__os_getenv(const char *name) { return getenv(name); }
