/* dp, distributed DP: the Hadamard transform against the O(n^2) matrix,
 * the rotation's round trip, conditional rounding (bound, bias), the
 * encode/decode round trip with and without noise (the decoded sum's
 * variance against the paper's prediction), Zhu-Wang's subsampling bound
 * against the Gaussian's exact one, and simulate --dp distributed. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guardian/dp.h"
#include "guardian/fl.h"
#include "harness.h"

/* The naive transform: (H v)_i = sum_j (-1)^popcount(i & j) v_j / sqrt(n). */
static void hadamard_naive(double *out, const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t j = 0; j < n; j++)
            s += (__builtin_popcountll(i & j) & 1 ? -v[j] : v[j]);
        out[i] = s / sqrt((double)n);
    }
}

GDN_TEST(dp_ddg_hadamard_matches_naive_and_inverts)
{
    enum { N = 256 };
    double v[N], fast[N], slow[N], norm0 = 0, norm1 = 0;
    uint8_t seed[32] = {7};
    gdn_rng rng;

    gdn_rng_init_seed(&rng, 11);
    for (size_t n = 1; n <= N; n *= 2) {
        for (size_t i = 0; i < n; i++)
            v[i] = fast[i] = gdn_rng_double(&rng) - 0.5;
        CHECK_OK(gdn_dp_hadamard(fast, n));
        hadamard_naive(slow, v, n);
        for (size_t i = 0; i < n; i++)
            CHECK_NEAR(fast[i], slow[i], 1e-12);
    }
    CHECK_EQ(gdn_dp_hadamard(fast, 12), GDN_EINVAL);
    CHECK_EQ(gdn_dp_hadamard_dim(199210), 262144);
    CHECK_EQ(gdn_dp_hadamard_dim(256), 256);
    /* The randomized rotation keeps the norm and D H undoes H D. */
    for (size_t i = 0; i < N; i++) {
        v[i] = fast[i] = i < 3 ? 1.0 : 0.0; /* a spiky vector */
        norm0 += v[i] * v[i];
    }
    CHECK_OK(gdn_dp_ddg_rotate(fast, N, seed));
    for (size_t i = 0; i < N; i++) {
        norm1 += fast[i] * fast[i];
        CHECK(fabs(fast[i]) <= 3.0 / sqrt((double)N) + 1e-12); /* flattened */
    }
    CHECK_NEAR(norm1, norm0, 1e-12);
    CHECK_OK(gdn_dp_ddg_unrotate(fast, N, seed));
    for (size_t i = 0; i < N; i++)
        CHECK_NEAR(fast[i], v[i], 1e-13);
}

GDN_TEST(dp_ddg_conditional_rounding)
{
    enum { N = 16, DRAWS = 4000 };
    double x[N], r[N], mean[N] = {0}, tight = 0;
    gdn_rng rng;

    gdn_rng_init_seed(&rng, 5);
    for (size_t i = 0; i < N; i++)
        x[i] = 3.0 * (gdn_rng_double(&rng) - 0.5);
    /* A loose bound: plain randomized rounding, unbiased per coordinate
     * (standard error <= 0.5 / sqrt(DRAWS) = 0.008; 5 of them allowed). */
    for (int t = 0; t < DRAWS; t++) {
        CHECK_OK(gdn_dp_conditional_round(r, x, N, 1e9, &rng));
        for (size_t i = 0; i < N; i++) {
            CHECK(r[i] == floor(x[i]) || r[i] == ceil(x[i]));
            mean[i] += r[i] / DRAWS;
        }
    }
    for (size_t i = 0; i < N; i++)
        CHECK_MSG(fabs(mean[i] - x[i]) < 0.04, "coordinate %zu: mean %.4f vs %.4f", i,
                  mean[i], x[i]);
    /* A bound below E||r||^2: every accepted draw meets it. */
    for (size_t i = 0; i < N; i++) {
        double f = x[i] - floor(x[i]);
        tight += x[i] * x[i] + f * (1 - f);
    }
    tight = floor(tight);
    for (int t = 0; t < 200; t++) {
        double s = 0;
        CHECK_OK(gdn_dp_conditional_round(r, x, N, tight, &rng));
        for (size_t i = 0; i < N; i++)
            s += r[i] * r[i];
        CHECK(s <= tight);
    }
    /* An impossible bound fails instead of looping. */
    CHECK_EQ(gdn_dp_conditional_round(r, x, N, -1, &rng), GDN_ERANGE);
}

