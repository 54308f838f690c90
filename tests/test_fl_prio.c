/* fl with validated aggregation (PINE): a Fashion-MNIST subset, 10 owners
 * all sampled, 2 of them sending updates scaled x10. Plain FedAvg breaks,
 * --prio drops exactly the two forged reports every round (so none of the
 * eight honest ones) and keeps the clean run's accuracy. */
#include <stdlib.h>

#include "guardian/core.h"
#include "guardian/data.h"
#include "guardian/fl.h"
#include "harness.h"

GDN_TEST(fl_prio_drops_scaled_updates)
{
    gdn_dataset train, test, sub_train = {0}, sub_test = {0};
    gdn_partition part;
    gdn_rng rng;
    double acc[3];
    size_t rejected[3];
    uint32_t *idx = malloc(4000 * sizeof *idx);

    CHECK_OK(gdn_data_load_fashion_mnist(&train, &test, gdn_test_fmnist_dir()));
    for (uint32_t i = 0; i < 4000; i++)
        idx[i] = i;
    CHECK_OK(gdn_data_subset(&sub_train, &train, idx, 3000));
    CHECK_OK(gdn_data_subset(&sub_test, &test, idx, 1000));
    gdn_dataset_free(&train);
    gdn_dataset_free(&test);
    gdn_rng_init_seed(&rng, 7);
    CHECK_OK(gdn_data_partition(&part, &sub_train, "iid", 10, &rng));
    /* runs: clean FedAvg, FedAvg under attack, prio under attack */
    for (int run_i = 0; run_i < 3; run_i++) {
        gdn_fl_sim *sim;
        gdn_fl_round_stats st;
        gdn_fl_config cfg;
        gdn_fl_config_default(&cfg);
        cfg.model = "logreg";
        cfg.clients = 10, cfg.per_round = 10, cfg.rounds = 5;
        cfg.local.batch = 20, cfg.local.lr = 0.05f;
        cfg.prio.enabled = run_i >= 2;
        cfg.prio.bound = 2.0;
        if (run_i > 0) {
            cfg.attack = GDN_ATTACK_SCALE;
            cfg.attack_scale = 10;
            cfg.attack_frac = 0.2;
        }
        CHECK_OK(gdn_fl_sim_new(&sim, &cfg, &sub_train, &sub_test, &part));
        rejected[run_i] = 0;
        for (unsigned r = 0; r < cfg.rounds; r++) {
            CHECK_OK(gdn_fl_sim_round(sim, &st));
            rejected[run_i] += st.rejected;
        }
        acc[run_i] = st.test_accuracy;
        gdn_fl_sim_free(sim);
    }
    printf("  accuracy: clean %.3f, attacked %.3f, prio attacked %.3f\n", acc[0], acc[1],
           acc[2]);
    CHECK_MSG(acc[0] > 0.7, "clean FedAvg accuracy %.3f", acc[0]);
    CHECK_MSG(acc[1] < acc[0] - 0.15, "FedAvg under attack %.3f vs clean %.3f", acc[1], acc[0]);
    CHECK_MSG(acc[2] > acc[0] - 0.05, "prio under attack %.3f vs clean %.3f", acc[2], acc[0]);
    CHECK_EQ(rejected[0], 0);
    CHECK_EQ(rejected[1], 0);
    CHECK_EQ(rejected[2], 2 * 5); /* the two attackers, every round */
    free(idx);
    gdn_partition_free(&part);
    gdn_dataset_free(&sub_train);
    gdn_dataset_free(&sub_test);
}
