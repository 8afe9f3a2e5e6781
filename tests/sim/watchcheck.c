/* watchcheck.c - the checker of watches (watchcheck.h): a digest of each
 * revision's changes, and per node the holds rebuilt from its changes and
 * its record of them since its history restarted. */
#include "watchcheck.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

#define U(x) ((unsigned long long)(x))
/* Revisions at which the rebuilt holds are compared with the machine (as
 * lockcheck.c audits), besides the audits asked for. */
#define SAMPLE_EVERY 25
/* One apply in this many has a watcher resume (chosen by a hash of the
 * seed, the node and the revision: the run's random stream is left as it
 * was). */
#define RESUME_EVERY 8
/* A node's record keeps its last changes, between these counts: more
 * than a simulated server's history keeps (lockserver.c). */
#define RECORD_MAX 1024
#define RECORD_KEEP 512

/* One hold rebuilt: a (session, owner) of a name. */
struct whold {
    uint64_t session;
    uint64_t token;
    uint32_t exclusive, shared;
    uint32_t owner_len;
    char owner[FSM_OWNER_MAX];
};

/* A name's holds and election value, rebuilt. */
struct wname {
    char *name;
    uint32_t len;
    bool seen; /* in the machine, at this audit */
    struct whold *h;
    size_t n, cap;
    char *value;
    uint32_t value_len;
};

/* A change the node applied: its revision and digest. */
struct wrec {
    uint64_t revision;
    uint64_t digest;
};

struct wnode {
    struct wname *names;
    size_t n_names, cap_names;
    uint64_t last;  /* the last revision applied, or restarted from */
    uint64_t start; /* the revision its history restarted from */
    uint64_t whole; /* its record holds every change after it */
    struct wrec *rec;
    size_t n_rec, cap_rec;
};

struct watchcheck {
    struct wnode nodes[CLUSTER_MAX_ID + 1];
    uint64_t seen; /* the highest revision applied anywhere */
    struct watchcheck_counts counts;
};

struct watchcheck *watchcheck_new(void)
{
    return mem_xcalloc(1, sizeof(struct watchcheck));
}

static void forget_names(struct wnode *nd)
{
    for (size_t i = 0; i < nd->n_names; i++) {
        free(nd->names[i].name);
        free(nd->names[i].h);
        free(nd->names[i].value);
    }
    nd->n_names = 0;
}

void watchcheck_free(struct watchcheck *w)
{
    if (w == NULL)
        return;
    for (unsigned i = 0; i <= CLUSTER_MAX_ID; i++) {
        forget_names(&w->nodes[i]);
        free(w->nodes[i].names);
        free(w->nodes[i].rec);
    }
    free(w);
}

void watchcheck_counts(const struct watchcheck *w, struct watchcheck_counts *n)
{
    *n = w->counts;
}

/* The node starts over from revision, with no holds and no record. */
static void restart(struct wnode *nd, uint64_t revision)
{
    forget_names(nd);
    nd->n_rec = 0;
    nd->last = nd->start = nd->whole = revision;
}

void watchcheck_reset(struct watchcheck *w, uint64_t id)
{
    restart(&w->nodes[id], 0);
}

/* ---- rebuilt holds ---------------------------------------------------- */

static struct wname *name_get(struct wnode *nd, const char *name, uint32_t len,
                              bool make)
{
    for (size_t i = 0; i < nd->n_names; i++)
        if (nd->names[i].len == len &&
            memcmp(nd->names[i].name, name, len) == 0)
            return &nd->names[i];
    if (!make)
        return NULL;
    if (nd->n_names == nd->cap_names) {
        nd->cap_names = nd->cap_names ? 2 * nd->cap_names : 16;
        nd->names = mem_xrealloc(nd->names, nd->cap_names * sizeof *nd->names);
    }
    struct wname *wn = &nd->names[nd->n_names++];
    *wn = (struct wname){.name = mem_xmemdup(name, len), .len = len};
    return wn;
}

