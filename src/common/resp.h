/* resp.h - the RESP codec (Redis serialization protocol, RESP2 and RESP3)
 * shared by dlockd and libdlock: an incremental reader that turns bytes into
 * value trees, and writers that append encodings to a struct buf. No I/O,
 * never aborts, never prints; memory comes from alloc.h. */
#ifndef DLOCK_RESP_H
#define DLOCK_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* A value's type is the byte that introduces it on the wire. */
enum resp_type {
    RESP_SIMPLE = '+',     /* simple string: str, len */
    RESP_ERROR = '-',      /* simple error: str, len (the whole message) */
    RESP_INTEGER = ':',    /* integer */
    RESP_BULK = '$',       /* bulk string: str, len (any bytes) */
    RESP_ARRAY = '*',      /* elems, n */
    RESP_NULL = '_',       /* RESP3 null, and RESP2's "$-1" and "*-1" */
    RESP_DOUBLE = ',',     /* dbl */
    RESP_BOOL = '#',       /* integer: 1 or 0 */
    RESP_BIGNUM = '(',     /* big number: str, len (sign and digits) */
    RESP_BLOB_ERROR = '!', /* str, len */
    RESP_VERBATIM = '=',   /* str, len: "fmt:text" */
    RESP_MAP = '%',        /* elems, n = 2 * pairs: key, value, key, ... */
    RESP_SET = '~',        /* elems, n */
    RESP_PUSH = '>',       /* elems, n (RESP3 out-of-band data) */
};

/* A value read, and the input of resp_write_value. Fields a type does not
 * use are 0 or NULL. Every str read is followed by a NUL byte (not counted
 * in len), so it can be read as a C string if it holds no NUL itself. A
 * verbatim string keeps its format prefix: str is "txt:text", its first 3
 * bytes the format, the text at str + 4 (len >= 4). RESP3 attributes ('|')
 * are parsed, checked against the limits and dropped: they never appear in a
 * tree. */
struct resp_value {
    uint8_t type; /* enum resp_type */
    int64_t integer;
    double dbl;
    const char *str;
    size_t len;
    struct resp_value *elems;
    size_t n;
};

/* What the reader accepts. Exceeding any limit is a protocol error. */
struct resp_limits {
    size_t max_str;   /* bytes in one string of any kind, inline args too */
    size_t max_elems; /* elements in one aggregate; a map of n pairs has 2n */
    size_t max_depth; /* aggregates nested in each other; 1: flat arrays */
    /* Bytes an incomplete value may occupy: once the reader holds this many
     * bytes of a value and it is still incomplete, that is an error. (A
     * larger value is accepted when it arrives whole.) */
    size_t max_pending;
    /* Inline commands (for telnet users, as Redis has them): a line at the
     * top level that does not start with a type byte is split at spaces and
     * tabs into an array of bulk strings; "double" and 'single' quotes group
     * words; in double quotes \" \\ \n \r \t \b \a and \xHH are escapes, in
     * single quotes \'. A closing quote must be followed by a blank or the
     * end of the line; a quote inside a word is a plain character. Empty
     * lines are skipped. */
    bool inline_commands;
    size_t max_inline; /* bytes of an inline line before its '\n' */
};

/* The limits dlockd reads requests with by default (docs/protocol.md §7):
 * flat commands of up to 1,024 arguments, 1 MiB in all; inline commands of
 * up to 64 KiB. */
extern const struct resp_limits resp_limits_server;

/* The limits libdlock reads replies with: those of hiredis (512 MiB strings,
 * 2^32 - 1 elements), depth 64, no inline commands. */
extern const struct resp_limits resp_limits_client;

/* An incremental reader: feed it bytes as they arrive, in any chunks, and
 * take complete values out with resp_reader_next; the values and the end
 * (a wait or a protocol error) do not depend on the chunks, max_pending
 * aside. RESP3 streamed strings and aggregates ("$?", "*?") are not
 * supported: they are protocol errors. Embed it; the fields are private. */
struct resp_reader {
    struct resp_limits lim;
    struct buf in;           /* bytes fed; those before start are consumed */
    size_t start;            /* offset in in of the value being parsed */
    size_t pos;              /* offset in in of the next byte to parse */
    size_t scan;             /* no '\n' in in[pos..scan) */
    struct resp_value *work; /* the open aggregates and their elements */
    size_t n_work, cap_work;
    struct resp_value *done; /* elements of closed aggregates */
    size_t n_done, cap_done;
    size_t open;   /* work index of the innermost open aggregate, or SIZE_MAX */
    size_t depth;  /* open aggregates */
    bool returned; /* work[0] was handed out by the last resp_reader_next */
    const char *error; /* the protocol error, once there is one */
};

/* Makes r an empty reader with the limits lim (copied). Allocates nothing,
 * so it cannot fail. */
