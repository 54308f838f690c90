/* The generic FLP of draft-irtf-cfrg-vdaf-20 §7.3 (BBCGGI19, Theorem 4.3)
 * with the gadgets Mul, PolyEval and ParallelSum (§7.3.1), and the validity
 * circuits of Prio3Count, Sum, SumVec, Histogram, MultihotCountVec (§7.4). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "guardian/core.h"
#include "prio/prio_internal.h"

/* Caps keep every product of lengths far from overflow. */
#define PRIO_MAX_LEN ((size_t)1 << 26)

static size_t next_pow2(size_t n)
{
    size_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

static unsigned log2_exact(size_t n)
{
    unsigned l = 0;
    while (((size_t)1 << l) < n)
        l++;
    return l;
}

static unsigned bit_length(uint64_t x)
{
    unsigned b = 0;
    while (x) {
        b++;
        x >>= 1;
    }
    return b;
}

static prio_fe fe_from_i64(const prio_field *F, int64_t v)
{
    if (v >= 0)
        return prio_fe_from_u64(F, (uint64_t)v);
    return prio_fe_neg(F, prio_fe_from_u64(F, (uint64_t)(-v)));
}

static int finish_lengths(prio_circuit *c);

int prio_circuit_init(prio_circuit *c, prio_circuit_kind kind, const prio_field *F,
                      size_t length, uint64_t max, size_t chunk_length)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->F = F;
    c->length = length;
    c->max = max;
    c->chunk_length = chunk_length;
    c->count = 1;
    switch (kind) {
    case PRIO_CIRCUIT_COUNT: /* §7.4.1: Mul(x, x) - x */
        c->gadget = PRIO_GADGET_MUL;
        c->calls = 1;
        c->meas_len = c->output_len = c->eval_output_len = 1;
        break;
    case PRIO_CIRCUIT_HIGHER_DEGREE: /* test circuit: x (x - 1) (x - 2) */
        c->gadget = PRIO_GADGET_POLY_EVAL;
        c->poly[0] = 0, c->poly[1] = 2, c->poly[2] = -3, c->poly[3] = 1;
        c->poly_len = 4;
        c->calls = 1;
        c->meas_len = c->output_len = c->eval_output_len = 1;
        break;
    case PRIO_CIRCUIT_SUM: /* §7.4.2: PolyEval(x^2 - x) per bit */
        if (max == 0)
            return gdn_error(GDN_EINVAL, "prio: max_measurement must be > 0");
        c->bits = bit_length(max);
        if (c->bits >= 64 && F->id == PRIO_FIELD64)
            return gdn_error(GDN_EINVAL, "prio: max_measurement too large for Field64");
        c->gadget = PRIO_GADGET_POLY_EVAL;
        c->poly[0] = 0, c->poly[1] = -1, c->poly[2] = 1;
        c->poly_len = 3;
        c->calls = c->meas_len = c->eval_output_len = c->bits;
        c->output_len = 1;
        break;
    case PRIO_CIRCUIT_SUMVEC:
    case PRIO_CIRCUIT_HISTOGRAM:
    case PRIO_CIRCUIT_MULTIHOT:
        if (length == 0 || length > PRIO_MAX_LEN || chunk_length == 0 ||
            chunk_length > PRIO_MAX_LEN)
            return gdn_error(GDN_EINVAL, "prio: length %zu / chunk_length %zu out of range",
                             length, chunk_length);
        c->gadget = PRIO_GADGET_MUL;
        c->count = chunk_length;
        c->output_len = length;
        if (kind == PRIO_CIRCUIT_SUMVEC) { /* §7.4.3 */
            if (max == 0)
                return gdn_error(GDN_EINVAL, "prio: max_measurement must be > 0");
            c->bits = bit_length(max);
            if (c->bits >= 64 && F->id == PRIO_FIELD64)
                return gdn_error(GDN_EINVAL, "prio: max_measurement too large");
            if (length > PRIO_MAX_LEN / c->bits)
                return gdn_error(GDN_EINVAL, "prio: SumVec too long");
            c->meas_len = length * c->bits;
            c->eval_output_len = 1;
        } else if (kind == PRIO_CIRCUIT_HISTOGRAM) { /* §7.4.4 */
            c->meas_len = length;
            c->eval_output_len = 2;
        } else { /* §7.4.5 */
            if (max == 0 || max > length)
                return gdn_error(GDN_EINVAL, "prio: max_weight must be in [1, length]");
            c->bits = bit_length(max);
            c->meas_len = length + c->bits;
            c->eval_output_len = 2;
        }
        c->calls = (c->meas_len + chunk_length - 1) / chunk_length;
        c->joint_rand_len = c->calls;
        break;
    default:
        return gdn_error(GDN_EINVAL, "prio: unknown circuit");
    }
    return finish_lengths(c);
}

