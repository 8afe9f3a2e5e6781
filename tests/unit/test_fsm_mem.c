/* test_fsm_mem.c - the lock state machine's memory at scale: 1,000,000 held
 * locks across 10,000 sessions, by fsm_stats.bytes and by the process's
 * resident memory, and the time to apply, snapshot and restore them.
 * FSM_MEM_REPORT=1 prints the figures (docs/design.md §11.10 quotes them). */
#include "fsm_test.h"

#include <time.h>
#include <unistd.h>

#define SESSIONS 10000
#define LOCKS 1000000

/* AddressSanitizer's allocator pads every allocation: resident memory says
 * nothing about the machine's then. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

static uint64_t rss_bytes(void)
{
    unsigned long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    CHECK(f != NULL);
    CHECK(fscanf(f, "%lu %lu", &size, &resident) == 2);
    fclose(f);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1e3 + (t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Opens SESSIONS sessions and has each take LOCKS / SESSIONS locks named
 * "resource/NNNNNNN" (16 bytes), with the owner given and, if with_req, a
 * request id "req-NNNNNNNNNNNN" (16 bytes). Prints and checks the
 * figures. */
static void load(const char *what, const char *owner, bool with_req,
                 double max_stats, double max_rss)
{
    uint64_t rss0 = rss_bytes();
    struct m m;
    m_init(&m);
    m.quick = true;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    static uint64_t ids[SESSIONS];
    for (int i = 0; i < SESSIONS; i++)
        ids[i] = m_session(&m);
    for (int i = 0; i < LOCKS; i++) {
        char name[32], req[32] = "";
        snprintf(name, sizeof name, "resource/%07d", i);
        if (with_req)
            snprintf(req, sizeof req, "req-%012d", i);
        struct fsm_result r =
            m_acq(&m, ids[i % SESSIONS], name, owner, 0, DEFAULT_DELAY, req);
        CHECK_EQ(r.status, FSM_OK);
        fsm_events_clear(m.f); /* as a server does after each entry */
    }
    double apply_ms = ms_since(&t0);
    struct fsm_stats st;
    fsm_stats(m.f, &st);
    CHECK_U64(st.held, LOCKS);
    uint64_t rss = rss_bytes() - rss0;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t len;
    uint8_t *snap = m_snap(&m, &len);
    double snap_ms = ms_since(&t0);
    struct fsm *b = fsm_new();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_EQ(fsm_restore(b, snap, len), 0);
    double restore_ms = ms_since(&t0);
    struct fsm_stats st_b;
    fsm_stats(b, &st_b);
    CHECK_U64(st_b.held, LOCKS);

    double per_stats = (double)st.bytes / LOCKS, per_rss = (double)rss / LOCKS;
    if (getenv("FSM_MEM_REPORT") != NULL)
        printf("fsm_mem %s: %d locks, %d sessions: stats.bytes %.1f MB "
               "(%.0f B/lock), RSS +%.1f MB (%.0f B/lock); apply %.0f ms, "
               "snapshot %.0f ms (%.1f MB), restore %.0f ms\n",
               what, LOCKS, SESSIONS, st.bytes / 1e6, per_stats, rss / 1e6,
               per_rss, apply_ms, snap_ms, len / 1e6, restore_ms);
    CHECK_MSG(per_stats < max_stats, "%.0f bytes per lock", per_stats);
    CHECK_MSG(SANITIZED || per_rss < max_rss, "%.0f bytes of RSS per lock",
              per_rss);
    free(snap);
    fsm_free(b);
    m_close(&m);
}

/* A held lock with a 16-byte name and no owner costs under 320 bytes, by
 * the machine's count and by resident memory: the lock and its hold (the
 * time a hold was made, which metrics and the status page show, took it
 * from 292 to 308). */
TEST_TIMEOUT(fsm_mem, million_held_locks, 300)
{
    load("plain", "", false, 320, 320);
}

/* With an 8-byte owner and a remembered 16-byte request id per ACQUIRE,
 * the outcome tables add their share. */
TEST_TIMEOUT(fsm_mem, million_held_locks_with_reqs, 300)
{
    load("owner+req", "worker-7", true, 400, 400);
}
