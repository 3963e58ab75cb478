#!/bin/sh
# tests/kqueue/check.sh SRCDIR BUILDDIR
#
# Syntax-checks the kqueue backend on a system without kqueue (Linux CI),
# against the declaration-only tests/kqueue/sys/event.h. BUILDDIR holds the
# configured config.h. Checks the full interface first, then the fallbacks
# (-DGORT_KQCHECK_BARE: no EVFILT_USER, no EV_RECEIPT, intptr_t udata),
# then the fd -> cookie table that 32-bit platforms use (-DCOOKIE_TABLE).
# Exits with the compiler's status.
set -u
if [ $# -ne 2 ]; then
  echo "usage: $0 SRCDIR BUILDDIR" >&2
  exit 2
fi
src=$1
build=$2
cc=${CC:-cc}
for extra in "" -DGORT_KQCHECK_BARE -DCOOKIE_TABLE; do
  # shellcheck disable=SC2086 # $extra is one word or none
  $cc -std=gnu11 -Wall -Wextra -Werror -fsyntax-only $extra \
    -I "$src/tests/kqueue" -I "$src/include" -I "$src/lib" -I "$build" \
    "$src/lib/os/unix/netpoll_kqueue.c" || exit $?
done
exit 0