/* Gadget and FLP lengths from the gadget, its count and its calls (§7.3.1). */
static int finish_lengths(prio_circuit *c)
{
    const prio_field *F = c->F;
    c->degree = c->gadget == PRIO_GADGET_MUL ? 2 : c->poly_len - 1;
    c->arity = (c->gadget == PRIO_GADGET_MUL ? 2 : 1) * c->count;
    c->wire_len = next_pow2(1 + c->calls);
    c->gadget_poly_len = c->degree * (c->wire_len - 1) + 1;
    c->eval_len = next_pow2(c->gadget_poly_len);
    if (log2_exact(c->eval_len) > F->log_gen_order || c->eval_len > PRIO_MAX_LEN)
        return gdn_error(GDN_EINVAL, "prio: circuit too large for the field");
    c->prove_rand_len = c->arity;
    c->query_rand_len = 1 + (c->eval_output_len > 1 ? c->eval_output_len : 0);
    c->proof_len = c->arity + c->gadget_poly_len;
    c->verifier_len = 1 + c->arity + 1;
    return 0;
}

/* PineValidBase.__init__ and the two circuits' gadgets
 * (draft-chen-cfrg-vdaf-pine-01, poc/flp_pine.py). */
int prio_circuit_init_pine(prio_circuit *c, prio_circuit_kind kind, const prio_field *F,
                           size_t dimension, uint64_t l2_bound, size_t chunk_length,
                           double alpha, size_t wr_checks, size_t wr_successes)
{
    uint64_t p = F->id == PRIO_FIELD64 ? 0xffffffff00000001ULL : F->p;
    long double q = F->id == PRIO_FIELD128 ? 0x1p128L : (long double)p;
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->F = F;
    c->coeff_proof = 1;
    if (dimension == 0 || dimension > PRIO_MAX_LEN || chunk_length == 0 ||
        chunk_length > PRIO_MAX_LEN || wr_checks == 0 || wr_checks > 4096 ||
        wr_successes > wr_checks)
        return gdn_error(GDN_EINVAL, "pine: dimension %zu, chunk %zu, %zu of %zu "
                         "wraparound checks out of range", dimension, chunk_length,
                         wr_successes, wr_checks);
    /* The squared bound must stay below 2^63 here and below q / 3 (Figure 1
     * of ROCT23); the wraparound bound within Lemma 3.3's limits. */
    if (l2_bound == 0 || l2_bound > 0xb504f333ULL ||
        (long double)l2_bound * (long double)l2_bound * 3.0L >= q - 2.0L)
        return gdn_error(GDN_EINVAL, "pine: L2 bound %llu too large for the field",
                         (unsigned long long)l2_bound);
    if (!(alpha > 0) || alpha > 1e6)
        return gdn_error(GDN_EINVAL, "pine: alpha %g out of range", alpha);
    c->sq_norm_bound = l2_bound * l2_bound;
    c->sq_bits = bit_length(c->sq_norm_bound);
    c->wr_bound = next_pow2((size_t)ceil(alpha * (double)l2_bound) + 1);
    if (q / (long double)wr_checks < 2.0L || q / (long double)c->wr_bound < 2600.0L ||
        (long double)c->wr_bound * (long double)c->wr_bound / q > 4000.0L)
        return gdn_error(GDN_EINVAL, "pine: wraparound check infeasible for this bound "
                         "and field");
    c->wr_bits = bit_length(2 * c->wr_bound - 1);
    c->dimension = dimension;
    c->wr_checks = wr_checks;
    c->wr_successes = wr_successes;
    c->bit_checked_len = 2 * c->sq_bits + (c->wr_bits + 1) * wr_checks;
    c->meas_len = dimension + c->bit_checked_len + wr_checks;
    c->output_len = dimension;
    c->eval_output_len = 1;
    c->chunk_length = chunk_length;
    c->count = chunk_length;
    if (kind == PRIO_CIRCUIT_PINE_NORM) { /* PineValidNormEquality */
        c->gadget = PRIO_GADGET_POLY_EVAL;
        c->poly[0] = 0, c->poly[1] = 0, c->poly[2] = 1;
        c->poly_len = 3;
        c->calls = (dimension + chunk_length - 1) / chunk_length;
    } else if (kind == PRIO_CIRCUIT_PINE) { /* PineValid */
        c->gadget = PRIO_GADGET_MUL;
        c->calls = (c->bit_checked_len + chunk_length - 1) / chunk_length +
                   (wr_checks + chunk_length - 1) / chunk_length;
        c->joint_rand_len = 3;
    } else {
        return gdn_error(GDN_EINVAL, "pine: unknown circuit");
    }
    return finish_lengths(c);
}

