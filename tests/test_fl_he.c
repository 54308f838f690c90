/* fl with encrypted aggregation (multiparty CKKS): the HE aggregator against
 * the plaintext weighted mean on random vectors (few and many clients), the
 * threshold (t holders decrypt, t - 1 fail the round cleanly), and FedAvg
 * on a Fashion-MNIST subset, encrypted vs plain: same accuracy, parameters
 * within the encoding's precision. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guardian/core.h"
#include "guardian/data.h"
#include "guardian/fl.h"
#include "harness.h"

/* The round's stream, as the engine sets it. */
static void round_rng(gdn_aggregator *a, uint64_t seed)
{
    gdn_rng r;
    gdn_rng_init_seed(&r, seed);
    gdn_aggregator_set_noise_rng(a, &r);
    gdn_rng_wipe(&r);
}

/* One round of `clients` random updates (N(0, sd) around global, weights
 * 1..wscale) through agg and through the plaintext mean; returns the max
 * abs difference of the two aggregates times the summed weight / wscale
 * (the error of the decrypted sum, which the mean divides by that weight),
 * or -1 when agg failed. */
static double he_vs_mean(gdn_aggregator *agg, size_t dim, size_t clients, double sd,
                         double wscale, uint64_t seed)
{
    gdn_aggregator *mean = NULL;
    gdn_rng rng;
    float *global = malloc(dim * sizeof *global), *vec = malloc(dim * sizeof *vec);
    float *a = malloc(dim * sizeof *a), *b = malloc(dim * sizeof *b);
    double worst = -1, wsum = 0;

    gdn_rng_init_seed(&rng, seed);
    for (size_t c = 0; c < dim; c++)
        global[c] = (float)(0.1 * gdn_rng_normal(&rng));
    round_rng(agg, seed + 1);
    if (gdn_aggregator_new(&mean, "mean", dim) || gdn_aggregator_begin(agg, global, clients) ||
        gdn_aggregator_begin(mean, global, clients))
        goto out;
    for (size_t k = 0; k < clients; k++) {
        double w = (double)(1 + gdn_rng_uniform(&rng, (uint64_t)wscale));
        for (size_t c = 0; c < dim; c++)
            vec[c] = global[c] + (float)(sd * gdn_rng_normal(&rng));
        if (gdn_aggregator_add(agg, vec, w) || gdn_aggregator_add(mean, vec, w))
            goto out;
        wsum += w / wscale;
    }
    if (gdn_aggregator_finish(agg, a) || gdn_aggregator_finish(mean, b))
        goto out;
    worst = 0;
    for (size_t c = 0; c < dim; c++)
        worst = fmax(worst, fabs((double)a[c] - (double)b[c]));
    worst *= wsum;
out:
    gdn_aggregator_free(mean);
    free(global);
    free(vec);
    free(a);
    free(b);
    return worst;
}

/* The error bound on the decrypted sum: the smudging's, about
 * 2^(40 + 6.5 + 2) / 2^60 = 2^-11.5 for t = 3 (t holders' uniform noise of
 * 2^40 through the N = 8192 embedding, the worst of thousands of values);
 * measured 2^-12 to 2^-12.5 for t = 3 and 4. The mean's error is this
 * divided by the summed weight / weight scale. */
#define SUM_ERROR 0x1p-10

/* 12 clients, a vector over three ciphertexts (8,192 + 1 values in 4,096
 * slots each), 5 holders with t = 3. */
GDN_TEST(fl_he_matches_plain_mean)
{
    gdn_aggregator *agg = NULL;
    gdn_rng keys;
    size_t dim = 8192;
    gdn_rng_init_seed(&keys, 11);
    CHECK_OK(gdn_aggregator_new_he(&agg, dim, 100, 1.0, 5, 3, &keys));
    CHECK(strncmp(gdn_aggregator_spec(agg), "he:", 3) == 0);
    CHECK(gdn_aggregator_he_client_bytes(agg) > 0);
    double e = he_vs_mean(agg, dim, 12, 0.05, 100, 21);
    printf("  12 clients, dim %zu: error of the sum 2^%.1f\n", dim, log2(e));
    CHECK_MSG(e >= 0 && e < SUM_ERROR, "error %g", e);
    /* A second round under the same keys. */
    e = he_vs_mean(agg, dim, 7, 0.05, 100, 22);
    CHECK_MSG(e >= 0 && e < SUM_ERROR, "second round: error %g", e);
    e = he_vs_mean(agg, dim, 0, 0, 100, 23); /* an empty cohort is refused */
    CHECK(e < 0);
    gdn_aggregator_free(agg);
    gdn_rng_wipe(&keys);
}