void resp_reader_init(struct resp_reader *r, const struct resp_limits *lim);
/* Changes the limits of r, for the values it reads from now on. */
void resp_reader_set_limits(struct resp_reader *r,
                            const struct resp_limits *lim);

/* Frees everything r holds. Accepts NULL and a closed reader. */
void resp_reader_close(struct resp_reader *r);

/* Copies the len bytes at data into r. 0, DLOCK_ENOMEM (r unchanged: feed
 * them again), or DLOCK_EPROTO if r is in error (nothing is copied). Ends the
 * life of the value last returned. */
int resp_reader_feed(struct resp_reader *r, const void *data, size_t len);

/* Takes the next complete value out of r. Returns 1 and sets *out to it,
 * 0 if r holds no complete value yet (feed more), DLOCK_EPROTO if the input
 * broke the protocol or a limit (resp_reader_error says how; r stays in
 * error from then on: disconnect the peer), or DLOCK_ENOMEM (r is intact:
 * call again when memory may be available). The value and its strings live
 * in r until the next call on r. */
int resp_reader_next(struct resp_reader *r, const struct resp_value **out);

/* Bytes fed to r and not yet handed out as values: a value still
 * incomplete, and complete ones not yet taken. */
size_t resp_reader_pending(const struct resp_reader *r);

/* Bytes of memory r holds for its input and its nodes. A buffer that grew
 * for a large value shrinks back once the value is consumed (by the
 * resp_reader_next that finds nothing more, or the next feed). */
size_t resp_reader_memory(const struct resp_reader *r);

/* The message of r's protocol error ("Protocol error: invalid bulk length"),
 * or NULL if r is not in error. */
const char *resp_reader_error(const struct resp_reader *r);

/* Writers. Each appends one encoding, or the header of an aggregate whose
 * elements the caller then writes, to b. proto is 2 or 3 where the encoding
 * differs. Each returns 0 or DLOCK_ENOMEM, with b unchanged on failure. */

/* "+s": CR and LF in s become spaces, as the protocol forbids them. */
int resp_write_simple(struct buf *b, const char *s);

/* "-msg": msg is the whole message with its code ("ERR unknown command",
 * "LEADER 127.0.0.1:7411"); CR and LF become spaces. */
int resp_write_error(struct buf *b, const char *msg);

/* ":v" */
int resp_write_integer(struct buf *b, int64_t v);

/* "$len" and the len bytes at p (p may be NULL if len is 0). */
int resp_write_bulk(struct buf *b, const void *p, size_t len);

/* The bulk string of the C string s. */
int resp_write_bulk_str(struct buf *b, const char *s);

/* RESP3 "_", RESP2 "$-1". */
int resp_write_null(struct buf *b, int proto);

/* "*n": an array of the n values written next. */
int resp_write_array(struct buf *b, size_t n);

/* RESP3 "%pairs", RESP2 "*2pairs": then write key, value, key, value... */
int resp_write_map(struct buf *b, int proto, size_t pairs);

/* RESP3 "~n", RESP2 "*n". */
int resp_write_set(struct buf *b, int proto, size_t n);

/* RESP3 ">n", RESP2 "*n". */
int resp_write_push(struct buf *b, int proto, size_t n);

/* RESP3 "#t"/"#f", RESP2 ":1"/":0". */
int resp_write_bool(struct buf *b, int proto, bool v);

/* RESP3 ",d", RESP2 the same text as a bulk string. The text is the
 * shortest that reads back as exactly d ("inf", "-inf", "nan" for those),
 * with '.' as the decimal point whatever the locale. */
int resp_write_double(struct buf *b, int proto, double d);

/* RESP3 "(digits", RESP2 a bulk string; digits is an optional sign and
 * decimal digits, which the caller has checked. */
int resp_write_bignum(struct buf *b, int proto, const char *digits, size_t len);

/* RESP3 "!len" and the message (which may hold CR and LF), RESP2 the simple
 * error "-msg" with CR and LF as spaces. */
int resp_write_blob_error(struct buf *b, int proto, const void *msg,
                          size_t len);

/* RESP3 "=len" and "fmt:text" (fmt is 3 bytes such as "txt"), RESP2 the
 * bulk string of text alone. */
int resp_write_verbatim(struct buf *b, int proto, const char *fmt,
                        const void *text, size_t len);

/* Writes the tree v as the writers above would; a verbatim string's str must
 * be "fmt:text" as the reader returns it. 0, DLOCK_ENOMEM, or DLOCK_EINVAL if
 * the tree holds an unknown type, a map of odd n or a verbatim string without
 * its prefix (b is unchanged on failure). */
int resp_write_value(struct buf *b, int proto, const struct resp_value *v);

/* A client's command: an array of argc bulk strings, argument i being the
 * argvlen[i] bytes at argv[i] (or the C string argv[i] if argvlen is
 * NULL). */
int resp_write_command(struct buf *b, size_t argc, const char *const *argv,
                       const size_t *argvlen);

#endif
