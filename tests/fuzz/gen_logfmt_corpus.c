/* gen_logfmt_corpus.c - writes the seed corpus of fuzz_logfmt into the
 * directory given (tests/fuzz/corpus/logfmt): segment files as the store
 * writes them, with every record kind and entry type, plus a torn tail, a
 * zero tail, a damaged record that a later batch follows, and a header
 * alone. Build and run:
 *   cc -std=c11 -D_GNU_SOURCE -Isrc tests/fuzz/gen_logfmt_corpus.c \
 *       src/raft/logfmt.c src/raft/conf.c src/common/crc32c.c -o /tmp/gen && \
 *   /tmp/gen tests/fuzz/corpus/logfmt */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft/logfmt.h"
#include "raft/raft.h"

static const char *dir;

static void write_file(const char *name, const uint8_t *buf, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "gen_logfmt_corpus: cannot write %s\n", path);
        exit(1);
    }
}

/* A segment being built. */
struct seg {
    uint8_t buf[8192];
    size_t len;
    uint64_t batch;
};

static void seg_start(struct seg *s, uint64_t seq, uint64_t first_batch)
{
    struct logfmt_segment h = {seq, first_batch};
    logfmt_segment_encode(s->buf, &h);
    s->len = LOGFMT_SEG_HEADER;
    s->batch = first_batch;
}

static void put(struct seg *s, uint8_t kind, uint8_t type, uint64_t index,
                uint64_t term, const void *data, uint32_t len)
{
    struct logfmt_record r = {kind, type, s->batch, index, term, len, data};
    if (s->len + logfmt_size(len) > sizeof s->buf) {
        fprintf(stderr, "gen_logfmt_corpus: segment too long\n");
        exit(1);
    }
    logfmt_encode(s->buf + s->len, &r);
    s->len += logfmt_size(len);
}

static void end_batch(struct seg *s)
{
    put(s, LOGFMT_BATCH_END, 0, 0, 0, NULL, 0);
    s->batch++;
}

/* Two batches as the store writes them after a hard state change: the new
 * segment's hard state, entries of each type, a rewind, a vote. */
static void make_log(struct seg *s)
{
    static const char cmd[] = "acquire /jobs/42 session=7 ttl=10000";
    struct raft_conf c = {.n = 1};
    uint8_t conf[256];
    c.servers[0].id = 1;
    c.servers[0].role = RAFT_VOTER;
    snprintf(c.servers[0].addr, RAFT_ADDR_MAX, "10.0.0.1:7000");
    size_t clen = raft_conf_encode(&c, conf, sizeof conf);
    if (clen > sizeof conf)
        abort();
    seg_start(s, 3, 17);
    put(s, LOGFMT_HARD_STATE, 0, 2, 5, NULL, 0);
    put(s, LOGFMT_ENTRY, RAFT_ENTRY_NOOP, 40, 5, NULL, 0);
    put(s, LOGFMT_ENTRY, RAFT_ENTRY_NORMAL, 41, 5, cmd, sizeof cmd);
    put(s, LOGFMT_ENTRY, RAFT_ENTRY_CONF, 42, 5, conf, (uint32_t)clen);
    end_batch(s);
    put(s, LOGFMT_TRUNCATE, 0, 42, 0, NULL, 0);
    put(s, LOGFMT_HARD_STATE, 0, 3, 6, NULL, 0);
    put(s, LOGFMT_ENTRY, RAFT_ENTRY_NORMAL, 42, 6, cmd, 5);
    put(s, LOGFMT_ENTRY, RAFT_ENTRY_NORMAL, 43, 6, cmd, 8);
    end_batch(s);
}

int main(int argc, char **argv)
{
    static struct seg s;
    if (argc != 2) {
        fprintf(stderr, "usage: gen_logfmt_corpus DIR\n");
        return 2;
    }
    dir = argv[1];

    make_log(&s);
    write_file("log", s.buf, s.len);
    /* Torn: the last write cut in the middle of its second record. */
    write_file("torn_tail", s.buf, s.len - 40 - 20);
    /* A preallocated or half-written tail of zeros. */
    memset(s.buf + s.len, 0, 1024);
    write_file("zero_tail", s.buf, s.len + 1024);

    /* A damaged record of the first batch, which a later batch follows
     * (what recovery refuses as damage to acknowledged data). */
    make_log(&s);
    s.buf[LOGFMT_SEG_HEADER + LOGFMT_HEADER + 20] ^= 0x40;
    write_file("damaged_then_later_batch", s.buf, s.len);

    /* A segment just created: its header and hard state, one batch. */
    seg_start(&s, 1, 1);
    put(&s, LOGFMT_HARD_STATE, 0, 0, 1, NULL, 0);
    end_batch(&s);
    write_file("hard_state", s.buf, s.len);
    write_file("header_only", s.buf, LOGFMT_SEG_HEADER);
    return 0;
}
