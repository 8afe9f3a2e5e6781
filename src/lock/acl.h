/* acl.h - who may do what (docs/security.md, Users and permissions): a
 * user's definition (enabled or not, its password record, the command
 * categories it may use, its rules over names), the text that states one
 * (USER.SET's arguments, a line of a users file), its bytes as the log and
 * snapshots keep them, and the check of a command against it.
 *
 * Pure: the password is hashed by the server (PBKDF2-HMAC-SHA256, off the
 * loop) between acl_parse, which finds it, and acl_encode, which stores its
 * record; nothing here hashes, reads a clock or does I/O. */
#ifndef DLOCK_ACL_H
#define DLOCK_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACL_USER_MAX 64     /* a user name's bytes */
#define ACL_PATTERN_MAX 256 /* a rule's name or prefix (a lock name's) */
#define ACL_RULES_MAX 32    /* rules of one user */
#define ACL_PASSWORD_MAX 512
#define ACL_SALT_LEN 16
#define ACL_HASH_LEN 32
#define ACL_ITERATIONS_MIN 1
#define ACL_ITERATIONS_MAX 10000000
/* The bytes of the largest definition (acl_encode). */
#define ACL_DEF_MAX                                                            \
    (1 + 1 + 4 + 4 + ACL_SALT_LEN + ACL_HASH_LEN + 1 +                         \
     ACL_RULES_MAX * (1 + 1 + 2 + ACL_PATTERN_MAX))
/* The most tokens a definition's text takes (a keyword and a value each). */
#define ACL_TOKENS_MAX (2 * ACL_RULES_MAX + 16)

/* Command categories (docs/protocol.md §6 lists each command's). */
enum acl_category {
    ACL_CAT_SESSIONS = 1 << 0, /* SESSION.OPEN, KEEPALIVE, CLOSE, ... */
    ACL_CAT_LOCKS = 1 << 1,    /* acquire, release, extend: every kind */
    ACL_CAT_READS = 1 << 2,    /* status, holders, waiters, lists, watches */
    ACL_CAT_CLUSTER = 1 << 3,  /* CLUSTER.ADD, CLUSTER.REMOVE, CONFIG */
    ACL_CAT_USERS = 1 << 4,    /* USER.SET, USER.DEL, USER.GET, USER.LIST */
};
#define ACL_CAT_ALL 0x1fu

/* What a rule lets a user do with the names it covers; each level has the
 * ones below it. */
enum acl_level {
    ACL_READ = 1,    /* read its state and watch it */
    ACL_ACQUIRE = 2, /* acquire and release it (and extend, resign...) */
    ACL_ADMIN = 3,   /* end another's hold of it (LOCK.REVOKE) */
};

/* Definition flags. */
#define ACL_ON 1u       /* the user may log in (OFF: kept, refused) */
#define ACL_PASSWORD 2u /* it has a password record */
/* USER.SET only, never stored: keep the password the user has (none if
 * it is new). The state machine resolves it. */
#define ACL_KEEP_PASSWORD 4u

struct acl_token {
    const char *s;
    uint32_t len;
};

struct acl_rule {
    uint8_t level; /* enum acl_level */
    bool prefix;   /* pattern ends in '*': every name that starts with it */
    const char *pattern;
    uint32_t len; /* without the '*' */
};

/* A definition as stated: acl_parse fills it (pointers into the tokens). */
struct acl_spec {
    uint8_t flags; /* ACL_ON, ACL_KEEP_PASSWORD: no PASSWORD or NOPASSWORD
                      given */
    uint32_t categories;
    const char *password; /* PASSWORD's, or NULL */
    uint32_t password_len;
    struct acl_rule rules[ACL_RULES_MAX];
    unsigned n_rules;
};

/* A definition as stored, decoded: pointers into its bytes. */
struct acl_def {
    uint8_t flags; /* ACL_ON, ACL_PASSWORD */
    uint32_t categories;
    uint32_t iterations; /* with ACL_PASSWORD: the record */
    const uint8_t *salt; /* ACL_SALT_LEN bytes */
    const uint8_t *hash; /* ACL_HASH_LEN bytes */
    unsigned n_rules;
    const uint8_t *rules; /* acl_rule_at reads them */
};

/* Splits the len bytes at text into words at blanks (spaces, tabs, CR),
 * at most max of them into t (pointing into text); returns how many there
 * are, which may be more than max. */
size_t acl_split(const char *text, size_t len, struct acl_token *t, size_t max);

/* Whether s can name a user: 1 to ACL_USER_MAX bytes of letters, digits
 * and "._@-". */
bool acl_user_ok(const char *s, size_t len);

/* Parses the text of a definition: tokens ON | OFF, PASSWORD p |
 * NOPASSWORD, ALLOW c[,c...] (sessions, locks, reads, cluster, users,
 * all), READ | ACQUIRE | ADMIN pattern (an exact name, a prefix ending in
 * '*', or '*' for every name), keywords in any case, repeated as wanted.
 * 0; or -1 with what is wrong in err (cap bytes, NUL-terminated). */
int acl_parse(struct acl_spec *sp, const struct acl_token *t, size_t n,
              char *err, size_t cap);

/* Encodes sp with the password record (salt, hash, iterations; used only
 * when sp has a password) into buf (cap >= ACL_DEF_MAX). Returns the
 * bytes written. */
size_t acl_encode(const struct acl_spec *sp, uint32_t iterations,
                  const uint8_t *salt, const uint8_t *hash, uint8_t *buf,
                  size_t cap);

/* Decodes and validates a definition (canonical bytes only: known flags
 * and categories, rules in range, nothing after). With keep, the flag
 * ACL_KEEP_PASSWORD (and no record) is accepted too. 0 or -1. */
int acl_decode(struct acl_def *d, const uint8_t *buf, size_t len, bool keep);

/* The i-th rule of d (i < d->n_rules). */
void acl_rule_at(const struct acl_def *d, unsigned i, struct acl_rule *r);

/* Whether d lets its user act at level on the name. */
bool acl_allows(const struct acl_def *d, uint8_t level, const char *name,
                uint32_t len);
/* Whether d lets its user act at level on every name that starts with
 * prefix (LOCK.LIST prefix): some prefix rule covers them all. */
bool acl_allows_prefix(const struct acl_def *d, uint8_t level,
                       const char *prefix, uint32_t len);

/* What a command asks of a user: a category (0: none), and with a name
 * (or a prefix) the level a rule must give on it. */
enum acl_verdict {
    ACL_ALLOWED = 0,
    ACL_NO_CATEGORY = 1, /* the user may not use the category */
    ACL_NO_RULE = 2,     /* no rule gives the level on the name */
};
/* The verdict for a command of category on name (NULL: it names none; a
 * prefix when prefix is set) at level. */
int acl_decide(const struct acl_def *d, uint32_t category, uint8_t level,
               const char *name, uint32_t len, bool prefix);

/* The name of a category (one bit) and of a level, for replies. */
const char *acl_category_name(uint32_t bit);
const char *acl_level_name(uint8_t level);

#endif
