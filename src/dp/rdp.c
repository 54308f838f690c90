/* Rényi DP accountant for the Poisson-subsampled Gaussian mechanism.
 *
 * RDP at order alpha of one step is log(A_alpha)/(alpha - 1) (Mironov,
 * Talwar, Zhang 2019, "Rényi Differential Privacy of the Sampled Gaussian
 * Mechanism", §3.3): at integer orders A_alpha is a finite binomial sum, at
 * fractional orders two infinite series split at z0. Everything is summed
 * in log space. Composition adds RDP; conversion to (ε, δ) is Prop. 12 of
 * Canonne, Kamath, Steinke 2020. The formulas, orders and edge cases follow
 * Google's dp_accounting RdpAccountant so both give the same ε (to 1e-6). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "guardian/dp.h"

#define PI 3.14159265358979323846

/* dp_accounting stops a fractional series after this many terms and then
 * drops the order (RDP +inf). Far from the mode, the terms decay only like
 * i^-(alpha+2), so small orders often hit this cap; exact mode (like Opacus,
 * which has no cap) allows many more. */
#define FRAC_MAX_TERMS 1000
#define FRAC_MAX_TERMS_EXACT 200000

struct gdn_dp_accountant {
    gdn_dp_rdp_mode mode;
    size_t n;
    double orders[GDN_DP_MAX_ORDERS];
    double rdp[GDN_DP_MAX_ORDERS];
    /* One step of the last (q, sigma) added, so per-step adds are cheap. */
    int cached;
    double cache_q, cache_sigma;
    double cache_rdp[GDN_DP_MAX_ORDERS];
};

/* ---- Log-space arithmetic --------------------------------------------- */

/* log(e^x + e^y). */
static double log_add(double x, double y)
{
    double a = x < y ? x : y, b = x < y ? y : x;

    if (a == -INFINITY)
        return b;
    return log1p(exp(a - b)) + b;
}

/* A signed number kept as sign * exp(mag). */
typedef struct {
    int neg;
    double mag;
} slog;

/* s + sign * exp(t), exactly as a signed log-sum. */
static slog slog_add(slog s, int neg, double t)
{
    slog r;

    if (t == -INFINITY)
        return s;
    if (s.mag == -INFINITY) {
        r.neg = neg;
        r.mag = t;
        return r;
    }
    if (s.neg == neg) {
        r.neg = neg;
        r.mag = log_add(s.mag, t);
        return r;
    }
    /* Opposite signs: the larger magnitude wins. */
    if (s.mag > t) {
        r.neg = s.neg;
        r.mag = s.mag + log1p(-exp(t - s.mag));
    } else if (s.mag < t) {
        r.neg = neg;
        r.mag = t + log1p(-exp(s.mag - t));
    } else {
        r.neg = 0;
        r.mag = -INFINITY;
    }
    return r;
}

/* log(erfc(x)), accurate where erfc underflows: the asymptotic series
 * erfc(x) ~ exp(-x^2)/(x sqrt(pi)) (1 - 1/(2x^2) + 3/(4x^4) - ...), whose
 * terms at x >= 25 are below 1e-15 after five. */
static double log_erfc(double x)
{
    if (x < 25.0)
        return log(erfc(x));
    double r = 1.0 / (2.0 * x * x), s = 1.0, term = 1.0;
    for (int k = 1; k <= 6; k++) {
        term *= -(2.0 * k - 1.0) * r;
        s += term;
    }
    return -x * x - log(x) - 0.5 * log(PI) + log(s);
}

/* ---- A_alpha ------------------------------------------------------------ */

/* Integer alpha >= 2: A = sum_i C(alpha,i) q^i (1-q)^(alpha-i) e^((i^2-i)/2s^2).
 * log C(alpha, i) is built incrementally (no lgamma: it writes signgam). */
static double log_a_int(double q, double sigma, unsigned alpha)
{
    double log_a = -INFINITY, log_comb = 0.0, logq = log(q), log1mq = log1p(-q);
    double inv2s2 = 1.0 / (2.0 * sigma * sigma);

    for (unsigned i = 0; i <= alpha; i++) {
        if (i > 0)
            log_comb += log((double)(alpha - i + 1)) - log((double)i);
        double di = (double)i;
        double s = log_comb + di * logq + (double)(alpha - i) * log1mq +
                   (di * di - di) * inv2s2;
        log_a = log_add(log_a, s);
    }
    return log_a;
}

/* Fractional alpha: the two series of Mironov-Talwar-Zhang §3.3 for the
 * integrals over (-inf, z0] and [z0, inf). Conservative mode adds |terms|
 * (dp_accounting since 2024); exact mode keeps the sign of C(alpha, i)
 * (Opacus). Stops, as dp_accounting does, once both terms decrease and are
 * e^-30 below the total; +inf if that takes more than the cap. */
