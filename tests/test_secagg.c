/* secagg: Shamir sharing, the graph and its parameters, quantization, and
 * whole SecAgg+ rounds through an in-memory driver with dropouts at every
 * phase, tampered and replayed messages, and a curious server. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "guardian/core.h"
#include "guardian/secagg.h"
#include "harness.h"
#include "secagg/internal.h"

/* ---- Shamir ---------------------------------------------------------------- */

GDN_TEST(secagg_shamir_roundtrip)
{
    uint8_t secret[32], back[32], shares[20 * GDN_SECAGG_SHARE_BYTES];
    uint32_t xs[20];
    gdn_rng rng;

    gdn_rng_init_seed(&rng, 1);
    for (int i = 0; i < 20; i++)
        xs[i] = (uint32_t)(3 * i + 7);
    for (uint32_t t = 1; t <= 20; t += 3) {
        gdn_rng_bytes(&rng, secret, 32);
        if (t == 4)
            memset(secret, 0xFF, 32); /* the largest limbs round-trip too */
        CHECK_OK(gdn_secagg_shamir_split(shares, secret, xs, 20, t, &rng));
        /* the first t, and the last t (a different subset) */
        CHECK_OK(gdn_secagg_shamir_combine(back, shares, xs, 20, t));
        CHECK(memcmp(back, secret, 32) == 0);
        CHECK_OK(gdn_secagg_shamir_combine(back, shares + (20 - t) * GDN_SECAGG_SHARE_BYTES,
                                           xs + 20 - t, t, t));
        CHECK(memcmp(back, secret, 32) == 0);
        /* below t: refused; t-1 shares read as a lower threshold: wrong */
        if (t >= 2) {
            CHECK_EQ(gdn_secagg_shamir_combine(back, shares, xs, t - 1, t), GDN_EINVAL);
            if (gdn_secagg_shamir_combine(back, shares, xs, t - 1, t - 1) == 0)
                CHECK(memcmp(back, secret, 32) != 0);
        }
    }
    /* a tampered share never yields the secret */
    gdn_rng_bytes(&rng, secret, 32);
    CHECK_OK(gdn_secagg_shamir_split(shares, secret, xs, 5, 3, &rng));
    shares[GDN_SECAGG_SHARE_BYTES + 3] ^= 1;
    if (gdn_secagg_shamir_combine(back, shares, xs, 5, 3) == 0)
        CHECK(memcmp(back, secret, 32) != 0);
    /* repeated or zero x */
    xs[1] = xs[0];
    CHECK_EQ(gdn_secagg_shamir_split(shares, secret, xs, 5, 3, &rng), GDN_EINVAL);
    xs[1] = 0;
    CHECK_EQ(gdn_secagg_shamir_split(shares, secret, xs, 5, 3, &rng), GDN_EINVAL);
}

/* ---- PRG ---------------------------------------------------------------------- */

/* The mask PRG (OpenSSL's ChaCha20) is libsodium's crypto_stream_chacha20_ietf
 * keystream read as le32 words, across chunk boundaries and odd lengths. */
GDN_TEST(secagg_prg_matches_libsodium)
{
    static const uint8_t nonce[12];
    static const size_t lens[] = {1, 15, 16, 4095, 4096, 4097, 10000, 40000};
    uint32_t *a = malloc(40000 * 4), *b = malloc(40000 * 4);
    uint8_t *ks = malloc(40000 * 4), seed[32];
    gdn_rng rng;

    CHECK(a && b && ks);
    gdn_rng_init_seed(&rng, 8);
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        size_t m = lens[i];
        gdn_rng_bytes(&rng, seed, 32);
        gdn_rng_bytes(&rng, a, m * 4);
        memcpy(b, a, m * 4);
        sa_prg_add(a, m, seed, +1);
        sa_prg_add_reference(b, m, seed, +1);
        CHECK(memcmp(a, b, m * 4) == 0);
        crypto_stream_chacha20_ietf(ks, m * 4, nonce, seed);
        sa_prg_add(a, m, seed, -1);
        for (size_t e = 0; e < m; e++)
            CHECK(b[e] - a[e] == gdn_load_le32(ks + 4 * e));
    }
    free(a);
    free(b);
    free(ks);
}

/* ---- Graph and parameters ---------------------------------------------------- */

