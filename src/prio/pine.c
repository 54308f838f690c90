/* PINE (draft-chen-cfrg-vdaf-pine-01, whose algorithms are specified by its
 * reference code poc/vdaf_pine.py and poc/flp_pine.py, on VDAF draft 11):
 * L2-norm-bounded vector sums. The measurement encoding and wraparound
 * checks are here; the two validity circuits are in flp.c, the fields and
 * XOFs shared with Prio3. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "guardian/prio.h"
#include "prio/prio_internal.h"

#define PINE_VERSION 1 /* poc/VERSION: first byte of every dst */
#define MAX_SEED 32

/* Draft 11's Prio3 usages (§7.2), then PINE's own (poc/vdaf_pine.py). */
enum {
    USAGE_MEAS_SHARE = 1, USAGE_PROOF_SHARE = 2, USAGE_JOINT_RANDOMNESS = 3,
    USAGE_PROVE_RANDOMNESS = 4, USAGE_QUERY_RANDOMNESS = 5,
    USAGE_JOINT_RAND_SEED = 6, USAGE_JOINT_RAND_PART = 7,
    USAGE_WR_JOINT_RANDOMNESS = 8, USAGE_WR_JOINT_RAND_SEED = 9,
    USAGE_WR_JOINT_RAND_PART = 10
};

struct gdn_pine {
    uint32_t id;
    prio_xof_id xof;
    size_t seed;                  /* the XOF's seed size */
    unsigned shares, proofs, proofs_ne, frac_bits;
    prio_circuit ne, main;        /* norm equality, everything else */
    size_t enc_len;               /* gradient || squared-norm bits */
    size_t meas_len;              /* ... || wraparound bits (what is shared) */
};

typedef struct piece {
    const uint8_t *p;
    size_t n;
} piece;

/* ---- Sizes ------------------------------------------------------------------ */

static size_t fsz(const gdn_pine *v) { return v->main.F->encoded_size; }
static size_t proofs_len(const gdn_pine *v)
{
    return v->ne.proof_len * v->proofs_ne + v->main.proof_len * v->proofs;
}
static size_t verifiers_len(const gdn_pine *v)
{
    return v->ne.verifier_len * v->proofs_ne + v->main.verifier_len * v->proofs;
}

size_t gdn_pine_verify_key_size(const gdn_pine *v) { return v->seed; }
size_t gdn_pine_rand_size(const gdn_pine *v)
{
    return (1 + 2 * ((size_t)v->shares - 1) + 2 * (size_t)v->shares) * v->seed;
}
size_t gdn_pine_public_share_size(const gdn_pine *v) { return 2 * (size_t)v->shares * v->seed; }
size_t gdn_pine_input_share_size(const gdn_pine *v, unsigned agg_id)
{
    if (agg_id > 0)
        return 4 * v->seed;
    return (v->meas_len + proofs_len(v)) * fsz(v) + 2 * v->seed;
}
size_t gdn_pine_verifier_share_size(const gdn_pine *v)
{
    return verifiers_len(v) * fsz(v) + 2 * v->seed;
}
size_t gdn_pine_verifier_message_size(const gdn_pine *v) { return 2 * v->seed; }
size_t gdn_pine_out_share_size(const gdn_pine *v) { return v->main.dimension * fsz(v); }
size_t gdn_pine_dimension(const gdn_pine *v) { return v->main.dimension; }

/* ---- Instances ---------------------------------------------------------------- */

