/* fl: the simulation engine end to end: FedAvg with one client is central
 * SGD bit for bit, results do not depend on threads, resume equals an
 * uninterrupted run, robust aggregation survives attackers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guardian/dp.h"
#include "guardian/fl.h"
#include "harness.h"

/* Four Gaussian blobs in 8 dimensions (class k centred on 2 e_k). */
static void blobs(gdn_dataset *d, size_t n, uint64_t seed)
{
    gdn_rng rng;

    memset(d, 0, sizeof *d);
    d->x = gdn_alloc_aligned(n * 8 * sizeof(float));
    d->y = malloc(n * sizeof(int32_t));
    d->n = n, d->dim = 8, d->channels = 1, d->height = 1, d->width = 8;
    d->classes = 4;
    gdn_rng_init_seed(&rng, seed);
    for (size_t i = 0; i < n; i++) {
        d->y[i] = (int32_t)gdn_rng_uniform(&rng, 4);
        for (size_t j = 0; j < 8; j++)
            d->x[i * 8 + j] = (float)gdn_rng_normal(&rng) +
                              (j == (size_t)d->y[i] ? 2.0f : 0.0f);
    }
}

/* Parameters of small_config's model, mlp:8-16-4. */
#define SMALL_PARAMS (8 * 16 + 16 + 16 * 4 + 4)

static void small_config(gdn_fl_config *c, size_t clients, size_t per_round)
{
    gdn_fl_config_default(c);
    c->model = "mlp:8-16-4";
    c->clients = clients;
    c->per_round = per_round;
    c->rounds = 3;
    c->local.epochs = 1;
    c->local.batch = 10;
    c->local.lr = 0.1f;
    c->local.momentum = 0.5f;
    c->seed = 42;
}

GDN_TEST(fl_fedavg_one_client_equals_central_sgd)
{
    gdn_dataset d;
    gdn_partition part;
    gdn_fl_config cfg;
    gdn_fl_sim *sim;
    gdn_fl_round_stats st;
    gdn_model *central;
    gdn_sgd opt;
    gdn_rng rng;
    double loss;

    blobs(&d, 503, 1);
    small_config(&cfg, 1, 1);
    gdn_rng_init_seed(&rng, 3);
    CHECK_OK(gdn_data_partition(&part, &d, "iid", 1, &rng));
    CHECK_OK(gdn_fl_sim_new(&sim, &cfg, &d, NULL, &part));
    CHECK_OK(gdn_fl_sim_round(sim, &st));

    /* The same initial model and the same shuffles, trained centrally. */
    CHECK_OK(gdn_model_new(&central, cfg.model, 1, 1, 8, 4));
    gdn_fl_init_rng(&rng, cfg.seed);
    gdn_model_init(central, &rng);
    CHECK_OK(gdn_sgd_init(&opt, gdn_model_nparams(central), cfg.local.lr,
                          cfg.local.momentum, 0));
    gdn_fl_client_rng(&rng, cfg.seed, 1, 0);
    CHECK_OK(gdn_model_train_epoch(central, &opt, &loss, d.x, d.y, d.n,
                                   cfg.local.batch, &rng, NULL, NULL));
    CHECK(memcmp(gdn_model_params(central), gdn_model_params(gdn_fl_sim_model(sim)),
                 gdn_model_nparams(central) * sizeof(float)) == 0);
    CHECK_NEAR(st.train_loss, loss, 0);
    gdn_sgd_free(&opt);
    gdn_model_free(central);
    gdn_fl_sim_free(sim);
    gdn_partition_free(&part);
    gdn_dataset_free(&d);
}

/* Runs `rounds` rounds and returns a copy of the global model. */
static float *run(const gdn_fl_config *cfg, const gdn_dataset *d,
                  const gdn_partition *part, unsigned rounds)
{
    gdn_fl_sim *sim;
    gdn_fl_round_stats st;
    float *out = NULL;

    if (gdn_fl_sim_new(&sim, cfg, d, NULL, part))
        return NULL;
    for (unsigned r = 0; r < rounds; r++)
        if (gdn_fl_sim_round(sim, &st))
            goto done;
    size_t n = gdn_model_nparams(gdn_fl_sim_model(sim));
    out = malloc(n * sizeof *out);
    memcpy(out, gdn_model_params(gdn_fl_sim_model(sim)), n * sizeof *out);
done:
    gdn_fl_sim_free(sim);
    return out;
}

