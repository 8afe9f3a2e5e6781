/* check.c - the simulator's safety checker (Raft §5.4, Figure 3): election
 * safety, log matching, leader completeness, state machine safety, no lost
 * commits, the edge contract of raft.h, and linearizable reads. */
#include "check.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

/* An open-addressing map from a pair of non-zero keys to two values. */
struct pslot {
    uint64_t a;
    uint64_t b;
    uint64_t v1;
    uint64_t v2;
};

struct pmap {
    struct pslot *s;
    size_t cap;
    size_t n;
};

/* What is known about one log index across the cluster. */
struct idx_rec {
    uint64_t term;        /* of the committed entry */
    uint64_t digest;      /* of the committed entry */
    uint64_t commit_term; /* the reporter's term when first committed */
    uint64_t a_term;      /* of the applied entry */
    uint64_t a_digest;
    uint64_t a_hash; /* state hash after applying it */
    bool committed;
    bool applied;
};

struct read_rec {
    uint64_t node;
    uint64_t min_index;
    unsigned life;
    bool asked;
    bool done;
    bool served;
};

struct check {
    struct pmap lm;    /* (index, term) -> (digest, prev term + 1 or 0) */
    struct pmap votes; /* (term, voter) -> (candidate, -) */
    struct idx_rec *rec;
    size_t rec_cap;
    uint64_t commit_max;
    uint64_t *lot; /* leader of each term */
    size_t lot_cap;
    struct read_rec *reads;
    size_t reads_cap;
};

#define U(x) ((unsigned long long)(x))

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
    if (need < *cap)
        return p;
    size_t ncap = *cap ? *cap : 64;
    while (ncap <= need)
        ncap *= 2;
    p = mem_xrealloc(p, ncap * size);
    memset((char *)p + *cap * size, 0, (ncap - *cap) * size);
    *cap = ncap;
    return p;
}

static struct pslot *pmap_find(struct pmap *m, uint64_t a, uint64_t b,
                               bool create)
{
    if (create && (m->n + 1) * 2 > m->cap) {
        struct pmap old = *m;
        m->cap = old.cap ? old.cap * 2 : 1024;
        m->s = mem_xcalloc(m->cap, sizeof *m->s);
        m->n = 0;
        for (size_t i = 0; i < old.cap; i++)
            if (old.s[i].a != 0)
                *pmap_find(m, old.s[i].a, old.s[i].b, true) = old.s[i];
        free(old.s);
    }
    if (m->cap == 0)
        return NULL;
    size_t mask = m->cap - 1;
    size_t i = rng_mix(a * 0x9e3779b97f4a7c15ull ^ b) & mask;
    while (m->s[i].a != 0) {
        if (m->s[i].a == a && m->s[i].b == b)
            return &m->s[i];
        i = (i + 1) & mask;
    }
    if (!create)
        return NULL;
    m->s[i] = (struct pslot){.a = a, .b = b};
    m->n++;
    return &m->s[i];
}

struct check *check_new(void)
{
    return mem_xcalloc(1, sizeof(struct check));
}

void check_free(struct check *ck)
{
    if (ck == NULL)
        return;
    free(ck->lm.s);
    free(ck->votes.s);
    free(ck->rec);
    free(ck->lot);
    free(ck->reads);
    free(ck);
}

uint64_t check_commit_max(const struct check *ck)
{
    return ck->commit_max;
}

static struct idx_rec *rec_at(struct check *ck, uint64_t i)
{
    ck->rec = grow(ck->rec, &ck->rec_cap, i, sizeof *ck->rec);
    return &ck->rec[i];
}

bool check_applied(const struct check *ck, uint64_t index, uint64_t *term,
                   uint64_t *hash)
{
    if (index >= ck->rec_cap || !ck->rec[index].applied)
        return false;
    if (term)
        *term = ck->rec[index].a_term;
    if (hash)
        *hash = ck->rec[index].a_hash;
    return true;
}

