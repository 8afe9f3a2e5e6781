/* test_wire.c - the peer protocol codec (src/raft/wire.c). */
#include "harness.h"

#include "common/le.h"
#include "raft/raft.h"
#include "raft/wire.h"

/* ---- Sample messages: every type, every field it carries set ---- */

#define N_VARIANTS 2
#define N_SAMPLES (RAFT_MSG_TYPE_MAX * N_VARIANTS)

static uint8_t cmd_a[] = "lock /a owner=1";
static uint8_t cmd_b[300];
static uint8_t conf_buf[1024];
static uint8_t chunk[777];
static struct raft_entry sample_entries[4];

static void make_conf(struct raft_conf *c, unsigned n)
{
    memset(c, 0, sizeof *c);
    c->n = n;
    for (unsigned i = 0; i < n; i++) {
        c->servers[i].id = 100 + i;
        c->servers[i].role = i < 3 ? RAFT_VOTER : RAFT_LEARNER;
        c->servers[i].promote = i == 3;
        snprintf(c->servers[i].addr, RAFT_ADDR_MAX, "127.0.0.1:%u", 9000 + i);
    }
}

static void init_payloads(void)
{
    struct raft_conf c;
    for (size_t i = 0; i < sizeof cmd_b; i++)
        cmd_b[i] = (uint8_t)(i * 31 + 7);
    for (size_t i = 0; i < sizeof chunk; i++)
        chunk[i] = (uint8_t)(i ^ 0x5A);
    make_conf(&c, 4);
    uint32_t clen = (uint32_t)raft_conf_encode(&c, conf_buf, sizeof conf_buf);
    uint64_t t = 0x0102030405060708;
    sample_entries[0] =
        (struct raft_entry){t, 41, RAFT_ENTRY_NORMAL, sizeof cmd_a, cmd_a};
    sample_entries[1] = (struct raft_entry){t, 42, RAFT_ENTRY_NOOP, 0, NULL};
    sample_entries[2] =
        (struct raft_entry){t + 1, 43, RAFT_ENTRY_CONF, clen, conf_buf};
    sample_entries[3] =
        (struct raft_entry){t + 1, 44, RAFT_ENTRY_NORMAL, sizeof cmd_b, cmd_b};
}

/* Sample number i: type i / N_VARIANTS + 1, with variant i % N_VARIANTS
 * choosing the flags, entries and chunk. Only fields the type carries are
 * set, each to a distinct value with high bits set. */
static void sample(struct raft_msg *m, unsigned i)
{
    unsigned v = i % N_VARIANTS;
    memset(m, 0, sizeof *m);
    m->type = (uint8_t)(i / N_VARIANTS + 1);
    m->from = 0x1111111111111101 + i;
    m->to = 0x2222222222222202 + i;
    m->term = 0x8333333333333303 + i;
    switch (m->type) {
    case RAFT_MSG_APPEND:
        m->index = 40;
        m->log_term = 0xF00000000000000F;
        m->commit = 0x7700000000000077;
        m->entries = v ? sample_entries : NULL;
        m->n_entries = v ? 4 : 0;
        break;
    case RAFT_MSG_APPEND_RESP:
        m->reject = v;
        m->index = 0xA1A1A1A1A1A1A1A1;
        m->hint = 0xB2B2B2B2B2B2B2B2;
        m->hint_term = 0xC3C3C3C3C3C3C3C3;
        break;
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        m->transfer = v;
        m->index = 0xD4D4D4D4D4D4D4D4;
        m->log_term = 0xE5E5E5E5E5E5E5E5;
        break;
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PREVOTE_RESP:
        m->reject = v;
        break;
    case RAFT_MSG_HEARTBEAT:
        m->commit = 0x9696969696969696;
        m->ctx = 0xFFFFFFFFFFFFFFFF - v;
        break;
    case RAFT_MSG_HEARTBEAT_RESP:
        m->ctx = 0x8000000000000001 + v;
        break;
    case RAFT_MSG_SNAPSHOT:
        m->index = 0x1234567890ABCDEF;
        m->log_term = 0xFEDCBA0987654321;
        m->offset = v ? 0xABCDEF0000 : 0x10;
        m->len = v ? sizeof chunk : 0;
        m->data = v ? chunk : NULL;
        m->last = v;
        if (v)
            make_conf(&m->conf, RAFT_MAX_SERVERS);
        break;
    case RAFT_MSG_SNAPSHOT_RESP:
        m->reject = v;
        m->last = !v;
        m->index = 0x4242424242424242;
        m->offset = 0x4343434343434343;
        break;
    default: /* TIMEOUT_NOW */
        break;
    }
}

