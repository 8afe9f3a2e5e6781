/* resetterm.c - `dlockd --reset-term` (resetterm.h). */
#include "server/resetterm.h"

#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "raft/raft.h"
#include "server/datadir.h"
#include "store/store.h"

/* The latest configuration in st: the last one in its entries, or the
 * snapshot's; n = 0 when there is none. */
static void latest_conf(const struct store_state *st, struct raft_conf *c)
{
    c->n = 0;
    for (size_t i = st->n_entries; i > 0; i--) {
        const struct raft_entry *e = &st->entries[i - 1];
        if (e->type == RAFT_ENTRY_CONF &&
            raft_conf_decode(c, e->data, e->len) == 0)
            return;
    }
    if (st->has_snapshot)
        *c = st->snapshot.conf;
}

/* Checks st may be reset and does it; 0 or -1 with msg. */
static int reset(struct store *s, const struct store_state *st,
                 const struct config *cfg, char *msg, size_t msglen)
{
    if (st->term <= RAFT_MAX_TERM) {
        snprintf(msg, msglen,
                 "the stored term %" PRIu64 " is within bounds: "
                 "nothing to do",
                 st->term);
        return 0;
    }
    struct raft_conf c;
    latest_conf(st, &c);
    if (c.n != 1 || c.servers[0].id != cfg->id) {
        snprintf(
            msg, msglen,
            "--reset-term is for a cluster of this server alone; this "
            "one has %u server%s in its configuration: remove server %" PRIu64
            " from its cluster, empty %s and add it back with "
            "--join (docs/operations.md)",
            c.n, c.n == 1 ? "" : "s", cfg->id, cfg->data);
        return -1;
    }
    uint64_t last = st->n_entries      ? st->entries[st->n_entries - 1].term
                    : st->has_snapshot ? st->snapshot.term
                                       : 0;
    if (last > RAFT_MAX_TERM) {
        snprintf(msg, msglen,
                 "the log holds entries of term %" PRIu64 ", past the bound: "
                 "the term cannot be reset; start a new data directory",
                 last);
        return -1;
    }
    if (store_set_hard_state(s, last, 0) != 0 || store_sync(s) != 0) {
        snprintf(msg, msglen, "%s", store_errmsg(s));
        return -1;
    }
    snprintf(msg, msglen,
             "term reset from %" PRIu64 " to %" PRIu64
             ", the last term in the log",
             st->term, last);
    return 0;
}

int resetterm_run(const struct config *cfg, char *msg, size_t msglen)
{
    struct datadir d = {0};
    char holder[128];
    snprintf(holder, sizeof holder, "pid %ld, dlockd --reset-term",
             (long)getpid());
    if (datadir_open(&d, cfg->data, cfg->id, holder, msg, msglen) != 0)
        return -1;
    struct store *s = store_new(cfg->data, 0);
    struct store_state st = {0};
    int rc = -1;
    if (store_open(s, &st) != 0)
        snprintf(msg, msglen, "%s", store_errmsg(s));
    else
        rc = reset(s, &st, cfg, msg, msglen);
    store_state_close(&st);
    store_free(s);
    datadir_close(&d);
    return rc;
}
