/* test_resp.c - the RESP reader (src/common/resp.c): every type, streams
 * split at every byte, malformed input, limits, inline commands, failing
 * allocations, and a timing print. The writers are tested in
 * test_resp_write.c. */
#include "harness.h"

#include <time.h>

#include "common/error.h"
#include "common/resp.h"
#include "fail_alloc.h"
#include "resp_util.h"

static struct text got, want;

/* Checks that reading the C string s with lim gives the dump exp, fed whole
 * and fed byte by byte. */
static void expect(const struct resp_limits *lim, const char *s,
                   const char *exp)
{
    size_t n = strlen(s);
    read_chunked(lim, s, n, NULL, 0, &got);
    CHECK_MSG(strcmp(text_str(&got), exp) == 0, "whole: %s\n    want %s",
              text_str(&got), exp);
    read_bytewise(lim, s, n, &got);
    CHECK_MSG(strcmp(text_str(&got), exp) == 0, "bytewise: %s\n    want %s",
              text_str(&got), exp);
}

/* expect() for input that must fail: the dump ends with "E" and msg. */
static void expect_error(const struct resp_limits *lim, const char *s,
                         const char *msg)
{
    char exp[256];
    snprintf(exp, sizeof exp, "EProtocol error: %s", msg);
    expect(lim, s, exp);
}

/* ---- Every type ---- */

/* Each kind of RESP2 and RESP3 value reads as its type with its fields, as
 * the spec's examples write them. */
TEST(resp, reads_every_type)
{
    const struct resp_limits *c = &resp_limits_client;
    expect(c, "+OK\r\n", "+2:OK;.");
    expect(c, "-ERR unknown command 'x'\r\n", "-23:ERR unknown command 'x';.");
    expect(c, ":0\r\n:-42\r\n:+7\r\n", ":0;:-42;:7;.");
    expect(c, ":9223372036854775807\r\n:-9223372036854775808\r\n",
           ":9223372036854775807;:-9223372036854775808;.");
    expect(c, "$5\r\nhello\r\n$0\r\n\r\n", "$5:hello;$0:;.");
    expect(c, "$4\r\na\r\nb\r\n", "$4:a\r\nb;.");
    expect(c, "$-1\r\n*-1\r\n_\r\n", "_;_;_;.");
    expect(c, "*0\r\n*2\r\n:1\r\n$1\r\nx\r\n", "*0[];*2[:1;$1:x;];.");
    expect(c, ",1.5\r\n,-0.25\r\n,10\r\n,1e3\r\n,2.5E-1\r\n,-0\r\n",
           ",1.5;,-0.25;,10;,1000;,0.25;,-0;.");
    expect(c, ",inf\r\n,-inf\r\n,+inf\r\n,nan\r\n", ",inf;,-inf;,inf;,nan;.");
    expect(c, "#t\r\n#f\r\n", "#1;#0;.");
    expect(c, "(3492890328409238509324850943850943825024385\r\n(-1\r\n",
           "(43:3492890328409238509324850943850943825024385;(2:-1;.");
    expect(c, "!21\r\nSYNTAX invalid syntax\r\n",
           "!21:SYNTAX invalid syntax;.");
    expect(c, "=15\r\ntxt:Some string\r\n", "=15:txt:Some string;.");
    expect(c, "%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n",
           "%4[+5:first;:1;+6:second;:2;];.");
    expect(c, "~3\r\n:1\r\n#f\r\n_\r\n", "~3[:1;#0;_;];.");
    expect(c, ">2\r\n+message\r\n$2\r\nhi\r\n", ">2[+7:message;$2:hi;];.");
}

/* An attribute is parsed and dropped, whether it decorates a top-level
 * value or an element, and may hold aggregates of its own. */
TEST(resp, attributes_are_skipped)
{
    const struct resp_limits *c = &resp_limits_client;
    expect(c,
           "|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n"
           ",0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n",
           "*2[:2039123;:9543892;];.");
    expect(c, "*3\r\n:1\r\n|1\r\n+ttl\r\n:3600\r\n:2\r\n|0\r\n:3\r\n",
           "*3[:1;:2;:3;];.");
    expect(c, "|0\r\n|1\r\n:1\r\n*1\r\n_\r\n+after\r\n", "+5:after;.");
    expect(c, "*1\r\n|1\r\n*1\r\n*0\r\n%0\r\n*0\r\n", "*1[*0[];];.");
}

/* Complete values come out one per call before more is fed, strings are
 * NUL-terminated in place, and an incomplete value waits for its bytes. */
/* A buffer that grew for a large request is given back once the request is
 * consumed: freed when nothing follows it, cut down when a small part of
 * the next request does (dlockd holds thousands of readers). */
