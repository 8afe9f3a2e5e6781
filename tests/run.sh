#!/bin/sh
# run.sh BIN... [-- CMD...]...: runs each test binary, then each CMD (commands
# follow a "--" each), and sums their closing "N passed, N failed" lines.
passed=0; failed=0; status=0
run() {
    out=$("$@" 2>&1); rc=$?
    printf '%s\n' "$out" | grep -v '^ok ' || true
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
    if [ -z "$line" ]; then
        echo "FAIL $1: no summary line (exit $rc)"; failed=$((failed + 1)); status=1; return
    fi
    p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
    passed=$((passed + p)); failed=$((failed + f))
    [ "$rc" -eq 0 ] || status=1
}
# A binary named X@ is a fuzz replayer: it runs over tests/fuzz/corpus/NAME,
# NAME being what follows "replay_" in its file name.
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    case "$1" in
    *@) bin=${1%@}; name=${bin##*/replay_}; run "$bin" "tests/fuzz/corpus/$name" ;;
    *) run "$1" ;;
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
    eval "run $words"
    shift $n
done
echo "$passed passed, $failed failed"
exit $status
