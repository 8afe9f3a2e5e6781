/* prom.h - the Prometheus text exposition format (version 0.0.4), written
 * into a buffer: a family's HELP and TYPE lines, then its samples. Label
 * sets are given written out (`kind="lock",code="ERR"`), their values from
 * fixed sets (never a lock's name: docs/operations.md, Metrics); names and
 * label names must match [a-zA-Z_:][a-zA-Z0-9_:]*. Nothing here checks
 * them: the system tests parse the output with promtool. */
#ifndef DLOCK_PROM_H
#define DLOCK_PROM_H

#include <stdint.h>

#include "common/buf.h"
#include "common/hist.h"

/* "# HELP name help" and "# TYPE name type" (counter, gauge,
 * histogram). help is one line; backslashes in it are escaped. */
void prom_family(struct buf *b, const char *name, const char *type,
                 const char *help);
/* One sample: `name{labels} value`, labels NULL or "" for none. */
void prom_u64(struct buf *b, const char *name, const char *labels, uint64_t v);
void prom_f64(struct buf *b, const char *name, const char *labels, double v);
/* A histogram's samples: name_bucket for each bound (cumulative, le the
 * bound divided by scale: 1e6 for microseconds given in seconds), the
 * +Inf bucket, name_sum (divided by scale) and name_count. */
void prom_hist(struct buf *b, const char *name, const char *labels,
               const struct hist *h, double scale);
/* Family and samples of a counter or gauge without labels. */
void prom_one(struct buf *b, const char *name, const char *type,
              const char *help, uint64_t v);

#endif
