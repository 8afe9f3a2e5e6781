#!/bin/sh
# check-deps.sh - checks that scripts/deps.sh installs all that the build,
# the tests and the CI checks need, on a Debian 12 machine with only its
# base system and a compiler. Needs root, debootstrap and Debian's package
# mirror; not run by CI. It takes about 2 GB of disk and 4-6 minutes on 2
# cores (7-9 with CHECK_FULL=1, CHECK_BENCH=1).
#
#   sh scripts/check-deps.sh [user|root]
#
# It makes a `debootstrap --variant=minbase bookworm` root in a new
# directory under $CHECK_DIR (default /var/tmp), with apt sources for
# bookworm, bookworm-updates and bookworm-security, adds gcc (the compiler)
# and sudo, a user "dev" who may sudo without a password, and clones this
# repository's HEAD into it (commit what is to be checked). Each command
# runs in the root as its file system root (see enter below). As dev (the
# default) or as root, with a bare environment (no LANG, no terminal), the
# README's set-up:
#   1. ./start.sh               deps.sh installs what is missing (the list
#      is printed), dlockd is built and serves: redis-cli PING
#   2. sh scripts/deps.sh       once more: it must print nothing (it takes
#      about 0.1 s then)
#   3. make -j2 WERROR=1 all, make format-check
#   4. make -j2 unit            unit tests and scripted simulator scenarios
#   5. a unit test built with SANITIZE=address,undefined, and a fuzz
#      target built with clang (-fsanitize=fuzzer) run for 1,000 inputs
#   6. make -j2 system SYSTEM_ARGS="$CHECK_SYSTEM" (default: a few tests
#      of one server, a cluster, a partition, the CLI and the bench tool)
#   7. as root only: make faults DURATION=30
# CHECK_BENCH=1 adds `deps.sh bench` and test_bench's run of the bench tool
# against Redis, etcd and ZooKeeper (which it skips when they are missing).
# CHECK_FULL=1 adds the README's second command, ./test.sh, whole (about
# 2.5 minutes more). As root, steps 6, 7 and ./test.sh run in a network
# namespace of their own (unshare -n), so that their nftables rules stay out
# of the host's. Each step prints its time; the script stops at the first
# failure. On exit, even a failed one, every process left in the root is
# killed (its mounts go with them) and the root is deleted (CHECK_KEEP=1
# keeps it).
# The mirror is the first Debian one in /etc/apt/sources.list* (or $MIRROR).
set -eu
mode=${1:-user}
case $mode in user | root) ;; *) echo "usage: $0 [user|root]" >&2; exit 2 ;; esac
[ "$(id -u)" -eq 0 ] || { echo "check-deps: needs root" >&2; exit 2; }
command -v debootstrap >/dev/null || { echo "check-deps: needs debootstrap (apt-get install debootstrap)" >&2; exit 2; }
repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${MIRROR:-}" ]; then
    MIRROR=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
        /etc/apt/sources.list.d/*.sources 2>/dev/null |
        sed -n 's,^\(URIs:\|deb\)[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([a-z]\+://[^[:space:]]*/debian\)/\?\([[:space:]].*\)\?$,\3,p' |
        head -n 1)
    MIRROR=${MIRROR:-http://deb.debian.org/debian}
fi
CHECK_SYSTEM=${CHECK_SYSTEM:-"test_protocol test_redis_cli_works test_restart_after_kill \
test_blocking_acquire_fifo test_leader_crash_keeps test_isolated_leader test_run_exit_codes \
test_examples_run_as_written test_workloads_do_what test_peer_redis test_redis_py"}
root=$(mktemp -d "${CHECK_DIR:-/var/tmp}/dlock-check-deps.XXXXXX")
# Every process run in the root is in a cgroup of its own (the pids
# controller of cgroup v1, or cgroup v2), so that all are found and killed.
if [ -d /sys/fs/cgroup/pids ]; then cg=/sys/fs/cgroup/pids; else cg=/sys/fs/cgroup; fi
cg=$cg/${root##*/}
mkdir "$cg" || { echo "check-deps: cannot make the cgroup $cg" >&2; rmdir "$root"; exit 2; }

# kill_in_root [SIGNAL [NAME]]: signals (default KILL) every process run in
# the root (servers, a stuck test), or only those named NAME.
kill_in_root() {
    for p in $(cat "$cg/cgroup.procs"); do
        [ -z "${2:-}" ] || [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$2" ] || continue
        kill -"${1:-KILL}" "$p" 2>/dev/null
    done
    sleep 1
}
cleanup() {
    set +e
    for _ in 1 2 3; do kill_in_root; done
    rmdir "$cg" || echo "check-deps: processes left in $cg" >&2
    # The root's mounts are in mount namespaces of their own, gone with
    # their processes: the host has none under it.
    if awk -v r="$root" 'index($2, r "/") == 1 { f = 1 } END { exit !f }' /proc/self/mounts; then
        echo "check-deps: something is mounted under $root; not deleted" >&2
    elif [ "${CHECK_KEEP:-}" = 1 ]; then
        echo "check-deps: kept $root"
    else
        rm -rf --one-file-system "$root"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$(date +%s)
step() { echo "== [$(($(date +%s) - t0)) s] $*"; }

step "debootstrap --variant=minbase bookworm $root $MIRROR"
debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$root.log" 2>&1 ||
    { tail -n 20 "$root.log"; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
chmod 755 "$root"
security=$(echo "$MIRROR" | sed 's,/debian$,/debian-security,')
cat >"$root/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb $security bookworm-security main
EOF
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp /etc/hosts "$root/etc/hosts"
mkdir "$root/.host"

# enter CMD...: runs CMD in the root, in the cgroup and a mount namespace of
# its own where the root is bound on itself, /proc, /sys and /dev (/dev/pts)
# are mounted in it, and it is made the file system root with pivot_root:
# unlike chroot, that lets the tests make user namespaces (unshare --user,
# which a chrooted process may not) and mount namespaces (which need / to be
# a mount point). The environment is bare: no LANG, no terminal.
enter() {
    sh -c 'echo $$ >"$0/cgroup.procs" && c=$1 && shift &&
        exec unshare --mount --propagation private --fork -- sh -c "$c" sh "$@"' \
        "$cg" '
        r=$1; shift
        mount --bind "$r" "$r" && mount -t proc proc "$r/proc" && mount --rbind /sys "$r/sys" &&
            mount --rbind /dev "$r/dev" && cd "$r" && pivot_root . .host || exit 1
        cd / && umount -l /.host && exec /usr/bin/env -i "$@"' "$root" "$@"
}
in_root() { enter PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
step "the compiler (gcc) and sudo"
in_root sh -c 'DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc sudo >/dev/null'
in_root useradd -m -s /bin/sh dev
echo 'dev ALL=(ALL) NOPASSWD: ALL' >"$root/etc/sudoers.d/dev"
chmod 440 "$root/etc/sudoers.d/dev"
if [ "$mode" = user ]; then
    home=/home/dev
    as() { enter PATH=/usr/sbin:/usr/bin runuser -u dev -- /usr/bin/env -i HOME=$home USER=dev \
        PATH=/usr/local/bin:/usr/bin:/bin "$@"; }
else
    home=/root
    as() { enter HOME=$home USER=root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
fi
git clone -q "$repo" "$root$home/dlock"
if [ "$mode" = user ]; then in_root chown -R dev:dev $home/dlock; fi
echo "check-deps: $(git -C "$repo" log -1 --format='%h %s' | cut -c1-100)"
run() { as sh -c "cd $home/dlock && $*" </dev/null; }
# run_tail N CMD: runs CMD, shows the last N lines of its output; fails if it did.
run_tail() {
    n=$1; shift
    rc=0; run "$@" >"$root/tmp/check.out" 2>&1 || rc=$?
    tail -n "$n" "$root/tmp/check.out"
    [ $rc -eq 0 ] || { echo "check-deps: failed (exit $rc)"; exit 1; }
}
# isolated N CMD: run_tail, and as root in a network namespace of its own
# (only its loopback up), so that the nftables rules of the partition tests
# and of make faults never touch the host's network.
isolated() {
    n=$1; shift
    if [ "$mode" = root ]; then
        printf 'ip link set lo up\n%s\n' "$*" >"$root/tmp/isolated.sh"
        run_tail "$n" 'unshare -n sh -e /tmp/isolated.sh'
    else
        run_tail "$n" "$@"
    fi
}

# The README's first command on the fresh machine: installs, builds, serves.
step "as $mode: ./start.sh (installs what is missing), then redis-cli PING"
run 'mkdir -p /tmp/start && cd /tmp/start && exec '"$home"'/dlock/start.sh --listen 127.0.0.1:17411 --raft 127.0.0.1:17412 >/tmp/start/log 2>&1' &
ok=0
for _ in $(seq 900); do
    if [ -x "$root/usr/bin/redis-cli" ] && [ "$(in_root redis-cli -p 17411 PING 2>/dev/null)" = PONG ]; then
        ok=1; break
    fi
    sleep 1
done
kill_in_root TERM dlockd
kill_in_root
wait || true
grep '^deps: ' "$root/tmp/start/log" || true
[ $ok = 1 ] || { tail -n 20 "$root/tmp/start/log"; echo "check-deps: ./start.sh did not serve"; exit 1; }
echo "./start.sh served: PONG"

step "sh scripts/deps.sh again (must print nothing)"
out=$(run 'sh scripts/deps.sh' 2>&1)
[ -z "$out" ] || { echo "$out"; echo "check-deps: deps.sh still installed something"; exit 1; }
run 'a=$(date +%s%N); sh scripts/deps.sh; echo "deps.sh with nothing missing: $((($(date +%s%N) - a) / 1000000)) ms"'

step "make -j2 WERROR=1 all"
run 'make -s -j2 WERROR=1 all'
step "make format-check"
run 'make format-check'
step "make -j2 unit"
run_tail 3 'make -j2 unit'
step "sanitizers: test_resp built with SANITIZE=address,undefined; clang fuzz_resp"
run_tail 1 'make -s -j2 SANITIZE=address,undefined build-san/tests/test_resp && build-san/tests/test_resp'
run_tail 1 'make -s build/fuzz/fuzz_resp && build/fuzz/fuzz_resp -runs=1000 tests/fuzz/corpus/resp'
step "make -j2 system SYSTEM_ARGS=\"$CHECK_SYSTEM\""
isolated 14 "make -s -j2 system SYSTEM_ARGS='$CHECK_SYSTEM'"
if [ "$mode" = root ]; then
    step "make faults DURATION=30"
    isolated 8 'make -s -j2 faults DURATION=30'
    grep -E '^(SKIPPED|fault kinds|faults by kind)' "$root/tmp/check.out" || true
fi
if [ "${CHECK_BENCH:-}" = 1 ]; then
    step "sh scripts/deps.sh bench, then the bench tool against etcd and ZooKeeper too"
    run_tail 0 'sh scripts/deps.sh bench'
    grep '^deps: ' "$root/tmp/check.out" || true
    isolated 5 "make -s -j2 system SYSTEM_ARGS=test_peer_"
fi
if [ "${CHECK_FULL:-}" = 1 ]; then
    step "./test.sh"
    isolated 5 './test.sh'
fi
step "all passed; the root used $(du -sxh "$root" | cut -f1)"
