/* turn.h - the budget of one turn of dlockd's loop, and how long turns take.
 *
 * Requests are served from the loop's callbacks. Without a bound, requests
 * pipelined on many connections would all be served between two polls, and
 * timers (lease expiry, Raft ticks), keepalives waiting in other sockets and
 * Raft heartbeats would wait behind them (issue 14). A turn serves clients
 * for about TURN_BUDGET_MS, then the rest waits for the next turn, behind
 * the connections already waiting (conn.c). The budget is counted in each
 * phase that serves clients: the reads of one poll, and the connections
 * resumed between two polls.
 *
 * It also measures each turn's busy time (the time between two polls, less
 * the time spent waiting in them) for INFO, and keeps the last turns busy
 * for TURN_LONG_NS or more, so that a request's trace can say whether a
 * long turn held it (common/trace.h). */
#ifndef DLOCK_TURN_H
#define DLOCK_TURN_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define TURN_BUDGET_MS 2
#define TURN_LONG_NS 500000 /* 0.5 ms: a turn the trace notes */
#define TURN_LONG_KEPT 64

struct turn {
    uv_loop_t *loop;
    uv_prepare_t prepare; /* before each poll */
    uv_check_t check;     /* after each poll */
    uint64_t phase;       /* bumped before and after each poll */
    uint64_t slice_phase; /* the phase the budget is counted for */
    uint64_t slice_end_ns;
    uint64_t cut;          /* how often the budget cut serving short */
    uint64_t last_ns;      /* the last prepare's time */
    uint64_t last_idle_ns; /* the loop's idle time then */
    uint64_t longest_ns;   /* the longest turn's busy time */
    uint64_t slow_turns;   /* turns busy for 100 ms or more */
    uint64_t woke_phase;   /* the phase woke_ns is of */
    uint64_t woke_ns;      /* when this turn's poll returned */
    struct {
        uint64_t end_ns;
        uint32_t busy_us;
    } long_turns[TURN_LONG_KEPT]; /* a ring of the last long turns */
    unsigned n_long;              /* how many were kept, ever */
};

/* Starts measuring and counting phases on loop, which must have been
 * configured with UV_METRICS_IDLE_TIME before it ran (turn_configure). */
void turn_init(struct turn *t, uv_loop_t *loop);
/* Configures loop to measure its idle time; call before uv_run. */
void turn_configure(uv_loop_t *loop);
/* Closes the handles (their close callbacks do nothing: t is not freed). */
void turn_close(struct turn *t);
/* Whether this phase's budget is spent. The first call of a phase starts
 * its budget and answers false, so each phase serves at least one
 * request. */
bool turn_over(struct turn *t);
/* When the poll of the turn under way returned: its busy time so far is
 * from then to now. */
uint64_t turn_woke(struct turn *t);
/* The longest busy time (us) of the turns that ended after from_ns and were
 * noted as long, and of the turn under way so far. */
uint32_t turn_longest_since(struct turn *t, uint64_t from_ns);

#endif
