/* lockcmd_internal.h - what the lock commands' files share: lockcmd.c
 * (sessions, lock writes, and these helpers), lockread.c (reads) and
 * semcmd.c (semaphores). Each command's slot keeps a struct op while it
 * waits. */
#ifndef DLOCK_LOCKCMD_INTERNAL_H
#define DLOCK_LOCKCMD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/resp.h"
#include "lock/fsm.h"
#include "server/command.h"
#include "server/node.h"

#define LIST_DEFAULT 1000
#define LIST_MAX 100000
/* The least one lock takes in a LOCK.LIST reply (an array of its fields,
 * each name and value). */
#define LIST_ITEM_MIN 64
/* A LOCK.LIST reply takes no lock past this many bytes, nor past a quarter
 * of --max-output, so that it is always sent whole (docs/protocol.md §4). */
#define LIST_BYTES (1u << 20)

/* What an asynchronous command keeps while it waits. */
struct op {
    char name[FSM_NAME_MAX];
    uint32_t name_len;
    uint64_t u; /* session, token or count */
    struct node *node;
    /* A blocking acquire: what an UNWAIT names if its client goes. */
    void *wait; /* the node's wait handle, while it waits */
    uint64_t index, session;
    char req[FSM_REQ_MAX];
    uint32_t req_len;
};

/* Options after the fixed arguments: KEYWORD value pairs, and the flag
 * SHARED, which takes no value. */
struct opts {
    const struct resp_value *owner, *req, *name;
    uint64_t wait, delay, count;
    bool have_wait, have_delay, have_count;
    bool shared;
};

/* The slot's op, made on first use; freed by lockcmd_finish. */
struct op *lockcmd_op(struct slot *s);
/* Frees the op and ends the slot (its reply is written). */
void lockcmd_finish(struct slot *s);
/* A string argument of min to max bytes: ERR below, LIMIT above. */
bool lockcmd_arg_str(struct slot *s, const struct resp_value *a,
                     const char *what, size_t min, size_t max);
/* Parses a[from..n) as the options of allowed (space-separated keywords;
 * SHARED is a flag, the others take a value), answering an error (false)
 * for anything else. */
bool lockcmd_opts(struct slot *s, const struct resp_value *a, size_t n,
                  size_t from, const char *allowed, struct opts *o);
/* The name a[1] (what names it, for an error) and the session a[2] that
 * most writes start with, into cmd; false with an error answered. */
bool lockcmd_name_session(struct slot *s, const struct resp_value *a,
                          const char *what, struct fsm_cmd *cmd);
/* Points *p and *len at v's bytes, if v is not NULL. */
void lockcmd_set_str(const char **p, uint32_t *len, const struct resp_value *v);
/* Writes the reply of a result that is not a success (by_token: a lease
 * lock's, named by its token). */
void lockcmd_result_error(struct slot *s, const struct fsm_result *r,
                          bool by_token);
/* Proposes cmd with cb; true if an error was answered instead. */
bool lockcmd_propose(struct conn *c, struct slot *s, struct fsm_cmd *cmd,
                     node_apply_cb cb);
/* Answers value when the write applied OK, the error otherwise. */
void lockcmd_integer_done(void *ctx, int status, const struct fsm_result *r,
                          int64_t value);
/* The answer of an acquire (the token, or its wait attached). */
void lockcmd_acquire_done(void *ctx, int status, const struct fsm_result *r);
/* Proposes the acquire cmd (its name, session and type set) with the
 * options o (wait, delay, owner, request id), answered by
 * lockcmd_acquire_done; true if an error was answered instead. */
bool lockcmd_acquire_propose(struct conn *c, struct slot *s,
                             struct fsm_cmd *cmd, const struct opts *o);
/* Keeps what an UNWAIT of a blocking acquire would name. */
void lockcmd_keep_blocking(struct conn *c, struct slot *s,
                           const struct fsm_cmd *cmd);
/* Starts a linearizable read; the callback writes the reply. True if an
 * error was answered instead. */
bool lockcmd_read_start(struct conn *c, struct slot *s, node_read_cb cb);
/* Whether a read callback may write its reply; if not, finishes it. */
bool lockcmd_read_ok(struct slot *s, int status);
/* Keeps the lock name a[0] in the slot's op. */
void lockcmd_copy_name(struct slot *s, const struct resp_value *a);

#endif
