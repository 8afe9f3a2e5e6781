/* wire.h - the peer protocol codec: struct raft_msg to bytes and back.
 *
 * No I/O: the peer transport feeds received bytes to wire_frame_len() until a
 * frame is complete, decodes it with wire_msg_decode() and hands the message
 * to raft_step(). The simulator copies messages with wire_msg_clone().
 *
 * A frame, all integers little-endian:
 *   u8 magic (WIRE_MAGIC), u8 version (WIRE_VERSION), u8 type (raft_msg_type),
 *   u8 flags (bit 0 reject, bit 1 transfer, bit 2 last), u32 frame length
 *   (header included), u64 from, u64 to, u64 term,
 * then the fields the type uses (see struct raft_msg in raft.h), in order:
 *   APPEND          u64 index, u64 log_term, u64 commit, u32 n_entries, then
 *                   per entry: u64 term, u64 index, u8 type, u32 len, data
 *   APPEND_RESP     u64 index, u64 hint, u64 hint_term           (reject)
 *   VOTE, PREVOTE   u64 index, u64 log_term                      (transfer)
 *   *VOTE_RESP      nothing                                      (reject)
 *   HEARTBEAT       u64 commit, u64 ctx
 *   HEARTBEAT_RESP  u64 ctx
 *   SNAPSHOT        u64 index, u64 log_term, u64 offset, u32 len, data,
 *                   then with last: the conf (raft_conf_encode) up to the end
 *   SNAPSHOT_RESP   u64 index, u64 offset                        (reject, last)
 *   TIMEOUT_NOW     nothing
 * A flag in parentheses is the only one the type may carry. Fields a type does
 * not use are not sent and decode as zero, so decoding is canonical: a frame
 * that decodes re-encodes to the same bytes.
 */
#ifndef DLOCK_WIRE_H
#define DLOCK_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

#define WIRE_MAGIC 0xD1
#define WIRE_VERSION 1
/* Bytes before the type's own fields. */
#define WIRE_HEADER_SIZE 32
/* The largest frame either side accepts: 64 MiB of payload plus room for the
 * headers. The edge must keep raft_config.max_msg_bytes and chunk_bytes well
 * below it (entry headers count too: 21 bytes per entry). */
#define WIRE_MAX_FRAME ((64u << 20) + (1u << 20))

/* The exact encoded size of m, or some value over WIRE_MAX_FRAME if m is too
 * big to send. m->type must be a valid raft_msg_type. */
size_t wire_msg_size(const struct raft_msg *m);

/* Encodes m into buf and returns the bytes written; returns 0 and writes
 * nothing if they are more than cap or than WIRE_MAX_FRAME. m->type must be
 * valid, and a SNAPSHOT's data must be filled in (non-NULL when len > 0). */
size_t wire_msg_encode(const struct raft_msg *m, uint8_t *buf, size_t cap);

/* Looks at the len bytes received so far, buf starting at a frame boundary.
 * Returns 1 and sets *frame_len when a whole frame is present (it is the
 * first *frame_len bytes), 0 when more bytes are needed, RAFT_ECORRUPT when
 * the bytes cannot start a valid frame (bad magic, version, type or flags, a
 * length wrong for the type or over WIRE_MAX_FRAME): disconnect the peer.
 * Garbage is reported as soon as the bytes that show it have arrived. */
int wire_frame_len(const uint8_t *buf, size_t len, size_t *frame_len);

/* Decodes the one frame of len bytes at frame into m, validating all of it:
 * header, counts against the bytes left, entry types, CONF entries and the
 * snapshot conf (raft_conf_decode), and no trailing bytes. Never reads
 * outside [frame, frame + len).
 *
 * Payloads are not copied: m->data and each entry's data point into frame,
 * which must outlive m's use. The entries array is allocated (aborts on
 * out-of-memory; it takes at most about 1.5 times len): release it with
 * wire_msg_close(). On failure returns RAFT_ECORRUPT and m holds nothing to
 * release (wire_msg_close is still safe). */
int wire_msg_decode(struct raft_msg *m, const uint8_t *frame, size_t len);

/* Frees the entries array of a message filled by wire_msg_decode and sets
 * m->entries to NULL and n_entries to 0. Accepts NULL; idempotent. Never use
 * it on a message that was not decoded: its entries are not ours to free. */
void wire_msg_close(struct raft_msg *m);

/* Returns a deep copy of m in one heap allocation (entries, their data and a
 * SNAPSHOT's data included; a NULL data stays NULL), to be released with
 * wire_msg_free(). Aborts on out-of-memory. */
struct raft_msg *wire_msg_clone(const struct raft_msg *m);

/* Frees a message returned by wire_msg_clone(). Accepts NULL. */
void wire_msg_free(struct raft_msg *m);

#endif
