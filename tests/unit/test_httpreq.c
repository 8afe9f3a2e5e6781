/* test_httpreq.c - the HTTP request head reader (src/common/httpreq.c):
 * request lines, fields, keep-alive by version, pipelined requests, and
 * what is refused with which status. */
#include "harness.h"

#include "common/httpreq.h"

static struct httpreq r;

static int feed(const char *s, size_t *used)
{
    httpreq_init(&r);
    return httpreq_feed(&r, s, strlen(s), used);
}

/* A GET: method, path, query, Authorization; HTTP/1.1 keeps alive. */
TEST(httpreq, get)
{
    size_t used;
    const char *req = "GET /status.json?x=1 HTTP/1.1\r\nHost: a:1\r\n"
                      "authorization:  Basic YTpi \r\n\r\n";
    CHECK_EQ(feed(req, &used), HTTPREQ_DONE);
    CHECK_U64(used, strlen(req));
    CHECK_STR(r.method, "GET");
    CHECK_STR(r.path, "/status.json");
    CHECK_STR(r.query, "x=1");
    CHECK_STR(r.authorization, "Basic YTpi");
    CHECK_STR(r.host, "a:1");
    CHECK(r.keep_alive && !r.head_only);
}

/* Keep-alive: 1.1 unless Connection: close; 1.0 only with keep-alive. */
TEST(httpreq, keep_alive)
{
    size_t used;
    CHECK_EQ(feed("GET / HTTP/1.1\r\nConnection: foo, Close\r\n\r\n", &used),
             HTTPREQ_DONE);
    CHECK(!r.keep_alive);
    CHECK_EQ(feed("HEAD / HTTP/1.0\r\n\r\n", &used), HTTPREQ_DONE);
    CHECK(!r.keep_alive && r.head_only);
    CHECK_EQ(feed("GET / HTTP/1.0\nConnection: keep-alive\n\n", &used),
             HTTPREQ_DONE);
    CHECK(r.keep_alive);
}

/* Two requests in one read: the first's bytes are used, the second reads
 * after httpreq_init; bytes split anywhere give the same. */
TEST(httpreq, pipelined_and_split)
{
    const char *two = "\r\nGET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
    size_t used;
    CHECK_EQ(feed(two, &used), HTTPREQ_DONE);
    CHECK_STR(r.path, "/a");
    httpreq_init(&r);
    size_t rest;
    CHECK_EQ(httpreq_feed(&r, two + used, strlen(two) - used, &rest),
             HTTPREQ_DONE);
    CHECK_STR(r.path, "/b");
    for (size_t k = 1; k < strlen(two); k++) {
        httpreq_init(&r);
        int rc = httpreq_feed(&r, two, k, &used);
        if (rc == HTTPREQ_MORE) {
            CHECK_U64(used, k);
            rc = httpreq_feed(&r, two + k, strlen(two) - k, &used);
        }
        CHECK_EQ(rc, HTTPREQ_DONE);
        CHECK_STR(r.path, "/a");
    }
}

/* Refusals: malformed lines and fields 400, bodies 413, a head too long
 * 431, other versions 505; a NUL byte 400. */
TEST(httpreq, refusals)
{
    struct {
        const char *req;
        int status;
    } cases[] = {
        {"GET\r\n\r\n", 400},
        {"GET /\r\n\r\n", 400},
        {"GET x HTTP/1.1\r\n\r\n", 400},
        {"G(T / HTTP/1.1\r\n\r\n", 400},
        {"GET / FTP/1.1\r\n\r\n", 400},
        {"GET / HTTP/2.0\r\n\r\n", 505},
        {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\n: v\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n", 413},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 413},
    };
    size_t used;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_MSG(feed(cases[i].req, &used) == cases[i].status, "case %zu", i);
    CHECK_EQ(feed("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &used),
             HTTPREQ_DONE);
    httpreq_init(&r);
    CHECK_EQ(httpreq_feed(&r, "GET /\0", 6, &used), 400);
    static char big[HTTPREQ_HEAD_MAX + 64];
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    memset(big + 19, 'a', sizeof big - 19);
    httpreq_init(&r);
    CHECK_EQ(httpreq_feed(&r, big, sizeof big, &used), 431);
}
