/* lockmodel_internal.h - the reference model's state, shared by its files:
 * lockmodel.c (the state and the rules it follows) and lockmodel_agree.c
 * (comparing it with a machine, digests, descriptions). */
#ifndef DLOCK_SIM_LOCKMODEL_INTERNAL_H
#define DLOCK_SIM_LOCKMODEL_INTERNAL_H

#include "lockmodel.h"

struct mwait {
    uint64_t session;
    uint64_t index; /* of its ACQUIRE */
    uint64_t deadline;
    uint64_t gone_until; /* its client went away (UNWAIT): ends then */
    uint64_t seen;       /* the ACQUIRE's index, or its latest repeat's */
    uint32_t delay_ms;
    bool shared;    /* an ACQUIRE_SHARED's, or a SEM_ACQUIRE's */
    uint32_t count; /* a SEM_ACQUIRE's permits asked for */
    uint8_t owner_len;
    uint8_t req_len;
    uint16_t value_len; /* a CAMPAIGN's value */
    char owner[FSM_OWNER_MAX];
    char req[FSM_REQ_MAX];
    char value[FSM_VALUE_MAX];
};

/* One (session, owner)'s hold of a lock, its holds counted per mode. */
struct mhold {
    uint64_t session;
    uint64_t token;       /* the token it was first granted with */
    uint64_t grant;       /* the last answer about the blocking ACQUIRE it went
                             to (that waiter's seen), until a repeat learns it;
                             else 0 */
    uint32_t excl;        /* exclusive holds */
    uint32_t shared;      /* shared holds */
    uint32_t delay_ms;    /* lock-delay if its session expires */
    uint32_t grant_count; /* a semaphore's: the permits of its last grant */
    uint8_t owner_len;
    char owner[FSM_OWNER_MAX];
};

struct mlock {
    char name[FSM_NAME_MAX];
    uint32_t name_len;
    struct mhold *h; /* by (session, owner) */
    size_t n_h;
    size_t cap_h;
    uint64_t available_at; /* end of its lock-delay, 0 if none */
    struct mwait *w;       /* the FIFO, first at 0 */
    size_t n_w;
    size_t cap_w;
    uint8_t kind;       /* enum fsm_kind */
    uint32_t permits;   /* a semaphore's N */
    uint32_t expired;   /* a semaphore's permits held back until
                           available_at */
    uint16_t value_len; /* an election's value, while it has a leader */
    char value[FSM_VALUE_MAX];
};

/* A grant to a gone client's wait, taken back at until unless learnt. */
struct mclaim {
    uint64_t until;
    uint64_t index;   /* the ACQUIRE's */
    uint64_t grant;   /* the hold's */
    uint64_t session; /* the hold's */
    char name[FSM_NAME_MAX];
    uint32_t name_len;
    char req[FSM_REQ_MAX];
    uint8_t req_len;
};

struct msession {
    uint64_t id;
    uint64_t ttl;
    bool lease;
};

struct lockmodel {
    uint64_t now;
    uint64_t last_token;
    uint64_t applied;
    struct msession *s; /* by id */
    size_t n_s;
    size_t cap_s;
    struct mlock **l; /* by name */
    size_t n_l;
    size_t cap_l;
    struct mclaim *c; /* in no order */
    size_t n_c;
    size_t cap_c;
    uint32_t *grant_holds; /* by event of the command followed last */
    size_t cap_gh;
};

/* lockmodel.c */
struct msession *lockmodel_session_get(const struct lockmodel *m, uint64_t id);
struct mlock *lockmodel_lock_get(const struct lockmodel *m, const char *name,
                                 uint32_t len);
/* Holds the session has; *waits gets the waits it has queued. */
unsigned lockmodel_session_holds(const struct lockmodel *m, uint64_t id,
                                 unsigned *waits);
bool lockmodel_bytes_eq(const char *a, size_t alen, const char *b, size_t blen);
/* Owners in the machine's order: bytes, a prefix first. */
int lockmodel_owner_cmp(const char *a, size_t alen, const char *b, size_t blen);
/* The lock's mode by its holds (enum fsm_mode). */
uint8_t lockmodel_mode(const struct mlock *l);
/* A semaphore's permits held. */
uint32_t lockmodel_used(const struct mlock *l);

#endif