/* Runs 2 rounds, checkpoints to `name` in the test directory, resumes in a
 * new simulation for 2 more, and checks the model equals 4 uninterrupted
 * rounds bit for bit. Returns 0 when it does (failures are reported). */
static int resume_check(const gdn_fl_config *cfg, const gdn_dataset *d,
                        const gdn_partition *part, const char *name)
{
    gdn_fl_sim *sim;
    gdn_fl_round_stats st;
    char path[600];
    float *straight = run(cfg, d, part, 4);
    int bad = 1;

    gdn_error_clear();
    snprintf(path, sizeof path, "%s/%s", gdn_test_tmpdir(), name);
    if (straight && !gdn_fl_sim_new(&sim, cfg, d, NULL, part)) {
        bad = gdn_fl_sim_round(sim, &st) || gdn_fl_sim_round(sim, &st) ||
              gdn_fl_sim_save(sim, path);
        gdn_fl_sim_free(sim);
    }
    if (!bad && !gdn_fl_sim_new(&sim, cfg, d, NULL, part)) {
        bad = gdn_fl_sim_load(sim, path) || gdn_fl_sim_rounds_done(sim) != 2 ||
              gdn_fl_sim_round(sim, &st) || gdn_fl_sim_round(sim, &st) || st.round != 4 ||
              memcmp(straight, gdn_model_params(gdn_fl_sim_model(sim)),
                     SMALL_PARAMS * sizeof(float)) != 0;
        gdn_fl_sim_free(sim);
    }
    if (bad)
        gdn_test_fail(__FILE__, __LINE__, "%s: the resumed run differs (last error: "
                      "'%s')", name, gdn_errmsg());
    free(straight);
    return bad;
}

GDN_TEST(fl_same_bits_whatever_the_threads)
{
    static const char *const aggs[] = {"mean", "median", "trimmed:0.25"};
    gdn_dataset d;
    gdn_partition part;
    gdn_fl_config cfg;
    gdn_rng rng;

    blobs(&d, 800, 2);
    gdn_rng_init_seed(&rng, 4);
    CHECK_OK(gdn_data_partition(&part, &d, "dirichlet:0.5", 8, &rng));
    for (size_t a = 0; a < 3; a++) {
        small_config(&cfg, 8, 5);
        cfg.aggregator = aggs[a];
        cfg.server.strategy = "fedavgm";
        cfg.workers = 1;
        float *one = run(&cfg, &d, &part, 3);
        cfg.workers = 3;
        float *three = run(&cfg, &d, &part, 3);
        CHECK_MSG(one && three, "run failed: %s", gdn_errmsg());
        CHECK_MSG(memcmp(one, three, SMALL_PARAMS * sizeof(float)) == 0,
                  "%s: 1 and 3 workers differ", aggs[a]);
        free(one);
        free(three);
    }
    gdn_partition_free(&part);
    gdn_dataset_free(&d);
}

GDN_TEST(fl_resume_equals_uninterrupted)
{
    gdn_dataset d;
    gdn_partition part;
    gdn_fl_config cfg;
    gdn_fl_sim *sim;
    gdn_rng rng;
    char path[600];

    blobs(&d, 600, 3);
    gdn_rng_init_seed(&rng, 5);
    CHECK_OK(gdn_data_partition(&part, &d, "shards", 6, &rng));
    small_config(&cfg, 6, 3);
    cfg.server.strategy = "fedadam";
    cfg.server.lr = 0.05f;
    CHECK(resume_check(&cfg, &d, &part, "ck.bin") == 0);

    /* A checkpoint of another configuration is refused. */
    snprintf(path, sizeof path, "%s/ck.bin", gdn_test_tmpdir());
    cfg.seed = 43;
    CHECK_OK(gdn_fl_sim_new(&sim, &cfg, &d, NULL, &part));
    CHECK_EQ(gdn_fl_sim_load(sim, path), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "another configuration"));
    gdn_fl_sim_free(sim);
    gdn_partition_free(&part);
    gdn_dataset_free(&d);
}

