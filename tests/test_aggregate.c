/* fl aggregators: mean, median, trimmed mean, Krum, Multi-Krum, normbound.
 * Robust aggregators are checked against slow, obviously-correct references
 * (sort each coordinate; score Krum by brute force). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "guardian/fl.h"
#include "harness.h"

static int cmp_float(const void *x, const void *y)
{
    float a = *(const float *)x, b = *(const float *)y;
    return (a > b) - (a < b);
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Mean of the sorted coordinate values after dropping k at each end. */
static void ref_trimmed(float *out, const float *vecs, size_t n, size_t dim,
                        size_t k)
{
    float col[1024];

    for (size_t c = 0; c < dim; c++) {
        double sum = 0;
        for (size_t i = 0; i < n; i++)
            col[i] = vecs[i * dim + c];
        qsort(col, n, sizeof col[0], cmp_float);
        for (size_t i = k; i < n - k; i++)
            sum += col[i];
        out[c] = (float)(sum / (double)(n - 2 * k));
    }
}

static void ref_median(float *out, const float *vecs, size_t n, size_t dim)
{
    float col[1024];

    for (size_t c = 0; c < dim; c++) {
        for (size_t i = 0; i < n; i++)
            col[i] = vecs[i * dim + c];
        qsort(col, n, sizeof col[0], cmp_float);
        out[c] = n % 2 ? col[n / 2]
                       : (float)(((double)col[n / 2 - 1] + col[n / 2]) / 2);
    }
}

/* Krum scores by brute force (Blanchard et al. 2017). */
static void ref_krum_scores(double *score, const float *vecs, size_t n,
                            size_t dim, size_t f)
{
    double d[64];

    for (size_t i = 0; i < n; i++) {
        size_t r = 0;
        for (size_t j = 0; j < n; j++) {
            double s = 0;
            if (j == i)
                continue;
            for (size_t c = 0; c < dim; c++)
                s += ((double)vecs[i * dim + c] - vecs[j * dim + c]) *
                     ((double)vecs[i * dim + c] - vecs[j * dim + c]);
            d[r++] = s;
        }
        qsort(d, r, sizeof d[0], cmp_double);
        score[i] = 0;
        for (size_t j = 0; j < n - f - 2; j++)
            score[i] += d[j];
    }
}

/* Runs one round of `spec` over n vectors (cohort may be larger). */
static int run_round(gdn_aggregator *agg, float *out, const float *global,
                     const float *vecs, const double *w, size_t n,
                     size_t cohort, size_t dim)
{
    int rc = gdn_aggregator_begin(agg, global, cohort);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = gdn_aggregator_add(agg, vecs + i * dim, w ? w[i] : 1.0);
    return rc ? rc : gdn_aggregator_finish(agg, out);
}

GDN_TEST(aggregate_mean_values)
{
    static const float v[2][3] = {{1, 2, 3}, {4, 5, -6}};
    static const double w[2] = {1, 3};
    float out[3];
    gdn_aggregator *agg;

    CHECK_OK(gdn_aggregator_new(&agg, "mean", 3));
    CHECK(strcmp(gdn_aggregator_spec(agg), "mean") == 0);
    CHECK_OK(run_round(agg, out, NULL, &v[0][0], w, 2, 2, 3));
    /* (1 * 1 + 3 * 4) / 4 and so on. */
    CHECK(out[0] == 3.25f && out[1] == 4.25f && out[2] == -3.75f);
    /* A dropout: 1 of a cohort of 3. */
    CHECK_OK(run_round(agg, out, NULL, &v[1][0], w + 1, 1, 3, 3));
    CHECK(out[0] == 4 && out[1] == 5 && out[2] == -6);
    /* Weights 2, 5: (2 + 20) / 7 etc., rounded once from double. */
    static const double w2[2] = {2, 5};
    CHECK_OK(run_round(agg, out, NULL, &v[0][0], w2, 2, 2, 3));
    CHECK(out[0] == (float)(22.0 / 7) && out[1] == (float)(29.0 / 7) &&
          out[2] == (float)(-24.0 / 7));
    gdn_aggregator_free(agg);
}

