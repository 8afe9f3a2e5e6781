/* fuzz_fsm.c - libFuzzer target for the lock state machine. Any input is
 * fed three ways, none of which may crash or break an invariant:
 *   - to fsm_cmd_decode: what decodes re-encodes to exactly those bytes;
 *   - to fsm_restore: what is accepted passes fsm_check and snapshots back
 *     to exactly those bytes (a snapshot of an older version to bytes of
 *     the current one, which do);
 *   - as a sequence of commands, each a 2-byte little-endian length and the
 *     encoded command, applied at indexes 1, 2, ... to a machine with small
 *     limits (so that they are reached). Halfway, the machine's snapshot is
 *     restored into a second one, which from then on must give the same
 *     results, events and snapshots. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/le.h"
#include "fuzz/fuzz_copy.h"
#include "lock/fsm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct fsm_limits small = {
    .sessions = 8,
    .locks_per_session = 4,
    .waiters_per_lock = 3,
    .session_outcomes = 3,
    .global_outcomes = 4,
};

static void check(const struct fsm *f)
{
    if (!fsm_check(f, NULL, 0))
        abort();
}

static void check_decode(const uint8_t *data, size_t size)
{
    uint8_t *in = fuzz_copy(data, size);
    struct fsm_cmd c;
    if (fsm_cmd_decode(&c, in, size) == 0) {
        uint8_t *out = malloc(size);
        if (out == NULL || fsm_cmd_encode(&c, out, size) != size ||
            memcmp(out, in, size) != 0)
            abort();
        free(out);
    }
    free(in);
}

static void same_snapshot(const struct fsm *f, const uint8_t *want, size_t len)
{
    uint8_t *buf;
    size_t n;
    if (fsm_snapshot(f, &buf, &n) != 0 || n != len ||
        memcmp(buf, want, len) != 0)
        abort();
    free(buf);
}

/* f was restored from an older version's bytes in: it writes the current
 * version, which restores and writes back the same. */
static void check_upgraded(const struct fsm *f, const uint8_t *in)
{
    uint8_t *buf;
    size_t n;
    if (fsm_snapshot(f, &buf, &n) != 0 || n < 8 ||
        le_get32(buf + 4) <= le_get32(in + 4))
        abort();
    struct fsm *g = fsm_new();
    if (fsm_restore(g, buf, n) != 0)
        abort();
    same_snapshot(g, buf, n);
    fsm_free(g);
    free(buf);
}

static void check_restore(const uint8_t *data, size_t size)
{
    uint8_t *in = fuzz_copy(data, size);
    struct fsm *f = fsm_new();
    if (fsm_restore(f, in, size) == 0) {
        check(f);
        uint8_t *buf;
        size_t n;
        fsm_snapshot(f, &buf, &n);
        bool same = n == size && memcmp(buf, in, size) == 0;
        free(buf);
        if (!same)
            check_upgraded(f, in);
    }
    fsm_free(f);
    free(in);
}

/* b, restored from a, must mirror it. */
static void restore_into(const struct fsm *a, struct fsm *b)
{
    uint8_t *buf;
    size_t len;
    if (fsm_snapshot(a, &buf, &len) != 0 || fsm_restore(b, buf, len) != 0)
        abort();
    check(b);
    same_snapshot(b, buf, len);
    free(buf);
}

static void same_events(const struct fsm *a, const struct fsm *b)
{
    size_t na, nb;
    const struct fsm_event *ea = fsm_events(a, &na);
    const struct fsm_event *eb = fsm_events(b, &nb);
    if (na != nb)
        abort();
    for (size_t i = 0; i < na; i++)
        if (ea[i].type != eb[i].type || ea[i].session != eb[i].session ||
            ea[i].token != eb[i].token || ea[i].index != eb[i].index ||
            ea[i].name_len != eb[i].name_len ||
            ea[i].req_len != eb[i].req_len ||
            memcmp(ea[i].name, eb[i].name, ea[i].name_len) != 0 ||
            memcmp(ea[i].req, eb[i].req, ea[i].req_len) != 0)
            abort();
}

static void run_commands(const uint8_t *data, size_t size)
{
    struct fsm *a = fsm_new_limited(&small), *b = NULL;
    size_t off = 0;
    uint64_t index = 0;
    while (size - off >= 2) {
        size_t len = le_get16(data + off);
        off += 2;
        if (len > size - off)
            len = size - off;
        if (b == NULL && off >= size / 2) {
            b = fsm_new_limited(&small);
            restore_into(a, b);
        }
        uint8_t *cmd = fuzz_copy(data + off, len);
        struct fsm_result ra, rb;
        fsm_apply(a, ++index, cmd, len, &ra);
        check(a);
        if (b != NULL) {
            fsm_apply(b, index, cmd, len, &rb);
            if (ra.status != rb.status || ra.replayed != rb.replayed ||
                ra.session != rb.session || ra.token != rb.token ||
                ra.holds != rb.holds || ra.holder != rb.holder ||
                ra.ttl != rb.ttl)
                abort();
            same_events(a, b);
            fsm_events_clear(b);
        }
        fsm_events_clear(a);
        free(cmd);
        off += len;
    }
    if (b != NULL) {
        uint8_t *buf;
        size_t n;
        fsm_snapshot(a, &buf, &n);
        same_snapshot(b, buf, n);
        free(buf);
    }
    struct fsm *c = fsm_new_limited(&small);
    restore_into(a, c);
    fsm_free(c);
    fsm_free(b);
    fsm_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_decode(data, size);
    check_restore(data, size);
    run_commands(data, size);
    return 0;
}
