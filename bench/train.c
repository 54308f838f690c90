/* Training throughput, one thread: samples per second of
 * gdn_model_train_epoch (SGD lr 0.05, no momentum) on a fixed subset of
 * Fashion-MNIST, for the 2NN at batch 10 and 32 and the CNN at batch 32.
 * One JSON line per config (bench/README.md); bench/torch_train.py is the
 * PyTorch side of the same comparison and bench/run.sh runs both.
 *
 *   build/bench/train [--runs N] [--config SPEC/BATCH]... [--kernels NAME]
 *
 * --kernels avx512|avx2|openblas picks the kernels (default: the best the
 * CPU has; GDN_NO_SIMD=1 also selects openblas).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guardian/core.h"
#include "guardian/data.h"
#include "guardian/ml.h"
#include "ml/kernels.h"

#include "bench.h"

#define MAX_RUNS 100

static const struct config {
    const char *spec;
    size_t batch, examples; /* examples: about 1-2 s per epoch */
} configs[] = {
    {"mlp:784-200-200-10", 10, 20000},
    {"mlp:784-200-200-10", 32, 20000},
    {"cnn", 32, 2000},
};
#define NCONFIGS (sizeof configs / sizeof configs[0])


static int run_config(const struct config *c, const gdn_dataset *train,
                      int runs)
{
    double rate[MAX_RUNS], loss;
    gdn_model *m = NULL;
    gdn_sgd opt = {0};
    gdn_rng rng;
    gdn_buf out = {0};
    size_t n = c->examples < train->n ? c->examples : train->n;
    int rc;

    if ((rc = gdn_model_new(&m, c->spec, train->channels, train->height,
                            train->width, train->classes)) ||
        (rc = gdn_sgd_init(&opt, gdn_model_nparams(m), 0.05f, 0, 0)))
        goto done;
    gdn_rng_init_seed(&rng, 1);
    gdn_model_init(m, &rng);
    for (int r = -1; r < runs; r++) { /* r = -1: warm-up */
        double t = gdn_now();
        if ((rc = gdn_model_train_epoch(m, &opt, &loss, train->x, train->y, n,
                                        c->batch, &rng, NULL, NULL)))
            goto done;
        t = gdn_now() - t;
        if (r >= 0)
            rate[r] = (double)n / t;
    }
    double median = bench_median(rate, (size_t)runs);
    gdn_buf_printf(&out,
                   "{\"bench\":\"train\",\"impl\":\"guardian\",\"model\":");
    bench_json_string(&out, c->spec);
    gdn_buf_printf(&out,
                   ",\"batch\":%zu,\"threads\":1,\"samples_per_s_median\":%.1f,"
                   "\"runs\":%d,\"all\":[", c->batch, median, runs);
    for (int r = 0; r < runs; r++)
        gdn_buf_printf(&out, "%s%.1f", r ? "," : "", rate[r]);
    gdn_buf_printf(&out, "],\"examples\":%zu,\"final_loss\":%.4f", n, loss);
    bench_json_env(&out);
    gdn_buf_printf(&out, "}\n");
    if (out.data)
        fwrite(out.data, 1, out.len, stdout);
    fflush(stdout);
done:
    gdn_buf_free(&out);
    gdn_sgd_free(&opt);
    gdn_model_free(m);
    return rc;
}

static int usage(void)
{
    fprintf(stderr, "usage: train [--runs N (1..%d)] [--config SPEC/BATCH]... "
                    "[--kernels avx512|avx2|openblas]\nconfigs:", MAX_RUNS);
    for (size_t i = 0; i < NCONFIGS; i++)
        fprintf(stderr, " %s/%zu", configs[i].spec, configs[i].batch);
    fputc('\n', stderr);
    return 2;
}

int main(int argc, char **argv)
{
    int runs = 5, selected[NCONFIGS] = {0}, any = 0, rc = 0;
    gdn_dataset train = {0}, test = {0};

    for (int i = 1; i < argc; i++) {
        char *end;
        if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > MAX_RUNS)
                return usage();
            runs = (int)v;
        } else if (strcmp(argv[i], "--kernels") == 0 && i + 1 < argc) {
            static const char *const names[] = {"openblas", "avx2", "avx512"};
            int k = 0;
            i++;
            while (k < 3 && strcmp(argv[i], names[k]) != 0)
                k++;
            if (k == 3 || (int)gdn_ml_set_simd((gdn_simd_level)k) != k) {
                fprintf(stderr, "train: kernels '%s' not available here\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            char name[128];
            size_t k = 0;
            i++;
            for (; k < NCONFIGS; k++) {
                snprintf(name, sizeof name, "%s/%zu", configs[k].spec,
                         configs[k].batch);
                if (strcmp(name, argv[i]) == 0)
                    break;
            }
            if (k == NCONFIGS)
                return usage();
            selected[k] = any = 1;
        } else
            return usage();
    }
    gdn_ml_set_threads(1);
    if ((rc = gdn_data_load_fashion_mnist(&train, &test, NULL))) {
        fprintf(stderr, "train: %s: %s\n", gdn_strerror(rc), gdn_errmsg());
        return 1;
    }
    for (size_t k = 0; k < NCONFIGS && !rc; k++)
        if (!any || selected[k])
            rc = run_config(&configs[k], &train, runs);
    if (rc)
        fprintf(stderr, "train: %s: %s\n", gdn_strerror(rc), gdn_errmsg());
    gdn_dataset_free(&train);
    gdn_dataset_free(&test);
    return rc ? 1 : 0;
}
