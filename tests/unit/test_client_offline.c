/* test_client_offline.c - the parts of libdlock that need no dlockd: server
 * lists, error codes, request ids, safe-until arithmetic, reply parsing, and
 * the request loop (redirects, NOLEADER, timeouts) against scripted fake
 * servers. */
#include <poll.h>
#include <pthread.h>

#include "client/client_internal.h"
#include "client_test.h"

/* ---- server lists ----------------------------------------------------- */

/* Lists of host:port entries parse in order, with blanks around entries
 * ignored and IPv6 in brackets accepted. */
TEST(client, servers_parse)
{
    char(*a)[CLIENT_ADDR_MAX];
    size_t n;
    CHECK_EQ(client_parse_servers("127.0.0.1:7411", &a, &n), 0);
    CHECK_EQ(n, 1);
    CHECK_STR(a[0], "127.0.0.1:7411");
    alloc_free(a);
    CHECK_EQ(client_parse_servers(" a:1 ,\tb.example:65535,[::1]:7", &a, &n),
             0);
    CHECK_EQ(n, 3);
    CHECK_STR(a[0], "a:1");
    CHECK_STR(a[1], "b.example:65535");
    CHECK_STR(a[2], "[::1]:7");
    char host[64], port[8];
    client_split_addr(a[2], host, sizeof host, port, sizeof port);
    CHECK_STR(host, "::1");
    CHECK_STR(port, "7");
    client_split_addr(a[1], host, sizeof host, port, sizeof port);
    CHECK_STR(host, "b.example");
    CHECK_STR(port, "65535");
    alloc_free(a);
}

/* Malformed lists are refused: empty entries, missing or bad ports,
 * unbracketed IPv6, blanks inside a host. */
TEST(client, servers_malformed)
{
    static const char *bad[] = {
        "",     ",",       "a:1,",     ":1",       "a",     "a:",
        "a:0",  "a:65536", "a:1x",     "a:b",      "::1:7", "[::1]7",
        "[]:7", "a b:1",   "a:1,,b:2", "a:123456",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char(*a)[CLIENT_ADDR_MAX] = NULL;
        size_t n = 0;
        CHECK_MSG(client_parse_servers(bad[i], &a, &n) == DLOCK_EINVAL,
                  "accepted \"%s\"", bad[i]);
    }
    struct dlock_options o;
    dlock_options_init(&o);
    o.servers = "localhost";
    struct dlock_client *c = NULL;
    CHECK_EQ(dlock_client_new(&o, &c), DLOCK_EINVAL);
    CHECK(c == NULL);
}

/* Without a list in the options, $DLOCK_SERVERS is used, else
 * 127.0.0.1:7411; the default timeout is 10 s. */
TEST(client, servers_default)
{
    struct dlock_options o;
    dlock_options_init(&o);
    CHECK_U64(o.timeout_ms, 10000);
    CHECK(o.servers == NULL && o.name == NULL);
    struct dlock_client *c;
    unsetenv("DLOCK_SERVERS");
    CHECK_EQ(dlock_client_new(&o, &c), 0);
    CHECK_EQ(c->n_servers, 1);
    CHECK_STR(c->servers[0], "127.0.0.1:7411");
    dlock_client_free(c);
    setenv("DLOCK_SERVERS", "h1:1,h2:2", 1);
    CHECK_EQ(dlock_client_new(NULL, &c), 0);
    CHECK_EQ(c->n_servers, 2);
    CHECK_STR(c->servers[1], "h2:2");
    dlock_client_free(c);
    setenv("DLOCK_SERVERS", "h1", 1);
    CHECK_EQ(dlock_client_new(NULL, &c), DLOCK_EINVAL);
    dlock_client_free(NULL);
}

/* ---- errors ----------------------------------------------------------- */

/* Each error word of docs/protocol.md §2 maps to its code, by the whole
 * first word only; anything else is a protocol error. */
