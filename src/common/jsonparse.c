/* jsonparse.c - JSON into a tree (jsonparse.h): a recursive descent over
 * the grammar of RFC 8259, depth-bounded. */
#include "common/jsonparse.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

struct rd {
    const char *s;
    size_t n, i;
    const char *why; /* the first failure, or NULL */
    size_t at;
};

static bool fail(struct rd *r, const char *why)
{
    if (r->why == NULL) {
        r->why = why;
        r->at = r->i;
    }
    return false;
}

static void space(struct rd *r)
{
    while (r->i < r->n && (r->s[r->i] == ' ' || r->s[r->i] == '\t' ||
                           r->s[r->i] == '\n' || r->s[r->i] == '\r'))
        r->i++;
}

static bool word(struct rd *r, const char *w)
{
    size_t len = strlen(w);
    if (r->n - r->i < len || memcmp(r->s + r->i, w, len) != 0)
        return fail(r, "not a JSON value");
    r->i += len;
    return true;
}

static int hex4(struct rd *r)
{
    if (r->n - r->i < 4)
        return -1;
    int v = 0;
    for (int k = 0; k < 4; k++) {
        char c = r->s[r->i++];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

/* Appends code point cp as UTF-8 to out (room for 4 more bytes). */
static size_t utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A string at r->i (its opening quote): its bytes, decoded, into a new
 * allocation (*out, *len). An escape never grows the text, so the input's
 * length bounds the output's. */
static bool string(struct rd *r, char **out, size_t *len)
{
    r->i++; /* the quote */
    size_t start = r->i;
    while (r->i < r->n && r->s[r->i] != '"')
        r->i += r->s[r->i] == '\\' ? 2 : 1;
    if (r->i >= r->n)
        return fail(r, "a string without its closing quote");
    size_t end = r->i;
    char *b = alloc_malloc(end - start + 1);
    if (b == NULL)
        return fail(r, "out of memory");
    size_t k = 0;
    r->i = start;
    while (r->i < end) {
        unsigned char c = (unsigned char)r->s[r->i++];
        if (c < 0x20) {
            alloc_free(b);
            return fail(r, "a control character in a string");
        }
        if (c != '\\') {
            b[k++] = (char)c;
            continue;
        }
        char e = r->s[r->i++];
        const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
        const char *p = e != '\0' ? strchr(from, e) : NULL;
        if (p != NULL) {
            b[k++] = to[p - from];
            continue;
        }
        int cp = e == 'u' ? hex4(r) : -1;
        if (cp >= 0xd800 && cp <= 0xdbff && end - r->i >= 6 &&
            r->s[r->i] == '\\' && r->s[r->i + 1] == 'u') {
            size_t back = r->i;
            r->i += 2;
            int lo = hex4(r);
            if (lo >= 0xdc00 && lo <= 0xdfff)
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            else
                r->i = back;
        }
        if (cp < 0 || r->i > end) {
            alloc_free(b);
            return fail(r, "a bad escape in a string");
        }
        if (cp >= 0xd800 && cp <= 0xdfff)
            cp = 0xfffd; /* a lone surrogate */
        k += utf8(b + k, (unsigned)cp);
    }
    r->i = end + 1;
    b[k] = '\0';
    *out = b;
    *len = k;
    return true;
}

static bool number(struct rd *r, struct jv *v)
{
    size_t start = r->i;
    if (r->i < r->n && r->s[r->i] == '-')
        r->i++;
    size_t digits = r->i;
    while (r->i < r->n && r->s[r->i] >= '0' && r->s[r->i] <= '9')
        r->i++;
    if (r->i == digits || (r->s[digits] == '0' && r->i - digits > 1))
        return fail(r, "a malformed number");
    bool integer = true;
    if (r->i < r->n && r->s[r->i] == '.') {
        integer = false;
        size_t f = ++r->i;
        while (r->i < r->n && r->s[r->i] >= '0' && r->s[r->i] <= '9')
            r->i++;
        if (r->i == f)
            return fail(r, "a malformed number");
    }
    if (r->i < r->n && (r->s[r->i] == 'e' || r->s[r->i] == 'E')) {
        integer = false;
        r->i++;
        if (r->i < r->n && (r->s[r->i] == '+' || r->s[r->i] == '-'))
            r->i++;
        size_t e = r->i;
        while (r->i < r->n && r->s[r->i] >= '0' && r->s[r->i] <= '9')
            r->i++;
        if (r->i == e)
            return fail(r, "a malformed number");
    }
    char text[64];
    size_t len = r->i - start;
    if (len >= sizeof text)
        return fail(r, "a number longer than 63 characters");
    memcpy(text, r->s + start, len);
    text[len] = '\0';
    v->type = JV_NUMBER;
    v->num = strtod(text, NULL);
    if (integer && text[0] != '-') {
        errno = 0;
        unsigned long long u = strtoull(text, NULL, 10);
        if (errno == 0) {
            v->is_u64 = true;
            v->u64 = u;
        }
    }
    return true;
}

static bool value(struct rd *r, struct jv *v, int depth);

/* Grows an array or object by one element; false out of memory. */
static bool grow(struct jv *v, size_t *cap, bool keys)
{
    if (v->n < *cap)
        return true;
    size_t c = *cap ? *cap * 2 : 4;
    struct jv *items = alloc_realloc(v->items, c * sizeof *items);
    if (items == NULL)
        return false;
    v->items = items;
    if (keys) {
        char **k = alloc_realloc(v->keys, c * sizeof *k);
        if (k == NULL)
            return false;
        v->keys = k;
        size_t *kl = alloc_realloc(v->key_lens, c * sizeof *kl);
        if (kl == NULL)
            return false;
        v->key_lens = kl;
    }
    *cap = c;
    return true;
}

static bool container(struct rd *r, struct jv *v, int depth, bool object)
{
    if (depth >= JSONPARSE_DEPTH_MAX)
        return fail(r, "nested too deep");
    v->type = object ? JV_OBJECT : JV_ARRAY;
    char close = object ? '}' : ']';
    size_t cap = 0;
    r->i++;
    space(r);
    if (r->i < r->n && r->s[r->i] == close) {
        r->i++;
        return true;
    }
    for (;;) {
        if (!grow(v, &cap, object))
            return fail(r, "out of memory");
        struct jv *item = &v->items[v->n];
        memset(item, 0, sizeof *item);
        if (object) {
            space(r);
            if (r->i >= r->n || r->s[r->i] != '"')
                return fail(r, "an object's key is not a string");
            if (!string(r, &v->keys[v->n], &v->key_lens[v->n]))
                return false;
            space(r);
            if (r->i >= r->n || r->s[r->i] != ':') {
                alloc_free(v->keys[v->n]);
                return fail(r, "no ':' after an object's key");
            }
            r->i++;
        }
        v->n++; /* counted now, so that jv_free frees what it holds */
        if (!value(r, item, depth + 1))
            return false;
        space(r);
        if (r->i < r->n && r->s[r->i] == ',') {
            r->i++;
            continue;
        }
        if (r->i < r->n && r->s[r->i] == close) {
            r->i++;
            return true;
        }
        return fail(r, object ? "no ',' or '}' in an object"
                              : "no ',' or ']' in an array");
    }
}

static bool value(struct rd *r, struct jv *v, int depth)
{
    space(r);
    if (r->i >= r->n)
        return fail(r, "the text ends where a value should be");
    switch (r->s[r->i]) {
    case '{':
        return container(r, v, depth, true);
    case '[':
        return container(r, v, depth, false);
    case '"':
        v->type = JV_STRING;
        return string(r, &v->str, &v->len);
    case 't':
        v->type = JV_BOOL;
        v->b = true;
        return word(r, "true");
    case 'f':
        v->type = JV_BOOL;
        return word(r, "false");
    case 'n':
        v->type = JV_NULL;
        return word(r, "null");
    default:
        return number(r, v);
    }
}

static void release(struct jv *v)
{
    for (size_t i = 0; i < v->n; i++) {
        release(&v->items[i]);
        if (v->type == JV_OBJECT)
            alloc_free(v->keys[i]);
    }
    alloc_free(v->items);
    alloc_free(v->keys);
    alloc_free(v->key_lens);
    alloc_free(v->str);
}

void jv_free(struct jv *v)
{
    if (v == NULL)
        return;
    release(v);
    alloc_free(v);
}

int jsonparse(const char *s, size_t n, struct jv **out, char *err,
              size_t errlen)
{
    *out = NULL;
    struct rd r = {s, n, 0, NULL, 0};
    struct jv *v = alloc_malloc(sizeof *v);
    if (v == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memset(v, 0, sizeof *v);
    if (value(&r, v, 0)) {
        space(&r);
        if (r.i < r.n)
            fail(&r, "text after the value");
    }
    if (r.why != NULL) {
        snprintf(err, errlen, "%s (at byte %zu)", r.why, r.at);
        jv_free(v);
        return -1;
    }
    *out = v;
    return 0;
}

const struct jv *jv_get(const struct jv *v, const char *key)
{
    if (v == NULL || v->type != JV_OBJECT)
        return NULL;
    size_t len = strlen(key);
    for (size_t i = 0; i < v->n; i++)
        if (v->key_lens[i] == len && memcmp(v->keys[i], key, len) == 0)
            return &v->items[i];
    return NULL;
}

const struct jv *jv_at(const struct jv *v, size_t i)
{
    if (v == NULL || v->type != JV_ARRAY || i >= v->n)
        return NULL;
    return &v->items[i];
}

uint64_t jv_u64(const struct jv *v, uint64_t dflt)
{
    return v != NULL && v->type == JV_NUMBER && v->is_u64 ? v->u64 : dflt;
}

const char *jv_str(const struct jv *v, const char *dflt)
{
    return v != NULL && v->type == JV_STRING ? v->str : dflt;
}
