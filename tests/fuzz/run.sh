#!/bin/sh
# run.sh BUILDDIR SECONDS - builds tests/fuzz/fuzz_addr.c with libFuzzer,
# ASan and UBSan and runs it for SECONDS (default 20) from a small seed
# corpus. BUILDDIR is a configured, built tree with the shared library
# (lib/.libs/libgort.so): addr.c is compiled in directly, but it calls
# gort_* functions. Exits non-zero if the fuzzer finds a crash; the input
# that caused it is kept as BUILDDIR/fuzz-crash-*.
#
# CC (default clang) must have libFuzzer (clang's compiler-rt).
set -eu

if [ $# -lt 1 ]; then
  echo "usage: $0 BUILDDIR [SECONDS]" >&2
  exit 2
fi
BUILDDIR=$(cd "$1" && pwd)
SECONDS_=${2:-20}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
CC=${CC:-clang}
LIBDIR=$BUILDDIR/lib/.libs

if [ ! -e "$LIBDIR/libgort.so" ]; then
  echo "$0: $LIBDIR/libgort.so not found (build BUILDDIR with shared libraries)" >&2
  exit 2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fuzz_addr.XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM

"$CC" -g -O1 -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=undefined \
  -I"$SRC/include" -I"$SRC/lib" -I"$BUILDDIR" \
  "$SRC/lib/net/addr.c" "$SRC/tests/fuzz/fuzz_addr.c" \
  -o "$WORK/fuzz_addr" -L"$LIBDIR" -lgort -Wl,-rpath,"$LIBDIR"

# Seeds: "network\naddress" covering every branch the parser has.
mkdir "$WORK/corpus"
i=0
seed() {
  i=$((i + 1))
  printf '%s' "$1" >"$WORK/corpus/seed$i"
}
seed 'tcp
127.0.0.1:80'
seed 'tcp
[::1]:8080'
seed 'tcp6
[fe80::1%lo]:443'
seed 'udp6
[fe80::1%1]:53'
seed 'tcp
:0'
seed 'tcp4
[::ffff:1.2.3.4]:1'
seed 'udp
[2001:db8:0:0:1:0:0:1]:65535'
seed 'tcp
localhost:http'
seed 'tcp
[localhost%lo0]:80'
seed 'tcp
127.0.0.1:+0080'
seed 'tcp
[foo]:[bar]baz'
seed 'unix
/tmp/gort.sock'
seed 'unixgram
@abstract'
seed 'unix
'
seed 'tcp9
[::]:'

# Tokens the grammar is made of.
cat >"$WORK/dict" <<'DICT'
"tcp"
"tcp4"
"tcp6"
"udp"
"unix"
"unixgram"
"["
"]"
":"
"::"
"%"
"%lo"
"@"
"::ffff:"
"127.0.0.1"
"65535"
"65536"
"http"
"\x0a"
DICT

status=0
"$WORK/fuzz_addr" -max_total_time="$SECONDS_" -timeout=10 -rss_limit_mb=1024 \
  -max_len=512 -dict="$WORK/dict" -artifact_prefix="$BUILDDIR/fuzz-crash-" \
  -print_final_stats=1 "$WORK/corpus" || status=$?
if [ "$status" -ne 0 ]; then
  echo "$0: fuzz_addr failed (status $status); inputs: $BUILDDIR/fuzz-crash-*" >&2
fi
exit "$status"
