/* test_fsm_cmd.c - the encoding of the lock state machine's commands
 * (src/lock/fsm_cmd.c): every type round-trips with exactly the fields it
 * carries, and the decoder refuses every malformed input. */
#include "harness.h"

#include "lock/fsm.h"

static char long_name[FSM_NAME_MAX + 1], long_owner[FSM_OWNER_MAX + 1],
    long_req[FSM_REQ_MAX + 1], long_client[FSM_CLIENT_MAX + 1],
    long_value[FSM_VALUE_MAX + 1], long_user[FSM_USER_MAX + 1];
static uint8_t long_data[FSM_DATA_MAX + 1];
static const uint8_t three_ids[24] = {1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0,
                                      0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0x80};

/* A command of type with every field set to something distinct, strings at
 * their maximum length. */
static struct fsm_cmd full(uint8_t type)
{
    memset(long_name, 'n', sizeof long_name);
    memset(long_owner, 'o', sizeof long_owner);
    memset(long_req, 'r', sizeof long_req);
    memset(long_client, 'c', sizeof long_client);
    memset(long_value, 'v', sizeof long_value);
    memset(long_user, 'u', sizeof long_user);
    memset(long_data, 'd', sizeof long_data);
    return (struct fsm_cmd){
        .type = type,
        .now = 0x0102030405060708ull,
        .session = 0x1111111111111111ull,
        .ttl = 0x2222222222222222ull,
        .wait = 0x3333333333333333ull,
        .delay = 0x4444444444444444ull,
        .token = 0x5555555555555555ull,
        .index = 0x6666666666666666ull,
        .seen = 0x7777777777777777ull,
        .permits = 0x8888888888888888ull,
        .count = 0x9999999999999999ull,
        .name = long_name,
        .name_len = FSM_NAME_MAX,
        .owner = long_owner,
        .owner_len = FSM_OWNER_MAX,
        .req = long_req,
        .req_len = FSM_REQ_MAX,
        .client = long_client,
        .client_len = FSM_CLIENT_MAX,
        .value = long_value,
        .value_len = FSM_VALUE_MAX,
        .ids = three_ids,
        .n_ids = 3,
        .data = long_data,
        .data_len = FSM_DATA_MAX,
    };
}

static bool str_is(const char *p, uint32_t len, const char *want,
                   uint32_t want_len)
{
    return p != NULL && len == want_len &&
           (len == 0 || memcmp(p, want, len) == 0);
}

/* Each type decodes to the fields fsm.h says it carries, and zero (with
 * non-NULL empty strings) for the others. */