static uint64_t *lot_at(struct check *ck, uint64_t term)
{
    ck->lot = grow(ck->lot, &ck->lot_cap, term, sizeof *ck->lot);
    return &ck->lot[term];
}

/* ---- the handed-out log of one node ---- */

static void view_reserve(struct sim_view *v, uint64_t i)
{
    v->terms = grow(v->terms, &v->cap, i, sizeof *v->terms);
}

/* Term of entry i in the view; *known false if the view cannot tell. */
static uint64_t view_term(const struct sim_view *v, uint64_t i, bool *known)
{
    *known = true;
    if (i >= v->first && i <= v->last)
        return v->terms[i];
    if (i == v->snap_index)
        return v->snap_term;
    if (i == 0)
        return 0;
    *known = false;
    return 0;
}

void check_restart(struct cluster *c, struct sim_node *n)
{
    struct sim_view *v = &n->view;
    const struct sim_disk *d = &n->disk;
    v->term = d->term;
    v->vote = d->vote;
    v->snap_index = d->snap.present ? d->snap.meta.index : 0;
    v->snap_term = d->snap.present ? d->snap.meta.term : 0;
    v->first = v->snap_index + 1;
    v->last = cluster_disk_last(d);
    view_reserve(v, v->last + 1);
    const struct raft_entry *es;
    size_t n_es = cluster_disk_entries(d, &es);
    for (size_t k = 0; k < n_es; k++)
        v->terms[es[k].index] = es[k].term;
    v->commit = n->core ? raft_commit_index(n->core) : 0;
    v->seq = 0;
    v->in_active = false;
    v->installing = false;
    if (n->core == NULL)
        return;
    if (raft_term(n->core) != v->term || raft_last_index(n->core) != v->last ||
        raft_snapshot_index(n->core) != v->snap_index)
        cluster_fail(c,
                     "n%llu restored term %llu last %llu snapshot %llu from "
                     "disk term %llu last %llu snapshot %llu",
                     U(n->id), U(raft_term(n->core)),
                     U(raft_last_index(n->core)),
                     U(raft_snapshot_index(n->core)), U(v->term), U(v->last),
                     U(v->snap_index));
}

/* ---- updates ---- */

static void check_hs(struct cluster *c, struct sim_node *n,
                     const struct raft_update *u)
{
    struct sim_view *v = &n->view;
    if (u->persist.term < v->term)
        cluster_fail(c, "n%llu: term went back from %llu to %llu", U(n->id),
                     U(v->term), U(u->persist.term));
    else if (u->persist.term >= CLUSTER_OUTSIDER_TERM)
        cluster_fail(c, "n%llu: took term %llu from outside the cluster",
                     U(n->id), U(u->persist.term));
    else if (u->persist.term == v->term && v->vote != 0 &&
             u->persist.vote != v->vote)
        cluster_fail(c, "n%llu: vote changed from n%llu to n%llu in term %llu",
                     U(n->id), U(v->vote), U(u->persist.vote),
                     U(u->persist.term));
    v->term = u->persist.term;
    v->vote = u->persist.vote;
}

