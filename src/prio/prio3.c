/* Prio3 (draft-irtf-cfrg-vdaf-20 §7): sharding, verification, aggregation
 * and unsharding over the generic FLP, with XofTurboShake128. */
#include <stdlib.h>
#include <string.h>

#include "guardian/prio.h"
#include "prio/prio_internal.h"

#define SEED GDN_PRIO3_SEED_BYTES
#define VDAF_VERSION 18 /* §1: document version in the domain separation tag */

/* §7.2 usages of the XOF. */
enum {
    USAGE_MEAS_SHARE = 1, USAGE_PROOF_SHARE = 2, USAGE_JOINT_RANDOMNESS = 3,
    USAGE_PROVE_RANDOMNESS = 4, USAGE_QUERY_RANDOMNESS = 5,
    USAGE_JOINT_RAND_SEED = 6, USAGE_JOINT_RAND_PART = 7
};

struct gdn_prio3 {
    uint32_t id;      /* algorithm identifier (§10) */
    unsigned shares, proofs;
    prio_circuit c;
};

/* ---- Sizes ---------------------------------------------------------------- */

static size_t fsz(const gdn_prio3 *v) { return v->c.F->encoded_size; }
static int has_jr(const gdn_prio3 *v) { return v->c.joint_rand_len > 0; }

size_t gdn_prio3_rand_size(const gdn_prio3 *v)
{
    return (has_jr(v) ? 2 : 1) * v->shares * SEED;
}
size_t gdn_prio3_public_share_size(const gdn_prio3 *v)
{
    return has_jr(v) ? v->shares * SEED : 0;
}
size_t gdn_prio3_input_share_size(const gdn_prio3 *v, unsigned agg_id)
{
    size_t blind = has_jr(v) ? SEED : 0;
    if (agg_id > 0)
        return SEED + blind;
    return (v->c.meas_len + v->c.proof_len * v->proofs) * fsz(v) + blind;
}
size_t gdn_prio3_verifier_share_size(const gdn_prio3 *v)
{
    return v->c.verifier_len * v->proofs * fsz(v) + (has_jr(v) ? SEED : 0);
}
size_t gdn_prio3_verifier_message_size(const gdn_prio3 *v) { return has_jr(v) ? SEED : 0; }
size_t gdn_prio3_out_share_size(const gdn_prio3 *v) { return v->c.output_len * fsz(v); }
size_t gdn_prio3_output_len(const gdn_prio3 *v) { return v->c.output_len; }
size_t gdn_prio3_measurement_len(const gdn_prio3 *v)
{
    return (v->c.kind == PRIO_CIRCUIT_SUMVEC || v->c.kind == PRIO_CIRCUIT_MULTIHOT)
               ? v->c.length : 1;
}

/* ---- Instances ------------------------------------------------------------ */

