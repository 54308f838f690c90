/* guardian privacy: the RDP accountant from the command line. Prints the ε
 * that `steps` steps of the Poisson-subsampled Gaussian spend at δ, and the
 * optimal Rényi order; with --epsilon instead of --sigma, the noise
 * multiplier that reaches a target ε. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "guardian/dp.h"

cli_opt cli_privacy_opts[] = {
    {"q", "Q", "Poisson sampling rate per step, in [0, 1]", NULL, 0},
    {"sigma", "S", "noise multiplier (noise std / L2 sensitivity)", NULL, 0},
    {"steps", "N", "number of steps (rounds) composed", "1", 0},
    {"delta", "D", "target delta", "1e-5", 0},
    {"epsilon", "E", "instead of --sigma: find the smallest noise multiplier "
     "that stays within E", NULL, 0},
    {"exact", NULL, "exact fractional-order series (signed terms, as Opacus); "
     "default: dp_accounting's conservative series", NULL, 0},
    {"orders", "SET", "Renyi orders: dp_accounting (1.1..10.9, 11..63, 128.."
     "1024) or opacus (1.1..10.9, 12..63)", "dp_accounting", 0},
    {"json", NULL, "print one JSON object", NULL, 0},
    {NULL, NULL, NULL, NULL, 0},
};

/* x, or JSON null / "infinite" for +inf. */
static void put_number(double x, int json)
{
    if (isinf(x))
        printf("%s", json ? "null" : "infinite");
    else if (json)
        printf("%.12g", x);
    else
        printf("%.9g", x);
}

static int epsilon_of(double *eps, double *order, double q, double sigma,
                      uint64_t steps, double delta, gdn_dp_order_set set,
                      gdn_dp_rdp_mode mode)
{
    gdn_dp_accountant *acc;
    int rc;

    if ((rc = gdn_dp_accountant_new(&acc, set, mode)))
        return rc;
    if (!(rc = gdn_dp_accountant_add_sampled_gaussian(acc, q, sigma, steps)))
        rc = gdn_dp_accountant_epsilon(acc, eps, order, delta);
    gdn_dp_accountant_free(acc);
    return rc;
}

/* Bisection on sigma over the chosen order set (gdn_dp_calibrate_sigma uses
 * dp_accounting's orders; this honours --orders too). */
static int calibrate(double *sigma, double q, uint64_t steps, double target,
                     double delta, gdn_dp_order_set set, gdn_dp_rdp_mode mode)
{
    double lo, hi = 1.0, e, a;
    int rc;

    if (set == GDN_DP_ORDERS_DP_ACCOUNTING)
        return gdn_dp_calibrate_sigma(sigma, q, steps, target, delta, mode);
    while (!(rc = epsilon_of(&e, &a, q, hi, steps, delta, set, mode)) && e > target)
        if ((hi *= 2) > 1e6)
            return gdn_error(GDN_ERANGE, "no noise multiplier up to 1e6 reaches "
                             "epsilon %g", target);
    if (rc)
        return rc;
    lo = 0;
    while (hi - lo > 1e-9 * hi) {
        double mid = 0.5 * (lo + hi);
        if ((rc = epsilon_of(&e, &a, q, mid, steps, delta, set, mode)))
            return rc;
        if (e <= target)
            hi = mid;
        else
            lo = mid;
    }
    *sigma = hi;
    return 0;
}

int cli_privacy(cli_opt *opts)
{
    const char *orders = cli_str(opts, "orders");
    gdn_dp_order_set set;
    gdn_dp_rdp_mode mode = cli_flag(opts, "exact") ? GDN_DP_RDP_EXACT
                                                    : GDN_DP_RDP_CONSERVATIVE;
    int json = cli_flag(opts, "json"), given_sigma = cli_str(opts, "sigma") != NULL;
    double q, sigma = 0, delta, target = 0, eps, order;
    long steps;
    int rc;

    if (!cli_str(opts, "q")) {
        fprintf(stderr, "guardian privacy: --q is required\n");
        return GDN_EINVAL;
    }
    if (given_sigma == (cli_str(opts, "epsilon") != NULL)) {
        fprintf(stderr, "guardian privacy: give one of --sigma and --epsilon\n");
        return GDN_EINVAL;
    }
    if (strcmp(orders, "dp_accounting") == 0) {
        set = GDN_DP_ORDERS_DP_ACCOUNTING;
    } else if (strcmp(orders, "opacus") == 0) {
        set = GDN_DP_ORDERS_OPACUS;
    } else {
        fprintf(stderr, "guardian privacy: --orders %s: expected dp_accounting or "
                        "opacus\n", orders);
        return GDN_EINVAL;
    }
    if (cli_double(opts, "q", 0, 1, &q) ||
        cli_long(opts, "steps", 0, 1000000000000L, &steps) ||
        cli_double(opts, "delta", 0, 0.999999, &delta) ||
        (given_sigma && cli_double(opts, "sigma", 0, 1e9, &sigma)) ||
        (!given_sigma && cli_double(opts, "epsilon", 1e-9, 1e9, &target)))
        return GDN_EINVAL;
    if (!given_sigma) {
        if (delta <= 0) {
            fprintf(stderr, "guardian privacy: --epsilon needs --delta > 0\n");
            return GDN_EINVAL;
        }
        if ((rc = calibrate(&sigma, q, (uint64_t)steps, target, delta, set, mode)))
            return cli_fail("calibrating the noise", rc);
    }
    if ((rc = epsilon_of(&eps, &order, q, sigma, (uint64_t)steps, delta, set, mode)))
        return cli_fail("accounting", rc);
    if (json) {
        printf("{\"epsilon\": ");
        put_number(eps, 1);
        printf(", \"order\": ");
        if (isinf(eps))
            printf("null");
        else
            printf("%.12g", order);
        printf(", \"delta\": %.12g, \"q\": %.12g, "
               "\"sigma\": %.12g, \"steps\": %ld, \"accountant\": \"rdp\", "
               "\"series\": \"%s\", \"orders\": \"%s\"}\n",
               delta, q, sigma, steps,
               mode == GDN_DP_RDP_EXACT ? "exact" : "conservative", orders);
        return 0;
    }
    if (!given_sigma)
        printf("sigma   %.9g  (smallest noise multiplier with epsilon <= %g)\n",
               sigma, target);
    printf("epsilon ");
    put_number(eps, 0);
    printf("  (delta %g, optimal Renyi order %g)\n", delta, order);
    printf("        Poisson-subsampled Gaussian: q %g, noise multiplier %g, %ld steps\n"
           "        Renyi DP, %s series, %s orders, Canonne-Kamath-Steinke "
           "2020 Prop. 12\n",
           q, sigma, steps, mode == GDN_DP_RDP_EXACT ? "exact" : "conservative", orders);
    return 0;
}
