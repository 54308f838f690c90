/* fl server strategies: FedAvg, FedAvgM, and FedAdagrad / FedAdam / FedYogi
 * (Reddi et al., ICLR 2021, Algorithm 2) against the formulas in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "guardian/fl.h"
#include "harness.h"

enum { DIM = 6 };
/* Two rounds: global x0, aggregates a1 and a2. Coordinate 3 has Δ = 0;
 * in round 2 some |Δ| are small, so Yogi's sign(v - Δ²) takes both signs. */
static const float x0[DIM] = {0, 1, -2, 0.5f, 3, -0.25f};
static const float a1[DIM] = {1, 0.5f, -1, 0.5f, -1, 0.75f};
static const float a2[DIM] = {1.01f, 0.5f, 2, 0.5f, 7, 0.7f};

static gdn_fl_server_cfg cfg_of(const char *strategy)
{
    gdn_fl_server_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.strategy = strategy;
    return cfg;
}

/* Relative closeness (the state is rounded to float at every step). */
#define CHECK_CLOSE(a, b)                                                     \
    CHECK_NEAR((a), (b), 1e-6 * fabs((double)(b)) + 1e-9)

GDN_TEST(server_fedavg)
{
    gdn_fl_server_cfg cfg = cfg_of("fedavg");
    gdn_fl_server *s;
    float x[DIM];
    gdn_rng rng;

    /* η = 1: the aggregate, bit for bit, whatever the global. */
    static float big[1000], agg[1000];
    gdn_rng_init_seed(&rng, 2);
    for (size_t c = 0; c < 1000; c++) {
        big[c] = (float)(gdn_rng_normal(&rng) * 1e6);
        agg[c] = (float)(gdn_rng_normal(&rng) * 1e-6);
    }
    CHECK_OK(gdn_fl_server_new(&s, &cfg, 1000));
    CHECK_EQ(gdn_fl_server_nstate(s), 0);
    CHECK(gdn_fl_server_state(s, 0) == NULL);
    gdn_fl_server_step(s, big, agg);
    CHECK(memcmp(big, agg, sizeof agg) == 0);
    gdn_fl_server_free(s);

    /* η = 0.5: half way, twice. */
    cfg.lr = 0.5f;
    CHECK_OK(gdn_fl_server_new(&s, &cfg, DIM));
    memcpy(x, x0, sizeof x);
    gdn_fl_server_step(s, x, a1);
    for (size_t c = 0; c < DIM; c++)
        CHECK_CLOSE(x[c], (x0[c] + a1[c]) / 2.0);
    gdn_fl_server_step(s, x, a2);
    for (size_t c = 0; c < DIM; c++)
        CHECK_CLOSE(x[c], ((x0[c] + a1[c]) / 2.0 + a2[c]) / 2.0);
    gdn_fl_server_free(s);
    /* NULL strategy means fedavg. */
    cfg.strategy = NULL;
    CHECK_OK(gdn_fl_server_new(&s, &cfg, DIM));
    gdn_fl_server_free(s);
}

GDN_TEST(server_fedavgm)
{
    gdn_fl_server_cfg cfg = cfg_of("fedavgm");
    gdn_fl_server *s;
    float x[DIM];
    double b = (double)0.9f, lr = (double)0.7f;

    cfg.lr = 0.7f;
    CHECK_OK(gdn_fl_server_new(&s, &cfg, DIM)); /* β defaults to 0.9 */
    CHECK_EQ(gdn_fl_server_nstate(s), 1);
    memcpy(x, x0, sizeof x);
    gdn_fl_server_step(s, x, a1);
    gdn_fl_server_step(s, x, a2);
    for (size_t c = 0; c < DIM; c++) {
        /* v1 = Δ1; x1 = x0 + η v1; v2 = β v1 + Δ2; x2 = x1 + η v2. */
        double v1 = (double)a1[c] - x0[c];
        double x1 = x0[c] + lr * v1;
        double v2 = b * v1 + (a2[c] - x1);
        CHECK_CLOSE(gdn_fl_server_state(s, 0)[c], v2);
        CHECK_CLOSE(x[c], x1 + lr * v2);
    }
    gdn_fl_server_free(s);
}