TEST(client, error_mapping)
{
    static const struct {
        const char *msg;
        int code;
    } cases[] = {
        {"HELD by session 3", DLOCK_EHELD},
        {"HELD", DLOCK_EHELD},
        {"NOTHELD the lock is not held", DLOCK_ENOTHELD},
        {"NOSESSION unknown or expired session", DLOCK_ENOSESSION},
        {"TIMEOUT the wait ran out", DLOCK_EWAIT},
        {"LIMIT too many clients", DLOCK_ELIMIT},
        {"ERR unknown command", DLOCK_EINVAL},
        {"UPGRADE this session and owner hold the lock shared", DLOCK_EUPGRADE},
        {"KIND the name is a semaphore of 2 permits", DLOCK_EINVAL},
        {"UPGRADES", DLOCK_EPROTO},
        {"HELDX", DLOCK_EPROTO},
        {"NOPROTO sorry", DLOCK_EPROTO},
        {"WRONGTYPE x", DLOCK_EPROTO},
        {"", DLOCK_EPROTO},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_MSG(call_error_code(cases[i].msg, strlen(cases[i].msg)) ==
                      cases[i].code,
                  "\"%s\"", cases[i].msg);
}

/* Every code has a name starting with its symbol. */
TEST(client, strerror_names)
{
    static const struct {
        int code;
        const char *name;
    } cases[] = {
        {DLOCK_OK, "DLOCK_OK"},
        {DLOCK_ENOMEM, "DLOCK_ENOMEM"},
        {DLOCK_EPROTO, "DLOCK_EPROTO"},
        {DLOCK_EINVAL, "DLOCK_EINVAL"},
        {DLOCK_ELIMIT, "DLOCK_ELIMIT"},
        {DLOCK_EIO, "DLOCK_EIO"},
        {DLOCK_ETIMEDOUT, "DLOCK_ETIMEDOUT"},
        {DLOCK_EHELD, "DLOCK_EHELD"},
        {DLOCK_ENOTHELD, "DLOCK_ENOTHELD"},
        {DLOCK_ENOSESSION, "DLOCK_ENOSESSION"},
        {DLOCK_EWAIT, "DLOCK_EWAIT"},
        {DLOCK_ELOST, "DLOCK_ELOST"},
        {DLOCK_EREFUSED, "DLOCK_EREFUSED"},
        {DLOCK_EUPGRADE, "DLOCK_EUPGRADE"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *s = dlock_strerror(cases[i].code);
        CHECK_MSG(strncmp(s, cases[i].name, strlen(cases[i].name)) == 0 &&
                      s[strlen(cases[i].name)] == ':',
                  "%d: %s", cases[i].code, s);
    }
    CHECK_STR(dlock_strerror(-99), "unknown error");
}

struct msg_arg {
    struct dlock_client *c;
    char seen[256];
};

static void *other_thread(void *p)
{
    struct msg_arg *a = p;
    snprintf(a->seen, sizeof a->seen, "%s", dlock_errmsg(a->c));
    client_error(a->c, DLOCK_EIO, "the other thread's");
    return NULL;
}

/* A message belongs to the thread and the client it was set for: another
 * thread, and another client (even one at the same address after a free),
 * see "". */
TEST(client, errmsg_per_thread)
{
    struct dlock_client *c, *d;
    CHECK_EQ(dlock_client_new(NULL, &c), 0);
    CHECK_STR(dlock_errmsg(c), "");
    CHECK_EQ(client_error(c, DLOCK_EHELD, "held by %d", 3), DLOCK_EHELD);
    CHECK_STR(dlock_errmsg(c), "held by 3");
    struct msg_arg a = {.c = c};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, other_thread, &a), 0);
    pthread_join(t, NULL);
    CHECK_STR(a.seen, "");
    CHECK_STR(dlock_errmsg(c), "held by 3");
    CHECK_EQ(dlock_client_new(NULL, &d), 0);
    CHECK_STR(dlock_errmsg(d), "");
    dlock_client_free(c);
    CHECK_EQ(dlock_client_new(NULL, &c), 0);
    CHECK_STR(dlock_errmsg(c), "");
    CHECK_STR(dlock_errmsg(NULL), "");
    dlock_client_free(c);
    dlock_client_free(d);
}

/* ---- request ids ------------------------------------------------------ */

/* Ids are the prefix in 16 hex digits and a counter; they never repeat in
 * a client, differ between clients, and fit the protocol's 64 bytes. */
TEST(client, request_ids)
{
    char id[CLIENT_REQ_MAX], prev[CLIENT_REQ_MAX] = "";
    client_format_req(0xabcdefULL, 255, id);
    CHECK_STR(id, "0000000000abcdef-ff");
    client_format_req(UINT64_MAX, UINT64_MAX, id);
    CHECK_STR(id, "ffffffffffffffff-ffffffffffffffff");
    CHECK(strlen(id) <= 64);
    struct dlock_client *c, *d;
    CHECK_EQ(dlock_client_new(NULL, &c), 0);
    CHECK_EQ(dlock_client_new(NULL, &d), 0);
    CHECK(c->req_prefix != d->req_prefix);
    for (int i = 0; i < 10000; i++) {
        client_req_id(c, id);
        CHECK(strcmp(id, prev) != 0);
        CHECK_EQ(strncmp(id, prev, 17) == 0 || prev[0] == '\0', 1);
        memcpy(prev, id, sizeof id);
    }
    char other[CLIENT_REQ_MAX];
    client_req_id(d, other);
    CHECK(strncmp(id, other, 16) != 0);
    dlock_client_free(c);
    dlock_client_free(d);
}

/* The key of a write leaves its request id out, and tells other
 * arguments apart (also by where one ends). */
TEST(client, request_keys)
{
    const char *a[] = {"LOCK.ACQUIRE", "x", "3", "REQ", "id-1"};
    const char *b[] = {"LOCK.ACQUIRE", "x", "3", "REQ", "id-2"};
    const char *c[] = {"LOCK.ACQUIRE", "x3", "", "REQ", "id-1"};
    const char *d[] = {"LOCK.ACQUIRE", "y", "3", "REQ", "id-1"};
    CHECK_U64(call_key(5, a, NULL, 4), call_key(5, b, NULL, 4));
    CHECK(call_key(5, a, NULL, 4) != call_key(5, c, NULL, 4));
    CHECK(call_key(5, a, NULL, 4) != call_key(5, d, NULL, 4));
    CHECK(call_key(5, a, NULL, 9) != call_key(5, b, NULL, 9));
}

/* ---- safe-until ------------------------------------------------------- */

/* safe-until = send time + ttl - ceil(ttl * DLOCK_DRIFT_PPM / 1e6) -
 * DLOCK_SAFETY_MS; keepalives every third of the TTL. */
TEST(client, safe_until)
{
    CHECK_U64(session_safe_until(1000, 10000), 1000 + 10000 - 10 - 50);
    CHECK_U64(session_safe_until(0, 100), 100 - 1 - 50);
    CHECK_U64(session_safe_until(5, 3600000), 5 + 3600000 - 3600 - 50);
    CHECK_U64(session_safe_until(0, 1001), 1001 - 2 - 50);
    CHECK_U64(session_safe_until(7, 40), 7);
    CHECK_U64(session_interval(3000), 1000);
    CHECK_U64(session_interval(100), 33);
    /* The interval leaves room for two more keepalives before safe-until. */
    for (uint64_t ttl = 100; ttl <= 3600000; ttl = ttl * 3 / 2)
        CHECK(session_safe_until(0, ttl) > session_interval(ttl));
}

/* ---- reply parsing ---------------------------------------------------- */

