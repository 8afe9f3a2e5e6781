#!/bin/sh
# run.sh BIN... [-- CMD...]...: runs each test binary, then each CMD (commands
# follow a "--" each), and sums their closing "N passed, N failed" lines
# (", N skipped" after them when some tests were skipped). Each step's output
# is shown without its "ok" lines, and its closing line with the step's name
# before it ("unit/test_fsm: 120 passed, 0 failed"); at the end come the
# skipped tests with their reasons and the sum, "N passed, N failed, N
# skipped".
passed=0; failed=0; skipped=0; status=0; skips=""
summary='^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$'
# run NAME CMD...: runs one step and counts its closing line.
run() {
    name=$1; shift
    out=$("$@" 2>&1); rc=$?
    printf '%s\n' "$out" | grep -v -E "^ok |$summary" || true
    skips="$skips$(printf '%s\n' "$out" | sed -n "s|^SKIPPED |  $name: |p")
"
    line=$(printf '%s\n' "$out" | grep -E "$summary" | tail -n 1)
    if [ -z "$line" ]; then
        echo "FAIL $name: no summary line (exit $rc)"; failed=$((failed + 1)); status=1; return
    fi
    echo "$name: $line"
    set -- $(printf '%s\n' "$line" | tr -c '0-9\n' ' ')
    passed=$((passed + $1)); failed=$((failed + $2)); skipped=$((skipped + ${3:-0}))
    [ "$rc" -eq 0 ] || status=1
}
# The name of a command: a Python script's path under tests/ without .py
# ("system" for tests/system/run.py), another program's base name, then
# the arguments.
command_name() {
    case "$1" in
    python*|*/python*) n=${2#tests/}; n=${n%.py}; n=${n%/run}; shift 2 ;;
    *) n=${1##*/}; shift ;;
    esac
    echo "$n${*:+ $*}"
}
# A binary named X@ is a fuzz replayer: it runs over tests/fuzz/corpus/NAME,
# NAME being what follows "replay_" in its file name. Others are the house
# harness's: sim_test_NAME the simulator's scenarios, integration/test_NAME
# the tests against dlockd processes, test_NAME unit tests.
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    case "$1" in
    *@) bin=${1%@}; n=${bin##*/replay_}; run "fuzz/$n" "$bin" "tests/fuzz/corpus/$n" ;;
    */sim_test_*) run "sim/${1##*/sim_}" "$1" ;;
    */integration/*) run "integration/${1##*/}" "$1" ;;
    *) run "unit/${1##*/}" "$1" ;;
    esac
    shift
done
# Each command runs with the words up to the next "--": eval expands only
# the positional references "${1}" .. "${n}", so no word is split again.
while [ $# -gt 0 ]; do
    [ "$1" = "--" ] && { shift; continue; }
    n=0
    for a in "$@"; do
        [ "$a" = "--" ] && break
        n=$((n + 1))
    done
    words=""; i=1
    while [ $i -le $n ]; do words="$words \"\${$i}\""; i=$((i + 1)); done
    eval "run \"\$(command_name $words)\" $words"
    shift $n
done
if [ "$skipped" -gt 0 ]; then
    echo "skipped:"
    printf '%s' "$skips" | grep -v '^$'
fi
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
