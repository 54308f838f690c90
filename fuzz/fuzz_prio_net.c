/* Fuzzes what the two aggregators of networked validated aggregation parse
 * from each other (src/net/prio.c, src/net/helper.c): byte 0 picks
 *   0: a helper's step-1 job (its header's dimension forced small),
 *   1: a valid job with one byte flipped (position and mask from the input),
 *   2: the helper's verdicts as the leader reads them (step 2),
 *   3: the leader's accepted-report flags as the helper reads them (step 3),
 *   4: an owner's report as the leader reads it (step 1's preparation),
 * over a fixed round of two honest reports of a 8-entry vector. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "guardian/core.h"
#include "guardian/fl.h"
#include "net/prio.h"

#define DIM 8
#define N 2

static struct {
    int ready;
    net_prio_helper h, h0; /* h0: for arbitrary jobs, which change its instance */
    gdn_fl_pine *v;
    gdn_buf report[N], job, state[N];
    net_prio_input in[N];
    uint8_t sent[N], key[64];
    size_t count;
    net_prio_entry *e;
    size_t ne;
} F;

static int setup(void)
{
    uint8_t pk[32], sk[64], pin[32];
    float global[DIM] = {0}, local[DIM];
    gdn_buf reply = {0};
    size_t rej;

    if (sodium_init() < 0)
        return -1;
    gdn_log_set_level(GDN_LOG_ERROR);
    crypto_sign_seed_keypair(pk, sk, (const uint8_t[32]){7});
    if (crypto_sign_ed25519_sk_to_curve25519(F.h.xsk, sk) ||
        crypto_sign_ed25519_pk_to_curve25519(F.h.xpk, pk))
        return -1;
    memcpy(F.h0.xsk, F.h.xsk, 32), memcpy(F.h0.xpk, F.h.xpk, 32);
    net_prio_key_fingerprint(pin, pk);
    for (int i = 0; i < N; i++) {
        gdn_wire_round_start rs;
        memset(&rs, 0, sizeof rs);
        rs.round = 3, rs.client_index = (uint64_t)i, rs.aggregation = GDN_WIRE_AGG_PRIO3;
        rs.prio.bound = 1;
        memcpy(rs.prio.helper_key, pk, 32);
        for (int c = 0; c < DIM; c++)
            local[c] = (float)(0.05 * (c - 3) * (i + 1));
        if (net_prio_owner_report(&F.report[i], &rs, pin, local, global, DIM, 1))
            return -1;
        F.in[i].client_index = (uint64_t)i;
        F.in[i].report = F.report[i].data;
        F.in[i].len = F.report[i].len;
    }
    if (gdn_fl_pine_new(&F.v, DIM, 1.0))
        return -1;
    memset(F.key, 9, sizeof F.key);
    if (net_prio_leader_job(F.v, &F.job, F.state, F.sent, &F.count, F.in, N, F.key, 3) ||
        net_prio_helper_verify(&F.h, &reply, &F.e, &F.ne, &rej, 3, F.job.data, F.job.len))
        return -1;
    gdn_buf_free(&reply);
    F.ready = 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gdn_buf reply = {0}, flags = {0}, buf = {0};
    net_prio_entry *e = NULL;
    size_t n = 0, rej = 0, ok = 0;
    uint8_t *agg;

    if (!F.ready && setup())
        abort();
    if (size < 1)
        return 0;
    F.h0.last_round = 0; /* each input is a fresh round for it */
    switch (data[0] % 5) {
    case 0: /* an arbitrary job, dimension at most 64 */
        if (gdn_buf_append(&buf, data + 1, size - 1))
            break;
        if (buf.len >= 8)
            gdn_store_le64(buf.data, 1 + gdn_load_le64(buf.data) % 64);
        if (net_prio_helper_verify(&F.h0, &reply, &e, &n, &rej, 3, buf.data, buf.len) == 0 &&
            rej > n)
            __builtin_trap();
        break;
    case 1: /* the valid job with a byte changed */
        if (size < 4 || gdn_buf_append(&buf, F.job.data, F.job.len))
            break;
        buf.data[((size_t)data[1] << 8 | data[2]) * 97 % buf.len] ^= (uint8_t)(data[3] | 1);
        net_prio_helper_verify(&F.h0, &reply, &e, &n, &rej, 3, buf.data, buf.len);
        break;
    case 2: /* verdicts */
        agg = calloc(1, gdn_fl_pine_size(F.v, GDN_FL_PINE_AGGREGATE));
        if (agg && net_prio_leader_verdicts(F.v, agg, &flags, &ok, F.in, N, F.sent, F.state,
                                            F.count, data + 1, size - 1, 3) == 0 &&
            ok > F.count)
            __builtin_trap();
        free(agg);
        break;
    case 3: /* accepted-report flags */
        if (gdn_buf_append(&flags, data + 1, size - 1))
            break;
        net_prio_helper_aggregate(&F.h, &reply, &ok, F.e, F.ne, &flags);
        break;
    case 4: { /* a report: the right size is mostly a valid report with bytes changed */
        net_prio_input one = {0, NULL, 0, 0};
        gdn_buf st = {0};
        uint8_t sent1 = 0;
        size_t cnt = 0;
        if (gdn_buf_append(&buf, F.report[0].data, F.report[0].len))
            break;
        if (size - 1 >= F.report[0].len)
            memcpy(buf.data, data + 1, F.report[0].len);
        else
            for (size_t i = 1; i < size; i++)
                buf.data[(i * 131 + data[i]) % buf.len] ^= data[i];
        one.report = buf.data, one.len = size % 7 == 0 ? size - 1 : buf.len;
        if (one.len > buf.len)
            one.len = buf.len;
        if (net_prio_leader_job(F.v, &reply, &st, &sent1, &cnt, &one, 1, F.key, 3) == 0 &&
            cnt > 1)
            __builtin_trap();
        gdn_buf_free(&st);
        break;
    }
    default:
        break;
    }
    net_prio_entries_free(e, n);
    gdn_buf_free(&reply), gdn_buf_free(&flags), gdn_buf_free(&buf);
    gdn_error_clear();
    return 0;
}
