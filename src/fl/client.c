/* The client side of a round, and the federation's random streams. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "guardian/dp.h"
#include "guardian/fl.h"

/* Streams are labelled children of one root per seed, so any party that
 * knows (seed, round, client) derives the same bits: the simulation and
 * networked clients train identically. */
enum { STREAM_INIT = 1, STREAM_SERVER = 2, STREAM_CLIENT = 3 };

static void root(gdn_rng *rng, uint64_t seed, uint64_t label)
{
    gdn_rng base;

    gdn_rng_init_seed(&base, seed);
    gdn_rng_derive(rng, &base, label);
    gdn_rng_wipe(&base);
}

void gdn_fl_init_rng(gdn_rng *rng, uint64_t seed)
{
    root(rng, seed, STREAM_INIT);
}

void gdn_fl_server_rng(gdn_rng *rng, uint64_t seed, uint64_t round)
{
    gdn_rng r;

    root(&r, seed, STREAM_SERVER);
    gdn_rng_derive(rng, &r, round);
    gdn_rng_wipe(&r);
}

void gdn_fl_client_rng(gdn_rng *rng, uint64_t seed, uint64_t round,
                       uint64_t client)
{
    gdn_rng r, per_round;

    root(&r, seed, STREAM_CLIENT);
    gdn_rng_derive(&per_round, &r, round);
    gdn_rng_derive(rng, &per_round, client);
    gdn_rng_wipe(&r);
    gdn_rng_wipe(&per_round);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

size_t gdn_fl_sample_cohort(uint32_t *cohort, uint32_t *scratch, const gdn_fl_config *cfg,
                            unsigned round)
{
    size_t k = cfg->clients, m = cfg->per_round;
    gdn_rng rng;

    gdn_fl_server_rng(&rng, cfg->seed, round);
    if (cfg->dp.enabled) { /* Poisson sampling, what the accountant assumes */
        m = 0;
        for (size_t i = 0; i < k; i++)
            if (gdn_rng_double(&rng) < cfg->fraction)
                cohort[m++] = (uint32_t)i;
        gdn_rng_wipe(&rng);
        return m;
    }
    if (!m) {
        m = (size_t)llround(cfg->fraction * (double)k);
        m = m ? m : 1;
    }
    for (size_t i = 0; i < k; i++)
        scratch[i] = (uint32_t)i;
    for (size_t i = 0; i < m; i++) { /* partial Fisher-Yates */
        size_t j = i + (size_t)gdn_rng_uniform(&rng, k - i);
        uint32_t t = scratch[i];
        scratch[i] = scratch[j];
        scratch[j] = t;
    }
    gdn_rng_wipe(&rng);
    memcpy(cohort, scratch, m * sizeof *cohort);
    qsort(cohort, m, sizeof *cohort, cmp_u32);
    return m;
}

uint64_t gdn_fl_dp_sgd_steps(const gdn_fl_local *cfg, size_t n)
{
    return (uint64_t)cfg->epochs * ((n + cfg->batch - 1) / cfg->batch);
}

/* One epoch of DP-SGD: ceil(n / B) steps, each over a Poisson sample at
 * rate B / n (what the accountant assumes), per-example gradients clipped
 * to C, Gaussian noise N(0, (z C)^2) on their sum (dp/'s exact sampler),
 * divided by the expected batch B. */
static int dp_sgd_epoch(gdn_model *m, gdn_sgd *opt, double *loss,
                        const gdn_dataset *data, const uint32_t *idx, size_t n,
                        const gdn_fl_local *cfg, gdn_rng *rng, float *g,
                        double *noise)
{
    size_t dim = gdn_model_nparams(m), in = data->dim, steps = (n + cfg->batch - 1) / cfg->batch;
    double q = (double)cfg->batch / (double)n, total = 0, count = 0;
    const float *grad = gdn_model_grads(m);
    int rc = 0;

    for (size_t s = 0; s < steps && !rc; s++) {
        memset(g, 0, dim * sizeof *g);
        for (size_t i = 0; i < n && !rc; i++) {
            float l, scale = 1.0f;
            double ss = 0;
            if (!(gdn_rng_double(rng) < q))
                continue;
            rc = gdn_model_loss_grad(m, &l, data->x + (size_t)idx[i] * in,
                                     data->y + idx[i], 1);
            for (size_t c = 0; c < dim && !rc; c++)
                ss += (double)grad[c] * (double)grad[c];
            if (sqrt(ss) > cfg->dp_clip)
                scale = (float)(cfg->dp_clip / sqrt(ss));
            for (size_t c = 0; c < dim && !rc; c++)
                g[c] += scale * grad[c];
            total += l;
            count++;
        }
        if (!rc && cfg->dp_noise > 0)
            rc = gdn_dp_gaussian_noise(noise, dim, (double)cfg->dp_noise * cfg->dp_clip, rng);
        for (size_t c = 0; c < dim && !rc; c++)
            g[c] = (float)(((double)g[c] + (cfg->dp_noise > 0 ? noise[c] : 0.0)) /
                           (double)cfg->batch);
        if (!rc)
            gdn_sgd_step(opt, gdn_model_params(m), g);
    }
    *loss = count ? total / count : 0;
    return rc;
}

int gdn_fl_client_train(gdn_model *model, double *loss, const float *global,
                        const gdn_dataset *data, const uint32_t *idx, size_t n,
                        const gdn_fl_local *cfg, gdn_rng *rng)
{
    size_t dim = gdn_model_nparams(model);
    gdn_sgd opt;
    double l = 0;
    int rc;

    if (n == 0)
        return gdn_error(GDN_EINVAL, "client has no examples");
    if ((rc = gdn_sgd_init(&opt, dim, cfg->lr, cfg->momentum, cfg->weight_decay)))
        return rc;
    if (cfg->prox_mu > 0) {
        opt.prox_center = global;
        opt.prox_mu = cfg->prox_mu;
    }
    memcpy(gdn_model_params(model), global, dim * sizeof(float));
    if (cfg->dp_clip > 0) {
        float *g = malloc(dim * sizeof *g);
        double *noise = malloc(dim * sizeof *noise);
        if (!g || !noise)
            rc = gdn_error(GDN_ENOMEM, "out of memory for DP-SGD");
        for (unsigned e = 0; e < cfg->epochs && !rc; e++)
            rc = dp_sgd_epoch(model, &opt, &l, data, idx, n, cfg, rng, g, noise);
        free(g);
        free(noise);
    } else {
        for (unsigned e = 0; e < cfg->epochs && !rc; e++)
            rc = gdn_model_train_subset(model, &opt, &l, data->x, data->y, idx, n,
                                        cfg->batch, rng, NULL, NULL);
    }
    gdn_sgd_free(&opt);
    if (!rc && loss)
        *loss = l;
    return rc;
}
