/* logger.h - the server's log: one line per event on stderr, with the time,
 * the level and this server's id, as text or JSON. */
#ifndef DLOCK_LOGGER_H
#define DLOCK_LOGGER_H

#include <stdbool.h>
#include <stdint.h>

enum logger_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* Sets the least level printed and the id shown on each line. */
void logger_init(int level, uint64_t id);
/* Lines as JSON objects ({"time", "level", "server", "msg"}), for log
 * collectors (--log-format json), or as text (the default). */
void logger_set_json(bool on);
/* Parses "debug", "info", "warn" or "error"; -1 if none of them. */
int logger_parse_level(const char *s);
/* The name of a level, as logger_parse_level takes it. */
const char *logger_level_name(int level);
void logger_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_debug(...) logger_log(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) logger_log(LOG_INFO, __VA_ARGS__)
#define log_warn(...) logger_log(LOG_WARN, __VA_ARGS__)
#define log_error(...) logger_log(LOG_ERROR, __VA_ARGS__)

#endif
