/* test_client_auth.c - libdlock logging in (docs/security.md) against a
 * 3-server dlockd cluster whose users come from a users file: credentials
 * from dlock_options and from DLOCK_USER and DLOCK_PASSWORD, a session
 * kept alive (the keeper's own connection logs in too) across a leader
 * kill, a watch, a wrong password refused at once with DLOCK_EAUTH, and a
 * name outside the user's rules refused with DLOCK_EPERM. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "client_test.h"

static struct ct_cluster cl;
static char users[256];

static void auth_cluster(void)
{
    snprintf(users, sizeof users, "/tmp/dlock-users-%d", (int)getpid());
    FILE *f = fopen(users, "w");
    CHECK(f != NULL);
    fputs("cron PASSWORD cronpw ALLOW sessions,locks,reads ACQUIRE jobs/* "
          "READ *\n",
          f);
    fclose(f);
    const char *args[] = {"--users-file", users, "--password-iterations",
                          "1000", NULL};
    ct_cluster_start_args(&cl, 3, args);
}

static struct dlock_client *client_as(const char *user, const char *password);

/* Waits until the cluster has a leader and its users. */
static void wait_ready(void)
{
    struct dlock_client *c = client_as("cron", "cronpw");
    ct_wait_leader(&cl, c);
    dlock_client_free(c);
}

static struct dlock_client *client_as(const char *user, const char *password)
{
    struct dlock_options o;
    dlock_options_init(&o);
    o.servers = cl.addrs;
    o.timeout_ms = 5000;
    o.user = user;
    o.password = password;
    struct dlock_client *c;
    CHECK_EQ(dlock_client_new(&o, &c), 0);
    return c;
}

/* A name outside cron's rules: refused, and nothing changes. */
static void refused_name(struct dlock_client *c, struct dlock_session *s)
{
    struct dlock_lock *other;
    CHECK_EQ(dlock_lock_acquire(s, "other", NULL, &other), DLOCK_EPERM);
    CHECK(strstr(dlock_errmsg(c), "NOPERM") != NULL);
    struct dlock_lock_status st;
    CHECK_EQ(dlock_lock_status(c, "other", &st), 0);
    CHECK(!st.held);
}

TEST_TIMEOUT(auth, a_user_holds_across_a_leader_kill, 120)
{
    auth_cluster();
    wait_ready();
    setenv("DLOCK_USER", "cron", 1);
    setenv("DLOCK_PASSWORD", "cronpw", 1);
    struct dlock_client *c = client_as(NULL, NULL);
    ct_hold_across_leader_kill(&cl, c, "jobs/a", refused_name);
    dlock_client_free(c);
    unsetenv("DLOCK_USER");
    unsetenv("DLOCK_PASSWORD");
    ct_stop(&cl);
    unlink(users);
}

/* A wrong password, no password, and a user without one: each said at
 * once, not retried until the timeout. */
TEST_TIMEOUT(auth, refusals_are_said_at_once, 60)
{
    auth_cluster();
    wait_ready();
    struct dlock_client *c = client_as("cron", "wrong");
    struct dlock_session *s;
    uint64_t t0 = dlock_now_ms();
    CHECK_EQ(dlock_session_open(c, 2000, 0, &s), DLOCK_EAUTH);
    CHECK(strstr(dlock_errmsg(c), "WRONGPASS") != NULL);
    CHECK(dlock_now_ms() - t0 < 5000);
    dlock_client_free(c);
    c = client_as(NULL, NULL);
    CHECK_EQ(dlock_session_open(c, 2000, 0, &s), DLOCK_EAUTH);
    CHECK(strstr(dlock_errmsg(c), "NOAUTH") != NULL);
    dlock_client_free(c);
    struct dlock_options o;
    dlock_options_init(&o);
    o.servers = cl.addrs;
    o.user = "cron";
    CHECK_EQ(dlock_client_new(&o, &c), DLOCK_EINVAL);
    CHECK(strstr(dlock_errmsg(NULL), "without a password") != NULL);
    ct_stop(&cl);
    unlink(users);
}