GDN_TEST(fl_fedprox_keeps_clients_near_the_global_model)
{
    gdn_dataset d;
    gdn_partition part;
    gdn_model *m;
    gdn_fl_local local = {5, 10, 0.1f, 0, 0, 0, 0, 0};
    gdn_rng rng;
    double loss, dist[2];

    blobs(&d, 400, 6);
    gdn_rng_init_seed(&rng, 1);
    CHECK_OK(gdn_data_partition(&part, &d, "iid", 2, &rng));
    CHECK_OK(gdn_model_new(&m, "mlp:8-16-4", 1, 1, 8, 4));
    size_t n = gdn_model_nparams(m);
    float *global = malloc(n * sizeof *global);
    gdn_model_init(m, &rng);
    memcpy(global, gdn_model_params(m), n * sizeof *global);
    for (int k = 0; k < 2; k++) {
        local.prox_mu = k ? 1.0f : 0.0f;
        gdn_fl_client_rng(&rng, 1, 1, 0);
        CHECK_OK(gdn_fl_client_train(m, &loss, global, &d, part.idx,
                                     gdn_partition_size(&part, 0), &local, &rng));
        dist[k] = 0;
        for (size_t i = 0; i < n; i++)
            dist[k] += pow(gdn_model_params(m)[i] - global[i], 2);
    }
    CHECK_MSG(dist[1] < 0.8 * dist[0], "distance with mu=1: %g, without: %g",
              dist[1], dist[0]);
    free(global);
    gdn_model_free(m);
    gdn_partition_free(&part);
    gdn_dataset_free(&d);
}

/* Fashion-MNIST, logistic regression, 10 clients all in every round, two
 * of them sending 10x scaled updates: plain FedAvg is thrown off, the
 * trimmed mean is not. */
GDN_TEST(fl_trimmed_mean_survives_scaled_updates)
{
    gdn_dataset train, test, sub_train = {0}, sub_test = {0};
    gdn_partition part;
    gdn_fl_config cfg;
    gdn_rng rng;
    double acc[3];
    static const char *const aggs[] = {"mean", "mean", "trimmed:0.2"};
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
    for (int run_i = 0; run_i < 3; run_i++) {
        gdn_fl_sim *sim;
        gdn_fl_round_stats st;
        gdn_fl_config_default(&cfg);
        cfg.model = "logreg";
        cfg.clients = 10, cfg.per_round = 10, cfg.rounds = 5;
        cfg.local.batch = 20, cfg.local.lr = 0.05f;
        cfg.aggregator = aggs[run_i];
        if (run_i > 0) { /* runs 1 and 2 have attackers */
            cfg.attack = GDN_ATTACK_SCALE;
            cfg.attack_scale = 10;
            cfg.attack_frac = 0.2;
        }
        CHECK_OK(gdn_fl_sim_new(&sim, &cfg, &sub_train, &sub_test, &part));
        for (unsigned r = 0; r < cfg.rounds; r++)
            CHECK_OK(gdn_fl_sim_round(sim, &st));
        acc[run_i] = st.test_accuracy;
        size_t bad = 0;
        for (size_t k = 0; k < 10; k++)
            bad += (size_t)gdn_fl_sim_is_malicious(sim, k);
        CHECK_EQ(bad, run_i ? 2 : 0);
        gdn_fl_sim_free(sim);
    }
    CHECK_MSG(acc[0] > 0.7, "clean FedAvg accuracy %.3f", acc[0]);
    CHECK_MSG(acc[1] < acc[0] - 0.15, "FedAvg under attack %.3f vs clean %.3f", acc[1], acc[0]);
    CHECK_MSG(acc[2] > acc[0] - 0.05, "trimmed mean under attack %.3f vs clean %.3f",
              acc[2], acc[0]);
    free(idx);
    gdn_partition_free(&part);
    gdn_dataset_free(&sub_train);
    gdn_dataset_free(&sub_test);
}

GDN_TEST(fl_config_errors_are_explained)
{
    gdn_dataset d;
    gdn_partition part;
    gdn_fl_config cfg;
    gdn_fl_sim *sim;
    gdn_rng rng;

    blobs(&d, 100, 1);
    gdn_rng_init_seed(&rng, 1);
    CHECK_OK(gdn_data_partition(&part, &d, "iid", 4, &rng));
    small_config(&cfg, 5, 2);
    CHECK_EQ(gdn_fl_sim_new(&sim, &cfg, &d, NULL, &part), GDN_EINVAL);
    CHECK(strstr(gdn_errmsg(), "partition has 4"));
    small_config(&cfg, 4, 2);
    cfg.server.strategy = "fedsgd-nope";
    CHECK(gdn_fl_sim_new(&sim, &cfg, &d, NULL, &part) == GDN_EINVAL);
    small_config(&cfg, 4, 2);
    cfg.aggregator = "trimmed:0.7";
    CHECK(gdn_fl_sim_new(&sim, &cfg, &d, NULL, &part) == GDN_EINVAL);
    gdn_partition_free(&part);
    gdn_dataset_free(&d);
}

