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
#include <unistd.h>

#include <sodium.h>

#include "guardian/core.h"
#include "guardian/fl.h"
#include "net/prio.h"
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

/* The helper; its port (0 on failure). */
static unsigned start_helper(const pfed *f, int *pid, const char *env, const char *leader)
{
    char args[1024], log[700];

    snprintf(args, sizeof args, "serve --role helper --key %s/helper --port 0 --leader-pin %s",
             f->dir, leader ? leader : f->leader);
    snprintf(log, sizeof log, "%s/helper.log", f->dir);
    unlink(log); /* wait_port must not read an earlier run's port */
    if ((*pid = gdn_test_spawn(args, log, env)) <= 0)
        return 0;
    return gdn_test_wait_port(log);
}

/* The leader with the helper at helper_port; its port (0 on failure). */
static unsigned start_leader(const pfed *f, int *pid, unsigned helper_port, const char *extra)
{
    char args[4096], log[700];

    snprintf(args, sizeof args,
             "serve --key %s/coord --owners %s --port 0 --out %s/serve %s --prio "
             "--prio-bound " BOUND " --helper 127.0.0.1:%u %s%s %s",
             f->dir, f->fps, f->dir, FL_ARGS, helper_port,
             strstr(extra, "--helper-pin") ? "" : "--helper-pin ",
             strstr(extra, "--helper-pin") ? "" : f->helper, extra);
    snprintf(log, sizeof log, "%s/serve.log", f->dir);
    unlink(log);
    if ((*pid = gdn_test_spawn(args, log, NULL)) <= 0)
        return 0;
    return gdn_test_wait_port(log);
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

/* The steps in one process: 5 reports of a small vector, sealed to a
 * helper key. Two honest ones pass; a x10 update, a share replayed from
 * another round and a report relabelled with another owner's index are
 * rejected by the helper; the leader's result is the mean of the two
 * honest (clipped) updates, to the encoding's 2^-24. The helper serves a
 * round once and no aggregate share below its minimum batch. */
GDN_TEST(prio_net_steps_bind_round_and_owner)
{
    enum { DIM = 40, N = 5 };
    const double bound = 1.0;
    uint8_t pk[32], sk[64], pin[32], wrong[32], key[64];
    float global[DIM], local[N][DIM], out[DIM];
    double want[DIM] = {0};
    gdn_buf report[N] = {{0}}, job = {0}, reply = {0}, flags = {0}, agg2 = {0}, state[N];
    net_prio_input in[N];
    net_prio_helper h;
    net_prio_entry *e = NULL;
    gdn_fl_pine *v = NULL;
    uint8_t sent[N], *agg;
    size_t count, nent = 0, rejected = 0, ok = 0, accepted = 0;
    gdn_rng rng;

    memset(state, 0, sizeof state);
    memset(&h, 0, sizeof h);
    crypto_sign_keypair(pk, sk);
    CHECK(crypto_sign_ed25519_sk_to_curve25519(h.xsk, sk) == 0);
    CHECK(crypto_sign_ed25519_pk_to_curve25519(h.xpk, pk) == 0);
    net_prio_key_fingerprint(pin, pk);
    memcpy(wrong, pin, 32);
    wrong[0] ^= 1;
    gdn_rng_init_seed(&rng, 11);
    for (int c = 0; c < DIM; c++)
        global[c] = (float)(gdn_rng_uniform(&rng, 1000) / 1000.0 - 0.5);
    for (int i = 0; i < N; i++) {
        gdn_wire_round_start rs;
        double scale = i == 2 ? 10 : 1; /* owner 2 attacks */
        memset(&rs, 0, sizeof rs);
        rs.round = i == 3 ? 2 : 3;                /* report 3: made in round 2 */
        rs.client_index = (uint64_t)(i == 4 ? 9 : i); /* report 4: made for owner 9 */
        rs.aggregation = GDN_WIRE_AGG_PRIO3;
        rs.prio.bound = bound;
        memcpy(rs.prio.helper_key, pk, 32);
        for (int c = 0; c < DIM; c++)
            local[i][c] = global[c] + (float)((gdn_rng_uniform(&rng, 1000) / 1000.0 - 0.5) * 0.3);
        if (i == 0) /* the pin is checked first */
            CHECK_EQ(net_prio_owner_report(&report[i], &rs, wrong, local[i], global, DIM, 1),
                     GDN_ECRYPTO);
        CHECK_OK(net_prio_owner_report(&report[i], &rs, pin, local[i], global, DIM, scale));
        in[i].client_index = (uint64_t)i;
        in[i].report = report[i].data;
        in[i].len = report[i].len;
    }
    for (int i = 0; i < 2; i++) /* local[i] is clipped in place: the honest updates */
        for (int c = 0; c < DIM; c++)
            want[c] += ((double)local[i][c] - (double)global[c]) / 2;

    /* the leader's step 1, the helper's verdicts */
    CHECK_OK(gdn_fl_pine_new(&v, DIM, bound));
    randombytes_buf(key, gdn_fl_pine_size(v, GDN_FL_PINE_VERIFY_KEY));
    CHECK_OK(net_prio_leader_job(v, &job, state, sent, &count, in, N, key, 3));
    CHECK_EQ(count, N);
    CHECK_OK(net_prio_helper_verify(&h, &reply, &e, &nent, &rejected, 3, job.data, job.len));
    CHECK_EQ(nent, N);
    CHECK_EQ(rejected, 3);
    CHECK(e[0].ok && e[1].ok && !e[2].ok && !e[3].ok && !e[4].ok);
    /* the same job as round 4: every sealed share names round 3 (or 2) */
    {
        net_prio_entry *e4 = NULL;
        size_t n4 = 0, r4 = 0;
        gdn_buf reply4 = {0};
        CHECK_OK(net_prio_helper_verify(&h, &reply4, &e4, &n4, &r4, 4, job.data, job.len));
        CHECK_EQ(r4, N);
        net_prio_entries_free(e4, n4);
        gdn_buf_free(&reply4);
    }
    /* truncated or padded jobs are malformed, nothing kept */
    {
        net_prio_entry *ex = NULL;
        size_t nx = 0, rx = 0;
        gdn_buf rr = {0};
        CHECK_EQ(net_prio_helper_verify(&h, &rr, &ex, &nx, &rx, 5, job.data, job.len - 1),
                 GDN_EFORMAT);
        CHECK(ex == NULL && nx == 0);
        /* a round is served once: round 3 (or 4) again is refused */
        CHECK_EQ(net_prio_helper_verify(&h, &rr, &ex, &nx, &rx, 3, job.data, job.len),
                 GDN_ESTATE);
        CHECK(strstr(gdn_errmsg(), "already served"));
        CHECK(ex == NULL && nx == 0);
        gdn_buf_free(&rr);
    }

    /* the leader finishes, both aggregate, the leader unshards */
    agg = calloc(1, gdn_fl_pine_size(v, GDN_FL_PINE_AGGREGATE));
    CHECK(agg != NULL);
    CHECK_OK(net_prio_leader_verdicts(v, agg, &flags, &ok, in, N, sent, state, count,
                                      reply.data, reply.len, 3));
    CHECK_EQ(ok, 2);
    CHECK(in[0].accepted && in[1].accepted && !in[2].accepted && !in[3].accepted);
    CHECK_OK(net_prio_helper_aggregate(&h, &agg2, &accepted, e, nent, &flags));
    CHECK_EQ(accepted, 2);
    CHECK_EQ(gdn_load_le64(agg2.data), 2);
    CHECK_OK(gdn_fl_pine_unshard(v, out, global, agg, agg2.data + 8, ok));
    for (int c = 0; c < DIM; c++)
        CHECK_NEAR((double)out[c], (double)global[c] + want[c], 1e-6);
    /* below the helper's minimum batch: no aggregate share */
    h.min_batch = 3;
    CHECK_EQ(net_prio_helper_aggregate(&h, &agg2, &accepted, e, nent, &flags), GDN_ESTATE);
    CHECK(strstr(gdn_errmsg(), "minimum batch"));
    CHECK_EQ(agg2.len, 0);
    h.min_batch = 0;
    /* a leader claiming a report the helper rejected is refused */
    flags.data[4 + 2] = 1;
    CHECK_EQ(net_prio_helper_aggregate(&h, &agg2, &accepted, e, nent, &flags), GDN_EFORMAT);

    free(agg);
    net_prio_entries_free(e, nent);
    net_prio_helper_clear(&h);
    gdn_fl_pine_free(v);
    for (int i = 0; i < N; i++)
        gdn_buf_free(&report[i]), gdn_buf_free(&state[i]);
    gdn_buf_free(&job), gdn_buf_free(&reply), gdn_buf_free(&flags), gdn_buf_free(&agg2);
    sodium_memzero(sk, sizeof sk);
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
    CHECK((hport = start_helper(&f, &helper, NULL, NULL)) > 0);
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
    CHECK(gdn_test_file_contains(log, "round 1 completed: 4 updates; 1 reports rejected by "
                                      "validated aggregation"));

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

/* Owner 1 pins another helper; the helper dies (SIGKILL) in the middle of
 * round 2's verification. Round 1 completes without owner 1 (it declines),
 * round 2 fails when the link breaks, round 3 because the helper is gone,
 * the model stays round 1's, and the coordinator ends cleanly. */
GDN_TEST(prio_net_helper_killed_and_wrong_pin)
{
    pfed f;
    char m[800], log[800];
    int helper, serve, owners[OWNERS];
    unsigned hport, port;

    CHECK(make_pfed(&f, "prio-kill") == 0);
    CHECK((hport = start_helper(&f, &helper, "GDN_TEST_HELPER_DIE_IN_ROUND=2", NULL)) > 0);
    CHECK((port = start_leader(&f, &serve, hport, "--rounds 3")) > 0);
    for (int i = 0; i < OWNERS; i++)
        CHECK((owners[i] = start_owner(&f, i, port, i == 1 ? f.other : f.helper, NULL)) > 0);
    CHECK(gdn_test_wait(helper, 120) == 128 + SIGKILL);
    CHECK(gdn_test_wait(serve, 120) == 0);
    for (int i = 0; i < OWNERS; i++)
        CHECK(gdn_test_wait(owners[i], 60) == 0);
    snprintf(m, sizeof m, "%s/serve/metrics.csv", f.dir);
    CHECK(gdn_test_file_contains(m, "\n1,5,4,0,1,1,")); /* 4 accepted, 1 refusal */
    CHECK(gdn_test_file_contains(m, "\n2,5,4,0,1,0,")); /* 4 reports in, failed */
    CHECK(gdn_test_file_contains(m, "\n3,5,0,5,0,0,")); /* no helper: none asked */
    {   /* the model after rounds 2 and 3 is round 1's */
        gdn_buf b = {0};
        const char *p, *q;
        CHECK(gdn_file_read(&b, m, 1 << 20) == 0 && gdn_buf_append(&b, "", 1) == 0);
        p = strstr((const char *)b.data, "\n1,5,");
        q = strstr((const char *)b.data, "\n3,5,");
        CHECK(p && q && strlen(p) > 200 && strlen(q) > 70);
        p = strchr(p + 1, '\n') - 66, q = q + strlen(q) - 67; /* each row's sha256 */
        CHECK(memcmp(p, q, 64) == 0);
        gdn_buf_free(&b);
    }
    snprintf(log, sizeof log, "%s/serve.log", f.dir);
    CHECK(gdn_test_file_contains(log, "round 2: validated aggregation failed, the round fails "
                                      "and the model stays: helper 127.0.0.1:"));
    CHECK(gdn_test_file_contains(log, "round 2/3 failed: no validated aggregation"));
    CHECK(gdn_test_file_contains(log, "round 3: validated aggregation impossible"));
    CHECK(gdn_test_file_contains(log, "round 3/3 failed"));
    snprintf(log, sizeof log, "%s/o0.log", f.dir);
    CHECK(gdn_test_file_contains(log, "round 2 failed: 4 updates; validated aggregation with "
                                      "the helper failed"));
    snprintf(log, sizeof log, "%s/o1.log", f.dir);
    CHECK(gdn_test_file_contains(log, "declined (prio-helper)"));
    CHECK(gdn_test_file_contains(log, "not the one this owner pins"));
}

/* Pins on the servers' link: a helper told to serve another leader refuses
 * this one (Welcome refused), a leader told of another helper refuses the
 * one it reaches; in both cases the round fails and the coordinator ends. */
GDN_TEST(prio_net_servers_check_each_other)
{
    pfed f;
    char m[800], log[800], args[800];
    int helper, serve, owners[OWNERS];
    unsigned hport, port;

    CHECK(make_pfed(&f, "prio-pins") == 0);
    CHECK((hport = start_helper(&f, &helper, NULL, f.other)) > 0); /* expects another leader */
    CHECK((port = start_leader(&f, &serve, hport, "--rounds 1")) > 0);
    for (int i = 0; i < OWNERS; i++)
        CHECK((owners[i] = start_owner(&f, i, port, f.helper, NULL)) > 0);
    CHECK(gdn_test_wait(serve, 120) == 0);
    for (int i = 0; i < OWNERS; i++)
        CHECK(gdn_test_wait(owners[i], 60) == 0);
    snprintf(log, sizeof log, "%s/serve.log", f.dir);
    CHECK(gdn_test_file_contains(log, "refuses this leader: this helper serves another leader"));
    snprintf(log, sizeof log, "%s/helper.log", f.dir);
    CHECK(gdn_test_file_contains(log, "is not the pinned leader; refused"));
    snprintf(m, sizeof m, "%s/serve/metrics.csv", f.dir);
    CHECK(gdn_test_file_contains(m, "\n1,5,0,5,0,0,"));
    kill(helper, SIGTERM);
    CHECK(gdn_test_wait(helper, 30) == 0);

    /* a fresh run whose leader pins another helper than the one listening */
    CHECK((hport = start_helper(&f, &helper, NULL, NULL)) > 0);
    snprintf(args, sizeof args, "--rounds 1 --out %s/serve2 --helper-pin %s", f.dir, f.other);
    CHECK((port = start_leader(&f, &serve, hport, args)) > 0);
    for (int i = 0; i < OWNERS; i++)
        CHECK((owners[i] = start_owner(&f, i, port, f.helper, NULL)) > 0);
    CHECK(gdn_test_wait(serve, 120) == 0);
    for (int i = 0; i < OWNERS; i++)
        CHECK(gdn_test_wait(owners[i], 60) == 0);
    kill(helper, SIGTERM);
    CHECK(gdn_test_wait(helper, 30) == 0);
    snprintf(log, sizeof log, "%s/serve.log", f.dir);
    CHECK(gdn_test_file_contains(log, "not the pinned helper"));
    snprintf(m, sizeof m, "%s/serve2/metrics.csv", f.dir);
    CHECK(gdn_test_file_contains(m, "\n1,5,0,5,0,0,"));
}
