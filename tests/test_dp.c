/* dp: the RDP accountant against dp_accounting and Opacus, its own
 * cross-checks (monotonicity, the plain Gaussian, a quadrature reference,
 * calibration), and the exact samplers against their distributions on
 * fixed seeds (means, variances, chi-square, tails), clipping bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dp/internal.h"
#include "guardian/dp.h"
#include "harness.h"

#define REL(a, b) (fabs((a) - (b)) / fabs(b))

/* ---- Accountant: reference values ----------------------------------------- */

/* dp_accounting RdpAccountant (PoissonSampledDpEvent(q, GaussianDpEvent(s))
 * composed `steps` times, default orders), values from issue 6. */
GDN_TEST(dp_rdp_matches_dp_accounting)
{
    double eps, order;

    CHECK_OK(gdn_dp_rdp_epsilon(&eps, &order, 0.01, 1.0, 1000, 1e-5,
                                GDN_DP_RDP_CONSERVATIVE));
    CHECK_MSG(REL(eps, 2.10136653) < 1e-6, "eps %.10f", eps);
    CHECK_NEAR(order, 7.8, 1e-12);
    CHECK_OK(gdn_dp_rdp_epsilon(&eps, &order, 1.0, 1.0, 1, 1e-5,
                                GDN_DP_RDP_CONSERVATIVE));
    CHECK_MSG(REL(eps, 4.72850707) < 1e-6, "eps %.10f", eps);
    CHECK_NEAR(order, 5.4, 1e-12);
}

/* Opacus RDPAccountant: opacus/tests/accountants_test.py, test_rdp_accountant
 * (q = 0.04, sigma = 1.5, int(90 / 0.04) = 2250 steps, delta = 1e-5, Opacus's
 * default orders, signed series): 7.32911117143. */
GDN_TEST(dp_rdp_exact_matches_opacus)
{
    gdn_dp_accountant *acc;
    double eps, order, eps_cons;

    CHECK_OK(gdn_dp_accountant_new(&acc, GDN_DP_ORDERS_OPACUS, GDN_DP_RDP_EXACT));
    for (int i = 0; i < 2250; i++) /* one step at a time, like Opacus */
        CHECK_OK(gdn_dp_accountant_add_sampled_gaussian(acc, 0.04, 1.5, 1));
    CHECK_OK(gdn_dp_accountant_epsilon(acc, &eps, &order, 1e-5));
    gdn_dp_accountant_free(acc);
    CHECK_MSG(REL(eps, 7.32911117143) < 1e-9, "eps %.12f", eps);
    /* The conservative series bounds the exact one from above. */
    CHECK_OK(gdn_dp_accountant_new(&acc, GDN_DP_ORDERS_OPACUS,
                                   GDN_DP_RDP_CONSERVATIVE));
    CHECK_OK(gdn_dp_accountant_add_sampled_gaussian(acc, 0.04, 1.5, 2250));
    CHECK_OK(gdn_dp_accountant_epsilon(acc, &eps_cons, &order, 1e-5));
    gdn_dp_accountant_free(acc);
    CHECK(eps_cons >= eps);
}

/* dp_accounting rdp_privacy_accountant_test.py, test_compute_epsilon_delta_
 * pure_dp: constant RDP 1.1 at orders 2..32 gives 1.32783806176 at 32. */
GDN_TEST(dp_rdp_to_epsilon_cases)
{
    double orders[31], rdp[31], eps, order;

    for (int i = 0; i < 31; i++) {
        orders[i] = 2 + i;
        rdp[i] = 1.1;
    }
    CHECK_OK(gdn_dp_rdp_to_epsilon(&eps, &order, orders, rdp, 31, 1e-5));
    CHECK_MSG(REL(eps, 1.32783806176) < 1e-10, "eps %.12f", eps);
    CHECK_NEAR(order, 32, 0);
    /* delta = 0: infinite unless nothing was spent. */
    CHECK_OK(gdn_dp_rdp_to_epsilon(&eps, &order, orders, rdp, 31, 0.0));
    CHECK(isinf(eps));
    memset(rdp, 0, sizeof rdp);
    CHECK_OK(gdn_dp_rdp_to_epsilon(&eps, &order, orders, rdp, 31, 0.0));
    CHECK_NEAR(eps, 0, 0);
    /* Tiny RDP: the KL bound gives 0. */
    rdp[0] = 1e-12;
    CHECK_OK(gdn_dp_rdp_to_epsilon(&eps, &order, orders, rdp, 31, 1e-5));
    CHECK_NEAR(eps, 0, 0);
    CHECK_EQ(gdn_dp_rdp_to_epsilon(&eps, &order, orders, rdp, 31, 1.5), GDN_EINVAL);
    orders[3] = 0.5;
    CHECK_EQ(gdn_dp_rdp_to_epsilon(&eps, &order, orders, rdp, 31, 1e-5), GDN_EINVAL);
}

GDN_TEST(dp_rdp_orders)
{
    double o[GDN_DP_MAX_ORDERS];

    CHECK_EQ(gdn_dp_orders(o, GDN_DP_MAX_ORDERS, GDN_DP_ORDERS_DP_ACCOUNTING), 156);
    CHECK_NEAR(o[0], 1.1, 0);
    CHECK_NEAR(o[98], 10.9, 1e-15);
    CHECK_NEAR(o[99], 11, 0);
    CHECK_NEAR(o[151], 63, 0);
    CHECK_NEAR(o[155], 1024, 0);
    CHECK(o[9] == 2.0); /* 1 + 10/10.0 is the integer order 2 */
    CHECK_EQ(gdn_dp_orders(o, GDN_DP_MAX_ORDERS, GDN_DP_ORDERS_OPACUS), 151);
    CHECK_NEAR(o[99], 12, 0);
    CHECK_NEAR(o[150], 63, 0);
    CHECK_EQ(gdn_dp_orders(o, 100, GDN_DP_ORDERS_OPACUS), 0);
}

