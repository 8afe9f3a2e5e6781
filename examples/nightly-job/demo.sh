#!/bin/sh
# demo.sh - three instances run the nightly job at the same moment; exactly
# one sends the greetings.
#
#   DLOCK_SERVERS=127.0.0.1:7411 ./demo.sh
#
# Needs a running dlock service and the dlock tool ($DLOCK, default dlock on
# $PATH). Exits 0 if the greetings went out exactly once.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export OUTBOX="$dir/outbox" TODAY=12-09 HOLD_SECONDS=2

for i in 1 2 3; do
    INSTANCE=instance-$i "$here/nightly.sh" >"$dir/log-$i" 2>&1 &
done
wait
cat "$dir"/log-*
echo "--- outbox:"
cat "$OUTBOX"
sent=$(cat "$dir"/log-* | grep -c 'greetings sent' || true)
greetings=$(wc -l <"$OUTBOX")
echo "--- $sent instance sent, $greetings greeting in the outbox"
[ "$sent" -eq 1 ] && [ "$greetings" -eq 1 ]
