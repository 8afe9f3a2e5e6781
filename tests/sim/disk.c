/* disk.c - the simulated disk: a log-structured store (hard state, the
 * latest snapshot, a log cut and appended by each write) and the queue of
 * writes not yet durable, which a crash may lose. */
#include "disk.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/mem.h"
#include "net.h"

#define U(x) ((unsigned long long)(x))

static void entry_copy(struct raft_entry *dst, const struct raft_entry *src)
{
    *dst = *src;
    dst->data = src->len ? mem_xmemdup(src->data, src->len) : NULL;
}

static void log_truncate(struct sim_log *l, uint64_t from)
{
    while (l->n > 0 && l->first + l->n - 1 >= from)
        free(l->e[--l->n].data);
}

/* Empties the log; it restarts after entry first-1 of term prev_term. */
static void log_clear(struct sim_log *l, uint64_t first, uint64_t prev_term)
{
    log_truncate(l, 0);
    l->first = first;
    l->prev_term = prev_term;
}

/* Drops the entries up to and including index (which it holds). */
static void log_drop_upto(struct sim_log *l, uint64_t index)
{
    size_t k = 0;
    while (k < l->n && l->first + k <= index) {
        l->prev_term = l->e[k].term;
        free(l->e[k++].data);
    }
    memmove(l->e, l->e + k, (l->n - k) * sizeof *l->e);
    l->n -= k;
    l->first += k;
}

static void log_push(struct sim_log *l, const struct raft_entry *e)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->e = mem_xrealloc(l->e, l->cap * sizeof *l->e);
    }
    entry_copy(&l->e[l->n++], e);
}

static uint64_t log_last(const struct sim_log *l)
{
    return l->first + l->n - 1;
}

/* Term of entry i in the log (first-1 included); false if not held. */
static bool log_term(const struct sim_log *l, uint64_t i, uint64_t *term)
{
    if (i + 1 == l->first) {
        *term = l->prev_term;
        return true;
    }
    if (i < l->first || i > log_last(l))
        return false;
    *term = l->e[i - l->first].term;
    return true;
}

uint64_t disk_snap_index(const struct sim_disk *d)
{
    return d->snap.present ? d->snap.meta.index : 0;
}

/* The stored log continues the snapshot when it holds the snapshot's last
 * entry. It may not: the core may apply entries (committed elsewhere) before
 * the write that put them in this log is durable, and a local snapshot of
 * them is then newer than the stored log. */
bool disk_continues(const struct sim_disk *d)
{
    uint64_t t;
    return !d->snap.present || (log_term(&d->log, d->snap.meta.index, &t) &&
                                t == d->snap.meta.term);
}

size_t cluster_disk_entries(const struct sim_disk *d,
                            const struct raft_entry **es)
{
    uint64_t s = disk_snap_index(d);
    *es = NULL;
    if (!disk_continues(d) || log_last(&d->log) <= s)
        return 0;
    *es = &d->log.e[s + 1 - d->log.first];
    return (size_t)(log_last(&d->log) - s);
}

uint64_t cluster_disk_last(const struct sim_disk *d)
{
    const struct raft_entry *es;
    return disk_snap_index(d) + cluster_disk_entries(d, &es);
}

bool cluster_disk_term(const struct sim_disk *d, uint64_t i, uint64_t *term)
{
    const struct raft_entry *es;
    uint64_t s = disk_snap_index(d);
    size_t n = cluster_disk_entries(d, &es);
    *term = 0;
    if (i == s) {
        *term = d->snap.present ? d->snap.meta.term : 0;
        return true;
    }
    if (i < s || i > s + n)
        return false;
    *term = es[i - s - 1].term;
    return true;
}

/* Persists entries as a log-structured store does: the stored log is cut at
 * es[0].index - 1 and the entries are appended. Entries below the stored
 * log's start were compacted into a snapshot (they are committed). */
static void disk_append(struct cluster *c, struct sim_node *n,
                        const struct raft_entry *es, size_t k)
{
    struct sim_log *l = &n->disk.log;
    uint64_t e0 = es[0].index;
    if (e0 > log_last(l) + 1) {
        cluster_fail(c,
                     "n%llu: entries from %llu leave a gap after %llu on "
                     "disk",
                     U(n->id), U(e0), U(log_last(l)));
        return;
    }
    size_t skip = 0;
    while (skip < k && es[skip].index < l->first)
        skip++;
    if (skip == k)
        return;
    log_truncate(l, es[skip].index);
    for (size_t j = skip; j < k; j++)
        log_push(l, &es[j]);
}