/* One contribution comes back bit for bit, for any integer weight < 2^29
 * and any finite float (subnormals and extremes included). */
GDN_TEST(aggregate_mean_single_exact)
{
    enum { DIM = 1000 };
    static float x[DIM], out[DIM];
    static const double weights[] = {1, 7, 600, 12345, 536870911};
    gdn_aggregator *agg;
    gdn_rng rng;

    gdn_rng_init_seed(&rng, 11);
    for (size_t c = 0; c < DIM; c++)
        x[c] = (float)(gdn_rng_normal(&rng) *
                       pow(2.0, (double)gdn_rng_uniform(&rng, 200) - 100));
    x[0] = FLT_MAX;
    x[1] = -FLT_MIN;
    x[2] = FLT_TRUE_MIN;
    x[3] = -0.0f;
    x[4] = 0.1f;
    CHECK_OK(gdn_aggregator_new(&agg, "mean", DIM));
    for (size_t k = 0; k < sizeof weights / sizeof weights[0]; k++) {
        CHECK_OK(run_round(agg, out, NULL, x, &weights[k], 1, 4, DIM));
        CHECK_MSG(memcmp(out, x, sizeof x) == 0, "weight %g", weights[k]);
    }
    gdn_aggregator_free(agg);
}

GDN_TEST(aggregate_median_trimmed_reference)
{
    enum { DIM = 300 }; /* crosses the 128-coordinate blocks */
    static const size_t ns[] = {1, 2, 3, 5, 10, 11};
    static const char *trims[] = {"trimmed:0", "trimmed:0.1", "trimmed:0.2",
                                  "trimmed:0.25", "trimmed:0.4",
                                  "trimmed:0.49"};
    static const double tb[] = {0, 0.1, 0.2, 0.25, 0.4, 0.49};
    static float vecs[11 * DIM], out[DIM], ref[DIM];
    gdn_aggregator *med, *trim[6];
    gdn_rng rng;

    gdn_rng_init_seed(&rng, 5);
    CHECK_OK(gdn_aggregator_new(&med, "median", DIM));
    for (size_t t = 0; t < 6; t++)
        CHECK_OK(gdn_aggregator_new(&trim[t], trims[t], DIM));
    /* The same aggregators serve every n, growing and shrinking cohorts. */
    for (int rep = 0; rep < 2; rep++) {
        for (size_t s = 0; s < sizeof ns / sizeof ns[0]; s++) {
            size_t n = ns[s], cohort = n + (size_t)rep * 3;
            for (size_t i = 0; i < n * DIM; i++) {
                /* Every third coordinate takes few values, to make ties. */
                double z = gdn_rng_normal(&rng);
                vecs[i] = i % 3 ? (float)z : (float)floor(2 * z);
            }
            CHECK_OK(run_round(med, out, NULL, vecs, NULL, n, cohort, DIM));
            ref_median(ref, vecs, n, DIM);
            CHECK_MSG(memcmp(out, ref, sizeof out) == 0, "median n=%zu", n);
            for (size_t t = 0; t < 6; t++) {
                size_t k = (size_t)floor(tb[t] * (double)n);
                CHECK_OK(run_round(trim[t], out, NULL, vecs, NULL, n, cohort,
                                   DIM));
                ref_trimmed(ref, vecs, n, DIM, k);
                CHECK_MSG(memcmp(out, ref, sizeof out) == 0, "%s n=%zu",
                          trims[t], n);
            }
        }
    }
    gdn_aggregator_free(med);
    for (size_t t = 0; t < 6; t++)
        gdn_aggregator_free(trim[t]);

    /* Hand values on one coordinate. */
    static const float five[5] = {10, -3, 2, 100, 4};
    CHECK_OK(gdn_aggregator_new(&med, "median", 1));
    CHECK_OK(gdn_aggregator_new(&trim[0], "trimmed:0.2", 1));
    CHECK_OK(run_round(med, out, NULL, five, NULL, 5, 5, 1));
    CHECK(out[0] == 4); /* {-3, 2, 4, 10, 100} */
    CHECK_OK(run_round(med, out, NULL, five, NULL, 4, 5, 1));
    CHECK(out[0] == 6); /* {-3, 2, 10, 100}: (2 + 10) / 2 */
    CHECK_OK(run_round(trim[0], out, NULL, five, NULL, 5, 5, 1));
    CHECK(out[0] == (float)(16.0 / 3)); /* drops -3 and 100 */
    CHECK_OK(run_round(trim[0], out, NULL, five, NULL, 4, 5, 1));
    CHECK(out[0] == 27.25f); /* floor(0.2 * 4) = 0: the plain mean */
    gdn_aggregator_free(med);
    gdn_aggregator_free(trim[0]);
}

