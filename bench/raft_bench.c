/* raft_bench.c - how fast the replication core commits, on a real disk.
 *
 * Runs 1 or 3 Raft nodes in this process, each with its own file store in a
 * directory of its own and its own fsync thread (as dlockd does: the disk
 * work of one batch overlaps the next batch's proposals). Messages between
 * nodes are encoded and decoded with the peer codec, as on a socket. The
 * leader keeps K proposals in flight; an entry is done when the leader hands
 * it out to apply. Reports entries per second and the latency of one entry
 * from proposal to apply (p50, p99, max).
 *
 *   raft-bench [--nodes 1|3] [--inflight K] [--seconds S] [--size BYTES]
 *              [--dir DIR]
 * With no --nodes/--inflight it runs the table of the issue: 1 and 3 nodes,
 * 1, 16 and 256 in flight. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/mem.h"
#include "raft/raft.h"
#include "raft/wire.h"
#include "store/store.h"

enum { IDLE, RUN, DONE };

struct frame {
    uint8_t *buf;
    size_t len;
};

struct node {
    uint64_t id;
    struct raft *r;
    struct store *s;
    char dir[512];
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state;
    bool quit;
    uint64_t buffered_seq; /* highest update seq put into the store buffer */
    uint64_t batch_seq;    /* highest seq of the batch in flight */
    struct frame *inbox;
    size_t n_inbox, cap_inbox;
};

static struct node nodes[3];
/* The main loop sleeps here when it has nothing to do; workers wake it. */
static pthread_mutex_t wake_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cv = PTHREAD_COND_INITIALIZER;
static unsigned wakeups;
static unsigned n_nodes;
static size_t entry_size = 64;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "raft-bench: %s: %s\n", what, detail);
    exit(1);
}

