/* test_client_watch.c - the parts of libdlock's watches that need no
 * dlockd: a change parsed from an array or a push of 11 (and refused when
 * it is not one), and the position that lets a watch go on after a
 * reconnect without losing or repeating a change, also of a revision that
 * holds several. */
#include <stdio.h>

#include "client/client_internal.h"
#include "client_test.h"

/* Reads the one value in the n bytes at s into r. */
static const struct resp_value *read_n(struct resp_reader *r, const char *s,
                                       size_t n)
{
    const struct resp_value *v = NULL;
    resp_reader_init(r, &resp_limits_client);
    CHECK_EQ(resp_reader_feed(r, s, n), 0);
    CHECK_EQ(resp_reader_next(r, &v), 1);
    return v;
}

static const struct resp_value *read_value(struct resp_reader *r, const char *s)
{
    return read_n(r, s, strlen(s));
}

/* A change with the type byte t ('*' or '>') and the event ev. */
static void change_text(char *out, size_t n, char t, const char *ev,
                        const char *value)
{
    snprintf(out, n,
             "%c11\r\n$5\r\nwatch\r\n$6\r\nleader\r\n:19\r\n$%zu\r\n%s\r\n"
             ":16\r\n$4\r\nw-16\r\n:4\r\n:1\r\n:0\r\n:1\r\n$%zu\r\n%s\r\n",
             t, strlen(ev), ev, strlen(value), value);
}

/* Every event, as an array (WATCH.NEXT) and as a push (WATCH). */
TEST(watch, parse_change)
{
    static const char *const ev[] = {"granted",   "released",   "lost",
                                     "withdrawn", "downgraded", "proclaimed",
                                     "gone"};
    for (int t = 0; t < 2; t++) {
        for (int i = 0; i < 7; i++) {
            char text[512];
            change_text(text, sizeof text, t ? '>' : '*', ev[i], "10.0.0.1");
            struct resp_reader r;
            struct dlock_change ch;
            CHECK(watch_parse_change(read_value(&r, text), &ch));
            CHECK_STR(ch.name, "leader");
            CHECK_U64(ch.revision, 19);
            CHECK_EQ(ch.event, DLOCK_CHANGE_GRANTED + i);
            CHECK_STR(dlock_change_event_name(ch.event), ev[i]);
            CHECK_U64(ch.session, 16);
            CHECK_STR(ch.owner, "w-16");
            CHECK_U64(ch.token, 4);
            CHECK_EQ(ch.exclusive, 1);
            CHECK_EQ(ch.shared, 0);
            CHECK_EQ(ch.holders, 1);
            CHECK_STR(ch.value, "10.0.0.1");
            CHECK_EQ(ch.value_len, 8);
            resp_reader_close(&r);
        }
    }
    CHECK_STR(dlock_change_event_name(0), "?");
    CHECK_STR(dlock_change_event_name(8), "?");
}

/* A value keeps its NUL bytes and its length; one of DLOCK_VALUE_MAX bytes
 * is taken, one longer refused. */
TEST(watch, parse_value_bytes)
{
    char text[4096];
    struct resp_reader r;
    struct dlock_change ch;
    int n = snprintf(text, sizeof text,
                     "*11\r\n$5\r\nwatch\r\n$1\r\ne\r\n:3\r\n$10\r\nproclaimed"
                     "\r\n:1\r\n$0\r\n\r\n:2\r\n:1\r\n:0\r\n:1\r\n$3\r\n");
    memcpy(text + n, "a\0b\r\n", 5);
    CHECK(watch_parse_change(read_n(&r, text, (size_t)n + 5), &ch));
    CHECK_EQ(ch.value_len, 3);
    CHECK_MEM(ch.value, "a\0b", 4);
    resp_reader_close(&r);
    for (int extra = 0; extra < 2; extra++) {
        size_t len = DLOCK_VALUE_MAX + (size_t)extra;
        n = snprintf(text, sizeof text,
                     "*11\r\n$5\r\nwatch\r\n$1\r\ne\r\n:3\r\n$10\r\nproclaimed"
                     "\r\n:1\r\n$0\r\n\r\n:2\r\n:1\r\n:0\r\n:1\r\n$%zu\r\n",
                     len);
        memset(text + n, 'v', len);
        memcpy(text + n + len, "\r\n", 2);
        CHECK_EQ(watch_parse_change(read_n(&r, text, (size_t)n + len + 2), &ch),
                 extra == 0);
        resp_reader_close(&r);
    }
}

/* What is not a change is refused: another length, first word, event,
 * a negative or non-integer number, an empty or too long name or owner,
 * holds beyond 32 bits. */