/* A few hundred clients: the sum grows, the smudging does not, so the
 * error of the mean shrinks with the summed weight. */
GDN_TEST(fl_he_three_hundred_clients)
{
    gdn_aggregator *agg = NULL;
    gdn_rng keys;
    gdn_rng_init_seed(&keys, 12);
    CHECK_OK(gdn_aggregator_new_he(&agg, 200, 10, 1.0, 7, 4, &keys));
    double e = he_vs_mean(agg, 200, 300, 0.05, 10, 31);
    printf("  300 clients, dim 200: error of the sum 2^%.1f\n", log2(e));
    CHECK_MSG(e >= 0 && e < SUM_ERROR, "error %g", e);
    gdn_aggregator_free(agg);
    gdn_rng_wipe(&keys);
}

GDN_TEST(fl_he_threshold)
{
    gdn_aggregator *agg = NULL;
    gdn_rng keys;
    size_t dim = 100;
    float global[100] = {0}, vec[100], out[100];
    gdn_rng_init_seed(&keys, 13);
    CHECK_EQ(gdn_aggregator_new_he(&agg, dim, 10, 1.0, 6, 7, &keys), GDN_EINVAL);
    CHECK_EQ(gdn_aggregator_new_he(&agg, dim, 10, 1.0, 6, 1, &keys), GDN_EINVAL);
    CHECK_OK(gdn_aggregator_new_he(&agg, dim, 10, 1.0, 6, 4, &keys));
    /* Exactly t = 4 holders answer: the round decrypts. */
    CHECK_OK(gdn_aggregator_he_answering(agg, 4));
    double e = he_vs_mean(agg, dim, 5, 0.05, 10, 41);
    CHECK_MSG(e >= 0 && e < SUM_ERROR, "t holders: error %g", e);
    /* t - 1 answer: finish fails with a clear error, the sum stays encrypted. */
    CHECK_OK(gdn_aggregator_he_answering(agg, 3));
    round_rng(agg, 42);
    CHECK_OK(gdn_aggregator_begin(agg, global, 2));
    for (int i = 0; i < 100; i++)
        vec[i] = 0.01f * (float)i;
    CHECK_OK(gdn_aggregator_add(agg, vec, 5));
    CHECK_OK(gdn_aggregator_add(agg, vec, 5));
    CHECK_EQ(gdn_aggregator_finish(agg, out), GDN_ESTATE);
    CHECK(strstr(gdn_errmsg(), "needs 4 of the 6 key holders, only 3 answered") != NULL);
    /* The aggregator is usable again once enough holders are back. */
    CHECK_OK(gdn_aggregator_he_answering(agg, 6));
    e = he_vs_mean(agg, dim, 3, 0.05, 10, 43);
    CHECK_MSG(e >= 0 && e < SUM_ERROR, "after the failed round: error %g", e);
    CHECK_EQ(gdn_aggregator_he_answering(agg, 7), GDN_EINVAL);
    gdn_aggregator_free(agg);
    gdn_rng_wipe(&keys);
}

/* Weighted coordinates beyond ±clip are clamped before encryption (as
 * secagg's quantization clamps them): the result is the mean of the clamped
 * values, checked against that computed here. */
