#!/bin/sh
# symbols.sh LIB...: checks that each library (libdlock.a, libdlock.so)
# defines no global symbol outside the public API, whose names begin with
# dlock_ (include/dlock.h): any other would collide with a program's own
# (buf_init, session_close...), or replace it. Ends with "N passed, N
# failed", one test per library.
passed=0; failed=0
for lib in "$@"; do
    case "$lib" in
    *.so*) syms=$(nm -D --defined-only "$lib") ;;
    *) syms=$(nm -g --defined-only "$lib") ;;
    esac
    if [ $? -ne 0 ] || [ -z "$syms" ]; then
        echo "FAIL $lib: nm found no symbols"; failed=$((failed + 1)); continue
    fi
    # Lines of nm are "value type name" (an archive adds "member:" lines).
    bad=$(printf '%s\n' "$syms" | awk 'NF == 3 { print $3 }' | grep -v '^dlock_' | sort -u)
    if [ -n "$bad" ]; then
        echo "FAIL $lib: $(printf '%s\n' "$bad" | wc -l) global symbols not named dlock_*:"
        printf '%s\n' "$bad" | tr '\n' ' ' | fold -s -w 100 | sed 's/^/    /'
        echo
        failed=$((failed + 1))
    elif ! printf '%s\n' "$syms" | grep -q ' T dlock_client_new$'; then
        echo "FAIL $lib: dlock_client_new is not defined"; failed=$((failed + 1))
    else
        echo "ok $lib"; passed=$((passed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