GDN_TEST(secagg_graph)
{
    gdn_secagg_params p = {.n = 50, .k = 8, .t = 4, .bits = 16, .length = 1};
    uint32_t nb[50 * 8], other[8];
    uint8_t adj[50][50];

    memset(adj, 0, sizeof adj);
    memset(p.session, 7, sizeof p.session);
    for (uint32_t i = 0; i < p.n; i++) {
        CHECK_OK(gdn_secagg_neighbours(nb + 8 * i, &p, i));
        for (int a = 0; a < 8; a++) {
            CHECK(nb[8 * i + a] != i && nb[8 * i + a] < p.n);
            if (a)
                CHECK(nb[8 * i + a] > nb[8 * i + a - 1]);
            adj[i][nb[8 * i + a]] = 1;
        }
    }
    for (int i = 0; i < 50; i++)
        for (int j = 0; j < 50; j++)
            CHECK(adj[i][j] == adj[j][i]);
    p.session[0] ^= 1; /* another session, another graph */
    CHECK_OK(gdn_secagg_neighbours(other, &p, 0));
    CHECK(memcmp(other, nb, sizeof other) != 0);
    p.k = 49; /* complete graph */
    CHECK_OK(gdn_secagg_neighbours(nb, &p, 3));
    CHECK_EQ(nb[2], 2);
    CHECK_EQ(nb[3], 4);
    p.k = 7;
    CHECK_EQ(gdn_secagg_neighbours(nb, &p, 0), GDN_EINVAL);
}

/* ANCHORS.md: Google's production finder (graph_parameter_finder_test.cc). */
GDN_TEST(secagg_graph_params_anchors)
{
    static const struct {
        uint32_t n;
        double gamma, delta;
        int semi_malicious;
        uint32_t k, t;
    } want[] = {
        {100, .05, .05, 0, 12, 6},      {100, .05, .05, 1, 16, 11},
        {100, .05, .33, 0, 28, 6},      {100, .33, .33, 0, 68, 34},
        {1000, .05, .05, 0, 30, 17},    {1000, .05, .05, 1, 52, 37},
        {1000, .05, .33, 0, 72, 24},    {1000, .33, .33, 0, 286, 150},
        {10000, .05, .05, 0, 34, 20},   {10000, .05, .05, 1, 62, 44},
        {10000, .05, .33, 0, 86, 29},   {10000, .33, .33, 0, 422, 221},
        {100000, .05, .05, 0, 36, 21},  {100000, .05, .05, 1, 68, 48},
        {100000, .05, .33, 0, 96, 32},  {100000, .33, .33, 0, 480, 251},
        {1000000, .05, .05, 0, 38, 22}, {1000000, .05, .05, 1, 74, 52},
        {1000000, .05, .33, 0, 102, 34}, {1000000, .33, .33, 0, 518, 270},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        uint32_t k = 0, t = 0;
        CHECK_OK(gdn_secagg_graph_params(&k, &t, want[i].n, want[i].gamma,
                                         want[i].delta, want[i].semi_malicious));
        CHECK_MSG(k == want[i].k && t <= want[i].t,
                  "n=%u gamma=%g delta=%g %s: k=%u t=%u, production k=%u t<=%u",
                  want[i].n, want[i].gamma, want[i].delta,
                  want[i].semi_malicious ? "semi-malicious" : "semi-honest", k, t,
                  want[i].k, want[i].t);
    }
}

/* ---- Quantization ------------------------------------------------------------ */

