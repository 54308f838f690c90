/* SecAgg+ benchmarks, one JSON line each (docs/secagg.md):
 *
 *   secagg_prg     raw ChaCha20-IETF keystream speed of libsodium
 *                  (crypto_stream_chacha20_ietf) and of OpenSSL (EVP_chacha20,
 *                  the same keystream, which the masks use), 16 KiB calls:
 *                  the lower bound on mask expansion
 *   secagg_round   one round for n clients, vector length m, a fraction of
 *                  the clients dropping after sharing keys (before their
 *                  masked input: the costliest case for the server, which
 *                  must regenerate their pairwise masks). (k, t) come from
 *                  gdn_secagg_graph_params with gamma = 0.05 and delta = 0.05,
 *                  0.10 or 0.33 for 0%, 10% and 30% dropouts.
 *                  client_s: one client's four calls (median over 3 clients);
 *                  client_mask_s: its masked-input call alone (decrypting
 *                  the shares, k+1 mask expansions); prg_bound_s: k+1 mask
 *                  expansions at the measured libsodium PRG speed
 *                  (prg_bound_openssl_s: at OpenSSL's); server_s: every
 *                  server call of the round, one core; finish_s: the
 *                  unmasking alone.
 *
 *   build/bench/secagg [--quick] [--verify] [--runs N]
 *
 * Clients other than the timed ones send a copy of a real masked input with
 * its sender field rewritten (the server's work does not depend on the
 * values), unless --verify, when every client masks its own input and the
 * sum is checked — as it always is when n * m <= 10^7. Goals (issue 5): client
 * within 1.5x of prg_bound_s; server < 10 s for n = 1000, m = 10^6, 10%. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "guardian/core.h"
#include "guardian/secagg.h"
#include "secagg/internal.h" /* sa_client_skip_input */

#define TIMED_CLIENTS 3

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* GB/s of ChaCha20 keystream written into a buffer of len bytes, 64 MiB per
 * run, after a 64 MiB warm-up (the clock ramps up). openssl = 0: libsodium's
 * crypto_stream_chacha20_ietf; 1: OpenSSL's EVP_chacha20 (what sa_prg_add
 * uses; the same keystream). */
static double prg_gbps(size_t len, int runs, int openssl)
{
    static const uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES];
    static const uint8_t iv[16];
    uint8_t key[32] = {1};
    uint8_t *buf = calloc(len, 1), *zeros = calloc(len, 1);
    size_t reps = (64u << 20) / len;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    double t[16], g = 0;

    if (runs > 16)
        runs = 16;
    if (!buf || !zeros || !ctx || EVP_EncryptInit_ex(ctx, EVP_chacha20(), NULL, key, iv) != 1)
        goto done;
    for (int r = -1; r < runs; r++) {
        double t0 = gdn_now();
        int outl;
        for (size_t i = 0; i < reps; i++) {
            if (openssl)
                EVP_EncryptUpdate(ctx, buf, &outl, zeros, (int)len);
            else
                crypto_stream_chacha20_ietf(buf, len, nonce, key);
        }
        if (r >= 0)
            t[r] = (double)reps * len / (gdn_now() - t0) / 1e9;
    }
    g = median(t, (size_t)runs);
done:
    EVP_CIPHER_CTX_free(ctx);
    free(buf);
    free(zeros);
    return g;
}

typedef struct cfg {
    uint32_t n, m;
    double dropout;
} cfg;

