/* he: homomorphic evaluation: additions, products, rescaling, and hybrid key
 * switching for relinearization and rotations. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "he/he_internal.h"

/* ---- Checks --------------------------------------------------------------- */

static void fmt_scale(char *buf, size_t len, double s)
{
    double l = log2(s);
    if (fabs(l - round(l)) < 1e-9)
        snprintf(buf, len, "2^%.0f", l);
    else
        snprintf(buf, len, "2^%.4f", l);
}

static int scales_equal(double a, double b)
{
    return fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b));
}

static int check_pair(const char *op, const gdn_ckks_ctx *ca, const gdn_ckks_ctx *cb,
                      unsigned la, unsigned lb, double sa, double sb, int need_scale)
{
    char x[32], y[32];
    if (ca != cb)
        return gdn_error(GDN_EINVAL, "ckks %s: operands of different contexts", op);
    fmt_scale(x, sizeof x, sa);
    fmt_scale(y, sizeof y, sb);
    if (need_scale && !scales_equal(sa, sb))
        return gdn_error(GDN_EINVAL, "ckks %s: scale mismatch: %s vs %s at levels %u and %u",
                         op, x, y, la, lb);
    if (la != lb)
        return gdn_error(GDN_EINVAL,
                         "ckks %s: level mismatch: %u vs %u (scales %s and %s); bring the "
                         "higher one down with gdn_ckks_drop_level or gdn_ckks_rescale",
                         op, la, lb, x, y);
    return 0;
}

static int prepare_out(gdn_ckks_ct *out, const gdn_ckks_ct *a, unsigned size)
{
    if (out->ctx != a->ctx)
        return gdn_error(GDN_EINVAL, "ckks: output of a different context");
    return he_ct_reserve(out, size) ? GDN_ENOMEM : 0;
}

/* A rounded double (|x| < 2^1023) mod q, exactly: x = mant 2^e. */
static uint64_t double_mod(double x, const he_mod *m)
{
    double a = fabs(x);
    uint64_t r;
    if (a < 0x1p63) {
        r = he_red64((uint64_t)a, m);
    } else {
        int e;
        double f = frexp(a, &e);
        uint64_t mant = (uint64_t)ldexp(f, 53);
        r = he_mul(he_red64(mant, m), he_pow(2, (uint64_t)(e - 53), m), m);
    }
    return x < 0 ? he_neg(r, m->q) : r;
}

/* ---- Additive operations ---------------------------------------------------- */

static int add_sub(gdn_ckks_ct *out, const gdn_ckks_ct *a, const gdn_ckks_ct *b, int sub,
                   const char *op)
{
    const gdn_ckks_ctx *c = a->ctx;
    unsigned size = a->size > b->size ? a->size : b->size;
    int rc = check_pair(op, a->ctx, b->ctx, a->level, b->level, a->scale, b->scale, 1);
    if (rc || (rc = prepare_out(out, a, size)))
        return rc;
    for (unsigned k = 0; k < size; k++)
        for (unsigned i = 0; i <= a->level; i++) {
            uint64_t q = c->ntt[i].m.q, *o = he_ct_poly(out, k, i);
            const uint64_t *x = k < a->size ? he_ct_poly(a, k, i) : NULL;
            const uint64_t *y = k < b->size ? he_ct_poly(b, k, i) : NULL;
            for (size_t j = 0; j < c->n; j++) {
                uint64_t u = x ? x[j] : 0, v = y ? y[j] : 0;
                o[j] = sub ? he_sub(u, v, q) : he_add(u, v, q);
            }
        }
    out->size = size;
    out->level = a->level;
    out->scale = a->scale;
    out->seeded = 0;
    return 0;
}

int gdn_ckks_add(gdn_ckks_ct *out, const gdn_ckks_ct *a, const gdn_ckks_ct *b)
{
    return add_sub(out, a, b, 0, "add");
}

int gdn_ckks_sub(gdn_ckks_ct *out, const gdn_ckks_ct *a, const gdn_ckks_ct *b)
{
    return add_sub(out, a, b, 1, "sub");
}

