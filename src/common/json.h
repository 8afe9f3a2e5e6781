/* json.h - JSON text written as it goes into a buffer: the status page's
 * document, log lines as JSON, and the dlock tool's --json output. Keys
 * are NULL inside arrays. Strings are written as UTF-8; bytes that are not
 * valid UTF-8 become U+FFFD, so any name (names are bytes) gives valid
 * JSON. Out of memory, the buffer keeps what fitted (buf.h). */
#ifndef DLOCK_JSON_H
#define DLOCK_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct json {
    struct buf *out;
    bool comma; /* the current container has an element already */
};

/* Starts writing into out (appending): the first value is the top one. */
void json_init(struct json *j, struct buf *out);
void json_object_open(struct json *j, const char *key);
void json_object_close(struct json *j);
void json_array_open(struct json *j, const char *key);
void json_array_close(struct json *j);
void json_str(struct json *j, const char *key, const char *s);
/* A string of n bytes (which may hold NUL). */
void json_strn(struct json *j, const char *key, const char *s, size_t n);
void json_u64(struct json *j, const char *key, uint64_t v);
void json_int(struct json *j, const char *key, int v);
void json_f64(struct json *j, const char *key, double v);
void json_bool(struct json *j, const char *key, bool v);
void json_null(struct json *j, const char *key);
/* Appends the n bytes at s as a JSON string (quoted, escaped). */
void json_string(struct buf *b, const char *s, size_t n);

#endif