static int run_round(const cfg *c, int verify_all, double gbps, double gbps_ossl)
{
    gdn_secagg_params p = {0};
    gdn_secagg_client **cl = NULL;
    gdn_secagg_server *s = NULL;
    uint8_t *id_sk = NULL, *roster = NULL, *dropped = NULL;
    uint32_t *x = NULL, *sum = NULL, *want = NULL, count, k, t, real;
    gdn_buf msg = {0}, req = {0}, stand_in = {0};
    double server_s = 0, finish_s = 0, client_t[TIMED_CLIENTS] = {0}, mask_t[TIMED_CLIENTS] = {0}, t0,
           delta;
    int rc, verified;
    gdn_rng rng;

    delta = c->dropout == 0 ? 0.05 : c->dropout < 0.2 ? 0.10 : 0.33;
    if ((rc = gdn_secagg_graph_params(&k, &t, c->n, 0.05, delta, 0)))
        return rc;
    p.n = c->n, p.k = k, p.t = t, p.length = c->m, p.bits = 32;
    gdn_rng_init_seed(&rng, 1000u + c->n);
    gdn_rng_bytes(&rng, p.session, sizeof p.session);
    real = verify_all || (uint64_t)c->n * c->m <= 10000000u ? c->n : TIMED_CLIENTS;
    verified = real == c->n;
    cl = calloc(c->n, sizeof *cl);
    id_sk = malloc((size_t)c->n * 64);
    roster = malloc((size_t)c->n * 32);
    dropped = calloc(c->n, 1);
    x = malloc((size_t)c->m * 4);
    sum = malloc((size_t)c->m * 4);
    want = calloc(c->m, 4);
    rc = GDN_ENOMEM;
    if (!cl || !id_sk || !roster || !dropped || !x || !sum || !want)
        goto done;
    for (uint32_t i = 0; i < c->n; i++) {
        uint8_t seed[32];
        gdn_rng_bytes(&rng, seed, 32);
        crypto_sign_seed_keypair(roster + 32 * (size_t)i, id_sk + 64 * (size_t)i, seed);
    }
    /* Dropouts among the clients not timed. */
    for (uint32_t d = 0, want_d = (uint32_t)(c->dropout * c->n + 0.5); d < want_d;) {
        uint32_t i = TIMED_CLIENTS + (uint32_t)gdn_rng_uniform(&rng, c->n - TIMED_CLIENTS);
        if (!dropped[i])
            dropped[i] = 1, d++;
    }
    t0 = gdn_now();
    if ((rc = gdn_secagg_server_new(&s, &p, roster)))
        goto done;
    server_s += gdn_now() - t0;
    for (uint32_t i = 0; i < c->n; i++)
        if ((rc = gdn_secagg_client_new(&cl[i], &p, i, id_sk + 64 * (size_t)i, roster,
                                        &rng)))
            goto done;
    for (int r = 0; r < 4; r++) {
        for (uint32_t i = 0; i < c->n; i++) {
            double tc;
            if (r >= 2 && dropped[i])
                continue;
            msg.len = req.len = 0;
            t0 = gdn_now();
            if (r > 0 && (rc = gdn_secagg_server_request(s, &req, i)))
                goto done;
            server_s += gdn_now() - t0;
            for (uint32_t e = 0; e < c->m; e++)
                x[e] = (uint32_t)(((uint64_t)i * 2654435761u + e) & 0xFFFF);
            tc = gdn_now();
            if (r == 0) {
                rc = gdn_secagg_client_advertise(cl[i], &msg);
            } else if (r == 1) {
                rc = gdn_secagg_client_share_keys(cl[i], &msg, req.data, req.len);
            } else if (r == 2 && i < real) {
                rc = gdn_secagg_client_masked_input(cl[i], &msg, req.data, req.len, x);
                if (rc == 0 && stand_in.len == 0)
                    rc = gdn_buf_append(&stand_in, msg.data, msg.len);
                for (uint32_t e = 0; e < c->m; e++)
                    want[e] += x[e];
            } else if (r == 2) {
                rc = sa_client_skip_input(cl[i], req.data, req.len);
                if (rc == 0)
                    rc = gdn_buf_append(&msg, stand_in.data, stand_in.len);
                if (rc == 0)
                    gdn_store_le32(msg.data + 34, i); /* sender field */
            } else {
                rc = gdn_secagg_client_unmask(cl[i], &msg, req.data, req.len);
            }
            if (rc)
                goto done;
            if (i < TIMED_CLIENTS) {
                client_t[i] += gdn_now() - tc;
                if (r == 2)
                    mask_t[i] = gdn_now() - tc;
            }
            t0 = gdn_now();
            if ((rc = gdn_secagg_server_collect(s, i, msg.data, msg.len)))
                goto done;
            server_s += gdn_now() - t0;
        }
        t0 = gdn_now();
        rc = r < 3 ? gdn_secagg_server_advance(s) : gdn_secagg_server_finish(s, sum, &count);
        if (r == 3)
            finish_s = gdn_now() - t0;
        server_s += gdn_now() - t0;
        if (rc)
            goto done;
    }
    if (verified && memcmp(sum, want, (size_t)c->m * 4) != 0) {
        rc = gdn_error(GDN_EINTERNAL, "bench: wrong sum");
        goto done;
    }
    {
        double client_s = median(client_t, TIMED_CLIENTS);
        double mask_s = median(mask_t, TIMED_CLIENTS);
        double bound = (double)(k + 1) * c->m * 4 / (gbps * 1e9);
        double bound_ossl = (double)(k + 1) * c->m * 4 / (gbps_ossl * 1e9);
        printf("{\"bench\":\"secagg_round\",\"n\":%u,\"m\":%u,\"dropout\":%.2f,\"k\":%u,"
               "\"t\":%u,\"summed\":%u,\"client_s\":%.4f,\"client_mask_s\":%.4f,"
               "\"prg_bound_s\":%.4f,\"client_over_bound\":%.3f,"
               "\"prg_bound_openssl_s\":%.4f,\"client_over_openssl_bound\":%.3f,"
               "\"server_s\":%.3f,\"finish_s\":%.3f,\"verified\":%s,\"threads\":1}\n",
               c->n, c->m, c->dropout, k, t, count, client_s, mask_s, bound,
               client_s / bound, bound_ossl, client_s / bound_ossl,
               server_s, finish_s, verified ? "true" : "false");
        fflush(stdout);
    }
    rc = 0;
done:
    for (uint32_t i = 0; cl && i < c->n; i++)
        gdn_secagg_client_free(cl[i]);
    gdn_secagg_server_free(s);
    gdn_buf_free(&msg);
    gdn_buf_free(&req);
    gdn_buf_free(&stand_in);
    free(cl);
    free(id_sk);
    free(roster);
    free(dropped);
    free(x);
    free(sum);
    free(want);
    return rc;
}

