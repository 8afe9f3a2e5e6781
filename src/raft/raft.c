/* raft.c - the pure Raft core: elections, replication, commitment, reads.
 *
 * Nothing here does I/O or reads a clock. Every rule cites the paper
 * (Ongaro & Ousterhout 2014, "§") or the dissertation (Ongaro 2014, "D§");
 * docs/design.md explains the choices. Durability is enforced in one place:
 * a reply that promises durable state (a vote, an append acknowledgement, a
 * snapshot chunk acknowledgement), including the ones a server sends itself,
 * is held until the update carrying that state is reported persisted. */
#include "raft/raft.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "raft/raftlog.h"

#define MAX_ENTRY_BYTES (64u << 20)

enum { PR_PROBE, PR_REPLICATE, PR_SNAPSHOT };

/* What the leader knows of one server, D§3.5 and etcd's flow control. */
struct progress {
    uint64_t id;
    uint64_t match;
    uint64_t next;
    uint8_t state;
    bool paused; /* probing: one APPEND in flight */
    bool resend; /* send an APPEND even if nothing is new */
    bool active; /* heard from during this CheckQuorum period */
    uint64_t read_ack;
    uint64_t *infl_last; /* ring of in-flight APPENDs: last index, bytes */
    uint64_t *infl_bytes;
    unsigned infl_head;
    unsigned infl_n;
    uint64_t infl_total;
    uint64_t snap_index;
    uint64_t snap_offset;
    uint64_t snap_elapsed;
};

/* A reply held until seq is durable: only the fields replies use. */
struct held {
    uint64_t seq;
    uint64_t to;
    uint64_t term;
    uint64_t index;
    uint64_t offset;
    uint8_t type;
    bool reject;
    bool last;
};

struct pending_read {
    uint64_t ctx;
    uint64_t index;
    uint64_t round; /* 0: waiting for the leader's first commit */
};

#define VEC_DEFINE(name, type)                                                 \
    struct name {                                                              \
        type *v;                                                               \
        size_t n, cap;                                                         \
    }

VEC_DEFINE(msg_vec, struct raft_msg);
VEC_DEFINE(entry_vec, struct raft_entry);
VEC_DEFINE(read_vec, struct raft_read);
VEC_DEFINE(u64_vec, uint64_t);
VEC_DEFINE(size_vec, size_t);

#define VEC_PUSH(vec)                                                          \
    (((vec).n == (vec).cap                                                     \
          ? ((vec).cap = (vec).cap ? (vec).cap * 2 : 16,                       \
             (vec).v = mem_xrealloc((vec).v, (vec).cap * sizeof *(vec).v))     \
          : 0),                                                                \
     &(vec).v[(vec).n++])

struct raft {
    struct raft_config c;
    uint64_t term;
    uint64_t vote;
    uint8_t role;
    bool role_changed;
    uint64_t leader;
    struct raftlog log;
    uint64_t commit;
    uint64_t applied;
    struct raft_conf conf; /* from the last conf entry, or the snapshot */
    uint64_t conf_index;
    struct raft_conf snap_conf; /* the configuration at log.snap_index */
    bool started;               /* restored or bootstrapped */

    uint64_t election_elapsed;
    uint64_t heartbeat_elapsed;
    uint64_t timeout;
    uint64_t rng;

    uint64_t granted[RAFT_MAX_SERVERS];
    unsigned n_granted;
    uint64_t rejected[RAFT_MAX_SERVERS];
    unsigned n_rejected;

    struct progress prs[RAFT_MAX_SERVERS];
    unsigned n_prs;
    uint64_t transferee;
    uint64_t transfer_elapsed;
    VEC_DEFINE(pending_vec, struct pending_read) reads;
    uint64_t read_round;
    bool read_broadcast;

    uint64_t next_seq; /* last seq handed out */
    uint64_t persisted_seq;
    bool hs_dirty;
    uint64_t unstable_from; /* first entry not yet handed out to persist */
    VEC_DEFINE(held_vec, struct held) held;

    uint64_t recv_index; /* incoming snapshot, 0 when none */
    uint64_t recv_term;
    uint64_t recv_offset;
    bool chunk_pending;
    struct raft_msg chunk; /* pending chunk; data in chunk_buf */
    uint8_t *chunk_buf;
    bool install_pending;
    uint64_t install_seq;

    /* Accumulated for the next update. */
    struct msg_vec msgs;
    struct size_vec msg_ent; /* arena offset of each msg's entries */
    struct entry_vec arena;
    struct read_vec ready_reads;
    struct u64_vec dropped;
    /* Handed out by the last update. */
    struct msg_vec out_msgs;
    struct entry_vec out_arena;
    struct entry_vec out_entries;
    struct entry_vec out_committed;
    struct read_vec out_reads;
    struct u64_vec out_dropped;
    uint8_t *out_chunk_buf;
};

static int step(struct raft *r, const struct raft_msg *m);
static void become_follower(struct raft *r, uint64_t term, uint64_t leader);

/* ---- small helpers ---------------------------------------------------- */