/* Reads the one value in the RESP text s into r. */
static const struct resp_value *read_value(struct resp_reader *r, const char *s)
{
    const struct resp_value *v = NULL;
    resp_reader_init(r, &resp_limits_client);
    CHECK_EQ(resp_reader_feed(r, s, strlen(s)), 0);
    CHECK_EQ(resp_reader_next(r, &v), 1);
    return v;
}

#define STATUS2                                                                \
    "*18\r\n$4\r\nname\r\n$14\r\nbirthday-mails\r\n$4\r\nheld\r\n:1\r\n"       \
    "$7\r\nsession\r\n:6\r\n$5\r\nowner\r\n$8\r\nworker-3\r\n"                 \
    "$5\r\ntoken\r\n:2\r\n$5\r\nholds\r\n:1\r\n$7\r\nwaiters\r\n:4\r\n"        \
    "$13\r\nlease_left_ms\r\n:30000\r\n$13\r\ndelay_left_ms\r\n:0\r\n"

/* A LOCK.STATUS reply as a RESP2 flat map, or a RESP3 map with a boolean,
 * fills every field. */
TEST(client, parse_status)
{
    struct resp_reader r;
    struct dlock_lock_status st;
    CHECK(info_parse_status(read_value(&r, STATUS2), &st));
    CHECK_STR(st.name, "birthday-mails");
    CHECK(st.held);
    CHECK_U64(st.session, 6);
    CHECK_STR(st.owner, "worker-3");
    CHECK_U64(st.token, 2);
    CHECK_EQ(st.holds, 1);
    CHECK_EQ(st.waiters, 4);
    CHECK_U64(st.lease_left_ms, 30000);
    CHECK_U64(st.delay_left_ms, 0);
    resp_reader_close(&r);
    const char *v3 = "%9\r\n+name\r\n$1\r\nx\r\n+held\r\n#f\r\n+session\r\n:0"
                     "\r\n+owner\r\n$0\r\n\r\n+token\r\n:0\r\n+holds\r\n:0\r\n"
                     "+waiters\r\n:0\r\n+lease_left_ms\r\n:0\r\n"
                     "+delay_left_ms\r\n:250\r\n";
    CHECK(info_parse_status(read_value(&r, v3), &st));
    CHECK_STR(st.name, "x");
    CHECK(!st.held);
    CHECK_STR(st.owner, "");
    CHECK_U64(st.delay_left_ms, 250);
    resp_reader_close(&r);
}

/* Replies with a field missing, of the wrong type, too long or negative,
 * or not a map, are refused. */
TEST(client, parse_status_malformed)
{
    static const char *bad[] = {
        "*2\r\n$4\r\nname\r\n$1\r\nx\r\n",
        ":1\r\n",
        "*3\r\n$4\r\nname\r\n$1\r\nx\r\n$4\r\nheld\r\n",
        "*18\r\n$4\r\nname\r\n$1\r\nx\r\n$4\r\nheld\r\n$1\r\n1\r\n"
        "$7\r\nsession\r\n:6\r\n$5\r\nowner\r\n$1\r\nw\r\n"
        "$5\r\ntoken\r\n:2\r\n$5\r\nholds\r\n:1\r\n$7\r\nwaiters\r\n:0\r\n"
        "$13\r\nlease_left_ms\r\n:3\r\n$13\r\ndelay_left_ms\r\n:0\r\n",
        "*18\r\n$4\r\nname\r\n$1\r\nx\r\n$4\r\nheld\r\n:1\r\n"
        "$7\r\nsession\r\n:-6\r\n$5\r\nowner\r\n$1\r\nw\r\n"
        "$5\r\ntoken\r\n:2\r\n$5\r\nholds\r\n:1\r\n$7\r\nwaiters\r\n:0\r\n"
        "$13\r\nlease_left_ms\r\n:3\r\n$13\r\ndelay_left_ms\r\n:0\r\n",
        "*18\r\n$4\r\nname\r\n$1\r\nx\r\n$4\r\nheld\r\n:1\r\n"
        "$7\r\nsession\r\n:6\r\n$5\r\nowner\r\n$65\r\n"
        "12345678901234567890123456789012345678901234567890123456789012345"
        "\r\n$5\r\ntoken\r\n:2\r\n$5\r\nholds\r\n:1\r\n$7\r\nwaiters\r\n:0\r\n"
        "$13\r\nlease_left_ms\r\n:3\r\n$13\r\ndelay_left_ms\r\n:0\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct resp_reader r;
        struct dlock_lock_status st;
        CHECK_MSG(!info_parse_status(read_value(&r, bad[i]), &st),
                  "accepted case %zu", i);
        resp_reader_close(&r);
    }
}

#define STATUS_SHARED                                                          \
    "*22\r\n$4\r\nname\r\n$1\r\np\r\n$4\r\nheld\r\n:1\r\n"                     \
    "$7\r\nsession\r\n:15\r\n$5\r\nowner\r\n$0\r\n\r\n"                        \
    "$5\r\ntoken\r\n:3\r\n$5\r\nholds\r\n:1\r\n$7\r\nwaiters\r\n:1\r\n"        \
    "$13\r\nlease_left_ms\r\n:300\r\n$13\r\ndelay_left_ms\r\n:0\r\n"           \
    "$4\r\nmode\r\n$6\r\nshared\r\n$7\r\nholders\r\n:2\r\n"

/* The mode and holders of a LOCK.STATUS reply are read; a reply without
 * them (a server before shared locks) reads as exclusive when held, none
 * when free; an unknown mode or a missing holders is refused. */
