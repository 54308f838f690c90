/* guardian serve: the coordinator of a networked federation (federation.h).
 * Writes OUT/metrics.csv and OUT/model.safetensors after every round, keeps
 * its state in OUT/state.db (or --state), and resumes from it when started
 * again with the same settings. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli/cli.h"
#include "guardian/federation.h"

cli_opt cli_serve_opts[] = {
    {"config", "FILE", "read options from a YAML file (docs/config.md); flags "
     "given here win", NULL, 0},
    {"listen", "HOST", "address to listen on", "127.0.0.1", 0},
    {"port", "N", "TCP port (0: any free one, printed)", "7800", 0},
    {"key", "DIR", "the coordinator's credentials (guardian keygen + ca sign)", NULL, 0},
    {"crl", "FILE", "revocation list to check owners against (default: "
     "DIR/crl.pem of --key, if there)", NULL, 0},
    {"federation", "ID", "the federation's name, sent to owners", "guardian", 0},
    {"owners", "FP,...", "the roster: owner fingerprints in data-index order "
     "(default: the first --clients owners to connect, in order)", NULL, 0},
    CLI_DATA_OPTS,
    CLI_FL_OPTS,
    CLI_SECAGG_OPTS,
    CLI_DP_OPTS,
    {"he", NULL, "encrypted aggregation (multiparty CKKS): owners encrypt their updates "
     "under a collective key whose threshold shares --he-holders owners keep (docs/ckks.md)",
     NULL, 0},
    {"he-holders", "H", "HE: key holders among the owners (0: min(clients, 32))", "0", 0},
    {"he-threshold", "T", "HE: key holders needed to decrypt (0: a majority)", "0", 0},
    {"he-clip", "C", "HE: range [-C, C] of a weighted update coordinate", "1.0", 0},
    CLI_PRIO_SERVE_OPTS,
    {"input", "CxHxW", "the model's input shape with --data none", "1x28x28", 0},
    {"classes", "K", "the model's classes with --data none", "10", 0},
    {"min-clients", "N", "updates a round needs to complete", "1", 0},
    {"wait-clients", "N", "connected owners to wait for before a round (0: all)", "0", 0},
    {"wait", "S", "... for at most S seconds, then --min-clients do", "30", 0},
    {"round-timeout", "S", "seconds from RoundStart to the last update", "600", 0},
    {"heartbeat", "S", "heartbeat interval in seconds", "5", 0},
    {"idle-timeout", "S", "close a connection silent this long (seconds)", "30", 0},
    {"max-connections", "N", "open connections at most (0: 2 x clients + 16)", "0", 0},
    {"max-frame", "BYTES", "largest frame accepted from owners", "65536", 0},
    {"state", "FILE", "SQLite state file (default: OUT/state.db)", NULL, 0},
    {"out", "DIR", "output directory", "runs/serve", 0},
    {NULL, NULL, NULL, NULL, 0},
};


typedef struct serve_ctx {
    const char *dir;
    cli_ledger *ledger;
    const gdn_fl_config *fl;
} serve_ctx;

/* ---- The run's ledger (OUT/ledger.db), signed with the coordinator's own
 * identity key, co-signed by the owners over the network. */

static int ledger_append(void *p, const gdn_coord_record *rec, uint8_t head[145], uint64_t *size)
{
    serve_ctx *ctx = p;
    return cli_ledger_append(ctx->ledger, ctx->fl, rec, head, size);
}

static int ledger_prove(void *p, uint8_t *proof, size_t *len, uint64_t from, uint64_t to)
{
    serve_ctx *ctx = p;
    return cli_ledger_prove(ctx->ledger, proof, len, from, to);
}

static int ledger_cosign(void *p, const uint8_t pk[32], uint64_t size, const uint8_t cosig[97])
{
    serve_ctx *ctx = p;
    return cli_ledger_add_cosig(ctx->ledger, pk, size, cosig);
}

static int ledger_flush(void *p)
{
    serve_ctx *ctx = p;
    return cli_ledger_flush(ctx->ledger);
}

