#!/bin/sh
# deps.sh - installs the Debian packages dlock needs that are missing: all
# that the build, the tests and every CI check use, on a Debian 12 machine
# that has only its base system and a compiler. When everything is there it
# only asks dpkg-query (./test.sh and ./start.sh run it every time). Runs
# apt-get only when something is missing; uses sudo when not root.
#
#   build          make, gcc (its sanitizer runtimes come with it), libc6-dev,
#                  pkg-config (also make install's test), libuv1-dev,
#                  libssl-dev (TLS); openssl (the command: tests make
#                  their certificates with it, as docs/security.md does);
#                  dlock-bench links libcurl and the ZooKeeper C client
#   CI checks      clang-format and git (make format-check: git ls-files),
#                  clang and its runtimes (make fuzz)
#   make deb       debhelper (dh, with dpkg-dev's dpkg-buildpackage) builds
#                  the Debian packages, lintian checks them;
#                  tests/system/test_deb.py installs them (as root)
#   tests          python3 (tests/system, tests/faults: standard library,
#                  python3-pytest for the Python client's tests,
#                  and python3-redis, redis-py, for the tests of Redis
#                  clients), locales (localedef, for the unit test of a ','
#                  locale), redis-tools (redis-cli, redis-benchmark),
#                  redis-server (dlock-bench's Redis recipe, make faults-redis),
#                  postgresql (examples/fenced-postgres and its test);
#                  nodejs and npm, when there is no node or npm command (the
#                  Node.js Redis lock libraries' test: tests/redis-libs/node);
#                  default-jdk-headless and maven, when there is no java or
#                  mvn command (clients/java); golang-go when there is no go
#                  command (clients/go)
#   monitoring     prometheus (promtool: the metrics' format, and
#                  contrib/prometheus's alerting rules and their unit tests,
#                  tests/system/test_contrib.py), chromium (the status page's test,
#                  driven by playwright-core from npm), curl (the examples
#                  of docs/operations.md)
#   make faults    nftables (nft), libfaketime, mount (tmpfs); for network
#                  namespaces util-linux (unshare: tests/system/transcripts.py,
#                  also fallocate, taskset), iproute2 (ip); procps (ps, pgrep)
#
# `deps.sh bench` adds the servers make bench compares dlock with (etcd,
# ZooKeeper and its Java runtime) and gnuplot. scripts/check-deps.sh checks
# this list on a fresh Debian 12 root (docs/operations.md, "Set-up from
# nothing").
set -eu
need="make gcc libc6-dev pkg-config libuv1-dev libssl-dev openssl libcurl4-openssl-dev libzookeeper-mt-dev"
need="$need clang-format git clang libclang-rt-dev"
need="$need debhelper lintian"
need="$need python3 python3-pytest python3-redis locales redis-tools redis-server postgresql"
need="$need nftables libfaketime mount iproute2 util-linux procps"
need="$need prometheus chromium curl"
# A Node.js from elsewhere (NodeSource's, nvm's) serves as well as Debian's.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    need="$need nodejs npm"
fi
# The Go client: Go (Debian's 1.19 serves; the go-redsync test needs a
# newer one and is skipped without it).
if ! command -v go >/dev/null 2>&1; then
    need="$need golang-go"
fi
# The Java client's build and tests: Java 17 and Maven, Debian's unless
# there are others.
if ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
    need="$need default-jdk-headless maven"
fi
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
if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "deps: not root and no sudo: install them as root (apt-get install$missing)" >&2
    exit 1
fi
# sudo resets the environment, so the frontend is passed through env.
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# shellcheck disable=SC2086
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
