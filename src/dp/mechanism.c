/* Mechanisms on vectors: L2 clipping, the Gaussian on a fine grid, k-ary
 * randomized response. */
#include <math.h>
#include <string.h>

#include "dp/internal.h"
#include "guardian/dp.h"

int gdn_dp_clip_l2(double *factor, float *v, size_t n, double clip)
{
    double sum = 0.0, f;

    if (!(clip > 0.0) || isinf(clip))
        return gdn_error(GDN_EINVAL, "clip norm %g: expected a finite value > 0", clip);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i]))
            return gdn_error(GDN_EINVAL, "clipping: element %zu is %g", i, (double)v[i]);
        sum += (double)v[i] * (double)v[i];
    }
    if (sqrt(sum) <= clip) {
        *factor = 1.0;
        return 0;
    }
    /* Rounding each product to float adds at most 2^-24 relative to the
     * norm, and the double sum errs by far less: the 2^-22 margin keeps the
     * float vector's norm within clip. */
    f = clip / sqrt(sum) * (1.0 - 0x1p-22);
    for (size_t i = 0; i < n; i++)
        v[i] = (float)((double)v[i] * f);
    *factor = f;
    return 0;
}

int gdn_dp_rational_up(uint64_t *num, uint64_t *den, double x)
{
    int e, k;

    if (!(x > 0.0) || isinf(x))
        return gdn_error(GDN_EINVAL, "rational_up: %g is not a finite value > 0", x);
    frexp(x, &e); /* x in [2^(e-1), 2^e) */
    k = 30 - e;   /* x 2^k in [2^29, 2^30) */
    if (k > 61 || e > 62)
        return gdn_error(GDN_ERANGE, "rational_up: %g is outside [2^-31, 2^62)", x);
    if (k < 0)
        k = 0;
    *num = (uint64_t)ceil(ldexp(x, k)); /* exact: ldexp and ceil are exact */
    *den = (uint64_t)1 << k;
    while (*den > 1 && (*num & 1) == 0) {
        *num >>= 1;
        *den >>= 1;
    }
    return 0;
}

/* ---- Gaussian on a 2^-k grid -------------------------------------------
 * A real Gaussian sampled in floating point (Box-Muller and kin) has output
 * bits that depend on the input it is added to (Mironov 2012). Instead the
 * noise is an exact discrete Gaussian N_Z(0, s2) scaled by 2^-k, with
 * s2 = (sigma 2^k)^2 rounded up to an integer and sigma 2^k in [2^20, 2^21):
 * its RDP is that of the continuous Gaussian of std sqrt(s2) 2^-k >= sigma
 * (CKS 2020, Prop. 5), and it differs from N(0, sigma^2) by a negligible
 * amount in distribution. */

int gdn_dp_gaussian_grid(int *k, double sigma)
{
    int e;

    if (!(sigma > 0.0) || !(sigma <= 0x1p40))
        return gdn_error(GDN_EINVAL, "Gaussian std %g: expected (0, 2^40]", sigma);
    frexp(sigma, &e); /* sigma in [2^(e-1), 2^e) */
    *k = 21 - e;
    return 0;
}

/* The integer variance ceil((sigma 2^k)^2) and the sampler for it. */
static int grid_sampler(gdn_dp_dgauss *g, int *k, double sigma)
{
    double s, sq;
    uint64_t n;
    int rc;

    if ((rc = gdn_dp_gaussian_grid(k, sigma)))
        return rc;
    s = ldexp(sigma, *k); /* exact, in [2^20, 2^21) */
    sq = ceil(s * s);
    n = (uint64_t)sq;
    if (fma(s, s, -(double)n) > 0.0) /* the rounded square fell below s^2 */
        n++;
    return gdn_dp_dgauss_init(g, n, 1);
}

int gdn_dp_gaussian_noise(double *out, size_t n, double sigma, gdn_rng *rng)
{
    gdn_dp_dgauss g;
    gdn_dp_bits b;
    int k, rc;

    if ((rc = grid_sampler(&g, &k, sigma)))
        return rc;
    gdn_dp_bits_init(&b, rng);
    for (size_t i = 0; i < n && !rc; i++) {
        int64_t z;
        if (!(rc = gdn_dp_dgauss_draw(&z, &g, &b)))
            out[i] = ldexp((double)z, -k);
    }
    gdn_dp_bits_wipe(&b);
    return rc;
}

