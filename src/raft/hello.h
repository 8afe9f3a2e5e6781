/* hello.h - the opening of a peer connection: the hello a server sends first
 * on each connection it opens, and the refusal the other side may send back
 * before it closes one. No I/O (src/server/peer.c does it).
 *
 * A hello, integers little-endian:
 *   "DLKP", u8 version, u64 from, u64 to,
 *   version 2 and later: u64 dir_id, u64 nonce (both nonzero),
 *   version 3 and later: u64 cluster_id (0 when the sender does not know
 *   its cluster yet: a server that is joining),
 *   u16 length and the sender's client address, u16 length and its peer
 *   address (each shorter than HELLO_ADDR_MAX, no NUL).
 * from is the sender's server id, to the receiver's; dir_id names the
 * sender's data directory and nonce its process (src/server/peerids.h);
 * cluster_id its cluster (fixed when the cluster was created,
 * docs/design.md §8): a receiver that knows another refuses the hello.
 * Versions 1 and 2 (servers before those checks) are read too.
 *
 * A refusal: "DLKR", u16 length and that many bytes of text (at most
 * HELLO_REFUSAL_MAX) saying why. */
#ifndef DLOCK_HELLO_H
#define DLOCK_HELLO_H

#include <stddef.h>
#include <stdint.h>

#define HELLO_VERSION 3
#define HELLO_ADDR_MAX 128
#define HELLO_REFUSAL_MAX 512
/* The most bytes a hello or a refusal takes. */
#define HELLO_MAX_SIZE (5 + 40 + 2 * (2 + HELLO_ADDR_MAX))
/* A refusal whose text starts with this says the sender belongs to another
 * cluster: the sender keeps trying, slowly, rather than stop (it may be a
 * member of its own cluster given an address now used by another). */
#define HELLO_OTHER_CLUSTER "another cluster"
#define HELLO_REFUSAL_MAX_SIZE (6 + HELLO_REFUSAL_MAX)

struct hello {
    uint8_t version;
    uint64_t from, to;
    uint64_t dir_id, nonce;           /* version 2; 0 in version 1 */
    uint64_t cluster_id;              /* version 3; 0 before, or unknown */
    char client_addr[HELLO_ADDR_MAX]; /* NUL-terminated */
    char raft_addr[HELLO_ADDR_MAX];   /* NUL-terminated */
};

/* Encodes h (as its version says) into buf; returns the bytes it takes,
 * writing nothing when cap is smaller, or 0 if h cannot be encoded (an
 * address too long, a version other than 1 to 3, a dir_id or nonce of 0 in
 * version 2 or 3). */
size_t hello_encode(const struct hello *h, uint8_t *buf, size_t cap);

/* Decodes the hello at the start of the len bytes at buf. Returns the bytes
 * it took, 0 if more are needed, or -1 if they are not a hello (bad magic or
 * version, an address too long or with a NUL in it, a dir_id or nonce of 0
 * in version 2 or 3). Never reads past buf + len. */
long hello_decode(struct hello *h, const uint8_t *buf, size_t len);

/* Encodes a refusal saying why (cut at HELLO_REFUSAL_MAX bytes) into buf,
 * which has room for HELLO_REFUSAL_MAX_SIZE; returns its size. */
size_t hello_refusal_encode(const char *why, uint8_t *buf);

/* Decodes a refusal at the start of buf into why (NUL-terminated, room for
 * HELLO_REFUSAL_MAX + 1). Returns the bytes it took, 0 if more are needed,
 * -1 if they are not a refusal. */
long hello_refusal_decode(const uint8_t *buf, size_t len, char *why);

#endif