/* ---- Comparisons and helpers ---- */

static bool bytes_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    return n == 0 || memcmp(a, b, n) == 0;
}

static bool entry_equal(const struct raft_entry *a, const struct raft_entry *b)
{
    return a->term == b->term && a->index == b->index && a->type == b->type &&
           a->len == b->len && bytes_equal(a->data, b->data, a->len);
}

/* True if a and b carry the same values in every field. */
static bool msg_equal(const struct raft_msg *a, const struct raft_msg *b)
{
    if (a->type != b->type || a->reject != b->reject ||
        a->transfer != b->transfer || a->last != b->last ||
        a->from != b->from || a->to != b->to || a->term != b->term ||
        a->index != b->index || a->log_term != b->log_term ||
        a->commit != b->commit || a->hint != b->hint ||
        a->hint_term != b->hint_term || a->ctx != b->ctx ||
        a->offset != b->offset || a->n_entries != b->n_entries ||
        a->len != b->len || !bytes_equal(a->data, b->data, a->len))
        return false;
    for (uint32_t i = 0; i < a->n_entries; i++)
        if (!entry_equal(&a->entries[i], &b->entries[i]))
            return false;
    return memcmp(&a->conf, &b->conf, sizeof a->conf) == 0;
}

/* Encodes m into a new buffer; *len gets its size. */
static uint8_t *encode_new(const struct raft_msg *m, size_t *len)
{
    *len = wire_msg_size(m);
    uint8_t *buf = malloc(*len);
    CHECK(buf != NULL);
    CHECK_EQ(wire_msg_encode(m, buf, *len), *len);
    return buf;
}

/* If the len bytes at buf decode, checks that they re-encode to exactly the
 * same bytes; returns whether they decoded. */
static bool decode_reencodes(const uint8_t *buf, size_t len)
{
    struct raft_msg m;
    if (wire_msg_decode(&m, buf, len) != 0) {
        CHECK(m.entries == NULL);
        return false;
    }
    uint8_t *again = malloc(len + 1);
    CHECK(again != NULL);
    CHECK_EQ(wire_msg_size(&m), len);
    CHECK_EQ(wire_msg_encode(&m, again, len + 1), len);
    CHECK_MEM(again, buf, len);
    free(again);
    wire_msg_close(&m);
    return true;
}

/* Runs the stream decoder and the plain decoder over arbitrary bytes;
 * returns whether a frame at the start decoded. */
static bool poke(const uint8_t *buf, size_t len)
{
    size_t flen = 0;
    bool ok = false;
    int rc = wire_frame_len(buf, len, &flen);
    CHECK(rc == 0 || rc == 1 || rc == RAFT_ECORRUPT);
    if (rc == 1) {
        CHECK(flen <= len && flen >= WIRE_HEADER_SIZE);
        ok = decode_reencodes(buf, flen);
    }
    bool whole = decode_reencodes(buf, len);
    CHECK(!whole || (rc == 1 && flen == len));
    return ok;
}

/* ---- Round trips and format ---- */

