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

/* Names read in one turn of the loop by the walk that finds the busiest
 * (about a millisecond): a pass over a large state takes many turns, so
 * that reading the status never holds the loop for long. */
#define STATUS_SCAN_CHUNK 16384

/* The walk's state (status.c): one per server, closed with it. */
struct status_scan;
struct status_scan *status_scan_new(struct server *srv);
void status_scan_close(struct status_scan *sc);

/* Whether this server is ready to serve (GET /ready): in a cluster with a
 * leader, and applied up to the leader's commit index as last heard from
 * it. If not, why (a sentence) in why (n bytes). */
bool status_ready(struct server *srv, char *why, size_t n);

/* Appends the document. Its busiest names are those of the last pass of
 * the walk over every name, at most a second old when the status is read
 * each second (a pass starts when the last is a second old); the sessions
 * nearest expiry are read at once from the leader's leases, at a cost
 * bounded whatever their number (docs/operations.md, Monitoring). */
void status_write(struct server *srv, struct buf *b);

#endif