int gdn_dp_gaussian_add(float *v, size_t n, double sigma, gdn_rng *rng)
{
    gdn_dp_dgauss g;
    gdn_dp_bits b;
    int k, rc;

    if ((rc = grid_sampler(&g, &k, sigma)))
        return rc;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]) || !(fabs(ldexp((double)v[i], k)) < 0x1p52))
            return gdn_error(GDN_ERANGE, "Gaussian noise: element %zu (%g) is "
                             "outside the grid's range (|v| 2^%d < 2^52)",
                             i, (double)v[i], k);
    gdn_dp_bits_init(&b, rng);
    for (size_t i = 0; i < n && !rc; i++) {
        int64_t z;
        if (!(rc = gdn_dp_dgauss_draw(&z, &g, &b))) {
            /* x on the grid, x + z exact in int64 (|z| < 2^52 with
             * probability 1 - 2^-(10^18)), then one rounding to float. */
            int64_t x = (int64_t)llrint(ldexp((double)v[i], k));
            if (z > ((int64_t)1 << 62) || z < -((int64_t)1 << 62)) {
                rc = gdn_error(GDN_ERANGE, "Gaussian noise draw out of range");
                break;
            }
            v[i] = (float)ldexp((double)(x + z), -k);
        }
    }
    gdn_dp_bits_wipe(&b);
    return rc;
}

/* ---- k-ary randomized response ----------------------------------------- */

/* Keep-probability as T/2^53 <= e^eps/(e^eps + k - 1): the double estimate
 * (error a few ulps) lowered by 2^-40 relative before rounding down, so the
 * mechanism run is exactly k-RR at some eps' <= eps. */
static int rr_threshold(uint64_t *t, uint32_t k, double eps)
{
    double p;

    if (k < 2)
        return gdn_error(GDN_EINVAL, "randomized response over %u values: "
                         "expected at least 2", k);
    if (!(eps >= 0.0) || !(eps <= 700.0))
        return gdn_error(GDN_EINVAL, "randomized response epsilon %g: "
                         "expected [0, 700]", eps);
    p = 1.0 / (1.0 + (double)(k - 1) * exp(-eps));
    *t = (uint64_t)floor(ldexp(p * (1.0 - 0x1p-40), 53));
    return 0;
}

int gdn_dp_randomized_response(uint32_t *out, const uint32_t *in, size_t n,
                               uint32_t k, double eps, gdn_rng *rng)
{
    gdn_dp_bits b;
    uint64_t t;
    int rc;

    if ((rc = rr_threshold(&t, k, eps)))
        return rc;
    for (size_t i = 0; i < n; i++)
        if (in[i] >= k)
            return gdn_error(GDN_EINVAL, "randomized response: value %u at %zu "
                             "is not below k = %u", in[i], i, k);
    gdn_dp_bits_init(&b, rng);
    for (size_t i = 0; i < n; i++) {
        if (gdn_dp_bits_take(&b, 53) < t) {
            out[i] = in[i];
        } else {
            uint32_t j = (uint32_t)gdn_dp_uniform(&b, k - 1);
            out[i] = j < in[i] ? j : j + 1;
        }
    }
    gdn_dp_bits_wipe(&b);
    return 0;
}

int gdn_dp_randomized_response_estimate(double *freq, const uint64_t *counts,
                                        uint32_t k, double eps)
{
    uint64_t t, total = 0;
    double p, q;
    int rc;

    if ((rc = rr_threshold(&t, k, eps)))
        return rc;
    for (uint32_t j = 0; j < k; j++)
        total += counts[j];
    if (total == 0)
        return gdn_error(GDN_EINVAL, "randomized response estimate: no responses");
    p = ldexp((double)t, -53);
    q = (1.0 - p) / (double)(k - 1);
    if (!(p > q))
        return gdn_error(GDN_EINVAL, "randomized response estimate: epsilon 0 "
                         "carries no signal");
    for (uint32_t j = 0; j < k; j++)
        freq[j] = ((double)counts[j] / (double)total - q) / (p - q);
    return 0;
}
