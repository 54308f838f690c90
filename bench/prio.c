/* Prio3SumVec and PINE costs, one thread, one JSON line per (vdaf, length):
 *
 *   prio          client_s: one gdn_*_shard (encoding, sharding, proving);
 *                 verify_s: one aggregator's verify_init + verify_next
 *                 (the leader also combines the verifier shares), the
 *                 slower of the two aggregators; reports_per_s =
 *                 1 / verify_s; leader_bytes, helper_bytes: the input
 *                 shares, public_bytes the public share, verifier_bytes one
 *                 verifier share; mul_chain_s: n dependent Field128
 *                 multiplications; client_ratio and verify_ratio: client_s
 *                 and verify_s over mul_chain_s (the per-element cost in
 *                 Field128 multiplications); client_xof_floor and
 *                 verify_xof_floor: the same ratios for the hashing and
 *                 drawing alone that the drafts prescribe, at the speeds
 *                 measured below (no implementation of the instance can go
 *                 under them); goal_met: both ratios within the 3x.
 *   prio_xof      first, per XOF: absorb_ns_per_byte (its binder: shares
 *                 hashed into joint randomness) and ns_per_byte of its
 *                 output (shares expanded from seeds, PINE's wraparound
 *                 vectors), thread CPU, beside mul_chain_ns, one
 *                 multiplication of the chain (docs: bench/README.md).
 *   prio_wr       then, per field and SIMD level the CPU has (0 portable,
 *                 1 AVX-512; Field128 has only 0): ns_per_entry_check,
 *                 thread CPU ns of PINE's wraparound dot products per entry
 *                 and check (100 checks over min(--max-len, 10^6) entries,
 *                 the best of --runs).
 *
 *   build/bench/prio [--quick] [--runs N] [--min-len N] [--max-len N] [--vdaf NAME]
 *
 * SumVec: entries of 8 bits (max 255, Field128, chunk ~ sqrt(8 n));
 * PINE: Pine64 (Field64, draft 11's XofTurboShake128, 2 proofs) and
 * Pine64HmacSha256Aes128, norm bound 1 with 15 fractional bits, 100
 * wraparound checks, chunks ~ sqrt of each circuit's length. Medians of
 * --runs runs (default 3; SumVec at 10^6: 1). Times are thread CPU time. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "guardian/core.h"
#include "guardian/prio.h"
#include "prio/prio_internal.h"

#define MAX_RUNS 16

/* Thread CPU seconds: the machine is shared, and everything here runs on
 * one thread, so CPU time is what the work costs. */
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static size_t isqrt_chunk(size_t n)
{
    size_t c = (size_t)sqrt((double)n);
    return c ? c : 1;
}

/* Seconds of n dependent Field128 multiplications (x <- x * y). */
static double mul_chain(size_t n)
{
    const prio_field *F = prio_field128();
    prio_fe x = prio_fe_from_u64(F, 3), y = prio_fe_from_u64(F, 0x123456789abcdefULL);
    double t0 = now();
    for (size_t i = 0; i < n; i++)
        x = prio_fe_mul(F, x, y);
    double t = now() - t0;
    volatile uint64_t sink = x.v[0];
    (void)sink;
    return t;
}

/* Thread CPU nanoseconds per byte an XOF absorbs (its binder: the shares
 * hashed into joint randomness) and per byte it outputs (shares expanded
 * from seeds, PINE's wraparound vectors), 16 MiB each: the floor under
 * both. */
typedef struct xof_speed {
    double absorb, squeeze;
} xof_speed;

static xof_speed xof_ns_per_byte(prio_xof_id id)
{
    static uint8_t buf[1 << 20];
    uint8_t seed[PRIO_SEED_MAX] = {7};
    xof_speed sp = {NAN, NAN};
    prio_xof x;
    double t0, t = 0;

    if (prio_xof_init(&x, id, seed, prio_xof_seed_size(id), (const uint8_t *)"bench", 5, NULL,
                      0))
        goto out;
    t0 = now();
    for (int i = 0; i < 16; i++)
        prio_xof_binder(&x, buf, sizeof buf);
    if (prio_xof_next(&x, buf, 4096)) /* the hash's last block (and AES's key) */
        goto out;
    sp.absorb = (now() - t0) * 1e9 / (16.0 * sizeof buf);
    t0 = now();
    for (int i = 0; i < 16; i++)
        if (prio_xof_next(&x, buf, sizeof buf))
            t = NAN;
    t += now() - t0;
    sp.squeeze = t * 1e9 / (16.0 * sizeof buf);
out:
    prio_xof_free(&x);
    return sp;
}