/* The theorem's sensitivity at d = 1024, c/gamma = 100, beta = e^-1/2:
 * min{(100 + 32)^2, 100^2 + 256 + 1 * (100 + 16)} = 10372. */
GDN_TEST(dp_ddg_sensitivity_bound)
{
    gdn_dp_ddg_params p;
    double l2, l1;

    CHECK_OK(gdn_dp_ddg_setup(&p, 1000, 1.0, 1.0, 10, 16, 0.01));
    CHECK_EQ(p.dim_pad, 1024);
    gdn_dp_ddg_sensitivity(&l2, &l1, &p);
    CHECK_NEAR(l2 * l2, 10372, 1e-6);
    CHECK_NEAR(l1, l2 * l2 < 32 * l2 ? l2 * l2 : 32 * l2, 1e-9);
    /* per client: (z c / gamma)^2 / n = 100^2 / 10 */
    CHECK_NEAR(p.local_var, 1000, 1e-9);
    /* Chosen gamma: 6 standard deviations of the aggregate fill half the
     * modulus: gamma 2^16 / 2 = 6 sqrt(10^2/1024 + 1 + 10 gamma^2/4). */
    CHECK_OK(gdn_dp_ddg_setup(&p, 1000, 1.0, 1.0, 10, 16, 0));
    CHECK_NEAR(p.gamma * 32768, 6 * sqrt(100.0 / 1024 + 1 + 2.5 * p.gamma * p.gamma), 1e-9);
    /* Too little noise per client for Prop. 14 (sigma < 1/2 grid step). */
    CHECK_EQ(gdn_dp_ddg_setup(&p, 1000, 1.0, 1e-3, 10, 8, 0.5), GDN_ERANGE);
}

/* n clients' updates (norms 0.5 to 3, so some are clipped) encoded, summed
 * mod 2^bits as SecAgg does, decoded. */
static int ddg_round(double *err, double *mean_err, const gdn_dp_ddg_params *p, size_t n,
                     uint64_t seed)
{
    size_t d = p->dim, dp = p->dim_pad;
    float *u = malloc(d * sizeof *u);
    double *clipped = calloc(d, sizeof *clipped), *work = malloc(dp * sizeof *work);
    double *dec = malloc(d * sizeof *dec);
    uint32_t *enc = malloc(dp * sizeof *enc), *sum = calloc(dp, sizeof *sum);
    uint32_t mask = p->bits == 32 ? UINT32_MAX : (1u << p->bits) - 1;
    uint8_t rot[32];
    gdn_rng rng;
    int rc = 0;

    gdn_rng_init_seed(&rng, seed);
    gdn_rng_bytes(&rng, rot, sizeof rot);
    for (size_t k = 0; k < n && !rc; k++) {
        double ss = 0, f, target = 0.5 + 2.5 * (double)k / (double)n;
        for (size_t i = 0; i < d; i++) {
            u[i] = (float)(gdn_rng_double(&rng) - 0.3);
            ss += (double)u[i] * u[i];
        }
        for (size_t i = 0; i < d; i++)
            u[i] = (float)(u[i] * target / sqrt(ss));
        f = target > p->clip ? p->clip / target : 1.0;
        for (size_t i = 0; i < d; i++)
            clipped[i] += (double)u[i] * f;
        if (!(rc = gdn_dp_ddg_encode(enc, work, u, p, rot, &rng)))
            for (size_t i = 0; i < dp; i++)
                sum[i] = (sum[i] + enc[i]) & mask;
    }
    if (!rc)
        rc = gdn_dp_ddg_decode(dec, work, sum, p, rot);
    *mean_err = 0;
    for (size_t i = 0; i < d && !rc; i++) {
        err[i] = dec[i] - clipped[i];
        *mean_err += err[i] / (double)d;
    }
    free(u), free(clipped), free(work), free(dec), free(enc), free(sum);
    return rc;
}

