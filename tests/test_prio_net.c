/* Validated aggregation over the network (docs/prio.md, "The networked
 * deployment"): a leader (guardian serve --prio), a helper (guardian serve
 * --role helper) and 5 owners as separate processes on loopback. One owner
 * sends 10x its update: the aggregators reject its reports, and the final
 * model is simulate --prio's, bit for bit. A helper that is unreachable or
 * killed fails rounds without crashing the coordinator; an owner whose
 * --helper-pin is not the helper declines. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guardian/core.h"
#include "guardian/fl.h"
#include "guardian/net.h"
#include "guardian/wire.h"
#include "harness.h"

#define OWNERS 5
#define FL_ARGS "--model mlp:784-32-10 --limit 2000 --seed 7 --clients 5 --fraction 1 " \
                "--batch 20 --lr 0.05 --eval-every 100"
#define BOUND "0.5"

typedef struct pfed {
    char dir[512];
    char fps[OWNERS * 65 + 1]; /* the roster */
    char helper[65], leader[65], other[65];
} pfed;

static const char *in_dir(char *out, size_t cap, const pfed *f, const char *name)
{
    snprintf(out, cap, "%s/%s", f->dir, name);
    return out;
}

/* A CA; the coordinator (server certificate) with its helper-link identity
 * (client certificate, in coord/helper-link); the helper (server); owners. */
static int make_pfed(pfed *f, const char *name)
{
    gdn_net_sign_opts server = {0, 1, NULL}, client = {0, 0, NULL};
    char ca[600], d[700];
    uint8_t fp[32];

    snprintf(f->dir, sizeof f->dir, "%s/%s", gdn_test_tmpdir(), name);
    in_dir(ca, sizeof ca, f, "ca");
    if (gdn_net_ca_init(ca, "Test CA", 0, 0) ||
        gdn_net_keygen(fp, in_dir(d, sizeof d, f, "coord"), "coord", 0) ||
        gdn_net_ca_sign(NULL, ca, d, &server) ||
        gdn_net_keygen(fp, in_dir(d, sizeof d, f, "coord/helper-link"), "leader", 0) ||
        gdn_net_ca_sign(NULL, ca, d, &client))
        return -1;
    gdn_net_fingerprint_hex(f->leader, fp);
    if (gdn_net_keygen(fp, in_dir(d, sizeof d, f, "helper"), "helper", 0) ||
        gdn_net_ca_sign(NULL, ca, d, &server))
        return -1;
    gdn_net_fingerprint_hex(f->helper, fp);
    f->fps[0] = '\0';
    for (int i = 0; i < OWNERS; i++) {
        char n[16], hex[65];
        snprintf(n, sizeof n, "o%d", i);
        if (gdn_net_keygen(fp, in_dir(d, sizeof d, f, n), n, 0) ||
            gdn_net_ca_sign(NULL, ca, d, &client))
            return -1;
        gdn_net_fingerprint_hex(hex, fp);
        if (i)
            strcat(f->fps, ",");
        strcat(f->fps, hex);
        if (i == 0)
            memcpy(f->other, hex, 65); /* a fingerprint that is not the helper's */
    }
    return 0;
}

static unsigned wait_port(const char *log)
{
    gdn_buf b = {0};
    unsigned port = 0;

    if (!gdn_test_wait_file(log, "listening on port ", 60))
        return 0;
    if (gdn_file_read(&b, log, 1 << 20) == 0 && gdn_buf_append(&b, "", 1) == 0) {
        const char *p = strstr((const char *)b.data, "listening on port ");
        if (p)
            port = (unsigned)strtoul(p + 18, NULL, 10);
    }
    gdn_buf_free(&b);
    return port;
}

/* The helper; its port (0 on failure). */
static unsigned start_helper(const pfed *f, int *pid, const char *env)
{
    char args[1024], log[700];

    snprintf(args, sizeof args, "serve --role helper --key %s/helper --port 0 --leader-pin %s",
             f->dir, f->leader);
    snprintf(log, sizeof log, "%s/helper.log", f->dir);
    if ((*pid = gdn_test_spawn(args, log, env)) <= 0)
        return 0;
    return wait_port(log);
}