/* ---- Accountant: cross-checks ----------------------------------------------- */

/* Reference A_alpha by quadrature of its definition (Mironov-Talwar-Zhang
 * 2019, §3.3): E_{z ~ N(0, s^2)} [((1-q) + q exp((2z-1)/(2 s^2)))^alpha],
 * trapezoid rule in log space on a wide, fine grid: the integrand is a
 * smooth bump of width sigma around z = alpha, where the trapezoid rule
 * converges exponentially. */
static double log_a_quadrature(double q, double s, double alpha)
{
    double lo = -40 * s, hi = alpha + 40 * s, h = 2e-3;
    double mx = -INFINITY, sum = 0;
    size_t n = (size_t)((hi - lo) / h);

    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i <= n; i++) {
            double z = lo + (double)i * h;
            double l = -z * z / (2 * s * s) - 0.5 * log(2 * 3.14159265358979323846 * s * s) +
                       alpha * log((1 - q) + q * exp((2 * z - 1) / (2 * s * s)));
            double w = (i == 0 || i == n) ? 0.5 : 1.0;
            if (pass == 0)
                mx = l > mx ? l : mx;
            else
                sum += w * exp(l - mx);
        }
    }
    return mx + log(sum * h);
}

GDN_TEST(dp_rdp_fractional_series_vs_quadrature)
{
    static const double qs[] = {0.01, 0.1, 0.5}, ss[] = {0.8, 1.0, 2.0},
                        as[] = {1.5, 2.5, 7.8};

    for (size_t i = 0; i < 3; i++)
        for (size_t j = 0; j < 3; j++)
            for (size_t k = 0; k < 3; k++) {
                double exact, cons, ref = log_a_quadrature(qs[i], ss[j], as[k]) / (as[k] - 1);
                CHECK_OK(gdn_dp_rdp_sampled_gaussian(&exact, qs[i], ss[j], as[k],
                                                     GDN_DP_RDP_EXACT));
                CHECK_OK(gdn_dp_rdp_sampled_gaussian(&cons, qs[i], ss[j], as[k],
                                                     GDN_DP_RDP_CONSERVATIVE));
                CHECK_MSG(REL(exact, ref) < 1e-7, "q %g s %g a %g: series %.12g "
                          "quadrature %.12g", qs[i], ss[j], as[k], exact, ref);
                /* Conservative: an upper bound, or +inf where dp_accounting's
                 * 1000-term cap drops the order (small alpha). */
                CHECK(cons >= exact * (1 - 1e-12));
            }
}

GDN_TEST(dp_rdp_integer_orders_vs_quadrature_and_fractional)
{
    double r, rf, ref;

    for (int a = 2; a <= 12; a += 5) {
        CHECK_OK(gdn_dp_rdp_sampled_gaussian(&r, 0.05, 1.3, a, GDN_DP_RDP_EXACT));
        ref = log_a_quadrature(0.05, 1.3, a) / (a - 1);
        CHECK_MSG(REL(r, ref) < 1e-8, "alpha %d: %.12g vs %.12g", a, r, ref);
        /* The fractional series approaches the integer sum, both modes. */
        for (int mode = 0; mode < 2; mode++) {
            CHECK_OK(gdn_dp_rdp_sampled_gaussian(&rf, 0.05, 1.3, a - 1e-9,
                                                 (gdn_dp_rdp_mode)mode));
            CHECK_MSG(REL(rf, r) < 1e-6, "alpha %d mode %d: %.12g vs %.12g", a,
                      mode, rf, r);
        }
    }
}

GDN_TEST(dp_rdp_monotone_and_plain_gaussian)
{
    double o[GDN_DP_MAX_ORDERS], prev, r, eps, last, order;
    size_t n = gdn_dp_orders(o, GDN_DP_MAX_ORDERS, GDN_DP_ORDERS_DP_ACCOUNTING);

    /* RDP is nondecreasing in the order; q = 1 is the Gaussian a/(2 s^2). */
    for (int mode = 0; mode < 2; mode++) {
        prev = 0;
        for (size_t i = 0; i < n; i++) {
            CHECK_OK(gdn_dp_rdp_sampled_gaussian(&r, 0.02, 0.9, o[i], (gdn_dp_rdp_mode)mode));
            CHECK_MSG(r >= prev * (1 - 1e-12), "order %g: %g < %g", o[i], r, prev);
            prev = r;
            CHECK_OK(gdn_dp_rdp_sampled_gaussian(&r, 1.0, 0.9, o[i], (gdn_dp_rdp_mode)mode));
            CHECK_NEAR(r, gdn_dp_rdp_gaussian(o[i], 1.0, 0.9), 1e-12 * r);
        }
    }
    /* q just below 1 is continuous with q = 1. */
    CHECK_OK(gdn_dp_rdp_sampled_gaussian(&r, 1 - 1e-9, 1.0, 5.4, GDN_DP_RDP_EXACT));
    CHECK_MSG(REL(r, 2.7) < 1e-6, "%.12g", r);
    /* eps grows with q and steps, falls with sigma. */
    last = 0;
    for (double q = 0.001; q <= 1.0; q *= 2) {
        CHECK_OK(gdn_dp_rdp_epsilon(&eps, &order, q, 1.0, 100, 1e-5, GDN_DP_RDP_CONSERVATIVE));
        CHECK_MSG(eps > last, "q %g: %g <= %g", q, eps, last);
        last = eps;
    }
    last = 0;
    for (uint64_t t = 1; t <= 100000; t *= 10) {
        CHECK_OK(gdn_dp_rdp_epsilon(&eps, &order, 0.01, 1.0, t, 1e-5, GDN_DP_RDP_CONSERVATIVE));
        CHECK_MSG(eps > last, "steps %llu: %g <= %g", (unsigned long long)t, eps, last);
        last = eps;
    }
    last = INFINITY;
    for (double s = 0.5; s <= 20; s *= 1.5) {
        CHECK_OK(gdn_dp_rdp_epsilon(&eps, &order, 0.01, s, 1000, 1e-5, GDN_DP_RDP_CONSERVATIVE));
        CHECK_MSG(eps < last, "sigma %g: %g >= %g", s, eps, last);
        last = eps;
    }
    /* No sampling, no loss; no noise, no privacy. */
    CHECK_OK(gdn_dp_rdp_epsilon(&eps, &order, 0.0, 1.0, 1000, 1e-5, GDN_DP_RDP_CONSERVATIVE));
    CHECK_NEAR(eps, 0, 0);
    CHECK_OK(gdn_dp_rdp_epsilon(&eps, &order, 0.01, 0.0, 1000, 1e-5, GDN_DP_RDP_CONSERVATIVE));
    CHECK(isinf(eps));
    CHECK_EQ(gdn_dp_rdp_epsilon(&eps, &order, 1.5, 1.0, 1, 1e-5, GDN_DP_RDP_CONSERVATIVE),
             GDN_EINVAL);
    CHECK_EQ(gdn_dp_rdp_epsilon(&eps, &order, 0.5, -1.0, 1, 1e-5, GDN_DP_RDP_CONSERVATIVE),
             GDN_EINVAL);
}

