/* libFuzzer target for config files: any input either parses into entries
 * that keep every documented limit and rule, in file order, or fails with an
 * error detail that names the input. */
#include <stdint.h>
#include <string.h>

#include "guardian/core.h"

static int key_ok(const char *k)
{
    size_t n = strlen(k);

    if (n == 0 || n > GDN_CONFIG_MAX_KEY_BYTES)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z') ||
              (k[i] >= '0' && k[i] <= '9') || k[i] == '_' || k[i] == '-'))
            return 0;
    return 1;
}

static int value_ok(const char *v)
{
    size_t n = strlen(v), k;

    if (n > GDN_CONFIG_MAX_VALUE_BYTES)
        return 0;
    for (size_t i = 0; i < n; i += k)
        if (!(k = gdn_utf8_seq((const unsigned char *)v + i, n - i)))
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gdn_config *c = NULL;
    size_t n;
    unsigned line = 1;

    if (gdn_config_parse(&c, data, size, "fuzz") != 0) {
        if (c != NULL || strncmp(gdn_errmsg(), "fuzz:", 5) != 0)
            __builtin_trap();
        return 0;
    }
    n = gdn_config_count(c);
    if (n > GDN_CONFIG_MAX_ENTRIES || strcmp(gdn_config_name(c), "fuzz") != 0 ||
        gdn_config_key(c, n) || gdn_config_value(c, n) || gdn_config_line(c, n))
        __builtin_trap();
    for (size_t i = 0; i < n; i++) {
        const char *k = gdn_config_key(c, i);
        /* A key's values are adjacent: an earlier key never comes back. */
        if (!key_ok(k) || !value_ok(gdn_config_value(c, i)) ||
            gdn_config_line(c, i) < line)
            __builtin_trap();
        for (size_t j = 0; i > 0 && strcmp(k, gdn_config_key(c, i - 1)) != 0 && j < i; j++)
            if (strcmp(k, gdn_config_key(c, j)) == 0)
                __builtin_trap();
        line = gdn_config_line(c, i);
    }
    gdn_config_free(c);
    return 0;
}
