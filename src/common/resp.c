/* resp.c - the incremental RESP reader (see resp.h; the writers are in
 * resp_write.c).
 *
 * Bytes fed are appended to r->in and parsed in place: strings point into
 * that buffer (their CRLF becomes their NUL), nothing is copied per element.
 * A value is parsed one element at a time, each element atomically: a line
 * (or a bulk header with its body) is consumed only once it is complete, so
 * an incomplete element costs a re-scan of its header and nothing else, and
 * a value that arrives in pieces is never parsed twice.
 *
 * Elements go onto the work stack: an aggregate's header, then its elements
 * above it. When an aggregate has all its elements they move, contiguous, to
 * the done array, and the header stays on the stack as one complete element
 * of its parent. While a value is being built, the buffer and both arrays may
 * move, so nodes hold offsets in place of pointers: a string's offset from
 * the value's first byte, an open aggregate's parent's work index, a closed
 * aggregate's first element's done index, all in the node's integer field.
 * When the root completes, finish() turns them into pointers. */
#include "resp.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "resp_internal.h"

#define NONE SIZE_MAX
/* The longest content of a line holding an integer or a length, and of one
 * holding a double: generous, since leading zeros are legal. */
#define NUM_LINE_MAX 64
#define DOUBLE_LINE_MAX 256
/* A buffer (or node array) larger than this is freed when it empties, and
 * one more than four times larger than what it still holds is cut down, so
 * that one huge value does not pin its memory for the life of a connection
 * (dlockd holds thousands of readers: docs/protocol.md §7). */
#define KEEP_BYTES (16u << 10)
#define KEEP_NODES 4096

/* docs/protocol.md §7: a request of up to 1 MiB and 1,024 arguments; the
 * commands check the sizes of their arguments themselves (LIMIT). */
const struct resp_limits resp_limits_server = {
    .max_str = 1024 * 1024,
    .max_elems = 1024,
    .max_depth = 1,
    .max_pending = 1024 * 1024,
    .inline_commands = true,
    .max_inline = 64 * 1024,
};

const struct resp_limits resp_limits_client = {
    .max_str = 512 * 1024 * 1024,
    .max_elems = 4294967295u,
    .max_depth = 64,
    .max_pending = (size_t)1024 * 1024 * 1024,
    .inline_commands = false,
    .max_inline = 0,
};

void resp_reader_init(struct resp_reader *r, const struct resp_limits *lim)
{
    memset(r, 0, sizeof *r);
    r->lim = *lim;
    buf_init(&r->in);
    r->open = NONE;
}

void resp_reader_set_limits(struct resp_reader *r,
                            const struct resp_limits *lim)
{
    r->lim = *lim;
}

void resp_reader_close(struct resp_reader *r)
{
    if (r == NULL)
        return;
    buf_close(&r->in);
    alloc_free(r->work);
    alloc_free(r->done);
    struct resp_limits lim = r->lim;
    resp_reader_init(r, &lim);
}

size_t resp_reader_pending(const struct resp_reader *r)
{
    return r->in.len - (r->returned ? r->pos : r->start);
}

const char *resp_reader_error(const struct resp_reader *r)
{
    return r->error;
}

static int fail(struct resp_reader *r, const char *msg)
{
    r->error = msg;
    return DLOCK_EPROTO;
}

/* Ends the life of the value handed out last: its bytes are consumed. */
static void release(struct resp_reader *r)
{
    if (!r->returned)
        return;
    r->returned = false;
    r->n_work = 0;
    r->n_done = 0;
    r->start = r->pos;
}

/* Drops consumed bytes from the front of the buffer when that is cheap
 * relative to what was consumed, so that the total cost stays linear. Only
 * offsets from start are stored, so nothing else needs to change. */
static void compact(struct resp_reader *r)
{
    size_t used = r->start;
    if (used == 0)
        return;
    if (used == r->in.len) {
        if (r->in.cap > KEEP_BYTES)
            buf_close(&r->in);
        buf_clear(&r->in);
        if (r->cap_work > KEEP_NODES) {
            alloc_free(r->work);
            r->work = NULL;
            r->cap_work = 0;
        }
        if (r->cap_done > KEEP_NODES) {
            alloc_free(r->done);
            r->done = NULL;
            r->cap_done = 0;
        }
        r->start = r->pos = r->scan = 0;
        return;
    }
    if (used < 4096 || used < r->in.len - used)
        return;
    buf_consume(&r->in, used);
    r->pos -= used;
    r->scan -= used;
    r->start = 0;
    if (r->in.cap > KEEP_BYTES && r->in.len < r->in.cap / 4)
        buf_shrink(&r->in);
}

