/* Distributed DP under secure aggregation: the client-side encoding and the
 * server-side decoding of the distributed discrete Gaussian (Kairouz, Liu,
 * Steinke, "The Distributed Discrete Gaussian Mechanism for Federated
 * Learning with Secure Aggregation", ICML 2021), and its accountant with
 * Poisson sampling (Zhu, Wang, "Poisson Subsampled Rényi Differential
 * Privacy", ICML 2019).
 *
 * Client (KLS 2021, Algorithm 1): clip to L2 norm c; rotate with the
 * randomized Hadamard transform H D (D random signs from a public per-round
 * seed, H the orthonormal Walsh-Hadamard matrix, the vector zero-padded to a
 * power of two) so that every coordinate is small; scale by 1/gamma;
 * randomized rounding to integers, repeated until the rounded vector's L2
 * norm is within the bound of Theorem 1; add N_Z(0, sigma^2/n) to every
 * coordinate; reduce modulo 2^bits. Server (the same algorithm's last step): the SecAgg sum,
 * centred into [-2^(bits-1), 2^(bits-1)), times gamma, rotated back by
 * D H. The privacy of the sum rests on the integer norm bound (checked
 * exactly) and the discrete Gaussian noise; floating point only ever moves
 * a client's own value before that check. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dp/internal.h"
#include "guardian/dp.h"

#define MAX_ROUNDING_TRIES 1000
#define NOISE_CHUNK 256
/* The modulus holds this many standard deviations of a coordinate of the
 * aggregate (see gdn_dp_ddg_setup). */
#define GAMMA_STDDEVS 6.0
#define MAX_ORDER 1024

/* ---- Randomized Hadamard transform --------------------------------------- */

size_t gdn_dp_hadamard_dim(size_t n)
{
    size_t p = 1;

    while (p < n && p <= SIZE_MAX / 2)
        p <<= 1;
    return p >= n ? p : 0;
}

int gdn_dp_hadamard(double *v, size_t n)
{
    double s;

    if (n == 0 || (n & (n - 1)))
        return gdn_error(GDN_EINVAL, "Hadamard transform of length %zu: expected a "
                         "power of two", n);
    /* Fast Walsh-Hadamard butterflies (Sylvester order), then 1/sqrt(n) so
     * that the transform is orthonormal and its own inverse. */
    for (size_t h = 1; h < n; h <<= 1)
        for (size_t i = 0; i < n; i += 2 * h)
            for (size_t j = i; j < i + h; j++) {
                double a = v[j], b = v[j + h];
                v[j] = a + b;
                v[j + h] = a - b;
            }
    s = 1.0 / sqrt((double)n);
    for (size_t i = 0; i < n; i++)
        v[i] *= s;
    return 0;
}

/* v[i] *= ±1, bit i of the ChaCha20 stream keyed by the round's seed. */
static void random_signs(double *v, size_t n, const uint8_t seed[32])
{
    static const uint8_t nonce[GDN_RNG_NONCEBYTES] = {'d', 'd', 'g', 's', 'i', 'g', 'n'};
    uint8_t buf[256];
    gdn_rng rng;

    gdn_rng_init_key(&rng, seed, nonce);
    for (size_t i = 0; i < n; i += 8 * sizeof buf) {
        size_t m = n - i < 8 * sizeof buf ? n - i : 8 * sizeof buf;
        gdn_rng_bytes(&rng, buf, (m + 7) / 8);
        for (size_t j = 0; j < m; j++)
            if ((buf[j >> 3] >> (j & 7)) & 1)
                v[i + j] = -v[i + j];
    }
    gdn_rng_wipe(&rng);
}

int gdn_dp_ddg_rotate(double *v, size_t n, const uint8_t seed[32])
{
    random_signs(v, n, seed);
    return gdn_dp_hadamard(v, n);
}

int gdn_dp_ddg_unrotate(double *v, size_t n, const uint8_t seed[32])
{
    int rc = gdn_dp_hadamard(v, n);

    if (!rc)
        random_signs(v, n, seed);
    return rc;
}

