/* gen_resp_corpus.c - writes the seed corpus of fuzz_resp into the directory
 * given (tests/fuzz/corpus/resp): one value of each RESP2 and RESP3 type as
 * the writers encode it, nested aggregates, attributes, a client's command,
 * inline commands with quotes, and a few malformed inputs. Build it against
 * the core library:
 *   cc -Isrc tests/fuzz/gen_resp_corpus.c build/libdlockcore.a -o gen
 *   ./gen tests/fuzz/corpus/resp */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/resp.h"

static const char *dir;

static void write_file(const char *name, const void *p, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(p, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "gen_resp_corpus: cannot write %s\n", path);
        exit(1);
    }
}

static void check(int rc)
{
    if (rc != 0) {
        fprintf(stderr, "gen_resp_corpus: a writer failed\n");
        exit(1);
    }
}

/* Writes b to the file name and appends it to the stream s; empties b. */
static void emit(const char *name, struct buf *b, struct buf *s)
{
    write_file(name, b->data, b->len);
    check(buf_append(s, b->data, b->len));
    buf_clear(b);
}

/* The literal C string text as the file name. */
static void literal(const char *name, const char *text)
{
    write_file(name, text, strlen(text));
}

int main(int argc, char **argv)
{
    struct buf b, s;
    const char *cmd[] = {"ACQUIRE", "/jobs/42", "worker-1", "PX", "30000"};
    if (argc != 2) {
        fprintf(stderr, "usage: gen_resp_corpus DIR\n");
        return 2;
    }
    dir = argv[1];
    buf_init(&b);
    buf_init(&s);
    check(resp_write_simple(&b, "OK"));
    emit("simple", &b, &s);
    check(resp_write_error(&b, "LEADER 127.0.0.1:7411"));
    emit("error", &b, &s);
    check(resp_write_integer(&b, -9223372036854775807 - 1));
    emit("integer", &b, &s);
    check(resp_write_bulk(&b, "a\r\nb\0c", 6));
    emit("bulk", &b, &s);
    check(resp_write_null(&b, 2));
    check(resp_write_null(&b, 3));
    emit("nulls", &b, &s);
    check(resp_write_double(&b, 3, 3.14159));
    check(resp_write_double(&b, 3, -1e300));
    emit("double", &b, &s);
    check(resp_write_bool(&b, 3, true));
    emit("bool", &b, &s);
    check(resp_write_bignum(&b, 3, "-3492890328409238509324850943", 29));
    emit("bignum", &b, &s);
    check(resp_write_blob_error(&b, 3, "SYNTAX\r\ninvalid", 15));
    emit("blob_error", &b, &s);
    check(resp_write_verbatim(&b, 3, "txt", "Some string", 11));
    emit("verbatim", &b, &s);
    check(resp_write_map(&b, 3, 2));
    check(resp_write_simple(&b, "first"));
    check(resp_write_set(&b, 3, 2));
    check(resp_write_integer(&b, 1));
    check(resp_write_push(&b, 3, 1));
    check(resp_write_array(&b, 0));
    check(resp_write_bulk_str(&b, "second"));
    check(resp_write_double(&b, 3, 0.5));
    emit("nested", &b, &s);
    check(resp_write_command(&b, 5, cmd, NULL));
    emit("command", &b, &s);
    literal("attribute", "|1\r\n+ttl\r\n:3600\r\n*2\r\n:1\r\n|0\r\n:2\r\n");
    check(
        buf_append_str(&s, "|1\r\n+ttl\r\n:3600\r\n*2\r\n:1\r\n|0\r\n:2\r\n"));
    write_file("stream", s.data, s.len);
    literal("inline", "SET k \"a b\\x41\\n\\\"\" 'it\\'s' \"\"\r\n\r\n  \n"
                      "PING\n*1\r\n$4\r\nPING\r\n");
    literal("deep", "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n");
    literal("bad_length", "$-2\r\n");
    literal("bad_crlf", "$3\r\nabcd\r\n");
    literal("bad_double", ",1.5e\r\n");
    literal("unbalanced", "GET \"abc\r\n");
    buf_close(&b);
    buf_close(&s);
    return 0;
}