int gdn_pine_new(gdn_pine **out, const gdn_pine_params *pp)
{
    const prio_field *F;
    prio_xof_id xof = PRIO_XOF_HMAC_SHA256_AES128;
    uint32_t id;
    unsigned proofs, proofs_ne = 1;
    int rc;
    *out = NULL;
    if (!pp || pp->num_shares < 2 || pp->num_shares > 255)
        return gdn_error(GDN_EINVAL, "pine: num_shares must be in [2, 255]");
    switch (pp->variant) { /* poc/vdaf_pine.py: Pine64, Pine128, Pine*HmacSha256Aes128 */
    case GDN_PINE64:
        F = prio_field64(), xof = PRIO_XOF_TURBOSHAKE128_V11, id = 0xFFFFFFFF, proofs = 2;
        break;
    case GDN_PINE128:
        F = prio_field128(), xof = PRIO_XOF_TURBOSHAKE128_V11, id = 0xFFFFFFFF, proofs = 1;
        break;
    case GDN_PINE64_HMAC_SHA256_AES128: F = prio_field64(), id = 0xFFFF1004, proofs = 2; break;
    case GDN_PINE32_HMAC_SHA256_AES128: F = prio_field32(), id = 0xFFFF1005, proofs = 5; break;
    case GDN_PINE40_HMAC_SHA256_AES128: F = prio_field40(), id = 0xFFFF1006, proofs = 4; break;
    default:
        return gdn_error(GDN_EINVAL, "pine: unknown variant %d", (int)pp->variant);
    }
    if (pp->num_proofs)
        proofs = pp->num_proofs;
    if (pp->num_proofs_norm_equality)
        proofs_ne = pp->num_proofs_norm_equality;
    if (proofs > 255 || proofs_ne > 255)
        return gdn_error(GDN_EINVAL, "pine: at most 255 proofs of each kind");
    if (pp->num_frac_bits >= 63)
        return gdn_error(GDN_EINVAL, "pine: num_frac_bits %u (max 62)", pp->num_frac_bits);
    gdn_pine *v = calloc(1, sizeof *v);
    if (!v)
        return GDN_ENOMEM;
    double alpha = pp->alpha > 0 ? pp->alpha : 8.7;
    size_t checks = pp->num_wr_checks ? pp->num_wr_checks : 100;
    size_t succ = pp->num_wr_successes ? pp->num_wr_successes : checks;
    if ((rc = prio_circuit_init_pine(&v->ne, PRIO_CIRCUIT_PINE_NORM, F, pp->dimension,
                                     pp->l2_norm_bound, pp->chunk_length_norm_equality,
                                     alpha, checks, succ)) ||
        (rc = prio_circuit_init_pine(&v->main, PRIO_CIRCUIT_PINE, F, pp->dimension,
                                     pp->l2_norm_bound, pp->chunk_length, alpha, checks,
                                     succ))) {
        free(v);
        return rc;
    }
    v->id = id, v->xof = xof, v->seed = prio_xof_seed_size(xof);
    v->shares = pp->num_shares, v->proofs = proofs, v->proofs_ne = proofs_ne;
    v->frac_bits = pp->num_frac_bits;
    v->enc_len = v->main.dimension + 2 * v->main.sq_bits;
    v->meas_len = v->main.dimension + v->main.bit_checked_len;
    *out = v;
    return 0;
}

void gdn_pine_free(gdn_pine *v) { free(v); }

/* ---- XOF helpers (poc/vdaf_pine.py) ------------------------------------------ */

static int xof_start(const gdn_pine *v, prio_xof *x, const uint8_t *seed, uint16_t usage,
                     const piece *binder, size_t nb)
{
    /* domain_separation_tag: VERSION || ID (4 bytes) || usage (2 bytes). */
    uint8_t d[7] = {PINE_VERSION, (uint8_t)(v->id >> 24), (uint8_t)(v->id >> 16),
                    (uint8_t)(v->id >> 8), (uint8_t)v->id, (uint8_t)(usage >> 8),
                    (uint8_t)usage};
    int rc = prio_xof_init(x, v->xof, seed, v->seed, d, sizeof d, NULL, 0);
    for (size_t i = 0; !rc && i < nb; i++)
        prio_xof_binder(x, binder[i].p, binder[i].n);
    return rc;
}

/* n field elements from an XOF; with enc, their encodings too. */
static int expand(const gdn_pine *v, prio_fe *out, uint8_t *enc, size_t n, const uint8_t *seed,
                  uint16_t usage, const piece *binder, size_t nb)
{
    prio_xof x;
    int rc = xof_start(v, &x, seed, usage, binder, nb);
    if (!rc)
        rc = prio_xof_next_vec_enc(&x, v->main.F, out, enc, n);
    prio_xof_free(&x);
    return rc;
}

static int derive_seed(const gdn_pine *v, uint8_t *out, const uint8_t *seed, uint16_t usage,
                       const piece *binder, size_t nb)
{
    prio_xof x;
    int rc = xof_start(v, &x, seed, usage, binder, nb);
    if (!rc)
        rc = prio_xof_next(&x, out, v->seed);
    prio_xof_free(&x);
    return rc;
}

/* Helper agg_id's measurement share and its encoding (enc, n elements). */
static int helper_meas_share(const gdn_pine *v, prio_fe *out, uint8_t *enc, size_t n,
                             unsigned agg_id, const uint8_t *seed)
{
    uint8_t b = (uint8_t)agg_id;
    piece pc[1] = {{&b, 1}};
    return expand(v, out, enc, n, seed, USAGE_MEAS_SHARE, pc, 1);
}

static int helper_proofs_share(const gdn_pine *v, prio_fe *out, unsigned agg_id,
                               const uint8_t *seed)
{
    uint8_t b[3] = {(uint8_t)v->proofs_ne, (uint8_t)v->proofs, (uint8_t)agg_id};
    piece pc[1] = {{b, 3}};
    return expand(v, out, NULL, proofs_len(v), seed, USAGE_PROOF_SHARE, pc, 1);
}

/* An aggregator's joint randomness part over its share, given encoded
 * (n elements). */
static int joint_rand_part(const gdn_pine *v, uint8_t *out, unsigned agg_id,
                           const uint8_t *blind, const uint8_t *enc, size_t n,
                           const uint8_t *nonce, uint16_t usage)
{
    uint8_t b = (uint8_t)agg_id;
    piece pc[3] = {{&b, 1}, {nonce, GDN_PRIO3_NONCE_BYTES}, {enc, n * fsz(v)}};
    return derive_seed(v, out, blind, usage, pc, 3);
}