/* Bytes per entry the drafts make each party hash (absorb) and draw
 * (squeeze) through the XOF, large n, two aggregators:
 *   SumVec, 8-bit entries: 8 Field128 elements, 128 bytes. Client: expands
 *     the helper's share (128) and hashes both shares into joint randomness
 *     parts (256); helper: expands (128), hashes (128); leader: hashes (128).
 *   PINE, Field64: 8 bytes; 100 wraparound checks of 2 bits = 25 bytes,
 *     drawn by the client and both aggregators. Client: expands the
 *     helper's share (8) and the checks (25), hashes both shares twice (the
 *     wraparound and the verification joint randomness: 32); helper: 8 +
 *     25 drawn, 16 hashed; leader: 25 drawn, 16 hashed.
 * verify_s times the helper (the slower one), whose bytes are used. */
typedef struct xof_bytes {
    double client_absorb, client_squeeze, helper_absorb, helper_squeeze;
} xof_bytes;

static const xof_bytes sumvec_bytes = {256, 128, 128, 128};
static const xof_bytes pine64_bytes = {32, 33, 16, 33};

static void floors(const xof_bytes *b, xof_speed sp, double mul_ns, double *client,
                   double *verify)
{
    *client = (b->client_absorb * sp.absorb + b->client_squeeze * sp.squeeze) / mul_ns;
    *verify = (b->helper_absorb * sp.absorb + b->helper_squeeze * sp.squeeze) / mul_ns;
}

/* Thread CPU ns per (entry, check) of PINE's wraparound dot products
 * (prio_wr_dot) at the current SIMD level: 100 checks over n random
 * entries of F, the best of `runs`; NAN on failure. */
static double wr_ns(const prio_field *F, size_t n, int runs, gdn_rng *rng)
{
    const size_t checks = 100;
    prio_fe *grad = malloc(n * sizeof *grad), res[100];
    uint8_t *codes = malloc(checks * ((n + 3) / 4));
    double best = NAN;
    if (grad && codes) {
        for (size_t k = 0; k < n; k++)
            grad[k] = prio_fe_from_u64(F, gdn_rng_u64(rng));
        gdn_rng_bytes(rng, codes, checks * ((n + 3) / 4));
        for (int r = 0; r < runs; r++) {
            double t0 = now();
            if (prio_wr_dot(F, res, checks, grad, n, codes))
                break;
            double t = (now() - t0) * 1e9 / ((double)n * (double)checks);
            best = r == 0 || t < best ? t : best;
        }
    }
    free(grad);
    free(codes);
    return best;
}

/* One aggregator's verification, the slower of the two: the leader runs
 * verify_init, combines the verifier shares into the message and runs
 * verify_next; the helper runs verify_init and verify_next. */
static double aggregator_time(const double init[2], double combine, const double next[2])
{
    double leader = init[0] + combine + next[0], helper = init[1] + next[1];
    return leader > helper ? leader : helper;
}

typedef struct sample {
    double client, verify;
    size_t leader, helper, pub, verifier;
} sample;

static int run_sumvec(sample *s, size_t n, gdn_rng *rng)
{
    static const uint8_t nonce[16] = {1}, key[32] = {2};
    gdn_prio3_params pp = {0};
    gdn_prio3 *v = NULL;
    gdn_buf pub = {0}, in[2] = {{0}}, st[2] = {{0}}, vs[2] = {{0}}, msg = {0}, out[2] = {{0}};
    uint64_t *m = malloc(n * sizeof *m);
    int rc = GDN_ENOMEM;
    if (!m)
        return rc;
    for (size_t i = 0; i < n; i++)
        m[i] = gdn_rng_uniform(rng, 256);
    pp.kind = GDN_PRIO3_SUMVEC, pp.num_shares = 2, pp.length = n, pp.max = 255;
    pp.chunk_length = isqrt_chunk(8 * n);
    if ((rc = gdn_prio3_new(&v, &pp)))
        goto out;
    double t0 = now();
    if ((rc = gdn_prio3_shard(v, &pub, in, NULL, 0, m, n, nonce, rng)))
        goto out;
    s->client = now() - t0;
    double tv[2];
    for (unsigned j = 0; j < 2; j++) {
        t0 = now();
        if ((rc = gdn_prio3_verify_init(v, &st[j], &vs[j], key, NULL, 0, j, nonce, pub.data,
                                        pub.len, in[j].data, in[j].len)))
            goto out;
        tv[j] = now() - t0;
    }
    t0 = now();
    const uint8_t *ptr[2] = {vs[0].data, vs[1].data};
    size_t lens[2] = {vs[0].len, vs[1].len};
    if ((rc = gdn_prio3_verifier_shares_to_message(v, &msg, NULL, 0, ptr, lens, 2)))
        goto out;
    double tc = now() - t0, tn[2] = {0, 0};
    for (unsigned j = 0; j < 2 && !rc; j++) {
        t0 = now();
        rc = gdn_prio3_verify_next(v, &out[j], st[j].data, st[j].len, msg.data, msg.len);
        tn[j] = now() - t0;
    }
    s->verify = aggregator_time(tv, tc, tn);
    s->leader = in[0].len, s->helper = in[1].len, s->pub = pub.len, s->verifier = vs[0].len;
out:
    free(m);
    gdn_buf_free(&pub), gdn_buf_free(&msg);
    for (int j = 0; j < 2; j++)
        gdn_buf_free(&in[j]), gdn_buf_free(&st[j]), gdn_buf_free(&vs[j]), gdn_buf_free(&out[j]);
    gdn_prio3_free(v);
    return rc;
}