TEST(fsm_cmd, round_trip_each_type)
{
    /* session ttl wait delay token index seen permits count name owner req
     * client value ids data */
    static const char *carried[FSM_CMD_MAX + 1] = {
        [FSM_OPEN] = "-t---------rc---",
        [FSM_CLOSE] = "s----------r----",
        [FSM_EXPIRE] = "s---------------",
        [FSM_ACQUIRE] = "stwd-----nor----",
        [FSM_RELEASE] = "s---t----nor----",
        [FSM_EXTEND] = "-t--t----n-r----",
        [FSM_TICK] = "----------------",
        [FSM_SET_TTL] = "st---------r----",
        [FSM_UNWAIT] = "s-w--is--n-r----",
        [FSM_EXPIRE_BATCH] = "--------------i-",
        [FSM_ACQUIRE_SHARED] = "stwd-----nor----",
        [FSM_RELEASE_SHARED] = "s--------nor----",
        [FSM_DOWNGRADE] = "s--------nor----",
        [FSM_SEM_ACQUIRE] = "s-wd---pcnor----",
        [FSM_SEM_RELEASE] = "s-------cnor----",
        [FSM_CAMPAIGN] = "s-wd-----nor-v--",
        [FSM_PROCLAIM] = "s---t----n-r-v--",
        [FSM_RESIGN] = "s--------nor----",
        [FSM_REVOKE] = "---dt----n-r----",
        [FSM_USER_SET] = "--------c------d",
        [FSM_USER_DEL] = "---------n------",
        [FSM_LEASES] = "-t------c-o----d",
        [FSM_SEM_LEASE] = "-t-d---pcnor----",
    };
    static uint8_t buf[FSM_DATA_MAX + 4096];
    for (uint8_t type = 1; type <= FSM_CMD_MAX; type++) {
        struct fsm_cmd c = full(type), d;
        const char *k = carried[type];
        size_t n = fsm_cmd_encode(&c, buf, sizeof buf);
        CHECK(n > 0 && n <= sizeof buf);
        CHECK_EQ(fsm_cmd_decode(&d, buf, n), 0);
        CHECK_EQ(d.type, type);
        CHECK_U64(d.now, c.now);
        CHECK_U64(d.session, k[0] == 's' ? c.session : 0);
        CHECK_U64(d.ttl, k[1] == 't' ? c.ttl : 0);
        CHECK_U64(d.wait, k[2] == 'w' ? c.wait : 0);
        CHECK_U64(d.delay, k[3] == 'd' ? c.delay : 0);
        CHECK_U64(d.token, k[4] == 't' ? c.token : 0);
        CHECK_U64(d.index, k[5] == 'i' ? c.index : 0);
        CHECK_U64(d.seen, k[6] == 's' ? c.seen : 0);
        CHECK_U64(d.permits, k[7] == 'p' ? c.permits : 0);
        CHECK_U64(d.count, k[8] == 'c' ? c.count : 0);
        CHECK(k[9] == 'n' ? str_is(d.name, d.name_len, c.name, c.name_len)
                          : str_is(d.name, d.name_len, "", 0));
        CHECK(k[10] == 'o' ? str_is(d.owner, d.owner_len, c.owner, c.owner_len)
                           : str_is(d.owner, d.owner_len, "", 0));
        CHECK(k[11] == 'r' ? str_is(d.req, d.req_len, c.req, c.req_len)
                           : str_is(d.req, d.req_len, "", 0));
        CHECK(k[12] == 'c'
                  ? str_is(d.client, d.client_len, c.client, c.client_len)
                  : str_is(d.client, d.client_len, "", 0));
        CHECK(k[13] == 'v' ? str_is(d.value, d.value_len, c.value, c.value_len)
                           : str_is(d.value, d.value_len, "", 0));
        CHECK_EQ(d.n_ids, k[14] == 'i' ? 3 : 0);
        CHECK(k[15] == 'd' ? str_is((const char *)d.data, d.data_len,
                                    (const char *)c.data, c.data_len)
                           : str_is((const char *)d.data, d.data_len, "", 0));
        CHECK(str_is(d.user, d.user_len, "", 0));
        CHECK(buf[0] == type);
        /* With a user: the type's high bit, and the user at the end. */
        c.user = long_user;
        c.user_len = FSM_USER_MAX;
        size_t nu = fsm_cmd_encode(&c, buf, sizeof buf);
        CHECK_EQ(nu, n + 1 + FSM_USER_MAX);
        CHECK(buf[0] == (type | 0x80));
        CHECK_EQ(fsm_cmd_decode(&d, buf, nu), 0);
        CHECK_EQ(d.type, type);
        CHECK(str_is(d.user, d.user_len, long_user, FSM_USER_MAX));
        CHECK_EQ(fsm_cmd_decode(&d, buf, nu - 1), -1);
        /* A user too long is not encoded. */
        c.user_len = FSM_USER_MAX + 1;
        CHECK_EQ(fsm_cmd_encode(&c, buf, sizeof buf), 0);
        c.user_len = 0;
        n = fsm_cmd_encode(&c, buf, sizeof buf);
        for (uint32_t i = 0; i < d.n_ids; i++)
            CHECK_U64(fsm_cmd_id(&d, i), i < 2 ? i + 1 : 0x8000000000000003ull);
        /* Strings decode in place. */
        if (k[9] == 'n')
            CHECK(d.name > (const char *)buf && d.name < (const char *)buf + n);
    }
}

/* With too little room, encode returns the size needed and writes nothing;
 * NULL strings of length 0 are fine. */
TEST(fsm_cmd, encode_needs_room)
{
    struct fsm_cmd c = {.type = FSM_TICK, .now = 5};
    CHECK_EQ(fsm_cmd_encode(&c, NULL, 0), 9);
    struct fsm_cmd a = full(FSM_ACQUIRE);
    uint8_t buf[4096];
    size_t need = fsm_cmd_encode(&a, NULL, 0);
    CHECK_EQ(need, 1 + 8 + 4 * 8 + 3 * 2 + FSM_NAME_MAX + FSM_OWNER_MAX +
                       FSM_REQ_MAX);
    memset(buf, 0xAA, sizeof buf);
    CHECK_EQ(fsm_cmd_encode(&a, buf, need - 1), need);
    for (size_t i = 0; i < sizeof buf; i++)
        CHECK(buf[i] == 0xAA);
    CHECK_EQ(fsm_cmd_encode(&a, buf, need), need);
    CHECK(buf[need] == 0xAA);
}

