/* forward.h - a follower's way to serve Redis clients that know one
 * address (docs/redis-compat.md): the Redis lock commands it cannot serve
 * (the leader serves them) go to the leader on one pipelined connection,
 * and each reply comes back to its client in order. dlock's own clients
 * follow a LEADER redirect instead. Only on a plain client port without
 * users: a forwarded request would otherwise need the client's credentials
 * or certificate at the leader; there the follower answers LEADER. */
#ifndef DLOCK_FORWARD_H
#define DLOCK_FORWARD_H

#include <stdbool.h>
#include <stddef.h>

#include "common/resp.h"

struct server;
struct conn;
struct slot;

/* Requests forwarded and not answered yet, at most; past it LEADER. */
#define FORWARD_PENDING_MAX 4096

/* Sends the request a[0..n) of c to the leader, the reply to come into s
 * (slot_done then). False when it cannot (no leader known, this server
 * leads, TLS or users on the port, too many pending): the caller answers
 * itself. */
bool forward_request(struct conn *c, struct slot *s, const struct resp_value *a,
                     size_t n);

/* Ends the connection to the leader; what is pending is answered
 * NOLEADER. Called when the server stops. */
void forward_stop(struct server *srv);

#endif