/* DP-FedAvg's aggregator: clipped, unweighted, fixed denominator, noise of
 * deviation z S / expected per coordinate. */
GDN_TEST(fl_dp_aggregator_clips_and_noises)
{
    enum { DIM = 20000 };
    static float g[DIM], x[DIM], out[DIM];
    gdn_aggregator *agg;
    gdn_rng rng;
    double ss = 0, sum = 0;

    for (size_t i = 0; i < DIM; i++)
        g[i] = 1.0f, x[i] = i == 0 ? 4.0f : 1.0f; /* update: 3 e_0, norm 3 */
    /* No noise: two clients, clip 1.5, expected 4 -> global + 2 * 1.5 e_0 / 4. */
    CHECK_OK(gdn_aggregator_new_dp(&agg, DIM, 1.5, 0.0, 4.0));
    /* No round without its randomness: noise from a zero key would be no noise. */
    CHECK_EQ(gdn_aggregator_begin(agg, g, 2), GDN_ESTATE);
    gdn_rng_init_seed(&rng, 1);
    gdn_aggregator_set_noise_rng(agg, &rng);
    CHECK_OK(gdn_aggregator_begin(agg, g, 2));
    CHECK_OK(gdn_aggregator_add(agg, x, 600)); /* the weight is ignored */
    CHECK_OK(gdn_aggregator_add(agg, x, 1));
    CHECK_OK(gdn_aggregator_finish(agg, out));
    CHECK_NEAR(out[0], 1.0 + 0.75, 1e-6);
    CHECK(out[1] == 1.0f && out[DIM - 1] == 1.0f);
    gdn_aggregator_free(agg);

    /* An empty cohort publishes noise only: sd z S / expected = 2 * 0.5 / 4. */
    CHECK_OK(gdn_aggregator_new_dp(&agg, DIM, 0.5, 2.0, 4.0));
    gdn_aggregator_set_noise_rng(agg, &rng);
    CHECK_OK(gdn_aggregator_begin(agg, g, 0));
    CHECK_OK(gdn_aggregator_finish(agg, out));
    for (size_t i = 0; i < DIM; i++) {
        sum += out[i] - 1.0;
        ss += (out[i] - 1.0) * (out[i] - 1.0);
    }
    CHECK_NEAR(sum / DIM, 0.0, 0.005);
    CHECK_NEAR(sqrt(ss / DIM), 0.25, 0.25 * 0.03);
    gdn_aggregator_free(agg);
    CHECK_EQ(gdn_aggregator_new_dp(&agg, DIM, 0.0, 1.0, 4.0), GDN_EINVAL);
}

GDN_TEST(fl_dp_fedavg_poisson_sampling_and_epsilon)
{
    gdn_dataset d;
    gdn_partition part;
    gdn_fl_config cfg;
    gdn_fl_sim *sim;
    gdn_fl_round_stats st;
    gdn_rng rng;
    size_t total = 0, sizes[8];
    int varied = 0;

    blobs(&d, 1200, 8);
    gdn_rng_init_seed(&rng, 2);
    CHECK_OK(gdn_data_partition(&part, &d, "iid", 40, &rng));
    small_config(&cfg, 40, 0);
    cfg.fraction = 0.25;
    cfg.dp.enabled = 1, cfg.dp.clip = 1.0, cfg.dp.noise = 1.1, cfg.dp.delta = 1e-5;
    CHECK_OK(gdn_fl_sim_new(&sim, &cfg, &d, NULL, &part));
    for (int r = 0; r < 8; r++) {
        CHECK_OK(gdn_fl_sim_round(sim, &st));
        sizes[r] = st.cohort;
        total += st.cohort;
        varied |= r > 0 && sizes[r] != sizes[0];
        double eps, order;
        CHECK_OK(gdn_dp_rdp_epsilon(&eps, &order, 0.25, 1.1, (uint64_t)r + 1, 1e-5,
                                    GDN_DP_RDP_CONSERVATIVE));
        CHECK_NEAR(st.epsilon, eps, 0);
    }
    CHECK_MSG(varied, "Poisson sampling gave the same cohort size every round");
    CHECK_MSG(total > 50 && total < 110, "mean cohort %.1f, expected 10", total / 8.0);
    /* Same bits with another number of workers. */
    float *a = malloc(gdn_model_nparams(gdn_fl_sim_model(sim)) * sizeof *a);
    memcpy(a, gdn_model_params(gdn_fl_sim_model(sim)),
           gdn_model_nparams(gdn_fl_sim_model(sim)) * sizeof *a);
    gdn_fl_sim_free(sim);
    cfg.workers = 3;
    float *b = run(&cfg, &d, &part, 8);
    CHECK(b && memcmp(a, b, SMALL_PARAMS * sizeof *a) == 0);
    free(a);
    free(b);
    /* DP refuses what it cannot account for. */
    cfg.per_round = 5;
    CHECK_EQ(gdn_fl_sim_new(&sim, &cfg, &d, NULL, &part), GDN_EINVAL);
    CHECK(strstr(gdn_errmsg(), "Poisson"));
    gdn_partition_free(&part);
    gdn_dataset_free(&d);
}

