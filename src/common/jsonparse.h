/* jsonparse.h - JSON text read into a tree of values (RFC 8259), with no
 * I/O: what `dlock top` reads of SERVER.STATUS. Strings keep their bytes
 * (escapes decoded to UTF-8; \u0000 included, so they carry a length);
 * numbers are doubles, and also exact integers when written as one that
 * fits in 64 bits (a number is at most 63 characters). Nesting is bounded
 * (JSONPARSE_DEPTH_MAX), and every failure is an error with its byte offset:
 * any input is safe. */
#ifndef DLOCK_JSONPARSE_H
#define DLOCK_JSONPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSONPARSE_DEPTH_MAX 64

enum jv_type { JV_NULL, JV_BOOL, JV_NUMBER, JV_STRING, JV_ARRAY, JV_OBJECT };

struct jv {
    uint8_t type;
    bool b;
    bool is_u64; /* an integer from 0 to UINT64_MAX, exactly u64 */
    uint64_t u64;
    double num;
    char *str; /* a string's bytes (NUL-terminated), or an object's key */
    size_t len;
    struct jv *items; /* an array's elements, an object's values */
    char **keys;      /* an object's keys, NUL-terminated */
    size_t *key_lens;
    size_t n;
};

/* Parses the n bytes at s: one value, with white space around it only.
 * 0 with *out (free with jv_free), or -1 with a message in err (errlen
 * bytes, with the offset) for malformed input or when memory runs out. */
int jsonparse(const char *s, size_t n, struct jv **out, char *err,
              size_t errlen);
void jv_free(struct jv *v);

/* An object's value for key, or NULL (also when v is NULL or no object). */
const struct jv *jv_get(const struct jv *v, const char *key);
/* An array's element i, or NULL. */
const struct jv *jv_at(const struct jv *v, size_t i);
/* A number's exact integer value, or dflt when v is not one. */
uint64_t jv_u64(const struct jv *v, uint64_t dflt);
/* A string's bytes, or dflt when v is not a string. */
const char *jv_str(const struct jv *v, const char *dflt);

#endif