/* Every message type, with every field it carries, encodes to
 * wire_msg_size() bytes, is seen as one whole frame, and decodes to the same
 * message, with payloads pointing into the frame. */
TEST(wire, roundtrip_every_type)
{
    init_payloads();
    for (unsigned i = 0; i < N_SAMPLES; i++) {
        struct raft_msg m, d;
        size_t len, flen = 0;
        sample(&m, i);
        uint8_t *buf = encode_new(&m, &len);
        CHECK_EQ(wire_frame_len(buf, len, &flen), 1);
        CHECK_EQ(flen, len);
        CHECK_EQ(wire_msg_decode(&d, buf, len), 0);
        CHECK_MSG(msg_equal(&m, &d), "sample %u differs after decode", i);
        for (uint32_t k = 0; k < d.n_entries; k++)
            CHECK(d.entries[k].data >= buf && d.entries[k].data < buf + len);
        if (d.len > 0)
            CHECK(d.data >= buf && d.data < buf + len);
        CHECK(decode_reencodes(buf, len));
        wire_msg_close(&d);
        free(buf);
    }
}

/* The byte layout of a HEARTBEAT and a VOTE_RESP is the documented one:
 * header, little-endian fields, flags bit 0 for reject. */
TEST(wire, golden_bytes)
{
    struct raft_msg m = {.type = RAFT_MSG_HEARTBEAT,
                         .from = 1,
                         .to = 2,
                         .term = 0x0102,
                         .commit = 5,
                         .ctx = 0xAABB};
    uint8_t buf[64];
    /* clang-format off */
    static const uint8_t hb[48] = {
        WIRE_MAGIC, WIRE_VERSION, 7, 0, 48, 0, 0, 0, /* header, length 48 */
        1, 0, 0, 0, 0, 0, 0, 0,                      /* from */
        2, 0, 0, 0, 0, 0, 0, 0,                      /* to */
        0x02, 0x01, 0, 0, 0, 0, 0, 0,                /* term */
        5, 0, 0, 0, 0, 0, 0, 0,                      /* commit */
        0xBB, 0xAA, 0, 0, 0, 0, 0, 0,                /* ctx */
    };
    /* clang-format on */
    CHECK_EQ(wire_msg_encode(&m, buf, sizeof buf), sizeof hb);
    CHECK_MEM(buf, hb, sizeof hb);

    m = (struct raft_msg){.type = RAFT_MSG_VOTE_RESP, .reject = true};
    CHECK_EQ(wire_msg_encode(&m, buf, sizeof buf), WIRE_HEADER_SIZE);
    CHECK_EQ(buf[2], RAFT_MSG_VOTE_RESP);
    CHECK_EQ(buf[3], 1);
    CHECK_EQ(le_get32(buf + 4), WIRE_HEADER_SIZE);
}

/* The flags each type carries, as wire.h documents them. */
#define FLAG_REJECT 1
#define FLAG_TRANSFER 2
#define FLAG_LAST 4
static const uint8_t type_flags[RAFT_MSG_TYPE_MAX + 1] = {
    [RAFT_MSG_APPEND_RESP] = FLAG_REJECT,
    [RAFT_MSG_VOTE] = FLAG_TRANSFER,
    [RAFT_MSG_VOTE_RESP] = FLAG_REJECT,
    [RAFT_MSG_PREVOTE] = FLAG_TRANSFER,
    [RAFT_MSG_PREVOTE_RESP] = FLAG_REJECT,
    [RAFT_MSG_SNAPSHOT] = FLAG_LAST,
    [RAFT_MSG_SNAPSHOT_RESP] = FLAG_REJECT | FLAG_LAST,
};

/* Fields and flags a type does not carry are not sent: a message full of
 * junk in them encodes exactly like the clean one. */