int resp_reader_feed(struct resp_reader *r, const void *data, size_t len)
{
    if (r->error != NULL)
        return DLOCK_EPROTO;
    release(r);
    compact(r);
    return buf_append(&r->in, data, len);
}

/* ---- Parsing one element ---- */

/* What follows each type byte: a line (of a string, a number, a double), a
 * length and a body, or a count of elements. */
enum { NOT_TYPE, STR_LINE, NUM_LINE, DBL_LINE, BLOB, AGGREGATE };

static const uint8_t kinds[256] = {
    ['+'] = STR_LINE,  ['-'] = STR_LINE,  ['('] = STR_LINE,  [':'] = NUM_LINE,
    ['#'] = NUM_LINE,  ['_'] = NUM_LINE,  [','] = DBL_LINE,  ['$'] = BLOB,
    ['!'] = BLOB,      ['='] = BLOB,      ['*'] = AGGREGATE, ['%'] = AGGREGATE,
    ['~'] = AGGREGATE, ['>'] = AGGREGATE, ['|'] = AGGREGATE,
};

static int kind(char t)
{
    return kinds[(unsigned char)t];
}

/* Parses an optional sign and at least one decimal digit, all n bytes. */
static bool parse_int(const char *p, size_t n, int64_t *out)
{
    bool neg = n > 0 && p[0] == '-';
    size_t i = n > 0 && (p[0] == '-' || p[0] == '+') ? 1 : 0;
    uint64_t v = 0, max = neg ? (uint64_t)INT64_MAX + 1 : INT64_MAX;
    if (i == n)
        return false;
    for (; i < n; i++) {
        unsigned d = (unsigned char)p[i] - '0';
        if (d > 9 || v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* An optional sign and at least one decimal digit, all n bytes. */
static bool is_bignum(const char *p, size_t n)
{
    size_t i = n > 0 && (p[0] == '-' || p[0] == '+') ? 1 : 0;
    if (i == n)
        return false;
    for (; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}

/* Parses a length: decimal digits, or "-1" (null) if null_ok. Sets *out to
 * the length, or to NONE for null. */
static bool parse_len(const char *p, size_t n, bool null_ok, size_t *out)
{
    uint64_t v = 0;
    if (n == 2 && p[0] == '-' && p[1] == '1' && null_ok) {
        *out = NONE;
        return true;
    }
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned char)p[i] - '0';
        if (d > 9 || v > ((uint64_t)INT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = (size_t)v;
    return true;
}

locale_t resp_c_locale(void)
{
    static _Atomic(locale_t) c;
    locale_t loc = atomic_load_explicit(&c, memory_order_acquire);
    if (loc == (locale_t)0) {
        /* glibc hands out a static object for "C": nothing to free. */
        loc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
        atomic_store_explicit(&c, loc, memory_order_release);
    }
    return loc;
}

/* Parses a RESP3 double: "inf", "-inf", "nan", or what strtod reads in the
 * C locale from digits, signs, '.' and exponents. */
static bool parse_double(const char *p, size_t n, double *out)
{
    char tmp[DOUBLE_LINE_MAX + 1], *end;
    bool digit = false;
    if ((n == 3 && memcmp(p, "inf", 3) == 0) ||
        (n == 4 && memcmp(p, "+inf", 4) == 0)) {
        *out = INFINITY;
        return true;
    }
    if (n == 4 && memcmp(p, "-inf", 4) == 0) {
        *out = -INFINITY;
        return true;
    }
    if ((n == 3 && memcmp(p, "nan", 3) == 0) ||
        (n == 4 && memcmp(p, "-nan", 4) == 0)) {
        *out = NAN;
        return true;
    }
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c >= '0' && c <= '9')
            digit = true;
        else if (c != '.' && c != '+' && c != '-' && c != 'e' && c != 'E')
            return false;
    }
    if (!digit)
        return false;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    locale_t old = uselocale(resp_c_locale());
    *out = strtod(tmp, &end);
    uselocale(old);
    return end == tmp + n;
}

/* Moves the parse position past an element; nothing before it holds a
 * '\n' still to be found. */
static void advance(struct resp_reader *r, size_t to)
{
    r->pos = to;
    r->scan = to;
}

/* Puts v, complete, on the work stack (the caller has made room). */
static void push(struct resp_reader *r, const struct resp_value *v)
{
    r->work[r->n_work++] = *v;
}

/* The longest content the line of an element of type t may have. */
static size_t line_max(const struct resp_reader *r, char t)
{
    switch (kind(t)) {
    case STR_LINE:
        return r->lim.max_str;
    case DBL_LINE:
        return DOUBLE_LINE_MAX;
    default:
        return NUM_LINE_MAX;
    }
}

/* Finds the end of the line at pos, whose content may be at most max bytes.
 * Returns 1 and sets *nl to the offset of its '\n', 0 if it is incomplete,
 * or DLOCK_EPROTO. */
static int find_line(struct resp_reader *r, size_t max, size_t *nl)
{
    const char *d = r->in.data;
    size_t from = r->scan > r->pos + 1 ? r->scan : r->pos + 1;
    const char *p = memchr(d + from, '\n', r->in.len - from);
    size_t end = p != NULL ? (size_t)(p - d) : r->in.len;
    size_t have = end - r->pos - 1; /* the content, and its '\r' if any */
    /* The same test whether the '\n' is there or not, so that the outcome
     * does not depend on how the input was split. */
    if (have > 1 && have - 1 > max)
        return fail(r, "Protocol error: line too long");
    r->scan = end;
    if (p == NULL)
        return 0;
    *nl = end;
    if (d[end - 1] != '\r')
        return fail(r, "Protocol error: missing CRLF");
    return 1;
}

/* A string node: its offset from the value's start goes in integer until
 * finish(). The byte after it (part of its CRLF) becomes its NUL. */
static void push_str(struct resp_reader *r, char t, size_t at, size_t len)
{
    struct resp_value v = {.type = (uint8_t)t};
    v.integer = (int64_t)(at - r->start);
    v.len = len;
    r->in.data[at + len] = '\0';
    push(r, &v);
}

/* Parses the element of type t whose line holds the n bytes at offset at
 * (without the type byte and CRLF). */
static int parse_line(struct resp_reader *r, char t, size_t at, size_t n)
{
    const char *c = r->in.data + at;
    struct resp_value v = {.type = (uint8_t)t};
    switch (t) {
    case '(':
        if (!is_bignum(c, n))
            return fail(r, "Protocol error: invalid big number");
        /* fall through */
    case '+':
    case '-':
        if (memchr(c, '\r', n) != NULL)
            return fail(r, "Protocol error: CR in a simple string");
        push_str(r, t, at, n);
        return 1;
    case ':':
        if (!parse_int(c, n, &v.integer))
            return fail(r, "Protocol error: invalid integer");
        break;
    case '#':
        if (n != 1 || (c[0] != 't' && c[0] != 'f'))
            return fail(r, "Protocol error: invalid boolean");
        v.integer = c[0] == 't';
        break;
    case '_':
        if (n != 0)
            return fail(r, "Protocol error: invalid null");
        break;
    case ',':
        if (!parse_double(c, n, &v.dbl))
            return fail(r, "Protocol error: invalid double");
        break;
    default:
        return fail(r, "Protocol error: invalid type byte");
    }
    push(r, &v);
    return 1;
}

/* Parses the bulk, blob error or verbatim string whose header line ends at
 * nl, if its body is there: 1, 0 (incomplete) or DLOCK_EPROTO. */
static int parse_blob(struct resp_reader *r, char t, size_t nl)
{
    size_t len, body = nl + 1;
    const char *d = r->in.data;
    if (!parse_len(d + r->pos + 1, nl - r->pos - 2, t == '$', &len))
        return fail(r, "Protocol error: invalid bulk length");
    if (len == NONE) {
        struct resp_value v = {.type = RESP_NULL};
        push(r, &v);
        advance(r, body);
        return 1;
    }
    if (len > r->lim.max_str)
        return fail(r, "Protocol error: string too long");
    if (r->in.len - body < len + 2)
        return 0;
    if (d[body + len] != '\r' || d[body + len + 1] != '\n')
        return fail(r, "Protocol error: missing CRLF");
    if (t == '=' && (len < 4 || d[body + 3] != ':'))
        return fail(r, "Protocol error: invalid verbatim string");
    push_str(r, t, body, len);
    advance(r, body + len + 2);
    return 1;
}

/* Opens the aggregate whose header line ends at nl. Its node holds the work
 * index of its parent and, for an attribute, the size of done to cut back
 * to when it is dropped. */
static int parse_aggregate(struct resp_reader *r, char t, size_t nl)
{
    size_t count;
    bool pairs = t == '%' || t == '|';
    if (!parse_len(r->in.data + r->pos + 1, nl - r->pos - 2, t == '*', &count))
        return fail(r, "Protocol error: invalid aggregate length");
    advance(r, nl + 1);
    if (count == NONE) {
        struct resp_value v = {.type = RESP_NULL};
        push(r, &v);
        return 1;
    }
    if (count > r->lim.max_elems / (pairs ? 2 : 1))
        return fail(r, "Protocol error: too many elements");
    if (r->depth >= r->lim.max_depth)
        return fail(r, "Protocol error: nesting too deep");
    struct resp_value v = {.type = (uint8_t)t};
    v.n = pairs ? 2 * count : count;
    v.integer = r->open == NONE ? -1 : (int64_t)r->open;
    v.len = r->n_done;
    r->open = r->n_work;
    r->depth++;
    push(r, &v);
    return 1;
}

/* ---- Inline commands ---- */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads the quoted argument at d[*i] (its opening quote) up to end,
 * unescaping it to d[out..] if commit (never ahead of the reading, so in
 * place); sets *len to its length. False if it is not closed, or not
 * followed by a blank or the end. */
static bool quoted(char *d, size_t *i, size_t end, size_t out, bool commit,
                   size_t *len)
{
    char q = d[(*i)++];
    size_t n = 0;
    for (;;) {
        if (*i >= end)
            return false;
        char c = d[*i];
        size_t step = 1;
        if (c == q) {
            (*i)++;
            break;
        }
        if (c == '\\' && *i + 1 < end && q == '\'' && d[*i + 1] == '\'') {
            c = '\'', step = 2;
        } else if (c == '\\' && *i + 1 < end && q == '"') {
            char e = d[*i + 1];
            step = 2;
            if (e == 'x' && *i + 3 < end && hex(d[*i + 2]) >= 0 &&
                hex(d[*i + 3]) >= 0) {
                c = (char)(hex(d[*i + 2]) * 16 + hex(d[*i + 3]));
                step = 4;
            } else {
                const char *from = "nrtba", *to = "\n\r\t\b\a";
                const char *m = strchr(from, e);
                c = e != '\0' && m != NULL ? to[m - from] : e;
            }
        }
        *i += step;
        if (commit)
            d[out + n] = c;
        n++;
    }
    *len = n;
    return *i == end || is_blank(d[*i]);
}

/* Splits the line d[i..end) into arguments. Without commit, only checks it
 * and counts them into *argc; with commit (after a check that passed),
 * unescapes them in place and pushes them. */
static int split(struct resp_reader *r, size_t i, size_t end, bool commit,
                 size_t *argc)
{
    char *d = r->in.data;
    size_t n = 0;
    for (;;) {
        while (i < end && is_blank(d[i]))
            i++;
        if (i == end)
            break;
        size_t at = i, len;
        if (d[i] == '"' || d[i] == '\'') {
            if (!quoted(d, &i, end, at, commit, &len))
                return fail(r, "Protocol error: unbalanced quotes in request");
        } else {
            while (i < end && !is_blank(d[i]))
                i++;
            len = i - at;
            i += i < end; /* the blank that becomes the NUL */
        }
        if (len > r->lim.max_str)
            return fail(r, "Protocol error: string too long");
        if (++n > r->lim.max_elems)
            return fail(r, "Protocol error: too many elements");
        if (commit)
            push_str(r, RESP_BULK, at, len);
    }
    *argc = n;
    return 0;
}

/* Parses the inline command at pos, once its line is complete: 1 (an array
 * of bulk strings is open on the work stack, or an empty line was skipped),
 * 0 (incomplete), DLOCK_EPROTO or DLOCK_ENOMEM (nothing changed). */
static int parse_inline(struct resp_reader *r)
{
    const char *d = r->in.data;
    size_t from = r->scan > r->pos ? r->scan : r->pos, argc, nl;
    const char *p = memchr(d + from, '\n', r->in.len - from);
    if (p == NULL) {
        r->scan = r->in.len;
        if (r->in.len - r->pos > r->lim.max_inline)
            return fail(r, "Protocol error: too big inline request");
        return 0;
    }
    nl = (size_t)(p - d);
    r->scan = nl;
    if (nl - r->pos > r->lim.max_inline)
        return fail(r, "Protocol error: too big inline request");
    size_t end = nl > r->pos && d[nl - 1] == '\r' ? nl - 1 : nl;
    int rc = split(r, r->pos, end, false, &argc);
    if (rc != 0)
        return rc;
    if (argc > 0) {
        if (alloc_grow((void **)&r->work, &r->cap_work, argc + 1,
                       sizeof *r->work) != 0)
            return DLOCK_ENOMEM;
        struct resp_value v = {.type = RESP_ARRAY, .n = argc, .integer = -1};
        r->open = 0;
        r->depth = 1;
        push(r, &v);
        split(r, r->pos, end, true, &argc);
    }
    advance(r, nl + 1);
    return 1;
}

/* Parses the element at pos: 1 (parsed), 0 (incomplete), or an error. */
static int parse_one(struct resp_reader *r)
{
    size_t nl;
    if (r->pos == r->in.len)
        return 0;
    if (r->n_work == r->cap_work &&
        alloc_grow((void **)&r->work, &r->cap_work, r->n_work + 1,
                   sizeof *r->work) != 0)
        return DLOCK_ENOMEM;
    char t = r->in.data[r->pos];
    if (kind(t) == NOT_TYPE) {
        if (r->n_work == 0 && r->lim.inline_commands)
            return parse_inline(r);
        return fail(r, "Protocol error: invalid type byte");
    }
    int rc = find_line(r, line_max(r, t), &nl);
    if (rc <= 0)
        return rc;
    switch (kind(t)) {
    case BLOB:
        return parse_blob(r, t, nl);
    case AGGREGATE:
        return parse_aggregate(r, t, nl);
    default:
        rc = parse_line(r, t, r->pos + 1, nl - r->pos - 2);
        if (rc == 1)
            advance(r, nl + 1);
        return rc;
    }
}

/* ---- Assembling the tree ---- */

/* Closes every open aggregate that has all its elements, innermost first:
 * its elements move to done (an attribute and all it holds are dropped).
 * 0 or DLOCK_ENOMEM, after which calling again resumes. */
static int close_full(struct resp_reader *r)
{
    while (r->open != NONE) {
        struct resp_value *a = &r->work[r->open];
        size_t have = r->n_work - r->open - 1;
        size_t parent = a->integer < 0 ? NONE : (size_t)a->integer;
        if (have < a->n)
            return 0;
        if (a->type == '|') {
            r->n_done = a->len;
            r->n_work = r->open;
        } else {
            if (r->n_done + have > r->cap_done &&
                alloc_grow((void **)&r->done, &r->cap_done, r->n_done + have,
                           sizeof *r->done) != 0)
                return DLOCK_ENOMEM;
            if (have > 0)
                memcpy(r->done + r->n_done, a + 1, have * sizeof *a);
            a->integer = (int64_t)r->n_done;
            a->len = 0;
            r->n_done += have;
            r->n_work = r->open + 1;
        }
        r->open = parent;
        r->depth--;
    }
    return 0;
}

/* Turns the offsets a node holds into pointers. */
static void fix(struct resp_reader *r, struct resp_value *v)
{
    switch (v->type) {
    case RESP_SIMPLE:
    case RESP_ERROR:
    case RESP_BULK:
    case RESP_BIGNUM:
    case RESP_BLOB_ERROR:
    case RESP_VERBATIM:
        v->str = r->in.data + r->start + v->integer;
        v->integer = 0;
        break;
    case RESP_ARRAY:
    case RESP_MAP:
    case RESP_SET:
    case RESP_PUSH:
        v->elems = v->n > 0 ? r->done + v->integer : NULL;
        v->integer = 0;
        break;
    default:
        break;
    }
}

static void finish(struct resp_reader *r)
{
    for (size_t i = 0; i < r->n_done; i++)
        fix(r, &r->done[i]);
    fix(r, &r->work[0]);
}

int resp_reader_next(struct resp_reader *r, const struct resp_value **out)
{
    *out = NULL;
    if (r->error != NULL)
        return DLOCK_EPROTO;
    release(r);
    for (;;) {
        int rc = close_full(r);
        if (rc != 0)
            return rc;
        if (r->n_work == 1 && r->open == NONE) {
            finish(r);
            r->returned = true;
            *out = &r->work[0];
            return 1;
        }
        if (r->n_work == 0)
            r->start = r->pos; /* nothing refers to what was skipped */
        rc = parse_one(r);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            if (r->in.len - r->start >= r->lim.max_pending &&
                r->in.len > r->start)
                return fail(r, "Protocol error: value too large");
            compact(r); /* give back what the values before took */
            return 0;
        }
    }
}

size_t resp_reader_memory(const struct resp_reader *r)
{
    return r->in.cap + (r->cap_work + r->cap_done) * sizeof *r->work;
}
