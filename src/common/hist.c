/* hist.c - fixed-bound histograms (hist.h). */
#include "common/hist.h"

#include <string.h>

const uint64_t hist_latency_us[HIST_LATENCY_US_N] = {
    50,      100,     250,      500,      1000,     2000,    5000,
    10000,   25000,   50000,    100000,   250000,   500000,  1000000,
    2500000, 5000000, 10000000, 20000000, 30000000, 60000000};
const uint64_t hist_hold_ms[HIST_HOLD_MS_N] = {
    1,     5,     10,    50,     100,    500,     1000,    5000,
    10000, 30000, 60000, 300000, 600000, 1800000, 3600000, 86400000};
const uint64_t hist_count[HIST_COUNT_N] = {1,   2,   4,   8,    16,   32,  64,
                                           128, 256, 512, 1024, 2048, 4096};

void hist_init(struct hist *h, const uint64_t *bounds, unsigned n)
{
    memset(h, 0, sizeof *h);
    h->bounds = bounds;
    h->n_bounds = n > HIST_BOUNDS_MAX ? HIST_BOUNDS_MAX : n;
}

void hist_observe(struct hist *h, uint64_t v)
{
    unsigned lo = 0, hi = h->n_bounds; /* the first bound >= v */
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        if (h->bounds[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    h->counts[lo]++;
    h->count++;
    h->sum = v > UINT64_MAX - h->sum ? UINT64_MAX : h->sum + v;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
    if (h->count == 0)
        return 0;
    double want = q * (double)h->count;
    uint64_t seen = 0;
    for (unsigned i = 0; i < h->n_bounds; i++) {
        seen += h->counts[i];
        if ((double)seen >= want && seen > 0)
            return h->bounds[i];
    }
    return UINT64_MAX;
}