static int on_round(void *p, const gdn_coord_round *h, size_t n, gdn_model *global)
{
    serve_ctx *ctx = p;
    const gdn_coord_round *r = &h[n - 1];
    char path[4200];
    gdn_buf csv = {0};
    int rc;

    printf("round %u/%u  %s  updates %zu/%zu", r->round, r->rounds,
           r->completed ? "completed" : "FAILED", r->updates, r->cohort);
    if (!ctx->fl->secagg.enabled) /* under SecAgg+ no owner's loss is sent */
        printf("  train loss %.4f", r->train_loss);
    if (r->evaluated)
        printf("  test accuracy %.4f  test loss %.4f", r->test_accuracy, r->test_loss);
    if (ctx->fl->dp.enabled)
        printf("  epsilon %.4g (delta %g)", r->epsilon, ctx->fl->dp.delta);
    if (r->dropouts)
        printf("  %zu dropouts", r->dropouts);
    if (r->refusals)
        printf("  %zu declined", r->refusals);
    if (ctx->fl->prio.enabled)
        printf("  %zu rejected", r->rejected);
    printf("  %.2fs\n", r->seconds);
    fflush(stdout);
    gdn_buf_printf(&csv, "round,cohort,updates,dropouts,refusals,completed,train_loss,"
                         "test_loss,test_accuracy,seconds,epsilon,model_sha256,rejected\n");
    for (size_t i = 0; i < n; i++) {
        char hex[65];
        sodium_bin2hex(hex, sizeof hex, h[i].model_sha256, 32);
        gdn_buf_printf(&csv, "%u,%zu,%zu,%zu,%zu,%d,%.6f,%.6f,%.6f,%.3f,%.6g,%s,%zu\n", h[i].round,
                       h[i].cohort, h[i].updates, h[i].dropouts, h[i].refusals,
                       h[i].completed, h[i].train_loss, h[i].evaluated ? h[i].test_loss : -1.0,
                       h[i].evaluated ? h[i].test_accuracy : -1.0, h[i].seconds,
                       h[i].epsilon, hex, h[i].rejected);
    }
    snprintf(path, sizeof path, "%s/metrics.csv", ctx->dir);
    rc = csv.data ? gdn_file_write_atomic(path, csv.data, csv.len) : GDN_ENOMEM;
    gdn_buf_free(&csv);
    snprintf(path, sizeof path, "%s/model.safetensors", ctx->dir);
    if (!rc)
        rc = gdn_model_save(global, path);
    return rc ? cli_fail("writing the round's outputs", rc) : 0;
}

static void on_listen(void *p, uint16_t port)
{
    (void)p;
    printf("listening on port %u\n", port);
    fflush(stdout);
}

/* "fp,fp,..." into a malloc'd roster of exactly `clients` entries. */
static int parse_owners(uint8_t (**out)[32], const char *list, size_t clients)
{
    uint8_t (*fp)[32] = calloc(clients ? clients : 1, sizeof *fp);
    const char *p = list;
    size_t n = 0;

    if (!fp)
        return GDN_ENOMEM;
    while (*p) {
        size_t len = strcspn(p, ",");
        size_t bin = 0;
        if (n == clients || len != 64 ||
            sodium_hex2bin(fp[n], 32, p, len, NULL, &bin, NULL) != 0 || bin != 32) {
            fprintf(stderr, "guardian: --owners: %s\n",
                    n == clients ? "more fingerprints than --clients"
                                 : "expected 64 hex digits per fingerprint, comma-separated");
            free(fp);
            return GDN_EINVAL;
        }
        for (size_t i = 0; i < n; i++)
            if (memcmp(fp[i], fp[n], 32) == 0) {
                fprintf(stderr, "guardian: --owners: owner %zu appears twice\n", n);
                free(fp);
                return GDN_EINVAL;
            }
        n++;
        p += len + (p[len] == ',');
    }
    if (n != clients) {
        fprintf(stderr, "guardian: --owners lists %zu fingerprints for %zu --clients\n", n,
                clients);
        free(fp);
        return GDN_EINVAL;
    }
    *out = fp;
    return 0;
}

static int ms_option(cli_opt *opts, const char *name, double lo, double hi, uint32_t *out)
{
    double s;

    if (cli_double(opts, name, lo, hi, &s))
        return GDN_EINVAL;
    *out = (uint32_t)(s * 1000.0 + 0.5);
    return 0;
}

