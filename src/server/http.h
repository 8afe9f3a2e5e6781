/* http.h - dlockd's HTTP port (--http): GET /metrics (Prometheus),
 * /health, /ready, /status.json and the status page (/, with its
 * /status.css and /status.js). HTTP/1.1 with keep-alive, no request
 * bodies; bounded connections, heads and output (docs/operations.md,
 * Monitoring). */
#ifndef DLOCK_HTTP_H
#define DLOCK_HTTP_H

#include <stddef.h>

struct server;
struct http;

/* Connections the port holds at most (16 from one address): past them a
 * new one closes the one idle the longest, or is closed. */
#define HTTP_CONNS_MAX 64
/* A connection with nothing under way for this long is closed, and so is
 * one whose answers are not read for as long. */
#define HTTP_IDLE_MS 30000
/* A request's head must come whole within this (a slow sender). */
#define HTTP_HEAD_MS 10000

/* Listens on srv->cfg->http. NULL when it is off; NULL too, with a warning
 * logged, when its default port cannot be listened on; -1 in *rc with a
 * message in err when a port given with --http cannot be. */
struct http *http_start(struct server *srv, int *rc, char *err, size_t errlen);
/* Closes idle connections (from the server's sweep). */
void http_sweep(struct http *h);
/* Stops listening and closes every connection. Accepts NULL. */
void http_close(struct http *h);

#endif
