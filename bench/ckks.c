/* CKKS benchmarks, one thread, one JSON line per operation (docs/ckks.md):
 *
 *   {"bench":"ckks_<op>","n":8192,"log_q":218,"dnum":4,"median_us":..,"runs":..,
 *    "seal_us":..}
 *
 * at the parameters of Microsoft SEAL's sealbench (ANCHORS.md): N = 2^13
 * with primes {43, 43, 44, 44} and special prime 44 (log QP = 218), N = 2^14
 * with {48 x 3, 49 x 5} and special 49 (438), one digit per prime as SEAL
 * does; plus a hybrid variant at N = 2^14 (two special primes, 4 digits; one
 * level fewer). Ciphertexts are at the top level, as in sealbench.
 * seal_us is SEAL 4.1's figure from ANCHORS.md (Apple M1 Pro, no HEXL).
 * median_us is wall-clock time; cpu_us the thread's CPU time (the fairer
 * figure when other jobs share the cores); vs_seal = seal_us / cpu_us.
 * Each operation runs with the AVX-512 IFMA paths when the CPU has them
 * ("simd":"avx512ifma"), with the 64-bit AVX-512 NTT only ("avx512"), and
 * with the portable code ("scalar").
 *
 *   build/bench/ckks [--runs N] [--quick]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "guardian/ckks.h"
#include "guardian/core.h"
#include "he/he_internal.h"

typedef struct {
    const char *name;
    unsigned log_n, nq, bits[16], np, special[4], dnum;
    double seal[10]; /* ntt encode encrypt decrypt add mul relin rescale rotate */
} config;

enum { NTT, ENCODE, ENCRYPT, DECRYPT, ADD, MUL, RELIN, RESCALE, ROTATE };

static const config configs[] = {
    {"seal", 13, 4, {43, 43, 44, 44}, 1, {44}, 0,
     {44, 413, 2483, 99, 54, 265, 1936, 444, 1999}},
    {"seal", 14, 8, {48, 48, 48, 49, 49, 49, 49, 49}, 1, {49}, 0,
     {94, 1444, 8211, 392, 224, 1035, 12391, 2027, 12528}},
    {"hybrid", 14, 7, {48, 48, 48, 49, 49, 49, 49}, 2, {49, 49}, 4,
     {94, 1444, 8211, 392, 224, 1035, 12391, 2027, 12528}},
};

static int runs_default = 30;

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void emit(const gdn_ckks_ctx *c, const config *cf, const char *op, int simd,
                 const double *t, const double *tc, int runs, double seal)
{
    gdn_buf out = {0};
    double med = bench_median(t, (size_t)runs) * 1e6, cpu = bench_median(tc, (size_t)runs) * 1e6;
    gdn_buf_printf(&out,
                   "{\"bench\":\"ckks_%s\",\"params\":\"%s\",\"n\":%zu,\"log_qp\":%.0f,"
                   "\"levels\":%u,\"dnum\":%u,\"simd\":\"%s\",\"median_us\":%.1f,"
                   "\"cpu_us\":%.1f,\"runs\":%d",
                   op, cf->name, gdn_ckks_n(c), gdn_ckks_log_qp(c), gdn_ckks_max_level(c) + 1,
                   gdn_ckks_dnum(c), simd == 2 ? "avx512ifma" : simd ? "avx512" : "scalar", med,
                   cpu, runs);
    if (seal > 0)
        gdn_buf_printf(&out, ",\"seal_us\":%.0f,\"vs_seal\":%.2f", seal, seal / cpu);
    gdn_buf_printf(&out, "}\n");
    fwrite(out.data, 1, out.len, stdout);
    fflush(stdout);
    gdn_buf_free(&out);
}

#define TIME(op, seal, body)                                                   \
    do {                                                                       \
        for (int r_ = -2; r_ < runs; r_++) {                                   \
            double t0_ = gdn_now(), c0_ = cpu_now();                           \
            body;                                                              \
            if (r_ >= 0) {                                                     \
                t[r_] = gdn_now() - t0_;                                       \
                tc[r_] = cpu_now() - c0_;                                      \
            }                                                                  \
        }                                                                      \
        emit(c, cf, op, simd, t, tc, runs, seal);                              \
    } while (0)