static void check_chunk(struct cluster *c, struct sim_node *n,
                        const struct raft_update *u)
{
    struct sim_view *v = &n->view;
    if (u->persist.chunk_offset == 0) {
        v->in_active = true;
        v->in_index = u->persist.chunk_index;
        v->in_term = u->persist.chunk_term;
        v->in_len = 0;
    } else if (!v->in_active || v->in_index != u->persist.chunk_index ||
               v->in_term != u->persist.chunk_term ||
               u->persist.chunk_offset > v->in_len) {
        cluster_fail(c,
                     "n%llu: snapshot chunk (%llu, %llu) at offset %llu does "
                     "not continue the one being received",
                     U(n->id), U(u->persist.chunk_index),
                     U(u->persist.chunk_term), U(u->persist.chunk_offset));
        return;
    }
    if (u->persist.chunk_offset + u->persist.chunk_len > v->in_len)
        v->in_len = u->persist.chunk_offset + u->persist.chunk_len;
    if (!u->persist.chunk_last)
        return;
    const struct raft_snapshot_meta *m = &u->persist.chunk_meta;
    if (m->index != u->persist.chunk_index || m->term != u->persist.chunk_term)
        cluster_fail(c, "n%llu: chunk (%llu, %llu) installs meta (%llu, %llu)",
                     U(n->id), U(u->persist.chunk_index),
                     U(u->persist.chunk_term), U(m->index), U(m->term));
    struct idx_rec *r = rec_at(c->check, m->index);
    if (r->committed && r->term != m->term)
        cluster_fail(c,
                     "n%llu: installs snapshot (%llu, %llu) but term %llu was "
                     "committed there",
                     U(n->id), U(m->index), U(m->term), U(r->term));
    v->snap_index = m->index;
    v->snap_term = m->term;
    v->first = m->index + 1;
    v->last = m->index;
    v->in_active = false;
    v->installing = true;
}

/* Records (index, term) -> (digest, prev term) and checks it against what any
 * node handed out before: the Log Matching Property by induction. */
static void record_entry(struct cluster *c, uint64_t node,
                         const struct raft_entry *e, bool prev_known,
                         uint64_t prev)
{
    uint64_t d = cluster_entry_digest(e->type, e->data, e->len);
    struct pslot *s = pmap_find(&c->check->lm, e->index, e->term, true);
    if (s->v1 == 0 && s->v2 == 0) {
        s->v1 = d | 1; /* never 0: 0 marks a fresh slot */
        s->v2 = prev_known ? prev + 1 : 0;
        return;
    }
    if (s->v1 != (d | 1))
        cluster_fail(c,
                     "log matching: n%llu has a different entry at (index "
                     "%llu, term %llu)",
                     U(node), U(e->index), U(e->term));
    else if (prev_known && s->v2 != 0 && s->v2 != prev + 1)
        cluster_fail(c,
                     "log matching: n%llu has entry (%llu, %llu) after term "
                     "%llu, another node after term %llu",
                     U(node), U(e->index), U(e->term), U(prev), U(s->v2 - 1));
    else if (prev_known)
        s->v2 = prev + 1;
}

static void check_entries(struct cluster *c, struct sim_node *n,
                          const struct raft_update *u)
{
    struct sim_view *v = &n->view;
    uint64_t e0 = u->persist.entries[0].index;
    if (e0 <= v->snap_index || e0 > v->last + 1) {
        cluster_fail(c,
                     "n%llu: hands out entries from %llu with snapshot %llu "
                     "and last %llu",
                     U(n->id), U(e0), U(v->snap_index), U(v->last));
        return;
    }
    bool known;
    uint64_t prev = view_term(v, e0 - 1, &known);
    view_reserve(v, e0 + u->persist.n_entries);
    for (size_t k = 0; k < u->persist.n_entries && !c->failed; k++) {
        const struct raft_entry *e = &u->persist.entries[k];
        if (e->index != e0 + k || e->term < prev || e->term > v->term ||
            e->term == 0) {
            cluster_fail(c,
                         "n%llu: bad entry (%llu, %llu) after term %llu in "
                         "term %llu",
                         U(n->id), U(e->index), U(e->term), U(prev),
                         U(v->term));
            return;
        }
        if (e->index <= v->commit && e->index <= v->last &&
            v->terms[e->index] != e->term)
            cluster_fail(c,
                         "n%llu: overwrites its committed entry %llu (term "
                         "%llu) with term %llu",
                         U(n->id), U(e->index), U(v->terms[e->index]),
                         U(e->term));
        record_entry(c, n->id, e, known, prev);
        v->terms[e->index] = e->term;
        prev = e->term;
        known = true;
    }
    v->last = e0 + u->persist.n_entries - 1;
    if (v->last < v->commit)
        cluster_fail(c,
                     "n%llu: its log now ends at %llu, below its commit "
                     "index %llu",
                     U(n->id), U(v->last), U(v->commit));
}

