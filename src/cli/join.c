/* guardian join: a data owner of a networked federation (federation.h). It
 * trains on its own data when the coordinator asks, and never sends the
 * data itself. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/cli.h"
#include "guardian/federation.h"
#include "guardian/ledger.h"
#include "guardian/policy.h"

cli_opt cli_join_opts[] = {
    {"config", "FILE", "read options from a YAML file (docs/config.md)", NULL, 0},
    {"server", "HOST:PORT", "the coordinator", NULL, 0},
    {"key", "DIR", "this owner's credentials (guardian keygen + ca sign)", NULL, 0},
    {"coordinator", "FP", "trust only the coordinator with this key fingerprint", NULL, 0},
    CLI_DATA_OPTS,
    {"clients", "N", "take the share of owner --owner in an N-way split of the data, "
     "as simulate would (to reproduce a simulated federation)", NULL, 0},
    {"owner", "K", "this owner's share of the split (0 .. N-1)", NULL, 0},
    {"partition", "SCHEME", "the split: iid, shards[:S] or dirichlet:ALPHA", "iid", 0},
    {"policy", "FILE", "this owner's policy (guardian policy check): rounds that break "
     "it are refused, and the refusal is recorded in the coordinator's ledger", NULL, 0},
    {"state", "DIR", "where this owner keeps the ledger heads it co-signed and the "
     "rounds it took part in (default: the --key directory)", NULL, 0},
    {"retry", "S", "keep reconnecting this long when the coordinator is away", "60", 0},
    {"no-reconnect", NULL, "end when the connection is lost", NULL, 0},
    {"helper-pin", "FP", "validated (--prio) rounds: the key fingerprint of the helper "
     "this owner trusts with its helper share; without it such rounds are declined", NULL,
     0},
    {"prio-bound", "B", "validated rounds: decline a norm bound other than B", NULL, 0},
    {"attack", "SPEC", "tests only: scale:S sends S x its update, as simulate --attack "
     "does to its attackers", NULL, 0},
    {NULL, NULL, NULL, NULL, 0},
};


/* Fault tests: GDN_TEST_DIE_AT=R:EVENT kills this process (SIGKILL, no
 * clean-up) at that step of round R ("model": its model has arrived;
 * "secagg1".."secagg4": a SecAgg+ phase's request has), i.e. mid-round.
 * GDN_TEST_DIE_IN_ROUND=R is R:model; GDN_TEST_SLEEP_AT=R:EVENT only pauses
 * there for 2 s (a slow owner). */
static void on_event(void *ctx, uint64_t round, uint64_t index, const char *event)
{
    const char *at = getenv("GDN_TEST_DIE_AT"), *in = getenv("GDN_TEST_DIE_IN_ROUND");
    const char *slow = getenv("GDN_TEST_SLEEP_AT");
    char want[64], here[64];

    (void)ctx;
    snprintf(here, sizeof here, "%llu:%s", (unsigned long long)round, event);
    if (slow && strcmp(slow, here) == 0) { /* a slow owner: 2 s at that step */
        struct timespec ts = {2, 0};
        nanosleep(&ts, NULL);
    }
    if (at)
        snprintf(want, sizeof want, "%s", at);
    else if (in)
        snprintf(want, sizeof want, "%s:model", in);
    else
        return;
    if (strcmp(here, want) != 0)
        return;
    fprintf(stderr, "owner %llu: dying in round %llu at '%s' (fault test)\n",
            (unsigned long long)index, (unsigned long long)round, event);
    fflush(stderr);
    raise(SIGKILL);
}

/* ---- What an owner keeps (--state DIR) --------------------------------------
 *   head-<coordinator key, 16 hex>.bin  the last ledger head it co-signed
 *   rounds.txt                          unix times of the rounds it trained in,
 *                                       the last 24 hours (max_rounds_per_day)
 * Both written atomically (temp file, fsync, rename). */

typedef struct owner_ctx {
    const char *state;
    gdn_policy *policy;
    uint8_t sk[64]; /* its identity, to co-sign */
    const gdn_dataset *data; /* its shape sizes a proposed model */
} owner_ctx;

static void head_path(char *out, size_t cap, const owner_ctx *o, const uint8_t pk[32])
{
    char hex[65];

    sodium_bin2hex(hex, sizeof hex, pk, 32);
    snprintf(out, cap, "%s/head-%.16s.bin", o->state, hex);
}

