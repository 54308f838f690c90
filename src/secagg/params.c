/* secagg: the graph parameter finder and quantization. */
#include <math.h>

#include "secagg/internal.h"

/* ---- Graph parameters ----------------------------------------------------
 * Bell et al. 2020 §3.4 and Appendix C bound three bad events; Google's
 * production finder (federated-compute, graph_parameter_finder.cc) evaluates
 * them for a Harary graph whose node order is a uniform permutation, where a
 * client's k neighbours are a uniform k-subset of the others:
 *   (1) the honest survivors are disconnected: removing the corrupted and
 *       dropped clients must cut k/2 consecutive ring places twice; union
 *       bound over the ~n^2/2 pairs of gaps, each needing k given clients bad;
 *   (2) some client has >= t corrupted neighbours (security), hypergeometric;
 *   (3) some client has < t surviving neighbours (correctness).
 * (1) and (2) each get 2^-41 (2^-40 together), (3) gets 2^-20, both split
 * over the n clients by a union bound. */

#define SMALL 1e-14 /* keeps rounding of gamma * n on the safe side */

static double log_pmf(uint32_t total, uint32_t marked, uint32_t drawn, uint32_t x)
{
    return lgamma(marked + 1.0) - lgamma(x + 1.0) - lgamma(marked - x + 1.0) +
           lgamma(total - marked + 1.0) - lgamma(drawn - x + 1.0) -
           lgamma(total - marked - drawn + x + 1.0) - lgamma(total + 1.0) +
           lgamma(drawn + 1.0) + lgamma(total - drawn + 1.0);
}

/* P[X = x] for X ~ Hypergeometric(total, marked, drawn); 0 outside support. */
static double pmf(uint32_t total, uint32_t marked, uint32_t drawn, int64_t x)
{
    if (x < 0 || x > drawn || x > marked || (int64_t)drawn - x > (int64_t)(total - marked))
        return 0;
    return exp(log_pmf(total, marked, drawn, (uint32_t)x));
}

/* Returns t (>= 2) for degree k, or 0 when k does not work. */
static uint32_t check_degree(uint32_t n, uint32_t k, double gamma, double delta,
                             int semi_malicious)
{
    uint32_t adv = (uint32_t)floor((gamma + SMALL) * n);
    uint32_t drop = (uint32_t)floor((delta + SMALL) * n);
    uint32_t surv = (uint32_t)ceil((1 - delta - SMALL) * n), bad = adv + drop;
    double q_sec = ldexp(1.0, -41) / n, q_cor = ldexp(1.0, -20) / n, tail;
    int64_t t;

    if (k <= bad) {
        double lp = log((double)n) + log((double)(n - k - 1)) - log(2.0) +
                    lgamma(bad + 1.0) + lgamma(n - k + 1.0) - lgamma(n + 1.0) -
                    lgamma(bad - k + 1.0);
        if (lp >= -41 * log(2.0))
            return 0;
    }
    /* (2): smallest t with P[corrupted neighbours >= t] < q_sec. */
    tail = 0;
    for (t = k; t >= 0; t--) {
        double next = tail + pmf(n, adv, k, t);
        if (next >= q_sec)
            break;
        tail = next;
    }
    t = t + 1;
    if (semi_malicious) /* 2t > k + corrupted neighbours, as in the finder. */
        t = (int64_t)ceil(((double)(t - 1) + k - 1.25) / 2) + 1;
    if (t < 1)
        t = 1;
    /* (3): P[surviving neighbours <= t - 1] < q_cor. */
    {
        double cdf = 0;
        for (int64_t x = 0; x <= t - 1; x++)
            cdf += pmf(n, surv, k, x);
        if (cdf >= q_cor || t > k)
            return 0;
    }
    return t < 2 ? 2 : (uint32_t)t;
}

int gdn_secagg_graph_params(uint32_t *k, uint32_t *t, uint32_t n, double gamma,
                            double delta, int semi_malicious)
{
    if (!k || !t)
        return gdn_error(GDN_EINVAL, "secagg: missing output");
    if (n < 3 || n > GDN_SECAGG_MAX_CLIENTS)
        return gdn_error(GDN_EINVAL, "secagg: n = %u, expected 3..%u", n,
                         (unsigned)GDN_SECAGG_MAX_CLIENTS);
    if (!(gamma >= 0 && gamma < 1 && delta >= 0 && delta < 1))
        return gdn_error(GDN_EINVAL, "secagg: rates gamma = %g, delta = %g, expected "
                                     "[0, 1)", gamma, delta);
    if (semi_malicious ? gamma + 2 * delta > 0.9 : gamma + delta > 0.9)
        return gdn_error(GDN_ERANGE, "secagg: gamma = %g and delta = %g leave too few "
                                     "honest survivors", gamma, delta);
    for (uint32_t d = 2; d < n - 1; d += 2) {
        uint32_t th = check_degree(n, d, gamma, delta, semi_malicious);
        if (th) {
            *k = d;
            *t = th;
            return 0;
        }
    }
    return gdn_error(GDN_ERANGE, "secagg: no Harary degree below n - 1 = %u meets "
                                 "2^-40 security and 2^-20 failure; use the complete "
                                 "graph", n - 1);
}

/* ---- Quantization --------------------------------------------------------- */

int gdn_secagg_quant_bits(uint32_t *bits, uint32_t n, uint32_t levels)
{
    uint64_t max;
    uint32_t b = 1;

    if (!bits || n < 1 || levels < 2)
        return gdn_error(GDN_EINVAL, "secagg: quantization of n = %u clients at %u "
                                     "levels", n, levels);
    max = (uint64_t)n * (levels - 1); /* the largest possible sum */
    while (b < 64 && (max >> b) != 0)
        b++;
    if (b > 32)
        return gdn_error(GDN_ERANGE, "secagg: %u clients x %u levels need %u bits, "
                                     "more than 32; use fewer levels", n, levels, b);
    *bits = b;
    return 0;
}

int gdn_secagg_quantize(uint32_t *q, const float *x, size_t m, float clip,
                        uint32_t levels, gdn_rng *rng)
{
    double c = clip, scale;

    if (!q || (!x && m) || !rng || levels < 2 || !(clip > 0) || isinf(clip))
        return gdn_error(GDN_EINVAL, "secagg: quantize with clip %g, %u levels",
                         (double)clip, levels);
    scale = (levels - 1) / (2 * c);
    for (size_t i = 0; i < m; i++) {
        double v = x[i], u, f;
        uint64_t r;
        if (isnan(v))
            return gdn_error(GDN_EINVAL, "secagg: quantize: element %zu is NaN", i);
        v = v < -c ? -c : v > c ? c : v;
        u = (v + c) * scale;
        f = floor(u);
        /* Stochastic rounding: up with probability u - f, so E[q] = u. */
        r = (uint64_t)f + (gdn_rng_double(rng) < u - f);
        q[i] = r > levels - 1 ? levels - 1 : (uint32_t)r;
    }
    return 0;
}

int gdn_secagg_dequantize_sum(double *out, const uint32_t *sum, size_t m,
                              uint32_t count, float clip, uint32_t levels)
{
    double step;

    if (!out || (!sum && m) || levels < 2 || !(clip > 0))
        return gdn_error(GDN_EINVAL, "secagg: dequantize with clip %g, %u levels",
                         (double)clip, levels);
    step = 2.0 * clip / (levels - 1);
    for (size_t i = 0; i < m; i++)
        out[i] = sum[i] * step - (double)count * clip;
    return 0;
}
