/* test_conf.c - the configuration codec and checks (src/raft/conf.c). */
#include "harness.h"

#include "common/le.h"
#include "raft/raft.h"

/* A configuration of n servers with ids 1..n, voters and learners mixed. */
static void make_conf(struct raft_conf *c, unsigned n)
{
    memset(c, 0, sizeof *c);
    c->n = n;
    for (unsigned i = 0; i < n; i++) {
        struct raft_server *s = &c->servers[i];
        s->id = i + 1 + ((uint64_t)i << 40);
        s->role = i % 3 == 2 ? RAFT_LEARNER : RAFT_VOTER;
        s->promote = i % 6 == 2;
        snprintf(s->addr, sizeof s->addr, "10.0.%u.%u:%u", i, i * 7, 7000 + i);
    }
}

/* A hand-built encoding, to write malformed ones. */
struct raw {
    uint8_t b[4096];
    size_t len;
};

static void raw_u8(struct raw *r, uint8_t v)
{
    r->b[r->len++] = v;
}

static void raw_u16(struct raw *r, uint16_t v)
{
    le_put16(r->b + r->len, v);
    r->len += 2;
}

static void raw_u32(struct raw *r, uint32_t v)
{
    le_put32(r->b + r->len, v);
    r->len += 4;
}

static void raw_u64(struct raw *r, uint64_t v)
{
    le_put64(r->b + r->len, v);
    r->len += 8;
}

static void raw_server(struct raw *r, uint64_t id, uint8_t role,
                       uint8_t promote, const char *addr, size_t alen)
{
    raw_u64(r, id);
    raw_u8(r, role);
    raw_u8(r, promote);
    raw_u16(r, (uint16_t)alen);
    memcpy(r->b + r->len, addr, alen);
    r->len += alen;
}

/* Decodes r and checks that it is rejected and leaves *c untouched. */
static void check_rejected(const struct raw *r)
{
    struct raft_conf c, before;
    make_conf(&c, 2);
    before = c;
    CHECK_EQ(raft_conf_decode(&c, r->b, r->len), RAFT_ECORRUPT);
    CHECK_MEM(&c, &before, sizeof c);
}

static void roundtrip(unsigned n)
{
    struct raft_conf c, d;
    uint8_t buf[4096];
    make_conf(&c, n);
    size_t want = 4;
    for (unsigned i = 0; i < n; i++)
        want += 12 + strlen(c.servers[i].addr);
    CHECK_EQ(raft_conf_encode(&c, NULL, 0), want);
    CHECK_EQ(raft_conf_encode(&c, buf, sizeof buf), want);
    CHECK_EQ(le_get32(buf), n);
    CHECK_EQ(raft_conf_decode(&d, buf, want), 0);
    CHECK_MEM(&c, &d, sizeof c);
    CHECK_EQ(raft_conf_check(&d), 0);
}

/* Configurations of 0, 1 and 16 servers encode to the documented size and
 * decode back to the same servers. */
TEST(conf, roundtrip_0_1_16)
{
    roundtrip(0);
    roundtrip(1);
    roundtrip(RAFT_MAX_SERVERS);
}

/* An address of 63 bytes (the most that leaves room for the NUL) and an
 * empty one both round trip. */
TEST(conf, roundtrip_address_limits)
{
    struct raft_conf c, d;
    uint8_t buf[256];
    make_conf(&c, 2);
    memset(c.servers[0].addr, 'a', RAFT_ADDR_MAX - 1);
    c.servers[0].addr[RAFT_ADDR_MAX - 1] = '\0';
    memset(c.servers[1].addr, 0, sizeof c.servers[1].addr);
    size_t n = raft_conf_encode(&c, buf, sizeof buf);
    CHECK_EQ(n, 4 + 12 + 63 + 12);
    CHECK_EQ(raft_conf_decode(&d, buf, n), 0);
    CHECK_MEM(&c, &d, sizeof c);
}

/* With too little room encode reports the size needed and writes nothing. */
TEST(conf, encode_small_cap_writes_nothing)
{
    struct raft_conf c;
    uint8_t buf[4096];
    make_conf(&c, 5);
    size_t need = raft_conf_encode(&c, NULL, 0);
    memset(buf, 0xAB, sizeof buf);
    CHECK_EQ(raft_conf_encode(&c, buf, need - 1), need);
    for (size_t i = 0; i < sizeof buf; i++)
        CHECK_EQ(buf[i], 0xAB);
}

/* Every strict prefix of a valid encoding is rejected, and so is the
 * encoding with a byte appended. */
TEST(conf, decode_rejects_truncation_and_trailing_bytes)
{
    struct raft_conf c;
    struct raw r;
    make_conf(&c, 4);
    size_t n = raft_conf_encode(&c, r.b, sizeof r.b);
    for (r.len = 0; r.len < n; r.len++)
        check_rejected(&r);
    r.len = n;
    raw_u8(&r, 0);
    check_rejected(&r);
}

/* A count of 17 servers is rejected even when 17 well-formed servers
 * follow. */
