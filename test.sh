#!/bin/sh
# test.sh - the test command: installs missing Debian packages, then runs
# `make test` (unit tests, scripted scenarios, crash-point test and a fixed
# set of simulator seeds). Extra arguments go to make, for example
#   ./test.sh SANITIZE=address,undefined
set -eu
cd "$(dirname "$0")"
sh scripts/deps.sh
exec make -j"$(nproc)" test "$@"