int gdn_ckks_negate(gdn_ckks_ct *out, const gdn_ckks_ct *a)
{
    const gdn_ckks_ctx *c = a->ctx;
    int rc = prepare_out(out, a, a->size);
    if (rc)
        return rc;
    for (unsigned k = 0; k < a->size; k++)
        for (unsigned i = 0; i <= a->level; i++) {
            uint64_t q = c->ntt[i].m.q, *o = he_ct_poly(out, k, i);
            const uint64_t *x = he_ct_poly(a, k, i);
            for (size_t j = 0; j < c->n; j++)
                o[j] = he_neg(x[j], q);
        }
    out->size = a->size;
    out->level = a->level;
    out->scale = a->scale;
    out->seeded = 0;
    return 0;
}

int gdn_ckks_add_pt(gdn_ckks_ct *out, const gdn_ckks_ct *a, const gdn_ckks_pt *b)
{
    const gdn_ckks_ctx *c = a->ctx;
    int rc = check_pair("add_pt", a->ctx, b->ctx, a->level, b->level, a->scale, b->scale, 1);
    if (rc || (rc = gdn_ckks_ct_copy(out, a)))
        return rc;
    for (unsigned i = 0; i <= a->level; i++) {
        uint64_t q = c->ntt[i].m.q, *o = he_ct_poly(out, 0, i);
        const uint64_t *y = b->data + (size_t)i * c->n;
        for (size_t j = 0; j < c->n; j++)
            o[j] = he_add(o[j], y[j], q);
    }
    out->seeded = 0;
    return 0;
}

int gdn_ckks_add_const(gdn_ckks_ct *out, const gdn_ckks_ct *a, double x)
{
    const gdn_ckks_ctx *c = a->ctx;
    double v = round(x * a->scale);
    int rc;
    if (!isfinite(v) || fabs(v) >= 0x1p1000)
        return gdn_error(GDN_ERANGE, "ckks add_const: %g at scale %g is out of range", x,
                         a->scale);
    if ((rc = gdn_ckks_ct_copy(out, a)))
        return rc;
    /* A constant polynomial has the same value at every NTT point. */
    for (unsigned i = 0; i <= a->level; i++) {
        const he_mod *m = &c->ntt[i].m;
        uint64_t r = double_mod(v, m), *o = he_ct_poly(out, 0, i);
        for (size_t j = 0; j < c->n; j++)
            o[j] = he_add(o[j], r, m->q);
    }
    out->seeded = 0;
    return 0;
}

/* ---- Products ---------------------------------------------------------------- */

int gdn_ckks_mul(gdn_ckks_ct *out, const gdn_ckks_ct *a, const gdn_ckks_ct *b)
{
    const gdn_ckks_ctx *c = a->ctx;
    int rc = check_pair("mul", a->ctx, b->ctx, a->level, b->level, a->scale, b->scale, 0);
    if (rc)
        return rc;
    if (a->size != 2 || b->size != 2)
        return gdn_error(GDN_EINVAL, "ckks mul: operands of sizes %u and %u, expected 2 "
                                     "(relinearize first)", a->size, b->size);
    if ((rc = prepare_out(out, a, 3)))
        return rc;
    for (unsigned i = 0; i <= a->level; i++) {
        const he_mod *m = &c->ntt[i].m;
        const uint64_t *a0 = he_ct_poly(a, 0, i), *a1 = he_ct_poly(a, 1, i);
        const uint64_t *b0 = he_ct_poly(b, 0, i), *b1 = he_ct_poly(b, 1, i);
        uint64_t *o0 = he_ct_poly(out, 0, i), *o1 = he_ct_poly(out, 1, i);
        uint64_t *o2 = he_ct_poly(out, 2, i);
#if HE_X86
        if (he_simd() >= 2 && c->ntt[i].w52) {
            he_mul3_ifma(o0, o1, o2, a0, a1, b0, b1, c->n, m);
            continue;
        }
#endif
        for (size_t j = 0; j < c->n; j++) {
            uint64_t x0 = a0[j], x1 = a1[j], y0 = b0[j], y1 = b1[j];
            o0[j] = he_mul(x0, y0, m);
            o1[j] = he_red128((he_u128)x0 * y1 + (he_u128)x1 * y0, m);
            o2[j] = he_mul(x1, y1, m);
        }
    }
    out->size = 3;
    out->level = a->level;
    out->scale = a->scale * b->scale;
    out->seeded = 0;
    return 0;
}

