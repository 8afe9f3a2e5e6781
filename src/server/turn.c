/* turn.c - the budget of one loop turn, and the longest turn (turn.h). */
#include "server/turn.h"

#define NS_PER_MS 1000000ull

static void closed_cb(uv_handle_t *h)
{
}

/* The time since the last prepare, less the time the poll waited, is what
 * the turn that ends here kept the loop busy. */
static void on_prepare(uv_prepare_t *h)
{
    struct turn *t = h->data;
    uint64_t now = uv_hrtime(), idle = uv_metrics_idle_time(t->loop);
    if (t->last_ns != 0) {
        uint64_t span = now - t->last_ns, waited = idle - t->last_idle_ns;
        uint64_t busy = span > waited ? span - waited : 0;
        if (busy > t->longest_ns)
            t->longest_ns = busy;
        if (busy >= 100 * NS_PER_MS)
            t->slow_turns++;
        if (busy >= TURN_LONG_NS) {
            unsigned i = t->n_long++ % TURN_LONG_KEPT;
            t->long_turns[i].end_ns = now;
            t->long_turns[i].busy_us = (uint32_t)(busy / 1000);
        }
    }
    t->last_ns = now;
    t->last_idle_ns = idle;
    t->phase++;
}

static void on_check(uv_check_t *h)
{
    struct turn *t = h->data;
    t->phase++;
}

void turn_configure(uv_loop_t *loop)
{
    uv_loop_configure(loop, UV_METRICS_IDLE_TIME);
}

void turn_init(struct turn *t, uv_loop_t *loop)
{
    *t = (struct turn){.loop = loop, .phase = 1};
    uv_prepare_init(loop, &t->prepare);
    t->prepare.data = t;
    uv_prepare_start(&t->prepare, on_prepare);
    uv_unref((uv_handle_t *)&t->prepare);
    uv_check_init(loop, &t->check);
    t->check.data = t;
    uv_check_start(&t->check, on_check);
    uv_unref((uv_handle_t *)&t->check);
}

void turn_close(struct turn *t)
{
    uv_close((uv_handle_t *)&t->prepare, closed_cb);
    uv_close((uv_handle_t *)&t->check, closed_cb);
}

bool turn_over(struct turn *t)
{
    uint64_t now = uv_hrtime();
    if (t->slice_phase != t->phase) {
        t->slice_phase = t->phase;
        t->slice_end_ns = now + TURN_BUDGET_MS * NS_PER_MS;
        return false;
    }
    if (now < t->slice_end_ns)
        return false;
    if (t->slice_end_ns != 0)
        t->cut++; /* once a phase */
    t->slice_end_ns = 0;
    return true;
}

uint64_t turn_woke(struct turn *t)
{
    /* The idle time grows only in the poll: what it grew by since the
     * last prepare is how long the poll waited. */
    if (t->woke_phase != t->phase) {
        t->woke_phase = t->phase;
        uint64_t waited = uv_metrics_idle_time(t->loop) - t->last_idle_ns;
        t->woke_ns = t->last_ns != 0 ? t->last_ns + waited : uv_hrtime();
    }
    return t->woke_ns;
}

uint32_t turn_longest_since(struct turn *t, uint64_t from_ns)
{
    uint64_t now = uv_hrtime(), woke = turn_woke(t);
    uint32_t longest = now > woke ? (uint32_t)((now - woke) / 1000) : 0;
    unsigned kept = t->n_long < TURN_LONG_KEPT ? t->n_long : TURN_LONG_KEPT;
    for (unsigned k = 1; k <= kept; k++) { /* newest first */
        unsigned i = (t->n_long - k) % TURN_LONG_KEPT;
        if (t->long_turns[i].end_ns <= from_ns)
            break;
        if (t->long_turns[i].busy_us > longest)
            longest = t->long_turns[i].busy_us;
    }
    return longest;
}
