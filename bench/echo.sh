#!/bin/sh
# echo.sh - libgort's TCP echo server beside Go's and a hand-written epoll
# one, measured with the shared load tool in one run.
#
#   bench/echo.sh [DIR]     (bench/run.sh runs: bench/echo.sh $(builddir)/bench)
#
# DIR holds the built bench programs (epoll_echo); the libgort server is
# DIR/../examples/echo_server. Default DIR: the directory of this script.
# The Go server (bench/go/echo) is built into a temporary directory with
# GO111MODULE=off and a private GOCACHE; no network is used.
#
# Every server is driven by $ECHO_TOOLS/echo_measure.sh (64-byte messages,
# closed loop, the shared echo_client), which prints one line
#   ECHO name=... conns=... rt_per_s=... server_us_per_rt=...
# server_us_per_rt is the server's own CPU time per round trip. The client
# and the server share this machine's cores, so fast servers all saturate
# the client near the same rt/s: CPU per round trip is the figure that tells
# them apart, as a ratio measured in the same run.
#
# Goals (gort / reference): CPU per round trip <= 0.9x Go's at P=1 and at
# P=2; at P=1 <= 1.1x the epoll server's; rt/s >= Go's (ratio >= 1.0) at
# P=1 and at P=2.
#
# Environment:
#   ECHO_TOOLS=<repo>/../shared/bench   where echo_measure.sh lives
#   ECHO_SECONDS=2     length of one measurement
#   ECHO_REPS=5        rounds per conns; each round measures every server
#                      once, in the opposite order to the round before
#
# How the ratios are made. This machine drifts between a fast and a slow
# state (the same server's CPU per round trip moves by 25% from one minute
# to the next), so a ratio of two figures taken minutes apart measures the
# drift as much as the servers. Each round measures all five servers back
# to back, and the rounds alternate their order (forward, backward, ...),
# so a steady drift favours neither side. A goal's ratio is the median over
# rounds of gort / reference within the round. The first table still shows
# each server's best figure over all rounds, and the goal table shows the
# best-over-best ratio beside the paired one for comparison.
#   ECHO_CONNS="100 1000"
# Without echo_measure.sh it says so and exits 0 ("skipped").
set -u