/* ---- Parameters ------------------------------------------------------------ */

void gdn_dp_ddg_sensitivity(double *l2, double *l1, const gdn_dp_ddg_params *p)
{
    /* KLS 2021, Theorem 1: after conditional rounding with bias beta the
     * rounded vector's squared norm is at most the smaller of
     * (c/gamma + sqrt(d))^2 and c^2/gamma^2 + d/4 + sqrt(2 log(1/beta))
     * (c/gamma + sqrt(d)/2); an integer vector's L1 norm is at most
     * min(sqrt(d) L2, L2^2). */
    double cg = p->clip / p->gamma, d = (double)p->dim_pad, sd = sqrt(d);
    double a = (cg + sd) * (cg + sd);
    double b = cg * cg + d / 4.0 + sqrt(2.0 * log(1.0 / p->beta)) * (cg + sd / 2.0);
    double sq = a < b ? a : b;

    *l2 = sqrt(sq);
    *l1 = sd * *l2 < sq ? sd * *l2 : sq;
}

/* The largest integer squared norm the rounding accepts. */
static double norm_bound_sq(const gdn_dp_ddg_params *p)
{
    double l2, l1;

    gdn_dp_ddg_sensitivity(&l2, &l1, p);
    return floor(l2 * l2);
}

int gdn_dp_ddg_setup(gdn_dp_ddg_params *p, size_t dim, double clip, double noise,
                     uint32_t clients, uint32_t bits, double gamma)
{
    double m, k = GAMMA_STDDEVS, n = (double)clients;

    memset(p, 0, sizeof *p);
    if (dim == 0 || !(clip > 0) || !isfinite(clip) || !(noise >= 0) || !isfinite(noise) ||
        clients == 0 || bits < 2 || bits > 32 || !(gamma >= 0) || !isfinite(gamma))
        return gdn_error(GDN_EINVAL, "distributed DP: needs dim > 0, clip > 0, a noise "
                         "multiplier >= 0, clients >= 1, 2 <= bits <= 32, gamma >= 0");
    if (!(p->dim_pad = gdn_dp_hadamard_dim(dim)))
        return gdn_error(GDN_ERANGE, "distributed DP: dimension %zu too large", dim);
    p->dim = dim;
    p->clip = clip;
    p->noise = noise;
    p->clients = clients;
    p->bits = bits;
    p->beta = exp(-0.5); /* the value of the paper's experiments */
    m = ldexp(1.0, (int)bits);
    if (gamma == 0) {
        /* The paper's recipe for gamma: a coordinate of the rotated
         * aggregate, modelled as subgaussian, has variance at most n^2 c^2 / d (n aligned
         * updates, flattened), plus the noise's (z c)^2, plus the rounding's
         * n gamma^2 / 4. gamma is the smallest step that fits k of those
         * standard deviations in each half of the modulus:
         * gamma m / 2 = k sqrt(A + n gamma^2 / 4). */
        double a = n * n * clip * clip / (double)p->dim_pad + noise * noise * clip * clip;
        double den = m * m - k * k * n;
        if (!(den > 0))
            return gdn_error(GDN_ERANGE, "distributed DP: %u bits cannot hold the sum "
                             "of %u clients", bits, clients);
        gamma = 2.0 * k * sqrt(a) / sqrt(den);
    }
    p->gamma = gamma;
    p->local_var = (noise * clip / gamma) * (noise * clip / gamma) / n;
    if (noise > 0 && !(p->local_var >= 0.25))
        return gdn_error(GDN_ERANGE, "distributed DP: each client's noise (std %g grid "
                         "steps) is below 1/2, where the analysis of KLS 2021 Prop. 14 "
                         "stops; use more bits or a smaller gamma", sqrt(p->local_var));
    if (noise > 0 && (!(p->local_var < 0x1p60)))
        return gdn_error(GDN_ERANGE, "distributed DP: noise of %g grid steps is too large",
                         sqrt(p->local_var));
    return 0;
}