static int joint_rand_seed(const gdn_pine *v, uint8_t *out, const uint8_t *parts,
                           uint16_t usage)
{
    static const uint8_t zeros[MAX_SEED] = {0};
    piece pc[1] = {{parts, (size_t)v->shares * v->seed}};
    return derive_seed(v, out, zeros, usage, pc, 1);
}

static int vf_joint_rands(const gdn_pine *v, prio_fe *out, const uint8_t *seed)
{
    uint8_t b = (uint8_t)v->proofs;
    piece pc[1] = {{&b, 1}};
    return expand(v, out, NULL, v->main.joint_rand_len * v->proofs, seed,
                  USAGE_JOINT_RANDOMNESS, pc, 1);
}

/* PineValid.run_wr_checks: per check, the dot product of the gradient (or
 * a share of it) with a {-1, 0, 1} vector read two bits at a time from the
 * wraparound XOF (00: -1, 01 and 10: 0, 11: 1); the checks' vectors come
 * one after the other from one stream. The vectors are public to the
 * aggregators, so branching on them leaks nothing about the gradient.
 * The vectors of up to WR_CODES_MAX bytes of checks are squeezed at once
 * and prio_wr_dot (wr.c) serves them all in one pass over the gradient. */
#define WR_CODES_MAX ((size_t)1 << 25)

static int run_wr_checks(const gdn_pine *v, prio_fe *results, const prio_fe *grad,
                         const uint8_t *seed)
{
    const prio_circuit *c = &v->main;
    size_t d = c->dimension, nbytes = (d + 3) / 4;
    size_t group = WR_CODES_MAX / nbytes ? WR_CODES_MAX / nbytes : 1;
    if (group > c->wr_checks)
        group = c->wr_checks;
    uint8_t *buf = malloc(group * nbytes); /* at most max(WR_CODES_MAX, nbytes) */
    prio_xof x;
    int rc;
    if (!buf)
        return GDN_ENOMEM;
    rc = xof_start(v, &x, seed, USAGE_WR_JOINT_RANDOMNESS, NULL, 0);
    for (size_t i = 0; !rc && i < c->wr_checks; i += group) {
        size_t n = c->wr_checks - i < group ? c->wr_checks - i : group;
        if (!(rc = prio_xof_next(&x, buf, n * nbytes)))
            rc = prio_wr_dot(c->F, results + i, n, grad, d, buf);
    }
    prio_xof_free(&x);
    free(buf);
    return rc;
}

/* ---- Measurement encoding (PineValid.encode_gradient_and_norm) --------------- */

/* Little-endian bits of `val` (the low `bits` of it) as field elements. */
static void put_bits(const prio_field *F, prio_fe *out, uint64_t val, size_t bits)
{
    for (size_t l = 0; l < bits; l++)
        out[l] = prio_fe_from_u64(F, (val >> l) & 1);
}

/* round(x 2^f), ties to even (poc's encode_float), as a field element
 * (negative values mod p) without a branch on the value. */
static int encode_float(const gdn_pine *v, prio_fe *out, double x, double scale, size_t i)
{
    const prio_field *F = v->main.F;
    if (!isfinite(x) || (x != 0.0 && fabs(x) < DBL_MIN))
        return gdn_error(GDN_ERANGE, "pine: entry %zu is NaN, infinite or subnormal", i);
    double s = nearbyint(x * scale); /* = ldexp(x, frac_bits): x is normal, scale 2^f */
    if (!(fabs(s) < 0x1p62))
        return gdn_error(GDN_ERANGE, "pine: entry %zu (%g) too large to encode", i, x);
    int64_t iv = (int64_t)s;
    uint64_t u = (uint64_t)iv, neg = u >> 63, mag = (u ^ (0 - neg)) + neg;
    prio_fe a = prio_fe_from_u64(F, mag), b = prio_fe_neg(F, a);
    uint64_t m = 0 - neg;
    out->v[0] = (a.v[0] & ~m) | (b.v[0] & m);
    out->v[1] = (a.v[1] & ~m) | (b.v[1] & m);
    return 0;
}

/* The integer value of a field element known to be below 2^64 (bounds and
 * claimed values); larger ones map to UINT64_MAX. */
static uint64_t small_value(const prio_field *F, prio_fe a)
{
    uint64_t val[2];
    prio_fe_value(F, val, a);
    return val[1] ? UINT64_MAX : val[0];
}

