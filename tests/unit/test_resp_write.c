/* test_resp_write.c - the RESP writers (src/common/resp_write.c): exact
 * encodings for both protocol versions, every type through writer and
 * reader, doubles, the command encoder and failing allocations. */
#include "harness.h"

#include <float.h>
#include <locale.h>
#include <math.h>

#include "common/error.h"
#include "common/resp.h"
#include "fail_alloc.h"
#include "resp_util.h"

static struct text got;

/* Checks that b holds exactly the C string want, then empties b. */
static void check_out(struct buf *b, const char *want)
{
    CHECK_MSG(b->len == strlen(want) && memcmp(b->data, want, b->len) == 0,
              "wrote \"%.*s\", want \"%s\"", (int)b->len, b->data, want);
    buf_clear(b);
}

/* Each writer produces the bytes Redis sends for it, in RESP2 and RESP3. */
TEST(resp_write, exact_encodings)
{
    struct buf b;
    buf_init(&b);
    CHECK_EQ(resp_write_simple(&b, "OK"), 0);
    check_out(&b, "+OK\r\n");
    CHECK_EQ(resp_write_error(&b, "LEADER 127.0.0.1:7411"), 0);
    check_out(&b, "-LEADER 127.0.0.1:7411\r\n");
    CHECK_EQ(resp_write_integer(&b, 0), 0);
    CHECK_EQ(resp_write_integer(&b, -42), 0);
    CHECK_EQ(resp_write_integer(&b, INT64_MIN), 0);
    CHECK_EQ(resp_write_integer(&b, INT64_MAX), 0);
    check_out(&b, ":0\r\n:-42\r\n:-9223372036854775808\r\n"
                  ":9223372036854775807\r\n");
    CHECK_EQ(resp_write_bulk(&b, "a\r\nb", 4), 0);
    CHECK_EQ(resp_write_bulk(&b, NULL, 0), 0);
    CHECK_EQ(resp_write_bulk_str(&b, "xyz"), 0);
    check_out(&b, "$4\r\na\r\nb\r\n$0\r\n\r\n$3\r\nxyz\r\n");
    for (int proto = 2; proto <= 3; proto++) {
        bool v3 = proto == 3;
        CHECK_EQ(resp_write_null(&b, proto), 0);
        check_out(&b, v3 ? "_\r\n" : "$-1\r\n");
        CHECK_EQ(resp_write_array(&b, 3), 0);
        check_out(&b, "*3\r\n");
        CHECK_EQ(resp_write_map(&b, proto, 2), 0);
        check_out(&b, v3 ? "%2\r\n" : "*4\r\n");
        CHECK_EQ(resp_write_set(&b, proto, 5), 0);
        check_out(&b, v3 ? "~5\r\n" : "*5\r\n");
        CHECK_EQ(resp_write_push(&b, proto, 3), 0);
        check_out(&b, v3 ? ">3\r\n" : "*3\r\n");
        CHECK_EQ(resp_write_bool(&b, proto, true), 0);
        CHECK_EQ(resp_write_bool(&b, proto, false), 0);
        check_out(&b, v3 ? "#t\r\n#f\r\n" : ":1\r\n:0\r\n");
        CHECK_EQ(resp_write_double(&b, proto, 1.5), 0);
        check_out(&b, v3 ? ",1.5\r\n" : "$3\r\n1.5\r\n");
        CHECK_EQ(resp_write_bignum(&b, proto, "-123", 4), 0);
        check_out(&b, v3 ? "(-123\r\n" : "$4\r\n-123\r\n");
        CHECK_EQ(resp_write_blob_error(&b, proto, "ERR a\r\nb", 8), 0);
        check_out(&b, v3 ? "!8\r\nERR a\r\nb\r\n" : "-ERR a  b\r\n");
        CHECK_EQ(resp_write_verbatim(&b, proto, "txt", "hi", 2), 0);
        check_out(&b, v3 ? "=6\r\ntxt:hi\r\n" : "$2\r\nhi\r\n");
    }
    buf_close(&b);
}

/* Simple strings and errors cannot hold CR or LF: they become spaces, so a
 * message taken from user input cannot break the stream. */
TEST(resp_write, lines_lose_cr_and_lf)
{
    struct buf b;
    buf_init(&b);
    CHECK_EQ(resp_write_simple(&b, "a\r\nb\nc\r"), 0);
    check_out(&b, "+a  b c \r\n");
    CHECK_EQ(resp_write_error(&b, "ERR key \"x\r\n+OK\""), 0);
    check_out(&b, "-ERR key \"x  +OK\"\r\n");
    buf_close(&b);
}

