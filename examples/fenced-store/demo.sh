#!/bin/sh
# demo.sh - why fencing tokens: a lock holder paused past its lease comes
# back after another process took the lock, and the store refuses its write.
#
#   DLOCK_SERVERS=127.0.0.1:7411 ./demo.sh
#
# Needs a running dlock service ($DLOCK_SERVERS, default 127.0.0.1:7411) and
# the dlock tool ($DLOCK, default: dlock on $PATH). Builds fenced-store here
# if it is not built yet. Exits 0 if the late write was refused.
set -eu

DLOCK=${DLOCK:-dlock}
here=$(cd "$(dirname "$0")" && pwd)
store=${FENCED_STORE:-$here/fenced-store}
[ -x "$store" ] || make -s -C "$here" >&2
lock=fenced-demo-$$
dir=$(mktemp -d)
sock=$dir/store.sock
holder=
store_pid=
cleanup() {
    [ -n "$holder" ] && kill -CONT "$holder" 2>/dev/null
    [ -n "$holder" ] && kill "$holder" 2>/dev/null
    [ -n "$store_pid" ] && kill "$store_pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT

"$store" serve "$sock" >"$dir/store.log" &
store_pid=$!
while [ ! -S "$sock" ]; do sleep 0.05; done

# Holder 1 takes a lease lock with a 2s TTL, writes, then works for a while
# and writes again. It never extends the lease.
(
    token=$("$DLOCK" acquire "$lock" --ttl 2s)
    echo "holder 1: got the lock, token $token; writes:" \
        "$("$store" write "$sock" "$token" greeting from holder 1)"
    touch "$dir/wrote"
    sleep 1
    # Paused here (SIGSTOP) for longer than the TTL...
    if reply=$("$store" write "$sock" "$token" greeting late from holder 1); then
        echo "holder 1: resumed, writes with token $token: $reply"
        exit 1
    fi
    echo "holder 1: resumed, writes with token $token: $reply (refused)"
) &
holder=$!
while [ ! -e "$dir/wrote" ]; do sleep 0.05; done

kill -STOP "$holder"
echo "holder 1: paused (SIGSTOP), like a long GC pause or a frozen VM"
sleep 4 # the 2s lease ends, then the 1s lock-delay

# Holder 2 takes the lock: the lease of holder 1 has ended.
"$DLOCK" run --wait 10s "$lock" -- sh -c '
    echo "holder 2: got the lock, token $DLOCK_TOKEN; writes:" \
        "$("$0" write "$1" "$DLOCK_TOKEN" greeting from holder 2)"' \
    "$store" "$sock"

kill -CONT "$holder"
status=0
wait "$holder" || status=$?
holder=
echo "the store holds: $("$store" read "$sock" greeting)"
echo "--- the store's log:"
cat "$dir/store.log"
exit "$status"
