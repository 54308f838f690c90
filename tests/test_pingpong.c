/* prio ping-pong topology (draft-irtf-cfrg-vdaf-20 §5.7.1): Prio3 reports
 * run between two in-memory aggregators give the same output shares as the
 * direct calls; malformed and out-of-order messages are rejected. */
#include <stdlib.h>
#include <string.h>

#include "guardian/core.h"
#include "guardian/prio.h"
#include "harness.h"

static const uint8_t ctx[] = "guardian ping-pong test";

/* Shards one report, then runs it both directly and through ping-pong;
 * returns 0 when both agree (out shares equal bit for bit). */
static int run_both(const gdn_prio3_params *pp, const uint64_t *m, size_t ml,
                    uint64_t seed, int *same)
{
    uint8_t key[GDN_PRIO3_VERIFY_KEY_BYTES], nonce[GDN_PRIO3_NONCE_BYTES];
    gdn_prio3 *v = NULL;
    gdn_buf pub = {0}, in[2] = {{0}}, st[2] = {{0}}, vs[2] = {{0}}, msg = {0}, out[2] = {{0}};
    gdn_pingpong_state lead = {0}, help = {0};
    gdn_rng rng;
    int rc;
    gdn_rng_init_seed(&rng, seed);
    gdn_rng_bytes(&rng, key, sizeof key);
    gdn_rng_bytes(&rng, nonce, sizeof nonce);
    *same = 0;
    if ((rc = gdn_prio3_new(&v, pp)))
        return rc;
    rc = gdn_prio3_shard(v, &pub, in, ctx, sizeof ctx, m, ml, nonce, &rng);
    /* Direct path. */
    for (unsigned j = 0; j < 2 && !rc; j++)
        rc = gdn_prio3_verify_init(v, &st[j], &vs[j], key, ctx, sizeof ctx, j, nonce,
                                   pub.data, pub.len, in[j].data, in[j].len);
    if (!rc) {
        const uint8_t *ptr[2] = {vs[0].data, vs[1].data};
        size_t lens[2] = {vs[0].len, vs[1].len};
        rc = gdn_prio3_verifier_shares_to_message(v, &msg, ctx, sizeof ctx, ptr, lens, 2);
    }
    for (unsigned j = 0; j < 2 && !rc; j++)
        rc = gdn_prio3_verify_next(v, &out[j], st[j].data, st[j].len, msg.data, msg.len);
    /* Ping-pong: leader -> helper -> leader. */
    if (!rc)
        rc = gdn_pingpong_leader_init(&lead, v, key, ctx, sizeof ctx, nonce, pub.data,
                                      pub.len, in[0].data, in[0].len);
    if (!rc && lead.status == GDN_PINGPONG_CONTINUED)
        rc = gdn_pingpong_helper_init(&help, v, key, ctx, sizeof ctx, nonce, pub.data,
                                      pub.len, in[1].data, in[1].len, lead.outbound.data,
                                      lead.outbound.len);
    if (!rc && help.status == GDN_PINGPONG_FINISHED_WITH_OUTBOUND)
        rc = gdn_pingpong_leader_continued(&lead, v, ctx, sizeof ctx, help.outbound.data,
                                           help.outbound.len);
    if (!rc)
        *same = lead.status == GDN_PINGPONG_FINISHED &&
                help.status == GDN_PINGPONG_FINISHED_WITH_OUTBOUND &&
                lead.out_share.len == out[0].len && help.out_share.len == out[1].len &&
                memcmp(lead.out_share.data, out[0].data, out[0].len) == 0 &&
                memcmp(help.out_share.data, out[1].data, out[1].len) == 0;
    gdn_pingpong_state_free(&lead);
    gdn_pingpong_state_free(&help);
    gdn_buf_free(&pub);
    gdn_buf_free(&msg);
    for (int j = 0; j < 2; j++) {
        gdn_buf_free(&in[j]);
        gdn_buf_free(&st[j]);
        gdn_buf_free(&vs[j]);
        gdn_buf_free(&out[j]);
    }
    gdn_prio3_free(v);
    return rc;
}