static int encode_gradient_and_norm(const gdn_pine *v, prio_fe *meas, const double *x,
                                    unsigned flags)
{
    const prio_circuit *c = &v->main;
    const prio_field *F = c->F;
    double scale = ldexp(1.0, (int)v->frac_bits);
    int rc;
    for (size_t i = 0; i < c->dimension; i++)
        if ((rc = encode_float(v, &meas[i], x[i], scale, i)))
            return rc;
    prio_fe sq = prio_vec_dot(F, meas, meas, c->dimension);
    /* range_check(sq_norm, 0, sq_norm_bound): v bits of sq, u bits of bound - sq. */
    uint64_t sv = small_value(F, sq);
    if (sv > c->sq_norm_bound) {
        if (!(flags & GDN_PINE_SHARD_FORGE_NORM))
            return gdn_error(GDN_ERANGE, "pine: squared norm %llu (encoded) exceeds the "
                             "bound %llu", (unsigned long long)sv,
                             (unsigned long long)c->sq_norm_bound);
        sv = c->sq_norm_bound; /* the lie the aggregators must catch */
    }
    put_bits(F, meas + c->dimension, sv, c->sq_bits);
    put_bits(F, meas + c->dimension + c->sq_bits, c->sq_norm_bound - sv, c->sq_bits);
    return 0;
}

/* PineValid.encode_wr_checks: per check the bits of result + wr_bound - 1
 * and a success bit, set for the first num_wr_successes in-range results. */
static int encode_wr_checks(const gdn_pine *v, prio_fe *bits, const prio_fe *results,
                            unsigned flags)
{
    const prio_circuit *c = &v->main;
    const prio_field *F = c->F;
    size_t passed = 0;
    prio_fe off = prio_fe_from_u64(F, c->wr_bound - 1);
    for (size_t i = 0; i < c->wr_checks; i++) {
        uint64_t val = small_value(F, prio_fe_add(F, results[i], off));
        /* Without branches on the result: the checks are on the gradient. */
        unsigned in_range = (unsigned)(val <= 2 * c->wr_bound - 1);
        unsigned forge = (unsigned)((flags & GDN_PINE_SHARD_FORGE_NORM) != 0);
        unsigned g = (in_range | forge) & (unsigned)(passed < c->wr_successes);
        passed += (size_t)g;
        put_bits(F, bits + i * (c->wr_bits + 1), val, c->wr_bits);
        bits[i * (c->wr_bits + 1) + c->wr_bits] = prio_fe_from_u64(F, (uint64_t)g);
    }
    if (passed < c->wr_successes)
        return gdn_error(GDN_ESTATE, "pine: %zu of %zu wraparound checks passed, %zu "
                         "needed: shard again with fresh randomness", passed,
                         c->wr_checks, c->wr_successes);
    return 0;
}

/* ---- Sharding (Pine.shard) ----------------------------------------------------- */

/* Leader share of meas[from..n), encoded into lenc, and every aggregator's
 * joint randomness part over its share's first n elements
 * (leader_meas_share_and_joint_rand_parts). Each helper's measurement share
 * (ml elements) and its encoding are in helpers and henc, expanded once: the
 * wraparound parts read a prefix, the verification parts all of it. */
static int share_and_parts(const gdn_pine *v, uint8_t *lenc, uint8_t *parts,
                           const prio_fe *meas, size_t from, size_t n, const prio_fe *helpers,
                           const uint8_t *henc, const uint8_t *rand, size_t blind_index,
                           const uint8_t *leader_blind, const uint8_t *nonce, uint16_t usage)
{
    const prio_field *F = v->main.F;
    size_t S = v->shares, L = v->seed, ml = v->meas_len;
    prio_fe t[256];
    int rc = 0;
    for (size_t i = from; i < n; i += 256) { /* 256 elements at a time, then encoded */
        size_t k = n - i < 256 ? n - i : 256;
        memcpy(t, meas + i, k * sizeof *t);
        for (size_t j = 1; j < S; j++)
            prio_vec_sub(F, t, helpers + (j - 1) * ml + i, k);
        prio_vec_encode(F, lenc + i * fsz(v), t, k);
    }
    prio_wipe(t, sizeof t);
    for (size_t j = 1; j < S && !rc; j++) {
        const uint8_t *blind = rand + (j - 1) * 4 * L + blind_index * L;
        rc = joint_rand_part(v, parts + j * L, (unsigned)j, blind, henc + (j - 1) * ml * fsz(v),
                             n, nonce, usage);
    }
    if (!rc)
        rc = joint_rand_part(v, parts, 0, leader_blind, lenc, n, nonce, usage);
    return rc;
}

