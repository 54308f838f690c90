/* The client side of a round, and the federation's random streams. */
#include <string.h>

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
    for (unsigned e = 0; e < cfg->epochs && !rc; e++)
        rc = gdn_model_train_subset(model, &opt, &l, data->x, data->y, idx, n,
                                    cfg->batch, rng, NULL, NULL);
    gdn_sgd_free(&opt);
    if (!rc && loss)
        *loss = l;
    return rc;
}