TEST(client, parse_status_mode)
{
    struct resp_reader r;
    struct dlock_lock_status st;
    struct dlock_lock_mode m;
    const struct resp_value *v = read_value(&r, STATUS_SHARED);
    CHECK(info_parse_status(v, &st));
    CHECK(info_parse_mode(v, &st, &m));
    CHECK_EQ(m.mode, DLOCK_MODE_SHARED);
    CHECK_EQ(m.holders, 2);
    CHECK_U64(st.session, 15);
    resp_reader_close(&r);
    v = read_value(&r, STATUS2);
    CHECK(info_parse_status(v, &st));
    CHECK(info_parse_mode(v, &st, &m));
    CHECK_EQ(m.mode, DLOCK_MODE_EXCLUSIVE);
    CHECK_EQ(m.holders, 1);
    st.held = false;
    CHECK(info_parse_mode(v, &st, &m));
    CHECK_EQ(m.mode, DLOCK_MODE_NONE);
    CHECK_EQ(m.holders, 0);
    resp_reader_close(&r);
    v = read_value(&r, "*4\r\n$4\r\nmode\r\n$4\r\nnone\r\n"
                       "$7\r\nholders\r\n:0\r\n");
    CHECK(info_parse_mode(v, &st, &m));
    CHECK_EQ(m.mode, DLOCK_MODE_NONE);
    resp_reader_close(&r);
    v = read_value(&r, "*4\r\n$4\r\nmode\r\n$5\r\nwrite\r\n"
                       "$7\r\nholders\r\n:1\r\n");
    CHECK(!info_parse_mode(v, &st, &m));
    resp_reader_close(&r);
    v = read_value(&r, "*2\r\n$4\r\nmode\r\n$9\r\nexclusive\r\n");
    CHECK(!info_parse_mode(v, &st, &m));
    resp_reader_close(&r);
}

#define HOLDER(session, owner_len, owner)                                      \
    "*12\r\n$7\r\nsession\r\n:" session "\r\n$5\r\nowner\r\n$" owner_len       \
    "\r\n" owner "\r\n$5\r\ntoken\r\n:5\r\n$9\r\nexclusive\r\n:1\r\n"          \
    "$6\r\nshared\r\n:2\r\n$13\r\nlease_left_ms\r\n:999\r\n"

/* A LOCK.HOLDERS entry fills a holder; one with session 0, an owner too
 * long or a field missing is refused. */
TEST(client, parse_holder)
{
    struct resp_reader r;
    struct dlock_holder h;
    CHECK(info_parse_holder(read_value(&r, HOLDER("17", "2", "w1")), &h));
    CHECK_U64(h.session, 17);
    CHECK_STR(h.owner, "w1");
    CHECK_U64(h.token, 5);
    CHECK_EQ(h.exclusive, 1);
    CHECK_EQ(h.shared, 2);
    CHECK_U64(h.lease_left_ms, 999);
    resp_reader_close(&r);
    static const char *bad[] = {
        HOLDER("0", "2", "w1"),
        HOLDER("3", "65",
               "123456789012345678901234567890123456789012345678901234567890123"
               "45"),
        "*4\r\n$7\r\nsession\r\n:3\r\n$5\r\nowner\r\n$1\r\nx\r\n",
        ":1\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_MSG(!info_parse_holder(read_value(&r, bad[i]), &h),
                  "accepted case %zu", i);
        resp_reader_close(&r);
    }
}

#define SEMSTATUS(permits)                                                     \
    "%8\r\n+name\r\n$5\r\nslots\r\n+permits\r\n:" permits "\r\n"               \
    "+used\r\n:2\r\n+expired\r\n:1\r\n+available\r\n:5\r\n"                    \
    "+holders\r\n:2\r\n+waiters\r\n:3\r\n+delay_left_ms\r\n:700\r\n"

/* A SEM.STATUS map fills every field of a semaphore's status; a permits
 * field that is negative or missing is refused. */
TEST(client, parse_sem_status)
{
    struct resp_reader r;
    struct dlock_sem_status st;
    CHECK(info_parse_sem_status(read_value(&r, SEMSTATUS("8")), &st));
    CHECK_STR(st.name, "slots");
    CHECK_EQ(st.permits, 8);
    CHECK_EQ(st.used, 2);
    CHECK_EQ(st.expired, 1);
    CHECK_EQ(st.available, 5);
    CHECK_EQ(st.holders, 2);
    CHECK_EQ(st.waiters, 3);
    CHECK_U64(st.delay_left_ms, 700);
    resp_reader_close(&r);
    CHECK(!info_parse_sem_status(read_value(&r, SEMSTATUS("-1")), &st));
    resp_reader_close(&r);
    CHECK(!info_parse_sem_status(
        read_value(&r, "*4\r\n$4\r\nname\r\n$1\r\nx\r\n$4\r\nused\r\n:1\r\n"),
        &st));
    resp_reader_close(&r);
}

#define LEADER(value_len, value)                                               \
    "*14\r\n$4\r\nname\r\n$2\r\ndb\r\n$6\r\nleader\r\n:35\r\n"                 \
    "$5\r\nowner\r\n$2\r\nw1\r\n$5\r\ntoken\r\n:9\r\n$5\r\nvalue\r\n"          \
    "$" value_len "\r\n" value "\r\n$10\r\ncandidates\r\n:2\r\n"               \
    "$13\r\nlease_left_ms\r\n:1234\r\n"

/* An ELECT.LEADER map fills the leader's session, owner, token, value (its
 * length kept, NUL bytes and all), candidates and lease; a value longer
 * than DLOCK_VALUE_MAX, or a map without the value, is refused. */