/* ---- Measurement encoding (§7.4.2 encode_range_checked_int) ------------- */

static void encode_range_checked(const prio_circuit *c, prio_fe *out, uint64_t value,
                                 uint64_t max)
{
    const prio_field *F = c->F;
    unsigned bits = bit_length(max);
    uint64_t rest_ones = (bits >= 1 ? ((uint64_t)1 << (bits - 1)) - 1 : 0);
    uint64_t last_weight = max - rest_ones;
    /* value > rest_ones, without a branch: borrow of rest_ones - value. */
    uint64_t gt = (uint64_t)(((unsigned __int128)rest_ones - value) >> 127);
    uint64_t rest = value - (last_weight & (0 - gt));
    for (unsigned l = 0; l + 1 < bits; l++)
        out[l] = prio_fe_from_u64(F, (rest >> l) & 1);
    out[bits - 1] = prio_fe_from_u64(F, gt);
}

static prio_fe decode_range_checked(const prio_circuit *c, const prio_fe *in, uint64_t max)
{
    const prio_field *F = c->F;
    unsigned bits = bit_length(max);
    uint64_t rest_ones = ((uint64_t)1 << (bits - 1)) - 1;
    prio_fe r = prio_fe_zero();
    for (unsigned l = 0; l + 1 < bits; l++)
        r = prio_fe_add(F, r, prio_fe_mul(F, prio_fe_from_u64(F, (uint64_t)1 << l), in[l]));
    return prio_fe_add(F, r, prio_fe_mul(F, prio_fe_from_u64(F, max - rest_ones), in[bits - 1]));
}

int prio_circuit_encode(const prio_circuit *c, prio_fe *meas, const uint64_t *m, size_t m_len)
{
    const prio_field *F = c->F;
    switch (c->kind) {
    case PRIO_CIRCUIT_COUNT:
    case PRIO_CIRCUIT_HIGHER_DEGREE:
        if (m_len != 1 || m[0] > (c->kind == PRIO_CIRCUIT_COUNT ? 1u : 2u))
            return gdn_error(GDN_ERANGE, "prio: measurement out of range");
        meas[0] = prio_fe_from_u64(F, m[0]);
        return 0;
    case PRIO_CIRCUIT_SUM:
        if (m_len != 1 || m[0] > c->max)
            return gdn_error(GDN_ERANGE, "prio: measurement above max_measurement");
        encode_range_checked(c, meas, m[0], c->max);
        return 0;
    case PRIO_CIRCUIT_SUMVEC:
        if (m_len != c->length)
            return gdn_error(GDN_EINVAL, "prio: %zu values, expected %zu", m_len, c->length);
        for (size_t i = 0; i < m_len; i++) {
            if (m[i] > c->max)
                return gdn_error(GDN_ERANGE, "prio: entry %zu above max_measurement", i);
            encode_range_checked(c, meas + i * c->bits, m[i], c->max);
        }
        return 0;
    case PRIO_CIRCUIT_HISTOGRAM:
        if (m_len != 1 || m[0] >= c->length)
            return gdn_error(GDN_ERANGE, "prio: histogram bucket out of range");
        for (size_t i = 0; i < c->length; i++) { /* one-hot without a secret index */
            uint64_t d = (uint64_t)i ^ m[0];
            meas[i] = prio_fe_from_u64(F, 1 ^ ((d | (0 - d)) >> 63));
        }
        return 0;
    case PRIO_CIRCUIT_MULTIHOT: {
        uint64_t weight = 0;
        if (m_len != c->length)
            return gdn_error(GDN_EINVAL, "prio: %zu values, expected %zu", m_len, c->length);
        for (size_t i = 0; i < m_len; i++) {
            if (m[i] > 1)
                return gdn_error(GDN_ERANGE, "prio: entry %zu is not a bit", i);
            meas[i] = prio_fe_from_u64(F, m[i]);
            weight += m[i];
        }
        if (weight > c->max)
            return gdn_error(GDN_ERANGE, "prio: weight above max_weight");
        encode_range_checked(c, meas + c->length, weight, c->max);
        return 0;
    }
    case PRIO_CIRCUIT_PINE:
    case PRIO_CIRCUIT_PINE_NORM: /* PINE encodes in pine.c */
        break;
    }
    return GDN_EINTERNAL;
}

