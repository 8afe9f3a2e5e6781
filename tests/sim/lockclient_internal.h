/* lockclient_internal.h - the simulated clients' state, shared by their
 * files: lockclient.c (requests, what clients learn, keepalives, retries,
 * the probe) and lockclient_gen.c (the random requests). */
#ifndef DLOCK_SIM_LOCKCLIENT_INTERNAL_H
#define DLOCK_SIM_LOCKCLIENT_INTERNAL_H

#include "lockclient.h"

#define CLIENTS_MAX 5
#define SESSIONS_MAX 3
#define HOLDS_MAX 12
#define HISTORY 24
/* Requests per session kept well below the 256 outcomes a session
 * remembers, so that every retry must find its first outcome. */
#define REQS_PER_SESSION 200
#define SENT_TIMEOUT_MS 2000
#define MAX_ATTEMPTS 40

#define LOCKCLIENT_NAMES 9
#define LOCKCLIENT_LOCKS 5  /* names 0 to 4: locks */
#define LOCKCLIENT_SEMS 5   /* names 5 and 6: semaphores */
#define LOCKCLIENT_ELECTS 7 /* names 7 and 8: elections */
#define LOCKCLIENT_OWNERS 3
/* The names (a run uses the first few locks, and every semaphore and
 * election) and owners clients use. */
extern const char *const lockclient_names[LOCKCLIENT_NAMES];
extern const char *const lockclient_owners[LOCKCLIENT_OWNERS];

enum { R_FREE, R_UNSENT, R_SENT, R_WAITING, R_UNKNOWN, R_DONE };

/* A request and what its client learnt of it. Its strings live in the
 * slot, which is never moved. */
struct creq {
    uint64_t gen; /* bumped when the slot is reused */
    uint8_t state;
    struct fsm_cmd cmd;
    char name[24];
    char owner[8];
    char req[40];
    char value[16];
    bool raw;
    uint8_t raw_data[48];
    uint32_t raw_len;
    uint64_t sent_at;
    uint64_t node; /* where it was sent, or waits */
    unsigned attempts;
    bool learnt;
    struct fsm_result out; /* the first outcome learnt; a wait's end */
    bool holds_unknown;    /* out is a grant learnt from a wait's event,
                              which does not tell the holds */
};

struct csession {
    uint64_t id;
    uint64_t ttl;
    uint64_t next_ka;
    unsigned reqs;
};

/* A lock the client believes it holds; session 0: a lease lock. shared:
 * the mode it believes it holds it in (the last it acquired, or shared
 * after a DOWNGRADE); a release refused (NOTHELD) turns it, a second
 * forgets the hold. */
struct chold {
    uint64_t session;
    unsigned name;
    unsigned owner;
    uint64_t token;
    bool shared;
    bool refused;
    uint8_t kind;   /* enum fsm_kind: what acquired it */
    uint32_t count; /* a semaphore's: the permits it believes it holds */
};

struct client {
    struct lockclient *lc;
    unsigned no;
    struct csession s[SESSIONS_MAX];
    unsigned n_s;
    struct chold h[HOLDS_MAX];
    unsigned n_h;
    struct creq r[HISTORY];
    unsigned next; /* the slot to reuse first */
    uint64_t counter;
    uint64_t closed; /* a session it closed or lost, to use by mistake */
    bool paused;     /* no keepalives: its sessions will expire */
};

/* The probe's stages, in order. */
enum {
    P_OPEN_A,
    P_OPEN_B,
    P_ACQUIRE_A,
    P_ACQUIRE_B,
    P_RELEASE_A,
    P_GRANT_B,
    P_APPLIED,
    P_DONE
};

struct probe {
    struct client cl; /* requests in r[0] and r[1] */
    unsigned stage;
    uint64_t a, b;
    uint64_t token_a;
    uint64_t grant_index; /* committed when B learnt its grant */
};

struct lockclient {
    struct lockserver *srv;
    struct lockcheck *ck;
    uint64_t leader; /* the cluster's leader at this step */
    struct client cl[CLIENTS_MAX];
    unsigned n_cl;
    unsigned n_locks;
    struct probe probe;
    struct lockclient_stats st;
};

/* lockclient.c */
/* A slot for a new request, or NULL if all are busy. */
struct creq *lockclient_new_req(struct client *cl);
/* Copies s into buf and points *p, *len at it. */
void lockclient_set_str(char *buf, size_t cap, const char *s, const char **p,
                        uint32_t *len);
/* Gives q a fresh random request id, or (sometimes) none. */
void lockclient_fresh_req(struct client *cl, struct cluster *c, struct creq *q);
/* The permits of semaphore name k (LOCKCLIENT_SEMS and after). */
uint64_t lockclient_permits(unsigned k);
/* Proposes q through the leader (sometimes another node). */
void lockclient_send(struct client *cl, struct cluster *c, struct creq *q);
struct csession *lockclient_session_find(struct client *cl, uint64_t id);

/* lockclient_gen.c */
/* A new request, chosen at random, or a repeat of an earlier one. */
void lockclient_gen_act(struct client *cl, struct cluster *c);

#endif