int gdn_ckks_mul_pt(gdn_ckks_ct *out, const gdn_ckks_ct *a, const gdn_ckks_pt *b)
{
    const gdn_ckks_ctx *c = a->ctx;
    int rc = check_pair("mul_pt", a->ctx, b->ctx, a->level, b->level, a->scale, b->scale, 0);
    if (rc || (rc = prepare_out(out, a, a->size)))
        return rc;
    for (unsigned k = 0; k < a->size; k++)
        for (unsigned i = 0; i <= a->level; i++) {
            const he_mod *m = &c->ntt[i].m;
            const uint64_t *x = he_ct_poly(a, k, i), *y = b->data + (size_t)i * c->n;
            uint64_t *o = he_ct_poly(out, k, i);
            for (size_t j = 0; j < c->n; j++)
                o[j] = he_mul(x[j], y[j], m);
        }
    out->size = a->size;
    out->level = a->level;
    out->scale = a->scale * b->scale;
    out->seeded = 0;
    return 0;
}

int gdn_ckks_mul_const(gdn_ckks_ct *out, const gdn_ckks_ct *a, double x, double x_scale)
{
    const gdn_ckks_ctx *c = a->ctx;
    double s = x_scale > 0 ? x_scale : (double)c->ntt[a->level].m.q;
    double v = round(x * s);
    int rc;
    if (!isfinite(v) || fabs(v) >= 0x1p1000)
        return gdn_error(GDN_ERANGE, "ckks mul_const: %g at scale %g is out of range", x, s);
    if ((rc = prepare_out(out, a, a->size)))
        return rc;
    for (unsigned i = 0; i <= a->level; i++) {
        const he_mod *m = &c->ntt[i].m;
        uint64_t w = double_mod(v, m), ws = he_shoup(w, m->q);
        for (unsigned k = 0; k < a->size; k++) {
            const uint64_t *y = he_ct_poly(a, k, i);
            uint64_t *o = he_ct_poly(out, k, i);
            for (size_t j = 0; j < c->n; j++)
                o[j] = he_mul_shoup(y[j], w, ws, m->q);
        }
    }
    out->size = a->size;
    out->level = a->level;
    out->scale = a->scale * s;
    out->seeded = 0;
    return 0;
}

/* ---- Rescaling ---------------------------------------------------------------- */

int gdn_ckks_rescale(gdn_ckks_ct *out, const gdn_ckks_ct *a)
{
    const gdn_ckks_ctx *c = a->ctx;
    size_t n = c->n;
    unsigned l = a->level;
    int rc;

    if (l == 0)
        return gdn_error(GDN_ESTATE, "ckks rescale: the ciphertext is at level 0");
    if ((rc = prepare_out(out, a, a->size)))
        return rc;
    uint64_t *last = gdn_alloc_aligned(n * 8), *t = gdn_alloc_aligned(n * 8);
    if (!last || !t) {
        gdn_free_aligned(last), gdn_free_aligned(t);
        return GDN_ENOMEM;
    }
    const he_mod *ml = &c->ntt[l].m;
    uint64_t half = ml->q >> 1;
    for (unsigned k = 0; k < a->size; k++) {
        memcpy(last, he_ct_poly(a, k, l), n * 8);
        he_ntt_inverse(&c->ntt[l], last);
        for (unsigned i = 0; i < l; i++) {
            const he_mod *m = &c->ntt[i].m;
            uint64_t qlm = he_red64(ml->q, m);
            /* The centered residue of c mod q_l, so that the division rounds. */
            for (size_t j = 0; j < n; j++) {
                uint64_t v = last[j], r = he_red64(v, m);
                uint64_t big = (uint64_t)0 - (uint64_t)(v > half);
                t[j] = he_sub(r, qlm & big, m->q);
            }
            he_ntt_forward(&c->ntt[i], t);
            uint64_t w = c->rinv[l * c->nq + i], ws = c->rinvs[l * c->nq + i];
            const uint64_t *x = he_ct_poly(a, k, i);
            uint64_t *o = he_ct_poly(out, k, i);
#if HE_X86
            if (he_simd() >= 2 && c->ntt[i].w52) {
                he_sub_mul_ifma(o, x, t, w, (uint64_t)(((he_u128)w << 52) / m->q), n, m, 0);
                continue;
            }
#endif
            for (size_t j = 0; j < n; j++)
                o[j] = he_mul_shoup(x[j] + m->q - t[j], w, ws, m->q);
        }
    }
    gdn_free_aligned(last);
    gdn_free_aligned(t);
    out->size = a->size;
    out->level = l - 1;
    out->scale = a->scale / (double)ml->q;
    out->seeded = 0;
    return 0;
}

