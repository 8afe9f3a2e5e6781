/* acl.c - users' definitions: their text, their bytes, and the checks
 * (acl.h).
 *
 * The bytes, little-endian: a format byte (1), the flags (1 byte), the
 * categories (4 bytes); with ACL_PASSWORD the iterations (4 bytes), the
 * salt and the hash; the number of rules (1 byte), then each rule's level
 * (1 byte), prefix flag (1 byte), pattern length (2 bytes) and pattern. */
#include "lock/acl.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/le.h"

#define FORMAT 1

static const char *const cat_names[] = {"sessions", "locks", "reads", "cluster",
                                        "users"};
#define N_CATS (sizeof cat_names / sizeof cat_names[0])

size_t acl_split(const char *text, size_t len, struct acl_token *t, size_t max)
{
    size_t n = 0, i = 0;
    for (;;) {
        while (i < len &&
               (text[i] == ' ' || text[i] == '\t' || text[i] == '\r'))
            i++;
        if (i == len)
            return n;
        size_t from = i;
        while (i < len && text[i] != ' ' && text[i] != '\t' && text[i] != '\r')
            i++;
        if (n < max)
            t[n] = (struct acl_token){text + from, (uint32_t)(i - from)};
        n++;
    }
}

bool acl_user_ok(const char *s, size_t len)
{
    if (len < 1 || len > ACL_USER_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
                  ch == '@' || ch == '-';
        if (!ok)
            return false;
    }
    return true;
}

static bool is(const struct acl_token *t, const char *kw)
{
    return t->len == strlen(kw) && strncasecmp(t->s, kw, t->len) == 0;
}

const char *acl_category_name(uint32_t bit)
{
    for (unsigned i = 0; i < N_CATS; i++)
        if (bit == 1u << i)
            return cat_names[i];
    return "?";
}

const char *acl_level_name(uint8_t level)
{
    return level == ACL_READ      ? "read"
           : level == ACL_ACQUIRE ? "acquire"
           : level == ACL_ADMIN   ? "admin"
                                  : "?";
}

/* ALLOW's value: categories separated by commas. */
static int categories(const struct acl_token *t, uint32_t *out, char *err,
                      size_t cap)
{
    uint32_t from = 0;
    while (from <= t->len) {
        uint32_t to = from;
        while (to < t->len && t->s[to] != ',')
            to++;
        struct acl_token one = {t->s + from, to - from};
        uint32_t bit = 0;
        if (is(&one, "all"))
            bit = ACL_CAT_ALL;
        for (unsigned i = 0; i < N_CATS && bit == 0; i++)
            if (is(&one, cat_names[i]))
                bit = 1u << i;
        if (bit == 0) {
            snprintf(err, cap,
                     "unknown category '%.*s' (sessions, locks, reads, "
                     "cluster, users, all)",
                     (int)(one.len > 64 ? 64 : one.len), one.s);
            return -1;
        }
        *out |= bit;
        from = to + 1;
    }
    return 0;
}

static int rule(struct acl_spec *sp, uint8_t level, const struct acl_token *t,
                char *err, size_t cap)
{
    if (sp->n_rules == ACL_RULES_MAX) {
        snprintf(err, cap, "more than %d rules", ACL_RULES_MAX);
        return -1;
    }
    if (t->len < 1 || t->len > ACL_PATTERN_MAX) {
        snprintf(err, cap, "a pattern is 1 to %d bytes", ACL_PATTERN_MAX);
        return -1;
    }
    struct acl_rule *r = &sp->rules[sp->n_rules++];
    r->level = level;
    r->prefix = t->s[t->len - 1] == '*';
    r->pattern = t->s;
    r->len = t->len - (r->prefix ? 1 : 0);
    return 0;
}

int acl_parse(struct acl_spec *sp, const struct acl_token *t, size_t n,
              char *err, size_t cap)
{
    memset(sp, 0, sizeof *sp);
    sp->flags = ACL_ON | ACL_KEEP_PASSWORD;
    bool pw_given = false;
    for (size_t i = 0; i < n; i++) {
        const struct acl_token *k = &t[i];
        if (is(k, "ON") || is(k, "OFF")) {
            sp->flags = (uint8_t)(is(k, "ON") ? sp->flags | ACL_ON
                                              : sp->flags & ~ACL_ON);
            continue;
        }
        if (is(k, "NOPASSWORD") || is(k, "PASSWORD")) {
            if (pw_given) {
                snprintf(err, cap, "a password is given twice");
                return -1;
            }
            pw_given = true;
            sp->flags &= (uint8_t)~ACL_KEEP_PASSWORD;
            if (is(k, "NOPASSWORD"))
                continue;
        }
        if (i + 1 == n) {
            snprintf(err, cap, "'%.*s' wants a value",
                     (int)(k->len > 64 ? 64 : k->len), k->s);
            return -1;
        }
        const struct acl_token *v = &t[++i];
        int rc = 0;
        if (is(k, "PASSWORD")) {
            if (v->len < 1 || v->len > ACL_PASSWORD_MAX) {
                snprintf(err, cap, "a password is 1 to %d bytes",
                         ACL_PASSWORD_MAX);
                return -1;
            }
            sp->password = v->s;
            sp->password_len = v->len;
        } else if (is(k, "ALLOW")) {
            rc = categories(v, &sp->categories, err, cap);
        } else if (is(k, "READ")) {
            rc = rule(sp, ACL_READ, v, err, cap);
        } else if (is(k, "ACQUIRE")) {
            rc = rule(sp, ACL_ACQUIRE, v, err, cap);
        } else if (is(k, "ADMIN")) {
            rc = rule(sp, ACL_ADMIN, v, err, cap);
        } else {
            snprintf(err, cap,
                     "unknown word '%.*s' (ON, OFF, PASSWORD, NOPASSWORD, "
                     "ALLOW, READ, ACQUIRE, ADMIN)",
                     (int)(k->len > 64 ? 64 : k->len), k->s);
            return -1;
        }
        if (rc != 0)
            return -1;
    }
    return 0;
}

