/* logfmt.h - the on-disk log format: records and segment headers encoded in
 * and decoded from memory buffers. Pure: no I/O. The layout is described in
 * docs/design.md §10; all integers are little-endian.
 *
 * A record is a 40-byte header, a payload and zero padding to a multiple of
 * 8 bytes:
 *   u32 crc    CRC32C of every byte after this field to the record's end
 *   u32 len    payload bytes, at most LOGFMT_MAX_LEN
 *   u8  kind   enum logfmt_kind
 *   u8  type   entry type (enum raft_entry_type) for entries, else 0
 *   u8[6]      zero
 *   u64 batch  the group-commit batch the record was written in
 *   u64 index
 *   u64 term
 * A segment file is a LOGFMT_SEG_HEADER-byte header followed by records. */
#ifndef DLOCK_LOGFMT_H
#define DLOCK_LOGFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOGFMT_HEADER 40
#define LOGFMT_SEG_HEADER 32
/* The largest payload a record may carry; a longer length is damage. */
#define LOGFMT_MAX_LEN (64u << 20)

enum logfmt_kind {
    LOGFMT_ENTRY = 1,      /* a log entry: index, term, type, payload */
    LOGFMT_HARD_STATE = 2, /* term = current term, index = vote */
    LOGFMT_TRUNCATE = 3,   /* drop every entry >= index */
    LOGFMT_BATCH_END = 4,  /* closes a batch: its records were all written */
};

/* What a decode found. Everything but LOGFMT_OK stops a scan. */
enum logfmt_status {
    LOGFMT_OK = 0,       /* a record */
    LOGFMT_END = 1,      /* clean end: no bytes left, or an all-zero header */
    LOGFMT_SHORT = 2,    /* torn: the header or the record runs past the end */
    LOGFMT_BADCRC = 3,   /* checksum mismatch */
    LOGFMT_BADLEN = 4,   /* length over LOGFMT_MAX_LEN */
    LOGFMT_BADKIND = 5,  /* unknown kind, non-zero reserved bytes or padding */
    LOGFMT_BADMAGIC = 6, /* segment header: wrong magic or version */
};

struct logfmt_record {
    uint8_t kind;
    uint8_t type;
    uint64_t batch;
    uint64_t index;
    uint64_t term;
    uint32_t len;
    const uint8_t *data; /* len bytes; NULL allowed when len is 0 */
};

struct logfmt_segment {
    uint64_t seq;         /* the segment's number, as in its file name */
    uint64_t first_batch; /* the batch the segment was created in */
};

/* True if the n bytes at p are all zero (n may be 0). An all-zero header
 * ends a scan; all zeros to the end of a segment are the unwritten rest of
 * a spare (docs/design.md §10). */
bool logfmt_all_zero(const uint8_t *p, size_t n);

/* The bytes a record with a payload of len bytes takes, padding included. */
size_t logfmt_size(uint32_t len);

/* Encodes rec into out, which must have logfmt_size(rec->len) bytes.
 * Precondition: rec->len <= LOGFMT_MAX_LEN. */
void logfmt_encode(uint8_t *out, const struct logfmt_record *rec);

/* Decodes the record at offset off of buf (len bytes). On LOGFMT_OK fills
 * *rec (rec->data points into buf) and *size, the record's bytes: the next
 * record starts at off + *size. Otherwise the record at off is where the
 * scan stops. Reads nothing outside buf, whatever its content. */
int logfmt_decode(const uint8_t *buf, size_t len, size_t off,
                  struct logfmt_record *rec, size_t *size);

/* Looks past a bad record for valid ones: tries every 8-byte aligned offset
 * from off on (skipping over the records it finds). Returns true if it finds
 * any, with the highest batch number among them in *max_batch. */
bool logfmt_lookahead(const uint8_t *buf, size_t len, size_t off,
                      uint64_t *max_batch);

/* Encodes a segment header into out (LOGFMT_SEG_HEADER bytes). */
void logfmt_segment_encode(uint8_t *out, const struct logfmt_segment *seg);

/* Decodes the segment header at the start of buf: LOGFMT_OK, LOGFMT_SHORT,
 * LOGFMT_BADMAGIC or LOGFMT_BADCRC. */
int logfmt_segment_decode(const uint8_t *buf, size_t len,
                          struct logfmt_segment *seg);

/* A short name of a status, for messages ("bad CRC"). */
const char *logfmt_status_name(int status);

#endif
