/* test_json.c - the JSON writer (src/common/json.c) and reader
 * (src/common/jsonparse.c): escapes and invalid UTF-8, structure and
 * commas, what the reader takes and refuses, and the round trip. */
#include "harness.h"

#include "common/json.h"
#include "common/jsonparse.h"

/* Strings are escaped; bytes that are not UTF-8 become U+FFFD; NUL
 * inside a counted string is kept, escaped. */
TEST(json, strings)
{
    struct buf b;
    buf_init(&b);
    json_string(&b, "a\"b\\c\n\t\x01\x7f", 9);
    CHECK_STR(b.data, "\"a\\\"b\\\\c\\n\\t\\u0001\\u007f\"");
    buf_clear(&b);
    json_string(&b, "caf\xc3\xa9 \xff \xc3", 9);
    CHECK_STR(b.data, "\"caf\xc3\xa9 \\ufffd \\ufffd\"");
    buf_clear(&b);
    json_string(&b, "a\0b", 3);
    CHECK_STR(b.data, "\"a\\u0000b\"");
    buf_clear(&b);
    json_string(&b, "\xed\xa0\x80", 3); /* a surrogate: not UTF-8 */
    CHECK_STR(b.data, "\"\\ufffd\\ufffd\\ufffd\"");
    buf_close(&b);
}

/* Objects and arrays nest with commas in the right places. */
TEST(json, structure)
{
    struct buf b;
    struct json j;
    buf_init(&b);
    json_init(&j, &b);
    json_object_open(&j, NULL);
    json_u64(&j, "n", 18446744073709551615u);
    json_array_open(&j, "a");
    json_int(&j, NULL, -1);
    json_bool(&j, NULL, true);
    json_null(&j, NULL);
    json_object_open(&j, NULL);
    json_object_close(&j);
    json_array_close(&j);
    json_f64(&j, "f", 0.5);
    json_f64(&j, "inf", 1.0 / 0.0);
    json_str(&j, "s", "x");
    json_object_close(&j);
    CHECK_STR(b.data, "{\"n\":18446744073709551615,\"a\":[-1,true,null,{}],"
                      "\"f\":0.5,\"inf\":null,\"s\":\"x\"}");
    buf_close(&b);
}

static struct jv *parse_ok(const char *s)
{
    struct jv *v;
    char err[128];
    int rc = jsonparse(s, strlen(s), &v, err, sizeof err);
    CHECK_MSG(rc == 0, "%s: %s", s, err);
    return v;
}

/* Values of every kind, exact integers, escapes and surrogate pairs. */
TEST(jsonparse, values)
{
    struct jv *v = parse_ok(
        " {\"a\": [1, -2, 2.5e1, true, false, null], \"s\": "
        "\"x\\u00e9\\ud83d\\ude00\\n\\/\", \"big\": 18446744073709551615, "
        "\"over\": 18446744073709551616, \"o\": {}} ");
    const struct jv *a = jv_get(v, "a");
    CHECK(a != NULL && a->type == JV_ARRAY && a->n == 6);
    CHECK_U64(jv_u64(jv_at(a, 0), 0), 1);
    CHECK(!jv_at(a, 1)->is_u64 && jv_at(a, 1)->num == -2);
    CHECK(jv_at(a, 2)->num == 25 && !jv_at(a, 2)->is_u64);
    CHECK(jv_at(a, 3)->type == JV_BOOL && jv_at(a, 3)->b);
    CHECK(jv_at(a, 5)->type == JV_NULL);
    CHECK(jv_at(a, 6) == NULL);
    CHECK_STR(jv_str(jv_get(v, "s"), ""), "x\xc3\xa9\xf0\x9f\x98\x80\n/");
    CHECK_U64(jv_u64(jv_get(v, "big"), 0), UINT64_MAX);
    CHECK(!jv_get(v, "over")->is_u64);
    CHECK(jv_get(v, "o")->type == JV_OBJECT && jv_get(v, "o")->n == 0);
    CHECK(jv_get(v, "missing") == NULL);
    CHECK(jv_get(a, "a") == NULL);
    jv_free(v);
    v = parse_ok("\"a\\u0000b\\ud800\"");
    CHECK_U64(v->len, 6);
    CHECK_MEM(v->str, "a\0b\xef\xbf\xbd", 6);
    jv_free(v);
}

/* Malformed text fails, with where. */
TEST(jsonparse, refusals)
{
    const char *bad[] = {
        "",    "{",         "[1,]",      "{\"a\":1,}", "{a:1}",
        "01",  "1.",        "-",         "1e",         "tru",
        "\"x", "\"\\x\"",   "\"\\u12\"", "[1] 2",      "\"\x01\"",
        "nul", "{\"a\" 1}", "[1 2]",     "+1",         ".5",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct jv *v = (struct jv *)1;
        char err[128] = "";
        CHECK_MSG(jsonparse(bad[i], strlen(bad[i]), &v, err, sizeof err) == -1,
                  "'%s' parsed", bad[i]);
        CHECK(v == NULL);
        CHECK(strstr(err, "at byte") != NULL);
    }
}

/* Nesting past the bound is refused, at the bound taken. */
TEST(jsonparse, depth)
{
    char deep[2 * JSONPARSE_DEPTH_MAX + 3];
    size_t n = JSONPARSE_DEPTH_MAX;
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    struct jv *v;
    char err[128];
    CHECK(jsonparse(deep, 2 * n, &v, err, sizeof err) == 0);
    jv_free(v);
    memset(deep, '[', n + 1);
    memset(deep + n + 1, ']', n + 1);
    CHECK(jsonparse(deep, 2 * n + 2, &v, err, sizeof err) == -1);
    CHECK(strstr(err, "nested too deep") != NULL);
}

/* What the writer writes, the reader reads back. */
TEST(json, round_trip)
{
    struct buf b;
    struct json j;
    buf_init(&b);
    json_init(&j, &b);
    json_object_open(&j, NULL);
    json_strn(&j, "name", "n\0\"\xff", 4);
    json_u64(&j, "token", 1234567890123ull);
    json_object_close(&j);
    struct jv *v = parse_ok(b.data);
    CHECK_U64(jv_get(v, "name")->len, 6);
    CHECK_MEM(jv_get(v, "name")->str, "n\0\"\xef\xbf\xbd", 6);
    CHECK_U64(jv_u64(jv_get(v, "token"), 0), 1234567890123ull);
    jv_free(v);
    buf_close(&b);
}