size_t acl_encode(const struct acl_spec *sp, uint32_t iterations,
                  const uint8_t *salt, const uint8_t *hash, uint8_t *buf,
                  size_t cap)
{
    if (cap < ACL_DEF_MAX)
        return 0;
    uint8_t *p = buf;
    bool pw = sp->password != NULL;
    *p++ = FORMAT;
    *p++ = (uint8_t)((sp->flags & (ACL_ON | ACL_KEEP_PASSWORD)) |
                     (pw ? ACL_PASSWORD : 0));
    le_put32(p, sp->categories & ACL_CAT_ALL);
    p += 4;
    if (pw) {
        le_put32(p, iterations);
        memcpy(p + 4, salt, ACL_SALT_LEN);
        memcpy(p + 4 + ACL_SALT_LEN, hash, ACL_HASH_LEN);
        p += 4 + ACL_SALT_LEN + ACL_HASH_LEN;
    }
    *p++ = (uint8_t)sp->n_rules;
    for (unsigned i = 0; i < sp->n_rules; i++) {
        const struct acl_rule *r = &sp->rules[i];
        p[0] = r->level;
        p[1] = r->prefix;
        le_put16(p + 2, (uint16_t)r->len);
        if (r->len > 0)
            memcpy(p + 4, r->pattern, r->len);
        p += 4 + r->len;
    }
    return (size_t)(p - buf);
}

int acl_decode(struct acl_def *d, const uint8_t *buf, size_t len, bool keep)
{
    memset(d, 0, sizeof *d);
    if (len < 7 || buf[0] != FORMAT)
        return -1;
    uint8_t allowed = ACL_ON | ACL_PASSWORD | (keep ? ACL_KEEP_PASSWORD : 0);
    d->flags = buf[1];
    d->categories = le_get32(buf + 2);
    if ((d->flags & ~allowed) != 0 || (d->categories & ~ACL_CAT_ALL) != 0 ||
        ((d->flags & ACL_PASSWORD) && (d->flags & ACL_KEEP_PASSWORD)))
        return -1;
    size_t off = 6;
    if (d->flags & ACL_PASSWORD) {
        if (len - off < 4 + ACL_SALT_LEN + ACL_HASH_LEN)
            return -1;
        d->iterations = le_get32(buf + off);
        d->salt = buf + off + 4;
        d->hash = buf + off + 4 + ACL_SALT_LEN;
        off += 4 + ACL_SALT_LEN + ACL_HASH_LEN;
        if (d->iterations < ACL_ITERATIONS_MIN ||
            d->iterations > ACL_ITERATIONS_MAX)
            return -1;
    }
    if (len - off < 1)
        return -1;
    d->n_rules = buf[off++];
    d->rules = buf + off;
    if (d->n_rules > ACL_RULES_MAX)
        return -1;
    for (unsigned i = 0; i < d->n_rules; i++) {
        if (len - off < 4)
            return -1;
        uint8_t level = buf[off], prefix = buf[off + 1];
        uint32_t n = le_get16(buf + off + 2);
        if (level < ACL_READ || level > ACL_ADMIN || prefix > 1 ||
            n > ACL_PATTERN_MAX || (n == 0 && !prefix) || len - off - 4 < n)
            return -1;
        off += 4 + n;
    }
    return off == len ? 0 : -1;
}

/* Rules are few (ACL_RULES_MAX): found by walking from the first. */
void acl_rule_at(const struct acl_def *d, unsigned i, struct acl_rule *r)
{
    const uint8_t *p = d->rules;
    for (unsigned k = 0; k < i; k++)
        p += 4 + le_get16(p + 2);
    r->level = p[0];
    r->prefix = p[1] != 0;
    r->len = le_get16(p + 2);
    r->pattern = (const char *)p + 4;
}

/* Calls the matching of each rule of at least level, walking them once. */
static bool any_rule(const struct acl_def *d, uint8_t level, const char *name,
                     uint32_t len, bool whole_prefix)
{
    const uint8_t *p = d->rules;
    for (unsigned i = 0; i < d->n_rules; i++) {
        uint8_t lv = p[0];
        bool prefix = p[1] != 0;
        uint32_t n = le_get16(p + 2);
        const uint8_t *pat = p + 4;
        p += 4 + n;
        if (lv < level || (whole_prefix && !prefix))
            continue;
        if (prefix ? len >= n && memcmp(name, pat, n) == 0
                   : len == n && memcmp(name, pat, n) == 0)
            return true;
    }
    return false;
}

bool acl_allows(const struct acl_def *d, uint8_t level, const char *name,
                uint32_t len)
{
    return any_rule(d, level, name, len, false);
}

int acl_decide(const struct acl_def *d, uint32_t category, uint8_t level,
               const char *name, uint32_t len, bool prefix)
{
    if (category != 0 && !(d->categories & category))
        return ACL_NO_CATEGORY;
    if (name != NULL && !any_rule(d, level, name, len, prefix))
        return ACL_NO_RULE;
    return ACL_ALLOWED;
}

bool acl_allows_prefix(const struct acl_def *d, uint8_t level,
                       const char *prefix, uint32_t len)
{
    return any_rule(d, level, prefix, len, true);
}