/* Cohorts above 256 take the Shell sort path. */
GDN_TEST(aggregate_median_large_cohort)
{
    enum { N = 1000, DIM = 3 };
    static float vecs[N * DIM], out[DIM], ref[DIM];
    static const size_t ns[] = {257, 300, 1000};
    gdn_aggregator *med, *trim;
    gdn_rng rng;

    gdn_rng_init_seed(&rng, 8);
    for (size_t i = 0; i < N * DIM; i++)
        vecs[i] = i % 3 ? (float)gdn_rng_normal(&rng)
                        : (float)gdn_rng_uniform(&rng, 20);
    CHECK_OK(gdn_aggregator_new(&med, "median", DIM));
    CHECK_OK(gdn_aggregator_new(&trim, "trimmed:0.3", DIM));
    for (size_t s = 0; s < 3; s++) {
        size_t n = ns[s];
        CHECK_OK(run_round(med, out, NULL, vecs, NULL, n, n, DIM));
        ref_median(ref, vecs, n, DIM);
        CHECK_MSG(memcmp(out, ref, sizeof out) == 0, "median n=%zu", n);
        CHECK_OK(run_round(trim, out, NULL, vecs, NULL, n, n, DIM));
        ref_trimmed(ref, vecs, n, DIM, (size_t)floor(0.3 * (double)n));
        CHECK_MSG(memcmp(out, ref, sizeof out) == 0, "trimmed n=%zu", n);
    }
    gdn_aggregator_free(med);
    gdn_aggregator_free(trim);
}

/* 7 honest vectors near the origin, 2 attackers far away (F = 2, n = 9). */
GDN_TEST(aggregate_krum_outliers)
{
    static const float v[9][2] = {{0, 0}, {1, 0}, {0, 1}, {1, 1}, {2, 0},
                                  {0, 2}, {2, 2}, {100, 100}, {-80, 120}};
    double score[9];
    float out[2], perm[9][2], tie[9][2];
    size_t best = 0;
    gdn_aggregator *krum, *mk;

    /* By hand, with n - F - 2 = 5 neighbours: {1, 1} is at squared distance
     * 1 from {1,0}, {0,1} and 2 from {0,0}, {2,0}, {0,2}, {2,2}: score
     * 1+1+2+2+2 = 8; the next best, {1,0} and {0,1}, score 1+1+1+2+5 = 10. */
    ref_krum_scores(score, &v[0][0], 9, 2, 2);
    for (size_t i = 1; i < 9; i++)
        if (score[i] < score[best])
            best = i;
    CHECK_EQ(best, 3);
    CHECK(score[3] == 8 && score[1] == 10 && score[2] == 10);
    CHECK_OK(gdn_aggregator_new(&krum, "krum:2", 2));
    CHECK_OK(run_round(krum, out, NULL, &v[0][0], NULL, 9, 9, 2));
    CHECK(out[0] == 1 && out[1] == 1);

    /* Multi-Krum over the 7 best = the 7 honest ones: (6/7, 6/7). */
    CHECK_OK(gdn_aggregator_new(&mk, "multikrum:2:7", 2));
    CHECK_OK(run_round(mk, out, NULL, &v[0][0], NULL, 9, 9, 2));
    CHECK(out[0] == (float)(6.0 / 7) && out[1] == (float)(6.0 / 7));
    /* Attackers first: the same results. */
    for (size_t i = 0; i < 9; i++)
        memcpy(perm[i], v[(i + 7) % 9], sizeof perm[i]);
    CHECK_OK(run_round(mk, out, NULL, &perm[0][0], NULL, 9, 9, 2));
    CHECK(out[0] == (float)(6.0 / 7) && out[1] == (float)(6.0 / 7));
    CHECK_OK(run_round(krum, out, NULL, &perm[0][0], NULL, 9, 9, 2));
    CHECK(out[0] == 1 && out[1] == 1);

    /* With {1, 2} for {2, 2}, {0, 1} and {1, 1} both score 7: the tie goes
     * to the lower index. */
    memcpy(tie, v, sizeof tie);
    tie[6][0] = 1;
    ref_krum_scores(score, &tie[0][0], 9, 2, 2);
    CHECK(score[2] == 7 && score[3] == 7);
    CHECK_OK(run_round(krum, out, NULL, &tie[0][0], NULL, 9, 9, 2));
    CHECK(out[0] == 0 && out[1] == 1);
    gdn_aggregator_free(krum);
    gdn_aggregator_free(mk);
}