/* The held head for this coordinator: 1 and *h, 0 none, < 0 a damaged file. */
static int load_head(gdn_ledger_head *h, const owner_ctx *o, const uint8_t pk[32])
{
    char path[4300];
    gdn_buf b = {0};
    int rc;

    head_path(path, sizeof path, o, pk);
    if (gdn_file_read(&b, path, 1024)) {
        gdn_error_clear();
        return 0;
    }
    rc = gdn_ledger_head_decode(h, b.data, b.len);
    gdn_buf_free(&b);
    return rc ? gdn_error(rc, "%s: %s", path, gdn_errmsg()) : 1;
}

static uint64_t held_size(void *p, const uint8_t pk[32])
{
    gdn_ledger_head h;

    return load_head(&h, p, pk) == 1 ? h.size : 0;
}

static int check_head(void *p, uint8_t cosig_out[97], uint64_t *size, const uint8_t pk[32],
                      const uint8_t head[145], const uint8_t *proof, size_t proof_len,
                      uint64_t from_size)
{
    owner_ctx *o = p;
    gdn_ledger_head held, fresh, keep;
    gdn_ledger_proof pr;
    gdn_ledger_cosig cosig;
    gdn_ledger_verdict verdict;
    char path[4300];
    uint8_t enc[GDN_LEDGER_HEAD_BYTES];
    int have, rc;

    if ((have = load_head(&held, o, pk)) < 0)
        return have;
    if ((rc = gdn_ledger_head_decode(&fresh, head, 145)))
        return rc;
    if (have && from_size != held.size)
        return gdn_error(GDN_ECRYPTO, "the proof starts at %llu entries, the head this "
                         "owner holds has %llu", (unsigned long long)from_size,
                         (unsigned long long)held.size);
    memset(&pr, 0, sizeof pr);
    pr.len = proof_len / 32;
    for (size_t i = 0; i < pr.len; i++)
        memcpy(pr.hash[i], proof + 32 * i, 32);
    rc = gdn_ledger_client_update(&cosig, &keep, &verdict, have ? &held : NULL, &fresh,
                                  have && held.size < fresh.size ? &pr : NULL, pk, o->sk);
    if (rc) {
        char why[600];
        snprintf(why, sizeof why, "%s", gdn_errmsg());
        return gdn_error(rc, "%s (%s): split view? keep %s and the coordinator's last head "
                         "as evidence", gdn_ledger_verdict_name(verdict), why,
                         have ? "the held head" : "this log");
    }
    gdn_ledger_head_encode(enc, &keep);
    head_path(path, sizeof path, o, pk);
    if ((rc = gdn_file_write_atomic(path, enc, sizeof enc)))
        return rc;
    gdn_ledger_cosig_encode(cosig_out, &cosig);
    *size = fresh.size;
    return 0;
}

/* Rounds trained in the last 24 hours, optionally recording one more now. */
static int rounds_today(uint64_t *count, const owner_ctx *o, int add)
{
    char path[4300];
    gdn_buf b = {0}, out = {0};
    uint64_t now = (uint64_t)time(NULL);
    int rc = 0;

    *count = 0;
    snprintf(path, sizeof path, "%s/rounds.txt", o->state);
    if (gdn_file_read(&b, path, 1 << 20) == 0 && gdn_buf_append(&b, "", 1) == 0) {
        const char *q = (const char *)b.data;
        while (*q) {
            char *end;
            unsigned long long t = strtoull(q, &end, 10);
            if (end == q)
                break;
            if (t + 86400 > now) {
                (*count)++;
                gdn_buf_printf(&out, "%llu\n", t);
            }
            q = end + (*end == '\n');
        }
    }
    gdn_error_clear();
    if (add) {
        gdn_buf_printf(&out, "%llu\n", (unsigned long long)now);
        rc = gdn_file_write_atomic(path, out.data, out.len);
    }
    gdn_buf_free(&b);
    gdn_buf_free(&out);
    return rc;
}

/* Distributed DP's ε if the owner takes part in this round (rounds so far
 * and this one), for the policy's budget rule. */
typedef struct ddg_round {
    gdn_dp_ddg_params p;
    double q;
    unsigned rounds;
} ddg_round;

static double ddg_epsilon(double delta, const void *ctx)
{
    const ddg_round *d = ctx;
    return gdn_fl_ddg_epsilon(&d->p, d->q, d->rounds, delta);
}

