/* scripts.h - the Lua scripts of Redis lock libraries that dlock runs as
 * native, replicated operations (docs/redis-compat.md). dlock runs no Lua:
 * a script is known by the SHA1 of its text (what EVALSHA names), or of its
 * text with every run of blanks made one space and the ends trimmed (a copy
 * indented otherwise); any other script gets the error that makes its
 * library fail loudly. Pure: the caller computes the SHA1s. */
#ifndef DLOCK_SCRIPTS_H
#define DLOCK_SCRIPTS_H

#include <stddef.h>

/* What a known script does, on KEYS[1] with ARGV[1] the owner's value. */
enum script_kind {
    SCRIPT_RELEASE = 1, /* if the value holds the key, delete it: 1, else 0 */
    SCRIPT_EXTEND = 2,  /* if it holds it, its TTL becomes ARGV[2] ms, or
                           its TTL left plus ARGV[2] when ARGV[3] is "0";
                           1, else 0 (a new TTL of 0 or less: 1, unchanged) */
    SCRIPT_SET_TTL = 3, /* if it holds it, its TTL becomes ARGV[2] ms (if
                           above 0): 1, else 0 */
};

struct script {
    const char *sha;     /* of its text, 40 hex digits */
    const char *blanks;  /* of its text with blanks collapsed */
    int kind;            /* enum script_kind */
    const char *library; /* where it comes from, for docs and logs */
};

/* The known script whose text has the SHA1 sha (40 hex digits, any case),
 * or whose collapsed text has it; NULL if none. */
const struct script *scripts_find(const char *sha, size_t len);

/* Collapses the len bytes of text (blanks: space, tab, CR, LF) into out
 * (at least len bytes); returns the bytes written. */
size_t scripts_collapse(const char *text, size_t len, char *out);

#endif
