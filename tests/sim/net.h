/* net.h - the simulated network and the event queue of automatic mode. */
#ifndef DLOCK_SIM_NET_H
#define DLOCK_SIM_NET_H

#include "cluster.h"

enum { EV_TICK = 1, EV_MSG, EV_DISK, EV_ACK };

/* Something due at at_ms: a node's tick, a message arriving (frame, owned),
 * a disk write completing, a persisted ack. life tells stale ones apart. */
struct sim_event {
    uint64_t at_ms;
    uint64_t seq;
    uint64_t node;
    uint64_t from;
    uint64_t arg;
    uint8_t *frame;
    size_t len;
    unsigned life;
    uint8_t type;
};

/* Schedules an event of type for node n (in its current life). */
void net_schedule(struct cluster *c, uint8_t type, struct sim_node *n,
                  uint64_t at_ms, uint64_t arg);
/* Schedules n's next tick, 1 to 10 ms from now (automatic mode only). */
void net_schedule_tick(struct cluster *c, struct sim_node *n);
/* Takes the earliest event; the queue must not be empty. */
struct sim_event net_pop(struct cluster *c);

/* Sends a message n's core handed out: checks it, fills a snapshot chunk
 * from n's durable snapshot, encodes it and routes or holds it. */
void net_send(struct cluster *c, struct sim_node *n, const struct raft_msg *m);
/* Decodes a frame (borrowed), checks the codec on it, steps it into node
 * `to` with at most max_entries entries, and hands out the updates. */
void net_deliver(struct cluster *c, uint64_t to, const uint8_t *frame,
                 size_t len, uint32_t max_entries);

/* Frees queued events and held messages. */
void net_free(struct cluster *c);

#endif
