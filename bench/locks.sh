#!/bin/sh
# locks.sh - memory per held lock and per session, and the restart time,
# of one dlockd holding N locks (default 1,000,000):
#   bench/locks.sh [N]
# Run 1: N locks over 10,000 sessions. Run 2: N lease locks (one session
# each). Each run fills a fresh server through `redis-cli --pipe`, reads its
# RSS and state size from INFO, kills it with SIGKILL, restarts it and times
# how long until it serves LOCK.STATUS of the last lock.
set -eu
n=${1:-1000000}
here=$(cd "$(dirname "$0")/.." && pwd)
dlockd=${DLOCKD:-$here/build/dlockd}
dir=$(mktemp -d)
port=$((20000 + $$ % 20000))
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT INT TERM

start() {
    "$dlockd" --listen 127.0.0.1:$port --raft 127.0.0.1:$((port + 1)) \
        --data "$dir/data" >>"$dir/log" 2>&1 &
    pid=$!
}
info() { redis-cli -p $port INFO | tr -d '\r' | sed -n "s/^$1://p"; }

run() { # name, fill command, last lock name
    rm -rf "$dir/data"
    start
    until redis-cli -p $port PING >/dev/null 2>&1; do sleep 0.05; done
    t0=$(date +%s%N)
    sh -c "$2" | redis-cli -p $port --pipe >/dev/null
    t1=$(date +%s%N)
    rss=$(info used_memory_rss); state=$(info state_bytes)
    sessions=$(info sessions); held=$(info held)
    kill -9 $pid; wait $pid 2>/dev/null || true
    t2=$(date +%s%N)
    start
    until redis-cli -p $port LOCK.STATUS "$3" 2>/dev/null | grep -q '^held$'; do
        sleep 0.01
    done
    t3=$(date +%s%N)
    rss2=$(info used_memory_rss)
    kill $pid; wait $pid 2>/dev/null || true; pid=
    echo "| $1 | $held | $sessions | $((rss / 1048576)) MiB | $((rss / held)) B | $((state / held)) B | $(((t1 - t0) / 1000000)) ms | $(((t3 - t2) / 1000000)) ms | $((rss2 / 1048576)) MiB |"
}

echo "| run | held locks | sessions | RSS | RSS per lock | state per lock | fill | restart to serving | RSS after restart |"
echo "|---|---|---|---|---|---|---|---|---|"
run "locks over 10,000 sessions" \
    "python3 '$here/bench/mklocks.py' sessions 10000; python3 '$here/bench/mklocks.py' locks $n 10000 3" \
    "$(printf 'lock:%08d' $((n - 1)))"
run "lease locks" "python3 '$here/bench/mklocks.py' lease $n" \
    "$(printf 'lease:%08d' $((n - 1)))"