GDN_TEST(fl_he_clamps_to_clip)
{
    gdn_aggregator *agg = NULL;
    gdn_rng keys;
    float global[64], vec[3][64], out[64];
    const double weight[3] = {4, 2, 1}, wscale = 4, clip = 0.25;
    gdn_rng_init_seed(&keys, 14);
    CHECK_OK(gdn_aggregator_new_he(&agg, 64, wscale, clip, 3, 2, &keys));
    for (int c = 0; c < 64; c++) {
        global[c] = 0.01f * (float)c;
        for (int k = 0; k < 3; k++) /* from -1.5 to 1.5 around global */
            vec[k][c] = global[c] + (float)((c - 32) * (k + 1)) / 64.0f;
    }
    round_rng(agg, 51);
    CHECK_OK(gdn_aggregator_begin(agg, global, 3));
    for (int k = 0; k < 3; k++)
        CHECK_OK(gdn_aggregator_add(agg, vec[k], weight[k]));
    CHECK_OK(gdn_aggregator_finish(agg, out));
    double worst = 0;
    int clamped = 0;
    for (int c = 0; c < 64; c++) {
        double sum = 0, wsum = 0;
        for (int k = 0; k < 3; k++) {
            double w = weight[k] / wscale, u = w * ((double)vec[k][c] - (double)global[c]);
            clamped += fabs(u) > clip;
            sum += fmin(clip, fmax(-clip, u));
            wsum += w;
        }
        worst = fmax(worst, fabs((double)out[c] - ((double)global[c] + sum / wsum)));
    }
    CHECK(clamped > 20);
    CHECK_MSG(worst < SUM_ERROR, "error %g", worst);
    gdn_aggregator_free(agg);
    gdn_rng_wipe(&keys);
}

/* FedAvg on 2,000 Fashion-MNIST examples, 8 owners all sampled, 3 rounds:
 * plain and encrypted reach the same accuracy (within 0.5 points) and the
 * same parameters up to the encoding's error. */
GDN_TEST(fl_he_fedavg_matches_plain)
{
    gdn_dataset train, test, sub_train = {0}, sub_test = {0};
    gdn_partition part;
    gdn_rng rng;
    double acc[2];
    float *params[2] = {NULL, NULL}, *first[2] = {NULL, NULL};
    size_t dim = 0;
    uint32_t *idx = malloc(2000 * sizeof *idx);

    CHECK_OK(gdn_data_load_fashion_mnist(&train, &test, gdn_test_fmnist_dir()));
    for (uint32_t i = 0; i < 2000; i++)
        idx[i] = i;
    CHECK_OK(gdn_data_subset(&sub_train, &train, idx, 2000));
    CHECK_OK(gdn_data_subset(&sub_test, &test, idx, 1000));
    gdn_dataset_free(&train);
    gdn_dataset_free(&test);
    gdn_rng_init_seed(&rng, 5);
    CHECK_OK(gdn_data_partition(&part, &sub_train, "iid", 8, &rng));
    for (int he = 0; he < 2; he++) {
        gdn_fl_sim *sim;
        gdn_fl_round_stats st;
        gdn_fl_config cfg;
        gdn_fl_config_default(&cfg);
        cfg.model = "mlp:784-32-10";
        cfg.clients = 8, cfg.per_round = 8, cfg.rounds = 3;
        cfg.local.batch = 20, cfg.local.lr = 0.05f;
        cfg.workers = 2;
        cfg.he.enabled = he;
        CHECK_OK(gdn_fl_sim_new(&sim, &cfg, &sub_train, &sub_test, &part));
        dim = gdn_model_nparams(gdn_fl_sim_model(sim));
        for (unsigned r = 0; r < cfg.rounds; r++) {
            CHECK_OK(gdn_fl_sim_round(sim, &st));
            if (r == 0) {
                first[he] = malloc(dim * sizeof(float));
                memcpy(first[he], gdn_model_params(gdn_fl_sim_model(sim)),
                       dim * sizeof(float));
            }
        }
        acc[he] = st.test_accuracy;
        params[he] = malloc(dim * sizeof(float));
        memcpy(params[he], gdn_model_params(gdn_fl_sim_model(sim)), dim * sizeof(float));
        gdn_fl_sim_free(sim);
    }
    double worst = 0, worst1 = 0;
    for (size_t c = 0; c < dim; c++) {
        worst = fmax(worst, fabs((double)params[0][c] - (double)params[1][c]));
        worst1 = fmax(worst1, fabs((double)first[0][c] - (double)first[1][c]));
    }
    printf("  accuracy: plain %.4f, he %.4f; parameters differ by at most %.3g after "
           "round 1, %.3g after round 3\n", acc[0], acc[1], worst1, worst);
    CHECK_MSG(acc[0] > 0.5, "plain accuracy %.3f", acc[0]);
    CHECK_MSG(fabs(acc[1] - acc[0]) <= 0.005, "he %.4f vs plain %.4f", acc[1], acc[0]);
    /* Round 1 is one aggregation: the sum's error over a summed weight of 8.
     * Later rounds train from slightly different models, which local SGD
     * amplifies (measured 7e-4 after round 3). */
    CHECK_MSG(worst1 < SUM_ERROR / 8, "round 1: parameters differ by %g", worst1);
    CHECK_MSG(worst < 4e-3, "round 3: parameters differ by %g", worst);
    /* HE replaces the aggregation: other protections are refused. */
    {
        gdn_fl_sim *sim = NULL;
        gdn_fl_config cfg;
        gdn_fl_config_default(&cfg);
        cfg.model = "logreg";
        cfg.clients = 8, cfg.per_round = 8;
        cfg.he.enabled = 1;
        cfg.prio.enabled = 1, cfg.prio.bound = 2;
        CHECK_EQ(gdn_fl_sim_new(&sim, &cfg, &sub_train, &sub_test, &part), GDN_EINVAL);
        cfg.prio.enabled = 0;
        cfg.aggregator = "median";
        CHECK_EQ(gdn_fl_sim_new(&sim, &cfg, &sub_train, &sub_test, &part), GDN_EINVAL);
    }
    free(params[0]);
    free(params[1]);
    free(first[0]);
    free(first[1]);
    free(idx);
    gdn_partition_free(&part);
    gdn_dataset_free(&sub_train);
    gdn_dataset_free(&sub_test);
}