/* ---- Client: encode -------------------------------------------------------- */

/* Randomized rounding of x[0..n) into r, repeated until sum r^2 <= bound
 * (KLS 2021, Algorithm 1, "conditional randomized rounding"). Rounding up
 * with probability frac(x) keeps each coordinate unbiased before the
 * condition; the condition fails with probability at most beta. */
static int rounding_failed(void)
{
    return gdn_error(GDN_ERANGE, "conditional rounding: no rounding within the norm "
                     "bound after %d tries (is the input clipped?)", MAX_ROUNDING_TRIES);
}

int gdn_dp_conditional_round(double *r, const double *x, size_t n, double bound_sq,
                             gdn_rng *rng)
{
    if (r == x)
        return gdn_error(GDN_EINVAL, "conditional rounding: output aliases the input");
    for (int t = 0; t < MAX_ROUNDING_TRIES; t++) {
        double sum = 0; /* of integers below 2^53: exact */
        for (size_t i = 0; i < n; i++) {
            double f = floor(x[i]);
            r[i] = f + (gdn_rng_double(rng) < x[i] - f);
            sum += r[i] * r[i];
        }
        if (sum <= bound_sq)
            return 0;
    }
    return rounding_failed();
}

/* The same rounding, each integer written mod 2^bits into out (x is kept
 * for the next try). */
static int round_into(uint32_t *out, const double *x, size_t n, double bound_sq,
                      uint64_t mask, gdn_rng *rng)
{
    for (int t = 0; t < MAX_ROUNDING_TRIES; t++) {
        double sum = 0;
        for (size_t i = 0; i < n; i++) {
            double f = floor(x[i]), r = f + (gdn_rng_double(rng) < x[i] - f);
            sum += r * r;
            out[i] = (uint32_t)((uint64_t)(int64_t)r & mask);
        }
        if (sum <= bound_sq)
            return 0;
    }
    return rounding_failed();
}

int gdn_dp_ddg_encode(uint32_t *out, double *work, const float *update,
                      const gdn_dp_ddg_params *p, const uint8_t seed[32], gdn_rng *rng)
{
    size_t d = p->dim, dp = p->dim_pad;
    double sum = 0, f, scale;
    uint64_t mask = ((uint64_t)1 << p->bits) - 1;
    uint64_t num = 0, den = 1;
    int rc;

    for (size_t i = 0; i < d; i++) {
        if (!isfinite(update[i]))
            return gdn_error(GDN_EINVAL, "distributed DP: element %zu is %g", i,
                             (double)update[i]);
        sum += (double)update[i] * (double)update[i];
    }
    f = sqrt(sum) > p->clip ? p->clip / sqrt(sum) : 1.0;
    for (size_t i = 0; i < d; i++)
        work[i] = (double)update[i] * f;
    memset(work + d, 0, (dp - d) * sizeof *work);
    if ((rc = gdn_dp_ddg_rotate(work, dp, seed)))
        return rc;
    scale = 1.0 / p->gamma;
    for (size_t i = 0; i < dp; i++) {
        work[i] *= scale;
        if (!(fabs(work[i]) < 0x1p50))
            return gdn_error(GDN_ERANGE, "distributed DP: gamma %g is too fine", p->gamma);
    }
    if ((rc = round_into(out, work, dp, norm_bound_sq(p), mask, rng)))
        return rc;
    if (p->noise > 0 && (rc = gdn_dp_rational_up(&num, &den, p->local_var)))
        return rc;
    for (size_t i = 0; i < dp; i += NOISE_CHUNK) {
        int64_t z[NOISE_CHUNK] = {0};
        size_t m = dp - i < NOISE_CHUNK ? dp - i : NOISE_CHUNK;
        if (p->noise > 0 && (rc = gdn_dp_discrete_gaussian(z, m, num, den, rng)))
            return rc;
        for (size_t j = 0; j < m; j++)
            out[i + j] = (uint32_t)(((uint64_t)out[i + j] + (uint64_t)z[j]) & mask);
    }
    return 0;
}