/* ---- guardian serve --role helper: validated aggregation's second aggregator */

/* Fault tests: GDN_TEST_HELPER_DIE_IN_ROUND=R kills the helper (SIGKILL) when
 * round R's reports arrive, mid-verification; GDN_TEST_HELPER_DIE_AFTER=R
 * once it has sent round R's aggregate share. */
static void helper_on_job(void *ctx, uint64_t round)
{
    const char *die = getenv("GDN_TEST_HELPER_DIE_IN_ROUND");
    (void)ctx;
    if (die && strtoull(die, NULL, 10) == round)
        raise(SIGKILL);
}

/* Fault tests: GDN_TEST_HELPER_DIE_AFTER=R kills the helper (SIGKILL) once
 * it has sent round R's aggregate share. */
static void helper_on_round(void *ctx, uint64_t round, size_t accepted, size_t rejected)
{
    const char *die = getenv("GDN_TEST_HELPER_DIE_AFTER");
    (void)ctx;
    printf("helper round %llu: %zu accepted, %zu rejected\n", (unsigned long long)round,
           accepted, rejected);
    fflush(stdout);
    if (die && strtoull(die, NULL, 10) == round)
        raise(SIGKILL);
}

static int serve_helper(cli_opt *opts)
{
    gdn_helper_config hc;
    uint8_t leader[32];
    long port, min_batch;
    int rc;

    memset(&hc, 0, sizeof hc);
    if (!cli_str(opts, "key") || !cli_str(opts, "leader-pin")) {
        fprintf(stderr, "guardian serve --role helper: --key DIR and --leader-pin FP are "
                        "required\n");
        return GDN_EINVAL;
    }
    if (cli_parse_fingerprint(leader, "leader-pin", cli_str(opts, "leader-pin")) ||
        cli_long(opts, "port", 0, 65535, &port) ||
        cli_long(opts, "min-batch", 1, 1000000, &min_batch))
        return GDN_EINVAL;
    hc.min_batch = (size_t)min_batch;
    hc.host = cli_str(opts, "listen");
    hc.port = (uint16_t)port;
    hc.tls.dir = cli_str(opts, "key");
    hc.tls.crl_file = cli_str(opts, "crl");
    hc.leader_pin = leader;
    hc.federation_id = cli_str(opts, "federation");
    hc.on_listen = on_listen;
    hc.on_round = helper_on_round;
    hc.on_job = helper_on_job;
    hc.stop = &cli_interrupted;
    cli_catch_sigint();
    if ((rc = gdn_helper_run(&hc)))
        return cli_fail("helper", rc);
    printf("helper done\n");
    return 0;
}

/* --prio's leader settings into cfg (helper_pin and helper_key: caller's storage). */
static int prio_config(gdn_coord_config *cfg, cli_opt *opts, uint8_t pin[32], char *host,
                       size_t cap, char *link, size_t link_cap)
{
    if (!cli_flag(opts, "prio"))
        return 0;
    cfg->fl.prio.enabled = 1;
    if (cli_double(opts, "prio-bound", 1e-3, 1e6, &cfg->fl.prio.bound))
        return GDN_EINVAL;
    if (!cli_str(opts, "helper") || !cli_str(opts, "helper-pin")) {
        fprintf(stderr, "guardian serve --prio: --helper HOST:PORT and --helper-pin FP are "
                        "required (the second aggregator, docs/prio.md)\n");
        return GDN_EINVAL;
    }
    if (cli_parse_host_port(cli_str(opts, "helper"), host, cap, &cfg->helper_port)) {
        fprintf(stderr, "guardian serve: --helper %s: expected HOST:PORT\n",
                cli_str(opts, "helper"));
        return GDN_EINVAL;
    }
    if (cli_parse_fingerprint(pin, "helper-pin", cli_str(opts, "helper-pin")))
        return GDN_EINVAL;
    cfg->helper_host = host;
    cfg->helper_pin = pin;
    if (cli_str(opts, "helper-key"))
        snprintf(link, link_cap, "%s", cli_str(opts, "helper-key"));
    else
        snprintf(link, link_cap, "%s/helper-link", cli_str(opts, "key"));
    cfg->helper_tls.dir = link;
    cfg->helper_tls.crl_file = cli_str(opts, "crl");
    return 0;
}