int gdn_prio3_new(gdn_prio3 **out, const gdn_prio3_params *pp)
{
    gdn_prio3 *v;
    const prio_field *F = prio_field128();
    prio_circuit_kind kind;
    uint32_t id;
    unsigned proofs = 1;
    *out = NULL;
    if (!pp || pp->num_shares < 2 || pp->num_shares > 255)
        return gdn_error(GDN_EINVAL, "prio3: num_shares must be in [2, 255]");
    switch (pp->kind) {
    case GDN_PRIO3_COUNT: kind = PRIO_CIRCUIT_COUNT, id = 1, F = prio_field64(); break;
    case GDN_PRIO3_SUM: kind = PRIO_CIRCUIT_SUM, id = 2, F = prio_field64(); break;
    case GDN_PRIO3_SUMVEC: kind = PRIO_CIRCUIT_SUMVEC, id = 3; break;
    case GDN_PRIO3_HISTOGRAM: kind = PRIO_CIRCUIT_HISTOGRAM, id = 4; break;
    case GDN_PRIO3_MULTIHOT_COUNTVEC: kind = PRIO_CIRCUIT_MULTIHOT, id = 5; break;
    case GDN_PRIO3_SUMVEC_MULTIPROOF:
        kind = PRIO_CIRCUIT_SUMVEC, id = 0xFFFFFFFF, proofs = pp->num_proofs;
        if (pp->field == GDN_PRIO_FIELD64)
            F = prio_field64();
        else if (pp->field != GDN_PRIO_FIELD128)
            return gdn_error(GDN_EINVAL, "prio3: field must be 64 or 128");
        if (proofs < 1 || proofs > 255)
            return gdn_error(GDN_EINVAL, "prio3: num_proofs must be in [1, 255]");
        break;
    case GDN_PRIO3_HIGHER_DEGREE:
        kind = PRIO_CIRCUIT_HIGHER_DEGREE, id = 0xFFFFFFFF, F = prio_field64();
        break;
    default:
        return gdn_error(GDN_EINVAL, "prio3: unknown kind %d", (int)pp->kind);
    }
    v = calloc(1, sizeof *v);
    if (!v)
        return GDN_ENOMEM;
    int rc = prio_circuit_init(&v->c, kind, F, pp->length, pp->max, pp->chunk_length);
    if (rc) {
        free(v);
        return rc;
    }
    v->id = id;
    v->shares = pp->num_shares;
    v->proofs = proofs;
    *out = v;
    return 0;
}

void gdn_prio3_free(gdn_prio3 *v) { free(v); }

/* ---- XOF helpers (§7.2.1) ------------------------------------------------- */

static void dst_prefix(const gdn_prio3 *v, uint8_t d[8], uint16_t usage)
{
    d[0] = VDAF_VERSION;
    d[1] = 0; /* algorithm class: VDAF */
    d[2] = (uint8_t)(v->id >> 24), d[3] = (uint8_t)(v->id >> 16);
    d[4] = (uint8_t)(v->id >> 8), d[5] = (uint8_t)v->id;
    d[6] = (uint8_t)(usage >> 8), d[7] = (uint8_t)usage;
}

typedef struct piece {
    const uint8_t *p;
    size_t n;
} piece;

static int xof_start(const gdn_prio3 *v, prio_xof *x, const uint8_t *seed, uint16_t usage,
                     const uint8_t *ctx, size_t ctx_len, const piece *binder, size_t nb)
{
    uint8_t d[8];
    dst_prefix(v, d, usage);
    int rc = prio_xof_init(x, PRIO_XOF_TURBOSHAKE128, seed, SEED, d, 8, ctx, ctx_len);
    for (size_t i = 0; !rc && i < nb; i++)
        prio_xof_binder(x, binder[i].p, binder[i].n);
    return rc;
}

static int expand(const gdn_prio3 *v, prio_fe *out, size_t n, const uint8_t *seed,
                  uint16_t usage, const uint8_t *ctx, size_t ctx_len, const piece *binder,
                  size_t nb)
{
    prio_xof x;
    int rc = xof_start(v, &x, seed, usage, ctx, ctx_len, binder, nb);
    if (!rc)
        rc = prio_xof_next_vec(&x, v->c.F, out, n);
    prio_xof_free(&x);
    return rc;
}

static int derive_seed(const gdn_prio3 *v, uint8_t out[SEED], const uint8_t *seed,
                       uint16_t usage, const uint8_t *ctx, size_t ctx_len,
                       const piece *binder, size_t nb)
{
    prio_xof x;
    int rc = xof_start(v, &x, seed, usage, ctx, ctx_len, binder, nb);
    if (!rc)
        rc = prio_xof_next(&x, out, SEED);
    prio_xof_free(&x);
    return rc;
}

static int helper_meas_share(const gdn_prio3 *v, prio_fe *out, const uint8_t *ctx,
                             size_t ctx_len, unsigned agg_id, const uint8_t *seed)
{
    uint8_t b = (uint8_t)agg_id;
    piece pc[1] = {{&b, 1}};
    return expand(v, out, v->c.meas_len, seed, USAGE_MEAS_SHARE, ctx, ctx_len, pc, 1);
}

