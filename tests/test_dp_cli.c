/* guardian privacy end to end: ε and the optimal order as JSON, --exact
 * with Opacus's orders, calibration, errors. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guardian/core.h"
#include "guardian/dp.h"
#include "harness.h"

/* Runs `guardian privacy ARGS`, output (stdout and stderr) into *out. */
static int run_privacy(gdn_buf *out, const char *args)
{
    char cmd[1024], path[600];
    int st;

    snprintf(path, sizeof path, "%s/privacy.out", gdn_test_tmpdir());
    snprintf(cmd, sizeof cmd, "privacy %s", args);
    st = gdn_test_guardian(cmd, path);
    out->len = 0;
    if (gdn_file_read(out, path, 1 << 20) || gdn_buf_append(out, "", 1))
        return -1;
    return st;
}

/* Runs with --json and reads epsilon and order. */
static int json_eps(double *eps, double *order, const char *args)
{
    gdn_buf out = {0};
    gdn_json *j = NULL;
    char full[512];
    int rc = -1;

    snprintf(full, sizeof full, "%s --json", args);
    if (run_privacy(&out, full) == 0 &&
        gdn_json_parse(&j, (const char *)out.data, out.len - 1, "privacy") == 0 &&
        gdn_json_number(gdn_json_get(j, "epsilon"), eps) == 0 &&
        gdn_json_number(gdn_json_get(j, "order"), order) == 0)
        rc = 0;
    gdn_json_free(j);
    gdn_buf_free(&out);
    return rc;
}

GDN_TEST(dp_cli_privacy)
{
    gdn_buf out = {0};
    double eps, order;

    CHECK_MSG(run_privacy(&out, "--help") == 0, "the guardian command has no privacy command");
    gdn_buf_free(&out);
    CHECK(json_eps(&eps, &order, "--q 0.01 --sigma 1.0 --steps 1000 --delta 1e-5") == 0);
    CHECK_MSG(fabs(eps / 2.10136653 - 1) < 1e-6, "eps %.10f", eps);
    CHECK_NEAR(order, 7.8, 1e-9);
    CHECK(json_eps(&eps, &order, "--q 1 --sigma 1 --steps 1") == 0);
    CHECK_MSG(fabs(eps / 4.72850707 - 1) < 1e-6, "eps %.10f", eps);
    CHECK_NEAR(order, 5.4, 1e-9);
    CHECK(json_eps(&eps, &order, "--q 0.04 --sigma 1.5 --steps 2250 --exact "
                                 "--orders opacus") == 0);
    CHECK_MSG(fabs(eps / 7.32911117143 - 1) < 1e-9, "eps %.12f", eps);
    /* Human output names epsilon and the order; calibration finds sigma 1. */
    CHECK_EQ(run_privacy(&out, "--q 0.01 --sigma 1.0 --steps 1000"), 0);
    CHECK(strstr((const char *)out.data, "epsilon 2.10136653") != NULL);
    CHECK(strstr((const char *)out.data, "order 7.8") != NULL);
    CHECK_EQ(run_privacy(&out, "--q 0.01 --steps 1000 --epsilon 2.10136653"), 0);
    CHECK(strstr((const char *)out.data, "sigma   1") != NULL ||
          strstr((const char *)out.data, "sigma   0.99999") != NULL);
    /* Errors a user meets. */
    CHECK(run_privacy(&out, "--sigma 1") != 0);
    CHECK(strstr((const char *)out.data, "--q is required") != NULL);
    CHECK(run_privacy(&out, "--q 2 --sigma 1") != 0);
    CHECK(run_privacy(&out, "--q 0.1 --sigma 1 --epsilon 2") != 0);
    CHECK(run_privacy(&out, "--q 0.1 --sigma 1 --orders tf") != 0);
    gdn_buf_free(&out);
}

/* --accountant pld (the analytical Gaussian's 4.377178 at sigma 1, plus at
 * most half a grid step) and --distributed (the DDG accountant's value). */
GDN_TEST(dp_cli_privacy_pld_and_distributed)
{
    gdn_buf out = {0};
    gdn_dp_ddg_params p;
    double eps, want, order;
    gdn_json *j = NULL;

    CHECK_EQ(run_privacy(&out, "--q 1 --sigma 1 --steps 1 --accountant pld --json"), 0);
    CHECK_OK(gdn_json_parse(&j, (const char *)out.data, out.len - 1, "privacy"));
    CHECK_OK(gdn_json_number(gdn_json_get(j, "epsilon"), &eps));
    gdn_json_free(j);
    CHECK_MSG(eps >= 4.377178 && eps < 4.377178 + 6e-5, "eps %.7f", eps);
    CHECK_EQ(run_privacy(&out, "--q 0.25 --sigma 0.8 --steps 12 --distributed 67 "
                               "--clients 10 --json"), 0);
    CHECK_OK(gdn_json_parse(&j, (const char *)out.data, out.len - 1, "privacy"));
    CHECK_OK(gdn_json_number(gdn_json_get(j, "epsilon"), &eps));
    gdn_json_free(j);
    CHECK_OK(gdn_dp_ddg_setup(&p, 67, 1.0, 0.8, 10, 18, 0));
    CHECK_OK(gdn_dp_ddg_epsilon(&want, &order, &p, 0.25, 12, 1e-5));
    CHECK_MSG(fabs(eps / want - 1) < 1e-9, "eps %.10g vs %.10g", eps, want);
    CHECK(run_privacy(&out, "--q 0.1 --sigma 1 --accountant moments") != 0);
    gdn_buf_free(&out);
}
