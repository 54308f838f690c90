/* The privacy a federation's client-level DP has spent, for the simulation
 * and the networked coordinator alike. */
#include <math.h>

#include <sodium.h>

#include "guardian/dp.h"
#include "guardian/fl.h"

double gdn_fl_dp_epsilon(const gdn_fl_config *cfg, unsigned rounds, double delta)
{
    double eps, order;

    if (!cfg->dp.enabled || rounds == 0)
        return 0;
    /* one Poisson-sampled Gaussian step per round, at rate q = fraction */
    if (!(cfg->dp.noise > 0) ||
        gdn_dp_rdp_epsilon(&eps, &order, cfg->fraction, cfg->dp.noise, rounds, delta,
                           GDN_DP_RDP_CONSERVATIVE))
        return INFINITY;
    return eps;
}

/* ---- Distributed DP's pieces, for the simulation and the networked roles -- */

void gdn_fl_ddg_seed(uint8_t seed[32], const uint8_t session[32])
{
    static const char label[] = "guardian ddg rotation";
    crypto_generichash_state st;

    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, (const uint8_t *)label, sizeof label - 1);
    crypto_generichash_update(&st, session, 32);
    crypto_generichash_final(&st, seed, 32);
}

int gdn_fl_ddg_encode(uint32_t *q, double *work, float *upd, const float *local,
                      const float *global, const gdn_dp_ddg_params *p, const uint8_t seed[32],
                      gdn_rng *rng)
{
    for (size_t c = 0; c < p->dim; c++)
        upd[c] = local[c] - global[c];
    return gdn_dp_ddg_encode(q, work, upd, p, seed, rng);
}

int gdn_fl_ddg_decode(float *out, double *acc, double *work, const uint32_t *sum,
                      const float *global, const gdn_dp_ddg_params *p, const uint8_t seed[32],
                      double expected)
{
    int rc = gdn_dp_ddg_decode(acc, work, sum, p, seed);

    for (size_t c = 0; c < p->dim && !rc; c++)
        out[c] = (float)((double)global[c] + acc[c] / expected);
    return rc;
}

double gdn_fl_ddg_epsilon(const gdn_dp_ddg_params *p, double q, unsigned rounds, double delta)
{
    double eps, order;

    if (!rounds)
        return 0;
    return p->noise > 0 && !gdn_dp_ddg_epsilon(&eps, &order, p, q, rounds, delta) ? eps
                                                                                  : INFINITY;
}