/* Algorithm 2 of Reddi et al. in double: m_{-1} = 0, v_{-1} = τ². */
static void ref_adaptive(double x[DIM], double m[DIM], double v[DIM],
                         const char *strategy, int steps)
{
    double b1 = (double)0.9f, b2 = (double)0.99f, tau = (double)1e-3f;
    double lr = (double)0.01f;
    const float *agg[2] = {a1, a2};

    for (size_t c = 0; c < DIM; c++) {
        x[c] = x0[c];
        m[c] = 0;
        v[c] = (float)(tau * tau);
    }
    for (int t = 0; t < steps; t++) {
        for (size_t c = 0; c < DIM; c++) {
            double d = agg[t][c] - x[c], d2 = d * d;
            m[c] = b1 * m[c] + (1 - b1) * d;
            if (strcmp(strategy, "fedadagrad") == 0)
                v[c] = v[c] + d2;
            else if (strcmp(strategy, "fedadam") == 0)
                v[c] = b2 * v[c] + (1 - b2) * d2;
            else
                v[c] = v[c] - (1 - b2) * d2 *
                                  (v[c] - d2 > 0 ? 1 : v[c] - d2 < 0 ? -1 : 0);
            x[c] += lr * m[c] / (sqrt(v[c]) + tau);
        }
    }
}

GDN_TEST(server_adaptive)
{
    static const char *names[] = {"fedadagrad", "fedadam", "fedyogi"};
    double x[DIM], m[DIM], v[DIM];
    float got[DIM];
    int yogi_signs = 0;

    for (size_t k = 0; k < 3; k++) {
        gdn_fl_server_cfg cfg = cfg_of(names[k]);
        gdn_fl_server *s;

        /* All defaults: η 0.01, β1 0.9, β2 0.99, τ 1e-3. */
        CHECK_OK(gdn_fl_server_new(&s, &cfg, DIM));
        CHECK_EQ(gdn_fl_server_nstate(s), 2);
        CHECK(gdn_fl_server_state(s, 2) == NULL);
        for (size_t c = 0; c < DIM; c++) {
            CHECK(gdn_fl_server_state(s, 0)[c] == 0);
            CHECK(gdn_fl_server_state(s, 1)[c] ==
                  (float)((double)1e-3f * (double)1e-3f));
        }
        memcpy(got, x0, sizeof got);
        for (int t = 1; t <= 2; t++) {
            gdn_fl_server_step(s, got, t == 1 ? a1 : a2);
            ref_adaptive(x, m, v, names[k], t);
            for (size_t c = 0; c < DIM; c++) {
                CHECK_CLOSE(got[c], x[c]);
                CHECK_CLOSE(gdn_fl_server_state(s, 0)[c], m[c]);
                CHECK_CLOSE(gdn_fl_server_state(s, 1)[c], v[c]);
            }
        }
        gdn_fl_server_free(s);
    }
    /* The data exercise both branches of Yogi's sign in round 2. */
    ref_adaptive(x, m, v, "fedyogi", 1);
    for (size_t c = 0; c < DIM; c++) {
        double d = a2[c] - x[c];
        yogi_signs |= v[c] > d * d ? 1 : v[c] < d * d ? 2 : 0;
    }
    CHECK_EQ(yogi_signs, 3);
}

/* First step from x = 0 to an aggregate of 1, η = 0.1, worked by hand:
 * m = 0.1; Adagrad v = 1e-6 + 1, x = 0.01 / (1.0000005 + 0.001);
 * Adam v = 0.99e-6 + 0.01; Yogi v = 1e-6 + 0.01 (sign(1e-6 - 1) = -1). */