int gdn_ckks_drop_level(gdn_ckks_ct *out, const gdn_ckks_ct *a, unsigned level)
{
    int rc;
    if (level > a->level)
        return gdn_error(GDN_EINVAL, "ckks drop_level: target level %u above the "
                                     "ciphertext's %u", level, a->level);
    if ((rc = gdn_ckks_ct_copy(out, a)))
        return rc;
    out->level = level;
    out->seeded = 0;
    return 0;
}

/* ---- Hybrid key switching (Han-Ki, CT-RSA 2020, §3) ----------------------------
 * At level l the extended basis has l + 1 + K slots: q_0..q_l, then p_0..p_{K-1}. */

static unsigned slot_prime(const gdn_ckks_ctx *c, unsigned l, unsigned s)
{
    return s <= l ? s : c->nq + (s - l - 1);
}

/* ModUp: digit j of d (NTT form over q_0..q_l) raised to the extended basis,
 * NTT form, into ext + j * slots * N. Returns the number of digits. */
static int mod_up(uint64_t *ext, unsigned *ndig, const gdn_ckks_ctx *c, const uint64_t *d,
                  unsigned l)
{
    size_t n = c->n;
    unsigned slots = l + 1 + c->np, nd = (l + c->alpha) / c->alpha;
    uint64_t *coef = gdn_alloc_aligned((size_t)c->alpha * n * 8);
    unsigned src[GDN_CKKS_MAX_PRIMES], dst[GDN_CKKS_MAX_PRIMES + GDN_CKKS_MAX_SPECIAL];
    const uint64_t *in[GDN_CKKS_MAX_PRIMES];
    uint64_t *out[GDN_CKKS_MAX_PRIMES + GDN_CKKS_MAX_SPECIAL];
    int rc = 0;

    if (!coef)
        return GDN_ENOMEM;
    for (unsigned j = 0; j < nd && !rc; j++) {
        unsigned lo = j * c->alpha, hi = lo + c->alpha > l + 1 ? l + 1 : lo + c->alpha;
        unsigned ns = hi - lo, nt = 0;
        uint64_t *e = ext + (size_t)j * slots * n;
        for (unsigned i = 0; i < ns; i++) {
            src[i] = lo + i;
            in[i] = coef + (size_t)i * n;
            memcpy(coef + (size_t)i * n, d + (size_t)(lo + i) * n, n * 8);
            he_ntt_inverse(&c->ntt[lo + i], coef + (size_t)i * n);
            memcpy(e + (size_t)(lo + i) * n, d + (size_t)(lo + i) * n, n * 8);
        }
        for (unsigned s = 0; s < slots; s++)
            if (s < lo || s >= hi) {
                dst[nt] = slot_prime(c, l, s);
                out[nt++] = e + (size_t)s * n;
            }
        rc = he_base_conv(out, dst, nt, in, src, ns, c);
        for (unsigned t = 0; t < nt && !rc; t++)
            he_ntt_forward(&c->ntt[dst[t]], out[t]);
    }
    gdn_free_aligned(coef);
    *ndig = nd;
    return rc;
}

/* acc0/acc1 (extended basis) = sum_j perm(ext_j) * (b_j, a_j), the keys of
 * a permutation being stored permuted (he_internal.h): the products are in
 * order and only the two sums are permuted. */