GDN_TEST(dp_accountant_composition_and_calibration)
{
    gdn_dp_accountant *a, *b;
    const double *oa, *ra, *ob, *rb;
    double eps, order, sigma, e2;

    /* Steps one at a time equal steps at once; mixed (q, sigma) add. */
    CHECK_OK(gdn_dp_accountant_new(&a, GDN_DP_ORDERS_DP_ACCOUNTING, GDN_DP_RDP_CONSERVATIVE));
    CHECK_OK(gdn_dp_accountant_new(&b, GDN_DP_ORDERS_DP_ACCOUNTING, GDN_DP_RDP_CONSERVATIVE));
    for (int i = 0; i < 500; i++)
        CHECK_OK(gdn_dp_accountant_add_sampled_gaussian(a, 0.01, 1.0, 1));
    CHECK_OK(gdn_dp_accountant_add_sampled_gaussian(a, 0.02, 2.0, 7));
    CHECK_OK(gdn_dp_accountant_add_sampled_gaussian(a, 0.01, 1.0, 500));
    CHECK_OK(gdn_dp_accountant_add_sampled_gaussian(b, 0.02, 2.0, 7));
    CHECK_OK(gdn_dp_accountant_add_sampled_gaussian(b, 0.01, 1.0, 1000));
    size_t n = gdn_dp_accountant_orders(a, &oa, &ra);
    CHECK_EQ(gdn_dp_accountant_orders(b, &ob, &rb), n);
    for (size_t i = 0; i < n; i++)
        CHECK_MSG(REL(ra[i], rb[i]) < 1e-10, "order %g", oa[i]);
    gdn_dp_accountant_free(a);
    gdn_dp_accountant_free(b);
    gdn_dp_accountant_free(NULL);

    /* Calibration inverts the accountant. */
    CHECK_OK(gdn_dp_calibrate_sigma(&sigma, 0.01, 1000, 2.10136653, 1e-5,
                                    GDN_DP_RDP_CONSERVATIVE));
    CHECK_MSG(REL(sigma, 1.0) < 1e-6, "sigma %.10f", sigma);
    CHECK_OK(gdn_dp_calibrate_sigma(&sigma, 0.05, 300, 1.0, 1e-6, GDN_DP_RDP_EXACT));
    CHECK_OK(gdn_dp_rdp_epsilon(&eps, &order, 0.05, sigma, 300, 1e-6, GDN_DP_RDP_EXACT));
    CHECK(eps <= 1.0);
    CHECK_OK(gdn_dp_rdp_epsilon(&e2, &order, 0.05, sigma * (1 - 1e-6), 300, 1e-6,
                                GDN_DP_RDP_EXACT));
    CHECK(e2 > 1.0);
    CHECK_EQ(gdn_dp_calibrate_sigma(&sigma, 0.05, 300, 0.0, 1e-6, GDN_DP_RDP_EXACT),
             GDN_EINVAL);
}

static double rdp_gauss_cb(double alpha, const void *ctx)
{
    return gdn_dp_rdp_gaussian(alpha, 1.0, *(const double *)ctx);
}

