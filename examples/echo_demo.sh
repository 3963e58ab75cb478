#!/bin/sh
# shellcheck disable=SC3045 # ulimit -n and -H: dash and bash both have them
# echo_demo.sh [DIR] - the echo server driven by the load client; ends by
# itself. `make demo` runs it as: echo_demo.sh $(builddir)/examples
#
# DIR holds echo_server and echo_client (default: this script's directory).
# Starts echo_server -n CONNS on 127.0.0.1:0, reads its "listening on" line
# for the address, runs echo_client with CONNS connections for SECONDS, and
# waits for the server to exit by itself once every connection has closed.
# Exits non-zero if either program fails, the client saw a wrong echo, or
# the server does not finish in time.
#
#   ECHO_DEMO_CONNS=1000   connections (fewer if the fd limit is too low)
#   ECHO_DEMO_SECONDS=2    length of the client's run
set -u

dir=${1:-$(dirname "$0")}
conns=${ECHO_DEMO_CONNS:-1000}
secs=${ECHO_DEMO_SECONDS:-2}
server=$dir/echo_server
client=$dir/echo_client
for p in "$server" "$client"; do
  [ -x "$p" ] || { echo "echo_demo: $p is not built" >&2; exit 1; }
done

# Each side needs a descriptor per connection; ask for two per connection
# and some slack, and with a low hard limit run fewer connections.
slack=64
need=$((2 * conns + slack))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
  if ! ulimit -n "$need" 2>/dev/null; then
    hard=$(ulimit -Hn)
    [ "$hard" = unlimited ] || ulimit -n "$hard" 2>/dev/null || true
    fit=$((($(ulimit -n) - slack) / 2))
    if [ "$fit" -lt 1 ]; then
      echo "echo_demo: 'ulimit -n' is $(ulimit -n): too low" >&2
      exit 1
    fi
    echo "echo_demo: 'ulimit -n' is at most $(ulimit -n): $fit connections" \
      "instead of $conns"
    conns=$fit
  fi
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gort-echo-demo.XXXXXX") || exit 1
spid=
cleanup() {
  [ -n "$spid" ] && kill "$spid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "echo demo: echo_server -n $conns, echo_client -c $conns -d $secs"
"$server" -n "$conns" -a 127.0.0.1:0 >"$tmp/server.out" &
spid=$!

# the address, from the server's first line (it flushes it at once)
addr=
i=0
while [ $i -lt 100 ]; do
  addr=$(sed -n 's/^listening on //p' "$tmp/server.out")
  [ -n "$addr" ] && break
  if ! kill -0 "$spid" 2>/dev/null; then
    wait "$spid"
    echo "echo_demo: echo_server exited with $? before listening" >&2
    spid=
    exit 1
  fi
  sleep 0.1
  i=$((i + 1))
done
if [ -z "$addr" ]; then
  echo "echo_demo: echo_server printed no address in 10 s" >&2
  exit 1
fi
echo "echo_server: listening on $addr"

tmo=
command -v timeout >/dev/null 2>&1 && tmo="timeout $((secs + 60))"
$tmo "$client" -c "$conns" -d "$secs" "$addr"
crc=$?
[ $crc -eq 0 ] || echo "echo_demo: echo_client exited with $crc" >&2

# the server ends by itself once all its connections have closed
i=0
while kill -0 "$spid" 2>/dev/null && [ $i -lt 100 ]; do
  sleep 0.1
  i=$((i + 1))
done
if kill -0 "$spid" 2>/dev/null; then
  echo "echo_demo: echo_server still running 10 s after the client ended" >&2
  exit 1
fi
wait "$spid"
src=$?
spid=
if [ $src -ne 0 ]; then
  echo "echo_demo: echo_server exited with $src" >&2
  exit 1
fi
[ $crc -eq 0 ] || exit 1
echo "echo demo: ok"