int cli_serve(cli_opt *opts)
{
    gdn_coord_config cfg;
    gdn_coord_stats stats;
    gdn_dataset train = {0}, test = {0};
    uint8_t (*roster)[32] = NULL;
    serve_ctx ctx;
    gdn_coord_ledger ledger = {ledger_append, ledger_prove, ledger_cosign, ledger_flush, NULL};
    char state[4200];
    const char *dir;
    long port, min_clients, wait_clients, maxconn, maxframe, classes;
    int rc, have_data;
    uint8_t helper_pin[32];
    char helper_host[256], helper_link[4200];

    memset(&ctx, 0, sizeof ctx);
    if (cli_str(opts, "config") && cli_apply_config(&(cli_cmd){"serve", "", "", opts, NULL},
                                                    cli_str(opts, "config")))
        return GDN_EINVAL;
    if (strcmp(cli_str(opts, "role"), "helper") == 0) {
        rc = serve_helper(opts);
        cli_config_release();
        return rc;
    }
    if (strcmp(cli_str(opts, "role"), "coordinator") != 0) {
        fprintf(stderr, "guardian serve: --role %s: expected coordinator or helper\n",
                cli_str(opts, "role"));
        return GDN_EINVAL;
    }
    gdn_coord_config_default(&cfg);
    if (cli_fl_config(&cfg.fl, opts) || cli_secagg_config(&cfg.fl, opts) ||
        cli_long(opts, "port", 0, 65535, &port) ||
        cli_long(opts, "min-clients", 1, 1000000, &min_clients) ||
        cli_long(opts, "wait-clients", 0, 1000000, &wait_clients) ||
        cli_long(opts, "max-connections", 0, 10000000, &maxconn) ||
        cli_long(opts, "max-frame", 4096, 1L << 30, &maxframe) ||
        cli_long(opts, "classes", 2, 100000, &classes) ||
        ms_option(opts, "wait", 0, 86400, &cfg.wait_ms) ||
        ms_option(opts, "round-timeout", 0.001, 86400, &cfg.round_timeout_ms) ||
        ms_option(opts, "heartbeat", 0.001, 3600, &cfg.heartbeat_ms) ||
        ms_option(opts, "idle-timeout", 0.002, 86400, &cfg.idle_timeout_ms))
        return GDN_EINVAL;
    if (cli_flag(opts, "he")) {
        long holders, t;
        if (cli_long(opts, "he-holders", 0, GDN_FL_HE_MAX_HOLDERS, &holders) ||
            cli_long(opts, "he-threshold", 0, GDN_FL_HE_MAX_HOLDERS, &t) ||
            cli_double(opts, "he-clip", 1e-6, 1e6, &cfg.fl.he.clip))
            return GDN_EINVAL;
        cfg.fl.he.enabled = 1;
        cfg.fl.he.threshold = (unsigned)t;
        cfg.he_holders = (unsigned)holders;
    }
    if (cli_dp_config(&cfg.fl, opts, 0) ||
        prio_config(&cfg, opts, helper_pin, helper_host, sizeof helper_host, helper_link,
                    sizeof helper_link) ||
        (cli_str(opts, "target-epsilon") &&
         cli_double(opts, "target-epsilon", 1e-9, 1e9, &cfg.target_epsilon)))
        return GDN_EINVAL;
    if (!cli_str(opts, "key")) {
        fprintf(stderr, "guardian serve: --key DIR is required (the coordinator's "
                        "credentials; see docs/identities.md)\n");
        return GDN_EINVAL;
    }
    if (cli_str(opts, "owners") && parse_owners(&roster, cli_str(opts, "owners"),
                                                cfg.fl.clients))
        return GDN_EINVAL;
    have_data = strcmp(cli_str(opts, "data"), "none") != 0;
    if (have_data) {
        if ((rc = cli_load_data(opts, &train, &test)))
            goto out;
        cfg.channels = train.channels, cfg.height = train.height;
        cfg.width = train.width, cfg.classes = (size_t)train.classes;
        gdn_dataset_free(&train); /* the coordinator only evaluates */
        cfg.test = &test;
    } else {
        unsigned c, h, w;
        char extra;
        if (sscanf(cli_str(opts, "input"), "%ux%ux%u%c", &c, &h, &w, &extra) != 3 || !c ||
            !h || !w) {
            fprintf(stderr, "guardian serve: --input %s: expected CxHxW\n",
                    cli_str(opts, "input"));
            rc = GDN_EINVAL;
            goto out;
        }
        cfg.channels = c, cfg.height = h, cfg.width = w, cfg.classes = (size_t)classes;
    }
    cfg.fl.model = cli_str(opts, "model") ? cli_str(opts, "model")
                                          : cfg.height > 1 ? "cnn" : "logreg";
    dir = cli_str(opts, "out");
    if ((rc = gdn_mkdir_p(dir)) || (rc = cli_write_config(dir, "serve", opts))) {
        rc = cli_fail("output directory", rc);
        goto out;
    }
    snprintf(state, sizeof state, "%s/state.db", dir);
    cfg.state_path = cli_str(opts, "state") ? cli_str(opts, "state") : state;
    cfg.host = cli_str(opts, "listen");
    cfg.port = (uint16_t)port;
    cfg.tls.dir = cli_str(opts, "key");
    cfg.tls.crl_file = cli_str(opts, "crl");
    cfg.federation_id = cli_str(opts, "federation");
    cfg.owners = (const uint8_t(*)[GDN_NET_FINGERPRINT_BYTES])roster;
    cfg.min_clients = (size_t)min_clients;
    cfg.wait_clients = (size_t)wait_clients;
    cfg.max_connections = (size_t)maxconn;
    cfg.max_frame = (uint32_t)maxframe;
    ctx.dir = dir;
    ctx.fl = &cfg.fl;
    {   /* the ledger: signed with the coordinator's TLS identity (Ed25519) */
        char key[4200], conf[1024];
        uint8_t sk[64];
        snprintf(key, sizeof key, "%s/key.pem", cfg.tls.dir);
        snprintf(conf, sizeof conf, "serve model=%s clients=%zu seed=%llu strategy=%s "
                 "aggregator=%s secagg=%d%s", cfg.fl.model, cfg.fl.clients,
                 (unsigned long long)cfg.fl.seed, cfg.fl.server.strategy, cfg.fl.aggregator,
                 cfg.fl.secagg.enabled, cfg.fl.prio.enabled ? " prio=1" : "");
        char pub[4200];
        snprintf(pub, sizeof pub, "%s/coordinator.pub", dir); /* what audit checks with */
        rc = gdn_net_identity_secret(sk, key);
        if (!rc)
            rc = gdn_file_write_atomic(pub, sk + 32, 32);
        if (!rc)
            rc = cli_ledger_open(&ctx.ledger, dir, conf, strlen(conf), 0, sk);
        sodium_memzero(sk, sizeof sk);
        if (rc) {
            rc = cli_fail("opening the ledger", rc);
            goto out;
        }
        ledger.ctx = &ctx;
        cfg.ledger = &ledger;
    }
    cfg.on_round = on_round;
    cfg.on_listen = on_listen;
    cfg.ctx = &ctx;
    cfg.stop = &cli_interrupted;
    cli_catch_sigint(); /* and SIGTERM: stop cleanly, resumable */
    if ((rc = gdn_coord_run(&cfg, &stats))) {
        rc = cli_fail("coordinator", rc);
        goto out;
    }
    printf("coordinator done: %u rounds run here, peak %zu connections, %.1f MB sent, "
           "%.1f MB received\noutputs: %s/{metrics.csv,model.safetensors,config.json,"
           "ledger.db}, "
           "state %s\n", stats.rounds_run, stats.peak_connections, stats.bytes_sent / 1e6,
           stats.bytes_received / 1e6, dir, cfg.state_path);
out:
    cli_ledger_close(ctx.ledger);
    free(roster);
    gdn_dataset_free(&test);
    cli_config_release();
    return rc;
}
