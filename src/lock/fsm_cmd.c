/* fsm_cmd.c - the encoding of the lock state machine's commands, as they
 * are stored in the Raft log.
 *
 * Little-endian: the type (1 byte), now (8 bytes), then the fields the type
 * carries, in this order: session, ttl, wait, delay, token, index, seen,
 * permits, count (8 bytes each),
 * name, owner, req, client, value, data (each a 2-byte length and its
 * bytes), ids (a 4-byte count, 1 to FSM_EXPIRE_BATCH_MAX, and 8 bytes each).
 * A field the type does not carry is not encoded and decodes as zero. A
 * command with a user has the type byte's high bit set and ends with the
 * user (a byte of length, 1 to FSM_USER_MAX, and its bytes): commands
 * logged before there were users decode as they did. */
#include "lock/fsm.h"
#include "lock/fsm_internal.h"

#include <string.h>

#include "common/le.h"

enum {
    F_SESSION = 1 << 0,
    F_TTL = 1 << 1,
    F_WAIT = 1 << 2,
    F_DELAY = 1 << 3,
    F_TOKEN = 1 << 4,
    F_INDEX = 1 << 5,
    F_SEEN = 1 << 6,
    F_PERMITS = 1 << 7,
    F_COUNT = 1 << 8,
    F_NAME = 1 << 9,
    F_OWNER = 1 << 10,
    F_REQ = 1 << 11,
    F_CLIENT = 1 << 12,
    F_VALUE = 1 << 13,
    F_DATA = 1 << 14,
    F_IDS = 1 << 15,
};
#define N_INTS 9
#define N_STRS 6
#define HAS_USER 0x80

/* The fields each type carries (fsm.h lists them). */
static const unsigned fields[FSM_CMD_MAX + 1] = {
    [FSM_OPEN] = F_TTL | F_REQ | F_CLIENT,
    [FSM_CLOSE] = F_SESSION | F_REQ,
    [FSM_EXPIRE] = F_SESSION,
    [FSM_ACQUIRE] =
        F_SESSION | F_TTL | F_WAIT | F_DELAY | F_NAME | F_OWNER | F_REQ,
    [FSM_RELEASE] = F_SESSION | F_TOKEN | F_NAME | F_OWNER | F_REQ,
    [FSM_EXTEND] = F_TOKEN | F_TTL | F_NAME | F_REQ,
    [FSM_TICK] = 0,
    [FSM_SET_TTL] = F_SESSION | F_TTL | F_REQ,
    [FSM_UNWAIT] = F_SESSION | F_WAIT | F_INDEX | F_SEEN | F_NAME | F_REQ,
    [FSM_EXPIRE_BATCH] = F_IDS,
    [FSM_ACQUIRE_SHARED] =
        F_SESSION | F_TTL | F_WAIT | F_DELAY | F_NAME | F_OWNER | F_REQ,
    [FSM_RELEASE_SHARED] = F_SESSION | F_NAME | F_OWNER | F_REQ,
    [FSM_DOWNGRADE] = F_SESSION | F_NAME | F_OWNER | F_REQ,
    [FSM_SEM_ACQUIRE] = F_SESSION | F_WAIT | F_DELAY | F_PERMITS | F_COUNT |
                        F_NAME | F_OWNER | F_REQ,
    [FSM_SEM_RELEASE] = F_SESSION | F_COUNT | F_NAME | F_OWNER | F_REQ,
    [FSM_CAMPAIGN] =
        F_SESSION | F_WAIT | F_DELAY | F_NAME | F_OWNER | F_REQ | F_VALUE,
    [FSM_PROCLAIM] = F_SESSION | F_TOKEN | F_NAME | F_REQ | F_VALUE,
    [FSM_RESIGN] = F_SESSION | F_NAME | F_OWNER | F_REQ,
    [FSM_REVOKE] = F_DELAY | F_TOKEN | F_NAME | F_REQ,
    [FSM_USER_SET] = F_COUNT | F_DATA,
    [FSM_USER_DEL] = F_NAME,
    [FSM_LEASES] = F_TTL | F_COUNT | F_OWNER | F_DATA,
    [FSM_SEM_LEASE] =
        F_TTL | F_DELAY | F_PERMITS | F_COUNT | F_NAME | F_OWNER | F_REQ,
};

static const uint32_t str_max[N_STRS] = {FSM_NAME_MAX,  FSM_OWNER_MAX,
                                         FSM_REQ_MAX,   FSM_CLIENT_MAX,
                                         FSM_VALUE_MAX, FSM_DATA_MAX};