/* Random cohorts with a few scaled attackers vs brute-force scoring. */
GDN_TEST(aggregate_krum_reference)
{
    enum { MAXN = 12, DIM = 2500 }; /* DIM crosses the distance blocks */
    static float vecs[MAXN * DIM], out[DIM];
    double score[MAXN], acc[DIM];
    size_t order[MAXN];
    char spec[64];
    gdn_rng rng;

    gdn_rng_init_seed(&rng, 9);
    for (size_t n = 3; n <= MAXN; n++) {
        for (size_t f = 0; 2 * f + 3 <= n; f++) {
            size_t dim = (n + f) % 2 ? DIM : 37;
            size_t m = 1 + gdn_rng_uniform(&rng, n);
            gdn_aggregator *krum, *mk;

            for (size_t i = 0; i < n * dim; i++)
                vecs[i] = (float)gdn_rng_normal(&rng);
            for (size_t a = 0; a < f; a++) { /* attackers: scaled copies */
                size_t i = gdn_rng_uniform(&rng, n);
                for (size_t c = 0; c < dim; c++)
                    vecs[i * dim + c] *= 10;
            }
            ref_krum_scores(score, vecs, n, dim, f);
            /* Order by (score, index). */
            for (size_t i = 0; i < n; i++) {
                size_t j = i;
                for (; j > 0 && score[order[j - 1]] > score[i]; j--)
                    order[j] = order[j - 1];
                order[j] = i;
            }

            snprintf(spec, sizeof spec, "krum:%zu", f);
            CHECK_OK(gdn_aggregator_new(&krum, spec, dim));
            CHECK_OK(run_round(krum, out, NULL, vecs, NULL, n, n, dim));
            CHECK_MSG(memcmp(out, vecs + order[0] * dim, dim * sizeof(float)) ==
                          0,
                      "%s n=%zu", spec, n);
            gdn_aggregator_free(krum);

            /* Reference Multi-Krum: the m best, summed in cohort order. */
            int chosen[MAXN] = {0};
            for (size_t k = 0; k < m; k++)
                chosen[order[k]] = 1;
            memset(acc, 0, sizeof acc);
            for (size_t i = 0; i < n; i++)
                for (size_t c = 0; chosen[i] && c < dim; c++)
                    acc[c] += vecs[i * dim + c];
            snprintf(spec, sizeof spec, "multikrum:%zu:%zu", f, m);
            CHECK_OK(gdn_aggregator_new(&mk, spec, dim));
            CHECK_OK(run_round(mk, out, NULL, vecs, NULL, n, n, dim));
            for (size_t c = 0; c < dim; c++)
                CHECK_MSG(out[c] == (float)(acc[c] / (double)m),
                          "%s n=%zu c=%zu", spec, n, c);
            gdn_aggregator_free(mk);
        }
    }
}

