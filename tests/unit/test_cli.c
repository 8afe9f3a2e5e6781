/* test_cli.c - the pure parts of the dlock tool (src/cli/): durations read
 * and printed, and JSON output (escapes, invalid UTF-8, commas). The
 * Makefile links unit tests with the core library only, so the two files
 * are compiled in here; they use nothing but libc. */
#include "harness.h"

#include "cli/cli.h"

static uint64_t parse(const char *s)
{
    uint64_t ms = 12345;
    CHECK_MSG(duration_parse(s, &ms) == 0, "'%s' is a duration", s);
    return ms;
}

static void bad(const char *s)
{
    uint64_t ms = 12345;
    CHECK_MSG(duration_parse(s, &ms) == -1, "'%s' is not a duration", s);
    CHECK_U64(ms, 12345);
}

/* The forms the issue names, fractions, sums of units, and zero. */
TEST(duration, parses)
{
    CHECK_U64(parse("500ms"), 500);
    CHECK_U64(parse("10s"), 10000);
    CHECK_U64(parse("5m"), 300000);
    CHECK_U64(parse("2h"), 7200000);
    CHECK_U64(parse("1m30s"), 90000);
    CHECK_U64(parse("1h1m1s1ms"), 3661001);
    CHECK_U64(parse("1.5s"), 1500);
    CHECK_U64(parse("0.25m"), 15000);
    CHECK_U64(parse("1.0009s"), 1000); /* below a millisecond: cut */
    CHECK_U64(parse("0.123456789123s"), 123);
    CHECK_U64(parse("0"), 0);
    CHECK_U64(parse("0s"), 0);
    CHECK_U64(parse("007s"), 7000);
}

/* No unit, unknown units, signs, spaces, dangling parts and overflow are
 * refused, and the output is left alone. */
TEST(duration, refuses)
{
    const char *cases[] = {"",
                           "5",
                           "10",
                           "s",
                           "1x",
                           "1 s",
                           " 1s",
                           "1s ",
                           "-1s",
                           "+1s",
                           "1.s",
                           ".5s",
                           "1..5s",
                           "1S",
                           "1sec",
                           "1m30",
                           "ms",
                           "1e3ms",
                           "1.5",
                           "00",
                           "18446744073709551616ms",
                           "18446744073709551615s",
                           "9999999999999999h"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        bad(cases[i]);
    CHECK_U64(parse("18446744073709551615ms"), UINT64_MAX);
    bad("18446744073709551615ms1ms");
}

static void formats(uint64_t ms, const char *want)
{
    char buf[32];
    duration_format(ms, buf, sizeof buf);
    CHECK_STR(buf, want);
}

/* What people read in status and list. */
TEST(duration, formats)
{
    formats(0, "0ms");
    formats(999, "999ms");
    formats(1000, "1s");
    formats(10000, "10s");
    formats(29899, "29.8s");
    formats(59999, "59.9s");
    formats(60000, "1m00s");
    formats(245000, "4m05s");
    formats(3600000, "1h00m");
    formats(7380000, "2h03m");
}

/* The output of fn, written into a memory stream. */
static char *capture(void (*fn)(FILE *))
{
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    CHECK(f != NULL);
    fn(f);
    fclose(f);
    return text;
}

static void strings(FILE *f)
{
    json_write_string(f, "a\"b\\c\n\t\r\x01\x1f\x7f");
    json_write_string(f, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92");
    /* A lone continuation byte, a cut sequence, an overlong '/', a UTF-16
     * surrogate, and a code point above U+10FFFF. */
    json_write_string(f, "\x80|\xc3|\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80");
}

/* Quotes, backslashes and control bytes are escaped; valid UTF-8 passes
 * as it is; each byte that is not valid UTF-8 becomes U+FFFD, so the
 * output is always valid JSON. */
TEST(json, strings)
{
    char *text = capture(strings);
    CHECK_STR(text, "\"a\\\"b\\\\c\\n\\t\\r\\u0001\\u001f\\u007f\""
                    "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92\""
                    "\"\\ufffd|\\ufffd|\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd|"
                    "\\ufffd\\ufffd\\ufffd\\ufffd\"");
    free(text);
}

static void nested(FILE *f)
{
    struct json j;
    json_begin(&j, f);
    json_bool(&j, "ok", true);
    json_array_open(&j, "locks");
    for (int i = 0; i < 2; i++) {
        json_object_open(&j, NULL);
        json_u64(&j, "token", UINT64_MAX - (uint64_t)i);
        json_int(&j, "n", -i);
        json_object_close(&j);
    }
    json_array_close(&j);
    json_array_open(&j, "empty");
    json_array_close(&j);
    json_null(&j, "none");
    json_str(&j, "name", "x");
    json_end(&j);
}

/* Commas go between elements at every level, never before the first or
 * after the last, and the object ends the line. */
TEST(json, nesting)
{
    char *text = capture(nested);
    CHECK_STR(text, "{\"ok\":true,\"locks\":[{\"token\":18446744073709551615,"
                    "\"n\":0},{\"token\":18446744073709551614,\"n\":-1}],"
                    "\"empty\":[],\"none\":null,\"name\":\"x\"}\n");
    free(text);
}