TEST(wire, unused_fields_not_sent)
{
    init_payloads();
    for (unsigned i = 0; i < N_SAMPLES; i++) {
        struct raft_msg clean, junk;
        size_t n1, n2;
        sample(&clean, i);
        junk = clean;
        uint64_t *fields[] = {&junk.index, &junk.log_term,  &junk.commit,
                              &junk.hint,  &junk.hint_term, &junk.ctx,
                              &junk.offset};
        for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++)
            if (*fields[f] == 0)
                *fields[f] = 0xDEAD0000 + f;
        uint8_t carried = type_flags[clean.type];
        junk.reject = (carried & FLAG_REJECT) ? clean.reject : true;
        junk.transfer = (carried & FLAG_TRANSFER) ? clean.transfer : true;
        junk.last = (carried & FLAG_LAST) ? clean.last : true;
        if (clean.type != RAFT_MSG_SNAPSHOT) {
            junk.len = 5;
            junk.data = cmd_a;
        }
        if (!(clean.type == RAFT_MSG_SNAPSHOT && clean.last))
            make_conf(&junk.conf, 2);
        if (clean.type != RAFT_MSG_APPEND) {
            junk.entries = sample_entries;
            junk.n_entries = 4;
        }
        uint8_t *a = encode_new(&clean, &n1);
        uint8_t *b = encode_new(&junk, &n2);
        CHECK_EQ(n1, n2);
        CHECK_MEM(a, b, n1);
        free(a);
        free(b);
    }
}

/* With too little room encode returns 0 and writes nothing. */
TEST(wire, encode_small_cap_writes_nothing)
{
    init_payloads();
    struct raft_msg m;
    uint8_t buf[8192];
    sample(&m, (RAFT_MSG_APPEND - 1) * N_VARIANTS + 1);
    size_t size = wire_msg_size(&m);
    CHECK(size < sizeof buf);
    memset(buf, 0xCD, sizeof buf);
    CHECK_EQ(wire_msg_encode(&m, buf, size - 1), 0);
    CHECK_EQ(wire_msg_encode(&m, buf, 0), 0);
    for (size_t i = 0; i < sizeof buf; i++)
        CHECK_EQ(buf[i], 0xCD);
}

/* A message bigger than WIRE_MAX_FRAME is refused by encode (the receiver
 * would reject it), and its size says so without overflowing. */
TEST(wire, encode_refuses_oversized)
{
    static uint8_t one[1];
    static struct raft_entry big[200];
    uint8_t buf[64];
    struct raft_msg m = {
        .type = RAFT_MSG_SNAPSHOT, .len = WIRE_MAX_FRAME, .data = one};
    CHECK(wire_msg_size(&m) > WIRE_MAX_FRAME);
    CHECK_EQ(wire_msg_encode(&m, buf, SIZE_MAX), 0);
    m.len = UINT32_MAX;
    CHECK(wire_msg_size(&m) > WIRE_MAX_FRAME);
    for (size_t i = 0; i < 200; i++)
        big[i] =
            (struct raft_entry){1, i + 1, RAFT_ENTRY_NORMAL, UINT32_MAX, one};
    m = (struct raft_msg){
        .type = RAFT_MSG_APPEND, .entries = big, .n_entries = 200};
    CHECK(wire_msg_size(&m) > WIRE_MAX_FRAME);
    CHECK_EQ(wire_msg_encode(&m, buf, SIZE_MAX), 0);
}

/* ---- Stream decoding ---- */

/* A receiver: bytes arrive in pieces, whole frames are decoded and compared
 * with the samples in order. */
struct rx {
    uint8_t *buf;
    size_t len;
    size_t pos;
    unsigned next;
};