void check_update(struct cluster *c, struct sim_node *n,
                  const struct raft_update *u)
{
    struct sim_view *v = &n->view;
    bool persist =
        u->persist.hs_changed || u->persist.chunk || u->persist.n_entries > 0;
    if (persist && u->persist.seq == 0)
        cluster_fail(c, "n%llu: an update with state to persist has seq 0",
                     U(n->id));
    if (u->persist.seq != 0 && u->persist.seq <= v->seq)
        cluster_fail(c, "n%llu: update seq %llu after %llu", U(n->id),
                     U(u->persist.seq), U(v->seq));
    if (u->persist.seq != 0)
        v->seq = u->persist.seq;
    if (u->persist.hs_changed)
        check_hs(c, n, u);
    if (u->persist.chunk && !c->failed)
        check_chunk(c, n, u);
    if (u->persist.n_entries > 0 && !c->failed)
        check_entries(c, n, u);
}

/* Raft §5.4.1: a new leader of term t holds every entry committed before t. */
static void check_new_leader(struct cluster *c, struct sim_node *n, uint64_t t)
{
    struct check *ck = c->check;
    uint64_t *l = lot_at(ck, t);
    if (*l != 0 && *l != n->id) {
        cluster_fail(c, "election safety: n%llu and n%llu both lead term %llu",
                     U(*l), U(n->id), U(t));
        return;
    }
    *l = n->id;
    uint64_t s = raft_snapshot_index(n->core);
    for (uint64_t i = s ? s : 1; i <= ck->commit_max && i < ck->rec_cap; i++) {
        const struct idx_rec *r = &ck->rec[i];
        if (!r->committed || r->commit_term >= t)
            continue;
        if (i == s) {
            uint64_t st = raft_term_at(n->core, s);
            if (st != 0 && st != r->term)
                cluster_fail(c,
                             "leader completeness: n%llu leads term %llu with "
                             "snapshot (%llu, %llu), committed term %llu",
                             U(n->id), U(t), U(s), U(st), U(r->term));
            continue;
        }
        const struct raft_entry *e = raft_entry_at(n->core, i);
        if (e == NULL || e->term != r->term ||
            (cluster_entry_digest(e->type, e->data, e->len) & ~1ull) !=
                r->digest) {
            cluster_fail(c,
                         "leader completeness: n%llu leads term %llu without "
                         "committed entry %llu (term %llu); it has term %llu",
                         U(n->id), U(t), U(i), U(r->term), U(e ? e->term : 0));
            return;
        }
    }
}

static void check_commit(struct cluster *c, struct sim_node *n, uint64_t commit)
{
    struct check *ck = c->check;
    struct sim_view *v = &n->view;
    if (commit < v->commit) {
        cluster_fail(c, "n%llu: commit index went back from %llu to %llu",
                     U(n->id), U(v->commit), U(commit));
        return;
    }
    if (commit > v->last && commit > v->snap_index) {
        cluster_fail(c, "n%llu: commit index %llu beyond its last entry %llu",
                     U(n->id), U(commit), U(v->last));
        return;
    }
    for (uint64_t i = v->commit + 1; i <= commit; i++) {
        bool known;
        uint64_t t = view_term(v, i, &known);
        if (!known)
            continue; /* inside the snapshot: checked when it was made */
        struct pslot *s = pmap_find(&ck->lm, i, t, false);
        struct idx_rec *r = rec_at(ck, i);
        if (r->committed && r->term != t) {
            cluster_fail(c,
                         "committed entry changed: n%llu commits (%llu, term "
                         "%llu) but term %llu was committed there",
                         U(n->id), U(i), U(t), U(r->term));
            return;
        }
        if (r->committed)
            continue;
        if (s == NULL) {
            cluster_fail(c, "n%llu commits (%llu, %llu) never handed out",
                         U(n->id), U(i), U(t));
            return;
        }
        r->committed = true;
        r->term = t;
        r->digest = s->v1 & ~1ull;
        r->commit_term = v->term;
    }
    v->commit = commit;
    if (commit > ck->commit_max)
        ck->commit_max = commit;
}

