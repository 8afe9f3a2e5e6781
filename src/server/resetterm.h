/* resetterm.h - `dlockd --reset-term`: brings a single server back whose
 * stored term is past RAFT_MAX_TERM (taken from a bogus peer message by a
 * version before the bound), which could never campaign again.
 *
 * Offline, on the data directory alone. Only for a cluster whose latest
 * configuration is this one server and nothing else: its only voter has only
 * ever voted for itself, so setting the term back to the last term in its
 * log (with no vote) lets it campaign again without ever giving a second
 * vote in a term where another server could have been elected. A member of
 * a larger cluster is removed, emptied and joined again instead
 * (docs/operations.md, "A stored term past the bound"). */
#ifndef DLOCK_RESETTERM_H
#define DLOCK_RESETTERM_H

#include <stddef.h>

#include "server/config.h"

/* Takes cfg->data's lock, reads its store and, if the stored term is past
 * RAFT_MAX_TERM and the latest configuration is cfg->id alone, stores the
 * last log term with no vote. Returns 0 with what it did in msg (also when
 * there was nothing to do), or -1 with why not in msg. */
int resetterm_run(const struct config *cfg, char *msg, size_t msglen);

#endif