void prio_circuit_truncate(const prio_circuit *c, prio_fe *out, const prio_fe *meas)
{
    switch (c->kind) {
    case PRIO_CIRCUIT_SUM:
        out[0] = decode_range_checked(c, meas, c->max);
        break;
    case PRIO_CIRCUIT_SUMVEC:
        for (size_t i = 0; i < c->length; i++)
            out[i] = decode_range_checked(c, meas + i * c->bits, c->max);
        break;
    default: /* Count, HigherDegree, Histogram: all; Multihot: the counters */
        memcpy(out, meas, c->output_len * sizeof *out);
        break;
    }
}

/* ---- Gadget calls -------------------------------------------------------- */

typedef struct gadget_ctx {
    const prio_circuit *c;
    prio_fe *rows;         /* prove: (1 + calls) x arity, call k's input j at
                              rows[k * arity + j], the wire seeds in row 0 */
    size_t k;              /* calls made so far */
    const prio_fe *values; /* query: gadget polynomial at the eval_len roots */
    size_t step;           /* eval_len / wire_len */
    prio_rows_sum *sum;    /* query: the wires at t, call k weighted by */
    const prio_fe *wts;    /* wts[k] */
} gadget_ctx;

/* PolyEval's coefficients as field elements, once per call site. */
static void poly_coeffs(const prio_circuit *c, prio_fe pc[4])
{
    for (size_t j = 0; j < c->poly_len && j < 4; j++)
        pc[j] = fe_from_i64(c->F, c->poly[j]);
}

static prio_fe gadget_eval(const prio_circuit *c, const prio_fe *inp)
{
    prio_fe pc[4];
    if (c->gadget == PRIO_GADGET_MUL)
        return prio_vec_pair_dot(c->F, inp, c->count);
    poly_coeffs(c, pc);
    return prio_vec_poly_sum(c->F, inp, pc, c->poly_len, c->count);
}

/* §7.3.3 ProveGadget / §7.3.4 QueryGadget: the inputs are the k-th point
 * of each wire. The prover records them and computes the output; the
 * verifier adds them into the wires' values at t and reads the output from
 * the gadget polynomial at alpha^k. */
static prio_fe gadget_call(gadget_ctx *g, const prio_fe *inp)
{
    const prio_circuit *c = g->c;
    g->k++;
    if (g->sum) {
        prio_rows_sum_add(g->sum, inp, g->wts[g->k]);
        return g->values[g->k * g->step];
    }
    memcpy(g->rows + g->k * c->arity, inp, c->arity * sizeof *inp);
    return gadget_eval(c, inp);
}

/* The chunked range check shared by SumVec, Histogram and Multihot (§7.4.3). */
static int range_check(const prio_circuit *c, gadget_ctx *g, prio_fe *out,
                       const prio_fe *meas, const prio_fe *joint_rand, prio_fe shares_inv)
{
    const prio_field *F = c->F;
    prio_fe *inp = malloc(c->arity * sizeof *inp);
    if (!inp)
        return GDN_ENOMEM;
    *out = prio_fe_zero();
    for (size_t i = 0; i < c->calls; i++) {
        prio_fe r = joint_rand[i], rp = r;
        for (size_t j = 0; j < c->chunk_length; j++) {
            size_t idx = i * c->chunk_length + j;
            prio_fe x = idx < c->meas_len ? meas[idx] : prio_fe_zero();
            inp[2 * j] = prio_fe_mul(F, rp, x);
            inp[2 * j + 1] = prio_fe_sub(F, x, shares_inv);
            rp = prio_fe_mul(F, rp, r);
        }
        *out = prio_fe_add(F, *out, gadget_call(g, inp));
    }
    free(inp);
    return 0;
}