static void check_reads(struct cluster *c, struct sim_node *n,
                        const struct raft_update *u)
{
    struct check *ck = c->check;
    for (size_t k = 0; k < u->n_reads + u->n_dropped_reads; k++) {
        bool served = k < u->n_reads;
        uint64_t ctx =
            served ? u->reads[k].ctx : u->dropped_reads[k - u->n_reads];
        struct read_rec *r = ctx < ck->reads_cap ? &ck->reads[ctx] : NULL;
        if (r == NULL || !r->asked || r->done || r->node != n->id ||
            r->life != n->life) {
            cluster_fail(c,
                         "n%llu: answers read %llu it was never asked or "
                         "already answered",
                         U(n->id), U(ctx));
            return;
        }
        r->done = true;
        r->served = served;
        if (!served)
            continue;
        uint64_t i = u->reads[k].index;
        if (i < r->min_index || i > u->commit)
            cluster_fail(c,
                         "linearizability: n%llu serves read %llu at index "
                         "%llu; %llu was committed when it was asked, its "
                         "commit is %llu",
                         U(n->id), U(ctx), U(i), U(r->min_index), U(u->commit));
    }
}

void check_state(struct cluster *c, struct sim_node *n,
                 const struct raft_update *u)
{
    uint64_t t = raft_term(n->core);
    if (u->role != raft_role(n->core) || u->leader != raft_leader(n->core) ||
        u->commit != raft_commit_index(n->core)) {
        cluster_fail(c,
                     "n%llu: update's role/leader/commit differ from the "
                     "core's",
                     U(n->id));
        return;
    }
    check_commit(c, n, u->commit);
    if (c->failed)
        return;
    if (u->role == RAFT_LEADER && n->role != RAFT_LEADER)
        check_new_leader(c, n, t);
    if (c->failed)
        return;
    if (u->role == RAFT_LEADER && u->leader != n->id)
        cluster_fail(c, "n%llu: leader of term %llu names n%llu as leader",
                     U(n->id), U(t), U(u->leader));
    if (u->leader != 0 && u->leader != n->id) {
        uint64_t l = *lot_at(c->check, t);
        if (l != u->leader)
            cluster_fail(c,
                         "n%llu follows n%llu in term %llu, whose leader is "
                         "n%llu",
                         U(n->id), U(u->leader), U(t), U(l));
    }
    if (!c->failed)
        check_reads(c, n, u);
}

/* ---- messages ---- */

static void check_vote_grant(struct cluster *c, struct sim_node *n,
                             const struct raft_msg *m)
{
    struct pslot *s = pmap_find(&c->check->votes, m->term, n->id, false);
    if (s == NULL || s->v1 != m->to)
        cluster_fail(c,
                     "n%llu grants its vote in term %llu to n%llu, but its "
                     "durable vote is n%llu",
                     U(n->id), U(m->term), U(m->to), U(s ? s->v1 : 0));
}

/* An accepted APPEND (or an installed snapshot) claims that the entries up
 * to m->index are durable. */