/* Doubles are written in the shortest text that reads back as the same
 * double, with special values spelled as RESP3 spells them. */
TEST(resp_write, double_text)
{
    struct buf b;
    buf_init(&b);
    double in[] = {0.1,      1.0 / 3,   1e21, -0.0, 1e-7, 123456789012345680.0,
                   INFINITY, -INFINITY, NAN};
    const char *out[] = {
        ",0.1\r\n",   ",0.3333333333333333\r\n",     ",1e+21\r\n", ",-0\r\n",
        ",1e-07\r\n", ",1.2345678901234568e+17\r\n", ",inf\r\n",   ",-inf\r\n",
        ",nan\r\n"};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        CHECK_EQ(resp_write_double(&b, 3, in[i]), 0);
        check_out(&b, out[i]);
    }
    buf_close(&b);
}

/* Writes d in RESP3 and reads it back. */
static double double_round_trip(double d)
{
    struct buf b;
    struct resp_reader r;
    const struct resp_value *v;
    buf_init(&b);
    resp_reader_init(&r, &resp_limits_client);
    CHECK_EQ(resp_write_double(&b, 3, d), 0);
    CHECK_EQ(resp_reader_feed(&r, b.data, b.len), 0);
    CHECK_EQ(resp_reader_next(&r, &v), 1);
    CHECK_EQ(v->type, RESP_DOUBLE);
    double out = v->dbl;
    resp_reader_close(&r);
    buf_close(&b);
    return out;
}

/* Every double survives writing and reading bit for bit: extremes,
 * subnormals, negative zero, and 100,000 random bit patterns. */
TEST(resp_write, doubles_round_trip_exactly)
{
    double fixed[] = {DBL_MAX, -DBL_MAX, DBL_MIN, DBL_TRUE_MIN, -0.0,      0.0,
                      1e308,   5e-324,   0.1,     2.0 / 3,      1e15 + 0.3};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        double d = double_round_trip(fixed[i]);
        CHECK(memcmp(&d, &fixed[i], sizeof d) == 0);
    }
    uint64_t s = 7;
    for (int i = 0; i < 100000; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        double d, back;
        memcpy(&d, &s, sizeof d);
        if (isnan(d))
            continue;
        back = double_round_trip(d);
        CHECK_MSG(memcmp(&d, &back, sizeof d) == 0, "%a read back as %a", d,
                  back);
    }
    CHECK(isnan(double_round_trip(NAN)));
}

/* Doubles are written and read with '.' even when the program runs in a
 * locale whose decimal point is ',' (de_DE, compiled for the test with
 * localedef from the Debian package "locales"). */
TEST_TIMEOUT(resp_write, doubles_ignore_the_locale, 120)
{
    char cmd[800], dir[300];
    snprintf(dir, sizeof dir, "%s/locale", harness_tmpdir());
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s && localedef -i de_DE -f UTF-8 %s/de_DE.UTF-8 "
             ">/dev/null 2>&1",
             dir, dir);
    CHECK_MSG(system(cmd) == 0, "localedef failed (package locales?)");
    setenv("LOCPATH", dir, 1);
    CHECK(setlocale(LC_NUMERIC, "de_DE.UTF-8") != NULL);
    CHECK_STR(localeconv()->decimal_point, ",");
    struct buf b;
    buf_init(&b);
    CHECK_EQ(resp_write_double(&b, 3, 1.25), 0);
    CHECK_EQ(resp_write_double(&b, 2, -0.5), 0);
    check_out(&b, ",1.25\r\n$4\r\n-0.5\r\n");
    buf_close(&b);
    CHECK(double_round_trip(2.75) == 2.75);
    /* (Not through dump(), whose printf follows the locale.) */
    struct resp_reader r;
    const struct resp_value *v;
    resp_reader_init(&r, &resp_limits_client);
    CHECK_EQ(resp_reader_feed(&r, ",1.5\r\n,1,5\r\n", 12), 0);
    CHECK_EQ(resp_reader_next(&r, &v), 1);
    CHECK(v->dbl == 1.5);
    CHECK_EQ(resp_reader_next(&r, &v), DLOCK_EPROTO);
    resp_reader_close(&r);
    setlocale(LC_NUMERIC, "C");
}

/* The command encoder writes an array of bulk strings, from lengths or from
 * C strings, binary-safe, and it reads back as the same arguments. */
