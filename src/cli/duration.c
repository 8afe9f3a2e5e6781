/* duration.c - durations as people write them ("500ms", "10s", "5m") and as
 * dlock prints them. */
#include <string.h>

#include "cli/cli.h"

static const struct {
    const char *name;
    uint64_t ms;
} units[] = {
    /* "ms" before "m", so that "5ms" is not read as 5 minutes and an "s". */
    {"ms", 1},
    {"s", 1000},
    {"m", 60 * 1000},
    {"h", 60 * 60 * 1000},
};

/* Reads the unit at *p; 0 if there is none there. */
static uint64_t read_unit(const char **p)
{
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        size_t n = strlen(units[i].name);
        if (strncmp(*p, units[i].name, n) == 0) {
            *p += n;
            return units[i].ms;
        }
    }
    return 0;
}

/* Reads one "<digits>[.<digits>]<unit>" at *p into *ms; -1 if malformed or
 * too large. */
static int read_term(const char **p, uint64_t *ms)
{
    const char *s = *p;
    uint64_t whole = 0, frac = 0, scale = 1;
    if (*s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        uint64_t d = (uint64_t)(*s - '0');
        if (whole > (UINT64_MAX - d) / 10)
            return -1;
        whole = whole * 10 + d;
    }
    if (*s == '.') {
        s++;
        if (*s < '0' || *s > '9')
            return -1;
        /* Digits past the ninth cannot change a whole millisecond. */
        for (; *s >= '0' && *s <= '9'; s++) {
            if (scale < 1000000000) {
                frac = frac * 10 + (uint64_t)(*s - '0');
                scale *= 10;
            }
        }
    }
    uint64_t unit = read_unit(&s);
    if (unit == 0 || whole > UINT64_MAX / unit)
        return -1;
    uint64_t v = whole * unit;
    uint64_t part = frac * unit / scale; /* below 10^9 * 3.6 * 10^6 */
    if (v > UINT64_MAX - part)
        return -1;
    *ms = v + part;
    *p = s;
    return 0;
}

int duration_parse(const char *s, uint64_t *ms)
{
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    if (*s == '\0')
        return -1;
    uint64_t total = 0;
    while (*s != '\0') {
        uint64_t v;
        if (read_term(&s, &v) != 0 || total > UINT64_MAX - v)
            return -1;
        total += v;
    }
    *ms = total;
    return 0;
}

void duration_format(uint64_t ms, char *buf, size_t n)
{
    if (ms < 1000)
        snprintf(buf, n, "%llums", (unsigned long long)ms);
    else if (ms < 60000 && ms % 1000 == 0)
        snprintf(buf, n, "%llus", (unsigned long long)(ms / 1000));
    else if (ms < 60000)
        snprintf(buf, n, "%llu.%llus", (unsigned long long)(ms / 1000),
                 (unsigned long long)(ms % 1000 / 100));
    else if (ms < 3600000)
        snprintf(buf, n, "%llum%02llus", (unsigned long long)(ms / 60000),
                 (unsigned long long)(ms % 60000 / 1000));
    else
        snprintf(buf, n, "%lluh%02llum", (unsigned long long)(ms / 3600000),
                 (unsigned long long)(ms % 3600000 / 60000));
}
