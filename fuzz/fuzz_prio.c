/* Fuzzes the Prio3 and PINE decoders an aggregator runs on untrusted bytes:
 * input shares, public shares, verifier shares and verifier messages.
 * Input: byte 0 picks the instance and aggregator (bit 3: PINE), the rest
 * is split into the public share, the input share and a verifier message. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "guardian/core.h"
#include "guardian/prio.h"

static gdn_prio3 *instance(unsigned which)
{
    gdn_prio3_params pp = {0};
    gdn_prio3 *v = NULL;
    pp.num_shares = 2;
    switch (which % 4) {
    case 0: pp.kind = GDN_PRIO3_COUNT; break;
    case 1: pp.kind = GDN_PRIO3_SUM, pp.max = 255; break;
    case 2: pp.kind = GDN_PRIO3_HISTOGRAM, pp.length = 5, pp.chunk_length = 2; break;
    default:
        pp.kind = GDN_PRIO3_SUMVEC, pp.length = 3, pp.max = 7, pp.chunk_length = 3;
        break;
    }
    gdn_prio3_new(&v, &pp);
    return v;
}

/* The same for a small PINE instance (Field40 or Field64). */
static void fuzz_pine(unsigned which, const uint8_t *data, size_t size)
{
    static const uint8_t key[32] = {0}, nonce[16] = {0};
    gdn_pine_params pp = {0};
    gdn_pine *v = NULL;
    gdn_buf st = {0}, vs = {0}, msg = {0}, out = {0};
    unsigned agg_id = which & 1;
    pp.variant = which & 2 ? GDN_PINE40_HMAC_SHA256_AES128 : GDN_PINE64;
    pp.num_shares = 2, pp.dimension = 6, pp.num_frac_bits = 4, pp.l2_norm_bound = 16;
    pp.chunk_length = 8, pp.chunk_length_norm_equality = 2, pp.num_wr_checks = 4;
    if (gdn_pine_new(&v, &pp))
        return;
    size_t ps_len = gdn_pine_public_share_size(v), want = gdn_pine_input_share_size(v, agg_id);
    if (ps_len > size)
        ps_len = size;
    const uint8_t *ps = data, *is = data + ps_len;
    size_t is_len = size - ps_len, rest = is_len > want ? is_len - want : 0;
    if (is_len > want)
        is_len = want;
    if (gdn_pine_verify_init(v, &st, &vs, key, agg_id, nonce, ps, ps_len, is, is_len) == 0) {
        const uint8_t *ptr[2] = {vs.data, vs.data};
        size_t lens[2] = {vs.len, vs.len};
        gdn_pine_verifier_shares_to_message(v, &msg, ptr, lens, 2);
        if (gdn_pine_verify_next(v, &out, st.data, st.len, is + is_len, rest) == 0) {
            uint8_t agg[64] = {0};
            if (out.len <= sizeof agg)
                gdn_pine_aggregate(v, agg, out.data, out.len);
        }
    }
    const uint8_t *ptr[2] = {is, is};
    size_t lens[2] = {is_len, is_len};
    gdn_pine_verifier_shares_to_message(v, &msg, ptr, lens, 2);
    gdn_buf_free(&st);
    gdn_buf_free(&vs);
    gdn_buf_free(&msg);
    gdn_buf_free(&out);
    gdn_pine_free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t key[32] = {0}, nonce[16] = {0};
    if (size < 3)
        return 0;
    if (data[0] & 8) {
        fuzz_pine(data[0], data + 3, size - 3);
        return 0;
    }
    gdn_prio3 *v = instance(data[0]);
    unsigned agg_id = (data[0] >> 2) & 1;
    if (!v)
        return 0;
    data += 3, size -= 3;
    size_t ps_len = gdn_prio3_public_share_size(v);
    if (ps_len > size)
        ps_len = size;
    const uint8_t *ps = data, *is = data + ps_len;
    size_t is_len = size - ps_len;
    size_t want = gdn_prio3_input_share_size(v, agg_id);
    size_t rest = is_len > want ? is_len - want : 0;
    if (is_len > want)
        is_len = want;
    gdn_buf st = {0}, vs = {0}, msg = {0}, out = {0};
    if (gdn_prio3_verify_init(v, &st, &vs, key, NULL, 0, agg_id, nonce, ps, ps_len, is,
                              is_len) == 0) {
        /* Combine our verifier share with itself, then try the fuzzed message. */
        const uint8_t *ptr[2] = {vs.data, vs.data};
        size_t lens[2] = {vs.len, vs.len};
        gdn_prio3_verifier_shares_to_message(v, &msg, NULL, 0, ptr, lens, 2);
        if (gdn_prio3_verify_next(v, &out, st.data, st.len, is + is_len, rest) == 0) {
            uint8_t agg[256] = {0};
            if (out.len <= sizeof agg)
                gdn_prio3_aggregate(v, agg, out.data, out.len);
        }
    }
    /* The fuzzed bytes as a verifier share too. */
    {
        const uint8_t *ptr[2] = {is, is};
        size_t lens[2] = {is_len, is_len};
        gdn_buf m2 = {0};
        gdn_prio3_verifier_shares_to_message(v, &m2, NULL, 0, ptr, lens, 2);
        gdn_buf_free(&m2);
    }
    gdn_buf_free(&st);
    gdn_buf_free(&vs);
    gdn_buf_free(&msg);
    gdn_buf_free(&out);
    gdn_prio3_free(v);
    return 0;
}
