/* One SecAgg+ round played in memory: the simulation's stand-in for the
 * network between the cohort and the coordinator. Every client runs the
 * client side of secagg/ on its own quantized vector, the server side
 * only ever sees protocol messages, and the result is the sum of the
 * vectors of the clients that sent their masked input. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fl/internal.h"
#include "guardian/secagg.h"

#define NEVER 4 /* drop phase of a client that stays to the end */

int gdn_fl_secagg_graph(gdn_secagg_params *p, uint32_t n, uint32_t k, uint32_t t,
                        double dropout)
{
    p->n = n;
    if (k) { /* the user's choice */
        if (k > n - 1 || t < 1 || t > k)
            return gdn_error(GDN_EINVAL, "secagg: k = %u, t = %u do not fit a cohort "
                             "of %u (need 1 <= t <= k <= n - 1)", k, t, n);
        p->k = k, p->t = t;
        return 0;
    }
    /* Bell et al.'s finder for larger cohorts; small ones use the complete
     * graph with a majority threshold (Bonawitz et al. 2017). */
    if (n >= 50 && gdn_secagg_graph_params(&p->k, &p->t, n, 0.05,
                                           dropout > 0.05 ? dropout : 0.05, 0) == 0)
        return 0;
    p->k = n - 1;
    p->t = (n - 1) / 2 + 1;
    return 0;
}

int gdn_fl_secagg_round(uint32_t *sum, uint32_t *included, uint8_t *sent,
                        const uint32_t *x, uint32_t n, uint32_t length,
                        uint32_t bits, uint32_t k, uint32_t t, double dropout,
                        gdn_rng *rng)
{
    gdn_secagg_params p;
    gdn_secagg_server *server = NULL;
    gdn_secagg_client **c = calloc(n, sizeof *c);
    uint8_t *id_sk = malloc((size_t)n * 64), *roster = malloc((size_t)n * 32);
    uint8_t *drop = malloc(n);
    gdn_buf msg = {0}, req = {0};
    int rc;

    memset(&p, 0, sizeof p);
    if (!c || !id_sk || !roster || !drop) {
        rc = gdn_error(GDN_ENOMEM, "secagg: out of memory for %u clients", n);
        goto out;
    }
    if (n < 2) {
        rc = gdn_error(GDN_ESTATE, "secagg: a round needs at least 2 clients, the "
                       "cohort has %u", n);
        goto out;
    }
    if ((rc = gdn_fl_secagg_graph(&p, n, k, t, dropout)))
        goto out;
    p.bits = bits, p.length = length;
    gdn_rng_bytes(rng, p.session, sizeof p.session);
    /* Identity keys stand for the owners' long-term keys of a deployment. */
    for (uint32_t i = 0; i < n; i++) {
        uint8_t seed[32];
        gdn_rng_bytes(rng, seed, sizeof seed);
        crypto_sign_seed_keypair(roster + 32 * (size_t)i, id_sk + 64 * (size_t)i, seed);
        sodium_memzero(seed, sizeof seed);
        /* --dropout: gone with probability P, at a phase drawn uniformly. */
        drop[i] = gdn_rng_double(rng) < dropout ? (uint8_t)gdn_rng_uniform(rng, 4) : NEVER;
        sent[i] = 0;
    }
    if ((rc = gdn_secagg_server_new(&server, &p, roster)))
        goto out;
    for (uint32_t i = 0; i < n; i++)
        if ((rc = gdn_secagg_client_new(&c[i], &p, i, id_sk + 64 * (size_t)i, roster,
                                        rng)))
            goto out;
    for (uint32_t r = 0; r < 4 && !rc; r++) {
        for (uint32_t i = 0; i < n && !rc; i++) {
            if (drop[i] <= r || !gdn_secagg_server_alive(server, i))
                continue;
            msg.len = req.len = 0;
            if (r > 0 && (rc = gdn_secagg_server_request(server, &req, i)))
                break;
            switch (r) {
            case 0: rc = gdn_secagg_client_advertise(c[i], &msg); break;
            case 1: rc = gdn_secagg_client_share_keys(c[i], &msg, req.data, req.len); break;
            case 2:
                rc = gdn_secagg_client_masked_input(c[i], &msg, req.data, req.len,
                                                    x + (size_t)i * length);
                break;
            default: rc = gdn_secagg_client_unmask(c[i], &msg, req.data, req.len); break;
            }
            if (rc == GDN_ESTATE) { /* the client aborted (too few neighbours left) */
                drop[i] = (uint8_t)r;
                rc = 0;
                continue;
            }
            if (!rc)
                rc = gdn_secagg_server_collect(server, i, msg.data, msg.len);
            if (!rc && r == 2)
                sent[i] = 1;
        }
        if (!rc)
            rc = r < 3 ? gdn_secagg_server_advance(server)
                       : gdn_secagg_server_finish(server, sum, included);
    }
out:
    gdn_buf_free(&msg);
    gdn_buf_free(&req);
    for (uint32_t i = 0; c && i < n; i++)
        gdn_secagg_client_free(c[i]);
    gdn_secagg_server_free(server);
    free(c);
    if (id_sk)
        sodium_memzero(id_sk, (size_t)n * 64); /* the owners' secret keys */
    free(id_sk);
    free(roster);
    free(drop);
    return rc;
}
