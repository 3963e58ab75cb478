#!/bin/sh
# run.sh - libgort's benchmarks beside their Go twins, measured in one run.
#
#   bench/run.sh [DIR]     (make bench runs: bench/run.sh $(builddir)/bench)
#
# DIR holds the built C programs (spawn rss yield mutex pingpong buffered
# select sleep); default: the directory of this script. The Go twins
# (bench/go/<name>/main.go, next to this script) are built into a temporary
# directory with GO111MODULE=off and a private GOCACHE; no network is used.
# For every figure the gort program and the Go program run alternately,
# BENCH_REPS times each (default 3), and the table shows the best (minimum)
# of each: every figure is a cost, so lower is better (BENCH_STAT=median
# shows the median instead). Ratio is gort / Go; a goal is met when ratio
# <= goal.
#
# Environment:
#   BENCH_REPS=3       runs of each program per figure
#   BENCH_STAT=min     min or median of those runs
#   BENCH_SCALE=1      multiplies every default size (0.1 for a quick look)
#   BENCH_ONLY=regex   only the figures whose label matches (grep -E)
#   BENCH_TIMEOUT=300  seconds before one run is killed (needs timeout(1))
#   BENCH_LOG=file     also keep every raw BENCH line and error there
# Then, unless BENCH_ONLY leaves it out (the regex must match "echo"), it
# runs bench/echo.sh DIR: the echo servers (DIR/../examples/echo_server,
# DIR/epoll_echo, Go's) with their own table; see that script.
# Without a Go toolchain the table has gort figures only. A program that
# fails or times out shows FAIL and its stderr is printed after the table.
set -u