static int run(const config *cf, int runs, int simd)
{
    gdn_ckks_params p = {0};
    gdn_ckks_ctx *c = NULL;
    gdn_ckks_sk *sk = NULL;
    gdn_ckks_pk *pk = NULL;
    gdn_ckks_swk *rlk = NULL;
    gdn_ckks_gk *gk = NULL;
    gdn_ckks_pt *pt = NULL;
    gdn_ckks_ct *a = NULL, *b = NULL, *r = NULL, *m3 = NULL, *h[8] = {NULL};
    gdn_rng rng;
    double *t = malloc((size_t)runs * sizeof *t), *tc = malloc((size_t)runs * sizeof *tc);
    int steps[8] = {1, 2, 3, 4, 5, 6, 7, 8};

    p.log_n = cf->log_n, p.n_primes = cf->nq, p.n_special = cf->np, p.dnum = cf->dnum;
    memcpy(p.prime_bits, cf->bits, sizeof cf->bits);
    memcpy(p.special_bits, cf->special, sizeof cf->special);
    p.scale = 0x1p40;
    gdn_rng_init_seed(&rng, 1);
    he_set_simd(simd);
    if (!t || gdn_ckks_ctx_new(&c, &p) || gdn_ckks_keygen(&sk, c, &rng) ||
        gdn_ckks_pk_gen(&pk, sk, &rng) || gdn_ckks_rlk_gen(&rlk, sk, &rng) ||
        gdn_ckks_galois_gen(&gk, steps, 8, 0, sk, &rng) || gdn_ckks_pt_new(&pt, c) ||
        gdn_ckks_ct_new(&a, c) || gdn_ckks_ct_new(&b, c) || gdn_ckks_ct_new(&r, c) ||
        gdn_ckks_ct_new(&m3, c) || !tc) {
        fprintf(stderr, "ckks bench: %s\n", gdn_errmsg());
        return 1;
    }
    for (int i = 0; i < 8; i++)
        gdn_ckks_ct_new(&h[i], c);
    size_t nh = gdn_ckks_slots(c);
    unsigned top = gdn_ckks_max_level(c);
    double *x = malloc(nh * sizeof *x);
    for (size_t j = 0; j < nh; j++)
        x[j] = gdn_rng_double(&rng);
    uint64_t *poly = gdn_alloc_aligned(gdn_ckks_n(c) * 8);
    for (size_t j = 0; j < gdn_ckks_n(c); j++)
        poly[j] = gdn_rng_uniform(&rng, c->ntt[0].m.q);

    TIME("ntt", cf->seal[NTT], he_ntt_forward(&c->ntt[0], poly));
    TIME("intt", 0, he_ntt_inverse(&c->ntt[0], poly));
    TIME("encode", cf->seal[ENCODE], gdn_ckks_encode(pt, x, NULL, nh, top, 0x1p40));
    TIME("encrypt_pk", cf->seal[ENCRYPT], gdn_ckks_encrypt_pk(a, pt, pk, &rng));
    TIME("encrypt_sk", 0, gdn_ckks_encrypt_sk(b, pt, sk, &rng));
    gdn_ckks_encrypt_pk(b, pt, pk, &rng);
    TIME("decrypt", cf->seal[DECRYPT], gdn_ckks_decrypt(pt, a, sk));
    TIME("decode", 0, gdn_ckks_decode(x, NULL, nh, pt));
    TIME("add", cf->seal[ADD], gdn_ckks_add(r, a, b));
    TIME("mul", cf->seal[MUL], gdn_ckks_mul(r, a, b));
    gdn_ckks_mul(m3, a, b);
    TIME("relinearize", cf->seal[RELIN], gdn_ckks_relinearize(r, m3, rlk));
    TIME("mul_relin_rescale", 0, {
        gdn_ckks_mul_relin(r, a, b, rlk);
        gdn_ckks_rescale(r, r);
    });
    TIME("rescale", cf->seal[RESCALE], gdn_ckks_rescale(r, a));
    TIME("rotate", cf->seal[ROTATE], gdn_ckks_rotate(r, a, 1, gk));
    TIME("rotate_hoisted8", 0, gdn_ckks_rotate_hoisted(h, a, steps, 8, gk));
    TIME("copy", 0, gdn_ckks_ct_copy(r, a));

    for (int i = 0; i < 8; i++)
        gdn_ckks_ct_free(h[i]);
    gdn_ckks_ct_free(a), gdn_ckks_ct_free(b), gdn_ckks_ct_free(r), gdn_ckks_ct_free(m3);
    gdn_ckks_pt_free(pt);
    gdn_ckks_gk_free(gk);
    gdn_ckks_swk_free(rlk);
    gdn_ckks_pk_free(pk);
    gdn_ckks_sk_free(sk);
    gdn_ckks_ctx_free(c);
    gdn_free_aligned(poly);
    free(x);
    free(t);
    free(tc);
    return 0;
}

int main(int argc, char **argv)
{
    int runs = runs_default, quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = (int)strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else {
            fprintf(stderr, "usage: ckks [--runs N] [--quick]\n");
            return 2;
        }
    }
    if (runs < 1)
        runs = 1;
    int max_simd = he_set_simd(2);
    for (size_t i = 0; i < sizeof configs / sizeof *configs; i++) {
        if (quick && i > 0)
            break;
        for (int s = max_simd; s >= 0; s--)
            if (run(&configs[i], runs, s))
                return 1;
    }
    return 0;
}