GDN_TEST(pingpong_matches_direct_path)
{
    gdn_prio3_params pp;
    uint64_t vec[50], one = 1, s = 200, bucket = 3, bits[8] = {1, 0, 0, 1, 0, 1, 0, 0};
    int same;
    for (int i = 0; i < 50; i++)
        vec[i] = (uint64_t)(i * 5 % 256);
    const struct {
        gdn_prio3_kind kind;
        uint64_t max;
        size_t length, chunk;
        const uint64_t *m;
        size_t ml;
    } cases[] = {
        {GDN_PRIO3_COUNT, 0, 0, 0, &one, 1},
        {GDN_PRIO3_SUM, 255, 0, 0, &s, 1},
        {GDN_PRIO3_SUMVEC, 255, 50, 7, vec, 50},
        {GDN_PRIO3_HISTOGRAM, 0, 5, 2, &bucket, 1},
        {GDN_PRIO3_MULTIHOT_COUNTVEC, 3, 8, 3, bits, 8},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        memset(&pp, 0, sizeof pp);
        pp.kind = cases[c].kind, pp.num_shares = 2, pp.max = cases[c].max;
        pp.length = cases[c].length, pp.chunk_length = cases[c].chunk;
        for (uint64_t seed = 1; seed <= 3; seed++) {
            CHECK_OK(run_both(&pp, cases[c].m, cases[c].ml, seed * 100 + c, &same));
            CHECK_MSG(same, "case %zu seed %llu: ping-pong differs from the direct path",
                      c, (unsigned long long)seed);
        }
    }
}

GDN_TEST(pingpong_codec)
{
    static const uint8_t vm[3] = {1, 2, 3}, vsh[2] = {9, 8};
    gdn_pingpong_message m = {GDN_PINGPONG_CONTINUE, vm, vsh, 3, 2}, d;
    gdn_buf b = {0};
    CHECK_OK(gdn_pingpong_encode(&b, &m));
    static const uint8_t want[] = {1, 0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 2, 9, 8};
    CHECK(b.len == sizeof want && memcmp(b.data, want, sizeof want) == 0);
    CHECK_OK(gdn_pingpong_decode(&d, b.data, b.len));
    CHECK(d.type == GDN_PINGPONG_CONTINUE && d.verifier_message_len == 3 &&
          d.verifier_share_len == 2 && memcmp(d.verifier_share, vsh, 2) == 0);
    /* Truncations at every length, a trailing byte, a bad type, a huge length. */
    for (size_t n = 0; n < b.len; n++)
        CHECK_EQ(gdn_pingpong_decode(&d, b.data, n), GDN_EFORMAT);
    gdn_buf_append(&b, "x", 1);
    CHECK_EQ(gdn_pingpong_decode(&d, b.data, b.len), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "1 bytes after the message") != NULL);
    b.data[0] = 3;
    CHECK_EQ(gdn_pingpong_decode(&d, b.data, b.len - 1), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "unknown message type 3") != NULL);
    static const uint8_t huge[] = {2, 0xff, 0xff, 0xff, 0xff};
    CHECK_EQ(gdn_pingpong_decode(&d, huge, sizeof huge), GDN_EFORMAT);
    static const uint8_t empty_finish[] = {2, 0, 0, 0, 0};
    CHECK_OK(gdn_pingpong_decode(&d, empty_finish, sizeof empty_finish));
    CHECK(d.type == GDN_PINGPONG_FINISH && d.verifier_message_len == 0);
    gdn_buf_free(&b);
}

