/* guardian join: a data owner of a networked federation (federation.h). It
 * trains on its own data when the coordinator asks, and never sends the
 * data itself. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/cli.h"
#include "guardian/federation.h"

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
    {"retry", "S", "keep reconnecting this long when the coordinator is away", "60", 0},
    {"no-reconnect", NULL, "end when the connection is lost", NULL, 0},
    {NULL, NULL, NULL, NULL, 0},
};

static volatile int stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    if (stop_flag)
        _Exit(130);
    stop_flag = 1;
}

/* Fault tests: GDN_TEST_DIE_AT=R:EVENT kills this process (SIGKILL, no
 * clean-up) at that step of round R ("model": its model has arrived;
 * "secagg1".."secagg4": a SecAgg+ phase's request has), i.e. mid-round.
 * GDN_TEST_DIE_IN_ROUND=R is R:model. */
static void on_event(void *ctx, uint64_t round, uint64_t index, const char *event)
{
    const char *at = getenv("GDN_TEST_DIE_AT"), *in = getenv("GDN_TEST_DIE_IN_ROUND");
    char want[64];

    (void)ctx;
    if (at)
        snprintf(want, sizeof want, "%s", at);
    else if (in)
        snprintf(want, sizeof want, "%s:model", in);
    else
        return;
    {
        char here[64];
        snprintf(here, sizeof here, "%llu:%s", (unsigned long long)round, event);
        if (strcmp(here, want) != 0)
            return;
    }
    fprintf(stderr, "owner %llu: dying in round %llu at '%s' (fault test)\n",
            (unsigned long long)index, (unsigned long long)round, event);
    fflush(stderr);
    raise(SIGKILL);
}

static int parse_server(const char *s, char *host, size_t cap, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    char *end;
    unsigned long p;
    size_t len;

    if (!colon || colon == s)
        return -1;
    p = strtoul(colon + 1, &end, 10);
    if (*end || p == 0 || p > 65535)
        return -1;
    len = (size_t)(colon - s);
    if (s[0] == '[' && colon[-1] == ']') /* [::1]:7800 */
        s++, len -= 2;
    if (len + 1 > cap)
        return -1;
    memcpy(host, s, len);
    host[len] = '\0';
    *port = (uint16_t)p;
    return 0;
}

int cli_join(cli_opt *opts)
{
    gdn_owner_config cfg;
    gdn_dataset train = {0}, test = {0};
    gdn_partition part = {0};
    uint8_t pin[32];
    char host[256];
    double retry;
    struct sigaction sa;
    int rc;

    if (cli_str(opts, "config") && cli_apply_config(&(cli_cmd){"join", "", "", opts, NULL},
                                                    cli_str(opts, "config")))
        return GDN_EINVAL;
    memset(&cfg, 0, sizeof cfg);
    if (!cli_str(opts, "server") || !cli_str(opts, "key")) {
        fprintf(stderr, "guardian join: --server HOST:PORT and --key DIR are required\n");
        return GDN_EINVAL;
    }
    if (parse_server(cli_str(opts, "server"), host, sizeof host, &cfg.port)) {
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
    if ((rc = cli_load_data(opts, &train, &test)))
        goto out;
    gdn_dataset_free(&test); /* an owner trains; the coordinator evaluates */
    cfg.data = &train;
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
    cfg.host = host;
    cfg.tls.dir = cli_str(opts, "key");
    cfg.retry_ms = (uint32_t)(retry * 1000);
    cfg.no_reconnect = cli_flag(opts, "no-reconnect");
    cfg.on_event = on_event;
    cfg.stop = &stop_flag;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if ((rc = gdn_owner_run(&cfg)))
        rc = cli_fail("data owner", rc);
    else
        printf("data owner done\n");
out:
    gdn_partition_free(&part);
    gdn_dataset_free(&train);
    cli_config_release();
    return rc;
}
