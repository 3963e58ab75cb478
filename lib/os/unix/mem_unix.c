/*
 * mem_unix.c - address space for goroutine stacks.
 *
 * Stacks are reserved with MAP_NORESERVE so a million of them cost address
 * space, not commit charge, and pages appear only when touched. Guard pages
 * prefer MADV_GUARD_INSTALL (Linux 6.13+): it marks page-table entries and
 * never splits the mapping, so a million guarded stacks stay a handful of
 * VMAs. mprotect, the fallback, splits the VMA (two mappings per stack) and
 * so is rationed by the caller against vm.max_map_count.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "os/os.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

void *gort__os_map(size_t len)
{
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

void gort__os_unmap(void *p, size_t len) { munmap(p, len); }

void gort__os_discard(void *p, size_t len)
{
  /* MADV_DONTNEED, not MADV_FREE: the RSS drops at once, which is what a
   * user watching memory after a burst of goroutines expects. */
  madvise(p, len, MADV_DONTNEED);
}

/* Whether the kernel really made p unreadable: a write(2) from it into a
 * pipe fails with EFAULT if so, without a signal. Emulators (qemu-user)
 * answer madvise with success and do nothing; this catches them. */
static int guard_works(void *p)
{
  int fds[2], ok;
  if (pipe2(fds, O_CLOEXEC) != 0)
    return 1; /* cannot tell: trust the kernel */
  ok = write(fds[1], p, 1) < 0 && errno == EFAULT;
  close(fds[0]);
  close(fds[1]);
  return ok;
}

int gort__os_guard(void *p, size_t len, int how)
{
  /* 0 untried, 1 works, 2 unsupported (EINVAL: a kernel before 6.13) */
  static int install_state;
  int st = __atomic_load_n(&install_state, __ATOMIC_ACQUIRE);
  if ((how & GORT__GUARD_INSTALL) && st != 2) {
    if (madvise(p, len, MADV_GUARD_INSTALL) == 0) {
      if (st == 1)
        return 1;
      if (guard_works(p)) {
        __atomic_store_n(&install_state, 1, __ATOMIC_RELEASE);
        return 1;
      }
    }
    __atomic_store_n(&install_state, 2, __ATOMIC_RELEASE);
  }
  if ((how & GORT__GUARD_SPLIT) && mprotect(p, len, PROT_NONE) == 0)
    return 2;
  return 0;
}

size_t gort__os_pagesize(void)
{
  static size_t ps;
  if (!ps)
    ps = (size_t)sysconf(_SC_PAGESIZE);
  return ps;
}

long gort__os_max_map_count(void)
{
  long n = -1;
  FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
  if (f) {
    if (fscanf(f, "%ld", &n) != 1)
      n = -1;
    fclose(f);
  }
  return n;
}
