/* test_trace.c - unit tests of the request tracer (common/trace.h). */
#include "common/trace.h"
#include "harness.h"

#define US 1000ull

static struct trace_rec rec(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
    struct trace_rec r = {.at = {a, b, c, d}};
    return r;
}

/* Bands cover every total without a gap, four to a power of two, and a
 * total falls in the band whose bounds hold it. */
TEST(trace, bands_cover_in_order)
{
    uint64_t prev_hi = 0;
    for (unsigned b = 0; b < TRACE_BANDS; b++) {
        uint64_t lo, hi;
        trace_band_bounds(b, &lo, &hi);
        CHECK_U64(lo, prev_hi);
        CHECK(hi > lo);
        CHECK_EQ(trace_band_of(lo), b);
        if (hi != UINT64_MAX)
            CHECK_EQ(trace_band_of(hi - 1), b);
        prev_hi = hi;
    }
    CHECK_EQ(trace_band_of(UINT64_MAX), TRACE_BANDS - 1);
    uint64_t lo, hi;
    trace_band_bounds(trace_band_of(1000), &lo, &hi);
    CHECK(lo <= 1000 && 1000 < hi && hi - lo <= 256);
}

/* Steps run from the latest known stamp: an unknown stamp's time counts in
 * the next, and a stamp earlier than one before it is a step of 0 that
 * moves nothing back. */
TEST(trace, steps_from_latest_known)
{
    struct tracer t;
    tracer_init(&t, 4);
    uint64_t s[TRACE_STAMPS_MAX];
    struct trace_rec r = rec(1000 * US, 1010 * US, 0, 1050 * US);
    trace_steps_us(&t, &r, s);
    CHECK_U64(s[0], 0);
    CHECK_U64(s[1], 10);
    CHECK_U64(s[2], 0);
    CHECK_U64(s[3], 40);
    r = rec(1000 * US, 1030 * US, 1020 * US, 1050 * US);
    trace_steps_us(&t, &r, s);
    CHECK_U64(s[1], 30);
    CHECK_U64(s[2], 0);
    CHECK_U64(s[3], 20);
    CHECK_U64(trace_total_us(&t, &r), 50);
}

/* The quantiles' bands hold the right records and their mean steps: 990
 * fast records spend their time in step 1, ten slow ones in step 3. */
TEST(trace, quantile_band_says_where)
{
    struct tracer t;
    tracer_init(&t, 4);
    for (uint64_t i = 0; i < 990; i++) {
        uint64_t a = (i + 1) * 10000 * US;
        struct trace_rec r = rec(a, a + 100 * US, a + 110 * US, a + 120 * US);
        tracer_add(&t, &r);
    }
    for (uint64_t i = 0; i < 10; i++) {
        uint64_t a = (i + 1) * 77777 * US;
        struct trace_rec r =
            rec(a, a + 10 * US, a + 20 * US, a + (5000 + i) * US);
        tracer_add(&t, &r);
    }
    CHECK_U64(t.count, 1000);
    struct trace_quantile q;
    CHECK(tracer_quantile(&t, 0.5, &q));
    CHECK(q.lo_us <= 120 && 120 < q.hi_us);
    CHECK_U64(q.count, 990);
    CHECK_U64(q.step_us[1], 100);
    CHECK_U64(q.step_us[3], 10);
    CHECK(tracer_quantile(&t, 0.99, &q));
    CHECK_U64(q.count, 990); /* rank 990 is the last fast one */
    CHECK(tracer_quantile(&t, 0.999, &q));
    CHECK(q.lo_us <= 5000 && 5009 < q.hi_us);
    CHECK_U64(q.count, 10);
    CHECK_U64(q.step_us[1], 10);
    CHECK(q.step_us[3] >= 4980 && q.step_us[3] <= 4990);
    CHECK_U64(t.max_step_us[3], 4989);
}

/* The slowest kept are the largest totals, largest first, whole; records
 * with no first or last stamp are not counted. */
TEST(trace, slowest_kept_in_order)
{
    struct tracer t;
    tracer_init(&t, 3);
    for (uint64_t i = 0; i < 1000; i++) {
        uint64_t a = 1000000 * US, total = (i * 7919) % 1000 + 1;
        struct trace_rec r = {.at = {a, a + 1 * US, a + total * US},
                              .index = total};
        tracer_add(&t, &r);
    }
    struct trace_rec none = {.at = {0, 5, 10}}, open = {.at = {5, 6, 0}};
    tracer_add(&t, &none);
    tracer_add(&t, &open);
    CHECK_U64(t.count, 1000);
    struct trace_rec out[TRACE_SLOWEST];
    CHECK_EQ(tracer_slowest(&t, out), TRACE_SLOWEST);
    for (unsigned i = 0; i < TRACE_SLOWEST; i++)
        CHECK_U64(out[i].index, 1000 - i);
    tracer_reset(&t);
    CHECK_U64(t.count, 0);
    CHECK_EQ(tracer_slowest(&t, out), 0);
    struct trace_quantile q;
    CHECK(!tracer_quantile(&t, 0.5, &q));
    CHECK_EQ(t.n_stamps, 3);
}