static int helper_proofs_share(const gdn_prio3 *v, prio_fe *out, const uint8_t *ctx,
                               size_t ctx_len, unsigned agg_id, const uint8_t *seed)
{
    uint8_t b[2] = {(uint8_t)v->proofs, (uint8_t)agg_id};
    piece pc[1] = {{b, 2}};
    return expand(v, out, v->c.proof_len * v->proofs, seed, USAGE_PROOF_SHARE, ctx,
                  ctx_len, pc, 1);
}

static int joint_rand_part(const gdn_prio3 *v, uint8_t out[SEED], const uint8_t *ctx,
                           size_t ctx_len, unsigned agg_id, const uint8_t *blind,
                           const prio_fe *meas_share, const uint8_t *nonce)
{
    size_t n = v->c.meas_len * fsz(v);
    uint8_t *enc = malloc(n ? n : 1), b = (uint8_t)agg_id;
    if (!enc)
        return GDN_ENOMEM;
    prio_vec_encode(v->c.F, enc, meas_share, v->c.meas_len);
    piece pc[3] = {{&b, 1}, {nonce, GDN_PRIO3_NONCE_BYTES}, {enc, n}};
    int rc = derive_seed(v, out, blind, USAGE_JOINT_RAND_PART, ctx, ctx_len, pc, 3);
    prio_wipe(enc, n);
    free(enc);
    return rc;
}

static int joint_rand_seed(const gdn_prio3 *v, uint8_t out[SEED], const uint8_t *ctx,
                           size_t ctx_len, const uint8_t *parts)
{
    static const uint8_t zeros[SEED] = {0};
    piece pc[1] = {{parts, (size_t)v->shares * SEED}};
    return derive_seed(v, out, zeros, USAGE_JOINT_RAND_SEED, ctx, ctx_len, pc, 1);
}

static int joint_rands(const gdn_prio3 *v, prio_fe *out, const uint8_t *ctx,
                       size_t ctx_len, const uint8_t *seed)
{
    uint8_t b = (uint8_t)v->proofs;
    piece pc[1] = {{&b, 1}};
    return expand(v, out, v->c.joint_rand_len * v->proofs, seed, USAGE_JOINT_RANDOMNESS,
                  ctx, ctx_len, pc, 1);
}

static int check_ctx(size_t ctx_len)
{
    if (ctx_len > GDN_PRIO3_MAX_CTX_BYTES)
        return gdn_error(GDN_EINVAL, "prio3: context of %zu bytes (max %d)", ctx_len,
                         GDN_PRIO3_MAX_CTX_BYTES);
    return 0;
}

/* ---- Sharding (§7.2.1) ---------------------------------------------------- */

