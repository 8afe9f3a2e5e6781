/* json.c - JSON output for --json: one object per result, on one line,
 * written with src/common/json.h into a line buffer. The tool writes one
 * line at a time, from one thread. */
#include <string.h>

#include "cli/cli.h"

static struct buf line;
static FILE *line_out;

void json_begin(struct json *j, FILE *out)
{
    buf_clear(&line);
    line_out = out;
    json_init(j, &line);
    json_object_open(j, NULL);
}

void json_end(struct json *j)
{
    json_object_close(j);
    buf_append(&line, "\n", 1);
    fwrite(line.data, 1, line.len, line_out);
    fflush(line_out);
    buf_clear(&line);
}

void json_write_string(FILE *out, const char *s)
{
    struct buf b;
    buf_init(&b);
    json_string(&b, s, strlen(s));
    fwrite(b.data, 1, b.len, out);
    buf_close(&b);
}