TEST(client, parse_leader)
{
    struct resp_reader r;
    struct dlock_leader_info li;
    CHECK(
        info_parse_leader(read_value(&r, LEADER("13", "10.0.0.1:5432")), &li));
    CHECK_STR(li.name, "db");
    CHECK_U64(li.leader, 35);
    CHECK_STR(li.owner, "w1");
    CHECK_U64(li.token, 9);
    CHECK_STR(li.value, "10.0.0.1:5432");
    CHECK_EQ(li.value_len, 13);
    CHECK_EQ(li.candidates, 2);
    CHECK_U64(li.lease_left_ms, 1234);
    resp_reader_close(&r);
    /* A value with a NUL byte: the reader is fed its exact bytes. */
    static const char nul[] = LEADER("3", "a\0b");
    const struct resp_value *v = NULL;
    resp_reader_init(&r, &resp_limits_client);
    CHECK_EQ(resp_reader_feed(&r, nul, sizeof nul - 1), 0);
    CHECK_EQ(resp_reader_next(&r, &v), 1);
    CHECK(info_parse_leader(v, &li));
    CHECK_EQ(li.value_len, 3);
    CHECK(memcmp(li.value, "a\0b", 4) == 0);
    resp_reader_close(&r);
    char big[4096];
    char val[DLOCK_VALUE_MAX + 2];
    memset(val, 'v', sizeof val - 1);
    val[sizeof val - 1] = '\0';
    snprintf(big, sizeof big,
             "*14\r\n$4\r\nname\r\n$2\r\ndb\r\n$6\r\nleader\r\n:35\r\n"
             "$5\r\nowner\r\n$0\r\n\r\n$5\r\ntoken\r\n:9\r\n$5\r\nvalue\r\n"
             "$%zu\r\n%s\r\n$10\r\ncandidates\r\n:0\r\n"
             "$13\r\nlease_left_ms\r\n:1\r\n",
             strlen(val), val);
    CHECK(!info_parse_leader(read_value(&r, big), &li));
    resp_reader_close(&r);
    val[DLOCK_VALUE_MAX] = '\0';
    snprintf(big, sizeof big,
             "*14\r\n$4\r\nname\r\n$2\r\ndb\r\n$6\r\nleader\r\n:35\r\n"
             "$5\r\nowner\r\n$0\r\n\r\n$5\r\ntoken\r\n:9\r\n$5\r\nvalue\r\n"
             "$%zu\r\n%s\r\n$10\r\ncandidates\r\n:0\r\n"
             "$13\r\nlease_left_ms\r\n:1\r\n",
             strlen(val), val);
    CHECK(info_parse_leader(read_value(&r, big), &li));
    CHECK_EQ(li.value_len, DLOCK_VALUE_MAX);
    resp_reader_close(&r);
    CHECK(!info_parse_leader(
        read_value(&r, "*4\r\n$4\r\nname\r\n$1\r\nx\r\n$6\r\nleader\r\n:0\r\n"),
        &li));
    resp_reader_close(&r);
}

/* The key of a write whose lengths are given covers NUL bytes inside an
 * argument and tells where each argument ends. */
TEST(client, request_keys_with_lengths)
{
    const char *a[] = {"ELECT.PROCLAIM", "a\0b", "REQ", "id-1"};
    const char *b[] = {"ELECT.PROCLAIM", "a\0c", "REQ", "id-2"};
    size_t la[] = {14, 3, 3, 4}, lb[] = {14, 3, 3, 4}, lc[] = {14, 1, 3, 4};
    CHECK(call_key(4, a, la, 3) != call_key(4, b, lb, 3));
    CHECK(call_key(4, a, la, 3) != call_key(4, a, lc, 3));
    CHECK_U64(call_key(4, a, la, 3), call_key(4, a, la, 3));
}

static struct dlock_holder holder(uint64_t session, const char *owner)
{
    struct dlock_holder h = {.session = session};
    snprintf(h.owner, sizeof h.owner, "%s", owner);
    return h;
}

/* Paging LOCK.HOLDERS FROM a session: a page that ends inside a session
 * is read on from that session, and what was read of it is not taken
 * twice; a page that repeats only the last session goes on after it
 * (whose owners may fill a page); an empty page ends the list; max bounds
 * the whole and each COUNT. */
TEST(client, holders_paging)
{
    struct dlock_holder a[16];
    struct info_holders hs = {.a = a};
    CHECK_U64(info_holders_count(&hs, 100), 100);
    struct dlock_holder p1[] = {holder(3, "a"), holder(5, "a"), holder(5, "b")};
    CHECK(info_holders_merge(&hs, p1, 3, 100));
    CHECK_EQ(hs.n, 3);
    CHECK_U64(hs.from, 5);
    /* Room for the 2 of session 5 that come again. */
    CHECK_U64(info_holders_count(&hs, 100), 99);
    struct dlock_holder p2[] = {holder(5, "a"), holder(5, "b"), holder(5, "c"),
                                holder(9, "")};
    CHECK(info_holders_merge(&hs, p2, 4, 100));
    CHECK_EQ(hs.n, 5);
    CHECK_STR(hs.a[3].owner, "c");
    CHECK_U64(hs.a[4].session, 9);
    CHECK_U64(hs.from, 9);
    struct dlock_holder p3[] = {holder(9, "")};
    CHECK(info_holders_merge(&hs, p3, 1, 100));
    CHECK_EQ(hs.n, 5);
    CHECK_U64(hs.from, 10);
    CHECK(!info_holders_merge(&hs, NULL, 0, 100));
    CHECK_EQ(hs.n, 5);
    /* An empty page ends it. */
    struct info_holders empty = {.a = a};
    CHECK(!info_holders_merge(&empty, NULL, 0, 100));
    CHECK_EQ(empty.n, 0);
    /* Session 4's owners fill a page: the next page repeats what was read
     * of it, and the list goes on from session 5. */
    struct info_holders big = {.a = a};
    struct dlock_holder q1[] = {holder(2, "x"), holder(4, "a"), holder(4, "b")};
    CHECK(info_holders_merge(&big, q1, 3, 100));
    struct dlock_holder q2[] = {holder(4, "a"), holder(4, "b"), holder(4, "c")};
    CHECK(info_holders_merge(&big, q2, 3, 100));
    CHECK_EQ(big.n, 4);
    CHECK_U64(big.from, 4);
    CHECK(info_holders_merge(&big, q2, 3, 100));
    CHECK_EQ(big.n, 4);
    CHECK_U64(big.from, 5);
    struct dlock_holder q4[] = {holder(6, "y")};
    CHECK(info_holders_merge(&big, q4, 1, 100));
    CHECK_EQ(big.n, 5);
    /* max: no more than asked for, and no page after. */
    struct info_holders two = {.a = a};
    CHECK(!info_holders_merge(&two, p2, 4, 2));
    CHECK_EQ(two.n, 2);
}