here=$(cd "$(dirname "$0")" && pwd)
cbin=${1:-$here}
case $cbin in /*) ;; *) cbin=$(pwd)/$cbin ;; esac
tools=${ECHO_TOOLS:-$here/../../shared/bench}
secs=${ECHO_SECONDS:-2}
reps=${ECHO_REPS:-5}
conns_list=${ECHO_CONNS:-100 1000}

echo "# echo: TCP echo servers, 64-byte messages, closed loop"
if [ ! -f "$tools/echo_measure.sh" ]; then
  echo "echo.sh: no echo_measure.sh in $tools (set ECHO_TOOLS): skipped"
  exit 0
fi
if ! command -v bash >/dev/null 2>&1; then
  echo "echo.sh: echo_measure.sh needs bash: skipped"
  exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gort-echo.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
: >"$tmp/results"

# The tool builds its client next to itself; if it cannot, build it here.
if [ -z "${ECHO_CLIENT:-}" ] && [ ! -x "$tools/echo_client" ] &&
  [ ! -w "$tools" ]; then
  ECHO_CLIENT=$tmp/echo_client
  export ECHO_CLIENT
fi

gort=$cbin/../examples/echo_server
epoll=$cbin/epoll_echo
goecho=
if command -v go >/dev/null 2>&1; then
  if (cd "$here/go/echo" &&
    GO111MODULE=off GOFLAGS='' GOPATH=$tmp/gopath GOCACHE=$tmp/gocache \
      go build -o "$tmp/go_echo" .) >"$tmp/gobuild" 2>&1; then
    goecho=$tmp/go_echo
    echo "# $(go version)"
  else
    echo "echo.sh: building bench/go/echo failed:" >&2
    cat "$tmp/gobuild" >&2
  fi
else
  echo "# no Go toolchain (go not in PATH): no Go figures"
fi
echo "# ${secs}s per measurement, $reps round(s); $(uname -srm)," \
  "$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?') CPUs"

# measure NAME CONNS PROGRAM COMMAND...: one echo_measure.sh run of COMMAND
# (which runs PROGRAM); its ECHO line is printed and kept, a failure is
# printed and leaves no figure.
measure() {
  m_name=$1 m_conns=$2 m_prog=$3
  shift 3
  if [ ! -x "$m_prog" ]; then
    echo "$m_name conns=$m_conns: missing $m_prog"
    return
  fi
  bash "$tools/echo_measure.sh" "$m_name" "$m_conns" "$secs" "$@" \
    >"$tmp/out" 2>&1
  cat "$tmp/out"
  grep '^ECHO ' "$tmp/out" | sed "s/\$/ round=$round/" >>"$tmp/results"
}

# one NAME CONNS: measures server NAME once
one() {
  case $1 in
  gort-p1) measure gort-p1 "$2" "$gort" "$gort" -p 1 -a 127.0.0.1:PORT ;;
  gort-p2) measure gort-p2 "$2" "$gort" "$gort" -p 2 -a 127.0.0.1:PORT ;;
  go-p1) [ -z "$goecho" ] ||
    measure go-p1 "$2" "$goecho" env GOMAXPROCS=1 "$goecho" PORT ;;
  go-p2) [ -z "$goecho" ] ||
    measure go-p2 "$2" "$goecho" env GOMAXPROCS=2 "$goecho" PORT ;;
  epoll) measure epoll "$2" "$epoll" "$epoll" PORT ;;
  esac
}

for c in $conns_list; do
  i=0
  while [ $i -lt "$reps" ]; do
    if [ $((i % 2)) -eq 0 ]; then
      order="gort-p1 go-p1 epoll gort-p2 go-p2"
    else
      order="go-p2 gort-p2 epoll go-p1 gort-p1"
    fi
    round=$i
    for n in $order; do one "$n" "$c"; done
    i=$((i + 1))
  done
done

# ---- the table ----------------------------------------------------------------
echo
awk -v conns_list="$conns_list" '
  function field(k,   i, kv) {
    for (i = 2; i <= NF; i++) {
      split($i, kv, "=")
      if (kv[1] == k) return kv[2]
    }
    return ""
  }
  {
    c = field("conns"); name = field("name"); r = field("round")
    key = c SUBSEP name
    us = field("server_us_per_rt") + 0; rps = field("rt_per_s") + 0
    if (!(key in bus) || us < bus[key]) bus[key] = us
    if (!(key in brps) || rps > brps[key]) brps[key] = rps
    rus[key, r] = us; rrps[key, r] = rps; rounds[c, r] = 1
  }
  # median of the per-round ratios val[a]/val[b] (val: rus or rrps);
  # sets npaired; "" when no round has both
  function paired(c, a, b, isus,   r, k, n, x, i, j, t) {
    n = 0
    for (k in rounds) {
      split(k, kk, SUBSEP)
      if (kk[1] != c) continue
      r = kk[2]
      if (isus) {
        if (!((c SUBSEP a SUBSEP r) in rus) || !((c SUBSEP b SUBSEP r) in rus)) continue
        if (rus[c SUBSEP b SUBSEP r] <= 0) continue
        x[++n] = rus[c SUBSEP a SUBSEP r] / rus[c SUBSEP b SUBSEP r]
      } else {
        if (!((c SUBSEP a SUBSEP r) in rrps) || !((c SUBSEP b SUBSEP r) in rrps)) continue
        if (rrps[c SUBSEP b SUBSEP r] <= 0) continue
        x[++n] = rrps[c SUBSEP a SUBSEP r] / rrps[c SUBSEP b SUBSEP r]
      }
    }
    npaired = n
    if (n == 0) return ""
    for (i = 2; i <= n; i++)
      for (j = i; j > 1 && x[j - 1] > x[j]; j--) {
        t = x[j]; x[j] = x[j - 1]; x[j - 1] = t
      }
    return (n % 2) ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
  }
  # goal LABEL CONNS GORT REF LIM ISUS: met if the paired ratio is <= LIM
  # (CPU per round trip) or >= LIM (rt/s)
  function goal(label, c, a, b, lim, isus,   m, best, ok, ga, gb) {
    m = paired(c, a, b, isus)
    if (m == "") {
      printf gfmt, c, label, "-", "-", "-", "-", (isus ? "<=" : ">=") lim "x", "no figure"
      return
    }
    if (isus) {
      ga = sprintf("%.2f", bus[c SUBSEP a]); gb = sprintf("%.2f", bus[c SUBSEP b])
      best = bus[c SUBSEP a] / bus[c SUBSEP b]; ok = (m <= lim)
    } else {
      ga = brps[c SUBSEP a]; gb = brps[c SUBSEP b]
      best = brps[c SUBSEP a] / brps[c SUBSEP b]; ok = (m >= lim)
    }
    printf gfmt, c, label, ga, gb, sprintf("%.2f", best),
      sprintf("%.2f (%d)", m, npaired), (isus ? "<=" : ">=") lim "x",
      (ok ? "yes" : "NO")
  }
  END {
    n = split(conns_list, cl, " ")
    split("gort-p1 gort-p2 go-p1 go-p2 epoll", names, " ")
    fmt = "%-6s %-8s %10s %17s\n"
    printf fmt, "conns", "server", "rt_per_s", "server_us_per_rt"
    for (i = 1; i <= n; i++)
      for (j = 1; j <= 5; j++) {
        k = cl[i] SUBSEP names[j]
        printf fmt, cl[i], names[j], (k in brps) ? brps[k] : "-",
          (k in bus) ? sprintf("%.2f", bus[k]) : "-"
      }
    print ""
    gfmt = "%-6s %-22s %9s %9s %6s %10s %7s %s\n"
    printf gfmt, "conns", "goal", "gort", "ref", "best", "paired", "goal", "met"
    for (i = 1; i <= n; i++) {
      c = cl[i]
      goal("us/rt gort-p1 / go-p1", c, "gort-p1", "go-p1", 0.9, 1)
      goal("us/rt gort-p2 / go-p2", c, "gort-p2", "go-p2", 0.9, 1)
      goal("us/rt gort-p1 / epoll", c, "gort-p1", "epoll", 1.1, 1)
      goal("rt/s gort-p1 / go-p1", c, "gort-p1", "go-p1", 1.0, 0)
      goal("rt/s gort-p2 / go-p2", c, "gort-p2", "go-p2", 1.0, 0)
    }
  }' "$tmp/results"
echo "# us/rt: server CPU microseconds per round trip (lower is better)." \
  "gort, ref: best of $reps round(s);"
echo "# best: their ratio; paired: median over rounds of the ratio within" \
  "one round (rounds in brackets), which decides the goal."
exit 0