GDN_TEST(dp_rdp_distributed_discrete_gaussian)
{
    gdn_dp_ddg p = {.l2 = 3.0, .l1 = 9.0, .dim = 1000, .clients = 1, .sigma = 2.0};
    gdn_dp_accountant *a, *b;
    double r, eps_a, eps_b, order, s = 2.0;

    /* One client: tau = 0, the discrete Gaussian's alpha l2^2 / (2 s^2). */
    CHECK_OK(gdn_dp_rdp_ddg(&r, &p, 4.0));
    CHECK_NEAR(r, 4.0 * 9.0 / 8.0, 1e-12);
    /* n clients: close to one Gaussian of variance n s^2, never below it. */
    p.clients = 100;
    CHECK_OK(gdn_dp_rdp_ddg(&r, &p, 4.0));
    CHECK(r >= 4.0 * 9.0 / (2.0 * 100 * 4.0));
    CHECK(r < 4.0 * 9.0 / (2.0 * 100 * 4.0) * (1 + 1e-9));
    /* Small sigma: tau matters. tau = 10 sum_{k=1}^{n-1} e^{-2 pi^2 s^2 k/(k+1)}. */
    p.sigma = 0.5;
    p.clients = 3;
    double tau = 10 * (exp(-2 * 9.8696044010893586 * 0.25 * 0.5) +
                       exp(-2 * 9.8696044010893586 * 0.25 * 2.0 / 3.0));
    double b1 = 2.0 * 9.0 / (2 * 3 * 0.25) + tau * 1000;
    double b2 = 1.0 * (9.0 / 0.75 + 2 * 9.0 * tau / (sqrt(3.0) * 0.5) + tau * tau * 1000);
    double b3 = pow(3.0 / (sqrt(3.0) * 0.5) + tau * sqrt(1000.0), 2);
    CHECK_OK(gdn_dp_rdp_ddg(&r, &p, 2.0));
    CHECK_NEAR(r, fmin(b1, fmin(b2, b3)), 1e-9 * r);
    p.sigma = 0.4;
    CHECK_EQ(gdn_dp_rdp_ddg(&r, &p, 2.0), GDN_EINVAL);
    CHECK(isinf(gdn_dp_rdp_ddg_at(2.0, &p)));

    /* The callback path composes like the built-in one. */
    CHECK_OK(gdn_dp_accountant_new(&a, GDN_DP_ORDERS_DP_ACCOUNTING, GDN_DP_RDP_CONSERVATIVE));
    CHECK_OK(gdn_dp_accountant_new(&b, GDN_DP_ORDERS_DP_ACCOUNTING, GDN_DP_RDP_CONSERVATIVE));
    CHECK_OK(gdn_dp_accountant_add_rdp(a, rdp_gauss_cb, &s, 50));
    CHECK_OK(gdn_dp_accountant_add_sampled_gaussian(b, 1.0, 2.0, 50));
    CHECK_OK(gdn_dp_accountant_epsilon(a, &eps_a, &order, 1e-5));
    CHECK_OK(gdn_dp_accountant_epsilon(b, &eps_b, &order, 1e-5));
    CHECK_NEAR(eps_a, eps_b, 1e-12 * eps_b);
    gdn_dp_accountant_free(a);
    gdn_dp_accountant_free(b);
}

/* ---- Samplers: helpers -------------------------------------------------------- */

/* Chi-square of a histogram of draws in [lo, lo + nb) (draws outside go
 * to the end bins) against a pmf, end bins pooled until each expects >= 5.
 * Returns the statistic and its degrees of freedom. */
static double chi_square(const uint64_t *hist, const double *pmf, size_t nb,
                         uint64_t total, int *dof)
{
    size_t first = 0, last = nb - 1;
    double exp_first = pmf[0] * total, exp_last = pmf[nb - 1] * total;
    uint64_t obs_first = hist[0], obs_last = hist[nb - 1];
    double chi = 0;

    while (exp_first < 5 && first + 1 < last) {
        first++;
        exp_first += pmf[first] * total;
        obs_first += hist[first];
    }
    while (exp_last < 5 && last - 1 > first) {
        last--;
        exp_last += pmf[last] * total;
        obs_last += hist[last];
    }
    chi += (obs_first - exp_first) * (obs_first - exp_first) / exp_first;
    chi += (obs_last - exp_last) * (obs_last - exp_last) / exp_last;
    for (size_t i = first + 1; i < last; i++) {
        double e = pmf[i] * total;
        chi += (hist[i] - e) * (hist[i] - e) / e;
    }
    *dof = (int)(last - first);
    return chi;
}

/* Upper 1e-5 quantile of chi-square (Wilson-Hilferty; z = 4.265). */
static double chi_square_limit(int dof)
{
    double k = dof, c = 1 - 2 / (9 * k) + 4.265 * sqrt(2 / (9 * k));
    return k * c * c * c;
}

/* Histogram over [lo, lo + nb), clamping the outside into the end bins. */
static void histogram(uint64_t *hist, size_t nb, int64_t lo, const int64_t *x, size_t n)
{
    memset(hist, 0, nb * sizeof *hist);
    for (size_t i = 0; i < n; i++) {
        int64_t j = x[i] - lo;
        if (j < 0)
            j = 0;
        if (j >= (int64_t)nb)
            j = (int64_t)nb - 1;
        hist[j]++;
    }
}

/* Exact discrete Gaussian pmf on [lo, lo + nb), the end bins holding the
 * tails, normalised over a range wide enough for double precision. */
static void dgauss_pmf(double *pmf, size_t nb, int64_t lo, double s2)
{
    double z = 0;
    int64_t r = (int64_t)(40 * sqrt(s2)) + 40;

    for (int64_t x = -r; x <= r; x++)
        z += exp(-(double)x * (double)x / (2 * s2));
    memset(pmf, 0, nb * sizeof *pmf);
    for (int64_t x = -r; x <= r; x++) {
        int64_t j = x - lo;
        j = j < 0 ? 0 : j >= (int64_t)nb ? (int64_t)nb - 1 : j;
        pmf[j] += exp(-(double)x * (double)x / (2 * s2)) / z;
    }
}

/* Binomial check: count/n within 5 standard errors of p. */
#define CHECK_FREQ(count, n, p)                                                \
    do {                                                                       \
        double f_ = (double)(count) / (double)(n), p_ = (p);                   \
        double se_ = sqrt(p_ * (1 - p_) / (double)(n));                        \
        CHECK_MSG(fabs(f_ - p_) <= 5 * se_ + 1e-12, "frequency %.6f vs %.6f "  \
                  "(5 se = %.2g)", f_, p_, 5 * se_);                           \
    } while (0)