static void *worker(void *arg)
{
    struct node *n = arg;
    pthread_mutex_lock(&n->mu);
    for (;;) {
        while (n->state != RUN && !n->quit)
            pthread_cond_wait(&n->cv, &n->mu);
        if (n->quit)
            break;
        pthread_mutex_unlock(&n->mu);
        store_sync_run(n->s);
        pthread_mutex_lock(&n->mu);
        n->state = DONE;
        pthread_mutex_lock(&wake_mu);
        wakeups++;
        pthread_cond_signal(&wake_cv);
        pthread_mutex_unlock(&wake_mu);
    }
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

static void node_start(struct node *n, uint64_t id, const char *base)
{
    struct raft_config c;
    raft_config_default(&c, id);
    c.election_ms = 150;
    c.heartbeat_ms = 30;
    memset(n, 0, sizeof *n);
    n->id = id;
    snprintf(n->dir, sizeof n->dir, "%s/node%" PRIu64, base, id);
    n->s = store_new(n->dir, 0);
    struct store_state st;
    if (store_open(n->s, &st) != 0)
        die("store_open", store_errmsg(n->s));
    store_state_close(&st);
    n->r = raft_new(&c);
    struct raft_conf conf = {.n = n_nodes};
    for (unsigned i = 0; i < n_nodes; i++) {
        conf.servers[i].id = i + 1;
        conf.servers[i].role = RAFT_VOTER;
        snprintf(conf.servers[i].addr, RAFT_ADDR_MAX, "node%u", i + 1);
    }
    if (raft_bootstrap(n->r, &conf) != 0)
        die("raft_bootstrap", "failed");
    pthread_mutex_init(&n->mu, NULL);
    pthread_cond_init(&n->cv, NULL);
    if (pthread_create(&n->thread, NULL, worker, n) != 0)
        die("pthread_create", strerror(errno));
}

static void node_stop(struct node *n)
{
    pthread_mutex_lock(&n->mu);
    while (n->state == RUN)
        ; /* never: the loop below ends batches before stopping */
    n->quit = true;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
    pthread_join(n->thread, NULL);
    if (n->state == DONE)
        store_sync_end(n->s);
    raft_free(n->r);
    store_free(n->s);
    for (size_t i = 0; i < n->n_inbox; i++)
        free(n->inbox[i].buf);
    free(n->inbox);
}

static void send_msg(const struct raft_msg *m)
{
    struct node *to = &nodes[m->to - 1];
    if (m->type == RAFT_MSG_SNAPSHOT)
        return; /* the benchmark never compacts */
    size_t len = wire_msg_size(m);
    uint8_t *buf = mem_xmalloc(len);
    if (wire_msg_encode(m, buf, len) != len)
        die("wire_msg_encode", "failed");
    if (to->n_inbox == to->cap_inbox) {
        to->cap_inbox = to->cap_inbox ? to->cap_inbox * 2 : 64;
        to->inbox = mem_xrealloc(to->inbox, to->cap_inbox * sizeof *to->inbox);
    }
    to->inbox[to->n_inbox++] = (struct frame){buf, len};
}

static void deliver(struct node *n)
{
    for (size_t i = 0; i < n->n_inbox; i++) {
        struct raft_msg m;
        size_t fl;
        if (wire_frame_len(n->inbox[i].buf, n->inbox[i].len, &fl) != 1 ||
            wire_msg_decode(&m, n->inbox[i].buf, fl) != 0)
            die("wire", "bad frame");
        raft_step(n->r, &m);
        wire_msg_close(&m);
        free(n->inbox[i].buf);
    }
    n->n_inbox = 0;
}

/* The latency ring: start time of each in-flight proposal by index. */
#define RING 65536
static uint64_t started[RING];
static uint64_t *lat;
static size_t n_lat, cap_lat;
static uint64_t done, outstanding;

static void applied(struct node *n, const struct raft_update *u, uint64_t t)
{
    if (raft_role(n->r) != RAFT_LEADER)
        return;
    for (size_t i = 0; i < u->n_committed; i++) {
        const struct raft_entry *e = &u->committed[i];
        if (e->type != RAFT_ENTRY_NORMAL || started[e->index % RING] == 0)
            continue;
        if (n_lat == cap_lat) {
            cap_lat = cap_lat ? cap_lat * 2 : 1 << 16;
            lat = mem_xrealloc(lat, cap_lat * sizeof *lat);
        }
        lat[n_lat++] = t - started[e->index % RING];
        started[e->index % RING] = 0;
        done++;
        outstanding--;
    }
}

static bool process(struct node *n, uint64_t t)
{
    bool any = false;
    while (raft_has_update(n->r)) {
        any = true;
        struct raft_update u;
        raft_update(n->r, &u);
        if (u.persist.seq != 0) {
            if (u.persist.hs_changed &&
                store_set_hard_state(n->s, u.persist.term, u.persist.vote))
                die("store", store_errmsg(n->s));
            if (u.persist.n_entries > 0 &&
                store_append(n->s, u.persist.entries, u.persist.n_entries) != 0)
                die("store_append", store_errmsg(n->s));
            n->buffered_seq = u.persist.seq;
        }
        for (size_t i = 0; i < u.n_msgs; i++)
            send_msg(&u.msgs[i]);
        applied(n, &u, t);
    }
    return any;
}

/* Starts a batch when the disk is idle; finishes a batch that is done.
 * Returns true when it did either. */
static bool disk(struct node *n)
{
    bool any = false;
    pthread_mutex_lock(&n->mu);
    int state = n->state;
    pthread_mutex_unlock(&n->mu);
    if (state == DONE) {
        if (store_sync_end(n->s) != 0)
            die("fsync", store_errmsg(n->s));
        n->state = IDLE;
        raft_persisted(n->r, n->batch_seq);
        state = IDLE;
        any = true;
    }
    if (state == IDLE && store_sync_begin(n->s)) {
        n->batch_seq = n->buffered_seq;
        pthread_mutex_lock(&n->mu);
        n->state = RUN;
        pthread_cond_signal(&n->cv);
        pthread_mutex_unlock(&n->mu);
        any = true;
    }
    return any;
}

/* Waits up to 1 ms for a worker to finish a batch. */
static void idle_wait(unsigned seen)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&wake_mu);
    while (wakeups == seen &&
           pthread_cond_timedwait(&wake_cv, &wake_mu, &ts) == 0)
        ;
    pthread_mutex_unlock(&wake_mu);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void run(const char *base, unsigned nn, unsigned k, double seconds)
{
    char cmd[600];
    n_nodes = nn;
    done = outstanding = 0;
    n_lat = 0;
    memset(started, 0, sizeof started);
    for (unsigned i = 0; i < nn; i++)
        node_start(&nodes[i], i + 1, base);
    uint8_t *payload = mem_xcalloc(1, entry_size);
    uint64_t t0 = now_ns(), last_tick = t0, measure_from = 0, end = 0;
    uint64_t done_at_start = 0;
    for (;;) {
        uint64_t t = now_ns();
        if (t - last_tick >= 1000000) {
            for (unsigned i = 0; i < nn; i++)
                raft_tick(nodes[i].r, (t - last_tick) / 1000000);
            last_tick = t;
        }
        struct node *leader = NULL;
        for (unsigned i = 0; i < nn; i++)
            if (raft_role(nodes[i].r) == RAFT_LEADER)
                leader = &nodes[i];
        if (leader != NULL && measure_from == 0 &&
            raft_commit_index(leader->r) == raft_last_index(leader->r)) {
            measure_from = t;
            end = t + (uint64_t)(seconds * 1e9);
            done_at_start = done;
        }
        if (end != 0 && t >= end)
            break;
        if (t - t0 > 20 * 1000000000ull)
            die("run", "no leader within 20 s");
        while (leader != NULL && measure_from != 0 && outstanding < k) {
            uint64_t idx;
            memcpy(payload, &done,
                   sizeof done < entry_size ? sizeof done : entry_size);
            if (raft_propose(leader->r, payload, (uint32_t)entry_size, &idx,
                             NULL) != 0)
                break;
            started[idx % RING] = now_ns();
            outstanding++;
        }
        pthread_mutex_lock(&wake_mu);
        unsigned seen = wakeups;
        pthread_mutex_unlock(&wake_mu);
        bool busy = false;
        for (unsigned i = 0; i < nn; i++) {
            busy |= nodes[i].n_inbox > 0;
            deliver(&nodes[i]);
            busy |= process(&nodes[i], now_ns());
            busy |= disk(&nodes[i]);
        }
        if (!busy)
            idle_wait(seen);
    }
    double secs = (double)(now_ns() - measure_from) / 1e9;
    uint64_t count = done - done_at_start;
    qsort(lat, n_lat, sizeof *lat, cmp_u64);
    printf("| %u | %4u | %10.0f | %7.3f | %7.3f | %7.3f |\n", nn, k,
           (double)count / secs, n_lat ? lat[n_lat / 2] / 1e6 : 0.0,
           n_lat ? lat[n_lat * 99 / 100] / 1e6 : 0.0,
           n_lat ? lat[n_lat - 1] / 1e6 : 0.0);
    fflush(stdout);
    /* Let batches in flight finish before stopping the threads. */
    for (unsigned i = 0; i < nn; i++) {
        for (;;) {
            pthread_mutex_lock(&nodes[i].mu);
            int st = nodes[i].state;
            pthread_mutex_unlock(&nodes[i].mu);
            if (st != RUN)
                break;
            usleep(100);
        }
        node_stop(&nodes[i]);
    }
    free(payload);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'/node*", base);
    if (system(cmd) != 0)
        fprintf(stderr, "raft-bench: could not clean %s\n", base);
}