int main(int argc, char **argv)
{
    static const uint32_t ns[] = {100, 500, 1000}, ms[] = {100000, 1000000};
    static const double drops[] = {0, 0.1, 0.3};
    int quick = 0, verify = 0, runs = 5;
    double gbps, gbps_ossl;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else if (strcmp(argv[i], "--verify") == 0) {
            verify = 1;
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = (int)strtol(argv[++i], NULL, 10);
            if (runs < 1)
                runs = 1;
        } else {
            fprintf(stderr, "usage: %s [--quick] [--verify] [--runs N]\n", argv[0]);
            return 2;
        }
    }
    if (sodium_init() < 0)
        return 1;
    /* The bound: libsodium's PRG; the masks use OpenSSL's (same
     * keystream), whose bound is reported beside it. 16 KiB is the chunk
     * sa_prg_add expands at a time. */
    gbps = prg_gbps(16384, runs, 0);
    gbps_ossl = prg_gbps(16384, runs, 1);
    printf("{\"bench\":\"secagg_prg\",\"impl\":\"libsodium crypto_stream_chacha20_ietf\","
           "\"buffer_bytes\":16384,\"gb_per_s\":%.3f,\"runs\":%d}\n", gbps, runs);
    printf("{\"bench\":\"secagg_prg\",\"impl\":\"openssl EVP_chacha20\","
           "\"buffer_bytes\":16384,\"gb_per_s\":%.3f,\"runs\":%d}\n", gbps_ossl, runs);
    fflush(stdout);
    for (size_t a = 0; a < 3; a++)
        for (size_t b = 0; b < 2; b++)
            for (size_t d = 0; d < 3; d++) {
                cfg c = {ns[a], ms[b], drops[d]};
                int rc;
                if (quick && (ns[a] > 100 || ms[b] > 100000))
                    continue;
                if ((rc = run_round(&c, verify, gbps, gbps_ossl))) {
                    fprintf(stderr, "secagg bench n=%u m=%u: %s: %s\n", c.n, c.m,
                            gdn_strerror(rc), gdn_errmsg());
                    return 1;
                }
            }
    return 0;
}
