/* guardian train: central training, the baseline every federation is
 * compared with. Writes model.safetensors, metrics.csv and config.json. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "guardian/ml.h"

cli_opt cli_train_opts[] = {
    CLI_DATA_OPTS,
    {"epochs", "N", "passes over the training data", "5", 0},
    {"batch", "N", "examples per SGD step", "32", 0},
    {"lr", "X", "learning rate", "0.05", 0},
    {"momentum", "X", "SGD momentum", "0", 0},
    {"weight-decay", "X", "L2 weight decay", "0", 0},
    {"threads", "N", "BLAS threads (0: all cores)", "0", 0},
    {"out", "DIR", "where model.safetensors, metrics.csv, config.json go",
     "runs/train", 0},
    {NULL, NULL, NULL, NULL, 0},
};

static int on_batch(void *bar, size_t done, size_t total, double loss)
{
    char s[48];

    (void)total;
    snprintf(s, sizeof s, "loss %.4f", loss);
    gdn_progress_update(bar, done, s);
    return cli_interrupted;
}

int cli_train(cli_opt *opts)
{
    gdn_dataset train = {0}, test = {0};
    gdn_model *model = NULL;
    gdn_sgd opt = {0};
    gdn_buf csv = {0}, desc = {0};
    gdn_rng rng;
    long epochs, batch, threads, seed;
    double lr, momentum, wd, t0 = gdn_now();
    const char *dir = cli_str(opts, "out"), *spec;
    char path[4200];
    int rc;

    if (cli_long(opts, "epochs", 1, 100000, &epochs) ||
        cli_long(opts, "batch", 1, 65536, &batch) ||
        cli_long(opts, "threads", 0, 1024, &threads) ||
        cli_long(opts, "seed", 0, 0x7fffffffL, &seed) ||
        cli_double(opts, "lr", 1e-9, 100, &lr) ||
        cli_double(opts, "momentum", 0, 0.999, &momentum) ||
        cli_double(opts, "weight-decay", 0, 1, &wd))
        return GDN_EINVAL;
    if ((rc = cli_load_data(opts, &train, &test)))
        return rc;
    if (threads)
        gdn_ml_set_threads((int)threads);
    spec = cli_model_spec(opts, &train);
    if ((rc = gdn_model_new(&model, spec, train.channels, train.height,
                            train.width, train.classes))) {
        rc = cli_fail("model", rc);
        goto out;
    }
    gdn_model_describe(model, &desc);
    fprintf(stderr, "%.*s", (int)desc.len, (const char *)desc.data);
    gdn_rng_init_seed(&rng, (uint64_t)seed);
    gdn_model_init(model, &rng);
    if ((rc = gdn_sgd_init(&opt, gdn_model_nparams(model), (float)lr,
                           (float)momentum, (float)wd)) ||
        (rc = gdn_mkdir_p(dir)) || (rc = cli_write_config(dir, "train", opts))) {
        rc = cli_fail("setting up", rc);
        goto out;
    }
    gdn_buf_printf(&csv, "epoch,train_loss,test_loss,test_accuracy,seconds\n");
    cli_catch_sigint();
    for (long e = 1; e <= epochs && !cli_interrupted; e++) {
        gdn_progress bar;
        char label[64];
        double loss, test_loss = 0, acc = 0;
        snprintf(label, sizeof label, "epoch %ld/%ld", e, epochs);
        gdn_progress_start(&bar, label, train.n);
        rc = gdn_model_train_epoch(model, &opt, &loss, train.x, train.y,
                                   train.n, (size_t)batch, &rng, on_batch, &bar);
        if (rc == GDN_EINTR) {
            fprintf(stderr, "\ninterrupted: keeping the model of epoch %ld\n", e - 1);
            rc = 0;
            break;
        }
        if (rc) {
            rc = cli_fail("training", rc);
            goto out;
        }
        gdn_progress_end(&bar);
        if (test.n && (rc = gdn_model_evaluate(model, &test_loss, &acc, test.x,
                                               test.y, test.n))) {
            rc = cli_fail("evaluating", rc);
            goto out;
        }
        printf("epoch %ld/%ld  train loss %.4f  test loss %.4f  test accuracy %.4f  %.1fs\n",
               e, epochs, loss, test_loss, acc, gdn_now() - t0);
        fflush(stdout);
        gdn_buf_printf(&csv, "%ld,%.6f,%.6f,%.6f,%.3f\n", e, loss, test_loss,
                       acc, gdn_now() - t0);
        /* Keep what is done so far: a crash or Ctrl-C loses at most an epoch. */
        snprintf(path, sizeof path, "%s/metrics.csv", dir);
        if ((rc = gdn_file_write_atomic(path, csv.data, csv.len))) {
            rc = cli_fail("writing metrics", rc);
            goto out;
        }
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        if ((rc = gdn_model_save(model, path))) {
            rc = cli_fail("saving the model", rc);
            goto out;
        }
    }
    printf("model: %s/model.safetensors  metrics: %s/metrics.csv\n", dir, dir);
out:
    gdn_buf_free(&csv);
    gdn_buf_free(&desc);
    gdn_sgd_free(&opt);
    gdn_model_free(model);
    gdn_dataset_free(&train);
    gdn_dataset_free(&test);
    return rc;
}