static void rx_feed(struct rx *rx, const uint8_t *p, size_t n)
{
    memcpy(rx->buf + rx->len, p, n);
    rx->len += n;
    for (;;) {
        size_t flen = 0;
        int rc = wire_frame_len(rx->buf + rx->pos, rx->len - rx->pos, &flen);
        CHECK(rc >= 0);
        if (rc == 0)
            return;
        struct raft_msg got, want;
        CHECK_EQ(wire_msg_decode(&got, rx->buf + rx->pos, flen), 0);
        CHECK(rx->next < N_SAMPLES);
        sample(&want, rx->next++);
        CHECK_MSG(msg_equal(&got, &want), "frame %u differs", rx->next - 1);
        wire_msg_close(&got);
        rx->pos += flen;
    }
}

/* The encodings of all samples back to back, in a new buffer. */
static uint8_t *encode_all(size_t *total)
{
    uint8_t *all = malloc(N_SAMPLES * 8192);
    CHECK(all != NULL);
    *total = 0;
    for (unsigned i = 0; i < N_SAMPLES; i++) {
        struct raft_msg m;
        sample(&m, i);
        size_t n = wire_msg_encode(&m, all + *total, 8192);
        CHECK(n > 0);
        *total += n;
    }
    return all;
}

/* The stream of every sample, split in two at every byte offset, yields
 * exactly the samples in order and nothing else. */
TEST(wire, stream_split_at_every_offset)
{
    init_payloads();
    size_t total;
    uint8_t *all = encode_all(&total);
    struct rx rx = {.buf = malloc(total)};
    CHECK(rx.buf != NULL);
    for (size_t k = 0; k <= total; k++) {
        rx.len = rx.pos = 0;
        rx.next = 0;
        rx_feed(&rx, all, k);
        rx_feed(&rx, all + k, total - k);
        CHECK_EQ(rx.next, N_SAMPLES);
        CHECK_EQ(rx.pos, total);
    }
    free(rx.buf);
    free(all);
}

/* The same stream fed one byte at a time yields the same samples. */
TEST(wire, stream_byte_at_a_time)
{
    init_payloads();
    size_t total;
    uint8_t *all = encode_all(&total);
    struct rx rx = {.buf = malloc(total)};
    CHECK(rx.buf != NULL);
    for (size_t k = 0; k < total; k++)
        rx_feed(&rx, all + k, 1);
    CHECK_EQ(rx.next, N_SAMPLES);
    CHECK_EQ(rx.pos, total);
    free(rx.buf);
    free(all);
}

/* Every strict prefix of a valid frame is reported incomplete by the stream
 * decoder and rejected by decode, also when its length field is rewritten to
 * claim the prefix is whole. */
TEST(wire, truncation_incomplete_or_rejected)
{
    init_payloads();
    for (unsigned i = 0; i < N_SAMPLES; i++) {
        struct raft_msg m, d;
        size_t len, flen;
        sample(&m, i);
        uint8_t *buf = encode_new(&m, &len);
        for (size_t k = 0; k < len; k++) {
            CHECK_EQ(wire_frame_len(buf, k, &flen), 0);
            CHECK_EQ(wire_msg_decode(&d, buf, k), RAFT_ECORRUPT);
            if (k < 8)
                continue;
            uint8_t *cut = malloc(k);
            CHECK(cut != NULL);
            memcpy(cut, buf, k);
            le_put32(cut + 4, (uint32_t)k);
            CHECK_EQ(wire_msg_decode(&d, cut, k), RAFT_ECORRUPT);
            free(cut);
        }
        free(buf);
    }
}

/* ---- Rejection of malformed frames ---- */

/* Bad magic, version, type or flags and impossible lengths are reported as
 * garbage as soon as the byte showing it has arrived. */