/* ---- Samplers: building blocks ---------------------------------------------- */

GDN_TEST(dp_bernoulli_rational_and_uniform)
{
    static const uint64_t cases[][2] = {{1, 3}, {2, 7}, {5, 8}, {999, 1000},
                                        {((uint64_t)1 << 61) + 12345, ((uint64_t)1 << 62) + 1},
                                        {1, ((uint64_t)1 << 62) / 3}};
    gdn_rng rng;
    gdn_dp_bits b;
    uint64_t hist[7] = {0};
    const size_t n = 200000;

    gdn_rng_init_seed(&rng, 11);
    gdn_dp_bits_init(&b, &rng);
    for (size_t c = 0; c < 5; c++) {
        uint64_t ones = 0;
        for (size_t i = 0; i < n; i++)
            ones += (uint64_t)gdn_dp_bernoulli(&b, cases[c][0], cases[c][1]);
        CHECK_FREQ(ones, n, (double)cases[c][0] / (double)cases[c][1]);
    }
    CHECK_EQ(gdn_dp_bernoulli(&b, 0, 5), 0);
    CHECK_EQ(gdn_dp_bernoulli(&b, 5, 5), 1);
    for (size_t i = 0; i < 70000; i++)
        hist[gdn_dp_uniform(&b, 7)]++;
    for (int j = 0; j < 7; j++)
        CHECK_FREQ(hist[j], 70000, 1.0 / 7);
    /* Wide bound: rejection on bit length; check the range and the top bin. */
    uint64_t big = ((uint64_t)1 << 40) + 3, top = 0;
    for (size_t i = 0; i < 100000; i++) {
        uint64_t u = gdn_dp_uniform(&b, big);
        CHECK(u < big);
        top += u >= big / 2;
    }
    CHECK_FREQ(top, 100000, (double)(big - big / 2) / (double)big);
    gdn_dp_bits_wipe(&b);
    gdn_rng_wipe(&rng);
}

/* Bernoulli(exp(-gamma)) is exact: frequencies at small rationals. */
GDN_TEST(dp_bernoulli_exp_frequencies)
{
    static const uint64_t g[][2] = {{0, 1}, {1, 3}, {1, 1}, {3, 2},
                                    {5, 2}, {7, 10}, {1000001, 1000000}};
    gdn_rng rng;
    gdn_dp_bits b;
    const size_t n = 400000;
    uint64_t ones = 0;

    gdn_rng_init_seed(&rng, 12);
    gdn_dp_bits_init(&b, &rng);
    for (size_t c = 0; c < sizeof g / sizeof g[0]; c++) {
        ones = 0;
        for (size_t i = 0; i < n; i++)
            ones += (uint64_t)gdn_dp_bernoulli_exp(&b, g[c][0], g[c][1]);
        CHECK_FREQ(ones, n, exp(-(double)g[c][0] / (double)g[c][1]));
    }
    /* The table-driven exp(-1), more draws. */
    ones = 0;
    for (size_t i = 0; i < 4000000; i++)
        ones += (uint64_t)gdn_dp_bernoulli_exp1(&b);
    CHECK_FREQ(ones, 4000000, exp(-1.0));
    gdn_dp_bits_wipe(&b);
    gdn_rng_wipe(&rng);
}

/* The table-driven Bernoulli(exp(-1)) against its definition, for every
 * value R of its first 16 bits: with U uniform in I_R = [R, R+1) 2^-16, the
 * output is "K odd" where K = j on [1/j!, 1/(j-1)!). Where no 1/j! lies
 * inside I_R the output must be that constant; where one does, its
 * frequency must match the odd share of I_R. Past 1/8! the sampler uses
 * fresh coins, so R = 0 and R = 1 (whose tie leads there) only match
 * together: they enter the fresh chain with probability exactly 1/8!. */
GDN_TEST(dp_bernoulli_exp1_exhaustive)
{
    double inv_fact[24], low_p = 0;
    gdn_rng rng;
    gdn_dp_bits b;
    int low_ones = 0;

    inv_fact[0] = 1;
    for (int j = 1; j < 24; j++)
        inv_fact[j] = inv_fact[j - 1] / j;
    gdn_rng_init_seed(&rng, 13);
    gdn_dp_bits_init(&b, &rng);
    for (uint32_t r = 0; r < 65536; r++) {
        double lo = r * 0x1p-16, hi = (r + 1) * 0x1p-16, odd = 0;
        int inside = 0;
        for (int j = 1; j < 24; j++) { /* K = j on [1/j!, 1/(j-1)!) */
            double a = fmax(lo, inv_fact[j]), c = fmin(hi, inv_fact[j - 1]);
            if (c > a && (j & 1))
                odd += c - a;
            inside |= inv_fact[j] > lo && inv_fact[j] < hi;
        }
        double p1 = odd * 0x1p16;
        int trials = inside ? 40000 : 3, ones = 0;
        for (int t = 0; t < trials; t++) {
            b.cur = r; /* the next 16 bits the sampler takes are r */
            b.avail = 16;
            ones += gdn_dp_bernoulli_exp1(&b);
        }
        if (r < 2) {
            low_ones += ones;
            low_p += p1;
        } else if (inside) {
            CHECK_MSG(fabs((double)ones / trials - p1) <=
                      5 * sqrt(p1 * (1 - p1) / trials) + 1e-12,
                      "R = %u: frequency %.5f vs %.5f", r, (double)ones / trials, p1);
        } else {
            CHECK_MSG(ones == (p1 > 0.5 ? trials : 0), "R = %u: %d of %d, expected "
                      "P = %g", r, ones, trials, p1);
        }
    }
    /* Two intervals of 40000 trials each: mean frequency vs mean share. */
    CHECK_FREQ(low_ones, 80000, low_p / 2);
    gdn_dp_bits_wipe(&b);
    gdn_rng_wipe(&rng);
}