static int ks_inner(uint64_t *acc0, uint64_t *acc1, const uint64_t *ext, unsigned nd,
                    unsigned l, const gdn_ckks_swk *k, const uint32_t *perm)
{
    const gdn_ckks_ctx *c = k->ctx;
    size_t n = c->n;
    unsigned slots = l + 1 + c->np, total = c->nq + c->np;
    uint64_t *tmp = perm ? gdn_alloc_aligned(n * 8) : NULL;
    if (perm && !tmp)
        return GDN_ENOMEM;
    for (unsigned s = 0; s < slots; s++) {
        unsigned p = slot_prime(c, l, s);
        const he_mod *m = &c->ntt[p].m;
        uint64_t *o0 = acc0 + (size_t)s * n, *o1 = acc1 + (size_t)s * n;
        const uint64_t *e[32], *kb[32], *ka[32];
        for (unsigned j = 0; j < nd; j++) {
            e[j] = ext + ((size_t)j * slots + s) * n;
            kb[j] = k->b + ((size_t)j * total + p) * n;
            ka[j] = k->a + ((size_t)j * total + p) * n;
        }
#if HE_X86
        if (he_simd() >= 2 && c->ntt[p].w52 && nd <= 15)
            he_dot_ifma(o0, o1, e, kb, ka, nd, n, NULL, m);
        else
#endif
            for (size_t x = 0; x < n; x++) {
                he_u128 s0 = 0, s1 = 0;
                for (unsigned j = 0; j < nd; j++) {
                    uint64_t v = e[j][x];
                    s0 += (he_u128)v * kb[j][x];
                    s1 += (he_u128)v * ka[j][x];
                }
                o0[x] = he_red128(s0, m);
                o1[x] = he_red128(s1, m);
            }
        if (perm)
            for (int h = 0; h < 2; h++) {
                uint64_t *o = h ? o1 : o0;
                for (size_t x = 0; x < n; x++)
                    tmp[x] = o[perm[x]];
                memcpy(o, tmp, n * 8);
            }
    }
    gdn_free_aligned(tmp);
    return 0;
}

/* ModDown: out (q_0..q_l, NTT) = (acc - [acc]_P) / P, rounded by the fast
 * conversion of [acc]_P (Han-Ki 2020, Algorithm 2). out += that when add. */
int he_mod_down(uint64_t *out, uint64_t *acc, const gdn_ckks_ctx *c, unsigned l, int add)
{
    size_t n = c->n;
    unsigned np = c->np;
    uint64_t *conv = gdn_alloc_aligned((size_t)(l + 1) * n * 8);
    unsigned src[GDN_CKKS_MAX_SPECIAL], dst[GDN_CKKS_MAX_PRIMES];
    const uint64_t *in[GDN_CKKS_MAX_SPECIAL];
    uint64_t *outs[GDN_CKKS_MAX_PRIMES];
    int rc;

    if (!conv)
        return GDN_ENOMEM;
    for (unsigned k = 0; k < np; k++) {
        uint64_t *x = acc + (size_t)(l + 1 + k) * n;
        he_ntt_inverse(&c->ntt[c->nq + k], x);
        src[k] = c->nq + k;
        in[k] = x;
    }
    for (unsigned i = 0; i <= l; i++) {
        dst[i] = i;
        outs[i] = conv + (size_t)i * n;
    }
    rc = he_base_conv(outs, dst, l + 1, in, src, np, c);
    for (unsigned i = 0; i <= l && !rc; i++) {
        const he_mod *m = &c->ntt[i].m;
        uint64_t *t = conv + (size_t)i * n, *a = acc + (size_t)i * n, *o = out + (size_t)i * n;
        he_ntt_forward(&c->ntt[i], t);
#if HE_X86
        if (he_simd() >= 2 && c->ntt[i].w52) {
            uint64_t w52 = (uint64_t)(((he_u128)c->pinv[i] << 52) / m->q);
            he_sub_mul_ifma(o, a, t, c->pinv[i], w52, n, m, add);
            continue;
        }
#endif
        for (size_t j = 0; j < n; j++) {
            uint64_t v = he_mul_shoup(a[j] + m->q - t[j], c->pinv[i], c->pinvs[i], m->q);
            o[j] = add ? he_add(o[j], v, m->q) : v;
        }
    }
    gdn_free_aligned(conv);
    return rc;
}

