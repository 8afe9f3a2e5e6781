#!/bin/sh
# deps.sh - installs the Debian packages dlock needs that are missing.
# Runs apt-get only when something is missing; uses sudo when not root.
# The fault campaign (make faults) uses nftables, libfaketime and
# redis-server (make faults-redis) too; dlock-bench links libcurl and the
# ZooKeeper C client. `deps.sh bench` adds the servers make bench compares
# dlock with (etcd, ZooKeeper and its Java runtime) and gnuplot.
set -eu
need="make gcc libc6-dev pkg-config libuv1-dev clang libclang-rt-dev locales redis-tools"
need="$need nftables libfaketime redis-server libcurl4-openssl-dev libzookeeper-mt-dev"
if [ "${1:-}" = bench ]; then
    need="$need etcd-server etcd-client zookeeper default-jre-headless gnuplot-nox"
fi
missing=""
for p in $need; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing
