/* wire.c - the peer protocol codec; the frame format is described in wire.h. */
#include "raft/wire.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/le.h"
#include "common/mem.h"

#define F_REJECT 0x01
#define F_TRANSFER 0x02
#define F_LAST 0x04

/* u64 term, u64 index, u8 type, u32 len, before an entry's data. */
#define ENTRY_HDR RAFT_ENTRY_OVERHEAD /* term, index, type, len */

/* What each message type carries after the common header: the size of its
 * fixed fields, the flags it may set, and whether a variable part follows. */
struct kind {
    uint32_t fixed;
    uint8_t flags;
    bool variable;
};

static const struct kind kinds[RAFT_MSG_TYPE_MAX + 1] = {
    [RAFT_MSG_APPEND] = {28, 0, true},
    [RAFT_MSG_APPEND_RESP] = {24, F_REJECT, false},
    [RAFT_MSG_VOTE] = {16, F_TRANSFER, false},
    [RAFT_MSG_VOTE_RESP] = {0, F_REJECT, false},
    [RAFT_MSG_PREVOTE] = {16, F_TRANSFER, false},
    [RAFT_MSG_PREVOTE_RESP] = {0, F_REJECT, false},
    [RAFT_MSG_HEARTBEAT] = {16, 0, false},
    [RAFT_MSG_HEARTBEAT_RESP] = {8, 0, false},
    [RAFT_MSG_SNAPSHOT] = {28, F_LAST, true},
    [RAFT_MSG_SNAPSHOT_RESP] = {16, F_REJECT | F_LAST, false},
    [RAFT_MSG_TIMEOUT_NOW] = {0, 0, false},
};

static bool type_valid(uint8_t type)
{
    return type >= 1 && type <= RAFT_MSG_TYPE_MAX;
}

/* ---- Encoding ---- */

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    le_put32(p, v);
    return p + 4;
}

static uint8_t *put64(uint8_t *p, uint64_t v)
{
    le_put64(p, v);
    return p + 8;
}

static uint8_t *put_bytes(uint8_t *p, const uint8_t *data, uint32_t len)
{
    assert(len == 0 || data != NULL);
    if (len > 0)
        memcpy(p, data, len);
    return p + len;
}

size_t wire_msg_size(const struct raft_msg *m)
{
    assert(type_valid(m->type));
    /* Each step adds at most 2^32 + 21, and the loop stops once past the
     * limit, so the sum cannot overflow. */
    uint64_t size = WIRE_HEADER_SIZE + kinds[m->type].fixed;
    if (m->type == RAFT_MSG_APPEND) {
        for (uint32_t i = 0; i < m->n_entries && size <= WIRE_MAX_FRAME; i++)
            size += ENTRY_HDR + (uint64_t)m->entries[i].len;
    } else if (m->type == RAFT_MSG_SNAPSHOT) {
        size += m->len;
        if (m->last)
            size += raft_conf_encode(&m->conf, NULL, 0);
    }
    return size > WIRE_MAX_FRAME ? (size_t)WIRE_MAX_FRAME + 1 : (size_t)size;
}

static uint8_t *encode_entries(const struct raft_msg *m, uint8_t *p)
{
    p = put32(p, m->n_entries);
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const struct raft_entry *e = &m->entries[i];
        p = put64(p, e->term);
        p = put64(p, e->index);
        *p++ = e->type;
        p = put32(p, e->len);
        p = put_bytes(p, e->data, e->len);
    }
    return p;
}

/* Writes the fields of m's type at p, which has room for them (the caller
 * sized it with wire_msg_size); returns the end. */
static uint8_t *encode_body(const struct raft_msg *m, uint8_t *p)
{
    switch (m->type) {
    case RAFT_MSG_APPEND:
        p = put64(p, m->index);
        p = put64(p, m->log_term);
        p = put64(p, m->commit);
        return encode_entries(m, p);
    case RAFT_MSG_APPEND_RESP:
        p = put64(p, m->index);
        p = put64(p, m->hint);
        return put64(p, m->hint_term);
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        p = put64(p, m->index);
        return put64(p, m->log_term);
    case RAFT_MSG_HEARTBEAT:
        p = put64(p, m->commit);
        return put64(p, m->ctx);
    case RAFT_MSG_HEARTBEAT_RESP:
        return put64(p, m->ctx);
    case RAFT_MSG_SNAPSHOT:
        p = put64(p, m->index);
        p = put64(p, m->log_term);
        p = put64(p, m->offset);
        p = put32(p, m->len);
        p = put_bytes(p, m->data, m->len);
        if (m->last)
            p += raft_conf_encode(&m->conf, p,
                                  raft_conf_encode(&m->conf, NULL, 0));
        return p;
    case RAFT_MSG_SNAPSHOT_RESP:
        p = put64(p, m->index);
        return put64(p, m->offset);
    default: /* VOTE_RESP, PREVOTE_RESP, TIMEOUT_NOW: nothing but flags */
        return p;
    }
}

size_t wire_msg_encode(const struct raft_msg *m, uint8_t *buf, size_t cap)
{
    size_t size = wire_msg_size(m);
    if (size > WIRE_MAX_FRAME || size > cap)
        return 0;
    uint8_t flags =
        (uint8_t)((m->reject ? F_REJECT : 0) | (m->transfer ? F_TRANSFER : 0) |
                  (m->last ? F_LAST : 0));
    buf[0] = WIRE_MAGIC;
    buf[1] = WIRE_VERSION;
    buf[2] = m->type;
    buf[3] = flags & kinds[m->type].flags;
    le_put32(buf + 4, (uint32_t)size);
    uint8_t *p = put64(buf + 8, m->from);
    p = put64(p, m->to);
    p = put64(p, m->term);
    p = encode_body(m, p);
    assert(p == buf + size);
    return size;
}

/* ---- Decoding ---- */

/* Checks as much of a frame header as the len bytes at b hold. */
static int check_header(const uint8_t *b, size_t len)
{
    if (len >= 1 && b[0] != WIRE_MAGIC)
        return RAFT_ECORRUPT;
    if (len >= 2 && b[1] != WIRE_VERSION)
        return RAFT_ECORRUPT;
    if (len >= 3 && !type_valid(b[2]))
        return RAFT_ECORRUPT;
    if (len >= 4 && (b[3] & ~kinds[b[2]].flags) != 0)
        return RAFT_ECORRUPT;
    if (len >= 8) {
        const struct kind *k = &kinds[b[2]];
        uint32_t flen = le_get32(b + 4);
        uint32_t min = WIRE_HEADER_SIZE + k->fixed;
        if (flen < min || flen > WIRE_MAX_FRAME)
            return RAFT_ECORRUPT;
        if (!k->variable && flen != min)
            return RAFT_ECORRUPT;
    }
    return 0;
}

int wire_frame_len(const uint8_t *buf, size_t len, size_t *frame_len)
{
    int rc = check_header(buf, len);
    if (rc != 0)
        return rc;
    if (len < 8)
        return 0;
    uint32_t flen = le_get32(buf + 4);
    if (len < flen)
        return 0;
    *frame_len = flen;
    return 1;
}

/* A cursor over the bytes of a frame. Reading past the end yields zeros and
 * sets bad, so a decoder checks once after a group of reads. */
struct reader {
    const uint8_t *p;
    size_t left;
    bool bad;
};

static const uint8_t *take(struct reader *r, size_t n)
{
    if (r->bad || n > r->left) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    r->left -= n;
    return p;
}

static uint8_t get8(struct reader *r)
{
    const uint8_t *p = take(r, 1);
    return p ? p[0] : 0;
}

static uint32_t get32(struct reader *r)
{
    const uint8_t *p = take(r, 4);
    return p ? le_get32(p) : 0;
}

static uint64_t get64(struct reader *r)
{
    const uint8_t *p = take(r, 8);
    return p ? le_get64(p) : 0;
}

static bool entry_type_valid(uint8_t type)
{
    return type >= RAFT_ENTRY_NORMAL && type <= RAFT_ENTRY_CONF;
}

/* Decodes one entry into e; its data points into the frame. */
static int decode_entry(struct raft_entry *e, struct reader *r)
{
    e->term = get64(r);
    e->index = get64(r);
    e->type = get8(r);
    e->len = get32(r);
    /* The frame is const, the entry's data is not: the decoded message only
     * lends it, and the receiver never writes through it. */
    e->data = (uint8_t *)take(r, e->len);
    if (r->bad || !entry_type_valid(e->type))
        return RAFT_ECORRUPT;
    if (e->type == RAFT_ENTRY_CONF) {
        struct raft_conf conf;
        if (raft_conf_decode(&conf, e->data, e->len) != 0)
            return RAFT_ECORRUPT;
    }
    return 0;
}