GDN_TEST(dp_ddg_encode_decode_without_noise)
{
    enum { D = 500, N = 8 };
    gdn_dp_ddg_params p;
    double err[D], mean, ss = 0;

    CHECK_OK(gdn_dp_ddg_setup(&p, D, 1.0, 0.0, N, 16, 0));
    CHECK_OK(ddg_round(err, &mean, &p, N, 21));
    for (size_t i = 0; i < D; i++)
        ss += err[i] * err[i];
    /* Rounding moves each client's rotated vector by at most sqrt(d_pad)
     * grid steps, the rotation keeps norms: ||err|| <= n gamma sqrt(d_pad);
     * independent roundings give about gamma sqrt(n d_pad / 6). */
    CHECK_MSG(sqrt(ss) <= p.gamma * sqrt((double)N * p.dim_pad / 4.0),
              "error %g, gamma %g", sqrt(ss), p.gamma);
    CHECK(sqrt(ss) > 0);
    CHECK(fabs(mean) < 4 * p.gamma * sqrt((double)N / 4.0 / D));
}

GDN_TEST(dp_ddg_decoded_noise_matches_prediction)
{
    enum { D = 2000, N = 5, TRIALS = 4 };
    gdn_dp_ddg_params p;
    double err[D], mean, var = 0, predicted;
    uint64_t num, den;

    /* z = 0.7, c = 2: the sum's noise has std z c = 1.4 (update units). */
    CHECK_OK(gdn_dp_ddg_setup(&p, D, 2.0, 0.7, N, 20, 0));
    for (int t = 0; t < TRIALS; t++) {
        CHECK_OK(ddg_round(err, &mean, &p, N, 100 + (uint64_t)t));
        for (size_t i = 0; i < D; i++)
            var += err[i] * err[i] / (D * TRIALS);
    }
    /* KLS: gamma^2 (n sigma_local^2 + rounding), rounding <= n / 4 steps^2
     * per coordinate; sigma_local^2 as the sampler draws it (rounded up). */
    CHECK_OK(gdn_dp_rational_up(&num, &den, p.local_var));
    predicted = p.gamma * p.gamma * N * ((double)num / (double)den);
    CHECK_NEAR(predicted, 1.4 * 1.4, 1e-6 * 1.96);
    /* 8000 values: the variance's standard error is about 1.6%. */
    CHECK_MSG(fabs(var / predicted - 1) < 0.06, "variance %.5f, predicted %.5f", var,
              predicted);
}

/* The distributed-DP aggregator: contributions added concurrently by slot,
 * in any order, give the same bits as ordered adds; a missing slot is an
 * error, not a silent zero. */
GDN_TEST(dp_ddg_aggregator_slots_in_any_order)
{
    enum { D = 100, N = 4 };
    static const size_t order[N] = {3, 1, 0, 2};
    gdn_dp_ddg_params p;
    gdn_aggregator *agg;
    float global[D], vec[N][D], out1[D], out2[D];
    gdn_rng rng, round_rng;

    gdn_rng_init_seed(&rng, 9);
    for (int i = 0; i < D; i++)
        global[i] = (float)gdn_rng_double(&rng);
    for (int k = 0; k < N; k++)
        for (int i = 0; i < D; i++)
            vec[k][i] = global[i] + (float)(gdn_rng_double(&rng) - 0.5) * 0.3f;
    CHECK_OK(gdn_dp_ddg_setup(&p, D, 1.0, 1.0, N, 18, 0));
    CHECK_OK(gdn_aggregator_new_ddg(&agg, &p, N, 0, 0, 0));
    CHECK(gdn_aggregator_concurrent(agg));
    gdn_rng_init_seed(&round_rng, 10);
    gdn_aggregator_set_noise_rng(agg, &round_rng);
    CHECK_OK(gdn_aggregator_begin(agg, global, N));
    for (int k = 0; k < N; k++)
        CHECK_OK(gdn_aggregator_add(agg, vec[k], 1));
    CHECK_OK(gdn_aggregator_finish(agg, out1));
    gdn_aggregator_set_noise_rng(agg, &round_rng);
    CHECK_OK(gdn_aggregator_begin(agg, global, N));
    for (int k = 0; k < N; k++)
        CHECK_OK(gdn_aggregator_add_slot(agg, order[k], vec[order[k]], 1));
    CHECK_EQ(gdn_aggregator_add_slot(agg, 1, vec[1], 1), GDN_ESTATE); /* twice */
    CHECK_OK(gdn_aggregator_finish(agg, out2));
    CHECK(memcmp(out1, out2, sizeof out1) == 0);
    /* The noisy mean moved the model: std z c / n = 0.25 per coordinate of
     * the mean update, over 100 coordinates. */
    {
        double ss = 0;
        for (int i = 0; i < D; i++)
            ss += ((double)out1[i] - global[i]) * ((double)out1[i] - global[i]);
        CHECK(ss > 0.01 * D && ss < 0.2 * D);
    }
    gdn_aggregator_set_noise_rng(agg, &round_rng);
    CHECK_OK(gdn_aggregator_begin(agg, global, N));
    CHECK_OK(gdn_aggregator_add_slot(agg, 0, vec[0], 1));
    CHECK_EQ(gdn_aggregator_finish(agg, out2), GDN_ESTATE);
    gdn_aggregator_free(agg);
}