/* A CLUSTER.INFO reply fills the cluster and each member; a null leader
 * address reads as "". */
TEST(client, parse_cluster)
{
    const char *s =
        "*20\r\n$2\r\nid\r\n:2\r\n$4\r\nrole\r\n$8\r\nfollower\r\n"
        "$6\r\nleader\r\n:0\r\n$11\r\nleader_addr\r\n$-1\r\n"
        "$4\r\nterm\r\n:7\r\n$12\r\ncommit_index\r\n:10\r\n"
        "$13\r\napplied_index\r\n:9\r\n$10\r\nlast_index\r\n:11\r\n"
        "$14\r\nsnapshot_index\r\n:0\r\n$7\r\nmembers\r\n*2\r\n"
        "*10\r\n$2\r\nid\r\n:1\r\n$4\r\nrole\r\n$5\r\nvoter\r\n"
        "$9\r\nraft_addr\r\n$11\r\n1.2.3.4:100\r\n$11\r\nclient_addr\r\n"
        "$0\r\n\r\n$11\r\nmatch_index\r\n:11\r\n"
        "*10\r\n$2\r\nid\r\n:2\r\n$4\r\nrole\r\n$7\r\nlearner\r\n"
        "$9\r\nraft_addr\r\n$3\r\nb:1\r\n$11\r\nclient_addr\r\n"
        "$3\r\nb:2\r\n$11\r\nmatch_index\r\n:0\r\n";
    struct resp_reader r;
    struct dlock_cluster_info ci;
    CHECK(info_parse_cluster(read_value(&r, s), &ci));
    CHECK_U64(ci.id, 2);
    CHECK_STR(ci.role, "follower");
    CHECK_U64(ci.leader, 0);
    CHECK_STR(ci.leader_addr, "");
    CHECK_U64(ci.term, 7);
    CHECK_U64(ci.commit_index, 10);
    CHECK_U64(ci.applied_index, 9);
    CHECK_U64(ci.last_index, 11);
    CHECK_EQ(ci.n_members, 2);
    CHECK(ci.members[0].voter && !ci.members[1].voter);
    CHECK_STR(ci.members[0].raft_addr, "1.2.3.4:100");
    CHECK_STR(ci.members[0].client_addr, "");
    CHECK_STR(ci.members[1].client_addr, "b:2");
    CHECK_U64(ci.members[0].match_index, 11);
    resp_reader_close(&r);
}

/* ---- the request loop against fake servers ---------------------------- */

/* A fake server: answers each request (on any connection) with the next
 * of its replies (the last one again when they run out); "" means: close the
 * connection without answering; "." means: never answer. */
struct fake {
    int fd, port;
    const char *replies[8];
    int n_replies;
    atomic_int requests;
    pthread_t thread;
};

static void fake_serve(struct fake *f, int cfd)
{
    struct resp_reader r;
    resp_reader_init(&r, &resp_limits_server);
    char chunk[4096];
    ssize_t n;
    while ((n = recv(cfd, chunk, sizeof chunk, 0)) > 0) {
        CHECK_EQ(resp_reader_feed(&r, chunk, (size_t)n), 0);
        const struct resp_value *v;
        while (resp_reader_next(&r, &v) == 1) {
            int i = atomic_fetch_add(&f->requests, 1);
            const char *rep =
                f->replies[i < f->n_replies ? i : f->n_replies - 1];
            if (rep[0] == '\0')
                goto out;
            if (rep[0] == '~') { /* "~MS reply": answers MS ms late */
                char *end;
                long ms = strtol(rep + 1, &end, 10);
                usleep((useconds_t)ms * 1000);
                rep = end + 1;
            }
            if (rep[0] != '.' && send(cfd, rep, strlen(rep), MSG_NOSIGNAL) < 0)
                goto out;
        }
    }
out:
    resp_reader_close(&r);
    close(cfd);
}

struct fake_conn {
    struct fake *f;
    int fd;
};

static void *fake_conn_run(void *p)
{
    struct fake_conn fc = *(struct fake_conn *)p;
    free(p);
    fake_serve(fc.f, fc.fd);
    return NULL;
}

/* Serves each connection on a thread of its own. */
static void *fake_run(void *p)
{
    struct fake *f = p;
    int cfd;
    while ((cfd = accept(f->fd, NULL, NULL)) >= 0) {
        struct fake_conn *fc = malloc(sizeof *fc);
        CHECK(fc != NULL);
        *fc = (struct fake_conn){f, cfd};
        pthread_t t;
        CHECK_EQ(pthread_create(&t, NULL, fake_conn_run, fc), 0);
        pthread_detach(t);
    }
    return NULL;
}

static void fake_start(struct fake *f)
{
    f->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    CHECK(bind(f->fd, (struct sockaddr *)&a, sizeof a) == 0);
    CHECK(listen(f->fd, 16) == 0);
    CHECK(getsockname(f->fd, (struct sockaddr *)&a, &len) == 0);
    f->port = ntohs(a.sin_port);
    CHECK_EQ(pthread_create(&f->thread, NULL, fake_run, f), 0);
}

static struct dlock_client *fake_client(const char *servers, uint64_t timeout)
{
    struct dlock_options o;
    dlock_options_init(&o);
    o.servers = servers;
    o.timeout_ms = timeout;
    struct dlock_client *c;
    CHECK_EQ(dlock_client_new(&o, &c), 0);
    return c;
}

