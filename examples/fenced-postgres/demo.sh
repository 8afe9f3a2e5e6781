#!/bin/sh
# demo.sh - a lock holder paused past its lease comes back after another
# worker took the lock and wrote, and PostgreSQL refuses its late write:
# the fencing token is checked in the UPDATE itself (worker.py).
#
#   ./demo.sh
#
# Starts, in a temporary directory, a dlockd ($DLOCKD, default the
# repository's build/dlockd) and a PostgreSQL of Debian's postgresql
# package (run as the postgres user when started as root), then worker A,
# which takes the lock and writes; pauses it (SIGSTOP) past its 1 s lease;
# runs worker B, which takes the lock and writes; resumes A. Shows the row,
# stops everything by its pid. Exits 0 if A's late write was refused.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
DLOCKD=${DLOCKD:-$here/../../build/dlockd}
PYTHON=${PYTHON:-python3}
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$pgbin" ] || { echo "demo: no PostgreSQL (apt-get install postgresql)" >&2; exit 2; }
work=$(mktemp -d)
dlockd_pid= a_pid= pg_started=
as_pg=
cleanup() {
    [ -n "$a_pid" ] && kill -CONT "$a_pid" 2>/dev/null
    [ -n "$a_pid" ] && kill "$a_pid" 2>/dev/null
    [ -n "$dlockd_pid" ] && kill "$dlockd_pid" 2>/dev/null && wait "$dlockd_pid" 2>/dev/null
    [ -n "$pg_started" ] && $as_pg "$pgbin/pg_ctl" -D "$work/pg" -m fast -w stop >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# PostgreSQL, on a Unix socket in the temporary directory only.
cd "$work" # a directory the postgres user may enter
if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$work"
    as_pg="runuser -u postgres --"
fi
$as_pg "$pgbin/initdb" -D "$work/pg" -A trust -U postgres >"$work/initdb.log" 2>&1
pgport=$(free_port)
$as_pg "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w \
    -o "-c listen_addresses='' -k $work -p $pgport" start >/dev/null
pg_started=1
export PGHOST="$work" PGPORT="$pgport" PGUSER=postgres PGDATABASE=postgres
psql -X -q -v ON_ERROR_STOP=1 -f "$here/schema.sql"

# dlockd: one server, its data in the temporary directory.
port=$(free_port)
"$DLOCKD" --listen "127.0.0.1:$port" --data "$work/dlock" >"$work/dlockd.log" 2>&1 &
dlockd_pid=$!
export DLOCK_SERVERS="127.0.0.1:$port"
until "$PYTHON" -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; do
    sleep 0.05
done

# Worker A: a 1 s lease; writes, then is paused before its second write.
"$PYTHON" "$here/worker.py" A --ttl 1 --writes 2 --every 1 >"$work/a.out" &
a_pid=$!
until grep -q "wrote" "$work/a.out"; do sleep 0.05; done
kill -STOP "$a_pid"
cat "$work/a.out"
shown=$(wc -l <"$work/a.out")
echo "A: paused (SIGSTOP), like a long GC pause, past its lease"
sleep 3 # the lease ends, then the lock-delay

"$PYTHON" "$here/worker.py" B --writes 1
kill -CONT "$a_pid"
echo "A: resumed"
rc=0
wait "$a_pid" || rc=$?
a_pid=
tail -n "+$((shown + 1))" "$work/a.out"
psql -X -A -t -c "SELECT 'row: fence ' || fence || ', entries ' || array_to_string(entries, ' ') FROM ledger"
[ "$rc" -eq 3 ] && echo "the late write was refused" && exit 0
echo "the late write was NOT refused" && exit 1