TEST(resp_write, command)
{
    struct buf b;
    const char *argv[] = {"SET", "k\0ey", ""};
    size_t lens[] = {3, 4, 0};
    buf_init(&b);
    CHECK_EQ(resp_write_command(&b, 3, argv, lens), 0);
    CHECK_EQ(b.len, 29);
    CHECK_MEM(b.data, "*3\r\n$3\r\nSET\r\n$4\r\nk\0ey\r\n$0\r\n\r\n", 29);
    read_chunked(&resp_limits_server, b.data, b.len, NULL, 0, &got);
    CHECK_MEM(got.s, "*3[$3:SET;$4:k\0ey;$0:;];.", got.n);
    buf_clear(&b);
    CHECK_EQ(resp_write_command(&b, 2, argv, NULL), 0);
    check_out(&b, "*2\r\n$3\r\nSET\r\n$1\r\nk\r\n");
    CHECK_EQ(resp_write_command(&b, 0, NULL, NULL), 0);
    check_out(&b, "*0\r\n");
    buf_close(&b);
}

/* ---- Every type through writer and reader ---- */

#define N_WRITES 19

/* Write number i of a sequence that writes one of each type with the
 * writer functions, in proto, nested in an array, a map, a set and a push;
 * returns the writer's result. */
static int write_op(struct buf *b, int proto, int i)
{
    static const char *cmd[] = {"LOCK", "x"};
    switch (i) {
    case 0:
        return resp_write_simple(b, "OK");
    case 1:
        return resp_write_error(b, "ERR no");
    case 2:
        return resp_write_integer(b, -7);
    case 3:
        return resp_write_bulk(b, "b\0n", 3);
    case 4:
        return resp_write_null(b, proto);
    case 5:
        return resp_write_double(b, proto, -2.5);
    case 6:
        return resp_write_bool(b, proto, true);
    case 7:
        return resp_write_bignum(b, proto, "123456789012345678901234567890",
                                 30);
    case 8:
        return resp_write_blob_error(b, proto, "E\r\nx", 4);
    case 9:
        return resp_write_verbatim(b, proto, "mkd", "# t", 3);
    case 10:
        return resp_write_array(b, 2);
    case 11:
        return resp_write_map(b, proto, 1);
    case 12:
        return resp_write_bulk_str(b, "k");
    case 13:
        return resp_write_set(b, proto, 2);
    case 14:
        return resp_write_bool(b, proto, false);
    case 15:
        return resp_write_null(b, proto);
    case 16:
        return resp_write_push(b, proto, 0);
    case 17:
        return resp_write_push(b, proto, 1);
    default:
        return resp_write_command(b, 2, cmd, NULL);
    }
}

static void write_every_type(struct buf *b, int proto)
{
    for (int i = 0; i < N_WRITES; i++)
        CHECK_EQ(write_op(b, proto, i), 0);
}

static const char every_type_3[] =
    "+2:OK;-6:ERR no;:-7;$3:b\0n;_;,-2.5;#1;"
    "(30:123456789012345678901234567890;!4:E\r\nx;=7:mkd:# t;"
    "*2[%2[$1:k;~2[#0;_;];];>0[];];>1[*2[$4:LOCK;$1:x;];];.";

/* RESP2 has no null, double, boolean, big number, blob error, verbatim,
 * map, set or push: each arrives as what Redis sends in their place. */
static const char every_type_2[] =
    "+2:OK;-6:ERR no;:-7;$3:b\0n;_;$4:-2.5;:1;"
    "$30:123456789012345678901234567890;-4:E  x;$3:# t;"
    "*2[*2[$1:k;*2[:0;_;];];*0[];];*1[*2[$4:LOCK;$1:x;];];.";

/* Every type written in RESP3 reads back as itself, and in RESP2 as its
 * RESP2 stand-in; resp_write_value re-encodes what was read to the same
 * bytes. */
TEST(resp_write, every_type_round_trips)
{
    const char *want[2] = {every_type_2, every_type_3};
    size_t want_len[2] = {sizeof every_type_2 - 1, sizeof every_type_3 - 1};
    for (int proto = 2; proto <= 3; proto++) {
        struct buf b, again;
        struct resp_reader r;
        const struct resp_value *v;
        buf_init(&b);
        buf_init(&again);
        write_every_type(&b, proto);
        read_chunked(&resp_limits_client, b.data, b.len, NULL, 0, &got);
        CHECK_EQ(got.n, want_len[proto - 2]);
        CHECK_MEM(got.s, want[proto - 2], got.n);
        resp_reader_init(&r, &resp_limits_client);
        CHECK_EQ(resp_reader_feed(&r, b.data, b.len), 0);
        while (resp_reader_next(&r, &v) == 1)
            CHECK_EQ(resp_write_value(&again, proto, v), 0);
        CHECK(resp_reader_error(&r) == NULL);
        CHECK_EQ(again.len, b.len);
        CHECK_MEM(again.data, b.data, b.len);
        resp_reader_close(&r);
        buf_close(&again);
        buf_close(&b);
    }
}