TEST(resp, large_value_memory_given_back)
{
    static char big[600 * 1024];
    size_t body = sizeof big - 64;
    int head = snprintf(big, 64, "*1\r\n$%zu\r\n", body);
    memset(big + head, 'x', body);
    memcpy(big + head + body, "\r\n*1\r\n$4\r\nPI", 12);
    size_t n = (size_t)head + body + 12;
    struct resp_reader r;
    const struct resp_value *v;
    resp_reader_init(&r, &resp_limits_server);
    CHECK_EQ(resp_reader_feed(&r, big, n - 12), 0); /* all but its CRLF */
    CHECK_EQ(resp_reader_next(&r, &v), 0);
    CHECK(resp_reader_pending(&r) == n - 12);
    CHECK(resp_reader_memory(&r) >= n - 12);
    CHECK_EQ(resp_reader_feed(&r, big + n - 12, 12), 0);
    CHECK_EQ(resp_reader_next(&r, &v), 1);
    CHECK(v->elems[0].len == body);
    CHECK_EQ(resp_reader_next(&r, &v), 0);
    CHECK(resp_reader_pending(&r) == 10);
    CHECK_MSG(resp_reader_memory(&r) < 64 * 1024, "%zu bytes held",
              resp_reader_memory(&r));
    CHECK_EQ(resp_reader_feed(&r, "NG\r\n", 4), 0);
    CHECK_EQ(resp_reader_next(&r, &v), 1);
    CHECK_STR(v->elems[0].str, "PING");
    CHECK_EQ(resp_reader_next(&r, &v), 0);
    CHECK(resp_reader_pending(&r) == 0);
    /* Fed again and consumed whole: nothing big is kept. */
    CHECK_EQ(resp_reader_feed(&r, big, (size_t)head + body + 2), 0);
    CHECK_EQ(resp_reader_next(&r, &v), 1);
    CHECK_EQ(resp_reader_next(&r, &v), 0);
    CHECK_MSG(resp_reader_memory(&r) < 64 * 1024, "%zu bytes held",
              resp_reader_memory(&r));
    resp_reader_close(&r);
}

TEST(resp, values_one_at_a_time)
{
    struct resp_reader r;
    const struct resp_value *v;
    const char *in = "+a\r\n$3\r\nbcd\r\n:5\r\n*1\r\n+partial";
    resp_reader_init(&r, &resp_limits_client);
    CHECK_EQ(resp_reader_next(&r, &v), 0);
    CHECK(v == NULL);
    CHECK_EQ(resp_reader_feed(&r, in, strlen(in)), 0);
    CHECK_EQ(resp_reader_next(&r, &v), 1);
    CHECK_STR(v->str, "a");
    CHECK_EQ(resp_reader_next(&r, &v), 1);
    CHECK_STR(v->str, "bcd");
    CHECK_EQ(resp_reader_next(&r, &v), 1);
    CHECK_EQ(v->integer, 5);
    CHECK_EQ(resp_reader_next(&r, &v), 0);
    CHECK_EQ(resp_reader_next(&r, &v), 0);
    CHECK_EQ(resp_reader_feed(&r, "\r\n", 2), 0);
    CHECK_EQ(resp_reader_next(&r, &v), 1);
    CHECK_EQ(v->type, RESP_ARRAY);
    CHECK_EQ(v->n, 1);
    CHECK_STR(v->elems[0].str, "partial");
    CHECK(resp_reader_error(&r) == NULL);
    resp_reader_close(&r);
    resp_reader_close(&r);
    resp_reader_close(NULL);
}

/* ---- Streams split anywhere ---- */

/* Every type, nested, with attributes, RESP2 nulls, empty aggregates and
 * strings that hold CRLF, and the dump it must read as. */
static const char stream[] =
    "+OK\r\n-ERR x\r\n:123\r\n:-9223372036854775808\r\n$0\r\n\r\n"
    "$6\r\nab\r\ncd\r\n$-1\r\n*-1\r\n_\r\n,3.25\r\n,-inf\r\n#t\r\n"
    "(-12345678901234567890\r\n!6\r\nERR\r\nx\r\n=8\r\nmkd:# hi\r\n"
    "*3\r\n*2\r\n:1\r\n%1\r\n+k\r\n~2\r\n#f\r\n_\r\n*0\r\n>1\r\n$1\r\nz\r\n"
    "|1\r\n+a\r\n*1\r\n:0\r\n%2\r\n$1\r\na\r\n*1\r\n|0\r\n,0.5\r\n$1\r\nb\r\n"
    "%0\r\n~0\r\n>0\r\n*1\r\n*1\r\n*1\r\n$4\r\ndeep\r\n";

static const char stream_dump[] =
    "+2:OK;-5:ERR x;:123;:-9223372036854775808;$0:;$6:ab\r\ncd;_;_;_;"
    ",3.25;,-inf;#1;(21:-12345678901234567890;!6:ERR\r\nx;=8:mkd:# hi;"
    "*3[*2[:1;%2[+1:k;~2[#0;_;];];];*0[];>1[$1:z;];];"
    "%4[$1:a;*1[,0.5;];$1:b;%0[];];~0[];>0[];*1[*1[*1[$4:deep;];];];.";