/* A SumVec report whose messages are tampered with or sent out of order. */
GDN_TEST(pingpong_rejects_malformed)
{
    gdn_prio3_params pp = {0};
    gdn_prio3 *v;
    uint8_t key[32] = {5}, nonce[16] = {6};
    uint64_t m[10] = {1, 2, 3, 4, 5, 6, 7, 0, 0, 7};
    gdn_buf pub = {0}, in[2] = {{0}}, bad = {0};
    gdn_pingpong_state lead = {0}, help = {0};
    gdn_rng rng;
    pp.kind = GDN_PRIO3_SUMVEC, pp.num_shares = 2, pp.max = 7, pp.length = 10;
    pp.chunk_length = 4;
    gdn_rng_init_seed(&rng, 77);
    CHECK_OK(gdn_prio3_new(&v, &pp));
    CHECK_OK(gdn_prio3_shard(v, &pub, in, ctx, sizeof ctx, m, 10, nonce, &rng));
    CHECK_OK(gdn_pingpong_leader_init(&lead, v, key, ctx, sizeof ctx, nonce, pub.data,
                                      pub.len, in[0].data, in[0].len));
    CHECK_EQ(lead.status, GDN_PINGPONG_CONTINUED);
    CHECK_EQ(lead.outbound.data[0], GDN_PINGPONG_INITIALIZE);

    /* Helper: truncated initialize; a finish instead of initialize. */
    CHECK_EQ(gdn_pingpong_helper_init(&help, v, key, ctx, sizeof ctx, nonce, pub.data,
                                      pub.len, in[1].data, in[1].len, lead.outbound.data,
                                      lead.outbound.len - 1),
             GDN_EFORMAT);
    CHECK_EQ(help.status, GDN_PINGPONG_REJECTED);
    static const uint8_t fin[] = {2, 0, 0, 0, 0};
    CHECK_EQ(gdn_pingpong_helper_init(&help, v, key, ctx, sizeof ctx, nonce, pub.data,
                                      pub.len, in[1].data, in[1].len, fin, sizeof fin),
             GDN_ESTATE);
    CHECK(strstr(gdn_errmsg(), "expects an initialize") != NULL);
    /* A flipped byte in the leader's verifier share: the proof fails. */
    gdn_buf_append(&bad, lead.outbound.data, lead.outbound.len);
    bad.data[5] ^= 1;
    CHECK_EQ(gdn_pingpong_helper_init(&help, v, key, ctx, sizeof ctx, nonce, pub.data,
                                      pub.len, in[1].data, in[1].len, bad.data, bad.len),
             GDN_ECRYPTO);
    CHECK_EQ(help.status, GDN_PINGPONG_REJECTED);
    CHECK_EQ(help.outbound.len, 0);
    /* The genuine exchange. */
    CHECK_OK(gdn_pingpong_helper_init(&help, v, key, ctx, sizeof ctx, nonce, pub.data,
                                      pub.len, in[1].data, in[1].len, lead.outbound.data,
                                      lead.outbound.len));
    CHECK_EQ(help.status, GDN_PINGPONG_FINISHED_WITH_OUTBOUND);
    /* Leader: initialize again, continue, a wrong joint-randomness seed. */
    CHECK_EQ(gdn_pingpong_leader_continued(&lead, v, ctx, sizeof ctx, lead.outbound.data,
                                           lead.outbound.len),
             GDN_ESTATE);
    CHECK_EQ(lead.status, GDN_PINGPONG_REJECTED);
    /* A rejected state takes no more messages. */
    CHECK_EQ(gdn_pingpong_leader_continued(&lead, v, ctx, sizeof ctx, help.outbound.data,
                                           help.outbound.len),
             GDN_ESTATE);
    CHECK_OK(gdn_pingpong_leader_init(&lead, v, key, ctx, sizeof ctx, nonce, pub.data,
                                      pub.len, in[0].data, in[0].len));
    gdn_pingpong_message cont = {GDN_PINGPONG_CONTINUE, NULL, NULL, 0, 0};
    bad.len = 0;
    gdn_pingpong_encode(&bad, &cont);
    CHECK_EQ(gdn_pingpong_leader_continued(&lead, v, ctx, sizeof ctx, bad.data, bad.len),
             GDN_ESTATE);
    CHECK_OK(gdn_pingpong_leader_init(&lead, v, key, ctx, sizeof ctx, nonce, pub.data,
                                      pub.len, in[0].data, in[0].len));
    bad.len = 0;
    gdn_buf_append(&bad, help.outbound.data, help.outbound.len);
    bad.data[bad.len - 1] ^= 0x40;
    CHECK_EQ(gdn_pingpong_leader_continued(&lead, v, ctx, sizeof ctx, bad.data, bad.len),
             GDN_ECRYPTO);
    /* And the genuine finish. */
    CHECK_OK(gdn_pingpong_leader_init(&lead, v, key, ctx, sizeof ctx, nonce, pub.data,
                                      pub.len, in[0].data, in[0].len));
    CHECK_OK(gdn_pingpong_leader_continued(&lead, v, ctx, sizeof ctx, help.outbound.data,
                                           help.outbound.len));
    CHECK_EQ(lead.status, GDN_PINGPONG_FINISHED);
    {
        const uint8_t *ptr[2] = {lead.out_share.data, help.out_share.data};
        size_t lens[2] = {lead.out_share.len, help.out_share.len};
        uint64_t res[10];
        CHECK_OK(gdn_prio3_unshard(v, res, 10, ptr, lens, 2, 1));
        CHECK(memcmp(res, m, sizeof m) == 0);
    }
    gdn_pingpong_state_free(&lead);
    gdn_pingpong_state_free(&help);
    gdn_buf_free(&pub);
    gdn_buf_free(&in[0]);
    gdn_buf_free(&in[1]);
    gdn_buf_free(&bad);
    gdn_prio3_free(v);
}