/* Key switching of the decomposed ext: out0 += ks0, out1 = ks1 (+ old when add1). */
static int ks_finish(uint64_t *out0, uint64_t *out1, int add1, const uint64_t *ext,
                     unsigned nd, unsigned l, const gdn_ckks_swk *k, const uint32_t *perm)
{
    const gdn_ckks_ctx *c = k->ctx;
    size_t sz = (size_t)(l + 1 + c->np) * c->n * 8;
    uint64_t *acc0 = gdn_alloc_aligned(sz), *acc1 = gdn_alloc_aligned(sz);
    int rc;
    if (!acc0 || !acc1) {
        gdn_free_aligned(acc0), gdn_free_aligned(acc1);
        return GDN_ENOMEM;
    }
    rc = ks_inner(acc0, acc1, ext, nd, l, k, perm);
    if (!rc)
        rc = he_mod_down(out0, acc0, c, l, 1);
    if (!rc)
        rc = he_mod_down(out1, acc1, c, l, add1);
    gdn_free_aligned(acc0);
    gdn_free_aligned(acc1);
    return rc;
}

static uint64_t *alloc_ext(const gdn_ckks_ctx *c, unsigned l)
{
    unsigned nd = (l + c->alpha) / c->alpha;
    return gdn_alloc_aligned((size_t)nd * (l + 1 + c->np) * c->n * 8);
}

int gdn_ckks_relinearize(gdn_ckks_ct *out, const gdn_ckks_ct *a, const gdn_ckks_swk *rlk)
{
    const gdn_ckks_ctx *c = a->ctx;
    unsigned l = a->level, nd;
    int rc;

    if (rlk->ctx != c)
        return gdn_error(GDN_EINVAL, "ckks relinearize: key of a different context");
    if (a->size == 2)
        return gdn_ckks_ct_copy(out, a);
    if ((rc = gdn_ckks_ct_copy(out, a)))
        return rc;
    uint64_t *ext = alloc_ext(c, l);
    if (!ext)
        return GDN_ENOMEM;
    rc = mod_up(ext, &nd, c, he_ct_poly(out, 2, 0), l);
    if (!rc)
        rc = ks_finish(he_ct_poly(out, 0, 0), he_ct_poly(out, 1, 0), 1, ext, nd, l, rlk, NULL);
    gdn_free_aligned(ext);
    out->size = 2;
    out->seeded = 0;
    return rc;
}

int gdn_ckks_mul_relin(gdn_ckks_ct *out, const gdn_ckks_ct *a, const gdn_ckks_ct *b,
                       const gdn_ckks_swk *rlk)
{
    int rc = gdn_ckks_mul(out, a, b);
    return rc ? rc : gdn_ckks_relinearize(out, out, rlk);
}

static int find_key(size_t *idx, const gdn_ckks_gk *gk, uint64_t elt, const char *what, int step)
{
    for (size_t i = 0; i < gk->count; i++)
        if (gk->galois[i] == elt) {
            *idx = i;
            return 0;
        }
    if (step == 0 && elt != 1)
        return gdn_error(GDN_EINVAL, "ckks %s: no Galois key for conjugation", what);
    return gdn_error(GDN_EINVAL, "ckks %s: no Galois key for a rotation by %d (element %llu)",
                     what, step, (unsigned long long)elt);
}

