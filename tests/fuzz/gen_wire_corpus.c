/* gen_wire_corpus.c - writes the seed corpus of fuzz_wire: one valid frame of
 * each message type, a stream of several frames and a conf payload, into the
 * directory given (tests/fuzz/corpus/wire). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft/raft.h"
#include "raft/wire.h"

static const char *dir;

static void write_file(const char *name, const uint8_t *buf, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "gen_wire_corpus: cannot write %s\n", path);
        exit(1);
    }
}

static void make_conf(struct raft_conf *c, unsigned n)
{
    memset(c, 0, sizeof *c);
    c->n = n;
    for (unsigned i = 0; i < n; i++) {
        c->servers[i].id = i + 1;
        c->servers[i].role = i < 3 ? RAFT_VOTER : RAFT_LEARNER;
        c->servers[i].promote = i == 3;
        snprintf(c->servers[i].addr, RAFT_ADDR_MAX, "10.0.0.%u:7000", i + 1);
    }
}

/* Appends the encoding of m to out; returns its size. */
static size_t emit(const char *name, const struct raft_msg *m, uint8_t *out)
{
    size_t n = wire_msg_encode(m, out, 4096);
    if (n == 0) {
        fprintf(stderr, "gen_wire_corpus: cannot encode %s\n", name);
        exit(1);
    }
    write_file(name, out, n);
    return n;
}

int main(int argc, char **argv)
{
    static uint8_t stream[65536], conf_bytes[1024], chunk[64];
    static uint8_t cmd[] = "acquire /jobs/42 session=7 ttl=10000";
    struct raft_conf conf;
    struct raft_msg m;
    size_t len = 0;
    if (argc != 2) {
        fprintf(stderr, "usage: gen_wire_corpus DIR\n");
        return 2;
    }
    dir = argv[1];
    make_conf(&conf, 4);
    uint32_t clen = (uint32_t)raft_conf_encode(&conf, conf_bytes, 1024);
    write_file("conf", conf_bytes, clen);
    for (size_t i = 0; i < sizeof chunk; i++)
        chunk[i] = (uint8_t)i;

    struct raft_entry entries[3] = {
        {3, 11, RAFT_ENTRY_NOOP, 0, NULL},
        {3, 12, RAFT_ENTRY_NORMAL, sizeof cmd, cmd},
        {3, 13, RAFT_ENTRY_CONF, clen, conf_bytes},
    };
    m = (struct raft_msg){.type = RAFT_MSG_APPEND,
                          .from = 1,
                          .to = 2,
                          .term = 3,
                          .index = 10,
                          .log_term = 2,
                          .commit = 9,
                          .entries = entries,
                          .n_entries = 3};
    len += emit("append", &m, stream + len);
    m = (struct raft_msg){.type = RAFT_MSG_APPEND_RESP,
                          .from = 2,
                          .to = 1,
                          .term = 3,
                          .reject = true,
                          .index = 10,
                          .hint = 7,
                          .hint_term = 2};
    len += emit("append_resp", &m, stream + len);
    m = (struct raft_msg){.type = RAFT_MSG_VOTE,
                          .from = 1,
                          .to = 2,
                          .term = 4,
                          .index = 13,
                          .log_term = 3,
                          .transfer = true};
    len += emit("vote", &m, stream + len);
    m = (struct raft_msg){.type = RAFT_MSG_PREVOTE_RESP,
                          .from = 2,
                          .to = 1,
                          .term = 4,
                          .reject = true};
    len += emit("prevote_resp", &m, stream + len);
    m = (struct raft_msg){.type = RAFT_MSG_HEARTBEAT,
                          .from = 1,
                          .to = 3,
                          .term = 4,
                          .commit = 13,
                          .ctx = 99};
    len += emit("heartbeat", &m, stream + len);
    m = (struct raft_msg){.type = RAFT_MSG_HEARTBEAT_RESP,
                          .from = 3,
                          .to = 1,
                          .term = 4,
                          .ctx = 99};
    len += emit("heartbeat_resp", &m, stream + len);
    m = (struct raft_msg){.type = RAFT_MSG_SNAPSHOT,
                          .from = 1,
                          .to = 4,
                          .term = 4,
                          .index = 13,
                          .log_term = 3,
                          .offset = 64,
                          .data = chunk,
                          .len = sizeof chunk,
                          .last = true,
                          .conf = conf};
    len += emit("snapshot", &m, stream + len);
    m = (struct raft_msg){.type = RAFT_MSG_SNAPSHOT_RESP,
                          .from = 4,
                          .to = 1,
                          .term = 4,
                          .index = 13,
                          .offset = 128,
                          .last = true};
    len += emit("snapshot_resp", &m, stream + len);
    m = (struct raft_msg){
        .type = RAFT_MSG_TIMEOUT_NOW, .from = 1, .to = 2, .term = 4};
    len += emit("timeout_now", &m, stream + len);
    write_file("stream", stream, len);
    return 0;
}