/* Inline commands between RESP values, empty and blank lines, quotes. */
static const char inline_stream[] =
    "SET k v\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n\r\n \t \r\n\n"
    "PING \"a b\\x41\\n\" 'c\\'d' \"\"\n:7\r\nQUIT\r\n";

static const char inline_dump[] =
    "*3[$3:SET;$1:k;$1:v;];*2[$3:GET;$1:k;];"
    "*4[$4:PING;$5:a bA\n;$3:c'd;$0:;];:7;*1[$4:QUIT;];.";

static struct resp_limits inline_limits(void)
{
    struct resp_limits lim = resp_limits_client;
    lim.inline_commands = true;
    lim.max_inline = 1024;
    return lim;
}

/* The stream gives the same values whatever its split in two, at every byte
 * offset, and fed one byte at a time. */
TEST(resp, split_at_every_offset)
{
    size_t n = sizeof stream - 1;
    read_chunked(&resp_limits_client, stream, n, NULL, 0, &got);
    CHECK_STR(text_str(&got), stream_dump);
    for (size_t cut = 0; cut <= n; cut++) {
        read_chunked(&resp_limits_client, stream, n, &cut, 1, &got);
        CHECK_MSG(strcmp(text_str(&got), stream_dump) == 0, "cut at %zu: %s",
                  cut, text_str(&got));
    }
    read_bytewise(&resp_limits_client, stream, n, &got);
    CHECK_STR(text_str(&got), stream_dump);
}

