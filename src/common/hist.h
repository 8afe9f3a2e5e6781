/* hist.h - a histogram of non-negative integer observations (durations in
 * microseconds, sizes in bytes or entries) over fixed bucket bounds, as
 * Prometheus's histograms count them: cumulatively, read out with
 * prom_hist (prom.h). Observing costs a search of the bounds and three
 * additions; nothing allocates. */
#ifndef DLOCK_HIST_H
#define DLOCK_HIST_H

#include <stdint.h>

#define HIST_BOUNDS_MAX 24

struct hist {
    const uint64_t *bounds; /* ascending upper bounds, inclusive */
    unsigned n_bounds;      /* at most HIST_BOUNDS_MAX */
    uint64_t counts[HIST_BOUNDS_MAX + 1]; /* per bucket; the last: above all */
    uint64_t count;
    uint64_t sum;
};

/* Makes h an empty histogram over bounds (n of them, ascending, kept by
 * pointer: static). */
void hist_init(struct hist *h, const uint64_t *bounds, unsigned n);
/* Counts one observation of v. */
void hist_observe(struct hist *h, uint64_t v);
/* The smallest bound under which at least q (0 to 1) of the observations
 * fall: an upper estimate of the quantile; UINT64_MAX when it is above
 * every bound, 0 with no observation. */
uint64_t hist_quantile(const struct hist *h, double q);

/* Bounds that serve most histograms here: durations in microseconds from
 * 50 us to 60 s (HIST_LATENCY_US), durations in milliseconds from 1 ms to
 * a day (HIST_HOLD_MS), and counts from 1 to 4096 (HIST_COUNT). */
extern const uint64_t hist_latency_us[];
#define HIST_LATENCY_US_N 20
extern const uint64_t hist_hold_ms[];
#define HIST_HOLD_MS_N 16
extern const uint64_t hist_count[];
#define HIST_COUNT_N 13

#endif