int main(int argc, char **argv)
{
    unsigned nn = 0, k = 0;
    double seconds = 3;
    const char *dir = NULL;
    char base[512];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--nodes") && i + 1 < argc)
            nn = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--inflight") && i + 1 < argc)
            k = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--size") && i + 1 < argc)
            entry_size = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else {
            fprintf(stderr, "usage: raft-bench [--nodes 1|3] [--inflight K] "
                            "[--seconds S] [--size BYTES] [--dir DIR]\n");
            return 2;
        }
    }
    if ((nn != 0 && nn != 1 && nn != 3) || k > 16384 || entry_size == 0 ||
        entry_size > (1 << 20) || seconds <= 0) {
        fprintf(stderr, "raft-bench: --nodes 1 or 3, --inflight <= 16384, "
                        "--size 1..1048576\n");
        return 2;
    }
    snprintf(base, sizeof base, "%s/raft-bench-XXXXXX", dir ? dir : "build");
    mkdir(dir ? dir : "build", 0755);
    if (mkdtemp(base) == NULL)
        die("mkdtemp", strerror(errno));
    printf("raft-bench: %zu-byte entries, %.1f s per row, data in %s\n\n",
           entry_size, seconds, base);
    printf("| nodes | in flight | entries/s | p50 ms | p99 ms | max ms |\n");
    printf("|---|---|---|---|---|---|\n");
    unsigned ns[] = {1, 3}, ks[] = {1, 16, 256};
    for (unsigned a = 0; a < 2; a++)
        for (unsigned b = 0; b < 3; b++)
            if ((nn == 0 || nn == ns[a]) && (k == 0 || k == ks[b]))
                run(base, ns[a], ks[b], seconds);
    if (k != 0 && k != 1 && k != 16 && k != 256)
        run(base, nn ? nn : 1, k, seconds);
    rmdir(base);
    free(lat);
    return 0;
}
