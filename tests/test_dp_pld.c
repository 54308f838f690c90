/* dp, PLD accountant: the Gaussian mechanism against the analytical
 * Gaussian (Balle-Wang 2018), dp_accounting's published test values, one
 * subsampled step against its closed form, and PLD <= RDP. */
#include <stdint.h>

#include "guardian/dp.h"
#include "harness.h"

static double phi(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }

/* Balle-Wang 2018, Theorem 8: delta(eps) of the Gaussian with mu = 1/sigma. */
static double gaussian_delta(double eps, double sigma)
{
    double mu = 1.0 / sigma;
    return phi(-eps / mu + mu / 2) - exp(eps) * phi(-eps / mu - mu / 2);
}

static double gaussian_epsilon(double delta, double sigma)
{
    double lo = 0, hi = 200;
    for (int i = 0; i < 200; i++) {
        double mid = 0.5 * (lo + hi);
        if (gaussian_delta(mid, sigma) <= delta)
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}

GDN_TEST(dp_pld_gaussian_matches_analytic)
{
    static const double sigmas[] = {0.5, 1, 2, 5};
    double eps, want;

    for (int i = 0; i < 4; i++) {
        CHECK_OK(gdn_dp_pld_epsilon(&eps, 1.0, sigmas[i], 1, 1e-5, 1e-4));
        want = gaussian_epsilon(1e-5, sigmas[i]);
        /* Pessimistic: never below, and off by at most half a grid step. */
        CHECK_MSG(eps >= want - 1e-9 && eps - want <= 1e-4, "sigma %g: %.6f vs %.6f",
                  sigmas[i], eps, want);
    }
    /* 4 compositions of sigma 2 are one Gaussian of sigma 1. */
    CHECK_OK(gdn_dp_pld_epsilon(&eps, 1.0, 2.0, 4, 1e-5, 1e-4));
    want = gaussian_epsilon(1e-5, 1.0);
    CHECK_MSG(eps >= want - 1e-9 && eps - want <= 4 * 0.5e-4 + 1e-5, "%.6f vs %.6f", eps,
              want); /* each composition rounds up by half a step on average */
}

/* dp_accounting pld_privacy_accountant_test.py: test_gaussian_basic (sigma
 * sqrt(3), 3 compositions: delta(1) = 0.126936) and
 * test_poisson_subsampled_gaussian (q 0.2, sigma 0.5, 3 compositions:
 * delta(1) = 0.15594), both to 1e-3. */
GDN_TEST(dp_pld_matches_dp_accounting)
{
    double delta, eps;

    CHECK_OK(gdn_dp_pld_delta(&delta, 1.0, sqrt(3.0), 3, 1.0, 1e-3));
    CHECK_MSG(delta >= 0.126936 - 1e-6 && delta - 0.126936 < 1e-3, "delta %.6f", delta);
    CHECK_OK(gdn_dp_pld_delta(&delta, 0.2, 0.5, 3, 1.0, 1e-3));
    CHECK_MSG(fabs(delta - 0.15594) < 1e-3, "delta %.6f", delta);
    CHECK_OK(gdn_dp_pld_epsilon(&eps, 0.2, 0.5, 3, 0.15594, 1e-3));
    CHECK_MSG(fabs(eps - 1.0) < 1e-2, "eps %.6f", eps);
    /* Edge cases: nothing sampled, no noise. */
    CHECK_OK(gdn_dp_pld_epsilon(&eps, 0.0, 1.0, 10, 1e-5, 0));
    CHECK_NEAR(eps, 0, 0);
    CHECK_OK(gdn_dp_pld_epsilon(&eps, 0.1, 0.0, 10, 1e-5, 0));
    CHECK(isinf(eps));
    CHECK_EQ(gdn_dp_pld_epsilon(&eps, 1.5, 1.0, 10, 1e-5, 0), GDN_EINVAL);
}

/* One step of the subsampled Gaussian in closed form: the loss is monotone
 * in x, so delta(eps) = P[x > x*] - e^eps Q[x > x*] ("remove") and
 * P'[x < x'] - e^eps Q'[x < x'] ("add"); the larger one. */
static double subsampled_delta(double q, double s, double eps)
{
    double xr, xa, dr, da;
    /* remove: L(x) = log(1 - q + q e^((2x-1)/(2s^2))) > eps */
    xr = s * s * log((exp(eps) - (1 - q)) / q) + 0.5;
    dr = (1 - q) * phi(-xr / s) + q * phi((1 - xr) / s) - exp(eps) * phi(-xr / s);
    /* add: -log(1 - q + q e^(...)) > eps, i.e. x < xa */
    da = 0;
    if (exp(-eps) > 1 - q) {
        xa = s * s * log((exp(-eps) - (1 - q)) / q) + 0.5;
        da = phi(xa / s) - exp(eps) * ((1 - q) * phi(xa / s) + q * phi((xa - 1) / s));
    }
    return dr > da ? dr : da;
}

GDN_TEST(dp_pld_one_subsampled_step_closed_form)
{
    static const double cases[][3] = {{0.1, 1.0, 0.5}, {0.01, 0.8, 0.2}, {0.5, 2.0, 0.1}};
    double delta, want;

    for (int i = 0; i < 3; i++) {
        CHECK_OK(gdn_dp_pld_delta(&delta, cases[i][0], cases[i][1], 1, cases[i][2], 1e-4));
        want = subsampled_delta(cases[i][0], cases[i][1], cases[i][2]);
        /* The grid rounds losses up by less than one step: the PLD's delta
         * lies between the exact one at eps and at eps - 1e-4. */
        CHECK_MSG(delta >= want - 1e-12 &&
                      delta <= subsampled_delta(cases[i][0], cases[i][1],
                                                cases[i][2] - 1e-4) + 1e-12,
                  "case %d: %.8g vs %.8g", i, delta, want);
    }
}

GDN_TEST(dp_pld_below_rdp)
{
    /* q, sigma, steps, grid. The pessimistic grid overstates epsilon by
     * about steps x grid / 2 (0.1 for the first case). */
    static const double cases[][4] = {{0.01, 1.0, 1000, 2e-4}, {0.1, 2.42, 100, 1e-4}};
    double pld, rdp, order;

    for (int i = 0; i < 2; i++) {
        CHECK_OK(gdn_dp_pld_epsilon(&pld, cases[i][0], cases[i][1], (uint64_t)cases[i][2],
                                    1e-5, cases[i][3]));
        CHECK_OK(gdn_dp_rdp_epsilon(&rdp, &order, cases[i][0], cases[i][1],
                                    (uint64_t)cases[i][2], 1e-5, GDN_DP_RDP_CONSERVATIVE));
        CHECK_MSG(pld <= rdp && pld > 0.7 * rdp, "case %d: pld %.5f rdp %.5f", i, pld, rdp);
    }
}
