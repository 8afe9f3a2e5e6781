/* gen_fsm_corpus.c - writes the seed corpus of fuzz_fsm into the directory
 * given (tests/fuzz/corpus/fsm): one encoded command of each type; command
 * sequences (2-byte length, command) from the random generator of the unit
 * tests, which reach every status and event; and snapshots of machines
 * those sequences left, for fsm_restore (snap_v1_*, snap_v2_* and snap_v3_*,
 * kept from before, are of versions 1 to 3, which still restore); and
 * users: their commands, a sequence of two users' sessions (one refused the
 * other's: NOPERM), and its snapshot. Build and run:
 *   cc -std=c11 -D_GNU_SOURCE -Isrc -Itests tests/fuzz/gen_fsm_corpus.c \
 *       src/lock/fsm*.c src/lock/acl.c src/common/map.c src/common/avl.c \
 *       src/common/alloc.c src/common/mem.c -o /tmp/gen &&
 *   /tmp/gen tests/fuzz/corpus/fsm */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/le.h"
#include "lock/acl.h"
#include "lock/fsm.h"
#include "unit/fsm_gen.h"

static const char *dir;

static void write_file(const char *name, const uint8_t *buf, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "gen_fsm_corpus: cannot write %s\n", path);
        exit(1);
    }
}

static size_t encode(const struct fsm_cmd *c, uint8_t *buf, size_t cap)
{
    size_t n = fsm_cmd_encode(c, buf, cap);
    if (n == 0 || n > cap) {
        fprintf(stderr, "gen_fsm_corpus: cannot encode type %d\n", c->type);
        exit(1);
    }
    return n;
}

