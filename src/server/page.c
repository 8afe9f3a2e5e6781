/* page.c - the status page's files, included whole by the assembler
 * (.incbin, with the paths from the top of the tree, where make runs). The
 * Makefile makes page.o depend on them. */
#include "server/page.h"

#include <string.h>

#define PAGE_FILE(sym, file)                                                   \
    __asm__(".section .rodata\n"                                               \
            ".global " #sym "\n"                                               \
            ".type " #sym ", @object\n" #sym ":\n"                             \
            ".incbin \"" file "\"\n"                                           \
            ".global " #sym "_end\n" #sym "_end:\n"                            \
            ".byte 0\n"                                                        \
            ".previous\n");                                                    \
    extern const char sym[], sym##_end[]

PAGE_FILE(page_html, "src/server/page/status.html");
PAGE_FILE(page_css, "src/server/page/status.css");
PAGE_FILE(page_js, "src/server/page/status.js");

const struct page_file *page_find(const char *path)
{
    static struct page_file files[3];
    if (files[0].path == NULL) {
        files[0] =
            (struct page_file){"/", "text/html; charset=utf-8", page_html,
                               (size_t)(page_html_end - page_html)};
        files[1] =
            (struct page_file){"/status.css", "text/css; charset=utf-8",
                               page_css, (size_t)(page_css_end - page_css)};
        files[2] =
            (struct page_file){"/status.js", "text/javascript; charset=utf-8",
                               page_js, (size_t)(page_js_end - page_js)};
    }
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        if (strcmp(files[i].path, path) == 0)
            return &files[i];
    return NULL;
}