/* The leader with the helper at helper_port; its port (0 on failure). */
static unsigned start_leader(const pfed *f, int *pid, unsigned helper_port, const char *extra)
{
    char args[4096], log[700];

    snprintf(args, sizeof args,
             "serve --key %s/coord --owners %s --port 0 --out %s/serve %s --prio "
             "--prio-bound " BOUND " --helper 127.0.0.1:%u --helper-pin %s %s",
             f->dir, f->fps, f->dir, FL_ARGS, helper_port, f->helper, extra);
    snprintf(log, sizeof log, "%s/serve.log", f->dir);
    if ((*pid = gdn_test_spawn(args, log, NULL)) <= 0)
        return 0;
    return wait_port(log);
}

/* Owner i joins; `extra`: more flags (an attack, another pin). */
static int start_owner(const pfed *f, int i, unsigned port, const char *pin, const char *extra)
{
    char args[2048], log[700];

    snprintf(args, sizeof args,
             "join --server 127.0.0.1:%u --key %s/o%d --limit 2000 --seed 7 --clients 5 "
             "--owner %d --retry 60 --helper-pin %s %s",
             port, f->dir, i, i, pin, extra ? extra : "");
    snprintf(log, sizeof log, "%s/o%d.log", f->dir, i);
    return gdn_test_spawn(args, log, NULL);
}

static int same_file(const char *a, const char *b)
{
    gdn_buf x = {0}, y = {0};
    int same = gdn_file_read(&x, a, 1 << 26) == 0 && gdn_file_read(&y, b, 1 << 26) == 0 &&
               x.len == y.len && x.len > 0 && memcmp(x.data, y.data, x.len) == 0;

    gdn_buf_free(&x);
    gdn_buf_free(&y);
    return same;
}

/* simulate's attacker among 5 clients at frac 0.2: the first of its seeded
 * permutation (fl/sim.c, choose_attackers). */
static int simulated_attacker(uint64_t seed)
{
    uint32_t pool[OWNERS];
    gdn_rng rng;

    for (uint32_t i = 0; i < OWNERS; i++)
        pool[i] = i;
    gdn_fl_server_rng(&rng, seed, 0);
    gdn_rng_shuffle(&rng, pool, OWNERS);
    return (int)pool[0];
}

/* Leader, helper and 5 owners, one attacking x10, 2 rounds: its reports
 * are rejected each round (log, metrics) and the model is simulate's. */
GDN_TEST(prio_net_matches_simulate_and_rejects_the_attacker)
{
    pfed f;
    char a[800], b[800], log[800];
    int helper, serve, owners[OWNERS], bad = simulated_attacker(7);
    unsigned hport, port;

    CHECK(make_pfed(&f, "prio-sim") == 0);
    CHECK((hport = start_helper(&f, &helper, NULL)) > 0);
    CHECK((port = start_leader(&f, &serve, hport, "--rounds 2")) > 0);
    for (int i = 0; i < OWNERS; i++)
        CHECK((owners[i] = start_owner(&f, i, port, f.helper,
                                       i == bad ? "--attack scale:10" : NULL)) > 0);
    CHECK(gdn_test_wait(serve, 180) == 0);
    for (int i = 0; i < OWNERS; i++)
        CHECK(gdn_test_wait(owners[i], 60) == 0);
    kill(helper, SIGTERM);
    CHECK(gdn_test_wait(helper, 30) == 0);

    /* the attacker's report, and only it, rejected in both rounds */
    snprintf(log, sizeof log, "%s/serve.log", f.dir);
    CHECK(gdn_test_file_contains(log, "round 1: validated aggregation: 4 reports accepted, "
                                      "1 rejected"));
    CHECK(gdn_test_file_contains(log, "round 2: validated aggregation: 4 reports accepted, "
                                      "1 rejected"));
    snprintf(a, sizeof a, "round 1: owner %d's report rejected", bad);
    CHECK(gdn_test_file_contains(log, a));
    snprintf(a, sizeof a, "%s/serve/metrics.csv", f.dir);
    CHECK(gdn_test_file_contains(a, "\n1,5,4,0,0,1,"));
    CHECK(gdn_test_file_contains(a, "\n2,5,4,0,0,1,"));
    CHECK(gdn_test_file_contains(a, ",1\n2,")); /* round 1's rejected column */
    snprintf(log, sizeof log, "%s/helper.log", f.dir);
    CHECK(gdn_test_file_contains(log, "helper round 1: 4 accepted, 1 rejected"));
    CHECK(gdn_test_file_contains(log, "helper round 2: 4 accepted, 1 rejected"));
    snprintf(log, sizeof log, "%s/o%d.log", f.dir, bad);
    CHECK(gdn_test_file_contains(log, "attack emulation"));

    /* simulate --prio with the same seed, split and attack: the same bits */
    snprintf(a, sizeof a, "simulate %s --rounds 2 --workers 2 --prio --prio-bound " BOUND
             " --attack scale:10,frac:0.2 --out %s/simulated", FL_ARGS, f.dir);
    snprintf(log, sizeof log, "%s/simulated.log", f.dir);
    CHECK(gdn_test_guardian(a, log) == 0);
    CHECK(gdn_test_file_contains(log, "1 rejected"));
    snprintf(a, sizeof a, "%s/simulated/model.safetensors", f.dir);
    snprintf(b, sizeof b, "%s/serve/model.safetensors", f.dir);
    CHECK(same_file(a, b));
}

