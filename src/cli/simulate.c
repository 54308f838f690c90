/* guardian simulate: a whole federation in one process. Writes metrics.csv,
 * model.safetensors, checkpoint.bin and config.json after every round, and
 * accuracy.png at the end; --resume DIR continues a stopped run. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/cli.h"
#include "guardian/fl.h"
#include "guardian/policy.h"

cli_opt cli_simulate_opts[] = {
    CLI_DATA_OPTS,
    CLI_FL_OPTS,
    {"partition", "SCHEME", "iid, shards[:S] (McMahan's non-IID) or dirichlet:ALPHA", "iid", 0},
    {"attack", "SPEC", "simulated attackers: scale:S,frac:F or signflip[:S],frac:F", NULL, 0},
    CLI_DP_OPTS,
    {"owner-epsilon", "E", "DP: every data owner's own budget: an owner whose epsilon "
     "would pass E declines the round (recorded in the ledger)", NULL, 0},
    {"policy", "FILE", "a data-owner policy (guardian policy check) that every "
     "simulated owner enforces; refusals go to the ledger", NULL, 0},
    CLI_SECAGG_OPTS,
    {"dropout", "P", "SecAgg+: each client drops out with probability P at a random "
     "phase of the round", "0", 0},
    {"prio", NULL, "validated aggregation (PINE): each update is shared between two "
     "aggregators with a proof that its L2 norm is at most --prio-bound; failing "
     "updates are dropped and counted", NULL, 0},
    {"prio-bound", "B", "PINE: L2 bound of a client's update (honest clients clip to it)",
     "2.0", 0},
    {"he", NULL, "encrypted aggregation (multiparty CKKS): updates are encrypted under a "
     "key no one holds; the coordinator adds ciphertexts and --he-threshold of the key "
     "holders (owners 1..min(clients, 32)) decrypt the sum", NULL, 0},
    {"he-threshold", "T", "HE: key holders needed to decrypt (0: a majority)", "0", 0},
    {"he-clip", "C", "HE: range [-C, C] of a weighted update coordinate", "1.0", 0},
    {"workers", "N", "training threads (0: one per core)", "0", 0},
    {"out", "DIR", "output directory", "runs/simulate", 0},
    {"resume", "DIR", "continue the run in DIR from its last finished round", NULL, 0},
    {NULL, NULL, NULL, NULL, 0},
};

/* scale:S,frac:F  |  signflip[:S],frac:F */
static int parse_attack(gdn_fl_config *cfg, const char *spec)
{
    char buf[128], *save = NULL;
    int have_frac = 0;

    if (snprintf(buf, sizeof buf, "%s", spec) >= (int)sizeof buf)
        goto bad;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(tok, ':'), *end;
        double v = 1.0;
        if (colon) {
            errno = 0;
            v = strtod(colon + 1, &end);
            if (errno || end == colon + 1 || *end)
                goto bad;
            *colon = '\0';
        }
        if (strcmp(tok, "scale") == 0 && colon)
            cfg->attack = GDN_ATTACK_SCALE, cfg->attack_scale = v;
        else if (strcmp(tok, "signflip") == 0)
            cfg->attack = GDN_ATTACK_SIGNFLIP, cfg->attack_scale = v;
        else if (strcmp(tok, "frac") == 0 && colon && v >= 0 && v <= 1)
            cfg->attack_frac = v, have_frac = 1;
        else
            goto bad;
    }
    if (cfg->attack != GDN_ATTACK_NONE && have_frac)
        return 0;
bad:
    fprintf(stderr, "guardian: --attack %s: expected scale:S,frac:F or "
                    "signflip[:S],frac:F\n", spec);
    return GDN_EINVAL;
}