/* Starts fake f and makes a client of it alone. */
static struct dlock_client *fake_started(struct fake *f, uint64_t timeout)
{
    char list[64];
    fake_start(f);
    snprintf(list, sizeof list, "127.0.0.1:%d", f->port);
    return fake_client(list, timeout);
}

static int ping(struct dlock_client *c, int64_t *v)
{
    const char *argv[] = {"PING"};
    struct call k;
    call_init(&k, c, 1, argv, 0);
    return call_integer(c, &k, v);
}

/* A follower's LEADER redirect is followed to the leader, which answers;
 * the client then goes to the leader first. */
TEST(client, follows_redirect)
{
    static struct fake leader = {.replies = {":7\r\n"}, .n_replies = 1};
    static struct fake follower;
    fake_start(&leader);
    static char redirect[64];
    snprintf(redirect, sizeof redirect, "-LEADER 127.0.0.1:%d\r\n",
             leader.port);
    follower.replies[0] = redirect;
    follower.n_replies = 1;
    fake_start(&follower);
    char list[64];
    snprintf(list, sizeof list, "127.0.0.1:%d", follower.port);
    struct dlock_client *c = fake_client(list, 2000);
    int64_t v = 0;
    CHECK_EQ(ping(c, &v), 0);
    CHECK_EQ(v, 7);
    CHECK_EQ(atomic_load(&follower.requests), 1);
    CHECK_EQ(ping(c, &v), 0);
    CHECK_EQ(atomic_load(&follower.requests), 1);
    CHECK_EQ(atomic_load(&leader.requests), 2);
    dlock_client_free(c);
}

/* NOLEADER and a closed connection are retried after a pause, on the next
 * server, until one answers. */
TEST(client, retries_noleader_and_closed)
{
    static struct fake a = {
        .replies = {"-NOLEADER no leader\r\n", "", ":5\r\n"}, .n_replies = 3};
    fake_start(&a);
    char list[64];
    snprintf(list, sizeof list, "127.0.0.1:%d", a.port);
    struct dlock_client *c = fake_client(list, 3000);
    int64_t v = 0;
    uint64_t t0 = dlock_now_ms();
    CHECK_EQ(ping(c, &v), 0);
    CHECK_EQ(v, 5);
    CHECK_EQ(atomic_load(&a.requests), 3);
    /* Two pauses: 50 and 100 ms. */
    CHECK(dlock_now_ms() - t0 >= 150);
    dlock_client_free(c);
}

/* Server errors come back as their codes with the server's message, and
 * the connection is used again. */
TEST(client, error_replies)
{
    static struct fake a = {.replies = {"-HELD by session 3\r\n",
                                        "-ERR bad\r\n", "-WHAT\r\n", ":1\r\n"},
                            .n_replies = 4};
    fake_start(&a);
    char list[64];
    snprintf(list, sizeof list, "127.0.0.1:%d", a.port);
    struct dlock_client *c = fake_client(list, 2000);
    int64_t v;
    CHECK_EQ(ping(c, &v), DLOCK_EHELD);
    CHECK_STR(dlock_errmsg(c), "HELD by session 3");
    CHECK_EQ(ping(c, &v), DLOCK_EINVAL);
    CHECK_EQ(ping(c, &v), DLOCK_EPROTO);
    CHECK_EQ(ping(c, &v), 0);
    CHECK_EQ(atomic_load(&a.requests), 4);
    dlock_client_free(c);
}

/* No server listening at any address of a client that has never reached
 * one: DLOCK_EREFUSED at once, naming every address; a server that never
 * answers: DLOCK_ETIMEDOUT once the timeout has passed. */
TEST(client, refused_at_once_and_silent)
{
    char list[64];
    int p1 = ct_free_port(), p2 = ct_free_port();
    snprintf(list, sizeof list, "127.0.0.1:%d,127.0.0.1:%d", p1, p2);
    struct dlock_client *c = fake_client(list, 5000);
    int64_t v;
    uint64_t t0 = dlock_now_ms();
    CHECK_EQ(ping(c, &v), DLOCK_EREFUSED);
    uint64_t took = dlock_now_ms() - t0;
    CHECK_MSG(took < 1000, "took %llu ms", (unsigned long long)took);
    char a1[32], a2[32];
    snprintf(a1, sizeof a1, "127.0.0.1:%d", p1);
    snprintf(a2, sizeof a2, "127.0.0.1:%d", p2);
    CHECK_MSG(strstr(dlock_errmsg(c), a1) != NULL &&
                  strstr(dlock_errmsg(c), a2) != NULL &&
                  strstr(dlock_errmsg(c), "refused the connection") != NULL,
              "%s", dlock_errmsg(c));
    dlock_client_free(c);
    static struct fake a = {.replies = {"."}, .n_replies = 1};
    c = fake_started(&a, 500);
    t0 = dlock_now_ms();
    CHECK_EQ(ping(c, &v), DLOCK_ETIMEDOUT);
    CHECK(dlock_now_ms() - t0 >= 500);
    dlock_client_free(c);
}

/* Once a server has answered the client, a refused connection is retried
 * until the timeout (the server may be restarting, a leader changing):
 * DLOCK_EIO then, saying that the connection was refused. */
TEST(client, refused_after_an_answer_is_retried)
{
    static struct fake a = {.replies = {":1\r\n"}, .n_replies = 1};
    struct dlock_client *c = fake_started(&a, 600);
    int64_t v;
    CHECK_EQ(ping(c, &v), 0);
    /* The server goes away: its listener is closed, and so is the
     * client's idle connection. */
    shutdown(a.fd, SHUT_RDWR);
    close(a.fd);
    pthread_join(a.thread, NULL);
    for (size_t i = 0; i < c->n_pool; i++)
        conn_free(c->pool[i]);
    c->n_pool = 0;
    uint64_t t0 = dlock_now_ms();
    CHECK_EQ(ping(c, &v), DLOCK_EIO);
    uint64_t took = dlock_now_ms() - t0;
    CHECK_MSG(took >= 600 && took < 2000, "took %llu ms",
              (unsigned long long)took);
    CHECK_MSG(strstr(dlock_errmsg(c), "no server could be reached") != NULL &&
                  strstr(dlock_errmsg(c), "refused") != NULL,
              "%s", dlock_errmsg(c));
    dlock_client_free(c);
}