TEST(wire, header_garbage)
{
    struct raft_msg m = {.type = RAFT_MSG_HEARTBEAT};
    uint8_t good[64], b[64];
    size_t flen, len = wire_msg_encode(&m, good, sizeof good);
    struct {
        size_t at;
        uint8_t val;
    } bad[] = {
        {0, 0},   {0, WIRE_MAGIC ^ 1},        {1, 0},   {1, WIRE_VERSION + 1},
        {2, 0},   {2, RAFT_MSG_TYPE_MAX + 1}, {2, 255}, {3, 1},
        {3, 0x80}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(b, good, len);
        b[bad[i].at] = bad[i].val;
        CHECK_EQ(wire_frame_len(b, bad[i].at + 1, &flen), RAFT_ECORRUPT);
        CHECK_EQ(wire_frame_len(b, len, &flen), RAFT_ECORRUPT);
        CHECK_EQ(wire_msg_decode(&m, b, len), RAFT_ECORRUPT);
    }
    /* Lengths: below the header, not the fixed size of a fixed-size type,
     * over the limit for a variable-size type. */
    uint32_t lens[] = {
        0,         8, WIRE_HEADER_SIZE, (uint32_t)len - 1, (uint32_t)len + 1,
        UINT32_MAX};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        memcpy(b, good, len);
        le_put32(b + 4, lens[i]);
        CHECK_EQ(wire_frame_len(b, 8, &flen), RAFT_ECORRUPT);
    }
    b[2] = RAFT_MSG_APPEND;
    le_put32(b + 4, WIRE_MAX_FRAME + 1);
    CHECK_EQ(wire_frame_len(b, 8, &flen), RAFT_ECORRUPT);
    le_put32(b + 4, WIRE_MAX_FRAME);
    CHECK_EQ(wire_frame_len(b, 8, &flen), 0);
    /* Flags a type does not carry: transfer on APPEND_RESP, last on VOTE. */
    m = (struct raft_msg){.type = RAFT_MSG_APPEND_RESP};
    len = wire_msg_encode(&m, b, sizeof b);
    b[3] = 2;
    CHECK_EQ(wire_frame_len(b, len, &flen), RAFT_ECORRUPT);
    m = (struct raft_msg){.type = RAFT_MSG_VOTE};
    len = wire_msg_encode(&m, b, sizeof b);
    b[3] = 4;
    CHECK_EQ(wire_frame_len(b, len, &flen), RAFT_ECORRUPT);
}

/* Builds an APPEND frame by hand with n_entries as claimed and the given
 * entries; returns its length. */
static size_t raw_append(uint8_t *b, uint32_t claimed,
                         const struct raft_entry *e, size_t n)
{
    size_t len = WIRE_HEADER_SIZE + 28;
    memset(b, 0, len);
    b[0] = WIRE_MAGIC;
    b[1] = WIRE_VERSION;
    b[2] = RAFT_MSG_APPEND;
    le_put32(b + WIRE_HEADER_SIZE + 24, claimed);
    for (size_t i = 0; i < n; i++) {
        le_put64(b + len, e[i].term);
        le_put64(b + len + 8, e[i].index);
        b[len + 16] = e[i].type;
        le_put32(b + len + 17, e[i].len);
        memcpy(b + len + 21, e[i].data, e[i].len);
        len += 21 + e[i].len;
    }
    le_put32(b + 4, (uint32_t)len);
    return len;
}

/* Entry types other than 1..3, counts beyond the bytes present, an entry
 * longer than the frame and a CONF entry that is not a valid conf are all
 * rejected; the well-formed frame they derive from decodes. */