static int same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb, ca, cb;
    while (same && (ca = fgetc(fa)) == (cb = fgetc(fb)) && ca != EOF)
        ;
    if (same)
        same = ferror(fa) == 0 && ferror(fb) == 0 && ca == cb;
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

/* The command line: --he trains, and a resumed run gives the same model
 * bits (the keys come back from the seed); with --secagg, --prio, --dp or
 * a robust aggregator it is refused. */
GDN_TEST(fl_he_cli)
{
    char args[512], log[300];
    const char *t = gdn_test_tmpdir();
    snprintf(log, sizeof log, "%s/he.log", t);
    snprintf(args, sizeof args, "simulate --model mlp:784-32-10 --clients 5 --per-round 5 "
             "--rounds 2 --limit 1000 --he --he-threshold 3 --out %s/he", t);
    CHECK_EQ(gdn_test_guardian(args, log), 0);
    CHECK(gdn_test_file_contains(log, "round 2/2  clients 5"));
    snprintf(args, sizeof args, "simulate --model mlp:784-32-10 --clients 5 --per-round 5 "
             "--rounds 1 --limit 1000 --he --he-threshold 3 --out %s/he1", t);
    CHECK_EQ(gdn_test_guardian(args, log), 0);
    snprintf(args, sizeof args, "simulate --resume %s/he1 --rounds 2", t);
    CHECK_EQ(gdn_test_guardian(args, log), 0);
    {
        char a[400], b[400];
        snprintf(a, sizeof a, "%s/he/model.safetensors", t);
        snprintf(b, sizeof b, "%s/he1/model.safetensors", t);
        CHECK(same_file(a, b));
    }
    snprintf(args, sizeof args, "simulate --model logreg --limit 500 --he --secagg --out %s/x",
             t);
    CHECK_EQ(gdn_test_guardian(args, log), 1);
    CHECK(gdn_test_file_contains(log, "--he does not combine with --secagg, --prio or --dp"));
    snprintf(args, sizeof args, "simulate --model logreg --limit 500 --he --dp client "
             "--out %s/x", t);
    CHECK_EQ(gdn_test_guardian(args, log), 1);
    snprintf(args, sizeof args, "simulate --model logreg --limit 500 --he --prio --out %s/x",
             t);
    CHECK_EQ(gdn_test_guardian(args, log), 1);
    snprintf(args, sizeof args, "simulate --model logreg --limit 500 --he "
             "--aggregator median --out %s/x", t);
    CHECK_EQ(gdn_test_guardian(args, log), 1);
    CHECK(gdn_test_file_contains(log, "--aggregator mean only"));
}