/* ---- Server: decode -------------------------------------------------------- */

int gdn_dp_ddg_decode(double *out, double *work, const uint32_t *sum,
                      const gdn_dp_ddg_params *p, const uint8_t seed[32])
{
    size_t dp = p->dim_pad;
    int64_t m = (int64_t)1 << p->bits;
    uint64_t mask = (uint64_t)m - 1;
    int rc;

    for (size_t i = 0; i < dp; i++) {
        int64_t v = (int64_t)(sum[i] & mask);
        if (v >= m / 2)
            v -= m;
        work[i] = (double)v * p->gamma;
    }
    if ((rc = gdn_dp_ddg_unrotate(work, dp, seed)))
        return rc;
    memcpy(out, work, p->dim * sizeof *out);
    return 0;
}

/* ---- Accountant -------------------------------------------------------------- */

int gdn_dp_rdp_subsampled(double *rdp, double q, unsigned alpha, const double *base)
{
    double lq, l1q, acc, lcomb;

    if (alpha < 2)
        return gdn_error(GDN_EINVAL, "subsampled RDP: order %u, expected >= 2", alpha);
    if (!(q >= 0 && q <= 1))
        return gdn_error(GDN_EINVAL, "sampling rate q = %g: expected [0, 1]", q);
    if (q == 0) {
        *rdp = 0;
        return 0;
    }
    if (q == 1) {
        *rdp = base[alpha];
        return 0;
    }
    /* Zhu-Wang 2019, Theorem 6 (general upper bound, integer alpha):
     * (1-q)^(a-1) (a q - q + 1) + C(a,2) q^2 (1-q)^(a-2) e^eps(2)
     *   + 3 sum_{l=3}^{a} C(a,l) (1-q)^(a-l) q^l e^((l-1) eps(l)),
     * summed in log space. */
    lq = log(q), l1q = log1p(-q);
    acc = (double)(alpha - 1) * l1q + log1p((double)(alpha - 1) * q);
    lcomb = log((double)alpha * (double)(alpha - 1) / 2.0);
    {
        double t = lcomb + 2 * lq + (double)(alpha - 2) * l1q + base[2];
        double hi = acc > t ? acc : t;
        acc = hi + log(exp(acc - hi) + exp(t - hi));
    }
    for (unsigned l = 3; l <= alpha; l++) {
        lcomb += log((double)(alpha - l + 1)) - log((double)l);
        double t = log(3.0) + lcomb + (double)(alpha - l) * l1q + (double)l * lq +
                   (double)(l - 1) * base[l];
        if (isinf(t) && t > 0) {
            *rdp = INFINITY;
            return 0;
        }
        double hi = acc > t ? acc : t;
        acc = hi + log(exp(acc - hi) + exp(t - hi));
    }
    *rdp = acc / (double)(alpha - 1);
    return 0;
}

/* The DDG's RDP at integer orders 2..MAX_ORDER, and the callback that
 * amplifies it at the accountant's orders: a fractional order takes the
 * next integer's value (RDP does not decrease with the order). */
typedef struct ddg_table {
    double q;
    int noiseless;
    double base[MAX_ORDER + 1];
} ddg_table;

static double table_at(double alpha, const void *ctx)
{
    const ddg_table *t = ctx;
    double a = ceil(alpha), zw, convex;
    unsigned n;

    if (t->noiseless)
        return t->q > 0 ? INFINITY : 0;
    if (a < 2)
        a = 2;
    if (a > MAX_ORDER)
        return INFINITY;
    n = (unsigned)a;
    /* Two valid bounds at each order; the smaller holds. Zhu-Wang's is
     * quadratic in q but keeps a floor as the noise grows; the joint
     * convexity of e^((a-1) D_a) gives, for either direction,
     * log(1 - q + q e^((a-1) eps(a))) / (a-1): linear in q, no floor. */
    if (gdn_dp_rdp_subsampled(&zw, t->q, n, t->base))
        return INFINITY;
    convex = log1p(t->q * expm1((double)(n - 1) * t->base[n])) / (double)(n - 1);
    return convex < zw ? convex : zw;
}

