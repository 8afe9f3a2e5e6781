/* json.c - JSON written into a buffer (json.h). */
#include "common/json.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

/* The length of the valid UTF-8 sequence at s (1 to 4, within n bytes), or
 * 0 if the bytes there are not one (overlong forms, surrogates and code
 * points above U+10FFFF are not). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0], min, cp;
    size_t len;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0)
        len = 2, min = 0x80, cp = c & 0x1f;
    else if ((c & 0xf0) == 0xe0)
        len = 3, min = 0x800, cp = c & 0x0f;
    else if ((c & 0xf8) == 0xf0)
        len = 4, min = 0x10000, cp = c & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void json_string(struct buf *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str, *end = s + n;
    buf_append(b, "\"", 1);
    while (s < end) {
        unsigned c = *s;
        size_t len = 1;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            buf_append(b, e, 2);
        } else if (c == '\n') {
            buf_append(b, "\\n", 2);
        } else if (c == '\t') {
            buf_append(b, "\\t", 2);
        } else if (c == '\r') {
            buf_append(b, "\\r", 2);
        } else if (c < 0x20 || c == 0x7f) {
            buf_appendf(b, "\\u%04x", c);
        } else if (c >= 0x80) {
            len = utf8_len(s, (size_t)(end - s));
            if (len == 0) {
                buf_append(b, "\\ufffd", 6);
                len = 1;
            } else {
                buf_append(b, s, len);
            }
        } else {
            buf_append(b, s, 1);
        }
        s += len;
    }
    buf_append(b, "\"", 1);
}

/* Starts a new element of the current container: a comma if needed, and
 * the key in an object. */
static void element(struct json *j, const char *key)
{
    if (j->comma)
        buf_append(j->out, ",", 1);
    j->comma = true;
    if (key != NULL) {
        json_string(j->out, key, strlen(key));
        buf_append(j->out, ":", 1);
    }
}

void json_init(struct json *j, struct buf *out)
{
    j->out = out;
    j->comma = false;
}

void json_object_open(struct json *j, const char *key)
{
    element(j, key);
    buf_append(j->out, "{", 1);
    j->comma = false;
}

/* A closed container is an element of its parent, so the parent has one:
 * no stack is needed to know that the next element takes a comma. */
void json_object_close(struct json *j)
{
    buf_append(j->out, "}", 1);
    j->comma = true;
}

void json_array_open(struct json *j, const char *key)
{
    element(j, key);
    buf_append(j->out, "[", 1);
    j->comma = false;
}

void json_array_close(struct json *j)
{
    buf_append(j->out, "]", 1);
    j->comma = true;
}

void json_str(struct json *j, const char *key, const char *s)
{
    json_strn(j, key, s, strlen(s));
}

void json_strn(struct json *j, const char *key, const char *s, size_t n)
{
    element(j, key);
    json_string(j->out, s, n);
}

void json_u64(struct json *j, const char *key, uint64_t v)
{
    element(j, key);
    buf_appendf(j->out, "%" PRIu64, v);
}

void json_int(struct json *j, const char *key, int v)
{
    element(j, key);
    buf_appendf(j->out, "%d", v);
}

void json_f64(struct json *j, const char *key, double v)
{
    element(j, key);
    if (isfinite(v))
        buf_appendf(j->out, "%.6g", v);
    else
        buf_append(j->out, "null", 4);
}

void json_bool(struct json *j, const char *key, bool v)
{
    element(j, key);
    buf_append_str(j->out, v ? "true" : "false");
}

void json_null(struct json *j, const char *key)
{
    element(j, key);
    buf_append(j->out, "null", 4);
}