/* resp_write_value refuses a tree it cannot encode, and leaves the buffer
 * as it was, even after writing part of the tree. */
TEST(resp_write, value_refuses_bad_trees)
{
    struct resp_value leaf[2] = {{.type = RESP_INTEGER, .integer = 1},
                                 {.type = 'Q'}};
    struct resp_value arr = {.type = RESP_ARRAY, .elems = leaf, .n = 2};
    struct resp_value odd = {.type = RESP_MAP, .elems = leaf, .n = 1};
    struct resp_value verb = {.type = RESP_VERBATIM, .str = "txt", .len = 3};
    struct buf b;
    buf_init(&b);
    CHECK_EQ(resp_write_simple(&b, "x"), 0);
    CHECK_EQ(resp_write_value(&b, 3, &arr), DLOCK_EINVAL);
    CHECK_EQ(resp_write_value(&b, 3, &odd), DLOCK_EINVAL);
    CHECK_EQ(resp_write_value(&b, 2, &verb), DLOCK_EINVAL);
    check_out(&b, "+x\r\n");
    buf_close(&b);
}

/* ---- Failing allocations ---- */

/* Runs write, retrying it while it fails with DLOCK_ENOMEM: checks that a
 * failure left b as it was and, with sticky failures, that calling again
 * fails the same, then lets allocations succeed. Counts failures. */
#define RETRY(b, write, failures)                                              \
    do {                                                                       \
        size_t len_ = (b)->len;                                                \
        int rc_;                                                               \
        while ((rc_ = (write)) != 0) {                                         \
            CHECK_EQ(rc_, DLOCK_ENOMEM);                                       \
            CHECK_EQ((b)->len, len_);                                          \
            CHECK((b)->data == NULL || (b)->data[len_] == '\0');               \
            if (fa_sticky)                                                     \
                CHECK_EQ((write), DLOCK_ENOMEM);                               \
            fa_fail_at = 0;                                                    \
            (failures)++;                                                      \
        }                                                                      \
    } while (0)

/* Writes every type with the writers, then again with resp_write_value on
 * the trees read back from that; returns the number of failed calls. */
static int write_twice(struct buf *b, int proto)
{
    struct resp_reader r;
    const struct resp_value *v;
    int failures = 0, rc;
    for (int i = 0; i < N_WRITES; i++)
        RETRY(b, write_op(b, proto, i), failures);
    size_t n = b->len;
    resp_reader_init(&r, &resp_limits_client);
    while (resp_reader_feed(&r, b->data, n) != 0)
        failures++, fa_fail_at = 0;
    for (;;) {
        while ((rc = resp_reader_next(&r, &v)) == DLOCK_ENOMEM)
            failures++, fa_fail_at = 0;
        if (rc != 1)
            break;
        RETRY(b, resp_write_value(b, proto, v), failures);
    }
    CHECK_EQ(rc, 0);
    resp_reader_close(&r);
    return failures;
}

/* With each allocation failing in turn (once, or from then on), every
 * writer returns DLOCK_ENOMEM and leaves the buffer as it was; retried, the
 * writers produce the bytes of a run without failures, and nothing leaks. */
TEST(resp_write, allocation_failures)
{
    struct buf ref, b;
    for (int proto = 2; proto <= 3; proto++) {
        fa_install(0, false);
        buf_init(&ref);
        CHECK_EQ(write_twice(&ref, proto), 0);
        long total = fa_calls;
        CHECK(total >= 3);
        for (int sticky = 0; sticky < 2; sticky++) {
            for (long at = 1; at <= total; at++) {
                fa_install(at, sticky);
                buf_init(&b);
                int failures = write_twice(&b, proto);
                CHECK_MSG(failures >= 1, "allocation %ld did not fail", at);
                CHECK_EQ(b.len, ref.len);
                CHECK_MEM(b.data, ref.data, ref.len);
                buf_close(&b);
                CHECK_EQ(fa_live, 1); /* ref */
            }
        }
        buf_close(&ref);
        CHECK_EQ(fa_live, 0);
    }
}
