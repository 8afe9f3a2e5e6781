/* httpreq.c - an HTTP/1.x request head from bytes (httpreq.h). RFC 9112:
 * request-line = method SP request-target SP HTTP-version CRLF, then
 * field lines, then an empty line; a bare LF ends a line too. */
#include "common/httpreq.h"

#include <string.h>
#include <strings.h>

void httpreq_init(struct httpreq *r)
{
    r->len = 0;
    r->head[0] = '\0';
    r->method = r->path = r->query = r->authorization = r->host = "";
    r->keep_alive = false;
    r->head_only = false;
}

/* Whether c may be in a token (a method, a field's name). */
static bool tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

/* The next line of the head from *p, NUL-terminated in place without its
 * CR LF (or LF); NULL when there is none. */
static char *line(char **p)
{
    char *s = *p, *e = strchr(s, '\n');
    if (e == NULL)
        return NULL;
    *p = e + 1;
    if (e > s && e[-1] == '\r')
        e--;
    *e = '\0';
    return s;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* Whether the comma-separated list v has the token t (case-insensitive). */
static bool has_token(const char *v, const char *t)
{
    size_t n = strlen(t);
    for (const char *p = v; *p != '\0';) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *e = p;
        while (*e != '\0' && *e != ',' && *e != ' ' && *e != '\t')
            e++;
        if ((size_t)(e - p) == n && strncasecmp(p, t, n) == 0)
            return true;
        p = e;
    }
    return false;
}

static int request_line(struct httpreq *r, char *s, int *minor)
{
    char *sp1 = strchr(s, ' ');
    if (sp1 == NULL || sp1 == s)
        return 400;
    *sp1 = '\0';
    for (char *c = s; *c != '\0'; c++)
        if (!tchar(*c))
            return 400;
    char *target = sp1 + 1, *sp2 = strchr(target, ' ');
    if (sp2 == NULL || sp2 == target || target[0] != '/')
        return 400;
    *sp2 = '\0';
    for (char *c = target; *c != '\0'; c++)
        if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 127)
            return 400;
    const char *version = sp2 + 1;
    if (strncmp(version, "HTTP/", 5) != 0)
        return 400;
    if (strcmp(version, "HTTP/1.1") == 0)
        *minor = 1;
    else if (strcmp(version, "HTTP/1.0") == 0)
        *minor = 0;
    else
        return 505;
    r->method = s;
    char *q = strchr(target, '?');
    if (q != NULL) {
        *q = '\0';
        r->query = q + 1;
    }
    r->path = target;
    return 0;
}

/* Parses the complete head in r->head (len bytes, ending in the empty
 * line). */
static int parse(struct httpreq *r)
{
    char *p = r->head, *s = line(&p);
    int minor = 1, rc = request_line(r, s, &minor);
    if (rc != 0)
        return rc;
    const char *connection = NULL;
    while ((s = line(&p)) != NULL && s[0] != '\0') {
        if (s[0] == ' ' || s[0] == '\t')
            return 400; /* obsolete line folding */
        char *colon = strchr(s, ':');
        if (colon == NULL || colon == s)
            return 400;
        *colon = '\0';
        for (char *c = s; *c != '\0'; c++)
            if (!tchar(*c))
                return 400;
        char *v = trim(colon + 1);
        if (strcasecmp(s, "content-length") == 0) {
            if (strspn(v, "0") != strlen(v) || v[0] == '\0')
                return 413;
        } else if (strcasecmp(s, "transfer-encoding") == 0) {
            return 413;
        } else if (strcasecmp(s, "connection") == 0) {
            connection = v;
        } else if (strcasecmp(s, "authorization") == 0) {
            r->authorization = v;
        } else if (strcasecmp(s, "host") == 0) {
            r->host = v;
        }
    }
    if (minor == 1)
        r->keep_alive = connection == NULL || !has_token(connection, "close");
    else
        r->keep_alive =
            connection != NULL && has_token(connection, "keep-alive");
    r->head_only = strcmp(r->method, "HEAD") == 0;
    return HTTPREQ_DONE;
}

int httpreq_feed(struct httpreq *r, const char *data, size_t n, size_t *used)
{
    *used = 0;
    for (size_t i = 0; i < n; i++) {
        char c = data[i];
        if (c == '\0')
            return 400;
        /* Empty lines before a request line are ignored (RFC 9112 2.2). */
        if (r->len == 0 && (c == '\r' || c == '\n'))
            continue;
        if (r->len == HTTPREQ_HEAD_MAX)
            return 431;
        r->head[r->len++] = c;
        r->head[r->len] = '\0';
        if (c != '\n')
            continue;
        /* The head ends with an empty line: LF LF or LF CR LF. */
        bool end = (r->len >= 2 && r->head[r->len - 2] == '\n') ||
                   (r->len >= 3 && r->head[r->len - 2] == '\r' &&
                    r->head[r->len - 3] == '\n');
        if (end) {
            *used = i + 1;
            return parse(r);
        }
    }
    *used = n;
    return HTTPREQ_MORE;
}
