/* join.h - `dlockd --join host:port`: asks the cluster of the server at that
 * client address to add this server (CLUSTER.ADD, following LEADER
 * redirects, retrying every second) until it is added. */
#ifndef DLOCK_JOIN_H
#define DLOCK_JOIN_H

#include <uv.h>

#include "server/config.h"

void join_start(uv_loop_t *loop, const struct config *cfg);
void join_stop(void);

#endif