/* No helper at the address: every round fails with a clear line, the
 * coordinator finishes its rounds and exits cleanly. */
GDN_TEST(prio_net_helper_unreachable)
{
    pfed f;
    char m[800], log[800];
    int serve, owners[OWNERS];
    unsigned port;

    CHECK(make_pfed(&f, "prio-nohelper") == 0);
    /* port 1 on loopback: nobody listens (connection refused) */
    CHECK((port = start_leader(&f, &serve, 1, "--rounds 1")) > 0);
    for (int i = 0; i < OWNERS; i++)
        CHECK((owners[i] = start_owner(&f, i, port, f.helper, NULL)) > 0);
    CHECK(gdn_test_wait(serve, 120) == 0);
    for (int i = 0; i < OWNERS; i++)
        CHECK(gdn_test_wait(owners[i], 60) == 0);
    snprintf(log, sizeof log, "%s/serve.log", f.dir);
    CHECK(gdn_test_file_contains(log, "round 1: validated aggregation impossible, the round "
                                      "fails: helper 127.0.0.1:1 unreachable"));
    CHECK(gdn_test_file_contains(log, "round 1/1  FAILED"));
    snprintf(m, sizeof m, "%s/serve/metrics.csv", f.dir);
    CHECK(gdn_test_file_contains(m, "\n1,5,0,5,0,0,"));
}

/* The helper dies (SIGKILL) after round 1; owner 1 pins another helper.
 * Round 1 completes without owner 1 (it declines), rounds 2 and 3 fail
 * with the helper gone, and the coordinator ends cleanly. */
GDN_TEST(prio_net_helper_killed_and_wrong_pin)
{
    pfed f;
    char m[800], log[800];
    int helper, serve, owners[OWNERS];
    unsigned hport, port;

    CHECK(make_pfed(&f, "prio-kill") == 0);
    CHECK((hport = start_helper(&f, &helper, "GDN_TEST_HELPER_DIE_AFTER=1")) > 0);
    CHECK((port = start_leader(&f, &serve, hport, "--rounds 3")) > 0);
    for (int i = 0; i < OWNERS; i++)
        CHECK((owners[i] = start_owner(&f, i, port, i == 1 ? f.other : f.helper, NULL)) > 0);
    CHECK(gdn_test_wait(helper, 120) == 128 + SIGKILL);
    CHECK(gdn_test_wait(serve, 120) == 0);
    for (int i = 0; i < OWNERS; i++)
        CHECK(gdn_test_wait(owners[i], 60) == 0);
    snprintf(m, sizeof m, "%s/serve/metrics.csv", f.dir);
    CHECK(gdn_test_file_contains(m, "\n1,5,4,0,1,1,")); /* 4 accepted, 1 refusal */
    CHECK(gdn_test_file_contains(m, "\n2,5,"));
    CHECK(gdn_test_file_contains(m, "\n3,5,"));
    CHECK(!gdn_test_file_contains(m, "\n2,5,4,0,1,1,"));
    snprintf(log, sizeof log, "%s/serve.log", f.dir);
    CHECK(gdn_test_file_contains(log, "round 2/3 failed"));
    CHECK(gdn_test_file_contains(log, "round 3/3 failed"));
    CHECK(gdn_test_file_contains(log, "helper 127.0.0.1:"));
    snprintf(log, sizeof log, "%s/o1.log", f.dir);
    CHECK(gdn_test_file_contains(log, "declined (prio-helper)"));
    CHECK(gdn_test_file_contains(log, "not the one this owner pins"));
}
