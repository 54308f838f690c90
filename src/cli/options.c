/* The federation options that simulate and serve share (CLI_FL_OPTS). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static int read_size(cli_opt *opts, const char *name, long lo, long hi, size_t *out)
{
    long v;

    if (cli_long(opts, name, lo, hi, &v))
        return GDN_EINVAL;
    *out = (size_t)v;
    return 0;
}

int cli_fl_config(gdn_fl_config *cfg, cli_opt *opts)
{
    size_t clients, rounds, epochs, batch, eval_every, per_round = 0;
    long seed;
    double lr, mom, wd, mu, slr, smom, b1, b2, tau;

    gdn_fl_config_default(cfg);
    if (read_size(opts, "clients", 1, 1000000, &clients) ||
        read_size(opts, "rounds", 1, 1000000, &rounds) ||
        read_size(opts, "local-epochs", 1, 1000, &epochs) ||
        read_size(opts, "batch", 1, 65536, &batch) ||
        read_size(opts, "eval-every", 1, 1000000, &eval_every) ||
        (cli_str(opts, "per-round") && read_size(opts, "per-round", 1, 1000000, &per_round)) ||
        cli_long(opts, "seed", 0, 0x7fffffffL, &seed) ||
        cli_double(opts, "fraction", 1e-9, 1, &cfg->fraction) ||
        cli_double(opts, "lr", 1e-9, 100, &lr) ||
        cli_double(opts, "momentum", 0, 0.999, &mom) ||
        cli_double(opts, "weight-decay", 0, 1, &wd) ||
        cli_double(opts, "prox-mu", 0, 1e6, &mu) ||
        cli_double(opts, "server-lr", 0, 1e3, &slr) ||
        cli_double(opts, "server-momentum", 0, 0.999, &smom) ||
        cli_double(opts, "beta1", 0, 0.999999, &b1) ||
        cli_double(opts, "beta2", 0, 0.999999, &b2) ||
        cli_double(opts, "tau", 0, 10, &tau))
        return GDN_EINVAL;
    cfg->clients = clients, cfg->rounds = (unsigned)rounds;
    cfg->per_round = per_round;
    cfg->eval_every = (unsigned)eval_every;
    cfg->seed = (uint64_t)seed;
    cfg->local.epochs = (unsigned)epochs, cfg->local.batch = batch;
    cfg->local.lr = (float)lr, cfg->local.momentum = (float)mom;
    cfg->local.weight_decay = (float)wd, cfg->local.prox_mu = (float)mu;
    cfg->server.strategy = cli_str(opts, "strategy");
    cfg->server.lr = (float)slr, cfg->server.momentum = (float)smom;
    cfg->server.beta1 = (float)b1, cfg->server.beta2 = (float)b2;
    cfg->server.tau = (float)tau;
    cfg->aggregator = cli_str(opts, "aggregator");
    return 0;
}

int cli_secagg_config(gdn_fl_config *cfg, cli_opt *opts)
{
    long k = 0, t = 0, levels;

    if (!cli_flag(opts, "secagg"))
        return 0;
    cfg->secagg.enabled = 1;
    if ((cli_str(opts, "secagg-k") && cli_long(opts, "secagg-k", 1, 1000000, &k)) ||
        (cli_str(opts, "secagg-threshold") &&
         cli_long(opts, "secagg-threshold", 1, 1000000, &t)) ||
        cli_long(opts, "secagg-levels", 2, 1L << 30, &levels) ||
        cli_double(opts, "secagg-clip", 1e-9, 1e9, &cfg->secagg.clip))
        return GDN_EINVAL;
    if (!k != !t) {
        fprintf(stderr, "guardian: --secagg-k and --secagg-threshold go together\n");
        return GDN_EINVAL;
    }
    cfg->secagg.k = (uint32_t)k, cfg->secagg.t = (uint32_t)t;
    cfg->secagg.levels = (uint32_t)levels;
    return 0;
}

int cli_dp_config(gdn_fl_config *cfg, cli_opt *opts, int allow_sample)
{
    const char *mode = cli_str(opts, "dp");
    long bits;

    if (!mode)
        return 0;
    if (strcmp(mode, "client") != 0 && strcmp(mode, "distributed") != 0 &&
        (!allow_sample || strcmp(mode, "sample") != 0)) {
        fprintf(stderr, "guardian: --dp %s: expected client, distributed%s\n", mode,
                allow_sample ? " or sample" : " (DP-SGD, sample, runs in simulate)");
        return GDN_EINVAL;
    }
    cfg->dp.enabled = strcmp(mode, "sample") != 0;
    cfg->dp.distributed = strcmp(mode, "distributed") == 0;
    if (cfg->dp.distributed && !cli_flag(opts, "secagg")) {
        fprintf(stderr, "guardian: --dp distributed needs --secagg (the noise is added "
                        "by the owners, under secure aggregation)\n");
        return GDN_EINVAL;
    }
    if (cli_long(opts, "ddg-bits", 2, 32, &bits) ||
        cli_double(opts, "ddg-gamma", 0, 1e9, &cfg->dp.ddg_gamma) ||
        cli_double(opts, "clip", 1e-9, 1e9, &cfg->dp.clip) ||
        cli_double(opts, "noise", 0, 1e6, &cfg->dp.noise) ||
        cli_double(opts, "delta", 1e-300, 0.999999, &cfg->dp.delta) ||
        cli_double(opts, "clip-lr", 1e-6, 10, &cfg->dp.clip_lr) ||
        (cli_str(opts, "clip-quantile") &&
         cli_double(opts, "clip-quantile", 1e-6, 0.999999, &cfg->dp.quantile)))
        return GDN_EINVAL;
    cfg->dp.ddg_bits = (uint32_t)bits;
    if (!cfg->dp.enabled) { /* sample level: DP-SGD inside each owner */
        cfg->local.dp_clip = (float)cfg->dp.clip;
        cfg->local.dp_noise = (float)cfg->dp.noise;
        if (cfg->dp.quantile > 0) {
            fprintf(stderr, "guardian: --clip-quantile is for --dp client\n");
            return GDN_EINVAL;
        }
    }
    return 0;
}
