/* conf.c - the configuration codec (payload of RAFT_ENTRY_CONF) and checks. */
#include "raft/raft.h"

#include <assert.h>
#include <string.h>

#include "common/le.h"

/* Bytes of one server before its address: u64 id, u8 role, u8 promote,
 * u16 addr_len. */
#define SERVER_HDR 12
#define CONF_HDR 4

static bool role_known(uint8_t role)
{
    return role == RAFT_VOTER || role == RAFT_LEARNER;
}

/* The length of s's address; RAFT_ADDR_MAX if it is not terminated (then
 * decode rejects the encoding). strnlen is POSIX, memchr is C. */
static size_t addr_len(const struct raft_server *s)
{
    const char *nul = memchr(s->addr, '\0', RAFT_ADDR_MAX);
    return nul ? (size_t)(nul - s->addr) : RAFT_ADDR_MAX;
}

/* True if id appears among the first n servers of c. */
static bool has_id(const struct raft_conf *c, unsigned n, uint64_t id)
{
    for (unsigned i = 0; i < n; i++)
        if (c->servers[i].id == id)
            return true;
    return false;
}

size_t raft_conf_encode(const struct raft_conf *c, uint8_t *buf, size_t cap)
{
    assert(c->n <= RAFT_MAX_SERVERS);
    size_t need = CONF_HDR;
    for (unsigned i = 0; i < c->n; i++)
        need += SERVER_HDR + addr_len(&c->servers[i]);
    if (need > cap)
        return need;

    uint8_t *p = buf;
    le_put32(p, c->n);
    p += CONF_HDR;
    for (unsigned i = 0; i < c->n; i++) {
        const struct raft_server *s = &c->servers[i];
        size_t alen = addr_len(s);
        le_put64(p, s->id);
        p[8] = s->role;
        p[9] = s->promote ? 1 : 0;
        le_put16(p + 10, (uint16_t)alen);
        memcpy(p + SERVER_HDR, s->addr, alen);
        p += SERVER_HDR + alen;
    }
    return need;
}

/* Decodes one server at buf (at most len bytes) into s; returns the bytes it
 * took, or 0 if they are malformed. */
static size_t decode_server(struct raft_server *s, const uint8_t *buf,
                            size_t len)
{
    if (len < SERVER_HDR)
        return 0;
    size_t alen = le_get16(buf + 10);
    /* The address must leave room for its NUL and hold none itself, so that
     * it reads back as the same string and re-encodes to the same bytes. */
    if (alen >= RAFT_ADDR_MAX || alen > len - SERVER_HDR)
        return 0;
    if (memchr(buf + SERVER_HDR, '\0', alen) != NULL)
        return 0;
    s->id = le_get64(buf);
    s->role = buf[8];
    if (s->id == 0 || !role_known(s->role) || buf[9] > 1)
        return 0;
    s->promote = buf[9] == 1;
    memcpy(s->addr, buf + SERVER_HDR, alen);
    s->addr[alen] = '\0';
    return SERVER_HDR + alen;
}

int raft_conf_decode(struct raft_conf *c, const uint8_t *buf, size_t len)
{
    struct raft_conf out;
    memset(&out, 0, sizeof out);
    if (len < CONF_HDR)
        return RAFT_ECORRUPT;
    uint32_t n = le_get32(buf);
    if (n > RAFT_MAX_SERVERS)
        return RAFT_ECORRUPT;
    size_t off = CONF_HDR;
    for (unsigned i = 0; i < n; i++) {
        struct raft_server *s = &out.servers[i];
        size_t used = decode_server(s, buf + off, len - off);
        if (used == 0 || has_id(&out, i, s->id))
            return RAFT_ECORRUPT;
        off += used;
    }
    if (off != len)
        return RAFT_ECORRUPT;
    out.n = n;
    *c = out;
    return 0;
}

int raft_conf_check(const struct raft_conf *c)
{
    if (c->n > RAFT_MAX_SERVERS)
        return RAFT_EINVAL;
    for (unsigned i = 0; i < c->n; i++) {
        const struct raft_server *s = &c->servers[i];
        if (s->id == 0 || !role_known(s->role) || has_id(c, i, s->id))
            return RAFT_EINVAL;
        if (addr_len(s) == RAFT_ADDR_MAX)
            return RAFT_EINVAL;
    }
    return 0;
}

uint8_t raft_conf_role(const struct raft_conf *c, uint64_t id)
{
    unsigned n = c->n < RAFT_MAX_SERVERS ? c->n : RAFT_MAX_SERVERS;
    if (id == 0)
        return 0;
    for (unsigned i = 0; i < n; i++)
        if (c->servers[i].id == id)
            return c->servers[i].role;
    return 0;
}
