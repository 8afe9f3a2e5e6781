#!/bin/sh
# start.sh - starts dlockd: installs missing Debian packages, builds it and
# the dlock tool (build/dlock, which cron jobs and the examples use), and
# runs dlockd in the foreground. With no arguments it is the embedded
# default: one server on 127.0.0.1:7411, data in ./dlock-data. Arguments go
# to dlockd (./start.sh --help lists them).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
sh "$here/scripts/deps.sh"
make -C "$here" -s -j"$(nproc)" dlockd dlock
exec "$here/build/dlockd" "$@"