/* encode refuses what decode would: an unknown type, a string over its
 * limit. */
TEST(fsm_cmd, encode_refuses_invalid)
{
    uint8_t buf[4096];
    struct fsm_cmd c = full(FSM_ACQUIRE);
    c.type = 0;
    CHECK_EQ(fsm_cmd_encode(&c, buf, sizeof buf), 0);
    c.type = FSM_CMD_MAX + 1;
    CHECK_EQ(fsm_cmd_encode(&c, buf, sizeof buf), 0);
    char big[FSM_NAME_MAX + 2] = {0};
    c = full(FSM_ACQUIRE);
    c.name = big;
    c.name_len = FSM_NAME_MAX + 1;
    CHECK_EQ(fsm_cmd_encode(&c, buf, sizeof buf), 0);
    c = full(FSM_ACQUIRE);
    c.owner_len = FSM_OWNER_MAX + 1;
    c.owner = big;
    CHECK_EQ(fsm_cmd_encode(&c, buf, sizeof buf), 0);
    c = full(FSM_RELEASE);
    c.req_len = FSM_REQ_MAX + 1;
    c.req = big;
    CHECK_EQ(fsm_cmd_encode(&c, buf, sizeof buf), 0);
    c = full(FSM_OPEN);
    c.client_len = FSM_CLIENT_MAX + 1;
    c.client = big;
    CHECK_EQ(fsm_cmd_encode(&c, buf, sizeof buf), 0);
    /* A string a type does not carry is not checked (nor encoded). */
    c = full(FSM_TICK);
    c.name_len = 100000;
    CHECK_EQ(fsm_cmd_encode(&c, buf, sizeof buf), 9);
}

/* decode refuses every truncation, a trailing byte, an unknown type and a
 * length over a limit. */
TEST(fsm_cmd, decode_refuses_malformed)
{
    uint8_t buf[4096], *p;
    struct fsm_cmd d;
    for (uint8_t type = 1; type <= FSM_CMD_MAX; type++) {
        struct fsm_cmd c = full(type);
        c.data_len = 100;
        c.user = long_user; /* half with a user */
        c.user_len = type % 2 ? 5 : 0;
        size_t n = fsm_cmd_encode(&c, buf, sizeof buf);
        for (size_t k = 0; k < n; k++) {
            p = malloc(k ? k : 1); /* exactly k bytes, for the sanitizers */
            memcpy(p, buf, k);
            CHECK_MSG(fsm_cmd_decode(&d, p, k) == -1, "type %d, %zu of %zu",
                      type, k, n);
            free(p);
        }
        buf[n] = 0;
        CHECK_EQ(fsm_cmd_decode(&d, buf, n + 1), -1);
    }
    struct fsm_cmd c = full(FSM_TICK);
    size_t n = fsm_cmd_encode(&c, buf, sizeof buf);
    buf[0] = 0;
    CHECK_EQ(fsm_cmd_decode(&d, buf, n), -1);
    buf[0] = FSM_CMD_MAX + 1;
    CHECK_EQ(fsm_cmd_decode(&d, buf, n), -1);
    /* A user of length 0, or over FSM_USER_MAX, with its bytes present. */
    c = full(FSM_TICK);
    n = fsm_cmd_encode(&c, buf, sizeof buf);
    buf[0] |= 0x80;
    buf[n] = 0;
    CHECK_EQ(fsm_cmd_decode(&d, buf, n + 1), -1);
    buf[n] = FSM_USER_MAX + 1;
    memset(buf + n + 1, 'u', FSM_USER_MAX + 1);
    CHECK_EQ(fsm_cmd_decode(&d, buf, n + 2 + FSM_USER_MAX), -1);
    buf[n] = FSM_USER_MAX;
    CHECK_EQ(fsm_cmd_decode(&d, buf, n + 1 + FSM_USER_MAX), 0);
    /* A name length of FSM_NAME_MAX + 1 with that many bytes present. */
    c = full(FSM_EXTEND);
    c.name_len = 10;
    n = fsm_cmd_encode(&c, buf, sizeof buf);
    size_t at = 1 + 8 + 2 * 8; /* type, now, ttl, token: the name's length */
    CHECK_EQ(buf[at], 10);
    uint8_t big[1024] = {0};
    memcpy(big, buf, at);
    big[at] = (uint8_t)(FSM_NAME_MAX + 1);
    big[at + 1] = (uint8_t)((FSM_NAME_MAX + 1) >> 8);
    size_t len = at + 2 + FSM_NAME_MAX + 1 + 2;
    CHECK_EQ(fsm_cmd_decode(&d, big, len), -1);
    big[at] = (uint8_t)FSM_NAME_MAX;
    big[at + 1] = (uint8_t)(FSM_NAME_MAX >> 8);
    CHECK_EQ(fsm_cmd_decode(&d, big, len - 1), 0);
}

