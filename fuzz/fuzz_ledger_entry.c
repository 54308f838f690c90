/* libFuzzer target for the ledger's decoders. Any input either decodes into
 * an entry whose re-encoding is the input itself (one encoding per entry),
 * or is refused with an error detail; gdn_ledger_entry_check and the
 * auditor agree with decode. Inputs of a tree head's or co-signature's size
 * go through those decoders too, with the same round-trip property. */
#include <stdint.h>
#include <string.h>

#include "guardian/core.h"
#include "guardian/ledger.h"

static const uint8_t log_id[32] = {1};
static const uint8_t pk[32] = {2};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gdn_ledger_entry e;
    gdn_ledger_auditor *a = NULL;
    gdn_buf b = {0};
    int rc = gdn_ledger_entry_decode(&e, data, size);

    if (rc == 0) {
        if (gdn_ledger_entry_encode(&b, &e) != 0 || b.len != size ||
            memcmp(b.data, data, size) != 0)
            __builtin_trap();
        if (gdn_ledger_entry_check(data, size) != 0)
            __builtin_trap();
        if ((e.kind == GDN_LEDGER_KIND_REFUSAL) != (e.reason != NULL) ||
            (e.reason && strlen(e.reason) > GDN_LEDGER_MAX_REASON))
            __builtin_trap();
        gdn_ledger_entry_free(&e);
    } else {
        if (rc != GDN_EFORMAT || gdn_errmsg()[0] == '\0' || e.owned != NULL ||
            gdn_ledger_entry_check(data, size) != rc)
            __builtin_trap();
    }
    if (gdn_ledger_auditor_new(&a, log_id, pk) == 0) {
        int arc = gdn_ledger_auditor_add_entry(a, data, size, NULL);
        if ((arc == 0) != (rc == 0))
            __builtin_trap();
        gdn_ledger_auditor_free(a);
    }

    if (size == GDN_LEDGER_HEAD_BYTES) {
        gdn_ledger_head h;
        uint8_t enc[GDN_LEDGER_HEAD_BYTES];
        if (gdn_ledger_head_decode(&h, data, size) == 0) {
            gdn_ledger_head_encode(enc, &h);
            if (memcmp(enc, data, size) != 0)
                __builtin_trap();
        }
    }
    if (size == GDN_LEDGER_COSIG_BYTES) {
        gdn_ledger_cosig c;
        uint8_t enc[GDN_LEDGER_COSIG_BYTES];
        if (gdn_ledger_cosig_decode(&c, data, size) == 0) {
            gdn_ledger_cosig_encode(enc, &c);
            if (memcmp(enc, data, size) != 0)
                __builtin_trap();
        }
    }
    gdn_buf_free(&b);
    return 0;
}