static void check_append_ack(struct cluster *c, struct sim_node *n,
                             const struct raft_msg *m)
{
    const struct sim_disk *d = &n->disk;
    bool vk;
    uint64_t dt;
    /* A reply held since an earlier term describes the log of that term,
     * which a later leader may have changed since: like a message delayed
     * by the network, it is checked by the leader's term instead. */
    if (m->term < n->view.term)
        return;
    bool dk = cluster_disk_term(d, m->index, &dt);
    uint64_t vt = view_term(&n->view, m->index, &vk);
    if (m->index > cluster_disk_last(d) || (dk && vk && dt != vt))
        cluster_fail(c,
                     "n%llu acknowledges entries up to %llu (term %llu) but "
                     "its disk holds up to %llu (term %llu there)",
                     U(n->id), U(m->index), U(vt), U(cluster_disk_last(d)),
                     U(dt));
}

static void check_leader_msg(struct cluster *c, struct sim_node *n,
                             const struct raft_msg *m)
{
    uint64_t l = *lot_at(c->check, m->term);
    if (l != n->id) {
        cluster_fail(c, "n%llu sends type %u in term %llu led by n%llu",
                     U(n->id), m->type, U(m->term), U(l));
        return;
    }
    /* Were it to crash now, it would come back in an older term, and could
     * lead this term a second time with a different log. */
    if (n->disk.term < m->term) {
        cluster_fail(c,
                     "n%llu acts as leader of term %llu while its disk "
                     "holds term %llu",
                     U(n->id), U(m->term), U(n->disk.term));
        return;
    }
    if (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT) {
        if (m->commit > n->view.commit)
            cluster_fail(c, "n%llu sends commit %llu above its own %llu",
                         U(n->id), U(m->commit), U(n->view.commit));
    }
    for (uint32_t k = 0; k < m->n_entries && !c->failed; k++) {
        const struct raft_entry *e = &m->entries[k];
        struct pslot *s = pmap_find(&c->check->lm, e->index, e->term, false);
        uint64_t d = cluster_entry_digest(e->type, e->data, e->len);
        if (s == NULL || (s->v1 & ~1ull) != (d & ~1ull) ||
            e->index != m->index + 1 + k)
            cluster_fail(c,
                         "n%llu sends entry (%llu, %llu) it never handed out "
                         "for persistence",
                         U(n->id), U(e->index), U(e->term));
    }
}

void check_msg_out(struct cluster *c, struct sim_node *n,
                   const struct raft_msg *m)
{
    if (m->from != n->id || m->to == 0 || m->to == n->id ||
        m->to > CLUSTER_MAX_ID || m->type == 0 || m->type > RAFT_MSG_TYPE_MAX) {
        cluster_fail(c, "n%llu sends a bad message type %u from %llu to %llu",
                     U(n->id), m->type, U(m->from), U(m->to));
        return;
    }
    if (m->term > n->view.term && m->type != RAFT_MSG_PREVOTE &&
        m->type != RAFT_MSG_PREVOTE_RESP) {
        cluster_fail(c, "n%llu sends term %llu before handing out term %llu",
                     U(n->id), U(m->term), U(n->view.term));
        return;
    }
    switch (m->type) {
    case RAFT_MSG_VOTE_RESP:
        if (!m->reject)
            check_vote_grant(c, n, m);
        break;
    case RAFT_MSG_APPEND_RESP:
        if (!m->reject)
            check_append_ack(c, n, m);
        break;
    case RAFT_MSG_SNAPSHOT_RESP:
        /* "Installed" claims everything up to the index is durable, from
         * this snapshot or an earlier one and the log. */
        if (m->last && !m->reject)
            check_append_ack(c, n, m);
        break;
    case RAFT_MSG_APPEND:
    case RAFT_MSG_HEARTBEAT:
    case RAFT_MSG_SNAPSHOT:
    case RAFT_MSG_TIMEOUT_NOW:
        check_leader_msg(c, n, m);
        break;
    default:
        break;
    }
}

/* ---- applying, snapshots, disks ---- */

