/* test_scripts.c - the known scripts of Redis lock libraries
 * (src/server/scripts.c): a script is known by the SHA1 of its text or of
 * its canonical text, which spacing and quotes do not change and a
 * string's inside does. */
#include "harness.h"

#include "server/scripts.h"

static const char *canon(const char *text, char *out)
{
    out[scripts_canon(text, strlen(text), out)] = '\0';
    return out;
}

TEST(scripts, canonical_text)
{
    char a[256], b[256];
    CHECK(strcmp(canon("if redis.call('get', KEYS[1]) == ARGV[1] then\n"
                       "  return redis.call('del', KEYS[1])\nelse return 0 "
                       "end",
                       a),
                 "if redis.call(\"get\",KEYS[1])==ARGV[1]then return "
                 "redis.call(\"del\",KEYS[1])else return 0 end") == 0);
    CHECK(strcmp(canon("if redis.call(\"get\",KEYS[1]) == ARGV[1]\nthen\n"
                       "    return redis.call(\"del\",KEYS[1])\nelse\n"
                       "    return 0\nend",
                       b),
                 a) == 0);
    /* Inside a string, blanks count; names stay apart. */
    CHECK(strcmp(canon("x = 'a b'  ..  \"c\"", a), "x=\"a b\"..\"c\"") == 0);
    CHECK(strcmp(canon("local  val\t= 1", a), "local val=1") == 0);
    CHECK(strcmp(canon("  ", a), "") == 0);
    /* A quote left open keeps the rest as it is. */
    CHECK(strcmp(canon("'a  b", a), "\"a  b") == 0);
}

TEST(scripts, found_by_either_sha)
{
    const struct script *k =
        scripts_find("c3f8721cbb97f72bc19e972846bd7aaf91901658", 40);
    CHECK(k != NULL && k->kind == SCRIPT_RELEASE);
    CHECK(scripts_find("C3F8721CBB97F72BC19E972846BD7AAF91901658", 40) == k);
    CHECK(scripts_find(k->canon, 40) == k);
    CHECK(scripts_find("c3f8721cbb97f72bc19e972846bd7aaf9190165", 39) == NULL);
    CHECK(scripts_find("0000000000000000000000000000000000000000", 40) == NULL);
}
