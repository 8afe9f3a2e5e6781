/* test_prom.c - histograms (src/common/hist.c) and the Prometheus text
 * format (src/common/prom.c): buckets by inclusive upper bound, quantile
 * estimates, and the exposition's lines as Prometheus reads them. */
#include "harness.h"

#include "common/hist.h"
#include "common/prom.h"

static const uint64_t bounds[] = {10, 100, 1000};

/* An observation counts in the first bucket whose bound is at least it;
 * above every bound, in the last; count and sum follow. */
TEST(hist, buckets)
{
    struct hist h;
    hist_init(&h, bounds, 3);
    uint64_t values[] = {0, 10, 11, 100, 999, 1000, 1001, 5000};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        hist_observe(&h, values[i]);
    CHECK_U64(h.counts[0], 2); /* 0, 10 */
    CHECK_U64(h.counts[1], 2); /* 11, 100 */
    CHECK_U64(h.counts[2], 2); /* 999, 1000 */
    CHECK_U64(h.counts[3], 2); /* above */
    CHECK_U64(h.count, 8);
    CHECK_U64(h.sum, 0 + 10 + 11 + 100 + 999 + 1000 + 1001 + 5000);
}

/* The quantile is the bound of the bucket it falls in: 0 when empty,
 * UINT64_MAX above every bound; the sum saturates. */
TEST(hist, quantile_and_saturation)
{
    struct hist h;
    hist_init(&h, bounds, 3);
    CHECK_U64(hist_quantile(&h, 0.99), 0);
    for (int i = 0; i < 98; i++)
        hist_observe(&h, 5);
    hist_observe(&h, 50);
    hist_observe(&h, 500);
    CHECK_U64(hist_quantile(&h, 0.5), 10);
    CHECK_U64(hist_quantile(&h, 0.99), 100);
    CHECK_U64(hist_quantile(&h, 1.0), 1000);
    hist_observe(&h, 1u << 20);
    CHECK_U64(hist_quantile(&h, 1.0), UINT64_MAX);
    hist_observe(&h, UINT64_MAX);
    CHECK_U64(h.sum, UINT64_MAX);
}

/* The shared bounds ascend (a histogram over them is well formed). */
TEST(hist, shared_bounds_ascend)
{
    for (unsigned i = 1; i < HIST_LATENCY_US_N; i++)
        CHECK(hist_latency_us[i] > hist_latency_us[i - 1]);
    for (unsigned i = 1; i < HIST_HOLD_MS_N; i++)
        CHECK(hist_hold_ms[i] > hist_hold_ms[i - 1]);
    for (unsigned i = 1; i < HIST_COUNT_N; i++)
        CHECK(hist_count[i] > hist_count[i - 1]);
    CHECK(HIST_LATENCY_US_N <= HIST_BOUNDS_MAX);
}

/* A family: HELP (escaped) and TYPE lines, samples with and without
 * labels. */
TEST(prom, family_and_samples)
{
    struct buf b;
    buf_init(&b);
    prom_family(&b, "dlock_x_total", "counter", "Things\\done\nhere.");
    prom_u64(&b, "dlock_x_total", NULL, 7);
    prom_u64(&b, "dlock_x_total", "kind=\"lock\"", 18446744073709551615u);
    prom_f64(&b, "dlock_y", "", 0.25);
    CHECK_STR(b.data, "# HELP dlock_x_total Things\\\\done\\nhere.\n"
                      "# TYPE dlock_x_total counter\n"
                      "dlock_x_total 7\n"
                      "dlock_x_total{kind=\"lock\"} 18446744073709551615\n"
                      "dlock_y 0.25\n");
    buf_close(&b);
}

/* A histogram: cumulative buckets with le in the base unit, +Inf equal
 * to the count, the sum scaled. */
TEST(prom, histogram)
{
    struct hist h;
    hist_init(&h, bounds, 3);
    hist_observe(&h, 5);
    hist_observe(&h, 50);
    hist_observe(&h, 5000);
    struct buf b;
    buf_init(&b);
    prom_hist(&b, "d_seconds", "kind=\"lock\"", &h, 1e3);
    CHECK_STR(b.data, "d_seconds_bucket{kind=\"lock\",le=\"0.01\"} 1\n"
                      "d_seconds_bucket{kind=\"lock\",le=\"0.1\"} 2\n"
                      "d_seconds_bucket{kind=\"lock\",le=\"1\"} 2\n"
                      "d_seconds_bucket{kind=\"lock\",le=\"+Inf\"} 3\n"
                      "d_seconds_sum{kind=\"lock\"} 5.055\n"
                      "d_seconds_count{kind=\"lock\"} 3\n");
    buf_clear(&b);
    prom_hist(&b, "n", NULL, &h, 1);
    CHECK(strstr(b.data, "n_bucket{le=\"10\"} 1\n") != NULL);
    CHECK(strstr(b.data, "n_count 3\n") != NULL);
    buf_close(&b);
}