static double norm_diff(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return sqrt(s);
}

GDN_TEST(aggregate_normbound)
{
    enum { DIM = 100 };
    static float g[DIM], x[2][DIM], out[DIM];
    double u[2][DIM], nu[2], w[2] = {1, 3};
    gdn_aggregator *agg;
    gdn_rng rng;

    gdn_rng_init_seed(&rng, 3);
    for (size_t c = 0; c < DIM; c++)
        g[c] = (float)gdn_rng_normal(&rng);
    for (int k = 0; k < 2; k++) {
        double s = 0;
        for (size_t c = 0; c < DIM; c++) {
            x[k][c] = g[c] + (float)gdn_rng_normal(&rng);
            u[k][c] = (double)x[k][c] - g[c];
            s += u[k][c] * u[k][c];
        }
        nu[k] = sqrt(s);
    }
    /* Long update (norm ~10): scaled to norm 2 exactly, same direction. */
    CHECK(nu[0] > 5 && nu[1] > 5);
    CHECK_OK(gdn_aggregator_new(&agg, "normbound:2", DIM));
    CHECK_OK(run_round(agg, out, g, x[0], w, 1, 1, DIM));
    CHECK_NEAR(norm_diff(out, g, DIM) / 2, 1.0, 1e-5);
    for (size_t c = 0; c < DIM; c++)
        CHECK_NEAR(out[c], g[c] + u[0][c] * 2 / nu[0], 1e-5);
    gdn_aggregator_free(agg);

    /* Bound above both norms: a plain weighted mean of the vectors. */
    CHECK_OK(gdn_aggregator_new(&agg, "normbound:1000", DIM));
    CHECK_OK(run_round(agg, out, g, x[0], w, 1, 2, DIM));
    for (size_t c = 0; c < DIM; c++)
        CHECK_NEAR(out[c], x[0][c], 1e-6);
    CHECK_OK(run_round(agg, out, g, x[0], w, 2, 2, DIM));
    for (size_t c = 0; c < DIM; c++)
        CHECK_NEAR(out[c], (1 * (double)x[0][c] + 3 * (double)x[1][c]) / 4,
                   1e-5);
    gdn_aggregator_free(agg);

    /* Bound between: only the update over the bound is scaled. */
    double mid = (nu[0] + nu[1]) / 2;
    int lo = nu[0] < nu[1] ? 0 : 1; /* the update under the bound */
    char spec[64];
    snprintf(spec, sizeof spec, "normbound:%.17g", mid);
    CHECK_OK(gdn_aggregator_new(&agg, spec, DIM));
    CHECK_OK(run_round(agg, out, g, x[0], w, 2, 2, DIM));
    for (size_t c = 0; c < DIM; c++) {
        double s0 = lo == 0 ? 1 : mid / nu[0], s1 = lo == 1 ? 1 : mid / nu[1];
        double want = g[c] + (1 * s0 * u[0][c] + 3 * s1 * u[1][c]) / 4;
        CHECK_NEAR(out[c], want, 1e-5);
    }
    gdn_aggregator_free(agg);
}