static int run_pine(sample *s, size_t n, gdn_pine_variant variant, gdn_rng *rng)
{
    static const uint8_t nonce[16] = {1}, key[32] = {2};
    gdn_pine_params pp = {0};
    gdn_pine *v = NULL;
    gdn_buf pub = {0}, in[2] = {{0}}, st[2] = {{0}}, vs[2] = {{0}}, msg = {0}, out[2] = {{0}};
    double *x = malloc(n * sizeof *x), ss = 0;
    int rc = GDN_ENOMEM;
    if (!x)
        return rc;
    for (size_t i = 0; i < n; i++) {
        x[i] = gdn_rng_double(rng) - 0.5;
        ss += x[i] * x[i];
    }
    for (size_t i = 0; i < n; i++) /* norm 0.9 */
        x[i] *= 0.9 / sqrt(ss);
    pp.variant = variant, pp.num_shares = 2, pp.dimension = n, pp.num_frac_bits = 15;
    pp.l2_norm_bound = 1u << 15;
    pp.chunk_length_norm_equality = isqrt_chunk(n);
    pp.chunk_length = isqrt_chunk(100 * 20); /* bit-checked length ~ 100 x 20 */
    if ((rc = gdn_pine_new(&v, &pp)))
        goto out;
    double t0 = now();
    if ((rc = gdn_pine_shard(v, &pub, in, x, n, nonce, rng)))
        goto out;
    s->client = now() - t0;
    double tv[2];
    for (unsigned j = 0; j < 2; j++) {
        t0 = now();
        if ((rc = gdn_pine_verify_init(v, &st[j], &vs[j], key, j, nonce, pub.data, pub.len,
                                       in[j].data, in[j].len)))
            goto out;
        tv[j] = now() - t0;
    }
    t0 = now();
    const uint8_t *ptr[2] = {vs[0].data, vs[1].data};
    size_t lens[2] = {vs[0].len, vs[1].len};
    if ((rc = gdn_pine_verifier_shares_to_message(v, &msg, ptr, lens, 2)))
        goto out;
    double tc = now() - t0, tn[2] = {0, 0};
    for (unsigned j = 0; j < 2 && !rc; j++) {
        t0 = now();
        rc = gdn_pine_verify_next(v, &out[j], st[j].data, st[j].len, msg.data, msg.len);
        tn[j] = now() - t0;
    }
    s->verify = aggregator_time(tv, tc, tn);
    s->leader = in[0].len, s->helper = in[1].len, s->pub = pub.len, s->verifier = vs[0].len;
out:
    free(x);
    gdn_buf_free(&pub), gdn_buf_free(&msg);
    for (int j = 0; j < 2; j++)
        gdn_buf_free(&in[j]), gdn_buf_free(&st[j]), gdn_buf_free(&vs[j]), gdn_buf_free(&out[j]);
    gdn_pine_free(v);
    return rc;
}