static int build_config(gdn_fl_config *cfg, cli_opt *opts)
{
    long workers;

    if (cli_fl_config(cfg, opts) || cli_long(opts, "workers", 0, 256, &workers))
        return GDN_EINVAL;
    cfg->workers = (unsigned)workers;
    if (cli_dp_config(cfg, opts, 1))
        return GDN_EINVAL;
    if (cli_secagg_config(cfg, opts) ||
        (cfg->secagg.enabled && cli_double(opts, "dropout", 0, 0.99, &cfg->secagg.dropout)))
        return GDN_EINVAL;
    if (cli_flag(opts, "prio")) {
        cfg->prio.enabled = 1;
        if (cli_double(opts, "prio-bound", 1e-3, 1e6, &cfg->prio.bound))
            return GDN_EINVAL;
    }
    if (cli_flag(opts, "he")) {
        long t;
        if (cfg->secagg.enabled || cfg->prio.enabled || cli_str(opts, "dp")) {
            fprintf(stderr, "guardian: --he does not combine with --secagg, --prio or --dp "
                            "(yet): use one of them\n");
            return GDN_EINVAL;
        }
        if (strcmp(cfg->aggregator, "mean") != 0) {
            fprintf(stderr, "guardian: --he sums encrypted updates: it works with "
                            "--aggregator mean only\n");
            return GDN_EINVAL;
        }
        cfg->he.enabled = 1;
        if (cli_long(opts, "he-threshold", 0, GDN_FL_HE_MAX_HOLDERS, &t) ||
            cli_double(opts, "he-clip", 1e-6, 1e6, &cfg->he.clip))
            return GDN_EINVAL;
        cfg->he.threshold = (unsigned)t;
    }
    if (cli_str(opts, "attack"))
        return parse_attack(cfg, cli_str(opts, "attack"));
    return 0;
}

/* --resume DIR: DIR/config.json's values for every option not given now. */
static int apply_saved_config(cli_opt *opts, const char *dir, gdn_json **tree)
{
    char path[4200];
    gdn_buf b = {0};
    int rc;

    snprintf(path, sizeof path, "%s/config.json", dir);
    if ((rc = gdn_file_read(&b, path, 1 << 20)) ||
        (rc = gdn_json_parse(tree, (const char *)b.data, b.len, path))) {
        gdn_buf_free(&b);
        return cli_fail("reading the run to resume", rc);
    }
    gdn_buf_free(&b);
    for (cli_opt *o = opts; o->name; o++) {
        const gdn_json *v = gdn_json_get(*tree, o->name);
        if (o->given || strcmp(o->name, "resume") == 0)
            continue;
        o->value = v ? gdn_json_string(v, NULL) : (o->metavar ? o->value : NULL);
        if (v && !o->value) {
            fprintf(stderr, "guardian: %s: option '%s' is not a string\n", path, o->name);
            return GDN_EFORMAT;
        }
    }
    return 0;
}

/* Keeps the rows of metrics.csv up to `rounds` (a resumed run rewrites the
 * rest); starts a new file when there is none. */
static int load_metrics(gdn_buf *csv, const char *dir, unsigned rounds)
{
    char path[4200];
    gdn_buf old = {0};
    size_t at, row = 0;

    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    csv->len = 0;
    if (rounds && gdn_file_read(&old, path, 64u << 20) == 0) {
        for (at = 0; at < old.len && row < rounds + 1; at++)
            row += old.data[at] == '\n';
        if (row == rounds + 1) {
            int rc = gdn_buf_append(csv, old.data, at);
            gdn_buf_free(&old);
            return rc;
        }
        gdn_buf_free(&old);
        fprintf(stderr, "warning: %s has fewer rows than the %u finished rounds; "
                        "starting it anew\n", path, rounds);
    }
    gdn_error_clear();
    return gdn_buf_printf(csv, "round,clients,train_loss,test_loss,test_accuracy,"
                               "seconds,epsilon\n");
}

/* --owner-epsilon and --policy: checks every simulated owner makes before
 * it trains in a round. */
typedef struct owner_checks {
    gdn_fl_sim *sim;
    const gdn_fl_config *cfg;
    double epsilon, delta;       /* --owner-epsilon (0: none) */
    gdn_policy *policy;          /* --policy (NULL: none) */
    uint8_t coordinator[32];     /* SHA-256 of the coordinator's public key */
} owner_checks;

/* Distributed DP: the ε after one more round, from the DDG's accountant. */
static double distributed_epsilon(double delta, const void *ctx)
{
    const owner_checks *o = ctx;

    return gdn_fl_sim_epsilon_at(o->sim, gdn_fl_sim_rounds_done(o->sim) + 1, delta);
}