int gdn_pine_shard_with_rand(const gdn_pine *v, gdn_buf *public_share, gdn_buf *input_shares,
                             const double *x, size_t x_len,
                             const uint8_t nonce[GDN_PRIO3_NONCE_BYTES],
                             const uint8_t *rand, size_t rand_len, unsigned flags)
{
    const prio_circuit *c = &v->main;
    const prio_field *F = c->F;
    size_t S = v->shares, L = v->seed, ml = v->meas_len, pl = proofs_len(v);
    size_t flp_len = ml + c->wr_checks;
    uint8_t *parts = NULL, *enc = NULL, wr_seed[MAX_SEED], vf_seed[MAX_SEED];
    int rc;
    if (x_len != c->dimension)
        return gdn_error(GDN_EINVAL, "pine: %zu values, expected %zu", x_len, c->dimension);
    if (rand_len != gdn_pine_rand_size(v))
        return gdn_error(GDN_EINVAL, "pine: %zu random bytes, expected %zu", rand_len,
                         gdn_pine_rand_size(v));
    /* meas: gradient || norm bits (encode_gradient_and_norm), wraparound bits
     * (encode_wr_checks), wraparound results (run_wr_checks), all written. */
    prio_fe *meas = malloc(flp_len * sizeof *meas);
    prio_fe *tmp = calloc(pl, sizeof *tmp), *proofs = calloc(pl, sizeof *proofs);
    prio_fe *helpers = malloc((S - 1) * ml * sizeof *helpers + 1); /* written in full */
    uint8_t *henc = malloc((S - 1) * ml * fsz(v) + 1);
    size_t lead = gdn_pine_input_share_size(v, 0);
    /* The leader's input share (its measurement share first) is written in
     * place, past the end of input_shares[0], and counted once complete. */
    if (gdn_buf_reserve(&input_shares[0], lead) == 0)
        enc = input_shares[0].data + input_shares[0].len;
    size_t prl = v->ne.prove_rand_len * v->proofs_ne + c->prove_rand_len * v->proofs;
    prio_fe *prove_rand = calloc(prl, sizeof *prove_rand);
    prio_fe *jr = calloc(c->joint_rand_len * v->proofs, sizeof *jr);
    parts = calloc(2 * S, L);
    rc = GDN_ENOMEM;
    if (!meas || !tmp || !proofs || !helpers || !henc || !enc || !prove_rand || !jr || !parts)
        goto done;
    const uint8_t *leader_wr = rand + (S - 1) * 4 * L, *leader_vf = leader_wr + L;
    const uint8_t *k_prove = leader_vf + L;
    if ((rc = encode_gradient_and_norm(v, meas, x, flags)))
        goto done;
    for (size_t j = 1; j < S; j++) /* seeds of helper j: meas, proof, wr, vf */
        if ((rc = helper_meas_share(v, helpers + (j - 1) * ml, henc + (j - 1) * ml * fsz(v), ml,
                                    (unsigned)j, rand + (j - 1) * 4 * L)))
            goto done;
    /* Wraparound joint randomness: parts over gradient || norm bits. */
    if ((rc = share_and_parts(v, enc, parts, meas, 0, v->enc_len, helpers, henc, rand, 2,
                              leader_wr, nonce, USAGE_WR_JOINT_RAND_PART)) ||
        (rc = joint_rand_seed(v, wr_seed, parts, USAGE_WR_JOINT_RAND_SEED)) ||
        (rc = run_wr_checks(v, meas + ml, meas, wr_seed)) ||
        (rc = encode_wr_checks(v, meas + v->enc_len, meas + ml, flags)))
        goto done;
    /* Verification joint randomness: parts over the whole shared encoding. */
    if ((rc = share_and_parts(v, enc, parts + S * L, meas, v->enc_len, ml, helpers, henc, rand,
                              3, leader_vf, nonce, USAGE_JOINT_RAND_PART)) ||
        (rc = joint_rand_seed(v, vf_seed, parts + S * L, USAGE_JOINT_RAND_SEED)) ||
        (rc = vf_joint_rands(v, jr, vf_seed)))
        goto done;
    {
        uint8_t b[2] = {(uint8_t)v->proofs_ne, (uint8_t)v->proofs};
        piece pc[1] = {{b, 2}};
        if ((rc = expand(v, prove_rand, NULL, prl, k_prove, USAGE_PROVE_RANDOMNESS, pc, 1)))
            goto done;
    }
    /* Proofs: norm equality ones first, then the others. */
    {
        prio_fe *pr = prove_rand, *out = proofs;
        for (unsigned k = 0; k < v->proofs_ne && !rc; k++) {
            rc = prio_flp_prove(&v->ne, out, meas, pr, NULL);
            pr += v->ne.prove_rand_len, out += v->ne.proof_len;
        }
        for (unsigned k = 0; k < v->proofs && !rc; k++) {
            rc = prio_flp_prove(c, out, meas, pr, jr + k * c->joint_rand_len);
            pr += c->prove_rand_len, out += c->proof_len;
        }
        if (rc)
            goto done;
    }
    for (size_t j = 1; j < S; j++) {
        if ((rc = helper_proofs_share(v, tmp, (unsigned)j, rand + (j - 1) * 4 * L + L)))
            goto done;
        prio_vec_sub(F, proofs, tmp, pl);
    }
    /* Encodings: leader meas || proofs || wr blind || vf blind; helper its
     * four seeds; public share wr parts || vf parts. */
    prio_vec_encode(F, enc + ml * fsz(v), proofs, pl);
    memcpy(enc + (ml + pl) * fsz(v), leader_wr, 2 * L);
    for (size_t j = 1; j < S; j++)
        if ((rc = gdn_buf_append(&input_shares[j], rand + (j - 1) * 4 * L, 4 * L)))
            goto done;
    if ((rc = gdn_buf_append(public_share, parts, 2 * S * L)))
        goto done;
    input_shares[0].len += lead;
    enc = NULL; /* now the caller's */
done:
    if (enc) /* a failure: nothing appended, and no secret left behind */
        prio_wipe(enc, lead);
    if (meas)
        prio_wipe(meas, flp_len * sizeof *meas);
    if (helpers)
        prio_wipe(helpers, (S - 1) * ml * sizeof *helpers);
    if (henc)
        prio_wipe(henc, (S - 1) * ml * fsz(v));
    if (proofs)
        prio_wipe(proofs, pl * sizeof *proofs);
    free(meas);
    free(helpers);
    free(henc);
    free(tmp);
    free(proofs);
    free(prove_rand);
    free(jr);
    free(parts);
    return rc;
}

