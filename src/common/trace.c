/* trace.c - requests' steps, in bands of their totals (trace.h). */
#include "common/trace.h"

#include <string.h>

void tracer_init(struct tracer *t, unsigned n_stamps)
{
    memset(t, 0, sizeof *t);
    if (n_stamps < 2)
        n_stamps = 2;
    if (n_stamps > TRACE_STAMPS_MAX)
        n_stamps = TRACE_STAMPS_MAX;
    t->n_stamps = n_stamps;
}

void tracer_reset(struct tracer *t)
{
    tracer_init(t, t->n_stamps);
}

/* Four bands per power of two: 0-3 us one each, then [4,5), [5,6), [6,7),
 * [7,8), [8,10), [10,12), ... */
unsigned trace_band_of(uint64_t us)
{
    if (us < 4)
        return (unsigned)us;
    unsigned e = 63u - (unsigned)__builtin_clzll(us);
    unsigned band = 4 * (e - 1) + (unsigned)((us >> (e - 2)) & 3);
    return band < TRACE_BANDS ? band : TRACE_BANDS - 1;
}

void trace_band_bounds(unsigned band, uint64_t *lo_us, uint64_t *hi_us)
{
    if (band < 4) {
        *lo_us = band;
        *hi_us = band + 1;
        return;
    }
    unsigned e = band / 4 + 1, sub = band % 4;
    *lo_us = (uint64_t)(4 + sub) << (e - 2);
    *hi_us =
        band == TRACE_BANDS - 1 ? UINT64_MAX : (uint64_t)(5 + sub) << (e - 2);
}

uint64_t trace_total_us(const struct tracer *t, const struct trace_rec *r)
{
    uint64_t first = r->at[0], last = r->at[t->n_stamps - 1];
    return last > first ? (last - first) / 1000 : 0;
}

void trace_steps_us(const struct tracer *t, const struct trace_rec *r,
                    uint64_t *steps)
{
    uint64_t latest = r->at[0];
    steps[0] = 0;
    for (unsigned i = 1; i < t->n_stamps; i++) {
        steps[i] = 0;
        if (r->at[i] == 0)
            continue;
        if (r->at[i] > latest) {
            steps[i] = (r->at[i] - latest) / 1000;
            latest = r->at[i];
        }
    }
}

static uint64_t kept_total(const struct tracer *t, unsigned i)
{
    return trace_total_us(t, &t->slowest[i]);
}

/* Keeps r among the slowest when it is slower than the fastest kept. */
static void keep_slow(struct tracer *t, const struct trace_rec *r,
                      uint64_t total)
{
    if (t->n_slowest < TRACE_SLOWEST) {
        t->slowest[t->n_slowest++] = *r;
    } else {
        if (total <= kept_total(t, t->fastest_kept))
            return;
        t->slowest[t->fastest_kept] = *r;
    }
    unsigned fastest = 0;
    for (unsigned i = 1; i < t->n_slowest; i++)
        if (kept_total(t, i) < kept_total(t, fastest))
            fastest = i;
    t->fastest_kept = fastest;
}

void tracer_add(struct tracer *t, const struct trace_rec *r)
{
    if (r->at[0] == 0 || r->at[t->n_stamps - 1] == 0)
        return;
    uint64_t steps[TRACE_STAMPS_MAX], total = trace_total_us(t, r);
    trace_steps_us(t, r, steps);
    struct trace_band *b = &t->bands[trace_band_of(total)];
    b->count++;
    for (unsigned i = 1; i < t->n_stamps; i++) {
        b->step_us[i] += steps[i];
        if (steps[i] > t->max_step_us[i])
            t->max_step_us[i] = steps[i];
    }
    t->count++;
    if (t->n_slowest < TRACE_SLOWEST || total > kept_total(t, t->fastest_kept))
        keep_slow(t, r, total);
}

bool tracer_quantile(const struct tracer *t, double q,
                     struct trace_quantile *out)
{
    memset(out, 0, sizeof *out);
    if (t->count == 0)
        return false;
    if (q < 0)
        q = 0;
    if (q > 1)
        q = 1;
    /* The band of the record of rank ceil(q * count), counting from 1. */
    uint64_t rank = (uint64_t)(q * (double)t->count + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > t->count)
        rank = t->count;
    uint64_t seen = 0;
    unsigned band = 0;
    for (; band < TRACE_BANDS; band++) {
        seen += t->bands[band].count;
        if (seen >= rank)
            break;
    }
    const struct trace_band *b = &t->bands[band];
    trace_band_bounds(band, &out->lo_us, &out->hi_us);
    out->count = b->count;
    for (unsigned i = 1; i < t->n_stamps; i++)
        out->step_us[i] = b->step_us[i] / b->count;
    return true;
}

unsigned tracer_slowest(const struct tracer *t, struct trace_rec *out)
{
    unsigned n = t->n_slowest;
    memcpy(out, t->slowest, n * sizeof *out);
    for (unsigned i = 1; i < n; i++) { /* insertion sort, largest first */
        struct trace_rec r = out[i];
        uint64_t total = trace_total_us(t, &r);
        unsigned j = i;
        for (; j > 0 && trace_total_us(t, &out[j - 1]) < total; j--)
            out[j] = out[j - 1];
        out[j] = r;
    }
    return n;
}
