/* test_fsm_changes.c - the changes of holds the machine reports for
 * watches (fsm_changes): one per hold made, changed or ended, in order,
 * with the hold and the name after it. */
#include "fsm_test.h"

/* The changes since the last clear, as "type:session:excl+shared/holders"
 * joined by spaces (type: G granted, R released, L lost, W withdrawn, D
 * downgraded, P proclaimed, with =value for an election's). */
static const char *changes(struct m *m)
{
    static char out[1024];
    static const char letter[] = " GRLWDP";
    size_t n, len = 0;
    const struct fsm_change *ch = fsm_changes(m->f, &n);
    out[0] = '\0';
    for (size_t i = 0; i < n && len < sizeof out; i++)
        len += (size_t)snprintf(
            out + len, sizeof out - len, "%s%c:%llu:%u+%u/%u%s%.*s",
            len ? " " : "", letter[ch[i].type],
            (unsigned long long)ch[i].session, ch[i].exclusive, ch[i].shared,
            ch[i].holders, ch[i].value_len ? "=" : "", (int)ch[i].value_len,
            ch[i].value);
    fsm_events_clear(m->f);
    return out;
}

#define CHECK_CHANGES(m, want)                                                 \
    do {                                                                       \
        const char *got_ = changes(m);                                         \
        CHECK_MSG(strcmp(got_, want) == 0, "changes '%s', want '%s'", got_,    \
                  want);                                                       \
    } while (0)

TEST(fsm_changes, grants_releases_and_handover)
{
    struct m m;
    m_init(&m);
    uint64_t a = m_session(&m), b = m_session(&m);
    fsm_events_clear(m.f);
    m_acq(&m, a, "x", "", 0, DEFAULT_DELAY, "");
    CHECK_CHANGES(&m, "G:1:1+0/1");
    m_acq(&m, a, "x", "", 0, DEFAULT_DELAY, "");
    CHECK_CHANGES(&m, "G:1:2+0/1");
    m_acq(&m, b, "x", "", 9000, DEFAULT_DELAY, "");
    CHECK_CHANGES(&m, "");
    m_rel(&m, a, "x", "", "");
    CHECK_CHANGES(&m, "R:1:1+0/1");
    m_rel(&m, a, "x", "", "");
    CHECK_CHANGES(&m, "R:1:0+0/0 G:2:1+0/1");
    m_expire(&m, b);
    CHECK_CHANGES(&m, "L:2:0+0/0");
    m_close(&m);
}

TEST(fsm_changes, modes_semaphores_elections)
{
    struct m m;
    m_init(&m);
    uint64_t a = m_session(&m), b = m_session(&m);
    fsm_events_clear(m.f);
    struct fsm_result w = m_acq(&m, a, "d", "", 0, DEFAULT_DELAY, "");
    struct fsm_cmd c = str_cmd(FSM_ACQUIRE_SHARED, "d", "", "");
    c.session = b;
    c.wait = 9000;
    c.delay = DEFAULT_DELAY;
    m_cmd(&m, c);
    changes(&m);
    c = str_cmd(FSM_DOWNGRADE, "d", "", "");
    c.session = a;
    m_cmd(&m, c);
    CHECK_CHANGES(&m, "D:1:0+1/1 G:2:0+1/2");

    c = str_cmd(FSM_SEM_ACQUIRE, "s", "", "");
    c.session = a;
    c.permits = 3;
    c.count = 1;
    c.delay = DEFAULT_DELAY;
    m_cmd(&m, c);
    c.count = 2;
    m_cmd(&m, c);
    CHECK_CHANGES(&m, "G:1:0+1/1 G:1:0+3/1");

    c = str_cmd(FSM_CAMPAIGN, "e", "", "");
    c.session = b;
    c.value = "v1";
    c.value_len = 2;
    c.delay = DEFAULT_DELAY;
    struct fsm_result r = m_cmd(&m, c);
    c = str_cmd(FSM_PROCLAIM, "e", NULL, "");
    c.session = b;
    c.token = r.token;
    c.value = "v2";
    c.value_len = 2;
    m_cmd(&m, c);
    CHECK_CHANGES(&m, "G:2:1+0/1=v1 P:2:1+0/1=v2");
    c = str_cmd(FSM_RESIGN, "e", "", "");
    c.session = b;
    m_cmd(&m, c);
    CHECK_CHANGES(&m, "R:2:0+0/0");
    (void)w;
    m_close(&m);
}

/* A grant taken back is WITHDRAWN; a snapshot restored reports nothing. */
TEST(fsm_changes, withdrawn_and_restore)
{
    struct m m;
    m_init(&m);
    uint64_t a = m_session(&m);
    fsm_events_clear(m.f);
    struct fsm_result g = m_acq(&m, a, "u", "", 5000, DEFAULT_DELAY, "");
    changes(&m);
    m_unwait(&m, g.index, a, "u", "", 0, g.index);
    CHECK_CHANGES(&m, "W:1:0+0/0");
    m_acq(&m, a, "v", "", 0, DEFAULT_DELAY, "");
    changes(&m);
    size_t len;
    uint8_t *snap = m_snap(&m, &len);
    CHECK_EQ(fsm_restore(m.f, snap, len), 0);
    CHECK_CHANGES(&m, "");
    free(snap);
    m_close(&m);
}
