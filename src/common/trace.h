/* trace.h - where requests' time went, step by step, cheaply enough to
 * leave on (docs/operations.md, "Where a request's time goes").
 *
 * A record is the times (nanoseconds of one monotonic clock) at which a
 * request passed each of a fixed list of stamps: for a write on the leader,
 * the loop's wake-up, its read, its proposal, the start and end of the log
 * write that carried it, a follower's acknowledgement, the commit, the
 * apply and the reply. A stamp not known is 0; its time then counts in the
 * next known one. Step i is the time from the latest known stamp before i
 * to stamp i, never negative (a follower may acknowledge before the
 * leader's own write ends: that step is then 0 and the commit's step
 * counts from the write's end).
 *
 * The tracer keeps, in a fixed amount of memory, and for everything added
 * since it was made or reset:
 * - the totals (the first stamp to the last) in bands of a quarter of a
 *   power of two of microseconds, and per band the sum of each step: the
 *   quantile q of the totals falls in a band, and that band's mean steps
 *   say where the requests of that quantile spent their time;
 * - the TRACE_SLOWEST records of the largest totals, whole.
 * Adding a record costs a few additions and one comparison with the
 * fastest of the slowest kept (more only when it replaces it). Pure: no
 * clock, no allocation. */
#ifndef DLOCK_TRACE_H
#define DLOCK_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#define TRACE_STAMPS_MAX 10
#define TRACE_SLOWEST 16
#define TRACE_BANDS 128

struct trace_rec {
    uint64_t at[TRACE_STAMPS_MAX]; /* ns; 0: not known */
    uint64_t index;                /* the log index it concerns */
    uint32_t batch;                /* entries in the log write it rode */
    uint32_t turn_us;              /* the longest loop turn it overlapped */
    uint32_t what;                 /* the caller's code (a command type) */
};

struct trace_band {
    uint64_t count;
    uint64_t step_us[TRACE_STAMPS_MAX]; /* sums; [0] unused */
};

struct tracer {
    unsigned n_stamps; /* stamps per record, 2 to TRACE_STAMPS_MAX */
    uint64_t count;
    uint64_t max_step_us[TRACE_STAMPS_MAX];
    struct trace_band bands[TRACE_BANDS];
    struct trace_rec slowest[TRACE_SLOWEST]; /* unordered */
    unsigned n_slowest;
    unsigned fastest_kept; /* the index in slowest of its smallest total */
};

/* What one quantile of the totals looked like. */
struct trace_quantile {
    uint64_t lo_us, hi_us; /* the band it fell in: lo_us <= total < hi_us */
    uint64_t count;        /* records in that band */
    uint64_t step_us[TRACE_STAMPS_MAX]; /* their mean steps; [0] is 0 */
};

/* Makes t empty, for records of n_stamps stamps (clamped to 2 and
 * TRACE_STAMPS_MAX). */
void tracer_init(struct tracer *t, unsigned n_stamps);
/* Empties t, keeping its number of stamps. */
void tracer_reset(struct tracer *t);
/* Adds r. A record whose first or last stamp is not known is not kept. */
void tracer_add(struct tracer *t, const struct trace_rec *r);

/* The total of r (its last stamp less its first), in us. */
uint64_t trace_total_us(const struct tracer *t, const struct trace_rec *r);
/* Fills steps[0..n_stamps-1] with r's steps in us (steps[0] = 0). */
void trace_steps_us(const struct tracer *t, const struct trace_rec *r,
                    uint64_t *steps);
/* Where the quantile q (0 to 1) of the totals fell; false with no record. */
bool tracer_quantile(const struct tracer *t, double q,
                     struct trace_quantile *out);
/* The slowest records kept, largest total first, into out (up to
 * TRACE_SLOWEST); returns how many. */
unsigned tracer_slowest(const struct tracer *t, struct trace_rec *out);

/* The band of a total of us microseconds, and a band's bounds. */
unsigned trace_band_of(uint64_t us);
void trace_band_bounds(unsigned band, uint64_t *lo_us, uint64_t *hi_us);

#endif