/* ---- Samplers: distributions ---------------------------------------------- */

static void check_dgauss(uint64_t num, uint64_t den, uint64_t seed, size_t n,
                         int *failed)
{
    double s2 = (double)num / (double)den, s = sqrt(s2);
    int64_t *x = malloc(n * sizeof *x), lo = -(int64_t)(6 * s) - 3;
    size_t nb = (size_t)(-2 * lo + 1);
    uint64_t *hist = malloc(nb * sizeof *hist);
    double *pmf = malloc(nb * sizeof *pmf), mean = 0, var = 0, ev = 0, e4 = 0, chi;
    uint64_t tail = 0;
    double ptail = 0;
    gdn_rng rng;
    int dof, rc;

    *failed = 1;
    gdn_rng_init_seed(&rng, seed);
    rc = gdn_dp_discrete_gaussian(x, n, num, den, &rng);
    gdn_rng_wipe(&rng);
    if (rc) {
        gdn_test_fail(__FILE__, __LINE__, "sampler: %s", gdn_errmsg());
        goto out;
    }
    histogram(hist, nb, lo, x, n);
    dgauss_pmf(pmf, nb, lo, s2);
    chi = chi_square(hist, pmf, nb, n, &dof);
    if (chi > chi_square_limit(dof)) {
        gdn_test_fail(__FILE__, __LINE__, "s2 %g: chi-square %.1f, dof %d, limit %.1f",
                      s2, chi, dof, chi_square_limit(dof));
        goto out;
    }
    /* Moments against the exact pmf; the tail beyond 3 sigma. */
    int64_t r = (int64_t)(40 * s) + 40;
    double z = 0;
    for (int64_t k = -r; k <= r; k++)
        z += exp(-(double)k * k / (2 * s2));
    for (int64_t k = -r; k <= r; k++) {
        double p = exp(-(double)k * k / (2 * s2)) / z;
        ev += p * (double)k * (double)k;
        e4 += p * (double)k * (double)k * (double)k * (double)k;
        if ((double)llabs(k) > 3 * s)
            ptail += p;
    }
    for (size_t i = 0; i < n; i++) {
        mean += (double)x[i];
        var += (double)x[i] * (double)x[i];
        tail += (double)llabs(x[i]) > 3 * s;
    }
    mean /= (double)n;
    var /= (double)n;
    if (fabs(mean) > 5 * sqrt(ev / (double)n) ||
        fabs(var - ev) > 5 * sqrt((e4 - ev * ev) / (double)n) ||
        fabs((double)tail / n - ptail) > 5 * sqrt(ptail / n) + 1e-9) {
        gdn_test_fail(__FILE__, __LINE__, "s2 %g: mean %.5f, var %.5f vs %.5f, "
                      "tail %.6f vs %.6f", s2, mean, var, ev, (double)tail / n, ptail);
        goto out;
    }
    *failed = 0;
out:
    free(x);
    free(hist);
    free(pmf);
}

GDN_TEST(dp_discrete_gaussian_distribution)
{
    static const uint64_t v[][2] = {{1, 1}, {1, 3}, {1, 20}, {10, 1}, {81, 4},
                                    {1000000, 7}, {7, 5}};
    int failed;

    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        check_dgauss(v[i][0], v[i][1], 100 + i, 300000, &failed);
        CHECK(!failed);
    }
}

/* A large variance with a fine denominator (the 2^-k grid's regime), and
 * parameters the 64-bit arithmetic refuses. */
GDN_TEST(dp_discrete_gaussian_large_and_limits)
{
    int64_t x[200000];
    gdn_rng rng;
    double m = 0, v = 0, s2 = (double)((uint64_t)1 << 41) / 3.0;

    gdn_rng_init_seed(&rng, 5);
    CHECK_OK(gdn_dp_discrete_gaussian(x, 200000, (uint64_t)1 << 41, 3, &rng));
    for (size_t i = 0; i < 200000; i++) {
        m += (double)x[i];
        v += (double)x[i] * (double)x[i];
    }
    m /= 200000;
    v /= 200000;
    CHECK_MSG(fabs(m) < 5 * sqrt(s2 / 200000), "mean %g", m);
    CHECK_MSG(fabs(v / s2 - 1) < 5 * sqrt(2.0 / 200000), "var %g vs %g", v, s2);
    CHECK_EQ(gdn_dp_discrete_gaussian(x, 1, 0, 1, &rng), GDN_EINVAL);
    CHECK_EQ(gdn_dp_discrete_gaussian(x, 1, (uint64_t)1 << 63, 1, &rng), GDN_ERANGE);
    CHECK_EQ(gdn_dp_discrete_gaussian(x, 1, ((uint64_t)1 << 40) + 1,
                                      (uint64_t)1 << 50, &rng), GDN_ERANGE);
    /* The same value in lowest terms is fine. */
    CHECK_OK(gdn_dp_discrete_gaussian(x, 1, (uint64_t)1 << 40, (uint64_t)1 << 50, &rng));
    gdn_rng_wipe(&rng);
}