/* out = sigma_g(a) key-switched back to s, with ext the ModUp of a's c1. */
static int apply_galois(gdn_ckks_ct *out, const gdn_ckks_ct *a, const uint64_t *ext,
                        unsigned nd, const gdn_ckks_gk *gk, size_t ki)
{
    const gdn_ckks_ctx *c = a->ctx;
    size_t n = c->n;
    unsigned l = a->level;
    const uint32_t *perm = gk->perm[ki];
    int rc = prepare_out(out, a, 2);
    if (rc)
        return rc;
    if (out != a)
        for (unsigned i = 0; i <= l; i++) {
            const uint64_t *x = he_ct_poly(a, 0, i);
            uint64_t *o = he_ct_poly(out, 0, i);
            for (size_t j = 0; j < n; j++)
                o[j] = x[perm[j]];
        }
    else {
        uint64_t *t = gdn_alloc_aligned(n * 8);
        if (!t)
            return GDN_ENOMEM;
        for (unsigned i = 0; i <= l; i++) {
            uint64_t *o = he_ct_poly(out, 0, i);
            for (size_t j = 0; j < n; j++)
                t[j] = o[perm[j]];
            memcpy(o, t, n * 8);
        }
        gdn_free_aligned(t);
    }
    rc = ks_finish(he_ct_poly(out, 0, 0), he_ct_poly(out, 1, 0), 0, ext, nd, l, gk->keys[ki],
                   perm);
    out->size = 2;
    out->level = l;
    out->scale = a->scale;
    out->seeded = 0;
    return rc;
}

static int galois_many(gdn_ckks_ct *const *out, const gdn_ckks_ct *a, const uint64_t *elts,
                       const int *steps, size_t count, const gdn_ckks_gk *gk, const char *what)
{
    const gdn_ckks_ctx *c = a->ctx;
    unsigned nd;
    int rc = 0;

    if (gk->ctx != c)
        return gdn_error(GDN_EINVAL, "ckks %s: keys of a different context", what);
    if (a->size != 2)
        return gdn_error(GDN_EINVAL, "ckks %s: ciphertext of size %u (relinearize first)", what,
                         a->size);
    size_t *idx = malloc((count ? count : 1) * sizeof *idx);
    if (!idx)
        return GDN_ENOMEM;
    for (size_t k = 0; k < count && !rc; k++) {
        idx[k] = (size_t)-1; /* the identity */
        if (elts[k] != 1)
            rc = find_key(&idx[k], gk, elts[k], what, steps ? steps[k] : 0);
    }
    uint64_t *ext = rc ? NULL : alloc_ext(c, a->level);
    if (!rc && !ext)
        rc = GDN_ENOMEM;
    if (!rc)
        rc = mod_up(ext, &nd, c, he_ct_poly(a, 1, 0), a->level);
    /* Outputs aliasing a are written last, after every other has used a. */
    size_t alias = count;
    for (size_t k = 0; k < count && !rc; k++) {
        if (out[k] == a) {
            alias = k;
            continue;
        }
        rc = idx[k] == (size_t)-1 ? gdn_ckks_ct_copy(out[k], a)
                                  : apply_galois(out[k], a, ext, nd, gk, idx[k]);
    }
    if (!rc && alias < count && idx[alias] != (size_t)-1)
        rc = apply_galois(out[alias], a, ext, nd, gk, idx[alias]);
    gdn_free_aligned(ext);
    free(idx);
    return rc;
}

int gdn_ckks_rotate(gdn_ckks_ct *out, const gdn_ckks_ct *a, int step, const gdn_ckks_gk *gk)
{
    uint64_t elt = he_galois_elt(a->ctx, step);
    return galois_many(&out, a, &elt, &step, 1, gk, "rotate");
}

int gdn_ckks_conjugate(gdn_ckks_ct *out, const gdn_ckks_ct *a, const gdn_ckks_gk *gk)
{
    uint64_t elt = 2 * (uint64_t)a->ctx->n - 1;
    return galois_many(&out, a, &elt, NULL, 1, gk, "conjugate");
}

int gdn_ckks_rotate_hoisted(gdn_ckks_ct *const *out, const gdn_ckks_ct *a, const int *steps,
                            size_t nsteps, const gdn_ckks_gk *gk)
{
    uint64_t *elts = malloc((nsteps ? nsteps : 1) * sizeof *elts);
    int rc;
    if (!elts)
        return GDN_ENOMEM;
    for (size_t k = 0; k < nsteps; k++)
        elts[k] = he_galois_elt(a->ctx, steps[k]);
    rc = galois_many(out, a, elts, steps, nsteps, gk, "rotate_hoisted");
    free(elts);
    return rc;
}