/* A call waits in one recv() bounded by a slice of its time (1 s at most):
 * an answer that comes after several slices is read, and a server that
 * never answers makes the call time out on time, not a slice late. */
TEST(client, waits_across_slices_and_times_out_on_time)
{
    static struct fake slow = {.replies = {"~1600 :9\r\n"}, .n_replies = 1};
    fake_start(&slow);
    char list[64];
    snprintf(list, sizeof list, "127.0.0.1:%d", slow.port);
    struct dlock_client *c = fake_client(list, 6000); /* 2 s a try */
    int64_t v = 0;
    uint64_t t0 = dlock_now_ms();
    CHECK_EQ(ping(c, &v), 0);
    CHECK_EQ(v, 9);
    CHECK(dlock_now_ms() - t0 >= 1600);
    dlock_client_free(c);
    static struct fake silent = {.replies = {"."}, .n_replies = 1};
    fake_start(&silent);
    snprintf(list, sizeof list, "127.0.0.1:%d", silent.port);
    uint64_t timeouts[] = {250, 1200};
    for (size_t i = 0; i < 2; i++) {
        c = fake_client(list, timeouts[i]);
        t0 = dlock_now_ms();
        CHECK_EQ(ping(c, &v), DLOCK_ETIMEDOUT);
        uint64_t took = dlock_now_ms() - t0;
        CHECK_MSG(took >= timeouts[i] && took < timeouts[i] + 400,
                  "timeout %llu ms took %llu ms",
                  (unsigned long long)timeouts[i], (unsigned long long)took);
        /* The same connection again: its socket timeout is kept or
         * shortened, never left longer than what is left. */
        t0 = dlock_now_ms();
        CHECK_EQ(ping(c, &v), DLOCK_ETIMEDOUT);
        took = dlock_now_ms() - t0;
        CHECK_MSG(took >= timeouts[i] && took < timeouts[i] + 400,
                  "again: timeout %llu ms took %llu ms",
                  (unsigned long long)timeouts[i], (unsigned long long)took);
        dlock_client_free(c);
    }
}

/* A write retried by the caller after DLOCK_ETIMEDOUT carries the request
 * id of the first try; a write after a definite answer gets a new one. */
TEST(client, retry_reuses_request_id)
{
    static struct fake a = {.replies = {"."}, .n_replies = 1};
    struct dlock_client *c = fake_started(&a, 300);
    char req1[CLIENT_REQ_MAX], req2[CLIENT_REQ_MAX], req3[CLIENT_REQ_MAX];
    const char *argv1[] = {"LOCK.RELEASE", "x", "TOKEN", "1", "REQ", req1};
    const char *argv2[] = {"LOCK.RELEASE", "x", "TOKEN", "1", "REQ", req2};
    const char *argv3[] = {"LOCK.RELEASE", "y", "TOKEN", "1", "REQ", req3};
    struct call k;
    int64_t v;
    call_init(&k, c, 6, argv1, 0);
    call_write(&k, req1, 5);
    CHECK_EQ(call_integer(c, &k, &v), DLOCK_ETIMEDOUT);
    call_init(&k, c, 6, argv3, 0);
    call_write(&k, req3, 5);
    CHECK_EQ(call_integer(c, &k, &v), DLOCK_ETIMEDOUT);
    CHECK(strcmp(req1, req3) != 0);
    call_init(&k, c, 6, argv2, 0);
    call_write(&k, req2, 5);
    CHECK_EQ(call_integer(c, &k, &v), DLOCK_ETIMEDOUT);
    CHECK_STR(req1, req2);
    dlock_client_free(c);
}

/* The keepalives of a NO_THREAD session follow a LEADER redirect to the
 * leader, which keeps the session alive. The follower is sent
 * SESSION.OPEN, then on the keeper's connection HELLO 3 and the session's
 * watch (both answered with the redirect, which the keeper takes as a
 * server without watches), and one keepalive, redirected. */
TEST(client, keepalive_follows_redirect)
{
    static struct fake leader = {.replies = {":300\r\n"}, .n_replies = 1};
    static struct fake follower;
    fake_start(&leader);
    static char redirect[64];
    snprintf(redirect, sizeof redirect, "-LEADER 127.0.0.1:%d\r\n",
             leader.port);
    follower.replies[0] = ":3\r\n"; /* SESSION.OPEN */
    follower.replies[1] = redirect;
    follower.n_replies = 2;
    fake_start(&follower);
    char list[64];
    snprintf(list, sizeof list, "127.0.0.1:%d", follower.port);
    struct dlock_client *c = fake_client(list, 2000);
    struct dlock_session *s;
    CHECK_EQ(dlock_session_open(c, 300, DLOCK_SESSION_NO_THREAD, &s), 0);
    CHECK_U64(dlock_session_id(s), 3);
    uint64_t end = dlock_now_ms() + 1000;
    for (uint64_t now; (now = dlock_now_ms()) < end;) {
        uint64_t dl = dlock_client_deadline(c);
        struct pollfd p = {.fd = dlock_client_fd(c),
                           .events = dlock_client_events(c)};
        uint64_t until = dl < end ? dl : end;
        poll(&p, p.fd >= 0 ? 1 : 0, until > now ? (int)(until - now) : 0);
        CHECK_EQ(dlock_client_process(c), 0);
    }
    CHECK(!dlock_session_lost(s));
    CHECK(atomic_load(&leader.requests) >= 3);
    CHECK_EQ(atomic_load(&follower.requests), 4);
    dlock_client_free(c);
}