static void snap_set(struct sim_snap *s, const struct raft_snapshot_meta *m,
                     uint8_t *data, size_t len)
{
    free(s->data);
    s->present = true;
    s->meta = *m;
    s->data = data;
    s->len = len;
}

/* Restores a running node's state machine from its durable snapshot. */
void disk_restore_sm(struct cluster *c, struct sim_node *n)
{
    struct sim_sm sm = {0};
    const struct sim_snap *s = &n->disk.snap;
    const struct cluster_app *app = c->cfg.app;
    const uint8_t *payload = NULL;
    size_t plen = 0;
    if (s->present &&
        !sm_load(&sm, s->data, s->len, app == NULL, &payload, &plen)) {
        cluster_fail(c, "n%llu: snapshot %llu on disk is corrupt", U(n->id),
                     U(s->meta.index));
        return;
    }
    if (s->present && sm.index != s->meta.index) {
        cluster_fail(c, "n%llu: snapshot %llu holds the state at %llu",
                     U(n->id), U(s->meta.index), U(sm.index));
        return;
    }
    if (sm.index < n->sm.index) {
        cluster_fail(c,
                     "n%llu: installing snapshot %llu takes its state "
                     "machine back from %llu",
                     U(n->id), U(sm.index), U(n->sm.index));
        return;
    }
    n->sm = sm;
    check_sm_restored(c, n);
    if (app != NULL && s->present && !c->failed &&
        !app->load(app->arg, c, n, payload, plen))
        cluster_fail(c, "n%llu: the state machine refuses snapshot %llu",
                     U(n->id), U(s->meta.index));
}

static void disk_chunk(struct cluster *c, struct sim_node *n,
                       const struct raft_persist *w, bool live)
{
    struct sim_disk *d = &n->disk;
    if (w->chunk_offset == 0) {
        d->in_index = w->chunk_index;
        d->in_term = w->chunk_term;
        d->in_len = 0;
    } else if (d->in_index != w->chunk_index || d->in_term != w->chunk_term ||
               w->chunk_offset > d->in_len) {
        cluster_fail(c,
                     "n%llu: chunk at %llu does not continue the snapshot "
                     "on disk",
                     U(n->id), U(w->chunk_offset));
        return;
    }
    size_t end = w->chunk_offset + w->chunk_len;
    if (end > d->in_cap) {
        d->in_cap = end * 2;
        d->in_data = mem_xrealloc(d->in_data, d->in_cap);
    }
    if (w->chunk_len)
        memcpy(d->in_data + w->chunk_offset, w->chunk_data, w->chunk_len);
    if (end > d->in_len)
        d->in_len = end;
    if (!w->chunk_last)
        return;
    snap_set(&d->snap, &w->chunk_meta, mem_xmemdup(d->in_data, d->in_len),
             d->in_len);
    log_clear(&d->log, w->chunk_meta.index + 1, w->chunk_meta.term);
    d->in_len = 0;
    cluster_trace(c, "n%llu installed snapshot (%llu, %llu) of %zu bytes",
                  U(n->id), U(w->chunk_meta.index), U(w->chunk_meta.term),
                  d->snap.len);
    if (!live)
        return;
    disk_restore_sm(c, n);
    n->view.installing = false;
}

/* Makes one write durable; live when the node is running (not a write that
 * reaches the disk as the node crashes). */
void disk_write(struct cluster *c, struct sim_node *n,
                const struct raft_persist *w, bool live)
{
    struct sim_disk *d = &n->disk;
    if (w->hs_changed) {
        check_durable_hs(c, n, w->term, w->vote);
        d->term = w->term;
        d->vote = w->vote;
    }
    if (w->chunk && !c->failed)
        disk_chunk(c, n, w, live);
    if (w->n_entries && !c->failed)
        disk_append(c, n, w->entries, w->n_entries);
}

static void disk_kick(struct cluster *c, struct sim_node *n)
{
    if (n->writing || n->q_n == 0 || c->cfg.manual)
        return;
    n->writing = true;
    n->write_seq = n->q[n->q_head + n->q_n - 1].seq;
    uint64_t delay =
        n->slow_disk ? rng_range(&c->rng, 20, 400) : rng_range(&c->rng, 0, 5);
    net_schedule(c, EV_DISK, n, c->now_ms + delay, 0);
}

