/* replay.c - reads the replicated lock state back from a stopped server's
 * data directory, for the fault campaign's checker (tests/faults/check.py):
 * recovers the store as dlockd would (snapshot, then the log after it),
 * restores the snapshot into a state machine and applies every command of
 * the log in order, and after each entry prints how the holder of every
 * lock named so far changed:
 *
 *   base INDEX LAST_TOKEN          the snapshot's index and last token
 *   held INDEX LOCK TOKEN SESSION  a hold of the lock is granted (a new
 *                                  token; a lock held shared has several)
 *   free INDEX LOCK TOKEN          the hold of TOKEN is no more
 *   end INDEX LAST_TOKEN           the last entry applied
 *
 * A lock whose holder changes within one entry (a release that hands the
 * lock to a waiter) prints free then held at that index. The state
 * machine's own invariants (fsm_check) are checked at the end; a failure
 * prints "violation ..." and exits 1. Exit 2: the store does not open.
 *
 *   faults-replay DATA_DIR */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "raft/raft.h"
#include "lock/fsm.h"
#include "store/store.h"

#define MAX_NAMES 4096

#define MAX_HOLDS 64 /* holds of one lock followed (the workload's: a few) */

struct seen {
    char *name;
    uint32_t len;
    uint64_t tokens[MAX_HOLDS]; /* of its holds, in the machine's order */
    uint64_t sessions[MAX_HOLDS];
    size_t n;
};

static struct seen names[MAX_NAMES];
static size_t n_names;

static void note_name(const char *name, uint32_t len)
{
    for (size_t i = 0; i < n_names; i++)
        if (names[i].len == len && memcmp(names[i].name, name, len) == 0)
            return;
    if (n_names == MAX_NAMES) {
        printf("violation more than %d lock names: the rest are not "
               "followed\n",
               MAX_NAMES);
        exit(1);
    }
    names[n_names].name = mem_xmemdup(name, len);
    names[n_names].len = len;
    names[n_names].n = 0;
    n_names++;
}

static bool add_hold(void *arg, const struct fsm_hold_info *h)
{
    struct seen *now = arg;
    if (now->n == MAX_HOLDS) {
        printf("violation more than %d holds of one lock\n", MAX_HOLDS);
        exit(1);
    }
    now->tokens[now->n] = h->token;
    now->sessions[now->n++] = h->session;
    return true;
}

static bool has(const uint64_t *v, size_t n, uint64_t token)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == token)
            return true;
    return false;
}

/* Prints the changes of holds since the last call: those gone, then those
 * new. */
static void report(const struct fsm *f, uint64_t index)
{
    for (size_t i = 0; i < n_names; i++) {
        struct seen *s = &names[i], now = {.n = 0};
        fsm_lock_holds(f, s->name, s->len, 0, add_hold, &now);
        for (size_t k = 0; k < s->n; k++)
            if (!has(now.tokens, now.n, s->tokens[k]))
                printf("free %" PRIu64 " %.*s %" PRIu64 "\n", index,
                       (int)s->len, s->name, s->tokens[k]);
        for (size_t k = 0; k < now.n; k++)
            if (!has(s->tokens, s->n, now.tokens[k]))
                printf("held %" PRIu64 " %.*s %" PRIu64 " %" PRIu64 "\n", index,
                       (int)s->len, s->name, now.tokens[k], now.sessions[k]);
        memcpy(s->tokens, now.tokens, now.n * sizeof now.tokens[0]);
        memcpy(s->sessions, now.sessions, now.n * sizeof now.sessions[0]);
        s->n = now.n;
    }
}

static bool note_lock(void *arg, const struct fsm_lock_info *li)
{
    (void)arg;
    note_name(li->name, li->name_len);
    return true;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: faults-replay DATA_DIR\n");
        return 2;
    }
    struct store *s = store_new(argv[1], 0);
    struct store_state st;
    if (store_open(s, &st) != 0) {
        fprintf(stderr, "faults-replay: %s\n", store_errmsg(s));
        store_free(s);
        return 2;
    }
    struct fsm *f = fsm_new();
    uint64_t index = 0;
    if (st.has_snapshot) {
        if (fsm_restore(f, st.snapshot_data, st.snapshot_len) != 0) {
            printf("violation the snapshot at %" PRIu64 " does not restore\n",
                   st.snapshot.index);
            return 1;
        }
        index = st.snapshot.index;
    }
    printf("base %" PRIu64 " %" PRIu64 "\n", index, fsm_last_token(f));
    fsm_lock_list(f, NULL, 0, NULL, 0, note_lock, NULL);
    report(f, index);
    for (size_t i = 0; i < st.n_entries; i++) {
        const struct raft_entry *e = &st.entries[i];
        index = e->index;
        if (e->type != RAFT_ENTRY_NORMAL)
            continue;
        struct fsm_cmd cmd;
        if (fsm_cmd_decode(&cmd, e->data, e->len) == 0 &&
            (cmd.type == FSM_ACQUIRE || cmd.type == FSM_ACQUIRE_SHARED ||
             cmd.type == FSM_SEM_ACQUIRE || cmd.type == FSM_CAMPAIGN))
            note_name(cmd.name, cmd.name_len);
        struct fsm_result res;
        fsm_apply(f, e->index, e->data, e->len, &res);
        fsm_events_clear(f);
        report(f, e->index);
    }
    printf("end %" PRIu64 " %" PRIu64 "\n", index, fsm_last_token(f));
    char msg[256];
    int rc = 0;
    if (!fsm_check(f, msg, sizeof msg)) {
        printf("violation %s\n", msg);
        rc = 1;
    }
    fsm_free(f);
    store_state_close(&st);
    store_free(s);
    for (size_t i = 0; i < n_names; i++)
        free(names[i].name);
    return rc;
}
