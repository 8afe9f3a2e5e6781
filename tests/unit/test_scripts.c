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

TEST(scripts, kinds_of_each_library)
{
    static const struct {
        const char *sha;
        int kind;
    } want[] = {
        {"00583931c4e4d483f6233879c133c71ed5393f9d", SCRIPT_RELEASE},
        {"e950836ed1e694540c503ef9972b8de518044d3b", SCRIPT_RELEASE_OR_GONE},
        {"d75bb8b5bd13532ddedd17762e772346e39b321e", SCRIPT_SET_TTL},
        {"b6b55c439e02c6f52ffb8be7ec8c0d0ac816ea79", SCRIPT_TOUCH_OR_SET},
        {"a4e8783852e6b949f9ef3a97212805108459a890", SCRIPT_EXTEND},
        {"86adac77e1e4eac7090cbbe12386ad98a2b4124c", SCRIPT_SET_TTL},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const struct script *k = scripts_find(want[i].sha, 40);
        CHECK_MSG(k != NULL && k->kind == want[i].kind, "%s", want[i].sha);
    }
}