int gdn_prio3_shard_with_rand(const gdn_prio3 *v, gdn_buf *public_share,
                              gdn_buf *input_shares, const uint8_t *ctx, size_t ctx_len,
                              const uint64_t *meas, size_t meas_len,
                              const uint8_t nonce[GDN_PRIO3_NONCE_BYTES],
                              const uint8_t *rand, size_t rand_len)
{
    const prio_circuit *c = &v->c;
    const prio_field *F = c->F;
    size_t S = v->shares, ml = c->meas_len, pl = c->proof_len * v->proofs;
    int jr = has_jr(v), rc = check_ctx(ctx_len);
    if (rc)
        return rc;
    if (rand_len != gdn_prio3_rand_size(v))
        return gdn_error(GDN_EINVAL, "prio3: %zu random bytes, expected %zu", rand_len,
                         gdn_prio3_rand_size(v));
    prio_fe *m = calloc(ml, sizeof *m), *lm = calloc(ml, sizeof *lm);
    prio_fe *tmp = calloc(ml > pl ? ml : pl, sizeof *tmp);
    prio_fe *proofs = calloc(pl, sizeof *proofs);
    prio_fe *prove_rand = calloc(c->prove_rand_len * v->proofs, sizeof *prove_rand);
    prio_fe *jrand = calloc(c->joint_rand_len * v->proofs + 1, sizeof *jrand);
    uint8_t *parts = calloc(S, SEED), *enc = NULL;
    rc = GDN_ENOMEM;
    if (!m || !lm || !tmp || !proofs || !prove_rand || !jrand || !parts)
        goto done;
    rc = prio_circuit_encode(c, m, meas, meas_len);
    if (rc)
        goto done;
    /* Coins: per helper its share seed (and blind), then leader blind, prove seed. */
    size_t step = jr ? 2 * SEED : SEED;
    const uint8_t *leader_blind = rand + (S - 1) * step;
    const uint8_t *prove_seed = jr ? leader_blind + SEED : leader_blind;
    memcpy(lm, m, ml * sizeof *lm);
    for (size_t j = 1; j < S; j++) {
        const uint8_t *share_seed = rand + (j - 1) * step;
        rc = helper_meas_share(v, tmp, ctx, ctx_len, (unsigned)j, share_seed);
        if (rc)
            goto done;
        for (size_t i = 0; i < ml; i++)
            lm[i] = prio_fe_sub(F, lm[i], tmp[i]);
        if (jr && (rc = joint_rand_part(v, parts + j * SEED, ctx, ctx_len, (unsigned)j,
                                        share_seed + SEED, tmp, nonce)))
            goto done;
    }
    if (jr) {
        uint8_t seed[SEED];
        if ((rc = joint_rand_part(v, parts, ctx, ctx_len, 0, leader_blind, lm, nonce)) ||
            (rc = joint_rand_seed(v, seed, ctx, ctx_len, parts)) ||
            (rc = joint_rands(v, jrand, ctx, ctx_len, seed)))
            goto done;
    }
    {
        uint8_t b = (uint8_t)v->proofs;
        piece pc[1] = {{&b, 1}};
        rc = expand(v, prove_rand, c->prove_rand_len * v->proofs, prove_seed,
                    USAGE_PROVE_RANDOMNESS, ctx, ctx_len, pc, 1);
        if (rc)
            goto done;
    }
    for (size_t k = 0; k < v->proofs; k++) {
        rc = prio_flp_prove(c, proofs + k * c->proof_len, m, prove_rand + k * c->prove_rand_len,
                            jrand + k * c->joint_rand_len);
        if (rc)
            goto done;
    }
    for (size_t j = 1; j < S; j++) {
        rc = helper_proofs_share(v, tmp, ctx, ctx_len, (unsigned)j, rand + (j - 1) * step);
        if (rc)
            goto done;
        for (size_t i = 0; i < pl; i++)
            proofs[i] = prio_fe_sub(F, proofs[i], tmp[i]);
    }
    /* Encodings (§7.2.6): leader meas || proofs || blind; helper seed || blind. */
    size_t lead = gdn_prio3_input_share_size(v, 0);
    enc = malloc(lead);
    if (!enc) {
        rc = GDN_ENOMEM;
        goto done;
    }
    prio_vec_encode(F, enc, lm, ml);
    prio_vec_encode(F, enc + ml * fsz(v), proofs, pl);
    if (jr)
        memcpy(enc + (ml + pl) * fsz(v), leader_blind, SEED);
    if ((rc = gdn_buf_append(&input_shares[0], enc, lead)))
        goto done;
    for (size_t j = 1; j < S; j++)
        if ((rc = gdn_buf_append(&input_shares[j], rand + (j - 1) * step, step)))
            goto done;
    if (jr)
        rc = gdn_buf_append(public_share, parts, S * SEED);
done:
    if (enc)
        prio_wipe(enc, gdn_prio3_input_share_size(v, 0));
    if (m)
        prio_wipe(m, ml * sizeof *m);
    if (lm)
        prio_wipe(lm, ml * sizeof *lm);
    free(enc);
    free(m);
    free(lm);
    free(tmp);
    free(proofs);
    free(prove_rand);
    free(jrand);
    free(parts);
    return rc;
}