GDN_TEST(secagg_quantization)
{
    enum { N = 20, M = 500 };
    const uint32_t levels = 1u << 16;
    const float clip = 2.0f;
    static float x[N][M];
    static uint32_t q[N][M], sum[M];
    static double dec[M], ref[M], mean[M];
    uint32_t bits;
    gdn_rng rng;

    CHECK_OK(gdn_secagg_quant_bits(&bits, N, levels));
    CHECK_EQ(bits, 21); /* 20 * 65535 < 2^21 */
    CHECK_OK(gdn_secagg_quant_bits(&bits, 1000, 1u << 22));
    CHECK_EQ(bits, 32); /* Flower's default: 2^22 levels, ~1024 clients in 32 bits */
    CHECK_EQ(gdn_secagg_quant_bits(&bits, 1100, 1u << 22), GDN_ERANGE);
    gdn_rng_init_seed(&rng, 2);
    for (int c = 0; c < N; c++) {
        for (int i = 0; i < M; i++)
            x[c][i] = (float)(gdn_rng_double(&rng) * 6 - 3); /* some clipped */
        CHECK_OK(gdn_secagg_quantize(q[c], x[c], M, clip, levels, &rng));
    }
    memset(sum, 0, sizeof sum);
    memset(ref, 0, sizeof ref);
    for (int c = 0; c < N; c++)
        for (int i = 0; i < M; i++) {
            double one;
            CHECK(q[c][i] < levels);
            sum[i] += q[c][i];
            CHECK_OK(gdn_secagg_dequantize_sum(&one, &q[c][i], 1, 1, clip, levels));
            CHECK(fabs(one - fmax(-clip, fmin(clip, x[c][i]))) <= 2.0 * clip / (levels - 1));
            ref[i] += one;
        }
    /* the decoded sum is the sum of the decoded quantized inputs */
    CHECK_OK(gdn_secagg_dequantize_sum(dec, sum, M, N, clip, levels));
    for (int i = 0; i < M; i++)
        CHECK_NEAR(dec[i], ref[i], 1e-9);
    /* stochastic rounding is unbiased: 4000 draws of 0.3 at 3 levels */
    {
        float v = 0.3f;
        uint32_t one_q;
        double acc = 0;
        for (int r = 0; r < 4000; r++) {
            CHECK_OK(gdn_secagg_quantize(&one_q, &v, 1, 1.0f, 3, &rng));
            CHECK_OK(gdn_secagg_dequantize_sum(mean, &one_q, 1, 1, 1.0f, 3));
            acc += mean[0];
        }
        CHECK_NEAR(acc / 4000, 0.3, 0.03);
    }
}

/* ---- In-memory driver ------------------------------------------------------------ */

#define NEVER 4 /* drop phase of a client that finishes the round */

typedef struct world {
    gdn_secagg_params p;
    uint8_t *id_sk, *roster;
    uint32_t **x;
    uint8_t *drop;             /* per client: phase at which it stops, or NEVER */
    gdn_secagg_client **c;
    gdn_secagg_server *s;
    gdn_buf *unmask_answers;   /* per client, what it sent in round 3 */
    uint32_t tamper;           /* 1 + the client whose unmasking answer is altered */
    uint32_t tamper_peer;      /* in its share of this peer's secret */
} world;

static void world_free(world *w)
{
    for (uint32_t i = 0; w->c && i < w->p.n; i++) {
        gdn_secagg_client_free(w->c[i]);
        free(w->x[i]);
        gdn_buf_free(&w->unmask_answers[i]);
    }
    gdn_secagg_server_free(w->s);
    free(w->c);
    free(w->x);
    free(w->unmask_answers);
    free(w->id_sk);
    free(w->roster);
    free(w->drop);
    memset(w, 0, sizeof *w);
}

/* A cohort of n clients with identity keys and random inputs < 2^bits. */
static int world_new(world *w, uint32_t n, uint32_t k, uint32_t t, uint32_t m,
                     uint32_t bits, uint64_t seed)
{
    gdn_rng rng;
    int rc;

    memset(w, 0, sizeof *w);
    w->p.n = n, w->p.k = k, w->p.t = t, w->p.length = m, w->p.bits = bits;
    gdn_rng_init_seed(&rng, seed);
    gdn_rng_bytes(&rng, w->p.session, sizeof w->p.session);
    w->id_sk = malloc((size_t)n * 64);
    w->roster = malloc((size_t)n * 32);
    w->x = calloc(n, sizeof *w->x);
    w->c = calloc(n, sizeof *w->c);
    w->drop = malloc(n);
    w->unmask_answers = calloc(n, sizeof *w->unmask_answers);
    if (!w->id_sk || !w->roster || !w->x || !w->c || !w->drop || !w->unmask_answers)
        return GDN_ENOMEM;
    memset(w->drop, NEVER, n);
    for (uint32_t i = 0; i < n; i++) {
        uint8_t ks[32];
        gdn_rng_bytes(&rng, ks, 32);
        crypto_sign_seed_keypair(w->roster + 32 * (size_t)i, w->id_sk + 64 * (size_t)i, ks);
        w->x[i] = malloc((size_t)m * 4);
        if (!w->x[i])
            return GDN_ENOMEM;
        for (uint32_t e = 0; e < m; e++)
            w->x[i][e] = gdn_rng_u32(&rng) & (bits == 32 ? 0xFFFFFFFFu : (1u << bits) - 1);
    }
    if ((rc = gdn_secagg_server_new(&w->s, &w->p, w->roster)))
        return rc;
    for (uint32_t i = 0; i < n; i++)
        if ((rc = gdn_secagg_client_new(&w->c[i], &w->p, i, w->id_sk + 64 * (size_t)i,
                                        w->roster, &rng)))
            return rc;
    return 0;
}