GDN_TEST(aggregate_bad_specs)
{
    static const char *bad[] = {
        "",           "Mean",          "mean:1",        "median:0",
        "trimmed",    "trimmed:0.5",   "trimmed:-0.1",  "trimmed: 0.1",
        "trimmed:0.1x", "trimmed:nan", "trimmed:",      "trimmed:0.1:2",
        "krum",       "krum:-1",       "krum:1.5",      "krum:",
        "krum: 1",    "krum:99999999999999999999999",   "multikrum:1",
        "multikrum:1:0", "multikrum:1:2:3", "multikrum::2", "normbound:0",
        "normbound:inf", "normbound:-1", "normbound:1e999", "fedavg",
        "mean ",      ":mean",
    };
    gdn_aggregator *agg = (gdn_aggregator *)1;
    char longspec[300];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = gdn_aggregator_new(&agg, bad[i], 10);
        CHECK_MSG(rc == GDN_EINVAL, "'%s' gave %d", bad[i], rc);
        CHECK(agg == NULL);
        CHECK_MSG(strstr(gdn_errmsg(), "aggregator") != NULL, "'%s': %s",
                  bad[i], gdn_errmsg());
    }
    CHECK_EQ(gdn_aggregator_new(&agg, "trimmed:0.6", 10), GDN_EINVAL);
    CHECK(strcmp(gdn_errmsg(), "aggregator 'trimmed:0.6': the trimmed "
                               "fraction must be in [0, 0.5)") == 0);
    CHECK_EQ(gdn_aggregator_new(&agg, "averge", 10), GDN_EINVAL);
    CHECK(strstr(gdn_errmsg(), "multikrum:F:M") != NULL);
    memset(longspec, 'a', sizeof longspec - 1);
    longspec[sizeof longspec - 1] = '\0';
    CHECK_EQ(gdn_aggregator_new(&agg, longspec, 10), GDN_EINVAL);
    CHECK_EQ(gdn_aggregator_new(&agg, "mean", 0), GDN_EINVAL);

    /* Valid edge cases. */
    static const char *good[] = {"trimmed:0", "trimmed:.25", "krum:0",
                                 "multikrum:0:1", "normbound:0.001"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        CHECK_OK(gdn_aggregator_new(&agg, good[i], 10));
        CHECK(strcmp(gdn_aggregator_spec(agg), good[i]) == 0);
        gdn_aggregator_free(agg);
    }
    gdn_aggregator_free(NULL);
}

