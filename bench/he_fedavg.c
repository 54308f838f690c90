/* One encrypted FedAvg round end to end (issue #7): 10 clients, a model of
 * 101,770 parameters (mlp:784-128-10), 10 key holders with threshold 6,
 * the parameters of src/fl/encrypted.c (N = 2^13, two primes, smudging of
 * 2^40). Times each phase on one core, wall clock:
 *   client_encrypt_ms   one client encoding and encrypting its update
 *   server_aggregate_ms the coordinator adding the 10 clients' ciphertexts
 *   decrypt_ms          6 holders' decryption shares, combined and decoded
 *   total_ms            the round's work in sequence (10 encryptions, the
 *                       sum, the decryption); clients encrypt in parallel
 *                       in a deployment, so the latency is lower
 * plus the one-off key set-up, the bytes a client sends, and the max abs
 * error of the decrypted mean against the plaintext one. One JSON line.
 *
 *   he_fedavg [--runs N] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "fl/internal.h"
#include "guardian/core.h"

#define CLIENTS 10
#define HOLDERS 10
#define THRESHOLD 6
#define DIM 101770 /* mlp:784-128-10: 784 x 128 + 128 + 128 x 10 + 10 */

int main(int argc, char **argv)
{
    int runs = 5;
    gdn_fl_he *h = NULL;
    gdn_rng rng, keys;
    float *global = malloc(DIM * sizeof *global), *out = malloc(DIM * sizeof *out);
    float *vec = malloc((size_t)CLIENTS * DIM * sizeof *vec);
    double *enc = NULL, *agg = NULL, *dec = NULL, *tot = NULL, setup, err = 0;
    double weight[CLIENTS], wsum = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = (int)strtol(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: he_fedavg [--runs N]\n");
            return 2;
        }
    }
    if (runs < 1 || !global || !out || !vec)
        return 2;
    enc = calloc((size_t)runs * CLIENTS, sizeof *enc);
    agg = calloc((size_t)runs, sizeof *agg);
    dec = calloc((size_t)runs, sizeof *dec);
    tot = calloc((size_t)runs, sizeof *tot);
    if (!enc || !agg || !dec || !tot)
        return 2;
    gdn_rng_init_seed(&rng, 1);
    for (size_t c = 0; c < DIM; c++)
        global[c] = (float)(0.05 * gdn_rng_normal(&rng));
    for (int k = 0; k < CLIENTS; k++) { /* updates of a local epoch's size */
        weight[k] = 500 + 50 * k;
        wsum += weight[k];
        for (size_t c = 0; c < DIM; c++)
            vec[(size_t)k * DIM + c] = global[c] + (float)(0.01 * gdn_rng_normal(&rng));
    }
    gdn_rng_init_seed(&keys, 2);
    double t0 = gdn_now();
    if (gdn_fl_he_new(&h, DIM, 1000, 1.0, HOLDERS, THRESHOLD, GDN_FL_HE_SMUDGE_BITS, &keys)) {
        fprintf(stderr, "he_fedavg: %s\n", gdn_errmsg());
        return 1;
    }
    setup = gdn_now() - t0;
    for (int r = 0; r < runs; r++) {
        gdn_rng round;
        gdn_rng_init_seed(&round, 100 + (uint64_t)r);
        if (gdn_fl_he_begin(h, CLIENTS))
            goto fail;
        for (int k = 0; k < CLIENTS; k++) {
            gdn_rng own;
            gdn_rng_derive(&own, &round, (uint64_t)k);
            t0 = gdn_now();
            int rc = gdn_fl_he_encrypt(h, vec + (size_t)k * DIM, global, weight[k], &own);
            enc[(size_t)r * CLIENTS + k] = gdn_now() - t0;
            gdn_rng_wipe(&own);
            t0 = gdn_now();
            rc = rc ? rc : gdn_fl_he_accumulate(h);
            agg[r] += gdn_now() - t0;
            if (rc)
                goto fail;
            tot[r] += enc[(size_t)r * CLIENTS + k];
        }
        t0 = gdn_now();
        if (gdn_fl_he_finish(h, out, global, &round))
            goto fail;
        dec[r] = gdn_now() - t0;
        tot[r] += agg[r] + dec[r];
        gdn_rng_wipe(&round);
    }
    for (size_t c = 0; c < DIM; c++) {
        double m = 0;
        for (int k = 0; k < CLIENTS; k++)
            m += weight[k] * (double)vec[(size_t)k * DIM + c];
        err = fmax(err, fabs((double)out[c] - m / wsum));
    }
    printf("{\"bench\":\"he_fedavg\",\"n\":8192,\"dim\":%d,\"clients\":%d,\"holders\":%d,"
           "\"threshold\":%d,\"ciphertexts\":%zu,\"setup_ms\":%.1f,\"client_encrypt_ms\":%.2f,"
           "\"server_aggregate_ms\":%.2f,\"decrypt_ms\":%.2f,\"total_ms\":%.1f,"
           "\"bytes_per_client\":%zu,\"max_abs_error\":%.3g,\"runs\":%d}\n",
           DIM, CLIENTS, HOLDERS, THRESHOLD, gdn_fl_he_ciphertexts(h), setup * 1e3,
           bench_median(enc, (size_t)runs * CLIENTS) * 1e3, bench_median(agg, (size_t)runs) * 1e3,
           bench_median(dec, (size_t)runs) * 1e3, bench_median(tot, (size_t)runs) * 1e3,
           gdn_fl_he_client_bytes(h), err, runs);
    gdn_fl_he_free(h);
    free(global);
    free(out);
    free(vec);
    free(enc);
    free(agg);
    free(dec);
    free(tot);
    return 0;
fail:
    fprintf(stderr, "he_fedavg: %s\n", gdn_errmsg());
    gdn_fl_he_free(h);
    return 1;
}