/* The owner's policy on this round, as the round is described to it. In the
 * simulation nothing crosses a network, so "tls" counts as satisfied. */
static int check_policy(owner_checks *o, char *reason, size_t cap, size_t client,
                        size_t cohort)
{
    const gdn_fl_config *c = o->cfg;
    gdn_policy_round r;
    gdn_policy_verdict v;
    unsigned joined = gdn_fl_sim_owner_rounds(o->sim, client);
    int rc;

    memset(&r, 0, sizeof r);
    memcpy(r.coordinator, o->coordinator, sizeof r.coordinator);
    r.cohort = cohort;
    r.layers = GDN_POLICY_TLS | (c->secagg.enabled ? GDN_POLICY_SECAGG : 0) |
               (c->prio.enabled ? GDN_POLICY_PRIO3 : 0) |
               (c->he.enabled ? GDN_POLICY_HE : 0) |
               (c->dp.enabled || c->local.dp_clip > 0 ? GDN_POLICY_DP : 0);
    r.model = c->model;
    r.rounds_today = joined;
    r.delta = c->dp.delta;
    if (c->dp.enabled) { /* one step per round, at the client sampling rate */
        r.q = c->fraction, r.sigma = c->dp.noise;
        r.steps = gdn_fl_sim_rounds_done(o->sim);
        if (c->dp.distributed)
            r.epsilon_at = distributed_epsilon, r.epsilon_ctx = o;
    } else if (c->local.dp_clip > 0) { /* DP-SGD: this round's steps at once */
        size_t n = gdn_fl_sim_owner_examples(o->sim, client);
        uint64_t per = gdn_fl_dp_sgd_steps(&c->local, n);
        r.q = c->local.batch < n ? (double)c->local.batch / (double)n : 1.0;
        r.sigma = c->local.dp_noise;
        r.steps = (uint64_t)(joined + 1) * per - 1;
    }
    if ((rc = gdn_policy_check(&v, o->policy, &r))) {
        snprintf(reason, cap, "policy check failed: %s", gdn_errmsg());
        return 1;
    }
    if (v.accept)
        return 0;
    snprintf(reason, cap, "%s", v.message);
    return 1;
}

static int admit_owner(void *ctx, char *reason, size_t cap, size_t client,
                       unsigned round, size_t cohort)
{
    owner_checks *o = ctx;
    double eps;

    (void)round;
    if (o->policy && check_policy(o, reason, cap, client, cohort))
        return 1;
    if (!(o->epsilon > 0))
        return 0;
    eps = gdn_fl_sim_owner_epsilon(o->sim, client, 1);
    if (!(eps > o->epsilon))
        return 0;
    snprintf(reason, cap, "budget: this round would bring epsilon to %.4g > %g "
             "(delta %g)", eps, o->epsilon, o->delta);
    return 1;
}

/* ε each owner of the cohort spent in the round just run (DP-SGD), or the
 * round's ε for every owner alike (client-level DP, in spent[0]); last[]
 * holds each owner's ε before it (last[clients] for client-level DP). */
static int spent_this_round(double *spent, double *last, const gdn_fl_sim *sim,
                            const gdn_fl_config *cfg, const uint32_t *cohort, size_t n)
{
    if (cfg->dp.enabled) {
        double now = gdn_fl_sim_epsilon(sim, gdn_fl_sim_rounds_done(sim));
        spent[0] = now - last[cfg->clients];
        last[cfg->clients] = now;
        return 0;
    }
    for (size_t i = 0; cfg->local.dp_clip > 0 && i < n; i++) {
        double now = gdn_fl_sim_owner_epsilon(sim, cohort[i], 0);
        spent[i] = now - last[cohort[i]];
        last[cohort[i]] = now;
    }
    return 0;
}

/* SHA-256 of the parameters as little-endian float32 (the safetensors
 * payload), the model hash the ledger records. */
