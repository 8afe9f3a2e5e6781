/* libdlock_driver.c - libdlock's driver of the client conformance suite
 * (tests/conformance/README.md): commands in on stdin, one line each,
 * answers and events out on stdout. Each command runs on a thread of its
 * own, so that a blocking acquire answers when it is granted while other
 * commands go on. */
#include <dlock.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LOCKS 16
#define LINE_MAX_LEN 1024

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct dlock_client *client;
static struct dlock_session *session;
static struct {
    char name[257];
    struct dlock_lock *l;
} locks[MAX_LOCKS];

/* One line out, whole (answers and events come from many threads). */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&mu);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    pthread_mutex_unlock(&mu);
}

static const char *code_of(int rc)
{
    switch (rc) {
    case DLOCK_EHELD:
        return "HELD";
    case DLOCK_EWAIT:
        return "TIMEOUT";
    case DLOCK_ENOSESSION:
        return "NOSESSION";
    case DLOCK_ELOST:
        return "LOST";
    case DLOCK_EIO:
    case DLOCK_ETIMEDOUT:
    case DLOCK_EREFUSED:
        return "UNAVAILABLE";
    case DLOCK_ENOTHELD:
        return "NOTHELD";
    default:
        return "ERROR";
    }
}

/* The slot of name (a free one when add), or -1; under mu. */
static int slot_of(const char *name, bool add)
{
    for (int i = 0; i < MAX_LOCKS; i++)
        if (locks[i].l != NULL && strcmp(locks[i].name, name) == 0)
            return i;
    if (!add)
        return -1;
    for (int i = 0; i < MAX_LOCKS; i++)
        if (locks[i].l == NULL)
            return i;
    return -1;
}

static struct dlock_lock *lock_of(const char *name)
{
    pthread_mutex_lock(&mu);
    int i = slot_of(name, false);
    struct dlock_lock *l = i >= 0 ? locks[i].l : NULL;
    pthread_mutex_unlock(&mu);
    return l;
}

/* The session is lost: so is every lock held. */
static void on_lost(struct dlock_session *s, void *arg)
{
    (void)s;
    (void)arg;
    char names[MAX_LOCKS][257];
    int n = 0;
    pthread_mutex_lock(&mu);
    for (int i = 0; i < MAX_LOCKS; i++)
        if (locks[i].l != NULL)
            memcpy(names[n++], locks[i].name, sizeof names[0]);
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < n; i++)
        say("event lost %s", names[i]);
}

struct cmd {
    char tag[32], verb[32], a[257], b[64];
};

static void run(struct cmd *c)
{
    int rc = 0;
    if (strcmp(c->verb, "open") == 0) {
        struct dlock_options o;
        dlock_options_init(&o);
        o.servers = c->a;
        o.timeout_ms = 10000;
        rc = dlock_client_new(&o, &client);
        if (rc == 0)
            rc = dlock_session_open(client, strtoull(c->b, NULL, 10), 0,
                                    &session);
        if (rc == 0) {
            dlock_session_on_lost(session, on_lost, NULL);
            say("%s ok %" PRIu64, c->tag, dlock_session_id(session));
            return;
        }
    } else if (strcmp(c->verb, "acquire") == 0) {
        struct dlock_acquire_options ao;
        struct dlock_lock *l = NULL;
        dlock_acquire_options_init(&ao);
        ao.wait_ms = strtoull(c->b, NULL, 10);
        ao.owner = c->a;
        rc = dlock_lock_acquire(session, c->a, &ao, &l);
        if (rc == 0) {
            pthread_mutex_lock(&mu);
            int i = slot_of(c->a, true);
            if (i >= 0) {
                snprintf(locks[i].name, sizeof locks[i].name, "%s", c->a);
                locks[i].l = l;
            }
            pthread_mutex_unlock(&mu);
            say("%s ok %" PRIu64, c->tag, dlock_lock_token(l));
            return;
        }
    } else if (strcmp(c->verb, "release") == 0) {
        pthread_mutex_lock(&mu);
        int i = slot_of(c->a, false);
        struct dlock_lock *l = i >= 0 ? locks[i].l : NULL;
        if (i >= 0)
            locks[i].l = NULL;
        pthread_mutex_unlock(&mu);
        rc = l != NULL ? dlock_lock_release(l) : DLOCK_ENOTHELD;
        if (rc == 0) {
            say("%s ok", c->tag);
            return;
        }
    } else if (strcmp(c->verb, "safe") == 0 || strcmp(c->verb, "lost") == 0) {
        struct dlock_lock *l = lock_of(c->a);
        if (l != NULL && strcmp(c->verb, "lost") == 0) {
            say("%s ok %d", c->tag, dlock_lock_lost(l) ? 1 : 0);
            return;
        }
        if (l != NULL) {
            uint64_t until = dlock_lock_safe_until(l), now = dlock_now_ms();
            say("%s ok %" PRIu64, c->tag, until > now ? until - now : 0);
            return;
        }
        rc = DLOCK_ENOTHELD;
    } else if (strcmp(c->verb, "close") == 0) {
        rc = dlock_session_close(session);
        session = NULL;
        dlock_client_free(client);
        client = NULL;
        if (rc == 0) {
            say("%s ok", c->tag);
            return;
        }
    } else {
        say("%s err UNKNOWN", c->tag);
        return;
    }
    say("%s err %s", c->tag, code_of(rc));
}

static void *thread_main(void *arg)
{
    run(arg);
    free(arg);
    return NULL;
}

int main(void)
{
    char line[LINE_MAX_LEN];
    while (fgets(line, sizeof line, stdin) != NULL) {
        struct cmd *c = calloc(1, sizeof *c);
        if (c == NULL)
            return 1;
        if (sscanf(line, "%31s %31s %256s %63s", c->tag, c->verb, c->a, c->b) <
            2) {
            free(c);
            continue;
        }
        pthread_t t;
        if (pthread_create(&t, NULL, thread_main, c) != 0) {
            free(c);
            return 1;
        }
        pthread_detach(t);
    }
    return 0;
}