int gdn_prio3_shard(const gdn_prio3 *v, gdn_buf *public_share, gdn_buf *input_shares,
                    const uint8_t *ctx, size_t ctx_len, const uint64_t *meas,
                    size_t meas_len, const uint8_t nonce[GDN_PRIO3_NONCE_BYTES],
                    gdn_rng *rng)
{
    size_t n = gdn_prio3_rand_size(v);
    uint8_t *rand = malloc(n);
    if (!rand)
        return GDN_ENOMEM;
    gdn_rng_bytes(rng, rand, n);
    int rc = gdn_prio3_shard_with_rand(v, public_share, input_shares, ctx, ctx_len, meas,
                                       meas_len, nonce, rand, n);
    prio_wipe(rand, n);
    free(rand);
    return rc;
}

/* ---- Verification (§7.2.2) ------------------------------------------------ */

int gdn_prio3_verify_init(const gdn_prio3 *v, gdn_buf *state, gdn_buf *verifier_share,
                          const uint8_t verify_key[GDN_PRIO3_VERIFY_KEY_BYTES],
                          const uint8_t *ctx, size_t ctx_len, unsigned agg_id,
                          const uint8_t nonce[GDN_PRIO3_NONCE_BYTES],
                          const uint8_t *public_share, size_t public_share_len,
                          const uint8_t *input_share, size_t input_share_len)
{
    const prio_circuit *c = &v->c;
    const prio_field *F = c->F;
    size_t ml = c->meas_len, pl = c->proof_len * v->proofs, vl = c->verifier_len * v->proofs;
    int jr = has_jr(v), rc = check_ctx(ctx_len);
    if (rc)
        return rc;
    if (agg_id >= v->shares)
        return gdn_error(GDN_EINVAL, "prio3: aggregator %u of %u", agg_id, v->shares);
    if (input_share_len != gdn_prio3_input_share_size(v, agg_id))
        return gdn_error(GDN_EFORMAT, "prio3: input share of %zu bytes, expected %zu",
                         input_share_len, gdn_prio3_input_share_size(v, agg_id));
    if (public_share_len != gdn_prio3_public_share_size(v))
        return gdn_error(GDN_EFORMAT, "prio3: public share of %zu bytes, expected %zu",
                         public_share_len, gdn_prio3_public_share_size(v));
    prio_fe *meas = calloc(ml, sizeof *meas), *proofs = calloc(pl, sizeof *proofs);
    prio_fe *out = calloc(c->output_len, sizeof *out), *verif = calloc(vl, sizeof *verif);
    prio_fe *qrand = calloc(c->query_rand_len * v->proofs, sizeof *qrand);
    prio_fe *jrand = calloc(c->joint_rand_len * v->proofs + 1, sizeof *jrand);
    uint8_t *parts = NULL, *enc = NULL, part[SEED], corrected[SEED];
    const uint8_t *blind = NULL;
    rc = GDN_ENOMEM;
    if (!meas || !proofs || !out || !verif || !qrand || !jrand)
        goto done;
    if (agg_id == 0) {
        if ((rc = prio_vec_decode(F, meas, input_share, ml)) ||
            (rc = prio_vec_decode(F, proofs, input_share + ml * fsz(v), pl))) {
            rc = gdn_error(GDN_EFORMAT, "prio3: field element out of range in input share");
            goto done;
        }
        blind = input_share + (ml + pl) * fsz(v);
    } else {
        if ((rc = helper_meas_share(v, meas, ctx, ctx_len, agg_id, input_share)) ||
            (rc = helper_proofs_share(v, proofs, ctx, ctx_len, agg_id, input_share)))
            goto done;
        blind = input_share + SEED;
    }
    prio_circuit_truncate(c, out, meas);
    if (jr) {
        parts = malloc((size_t)v->shares * SEED);
        if (!parts) {
            rc = GDN_ENOMEM;
            goto done;
        }
        memcpy(parts, public_share, (size_t)v->shares * SEED);
        if ((rc = joint_rand_part(v, part, ctx, ctx_len, agg_id, blind, meas, nonce)))
            goto done;
        memcpy(parts + agg_id * SEED, part, SEED);
        if ((rc = joint_rand_seed(v, corrected, ctx, ctx_len, parts)) ||
            (rc = joint_rands(v, jrand, ctx, ctx_len, corrected)))
            goto done;
    }
    {
        uint8_t b = (uint8_t)v->proofs;
        piece pc[2] = {{&b, 1}, {nonce, GDN_PRIO3_NONCE_BYTES}};
        prio_xof x;
        rc = xof_start(v, &x, verify_key, USAGE_QUERY_RANDOMNESS, ctx, ctx_len, pc, 2);
        if (!rc)
            rc = prio_xof_next_vec(&x, F, qrand, c->query_rand_len * v->proofs);
        prio_xof_free(&x);
        if (rc)
            goto done;
    }
    for (size_t k = 0; k < v->proofs; k++) {
        rc = prio_flp_query(c, verif + k * c->verifier_len, meas, proofs + k * c->proof_len,
                            qrand + k * c->query_rand_len, jrand + k * c->joint_rand_len,
                            v->shares);
        if (rc)
            goto done;
    }
    /* Verifier share: verifiers || joint rand part. State: out share || seed. */
    size_t vs = gdn_prio3_verifier_share_size(v), os = gdn_prio3_out_share_size(v);
    size_t big = vs > os + SEED ? vs : os + SEED;
    enc = malloc(big);
    if (!enc) {
        rc = GDN_ENOMEM;
        goto done;
    }
    prio_vec_encode(F, enc, verif, vl);
    if (jr)
        memcpy(enc + vl * fsz(v), part, SEED);
    if ((rc = gdn_buf_append(verifier_share, enc, vs)))
        goto done;
    prio_vec_encode(F, enc, out, c->output_len);
    if (jr)
        memcpy(enc + os, corrected, SEED);
    rc = gdn_buf_append(state, enc, os + (jr ? SEED : 0));
done:
    if (enc)
        prio_wipe(enc, vs > os + SEED ? vs : os + SEED);
    if (meas)
        prio_wipe(meas, ml * sizeof *meas);
    if (proofs)
        prio_wipe(proofs, pl * sizeof *proofs);
    if (out)
        prio_wipe(out, c->output_len * sizeof *out);
    free(enc);
    free(meas);
    free(proofs);
    free(out);
    free(verif);
    free(qrand);
    free(jrand);
    free(parts);
    return rc;
}