static struct whold *hold_find(struct wname *wn, uint64_t session,
                               const char *owner, uint32_t owner_len)
{
    for (size_t i = 0; i < wn->n; i++)
        if (wn->h[i].session == session && wn->h[i].owner_len == owner_len &&
            memcmp(wn->h[i].owner, owner, owner_len) == 0)
            return &wn->h[i];
    return NULL;
}

/* Sets the hold of (session, owner) to what it is after a change or in the
 * machine: exclusive and shared counts, token; none left ends it. False if
 * it ends a hold that wn does not have. */
static bool hold_set(struct wname *wn, uint64_t session, const char *owner,
                     uint32_t owner_len, uint64_t token, uint32_t exclusive,
                     uint32_t shared)
{
    struct whold *h = hold_find(wn, session, owner, owner_len);
    if (exclusive == 0 && shared == 0) {
        if (h == NULL)
            return false;
        *h = wn->h[--wn->n];
        return true;
    }
    if (h == NULL) {
        if (wn->n == wn->cap) {
            wn->cap = wn->cap ? 2 * wn->cap : 4;
            wn->h = mem_xrealloc(wn->h, wn->cap * sizeof *wn->h);
        }
        h = &wn->h[wn->n++];
        h->session = session;
        h->owner_len = owner_len;
        memcpy(h->owner, owner, owner_len);
    }
    h->token = token;
    h->exclusive = exclusive;
    h->shared = shared;
    return true;
}

static void value_set(struct wname *wn, const char *value, uint32_t len)
{
    free(wn->value);
    wn->value = len > 0 ? mem_xmemdup(value, len) : NULL;
    wn->value_len = len;
}

/* Rebuilds the holds of node nd by the change ch; false, with why, if the
 * change does not follow from the changes before it. */
static bool follow(struct wnode *nd, const struct fsm_change *ch, char *why,
                   size_t cap)
{
    struct wname *wn = name_get(nd, ch->name, ch->name_len, true);
    if (!hold_set(wn, ch->session, ch->owner, ch->owner_len, ch->token,
                  ch->exclusive, ch->shared)) {
        snprintf(why, cap, "it ends a hold that no change before made");
        return false;
    }
    value_set(wn, ch->value, ch->value_len);
    if (ch->holders != wn->n) {
        snprintf(why, cap,
                 "it says the name has %u holders after it; the changes "
                 "replayed give %zu",
                 ch->holders, wn->n);
        return false;
    }
    return true;
}

/* ---- the machine's holds ---------------------------------------------- */

/* One name of the machine being compared with (or taken into) a node. */
struct walk {
    const struct fsm *f;
    struct wnode *nd;
    struct wname *wn;
    bool seed; /* take the machine's holds, rather than compare */
    char *why;
    size_t cap;
    bool bad;
};

static bool hold_cb(void *arg, const struct fsm_hold_info *h)
{
    struct walk *k = arg;
    if (k->seed) {
        hold_set(k->wn, h->session, h->owner, h->owner_len, h->token,
                 h->exclusive, h->shared);
        return true;
    }
    const struct whold *r =
        hold_find(k->wn, h->session, h->owner, h->owner_len);
    if (r != NULL && r->token == h->token && r->exclusive == h->exclusive &&
        r->shared == h->shared)
        return true;
    snprintf(k->why, k->cap,
             "'%.*s': session %llu owner '%.*s' holds token %llu, %u "
             "exclusive, %u shared; the changes give %s%llu, %u, %u",
             (int)k->wn->len, k->wn->name, U(h->session), (int)h->owner_len,
             h->owner, U(h->token), h->exclusive, h->shared,
             r == NULL ? "no hold: " : "", U(r ? r->token : 0),
             r ? r->exclusive : 0, r ? r->shared : 0);
    k->bad = true;
    return false;
}