static double log_a_frac(double q, double sigma, double alpha, gdn_dp_rdp_mode mode)
{
    slog a0 = {0, -INFINITY}, a1 = {0, -INFINITY};
    double z0 = sigma * sigma * log(1.0 / q - 1.0) + 0.5;
    double logq = log(q), log1mq = log1p(-q), inv2s2 = 1.0 / (2.0 * sigma * sigma);
    double log_comb = 0.0, last0 = -INFINITY, last1 = -INFINITY;
    double sqrt2s = sqrt(2.0) * sigma;
    int comb_neg = 0;
    int max_terms = mode == GDN_DP_RDP_EXACT ? FRAC_MAX_TERMS_EXACT : FRAC_MAX_TERMS;

    for (int i = 0; i < max_terms; i++) {
        double di = (double)i, j = alpha - di;
        if (i > 0) {
            double f = alpha - di + 1.0; /* C(a,i) = C(a,i-1) (a-i+1)/i */
            log_comb += log(fabs(f)) - log(di);
            if (f < 0)
                comb_neg = !comb_neg;
        }
        double log_t0 = log_comb + di * logq + j * log1mq;
        double log_t1 = log_comb + j * logq + di * log1mq;
        double log_e0 = log(0.5) + log_erfc((di - z0) / sqrt2s);
        double log_e1 = log(0.5) + log_erfc((z0 - j) / sqrt2s);
        double s0 = log_t0 + (di * di - di) * inv2s2 + log_e0;
        double s1 = log_t1 + (j * j - j) * inv2s2 + log_e1;
        int neg = mode == GDN_DP_RDP_EXACT && comb_neg;

        a0 = slog_add(a0, neg, s0);
        a1 = slog_add(a1, neg, s1);
        slog total = slog_add(a0, a1.neg, a1.mag);
        if (s0 < last0 && s1 < last1 && (s0 > s1 ? s0 : s1) < total.mag - 30.0)
            /* A is an integral of positive terms: a negative sum is a
             * numerical failure, and the order is dropped. */
            return total.neg ? INFINITY : total.mag;
        last0 = s0;
        last1 = s1;
    }
    return INFINITY;
}

/* ---- Public: RDP, conversion ------------------------------------------- */

int gdn_dp_rdp_sampled_gaussian(double *rdp, double q, double sigma,
                                double alpha, gdn_dp_rdp_mode mode)
{
    if (!(q >= 0.0 && q <= 1.0))
        return gdn_error(GDN_EINVAL, "sampling rate q = %g: expected [0, 1]", q);
    if (!(sigma >= 0.0))
        return gdn_error(GDN_EINVAL, "noise multiplier %g: expected >= 0", sigma);
    if (!(alpha > 1.0))
        return gdn_error(GDN_EINVAL, "Renyi order %g: expected > 1", alpha);
    if (mode != GDN_DP_RDP_CONSERVATIVE && mode != GDN_DP_RDP_EXACT)
        return gdn_error(GDN_EINVAL, "unknown RDP mode %d", (int)mode);
    if (q == 0.0)
        *rdp = 0.0;
    else if (isinf(alpha) || sigma == 0.0 || isinf(q))
        *rdp = INFINITY;
    else if (q == 1.0)
        *rdp = alpha / (2.0 * sigma * sigma);
    else if (alpha == floor(alpha) && alpha > 1e6)
        return gdn_error(GDN_ERANGE, "Renyi order %g: integer orders above 1e6 "
                         "are not supported", alpha);
    else if (alpha == floor(alpha))
        *rdp = log_a_int(q, sigma, (unsigned)alpha) / (alpha - 1.0);
    else
        *rdp = log_a_frac(q, sigma, alpha, mode) / (alpha - 1.0);
    return 0;
}

int gdn_dp_rdp_to_epsilon(double *eps, double *order, const double *orders,
                          const double *rdp, size_t n, double delta)
{
    double best = INFINITY, best_order = 0.0;

    if (!(delta >= 0.0 && delta < 1.0))
        return gdn_error(GDN_EINVAL, "delta = %g: expected [0, 1)", delta);
    if (n == 0)
        return gdn_error(GDN_EINVAL, "no Renyi orders");
    if (delta == 0.0) { /* only a mechanism with no privacy loss at all */
        int all_zero = 1;
        for (size_t i = 0; i < n; i++)
            all_zero &= rdp[i] == 0.0;
        *eps = all_zero ? 0.0 : INFINITY;
        *order = 0.0;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        double a = orders[i], r = rdp[i], e;
        if (!(a >= 1.0))
            return gdn_error(GDN_EINVAL, "Renyi order %g: expected >= 1", a);
        if (isnan(r))
            return gdn_error(GDN_EINTERNAL, "RDP at order %g is NaN", a);
        if (r < 0.0)
            e = 0.0;
        else if (delta * delta + expm1(-r) > 0.0)
            e = 0.0; /* KL bound: delta <= sqrt(1 - exp(-KL)) */
        else if (a > 1.01) /* Prop. 12 is unstable as a -> 1 */
            e = r + log1p(-1.0 / a) - log(delta * a) / (a - 1.0);
        else
            e = INFINITY;
        if (i == 0 || e < best) { /* first minimum, like numpy.argmin */
            best = e;
            best_order = a;
        }
    }
    *eps = best > 0.0 ? best : 0.0;
    *order = best_order;
    return 0;
}

