/* libFuzzer target for model files: gdn_model_load_bytes either rejects the
 * input with an error detail or returns a model whose parameters are exactly
 * the file's data buffer. */
#include <stdint.h>
#include <string.h>

#include "guardian/ml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gdn_model *m = NULL;
    int rc = gdn_model_load_bytes(&m, data, size, "fuzz.safetensors");

    if (rc) {
        if (m != NULL || gdn_errmsg()[0] == '\0')
            __builtin_trap();
        return 0;
    }
    /* Every byte of a valid file's data buffer is a parameter. */
    uint64_t hlen = gdn_load_le64(data);
    if (size - 8 - hlen != 4 * gdn_model_nparams(m))
        __builtin_trap();
    gdn_model_free(m);
    return 0;
}
