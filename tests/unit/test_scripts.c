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
        /* node-redlock 4 and 5: one canonical text each of the three. */
        {"e5a322e2634ef59a516e8ea150cb085afafee684", SCRIPT_KEYS_TAKE},
        {"ea828df24a8ba48d25fe0cd301512a13e11e8671", SCRIPT_KEYS_TAKE},
        {"aed6f382e410db8ba7926d4e5e9aab410bf2a78a", SCRIPT_KEYS_EXTEND},
        {"0f0f23b9048b36752b5be114f357ba083449f908", SCRIPT_KEYS_RELEASE},
        /* redis-semaphore 5. */
        {"7157921a7cc7cfba979acf6d63f073151df17d12", SCRIPT_RELEASE},
        {"594683e49a64ebaf975caf5f8079a1d097c438f1", SCRIPT_SET_TTL},
        {"43ebdb49120d170e08af560cb4e46e36f8585936", SCRIPT_SEM_ACQUIRE},
        {"999a49a1d07671a8027165641001f5bad44608b3", SCRIPT_SEM_REFRESH},
        {"10c1c2e05e7c48aa5824d227b8c51abcde87b18e", SCRIPT_MSEM_ACQUIRE},
        {"2327bcdc5edb5b8687f6d19b5e1f42b815ebddab", SCRIPT_MSEM_REFRESH},
        {"0bd1010c98f1ddd70a6024fd374489a8ea3d2c12", SCRIPT_MSEM_RELEASE},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const struct script *k = scripts_find(want[i].sha, 40);
        CHECK_MSG(k != NULL && k->kind == want[i].kind, "%s", want[i].sha);
    }
}
