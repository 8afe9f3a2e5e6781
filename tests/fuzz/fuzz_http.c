/* fuzz_http.c - libFuzzer target for the HTTP request head reader
 * (src/common/httpreq.c): any input, fed whole, byte by byte and split at
 * a position taken from the input, must never crash and must give the same
 * outcomes, the same bytes used and the same fields in every chunking; the
 * fields of a request read must lie inside its head. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/httpreq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok)
        abort();
}

#define MAX_REQS 64

struct outcome {
    int rc[MAX_REQS];
    size_t end[MAX_REQS]; /* input offset after each request */
    char path[MAX_REQS][64];
    bool keep_alive[MAX_REQS];
    size_t n;
};

static bool inside(const struct httpreq *r, const char *p)
{
    return p == NULL || p[0] == '\0' ||
           (p >= r->head && p + strlen(p) <= r->head + r->len);
}

/* Reads requests from data, in chunks of at most step bytes (0: all). */
static void run(const uint8_t *data, size_t size, size_t step, size_t split,
                struct outcome *o)
{
    static struct httpreq r;
    httpreq_init(&r);
    memset(o, 0, sizeof *o);
    size_t off = 0;
    while (off < size && o->n < MAX_REQS) {
        size_t len = size - off;
        if (step > 0 && len > step)
            len = step;
        if (split > off && split - off < len)
            len = split - off;
        size_t used;
        int rc = httpreq_feed(&r, (const char *)data + off, len, &used);
        check(used <= len);
        off += used;
        if (rc == HTTPREQ_MORE) {
            check(used == len);
            continue;
        }
        o->rc[o->n] = rc;
        o->end[o->n] = off;
        if (rc == HTTPREQ_DONE) {
            check(inside(&r, r.method) && inside(&r, r.path) &&
                  inside(&r, r.query) && inside(&r, r.authorization) &&
                  inside(&r, r.host));
            check(r.path[0] == '/');
            snprintf(o->path[o->n], sizeof o->path[o->n], "%s", r.path);
            o->keep_alive[o->n] = r.keep_alive;
        } else {
            check(rc == 400 || rc == 413 || rc == 431 || rc == 505);
            o->n++;
            return; /* the connection ends */
        }
        o->n++;
        httpreq_init(&r);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct outcome whole, bytes, halves;
    size_t split = size > 0 ? data[0] % (size + 1) : 0;
    run(data, size, 0, 0, &whole);
    run(data, size, 1, 0, &bytes);
    run(data, size, 0, split, &halves);
    const struct outcome *other[] = {&bytes, &halves};
    for (int k = 0; k < 2; k++) {
        const struct outcome *o = other[k];
        check(o->n == whole.n);
        for (size_t i = 0; i < whole.n; i++) {
            check(o->rc[i] == whole.rc[i]);
            check(o->end[i] == whole.end[i] || whole.rc[i] != HTTPREQ_DONE);
            check(strcmp(o->path[i], whole.path[i]) == 0);
            check(o->keep_alive[i] == whole.keep_alive[i]);
        }
    }
    return 0;
}
