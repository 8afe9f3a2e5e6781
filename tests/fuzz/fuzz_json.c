/* fuzz_json.c - libFuzzer target for the JSON reader and writer
 * (src/common/jsonparse.c, json.c): any input must parse or fail cleanly;
 * a value that parses, written out, must parse again, and from there
 * writing and reading are a fixed point (the first writing may change a
 * string: bytes that are not UTF-8 become U+FFFD). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/jsonparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok)
        abort();
}

static void write_value(struct json *j, const char *key, const struct jv *v)
{
    switch (v->type) {
    case JV_NULL:
        json_null(j, key);
        break;
    case JV_BOOL:
        json_bool(j, key, v->b);
        break;
    case JV_NUMBER:
        if (v->is_u64)
            json_u64(j, key, v->u64);
        else
            json_f64(j, key, v->num);
        break;
    case JV_STRING:
        json_strn(j, key, v->str, v->len);
        break;
    case JV_ARRAY:
        json_array_open(j, key);
        for (size_t i = 0; i < v->n; i++)
            write_value(j, NULL, &v->items[i]);
        json_array_close(j);
        break;
    default:
        json_object_open(j, key);
        for (size_t i = 0; i < v->n; i++) {
            /* A key with a NUL cannot be given as a C string: cut there,
             * as the writer's callers never have one. */
            write_value(j, v->keys[i], &v->items[i]);
        }
        json_object_close(j);
        break;
    }
}

static void write_text(const struct jv *v, struct buf *b)
{
    struct json j;
    buf_init(b);
    json_init(&j, b);
    write_value(&j, NULL, v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jv *v, *again;
    char err[128];
    if (jsonparse((const char *)data, size, &v, err, sizeof err) != 0) {
        check(v == NULL && err[0] != '\0');
        return 0;
    }
    struct buf one, two, three;
    struct jv *third;
    write_text(v, &one);
    check(jsonparse(one.data, one.len, &again, err, sizeof err) == 0);
    write_text(again, &two);
    check(jsonparse(two.data, two.len, &third, err, sizeof err) == 0);
    write_text(third, &three);
    check(two.len == three.len && memcmp(two.data, three.data, two.len) == 0);
    buf_close(&one);
    buf_close(&two);
    buf_close(&three);
    jv_free(v);
    jv_free(again);
    jv_free(third);
    return 0;
}