GDN_TEST(dp_discrete_laplace_distribution)
{
    static const uint64_t t[][2] = {{1, 1}, {5, 2}, {1, 3}, {40, 1}};
    const size_t n = 200000;
    int64_t *x = malloc(n * sizeof *x);
    gdn_rng rng;

    gdn_rng_init_seed(&rng, 21);
    for (size_t c = 0; c < 4; c++) {
        double scale = (double)t[c][0] / (double)t[c][1], r = exp(-1 / scale);
        int64_t lo = -(int64_t)(12 * scale) - 3;
        size_t nb = (size_t)(-2 * lo + 1);
        uint64_t hist[2000];
        double pmf[2000];
        int dof;

        CHECK_OK(gdn_dp_discrete_laplace(x, n, t[c][0], t[c][1], &rng));
        histogram(hist, nb, lo, x, n);
        memset(pmf, 0, sizeof pmf);
        for (int64_t k = lo - 2000; k <= -lo + 2000; k++) {
            int64_t j = k - lo;
            j = j < 0 ? 0 : j >= (int64_t)nb ? (int64_t)nb - 1 : j;
            pmf[j] += (1 - r) / (1 + r) * pow(r, (double)llabs(k));
        }
        double chi = chi_square(hist, pmf, nb, n, &dof);
        CHECK_MSG(chi < chi_square_limit(dof), "scale %g: chi-square %.1f dof %d",
                  scale, chi, dof);
    }
    CHECK_EQ(gdn_dp_discrete_laplace(x, 1, 0, 1, &rng), GDN_EINVAL);
    gdn_rng_wipe(&rng);
    free(x);
}

GDN_TEST(dp_poisson_and_skellam)
{
    static const uint64_t l[][2] = {{3, 10}, {1, 1}, {15, 2}, {1000, 1}, {123457, 100}};
    const size_t n = 100000;
    int64_t *x = malloc(n * sizeof *x);
    gdn_rng rng;

    gdn_rng_init_seed(&rng, 31);
    for (size_t c = 0; c < sizeof l / sizeof l[0]; c++) {
        double lam = (double)l[c][0] / (double)l[c][1], s = sqrt(lam);
        int64_t lo = (int64_t)(lam - 7 * s) - 2;
        if (lo < 0)
            lo = 0;
        size_t nb = (size_t)(lam + 7 * s + 3) - (size_t)lo + 1;
        uint64_t *hist = malloc(nb * sizeof *hist);
        double *pmf = calloc(nb, sizeof *pmf), logp = -lam;
        int dof;

        CHECK_OK(gdn_dp_poisson(x, n, l[c][0], l[c][1], &rng));
        histogram(hist, nb, lo, x, n);
        for (int64_t k = 0; k <= (int64_t)(lam + 40 * s + 40); k++) {
            if (k > 0)
                logp += log(lam) - log((double)k);
            int64_t j = k - lo;
            j = j < 0 ? 0 : j >= (int64_t)nb ? (int64_t)nb - 1 : j;
            pmf[j] += exp(logp);
        }
        for (size_t i = 0; i < n; i++)
            CHECK(x[i] >= 0);
        double chi = chi_square(hist, pmf, nb, n, &dof);
        free(hist);
        free(pmf);
        CHECK_MSG(chi < chi_square_limit(dof), "lambda %g: chi-square %.1f dof %d",
                  lam, chi, dof);
    }
    /* Skellam: symmetric, variance 2 lambda. */
    double m = 0, v = 0;
    CHECK_OK(gdn_dp_skellam(x, n, 25, 2, &rng));
    for (size_t i = 0; i < n; i++) {
        m += (double)x[i];
        v += (double)x[i] * (double)x[i];
    }
    m /= n;
    v /= n;
    CHECK_MSG(fabs(m) < 5 * sqrt(25.0 / n), "mean %g", m);
    CHECK_MSG(fabs(v - 25) < 5 * 25 * sqrt(2.2 / n), "var %g", v);
    CHECK_OK(gdn_dp_poisson(x, 3, 0, 1, &rng));
    CHECK(x[0] == 0 && x[2] == 0);
    CHECK_EQ(gdn_dp_poisson(x, 1, (uint64_t)1 << 40, 1, &rng), GDN_ERANGE);
    gdn_rng_wipe(&rng);
    free(x);
}

/* ---- Mechanisms ----------------------------------------------------------------- */

static double norm2(const float *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)v[i] * v[i];
    return sqrt(s);
}

GDN_TEST(dp_clip_l2)
{
    float v[1000], w[1000];
    double f;
    gdn_rng rng;

    gdn_rng_init_seed(&rng, 41);
    for (int trial = 0; trial < 50; trial++) {
        size_t n = 1 + gdn_rng_uniform(&rng, 1000);
        double clip = 0.01 + 10 * gdn_rng_double(&rng);
        double scale = trial % 2 ? 1e-3 : 1e3;
        for (size_t i = 0; i < n; i++)
            v[i] = w[i] = (float)(scale * gdn_rng_normal(&rng));
        double before = norm2(v, n);
        CHECK_OK(gdn_dp_clip_l2(&f, v, n, clip));
        if (before <= clip) {
            CHECK(f == 1.0);
            CHECK(memcmp(v, w, n * sizeof *v) == 0);
        } else {
            double after = norm2(v, n);
            CHECK_MSG(after <= clip, "norm %.9g > clip %.9g", after, clip);
            CHECK_MSG(after >= clip * (1 - 1e-6), "norm %.9g << clip %.9g", after, clip);
            CHECK_NEAR(f, clip / before, 1e-6 * f);
            for (size_t i = 0; i < n; i++) /* direction kept */
                CHECK_NEAR(v[i], w[i] * f, 1e-6 * fabs(w[i] * f) + 1e-30);
        }
    }
    /* On the boundary and at zero: untouched. */
    v[0] = 3;
    v[1] = 4;
    CHECK_OK(gdn_dp_clip_l2(&f, v, 2, 5.0));
    CHECK(f == 1.0 && v[0] == 3 && v[1] == 4);
    memset(v, 0, sizeof v);
    CHECK_OK(gdn_dp_clip_l2(&f, v, 1000, 1.0));
    CHECK(f == 1.0);
    v[5] = NAN;
    CHECK_EQ(gdn_dp_clip_l2(&f, v, 1000, 1.0), GDN_EINVAL);
    CHECK_EQ(gdn_dp_clip_l2(&f, v, 4, 0.0), GDN_EINVAL);
    gdn_rng_wipe(&rng);
}