static int fill_table(ddg_table *t, const gdn_dp_ddg_params *p, double q)
{
    gdn_dp_ddg m;
    int rc;

    t->q = q;
    t->noiseless = !(p->noise > 0);
    if (t->noiseless)
        return 0;
    gdn_dp_ddg_sensitivity(&m.l2, &m.l1, p);
    m.dim = p->dim_pad;
    m.clients = p->clients;
    m.sigma = sqrt(p->local_var);
    t->base[0] = t->base[1] = 0;
    for (unsigned a = 2; a <= MAX_ORDER; a++)
        if ((rc = gdn_dp_rdp_ddg(&t->base[a], &m, (double)a)))
            return rc;
    return 0;
}

int gdn_dp_accountant_add_ddg(gdn_dp_accountant *acc, const gdn_dp_ddg_params *p,
                              double q, uint64_t steps)
{
    ddg_table *t = malloc(sizeof *t);
    int rc;

    if (!t)
        return gdn_error(GDN_ENOMEM, "accountant: out of memory");
    if (!(q >= 0 && q <= 1))
        rc = gdn_error(GDN_EINVAL, "sampling rate q = %g: expected [0, 1]", q);
    else if (!(rc = fill_table(t, p, q)))
        rc = gdn_dp_accountant_add_rdp(acc, table_at, t, steps);
    free(t);
    return rc;
}

int gdn_dp_ddg_epsilon(double *eps, double *order, const gdn_dp_ddg_params *p,
                       double q, uint64_t rounds, double delta)
{
    gdn_dp_accountant *acc;
    int rc;

    if ((rc = gdn_dp_accountant_new(&acc, GDN_DP_ORDERS_DP_ACCOUNTING,
                                    GDN_DP_RDP_CONSERVATIVE)))
        return rc;
    if (!(rc = gdn_dp_accountant_add_ddg(acc, p, q, rounds)))
        rc = gdn_dp_accountant_epsilon(acc, eps, order, delta);
    gdn_dp_accountant_free(acc);
    return rc;
}

int gdn_dp_ddg_calibrate(double *noise, size_t dim, double clip, uint32_t clients,
                         uint32_t bits, double q, uint64_t rounds, double eps,
                         double delta)
{
    gdn_dp_ddg_params p;
    double lo = 0, hi = 1, e, a;
    int rc;

    if (!(eps > 0) || isinf(eps))
        return gdn_error(GDN_EINVAL, "target epsilon %g: expected > 0", eps);
    for (;;) {
        if ((rc = gdn_dp_ddg_setup(&p, dim, clip, hi, clients, bits, 0)) ||
            (rc = gdn_dp_ddg_epsilon(&e, &a, &p, q, rounds, delta)))
            return rc;
        if (e <= eps)
            break;
        lo = hi;
        if ((hi *= 2) > 1e4)
            return gdn_error(GDN_ERANGE, "no noise multiplier up to 1e4 reaches "
                             "epsilon %g", eps);
    }
    while (hi - lo > 1e-6 * hi) {
        double mid = 0.5 * (lo + hi);
        rc = gdn_dp_ddg_setup(&p, dim, clip, mid, clients, bits, 0);
        if (rc == GDN_ERANGE) { /* noise below half a grid step: too little */
            gdn_error_clear();
            lo = mid;
            continue;
        }
        if (rc || (rc = gdn_dp_ddg_epsilon(&e, &a, &p, q, rounds, delta)))
            return rc;
        if (e <= eps)
            hi = mid;
        else
            lo = mid;
    }
    *noise = hi;
    return 0;
}