/* Zhu-Wang's general bound with the Gaussian's RDP curve must sit above
 * the exact subsampled Gaussian (Mironov-Talwar-Zhang), equal it at q = 1,
 * and give 0 at q = 0. */
GDN_TEST(dp_rdp_subsampled_bounds_the_gaussian)
{
    double base[65], zw, exact;

    for (int l = 0; l <= 64; l++)
        base[l] = gdn_dp_rdp_gaussian(l, 1.0, 1.2);
    for (unsigned a = 2; a <= 64; a *= 2) {
        CHECK_OK(gdn_dp_rdp_subsampled(&zw, 0.05, a, base));
        CHECK_OK(gdn_dp_rdp_sampled_gaussian(&exact, 0.05, 1.2, a, GDN_DP_RDP_EXACT));
        CHECK_MSG(zw >= exact * (1 - 1e-12), "order %u: %g < %g", a, zw, exact);
        CHECK_MSG(zw <= 3 * exact + 1e-3, "order %u: %g vs %g", a, zw, exact);
        CHECK_OK(gdn_dp_rdp_subsampled(&zw, 1.0, a, base));
        CHECK_NEAR(zw, base[a], 0);
        CHECK_OK(gdn_dp_rdp_subsampled(&zw, 0.0, a, base));
        CHECK_NEAR(zw, 0, 0);
    }
    /* At order 2 the bound is exact: log(1 + q^2 (e^eps(2) - 1)). */
    CHECK_OK(gdn_dp_rdp_subsampled(&zw, 0.05, 2, base));
    CHECK_NEAR(zw, log1p(0.0025 * expm1(base[2])), 1e-15);
}

/* With many bits and much noise per client, tau vanishes and Theorem 1's
 * sensitivity is c/gamma up to 1e-3: the DDG's epsilon then lies between
 * the subsampled Gaussian's exact epsilon and its Zhu-Wang bound. */
GDN_TEST(dp_ddg_epsilon_brackets)
{
    gdn_dp_ddg_params p;
    double e, o, ec, oc, z;

    CHECK_OK(gdn_dp_ddg_setup(&p, 10000, 1.0, 1.0, 100, 24, 0));
    CHECK_OK(gdn_dp_ddg_epsilon(&e, &o, &p, 0.1, 100, 1e-5));
    CHECK_OK(gdn_dp_rdp_epsilon(&ec, &oc, 0.1, 1.0, 100, 1e-5, GDN_DP_RDP_CONSERVATIVE));
    CHECK_MSG(e >= ec && e <= 1.5 * ec, "ddg %g, central %g", e, ec);
    /* No floor: with much noise epsilon goes to 0 (the convexity bound). */
    CHECK_OK(gdn_dp_ddg_setup(&p, 10000, 1.0, 200.0, 100, 24, 0));
    CHECK_OK(gdn_dp_ddg_epsilon(&e, &o, &p, 0.1, 100, 1e-5));
    CHECK_MSG(e < 0.2, "epsilon %g at z = 200", e);
    /* Calibration hits the target from below. */
    CHECK_OK(gdn_dp_ddg_calibrate(&z, 10000, 1.0, 100, 24, 0.1, 100, 4.0, 1e-5));
    CHECK_OK(gdn_dp_ddg_setup(&p, 10000, 1.0, z, 100, 24, 0));
    CHECK_OK(gdn_dp_ddg_epsilon(&e, &o, &p, 0.1, 100, 1e-5));
    CHECK_MSG(e <= 4.0 && e > 3.99, "calibrated z %g gives %g", z, e);
}

/* A small federation under --dp distributed --secagg trains, and the ε it
 * reports is the accountant's for the same parameters: mlp:4-8-3 has 67
 * parameters, 40 clients at q = 0.25 (expected cohort 10), 18 bits. */
