/* acl_test.h - definitions for tests: a user's text (space-separated
 * words, as USER.SET takes them) parsed and encoded with a made-up password
 * record. */
#ifndef DLOCK_ACL_TEST_H
#define DLOCK_ACL_TEST_H

#include "harness.h"

#include "lock/acl.h"

/* Splits text at blanks into t (at most ACL_TOKENS_MAX words). */
static inline size_t acl_test_split(const char *text, struct acl_token *t)
{
    size_t n = acl_split(text, strlen(text), t, ACL_TOKENS_MAX);
    return n < ACL_TOKENS_MAX ? n : ACL_TOKENS_MAX;
}

/* The bytes of the definition text (which must parse) into buf
 * (ACL_DEF_MAX); a password gets a record with salt 's'... and hash made
 * of its first byte. Returns the length. */
static inline size_t acl_test_def(const char *text, uint8_t *buf)
{
    char copy[4096];
    struct acl_token t[ACL_TOKENS_MAX];
    struct acl_spec sp;
    char err[256];
    snprintf(copy, sizeof copy, "%s", text);
    size_t n = acl_test_split(copy, t);
    CHECK_MSG(acl_parse(&sp, t, n, err, sizeof err) == 0, "%s: %s", text, err);
    uint8_t salt[ACL_SALT_LEN], hash[ACL_HASH_LEN];
    memset(salt, 's', sizeof salt);
    memset(hash, sp.password ? sp.password[0] : 0, sizeof hash);
    return acl_encode(&sp, 1000, salt, hash, buf, ACL_DEF_MAX);
}

#endif