void disk_queue(struct cluster *c, struct sim_node *n,
                const struct raft_update *u)
{
    if (n->q_head + n->q_n == n->q_cap) {
        if (n->q_head > 0) {
            memmove(n->q, n->q + n->q_head, n->q_n * sizeof *n->q);
            n->q_head = 0;
        } else {
            n->q_cap = n->q_cap ? n->q_cap * 2 : 16;
            n->q = mem_xrealloc(n->q, n->q_cap * sizeof *n->q);
        }
    }
    raft_persist_copy(&n->q[n->q_head + n->q_n++], &u->persist);
    disk_kick(c, n);
}

/* The disk finished the write in progress: it is durable now, and the
 * persisted ack reaches the core a little later (a crash may fall between). */
void disk_done(struct cluster *c, struct sim_node *n)
{
    n->writing = false;
    while (n->q_n > 0 && n->q[n->q_head].seq <= n->write_seq && !c->failed) {
        disk_write(c, n, &n->q[n->q_head], true);
        raft_persist_free(&n->q[n->q_head]);
        n->q_head++;
        n->q_n--;
    }
    if (n->q_n == 0)
        n->q_head = 0;
    cluster_trace(c, "n%llu disk: durable up to seq %llu", U(n->id),
                  U(n->write_seq));
    uint64_t at = c->now_ms + rng_range(&c->rng, 0, 3);
    if (at < n->ack_ms)
        at = n->ack_ms;
    n->ack_ms = at;
    if (!c->cfg.manual)
        net_schedule(c, EV_ACK, n, at, n->write_seq);
    disk_kick(c, n);
}

/* A crash in the middle of a write: its hard state, snapshot chunk and a
 * prefix of its entries reach the disk, in that order. */
static void partial_write(struct cluster *c, struct sim_node *n,
                          const struct raft_persist *w)
{
    struct raft_persist p = *w;
    unsigned stage = (unsigned)rng_below(&c->rng, 3);
    if (stage < 1)
        p.chunk = false;
    p.n_entries = stage < 2 ? 0 : rng_below(&c->rng, w->n_entries + 1);
    disk_write(c, n, &p, false);
}

void disk_init(struct sim_disk *d)
{
    log_clear(&d->log, 1, 0);
}

void disk_free(struct sim_node *n)
{
    for (size_t k = 0; k < n->q_n; k++)
        raft_persist_free(&n->q[n->q_head + k]);
    free(n->q);
    log_clear(&n->disk.log, 0, 0);
    free(n->disk.log.e);
    free(n->disk.snap.data);
    free(n->disk.in_data);
}

void disk_recover(struct sim_disk *d)
{
    if (!disk_continues(d))
        log_clear(&d->log, d->snap.meta.index + 1, d->snap.meta.term);
}

void disk_store_snapshot(struct sim_disk *d,
                         const struct raft_snapshot_meta *meta, uint8_t *data,
                         size_t len)
{
    snap_set(&d->snap, meta, data, len);
    /* Trim the stored log only where it continues the snapshot; otherwise
     * a pending write will cut it, or a restart ignores it. */
    if (disk_continues(d))
        log_drop_upto(&d->log, meta->index);
}

void disk_crash(struct cluster *c, struct sim_node *n, bool keep_some)
{
    size_t keep = keep_some ? rng_below(&c->rng, n->q_n + 1) : 0;
    cluster_trace(c,
                  "n%llu crashes; %zu of %zu pending writes reach the "
                  "disk",
                  U(n->id), keep, n->q_n);
    for (size_t k = 0; k < n->q_n; k++) {
        struct raft_persist *w = &n->q[n->q_head + k];
        if (k < keep && !c->failed)
            disk_write(c, n, w, false);
        else if (k == keep && keep_some && rng_chance(&c->rng, 500))
            partial_write(c, n, w);
        raft_persist_free(w);
    }
    n->q_head = n->q_n = 0;
    n->writing = false;
}

void disk_flush(struct cluster *c, struct sim_node *n)
{
    if (n->q_n == 0)
        return;
    n->write_seq = n->q[n->q_head + n->q_n - 1].seq;
    disk_done(c, n);
    n->writing = false;
}
