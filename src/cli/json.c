/* json.c - JSON output for --json: one object per result, on one line. */
#include <inttypes.h>

#include "cli/cli.h"

/* The length of the valid UTF-8 sequence at s (1 to 4), or 0 if the bytes
 * there are not one (overlong forms, surrogates and code points above
 * U+10FFFF are not). */
static int utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    int n;
    unsigned min, cp;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0) {
        n = 2, min = 0x80, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, min = 0x800, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, min = 0x10000, cp = c & 0x07;
    } else {
        return 0;
    }
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0; /* also stops at the terminating NUL */
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

void json_write_string(FILE *out, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    fputc('"', out);
    while (*s != '\0') {
        unsigned c = *s;
        if (c == '"' || c == '\\') {
            fputc('\\', out);
            fputc((int)c, out);
        } else if (c == '\n') {
            fputs("\\n", out);
        } else if (c == '\t') {
            fputs("\\t", out);
        } else if (c == '\r') {
            fputs("\\r", out);
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(out, "\\u%04x", c);
        } else if (c >= 0x80) {
            int n = utf8_len(s);
            if (n == 0) {
                fputs("\\ufffd", out);
                n = 1;
            } else {
                fwrite(s, 1, (size_t)n, out);
            }
            s += n;
            continue;
        } else {
            fputc((int)c, out);
        }
        s++;
    }
    fputc('"', out);
}

/* Starts a new element of the current container: a comma if needed, and
 * the key in an object. */
static void element(struct json *j, const char *key)
{
    if (j->comma)
        fputc(',', j->out);
    j->comma = true;
    if (key != NULL) {
        json_write_string(j->out, key);
        fputc(':', j->out);
    }
}

void json_begin(struct json *j, FILE *out)
{
    j->out = out;
    j->comma = false;
    fputc('{', out);
}

void json_end(struct json *j)
{
    fputs("}\n", j->out);
    fflush(j->out);
}

void json_object_open(struct json *j, const char *key)
{
    element(j, key);
    fputc('{', j->out);
    j->comma = false;
}

/* A closed container is an element of its parent, so the parent has one:
 * no stack is needed to know that the next element takes a comma. */
void json_object_close(struct json *j)
{
    fputc('}', j->out);
    j->comma = true;
}

void json_array_open(struct json *j, const char *key)
{
    element(j, key);
    fputc('[', j->out);
    j->comma = false;
}

void json_array_close(struct json *j)
{
    fputc(']', j->out);
    j->comma = true;
}

void json_str(struct json *j, const char *key, const char *s)
{
    element(j, key);
    json_write_string(j->out, s);
}

void json_u64(struct json *j, const char *key, uint64_t v)
{
    element(j, key);
    fprintf(j->out, "%" PRIu64, v);
}

void json_int(struct json *j, const char *key, int v)
{
    element(j, key);
    fprintf(j->out, "%d", v);
}

void json_bool(struct json *j, const char *key, bool v)
{
    element(j, key);
    fputs(v ? "true" : "false", j->out);
}

void json_null(struct json *j, const char *key)
{
    element(j, key);
    fputs("null", j->out);
}