/* PineValidBase.parallel_sum: the inputs in chunks of the gadget's arity,
 * one gadget call each; the last one, when short, is copied into chunk and
 * padded with zeros. */
static prio_fe parallel_sum(const prio_circuit *c, gadget_ctx *g, prio_fe *chunk,
                            const prio_fe *inp, size_t n)
{
    const prio_field *F = c->F;
    prio_fe s = prio_fe_zero();
    for (size_t at = 0; at < n; at += c->arity) {
        size_t k = n - at < c->arity ? n - at : c->arity;
        const prio_fe *x = inp + at;
        if (k < c->arity) {
            memcpy(chunk, x, k * sizeof *chunk);
            for (size_t j = k; j < c->arity; j++)
                chunk[j] = prio_fe_zero();
            x = chunk;
        }
        s = prio_fe_add(F, s, gadget_call(g, x));
    }
    return s;
}

/* Field.decode_from_bit_vector: sum of 2^l bits[l] (bits < 64). */
static prio_fe decode_bits(const prio_field *F, const prio_fe *bits, size_t n)
{
    prio_fe r = prio_fe_zero();
    for (size_t l = 0; l < n; l++)
        r = prio_fe_add(F, r, prio_fe_mul(F, prio_fe_from_u64(F, (uint64_t)1 << l), bits[l]));
    return r;
}

/* PineValid.eval (poc/flp_pine.py): bit checks, squared-norm range check,
 * wraparound quadratic and success-count checks, combined with r_final. */
static int eval_pine(const prio_circuit *c, gadget_ctx *g, prio_fe *out, const prio_fe *meas,
                     const prio_fe *joint_rand, prio_fe shares_inv)
{
    const prio_field *F = c->F;
    size_t nb = c->bit_checked_len, r = c->wr_checks;
    const prio_fe *bits = meas + c->dimension, *results = bits + nb;
    prio_fe *inp = malloc(2 * (nb > r ? nb : r) * sizeof *inp);
    prio_fe *chunk = malloc(c->arity * sizeof *chunk);
    if (!inp || !chunk) {
        free(inp);
        free(chunk);
        return GDN_ENOMEM;
    }
    prio_fe rp = prio_fe_one(F);
    for (size_t i = 0; i < nb; i++) { /* eval_bit_checks */
        inp[2 * i] = prio_fe_mul(F, rp, bits[i]);
        inp[2 * i + 1] = prio_fe_sub(F, bits[i], shares_inv);
        rp = prio_fe_mul(F, rp, joint_rand[0]);
    }
    prio_fe bit_check = parallel_sum(c, g, chunk, inp, 2 * nb);
    /* eval_wr_checks: per check, v bits then the success bit g. */
    prio_fe off = prio_fe_mul(F, prio_fe_from_u64(F, c->wr_bound - 1), shares_inv);
    prio_fe count = prio_fe_zero();
    rp = prio_fe_one(F);
    for (size_t i = 0; i < r; i++) {
        const prio_fe *vb = bits + 2 * c->sq_bits + i * (c->wr_bits + 1);
        prio_fe gi = vb[c->wr_bits];
        prio_fe computed = prio_fe_sub(F, decode_bits(F, vb, c->wr_bits), off);
        inp[2 * i] = prio_fe_mul(F, rp, prio_fe_sub(F, results[i], computed));
        inp[2 * i + 1] = gi;
        count = prio_fe_add(F, count, gi);
        rp = prio_fe_mul(F, rp, joint_rand[1]);
    }
    prio_fe wr_quad = parallel_sum(c, g, chunk, inp, 2 * r);
    count = prio_fe_sub(F, count, prio_fe_mul(F, prio_fe_from_u64(F, c->wr_successes),
                                              shares_inv));
    /* eval_norm_range_check: v + u = bound. */
    prio_fe range = prio_fe_add(F, decode_bits(F, bits, c->sq_bits),
                                decode_bits(F, bits + c->sq_bits, c->sq_bits));
    range = prio_fe_sub(F, range, prio_fe_mul(F, prio_fe_from_u64(F, c->sq_norm_bound),
                                              shares_inv));
    prio_fe rf = joint_rand[2], rf2 = prio_fe_mul(F, rf, rf), rf3 = prio_fe_mul(F, rf2, rf);
    out[0] = prio_fe_add(F, bit_check, prio_fe_mul(F, rf, range));
    out[0] = prio_fe_add(F, out[0], prio_fe_mul(F, rf2, wr_quad));
    out[0] = prio_fe_add(F, out[0], prio_fe_mul(F, rf3, count));
    free(inp);
    free(chunk);
    return 0;
}