/* The owner's policy on a proposed round. */
static int admit(void *p, char rule[GDN_WIRE_MAX_RULE + 1], char *message, size_t cap,
                 const gdn_wire_round_start *rs, const uint8_t coordinator[32])
{
    owner_ctx *o = p;
    gdn_policy_round r;
    gdn_policy_verdict v;
    ddg_round ddg;
    uint64_t today = 0;

    if (!o->policy)
        goto record;
    memset(&r, 0, sizeof r);
    memcpy(r.coordinator, coordinator, sizeof r.coordinator);
    r.cohort = rs->cohort;
    r.layers = GDN_POLICY_TLS | (rs->aggregation == GDN_WIRE_AGG_SECAGG ? GDN_POLICY_SECAGG : 0) |
               (rs->aggregation == GDN_WIRE_AGG_HE ? GDN_POLICY_HE : 0) |
               (rs->aggregation == GDN_WIRE_AGG_PRIO3 ? GDN_POLICY_PRIO3 : 0) |
               (rs->dp.enabled ? GDN_POLICY_DP : 0);
    r.model = rs->model;
    rounds_today(&today, o, 0);
    r.rounds_today = today;
    if (rs->dp.enabled) { /* client-level DP: one sampled step per round, for all alike */
        r.q = rs->dp.sampling_rate, r.sigma = rs->dp.noise_multiplier, r.delta = rs->dp.delta;
        r.steps = rs->round - 1;
    }
    if (rs->dp.distributed) { /* ... with the distributed discrete Gaussian's accountant */
        size_t dim;
        if (gdn_model_count(&dim, rs->model, o->data->channels, o->data->height,
                            o->data->width, o->data->classes) ||
            gdn_dp_ddg_setup(&ddg.p, dim, rs->dp.clip, rs->dp.noise_multiplier,
                             rs->dp.ddg_clients, rs->dp.ddg_bits, rs->dp.ddg_gamma)) {
            snprintf(rule, GDN_WIRE_MAX_RULE + 1, "policy");
            snprintf(message, cap, "distributed DP parameters: %s", gdn_errmsg());
            return 1;
        }
        ddg.q = rs->dp.sampling_rate;
        ddg.rounds = (unsigned)rs->round;
        r.epsilon_at = ddg_epsilon, r.epsilon_ctx = &ddg;
    }
    if (gdn_policy_check(&v, o->policy, &r)) {
        snprintf(rule, GDN_WIRE_MAX_RULE + 1, "policy");
        snprintf(message, cap, "policy check failed: %s", gdn_errmsg());
        return 1;
    }
    if (!v.accept) {
        snprintf(rule, GDN_WIRE_MAX_RULE + 1, "%s", v.rule);
        snprintf(message, cap, "%s", v.message);
        fprintf(stderr, "round %llu %s\n", (unsigned long long)rs->round, v.message);
        return 1;
    }
record:
    if (rounds_today(&today, o, 1)) {
        snprintf(rule, GDN_WIRE_MAX_RULE + 1, "state");
        snprintf(message, cap, "cannot record the round: %s", gdn_errmsg());
        return 1;
    }
    return 0;
}

