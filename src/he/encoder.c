/* he: CKKS encoding through the canonical embedding (Cheon-Kim-Kim-Song 2017
 * §3.2-3.3). Slot j is the value at zeta^(5^j), zeta = exp(i pi / N). With
 * w_k = m_k + i m_(k+N/2), m(zeta^(5^j)) = sum_k w_k zeta^(5^j k) (zeta^(N/2)
 * 5^j is i), a length-N/2 transform that the "special FFT" of the HEAAN paper
 * computes in O(N log N) over the orbit of 5. */
#include <complex.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "he/he_internal.h"

static void bit_reverse(double complex *v, size_t n)
{
    for (size_t i = 1, j = 0; i < n; i++) {
        size_t bit = n >> 1;
        for (; j & bit; bit >>= 1)
            j ^= bit;
        j ^= bit;
        if (i < j) {
            double complex t = v[i];
            v[i] = v[j];
            v[j] = t;
        }
    }
}

static double complex root(const gdn_ckks_ctx *c, size_t k)
{
    return c->roots_re[k] + I * c->roots_im[k];
}

/* Evaluations from the packed coefficients w (decoding). */
static void fft_special(double complex *v, size_t nh, const gdn_ckks_ctx *c)
{
    size_t m = 2 * c->n;
    bit_reverse(v, nh);
    for (size_t len = 2; len <= nh; len <<= 1) {
        size_t lenh = len >> 1, lenq = len << 2;
        for (size_t i = 0; i < nh; i += len)
            for (size_t j = 0; j < lenh; j++) {
                size_t idx = (c->rot_group[j] % lenq) * (m / lenq);
                double complex u = v[i + j], w = v[i + j + lenh] * root(c, idx);
                v[i + j] = u + w;
                v[i + j + lenh] = u - w;
            }
    }
}

/* Its inverse (encoding). */
static void fft_special_inv(double complex *v, size_t nh, const gdn_ckks_ctx *c)
{
    size_t m = 2 * c->n;
    for (size_t len = nh; len >= 2; len >>= 1) {
        size_t lenh = len >> 1, lenq = len << 2;
        for (size_t i = 0; i < nh; i += len)
            for (size_t j = 0; j < lenh; j++) {
                size_t idx = (lenq - c->rot_group[j] % lenq) * (m / lenq);
                double complex u = v[i + j] + v[i + j + lenh];
                double complex w = (v[i + j] - v[i + j + lenh]) * root(c, idx);
                v[i + j] = u;
                v[i + j + lenh] = w;
            }
    }
    bit_reverse(v, nh);
    for (size_t i = 0; i < nh; i++)
        v[i] /= (double)nh;
}