/* PineValidNormEquality.eval: claimed squared norm minus the computed one. */
static int eval_pine_norm(const prio_circuit *c, gadget_ctx *g, prio_fe *out,
                          const prio_fe *meas)
{
    const prio_field *F = c->F;
    prio_fe *chunk = malloc(c->arity * sizeof *chunk);
    if (!chunk)
        return GDN_ENOMEM;
    prio_fe sq = parallel_sum(c, g, chunk, meas, c->dimension);
    out[0] = prio_fe_sub(F, decode_bits(F, meas + c->dimension, c->sq_bits), sq);
    free(chunk);
    return 0;
}

static int circuit_eval(const prio_circuit *c, gadget_ctx *g, prio_fe *out,
                        const prio_fe *meas, const prio_fe *joint_rand, size_t num_shares)
{
    const prio_field *F = c->F;
    prio_fe shares_inv = prio_fe_inv(F, prio_fe_from_u64(F, num_shares));
    int rc = 0;
    switch (c->kind) {
    case PRIO_CIRCUIT_COUNT: {
        prio_fe inp[2] = {meas[0], meas[0]};
        out[0] = prio_fe_sub(F, gadget_call(g, inp), meas[0]);
        break;
    }
    case PRIO_CIRCUIT_HIGHER_DEGREE:
        out[0] = gadget_call(g, meas);
        break;
    case PRIO_CIRCUIT_SUM:
        for (size_t i = 0; i < c->bits; i++)
            out[i] = gadget_call(g, &meas[i]);
        break;
    case PRIO_CIRCUIT_SUMVEC:
        rc = range_check(c, g, &out[0], meas, joint_rand, shares_inv);
        break;
    case PRIO_CIRCUIT_HISTOGRAM: {
        rc = range_check(c, g, &out[0], meas, joint_rand, shares_inv);
        prio_fe s = prio_fe_neg(F, shares_inv);
        for (size_t i = 0; i < c->length; i++)
            s = prio_fe_add(F, s, meas[i]);
        out[1] = s;
        break;
    }
    case PRIO_CIRCUIT_PINE:
        rc = eval_pine(c, g, out, meas, joint_rand, shares_inv);
        break;
    case PRIO_CIRCUIT_PINE_NORM:
        rc = eval_pine_norm(c, g, out, meas);
        break;
    case PRIO_CIRCUIT_MULTIHOT: {
        rc = range_check(c, g, &out[0], meas, joint_rand, shares_inv);
        prio_fe w = prio_fe_zero();
        for (size_t i = 0; i < c->length; i++)
            w = prio_fe_add(F, w, meas[i]);
        out[1] = prio_fe_sub(F, w, decode_range_checked(c, meas + c->length, c->max));
        break;
    }
    }
    return rc;
}

/* ---- Prove, query, decide ----------------------------------------------- */

int prio_flp_rows(const prio_circuit *c, prio_fe *rows, const prio_fe *meas,
                  const prio_fe *seeds, const prio_fe *joint_rand, size_t num_shares)
{
    prio_fe *out = calloc(c->eval_output_len, sizeof *out);
    if (!out)
        return GDN_ENOMEM;
    memcpy(rows, seeds, c->arity * sizeof *rows);
    gadget_ctx g = {c, rows, 0, NULL, 0, NULL, NULL};
    int rc = circuit_eval(c, &g, out, meas, joint_rand, num_shares);
    free(out);
    return rc;
}

