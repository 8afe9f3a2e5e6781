/* logger.c - the server's log on stderr. */
#include "server/logger.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "common/json.h"

static int min_level = LOG_INFO;
static uint64_t self_id;
static bool json_lines;

void logger_set_json(bool on)
{
    json_lines = on;
}

void logger_init(int level, uint64_t id)
{
    min_level = level;
    self_id = id;
}

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int logger_parse_level(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

const char *logger_level_name(int level)
{
    return level >= LOG_DEBUG && level <= LOG_ERROR ? level_names[level] : "?";
}

void logger_log(int level, const char *fmt, ...)
{
    if (level < min_level)
        return;
    struct timeval tv;
    struct tm tm;
    char when[32], line[1024];
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (json_lines) {
        /* {"time":...,"level":...,"server":N,"msg":...}: one object a line,
         * for collectors; the message as text (bytes that are not UTF-8
         * become U+FFFD). */
        char stamp[48];
        snprintf(stamp, sizeof stamp, "%s.%03dZ", when,
                 (int)(tv.tv_usec / 1000));
        struct buf b;
        struct json j;
        buf_init(&b);
        json_init(&j, &b);
        json_object_open(&j, NULL);
        json_str(&j, "time", stamp);
        json_str(&j, "level", logger_level_name(level));
        json_u64(&j, "server", self_id);
        json_str(&j, "msg", line);
        json_object_close(&j);
        buf_append(&b, "\n", 1);
        fwrite(b.data, 1, b.len, stderr);
        buf_close(&b);
        return;
    }
    /* One write per line, so lines of several servers sharing a terminal
     * do not interleave. */
    fprintf(stderr, "%s.%03dZ n%" PRIu64 " %-5s %s\n", when,
            (int)(tv.tv_usec / 1000), self_id, logger_level_name(level), line);
}
