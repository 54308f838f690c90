/* Fuzz target: simulation checkpoints (gdn_fl_sim_load_bytes). The first
 * input byte picks the strategy, so checkpoints with 0, 1 and 2 state
 * vectors are all reached. */
#include <stdlib.h>
#include <string.h>

#include "guardian/fl.h"

static const char *const strategies[] = {"fedavg", "fedavgm", "fedadam"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static float x[8 * 4];
    static int32_t y[8] = {0, 1, 0, 1, 0, 1, 0, 1};
    static uint32_t idx[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    static size_t offset[3] = {0, 4, 8};
    gdn_dataset d = {x, y, 8, 4, 1, 1, 4, 2, NULL};
    gdn_partition part = {2, offset, idx};
    gdn_fl_config cfg;
    gdn_fl_sim *sim;

    if (size < 1)
        return 0;
    gdn_fl_config_default(&cfg);
    cfg.model = "mlp:4-3-2";
    cfg.clients = 2;
    cfg.per_round = 1;
    cfg.workers = 1;
    cfg.server.strategy = strategies[data[0] % 3];
    if (gdn_fl_sim_new(&sim, &cfg, &d, NULL, &part))
        abort();
    gdn_fl_sim_load_bytes(sim, data + 1, size - 1, "fuzz");
    gdn_fl_sim_free(sim);
    return 0;
}