/* PINE through ping-pong: the output shares of both aggregators sum to the
 * encoded vector; a forged (oversized) report ends rejected at the helper. */
GDN_TEST(pingpong_pine)
{
    gdn_pine_params pp = {0};
    gdn_pine *v;
    uint8_t key[16] = {4}, nonce[16] = {8}, *coins;
    double x[40], big[40], res[40];
    gdn_buf pub = {0}, in[2] = {{0}};
    gdn_pingpong_state lead = {0}, help = {0};
    gdn_rng rng;
    pp.variant = GDN_PINE64, pp.num_shares = 2, pp.dimension = 40, pp.num_frac_bits = 10;
    pp.l2_norm_bound = 1024, pp.chunk_length = 30, pp.chunk_length_norm_equality = 7;
    for (int i = 0; i < 40; i++)
        x[i] = (i % 5 - 2) * 0.05, big[i] = 10 * x[i];
    gdn_rng_init_seed(&rng, 12);
    CHECK_OK(gdn_pine_new(&v, &pp));
    CHECK_OK(gdn_pine_shard(v, &pub, in, x, 40, nonce, &rng));
    CHECK_OK(gdn_pingpong_pine_leader_init(&lead, v, key, nonce, pub.data, pub.len,
                                           in[0].data, in[0].len));
    CHECK_OK(gdn_pingpong_pine_helper_init(&help, v, key, nonce, pub.data, pub.len,
                                           in[1].data, in[1].len, lead.outbound.data,
                                           lead.outbound.len));
    CHECK_EQ(help.status, GDN_PINGPONG_FINISHED_WITH_OUTBOUND);
    CHECK_OK(gdn_pingpong_pine_continued(&lead, v, help.outbound.data, help.outbound.len));
    CHECK_EQ(lead.status, GDN_PINGPONG_FINISHED);
    {
        const uint8_t *ptr[2] = {lead.out_share.data, help.out_share.data};
        size_t lens[2] = {lead.out_share.len, help.out_share.len};
        CHECK_OK(gdn_pine_unshard(v, res, 40, ptr, lens, 2));
        for (int i = 0; i < 40; i++)
            CHECK(res[i] == nearbyint(x[i] * 1024) / 1024);
    }
    /* A forged report: the helper rejects at initialization. */
    pub.len = in[0].len = in[1].len = 0;
    coins = malloc(gdn_pine_rand_size(v));
    gdn_rng_bytes(&rng, coins, gdn_pine_rand_size(v));
    CHECK_OK(gdn_pine_shard_with_rand(v, &pub, in, big, 40, nonce, coins,
                                      gdn_pine_rand_size(v), GDN_PINE_SHARD_FORGE_NORM));
    free(coins);
    CHECK_OK(gdn_pingpong_pine_leader_init(&lead, v, key, nonce, pub.data, pub.len,
                                           in[0].data, in[0].len));
    CHECK_EQ(gdn_pingpong_pine_helper_init(&help, v, key, nonce, pub.data, pub.len,
                                           in[1].data, in[1].len, lead.outbound.data,
                                           lead.outbound.len),
             GDN_ECRYPTO);
    CHECK_EQ(help.status, GDN_PINGPONG_REJECTED);
    CHECK(strstr(gdn_errmsg(), "norm equality") != NULL);
    gdn_pingpong_state_free(&lead);
    gdn_pingpong_state_free(&help);
    gdn_buf_free(&pub);
    gdn_buf_free(&in[0]);
    gdn_buf_free(&in[1]);
    gdn_pine_free(v);
}
