/* scripts.c - the known scripts of Redis lock libraries (scripts.h). The
 * table holds only SHA1s, taken from the libraries' sources;
 * tests/system/test_redis_locks.py computes them again from the libraries
 * it installs. */
#include "server/scripts.h"

#include <stdbool.h>
#include <strings.h>

static const struct script known[] = {
    /* redis-py's Lock (redis/lock.py), 4.3.4 (Debian 12) to 8.2.0. */
    {"c3f8721cbb97f72bc19e972846bd7aaf91901658",
     "2aef8d7ce63503709a01cbf6ad6bb4b93d5c3909", SCRIPT_RELEASE,
     "redis-py Lock release"},
    {"a4e8783852e6b949f9ef3a97212805108459a890",
     "829408cc83d4524666232bd8beebe3bcf873ac70", SCRIPT_EXTEND,
     "redis-py 4 Lock extend"},
    {"f335028e570b0f7f958d558097d9857b8dd9b09b",
     "0499f797b9d834483310c4ca89c0cc0cd900b2d1", SCRIPT_EXTEND,
     "redis-py 5 Lock extend"},
    {"1cac51482acf5858da00f6d685d68f886cd6b6b2",
     "042112cf75a3fdabb4e02600ce494eff4b2d2906", SCRIPT_SET_TTL,
     "redis-py 4 Lock reacquire"},
    {"86adac77e1e4eac7090cbbe12386ad98a2b4124c",
     "781a1491c518fc442feef5648d25aed28eb12be4", SCRIPT_SET_TTL,
     "redis-py 5 Lock reacquire"},
};

const struct script *scripts_find(const char *sha, size_t len)
{
    if (len != 40)
        return NULL;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strncasecmp(sha, known[i].sha, 40) == 0 ||
            strncasecmp(sha, known[i].blanks, 40) == 0)
            return &known[i];
    return NULL;
}

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

size_t scripts_collapse(const char *text, size_t len, char *out)
{
    size_t n = 0;
    bool gap = false;
    for (size_t i = 0; i < len; i++) {
        if (blank(text[i])) {
            gap = n > 0;
            continue;
        }
        if (gap)
            out[n++] = ' ';
        gap = false;
        out[n++] = text[i];
    }
    return n;
}
