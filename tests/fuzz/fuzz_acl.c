/* fuzz_acl.c - libFuzzer target for users' definitions (src/lock/acl.c),
 * what USER.SET and a users file give the server and what the log and
 * snapshots keep. Any input is read two ways, neither of which may crash or
 * read past its end:
 *   - as bytes, by acl_decode: a definition that decodes has rules within
 *     their limits, and each check of a name against them answers;
 *   - as text, words separated by zero bytes, by acl_parse: what parses
 *     encodes to bytes that decode (with the password kept, or a record),
 *     with the same flags, categories and rules, and a rule's own pattern
 *     is allowed at its level. */
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
    acl_allows(&d, ACL_READ, (const char *)p, (uint32_t)(n < 300 ? n : 300));
    acl_allows_prefix(&d, ACL_ADMIN, (const char *)p,
                      (uint32_t)(n < 9 ? n : 9));
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
    free(copy);
    return 0;
}
