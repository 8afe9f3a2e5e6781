#!/bin/sh
# layers.sh [SRC]: checks that the tree keeps its layers (docs/style.md).
# The pure core and the store include no <uv.h>, and each folder includes
# only the folders below it:
#   src/common  itself
#   src/raft    common
#   src/lock    common, raft
#   src/store   common, raft
#   src/tls     common (TLS over memory: OpenSSL, no socket, no loop)
# (src/server, src/client and src/cli are the edges above them.) One test
# per folder; ends with "N passed, N failed".
src=${1:-src}
passed=0; failed=0
check() {
    dir=$1; allowed=$2
    bad=$(grep -n '#include <uv.h>' "$src/$dir"/*.c "$src/$dir"/*.h 2>/dev/null)
    for inc in $(grep -ho '#include "[a-z_]*/' "$src/$dir"/*.c "$src/$dir"/*.h 2>/dev/null |
                 sed 's/#include "//; s|/$||' | sort -u); do
        case " $dir $allowed " in
        *" $inc "*) ;;
        *) bad="$bad
$(grep -n "#include \"$inc/" "$src/$dir"/*.c "$src/$dir"/*.h)" ;;
        esac
    done
    if [ -n "$(printf '%s' "$bad" | tr -d '\n')" ]; then
        echo "FAIL $src/$dir includes what is above it or <uv.h>:"
        printf '%s\n' "$bad" | sed '/^$/d; s/^/    /'
        failed=$((failed + 1))
    else
        echo "ok   $src/$dir"
        passed=$((passed + 1))
    fi
}
check common ""
check raft "common"
check lock "common raft"
check store "common raft"
check tls "common"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
