/* tracecmd.c - SERVER.TRACE: where requests' time went on this server
 * (node_traces; docs/protocol.md, docs/operations.md "Where a request's
 * time goes"), as one JSON document; SERVER.TRACE RESET starts over. */
#include <time.h>

#include "common/json.h"
#include "common/resp.h"
#include "server/command.h"
#include "server/conn.h"
#include "server/node.h"
#include "server/server.h"

/* The lock state machine's commands by their type (fsm.h), as traced. */
static const char *const cmd_names[FSM_CMD_MAX + 1] = {"?",
                                                       "open",
                                                       "close",
                                                       "expire",
                                                       "acquire",
                                                       "release",
                                                       "extend",
                                                       "tick",
                                                       "set_ttl",
                                                       "unwait",
                                                       "expire_batch",
                                                       "acquire_shared",
                                                       "release_shared",
                                                       "downgrade",
                                                       "sem_acquire",
                                                       "sem_release",
                                                       "campaign",
                                                       "proclaim",
                                                       "resign",
                                                       "revoke",
                                                       "user_set",
                                                       "user_del",
                                                       "leases",
                                                       "sem_lease"};

static const double quantiles[] = {0.5, 0.9, 0.99, 0.999, 1.0};

/* The steps of a record or a band, by the name of the stamp each ends at. */
static void write_steps(struct json *j, const char *const *names, unsigned n,
                        const uint64_t *steps)
{
    json_object_open(j, "steps_us");
    for (unsigned i = 1; i < n; i++)
        json_u64(j, names[i], steps[i]);
    json_object_close(j);
}

static void write_tracer(struct json *j, const char *key,
                         const struct tracer *t, const char *const *names,
                         bool commands)
{
    json_object_open(j, key);
    json_u64(j, "count", t->count);
    json_array_open(j, "stamps");
    for (unsigned i = 0; i < t->n_stamps; i++)
        json_str(j, NULL, names[i]);
    json_array_close(j);
    json_array_open(j, "quantiles");
    for (size_t k = 0; k < sizeof quantiles / sizeof quantiles[0]; k++) {
        struct trace_quantile q;
        if (!tracer_quantile(t, quantiles[k], &q))
            break;
        json_object_open(j, NULL);
        json_f64(j, "q", quantiles[k]);
        json_u64(j, "total_lo_us", q.lo_us);
        json_u64(j, "total_hi_us", q.hi_us);
        json_u64(j, "count", q.count);
        write_steps(j, names, t->n_stamps, q.step_us);
        json_object_close(j);
    }
    json_array_close(j);
    json_object_open(j, "max_step_us");
    for (unsigned i = 1; i < t->n_stamps; i++)
        json_u64(j, names[i], t->max_step_us[i]);
    json_object_close(j);
    struct trace_rec slow[TRACE_SLOWEST];
    unsigned n = tracer_slowest(t, slow);
    /* Their times as the wall clock's, to line them up with the log. */
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    uint64_t wall_ms = (uint64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
    uint64_t now_ns = uv_hrtime();
    json_array_open(j, "slowest");
    for (unsigned i = 0; i < n; i++) {
        uint64_t steps[TRACE_STAMPS_MAX];
        trace_steps_us(t, &slow[i], steps);
        json_object_open(j, NULL);
        if (commands)
            json_str(j, "command",
                     slow[i].what <= FSM_CMD_MAX ? cmd_names[slow[i].what]
                                                 : "?");
        json_u64(j, "index", slow[i].index);
        json_u64(j, "total_us", trace_total_us(t, &slow[i]));
        json_u64(j, "at_ms", wall_ms - (now_ns - slow[i].at[0]) / 1000000);
        json_u64(j, "batch", slow[i].batch);
        json_u64(j, "longest_turn_us", slow[i].turn_us);
        write_steps(j, names, t->n_stamps, steps);
        json_object_close(j);
    }
    json_array_close(j);
    json_object_close(j);
}

bool tracecmd_trace(struct conn *c, struct slot *s, const struct resp_value *a,
                    size_t n)
{
    struct node *node = command_node(c);
    if (n == 2 && command_is(&a[1], "RESET")) {
        node_traces_reset(node);
        resp_write_simple(&s->buf, "OK");
        return true;
    }
    if (n != 1) {
        command_error(s, "ERR SERVER.TRACE takes no argument, or RESET");
        return true;
    }
    struct buf b;
    buf_init(&b);
    struct json j;
    json_init(&j, &b);
    json_object_open(&j, NULL);
    json_bool(&j, "leader", node_is_leader(node));
    write_tracer(&j, "writes", node_traces(node, false), node_trace_names,
                 true);
    write_tracer(&j, "appends", node_traces(node, true), node_ftrace_names,
                 false);
    json_object_close(&j);
    resp_write_bulk(&s->buf, b.data, b.len);
    buf_close(&b);
    return true;
}