/* Adaptive clipping follows the median of the update norms (here all near
 * 3 after clipping starts at 0.1), and a resumed run keeps the clip. */
GDN_TEST(fl_dp_adaptive_clip_tracks_quantile_and_resumes)
{
    enum { DIM = 100 };
    static float g[DIM], x[DIM], out[DIM];
    gdn_aggregator *agg;
    gdn_rng rng;

    for (size_t i = 0; i < DIM; i++)
        g[i] = 0, x[i] = i < 9 ? 1.0f : 0.0f; /* norm 3 */
    CHECK_OK(gdn_aggregator_new_dp(&agg, DIM, 0.1, 0.0, 10.0));
    CHECK_OK(gdn_aggregator_dp_adaptive(agg, 0.5, 0.2, 0.5));
    for (int r = 0; r < 60; r++) {
        gdn_rng_init_seed(&rng, (uint64_t)r);
        gdn_aggregator_set_noise_rng(agg, &rng);
        CHECK_OK(gdn_aggregator_begin(agg, g, 10));
        for (int k = 0; k < 10; k++)
            CHECK_OK(gdn_aggregator_add(agg, x, 1));
        CHECK_OK(gdn_aggregator_finish(agg, out));
    }
    /* Without noise the clip oscillates around 3: below it all count, above
     * it none do, each round moving by a factor exp(0.1). */
    CHECK_MSG(gdn_aggregator_dp_clip(agg) > 3.0 / 1.2 && gdn_aggregator_dp_clip(agg) < 3.0 * 1.2,
              "clip %g", gdn_aggregator_dp_clip(agg));
    gdn_aggregator_free(agg);
    CHECK_OK(gdn_aggregator_new_dp(&agg, DIM, 1.0, 1.0, 10.0));
    CHECK_EQ(gdn_aggregator_dp_adaptive(agg, 0.5, 0.2, 0.4), GDN_EINVAL);
    gdn_aggregator_free(agg);

    gdn_dataset d;
    gdn_partition part;
    gdn_fl_config cfg;

    blobs(&d, 600, 9);
    gdn_rng_init_seed(&rng, 3);
    CHECK_OK(gdn_data_partition(&part, &d, "iid", 30, &rng));
    small_config(&cfg, 30, 0);
    cfg.fraction = 0.3;
    cfg.dp.enabled = 1, cfg.dp.clip = 0.05, cfg.dp.noise = 0.5, cfg.dp.delta = 1e-5;
    cfg.dp.quantile = 0.5;
    CHECK(resume_check(&cfg, &d, &part, "dp-ck.bin") == 0);
    gdn_partition_free(&part);
    gdn_dataset_free(&d);
}

/* --secagg: the model differs from plain FedAvg's only by the quantization
 * error; with dropouts the survivors' weighted mean is used; far below the
 * threshold the round fails with a clear message. */
