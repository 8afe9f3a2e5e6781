/* test_acl.c - users' definitions (src/lock/acl.c): the text parses as
 * docs/protocol.md says, the bytes round-trip and refuse what is not
 * canonical, and the rules allow exactly what they cover. */
#include "acl_test.h"

static struct acl_def decode(const uint8_t *buf, size_t n)
{
    struct acl_def d;
    CHECK_EQ(acl_decode(&d, buf, n, false), 0);
    return d;
}

static int parse_err(const char *text, char *err, size_t cap)
{
    char copy[4096];
    struct acl_token t[ACL_TOKENS_MAX];
    struct acl_spec sp;
    snprintf(copy, sizeof copy, "%s", text);
    return acl_parse(&sp, t, acl_test_split(copy, t), err, cap);
}

TEST(acl, user_names)
{
    CHECK(acl_user_ok("alice", 5));
    CHECK(acl_user_ok("svc.cron-1@eu_west", 18));
    CHECK(!acl_user_ok("", 0));
    CHECK(!acl_user_ok("a b", 3));
    CHECK(!acl_user_ok("a:b", 3));
    char longer[ACL_USER_MAX + 1];
    memset(longer, 'x', sizeof longer);
    CHECK(acl_user_ok(longer, ACL_USER_MAX));
    CHECK(!acl_user_ok(longer, ACL_USER_MAX + 1));
}

TEST(acl, parse_encode_decode)
{
    uint8_t buf[ACL_DEF_MAX];
    size_t n = acl_test_def("PASSWORD pw ALLOW sessions,locks allow READS "
                            "read * acquire jobs/* ADMIN jobs/nightly",
                            buf);
    struct acl_def d = decode(buf, n);
    CHECK_EQ(d.flags, ACL_ON | ACL_PASSWORD);
    CHECK_EQ(d.categories, ACL_CAT_SESSIONS | ACL_CAT_LOCKS | ACL_CAT_READS);
    CHECK_EQ(d.iterations, 1000);
    CHECK(d.salt[0] == 's' && d.hash[0] == 'p');
    CHECK_EQ(d.n_rules, 3);
    struct acl_rule r;
    acl_rule_at(&d, 1, &r);
    CHECK(r.level == ACL_ACQUIRE && r.prefix && r.len == 5 &&
          memcmp(r.pattern, "jobs/", 5) == 0);
    acl_rule_at(&d, 2, &r);
    CHECK(r.level == ACL_ADMIN && !r.prefix && r.len == 12);
    /* No password word: keep the one there is; OFF; NOPASSWORD. */
    n = acl_test_def("OFF ALLOW all", buf);
    CHECK_EQ(acl_decode(&d, buf, n, false), -1);
    CHECK_EQ(acl_decode(&d, buf, n, true), 0);
    CHECK_EQ(d.flags, ACL_KEEP_PASSWORD);
    CHECK_EQ(d.categories, ACL_CAT_ALL);
    n = acl_test_def("NOPASSWORD", buf);
    d = decode(buf, n);
    CHECK_EQ(d.flags, ACL_ON);
    CHECK_EQ(d.n_rules, 0);
}

TEST(acl, parse_errors)
{
    char err[256];
    CHECK_EQ(parse_err("ALLOW sessions,nope", err, sizeof err), -1);
    CHECK(strstr(err, "unknown category 'nope'") != NULL);
    CHECK_EQ(parse_err("PASSWORD a NOPASSWORD", err, sizeof err), -1);
    CHECK(strstr(err, "twice") != NULL);
    CHECK_EQ(parse_err("READ", err, sizeof err), -1);
    CHECK(strstr(err, "wants a value") != NULL);
    CHECK_EQ(parse_err("WRITE x", err, sizeof err), -1);
    CHECK(strstr(err, "unknown word 'WRITE'") != NULL);
    CHECK_EQ(parse_err("ALLOW sessions,", err, sizeof err), -1);
    char many[4096] = "";
    for (int i = 0; i <= ACL_RULES_MAX; i++)
        strcat(many, "READ x ");
    CHECK_EQ(parse_err(many, err, sizeof err), -1);
    CHECK(strstr(err, "more than") != NULL);
}

TEST(acl, rules_allow_what_they_cover)
{
    uint8_t buf[ACL_DEF_MAX];
    size_t n = acl_test_def(
        "NOPASSWORD READ * ACQUIRE jobs/* ADMIN jobs/nightly", buf);
    struct acl_def d = decode(buf, n);
    CHECK(acl_allows(&d, ACL_READ, "anything", 8));
    CHECK(acl_allows(&d, ACL_ACQUIRE, "jobs/a", 6));
    CHECK(acl_allows(&d, ACL_ACQUIRE, "jobs/", 5));
    CHECK(!acl_allows(&d, ACL_ACQUIRE, "jobs", 4));
    CHECK(!acl_allows(&d, ACL_ACQUIRE, "other", 5));
    CHECK(acl_allows(&d, ACL_ADMIN, "jobs/nightly", 12));
    CHECK(!acl_allows(&d, ACL_ADMIN, "jobs/nightly2", 13));
    CHECK(!acl_allows(&d, ACL_ADMIN, "jobs/a", 6));
    /* A list of a prefix: only a prefix rule covers it whole. */
    CHECK(acl_allows_prefix(&d, ACL_READ, "", 0));
    CHECK(acl_allows_prefix(&d, ACL_ACQUIRE, "jobs/x", 6));
    CHECK(!acl_allows_prefix(&d, ACL_ACQUIRE, "job", 3));
    CHECK(!acl_allows_prefix(&d, ACL_ADMIN, "jobs/nightly", 12));
    n = acl_test_def("NOPASSWORD ALLOW all", buf);
    d = decode(buf, n);
    CHECK(!acl_allows(&d, ACL_READ, "a", 1));
}