void check_apply(struct cluster *c, struct sim_node *n,
                 const struct raft_entry *e)
{
    struct idx_rec *r = rec_at(c->check, e->index);
    uint64_t d = cluster_entry_digest(e->type, e->data, e->len);
    if (e->index > n->view.commit) {
        cluster_fail(c, "n%llu applies %llu above its commit index %llu",
                     U(n->id), U(e->index), U(n->view.commit));
        return;
    }
    if (r->committed &&
        (r->term != e->term || (r->digest & ~1ull) != (d & ~1ull))) {
        cluster_fail(c,
                     "committed entry changed: n%llu applies (%llu, term "
                     "%llu) but term %llu was committed there",
                     U(n->id), U(e->index), U(e->term), U(r->term));
        return;
    }
    if (!r->applied) {
        r->applied = true;
        r->a_term = e->term;
        r->a_digest = d;
        r->a_hash = n->sm.hash;
        return;
    }
    if (r->a_term != e->term || r->a_digest != d || r->a_hash != n->sm.hash)
        cluster_fail(c,
                     "state machine safety: n%llu applies (%llu, term %llu) "
                     "-> state %016llx, another node applied term %llu -> "
                     "%016llx",
                     U(n->id), U(e->index), U(e->term), U(n->sm.hash),
                     U(r->a_term), U(r->a_hash));
}

void check_sm_restored(struct cluster *c, struct sim_node *n)
{
    uint64_t i = n->sm.index;
    if (i == 0)
        return;
    const struct idx_rec *r = rec_at(c->check, i);
    if (!r->applied || r->a_hash != n->sm.hash)
        cluster_fail(c,
                     "n%llu restores a snapshot at %llu with state %016llx; "
                     "the state applied there is %016llx",
                     U(n->id), U(i), U(n->sm.hash),
                     U(r->applied ? r->a_hash : 0));
}

void check_durable_hs(struct cluster *c, struct sim_node *n, uint64_t term,
                      uint64_t vote)
{
    const struct sim_disk *d = &n->disk;
    if (term < d->term) {
        cluster_fail(c, "n%llu: durable term goes back from %llu to %llu",
                     U(n->id), U(d->term), U(term));
        return;
    }
    if (term == d->term && d->vote != 0 && vote != d->vote) {
        cluster_fail(c,
                     "n%llu: durable vote in term %llu changes from n%llu "
                     "to n%llu",
                     U(n->id), U(term), U(d->vote), U(vote));
        return;
    }
    if (vote == 0)
        return;
    struct pslot *s = pmap_find(&c->check->votes, term, n->id, true);
    if (s->v1 != 0 && s->v1 != vote)
        cluster_fail(c, "n%llu votes for n%llu and n%llu in term %llu",
                     U(n->id), U(s->v1), U(vote), U(term));
    s->v1 = vote;
}

void check_local_snapshot(struct cluster *c, struct sim_node *n,
                          const struct raft_snapshot_meta *meta)
{
    const struct idx_rec *r = rec_at(c->check, meta->index);
    if (meta->index != n->sm.index || !r->applied || r->a_term != meta->term ||
        raft_conf_check(&meta->conf) != 0 || meta->conf.n == 0)
        cluster_fail(c,
                     "n%llu: snapshot meta (%llu, %llu) for state at %llu "
                     "(applied term %llu)",
                     U(n->id), U(meta->index), U(meta->term), U(n->sm.index),
                     U(r->a_term));
}

void check_read_asked(struct cluster *c, struct sim_node *n, uint64_t ctx)
{
    struct check *ck = c->check;
    ck->reads = grow(ck->reads, &ck->reads_cap, ctx, sizeof *ck->reads);
    ck->reads[ctx] = (struct read_rec){.node = n->id,
                                       .min_index = ck->commit_max,
                                       .life = n->life,
                                       .asked = true};
}

int check_read_outcome(const struct check *ck, uint64_t ctx)
{
    if (ctx >= ck->reads_cap || !ck->reads[ctx].done)
        return CLUSTER_READ_PENDING;
    return ck->reads[ctx].served ? CLUSTER_READ_SERVED : CLUSTER_READ_DROPPED;
}