double gdn_dp_rdp_gaussian(double alpha, double sens, double sigma)
{
    return alpha * sens * sens / (2.0 * sigma * sigma);
}

int gdn_dp_rdp_ddg(double *rdp, const gdn_dp_ddg *p, double alpha)
{
    if (!(alpha >= 1.0))
        return gdn_error(GDN_EINVAL, "Renyi order %g: expected >= 1", alpha);
    if (!(p->sigma >= 0.5) || isinf(p->sigma))
        return gdn_error(GDN_EINVAL, "discrete Gaussian sigma %g: expected >= 1/2 "
                         "(Kairouz-Liu-Steinke 2021, Prop. 14)", p->sigma);
    if (p->clients == 0 || p->dim == 0 || !(p->l2 >= 0.0) || !(p->l1 >= 0.0))
        return gdn_error(GDN_EINVAL, "distributed discrete Gaussian: bad parameters");
    double n = (double)p->clients, d = (double)p->dim, s2 = p->sigma * p->sigma;
    double tau = 0.0;
    /* Terms fall below 1e-300 of the first at once unless sigma is tiny;
     * the sum converges to (n-1) exp(-2 pi^2 s2) at most. */
    for (uint64_t k = 1; k < p->clients; k++) {
        double t = exp(-2.0 * PI * PI * s2 * (double)k / (double)(k + 1));
        tau += t;
        if (k > 64 && t < 1e-300)
            break;
    }
    tau *= 10.0;
    double ns2 = n * s2, sn = sqrt(n) * p->sigma;
    double b1 = alpha * p->l2 * p->l2 / (2.0 * ns2) + tau * d;
    double b2 = alpha / 2.0 *
                (p->l2 * p->l2 / ns2 + 2.0 * p->l1 * tau / sn + tau * tau * d);
    double b3 = p->l2 / sn + tau * sqrt(d);
    b3 = alpha / 2.0 * b3 * b3;
    double m = b1 < b2 ? b1 : b2;
    *rdp = m < b3 ? m : b3;
    return 0;
}

double gdn_dp_rdp_ddg_at(double alpha, const void *ctx)
{
    double r;

    return gdn_dp_rdp_ddg(&r, ctx, alpha) ? INFINITY : r;
}

size_t gdn_dp_orders(double *out, size_t cap, gdn_dp_order_set set)
{
    size_t n = 0;
    int first_int = set == GDN_DP_ORDERS_OPACUS ? 12 : 11;
    size_t need = 99 + (size_t)(63 - first_int + 1) +
                  (set == GDN_DP_ORDERS_OPACUS ? 0 : 4);

    if (cap < need || (set != GDN_DP_ORDERS_OPACUS && set != GDN_DP_ORDERS_DP_ACCOUNTING))
        return 0;
    for (int x = 1; x < 100; x++)
        out[n++] = 1.0 + (double)x / 10.0;
    for (int a = first_int; a <= 63; a++)
        out[n++] = (double)a;
    if (set == GDN_DP_ORDERS_DP_ACCOUNTING)
        for (int a = 128; a <= 1024; a *= 2)
            out[n++] = (double)a;
    return n;
}

/* ---- Accountant --------------------------------------------------------- */

int gdn_dp_accountant_new(gdn_dp_accountant **acc, gdn_dp_order_set orders,
                          gdn_dp_rdp_mode mode)
{
    gdn_dp_accountant *a;

    *acc = NULL;
    if (mode != GDN_DP_RDP_CONSERVATIVE && mode != GDN_DP_RDP_EXACT)
        return gdn_error(GDN_EINVAL, "unknown RDP mode %d", (int)mode);
    if (!(a = calloc(1, sizeof *a)))
        return gdn_error(GDN_ENOMEM, "accountant: out of memory");
    a->mode = mode;
    a->n = gdn_dp_orders(a->orders, GDN_DP_MAX_ORDERS, orders);
    if (a->n == 0) {
        free(a);
        return gdn_error(GDN_EINVAL, "unknown order set %d", (int)orders);
    }
    *acc = a;
    return 0;
}

void gdn_dp_accountant_free(gdn_dp_accountant *acc)
{
    free(acc);
}

