/* The privacy a federation's client-level DP has spent, for the simulation
 * and the networked coordinator alike. */
#include <math.h>

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