/* Drops `count` distinct random clients (among those not yet dropped) at phase. */
static void world_drop(world *w, uint32_t count, uint8_t phase, gdn_rng *rng)
{
    while (count > 0) {
        uint32_t i = (uint32_t)gdn_rng_uniform(rng, w->p.n);
        if (w->drop[i] != NEVER)
            continue;
        w->drop[i] = phase;
        count--;
    }
}

/* Runs the four rounds; a client whose drop phase is r sends nothing from
 * round r on. Client-side refusals (too few neighbours) count as dropouts. */
static int world_run(world *w, uint32_t *sum, uint32_t *count)
{
    gdn_buf msg = {0}, req = {0};
    int rc = 0;

    for (uint32_t r = 0; r < 4 && rc == 0; r++) {
        for (uint32_t i = 0; i < w->p.n && rc == 0; i++) {
            if (w->drop[i] <= r || !gdn_secagg_server_alive(w->s, i))
                continue;
            msg.len = req.len = 0;
            if (r > 0 && (rc = gdn_secagg_server_request(w->s, &req, i)))
                break;
            switch (r) {
            case 0: rc = gdn_secagg_client_advertise(w->c[i], &msg); break;
            case 1: rc = gdn_secagg_client_share_keys(w->c[i], &msg, req.data, req.len); break;
            case 2:
                rc = gdn_secagg_client_masked_input(w->c[i], &msg, req.data, req.len,
                                                    w->x[i]);
                break;
            default: rc = gdn_secagg_client_unmask(w->c[i], &msg, req.data, req.len); break;
            }
            if (rc == GDN_ESTATE) { /* the client aborted: a dropout */
                w->drop[i] = (uint8_t)r;
                rc = 0;
                continue;
            }
            if (rc)
                break;
            if (r == 3 && w->tamper == i + 1) {
                uint32_t entries = gdn_load_le32(msg.data + 38);
                for (uint32_t e = 0; e < entries; e++) {
                    /* limb 1 += 3^-1 mod p: with Lagrange weight 3 the rebuilt
                     * limb grows by exactly 1 and still looks valid */
                    const uint64_t p61 = (1ULL << 61) - 1, inv3 = ((1ULL << 62) - 1) / 3;
                    uint8_t *p = msg.data + 42 + 69 * (size_t)e;
                    if (gdn_load_le32(p) == w->tamper_peer)
                        gdn_store_le64(p + 5 + 8, (gdn_load_le64(p + 5 + 8) + inv3) % p61);
                }
            }
            if (r == 3)
                gdn_buf_append(&w->unmask_answers[i], msg.data, msg.len);
            rc = gdn_secagg_server_collect(w->s, i, msg.data, msg.len);
        }
        if (rc == 0)
            rc = r < 3 ? gdn_secagg_server_advance(w->s)
                       : gdn_secagg_server_finish(w->s, sum, count);
    }
    gdn_buf_free(&msg);
    gdn_buf_free(&req);
    return rc;
}

/* Sum of the inputs of the clients that sent masked inputs. */
static void expected_sum(const world *w, uint32_t *want, uint32_t *count)
{
    uint32_t mask = w->p.bits == 32 ? 0xFFFFFFFFu : (1u << w->p.bits) - 1;

    memset(want, 0, (size_t)w->p.length * 4);
    *count = 0;
    for (uint32_t i = 0; i < w->p.n; i++) {
        if (w->drop[i] < 3)
            continue;
        ++*count;
        for (uint32_t e = 0; e < w->p.length; e++)
            want[e] += w->x[i][e];
    }
    for (uint32_t e = 0; e < w->p.length; e++)
        want[e] &= mask;
}

