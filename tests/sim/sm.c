/* sm.c - the simulated state machine: a running hash of the applied NORMAL
 * entries, whose snapshot carries padding so that it spans several chunks,
 * or the bytes of the application run beside it. */
#include <string.h>

#include "cluster.h"
#include "common/mem.h"

#define SM_MAGIC 0x31504e5353494d53ull /* "SMISSNP1" */
#define SM_HEADER (4 * 8 + 4)

uint64_t cluster_entry_digest(uint8_t type, const uint8_t *data, uint32_t len)
{
    uint64_t h = 0xcbf29ce484222325ull ^ type;
    for (uint32_t i = 0; i < len; i++)
        h = (h ^ data[i]) * 0x100000001b3ull;
    return rng_mix(h ^ ((uint64_t)len << 8));
}

void sm_apply(struct sim_sm *sm, const struct raft_entry *e)
{
    sm->index = e->index;
    if (e->type != RAFT_ENTRY_NORMAL)
        return;
    uint64_t d = cluster_entry_digest(e->type, e->data, e->len);
    sm->hash = rng_mix(sm->hash ^ rng_mix(e->index) ^ d);
    sm->count++;
}

static uint8_t pad_byte(uint64_t hash, size_t i)
{
    return (uint8_t)rng_mix(hash + i);
}

uint8_t *sm_save(const struct sim_sm *sm, const uint8_t *payload, size_t plen,
                 size_t *len)
{
    uint64_t head[4] = {SM_MAGIC, sm->index, sm->hash, sm->count};
    uint32_t pad = (uint32_t)plen;
    uint8_t *buf = mem_xmalloc(SM_HEADER + plen);
    memcpy(buf, head, sizeof head);
    memcpy(buf + sizeof head, &pad, sizeof pad);
    for (size_t i = 0; i < plen; i++)
        buf[SM_HEADER + i] = payload ? payload[i] : pad_byte(sm->hash, i);
    *len = SM_HEADER + plen;
    return buf;
}

bool sm_load(struct sim_sm *sm, const uint8_t *data, size_t len, bool padded,
             const uint8_t **payload, size_t *plen)
{
    uint64_t head[4];
    uint32_t pad;
    if (data == NULL || len < SM_HEADER)
        return false;
    memcpy(head, data, sizeof head);
    memcpy(&pad, data + sizeof head, sizeof pad);
    if (head[0] != SM_MAGIC || len != SM_HEADER + (size_t)pad)
        return false;
    for (size_t i = 0; padded && i < pad; i++)
        if (data[SM_HEADER + i] != pad_byte(head[2], i))
            return false;
    sm->index = head[1];
    sm->hash = head[2];
    sm->count = head[3];
    *payload = data + SM_HEADER;
    *plen = pad;
    return true;
}
