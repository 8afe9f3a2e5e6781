/* scripts.c - the known scripts of Redis lock libraries (scripts.h). The
 * table holds only SHA1s, taken from the libraries' sources;
 * tests/system/test_redis_locks.py computes them again from the libraries
 * it installs. */
#include "server/scripts.h"

#include <stdbool.h>
#include <strings.h>

static const struct script known[] = {
    /* go-redsync's Mutex (scripts.go, mutex.go), v4.0.0 to v4.12. */
    {"00583931c4e4d483f6233879c133c71ed5393f9d",
     "291e8c6bd642e1e50ba3b90238fb62ab2071837a", SCRIPT_RELEASE,
     "go-redsync v4.0-v4.11 delete"},
    {"e950836ed1e694540c503ef9972b8de518044d3b",
     "7993caa3740134efbd5ac97c8695f767f80951db", SCRIPT_RELEASE_OR_GONE,
     "go-redsync v4.12 delete"},
    {"d75bb8b5bd13532ddedd17762e772346e39b321e",
     "eab2bb9c2bd5ff466b3bf28d23e0a6be0b63e807", SCRIPT_SET_TTL,
     "go-redsync v4 touch"},
    {"b6b55c439e02c6f52ffb8be7ec8c0d0ac816ea79",
     "093198007cadcfa2b840a96c0c99c7729de3bfa0", SCRIPT_TOUCH_OR_SET,
     "go-redsync v4.12 touch with SETNX"},
    /* The compare-and-delete of Redis's documentation (the SET command's
     * patterns), which hand-written lock code copies, with either quotes
     * and any spacing; dlock-bench's Redis system sends it too. */
    {"e9f69f2beb755be68b5e456ee2ce9aadfbc4ebf4",
     "278b7fc39f087c6276c7b7c08962022c4fe73ba6", SCRIPT_RELEASE,
     "Redis documentation compare-and-delete"},
    /* redis-py's Lock (redis/lock.py), 4.3.4 (Debian 12) to 8.2.0. */
    {"c3f8721cbb97f72bc19e972846bd7aaf91901658",
     "16d4f25a8b1272dc33002e333ca708ee3f94da4e", SCRIPT_RELEASE,
     "redis-py Lock release"},
    {"a4e8783852e6b949f9ef3a97212805108459a890",
     "bce326b8a0b21cc21af307b604335bbdd4e6ad86", SCRIPT_EXTEND,
     "redis-py 4 Lock extend"},
    {"f335028e570b0f7f958d558097d9857b8dd9b09b",
     "93b1a8df8942fb5c3e91d918238526f722ba314b", SCRIPT_EXTEND,
     "redis-py 5 Lock extend"},
    {"1cac51482acf5858da00f6d685d68f886cd6b6b2",
     "b57b48d5536ae982a91ca9929e89a43a617db101", SCRIPT_SET_TTL,
     "redis-py 4 Lock reacquire"},
    {"86adac77e1e4eac7090cbbe12386ad98a2b4124c",
     "f2bfabf69bc5666176d2d12f8cfd59547423d4d1", SCRIPT_SET_TTL,
     "redis-py 5 Lock reacquire"},
    /* node-redlock (its acquire, extend and release over many keys), 4.2.0
     * (tabs) and 5.0.0-beta.2 (spaces): one canonical text each. */
    {"e5a322e2634ef59a516e8ea150cb085afafee684",
     "ea828df24a8ba48d25fe0cd301512a13e11e8671", SCRIPT_KEYS_TAKE,
     "node-redlock v4 lock"},
    {"96da70f7716f27d278a5218544df37fd8b0a5e4c",
     "ea828df24a8ba48d25fe0cd301512a13e11e8671", SCRIPT_KEYS_TAKE,
     "node-redlock v5 acquire"},
    {"ce46f80993d5dac20dd066eb301a4e37994bdbed",
     "99cdd1585bb1d6506eb54839e87cb5cd9b6ceb44", SCRIPT_KEYS_EXTEND,
     "node-redlock v4 extend"},
    {"aed6f382e410db8ba7926d4e5e9aab410bf2a78a",
     "99cdd1585bb1d6506eb54839e87cb5cd9b6ceb44", SCRIPT_KEYS_EXTEND,
     "node-redlock v5 extend"},
    {"0f0f23b9048b36752b5be114f357ba083449f908",
     "b4cb58b473610243952f347facd7a3e9006ba021", SCRIPT_KEYS_RELEASE,
     "node-redlock v4 unlock"},
    {"e4612211c9f8f51c257e26e056b0a654b3187242",
     "b4cb58b473610243952f347facd7a3e9006ba021", SCRIPT_KEYS_RELEASE,
     "node-redlock v5 release"},
    /* redis-semaphore's Mutex (src/mutex/release.ts, refresh.ts), 5.x. */
    {"7157921a7cc7cfba979acf6d63f073151df17d12",
     "e2a196b0eec41712d70355978832fd2a7bdfc554", SCRIPT_RELEASE,
     "redis-semaphore Mutex delIfEqual"},
    {"594683e49a64ebaf975caf5f8079a1d097c438f1",
     "8b94bead10f334fb89b934d1872f79565791a3fc", SCRIPT_SET_TTL,
     "redis-semaphore Mutex expireIfEqual"},
    /* redis-semaphore's Semaphore (src/semaphore/acquire/lua.ts,
     * refresh/lua.ts), 5.x; its release is ZREM. */
    {"43ebdb49120d170e08af560cb4e46e36f8585936",
     "9338369f2f18a09b23526b0aaf2d5439dfd9dbc1", SCRIPT_SEM_ACQUIRE,
     "redis-semaphore Semaphore acquire"},
    {"999a49a1d07671a8027165641001f5bad44608b3",
     "7f9d954992712b09267a025c87dc9d4591085c2c", SCRIPT_SEM_REFRESH,
     "redis-semaphore Semaphore refresh"},
    /* redis-semaphore's MultiSemaphore (src/multiSemaphore/), 5.x. */
    {"10c1c2e05e7c48aa5824d227b8c51abcde87b18e",
     "92c092563852ce8a03c5be7d8556dfeb43147636", SCRIPT_MSEM_ACQUIRE,
     "redis-semaphore MultiSemaphore acquire"},
    {"2327bcdc5edb5b8687f6d19b5e1f42b815ebddab",
     "e1eaf6b40de30165a6ed50b88166daab55a46d3c", SCRIPT_MSEM_REFRESH,
     "redis-semaphore MultiSemaphore refresh"},
    {"0bd1010c98f1ddd70a6024fd374489a8ea3d2c12",
     "df52c837a0ec056e7058107976e8350f8132e9dd", SCRIPT_MSEM_RELEASE,
     "redis-semaphore MultiSemaphore release"},
};

const struct script *scripts_find(const char *sha, size_t len)
{
    if (len != 40)
        return NULL;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strncasecmp(sha, known[i].sha, 40) == 0 ||
            strncasecmp(sha, known[i].canon, 40) == 0)
            return &known[i];
    return NULL;
}

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool ident(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_';
}

size_t scripts_canon(const char *text, size_t len, char *out)
{
    size_t n = 0;
    bool gap = false;
    char quote = 0; /* inside a string literal: the quote it opened with */
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (quote != 0) {
            if (c == quote) {
                quote = 0;
                c = '"';
            }
            out[n++] = c;
            continue;
        }
        if (blank(c)) {
            gap = n > 0;
            continue;
        }
        if (c == '\'' || c == '"') {
            quote = c;
            c = '"';
        }
        if (gap && ident(out[n - 1]) && ident(c))
            out[n++] = ' ';
        gap = false;
        out[n++] = c;
    }
    return n;
}