int gdn_prio3_verifier_shares_to_message(const gdn_prio3 *v, gdn_buf *message,
                                         const uint8_t *ctx, size_t ctx_len,
                                         const uint8_t *const *shares,
                                         const size_t *share_lens, size_t num)
{
    const prio_circuit *c = &v->c;
    const prio_field *F = c->F;
    size_t vl = c->verifier_len * v->proofs, vs = gdn_prio3_verifier_share_size(v);
    int jr = has_jr(v), rc = check_ctx(ctx_len);
    if (rc)
        return rc;
    if (num != v->shares)
        return gdn_error(GDN_EINVAL, "prio3: %zu verifier shares, expected %u", num, v->shares);
    for (size_t j = 0; j < num; j++)
        if (share_lens[j] != vs)
            return gdn_error(GDN_EFORMAT, "prio3: verifier share %zu of %zu bytes, expected %zu",
                             j, share_lens[j], vs);
    prio_fe *sum = calloc(vl, sizeof *sum), *tmp = calloc(vl, sizeof *tmp);
    uint8_t *parts = calloc(num, SEED);
    rc = GDN_ENOMEM;
    if (!sum || !tmp || !parts)
        goto done;
    for (size_t j = 0; j < num; j++) {
        if (prio_vec_decode(F, tmp, shares[j], vl)) {
            rc = gdn_error(GDN_EFORMAT, "prio3: field element out of range in verifier share");
            goto done;
        }
        for (size_t i = 0; i < vl; i++)
            sum[i] = prio_fe_add(F, sum[i], tmp[i]);
        if (jr)
            memcpy(parts + j * SEED, shares[j] + vl * fsz(v), SEED);
    }
    for (size_t k = 0; k < v->proofs; k++)
        if (!prio_flp_decide(c, sum + k * c->verifier_len)) {
            rc = gdn_error(GDN_ECRYPTO, "prio3: proof %zu rejected", k);
            goto done;
        }
    rc = 0;
    if (jr) {
        uint8_t seed[SEED];
        rc = joint_rand_seed(v, seed, ctx, ctx_len, parts);
        if (!rc)
            rc = gdn_buf_append(message, seed, SEED);
    }
done:
    free(sum);
    free(tmp);
    free(parts);
    return rc;
}