GDN_TEST(aggregate_round_errors)
{
    float x[3] = {1, 2, 3}, out[3], g[3] = {0, 0, 0};
    gdn_aggregator *agg;

    CHECK_OK(gdn_aggregator_new(&agg, "mean", 3));
    CHECK_EQ(gdn_aggregator_add(agg, x, 1), GDN_ESTATE);
    CHECK_EQ(gdn_aggregator_finish(agg, out), GDN_ESTATE);
    CHECK_EQ(gdn_aggregator_begin(agg, g, 0), GDN_EINVAL);
    CHECK_OK(gdn_aggregator_begin(agg, g, 2));
    CHECK_EQ(gdn_aggregator_finish(agg, out), GDN_ESTATE);
    CHECK(strstr(gdn_errmsg(), "no contributions this round") != NULL);
    /* Bad weights and non-finite values are rejected without effect. */
    CHECK_EQ(gdn_aggregator_add(agg, x, 0), GDN_EINVAL);
    CHECK_EQ(gdn_aggregator_add(agg, x, -1), GDN_EINVAL);
    CHECK_EQ(gdn_aggregator_add(agg, x, NAN), GDN_EINVAL);
    CHECK_EQ(gdn_aggregator_add(agg, x, INFINITY), GDN_EINVAL);
    float bad[3] = {1, 2, NAN};
    CHECK_EQ(gdn_aggregator_add(agg, bad, 1), GDN_ERANGE);
    CHECK(strstr(gdn_errmsg(), "NaN or infinity at index 2") != NULL);
    bad[2] = 3;
    bad[0] = -INFINITY;
    CHECK_EQ(gdn_aggregator_add(agg, bad, 1), GDN_ERANGE);
    CHECK(strstr(gdn_errmsg(), "index 0") != NULL);
    CHECK_OK(gdn_aggregator_add(agg, x, 5));
    CHECK_OK(gdn_aggregator_add(agg, x, 2));
    CHECK_EQ(gdn_aggregator_add(agg, x, 1), GDN_ESTATE); /* beyond cohort */
    CHECK_OK(gdn_aggregator_finish(agg, out));
    CHECK(memcmp(out, x, sizeof x) == 0);
    CHECK_EQ(gdn_aggregator_finish(agg, out), GDN_ESTATE); /* round over */
    gdn_aggregator_free(agg);

    /* Robust aggregators reject NaN too, and their cohort is bounded. */
    CHECK_OK(gdn_aggregator_new(&agg, "median", 3));
    CHECK_OK(gdn_aggregator_begin(agg, NULL, 1));
    bad[0] = NAN;
    CHECK_EQ(gdn_aggregator_add(agg, bad, 1), GDN_ERANGE);
    CHECK_OK(gdn_aggregator_add(agg, x, 1));
    CHECK_EQ(gdn_aggregator_add(agg, x, 1), GDN_ESTATE);
    CHECK_OK(gdn_aggregator_finish(agg, out));
    CHECK(memcmp(out, x, sizeof x) == 0);
    gdn_aggregator_free(agg);

    /* Krum needs 2F+3 = 5 contributions; a failed finish keeps the round. */
    CHECK_OK(gdn_aggregator_new(&agg, "krum:1", 3));
    CHECK_OK(gdn_aggregator_begin(agg, g, 6));
    for (int i = 0; i < 4; i++)
        CHECK_OK(gdn_aggregator_add(agg, x, 1));
    CHECK_EQ(gdn_aggregator_finish(agg, out), GDN_ESTATE);
    CHECK(strstr(gdn_errmsg(), "2F+3 = 5") != NULL);
    CHECK_OK(gdn_aggregator_add(agg, x, 1));
    CHECK_OK(gdn_aggregator_finish(agg, out));
    CHECK(memcmp(out, x, sizeof x) == 0);
    gdn_aggregator_free(agg);

    /* Multi-Krum cannot average more vectors than it received. */
    CHECK_OK(gdn_aggregator_new(&agg, "multikrum:0:4", 3));
    CHECK_OK(gdn_aggregator_begin(agg, g, 4));
    for (int i = 0; i < 3; i++)
        CHECK_OK(gdn_aggregator_add(agg, x, 1));
    CHECK_EQ(gdn_aggregator_finish(agg, out), GDN_ESTATE);
    gdn_aggregator_free(agg);

    /* normbound measures updates from the global model: it needs one. */
    CHECK_OK(gdn_aggregator_new(&agg, "normbound:1", 3));
    CHECK_EQ(gdn_aggregator_begin(agg, NULL, 2), GDN_EINVAL);
    CHECK_EQ(gdn_aggregator_add(agg, x, 1), GDN_ESTATE);
    gdn_aggregator_free(agg);
}

/* Same inputs in the same order give the same bits, round after round. */
GDN_TEST(aggregate_deterministic)
{
    enum { N = 7, DIM = 513 };
    static const char *specs[] = {"mean", "median", "trimmed:0.2", "krum:2",
                                  "multikrum:2:3", "normbound:5"};
    static float vecs[N * DIM], g[DIM], a[DIM], b[DIM];
    double w[N];
    gdn_rng rng;

    gdn_rng_init_seed(&rng, 21);
    for (size_t i = 0; i < N * DIM; i++)
        vecs[i] = (float)gdn_rng_normal(&rng);
    for (size_t c = 0; c < DIM; c++)
        g[c] = (float)gdn_rng_normal(&rng);
    for (size_t i = 0; i < N; i++)
        w[i] = (double)(1 + gdn_rng_uniform(&rng, 100));
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
        gdn_aggregator *x, *y;
        CHECK_OK(gdn_aggregator_new(&x, specs[s], DIM));
        CHECK_OK(gdn_aggregator_new(&y, specs[s], DIM));
        CHECK_OK(run_round(x, a, g, vecs, w, N, N, DIM));
        CHECK_OK(run_round(x, a, g, vecs, w, N, N, DIM)); /* reused */
        CHECK_OK(run_round(y, b, g, vecs, w, N, N + 2, DIM));
        CHECK_MSG(memcmp(a, b, sizeof a) == 0, "%s", specs[s]);
        gdn_aggregator_free(x);
        gdn_aggregator_free(y);
    }
}
