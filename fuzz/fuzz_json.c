/* libFuzzer target for the JSON parser: any input either parses into a tree
 * that every accessor can walk, or fails with an error detail. */
#include <stdint.h>
#include <string.h>

#include "guardian/core.h"

static size_t walk(const gdn_json *v, int depth)
{
    size_t n = 1, len;
    double d;
    uint64_t u;
    int b;

    if (depth > GDN_JSON_MAX_DEPTH + 1)
        __builtin_trap();
    switch (gdn_json_type(v)) {
    case GDN_JSON_STRING:
        if (gdn_json_string(v, &len)[len] != '\0')
            __builtin_trap();
        break;
    case GDN_JSON_NUMBER:
        if (gdn_json_number(v, &d) || (gdn_json_uint(v, &u) == 0 && u > (1ULL << 53)))
            __builtin_trap();
        break;
    case GDN_JSON_BOOL:
        if (gdn_json_bool(v, &b))
            __builtin_trap();
        break;
    case GDN_JSON_OBJECT:
        for (size_t i = 0; i < gdn_json_len(v); i++) {
            /* A key with an embedded \u0000 may find no member (or one
             * whose key is its prefix); any member found has that key. */
            const char *key = gdn_json_key(v, i);
            const gdn_json *got = gdn_json_get(v, key);
            size_t j = 0;
            while (got && gdn_json_at(v, j) != got)
                j++;
            if (got && strcmp(gdn_json_key(v, j), key) != 0)
                __builtin_trap();
        }
        /* fall through */
    case GDN_JSON_ARRAY:
        for (size_t i = 0; i < gdn_json_len(v); i++)
            n += walk(gdn_json_at(v, i), depth + 1);
        break;
    case GDN_JSON_NULL:
        break;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gdn_json *root = NULL;
    gdn_buf b = {0};

    if (gdn_json_parse(&root, (const char *)data, size, "fuzz") == 0) {
        if (walk(root, 0) > GDN_JSON_MAX_NODES)
            __builtin_trap();
        /* Strings re-escaped by the writer parse back to the same bytes. */
        if (gdn_json_type(root) == GDN_JSON_STRING) {
            size_t len;
            const char *s = gdn_json_string(root, &len);
            gdn_json *again = NULL;
            if (strlen(s) == len) {
                if (gdn_json_write_string(&b, s) ||
                    gdn_json_parse(&again, (const char *)b.data, b.len, "w") ||
                    strcmp(gdn_json_string(again, NULL), s) != 0)
                    __builtin_trap();
                gdn_json_free(again);
            }
        }
        gdn_json_free(root);
    } else if (root != NULL || gdn_errmsg()[0] == '\0') {
        __builtin_trap();
    }
    gdn_buf_free(&b);
    return 0;
}