/* Wires j0 .. j0 + nw of the rows into w (wire i at w[i p], zero after the
 * last call): 8 at a time, so that each row's cache lines and page serve
 * 8 wires. */
static void gather_wires(const prio_circuit *c, prio_fe *w, const prio_fe *rows, size_t j0,
                         size_t nw)
{
    size_t a = c->arity, p = c->wire_len, nrows = 1 + c->calls;
    for (size_t i = 0; i < nw; i++)
        memset(w + i * p + nrows, 0, (p - nrows) * sizeof *w);
    for (size_t k = 0; k < nrows; k++)
        for (size_t i = 0; i < nw; i++)
            w[i * p + k] = rows[k * a + j0 + i];
}

/* Coset-major values (src[j p + k] at z^j w^k) to the natural order of the
 * n-th roots (index k r + j, r = n / p). */
static void from_cosets(prio_fe *dst, const prio_fe *src, size_t p, size_t r)
{
    for (size_t j = 0; j < r; j++)
        for (size_t k = 0; k < p; k++)
            dst[k * r + j] = src[j * p + k];
}

int prio_flp_prove(const prio_circuit *c, prio_fe *proof, const prio_fe *meas,
                   const prio_fe *prove_rand, const prio_fe *joint_rand)
{
    enum { BLOCK = 8 }; /* wires gathered at once: whole parallel copies */
    const prio_field *F = c->F;
    size_t p = c->wire_len, n = c->eval_len, base = c->gadget == PRIO_GADGET_MUL ? 2 : 1;
    size_t nrows = 1 + c->calls;
    unsigned log_p = log2_exact(p), log_n = log2_exact(n);
    prio_fe *rows = calloc(nrows * c->arity, sizeof *rows);
    prio_fe *wb = malloc(BLOCK * p * sizeof *wb);
    prio_fe *acc = calloc(n, sizeof *acc);
    prio_fe *w = calloc(base * n, sizeof *w);
    prio_lde lde;
    int rc = prio_lde_init(&lde, F, log_p, log_n);
    if (!rc && (!rows || !wb || !acc || !w))
        rc = GDN_ENOMEM;
    if (rc || (rc = prio_flp_rows(c, rows, meas, prove_rand, joint_rand, 1)))
        goto done;
    prio_fe pc[4];
    if (c->gadget != PRIO_GADGET_MUL)
        poly_coeffs(c, pc);
    /* The gadget polynomial at the n-th roots of unity: each wire's values
     * at the p-th roots extended to the n-th roots (the known ones plus
     * n/p - 1 cosets), and the gadget applied pointwise, one parallel copy
     * at a time (§7.3.3). */
    for (size_t j0 = 0; j0 < c->arity; j0 += BLOCK) {
        size_t nw = c->arity - j0 < BLOCK ? c->arity - j0 : BLOCK;
        gather_wires(c, wb, rows, j0, nw);
        for (size_t i = 0; i < nw; i += base) {
            for (size_t b = 0; b < base; b++)
                prio_lde_run(&lde, w + b * n, wb + (i + b) * p);
            if (c->gadget == PRIO_GADGET_MUL)
                prio_vec_mul_acc(F, acc, w, w + n, n);
            else
                prio_vec_poly_acc(F, acc, w, pc, c->poly_len, n);
        }
    }
    from_cosets(w, acc, p, n / p);
    if (c->coeff_proof) /* draft 11: coefficients (degree < gadget_poly_len <= n) */
        prio_ntt_run(&lde.tab, w, log_n, 1);
    for (size_t j = 0; j < c->arity; j++)
        proof[j] = prove_rand[j];
    memcpy(proof + c->arity, w, c->gadget_poly_len * sizeof *w);
done:
    if (rows)
        prio_wipe(rows, nrows * c->arity * sizeof *rows);
    if (wb)
        prio_wipe(wb, BLOCK * p * sizeof *wb);
    if (acc)
        prio_wipe(acc, n * sizeof *acc);
    if (w)
        prio_wipe(w, base * n * sizeof *w);
    prio_lde_free(&lde);
    free(rows);
    free(wb);
    free(acc);
    free(w);
    return rc;
}

/* Completes the gadget polynomial's values from the gadget_poly_len given
 * ones to all eval_len roots (the polynomial of degree < gadget_poly_len
 * through them). With one missing value, the top coefficient vanishes:
 * sum_i y_i w^i = 0 over all i. */
