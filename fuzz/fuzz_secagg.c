/* libFuzzer target for every SecAgg+ message decoder, server and client side.
 * Input: byte 0 picks the decoder (mod 7), the rest is the message.
 *   0..3  the server collects it from client 0 in round 0..3 (advertisement,
 *         shares, masked input, unmasking answer), then the round runs on to
 *         finish with the other clients;
 *   4..6  client 0 reads it as the server's keys request, forwarded shares or
 *         unmasking request.
 * A fixed cohort (n = 5, complete graph, t = 3, fixed seeds) is replayed
 * honestly up to that point for every input. Properties: no crash or
 * sanitizer report; whatever the fuzzed message, the round either finishes
 * or fails with an error code, and an accepted client message has the size
 * the wire format gives it.
 *
 * Built with -DFUZZ_SECAGG_WRITE_SEEDS, main(dir) writes the honest message
 * of each decoder into dir (the seed corpus fuzz/corpus/fuzz_secagg/). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "guardian/secagg.h"

#define N 5
#define M 4

typedef struct cohort {
    gdn_secagg_params p;
    uint8_t id_sk[N][64], roster[N * 32];
    uint32_t x[N][M];
    gdn_secagg_client *c[N];
    gdn_secagg_server *s;
} cohort;

static int cohort_new(cohort *w)
{
    gdn_rng rng;

    memset(w, 0, sizeof *w);
    w->p.n = N, w->p.k = N - 1, w->p.t = 3, w->p.bits = 16, w->p.length = M;
    memset(w->p.session, 0x5e, sizeof w->p.session);
    gdn_rng_init_seed(&rng, 2026);
    for (int i = 0; i < N; i++) {
        uint8_t seed[32];
        gdn_rng_bytes(&rng, seed, sizeof seed);
        crypto_sign_seed_keypair(w->roster + 32 * i, w->id_sk[i], seed);
        for (int e = 0; e < M; e++)
            w->x[i][e] = gdn_rng_u32(&rng) & 0xFFFF;
    }
    if (gdn_secagg_server_new(&w->s, &w->p, w->roster))
        return -1;
    for (int i = 0; i < N; i++)
        if (gdn_secagg_client_new(&w->c[i], &w->p, (uint32_t)i, w->id_sk[i], w->roster,
                                  &rng))
            return -1;
    return 0;
}

static void cohort_free(cohort *w)
{
    for (int i = 0; i < N; i++)
        gdn_secagg_client_free(w->c[i]);
    gdn_secagg_server_free(w->s);
}

/* Client i's honest step in round r; its message is left in msg. */
static int step(cohort *w, int i, int r, gdn_buf *msg)
{
    gdn_buf req = {0};
    int rc = 0;

    msg->len = 0;
    if (r > 0 && (rc = gdn_secagg_server_request(w->s, &req, (uint32_t)i)))
        goto done;
    switch (r) {
    case 0: rc = gdn_secagg_client_advertise(w->c[i], msg); break;
    case 1: rc = gdn_secagg_client_share_keys(w->c[i], msg, req.data, req.len); break;
    case 2: rc = gdn_secagg_client_masked_input(w->c[i], msg, req.data, req.len, w->x[i]); break;
    default: rc = gdn_secagg_client_unmask(w->c[i], msg, req.data, req.len); break;
    }
done:
    gdn_buf_free(&req);
    return rc;
}

/* Rounds before r for everyone; then, when others is set, round r for
 * clients 1..N-1 (client 0's message is the fuzzed one). */
static int run_to(cohort *w, int r, int others)
{
    gdn_buf msg = {0};
    int rc = 0;

    for (int q = 0; q <= r && rc == 0; q++) {
        if (q == r && !others)
            break;
        for (int i = q == r ? 1 : 0; i < N && rc == 0; i++)
            if ((rc = step(w, i, q, &msg)) == 0)
                rc = gdn_secagg_server_collect(w->s, (uint32_t)i, msg.data, msg.len);
        if (q < r && rc == 0)
            rc = gdn_secagg_server_advance(w->s);
    }
    gdn_buf_free(&msg);
    return rc;
}

/* The rest of the round after round r, client 0 silent unless it was accepted. */
static void finish_from(cohort *w, int r)
{
    gdn_buf msg = {0};
    uint32_t sum[M], count;

    for (int q = r; q < 4; q++) {
        if (q > r)
            for (int i = 0; i < N; i++)
                if (gdn_secagg_server_alive(w->s, (uint32_t)i) &&
                    step(w, i, q, &msg) == 0)
                    gdn_secagg_server_collect(w->s, (uint32_t)i, msg.data, msg.len);
        if (q < 3 && gdn_secagg_server_advance(w->s))
            break;
        if (q == 3)
            gdn_secagg_server_finish(w->s, sum, &count);
    }
    gdn_buf_free(&msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cohort w;
    gdn_buf out = {0};
    int target, r, rc;

    if (size < 1)
        return 0;
    target = data[0] % 7;
    data++, size--;
    if (cohort_new(&w) != 0)
        abort();
    r = target < 4 ? target : target - 3;
    if (run_to(&w, r, target < 4) != 0)
        abort();
    if (target < 4) {
        rc = gdn_secagg_server_collect(w.s, 0, data, size);
        finish_from(&w, r);
        (void)rc;
    } else {
        /* client 0 reads the fuzzed request in place of the server's */
        switch (target) {
        case 4: rc = gdn_secagg_client_share_keys(w.c[0], &out, data, size); break;
        case 5: {
            static const uint32_t x[M];
            rc = gdn_secagg_client_masked_input(w.c[0], &out, data, size, x);
            break;
        }
        default: rc = gdn_secagg_client_unmask(w.c[0], &out, data, size); break;
        }
        if (rc == 0) {
            /* an accepted message yields an answer of the wire format's size */
            size_t head = 38 + 4;
            if (out.len < head)
                abort();
            if (target == 5 && out.len != head + 4 * M)
                abort();
            if (target != 5 &&
                out.len != head + (size_t)gdn_load_le32(out.data + 38) *
                                      (target == 4 ? 4 + 144 : 5 + 64))
                abort();
        } else if (out.len != 0) {
            abort(); /* a refused request leaves nothing to send */
        }
    }
    gdn_buf_free(&out);
    cohort_free(&w);
    return 0;
}

#ifdef FUZZ_SECAGG_WRITE_SEEDS
/* Writes the honest message each decoder sees, prefixed by its selector. */
int main(int argc, char **argv)
{
    static const char *const names[] = {"advertise", "shares", "input", "unmask",
                                        "keys_request", "forward", "unmask_request"};
    if (argc != 2)
        return 2;
    for (int target = 0; target < 7; target++) {
        cohort w;
        gdn_buf msg = {0};
        char path[512];
        FILE *f;
        uint8_t sel = (uint8_t)target;
        int r = target < 4 ? target : target - 3;

        if (cohort_new(&w) || run_to(&w, r, target < 4))
            return 1;
        if (target < 4 ? step(&w, 0, r, &msg) : gdn_secagg_server_request(w.s, &msg, 0))
            return 1;
        snprintf(path, sizeof path, "%s/%s", argv[1], names[target]);
        f = fopen(path, "wb");
        if (!f || fwrite(&sel, 1, 1, f) != 1 || fwrite(msg.data, 1, msg.len, f) != msg.len)
            return 1;
        fclose(f);
        gdn_buf_free(&msg);
        cohort_free(&w);
    }
    return 0;
}
#endif