static bool lock_cb(void *arg, const struct fsm_lock_info *info)
{
    struct walk *k = arg;
    bool leader = info->kind == FSM_KIND_ELECTION && info->holders > 0;
    uint32_t vlen = leader ? info->value_len : 0;
    k->wn = name_get(k->nd, info->name, info->name_len,
                     k->seed && info->holders > 0);
    if (k->wn == NULL && info->holders == 0)
        return true;
    if (k->seed)
        value_set(k->wn, info->value, vlen);
    else if (k->wn == NULL || k->wn->n != info->holders ||
             k->wn->value_len != vlen ||
             (vlen > 0 && memcmp(k->wn->value, info->value, vlen) != 0)) {
        snprintf(k->why, k->cap,
                 "'%.*s' has %u holders and value '%.*s'; the changes give "
                 "%zu and '%.*s'",
                 (int)info->name_len, info->name, info->holders, (int)vlen,
                 info->value, k->wn ? k->wn->n : 0,
                 (int)(k->wn ? k->wn->value_len : 0),
                 k->wn ? k->wn->value : "");
        k->bad = true;
        return false;
    }
    k->wn->seen = true;
    fsm_lock_holds(k->f, info->name, info->name_len, 0, hold_cb, k);
    return !k->bad;
}

/* Walks every name of f into node nd (seed) or against it. */
static bool walk(struct wnode *nd, const struct fsm *f, bool seed, char *why,
                 size_t cap)
{
    struct walk k = {.f = f, .nd = nd, .seed = seed, .why = why, .cap = cap};
    for (size_t i = 0; i < nd->n_names; i++)
        nd->names[i].seen = false;
    fsm_lock_list(f, "", 0, NULL, 0, lock_cb, &k);
    for (size_t i = 0; i < nd->n_names && !k.bad; i++) {
        const struct wname *wn = &nd->names[i];
        if (wn->seen || wn->n == 0)
            continue;
        snprintf(why, cap,
                 "the changes give '%.*s' %zu holders; the machine has none",
                 (int)wn->len, wn->name, wn->n);
        k.bad = true;
    }
    return !k.bad;
}

void watchcheck_restored(struct watchcheck *w, struct cluster *c,
                         struct sim_node *n, const struct fsm *f)
{
    struct wnode *nd = &w->nodes[n->id];
    char why[64];
    restart(nd, n->sm.index);
    walk(nd, f, true, why, sizeof why);
}

void watchcheck_audit(struct watchcheck *w, struct cluster *c,
                      struct sim_node *n, const struct fsm *f)
{
    char why[600];
    if (!walk(&w->nodes[n->id], f, false, why, sizeof why))
        cluster_fail(c, "watches: n%llu at %llu: %s", U(n->id), U(n->sm.index),
                     why);
}

/* ---- revisions, the record, resumes ----------------------------------- */

uint64_t watchcheck_digest(const struct fsm_change *ch)
{
    uint64_t v[7] = {ch->type,      ch->kind,   ch->session, ch->token,
                     ch->exclusive, ch->shared, ch->holders};
    uint64_t h = rng_hash(0x6a09e667f3bcc909ull, v, sizeof v);
    h = rng_hash(h, ch->name, ch->name_len);
    h = rng_hash(h, ch->owner, ch->owner_len);
    return rng_hash(h, ch->value, ch->value_len);
}

/* Keeps the node's changes of revision in its record; the oldest go when
 * it is full, and with them the whole of their revisions. */
static void record(struct wnode *nd, uint64_t revision,
                   const struct fsm_change *ch, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (nd->n_rec == RECORD_MAX) {
            size_t drop = RECORD_MAX - RECORD_KEEP;
            nd->whole = nd->rec[drop - 1].revision;
            memmove(nd->rec, nd->rec + drop, RECORD_KEEP * sizeof *nd->rec);
            nd->n_rec = RECORD_KEEP;
        }
        if (nd->n_rec == nd->cap_rec) {
            nd->cap_rec = nd->cap_rec ? 2 * nd->cap_rec : 64;
            nd->rec = mem_xrealloc(nd->rec, nd->cap_rec * sizeof *nd->rec);
        }
        nd->rec[nd->n_rec++] = (struct wrec){
            .revision = revision, .digest = watchcheck_digest(&ch[i])};
    }
}

/* The position in nd's record of its first change after revision. */
static size_t record_after(const struct wnode *nd, uint64_t revision)
{
    size_t j = nd->n_rec;
    while (j > 0 && nd->rec[j - 1].revision > revision)
        j--;
    return j;
}

