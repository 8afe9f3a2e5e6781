/* snapshot.c - snapshots sent to followers in chunks, and installed (§7). */
#include "raft/core.h"

static void send_chunk(struct raft *r, struct progress *pr)
{
    struct raft_msg *m = core_msg_new(r, RAFT_MSG_SNAPSHOT, pr->id);
    m->index = pr->snap_index;
    m->log_term = r->log.snap_term;
    m->offset = pr->snap_offset;
    m->len = r->c.chunk_bytes;
    m->conf = r->snap_conf;
    pr->snap_elapsed = 0;
}

void snapshot_start(struct raft *r, struct progress *pr)
{
    pr->state = PR_SNAPSHOT;
    pr->snap_index = r->log.snap_index;
    pr->snap_offset = 0;
    pr->infl_n = 0;
    pr->infl_total = 0;
    send_chunk(r, pr);
}

void snapshot_handle_resp(struct raft *r, const struct raft_msg *m)
{
    struct progress *pr = find_pr(r, m->from);
    if (pr == NULL)
        return;
    pr->active = true;
    if (pr->state != PR_SNAPSHOT || m->index != pr->snap_index)
        return;
    if (m->last && !m->reject) {
        if (m->index > pr->match)
            pr->match = m->index;
        replication_to_probe(pr);
        replication_maybe_commit(r);
        return;
    }
    if (m->reject)
        pr->snap_offset = 0;
    else if (m->offset > pr->snap_offset)
        pr->snap_offset = m->offset;
    else
        return; /* a duplicate: the chunk it answers is already followed */
    send_chunk(r, pr);
}

static void snapshot_reply(struct raft *r, const struct raft_msg *m,
                           bool reject, bool done, uint64_t offset)
{
    struct raft_msg resp = {.type = RAFT_MSG_SNAPSHOT_RESP,
                            .from = r->c.id,
                            .to = m->from,
                            .term = r->term,
                            .index = m->index,
                            .offset = offset,
                            .reject = reject,
                            .last = done};
    update_reply_durable(r, &resp);
}

void snapshot_handle(struct raft *r, const struct raft_msg *m)
{
    /* Already holding what the snapshot covers (§7): nothing to install. */
    if (m->index <= r->commit ||
        (raftlog_has_term(&r->log, m->index) &&
         raftlog_term(&r->log, m->index) == m->log_term)) {
        replication_commit_to(r, m->index);
        snapshot_reply(r, m, false, true, 0);
        return;
    }
    if (r->chunk_pending)
        return; /* a duplicate of the chunk just accepted */
    if (m->offset == 0) {
        r->recv_index = m->index;
        r->recv_term = m->log_term;
        r->recv_offset = 0;
    }
    if (m->index != r->recv_index || m->log_term != r->recv_term) {
        snapshot_reply(r, m, true, false, 0);
        return;
    }
    if (m->offset != r->recv_offset) {
        snapshot_reply(r, m, false, false, r->recv_offset);
        return;
    }
    free(r->chunk_buf);
    r->chunk_buf = mem_xmemdup(m->data, m->len);
    r->chunk = *m;
    r->chunk.data = r->chunk_buf;
    r->chunk.entries = NULL;
    r->chunk.n_entries = 0;
    r->chunk_pending = true;
    r->recv_offset += m->len;
    if (m->last) {
        /* Install (§7): the log restarts after the snapshot. Apply waits
         * until the edge has restored the state machine from it. */
        raftlog_reset(&r->log, m->index, m->log_term);
        r->unstable_from = m->index + 1;
        r->snap_conf = m->conf;
        core_set_conf(r, &m->conf, m->index);
        if (m->index > r->commit)
            r->commit = m->index;
        r->applied = m->index;
        r->install_pending = true;
        r->recv_index = 0;
    }
    snapshot_reply(r, m, false, m->last, r->recv_offset);
}