/* The same holds in inline mode, for inline commands mixed with RESP. */
TEST(resp, inline_split_at_every_offset)
{
    struct resp_limits lim = inline_limits();
    size_t n = sizeof inline_stream - 1;
    read_chunked(&lim, inline_stream, n, NULL, 0, &got);
    CHECK_STR(text_str(&got), inline_dump);
    for (size_t cut = 0; cut <= n; cut++) {
        read_chunked(&lim, inline_stream, n, &cut, 1, &got);
        CHECK_MSG(strcmp(text_str(&got), inline_dump) == 0, "cut at %zu: %s",
                  cut, text_str(&got));
    }
    read_bytewise(&lim, inline_stream, n, &got);
    CHECK_STR(text_str(&got), inline_dump);
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Many copies of the stream fed in random chunk sizes (1 to 1 KiB, seeded)
 * give many copies of its values. */
TEST(resp, random_chunks)
{
    static char big[sizeof stream * 40];
    static size_t cuts[sizeof big];
    size_t one = sizeof stream - 1, n = 0;
    for (int i = 0; i < 40; i++, n += one)
        memcpy(big + n, stream, one);
    /* The expected dump: the values of each copy, then the end mark. */
    want.n = 0;
    for (int i = 0; i < 40; i++)
        text_put(&want, stream_dump, sizeof stream_dump - 2);
    text_printf(&want, ".");
    for (uint64_t seed = 1; seed <= 300; seed++) {
        uint64_t s = seed * 0x9E3779B97F4A7C15u;
        size_t ncuts = 0, max = 1 + rng_next(&s) % 1024;
        for (size_t at = 0; at < n; ncuts++) {
            at += 1 + rng_next(&s) % max;
            cuts[ncuts] = at < n ? at : n;
        }
        read_chunked(&resp_limits_client, big, n, cuts, ncuts, &got);
        CHECK_MSG(strcmp(text_str(&got), text_str(&want)) == 0, "seed %d",
                  (int)seed);
    }
}

/* ---- Malformed input ---- */

/* Every class of malformed input is a protocol error with its message, fed
 * whole or byte by byte, after the values before it came out. */
TEST(resp, malformed_input)
{
    const struct resp_limits *c = &resp_limits_client;
    expect_error(c, "?x\r\n", "invalid type byte");
    expect(c, "+OK\r\n\r\n", "+2:OK;EProtocol error: invalid type byte");
    expect(c, "+OK\r\nPING\r\n", "+2:OK;EProtocol error: invalid type byte");
    expect_error(c, "$abc\r\n", "invalid bulk length");
    expect_error(c, "$\r\n", "invalid bulk length");
    expect_error(c, "$-2\r\n", "invalid bulk length");
    expect_error(c, "$+3\r\nabc\r\n", "invalid bulk length");
    expect_error(c, "$ 3\r\nabc\r\n", "invalid bulk length");
    expect_error(c, "$99999999999999999999\r\n", "invalid bulk length");
    expect_error(c, "$?\r\n", "invalid bulk length");
    expect_error(c, "!-1\r\n", "invalid bulk length");
    expect_error(c, "=-1\r\n", "invalid bulk length");
    expect_error(c, "*-2\r\n", "invalid aggregate length");
    expect_error(c, "%-1\r\n", "invalid aggregate length");
    expect_error(c, "~-1\r\n", "invalid aggregate length");
    expect_error(c, ">-1\r\n", "invalid aggregate length");
    expect_error(c, "|-1\r\n", "invalid aggregate length");
    expect_error(c, "*?\r\n", "invalid aggregate length");
    expect_error(c, "*1x\r\n", "invalid aggregate length");
    expect_error(c, ":12a\r\n", "invalid integer");
    expect_error(c, ":\r\n", "invalid integer");
    expect_error(c, ":-\r\n", "invalid integer");
    expect_error(c, ":1 \r\n", "invalid integer");
    expect_error(c, ":9223372036854775808\r\n", "invalid integer");
    expect_error(c, ":-9223372036854775809\r\n", "invalid integer");
    expect_error(c, ":99999999999999999999999\r\n", "invalid integer");
    expect_error(c, "+OK\n", "missing CRLF");
    expect_error(c, "+OK\rX\n", "missing CRLF");
    expect_error(c, "$3\r\nabcXY", "missing CRLF");
    expect_error(c, "$3\r\nabc\n\r", "missing CRLF");
    expect_error(c, "*1\r\n$1\r\nab\r\n", "missing CRLF");
    expect_error(c, "+a\rb\r\n", "CR in a simple string");
    expect_error(c, "#x\r\n", "invalid boolean");
    expect_error(c, "#\r\n", "invalid boolean");
    expect_error(c, "#tt\r\n", "invalid boolean");
    expect_error(c, "_x\r\n", "invalid null");
    expect_error(c, ",abc\r\n", "invalid double");
    expect_error(c, ",\r\n", "invalid double");
    expect_error(c, ",1.5x\r\n", "invalid double");
    expect_error(c, ",0x10\r\n", "invalid double");
    expect_error(c, ", 1\r\n", "invalid double");
    expect_error(c, ",1e\r\n", "invalid double");
    expect_error(c, ",.\r\n", "invalid double");
    expect_error(c, ",infinity\r\n", "invalid double");
    expect_error(c, "(12a\r\n", "invalid big number");
    expect_error(c, "(\r\n", "invalid big number");
    expect_error(c, "(-\r\n", "invalid big number");
    expect_error(c, "=3\r\ntxt\r\n", "invalid verbatim string");
    expect_error(c, "=5\r\ntxt-a\r\n", "invalid verbatim string");
    expect_error(c, "*2\r\n:1\r\nx\r\n", "invalid type byte");
    read_chunked(c, "*1\r\n\0\r\n", 7, NULL, 0, &got);
    CHECK_STR(text_str(&got), "EProtocol error: invalid type byte");
    expect(c, "*1\r\n:1\r\n\xff", "*1[:1;];EProtocol error: invalid type byte");
}

/* Random bytes, and random damage to a valid stream, never crash the
 * reader: each input ends in values, a wait, or a protocol error, the same
 * whole as byte by byte. (fuzz_resp does this at scale.) */
TEST(resp, random_input_never_crashes)
{
    static const char alphabet[] = "+-:$*_,#(!=%~>|\r\n0123456789-?ab \"'\\x";
    static char buf[sizeof stream];
    static struct text t2;
    struct resp_limits lim = inline_limits();
    uint64_t s = 42;
    for (int i = 0; i < 3000; i++) {
        size_t n = sizeof stream - 1;
        memcpy(buf, stream, n);
        if (i % 3 == 0) {
            n = rng_next(&s) % 64;
            for (size_t j = 0; j < n; j++)
                buf[j] = alphabet[rng_next(&s) % (sizeof alphabet - 1)];
        } else {
            for (int k = 0; k < 1 + i % 4; k++)
                buf[rng_next(&s) % n] = (char)rng_next(&s);
        }
        const struct resp_limits *l = i % 2 ? &lim : &resp_limits_client;
        read_chunked(l, buf, n, NULL, 0, &got);
        read_bytewise(l, buf, n, &t2);
        CHECK_MSG(strcmp(text_str(&got), text_str(&t2)) == 0,
                  "input %d: whole %s\n    bytewise %s", i, text_str(&got),
                  text_str(&t2));
    }
}

/* ---- Limits ---- */

static struct resp_limits small_limits(void)
{
    return (struct resp_limits){.max_str = 10,
                                .max_elems = 4,
                                .max_depth = 3,
                                .max_pending = 1000,
                                .inline_commands = true,
                                .max_inline = 40};
}

/* A string of max_str bytes passes and one more fails, for every kind of
 * string; a line that cannot fit fails before its end arrives. */
TEST(resp, limit_string_length)
{
    struct resp_limits l = small_limits();
    l.max_inline = 100;
    expect(&l, "$10\r\n0123456789\r\n", "$10:0123456789;.");
    expect_error(&l, "$11\r\n01234567890\r\n", "string too long");
    expect_error(&l, "$11\r\n", "string too long");
    expect(&l, "!10\r\n0123456789\r\n", "!10:0123456789;.");
    expect_error(&l, "!11\r\n", "string too long");
    expect(&l, "=10\r\ntxt:012345\r\n", "=10:txt:012345;.");
    expect_error(&l, "=11\r\ntxt:0123456\r\n", "string too long");
    expect(&l, "+0123456789\r\n", "+10:0123456789;.");
    expect_error(&l, "+01234567890\r\n", "line too long");
    expect(&l, "-0123456789\r\n", "-10:0123456789;.");
    expect_error(&l, "-01234567890\r\n", "line too long");
    expect(&l, "(1234567890\r\n", "(10:1234567890;.");
    expect_error(&l, "(12345678901\r\n", "line too long");
    /* Incomplete: 11 bytes may still be 10 and a CR; 12 cannot. */
    expect(&l, "+0123456789\r", ".");
    expect_error(&l, "+01234567890\r", "line too long");
    expect(&l, "ab 0123456789\r\n", "*2[$2:ab;$10:0123456789;];.");
    expect_error(&l, "ab 01234567890\r\n", "string too long");
    expect(&l, "\"\\x41\\x41\\x41\\x41\\x41\\x41\\x41\\x41\\x41\\x41\"\n",
           "*1[$10:AAAAAAAAAA;];.");
    expect_error(&l,
                 "\"\\x41\\x41\\x41\\x41\\x41\\x41\\x41\\x41\\x41\\x41x\"\n",
                 "string too long");
    /* Numbers have a fixed line limit. */
    expect(&resp_limits_client,
           ":000000000000000000000000000000000000000000000000000000000000001"
           "\r\n",
           ":1;.");
    expect_error(
        &resp_limits_client,
        ":0000000000000000000000000000000000000000000000000000000000000"
        "0001\r\n",
        "line too long");
}

/* An aggregate of max_elems elements passes and one more fails, before its
 * elements arrive; a map of n pairs counts 2n; inline arguments count. */
TEST(resp, limit_elements)
{
    struct resp_limits l = small_limits();
    expect(&l, "*4\r\n:1\r\n:2\r\n:3\r\n:4\r\n", "*4[:1;:2;:3;:4;];.");
    expect_error(&l, "*5\r\n", "too many elements");
    expect(&l, "~4\r\n:1\r\n:2\r\n:3\r\n:4\r\n", "~4[:1;:2;:3;:4;];.");
    expect_error(&l, "~5\r\n", "too many elements");
    expect_error(&l, ">5\r\n", "too many elements");
    expect(&l, "%2\r\n:1\r\n:2\r\n:3\r\n:4\r\n", "%4[:1;:2;:3;:4;];.");
    expect_error(&l, "%3\r\n", "too many elements");
    expect_error(&l, "|3\r\n", "too many elements");
    expect_error(&l, "*18446744073709551615\r\n", "invalid aggregate length");
    expect_error(&resp_limits_client, "%9223372036854775807\r\n",
                 "too many elements");
    expect(&l, "a b c d\r\n", "*4[$1:a;$1:b;$1:c;$1:d;];.");
    expect_error(&l, "a b c d e\r\n", "too many elements");
}

/* Aggregates nest up to max_depth and no deeper; attributes count. */
TEST(resp, limit_depth)
{
    struct resp_limits l = small_limits();
    expect(&l, "*1\r\n%1\r\n~1\r\n:1\r\n:2\r\n", "*1[%2[~1[:1;];:2;];];.");
    expect_error(&l, "*1\r\n*1\r\n*1\r\n*1\r\n", "nesting too deep");
    expect(&l, "*1\r\n*1\r\n|0\r\n:1\r\n", "*1[*1[:1;];];.");
    expect_error(&l, "*1\r\n*1\r\n*1\r\n|0\r\n", "nesting too deep");
    expect(&l, "*2\r\n*1\r\n*1\r\n:1\r\n*1\r\n*1\r\n:2\r\n",
           "*2[*1[*1[:1;];];*1[*1[:2;];];];.");
}

/* Appends a bulk string whose encoding is total bytes long (total >= 16). */
static size_t bulk_of_size(char *out, size_t total)
{
    size_t len = total - 4 - 2 - (total >= 107 ? 2 : 1);
    size_t n = (size_t)sprintf(out, "$%zu\r\n", len);
    memset(out + n, 'p', len);
    memcpy(out + n + len, "\r\n", 2);
    CHECK_EQ(n + len + 2, total);
    return total;
}

/* A value of max_pending bytes can arrive in pieces and one byte more
 * cannot; a larger value that arrives whole still passes. */
TEST(resp, limit_pending)
{
    struct resp_limits l = resp_limits_client;
    static char in[200];
    l.max_pending = 64;
    size_t n = bulk_of_size(in, 64);
    read_bytewise(&l, in, n, &got);
    CHECK_EQ(got.s[0], '$');
    CHECK_EQ(got.s[got.n - 1], '.');
    n = bulk_of_size(in, 65);
    read_bytewise(&l, in, n, &got);
    CHECK_STR(text_str(&got), "EProtocol error: value too large");
    read_chunked(&l, in, n, NULL, 0, &got);
    CHECK_EQ(got.s[got.n - 1], '.');
    /* Pieces of an aggregate count together: 4 + 3 * 20 bytes pass. */
    expect(&l,
           "*3\r\n$13\r\naaaaaaaaaaaaa\r\n$13\r\nbbbbbbbbbbbbb\r\n"
           "$13\r\nccccccccccccc\r\n",
           "*3[$13:aaaaaaaaaaaaa;$13:bbbbbbbbbbbbb;$13:ccccccccccccc;];.");
    const char *over = "*3\r\n$13\r\naaaaaaaaaaaaa\r\n$13\r\nbbbbbbbbbbbbb\r\n"
                       "$14\r\ncccccccccccccc\r\n";
    read_bytewise(&l, over, strlen(over), &got);
    CHECK_STR(text_str(&got), "EProtocol error: value too large");
}

/* An inline line of max_inline bytes before its '\n' passes, one more
 * fails, and an unfinished line fails as soon as it is too long. */
TEST(resp, limit_inline_line)
{
    struct resp_limits l = small_limits();
    l.max_inline = 20;
    l.max_str = 100;
    expect(&l, "aaaaaaaaa aaaaaaaaa\r\n", "*2[$9:aaaaaaaaa;$9:aaaaaaaaa;];.");
    expect(&l, "aaaaaaaaaaaaaaaaaaaa\n", "*1[$20:aaaaaaaaaaaaaaaaaaaa;];.");
    expect_error(&l, "aaaaaaaaa aaaaaaaaaa\r\n", "too big inline request");
    expect(&l, "aaaaaaaaaaaaaaaaaaa\r", ".");
    expect_error(&l, "aaaaaaaaaaaaaaaaaaaaa", "too big inline request");
    /* RESP values are not inline lines. */
    expect(&l, "+aaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
           "+25:aaaaaaaaaaaaaaaaaaaaaaaaa;.");
}

/* ---- Inline commands ---- */

/* Words split at spaces and tabs; double quotes take \" \\ \n \r \t \b \a
 * and \xHH escapes (others stand for the character), single quotes \';
 * quotes inside a word are plain characters. */
TEST(resp, inline_quotes_and_escapes)
{
    struct resp_limits l = inline_limits();
    expect(&l, "SET key value\r\n", "*3[$3:SET;$3:key;$5:value;];.");
    expect(&l, "  SET\t key  \"hello world\"  \r\n",
           "*3[$3:SET;$3:key;$11:hello world;];.");
    expect(&l, "\"a\\\"b\\\\c\\n\\r\\t\\b\\a\\x41\\x4a\\x4A\"\n",
           "*1[$13:a\"b\\c\n\r\t\b\aAJJ;];.");
    expect(&l, "\"\\xzz\\q\\x4\" x\r\n", "*2[$6:xzzqx4;$1:x;];.");
    expect(&l, "'it\\'s' 'a\\b' '\"'\r\n", "*3[$4:it's;$3:a\\b;$1:\";];.");
    expect(&l, "\"\" ''\r\n", "*2[$0:;$0:;];.");
    expect(&l, "a\"b c'd\r\n", "*2[$3:a\"b;$3:c'd;];.");
    expect(&l, "\"\\x00\"\r\n", "*1[$1:\0;];.");
    expect(&l, "\r\n\n   \r\n\t\n PING\r\n", "*1[$4:PING;];.");
    expect(&l, "\"a\"\t\"b\"\r\n", "*2[$1:a;$1:b;];.");
    expect_error(&l, "GET \"a\"b\r\n", "unbalanced quotes in request");
    expect_error(&l, "GET \"abc\r\n", "unbalanced quotes in request");
    expect_error(&l, "GET 'abc\r\n", "unbalanced quotes in request");
    expect_error(&l, "GET \"abc\\\"\r\n", "unbalanced quotes in request");
    /* Only at the top level, and only when enabled. */
    expect_error(&l, "*2\r\nfoo\r\n", "invalid type byte");
    expect_error(&resp_limits_client, "PING\r\n", "invalid type byte");
    expect(&resp_limits_server, "PING\r\n", "*1[$4:PING;];.");
}

/* A NUL byte in an inline line is part of its word. */
TEST(resp, inline_binary)
{
    struct resp_limits l = inline_limits();
    read_chunked(&l, "a\0b c\r\n", 7, NULL, 0, &got);
    CHECK_EQ(got.n, sizeof "*2[$3:a\0b;$1:c;];." - 1);
    CHECK_MEM(got.s, "*2[$3:a\0b;$1:c;];.", got.n);
}

/* ---- Nesting and size ---- */

/* Aggregates of every kind nest to the client's depth limit (64), each
 * level holding the next, and one level more fails. */
TEST(resp, nesting_to_the_limit)
{
    static char in[1024];
    const char *kinds[] = {"*1\r\n", "%1\r\n:0\r\n", "~1\r\n", ">1\r\n"};
    size_t n = 0, depth = resp_limits_client.max_depth;
    for (size_t i = 0; i < depth; i++)
        n += (size_t)sprintf(in + n, "%s", kinds[i % 4]);
    n += (size_t)sprintf(in + n, ":7\r\n");
    struct resp_reader r;
    const struct resp_value *v;
    resp_reader_init(&r, &resp_limits_client);
    CHECK_EQ(resp_reader_feed(&r, in, n), 0);
    CHECK_EQ(resp_reader_next(&r, &v), 1);
    for (size_t i = 0; i < depth; i++) {
        CHECK_EQ(v->type, kinds[i % 4][0]);
        CHECK_EQ(v->n, i % 4 == 1 ? 2 : 1);
        if (i % 4 == 1) {
            CHECK_EQ(v->elems[0].type, RESP_INTEGER);
            CHECK_EQ(v->elems[0].integer, 0);
        }
        v = &v->elems[v->n - 1];
    }
    CHECK_EQ(v->type, RESP_INTEGER);
    CHECK_EQ(v->integer, 7);
    resp_reader_close(&r);
    read_chunked(&resp_limits_client, in, n, NULL, 0, &got);
    CHECK_EQ(got.s[got.n - 1], '.');
    memmove(in + 4, in, n);
    memcpy(in, "*1\r\n", 4);
    read_chunked(&resp_limits_client, in, n + 4, NULL, 0, &got);
    CHECK_STR(text_str(&got), "EProtocol error: nesting too deep");
}

/* A 16 MiB bulk string arrives in 1000-byte pieces and a 256 KiB one a byte
 * at a time, intact; the buffer holds about the value, not a multiple of
 * it, and is given back once the value is consumed. */
TEST(resp, large_bulk_across_feeds)
{
    size_t sizes[] = {16u << 20, 256u << 10}, steps[] = {1000, 1};
    for (int k = 0; k < 2; k++) {
        size_t len = sizes[k], step = steps[k];
        char *in = malloc(len + 32);
        CHECK(in != NULL);
        size_t n = (size_t)sprintf(in, "$%zu\r\n", len);
        for (size_t i = 0; i < len; i++)
            in[n + i] = (char)(i * 7 + i / 251);
        memcpy(in + n + len, "\r\n:1\r\n", 6);
        n += len + 6;
        struct resp_reader r;
        const struct resp_value *v = NULL;
        int rc = 0;
        size_t off = 0;
        resp_reader_init(&r, &resp_limits_client);
        for (; off < n && rc == 0; off += step) {
            size_t piece = n - off < step ? n - off : step;
            CHECK_EQ(resp_reader_feed(&r, in + off, piece), 0);
            rc = resp_reader_next(&r, &v);
        }
        CHECK_EQ(rc, 1);
        CHECK(off >= n - 4); /* not before its last byte arrived */
        CHECK_EQ(v->type, RESP_BULK);
        CHECK_EQ(v->len, len);
        CHECK(memcmp(v->str, in + n - len - 6, len) == 0);
        CHECK(r.in.cap <= 2 * n + 4096);
        for (; off < n; off += step)
            CHECK_EQ(resp_reader_feed(&r, in + off, step), 0);
        CHECK_EQ(resp_reader_next(&r, &v), 1);
        CHECK_EQ(v->integer, 1);
        CHECK_EQ(resp_reader_feed(&r, ":2\r\n", 4), 0);
        CHECK(r.in.cap < (1u << 20));
        resp_reader_close(&r);
        free(in);
    }
}

/* A long stream of small values read as it arrives keeps the buffer small:
 * consumed bytes are dropped, even when pieces end inside a value. */
TEST(resp, consumed_input_is_dropped)
{
    static const char one[] = "*2\r\n$3\r\nGET\r\n$5\r\nkey17\r\n";
    static char chunk[997];
    struct resp_reader r;
    const struct resp_value *v;
    size_t at = 0, values = 0, max_cap = 0;
    resp_reader_init(&r, &resp_limits_server);
    for (int i = 0; i < 20000; i++) {
        for (size_t j = 0; j < sizeof chunk; j++, at++)
            chunk[j] = one[at % (sizeof one - 1)];
        CHECK_EQ(resp_reader_feed(&r, chunk, sizeof chunk), 0);
        while (resp_reader_next(&r, &v) == 1) {
            CHECK_EQ(v->n, 2);
            CHECK_STR(v->elems[1].str, "key17");
            values++;
        }
        max_cap = r.in.cap > max_cap ? r.in.cap : max_cap;
    }
    CHECK_EQ(values, at / (sizeof one - 1));
    CHECK_MSG(max_cap <= 16384, "buffer grew to %zu", max_cap);
    resp_reader_close(&r);
}

/* ---- Failing allocations ---- */

/* Reads the stream in 7-byte pieces, retrying each call that fails with
 * DLOCK_ENOMEM; with sticky failures, first checks that calling again
 * fails the same, then lets allocations succeed. Dumps into t; returns the
 * number of failed calls. */
static int read_retrying(const struct resp_limits *lim, const char *data,
                         size_t n, struct text *t)
{
    struct resp_reader r;
    const struct resp_value *v;
    int failures = 0, rc = 0;
    t->n = 0;
    resp_reader_init(&r, lim);
    for (size_t off = 0; off < n && rc >= 0; off += 7) {
        size_t piece = n - off < 7 ? n - off : 7;
        while ((rc = resp_reader_feed(&r, data + off, piece)) != 0) {
            CHECK_EQ(rc, DLOCK_ENOMEM);
            failures++;
            if (fa_sticky)
                CHECK_EQ(resp_reader_feed(&r, data + off, piece), rc);
            fa_fail_at = 0;
        }
        while ((rc = resp_reader_next(&r, &v)) != 0) {
            if (rc == 1) {
                dump(t, v);
                continue;
            }
            CHECK_EQ(rc, DLOCK_ENOMEM);
            CHECK(resp_reader_error(&r) == NULL);
            failures++;
            if (fa_sticky)
                CHECK_EQ(resp_reader_next(&r, &v), DLOCK_ENOMEM);
            fa_fail_at = 0;
        }
    }
    text_printf(t, ".");
    resp_reader_close(&r);
    return failures;
}

/* With each allocation failing in turn (once, or from then on), the reader
 * returns DLOCK_ENOMEM without damage: retried, it yields exactly the
 * values it yields without failures, and closing frees everything. */
TEST(resp, allocation_failures)
{
    struct resp_limits lims[2] = {resp_limits_client, inline_limits()};
    const char *ins[2] = {stream, inline_stream};
    size_t lens[2] = {sizeof stream - 1, sizeof inline_stream - 1};
    for (int k = 0; k < 2; k++) {
        fa_install(0, false);
        read_retrying(&lims[k], ins[k], lens[k], &want);
        CHECK_STR(text_str(&want), k == 0 ? stream_dump : inline_dump);
        long total = fa_calls;
        CHECK(total >= 3);
        CHECK_EQ(fa_live, 0);
        for (int sticky = 0; sticky < 2; sticky++) {
            for (long at = 1; at <= total; at++) {
                fa_install(at, sticky);
                int failures = read_retrying(&lims[k], ins[k], lens[k], &got);
                CHECK_MSG(failures >= 1, "allocation %ld did not fail", at);
                CHECK_STR(text_str(&got), text_str(&want));
                CHECK_EQ(fa_live, 0);
            }
        }
    }
}

/* ---- Timing ---- */

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* Prints what parsing a typical request costs: a 5-argument command fed
 * and taken out one at a time, and 1000 of them pipelined in one feed. It
 * asserts only that they parse (timings vary with the machine). */
TEST(resp, timing)
{
    static const char req[] =
        "*5\r\n$7\r\nACQUIRE\r\n$9\r\n/jobs/142\r\n$12\r\nworker-7f3a9"
        "\r\n$2\r\nPX\r\n$5\r\n30000\r\n";
    static char batch[1000 * sizeof req];
    size_t n = sizeof req - 1, rounds = 1000000;
    struct resp_reader r;
    const struct resp_value *v;
    resp_reader_init(&r, &resp_limits_server);
    double t0 = now_ns();
    for (size_t i = 0; i < rounds; i++) {
        CHECK(resp_reader_feed(&r, req, n) == 0);
        CHECK(resp_reader_next(&r, &v) == 1);
        CHECK(v->n == 5);
    }
    double one = (now_ns() - t0) / (double)rounds;
    for (size_t i = 0; i < 1000; i++)
        memcpy(batch + i * n, req, n);
    double best = 1e99;
    for (int k = 0; k < 200; k++) {
        t0 = now_ns();
        CHECK(resp_reader_feed(&r, batch, 1000 * n) == 0);
        for (int i = 0; i < 1000; i++)
            CHECK(resp_reader_next(&r, &v) == 1 && v->n == 5);
        double t = (now_ns() - t0) / 1000;
        best = t < best ? t : best;
    }
    resp_reader_close(&r);
    printf("timing: a 5-bulk request (%zu bytes): feed+next %.0f ns; "
           "pipelined x1000: %.0f ns per request\n",
           n, one, best);
}