TEST(conf, decode_rejects_17_servers)
{
    struct raw r = {.len = 0};
    raw_u32(&r, RAFT_MAX_SERVERS + 1);
    for (unsigned i = 0; i < RAFT_MAX_SERVERS + 1; i++)
        raw_server(&r, i + 1, RAFT_VOTER, 0, "h:1", 3);
    check_rejected(&r);
    r.len = 0;
    raw_u32(&r, UINT32_MAX);
    check_rejected(&r);
}

/* A zero id and an id used twice are rejected. */
TEST(conf, decode_rejects_zero_and_duplicate_id)
{
    struct raw r = {.len = 0};
    raw_u32(&r, 2);
    raw_server(&r, 1, RAFT_VOTER, 0, "a", 1);
    raw_server(&r, 0, RAFT_VOTER, 0, "b", 1);
    check_rejected(&r);
    r.len = 0;
    raw_u32(&r, 3);
    raw_server(&r, 7, RAFT_VOTER, 0, "a", 1);
    raw_server(&r, 8, RAFT_LEARNER, 1, "b", 1);
    raw_server(&r, 7, RAFT_LEARNER, 0, "c", 1);
    check_rejected(&r);
}

/* Roles other than voter and learner, and a promote byte other than 0 or 1,
 * are rejected; the same servers with good values decode. */
TEST(conf, decode_rejects_bad_role_and_promote)
{
    struct raft_conf c;
    uint8_t roles[] = {0, 3, 255};
    for (size_t i = 0; i < sizeof roles; i++) {
        struct raw r = {.len = 0};
        raw_u32(&r, 1);
        raw_server(&r, 1, roles[i], 0, "a", 1);
        check_rejected(&r);
    }
    struct raw r = {.len = 0};
    raw_u32(&r, 1);
    raw_server(&r, 1, RAFT_LEARNER, 2, "a", 1);
    check_rejected(&r);
    r.len = 0;
    raw_u32(&r, 1);
    raw_server(&r, 1, RAFT_LEARNER, 1, "a", 1);
    CHECK_EQ(raft_conf_decode(&c, r.b, r.len), 0);
    CHECK_EQ(c.servers[0].promote, true);
}

/* Addresses of 64 bytes or more (no room for the NUL), and addresses holding
 * a NUL byte, are rejected. */
TEST(conf, decode_rejects_bad_address)
{
    char addr[300];
    memset(addr, 'x', sizeof addr);
    size_t lens[] = {RAFT_ADDR_MAX, RAFT_ADDR_MAX + 1, 255};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        struct raw r = {.len = 0};
        raw_u32(&r, 1);
        raw_server(&r, 1, RAFT_VOTER, 0, addr, lens[i]);
        check_rejected(&r);
    }
    struct raw r = {.len = 0};
    raw_u32(&r, 1);
    raw_server(&r, 1, RAFT_VOTER, 0, "ab\0cd", 5);
    check_rejected(&r);
    /* An address length running past the end of the buffer. */
    r.len = 0;
    raw_u32(&r, 1);
    raw_server(&r, 1, RAFT_VOTER, 0, "abc", 3);
    le_put16(r.b + 4 + 10, 40);
    check_rejected(&r);
}

/* raft_conf_check accepts valid configurations and rejects each kind of
 * invalid one. */
TEST(conf, check)
{
    struct raft_conf c;
    make_conf(&c, 0);
    CHECK_EQ(raft_conf_check(&c), 0);
    make_conf(&c, RAFT_MAX_SERVERS);
    CHECK_EQ(raft_conf_check(&c), 0);

    c.n = RAFT_MAX_SERVERS + 1;
    CHECK_EQ(raft_conf_check(&c), RAFT_EINVAL);
    make_conf(&c, 3);
    c.servers[2].id = 0;
    CHECK_EQ(raft_conf_check(&c), RAFT_EINVAL);
    make_conf(&c, 3);
    c.servers[2].id = c.servers[0].id;
    CHECK_EQ(raft_conf_check(&c), RAFT_EINVAL);
    make_conf(&c, 3);
    c.servers[1].role = 0;
    CHECK_EQ(raft_conf_check(&c), RAFT_EINVAL);
    c.servers[1].role = 3;
    CHECK_EQ(raft_conf_check(&c), RAFT_EINVAL);
    make_conf(&c, 3);
    memset(c.servers[1].addr, 'z', RAFT_ADDR_MAX);
    CHECK_EQ(raft_conf_check(&c), RAFT_EINVAL);
}

/* raft_conf_role gives each member's role and 0 for non-members and id 0. */
TEST(conf, role)
{
    struct raft_conf c;
    make_conf(&c, 4);
    for (unsigned i = 0; i < 4; i++)
        CHECK_EQ(raft_conf_role(&c, c.servers[i].id), c.servers[i].role);
    CHECK_EQ(raft_conf_role(&c, c.servers[2].id), RAFT_LEARNER);
    CHECK_EQ(raft_conf_role(&c, 0), 0);
    CHECK_EQ(raft_conf_role(&c, 12345), 0);
    make_conf(&c, 0);
    CHECK_EQ(raft_conf_role(&c, 1), 0);
}