/* n = 100, m = 1000; (k, t) from ANCHORS: (12, 6) for gamma = delta = 0.05
 * at 0% and 10% dropouts, (28, 6) for gamma = 0.05, delta = 0.33 at 30%. */
GDN_TEST(secagg_round_dropouts)
{
    static const double rates[] = {0, 0.1, 0.3};
    uint32_t sum[1000], want[1000], count, want_count;
    world w;
    gdn_rng rng;

    gdn_rng_init_seed(&rng, 3);
    for (int ri = 0; ri < 3; ri++) {
        for (uint8_t phase = 0; phase < 5; phase++) {
            uint32_t drops = (uint32_t)(rates[ri] * 100 + 0.5);
            if (ri == 0 && phase > 0)
                break;
            CHECK_OK(world_new(&w, 100, ri == 2 ? 28 : 12, 6, 1000, 20,
                               100 + 10 * ri + phase));
            if (phase < 4) {
                world_drop(&w, drops, phase, &rng);
            } else { /* phase 4: the same rate, each at a random phase */
                for (uint32_t d = 0; d < drops; d++)
                    world_drop(&w, 1, (uint8_t)gdn_rng_uniform(&rng, 4), &rng);
            }
            CHECK_OK(world_run(&w, sum, &count));
            expected_sum(&w, want, &want_count);
            CHECK_MSG(count == want_count, "rate %g phase %u: %u summed, expected %u",
                      rates[ri], phase, count, want_count);
            CHECK_MSG(memcmp(sum, want, sizeof sum) == 0, "rate %g phase %u: wrong sum",
                      rates[ri], phase);
            world_free(&w);
        }
    }
    /* 30% at every phase (76% in all), on a denser graph: k = 60, t = 5 */
    CHECK_OK(world_new(&w, 100, 60, 5, 1000, 20, 77));
    for (uint8_t phase = 0; phase < 4; phase++) {
        uint32_t left = 0;
        for (uint32_t i = 0; i < 100; i++)
            left += w.drop[i] == NEVER;
        world_drop(&w, (uint32_t)(left * 0.3 + 0.5), phase, &rng);
    }
    CHECK_OK(world_run(&w, sum, &count));
    expected_sum(&w, want, &want_count);
    CHECK_EQ(count, want_count);
    CHECK(memcmp(sum, want, sizeof sum) == 0);
    world_free(&w);
    /* 32-bit sums and a complete graph */
    CHECK_OK(world_new(&w, 12, 11, 7, 300, 32, 78));
    world_drop(&w, 2, 2, &rng);
    world_drop(&w, 2, 3, &rng);
    CHECK_OK(world_run(&w, sum, &count));
    expected_sum(&w, want, &want_count);
    CHECK_EQ(count, 10);
    CHECK(memcmp(sum, want, 300 * 4) == 0);
    world_free(&w);
}

GDN_TEST(secagg_below_threshold)
{
    uint32_t sum[10], count;
    world w;
    gdn_rng rng;
    int rc;

    gdn_rng_init_seed(&rng, 4);
    /* too few answer the unmasking: clean failure, nothing reconstructed */
    CHECK_OK(world_new(&w, 10, 4, 3, 10, 16, 40));
    world_drop(&w, 7, 3, &rng);
    rc = world_run(&w, sum, &count);
    CHECK_EQ(rc, GDN_ESTATE);
    CHECK_MSG(strstr(gdn_errmsg(), "round failed, nothing reconstructed") != NULL, "%s",
              gdn_errmsg());
    CHECK_EQ(gdn_secagg_server_finish(w.s, sum, &count), GDN_ESTATE);
    world_free(&w);
    /* too few advertise: the server stops at once */
    CHECK_OK(world_new(&w, 10, 4, 3, 10, 16, 41));
    world_drop(&w, 8, 0, &rng);
    CHECK_EQ(world_run(&w, sum, &count), GDN_ESTATE);
    CHECK_MSG(strstr(gdn_errmsg(), "below the threshold") != NULL, "%s", gdn_errmsg());
    world_free(&w);
}

