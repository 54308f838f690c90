/* Fuzzes the ping-pong message decoder (draft-irtf-cfrg-vdaf-20 §5.7.1) and
 * the transitions an aggregator runs on a peer's message: the input is the
 * message a helper (byte 0 even) or a leader (odd) receives for a fixed,
 * valid Prio3Count report (bit 1 of byte 0 clear) or PINE report (set). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "guardian/core.h"
#include "guardian/prio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t key[32] = {1}, nonce[16] = {2};
    gdn_prio3_params pp = {0};
    gdn_prio3 *v = NULL;
    gdn_pingpong_message m;
    gdn_buf pub = {0}, in[2] = {{0}}, enc = {0};
    gdn_pingpong_state st = {0};
    gdn_rng rng;
    uint64_t one = 1;

    if (size < 1)
        return 0;
    if (gdn_pingpong_decode(&m, data + 1, size - 1) == 0) {
        /* Re-encoding a decoded message gives the same bytes. */
        if (gdn_pingpong_encode(&enc, &m) != 0 || enc.len != size - 1 ||
            memcmp(enc.data, data + 1, size - 1) != 0)
            __builtin_trap();
    }
    gdn_rng_init_seed(&rng, 3);
    if (data[0] & 2) {
        gdn_pine_params pq = {0};
        gdn_pine *w = NULL;
        double x[4] = {0.25, -0.5, 0, 0.125};
        pq.variant = GDN_PINE64, pq.num_shares = 2, pq.dimension = 4, pq.num_frac_bits = 4;
        pq.l2_norm_bound = 16, pq.chunk_length = 8, pq.chunk_length_norm_equality = 2;
        pq.num_wr_checks = 4;
        if (gdn_pine_new(&w, &pq) || gdn_pine_shard(w, &pub, in, x, 4, nonce, &rng))
            goto pine_out;
        if (data[0] % 2 == 0)
            gdn_pingpong_pine_helper_init(&st, w, key, nonce, pub.data, pub.len, in[1].data,
                                          in[1].len, data + 1, size - 1);
        else if (gdn_pingpong_pine_leader_init(&st, w, key, nonce, pub.data, pub.len,
                                               in[0].data, in[0].len) == 0)
            gdn_pingpong_pine_continued(&st, w, data + 1, size - 1);
    pine_out:
        gdn_pine_free(w);
        goto out;
    }
    pp.kind = GDN_PRIO3_COUNT, pp.num_shares = 2;
    if (gdn_prio3_new(&v, &pp) ||
        gdn_prio3_shard(v, &pub, in, NULL, 0, &one, 1, nonce, &rng))
        goto out;
    if (data[0] % 2 == 0) {
        gdn_pingpong_helper_init(&st, v, key, NULL, 0, nonce, pub.data, pub.len,
                                 in[1].data, in[1].len, data + 1, size - 1);
    } else if (gdn_pingpong_leader_init(&st, v, key, NULL, 0, nonce, pub.data, pub.len,
                                        in[0].data, in[0].len) == 0) {
        gdn_pingpong_leader_continued(&st, v, NULL, 0, data + 1, size - 1);
    }
out:
    gdn_pingpong_state_free(&st);
    gdn_buf_free(&pub);
    gdn_buf_free(&in[0]);
    gdn_buf_free(&in[1]);
    gdn_buf_free(&enc);
    gdn_prio3_free(v);
    return 0;
}