int gdn_ckks_encode(gdn_ckks_pt *pt, const double *re, const double *im, size_t n,
                    unsigned level, double scale)
{
    const gdn_ckks_ctx *c = pt->ctx;
    size_t nh = c->n / 2, N = c->n;
    double complex *v;
    int64_t *coef;
    int rc = 0;

    if (n > nh)
        return gdn_error(GDN_EINVAL, "ckks encode: %zu values, at most %zu slots", n, nh);
    if (level >= c->nq)
        return gdn_error(GDN_EINVAL, "ckks encode: level %u above the top level %u", level,
                         c->nq - 1);
    if (!(scale >= 1.0))
        return gdn_error(GDN_EINVAL, "ckks encode: scale %g below 1", scale);
    v = calloc(nh, sizeof *v);
    coef = malloc(N * sizeof *coef);
    if (!v || !coef) {
        rc = GDN_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = re[i] + I * (im ? im[i] : 0.0);
    fft_special_inv(v, nh, c);
    for (size_t i = 0; i < nh; i++) {
        double a = round(creal(v[i]) * scale), b = round(cimag(v[i]) * scale);
        if (!(fabs(a) < 0x1p62) || !(fabs(b) < 0x1p62)) {
            rc = gdn_error(GDN_ERANGE,
                           "ckks encode: coefficient %.3g exceeds 2^62 (values too large "
                           "for scale 2^%.4g)",
                           fabs(a) > fabs(b) ? a : b, log2(scale));
            goto out;
        }
        coef[i] = (int64_t)a;
        coef[i + nh] = (int64_t)b;
    }
    he_int_to_ntt(pt->data, c, coef, 0, level + 1);
    pt->level = level;
    pt->scale = scale;
out:
    free(v);
    free(coef);
    return rc;
}

/* ---- CRT reconstruction of centered coefficients as doubles --------------- */

typedef struct crt {
    unsigned np, nl;        /* primes, limbs */
    uint64_t *Q, *Qhalf;    /* nl limbs */
    uint64_t *qhat;         /* np * nl limbs */
    uint64_t *qhinv, *qhinvs;
    double *qinv_d;
} crt;

static void limb_mul_small(uint64_t *r, const uint64_t *a, uint64_t b, unsigned nl)
{
    uint64_t carry = 0;
    for (unsigned i = 0; i < nl; i++) {
        he_u128 t = (he_u128)a[i] * b + carry;
        r[i] = (uint64_t)t;
        carry = (uint64_t)(t >> 64);
    }
}

static void crt_free(crt *k)
{
    free(k->Q), free(k->Qhalf), free(k->qhat), free(k->qhinv), free(k->qhinvs);
    free(k->qinv_d);
}

static int crt_init(crt *k, const gdn_ckks_ctx *c, unsigned np)
{
    memset(k, 0, sizeof *k);
    k->np = np;
    k->nl = np + 1;
    k->Q = calloc(k->nl, 8), k->Qhalf = calloc(k->nl, 8);
    k->qhat = calloc((size_t)np * k->nl, 8);
    k->qhinv = calloc(np, 8), k->qhinvs = calloc(np, 8), k->qinv_d = calloc(np, 8);
    if (!k->Q || !k->Qhalf || !k->qhat || !k->qhinv || !k->qhinvs || !k->qinv_d) {
        crt_free(k);
        return GDN_ENOMEM;
    }
    k->Q[0] = 1;
    for (unsigned i = 0; i < np; i++)
        limb_mul_small(k->Q, k->Q, c->ntt[i].m.q, k->nl);
    for (unsigned i = 0; i < k->nl; i++)
        k->Qhalf[i] = k->Q[i] >> 1 | (i + 1 < k->nl ? k->Q[i + 1] << 63 : 0);
    for (unsigned i = 0; i < np; i++) {
        uint64_t *h = k->qhat + (size_t)i * k->nl;
        const he_mod *mi = &c->ntt[i].m;
        uint64_t prod = 1;
        h[0] = 1;
        for (unsigned j = 0; j < np; j++)
            if (j != i) {
                limb_mul_small(h, h, c->ntt[j].m.q, k->nl);
                prod = he_mul(prod, he_red64(c->ntt[j].m.q, mi), mi);
            }
        k->qhinv[i] = he_inv(prod, mi);
        k->qhinvs[i] = he_shoup(k->qhinv[i], mi->q);
        k->qinv_d[i] = 1.0 / (double)mi->q;
    }
    return 0;
}

/* a >= b over nl limbs */
static int limb_ge(const uint64_t *a, const uint64_t *b, unsigned nl)
{
    for (unsigned i = nl; i-- > 0;)
        if (a[i] != b[i])
            return a[i] > b[i];
    return 1;
}

static void limb_sub(uint64_t *a, const uint64_t *b, unsigned nl)
{
    uint64_t borrow = 0;
    for (unsigned i = 0; i < nl; i++) {
        he_u128 t = (he_u128)a[i] - b[i] - borrow;
        a[i] = (uint64_t)t;
        borrow = (uint64_t)(t >> 64) & 1;
    }
}

static double limb_to_double(const uint64_t *a, unsigned nl)
{
    double r = 0;
    for (unsigned i = nl; i-- > 0;)
        r = r * 0x1p64 + (double)a[i];
    return r;
}

/* Centered value of the residues x[i] (one per prime). */
static double crt_value(const crt *k, const gdn_ckks_ctx *c, const uint64_t *x,
                        uint64_t *s, uint64_t *t)
{
    unsigned nl = k->nl;
    double v = 0;

    memset(s, 0, nl * 8);
    for (unsigned i = 0; i < k->np; i++) {
        uint64_t y = he_mul_shoup(x[i], k->qhinv[i], k->qhinvs[i], c->ntt[i].m.q);
        uint64_t carry = 0;
        const uint64_t *h = k->qhat + (size_t)i * nl;
        v += (double)y * k->qinv_d[i];
        for (unsigned j = 0; j < nl; j++) {
            he_u128 p = (he_u128)h[j] * y + s[j] + carry;
            s[j] = (uint64_t)p;
            carry = (uint64_t)(p >> 64);
        }
    }
    /* s = sum y_i qhat_i < np Q; subtract floor(v) Q, then fix by one Q. */
    uint64_t f = (uint64_t)v;
    if (f) {
        limb_mul_small(t, k->Q, f, nl);
        if (limb_ge(s, t, nl))
            limb_sub(s, t, nl);
        else {
            limb_mul_small(t, k->Q, f - 1, nl);
            limb_sub(s, t, nl);
        }
    }
    while (limb_ge(s, k->Q, nl))
        limb_sub(s, k->Q, nl);
    if (limb_ge(s, k->Qhalf, nl)) {
        memcpy(t, k->Q, nl * 8);
        limb_sub(t, s, nl);
        return -limb_to_double(t, nl);
    }
    return limb_to_double(s, nl);
}

int gdn_ckks_decode(double *re, double *im, size_t n, const gdn_ckks_pt *pt)
{
    const gdn_ckks_ctx *c = pt->ctx;
    size_t N = c->n, nh = N / 2;
    unsigned np = pt->level + 1;
    uint64_t *a = gdn_alloc_aligned((size_t)np * N * 8);
    double complex *v = malloc(nh * sizeof *v);
    uint64_t x[GDN_CKKS_MAX_PRIMES], s[GDN_CKKS_MAX_PRIMES + 1], t[GDN_CKKS_MAX_PRIMES + 1];
    crt k;
    int rc;

    if (n > nh) {
        rc = gdn_error(GDN_EINVAL, "ckks decode: %zu values, at most %zu slots", n, nh);
        goto out0;
    }
    if (!a || !v) {
        rc = GDN_ENOMEM;
        goto out0;
    }
    if ((rc = crt_init(&k, c, np)))
        goto out0;
    memcpy(a, pt->data, (size_t)np * N * 8);
    for (unsigned i = 0; i < np; i++)
        he_ntt_inverse(&c->ntt[i], a + (size_t)i * N);
    double inv = 1.0 / pt->scale;
    for (size_t j = 0; j < nh; j++) {
        double r[2];
        for (int h = 0; h < 2; h++) {
            for (unsigned i = 0; i < np; i++)
                x[i] = a[(size_t)i * N + j + (size_t)h * nh];
            r[h] = crt_value(&k, c, x, s, t) * inv;
        }
        v[j] = r[0] + I * r[1];
    }
    fft_special(v, nh, c);
    for (size_t i = 0; i < n; i++) {
        re[i] = creal(v[i]);
        if (im)
            im[i] = cimag(v[i]);
    }
    crt_free(&k);
out0:
    gdn_free_aligned(a);
    free(v);
    return rc;
}

int gdn_ckks_encode_real(gdn_ckks_pt *pt, const double *x, size_t n, unsigned level,
                         double scale)
{
    return gdn_ckks_encode(pt, x, NULL, n, level, scale);
}

int gdn_ckks_decode_real(double *x, size_t n, const gdn_ckks_pt *pt)
{
    return gdn_ckks_decode(x, NULL, n, pt);
}