/* ---- Tampering, replay, signatures ------------------------------------------- */

GDN_TEST(secagg_rejects_bad_messages)
{
    gdn_buf a0 = {0}, a1 = {0}, req = {0}, sh = {0}, fwd = {0}, y = {0};
    world w, other;

    CHECK_OK(world_new(&w, 6, 4, 3, 8, 16, 50));
    CHECK_OK(world_new(&other, 6, 4, 3, 8, 16, 51)); /* another session, same size */
    CHECK_OK(gdn_secagg_client_advertise(w.c[0], &a0));
    CHECK_OK(gdn_secagg_client_advertise(w.c[1], &a1));
    /* tampered key, mis-attributed, signed by someone else, truncated */
    a0.data[40] ^= 1;
    CHECK_EQ(gdn_secagg_server_collect(w.s, 0, a0.data, a0.len), GDN_ECRYPTO);
    a0.data[40] ^= 1;
    CHECK_EQ(gdn_secagg_server_collect(w.s, 1, a0.data, a0.len), GDN_EFORMAT);
    {
        gdn_buf forged = {0};
        gdn_secagg_client *mallory;
        gdn_rng rng;
        gdn_rng_init_seed(&rng, 9);
        /* client 2's own keys, signed as client 2 but sent as client 0's */
        CHECK_OK(gdn_secagg_client_new(&mallory, &w.p, 2, w.id_sk + 128, w.roster, &rng));
        CHECK_OK(gdn_secagg_client_advertise(mallory, &forged));
        forged.data[34] = 0; /* party field: claims to be client 0 */
        CHECK_EQ(gdn_secagg_server_collect(w.s, 0, forged.data, forged.len), GDN_ECRYPTO);
        gdn_secagg_client_free(mallory);
        gdn_buf_free(&forged);
    }
    CHECK_EQ(gdn_secagg_server_collect(w.s, 0, a0.data, a0.len - 1), GDN_EFORMAT);
    /* replay from another session */
    {
        gdn_buf old = {0};
        CHECK_OK(gdn_secagg_client_advertise(other.c[0], &old));
        CHECK_EQ(gdn_secagg_server_collect(w.s, 0, old.data, old.len), GDN_ECRYPTO);
        gdn_buf_free(&old);
    }
    CHECK_OK(gdn_secagg_server_collect(w.s, 0, a0.data, a0.len));
    CHECK_EQ(gdn_secagg_server_collect(w.s, 0, a0.data, a0.len), GDN_ESTATE); /* replay */
    CHECK_OK(gdn_secagg_server_collect(w.s, 1, a1.data, a1.len));
    for (uint32_t i = 2; i < 6; i++) {
        gdn_buf a = {0};
        CHECK_OK(gdn_secagg_client_advertise(w.c[i], &a));
        CHECK_OK(gdn_secagg_server_collect(w.s, i, a.data, a.len));
        gdn_buf_free(&a);
    }
    CHECK_OK(gdn_secagg_server_advance(w.s));
    /* a keys request with a tampered key: the client checks the signatures */
    CHECK_OK(gdn_secagg_server_request(w.s, &req, 0));
    req.data[38 + 4 + 4 + 5] ^= 1;
    CHECK_EQ(gdn_secagg_client_share_keys(w.c[0], &sh, req.data, req.len), GDN_ECRYPTO);
    req.data[38 + 4 + 4 + 5] ^= 1;
    CHECK_EQ(gdn_secagg_client_share_keys(w.c[0], &sh, req.data, req.len - 3), GDN_EFORMAT);
    for (uint32_t i = 0; i < 6; i++) {
        req.len = sh.len = 0;
        CHECK_OK(gdn_secagg_server_request(w.s, &req, i));
        CHECK_OK(gdn_secagg_client_share_keys(w.c[i], &sh, req.data, req.len));
        if (i == 0) { /* a share message claimed by another client */
            CHECK_EQ(gdn_secagg_server_collect(w.s, 1, sh.data, sh.len), GDN_EFORMAT);
        }
        CHECK_OK(gdn_secagg_server_collect(w.s, i, sh.data, sh.len));
    }
    CHECK_OK(gdn_secagg_server_advance(w.s));
    /* a tampered ciphertext fails authentication at the receiver */
    CHECK_OK(gdn_secagg_server_request(w.s, &fwd, 0));
    fwd.data[fwd.len - 20] ^= 1;
    CHECK_EQ(gdn_secagg_client_masked_input(w.c[0], &y, fwd.data, fwd.len, w.x[0]),
             GDN_ECRYPTO);
    fwd.data[fwd.len - 20] ^= 1;
    /* ciphertexts swapped between senders fail too (bound to the pair) */
    if (fwd.len >= 38 + 4 + 2 * 148) {
        uint8_t tmp[144];
        memcpy(tmp, fwd.data + 42 + 4, 144);
        memcpy(fwd.data + 42 + 4, fwd.data + 42 + 148 + 4, 144);
        memcpy(fwd.data + 42 + 148 + 4, tmp, 144);
        CHECK_EQ(gdn_secagg_client_masked_input(w.c[0], &y, fwd.data, fwd.len, w.x[0]),
                 GDN_ECRYPTO);
    }
    /* an input value of 2^bits is refused */
    w.x[0][0] = 1u << 16;
    CHECK_EQ(gdn_secagg_client_masked_input(w.c[0], &y, fwd.data, fwd.len, w.x[0]),
             GDN_EINVAL);
    gdn_buf_free(&a0);
    gdn_buf_free(&a1);
    gdn_buf_free(&req);
    gdn_buf_free(&sh);
    gdn_buf_free(&fwd);
    gdn_buf_free(&y);
    world_free(&w);
    world_free(&other);
}