GDN_TEST(fl_secagg_matches_plain_fedavg_up_to_quantization)
{
    gdn_dataset d;
    gdn_partition part;
    gdn_fl_config cfg;
    gdn_fl_sim *sim;
    gdn_fl_round_stats st;
    gdn_rng rng;
    size_t n = SMALL_PARAMS;
    double worst = 0;

    blobs(&d, 1000, 12);
    gdn_rng_init_seed(&rng, 5);
    CHECK_OK(gdn_data_partition(&part, &d, "dirichlet:1", 20, &rng));
    small_config(&cfg, 20, 8);
    float *plain = run(&cfg, &d, &part, 3);
    cfg.secagg.enabled = 1, cfg.secagg.clip = 1.0, cfg.secagg.levels = 1u << 20;
    float *secure = run(&cfg, &d, &part, 3);
    CHECK_MSG(plain && secure, "run failed: %s", gdn_errmsg());
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs((double)plain[i] - (double)secure[i]));
    CHECK_MSG(worst > 0 && worst < 1e-3, "largest difference %g", worst);
    free(plain);
    free(secure);

    /* 20% dropouts at random phases: rounds go on (majority threshold). */
    cfg.secagg.dropout = 0.2;
    CHECK_OK(gdn_fl_sim_new(&sim, &cfg, &d, NULL, &part));
    for (int r = 0; r < 3; r++)
        CHECK_OK(gdn_fl_sim_round(sim, &st));
    gdn_fl_sim_free(sim);
    /* 95% dropouts: below the threshold, the round fails and says so. */
    cfg.secagg.dropout = 0.95;
    CHECK_OK(gdn_fl_sim_new(&sim, &cfg, &d, NULL, &part));
    int rc = gdn_fl_sim_round(sim, &st);
    CHECK_MSG(rc != 0 && (strstr(gdn_errmsg(), "threshold") || strstr(gdn_errmsg(), "nothing")),
              "rc %d: %s", rc, gdn_errmsg());
    gdn_fl_sim_free(sim);
    gdn_partition_free(&part);
    gdn_dataset_free(&d);
}

/* DP-SGD: without noise, each step moves the model by at most lr x (count /
 * B) x C; the reported epsilon is the accountant's for the owners' own
 * sampling rate and steps, and survives a resume. */
GDN_TEST(fl_dp_sgd_clips_examples_and_accounts_per_owner)
{
    gdn_dataset d;
    gdn_partition part;
    gdn_model *m;
    gdn_fl_local local = {1, 10, 1.0f, 0, 0, 0, 1e-3f, 0};
    gdn_rng rng;
    double loss, dist = 0, eps, order;

    blobs(&d, 400, 13);
    gdn_rng_init_seed(&rng, 1);
    CHECK_OK(gdn_data_partition(&part, &d, "iid", 4, &rng));
    CHECK_OK(gdn_model_new(&m, "mlp:8-16-4", 1, 1, 8, 4));
    size_t n = gdn_model_nparams(m);
    float *global = malloc(n * sizeof *global);
    gdn_model_init(m, &rng);
    memcpy(global, gdn_model_params(m), n * sizeof *global);
    gdn_fl_client_rng(&rng, 1, 1, 0);
    CHECK_OK(gdn_fl_client_train(m, &loss, global, &d, part.idx,
                                 gdn_partition_size(&part, 0), &local, &rng));
    for (size_t i = 0; i < n; i++)
        dist += pow(gdn_model_params(m)[i] - global[i], 2);
    /* 100 examples, B = 10: 10 steps of Poisson batches (at most 100 each). */
    CHECK_MSG(sqrt(dist) > 0 && sqrt(dist) <= 10 * 1.0 * (100.0 / 10) * 1e-3,
              "moved %g", sqrt(dist));
    free(global);
    gdn_model_free(m);

    gdn_fl_config cfg;
    gdn_fl_sim *sim;
    gdn_fl_round_stats st;
    char path[600];
    small_config(&cfg, 4, 4);
    cfg.local.dp_clip = 1.0f, cfg.local.dp_noise = 1.5f, cfg.dp.delta = 1e-5;
    CHECK_OK(gdn_fl_sim_new(&sim, &cfg, &d, NULL, &part));
    CHECK_OK(gdn_fl_sim_round(sim, &st));
    CHECK_OK(gdn_fl_sim_round(sim, &st));
    /* Every owner (100 examples) took part twice: 2 x 10 steps at q = 0.1. */
    CHECK_OK(gdn_dp_rdp_epsilon(&eps, &order, 0.1, 1.5, 20, 1e-5, GDN_DP_RDP_CONSERVATIVE));
    CHECK_NEAR(st.epsilon, eps, 1e-12);
    snprintf(path, sizeof path, "%s/dpsgd.bin", gdn_test_tmpdir());
    CHECK_OK(gdn_fl_sim_save(sim, path));
    gdn_fl_sim_free(sim);
    CHECK_OK(gdn_fl_sim_new(&sim, &cfg, &d, NULL, &part));
    CHECK_OK(gdn_fl_sim_load(sim, path));
    CHECK_NEAR(gdn_fl_sim_epsilon(sim, 2), eps, 1e-12);
    gdn_fl_sim_free(sim);
    gdn_partition_free(&part);
    gdn_dataset_free(&d);
}