static uint64_t prng(struct raft *r)
{
    uint64_t z = (r->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void reset_timer(struct raft *r)
{
    r->election_elapsed = 0;
    r->timeout = r->c.election_ms + prng(r) % r->c.election_ms;
}

static uint64_t last_index(const struct raft *r)
{
    return raftlog_last(&r->log);
}

static uint64_t last_term(const struct raft *r)
{
    return raftlog_term(&r->log, last_index(r));
}

static unsigned n_voters(const struct raft_conf *c)
{
    unsigned n = 0;
    for (unsigned i = 0; i < c->n; i++)
        n += c->servers[i].role == RAFT_VOTER;
    return n;
}

static bool is_voter(const struct raft *r, uint64_t id)
{
    return raft_conf_role(&r->conf, id) == RAFT_VOTER;
}

static struct progress *find_pr(struct raft *r, uint64_t id)
{
    for (unsigned i = 0; i < r->n_prs; i++)
        if (r->prs[i].id == id)
            return &r->prs[i];
    return NULL;
}

static bool has_unpersisted(const struct raft *r)
{
    return r->hs_dirty || r->unstable_from <= last_index(r) ||
           r->chunk_pending;
}

static struct raft_msg *msg_new(struct raft *r, uint8_t type, uint64_t to)
{
    struct raft_msg *m = VEC_PUSH(r->msgs);
    *VEC_PUSH(r->msg_ent) = 0;
    memset(m, 0, offsetof(struct raft_msg, conf));
    m->conf.n = 0;
    m->type = type;
    m->from = r->c.id;
    m->to = to;
    m->term = r->term;
    return m;
}

/* Queues a reply that promises durable state: it goes out once everything
 * accumulated so far is persisted. */
static void reply_durable(struct raft *r, const struct raft_msg *m)
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

static void set_term(struct raft *r, uint64_t term)
{
    if (term != r->term) {
        r->term = term;
        r->vote = 0;
        r->hs_dirty = true;
    }
}

static void set_role(struct raft *r, uint8_t role)
{
    if (r->role != role) {
        r->role = role;
        r->role_changed = true;
    }
}

/* ---- configuration ---------------------------------------------------- */

/* Finds the configuration in force at index (>= snapshot index). */
static void conf_at(const struct raft *r, uint64_t index, struct raft_conf *c)
{
    for (uint64_t i = index; i > r->log.snap_index && i >= r->log.offset;
         i--) {
        const struct raft_entry *e = raftlog_get(&r->log, i);
        if (e != NULL && e->type == RAFT_ENTRY_CONF &&
            raft_conf_decode(c, e->data, e->len) == 0)
            return;
    }
    *c = r->snap_conf;
}

static void progress_reset(struct raft *r, struct progress *pr, uint64_t id)
{
    uint64_t *last = pr->infl_last, *bytes = pr->infl_bytes;
    memset(pr, 0, sizeof *pr);
    pr->id = id;
    pr->next = last_index(r) + 1;
    pr->state = PR_PROBE;
    pr->infl_last = last ? last : mem_xmalloc(r->c.max_inflight_msgs * 8);
    pr->infl_bytes = bytes ? bytes : mem_xmalloc(r->c.max_inflight_msgs * 8);
}

/* Makes the leader's progress set follow the configuration. */
static void sync_progress(struct raft *r)
{
    struct progress old[RAFT_MAX_SERVERS];
    unsigned n_old = r->n_prs;
    memcpy(old, r->prs, sizeof(struct progress) * n_old);
    r->n_prs = 0;
    for (unsigned i = 0; i < r->conf.n; i++) {
        uint64_t id = r->conf.servers[i].id;
        struct progress *pr = &r->prs[r->n_prs++];
        unsigned k;
        for (k = 0; k < n_old && old[k].id != id; k++)
            ;
        if (k < n_old) {
            *pr = old[k];
            old[k].infl_last = old[k].infl_bytes = NULL;
        } else {
            memset(pr, 0, sizeof *pr);
            progress_reset(r, pr, id);
        }
    }
    for (unsigned k = 0; k < n_old; k++) {
        free(old[k].infl_last);
        free(old[k].infl_bytes);
    }
}

static void set_conf(struct raft *r, const struct raft_conf *c, uint64_t index)
{
    r->conf = *c;
    r->conf_index = index;
    if (r->role == RAFT_LEADER)
        sync_progress(r);
}

/* After entries from `from` on were dropped: fall back to the last
 * configuration still in the log. */
static void conf_after_truncate(struct raft *r, uint64_t from)
{
    if (r->conf_index < from)
        return;
    struct raft_conf c;
    conf_at(r, last_index(r), &c);
    uint64_t idx = r->log.snap_index;
    for (uint64_t i = last_index(r); i > r->log.snap_index; i--) {
        const struct raft_entry *e = raftlog_get(&r->log, i);
        if (e != NULL && e->type == RAFT_ENTRY_CONF) {
            idx = i;
            break;
        }
    }
    set_conf(r, &c, idx);
}

/* Appends an entry (taking data) and applies a configuration at once, as
 * D§4.1 requires: a server uses the latest configuration in its log. */
static void append(struct raft *r, uint64_t term, uint8_t type, uint8_t *data,
                   uint32_t len)
{
    raftlog_push(&r->log, term, type, data, len);
    if (type == RAFT_ENTRY_CONF) {
        struct raft_conf c;
        if (raft_conf_decode(&c, data, len) == 0)
            set_conf(r, &c, last_index(r));
    }
}

/* ---- lifecycle -------------------------------------------------------- */

void raft_config_default(struct raft_config *c, uint64_t id)
{
    memset(c, 0, sizeof *c);
    c->id = id;
    c->election_ms = 1000;
    c->heartbeat_ms = 100;
    c->max_msg_bytes = 1u << 20;
    c->max_inflight_msgs = 256;
    c->max_inflight_bytes = 8u << 20;
    c->chunk_bytes = 1u << 20;
    c->seed = id;
}

struct raft *raft_new(const struct raft_config *c)
{
    if (c->id == 0 || c->election_ms == 0 || c->heartbeat_ms == 0 ||
        c->heartbeat_ms >= c->election_ms || c->max_msg_bytes == 0 ||
        c->max_inflight_msgs == 0 || c->max_inflight_bytes == 0 ||
        c->chunk_bytes == 0)
        return NULL;
    struct raft *r = mem_xcalloc(1, sizeof *r);
    r->c = *c;
    r->rng = c->seed ^ (c->id * 0x2545f4914f6cdd1dull);
    raftlog_init(&r->log);
    r->unstable_from = 1;
    r->role = RAFT_FOLLOWER;
    reset_timer(r);
    return r;
}

void raft_free(struct raft *r)
{
    if (r == NULL)
        return;
    raftlog_close(&r->log);
    for (unsigned i = 0; i < r->n_prs; i++) {
        free(r->prs[i].infl_last);
        free(r->prs[i].infl_bytes);
    }
    free(r->reads.v);
    free(r->held.v);
    free(r->chunk_buf);
    free(r->out_chunk_buf);
    free(r->msgs.v);
    free(r->msg_ent.v);
    free(r->arena.v);
    free(r->ready_reads.v);
    free(r->dropped.v);
    free(r->out_msgs.v);
    free(r->out_arena.v);
    free(r->out_entries.v);
    free(r->out_committed.v);
    free(r->out_reads.v);
    free(r->out_dropped.v);
    free(r);
}

int raft_restore(struct raft *r, uint64_t term, uint64_t vote,
                 const struct raft_snapshot_meta *snap,
                 const struct raft_entry *entries, size_t n)
{
    if (r->started || last_index(r) != 0 || r->term != 0)
        return RAFT_EINVAL;
    if (snap != NULL && (snap->index == 0 || snap->term == 0 ||
                         raft_conf_check(&snap->conf) != 0))
        return RAFT_ECORRUPT;
    uint64_t base = snap ? snap->index : 0, base_term = snap ? snap->term : 0;
    for (size_t i = 0; i < n; i++) {
        const struct raft_entry *e = &entries[i];
        uint64_t prev = i ? entries[i - 1].term : base_term;
        if (e->index != base + 1 + i || e->term < prev || e->term > term ||
            e->type < RAFT_ENTRY_NORMAL || e->type > RAFT_ENTRY_CONF)
            return RAFT_ECORRUPT;
    }
    r->term = term;
    r->vote = vote;
    if (snap != NULL) {
        raftlog_reset(&r->log, snap->index, snap->term);
        r->snap_conf = snap->conf;
        r->conf = snap->conf;
        r->conf_index = snap->index;
        r->commit = r->applied = snap->index;
    }
    for (size_t i = 0; i < n; i++)
        append(r, entries[i].term, entries[i].type,
               mem_xmemdup(entries[i].data, entries[i].len), entries[i].len);
    r->unstable_from = last_index(r) + 1;
    r->started = true;
    return 0;
}

int raft_bootstrap(struct raft *r, const struct raft_conf *conf)
{
    if (last_index(r) != 0 || r->term != 0 || r->log.snap_index != 0)
        return RAFT_EINVAL;
    if (raft_conf_check(conf) != 0 || n_voters(conf) == 0)
        return RAFT_EINVAL;
    size_t len = raft_conf_encode(conf, NULL, 0);
    uint8_t *buf = mem_xmalloc(len);
    raft_conf_encode(conf, buf, len);
    set_term(r, 1);
    append(r, 1, RAFT_ENTRY_CONF, buf, (uint32_t)len);
    /* Every initial server holds this entry from the start: committed. */
    r->commit = 1;
    r->started = true;
    return 0;
}

/* ---- role changes ----------------------------------------------------- */

static void drop_reads(struct raft *r)
{
    for (size_t i = 0; i < r->reads.n; i++)
        *VEC_PUSH(r->dropped) = r->reads.v[i].ctx;
    r->reads.n = 0;
}

static void become_follower(struct raft *r, uint64_t term, uint64_t leader)
{
    set_term(r, term);
    set_role(r, RAFT_FOLLOWER);
    r->leader = leader;
    r->transferee = 0;
    drop_reads(r);
    reset_timer(r);
}

static void send_vote_requests(struct raft *r, bool pre, bool transfer)
{
    for (unsigned i = 0; i < r->conf.n; i++) {
        const struct raft_server *s = &r->conf.servers[i];
        if (s->role != RAFT_VOTER || s->id == r->c.id)
            continue;
        struct raft_msg *m =
            msg_new(r, pre ? RAFT_MSG_PREVOTE : RAFT_MSG_VOTE, s->id);
        if (pre)
            m->term = r->term + 1; /* the term it would stand for, §9.6 */
        m->index = last_index(r);
        m->log_term = last_term(r);
        m->transfer = transfer;
    }
}

static void tally(struct raft *r, uint64_t from, bool granted);

static void campaign(struct raft *r, bool pre, bool transfer)
{
    if (!is_voter(r, r->c.id) || r->term >= UINT64_MAX - 1)
        return;
    r->n_granted = r->n_rejected = 0;
    r->leader = 0;
    reset_timer(r);
    if (pre) {
        set_role(r, RAFT_PRECANDIDATE);
        send_vote_requests(r, true, false);
        tally(r, r->c.id, true);
        return;
    }
    set_term(r, r->term + 1);
    r->vote = r->c.id;
    r->hs_dirty = true;
    set_role(r, RAFT_CANDIDATE);
    send_vote_requests(r, false, transfer);
    /* Our own vote counts once it is durable, like anyone else's. */
    struct raft_msg self = {.type = RAFT_MSG_VOTE_RESP,
                            .from = r->c.id,
                            .to = r->c.id,
                            .term = r->term};
    reply_durable(r, &self);
}

static void self_ack(struct raft *r)
{
    struct raft_msg self = {.type = RAFT_MSG_APPEND_RESP,
                            .from = r->c.id,
                            .to = r->c.id,
                            .term = r->term,
                            .index = last_index(r)};
    reply_durable(r, &self);
}

static void become_leader(struct raft *r)
{
    set_role(r, RAFT_LEADER);
    r->leader = r->c.id;
    r->transferee = 0;
    r->heartbeat_elapsed = 0;
    r->election_elapsed = 0;
    r->read_broadcast = false;
    for (unsigned i = 0; i < r->n_prs; i++) {
        free(r->prs[i].infl_last);
        free(r->prs[i].infl_bytes);
    }
    r->n_prs = 0;
    sync_progress(r);
    for (unsigned i = 0; i < r->n_prs; i++)
        r->prs[i].active = true;
    /* §8: commit an entry of the new term at once, which also commits all
     * earlier entries (§5.4.2) and lets reads be served (D§6.4). */
    append(r, r->term, RAFT_ENTRY_NOOP, NULL, 0);
    self_ack(r);
}

static bool has_id(const uint64_t *ids, unsigned n, uint64_t id)
{
    for (unsigned i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

static void tally(struct raft *r, uint64_t from, bool granted)
{
    if (!is_voter(r, from) || has_id(r->granted, r->n_granted, from) ||
        has_id(r->rejected, r->n_rejected, from))
        return;
    if (granted)
        r->granted[r->n_granted++] = from;
    else
        r->rejected[r->n_rejected++] = from;
    unsigned quorum = n_voters(&r->conf) / 2 + 1;
    if (r->n_granted >= quorum) {
        if (r->role == RAFT_PRECANDIDATE)
            campaign(r, false, false);
        else
            become_leader(r);
    } else if (r->n_rejected >= quorum) {
        become_follower(r, r->term, 0);
    }
}

/* ---- leader: flow control and sending --------------------------------- */

static bool infl_full(const struct raft *r, const struct progress *pr)
{
    return pr->infl_n == r->c.max_inflight_msgs ||
           pr->infl_total >= r->c.max_inflight_bytes;
}

static void infl_add(const struct raft *r, struct progress *pr, uint64_t last,
                     uint64_t bytes)
{
    unsigned k = (pr->infl_head + pr->infl_n) % r->c.max_inflight_msgs;
    pr->infl_last[k] = last;
    pr->infl_bytes[k] = bytes;
    pr->infl_n++;
    pr->infl_total += bytes;
}

static void infl_free_first(const struct raft *r, struct progress *pr)
{
    if (pr->infl_n == 0)
        return;
    pr->infl_total -= pr->infl_bytes[pr->infl_head];
    pr->infl_head = (pr->infl_head + 1) % r->c.max_inflight_msgs;
    pr->infl_n--;
}

static void infl_free_to(const struct raft *r, struct progress *pr,
                         uint64_t index)
{
    while (pr->infl_n > 0 && pr->infl_last[pr->infl_head] <= index)
        infl_free_first(r, pr);
}

static void to_probe(struct progress *pr)
{
    pr->state = PR_PROBE;
    pr->paused = false;
    pr->next = pr->match + 1;
    pr->infl_n = 0;
    pr->infl_total = 0;
}

static void send_chunk(struct raft *r, struct progress *pr)
{
    struct raft_msg *m = msg_new(r, RAFT_MSG_SNAPSHOT, pr->id);
    m->index = pr->snap_index;
    m->log_term = r->log.snap_term;
    m->offset = pr->snap_offset;
    m->len = r->c.chunk_bytes;
    m->conf = r->snap_conf;
    pr->snap_elapsed = 0;
}

static void start_snapshot(struct raft *r, struct progress *pr)
{
    pr->state = PR_SNAPSHOT;
    pr->snap_index = r->log.snap_index;
    pr->snap_offset = 0;
    pr->infl_n = 0;
    pr->infl_total = 0;
    send_chunk(r, pr);
}

static void send_append(struct raft *r, struct progress *pr)
{
    uint64_t prev = pr->next - 1;
    if (!raftlog_has_term(&r->log, prev)) {
        start_snapshot(r, pr);
        return;
    }
    struct raft_msg *m = msg_new(r, RAFT_MSG_APPEND, pr->id);
    m->index = prev;
    m->log_term = raftlog_term(&r->log, prev);
    m->commit = r->commit;
    r->msg_ent.v[r->msg_ent.n - 1] = r->arena.n;
    uint64_t bytes = 0, last = last_index(r);
    uint32_t n = 0;
    for (uint64_t i = pr->next; i <= last; i++) {
        const struct raft_entry *e = raftlog_get(&r->log, i);
        if (n > 0 && (bytes + e->len > r->c.max_msg_bytes ||
                      pr->infl_total + bytes + e->len > r->c.max_inflight_bytes))
            break;
        *VEC_PUSH(r->arena) = *e;
        bytes += e->len;
        n++;
    }
    /* msg_new may have moved r->msgs; m is still the last element. */
    r->msgs.v[r->msgs.n - 1].n_entries = n;
    if (pr->state == PR_REPLICATE && n > 0) {
        pr->next += n;
        infl_add(r, pr, pr->next - 1, bytes);
    } else if (pr->state == PR_PROBE) {
        pr->paused = true;
    }
    pr->resend = false;
}

/* Sends what flow control allows to one follower. */
static void flush_peer(struct raft *r, struct progress *pr)
{
    uint64_t last = last_index(r);
    if (pr->id == r->c.id)
        return;
    if (pr->state == PR_PROBE) {
        if (!pr->paused && (pr->next <= last || pr->resend))
            send_append(r, pr);
    } else if (pr->state == PR_REPLICATE) {
        while (pr->state == PR_REPLICATE && pr->next <= last &&
               !infl_full(r, pr))
            send_append(r, pr);
        if (pr->resend && pr->state == PR_REPLICATE &&
            (pr->next > last || !infl_full(r, pr)))
            send_append(r, pr);
        pr->resend = false;
    }
}

static bool peer_wants_send(const struct raft *r, const struct progress *pr)
{
    uint64_t last = last_index(r);
    if (pr->id == r->c.id)
        return false;
    if (pr->state == PR_PROBE)
        return !pr->paused && (pr->next <= last || pr->resend);
    if (pr->state == PR_REPLICATE)
        return (pr->next <= last || pr->resend) && !infl_full(r, pr);
    return false;
}

static void broadcast_heartbeat(struct raft *r)
{
    for (unsigned i = 0; i < r->n_prs; i++) {
        struct progress *pr = &r->prs[i];
        if (pr->id == r->c.id)
            continue;
        struct raft_msg *m = msg_new(r, RAFT_MSG_HEARTBEAT, pr->id);
        m->commit = pr->match < r->commit ? pr->match : r->commit;
        m->ctx = r->read_round;
    }
    r->read_broadcast = false;
}

static void send_timeout_now(struct raft *r, uint64_t to)
{
    msg_new(r, RAFT_MSG_TIMEOUT_NOW, to);
}

/* ---- leader: commitment and reads ------------------------------------- */

static int cmp_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The value that a majority of voters have reached, given each one's. */
static uint64_t quorum_value(struct raft *r, bool reads)
{
    uint64_t v[RAFT_MAX_SERVERS];
    unsigned n = 0;
    for (unsigned i = 0; i < r->conf.n; i++) {
        const struct raft_server *s = &r->conf.servers[i];
        if (s->role != RAFT_VOTER)
            continue;
        const struct progress *pr = find_pr(r, s->id);
        if (reads)
            v[n++] = s->id == r->c.id ? r->read_round : pr ? pr->read_ack : 0;
        else
            v[n++] = pr ? pr->match : 0;
    }
    if (n == 0)
        return 0;
    qsort(v, n, sizeof v[0], cmp_desc);
    return v[n / 2];
}

static void release_reads(struct raft *r)
{
    uint64_t confirmed = quorum_value(r, true);
    size_t k = 0;
    for (size_t i = 0; i < r->reads.n; i++) {
        struct pending_read *p = &r->reads.v[i];
        if (p->round != 0 && p->round <= confirmed)
            *VEC_PUSH(r->ready_reads) =
                (struct raft_read){.ctx = p->ctx, .index = p->index};
        else
            r->reads.v[k++] = *p;
    }
    r->reads.n = k;
}

/* Gives reads waiting for the leader's first commit their read point. */
static void start_waiting_reads(struct raft *r)
{
    bool any = false;
    for (size_t i = 0; i < r->reads.n; i++)
        any |= r->reads.v[i].round == 0;
    if (!any)
        return;
    r->read_round++;
    for (size_t i = 0; i < r->reads.n; i++) {
        if (r->reads.v[i].round == 0) {
            r->reads.v[i].round = r->read_round;
            r->reads.v[i].index = r->commit;
        }
    }
    r->read_broadcast = true;
    release_reads(r);
}

static bool committed_in_term(const struct raft *r)
{
    return raftlog_term(&r->log, r->commit) == r->term;
}

static void propose_conf(struct raft *r, const struct raft_conf *c)
{
    size_t len = raft_conf_encode(c, NULL, 0);
    uint8_t *buf = mem_xmalloc(len);
    raft_conf_encode(c, buf, len);
    append(r, r->term, RAFT_ENTRY_CONF, buf, (uint32_t)len);
    self_ack(r);
}

static bool conf_pending(const struct raft *r)
{
    return r->conf_index > r->commit;
}

/* D§4.2.1: a learner that has caught up with the commit index is made a
 * voter. */
static void maybe_promote(struct raft *r)
{
    if (r->role != RAFT_LEADER || conf_pending(r) || !committed_in_term(r) ||
        r->transferee != 0)
        return;
    for (unsigned i = 0; i < r->conf.n; i++) {
        struct raft_server *s = &r->conf.servers[i];
        const struct progress *pr = find_pr(r, s->id);
        if (s->role == RAFT_LEARNER && s->promote && pr != NULL &&
            pr->match >= r->commit) {
            struct raft_conf c = r->conf;
            c.servers[i].role = RAFT_VOTER;
            c.servers[i].promote = false;
            propose_conf(r, &c);
            return;
        }
    }
}

/* The most up-to-date voter other than this server, or 0. */
static uint64_t best_voter(struct raft *r)
{
    uint64_t best = 0, best_match = 0;
    for (unsigned i = 0; i < r->n_prs; i++) {
        const struct progress *pr = &r->prs[i];
        if (pr->id != r->c.id && is_voter(r, pr->id) &&
            (best == 0 || pr->match > best_match)) {
            best = pr->id;
            best_match = pr->match;
        }
    }
    return best;
}

static void after_commit(struct raft *r)
{
    if (!committed_in_term(r))
        return;
    start_waiting_reads(r);
    /* D§4.2.2: a leader removed from the configuration steps down once the
     * change commits; it hands over to the most up-to-date voter. */
    if (!conf_pending(r) && raft_conf_role(&r->conf, r->c.id) == 0) {
        uint64_t to = best_voter(r);
        const struct progress *pr = to ? find_pr(r, to) : NULL;
        if (pr != NULL && pr->match == last_index(r))
            send_timeout_now(r, to);
        become_follower(r, r->term, 0);
        return;
    }
    maybe_promote(r);
}

static void maybe_commit(struct raft *r)
{
    uint64_t q = quorum_value(r, false);
    /* §5.4.2: only entries of the current term commit by counting. */
    if (q > r->commit && raftlog_term(&r->log, q) == r->term) {
        r->commit = q;
        after_commit(r);
    }
}

/* ---- leader: handling replies ----------------------------------------- */

/* etcd-style fast backtracking: the largest index <= index whose term is
 * <= term in this log (or index itself when unknown). */
static uint64_t find_conflict_by_term(const struct raft *r, uint64_t index,
                                      uint64_t term)
{
    if (index > last_index(r))
        index = last_index(r);
    while (index > 0 && raftlog_has_term(&r->log, index)) {
        if (raftlog_term(&r->log, index) <= term)
            return index;
        index--;
    }
    return index;
}

static void handle_append_resp(struct raft *r, const struct raft_msg *m)
{
    struct progress *pr = find_pr(r, m->from);
    if (pr == NULL)
        return;
    pr->active = true;
    if (m->reject) {
        if (pr->state == PR_SNAPSHOT)
            return;
        if (pr->state == PR_REPLICATE ? m->index <= pr->match
                                      : m->index != pr->next - 1)
            return; /* stale */
        uint64_t next = m->index;
        if (m->hint_term > 0) {
            uint64_t k = find_conflict_by_term(r, m->hint, m->hint_term);
            if (k + 1 < next)
                next = k + 1;
        } else if (m->hint + 1 < next) {
            next = m->hint + 1;
        }
        to_probe(pr);
        pr->next = next > pr->match + 1 ? next : pr->match + 1;
        return;
    }
    if (m->index > pr->match)
        pr->match = m->index;
    if (pr->next <= pr->match)
        pr->next = pr->match + 1;
    if (m->from == r->c.id) {
        maybe_commit(r);
        return;
    }
    if (pr->state == PR_PROBE) {
        pr->state = PR_REPLICATE;
        pr->paused = false;
        pr->next = pr->match + 1;
    } else if (pr->state == PR_SNAPSHOT && pr->match >= pr->snap_index) {
        to_probe(pr);
    }
    infl_free_to(r, pr, m->index);
    maybe_commit(r);
    if (r->role != RAFT_LEADER)
        return;
    if (m->from == r->transferee && pr->match == last_index(r))
        send_timeout_now(r, m->from);
    maybe_promote(r);
}

static void handle_heartbeat_resp(struct raft *r, const struct raft_msg *m)
{
    struct progress *pr = find_pr(r, m->from);
    if (pr == NULL)
        return;
    pr->active = true;
    if (m->ctx > pr->read_ack && m->ctx <= r->read_round)
        pr->read_ack = m->ctx;
    if (pr->match < last_index(r)) {
        if (pr->state == PR_PROBE) {
            pr->paused = false;
        } else if (pr->state == PR_REPLICATE) {
            if (infl_full(r, pr))
                infl_free_first(r, pr);
            pr->resend = true;
        }
    }
    if (r->reads.n > 0)
        release_reads(r);
}

static void handle_snapshot_resp(struct raft *r, const struct raft_msg *m)
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
        to_probe(pr);
        maybe_commit(r);
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

/* ---- follower --------------------------------------------------------- */

static void commit_to(struct raft *r, uint64_t index)
{
    if (index > last_index(r))
        index = last_index(r);
    if (index > r->commit)
        r->commit = index;
}

static void reject_append(struct raft *r, const struct raft_msg *m)
{
    struct raft_msg *resp = msg_new(r, RAFT_MSG_APPEND_RESP, m->from);
    resp->reject = true;
    resp->index = m->index;
    uint64_t hint = m->index < last_index(r) ? m->index : last_index(r);
    hint = find_conflict_by_term(r, hint, m->log_term);
    resp->hint = hint;
    resp->hint_term = raftlog_term(&r->log, hint);
}

static int handle_append(struct raft *r, const struct raft_msg *m)
{
    struct raft_msg ok = {.type = RAFT_MSG_APPEND_RESP,
                          .from = r->c.id,
                          .to = m->from,
                          .term = r->term};
    if (m->index < r->commit) {
        ok.index = r->commit;
        reply_durable(r, &ok);
        return 0;
    }
    if (!raftlog_has_term(&r->log, m->index) ||
        raftlog_term(&r->log, m->index) != m->log_term) {
        reject_append(r, m);
        return 0;
    }
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const struct raft_entry *e = &m->entries[i];
        if (e->index <= last_index(r)) {
            if (raftlog_term(&r->log, e->index) == e->term)
                continue;
            if (e->index <= r->commit)
                return RAFT_ECORRUPT; /* would overwrite a committed entry */
            raftlog_truncate(&r->log, e->index);
            if (r->unstable_from > e->index)
                r->unstable_from = e->index;
            conf_after_truncate(r, e->index);
        }
        append(r, e->term, e->type, mem_xmemdup(e->data, e->len), e->len);
    }
    uint64_t last_new = m->index + m->n_entries;
    commit_to(r, m->commit < last_new ? m->commit : last_new);
    ok.index = last_new;
    reply_durable(r, &ok);
    return 0;
}

static void handle_heartbeat(struct raft *r, const struct raft_msg *m)
{
    commit_to(r, m->commit);
    struct raft_msg *resp = msg_new(r, RAFT_MSG_HEARTBEAT_RESP, m->from);
    resp->ctx = m->ctx;
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
    reply_durable(r, &resp);
}

static void handle_snapshot(struct raft *r, const struct raft_msg *m)
{
    /* Already holding what the snapshot covers (§7): nothing to install. */
    if (m->index <= r->commit ||
        (raftlog_has_term(&r->log, m->index) &&
         raftlog_term(&r->log, m->index) == m->log_term)) {
        commit_to(r, m->index);
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
        set_conf(r, &m->conf, m->index);
        if (m->index > r->commit)
            r->commit = m->index;
        r->applied = m->index;
        r->install_pending = true;
        r->recv_index = 0;
    }
    snapshot_reply(r, m, false, m->last, r->recv_offset);
}

/* ---- votes ------------------------------------------------------------ */

static void handle_vote(struct raft *r, const struct raft_msg *m)
{
    bool pre = m->type == RAFT_MSG_PREVOTE;
    bool can_vote = r->vote == m->from || (r->vote == 0 && r->leader == 0) ||
                    (pre && m->term > r->term);
    bool up_to_date =
        m->log_term > last_term(r) ||
        (m->log_term == last_term(r) && m->index >= last_index(r));
    struct raft_msg resp = {
        .type = pre ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP,
        .from = r->c.id,
        .to = m->from,
        .term = r->term,
        .reject = !(can_vote && up_to_date)};
    if (resp.reject) {
        *msg_new(r, resp.type, m->from) = resp;
        return;
    }
    if (pre) {
        resp.term = m->term;
        *msg_new(r, resp.type, m->from) = resp;
        return;
    }
    r->vote = m->from;
    r->hs_dirty = true;
    reset_timer(r);
    reply_durable(r, &resp);
}

/* ---- step ------------------------------------------------------------- */

static bool in_lease(const struct raft *r)
{
    return !r->c.no_check_quorum && r->leader != 0 &&
           r->election_elapsed < r->c.election_ms;
}

/* §5.1 term rules, with PreVote (§9.6) and leader stickiness. Returns
 * false when the message is to be dropped. */
static bool check_term(struct raft *r, const struct raft_msg *m)
{
    bool vote = m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PREVOTE;
    if (m->term > r->term) {
        if (vote && !m->transfer && in_lease(r))
            return false;
        if (m->type == RAFT_MSG_PREVOTE ||
            (m->type == RAFT_MSG_PREVOTE_RESP && !m->reject))
            return true;
        bool from_leader = m->type == RAFT_MSG_APPEND ||
                           m->type == RAFT_MSG_HEARTBEAT ||
                           m->type == RAFT_MSG_SNAPSHOT;
        become_follower(r, m->term, from_leader ? m->from : 0);
        return true;
    }
    if (m->term < r->term) {
        if (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
            m->type == RAFT_MSG_SNAPSHOT) {
            /* A stale leader: tell it the term so it steps down. */
            struct raft_msg *resp =
                msg_new(r, RAFT_MSG_APPEND_RESP, m->from);
            resp->reject = true;
        } else if (m->type == RAFT_MSG_PREVOTE) {
            struct raft_msg *resp =
                msg_new(r, RAFT_MSG_PREVOTE_RESP, m->from);
            resp->reject = true;
        }
        return false;
    }
    return true;
}

static void heard_from_leader(struct raft *r, const struct raft_msg *m)
{
    if (r->role != RAFT_FOLLOWER)
        become_follower(r, r->term, m->from);
    r->leader = m->from;
    r->election_elapsed = 0;
}

static int step(struct raft *r, const struct raft_msg *m)
{
    if (!check_term(r, m))
        return 0;
    switch (m->type) {
    case RAFT_MSG_APPEND:
    case RAFT_MSG_HEARTBEAT:
    case RAFT_MSG_SNAPSHOT:
        if (r->role == RAFT_LEADER)
            return RAFT_ECORRUPT; /* two leaders in one term: a bug */
        heard_from_leader(r, m);
        if (m->type == RAFT_MSG_APPEND)
            return handle_append(r, m);
        if (m->type == RAFT_MSG_HEARTBEAT)
            handle_heartbeat(r, m);
        else
            handle_snapshot(r, m);
        return 0;
    case RAFT_MSG_TIMEOUT_NOW:
        if (r->role == RAFT_FOLLOWER && r->leader == m->from)
            campaign(r, false, true);
        return 0;
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        handle_vote(r, m);
        return 0;
    case RAFT_MSG_PREVOTE_RESP:
        if (r->role == RAFT_PRECANDIDATE)
            tally(r, m->from, !m->reject);
        return 0;
    case RAFT_MSG_VOTE_RESP:
        if (r->role == RAFT_CANDIDATE)
            tally(r, m->from, !m->reject);
        return 0;
    default:
        break;
    }
    if (r->role != RAFT_LEADER)
        return 0;
    if (m->type == RAFT_MSG_APPEND_RESP)
        handle_append_resp(r, m);
    else if (m->type == RAFT_MSG_HEARTBEAT_RESP)
        handle_heartbeat_resp(r, m);
    else if (m->type == RAFT_MSG_SNAPSHOT_RESP)
        handle_snapshot_resp(r, m);
    return 0;
}

static int check_entries(const struct raft_msg *m)
{
    if (m->n_entries > 0 && m->entries == NULL)
        return RAFT_EINVAL;
    uint64_t prev_term = m->log_term;
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const struct raft_entry *e = &m->entries[i];
        struct raft_conf c;
        if (e->index != m->index + 1 + i || e->term < prev_term ||
            e->term > m->term || e->type < RAFT_ENTRY_NORMAL ||
            e->type > RAFT_ENTRY_CONF || e->len > MAX_ENTRY_BYTES ||
            (e->len > 0 && e->data == NULL))
            return RAFT_ECORRUPT;
        if (e->type == RAFT_ENTRY_CONF &&
            raft_conf_decode(&c, e->data, e->len) != 0)
            return RAFT_ECORRUPT;
        prev_term = e->term;
    }
    return 0;
}

int raft_step(struct raft *r, const struct raft_msg *m)
{
    if (m->to != r->c.id || m->from == 0 || m->from == r->c.id ||
        m->type < 1 || m->type > RAFT_MSG_TYPE_MAX || m->term == 0 ||
        m->term >= UINT64_MAX - 1)
        return RAFT_EINVAL;
    if (m->type == RAFT_MSG_APPEND) {
        int rv = check_entries(m);
        if (rv != 0)
            return rv;
    }
    if (m->type == RAFT_MSG_SNAPSHOT &&
        (m->index == 0 || m->log_term == 0 || m->log_term > m->term ||
         (m->len > 0 && m->data == NULL) ||
         (m->last && raft_conf_check(&m->conf) != 0)))
        return RAFT_ECORRUPT;
    return step(r, m);
}

/* ---- time ------------------------------------------------------------- */

static void leader_tick(struct raft *r, uint64_t ms)
{
    r->heartbeat_elapsed += ms;
    if (r->heartbeat_elapsed >= r->c.heartbeat_ms) {
        r->heartbeat_elapsed = 0;
        broadcast_heartbeat(r);
    }
    for (unsigned i = 0; i < r->n_prs; i++) {
        struct progress *pr = &r->prs[i];
        if (pr->state != PR_SNAPSHOT)
            continue;
        pr->snap_elapsed += ms;
        if (pr->snap_elapsed >= r->c.election_ms)
            start_snapshot(r, pr); /* lost, or the file changed: restart */
    }
    if (r->transferee != 0) {
        r->transfer_elapsed += ms;
        if (r->transfer_elapsed >= r->c.election_ms)
            r->transferee = 0;
    }
    r->election_elapsed += ms;
    if (r->election_elapsed < r->c.election_ms)
        return;
    r->election_elapsed = 0;
    /* CheckQuorum (D§6.2): step down without a majority in touch. */
    unsigned active = 0;
    for (unsigned i = 0; i < r->n_prs; i++) {
        struct progress *pr = &r->prs[i];
        if (is_voter(r, pr->id) && (pr->active || pr->id == r->c.id))
            active++;
        pr->active = false;
    }
    if (!r->c.no_check_quorum && active < n_voters(&r->conf) / 2 + 1) {
        become_follower(r, r->term, 0);
        return;
    }
    maybe_promote(r);
}

void raft_tick(struct raft *r, uint64_t ms)
{
    if (r->role == RAFT_LEADER) {
        leader_tick(r, ms);
        return;
    }
    r->election_elapsed += ms;
    /* A lone voter need not wait for anyone. */
    bool alone = is_voter(r, r->c.id) && n_voters(&r->conf) == 1;
    if (r->election_elapsed >= r->timeout ||
        (alone && r->role == RAFT_FOLLOWER && r->started))
        campaign(r, !r->c.no_pre_vote && !alone, false);
}

/* ---- inputs from the application ------------------------------------- */

int raft_propose(struct raft *r, const void *data, uint32_t len,
                 uint64_t *index, uint64_t *term)
{
    if (r->role != RAFT_LEADER)
        return RAFT_ENOTLEADER;
    if (r->transferee != 0)
        return RAFT_EBUSY;
    if (len > MAX_ENTRY_BYTES || (len > 0 && data == NULL))
        return RAFT_EINVAL;
    append(r, r->term, RAFT_ENTRY_NORMAL, len ? mem_xmemdup(data, len) : NULL,
           len);
    self_ack(r);
    if (index != NULL)
        *index = last_index(r);
    if (term != NULL)
        *term = r->term;
    return 0;
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
                struct raft_msg *m = msg_new(r, h.type, h.to);
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
            step(r, &m);
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

int raft_read_index(struct raft *r, uint64_t ctx)
{
    if (r->role != RAFT_LEADER)
        return RAFT_ENOTLEADER;
    struct pending_read *p = VEC_PUSH(r->reads);
    p->ctx = ctx;
    p->round = 0;
    p->index = 0;
    if (committed_in_term(r))
        start_waiting_reads(r);
    return 0;
}

static int check_change(const struct raft *r)
{
    if (r->role != RAFT_LEADER)
        return RAFT_ENOTLEADER;
    /* One change at a time, and only once this leader has committed an
     * entry of its term (the fix to D§4.1's single-server changes). */
    if (conf_pending(r) || !committed_in_term(r) || r->transferee != 0)
        return RAFT_EBUSY;
    return 0;
}

int raft_add(struct raft *r, uint64_t id, const char *addr, bool promote)
{
    int rv = check_change(r);
    if (rv != 0)
        return rv;
    if (id == 0 || raft_conf_role(&r->conf, id) != 0 ||
        r->conf.n == RAFT_MAX_SERVERS || addr == NULL ||
        strlen(addr) >= RAFT_ADDR_MAX)
        return RAFT_EINVAL;
    struct raft_conf c = r->conf;
    struct raft_server *s = &c.servers[c.n++];
    memset(s, 0, sizeof *s);
    s->id = id;
    s->role = RAFT_LEARNER;
    s->promote = promote;
    strcpy(s->addr, addr);
    propose_conf(r, &c);
    return 0;
}

int raft_remove(struct raft *r, uint64_t id)
{
    int rv = check_change(r);
    if (rv != 0)
        return rv;
    uint8_t role = raft_conf_role(&r->conf, id);
    if (role == 0 || (role == RAFT_VOTER && n_voters(&r->conf) == 1))
        return RAFT_EINVAL;
    struct raft_conf c = {0};
    for (unsigned i = 0; i < r->conf.n; i++)
        if (r->conf.servers[i].id != id)
            c.servers[c.n++] = r->conf.servers[i];
    propose_conf(r, &c);
    return 0;
}

int raft_transfer(struct raft *r, uint64_t id)
{
    if (r->role != RAFT_LEADER)
        return RAFT_ENOTLEADER;
    if (r->transferee != 0)
        return RAFT_EBUSY;
    if (id == 0)
        id = best_voter(r);
    if (id == 0 || id == r->c.id || !is_voter(r, id))
        return RAFT_EINVAL;
    struct progress *pr = find_pr(r, id);
    if (pr == NULL)
        return RAFT_EINVAL;
    r->transferee = id;
    r->transfer_elapsed = 0;
    if (pr->match == last_index(r))
        send_timeout_now(r, id);
    return 0;
}

int raft_snapshot_meta(const struct raft *r, uint64_t index,
                       struct raft_snapshot_meta *meta)
{
    if (index > r->applied || index < r->log.snap_index || index == 0 ||
        !raftlog_has_term(&r->log, index))
        return RAFT_EINVAL;
    meta->index = index;
    meta->term = raftlog_term(&r->log, index);
    conf_at(r, index, &meta->conf);
    return 0;
}

int raft_compact(struct raft *r, uint64_t index, uint64_t trailing)
{
    struct raft_snapshot_meta meta;
    if (index == r->log.snap_index)
        return 0;
    int rv = raft_snapshot_meta(r, index, &meta);
    if (rv != 0)
        return rv;
    r->snap_conf = meta.conf;
    /* Entries not yet handed out to persist stay: the store gets them. */
    if (trailing < index && index - trailing >= r->unstable_from)
        trailing = index - r->unstable_from + 1;
    raftlog_compact(&r->log, index, trailing);
    return 0;
}

/* ---- output ----------------------------------------------------------- */

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
            if (peer_wants_send(r, &r->prs[i]))
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
    u->seq = ++r->next_seq;
    u->hs_changed = r->hs_dirty;
    r->hs_dirty = false;
    if (r->chunk_pending) {
        u->chunk = true;
        u->chunk_index = r->chunk.index;
        u->chunk_term = r->chunk.log_term;
        u->chunk_offset = r->chunk.offset;
        u->chunk_len = r->chunk.len;
        u->chunk_last = r->chunk.last;
        if (r->chunk.last) {
            u->chunk_meta.index = r->chunk.index;
            u->chunk_meta.term = r->chunk.log_term;
            u->chunk_meta.conf = r->chunk.conf;
            r->install_seq = u->seq;
        }
        free(r->out_chunk_buf);
        r->out_chunk_buf = r->chunk_buf;
        r->chunk_buf = NULL;
        u->chunk_data = r->out_chunk_buf;
        r->chunk_pending = false;
    }
    for (uint64_t i = r->unstable_from; i <= last_index(r); i++)
        *VEC_PUSH(r->out_entries) = *raftlog_get(&r->log, i);
    r->unstable_from = last_index(r) + 1;
    u->entries = r->out_entries.v;
    u->n_entries = r->out_entries.n;
}

void raft_update(struct raft *r, struct raft_update *u)
{
    memset(u, 0, sizeof *u);
    r->out_entries.n = r->out_committed.n = 0;
    release_held(r);
    if (r->role == RAFT_LEADER) {
        if (r->read_broadcast)
            broadcast_heartbeat(r);
        for (unsigned i = 0; i < r->n_prs; i++)
            flush_peer(r, &r->prs[i]);
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

    u->term = r->term;
    u->vote = r->vote;
    u->role_changed = r->role_changed;
    r->role_changed = false;
    u->role = r->role;
    u->leader = r->leader;
    u->commit = r->commit;
}

/* ---- views ------------------------------------------------------------ */

uint64_t raft_id(const struct raft *r)
{
    return r->c.id;
}

uint8_t raft_role(const struct raft *r)
{
    return r->role;
}

uint64_t raft_leader(const struct raft *r)
{
    return r->leader;
}

uint64_t raft_term(const struct raft *r)
{
    return r->term;
}

uint64_t raft_vote(const struct raft *r)
{
    return r->vote;
}

uint64_t raft_commit_index(const struct raft *r)
{
    return r->commit;
}

uint64_t raft_applied_index(const struct raft *r)
{
    return r->applied;
}

uint64_t raft_last_index(const struct raft *r)
{
    return last_index(r);
}

uint64_t raft_first_index(const struct raft *r)
{
    return r->log.offset;
}

uint64_t raft_snapshot_index(const struct raft *r)
{
    return r->log.snap_index;
}

uint64_t raft_term_at(const struct raft *r, uint64_t index)
{
    return raftlog_term(&r->log, index);
}

const struct raft_entry *raft_entry_at(const struct raft *r, uint64_t index)
{
    return raftlog_get(&r->log, index);
}

const struct raft_conf *raft_conf(const struct raft *r)
{
    return &r->conf;
}

uint64_t raft_match_index(const struct raft *r, uint64_t id)
{
    if (r->role != RAFT_LEADER)
        return 0;
    for (unsigned i = 0; i < r->n_prs; i++)
        if (r->prs[i].id == id)
            return r->prs[i].match;
    return 0;
}

const char *raft_role_name(uint8_t role)
{
    switch (role) {
    case RAFT_FOLLOWER:
        return "follower";
    case RAFT_PRECANDIDATE:
        return "pre-candidate";
    case RAFT_CANDIDATE:
        return "candidate";
    case RAFT_LEADER:
        return "leader";
    default:
        return "unknown";
    }
}
