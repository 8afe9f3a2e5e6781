/* page.h - the status page's files (src/server/page/), built into dlockd:
 * plain HTML, CSS and JavaScript, no build step; the script reads
 * /status.json every second (docs/operations.md, Status page). */
#ifndef DLOCK_PAGE_H
#define DLOCK_PAGE_H

#include <stddef.h>

struct page_file {
    const char *path; /* what GET names: "/", "/status.css", ... */
    const char *type; /* its Content-Type */
    const char *data;
    size_t len;
};

/* The file at path, or NULL. */
const struct page_file *page_find(const char *path);

#endif