int main(int argc, char **argv)
{
    int runs = 3, quick = 0;
    const char *only = NULL;
    size_t max_len = 1000000, min_len = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--min-len") == 0 && i + 1 < argc)
            min_len = (size_t)strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--max-len") == 0 && i + 1 < argc)
            max_len = (size_t)strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--vdaf") == 0 && i + 1 < argc)
            only = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--quick] [--runs N] [--min-len N] [--max-len N] "
                            "[--vdaf prio3_sumvec|pine64|pine64_hmac_sha256_aes128]\n",
                    argv[0]);
            return 2;
        }
    }
    if (runs < 1 || runs > MAX_RUNS)
        runs = 3;
    if (quick)
        max_len = 100000, runs = 1;
    static const char *names[3] = {"prio3_sumvec", "pine64", "pine64_hmac_sha256_aes128"};
    const size_t lens[3] = {1000, 100000, 1000000};
    gdn_rng rng;
    gdn_rng_init_seed(&rng, 1);
    /* Each instance's XOF: SumVec draft 20's, Pine64 draft 11's, and the AES one. */
    static const struct { prio_xof_id id; const char *name; } xofs[3] = {
        {PRIO_XOF_TURBOSHAKE128, "turboshake128"},
        {PRIO_XOF_TURBOSHAKE128_V11, "turboshake128_draft11"},
        {PRIO_XOF_HMAC_SHA256_AES128, "hmac_sha256_aes128"}};
    xof_speed speed[3];
    double mul_ns = mul_chain(1000000) / 1e6 * 1e9;
    for (int k = 0; k < 3; k++) {
        speed[k] = xof_ns_per_byte(xofs[k].id);
        printf("{\"bench\":\"prio_xof\",\"xof\":\"%s\",\"absorb_ns_per_byte\":%.4f,"
               "\"ns_per_byte\":%.4f,\"mul_chain_ns\":%.3f}\n", xofs[k].name, speed[k].absorb,
               speed[k].squeeze, mul_ns);
    }
    {
        static const char *fnames[3] = {"field64", "field32", "field128"};
        const prio_field *fs[3] = {prio_field64(), prio_field32(), prio_field128()};
        size_t n = max_len < 1000000 ? max_len : 1000000;
        int saved = prio_simd(), top = prio_set_simd(1);
        for (int k = 0; k < 3; k++)
            for (int level = 0; level <= (k == 2 ? 0 : top); level++) { /* Field128: portable */
                prio_set_simd(level);
                printf("{\"bench\":\"prio_wr\",\"field\":\"%s\",\"simd\":%d,\"checks\":100,"
                       "\"length\":%zu,\"ns_per_entry_check\":%.4f}\n", fnames[k],
                       prio_simd(), n, wr_ns(fs[k], n, runs, &rng));
            }
        prio_set_simd(saved);
        fflush(stdout);
    }
    for (size_t li = 0; li < 3; li++) {
        size_t n = lens[li];
        if (n > max_len)
            break;
        if (n < min_len)
            continue;
        for (int kind = 0; kind < 3; kind++) {
            if (only && strcmp(only, names[kind]) != 0)
                continue;
            int r_here = n >= 1000000 && kind == 0 ? 1 : runs;
            double c[MAX_RUNS], vv[MAX_RUNS], mc[MAX_RUNS];
            sample s = {0};
            for (int r = 0; r < r_here; r++) {
                int rc = kind == 0 ? run_sumvec(&s, n, &rng)
                                   : run_pine(&s, n, kind == 1 ? GDN_PINE64
                                                               : GDN_PINE64_HMAC_SHA256_AES128,
                                              &rng);
                if (rc) {
                    fprintf(stderr, "bench prio: %s n=%zu: %s\n", names[kind], n, gdn_errmsg());
                    return 1;
                }
                c[r] = s.client, vv[r] = s.verify;
                mc[r] = mul_chain(n);
            }
            double cm = bench_median(c, (size_t)r_here), vm = bench_median(vv, (size_t)r_here);
            double mm = bench_median(mc, (size_t)r_here), fc, fv;
            floors(kind == 0 ? &sumvec_bytes : &pine64_bytes, speed[kind], mm / (double)n * 1e9,
                   &fc, &fv);
            printf("{\"bench\":\"prio\",\"vdaf\":\"%s\",\"length\":%zu,\"threads\":1,"
                   "\"client_s\":%.6f,\"verify_s\":%.6f,\"reports_per_s\":%.3f,"
                   "\"leader_bytes\":%zu,\"helper_bytes\":%zu,\"public_bytes\":%zu,"
                   "\"verifier_bytes\":%zu,\"mul_chain_s\":%.6f,\"client_ratio\":%.2f,"
                   "\"verify_ratio\":%.2f,\"client_xof_floor\":%.2f,"
                   "\"verify_xof_floor\":%.2f,\"goal_met\":%s,\"runs\":%d}\n",
                   names[kind], n, cm, vm, 1.0 / vm, s.leader, s.helper, s.pub, s.verifier,
                   mm, cm / mm, vm / mm, fc, fv, cm / mm <= 3 && vm / mm <= 3 ? "true" : "false",
                   r_here);
            fflush(stdout);
        }
    }
    return 0;
}