GDN_TEST(dp_ddg_simulate_trains_and_reports_epsilon)
{
    char csv[600], args[2048], log[600], m[700];
    const char *t = gdn_test_tmpdir();
    gdn_dp_ddg_params p;
    gdn_buf b = {0};
    double eps, order, acc, reported;
    unsigned round;
    const char *last;
    gdn_rng rng;

    snprintf(csv, sizeof csv, "%s/ddg.csv", t);
    snprintf(log, sizeof log, "%s/ddg.log", t);
    gdn_rng_init_seed(&rng, 3);
    gdn_buf_printf(&b, "f0,f1,f2,f3,class\n");
    for (int i = 0; i < 600; i++) {
        double f[4];
        for (int k = 0; k < 4; k++)
            f[k] = gdn_rng_normal(&rng) + (k == i % 3 ? 3 : 0);
        gdn_buf_printf(&b, "%.4f,%.4f,%.4f,%.4f,%d\n", f[0], f[1], f[2], f[3], i % 3);
    }
    gdn_file_write_atomic(csv, b.data, b.len);
    snprintf(args, sizeof args,
             "simulate --data csv:%s:label=class --model mlp:4-8-3 --clients 40 "
             "--fraction 0.25 --rounds 12 --batch 8 --lr 0.1 --dp distributed --secagg "
             "--clip 1 --noise 0.8 --ddg-bits 18 --out %s/ddg", csv, t);
    CHECK_MSG(gdn_test_guardian(args, log) == 0, "simulate failed (%s)", log);
    snprintf(m, sizeof m, "%s/ddg/metrics.csv", t);
    b.len = 0;
    CHECK_OK(gdn_file_read(&b, m, 1 << 20));
    CHECK_OK(gdn_buf_append(&b, "", 1));
    last = strrchr((const char *)b.data, '\n');
    while (last > (const char *)b.data && last[-1] != '\n')
        last--;
    CHECK(sscanf(last, "%u,%*u,%*f,%*f,%lf,%*f,%lf", &round, &acc, &reported) == 3);
    CHECK_EQ(round, 12);
    CHECK_MSG(acc > 0.8, "test accuracy %.4f", acc);
    CHECK_OK(gdn_dp_ddg_setup(&p, 67, 1.0, 0.8, 10, 18, 0));
    CHECK_OK(gdn_dp_ddg_epsilon(&eps, &order, &p, 0.25, 12, 1e-5));
    CHECK_MSG(fabs(reported / eps - 1) < 1e-5, "reported %.8g, accountant %.8g", reported,
              eps);
    CHECK(gdn_test_file_contains(log, "epsilon"));
    /* An owner's policy budget is checked with the same accountant: a budget
     * above the central (sampled Gaussian) epsilon of 12 rounds but below
     * the distributed one is refused before the 12th round. */
    {
        char pol[600], text[200];
        double central;
        int n;
        CHECK_OK(gdn_dp_rdp_epsilon(&central, &order, 0.25, 0.8, 12, 1e-5,
                                    GDN_DP_RDP_CONSERVATIVE));
        CHECK(central < eps);
        n = snprintf(text, sizeof text, "{\"version\": 1, \"budget\": {\"epsilon\": %.6f, "
                     "\"delta\": 1e-5}}", 0.5 * (central + eps));
        snprintf(pol, sizeof pol, "%s/ddg-policy.json", t);
        CHECK_OK(gdn_file_write_atomic(pol, text, (size_t)n));
        snprintf(args, sizeof args,
                 "simulate --data csv:%s:label=class --model mlp:4-8-3 --clients 40 "
                 "--fraction 0.25 --rounds 12 --batch 8 --lr 0.1 --dp distributed --secagg "
                 "--clip 1 --noise 0.8 --policy %s --out %s/ddg-pol", csv, pol, t);
        CHECK_MSG(gdn_test_guardian(args, log) == 0, "simulate failed (%s)", log);
        CHECK(gdn_test_file_contains(log, "declined: refused: budget"));
    }
    /* Without --secagg the clients' noise has nowhere to go. */
    snprintf(args, sizeof args, "simulate --data csv:%s:label=class --model mlp:4-8-3 "
             "--clients 40 --dp distributed --out %s/ddg2", csv, t);
    CHECK(gdn_test_guardian(args, log) != 0);
    CHECK(gdn_test_file_contains(log, "needs --secagg"));
    gdn_buf_free(&b);
}