TEST(wire, append_entries_validated)
{
    init_payloads();
    uint8_t b[4096];
    struct raft_msg m;
    struct raft_entry e[2] = {sample_entries[0], sample_entries[2]};
    size_t len = raw_append(b, 2, e, 2);
    CHECK_EQ(wire_msg_decode(&m, b, len), 0);
    CHECK_EQ(m.n_entries, 2);
    wire_msg_close(&m);
    wire_msg_close(&m); /* idempotent */
    wire_msg_close(NULL);

    uint8_t types[] = {0, 4, 255};
    for (size_t i = 0; i < sizeof types; i++) {
        struct raft_entry x = e[0];
        x.type = types[i];
        len = raw_append(b, 1, &x, 1);
        CHECK_EQ(wire_msg_decode(&m, b, len), RAFT_ECORRUPT);
    }
    uint32_t counts[] = {1, 3, 1000, UINT32_MAX};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        len = raw_append(b, counts[i], e, 2);
        CHECK_EQ(wire_msg_decode(&m, b, len), RAFT_ECORRUPT);
    }
    len = raw_append(b, 1, e, 1);
    le_put32(b + WIRE_HEADER_SIZE + 28 + 17, UINT32_MAX);
    CHECK_EQ(wire_msg_decode(&m, b, len), RAFT_ECORRUPT);
    struct raft_entry bad_conf = e[1];
    bad_conf.len = 3;
    len = raw_append(b, 1, &bad_conf, 1);
    CHECK_EQ(wire_msg_decode(&m, b, len), RAFT_ECORRUPT);
    CHECK(m.entries == NULL && m.n_entries == 0);
}

/* Bytes after the last field are rejected, whether the length field covers
 * them or not; so is a SNAPSHOT whose conf is invalid. */
TEST(wire, trailing_bytes_and_bad_snapshot_conf)
{
    init_payloads();
    struct raft_msg m, d;
    size_t len, flen;
    for (unsigned i = 0; i < N_SAMPLES; i++) {
        sample(&m, i);
        uint8_t *buf = encode_new(&m, &len);
        uint8_t *more = malloc(len + 1);
        CHECK(more != NULL);
        memcpy(more, buf, len);
        more[len] = 0;
        CHECK_EQ(wire_msg_decode(&d, more, len + 1), RAFT_ECORRUPT);
        le_put32(more + 4, (uint32_t)len + 1);
        int rc = wire_frame_len(more, len + 1, &flen);
        CHECK(rc == RAFT_ECORRUPT || (rc == 1 && flen == len + 1));
        CHECK_EQ(wire_msg_decode(&d, more, len + 1), RAFT_ECORRUPT);
        free(more);
        free(buf);
    }
    /* The last snapshot sample carries a conf at its end: make it say 17
     * servers. */
    sample(&m, (RAFT_MSG_SNAPSHOT - 1) * N_VARIANTS + 1);
    uint8_t *buf = encode_new(&m, &len);
    size_t conf_at = WIRE_HEADER_SIZE + 28 + m.len;
    CHECK_EQ(le_get32(buf + conf_at), RAFT_MAX_SERVERS);
    le_put32(buf + conf_at, RAFT_MAX_SERVERS + 1);
    CHECK_EQ(wire_msg_decode(&d, buf, len), RAFT_ECORRUPT);
    free(buf);
}

/* ---- Random inputs ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64*: deterministic, so a failure reproduces. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static void mutate(uint8_t *b, size_t *len, size_t cap)
{
    static const uint8_t interesting[] = {0, 1, 2, 3, 4, 0x7F, 0x80, 0xFF};
    size_t at = *len ? rnd() % *len : 0;
    switch (rnd() % 6) {
    case 0:
    case 1:
        if (*len)
            b[at] ^= (uint8_t)(1u << (rnd() % 8));
        break;
    case 2:
        if (*len)
            b[at] = interesting[rnd() % sizeof interesting];
        break;
    case 3:
        *len = rnd() % (*len + 1);
        break;
    case 4:
        while (*len < cap && rnd() % 4 != 0)
            b[(*len)++] = (uint8_t)rnd();
        break;
    default:
        /* Make the length field agree with the bytes present, so that the
         * body checks run rather than the header's. */
        if (*len >= 8)
            le_put32(b + 4, (uint32_t)*len);
        break;
    }
}

/* 100,000 random mutations of valid frames (bit flips, byte changes,
 * truncation, extension, length rewrites) never crash or read out of bounds,
 * and whatever decodes re-encodes to the same bytes. */