here=$(cd "$(dirname "$0")" && pwd)
cbin=${1:-$here}
case $cbin in /*) ;; *) cbin=$(pwd)/$cbin ;; esac
reps=${BENCH_REPS:-3}
only=${BENCH_ONLY:-}
limit=${BENCH_TIMEOUT:-300}
stat=${BENCH_STAT:-min}
case $stat in min | median) ;; *) echo "run.sh: BENCH_STAT is min or median" >&2; exit 2 ;; esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gort-bench.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
log=$tmp/log
: >"$log"
: >"$tmp/table"
: >"$tmp/errors"

tmo=
if command -v timeout >/dev/null 2>&1; then tmo="timeout $limit"; fi

# ---- the Go twins ---------------------------------------------------------
have_go=0
if command -v go >/dev/null 2>&1; then
  have_go=1
  for b in spawn rss yield mutex pingpong buffered select sleep; do
    if ! (cd "$here/go/$b" &&
          GO111MODULE=off GOFLAGS='' GOPATH=$tmp/gopath GOCACHE=$tmp/gocache \
          go build -o "$tmp/go_$b" .) >"$tmp/gobuild" 2>&1; then
      echo "run.sh: building bench/go/$b failed:" >&2
      cat "$tmp/gobuild" >&2
      have_go=0
    fi
  done
  echo "# $(go version)"
else
  echo "# no Go toolchain (go not in PATH): gort figures only"
fi
echo "# gort programs from $cbin; $stat of $reps runs each, alternating"
echo "# $(uname -srm), $(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?') CPUs"

# ---- one run ----------------------------------------------------------------
# run PROCS NAME KEY OUTFILE CMD...: runs CMD with the Ps fixed (PROCS=dflt
# leaves both runtimes to pick), appends its output to the log, and writes
# "value procs" of the line BENCH name=NAME to OUTFILE, or "FAIL(rc) ?".
# Its variables are r_*: sh has no locals, and figure() uses the plain names.
run() {
  r_procs=$1 r_name=$2 r_key=$3 r_out=$4
  shift 4
  if [ ! -x "$1" ]; then
    echo "missing ?" >"$r_out"
    return
  fi
  if [ "$r_procs" = dflt ]; then
    (unset GORT_MAXPROCS GOMAXPROCS; exec $tmo "$@") >"$tmp/out" 2>"$tmp/err"
  else
    GORT_MAXPROCS=$r_procs GOMAXPROCS=$r_procs $tmo "$@" >"$tmp/out" 2>"$tmp/err"
  fi
  rc=$?
  cat "$tmp/out" >>"$log"
  if [ $rc -ne 0 ]; then
    [ $rc -eq 124 ] && echo "(timed out after ${limit}s)" >>"$tmp/err"
    {
      echo "== $* (procs=$r_procs) exited with $rc:"
      tail -n 20 "$tmp/err"
    } >>"$tmp/errors"
    echo "FAIL($rc) ?" >"$r_out"
    return
  fi
  awk -v name="$r_name" -v key="$r_key" '
    $1 == "BENCH" && index($0, " name=" name " ") {
      v = "?"; p = "?"
      for (i = 2; i <= NF; i++) {
        split($i, kv, "=")
        if (kv[1] == key) v = kv[2]
        if (kv[1] == "procs") p = kv[2]
      }
      print v, p; found = 1; exit
    }
    END { if (!found) print "noline ?" }' "$tmp/out" >"$r_out"
}

# pick VALUES...: the min or median (BENCH_STAT) of the numeric VALUES; if
# none is a number (FAIL, missing), the last of them.
pick() {
  printf '%s\n' "$@" | awk -v stat="$stat" '
    /^[0-9.]+$/ { v[n++] = $0 + 0; next }
    { other = $0 }
    END {
      if (n == 0) { print other; exit }
      for (i = 1; i < n; i++)           # insertion sort: n is small
        for (j = i; j > 0 && v[j] < v[j - 1]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
      if (stat == "min") x = v[0]
      else x = (n % 2) ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2
      print x
    }'
}

# ---- one figure ---------------------------------------------------------------
# figure LABEL PROCS NAME KEY GOAL "GORT ARGS" "GO ARGS"
figure() {
  label=$1 procs=$2 name=$3 key=$4 goal=$5 cargs=$6 gargs=$7
  if [ -n "$only" ] && ! echo "$label" | grep -Eq -- "$only"; then return; fi
  prog=${name%%_*}
  vals_c='' vals_g='' p_c='?' p_g='?'
  i=0
  while [ $i -lt "$reps" ]; do
    # shellcheck disable=SC2086 # the argument strings are word lists
    run "$procs" "$name" "$key" "$tmp/rc" "$cbin/$prog" $cargs
    read -r v p <"$tmp/rc"
    vals_c="$vals_c $v"
    [ "$p" != "?" ] && p_c=$p
    if [ $have_go = 1 ]; then
      gname=$name
      [ "$name" = spawn_join ] && gname=spawn_wg
      # shellcheck disable=SC2086
      run "$procs" "$gname" "$key" "$tmp/rg" "$tmp/go_$prog" $gargs
      read -r v p <"$tmp/rg"
      vals_g="$vals_g $v"
      [ "$p" != "?" ] && p_g=$p
    fi
    i=$((i + 1))
  done
  # shellcheck disable=SC2086 # the value lists are word lists
  best_c=$(pick $vals_c)
  # shellcheck disable=SC2086
  best_g=$(pick ${vals_g:--})
  printf '%s\t%s/%s\t%s\t%s\t%s\t%s\n' "$label" "$p_c" "$p_g" "$key" \
    "$best_c" "$best_g" "$goal" >>"$tmp/table"
  printf '  %-28s gort=%s go=%s\n' "$label" "$best_c" "$best_g"
}

#      label                      procs name               key         goal gort args      go args
figure "spawn_wg"                 dflt  spawn_wg           ns_per_op   0.3  "wg"           "wg"
figure "spawn_join"               dflt  spawn_join         ns_per_op   0.3  "join"         "wg"
figure "spawn_wg P=1"             1     spawn_wg           ns_per_op   0.3  "wg"           "wg"
figure "spawn_join P=1"           1     spawn_join         ns_per_op   0.3  "join"         "wg"
figure "rss_wg (blocked G)"       dflt  rss_wg             bytes_per_g 1.5  "wg"           "wg"
figure "yield P=1"                1     yield              ns_per_op   0.3  ""             ""
figure "mutex_uncontended"        dflt  mutex_uncontended  ns_per_op   1.0  "uncontended"  "uncontended"
figure "mutex_contended G=4"      dflt  mutex_contended    ns_per_op   1.0  "contended 4"  "contended 4"
figure "mutex_contended G=4 P=1"  1     mutex_contended    ns_per_op   1.0  "contended 4"  "contended 4"
figure "pingpong P=1"             1     pingpong           ns_per_op   0.5  ""             ""
figure "pingpong P=2"             2     pingpong           ns_per_op   0.5  ""             ""
figure "buffered cap=1024"        dflt  buffered           ns_per_op   0.7  ""             ""
figure "buffered cap=1024 P=1"    1     buffered           ns_per_op   0.7  ""             ""
figure "select 4 recv"            dflt  select             ns_per_op   1.0  ""             ""
figure "select 4 recv P=1"        1     select             ns_per_op   1.0  ""             ""
figure "select 4 recv cap=128"    dflt  select             ns_per_op   1.0  "128"          "128"
# sleep: N is part of the figure (lateness grows with it), so not scaled.
figure "sleep N=1e4 (lateness)"   dflt  sleep              p99_us      0.5  "1e4"          "1e4"
figure "sleep N=1e5 (lateness)"   dflt  sleep              p99_us      0.5  "1e5"          "1e5"

# ---- the table ----------------------------------------------------------------
echo
awk -F '\t' -v have_go="$have_go" '
  BEGIN {
    fmt = "%-26s %-7s %-12s %10s %10s %8s %7s %s\n"
    printf fmt, "figure", "procs", "unit", "gort", "go", "ratio", "goal", "met"
  }
  {
    c = $4; g = $5; ratio = "-"; met = "-"
    if (c ~ /^[0-9.]+$/ && g ~ /^[0-9.]+$/ && g + 0 > 0) {
      ratio = sprintf("%.2f", c / g)
      met = (c / g <= $6 + 0) ? "yes" : "NO"
    } else if (c !~ /^[0-9.]+$/) {
      met = "no figure"
    } else if (!have_go) {
      met = "no go"
    }
    printf fmt, $1, $2, $3, c, g, ratio, "<=" $6 "x", met
  }' "$tmp/table"
echo "# procs is gort/go as the programs reported; each figure is the $stat of $reps runs."

if [ -s "$tmp/errors" ]; then
  echo
  echo "# failures:"
  cat "$tmp/errors"
fi
if [ -n "${BENCH_LOG:-}" ]; then
  { cat "$log"; cat "$tmp/errors"; } >"$BENCH_LOG"
fi

# ---- the echo servers (bench/echo.sh: its own table) --------------------------
if [ -z "$only" ] || echo echo | grep -Eq -- "$only"; then
  echo
  sh "$here/echo.sh" "$cbin"
fi
exit 0