/* A tampered share in an unmasking answer never yields a wrong sum. Client 0
 * alters its share of client 5's secret so that the rebuilt secret is off by
 * one in one limb (a plausible value: the server uses the shares at x = 1, 2,
 * 3, where client 0's Lagrange weight is 3): a bad s_sk fails its public key,
 * a bad b its commitment. */
GDN_TEST(secagg_detects_bad_shares)
{
    uint32_t sum[16], count;
    world w;
    int rc;

    for (int kind = 0; kind < 2; kind++) {
        CHECK_OK(world_new(&w, 6, 5, 3, 16, 16, 90 + (uint64_t)kind));
        if (kind == 0)
            w.drop[5] = 2; /* shares sent, no masked input: its s_sk is rebuilt */
        w.tamper = 1;
        w.tamper_peer = 5;
        rc = world_run(&w, sum, &count);
        CHECK_MSG(rc == GDN_ECRYPTO, "kind %d: rc %d: %s", kind, rc, gdn_errmsg());
        CHECK_MSG(strstr(gdn_errmsg(), kind ? "self-mask seed of client 5"
                                            : "mask key of client 5") != NULL,
                  "%s", gdn_errmsg());
        world_free(&w);
    }
}

/* ---- Curious server ------------------------------------------------------------ */

/* The server's whole view of the unmasking round: for every client, how many
 * shares of its self-mask seed b and of its mask key s_sk were revealed. A
 * client is unmasked only if both reach t; neither kind may ever appear for
 * the same client, and the dropped clients' b never reaches the server. */
GDN_TEST(secagg_curious_server)
{
    uint32_t sum[200], count, b_shares[60], ssk_shares[60];
    world w;
    gdn_rng rng;

    gdn_rng_init_seed(&rng, 6);
    CHECK_OK(world_new(&w, 60, 12, 4, 200, 16, 60));
    world_drop(&w, 3, 1, &rng);
    world_drop(&w, 8, 2, &rng); /* dropped after sharing: their s_sk is revealed */
    world_drop(&w, 5, 3, &rng);
    CHECK_OK(world_run(&w, sum, &count));
    memset(b_shares, 0, sizeof b_shares);
    memset(ssk_shares, 0, sizeof ssk_shares);
    for (uint32_t j = 0; j < 60; j++) {
        const gdn_buf *a = &w.unmask_answers[j];
        uint32_t entries;
        if (a->len == 0)
            continue;
        CHECK(a->len >= 42);
        entries = gdn_load_le32(a->data + 38);
        CHECK_EQ(a->len, 42 + (size_t)entries * 69);
        for (uint32_t e = 0; e < entries; e++) {
            const uint8_t *p = a->data + 42 + 69 * (size_t)e;
            uint32_t v = gdn_load_le32(p);
            CHECK(v < 60);
            if (p[4])
                b_shares[v]++;
            else
                ssk_shares[v]++;
        }
    }
    for (uint32_t v = 0; v < 60; v++) {
        CHECK_MSG(!(b_shares[v] >= w.p.t && ssk_shares[v] >= w.p.t),
                  "client %u: %u b-shares and %u s_sk-shares revealed", v, b_shares[v],
                  ssk_shares[v]);
        CHECK_MSG(b_shares[v] == 0 || ssk_shares[v] == 0,
                  "client %u: both kinds of shares revealed", v);
        if (w.drop[v] < 3)
            CHECK_MSG(b_shares[v] == 0, "dropped client %u: b-shares revealed", v);
        if (w.drop[v] >= 3)
            CHECK_MSG(ssk_shares[v] == 0, "surviving client %u: s_sk-shares revealed", v);
    }
    world_free(&w);
}

