/* status.h - what a server shows of itself and its cluster, as one JSON
 * document: the status page (GET /status.json on the HTTP port, http.h),
 * `dlock top` (SERVER.STATUS) and tests read the same. docs/operations.md
 * (Status page) describes its fields. */
#ifndef DLOCK_STATUS_H
#define DLOCK_STATUS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"

struct server;

/* The busiest names and the sessions nearest their expiry, at most this
 * many of each. */
#define STATUS_TOP 20

/* Whether this server is ready to serve (GET /ready): in a cluster with a
 * leader, and applied up to the leader's commit index as last heard from
 * it. If not, why (a sentence) in why (n bytes). */
bool status_ready(struct server *srv, char *why, size_t n);

/* Appends the document. It reads every name and session the state holds
 * (each scan costs what the state's size does: docs/operations.md). */
void status_write(struct server *srv, struct buf *b);

#endif