static int decode_entries(struct raft_msg *m, struct reader *r)
{
    uint32_t n = get32(r);
    /* Check the count against the bytes left before allocating for it. */
    if (r->bad || n > r->left / ENTRY_HDR)
        return RAFT_ECORRUPT;
    if (n == 0)
        return 0;
    m->entries = mem_xcalloc(n, sizeof *m->entries);
    m->n_entries = n;
    for (uint32_t i = 0; i < n; i++)
        if (decode_entry(&m->entries[i], r) != 0)
            return RAFT_ECORRUPT;
    return 0;
}

static int decode_snapshot(struct raft_msg *m, struct reader *r)
{
    m->index = get64(r);
    m->log_term = get64(r);
    m->offset = get64(r);
    m->len = get32(r);
    m->data = take(r, m->len);
    if (r->bad)
        return RAFT_ECORRUPT;
    if (!m->last)
        return 0;
    /* The conf runs to the end of the frame. */
    size_t n = r->left;
    const uint8_t *conf = take(r, n);
    return raft_conf_decode(&m->conf, conf, n) == 0 ? 0 : RAFT_ECORRUPT;
}

/* Reads the fields of m->type; the caller checks r for errors and leftovers
 * afterwards. */
static int decode_body(struct raft_msg *m, struct reader *r)
{
    switch (m->type) {
    case RAFT_MSG_APPEND:
        m->index = get64(r);
        m->log_term = get64(r);
        m->commit = get64(r);
        return decode_entries(m, r);
    case RAFT_MSG_APPEND_RESP:
        m->index = get64(r);
        m->hint = get64(r);
        m->hint_term = get64(r);
        return 0;
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        m->index = get64(r);
        m->log_term = get64(r);
        return 0;
    case RAFT_MSG_HEARTBEAT:
        m->commit = get64(r);
        m->ctx = get64(r);
        return 0;
    case RAFT_MSG_HEARTBEAT_RESP:
        m->ctx = get64(r);
        return 0;
    case RAFT_MSG_SNAPSHOT:
        return decode_snapshot(m, r);
    case RAFT_MSG_SNAPSHOT_RESP:
        m->index = get64(r);
        m->offset = get64(r);
        return 0;
    default: /* VOTE_RESP, PREVOTE_RESP, TIMEOUT_NOW: nothing but flags */
        return 0;
    }
}

int wire_msg_decode(struct raft_msg *m, const uint8_t *frame, size_t len)
{
    size_t flen = 0;
    memset(m, 0, sizeof *m);
    if (wire_frame_len(frame, len, &flen) != 1 || flen != len)
        return RAFT_ECORRUPT;
    m->type = frame[2];
    m->reject = (frame[3] & F_REJECT) != 0;
    m->transfer = (frame[3] & F_TRANSFER) != 0;
    m->last = (frame[3] & F_LAST) != 0;

    struct reader r = {frame + 8, len - 8, false};
    m->from = get64(&r);
    m->to = get64(&r);
    m->term = get64(&r);
    int rc = decode_body(m, &r);
    if (rc == 0 && (r.bad || r.left != 0))
        rc = RAFT_ECORRUPT;
    if (rc != 0) {
        wire_msg_close(m);
        memset(m, 0, sizeof *m);
    }
    return rc;
}

void wire_msg_close(struct raft_msg *m)
{
    if (m == NULL)
        return;
    free(m->entries);
    m->entries = NULL;
    m->n_entries = 0;
}

/* ---- Copies for the simulator ---- */

struct raft_msg *wire_msg_clone(const struct raft_msg *m)
{
    assert(m->n_entries == 0 || m->entries != NULL);
    /* One block: the message, its entries array, then all payload bytes.
     * sizeof(struct raft_msg) keeps the entries array aligned. */
    size_t size = sizeof *m + (size_t)m->n_entries * sizeof *m->entries;
    for (uint32_t i = 0; i < m->n_entries; i++)
        size += m->entries[i].len;
    if (m->data != NULL)
        size += m->len;

    struct raft_msg *c = mem_xmalloc(size);
    *c = *m;
    struct raft_entry *entries = (struct raft_entry *)(c + 1);
    uint8_t *bytes = (uint8_t *)(entries + m->n_entries);
    c->entries = m->n_entries > 0 ? entries : NULL;
    for (uint32_t i = 0; i < m->n_entries; i++) {
        entries[i] = m->entries[i];
        entries[i].data = m->entries[i].len > 0 ? bytes : NULL;
        bytes = put_bytes(bytes, m->entries[i].data, m->entries[i].len);
    }
    if (m->data != NULL) {
        c->data = bytes;
        put_bytes(bytes, m->data, m->len);
    }
    return c;
}

void wire_msg_free(struct raft_msg *m)
{
    free(m);
}