int gdn_pine_shard(const gdn_pine *v, gdn_buf *public_share, gdn_buf *input_shares,
                   const double *meas, size_t meas_len,
                   const uint8_t nonce[GDN_PRIO3_NONCE_BYTES], gdn_rng *rng)
{
    size_t n = gdn_pine_rand_size(v), ps = public_share->len;
    uint8_t *rand = malloc(n);
    int rc = GDN_ENOMEM;
    if (!rand)
        return rc;
    for (int attempt = 0; attempt < 16; attempt++) {
        gdn_rng_bytes(rng, rand, n);
        rc = gdn_pine_shard_with_rand(v, public_share, input_shares, meas, meas_len, nonce,
                                      rand, n, 0);
        if (rc != GDN_ESTATE)
            break;
        public_share->len = ps; /* nothing was appended on failure */
    }
    prio_wipe(rand, n);
    free(rand);
    return rc;
}

/* ---- Verification (Pine.prep_init, prep_shares_to_prep, prep_next) ----------- */

/* An aggregator's part of one joint randomness and the corrected seed. */
static int part_and_seed(const gdn_pine *v, uint8_t *part, uint8_t *seed, unsigned agg_id,
                         const uint8_t *blind, const uint8_t *share, size_t n,
                         const uint8_t *nonce, const uint8_t *public_parts,
                         uint16_t part_usage, uint16_t seed_usage)
{
    size_t L = v->seed;
    uint8_t *parts = malloc((size_t)v->shares * L);
    int rc;
    if (!parts)
        return GDN_ENOMEM;
    memcpy(parts, public_parts, (size_t)v->shares * L);
    rc = joint_rand_part(v, part, agg_id, blind, share, n, nonce, part_usage);
    if (!rc) {
        memcpy(parts + agg_id * L, part, L);
        rc = joint_rand_seed(v, seed, parts, seed_usage);
    }
    free(parts);
    return rc;
}

