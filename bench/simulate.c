/* Federated simulation throughput and memory: seconds per FedAvg round of
 * gdn_fl_sim_round and the process's peak resident memory, for McMahan et
 * al.'s 2NN on Fashion-MNIST split IID over --clients clients (C = 0.1,
 * E = 1, B = 10, SGD lr 0.05, no evaluation). One JSON line
 * (bench/README.md); bench/torch_fedavg.py is the PyTorch side of the same
 * comparison and bench/simulate.sh runs both.
 *
 *   build/bench/simulate [--clients N] [--rounds R] [--workers W]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "guardian/core.h"
#include "guardian/data.h"
#include "guardian/fl.h"
#include "guardian/ml.h"
#include "ml/kernels.h"

#include "bench.h"

#define MODEL "mlp:784-200-200-10"
#define MAX_ROUNDS 1000
#define MAX_CLIENTS 60000


/* Peak resident set size of this process so far, in MiB (Linux reports
 * ru_maxrss in KiB). */
static double peak_rss_mib(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return (double)ru.ru_maxrss / 1024.0;
}

/* Current resident set size in MiB (second field of /proc/self/statm, in
 * pages), or -1 where /proc is missing. */
static double rss_mib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    int got;

    if (!f)
        return -1;
    got = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    if (got != 2)
        return -1;
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static int usage(void)
{
    fprintf(stderr, "usage: simulate [--clients N (10..%d)] [--rounds R (1..%d)] "
                    "[--workers W (0 = cores)] [--privacy none|dp|secagg|ddg]\n",
            MAX_CLIENTS, MAX_ROUNDS);
    return 2;
}

int main(int argc, char **argv)
{
    long clients = 100, rounds = 10, workers = 0;
    gdn_dataset train = {0}, test = {0};
    gdn_partition part = {0};
    gdn_fl_config cfg;
    gdn_fl_sim *sim = NULL;
    gdn_fl_round_stats st;
    gdn_buf out = {0};
    gdn_rng rng;
    double *secs = NULL, base_rss, data_rss, load_peak, median;
    long nworkers;
    const char *privacy = "none";
    int rc;

    for (int i = 1; i < argc; i++) {
        long *dst = NULL, lo = 0, hi = 0;
        if (strcmp(argv[i], "--privacy") == 0 && i + 1 < argc) {
            privacy = argv[++i]; /* none, dp (client-level), secagg, ddg (distributed) */
            if (strcmp(privacy, "none") && strcmp(privacy, "dp") && strcmp(privacy, "secagg") &&
                strcmp(privacy, "ddg"))
                return usage();
            continue;
        }
        if (strcmp(argv[i], "--clients") == 0)
            dst = &clients, lo = 10, hi = MAX_CLIENTS;
        else if (strcmp(argv[i], "--rounds") == 0)
            dst = &rounds, lo = 1, hi = MAX_ROUNDS;
        else if (strcmp(argv[i], "--workers") == 0)
            dst = &workers, lo = 0, hi = 256;
        if (!dst || i + 1 == argc || bench_parse_count(argv[++i], lo, hi, dst))
            return usage();
    }
    nworkers = workers ? workers : sysconf(_SC_NPROCESSORS_ONLN);
    if (nworkers < 1)
        nworkers = 1;

    base_rss = rss_mib();
    if ((rc = gdn_data_load_fashion_mnist(&train, &test, NULL)))
        goto fail;
    gdn_dataset_free(&test); /* the benchmark does not evaluate */
    data_rss = rss_mib();
    load_peak = peak_rss_mib();

    gdn_rng_init_seed(&rng, 1);
    if ((rc = gdn_data_partition(&part, &train, "iid", (size_t)clients, &rng)))
        goto fail;
    gdn_fl_config_default(&cfg);
    cfg.model = MODEL;
    cfg.clients = (size_t)clients;
    cfg.fraction = 0.1;
    cfg.rounds = (unsigned)rounds + 1; /* one warm-up round */
    cfg.eval_every = (unsigned)rounds + 2;
    cfg.local.epochs = 1;
    cfg.local.batch = 10;
    cfg.local.lr = 0.05f;
    cfg.workers = (unsigned)workers;
    cfg.seed = 1;
    if (strcmp(privacy, "dp") == 0) { /* DP-FedAvg: clip 1, noise 1 */
        cfg.dp.enabled = 1, cfg.dp.clip = 1, cfg.dp.noise = 1, cfg.dp.delta = 1e-5;
    } else if (strcmp(privacy, "secagg") == 0) {
        cfg.secagg.enabled = 1, cfg.secagg.clip = 1, cfg.secagg.levels = 1u << 16;
    } else if (strcmp(privacy, "ddg") == 0) { /* distributed DP: clip 1, noise 1, 18 bits */
        cfg.dp.enabled = 1, cfg.dp.distributed = 1, cfg.dp.ddg_bits = 18;
        cfg.dp.clip = 1, cfg.dp.noise = 1, cfg.dp.delta = 1e-5;
        cfg.secagg.enabled = 1;
    }
    /* test = NULL: gdn_fl_sim_round evaluates only on a non-empty test set. */
    if ((rc = gdn_fl_sim_new(&sim, &cfg, &train, NULL, &part)))
        goto fail;

    secs = calloc((size_t)rounds, sizeof *secs);
    if (!secs) {
        rc = gdn_error(GDN_ENOMEM, "out of memory");
        goto fail;
    }
    for (long r = -1; r < rounds; r++) { /* r = -1: warm-up */
        double t = gdn_now();
        if ((rc = gdn_fl_sim_round(sim, &st)))
            goto fail;
        t = gdn_now() - t;
        if (r >= 0)
            secs[r] = t;
    }
    median = bench_median(secs, (size_t)rounds);

    gdn_buf_printf(&out, "{\"bench\":\"simulate\",\"impl\":\"guardian\",\"model\":\"%s\","
                   "\"privacy\":\"%s\",\"clients\":%ld,\"per_round\":%zu,\"examples_per_client\":%zu,"
                   "\"local_epochs\":1,\"batch\":10,\"workers\":%ld,"
                   "\"sec_per_round_median\":%.5f,\"rounds\":%ld,\"all\":[",
                   MODEL, privacy, clients, st.cohort, gdn_partition_size(&part, 0),
                   nworkers, median, rounds);
    for (long r = 0; r < rounds; r++)
        gdn_buf_printf(&out, "%s%.5f", r ? "," : "", secs[r]);
    gdn_buf_printf(&out, "],\"peak_rss_mib\":%.1f,\"data_rss_mib\":%.1f,"
                   "\"base_rss_mib\":%.1f,\"load_peak_rss_mib\":%.1f,"
                   "\"end_rss_mib\":%.1f,\"train_loss\":%.4f",
                   peak_rss_mib(), data_rss, base_rss, load_peak, rss_mib(),
                   st.train_loss);
    bench_json_env(&out);
    gdn_buf_printf(&out, "}\n");
    if (out.data)
        fwrite(out.data, 1, out.len, stdout);
    fflush(stdout);
fail:
    if (rc)
        fprintf(stderr, "simulate: %s: %s\n", gdn_strerror(rc), gdn_errmsg());
    gdn_buf_free(&out);
    free(secs);
    gdn_fl_sim_free(sim);
    gdn_partition_free(&part);
    gdn_dataset_free(&train);
    gdn_dataset_free(&test);
    return rc ? 1 : 0;
}