static int extend_values(const prio_circuit *c, prio_fe *y)
{
    const prio_field *F = c->F;
    size_t n = c->eval_len, L = c->gadget_poly_len;
    if (n == L)
        return 0;
    if (n != L + 1)
        return gdn_error(GDN_EINTERNAL, "prio: gadget degree %zu not supported", c->degree);
    prio_fe w = prio_root_of_unity(F, log2_exact(n)), wi = prio_fe_one(F);
    prio_fe s = prio_fe_zero();
    for (size_t i = 0; i < L; i++) {
        s = prio_fe_add(F, s, prio_fe_mul(F, y[i], wi));
        wi = prio_fe_mul(F, wi, w);
    }
    y[L] = prio_fe_neg(F, prio_fe_mul(F, s, w)); /* w^-(n-1) = w */
    return 0;
}

int prio_flp_query(const prio_circuit *c, prio_fe *verifier, const prio_fe *meas,
                   const prio_fe *proof, const prio_fe *query_rand,
                   const prio_fe *joint_rand, size_t num_shares)
{
    const prio_field *F = c->F;
    size_t p = c->wire_len, n = c->eval_len;
    unsigned log_p = log2_exact(p), log_n = log2_exact(n);
    prio_fe t = query_rand[c->eval_output_len > 1 ? c->eval_output_len : 0];
    prio_fe *out = calloc(c->eval_output_len, sizeof *out);
    prio_fe *vals = calloc(n, sizeof *vals);
    prio_fe *wts = calloc(n, sizeof *wts);
    prio_rows_sum *sum = prio_rows_sum_new(F, c->arity);
    int rc = GDN_ENOMEM;
    if (!out || !vals || !wts || !sum)
        goto done;
    /* §7.3.4: reject a test point that is a p-th root of unity. */
    uint64_t e[2] = {(uint64_t)p, 0};
    if (prio_fe_eq(prio_fe_pow(F, t, e), prio_fe_one(F))) {
        rc = gdn_error(GDN_ECRYPTO, "prio: query point is a root of unity");
        goto done;
    }
    /* Each wire at t from its values at the p-th roots (the seed, the
     * calls' inputs, zeros): barycentric weights shared by all wires, each
     * call's inputs added as they come, no interpolation. */
    prio_bary_weights(F, wts, log_p, t);
    prio_rows_sum_add(sum, proof, wts[0]); /* the wire seeds */
    memcpy(vals, proof + c->arity, c->gadget_poly_len * sizeof *vals);
    if (c->coeff_proof) /* draft 11: the gadget outputs are its values at alpha^k */
        rc = prio_ntt(F, vals, log_n);
    else
        rc = extend_values(c, vals);
    if (rc)
        goto done;
    gadget_ctx g = {c, NULL, 0, vals, n / p, sum, wts};
    if ((rc = circuit_eval(c, &g, out, meas, joint_rand, num_shares)))
        goto done;
    verifier[0] = out[0];
    if (c->eval_output_len > 1) {
        verifier[0] = prio_fe_zero();
        for (size_t i = 0; i < c->eval_output_len; i++)
            verifier[0] = prio_fe_add(F, verifier[0], prio_fe_mul(F, query_rand[i], out[i]));
    }
    prio_rows_sum_get(sum, verifier + 1);
    if (c->coeff_proof) { /* the proof holds the coefficients: Horner */
        verifier[1 + c->arity] = prio_poly_eval(F, proof + c->arity, c->gadget_poly_len, t);
    } else { /* draft 20: from its values at the n-th roots, as the wires */
        prio_bary_weights(F, wts, log_n, t);
        verifier[1 + c->arity] = prio_vec_dot(F, vals, wts, n);
    }
done:
    if (vals)
        prio_wipe(vals, n * sizeof *vals);
    prio_rows_sum_free(sum);
    free(out);
    free(vals);
    free(wts);
    return rc;
}

int prio_flp_decide(const prio_circuit *c, const prio_fe *verifier)
{
    int ok = prio_fe_eq(verifier[0], prio_fe_zero());
    ok &= prio_fe_eq(gadget_eval(c, verifier + 1), verifier[1 + c->arity]);
    return ok;
}
