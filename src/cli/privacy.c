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
    {"accountant", "NAME", "rdp (Renyi DP) or pld (privacy loss distribution: "
     "tighter, pessimistic discretization, FFT composition)", "rdp", 0},
    {"pld-interval", "H", "pld: the privacy loss grid's step", "1e-4", 0},
    {"distributed", "D", "account distributed DP instead (simulate --dp distributed): "
     "updates of D parameters, the discrete Gaussian shared by --clients", NULL, 0},
    {"clients", "N", "distributed DP: the expected cohort that shares the noise", "100", 0},
    {"clip", "C", "distributed DP: L2 bound of an update", "1", 0},
    {"bits", "B", "distributed DP: SecAgg+ modulus 2^B", "18", 0},
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

/* --distributed: the DDG's accountant (dp.h, gdn_dp_ddg_epsilon). */
static int distributed(cli_opt *opts, double q, long steps, double delta, int json)
{
    long dim, clients, bits;
    double clip, sigma = 0, target = 0, eps, order, l2, l1;
    int given_sigma = cli_str(opts, "sigma") != NULL, rc;
    gdn_dp_ddg_params p;

    if (cli_long(opts, "distributed", 1, 1L << 28, &dim) ||
        cli_long(opts, "clients", 1, 1000000, &clients) ||
        cli_long(opts, "bits", 2, 32, &bits) || cli_double(opts, "clip", 1e-9, 1e9, &clip) ||
        (given_sigma && cli_double(opts, "sigma", 0, 1e9, &sigma)) ||
        (!given_sigma && cli_double(opts, "epsilon", 1e-9, 1e9, &target)))
        return GDN_EINVAL;
    if (!given_sigma && (rc = gdn_dp_ddg_calibrate(&sigma, (size_t)dim, clip,
                                                    (uint32_t)clients, (uint32_t)bits, q,
                                                    (uint64_t)steps, target, delta)))
        return cli_fail("calibrating the noise", rc);
    if ((rc = gdn_dp_ddg_setup(&p, (size_t)dim, clip, sigma, (uint32_t)clients,
                               (uint32_t)bits, 0)) ||
        (rc = gdn_dp_ddg_epsilon(&eps, &order, &p, q, (uint64_t)steps, delta)))
        return cli_fail("accounting", rc);
    gdn_dp_ddg_sensitivity(&l2, &l1, &p);
    if (json) {
        printf("{\"epsilon\": ");
        put_number(eps, 1);
        printf(", \"order\": %.12g, \"delta\": %.12g, \"q\": %.12g, \"sigma\": %.12g, "
               "\"steps\": %ld, \"accountant\": \"ddg\", \"dim\": %ld, \"clients\": %ld, "
               "\"bits\": %ld, \"gamma\": %.12g, \"local_stddev\": %.12g, "
               "\"sensitivity_l2\": %.12g}\n", isinf(eps) ? 0 : order, delta, q, sigma,
               steps, dim, clients, bits, p.gamma, sqrt(p.local_var), l2);
        return 0;
    }
    if (!given_sigma)
        printf("sigma   %.9g  (smallest noise multiplier with epsilon <= %g)\n", sigma,
               target);
    printf("epsilon ");
    put_number(eps, 0);
    printf("  (delta %g, Renyi order %g)\n", delta, order);
    printf("        distributed discrete Gaussian (Kairouz-Liu-Steinke 2021): %ld "
           "parameters (rotated: %zu), %ld clients, %ld bits,\n"
           "        gamma %.6g, per-client noise std %.6g grid steps, L2 sensitivity "
           "%.6g steps;\n        Poisson sampling q %g over %ld rounds (Zhu-Wang 2019 "
           "Thm. 6)\n", dim, p.dim_pad, clients, bits, p.gamma, sqrt(p.local_var), l2,
           q, steps);
    return 0;
}

/* --accountant pld: the Poisson-subsampled Gaussian's PLD (dp.h). */
static int pld(cli_opt *opts, double q, long steps, double delta, int json)
{
    double sigma = 0, target = 0, eps, h;
    int given_sigma = cli_str(opts, "sigma") != NULL, rc;

    if (cli_double(opts, "pld-interval", 1e-7, 1, &h) ||
        (given_sigma && cli_double(opts, "sigma", 0, 1e9, &sigma)) ||
        (!given_sigma && cli_double(opts, "epsilon", 1e-9, 1e9, &target)))
        return GDN_EINVAL;
    if (!(delta > 0)) {
        fprintf(stderr, "guardian privacy: the PLD accountant needs --delta > 0\n");
        return GDN_EINVAL;
    }
    if (!given_sigma &&
        (rc = gdn_dp_pld_calibrate_sigma(&sigma, q, (uint64_t)steps, target, delta, h)))
        return cli_fail("calibrating the noise", rc);
    if ((rc = gdn_dp_pld_epsilon(&eps, q, sigma, (uint64_t)steps, delta, h)))
        return cli_fail("accounting", rc);
    if (json) {
        printf("{\"epsilon\": ");
        put_number(eps, 1);
        printf(", \"delta\": %.12g, \"q\": %.12g, \"sigma\": %.12g, \"steps\": %ld, "
               "\"accountant\": \"pld\", \"interval\": %.12g}\n", delta, q, sigma, steps, h);
        return 0;
    }
    if (!given_sigma)
        printf("sigma   %.9g  (smallest noise multiplier with epsilon <= %g)\n", sigma,
               target);
    printf("epsilon ");
    put_number(eps, 0);
    printf("  (delta %g)\n        Poisson-subsampled Gaussian: q %g, noise multiplier %g, "
           "%ld steps\n        privacy loss distribution, pessimistic grid of %g, FFT "
           "composition\n", delta, q, sigma, steps, h);
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
    if (cli_str(opts, "distributed"))
        return distributed(opts, q, steps, delta, json);
    if (strcmp(cli_str(opts, "accountant"), "pld") == 0)
        return pld(opts, q, steps, delta, json);
    if (strcmp(cli_str(opts, "accountant"), "rdp") != 0) {
        fprintf(stderr, "guardian privacy: --accountant %s: expected rdp or pld\n",
                cli_str(opts, "accountant"));
        return GDN_EINVAL;
    }
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
