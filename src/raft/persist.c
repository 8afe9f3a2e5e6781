/* persist.c - copies of what an update asks to persist (raft.h), for the
 * edges that hold it past the update: dlockd's batch in flight, the
 * simulator's disk. */
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "raft/raft.h"

void raft_persist_copy(struct raft_persist *dst, const struct raft_persist *src)
{
    *dst = *src;
    dst->chunk_data = src->chunk && src->chunk_len > 0
                          ? mem_xmemdup(src->chunk_data, src->chunk_len)
                          : NULL;
    dst->entries = NULL;
    if (src->n_entries == 0)
        return;
    dst->entries = mem_xmalloc(src->n_entries * sizeof *dst->entries);
    for (size_t i = 0; i < src->n_entries; i++) {
        dst->entries[i] = src->entries[i];
        dst->entries[i].data =
            src->entries[i].len > 0
                ? mem_xmemdup(src->entries[i].data, src->entries[i].len)
                : NULL;
    }
}

void raft_persist_free(struct raft_persist *p)
{
    free((void *)p->chunk_data);
    for (size_t i = 0; i < p->n_entries; i++)
        free(p->entries[i].data);
    free(p->entries);
    memset(p, 0, sizeof *p);
}