/* A client never answers a request that would reveal both masks of a peer. */
GDN_TEST(secagg_client_refuses_both_masks)
{
    gdn_buf req = {0}, bad = {0}, ans = {0};
    uint32_t sum[8], count;
    world w;

    CHECK_OK(world_new(&w, 8, 4, 2, 8, 16, 70));
    /* run rounds 0..2 by hand through the driver, stopping before unmasking */
    for (uint32_t i = 0; i < 8; i++)
        w.drop[i] = 3;
    w.drop[0] = NEVER;
    CHECK_EQ(world_run(&w, sum, &count), GDN_ESTATE); /* only client 0 answers */
    world_free(&w);

    CHECK_OK(world_new(&w, 8, 4, 2, 8, 16, 71));
    for (uint32_t r = 0; r < 3; r++) {
        for (uint32_t i = 0; i < 8; i++) {
            gdn_buf m = {0}, q = {0};
            if (r > 0)
                CHECK_OK(gdn_secagg_server_request(w.s, &q, i));
            if (r == 0)
                CHECK_OK(gdn_secagg_client_advertise(w.c[i], &m));
            else if (r == 1)
                CHECK_OK(gdn_secagg_client_share_keys(w.c[i], &m, q.data, q.len));
            else
                CHECK_OK(gdn_secagg_client_masked_input(w.c[i], &m, q.data, q.len, w.x[i]));
            CHECK_OK(gdn_secagg_server_collect(w.s, i, m.data, m.len));
            gdn_buf_free(&m);
            gdn_buf_free(&q);
        }
        CHECK_OK(gdn_secagg_server_advance(w.s));
    }
    CHECK_OK(gdn_secagg_server_request(w.s, &req, 0));
    /* the same peer twice, once as survivor and once as dropped (in place of
     * the second peer, so the request keeps its size) */
    CHECK(gdn_load_le32(req.data + 38) >= 2);
    CHECK_OK(gdn_buf_append(&bad, req.data, req.len));
    memcpy(bad.data + 47, bad.data + 42, 5);
    bad.data[51] = (uint8_t)!bad.data[46];
    CHECK_MSG(gdn_secagg_client_unmask(w.c[0], &ans, bad.data, bad.len) == GDN_ECRYPTO,
              "%s", gdn_errmsg());
    CHECK_MSG(strstr(gdn_errmsg(), "both") != NULL, "%s", gdn_errmsg());
    CHECK_EQ(ans.len, 0);
    /* after refusing, the client answers nothing more this round */
    CHECK_EQ(gdn_secagg_client_unmask(w.c[0], &ans, req.data, req.len), GDN_ESTATE);
    CHECK_EQ(ans.len, 0);
    /* a client that answered once refuses a second (flipped) request */
    req.len = 0;
    CHECK_OK(gdn_secagg_server_request(w.s, &req, 1));
    CHECK_OK(gdn_secagg_client_unmask(w.c[1], &ans, req.data, req.len));
    req.data[46] ^= 1; /* first peer: survived <-> dropped */
    ans.len = 0;
    CHECK_EQ(gdn_secagg_client_unmask(w.c[1], &ans, req.data, req.len), GDN_ESTATE);
    CHECK_EQ(ans.len, 0);
    gdn_buf_free(&req);
    gdn_buf_free(&bad);
    gdn_buf_free(&ans);
    world_free(&w);
}
