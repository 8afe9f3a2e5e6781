/* fuzz_acl.c - libFuzzer target for users' definitions (src/lock/acl.c),
 * what USER.SET and a users file give the server and what the log and
 * snapshots keep. Any input is read three ways, none of which may crash or
 * read past its end:
 *   - as bytes, by acl_decode: a definition that decodes has rules within
 *     their limits, and each check of a name against them answers;
 *   - as text, words separated by zero bytes, by acl_parse: what parses
 *     encodes to bytes that decode (with the password kept, or a record),
 *     with the same flags, categories and rules, and a rule's own pattern
 *     is allowed at its level;
 *   - as a line of a users file, split at blanks by acl_split. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_copy.h"
#include "lock/acl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void as_bytes(const uint8_t *p, size_t n)
{
    struct acl_def d;
    if (acl_decode(&d, p, n, true) != 0)
        return;
    if (d.n_rules > ACL_RULES_MAX)
        abort();
    for (unsigned i = 0; i < d.n_rules; i++) {
        struct acl_rule r;
        acl_rule_at(&d, i, &r);
        if (r.len > ACL_PATTERN_MAX || r.level < ACL_READ ||
            r.level > ACL_ADMIN)
            abort();
        if (!acl_allows(&d, r.level, r.pattern, r.len))
            abort();
    }
    /* The verdict of commands of each category and level on a name made
     * of the input: allowed exactly when the category and a rule say so. */
    uint32_t len = (uint32_t)(n < 300 ? n : 300);
    for (uint32_t cat = 1; cat & ACL_CAT_ALL; cat <<= 1) {
        for (uint8_t level = ACL_READ; level <= ACL_ADMIN; level++) {
            int v = acl_decide(&d, cat, level, (const char *)p, len, false);
            bool want_cat = (d.categories & cat) != 0;
            bool want_rule = acl_allows(&d, level, (const char *)p, len);
            if (v != (!want_cat    ? ACL_NO_CATEGORY
                      : !want_rule ? ACL_NO_RULE
                                   : ACL_ALLOWED))
                abort();
            if (acl_decide(&d, cat, level, (const char *)p, len, true) ==
                    ACL_ALLOWED &&
                !want_rule)
                abort(); /* a prefix rule covering p covers p itself */
        }
    }
}

/* As a users file's line: split at blanks, the first word the user. */
static void as_line(const uint8_t *p, size_t n)
{
    struct acl_token t[ACL_TOKENS_MAX + 1];
    size_t k = acl_split((const char *)p, n, t, ACL_TOKENS_MAX + 1);
    if (k == 0 || k > ACL_TOKENS_MAX + 1)
        return;
    for (size_t i = 0; i < k; i++)
        if (t[i].len == 0 || t[i].s < (const char *)p ||
            t[i].s + t[i].len > (const char *)p + n)
            abort();
    struct acl_spec sp;
    char err[256];
    if (acl_user_ok(t[0].s, t[0].len))
        acl_parse(&sp, t + 1, k - 1, err, sizeof err);
}

static void as_text(const uint8_t *p, size_t n)
{
    struct acl_token t[ACL_TOKENS_MAX + 1];
    size_t k = 0, from = 0;
    for (size_t i = 0; i <= n && k < ACL_TOKENS_MAX + 1; i++) {
        if (i == n || p[i] == 0) {
            t[k++] = (struct acl_token){(const char *)p + from,
                                        (uint32_t)(i - from)};
            from = i + 1;
        }
    }
    struct acl_spec sp;
    char err[256];
    if (acl_parse(&sp, t, k, err, sizeof err) != 0) {
        if (memchr(err, 0, sizeof err) == NULL)
            abort();
        return;
    }
    uint8_t salt[ACL_SALT_LEN] = {0}, hash[ACL_HASH_LEN] = {0};
    uint8_t *def = malloc(ACL_DEF_MAX);
    if (def == NULL)
        abort();
    size_t len = acl_encode(&sp, 1000, salt, hash, def, ACL_DEF_MAX);
    struct acl_def d;
    if (len == 0 || len > ACL_DEF_MAX || acl_decode(&d, def, len, true) != 0 ||
        d.n_rules != sp.n_rules || d.categories != sp.categories)
        abort();
    for (unsigned i = 0; i < d.n_rules; i++) {
        struct acl_rule r;
        acl_rule_at(&d, i, &r);
        if (r.level != sp.rules[i].level || r.len != sp.rules[i].len ||
            r.prefix != sp.rules[i].prefix ||
            memcmp(r.pattern, sp.rules[i].pattern, r.len) != 0 ||
            !acl_allows(&d, r.level, r.pattern, r.len))
            abort();
    }
    free(def);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = fuzz_copy(data, size);
    as_bytes(copy, size);
    as_text(copy, size);
    as_line(copy, size);
    free(copy);
    return 0;
}