TEST(watch, parse_refused)
{
    static const char *const bad[] = {
        "*10\r\n$5\r\nwatch\r\n$1\r\nx\r\n:1\r\n$7\r\ngranted\r\n:1\r\n$0\r\n"
        "\r\n:1\r\n:1\r\n:0\r\n:1\r\n",
        "*11\r\n$5\r\nwatc_\r\n$1\r\nx\r\n:1\r\n$7\r\ngranted\r\n:1\r\n$0\r\n"
        "\r\n:1\r\n:1\r\n:0\r\n:1\r\n$0\r\n\r\n",
        "*11\r\n$5\r\nwatch\r\n$1\r\nx\r\n:1\r\n$7\r\ngrantee\r\n:1\r\n$0\r\n"
        "\r\n:1\r\n:1\r\n:0\r\n:1\r\n$0\r\n\r\n",
        "*11\r\n$5\r\nwatch\r\n$1\r\nx\r\n:-1\r\n$7\r\ngranted\r\n:1\r\n$0\r\n"
        "\r\n:1\r\n:1\r\n:0\r\n:1\r\n$0\r\n\r\n",
        "*11\r\n$5\r\nwatch\r\n$1\r\nx\r\n$1\r\n1\r\n$7\r\ngranted\r\n:1\r\n"
        "$0\r\n\r\n:1\r\n:1\r\n:0\r\n:1\r\n$0\r\n\r\n",
        "*11\r\n$5\r\nwatch\r\n$0\r\n\r\n:1\r\n$7\r\ngranted\r\n:1\r\n$0\r\n"
        "\r\n:1\r\n:1\r\n:0\r\n:1\r\n$0\r\n\r\n",
        "*11\r\n$5\r\nwatch\r\n$1\r\nx\r\n:1\r\n$7\r\ngranted\r\n:1\r\n$0\r\n"
        "\r\n:1\r\n:4294967296\r\n:0\r\n:1\r\n$0\r\n\r\n",
        ":11\r\n",
        "%1\r\n$5\r\nwatch\r\n:1\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct resp_reader r;
        struct dlock_change ch;
        CHECK_MSG(!watch_parse_change(read_value(&r, bad[i]), &ch), "bad %zu",
                  i);
        resp_reader_close(&r);
    }
    /* An owner of 65 bytes is too long. */
    char text[512], owner[66];
    memset(owner, 'o', 65);
    owner[65] = '\0';
    snprintf(text, sizeof text,
             "*11\r\n$5\r\nwatch\r\n$1\r\nx\r\n:1\r\n$7\r\ngranted\r\n:1\r\n"
             "$65\r\n%s\r\n:1\r\n:1\r\n:0\r\n:1\r\n$0\r\n\r\n",
             owner);
    struct resp_reader r;
    struct dlock_change ch;
    CHECK(!watch_parse_change(read_value(&r, text), &ch));
    resp_reader_close(&r);
}

static struct dlock_change at(uint64_t revision, int event)
{
    struct dlock_change ch;
    memset(&ch, 0, sizeof ch);
    ch.revision = revision;
    ch.event = event;
    return ch;
}

/* From a revision: the changes after it are taken, in order, each once;
 * a handover (two changes at one revision) is taken whole. */
TEST(watch, pos_in_order)
{
    struct watch_pos p = {.revision = 10, .delivered = WATCH_POS_ALL};
    CHECK_U64(watch_pos_from(&p), 10);
    struct dlock_change a = at(10, DLOCK_CHANGE_GRANTED);
    CHECK(!watch_pos_accept(&p, &a));
    a = at(12, DLOCK_CHANGE_RELEASED);
    CHECK(watch_pos_accept(&p, &a));
    a = at(12, DLOCK_CHANGE_GRANTED);
    CHECK(watch_pos_accept(&p, &a));
    CHECK_U64(p.revision, 12);
    CHECK_EQ(p.delivered, 2);
    a = at(11, DLOCK_CHANGE_GRANTED);
    CHECK(!watch_pos_accept(&p, &a));
    a = at(13, DLOCK_CHANGE_LOST);
    CHECK(watch_pos_accept(&p, &a));
}

/* A reconnect in the middle of a revision's changes goes on FROM the
 * revision before and passes over those delivered: the one of them not
 * delivered yet comes, nothing twice. After a whole revision it goes on
 * FROM it. */
TEST(watch, pos_reconnect_inside_a_revision)
{
    struct watch_pos p = {.revision = 0, .delivered = WATCH_POS_ALL};
    CHECK_U64(watch_pos_from(&p), 0);
    struct dlock_change rel = at(7, DLOCK_CHANGE_RELEASED);
    struct dlock_change gr = at(7, DLOCK_CHANGE_GRANTED);
    struct dlock_change next = at(9, DLOCK_CHANGE_RELEASED);
    CHECK(watch_pos_accept(&p, &rel));
    /* the connection fails here: replayed from 6 */
    CHECK_U64(watch_pos_from(&p), 6);
    CHECK(!watch_pos_accept(&p, &rel));
    CHECK(watch_pos_accept(&p, &gr));
    CHECK(watch_pos_accept(&p, &next));
    /* fails again after a revision of one change: replayed from 8 */
    CHECK_U64(watch_pos_from(&p), 8);
    CHECK(!watch_pos_accept(&p, &next));
    struct dlock_change last = at(10, DLOCK_CHANGE_GRANTED);
    CHECK(watch_pos_accept(&p, &last));
}

/* A gone change is always delivered and moves the position to its
 * revision, all of it: the changes kept after it follow. */
TEST(watch, pos_gone)
{
    struct watch_pos p = {.revision = 3, .delivered = 1};
    CHECK_U64(watch_pos_from(&p), 2);
    struct dlock_change g = at(100, DLOCK_CHANGE_GONE);
    CHECK(watch_pos_accept(&p, &g));
    CHECK_U64(p.revision, 100);
    CHECK_EQ(p.delivered, WATCH_POS_ALL);
    struct dlock_change a = at(100, DLOCK_CHANGE_GRANTED);
    CHECK(!watch_pos_accept(&p, &a));
    a = at(101, DLOCK_CHANGE_GRANTED);
    CHECK(watch_pos_accept(&p, &a));
    CHECK_U64(watch_pos_from(&p), 100);
}