/* rdp += steps * step, where 0 * inf counts as 0 (no step, no loss). */
static void compose(double *rdp, const double *step, size_t n, uint64_t steps)
{
    if (steps == 0)
        return;
    for (size_t i = 0; i < n; i++)
        rdp[i] += (double)steps * step[i];
}

int gdn_dp_accountant_add_sampled_gaussian(gdn_dp_accountant *acc, double q,
                                           double sigma, uint64_t steps)
{
    int rc;

    if (!acc->cached || acc->cache_q != q || acc->cache_sigma != sigma) {
        double step[GDN_DP_MAX_ORDERS];
        for (size_t i = 0; i < acc->n; i++)
            if ((rc = gdn_dp_rdp_sampled_gaussian(&step[i], q, sigma,
                                                  acc->orders[i], acc->mode)))
                return rc;
        memcpy(acc->cache_rdp, step, acc->n * sizeof *step);
        acc->cache_q = q;
        acc->cache_sigma = sigma;
        acc->cached = 1;
    }
    compose(acc->rdp, acc->cache_rdp, acc->n, steps);
    return 0;
}

int gdn_dp_accountant_add_rdp(gdn_dp_accountant *acc,
                              double (*rdp_at)(double alpha, const void *ctx),
                              const void *ctx, uint64_t steps)
{
    double step[GDN_DP_MAX_ORDERS];

    for (size_t i = 0; i < acc->n; i++) {
        step[i] = rdp_at(acc->orders[i], ctx);
        if (isnan(step[i]) || step[i] < 0.0)
            return gdn_error(GDN_EINVAL, "RDP callback gave %g at order %g",
                             step[i], acc->orders[i]);
    }
    compose(acc->rdp, step, acc->n, steps);
    return 0;
}

int gdn_dp_accountant_epsilon(const gdn_dp_accountant *acc, double *eps,
                              double *order, double delta)
{
    return gdn_dp_rdp_to_epsilon(eps, order, acc->orders, acc->rdp, acc->n, delta);
}

size_t gdn_dp_accountant_orders(const gdn_dp_accountant *acc,
                                const double **orders, const double **rdp)
{
    *orders = acc->orders;
    *rdp = acc->rdp;
    return acc->n;
}

/* ---- Direct interface --------------------------------------------------- */

int gdn_dp_rdp_epsilon(double *eps, double *order, double q, double sigma,
                       uint64_t steps, double delta, gdn_dp_rdp_mode mode)
{
    double orders[GDN_DP_MAX_ORDERS], rdp[GDN_DP_MAX_ORDERS];
    size_t n = gdn_dp_orders(orders, GDN_DP_MAX_ORDERS, GDN_DP_ORDERS_DP_ACCOUNTING);
    int rc;

    for (size_t i = 0; i < n; i++) {
        if ((rc = gdn_dp_rdp_sampled_gaussian(&rdp[i], q, sigma, orders[i], mode)))
            return rc;
        rdp[i] = steps ? (double)steps * rdp[i] : 0.0;
    }
    return gdn_dp_rdp_to_epsilon(eps, order, orders, rdp, n, delta);
}

int gdn_dp_calibrate_sigma(double *sigma, double q, uint64_t steps,
                           double eps, double delta, gdn_dp_rdp_mode mode)
{
    double lo, hi = 1.0, e, a;
    int rc;

    if (!(eps > 0.0) || isinf(eps))
        return gdn_error(GDN_EINVAL, "target epsilon %g: expected > 0", eps);
    if (!(delta > 0.0 && delta < 1.0))
        return gdn_error(GDN_EINVAL, "delta = %g: expected (0, 1)", delta);
    /* Bracket: eps(hi) <= target < eps(lo); eps decreases in sigma. */
    for (;;) {
        if ((rc = gdn_dp_rdp_epsilon(&e, &a, q, hi, steps, delta, mode)))
            return rc;
        if (e <= eps)
            break;
        if ((hi *= 2.0) > 1e6)
            return gdn_error(GDN_ERANGE, "no noise multiplier up to 1e6 reaches "
                             "epsilon %g", eps);
    }
    lo = hi / 2.0;
    for (;;) {
        if ((rc = gdn_dp_rdp_epsilon(&e, &a, q, lo, steps, delta, mode)))
            return rc;
        if (e > eps)
            break;
        hi = lo;
        if ((lo /= 2.0) < 1e-6) { /* (almost) no noise needed */
            *sigma = hi;
            return 0;
        }
    }
    while ((hi - lo) > 1e-9 * hi) {
        double mid = 0.5 * (lo + hi);
        if ((rc = gdn_dp_rdp_epsilon(&e, &a, q, mid, steps, delta, mode)))
            return rc;
        if (e <= eps)
            hi = mid;
        else
            lo = mid;
    }
    *sigma = hi;
    return 0;
}