/* Every byte changed or cut gives -1 or another valid definition, never a
 * read past the end (the sanitizers watch); known bad fields are
 * refused. */
TEST(acl, decode_refuses_malformed)
{
    uint8_t buf[ACL_DEF_MAX];
    size_t n = acl_test_def("PASSWORD pw ALLOW all READ * ACQUIRE a", buf);
    struct acl_def d;
    for (size_t k = 0; k < n; k++) {
        uint8_t *p = malloc(k ? k : 1);
        memcpy(p, buf, k);
        CHECK_EQ(acl_decode(&d, p, k, true), -1);
        free(p);
    }
    uint8_t bad[ACL_DEF_MAX];
    memcpy(bad, buf, n);
    bad[0] = 2; /* format */
    CHECK_EQ(acl_decode(&d, bad, n, true), -1);
    memcpy(bad, buf, n);
    bad[1] |= 0x40; /* a flag nobody knows */
    CHECK_EQ(acl_decode(&d, bad, n, true), -1);
    memcpy(bad, buf, n);
    bad[1] |= ACL_KEEP_PASSWORD; /* with a record */
    CHECK_EQ(acl_decode(&d, bad, n, true), -1);
    memcpy(bad, buf, n);
    bad[5] = 0x80; /* a category nobody knows */
    CHECK_EQ(acl_decode(&d, bad, n, true), -1);
    memcpy(bad, buf, n);
    memset(bad + 6, 0, 4); /* 0 iterations */
    CHECK_EQ(acl_decode(&d, bad, n, true), -1);
    memcpy(bad, buf, n);
    bad[n] = 0;
    CHECK_EQ(acl_decode(&d, bad, n + 1, true), -1);
    unsigned ok = 0;
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(bad, buf, n);
            bad[i] ^= (uint8_t)(1 << bit);
            if (acl_decode(&d, bad, n, true) == 0) {
                ok++;
                for (unsigned r = 0; r < d.n_rules; r++) {
                    struct acl_rule rule;
                    acl_rule_at(&d, r, &rule);
                    CHECK(rule.len <= ACL_PATTERN_MAX);
                }
            }
        }
    }
    CHECK(ok > 0);
}

TEST(acl, split_at_blanks)
{
    struct acl_token t[3];
    const char *text = "  alice\tPASSWORD  x y\r";
    CHECK_EQ(acl_split(text, strlen(text), t, 3), 4);
    CHECK(t[0].len == 5 && memcmp(t[0].s, "alice", 5) == 0);
    CHECK(t[1].len == 8 && memcmp(t[1].s, "PASSWORD", 8) == 0);
    CHECK(t[2].len == 1 && t[2].s[0] == 'x');
    CHECK_EQ(acl_split("", 0, t, 3), 0);
    CHECK_EQ(acl_split(" \t ", 3, t, 3), 0);
}

/* A command's verdict: its category first, then its name's rule. */
TEST(acl, decide)
{
    uint8_t buf[ACL_DEF_MAX];
    size_t n = acl_test_def("NOPASSWORD ALLOW locks,reads ACQUIRE jobs/* "
                            "READ *",
                            buf);
    struct acl_def d = decode(buf, n);
    CHECK_EQ(acl_decide(&d, ACL_CAT_LOCKS, ACL_ACQUIRE, "jobs/a", 6, false),
             ACL_ALLOWED);
    CHECK_EQ(acl_decide(&d, ACL_CAT_LOCKS, ACL_ACQUIRE, "other", 5, false),
             ACL_NO_RULE);
    CHECK_EQ(acl_decide(&d, ACL_CAT_LOCKS, ACL_ADMIN, "jobs/a", 6, false),
             ACL_NO_RULE);
    CHECK_EQ(acl_decide(&d, ACL_CAT_SESSIONS, 0, NULL, 0, false),
             ACL_NO_CATEGORY);
    CHECK_EQ(acl_decide(&d, ACL_CAT_USERS, ACL_READ, "jobs/a", 6, false),
             ACL_NO_CATEGORY);
    CHECK_EQ(acl_decide(&d, 0, 0, NULL, 0, false), ACL_ALLOWED);
    CHECK_EQ(acl_decide(&d, ACL_CAT_READS, ACL_READ, "", 0, true), ACL_ALLOWED);
    CHECK_EQ(acl_decide(&d, ACL_CAT_READS, ACL_ACQUIRE, "jobs", 4, true),
             ACL_NO_RULE);
}

TEST(acl, names)
{
    CHECK(strcmp(acl_category_name(ACL_CAT_CLUSTER), "cluster") == 0);
    CHECK(strcmp(acl_level_name(ACL_ACQUIRE), "acquire") == 0);
}