static void model_hash(uint8_t out[32], gdn_model *m)
{
    const float *p = gdn_model_params(m);
    size_t n = gdn_model_nparams(m);
    crypto_hash_sha256_state st;
    uint8_t chunk[4096];

    crypto_hash_sha256_init(&st);
    for (size_t i = 0; i < n;) {
        size_t k = 0;
        for (; k < sizeof chunk / 4 && i < n; k++, i++) {
            uint32_t u;
            memcpy(&u, &p[i], 4);
            gdn_store_le32(chunk + 4 * k, u);
        }
        crypto_hash_sha256_update(&st, chunk, 4 * k);
    }
    crypto_hash_sha256_final(&st, out);
}

/* accuracy.png with gnuplot; a missing gnuplot only warns. */
static void plot(const char *dir)
{
    char script[4200], png[4200], gp[9000];
    pid_t pid;
    int status;

    if (strpbrk(dir, "'\n\\")) { /* kept out of gnuplot's quoted strings */
        fprintf(stderr, "warning: no accuracy.png: the output path has a quote, "
                        "backslash or newline\n");
        return;
    }
    snprintf(png, sizeof png, "%s/accuracy.png", dir);
    snprintf(script, sizeof script, "%s/accuracy.gp", dir);
    snprintf(gp, sizeof gp,
             "set terminal pngcairo size 800,500\nset output '%s'\n"
             "set datafile separator ','\nset key bottom right\n"
             "set title 'Guardian federation: %s'\nset format x '%%.0f'\n"
             "set xlabel 'round'\nset ylabel 'test accuracy'\nset grid\n"
             "plot '%s/metrics.csv' using 1:($5 >= 0 ? $5 : NaN) with linespoints "
             "title 'test accuracy'\n", png, dir, dir);
    if (gdn_file_write_atomic(script, gp, strlen(gp)))
        return;
    pid = fork();
    if (pid == 0) {
        execlp("gnuplot", "gnuplot", script, (char *)NULL);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        fprintf(stderr, "warning: gnuplot could not draw %s (install gnuplot-nox)\n", png);
}

static void describe_partition(const gdn_partition *p)
{
    size_t lo = (size_t)-1, hi = 0, total = 0;

    for (size_t k = 0; k < p->clients; k++) {
        size_t n = gdn_partition_size(p, k);
        lo = n < lo ? n : lo;
        hi = n > hi ? n : hi;
        total += n;
    }
    fprintf(stderr, "partition: %zu clients, %zu to %zu examples each (mean %.1f)\n",
            p->clients, lo, hi, (double)total / (double)p->clients);
}

int cli_simulate(cli_opt *opts)
{
    gdn_dataset train = {0}, test = {0};
    gdn_partition part = {0};
    gdn_fl_sim *sim = NULL;
    gdn_fl_config cfg;
    gdn_json *saved = NULL;
    cli_ledger *ledger = NULL;
    uint8_t before[32], after[32];
    gdn_buf csv = {0};
    gdn_rng rng;
    char path[4200];
    const char *dir;
    double target = INFINITY;
    owner_checks owners;
    double *spent = NULL, *last_eps = NULL;
    int rc;

    memset(&owners, 0, sizeof owners);

    if (cli_str(opts, "resume") &&
        (rc = apply_saved_config(opts, cli_str(opts, "resume"), &saved)))
        goto out;
    dir = cli_str(opts, "resume") ? cli_str(opts, "resume") : cli_str(opts, "out");
    if ((rc = build_config(&cfg, opts)) || (rc = cli_load_data(opts, &train, &test)))
        goto out;
    cfg.model = cli_model_spec(opts, &train);
    gdn_rng_init_seed(&rng, cfg.seed);
    if ((rc = gdn_data_partition(&part, &train, cli_str(opts, "partition"),
                                 cfg.clients, &rng))) {
        rc = cli_fail("partitioning", rc);
        goto out;
    }
    describe_partition(&part);
    if (cli_str(opts, "owner-epsilon")) {
        if (!cfg.dp.enabled && !(cfg.local.dp_clip > 0)) {
            fprintf(stderr, "guardian: --owner-epsilon needs --dp client or sample\n");
            rc = GDN_EINVAL;
            goto out;
        }
        if (cli_double(opts, "owner-epsilon", 1e-6, 1e6, &owners.epsilon)) {
            rc = GDN_EINVAL;
            goto out;
        }
        owners.delta = cfg.dp.delta;
    }
    if (cli_str(opts, "policy") &&
        (rc = gdn_policy_load(&owners.policy, cli_str(opts, "policy")))) {
        rc = cli_fail("reading the owners' policy", rc);
        goto out;
    }
    if (owners.epsilon > 0 || owners.policy) {
        cfg.admit = admit_owner;
        cfg.admit_ctx = &owners;
    }
    if ((rc = gdn_fl_sim_new(&sim, &cfg, &train, &test, &part))) {
        rc = cli_fail("setting up the federation", rc);
        goto out;
    }
    owners.sim = sim;
    owners.cfg = &cfg;
    if ((rc = gdn_mkdir_p(dir)) || (rc = cli_write_config(dir, "simulate", opts))) {
        rc = cli_fail("writing outputs", rc);
        goto out;
    }
    {
        gdn_buf conf = {0};
        snprintf(path, sizeof path, "%s/config.json", dir);
        rc = gdn_file_read(&conf, path, 1 << 20);
        if (!rc)
            rc = cli_ledger_open(&ledger, dir, conf.data, conf.len, cfg.clients, NULL);
        gdn_buf_free(&conf);
        if (rc) {
            rc = cli_fail("opening the ledger", rc);
            goto out;
        }
        cli_ledger_coordinator(ledger, owners.coordinator);
    }
    /* After the ledger: owners' checks (replayed by the load) need the
     * coordinator's fingerprint. */
    snprintf(path, sizeof path, "%s/checkpoint.bin", dir);
    if (cli_str(opts, "resume")) {
        if ((rc = gdn_fl_sim_load(sim, path))) {
            rc = cli_fail("resuming", rc);
            goto out;
        }
        fprintf(stderr, "resuming %s after round %u\n", dir, gdn_fl_sim_rounds_done(sim));
        if (gdn_fl_sim_rounds_done(sim) >= cfg.rounds)
            fprintf(stderr, "nothing to do: %u rounds are finished (ask for more "
                            "with --rounds)\n", gdn_fl_sim_rounds_done(sim));
    }
    if ((rc = load_metrics(&csv, dir, gdn_fl_sim_rounds_done(sim)))) {
        rc = cli_fail("reading metrics", rc);
        goto out;
    }
    spent = calloc(cfg.clients + 1, sizeof *spent);
    last_eps = calloc(cfg.clients + 1, sizeof *last_eps);
    if (!spent || !last_eps) {
        rc = cli_fail("allocating", gdn_error(GDN_ENOMEM, "out of memory"));
        goto out;
    }
    for (size_t k = 0; k < cfg.clients; k++) /* where a resumed run stands */
        last_eps[k] = gdn_fl_sim_owner_epsilon(sim, k, 0);
    last_eps[cfg.clients] = gdn_fl_sim_epsilon(sim, gdn_fl_sim_rounds_done(sim));
    fprintf(stderr, "federation: %s, %s, aggregator %s, %u rounds, %zu workers\n",
            cfg.model, cfg.server.strategy, cfg.aggregator, cfg.rounds,
            (size_t)(cfg.workers ? cfg.workers : (unsigned)sysconf(_SC_NPROCESSORS_ONLN)));
    if (cfg.he.enabled) {
        size_t holders = cfg.clients < GDN_FL_HE_MAX_HOLDERS ? cfg.clients
                                                             : GDN_FL_HE_MAX_HOLDERS;
        fprintf(stderr, "encrypted aggregation: multiparty CKKS (N = 8192), key held by "
                "owners 1..%zu, %zu of them decrypt each round's sum\n", holders,
                cfg.he.threshold ? (size_t)cfg.he.threshold : holders / 2 + 1);
    }
    if (cli_str(opts, "target-epsilon") &&
        cli_double(opts, "target-epsilon", 1e-6, 1e6, &target)) {
        rc = GDN_EINVAL;
        goto out;
    }
    cli_catch_sigint();
    while (gdn_fl_sim_rounds_done(sim) < cfg.rounds && !cli_interrupted) {
        gdn_fl_round_stats st;
        double next = gdn_fl_sim_epsilon(sim, gdn_fl_sim_rounds_done(sim) + 1);
        if (next > target) {
            printf("privacy budget reached: round %u would spend epsilon %.4g > %g "
                   "(delta %g); stopping\n", gdn_fl_sim_rounds_done(sim) + 1, next,
                   target, cfg.dp.delta);
            break;
        }
        model_hash(before, gdn_fl_sim_model(sim));
        if ((rc = gdn_fl_sim_round(sim, &st))) {
            rc = cli_fail("round", rc);
            goto out;
        }
        model_hash(after, gdn_fl_sim_model(sim));
        printf("round %u/%u  clients %zu  train loss %.4f", st.round, cfg.rounds,
               st.cohort, st.train_loss);
        if (st.evaluated)
            printf("  test accuracy %.4f  test loss %.4f", st.test_accuracy, st.test_loss);
        if (cfg.dp.enabled || cfg.local.dp_clip > 0)
            printf("  epsilon %.4g (delta %g)", st.epsilon, cfg.dp.delta);
        if (st.refused)
            printf("  %zu declined", st.refused);
        if (cfg.prio.enabled)
            printf("  %zu rejected", st.rejected);
        printf("  %.2fs\n", st.seconds);
        {
            size_t nref;
            const gdn_fl_refusal *ref = gdn_fl_sim_refusals(sim, &nref);
            for (size_t i = 0; i < nref && i < 3; i++)
                printf("  owner %u declined: %s\n", ref[i].client, ref[i].reason);
            if (nref > 3)
                printf("  ... and %zu more (all in the ledger)\n", nref - 3);
        }
        fflush(stdout);
        gdn_buf_printf(&csv, "%u,%zu,%.6f,%.6f,%.6f,%.3f,%.6g\n", st.round, st.cohort,
                       st.train_loss, st.evaluated ? st.test_loss : -1.0,
                       st.evaluated ? st.test_accuracy : -1.0, st.seconds, st.epsilon);
        /* metrics first, checkpoint last: a crash in between leaves a metrics
         * row that the resumed run rewrites. */
        snprintf(path, sizeof path, "%s/metrics.csv", dir);
        if ((rc = gdn_file_write_atomic(path, csv.data, csv.len)))
            goto io_fail;
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        if ((rc = gdn_model_save(gdn_fl_sim_model(sim), path)))
            goto io_fail;
        {
            size_t n, nref;
            const uint32_t *cohort = gdn_fl_sim_cohort(sim, &n);
            const gdn_fl_refusal *refusals = gdn_fl_sim_refusals(sim, &nref);
            if ((rc = spent_this_round(spent, last_eps, sim, &cfg, cohort, n)) ||
                (rc = cli_ledger_round(ledger, &cfg, st.round, before, after, cohort, n,
                                       refusals, nref,
                                       cfg.dp.enabled || cfg.local.dp_clip > 0 ? spent
                                                                               : NULL)))
                goto io_fail;
        }
        snprintf(path, sizeof path, "%s/checkpoint.bin", dir);
        if ((rc = gdn_fl_sim_save(sim, path)))
            goto io_fail;
    }
    if (cli_interrupted)
        fprintf(stderr, "interrupted after round %u: resume with guardian simulate "
                        "--resume %s\n", gdn_fl_sim_rounds_done(sim), dir);
    plot(dir);
    printf("outputs: %s/{metrics.csv,model.safetensors,accuracy.png,config.json,"
           "ledger.db}\n", dir);
    goto out;
io_fail:
    rc = cli_fail("writing outputs", rc);
out:
    free(spent);
    free(last_eps);
    gdn_policy_free(owners.policy);
    cli_ledger_close(ledger);
    gdn_buf_free(&csv);
    gdn_fl_sim_free(sim);
    gdn_partition_free(&part);
    gdn_dataset_free(&train);
    gdn_dataset_free(&test);
    gdn_json_free(saved);
    return rc;
}