int cli_join(cli_opt *opts)
{
    gdn_owner_config cfg;
    owner_ctx octx;
    gdn_owner_ledger ledger = {held_size, check_head, NULL};
    gdn_dataset train = {0}, test = {0};
    gdn_partition part = {0};
    uint8_t pin[32], helper_pin[32];
    char host[256];
    double retry;
    int rc;

    if (cli_str(opts, "config") && cli_apply_config(&(cli_cmd){"join", "", "", opts, NULL},
                                                    cli_str(opts, "config")))
        return GDN_EINVAL;
    memset(&cfg, 0, sizeof cfg);
    memset(&octx, 0, sizeof octx);
    if (!cli_str(opts, "server") || !cli_str(opts, "key")) {
        fprintf(stderr, "guardian join: --server HOST:PORT and --key DIR are required\n");
        return GDN_EINVAL;
    }
    if (cli_parse_host_port(cli_str(opts, "server"), host, sizeof host, &cfg.port)) {
        fprintf(stderr, "guardian join: --server %s: expected HOST:PORT\n",
                cli_str(opts, "server"));
        return GDN_EINVAL;
    }
    if (cli_double(opts, "retry", 0.1, 1e6, &retry))
        return GDN_EINVAL;
    if (cli_str(opts, "coordinator")) {
        size_t bin = 0;
        const char *h = cli_str(opts, "coordinator");
        if (strlen(h) != 64 || sodium_hex2bin(pin, 32, h, 64, NULL, &bin, NULL) != 0 ||
            bin != 32) {
            fprintf(stderr, "guardian join: --coordinator: expected 64 hex digits\n");
            return GDN_EINVAL;
        }
        cfg.coordinator = pin;
    }
    if (cli_str(opts, "helper-pin")) {
        if (cli_parse_fingerprint(helper_pin, "helper-pin", cli_str(opts, "helper-pin")))
            return GDN_EINVAL;
        cfg.helper_pin = helper_pin;
    }
    if (cli_str(opts, "prio-bound") && cli_double(opts, "prio-bound", 1e-3, 1e6, &cfg.prio_bound))
        return GDN_EINVAL;
    if (cli_str(opts, "attack")) {
        const char *a = cli_str(opts, "attack");
        char *end;
        cfg.attack_scale = strncmp(a, "scale:", 6) == 0 ? strtod(a + 6, &end) : 0;
        if (strncmp(a, "scale:", 6) != 0 || *end || !(cfg.attack_scale > 0) ||
            cfg.attack_scale > 1e6) {
            fprintf(stderr, "guardian join: --attack %s: expected scale:S, S in (0, 1e6]\n", a);
            return GDN_EINVAL;
        }
        fprintf(stderr, "join: attack emulation: this owner sends %g x its update\n",
                cfg.attack_scale);
    }
    if ((rc = cli_load_data(opts, &train, &test)))
        goto out;
    gdn_dataset_free(&test); /* an owner trains; the coordinator evaluates */
    cfg.data = &train;
    octx.data = &train;
    if (cli_str(opts, "clients")) {
        long clients, k, seed;
        gdn_rng rng;
        if (!cli_str(opts, "owner")) {
            fprintf(stderr, "guardian join: --clients needs --owner K\n");
            rc = GDN_EINVAL;
            goto out;
        }
        if (cli_long(opts, "clients", 1, 1000000, &clients) ||
            cli_long(opts, "owner", 0, clients - 1, &k) ||
            cli_long(opts, "seed", 0, 0x7fffffffL, &seed)) {
            rc = GDN_EINVAL;
            goto out;
        }
        gdn_rng_init_seed(&rng, (uint64_t)seed); /* simulate's split, the same bits */
        if ((rc = gdn_data_partition(&part, &train, cli_str(opts, "partition"),
                                     (size_t)clients, &rng))) {
            rc = cli_fail("partitioning", rc);
            goto out;
        }
        cfg.idx = part.idx + part.offset[k];
        cfg.n = gdn_partition_size(&part, (size_t)k);
        fprintf(stderr, "data: owner %ld of %ld (%s split): %zu examples\n", k, clients,
                cli_str(opts, "partition"), cfg.n);
    }
    octx.state = cli_str(opts, "state") ? cli_str(opts, "state") : cli_str(opts, "key");
    {
        char key[4200];
        snprintf(key, sizeof key, "%s/key.pem", cli_str(opts, "key"));
        if ((rc = gdn_mkdir_p(octx.state)) || (rc = gdn_net_identity_secret(octx.sk, key))) {
            rc = cli_fail("this owner's keys and state", rc);
            goto out;
        }
    }
    if (cli_str(opts, "policy") && (rc = gdn_policy_load(&octx.policy, cli_str(opts, "policy")))) {
        rc = cli_fail("reading the policy", rc);
        goto out;
    }
    ledger.ctx = &octx;
    cfg.ledger = &ledger;
    cfg.he_dir = octx.state; /* a key holder's threshold key and guard (docs/ckks.md) */
    cfg.admit = admit;
    cfg.ctx = &octx;
    cfg.host = host;
    cfg.tls.dir = cli_str(opts, "key");
    cfg.retry_ms = (uint32_t)(retry * 1000);
    cfg.no_reconnect = cli_flag(opts, "no-reconnect");
    cfg.on_event = on_event;
    cfg.stop = &cli_interrupted;
    cli_catch_sigint(); /* and SIGTERM: stop cleanly, resumable */
    if ((rc = gdn_owner_run(&cfg)))
        rc = cli_fail("data owner", rc);
    else
        printf("data owner done\n");
out:
    sodium_memzero(octx.sk, sizeof octx.sk);
    gdn_policy_free(octx.policy);
    gdn_partition_free(&part);
    gdn_dataset_free(&train);
    cli_config_release();
    return rc;
}