int gdn_pine_verify_init(const gdn_pine *v, gdn_buf *state, gdn_buf *verifier_share,
                         const uint8_t *verify_key, unsigned agg_id,
                         const uint8_t nonce[GDN_PRIO3_NONCE_BYTES],
                         const uint8_t *public_share, size_t public_share_len,
                         const uint8_t *input_share, size_t input_share_len)
{
    const prio_circuit *c = &v->main;
    const prio_field *F = c->F;
    size_t S = v->shares, L = v->seed, ml = v->meas_len, pl = proofs_len(v);
    size_t vl = verifiers_len(v), flp_len = ml + c->wr_checks;
    size_t qrl = v->ne.query_rand_len * v->proofs_ne + c->query_rand_len * v->proofs;
    uint8_t wr_part[MAX_SEED], vf_part[MAX_SEED], wr_seed[MAX_SEED], vf_seed[MAX_SEED];
    const uint8_t *blinds, *share; /* the measurement share's encoding */
    uint8_t *enc = NULL, *henc = NULL;
    int rc;
    if (agg_id >= S)
        return gdn_error(GDN_EINVAL, "pine: aggregator %u of %zu", agg_id, S);
    if (input_share_len != gdn_pine_input_share_size(v, agg_id))
        return gdn_error(GDN_EFORMAT, "pine: input share of %zu bytes, expected %zu",
                         input_share_len, gdn_pine_input_share_size(v, agg_id));
    if (public_share_len != gdn_pine_public_share_size(v))
        return gdn_error(GDN_EFORMAT, "pine: public share of %zu bytes, expected %zu",
                         public_share_len, gdn_pine_public_share_size(v));
    /* meas: the share (decoded or expanded), then the wraparound results. */
    prio_fe *meas = malloc(flp_len * sizeof *meas), *proofs = calloc(pl, sizeof *proofs);
    prio_fe *verif = calloc(vl, sizeof *verif), *qrand = calloc(qrl, sizeof *qrand);
    prio_fe *jr = calloc(c->joint_rand_len * v->proofs, sizeof *jr);
    rc = GDN_ENOMEM;
    if (!meas || !proofs || !verif || !qrand || !jr)
        goto done;
    if (agg_id == 0) {
        if (prio_vec_decode(F, meas, input_share, ml) ||
            prio_vec_decode(F, proofs, input_share + ml * fsz(v), pl)) {
            rc = gdn_error(GDN_EFORMAT, "pine: field element out of range in input share");
            goto done;
        }
        blinds = input_share + (ml + pl) * fsz(v);
        share = input_share;
    } else {
        if (!(henc = malloc(ml * fsz(v) + 1)))
            goto done;
        if ((rc = helper_meas_share(v, meas, henc, ml, agg_id, input_share)) ||
            (rc = helper_proofs_share(v, proofs, agg_id, input_share + L)))
            goto done;
        blinds = input_share + 2 * L;
        share = henc;
    }
    if ((rc = part_and_seed(v, wr_part, wr_seed, agg_id, blinds, share, v->enc_len, nonce,
                            public_share, USAGE_WR_JOINT_RAND_PART,
                            USAGE_WR_JOINT_RAND_SEED)) ||
        (rc = run_wr_checks(v, meas + ml, meas, wr_seed)) ||
        (rc = part_and_seed(v, vf_part, vf_seed, agg_id, blinds + L, share, ml, nonce,
                            public_share + S * L, USAGE_JOINT_RAND_PART,
                            USAGE_JOINT_RAND_SEED)) ||
        (rc = vf_joint_rands(v, jr, vf_seed)))
        goto done;
    {
        uint8_t b[2] = {(uint8_t)v->proofs_ne, (uint8_t)v->proofs};
        piece pc[2] = {{b, 2}, {nonce, GDN_PRIO3_NONCE_BYTES}};
        if ((rc = expand(v, qrand, NULL, qrl, verify_key, USAGE_QUERY_RANDOMNESS, pc, 2)))
            goto done;
    }
    {
        const prio_fe *pf = proofs, *qr = qrand;
        prio_fe *out = verif;
        for (unsigned k = 0; k < v->proofs_ne && !rc; k++) {
            rc = prio_flp_query(&v->ne, out, meas, pf, qr, NULL, S);
            pf += v->ne.proof_len, qr += v->ne.query_rand_len, out += v->ne.verifier_len;
        }
        for (unsigned k = 0; k < v->proofs && !rc; k++) {
            rc = prio_flp_query(c, out, meas, pf, qr, jr + k * c->joint_rand_len, S);
            pf += c->proof_len, qr += c->query_rand_len, out += c->verifier_len;
        }
        if (rc)
            goto done;
    }
    /* Verifier share: verifiers || wr part || vf part. State: out share ||
     * corrected wr seed || corrected vf seed. */
    size_t vs = gdn_pine_verifier_share_size(v), os = gdn_pine_out_share_size(v);
    if (!(enc = malloc(vs))) {
        rc = GDN_ENOMEM;
        goto done;
    }
    prio_vec_encode(F, enc, verif, vl);
    memcpy(enc + vl * fsz(v), wr_part, L);
    memcpy(enc + vl * fsz(v) + L, vf_part, L);
    /* The output share is the gradient's part of the measurement share. */
    if ((rc = gdn_buf_append(verifier_share, enc, vs)) ||
        (rc = gdn_buf_reserve(state, os + 2 * L)) || (rc = gdn_buf_append(state, share, os)) ||
        (rc = gdn_buf_append(state, wr_seed, L)))
        goto done;
    rc = gdn_buf_append(state, vf_seed, L);
done:
    if (meas)
        prio_wipe(meas, flp_len * sizeof *meas);
    if (proofs)
        prio_wipe(proofs, pl * sizeof *proofs);
    if (henc)
        prio_wipe(henc, ml * fsz(v));
    free(henc);
    free(enc);
    free(meas);
    free(proofs);
    free(verif);
    free(qrand);
    free(jr);
    return rc;
}