GDN_TEST(server_adaptive_known_answer)
{
    static const char *names[] = {"fedadagrad", "fedadam", "fedyogi"};
    static const double want[] = {0.009990005, 0.09900504888, 0.09900499988};
    float x, one = 1;

    for (size_t k = 0; k < 3; k++) {
        gdn_fl_server_cfg cfg = cfg_of(names[k]);
        gdn_fl_server *s;
        cfg.lr = 0.1f;
        cfg.beta1 = 0.9f;
        cfg.beta2 = 0.99f;
        cfg.tau = 1e-3f;
        CHECK_OK(gdn_fl_server_new(&s, &cfg, 1));
        x = 0;
        gdn_fl_server_step(s, &x, &one);
        CHECK_NEAR(x, want[k], 2e-7);
        gdn_fl_server_free(s);
    }
}

/* Restoring the state vectors resumes a run bit for bit. */
GDN_TEST(server_state_resume)
{
    static const char *names[] = {"fedavgm", "fedadagrad", "fedadam",
                                  "fedyogi"};

    for (size_t k = 0; k < 4; k++) {
        gdn_fl_server_cfg cfg = cfg_of(names[k]);
        gdn_fl_server *a, *b;
        float xa[DIM], xb[DIM];

        cfg.lr = 0.3f;
        CHECK_OK(gdn_fl_server_new(&a, &cfg, DIM));
        CHECK_OK(gdn_fl_server_new(&b, &cfg, DIM));
        memcpy(xa, x0, sizeof xa);
        gdn_fl_server_step(a, xa, a1);
        memcpy(xb, xa, sizeof xb);
        for (size_t i = 0; i < gdn_fl_server_nstate(a); i++)
            memcpy(gdn_fl_server_state(b, i), gdn_fl_server_state(a, i),
                   DIM * sizeof(float));
        gdn_fl_server_step(a, xa, a2);
        gdn_fl_server_step(b, xb, a2);
        CHECK_MSG(memcmp(xa, xb, sizeof xa) == 0, "%s", names[k]);
        gdn_fl_server_free(a);
        gdn_fl_server_free(b);
    }
}

GDN_TEST(server_bad_config)
{
    gdn_fl_server_cfg cfg = cfg_of("fedsgd");
    gdn_fl_server *s = (gdn_fl_server *)1;

    CHECK_EQ(gdn_fl_server_new(&s, &cfg, 4), GDN_EINVAL);
    CHECK(s == NULL);
    CHECK(strstr(gdn_errmsg(), "'fedsgd'") != NULL);
    CHECK(strstr(gdn_errmsg(), "fedavg, fedavgm, fedadagrad, fedadam or "
                               "fedyogi") != NULL);
    cfg.strategy = "fedavg";
    CHECK_EQ(gdn_fl_server_new(&s, &cfg, 0), GDN_EINVAL);
    cfg.lr = -1;
    CHECK_EQ(gdn_fl_server_new(&s, &cfg, 4), GDN_EINVAL);
    CHECK(strstr(gdn_errmsg(), "lr") != NULL);
    cfg.lr = NAN;
    CHECK_EQ(gdn_fl_server_new(&s, &cfg, 4), GDN_EINVAL);
    cfg = cfg_of("fedavgm");
    cfg.momentum = 1;
    CHECK_EQ(gdn_fl_server_new(&s, &cfg, 4), GDN_EINVAL);
    CHECK(strstr(gdn_errmsg(), "momentum") != NULL);
    cfg = cfg_of("fedadam");
    cfg.beta1 = 1.5f;
    CHECK_EQ(gdn_fl_server_new(&s, &cfg, 4), GDN_EINVAL);
    cfg = cfg_of("fedyogi");
    cfg.beta2 = -0.5f;
    CHECK_EQ(gdn_fl_server_new(&s, &cfg, 4), GDN_EINVAL);
    cfg = cfg_of("fedadagrad");
    cfg.tau = -1e-3f;
    CHECK_EQ(gdn_fl_server_new(&s, &cfg, 4), GDN_EINVAL);
    CHECK(strstr(gdn_errmsg(), "tau") != NULL);
    CHECK_EQ(gdn_fl_server_new(&s, NULL, 4), GDN_EINVAL);
    gdn_fl_server_free(NULL);
}
