/* update.c - what the edge is handed, and the replies held until the
 * state they promise is durable. */
#include "raft/core.h"

/* Queues a reply that promises durable state: it goes out once everything
 * accumulated so far is persisted. */
void update_reply_durable(struct raft *r, const struct raft_msg *m)
{
    uint64_t seq = has_unpersisted(r) ? r->next_seq + 1 : r->next_seq;
    struct held *h = r->held.n ? &r->held.v[r->held.n - 1] : NULL;
    /* Acknowledgements to the same server and seq supersede each other. */
    if (h != NULL && h->seq == seq && h->type == RAFT_MSG_APPEND_RESP &&
        m->type == RAFT_MSG_APPEND_RESP && h->to == m->to &&
        h->term == m->term && !m->reject && m->index >= h->index) {
        h->index = m->index;
        return;
    }
    h = VEC_PUSH(r->held);
    *h = (struct held){.seq = seq,
                       .to = m->to,
                       .term = m->term,
                       .index = m->index,
                       .offset = m->offset,
                       .type = m->type,
                       .reject = m->reject,
                       .last = m->last};
}

/* Sends the held replies whose state is now durable. Replies to ourselves
 * are stepped at once; they may hold new replies, so the ready ones are
 * taken out of the vector first. */
static void release_held(struct raft *r)
{
    struct held self[8];
    for (;;) {
        size_t k = 0, n_self = 0;
        bool more = false;
        for (size_t i = 0; i < r->held.n; i++) {
            struct held h = r->held.v[i];
            if (h.seq > r->persisted_seq || (h.to == r->c.id && more)) {
                r->held.v[k++] = h;
            } else if (h.to == r->c.id) {
                self[n_self++] = h;
                more = n_self == 8;
            } else {
                struct raft_msg *m = core_msg_new(r, h.type, h.to);
                m->term = h.term;
                m->index = h.index;
                m->offset = h.offset;
                m->reject = h.reject;
                m->last = h.last;
            }
        }
        r->held.n = k;
        for (size_t i = 0; i < n_self; i++) {
            struct raft_msg m = {.type = self[i].type,
                                 .from = r->c.id,
                                 .to = r->c.id,
                                 .term = self[i].term,
                                 .index = self[i].index};
            core_step(r, &m);
        }
        if (!more)
            return;
    }
}

void raft_persisted(struct raft *r, uint64_t seq)
{
    if (seq > r->next_seq)
        seq = r->next_seq;
    if (seq <= r->persisted_seq)
        return;
    r->persisted_seq = seq;
    if (r->install_pending && r->install_seq != 0 && r->install_seq <= seq) {
        r->install_pending = false;
        r->install_seq = 0;
    }
    release_held(r);
}

bool raft_has_update(const struct raft *r)
{
    if (r->msgs.n > 0 || has_unpersisted(r) || r->ready_reads.n > 0 ||
        r->dropped.n > 0 || r->role_changed || r->read_broadcast)
        return true;
    if (!r->install_pending && r->commit > r->applied)
        return true;
    for (size_t i = 0; i < r->held.n; i++)
        if (r->held.v[i].seq <= r->persisted_seq)
            return true;
    if (r->role == RAFT_LEADER)
        for (unsigned i = 0; i < r->n_prs; i++)
            if (replication_peer_wants_send(r, &r->prs[i]))
                return true;
    return false;
}

#define SWAP_VEC(a, b)                                                         \
    do {                                                                       \
        __typeof__(a) t_ = (a);                                                \
        (a) = (b);                                                             \
        (b) = t_;                                                              \
    } while (0)

static void output_persist(struct raft *r, struct raft_update *u)
{
    if (!has_unpersisted(r))
        return;
    u->persist.seq = ++r->next_seq;
    u->persist.hs_changed = r->hs_dirty;
    r->hs_dirty = false;
    if (r->chunk_pending) {
        u->persist.chunk = true;
        u->persist.chunk_index = r->chunk.index;
        u->persist.chunk_term = r->chunk.log_term;
        u->persist.chunk_offset = r->chunk.offset;
        u->persist.chunk_len = r->chunk.len;
        u->persist.chunk_last = r->chunk.last;
        if (r->chunk.last) {
            u->persist.chunk_meta.index = r->chunk.index;
            u->persist.chunk_meta.term = r->chunk.log_term;
            u->persist.chunk_meta.conf = r->chunk.conf;
            r->install_seq = u->persist.seq;
        }
        free(r->out_chunk_buf);
        r->out_chunk_buf = r->chunk_buf;
        r->chunk_buf = NULL;
        u->persist.chunk_data = r->out_chunk_buf;
        r->chunk_pending = false;
    }
    for (uint64_t i = r->unstable_from; i <= last_index(r); i++)
        *VEC_PUSH(r->out_entries) = *raftlog_get(&r->log, i);
    r->unstable_from = last_index(r) + 1;
    u->persist.entries = r->out_entries.v;
    u->persist.n_entries = r->out_entries.n;
}

void raft_update(struct raft *r, struct raft_update *u)
{
    memset(u, 0, sizeof *u);
    r->out_entries.n = r->out_committed.n = 0;
    release_held(r);
    if (r->role == RAFT_LEADER) {
        if (r->read_broadcast)
            replication_broadcast_heartbeat(r);
        for (unsigned i = 0; i < r->n_prs; i++)
            replication_flush_peer(r, &r->prs[i]);
    }
    output_persist(r, u);

    if (!r->install_pending) {
        for (uint64_t i = r->applied + 1; i <= r->commit; i++)
            *VEC_PUSH(r->out_committed) = *raftlog_get(&r->log, i);
        if (r->commit > r->applied)
            r->applied = r->commit;
    }
    u->committed = r->out_committed.v;
    u->n_committed = r->out_committed.n;

    SWAP_VEC(r->out_msgs, r->msgs);
    SWAP_VEC(r->out_arena, r->arena);
    r->msgs.n = r->arena.n = 0;
    for (size_t i = 0; i < r->out_msgs.n; i++)
        if (r->out_msgs.v[i].n_entries > 0)
            r->out_msgs.v[i].entries = r->out_arena.v + r->msg_ent.v[i];
    r->msg_ent.n = 0;
    u->msgs = r->out_msgs.v;
    u->n_msgs = r->out_msgs.n;

    SWAP_VEC(r->out_reads, r->ready_reads);
    r->ready_reads.n = 0;
    u->reads = r->out_reads.v;
    u->n_reads = r->out_reads.n;
    SWAP_VEC(r->out_dropped, r->dropped);
    r->dropped.n = 0;
    u->dropped_reads = r->out_dropped.v;
    u->n_dropped_reads = r->out_dropped.n;

    u->persist.term = r->term;
    u->persist.vote = r->vote;
    u->role_changed = r->role_changed;
    r->role_changed = false;
    u->role = r->role;
    u->leader = r->leader;
    u->commit = r->commit;
}
