#!/bin/sh
# send-greetings.sh - the job: greets everyone in birthdays.txt whose
# birthday is today. Runs under `dlock run`, which puts the lock's fencing
# token in $DLOCK_TOKEN. "Sending" appends to $OUTBOX (default ./outbox).
set -eu
today=${TODAY:-$(date +%m-%d)}
outbox=${OUTBOX:-./outbox}

while read -r day name; do
    case $day in ''|'#'*) continue ;; esac
    [ "$day" = "$today" ] || continue
    echo "Happy birthday, $name! (sent by ${INSTANCE:-$(hostname)}, token $DLOCK_TOKEN)" >>"$outbox"
done <birthdays.txt

# Keep the lock a while: an instance whose clock or cron runs a little
# late must find it still held, not free after a job that took a second.
sleep "${HOLD_SECONDS:-120}"