TEST_TIMEOUT(wire, random_mutations, 300)
{
    init_payloads();
    uint8_t *frames[N_SAMPLES];
    size_t lens[N_SAMPLES];
    struct raft_msg m;
    for (unsigned i = 0; i < N_SAMPLES; i++) {
        sample(&m, i);
        frames[i] = encode_new(&m, &lens[i]);
    }
    size_t cap = 16384, ok = 0;
    rng_state = 0x9E3779B97F4A7C15;
    for (unsigned it = 0; it < 100000; it++) {
        unsigned s = (unsigned)(rnd() % N_SAMPLES);
        size_t len = lens[s];
        uint8_t *b = malloc(cap);
        CHECK(b != NULL);
        memcpy(b, frames[s], len);
        unsigned n = 1 + (unsigned)(rnd() % 4);
        for (unsigned k = 0; k < n; k++)
            mutate(b, &len, cap);
        /* Exactly len bytes on the heap, so ASan sees any overread. */
        uint8_t *exact = malloc(len ? len : 1);
        CHECK(exact != NULL);
        memcpy(exact, b, len);
        ok += poke(exact, len);
        free(exact);
        free(b);
    }
    /* Mutations of from, to, term and many values decode; the test must
     * have exercised both outcomes. */
    CHECK(ok > 1000 && ok < 100000);
    for (unsigned i = 0; i < N_SAMPLES; i++)
        free(frames[i]);
}

/* Random byte strings, some behind a valid-looking header, never crash. */
TEST(wire, random_bytes)
{
    rng_state = 0xD1D1D1D1D1D1D1D1;
    for (unsigned it = 0; it < 20000; it++) {
        size_t len = rnd() % 300;
        uint8_t *b = malloc(len ? len : 1);
        CHECK(b != NULL);
        for (size_t i = 0; i < len; i++)
            b[i] = (uint8_t)rnd();
        if (len >= 8 && it % 2 == 0) {
            b[0] = WIRE_MAGIC;
            b[1] = WIRE_VERSION;
            b[2] = (uint8_t)(1 + rnd() % RAFT_MSG_TYPE_MAX);
            b[3] &= 0x07;
            le_put32(b + 4, (uint32_t)len);
        }
        poke(b, len);
        free(b);
    }
}

/* ---- Clone ---- */

/* A clone equals its original and shares no memory with it: it still
 * encodes the same after every buffer of the original has been zeroed. */
TEST(wire, clone_is_deep)
{
    for (unsigned i = 0; i < N_SAMPLES; i++) {
        struct raft_msg m;
        size_t n1, n2;
        init_payloads();
        memcpy(cmd_a, "lock /a owner=1", sizeof cmd_a);
        sample(&m, i);
        struct raft_msg *c = wire_msg_clone(&m);
        CHECK(msg_equal(&m, c));
        uint8_t *before = encode_new(&m, &n1);
        memset(cmd_a, 0, sizeof cmd_a);
        memset(cmd_b, 0, sizeof cmd_b);
        memset(chunk, 0, sizeof chunk);
        memset(conf_buf, 0, sizeof conf_buf);
        memset(sample_entries, 0, sizeof sample_entries);
        uint8_t *after = encode_new(c, &n2);
        CHECK_EQ(n1, n2);
        CHECK_MEM(before, after, n1);
        free(before);
        free(after);
        wire_msg_free(c);
    }
    wire_msg_free(NULL);
}

/* An outgoing SNAPSHOT chunk not yet filled in (data NULL, len = bytes
 * wanted) clones as such. */
TEST(wire, clone_unfilled_chunk)
{
    struct raft_msg m = {
        .type = RAFT_MSG_SNAPSHOT, .index = 9, .log_term = 2, .len = 1 << 20};
    struct raft_msg *c = wire_msg_clone(&m);
    CHECK(c->data == NULL);
    CHECK_EQ(c->len, 1 << 20);
    CHECK_U64(c->index, 9);
    wire_msg_free(c);
}
