/* libFuzzer target for policy files: any input either parses into a policy
 * that describe and check handle, or fails with an error detail. */
#include <stdint.h>
#include <string.h>

#include "guardian/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gdn_policy *pol = (gdn_policy *)&size; /* must come back NULL on failure */
    gdn_policy_round round;
    gdn_policy_verdict v;
    gdn_buf b = {0};

    if (gdn_policy_parse(&pol, (const char *)data, size, "fuzz") != 0) {
        if (pol != NULL || gdn_errmsg()[0] == '\0')
            __builtin_trap();
        return 0;
    }
    if (gdn_policy_describe(&b, pol) || b.len == 0 || memchr(b.data, 0, b.len))
        __builtin_trap();
    /* A round built from the input's first bytes, so checks vary with it. */
    memset(&round, 0, sizeof round);
    memcpy(round.coordinator, data, size < 32 ? size : 32);
    round.cohort = size;
    round.layers = size ? data[0] : 0;
    round.model = size % 2 ? "mlp:4-8-3" : "cnn";
    round.q = size ? data[size - 1] / 255.0 : 0;
    round.sigma = 0.5 + (double)(size % 7);
    round.steps = size * 3;
    round.rounds_today = size % 30;
    if (gdn_policy_check(&v, pol, &round) != 0 ||
        (v.accept ? v.rule != NULL || strcmp(v.message, "accepted") != 0
                  : v.rule == NULL || strncmp(v.message, "refused: ", 9) != 0))
        __builtin_trap();
    gdn_buf_free(&b);
    gdn_policy_free(pol);
    return 0;
}