/* An EXPIRE_BATCH carries 1 to FSM_EXPIRE_BATCH_MAX ids: the largest
 * round-trips in fsm_cmd_batch_size() bytes; none, or one too many, is
 * refused by encode and by decode (with the bytes present). */
TEST(fsm_cmd, expire_batch_bounds)
{
    size_t cap = fsm_cmd_batch_size(FSM_EXPIRE_BATCH_MAX + 1);
    uint8_t *ids = calloc(FSM_EXPIRE_BATCH_MAX + 1, 8), *buf = malloc(cap);
    for (uint32_t i = 0; i <= FSM_EXPIRE_BATCH_MAX; i++)
        ids[8 * i] = (uint8_t)i, ids[8 * i + 1] = (uint8_t)(i >> 8);
    struct fsm_cmd c = {.type = FSM_EXPIRE_BATCH, .now = 7, .ids = ids}, d;
    c.n_ids = FSM_EXPIRE_BATCH_MAX;
    size_t n = fsm_cmd_encode(&c, buf, cap);
    CHECK_EQ(n, fsm_cmd_batch_size(FSM_EXPIRE_BATCH_MAX));
    CHECK(n <= 65536 + 16); /* far below a Raft entry's limit */
    CHECK_EQ(fsm_cmd_decode(&d, buf, n), 0);
    CHECK_EQ(d.n_ids, FSM_EXPIRE_BATCH_MAX);
    CHECK_U64(fsm_cmd_id(&d, FSM_EXPIRE_BATCH_MAX - 1),
              FSM_EXPIRE_BATCH_MAX - 1);
    c.n_ids = 0;
    CHECK_EQ(fsm_cmd_encode(&c, buf, cap), 0);
    c.n_ids = FSM_EXPIRE_BATCH_MAX + 1;
    CHECK_EQ(fsm_cmd_encode(&c, buf, cap), 0);
    /* The count field (after type and now) set by hand. */
    c.n_ids = FSM_EXPIRE_BATCH_MAX;
    fsm_cmd_encode(&c, buf, cap);
    uint32_t bad[2] = {0, FSM_EXPIRE_BATCH_MAX + 1};
    for (int k = 0; k < 2; k++) {
        for (int b = 0; b < 4; b++)
            buf[9 + b] = (uint8_t)(bad[k] >> (8 * b));
        CHECK_EQ(fsm_cmd_decode(&d, buf, fsm_cmd_batch_size(bad[k])), -1);
    }
    free(ids);
    free(buf);
}

/* An EXPIRE as the previous version wrote it (type 3, now, session: 17
 * bytes) still decodes the same. */
TEST(fsm_cmd, expire_as_written_before)
{
    const uint8_t old[17] = {3,  9, 0, 0, 0, 0, 0, 0, 0,
                             42, 0, 0, 0, 0, 0, 0, 0};
    struct fsm_cmd d;
    CHECK_EQ(fsm_cmd_decode(&d, old, sizeof old), 0);
    CHECK_EQ(d.type, FSM_EXPIRE);
    CHECK_U64(d.now, 9);
    CHECK_U64(d.session, 42);
    CHECK_EQ(d.n_ids, 0);
    struct fsm_cmd c = {.type = FSM_EXPIRE, .now = 9, .session = 42};
    uint8_t buf[32];
    CHECK_EQ(fsm_cmd_encode(&c, buf, sizeof buf), sizeof old);
    CHECK(memcmp(buf, old, sizeof old) == 0);
}
