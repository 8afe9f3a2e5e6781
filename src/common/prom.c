/* prom.c - the Prometheus text format (prom.h). */
#include "common/prom.h"

#include <inttypes.h>
#include <stdio.h>

void prom_family(struct buf *b, const char *name, const char *type,
                 const char *help)
{
    buf_appendf(b, "# HELP %s ", name);
    for (const char *p = help; *p != '\0'; p++) {
        if (*p == '\\')
            buf_append_str(b, "\\\\");
        else if (*p == '\n')
            buf_append_str(b, "\\n");
        else
            buf_append(b, p, 1);
    }
    buf_appendf(b, "\n# TYPE %s %s\n", name, type);
}

static void head(struct buf *b, const char *name, const char *labels)
{
    if (labels != NULL && labels[0] != '\0')
        buf_appendf(b, "%s{%s} ", name, labels);
    else
        buf_appendf(b, "%s ", name);
}

void prom_u64(struct buf *b, const char *name, const char *labels, uint64_t v)
{
    head(b, name, labels);
    buf_appendf(b, "%" PRIu64 "\n", v);
}

void prom_f64(struct buf *b, const char *name, const char *labels, double v)
{
    head(b, name, labels);
    buf_appendf(b, "%.15g\n", v); /* exact to a microsecond in 10^9 s */
}

static void bucket(struct buf *b, const char *name, const char *labels,
                   const char *le, uint64_t n)
{
    const char *sep = labels != NULL && labels[0] != '\0' ? "," : "";
    buf_appendf(b, "%s_bucket{%s%sle=\"%s\"} %" PRIu64 "\n", name,
                labels != NULL ? labels : "", sep, le, n);
}

void prom_hist(struct buf *b, const char *name, const char *labels,
               const struct hist *h, double scale)
{
    uint64_t cum = 0;
    char le[32];
    for (unsigned i = 0; i < h->n_bounds; i++) {
        cum += h->counts[i];
        snprintf(le, sizeof le, "%.9g", (double)h->bounds[i] / scale);
        bucket(b, name, labels, le, cum);
    }
    bucket(b, name, labels, "+Inf", h->count);
    char n[128];
    snprintf(n, sizeof n, "%s_sum", name);
    prom_f64(b, n, labels, (double)h->sum / scale);
    snprintf(n, sizeof n, "%s_count", name);
    prom_u64(b, n, labels, h->count);
}

void prom_one(struct buf *b, const char *name, const char *type,
              const char *help, uint64_t v)
{
    prom_family(b, name, type, help);
    prom_u64(b, name, NULL, v);
}