/* A watcher resumes from revision `from` on n: the history answers gone,
 * or the changes after from. Both must be what n applied. */
static void resume(struct watchcheck *w, struct cluster *c, struct sim_node *n,
                   const struct wnode *nd, const struct changelog *log,
                   uint64_t from)
{
    uint64_t whole = changelog_whole_from(log);
    size_t i = changelog_first_after(log, from), j = record_after(nd, from);
    size_t kept = changelog_count(log) - i, applied = nd->n_rec - j;
    w->counts.resumes++;
    if (from < nd->start && from >= whole) {
        cluster_fail(c,
                     "watches: n%llu resumes from %llu, before its history "
                     "restarted at %llu, and is not told gone (whole from "
                     "%llu)",
                     U(n->id), U(from), U(nd->start), U(whole));
        return;
    }
    if (from < whole) {
        w->counts.gone++;
        if (from >= nd->start && from >= nd->whole && kept >= applied) {
            cluster_fail(c,
                         "watches: n%llu resumes from %llu and is told gone "
                         "(whole from %llu), but keeps all %zu changes "
                         "after it",
                         U(n->id), U(from), U(whole), applied);
            return;
        }
        if (whole < nd->whole)
            return; /* older than the record: nothing to compare */
        i = changelog_first_after(log, whole);
        j = record_after(nd, whole);
        kept = changelog_count(log) - i;
        applied = nd->n_rec - j;
        from = whole;
    } else if (from < nd->whole) {
        return; /* the record no longer reaches back there */
    }
    bool same = kept == applied;
    for (size_t k = 0; same && k < kept; k++) {
        const struct changelog_entry *e = changelog_at(log, i + k);
        same = e->revision == nd->rec[j + k].revision &&
               watchcheck_digest(&e->ch) == nd->rec[j + k].digest;
    }
    if (!same)
        cluster_fail(c,
                     "watches: n%llu resumes from %llu: its history gives "
                     "%zu changes after it, which are not the %zu it "
                     "applied, in order",
                     U(n->id), U(from), kept, applied);
}

void watchcheck_apply(struct watchcheck *w, struct cluster *c,
                      struct sim_node *n, uint64_t revision,
                      const struct fsm *f, const struct changelog *log)
{
    struct wnode *nd = &w->nodes[n->id];
    size_t count;
    const struct fsm_change *ch = fsm_changes(f, &count);
    char why[600];
    if (revision <= nd->last) {
        cluster_fail(c, "watches: n%llu applies revision %llu after %llu",
                     U(n->id), U(revision), U(nd->last));
        return;
    }
    nd->last = revision;
    if (revision > w->seen) { /* its first apply */
        w->seen = revision;
        w->counts.changes += count;
    }
    for (size_t i = 0; i < count && !c->failed; i++)
        if (!follow(nd, &ch[i], why, sizeof why))
            cluster_fail(c,
                         "watches: n%llu's change %zu of %zu at %llu (type "
                         "%u, of '%.*s' by session %llu): %s",
                         U(n->id), i + 1, count, U(revision), ch[i].type,
                         (int)ch[i].name_len, ch[i].name, U(ch[i].session),
                         why);
    record(nd, revision, ch, count);
    if (changelog_revision(log) != revision)
        cluster_fail(c,
                     "watches: n%llu applied %llu; its history's last "
                     "revision is %llu",
                     U(n->id), U(revision), U(changelog_revision(log)));
    uint64_t pick = rng_mix(c->cfg.seed ^ (n->id << 56) ^ revision);
    if (!c->failed && pick % RESUME_EVERY == 0) {
        /* Mostly from where the record is whole on; now and then from
         * before the history restarted. */
        uint64_t from = nd->whole + (pick >> 8) % (revision - nd->whole + 1);
        if (nd->start > 0 && (pick >> 4) % 8 == 0)
            from = nd->start - 1 - (pick >> 16) % nd->start % 8;
        resume(w, c, n, nd, log, from);
    }
    if (!c->failed && revision % SAMPLE_EVERY == 0)
        watchcheck_audit(w, c, n, f);
}
