/* command.h - the client commands (docs/protocol.md): dispatch, and the
 * helpers the command files share. command.c has the generic and cluster
 * commands, infocmd.c INFO and CONFIG, lockcmd.c the session and lock
 * commands. */
#ifndef DLOCK_COMMAND_H
#define DLOCK_COMMAND_H

#include <stdbool.h>
#include <stdint.h>

#include "common/resp.h"
#include "server/conn.h"

/* The server's version, as HELLO and INFO give it. */
#define DLOCK_SERVER_VERSION "0.1.0"

/* Whether v is a request: a non-empty array of bulk (or simple) strings.
 * Anything else breaks the protocol (docs/protocol.md §2). */
bool command_is_request(const struct resp_value *v);

/* Runs the request v (command_is_request) on connection c, replying into
 * s. Returns true when
 * the reply is written; false when it comes later (the command then calls
 * slot_done(s) itself). */
/* The name of the command at i in the table, or NULL past its end (for
 * metrics: requests are counted by that index, unknown ones at the end). */
const char *command_name(size_t i);
bool command_dispatch(struct conn *c, struct slot *s,
                      const struct resp_value *v);

/* Writes an error reply "-<msg>" (msg starts with its code: "ERR ...",
 * "LIMIT ..."). */
void command_error(struct slot *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The reply of a server that cannot lead this request: "LEADER host:port"
 * when the leader is known, else "NOLEADER". */
void command_not_leader(struct slot *s);
/* Whether argument a equals the keyword kw, ignoring case. */
bool command_is(const struct resp_value *a, const char *kw);
/* Parses a decimal unsigned argument in [min, max]; false if it is not one
 * (an error reply is then written naming what). */
bool command_u64(struct slot *s, const struct resp_value *a, const char *what,
                 uint64_t min, uint64_t max, uint64_t *out);

struct node *command_node(const struct conn *c);

/* infocmd.c: INFO and CONFIG; each returns as dispatch. */
/* SERVER.STATUS: the status document (status.h), as a bulk string. */
/* SERVER.TRACE [RESET]: where requests' time went (tracecmd.c). */
bool tracecmd_trace(struct conn *c, struct slot *s, const struct resp_value *a,
                    size_t n);
bool infocmd_status(struct conn *c, struct slot *s, const struct resp_value *a,
                    size_t n);
bool infocmd_info(struct conn *c, struct slot *s, const struct resp_value *a,
                  size_t n);
bool infocmd_config(struct conn *c, struct slot *s, const struct resp_value *a,
                    size_t n);

/* rediscmd.c: the Redis commands of Redis lock libraries
 * (docs/redis-compat.md); each returns as dispatch. */
bool rediscmd_set(struct conn *c, struct slot *s, const struct resp_value *a,
                  size_t n);
bool rediscmd_get(struct conn *c, struct slot *s, const struct resp_value *a,
                  size_t n);
bool rediscmd_exists(struct conn *c, struct slot *s, const struct resp_value *a,
                     size_t n);
bool rediscmd_del(struct conn *c, struct slot *s, const struct resp_value *a,
                  size_t n);
bool rediscmd_pttl(struct conn *c, struct slot *s, const struct resp_value *a,
                   size_t n);
bool rediscmd_pexpire(struct conn *c, struct slot *s,
                      const struct resp_value *a, size_t n);
bool rediscmd_zrem(struct conn *c, struct slot *s, const struct resp_value *a,
                   size_t n);
bool rediscmd_eval(struct conn *c, struct slot *s, const struct resp_value *a,
                   size_t n);
bool rediscmd_evalsha(struct conn *c, struct slot *s,
                      const struct resp_value *a, size_t n);
bool rediscmd_script(struct conn *c, struct slot *s, const struct resp_value *a,
                     size_t n);

/* usercmd.c: USER.*; each returns as dispatch. */
bool usercmd_set(struct conn *c, struct slot *s, const struct resp_value *a,
                 size_t n);
bool usercmd_del(struct conn *c, struct slot *s, const struct resp_value *a,
                 size_t n);
bool usercmd_get(struct conn *c, struct slot *s, const struct resp_value *a,
                 size_t n);
bool usercmd_list(struct conn *c, struct slot *s, const struct resp_value *a,
                  size_t n);
bool usercmd_whoami(struct conn *c, struct slot *s, const struct resp_value *a,
                    size_t n);

/* lockcmd.c: the session and lock commands; each returns as dispatch. */
bool lockcmd_session_open(struct conn *c, struct slot *s,
                          const struct resp_value *a, size_t n);
bool lockcmd_session_keepalive(struct conn *c, struct slot *s,
                               const struct resp_value *a, size_t n);
bool lockcmd_session_close(struct conn *c, struct slot *s,
                           const struct resp_value *a, size_t n);
bool lockcmd_session_info(struct conn *c, struct slot *s,
                          const struct resp_value *a, size_t n);
bool lockcmd_acquire(struct conn *c, struct slot *s, const struct resp_value *a,
                     size_t n);
bool lockcmd_release(struct conn *c, struct slot *s, const struct resp_value *a,
                     size_t n);
bool lockcmd_downgrade(struct conn *c, struct slot *s,
                       const struct resp_value *a, size_t n);
bool lockcmd_holders(struct conn *c, struct slot *s, const struct resp_value *a,
                     size_t n);
bool semcmd_acquire(struct conn *c, struct slot *s, const struct resp_value *a,
                    size_t n);
bool semcmd_release(struct conn *c, struct slot *s, const struct resp_value *a,
                    size_t n);
bool semcmd_status(struct conn *c, struct slot *s, const struct resp_value *a,
                   size_t n);
bool electcmd_campaign(struct conn *c, struct slot *s,
                       const struct resp_value *a, size_t n);
bool electcmd_proclaim(struct conn *c, struct slot *s,
                       const struct resp_value *a, size_t n);
bool electcmd_resign(struct conn *c, struct slot *s, const struct resp_value *a,
                     size_t n);
bool electcmd_leader(struct conn *c, struct slot *s, const struct resp_value *a,
                     size_t n);
bool lockcmd_waiters(struct conn *c, struct slot *s, const struct resp_value *a,
                     size_t n);
bool watchcmd_watch(struct conn *c, struct slot *s, const struct resp_value *a,
                    size_t n);
bool watchcmd_unwatch(struct conn *c, struct slot *s,
                      const struct resp_value *a, size_t n);
bool watchcmd_session_watch(struct conn *c, struct slot *s,
                            const struct resp_value *a, size_t n);
bool watchcmd_session_unwatch(struct conn *c, struct slot *s,
                              const struct resp_value *a, size_t n);
bool watchcmd_next(struct conn *c, struct slot *s, const struct resp_value *a,
                   size_t n);
bool lockcmd_revoke(struct conn *c, struct slot *s, const struct resp_value *a,
                    size_t n);
bool lockcmd_extend(struct conn *c, struct slot *s, const struct resp_value *a,
                    size_t n);
bool lockcmd_status(struct conn *c, struct slot *s, const struct resp_value *a,
                    size_t n);
bool lockcmd_check(struct conn *c, struct slot *s, const struct resp_value *a,
                   size_t n);
bool lockcmd_list(struct conn *c, struct slot *s, const struct resp_value *a,
                  size_t n);

#endif
