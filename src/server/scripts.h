/* scripts.h - the Lua scripts of Redis lock libraries that dlock runs as
 * native, replicated operations (docs/redis-compat.md). dlock runs no Lua:
 * a script is known by the SHA1 of its text (what EVALSHA names), or of its
 * canonical text (scripts_canon: a copy spaced or quoted otherwise); any
 * other script gets the error that makes its library fail loudly. Pure:
 * the caller computes the SHA1s. */
#ifndef DLOCK_SCRIPTS_H
#define DLOCK_SCRIPTS_H

#include <stddef.h>

/* What a known script does, on KEYS[1] (or all the KEYS) with ARGV[1]
 * the owner's value. */
enum script_kind {
    SCRIPT_RELEASE = 1, /* if the value holds the key, delete it: 1, else 0 */
    SCRIPT_EXTEND = 2,  /* if it holds it, its TTL becomes ARGV[2] ms, or
                           its TTL left plus ARGV[2] when ARGV[3] is "0";
                           1, else 0 (a new TTL of 0 or less: 1, unchanged) */
    SCRIPT_SET_TTL = 3, /* if it holds it, its TTL becomes ARGV[2] ms (if
                           above 0): 1, else 0 */
    SCRIPT_RELEASE_OR_GONE = 4, /* as RELEASE, but -1 if the key is free */
    SCRIPT_TOUCH_OR_SET = 5,    /* as SET_TTL; a free key is taken for
                                   ARGV[1] for ARGV[2] ms (1) */
    /* Over all the KEYS (1 to FSM_LEASES_MAX), as one LEASES command: */
    SCRIPT_KEYS_TAKE = 6,    /* if every key is free (or the value's), all
                                are the value's for ARGV[2] ms: #KEYS;
                                else 0 and nothing changes */
    SCRIPT_KEYS_EXTEND = 7,  /* if every key is the value's, each TTL
                                becomes ARGV[2] ms: #KEYS; else 0 */
    SCRIPT_KEYS_RELEASE = 8, /* each key that is the value's is deleted:
                                how many */
    /* redis-semaphore's Semaphore: KEYS[1] a semaphore of ARGV[1] permits,
     * ARGV[2] the identifier, ARGV[3] the timeout in ms: */
    SCRIPT_SEM_ACQUIRE = 9,  /* a permit for the identifier, as a lease of
                                ARGV[3] ms, if one is free: 1, else 0 */
    SCRIPT_SEM_REFRESH = 10, /* if the identifier holds a permit, its lease
                                becomes ARGV[3] ms: 1, else 0 */
    /* redis-semaphore's MultiSemaphore: as its Semaphore, ARGV[2] permits
     * at a time (ARGV limit, permits, identifier, timeout): */
    SCRIPT_MSEM_ACQUIRE = 11,
    SCRIPT_MSEM_REFRESH = 12,
    SCRIPT_MSEM_RELEASE = 13, /* ARGV permits, identifier: its permits
                                 given back: how many, or 0 */
};

struct script {
    const char *sha;     /* of its text, 40 hex digits */
    const char *canon;   /* of its canonical text */
    int kind;            /* enum script_kind */
    const char *library; /* where it comes from, for docs and logs */
};

/* The known script whose text has the SHA1 sha (40 hex digits, any case),
 * or whose canonical text has it; NULL if none. */
const struct script *scripts_find(const char *sha, size_t len);

/* The canonical text of the len bytes at text, into out (at least len
 * bytes); returns the bytes written. Outside string literals, blanks
 * (space, tab, CR, LF) go, but for one space between two characters of
 * names or numbers; a string's quotes become double quotes, and its
 * inside is kept. */
size_t scripts_canon(const char *text, size_t len, char *out);

#endif