GDN_TEST(dp_gaussian_on_grid)
{
    const size_t n = 200000;
    double *x = malloc(n * sizeof *x), m = 0, var = 0;
    float v[4096];
    gdn_rng rng;
    int k;

    gdn_rng_init_seed(&rng, 51);
    for (int c = 0; c < 3; c++) {
        double sigma = c == 0 ? 1.0 : c == 1 ? 0.003 : 250.0;
        CHECK_OK(gdn_dp_gaussian_grid(&k, sigma));
        CHECK(ldexp(sigma, k) >= 0x1p20 && ldexp(sigma, k) < 0x1p21);
        CHECK_OK(gdn_dp_gaussian_noise(x, n, sigma, &rng));
        m = var = 0;
        for (size_t i = 0; i < n; i++) {
            double g = ldexp(x[i], k);
            CHECK(g == floor(g)); /* on the grid */
            m += x[i];
            var += x[i] * x[i];
        }
        m /= n;
        var /= n;
        CHECK_MSG(fabs(m) < 5 * sigma / sqrt(n), "sigma %g: mean %g", sigma, m);
        CHECK_MSG(fabs(var / (sigma * sigma) - 1) < 5 * sqrt(2.0 / n),
                  "sigma %g: var %g", sigma, var);
    }
    /* Adding: a vector of grid points plus noise, differences are noise. */
    CHECK_OK(gdn_dp_gaussian_grid(&k, 0.5));
    for (size_t i = 0; i < 4096; i++)
        v[i] = (float)i / 8;
    CHECK_OK(gdn_dp_gaussian_add(v, 4096, 0.5, &rng));
    m = var = 0;
    for (size_t i = 0; i < 4096; i++) {
        double d = (double)v[i] - (double)i / 8;
        m += d;
        var += d * d;
    }
    CHECK(fabs(m / 4096) < 5 * 0.5 / 64);
    CHECK(fabs(var / 4096 / 0.25 - 1) < 5 * sqrt(2.0 / 4096));
    v[0] = 1e30f;
    CHECK_EQ(gdn_dp_gaussian_add(v, 1, 1.0, &rng), GDN_ERANGE);
    CHECK_EQ(gdn_dp_gaussian_noise(x, 1, 0.0, &rng), GDN_EINVAL);
    gdn_rng_wipe(&rng);
    free(x);
}

GDN_TEST(dp_rational_up)
{
    static const double xs[] = {1.0, 0.1, 3.0, 1e-9, 12345.678, 1e15};
    uint64_t num, den;

    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        CHECK_OK(gdn_dp_rational_up(&num, &den, xs[i]));
        double r = (double)num / (double)den;
        CHECK_MSG(r >= xs[i] && r <= xs[i] * (1 + 0x1p-28), "%g -> %llu/%llu", xs[i],
                  (unsigned long long)num, (unsigned long long)den);
    }
    CHECK_OK(gdn_dp_rational_up(&num, &den, 0.25));
    CHECK(num == 1 && den == 4);
    CHECK_EQ(gdn_dp_rational_up(&num, &den, 0.0), GDN_EINVAL);
    CHECK_EQ(gdn_dp_rational_up(&num, &den, 1e-20), GDN_ERANGE);
}

GDN_TEST(dp_randomized_response)
{
    const size_t n = 200000;
    const uint32_t k = 5;
    uint32_t *in = malloc(n * sizeof *in), *out = malloc(n * sizeof *out);
    uint64_t counts[5] = {0}, kept = 0, other[5] = {0};
    double freq[5], eps = 1.0, p = exp(eps) / (exp(eps) + k - 1);
    gdn_rng rng;

    gdn_rng_init_seed(&rng, 61);
    /* True frequencies 0.4, 0.3, 0.2, 0.1, 0. */
    for (size_t i = 0; i < n; i++)
        in[i] = i % 10 < 4 ? 0 : i % 10 < 7 ? 1 : i % 10 < 9 ? 2 : 3;
    CHECK_OK(gdn_dp_randomized_response(out, in, n, k, eps, &rng));
    for (size_t i = 0; i < n; i++) {
        CHECK(out[i] < k);
        counts[out[i]]++;
        kept += out[i] == in[i];
        if (in[i] == 0 && out[i] != 0)
            other[out[i]]++;
    }
    CHECK_FREQ(kept, n, p);
    for (uint32_t j = 2; j < k; j++) /* the other values are uniform */
        CHECK_NEAR((double)other[j] / other[1], 1.0, 0.06);
    CHECK_OK(gdn_dp_randomized_response_estimate(freq, counts, k, eps));
    static const double truth[5] = {0.4, 0.3, 0.2, 0.1, 0.0};
    for (uint32_t j = 0; j < k; j++)
        CHECK_MSG(fabs(freq[j] - truth[j]) < 0.015, "value %u: %g", j, freq[j]);
    in[0] = 5;
    CHECK_EQ(gdn_dp_randomized_response(out, in, 1, k, eps, &rng), GDN_EINVAL);
    CHECK_EQ(gdn_dp_randomized_response(out, in, 1, 1, eps, &rng), GDN_EINVAL);
    gdn_rng_wipe(&rng);
    free(in);
    free(out);
}