int gdn_prio3_verify_next(const gdn_prio3 *v, gdn_buf *out_share, const uint8_t *state,
                          size_t state_len, const uint8_t *message, size_t message_len)
{
    size_t os = gdn_prio3_out_share_size(v);
    int jr = has_jr(v);
    if (state_len != os + (jr ? SEED : 0))
        return gdn_error(GDN_EFORMAT, "prio3: verify state of %zu bytes", state_len);
    if (message_len != gdn_prio3_verifier_message_size(v))
        return gdn_error(GDN_ECRYPTO, "prio3: verifier message of %zu bytes, expected %zu",
                         message_len, gdn_prio3_verifier_message_size(v));
    if (jr) { /* §7.2.2: the joint randomness the client used must match */
        uint8_t d = 0;
        for (size_t i = 0; i < SEED; i++)
            d |= (uint8_t)(message[i] ^ state[os + i]);
        if (d)
            return gdn_error(GDN_ECRYPTO, "prio3: joint randomness check failed");
    }
    return gdn_buf_append(out_share, state, os);
}

/* ---- Aggregation (§7.2.3, §7.2.4) ----------------------------------------- */

int gdn_prio3_aggregate(const gdn_prio3 *v, uint8_t *agg_share, const uint8_t *out_share,
                        size_t len)
{
    const prio_field *F = v->c.F;
    if (len != gdn_prio3_out_share_size(v))
        return gdn_error(GDN_EFORMAT, "prio3: output share of %zu bytes, expected %zu", len,
                         gdn_prio3_out_share_size(v));
    return prio_vec_add_encoded(F, agg_share, out_share, v->c.output_len, "prio3");
}

int gdn_prio3_unshard(const gdn_prio3 *v, uint64_t *result, size_t result_len,
                      const uint8_t *const *agg_shares, const size_t *lens, size_t num,
                      uint64_t num_measurements)
{
    const prio_field *F = v->c.F;
    size_t os = gdn_prio3_out_share_size(v);
    if (result_len != v->c.output_len || num != v->shares || num_measurements == 0)
        return gdn_error(GDN_EINVAL, "prio3: unshard arguments do not match the instance");
    for (size_t i = 0; i < v->c.output_len; i++) {
        prio_fe s = prio_fe_zero(), x;
        for (size_t j = 0; j < num; j++) {
            if (lens[j] != os || prio_fe_decode(F, &x, agg_shares[j] + i * fsz(v)))
                return gdn_error(GDN_EFORMAT, "prio3: aggregate share %zu malformed", j);
            s = prio_fe_add(F, s, x);
        }
        uint64_t val[2];
        prio_fe_value(F, val, s);
        if (val[1])
            return gdn_error(GDN_ERANGE, "prio3: aggregate entry %zu exceeds 64 bits", i);
        result[i] = val[0];
    }
    return 0;
}