static void single_commands(void)
{
    static const char *names[FSM_CMD_MAX + 1] = {NULL,
                                                 "cmd_open",
                                                 "cmd_close",
                                                 "cmd_expire",
                                                 "cmd_acquire",
                                                 "cmd_release",
                                                 "cmd_extend",
                                                 "cmd_tick",
                                                 "cmd_set_ttl",
                                                 "cmd_unwait",
                                                 "cmd_expire_batch",
                                                 "cmd_acquire_shared",
                                                 "cmd_release_shared",
                                                 "cmd_downgrade",
                                                 "cmd_sem_acquire",
                                                 "cmd_sem_release",
                                                 "cmd_campaign",
                                                 "cmd_proclaim",
                                                 "cmd_resign",
                                                 "cmd_revoke",
                                                 "cmd_user_set",
                                                 "cmd_user_del"};
    /* Sessions 1, 2 and 1 again: a duplicate. */
    static const uint8_t ids[24] = {1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0,
                                    0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
    uint8_t buf[1024];
    for (uint8_t t = 1; t <= FSM_CMD_MAX; t++) {
        struct fsm_cmd c = {
            .type = t,
            .now = 1000,
            .session = 1,
            .ttl = 5000,
            .wait = 100,
            .delay = UINT64_MAX,
            .token = 1,
            .index = 5,
            .seen = 7,
            .name = "lock",
            .name_len = 4,
            .owner = "w1",
            .owner_len = 2,
            .req = "r1",
            .req_len = 2,
            .client = "cli",
            .client_len = 3,
            .permits = 3,
            .count = 2,
            .value = "10.0.0.1",
            .value_len = 8,
            .ids = ids,
            .n_ids = 3,
        };
        write_file(names[t], buf, encode(&c, buf, sizeof buf));
    }
}

/* steps commands of seed as a sequence file, and the snapshot of the
 * machine (with the fuzz target's small limits) they leave. */
static void sequence(uint64_t seed, unsigned steps)
{
    static const struct fsm_limits small = {8, 4, 3, 3, 4};
    size_t cap = (size_t)steps * 1100, len = 0;
    uint8_t *out = malloc(cap), buf[1024];
    if (out == NULL)
        exit(1);
    struct gen g;
    gen_init(&g, seed);
    g.modes = seed % 2 == 0;
    struct fsm *f = fsm_new_limited(&small);
    for (unsigned i = 1; i <= steps; i++) {
        struct fsm_cmd c;
        struct fsm_result res;
        gen_next(&g, f, &c);
        size_t n = encode(&c, buf, sizeof buf);
        le_put16(out + len, (uint16_t)n);
        memcpy(out + len + 2, buf, n);
        len += 2 + n;
        fsm_apply(f, i, buf, n, &res);
        size_t n_ev;
        const struct fsm_event *ev = fsm_events(f, &n_ev);
        gen_feed(&g, &c, &res, ev, n_ev);
        fsm_events_clear(f);
    }
    char name[64];
    snprintf(name, sizeof name, "seq_%llu_%u", (unsigned long long)seed, steps);
    if (steps > 0)
        write_file(name, out, len);
    uint8_t *snap;
    size_t snap_len;
    fsm_snapshot(f, &snap, &snap_len);
    snprintf(name, sizeof name, "snap_%llu_%u", (unsigned long long)seed,
             steps);
    write_file(name, snap, snap_len);
    free(snap);
    fsm_free(f);
    free(out);
}

/* Appends the user name with the definition text (acl.h) to data. */
static size_t add_user(uint8_t *data, size_t len, const char *name,
                       const char *text)
{
    struct acl_token t[ACL_TOKENS_MAX];
    size_t n = acl_split(text, strlen(text), t, ACL_TOKENS_MAX);
    struct acl_spec sp;
    char err[128];
    uint8_t def[ACL_DEF_MAX], salt[ACL_SALT_LEN] = {1},
                              hash[ACL_HASH_LEN] = {2};
    if (acl_parse(&sp, t, n, err, sizeof err) != 0) {
        fprintf(stderr, "gen_fsm_corpus: %s: %s\n", text, err);
        exit(1);
    }
    size_t dl = acl_encode(&sp, 1000, salt, hash, def, sizeof def);
    data[len] = (uint8_t)strlen(name);
    memcpy(data + len + 1, name, strlen(name));
    le_put16(data + len + 1 + strlen(name), (uint16_t)dl);
    memcpy(data + len + 3 + strlen(name), def, dl);
    return len + 3 + strlen(name) + dl;
}

/* Users: their commands alone, and a sequence of two users' sessions. */
static void users(void)
{
    static const struct fsm_limits small = {8, 4, 3, 3, 4};
    uint8_t data[2048], buf[4096], out[16384];
    size_t dlen = add_user(data, 0, "alice", "PASSWORD a ALLOW all ACQUIRE *");
    dlen = add_user(data, dlen, "bob", "ALLOW locks,reads READ x/*");
    struct fsm_cmd cmds[] = {
        {.type = FSM_USER_SET,
         .count = 1,
         .data = data,
         .data_len = (uint32_t)dlen},
        {.type = FSM_OPEN, .ttl = 5000, .user = "alice", .user_len = 5},
        {.type = FSM_ACQUIRE,
         .session = 2,
         .name = "a",
         .name_len = 1,
         .delay = UINT64_MAX,
         .user = "alice",
         .user_len = 5},
        {.type = FSM_ACQUIRE,
         .session = 2,
         .name = "b",
         .name_len = 1,
         .delay = UINT64_MAX,
         .user = "bob",
         .user_len = 3},
        {.type = FSM_ACQUIRE,
         .ttl = 5000,
         .name = "lease",
         .name_len = 5,
         .delay = UINT64_MAX,
         .user = "alice",
         .user_len = 5},
        {.type = FSM_RELEASE,
         .token = 2,
         .name = "lease",
         .name_len = 5,
         .user = "bob",
         .user_len = 3},
        {.type = FSM_CLOSE, .session = 2, .user = "bob", .user_len = 3},
        {.type = FSM_USER_SET, .data = data, .data_len = (uint32_t)dlen},
        {.type = FSM_USER_DEL, .name = "bob", .name_len = 3},
    };
    size_t n = sizeof cmds / sizeof cmds[0], len = 0;
    struct fsm *f = fsm_new_limited(&small);
    for (size_t i = 0; i < n; i++) {
        cmds[i].now = 1000 + i;
        size_t k = encode(&cmds[i], buf, sizeof buf);
        if (i == 0)
            write_file("cmd_user_bootstrap", buf, k);
        if (i == 1)
            write_file("cmd_open_as_user", buf, k);
        if (i == 8)
            write_file("cmd_user_del_bob", buf, k);
        le_put16(out + len, (uint16_t)k);
        memcpy(out + len + 2, buf, k);
        len += 2 + k;
        struct fsm_result res;
        fsm_apply(f, i + 1, buf, k, &res);
        fsm_events_clear(f);
    }
    write_file("seq_users", out, len);
    uint8_t *snap;
    size_t snap_len;
    fsm_snapshot(f, &snap, &snap_len);
    write_file("snap_users", snap, snap_len);
    free(snap);
    fsm_free(f);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_fsm_corpus DIR\n");
        return 2;
    }
    dir = argv[1];
    single_commands();
    sequence(1, 30);
    sequence(2, 80);
    sequence(3, 200);
    sequence(4, 200);
    sequence(5, 400);
    sequence(6, 0); /* the empty machine's snapshot */
    users();
    return 0;
}
