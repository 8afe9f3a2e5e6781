#!/bin/sh
# nightly.sh - what cron runs on every instance of the service: the one that
# gets the lock sends today's birthday greetings, the others do nothing.
cd "$(dirname "$0")" || exit 1
DLOCK=${DLOCK:-dlock}
now() { date '+%Y-%m-%d %H:%M:%S'; }

"$DLOCK" run --no-wait --ttl 30s birthday-greetings -- ./send-greetings.sh
status=$?
case $status in
0)  echo "$(now) ${INSTANCE:-$(hostname)}: greetings sent" ;;
75) echo "$(now) ${INSTANCE:-$(hostname)}: another instance holds the lock; nothing to do"
    status=0 ;;
*)  echo "$(now) ${INSTANCE:-$(hostname)}: failed with exit code $status (docs/cli.md)" ;;
esac
exit $status