size_t fsm_cmd_encode(const struct fsm_cmd *c, uint8_t *buf, size_t cap)
{
    if (c->type < 1 || c->type > FSM_CMD_MAX)
        return 0;
    const uint64_t v[N_INTS] = {c->session, c->ttl,     c->wait,
                                c->delay,   c->token,   c->index,
                                c->seen,    c->permits, c->count};
    const char *s[N_STRS] = {c->name,   c->owner, c->req,
                             c->client, c->value, (const char *)c->data};
    const uint32_t sl[N_STRS] = {c->name_len,   c->owner_len, c->req_len,
                                 c->client_len, c->value_len, c->data_len};
    if (c->user_len > FSM_USER_MAX)
        return 0;
    unsigned m = fields[c->type];
    size_t need = 1 + 8;
    for (int i = 0; i < N_INTS; i++)
        need += (m >> i & 1) ? 8 : 0;
    for (int i = 0; i < N_STRS; i++) {
        if (!(m >> (N_INTS + i) & 1))
            continue;
        if (sl[i] > str_max[i])
            return 0;
        need += 2 + sl[i];
    }
    if (m & F_IDS) {
        if (c->n_ids < 1 || c->n_ids > FSM_EXPIRE_BATCH_MAX)
            return 0;
        need += 4 + (size_t)c->n_ids * 8;
    }
    if (c->user_len > 0)
        need += 1 + c->user_len;
    if (cap < need)
        return need;
    uint8_t *p = buf;
    *p++ = (uint8_t)(c->type | (c->user_len > 0 ? HAS_USER : 0));
    le_put64(p, c->now);
    p += 8;
    for (int i = 0; i < N_INTS; i++) {
        if (m >> i & 1) {
            le_put64(p, v[i]);
            p += 8;
        }
    }
    for (int i = 0; i < N_STRS; i++) {
        if (!(m >> (N_INTS + i) & 1))
            continue;
        le_put16(p, (uint16_t)sl[i]);
        if (sl[i] > 0)
            memcpy(p + 2, s[i], sl[i]);
        p += 2 + sl[i];
    }
    if (m & F_IDS) {
        le_put32(p, c->n_ids);
        memcpy(p + 4, c->ids, (size_t)c->n_ids * 8);
        p += 4 + (size_t)c->n_ids * 8;
    }
    if (c->user_len > 0) {
        *p = (uint8_t)c->user_len;
        memcpy(p + 1, c->user, c->user_len);
    }
    return need;
}

int fsm_cmd_decode(struct fsm_cmd *c, const uint8_t *buf, size_t len)
{
    static const char empty[1] = "";
    memset(c, 0, sizeof *c);
    c->name = c->owner = c->req = c->client = c->value = c->user = empty;
    c->data = (const uint8_t *)empty;
    if (len < 9)
        return -1;
    uint8_t type = buf[0] & (uint8_t)~HAS_USER;
    if (type < 1 || type > FSM_CMD_MAX)
        return -1;
    c->type = type;
    c->now = le_get64(buf + 1);
    unsigned m = fields[c->type];
    size_t off = 9;
    uint64_t *v[N_INTS] = {&c->session, &c->ttl,     &c->wait,
                           &c->delay,   &c->token,   &c->index,
                           &c->seen,    &c->permits, &c->count};
    for (int i = 0; i < N_INTS; i++) {
        if (!(m >> i & 1))
            continue;
        if (len - off < 8)
            return -1;
        *v[i] = le_get64(buf + off);
        off += 8;
    }
    const char *data = NULL;
    const char **ps[N_STRS] = {&c->name,   &c->owner, &c->req,
                               &c->client, &c->value, &data};
    uint32_t *pl[N_STRS] = {&c->name_len,   &c->owner_len, &c->req_len,
                            &c->client_len, &c->value_len, &c->data_len};
    for (int i = 0; i < N_STRS; i++) {
        if (!(m >> (N_INTS + i) & 1))
            continue;
        if (len - off < 2)
            return -1;
        uint32_t n = le_get16(buf + off);
        off += 2;
        if (n > str_max[i] || len - off < n)
            return -1;
        *ps[i] = (const char *)buf + off;
        *pl[i] = n;
        off += n;
    }
    if (m & F_IDS) {
        if (len - off < 4)
            return -1;
        uint32_t n = le_get32(buf + off);
        off += 4;
        if (n < 1 || n > FSM_EXPIRE_BATCH_MAX || (len - off) / 8 < n)
            return -1;
        c->ids = buf + off;
        c->n_ids = n;
        off += (size_t)n * 8;
    }
    if (data != NULL)
        c->data = (const uint8_t *)data;
    if (buf[0] & HAS_USER) {
        if (len - off < 1)
            return -1;
        uint32_t n = buf[off];
        if (n < 1 || n > FSM_USER_MAX || len - off - 1 < n)
            return -1;
        c->user = (const char *)buf + off + 1;
        c->user_len = n;
        off += 1 + n;
    }
    return off == len ? 0 : -1;
}

uint64_t fsm_cmd_id(const struct fsm_cmd *c, uint32_t i)
{
    return le_get64(c->ids + (size_t)i * 8);
}

size_t fsm_cmd_batch_size(uint32_t n)
{
    return 1 + 8 + 4 + (size_t)n * 8;
}

/* FNV-1a, one byte at a time: the same on every server and build. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static uint64_t fnv_u64(uint64_t h, uint64_t v)
{
    uint8_t b[8];
    le_put64(b, v);
    return fnv(h, b, 8);
}

/* A string as its 4-byte length and its bytes, so that no two lists of
 * strings give the same bytes. */
static uint64_t fnv_str(uint64_t h, const char *s, uint32_t len)
{
    h = fnv_u64(h, len);
    return len > 0 ? fnv(h, s, len) : h;
}

uint64_t fsm_cmd_fingerprint(const struct fsm_cmd *c)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    h = fnv(h, &c->type, 1);
    h = fnv_u64(h, c->session);
    h = fnv_u64(h, c->ttl);
    h = fnv_u64(h, c->delay);
    h = fnv_u64(h, c->token);
    h = fnv_str(h, c->name, c->name_len);
    h = fnv_str(h, c->owner, c->owner_len);
    h = fnv_str(h, c->client, c->client_len);
    /* Only the types that carry them: the others' fingerprints, kept in
     * snapshots, stay what they were. */
    if (c->type == FSM_SEM_ACQUIRE || c->type == FSM_SEM_RELEASE ||
        c->type == FSM_SEM_LEASE) {
        h = fnv_u64(h, c->permits);
        h = fnv_u64(h, c->count);
    }
    if (c->type == FSM_CAMPAIGN || c->type == FSM_PROCLAIM)
        h = fnv_str(h, c->value, c->value_len);
    /* Another user's repeat of a request id is another request. */
    if (c->user_len > 0)
        h = fnv_str(h, c->user, c->user_len);
    return h != 0 ? h : 1;
}