int gdn_pine_verifier_shares_to_message(const gdn_pine *v, gdn_buf *message,
                                        const uint8_t *const *shares,
                                        const size_t *share_lens, size_t num)
{
    const prio_field *F = v->main.F;
    size_t L = v->seed, vl = verifiers_len(v), vs = gdn_pine_verifier_share_size(v);
    uint8_t seeds[2 * MAX_SEED];
    int rc;
    if (num != v->shares)
        return gdn_error(GDN_EINVAL, "pine: %zu verifier shares, expected %u", num, v->shares);
    for (size_t j = 0; j < num; j++)
        if (share_lens[j] != vs)
            return gdn_error(GDN_EFORMAT, "pine: verifier share %zu of %zu bytes, expected "
                             "%zu", j, share_lens[j], vs);
    prio_fe *sum = calloc(vl, sizeof *sum), *tmp = calloc(vl, sizeof *tmp);
    uint8_t *parts = calloc(2 * num, L);
    rc = GDN_ENOMEM;
    if (!sum || !tmp || !parts)
        goto done;
    for (size_t j = 0; j < num; j++) {
        if (prio_vec_decode(F, tmp, shares[j], vl)) {
            rc = gdn_error(GDN_EFORMAT, "pine: field element out of range in verifier share");
            goto done;
        }
        for (size_t i = 0; i < vl; i++)
            sum[i] = prio_fe_add(F, sum[i], tmp[i]);
        memcpy(parts + j * L, shares[j] + vl * fsz(v), L);
        memcpy(parts + (num + j) * L, shares[j] + vl * fsz(v) + L, L);
    }
    {
        const prio_fe *vp = sum;
        for (unsigned k = 0; k < v->proofs_ne; k++, vp += v->ne.verifier_len)
            if (!prio_flp_decide(&v->ne, vp)) {
                rc = gdn_error(GDN_ECRYPTO, "pine: norm equality proof %u rejected (the "
                               "claimed squared norm is not the gradient's)", k);
                goto done;
            }
        for (unsigned k = 0; k < v->proofs; k++, vp += v->main.verifier_len)
            if (!prio_flp_decide(&v->main, vp)) {
                rc = gdn_error(GDN_ECRYPTO, "pine: proof %u rejected (bits, norm range or "
                               "wraparound checks)", k);
                goto done;
            }
    }
    if ((rc = joint_rand_seed(v, seeds, parts, USAGE_WR_JOINT_RAND_SEED)) ||
        (rc = joint_rand_seed(v, seeds + L, parts + num * L, USAGE_JOINT_RAND_SEED)))
        goto done;
    rc = gdn_buf_append(message, seeds, 2 * L);
done:
    free(sum);
    free(tmp);
    free(parts);
    return rc;
}

int gdn_pine_verify_next(const gdn_pine *v, gdn_buf *out_share, const uint8_t *state,
                         size_t state_len, const uint8_t *message, size_t message_len)
{
    size_t os = gdn_pine_out_share_size(v), L = v->seed;
    uint8_t d = 0;
    if (state_len != os + 2 * L)
        return gdn_error(GDN_EFORMAT, "pine: verify state of %zu bytes", state_len);
    if (message_len != 2 * L)
        return gdn_error(GDN_ECRYPTO, "pine: verifier message of %zu bytes, expected %zu",
                         message_len, 2 * L);
    for (size_t i = 0; i < 2 * L; i++) /* both joint randomness seeds must match */
        d |= (uint8_t)(message[i] ^ state[os + i]);
    if (d)
        return gdn_error(GDN_ECRYPTO, "pine: joint randomness check failed");
    return gdn_buf_append(out_share, state, os);
}

/* ---- Aggregation and unsharding ------------------------------------------------ */

int gdn_pine_aggregate(const gdn_pine *v, uint8_t *agg_share, const uint8_t *out_share,
                       size_t len)
{
    const prio_field *F = v->main.F;
    if (len != gdn_pine_out_share_size(v))
        return gdn_error(GDN_EFORMAT, "pine: output share of %zu bytes, expected %zu", len,
                         gdn_pine_out_share_size(v));
    return prio_vec_add_encoded(F, agg_share, out_share, v->main.dimension, "pine");
}

int gdn_pine_unshard(const gdn_pine *v, double *result, size_t result_len,
                     const uint8_t *const *agg_shares, const size_t *lens, size_t num)
{
    const prio_field *F = v->main.F;
    size_t os = gdn_pine_out_share_size(v);
    if (result_len != v->main.dimension || num != v->shares)
        return gdn_error(GDN_EINVAL, "pine: unshard arguments do not match the instance");
    for (size_t j = 0; j < num; j++)
        if (lens[j] != os)
            return gdn_error(GDN_EFORMAT, "pine: aggregate share %zu of %zu bytes", j,
                             lens[j]);
    /* decode_float_from_field: above floor(p / 2) is negative. */
    prio_fe half = prio_fe_neg(F, prio_fe_one(F));
    uint64_t hv[2];
    prio_fe_value(F, hv, half); /* p - 1 */
    hv[0] = hv[0] >> 1 | hv[1] << 63, hv[1] >>= 1;
    for (size_t i = 0; i < v->main.dimension; i++) {
        prio_fe s = prio_fe_zero(), x;
        for (size_t j = 0; j < num; j++) {
            if (prio_fe_decode(F, &x, agg_shares[j] + i * fsz(v)))
                return gdn_error(GDN_EFORMAT, "pine: aggregate share %zu malformed", j);
            s = prio_fe_add(F, s, x);
        }
        uint64_t val[2];
        int neg;
        prio_fe_value(F, val, s);
        neg = val[1] > hv[1] || (val[1] == hv[1] && val[0] > hv[0]);
        if (neg)
            prio_fe_value(F, val, prio_fe_neg(F, s));
        double mag = ldexp((double)val[1], 64) + (double)val[0];
        result[i] = ldexp(neg ? -mag : mag, -(int)v->frac_bits);
    }
    return 0;
}
