/* Validated aggregation with PINE (prio.h) in the simulation: each client
 * shards its update (local model minus global) for two aggregators, with a
 * proof that its L2 norm is within the bound; the two aggregators, played
 * here in one process, verify every report jointly and add the shares of
 * those that pass. A report that fails verification is dropped and counted;
 * the round goes on with the others.
 *
 * Encoding: Pine64 (Field64, VDAF draft 11's XofTurboShake128, 2 proofs,
 * 100 wraparound checks, alpha 8.7). A coordinate u becomes the integer
 * round(u 2^f) (ties to even) mod p, with f = min(24, 30 - ceil(log2 B)) so
 * that the encoded bound B 2^f stays below 2^30 (the squared bound, below
 * 2^60, then fits Field64 with the room PINE's range checks need). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fl/internal.h"
#include "guardian/fl.h"
#include "guardian/prio.h"

#define VERIFY_KEY_MAX 32

struct gdn_fl_prio {
    gdn_fl_pine *pine;             /* the instance, and one update's room */
    size_t cap, count, rejected;
    gdn_buf *pub, *leader, *helper; /* cap reports each */
    uint8_t (*nonce)[GDN_PRIO3_NONCE_BYTES];
    uint8_t *ok;                   /* the client could shard its report */
};

static unsigned frac_bits_for(double bound)
{
    int e = (int)ceil(log2(bound));
    int f = 30 - e;
    return (unsigned)(f > 24 ? 24 : f < 0 ? 0 : f);
}

double gdn_fl_prio_clip_norm(double bound, size_t dim)
{
    /* Rounding each coordinate moves the encoded norm by at most sqrt(d)/2
     * units of 2^-f; float arithmetic by a relative 1e-5 at most. */
    double unit = ldexp(1.0, -(int)frac_bits_for(bound));
    return bound * (1 - 1e-5) - sqrt((double)dim) * unit;
}

/* The PINE instance of (dim, bound), the same in the simulation, the
 * owners and both networked aggregators. */
static int pine_for(gdn_pine **out, unsigned *frac, size_t dim, double bound)
{
    gdn_pine_params pp = {0};
    *out = NULL;
    if (!(bound > 0) || !isfinite(bound) || bound > 1e6 || dim == 0)
        return gdn_error(GDN_EINVAL, "prio: the norm bound must be in (0, 1e6], got %g",
                         bound);
    *frac = frac_bits_for(bound);
    pp.variant = GDN_PINE64, pp.num_shares = 2, pp.dimension = dim;
    pp.num_frac_bits = *frac;
    pp.l2_norm_bound = (uint64_t)floor(ldexp(bound, (int)*frac));
    pp.chunk_length_norm_equality = (size_t)sqrt((double)dim) + 1;
    pp.chunk_length = 48; /* ~ sqrt of the bit-checked length (~ 100 x 22) */
    if (pp.l2_norm_bound < 1024 || gdn_fl_prio_clip_norm(bound, dim) <= 0)
        return gdn_error(GDN_EINVAL, "prio: the norm bound %g is too small to encode %zu "
                         "coordinates with %u fractional bits", bound, dim, *frac);
    return gdn_pine_new(out, &pp);
}

struct gdn_fl_pine {
    gdn_pine *vdaf;
    size_t dim;
    double bound;
    unsigned frac_bits;
    double *u; /* dim */
};

int gdn_fl_pine_new(gdn_fl_pine **out, size_t dim, double bound)
{
    gdn_fl_pine *p = calloc(1, sizeof *p);
    int rc;
    *out = NULL;
    if (!p)
        return GDN_ENOMEM;
    p->dim = dim, p->bound = bound;
    rc = pine_for(&p->vdaf, &p->frac_bits, dim, bound);
    if (!rc && !(p->u = malloc(dim * sizeof *p->u)))
        rc = GDN_ENOMEM;
    if (rc) {
        gdn_fl_pine_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void gdn_fl_pine_free(gdn_fl_pine *p)
{
    if (!p)
        return;
    gdn_pine_free(p->vdaf);
    free(p->u);
    free(p);
}

int gdn_fl_prio_new(gdn_fl_prio **out, size_t dim, double bound)
{
    gdn_fl_prio *p;
    int rc;
    *out = NULL;
    p = calloc(1, sizeof *p);
    if (!p)
        return GDN_ENOMEM;
    if ((rc = gdn_fl_pine_new(&p->pine, dim, bound))) {
        gdn_fl_prio_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

static void free_reports(gdn_fl_prio *p)
{
    for (size_t i = 0; i < p->cap; i++) {
        gdn_buf_free(&p->pub[i]);
        gdn_buf_free(&p->leader[i]);
        gdn_buf_free(&p->helper[i]);
    }
    free(p->pub), free(p->leader), free(p->helper), free(p->nonce), free(p->ok);
    p->pub = p->leader = p->helper = NULL, p->nonce = NULL, p->ok = NULL;
    p->cap = 0;
}

void gdn_fl_prio_free(gdn_fl_prio *p)
{
    if (!p)
        return;
    free_reports(p);
    gdn_fl_pine_free(p->pine);
    free(p);
}

unsigned gdn_fl_prio_frac_bits(const gdn_fl_prio *p) { return p->pine->frac_bits; }

int gdn_fl_prio_begin(gdn_fl_prio *p, size_t cohort)
{
    if (cohort > p->cap) {
        free_reports(p);
        p->pub = calloc(cohort, sizeof *p->pub);
        p->leader = calloc(cohort, sizeof *p->leader);
        p->helper = calloc(cohort, sizeof *p->helper);
        p->nonce = calloc(cohort, sizeof *p->nonce);
        p->ok = calloc(cohort, 1);
        if (!p->pub || !p->leader || !p->helper || !p->nonce || !p->ok) {
            free_reports(p);
            return gdn_error(GDN_ENOMEM, "prio: out of memory for %zu reports", cohort);
        }
        p->cap = cohort;
    }
    p->count = 0;
    p->rejected = 0;
    return 0;
}

/* One report of u (dim doubles): shard; an update over the bound is
 * refused by the library, and goes out forged when `forge` (an attacker:
 * honest clients clip first), for the aggregators to catch. Returns 0,
 * GDN_ERANGE / GDN_ESTATE (cannot even be encoded: not sent), or an error. */
static int shard_report(const gdn_pine *v, gdn_buf *pub, gdn_buf in[2], const double *u,
                        size_t dim, const uint8_t nonce[GDN_PRIO3_NONCE_BYTES], int forge,
                        gdn_rng *rng)
{
    int rc = gdn_pine_shard(v, pub, in, u, dim, nonce, rng);
    if (rc == GDN_ERANGE && forge) { /* over the bound: the attacker forges */
        size_t n = gdn_pine_rand_size(v);
        uint8_t *coins = malloc(n);
        if (!coins)
            return GDN_ENOMEM;
        in[0].len = in[1].len = 0, pub->len = 0;
        gdn_rng_bytes(rng, coins, n);
        rc = gdn_pine_shard_with_rand(v, pub, in, u, dim, nonce, coins, n,
                                      GDN_PINE_SHARD_FORGE_NORM);
        sodium_memzero(coins, n);
        free(coins);
    }
    return rc;
}

/* The client's side: shard u = vec - global. A client whose update exceeds
 * the bound would be refused by the library; in the simulation it can only
 * be an attacker (honest clients clip first), which forges its encoding
 * so that the report goes out anyway, and the aggregators must catch it. */
int gdn_fl_prio_add(gdn_fl_prio *p, const float *vec, const float *global, gdn_rng *rng)
{
    size_t i = p->count;
    gdn_buf in[2];
    int rc;
    if (i >= p->cap)
        return gdn_error(GDN_ESTATE, "prio: more reports than the cohort");
    for (size_t c = 0; c < p->pine->dim; c++)
        p->pine->u[c] = (double)vec[c] - (double)global[c];
    gdn_rng_bytes(rng, p->nonce[i], GDN_PRIO3_NONCE_BYTES);
    p->pub[i].len = p->leader[i].len = p->helper[i].len = 0;
    in[0] = p->leader[i], in[1] = p->helper[i];
    rc = shard_report(p->pine->vdaf, &p->pub[i], in, p->pine->u, p->pine->dim, p->nonce[i], 1,
                      rng);
    p->leader[i] = in[0], p->helper[i] = in[1];
    /* A report that cannot even be encoded (entries beyond 2^62 units) is
     * not sent: it is dropped like a rejected one. */
    p->ok[i] = rc == 0;
    if (rc && rc != GDN_ERANGE && rc != GDN_ESTATE)
        return rc;
    gdn_error_clear();
    p->count++;
    return 0;
}

/* out = global + u / accepted, in the simulation's arithmetic. */
static void apply_mean(float *out, const float *global, const double *u, size_t dim,
                       size_t accepted)
{
    for (size_t c = 0; c < dim; c++)
        out[c] = (float)((double)global[c] + u[c] / (double)accepted);
}

/* The two aggregators: for each report, the draft's ping-pong exchange
 * (the leader's `initialize`, the helper's `finish`), then the output
 * shares of the valid ones are added; unshard at the end. out = global +
 * mean accepted update (global when every report was rejected). */
int gdn_fl_prio_finish(gdn_fl_prio *p, float *out, const float *global, gdn_rng *rng,
                       size_t *rejected)
{
    const gdn_pine *v = p->pine->vdaf;
    size_t os = gdn_pine_out_share_size(v), accepted = 0;
    uint8_t key[VERIFY_KEY_MAX];
    uint8_t *agg[2] = {calloc(1, os), calloc(1, os)};
    gdn_pingpong_state lead = {0}, help = {0};
    int rc = 0;
    if (!agg[0] || !agg[1]) {
        rc = GDN_ENOMEM;
        goto done;
    }
    /* The verification key the two aggregators share for the round. */
    gdn_rng_bytes(rng, key, gdn_pine_verify_key_size(v));
    p->rejected = 0;
    for (size_t i = 0; i < p->count; i++) {
        int r = p->ok[i] ? 0 : GDN_ERANGE;
        const uint8_t *nonce = p->nonce[i], *ps = p->pub[i].data;
        size_t ps_len = p->pub[i].len;
        if (!r)
            r = gdn_pingpong_pine_leader_init(&lead, v, key, nonce, ps, ps_len,
                                              p->leader[i].data, p->leader[i].len);
        if (!r) /* the leader's `initialize` goes to the helper */
            r = gdn_pingpong_pine_helper_init(&help, v, key, nonce, ps, ps_len,
                                              p->helper[i].data, p->helper[i].len,
                                              lead.outbound.data, lead.outbound.len);
        if (!r) /* the helper's `finish` comes back */
            r = gdn_pingpong_pine_continued(&lead, v, help.outbound.data, help.outbound.len);
        if (!r)
            r = gdn_pine_aggregate(v, agg[0], lead.out_share.data, lead.out_share.len);
        if (!r)
            r = gdn_pine_aggregate(v, agg[1], help.out_share.data, help.out_share.len);
        if (r == GDN_ENOMEM || r == GDN_EINTERNAL) {
            rc = r;
            goto done;
        }
        if (r) {
            p->rejected++;
            gdn_error_clear();
        } else {
            accepted++;
        }
    }
    if (accepted == 0) {
        memcpy(out, global, p->pine->dim * sizeof *out);
    } else {
        const uint8_t *ptr[2] = {agg[0], agg[1]};
        size_t lens[2] = {os, os};
        if ((rc = gdn_pine_unshard(v, p->pine->u, p->pine->dim, ptr, lens, 2)))
            goto done;
        apply_mean(out, global, p->pine->u, p->pine->dim, accepted);
    }
    *rejected = p->rejected;
done:
    gdn_pingpong_state_free(&lead);
    gdn_pingpong_state_free(&help);
    free(agg[0]);
    free(agg[1]);
    return rc;
}

/* ---- The same pieces for aggregators in separate processes ---------------------
 * An owner shards (gdn_fl_pine_shard), the leader and the helper each verify
 * their share of a report with the ping-pong exchange and add the output
 * shares of the reports both accept, the leader unshards. Bytes in, bytes
 * out: the transport is the caller's (net/). */


size_t gdn_fl_pine_size(const gdn_fl_pine *p, gdn_fl_pine_part part)
{
    switch (part) {
    case GDN_FL_PINE_PUBLIC:
        return gdn_pine_public_share_size(p->vdaf);
    case GDN_FL_PINE_LEADER:
        return gdn_pine_input_share_size(p->vdaf, 0);
    case GDN_FL_PINE_HELPER:
        return gdn_pine_input_share_size(p->vdaf, 1);
    case GDN_FL_PINE_AGGREGATE:
        return gdn_pine_out_share_size(p->vdaf);
    case GDN_FL_PINE_VERIFY_KEY:
        return gdn_pine_verify_key_size(p->vdaf);
    }
    return 0;
}

size_t gdn_fl_pine_dimension(const gdn_fl_pine *p) { return p->dim; }
double gdn_fl_pine_bound(const gdn_fl_pine *p) { return p->bound; }

void gdn_fl_prio_clip_update(float *x, const float *g, size_t dim, double bound)
{
    double ss = 0, clip = gdn_fl_prio_clip_norm(bound, dim);
    for (size_t i = 0; i < dim; i++) {
        double d = (double)x[i] - (double)g[i];
        ss += d * d;
    }
    if (!(sqrt(ss) > clip))
        return;
    double f = clip / sqrt(ss);
    for (size_t i = 0; i < dim; i++)
        x[i] = (float)((double)g[i] + f * ((double)x[i] - (double)g[i]));
}

void gdn_fl_attack_update(float *x, const float *g, size_t dim, double scale)
{
    float a = (float)scale;
    for (size_t i = 0; i < dim; i++)
        x[i] = g[i] + a * (x[i] - g[i]);
}

int gdn_fl_pine_shard(gdn_fl_pine *p, gdn_buf *pub, gdn_buf *leader, gdn_buf *helper,
                      uint8_t nonce[GDN_FL_PINE_NONCE_BYTES], const float *local,
                      const float *global, int forge, gdn_rng *rng)
{
    gdn_buf in[2] = {*leader, *helper};
    int rc;
    for (size_t c = 0; c < p->dim; c++)
        p->u[c] = (double)local[c] - (double)global[c];
    gdn_rng_bytes(rng, nonce, GDN_FL_PINE_NONCE_BYTES);
    pub->len = in[0].len = in[1].len = 0;
    rc = shard_report(p->vdaf, pub, in, p->u, p->dim, nonce, forge, rng);
    *leader = in[0], *helper = in[1];
    sodium_memzero(p->u, p->dim * sizeof *p->u);
    return rc;
}

int gdn_fl_pine_leader_init(const gdn_fl_pine *p, gdn_buf *outbound, gdn_buf *state,
                            const uint8_t *key, const uint8_t nonce[GDN_FL_PINE_NONCE_BYTES],
                            const uint8_t *pub, size_t pub_len, const uint8_t *share,
                            size_t share_len)
{
    gdn_pingpong_state st = {0};
    int rc = gdn_pingpong_pine_leader_init(&st, p->vdaf, key, nonce, pub, pub_len, share,
                                           share_len);
    if (!rc)
        rc = gdn_buf_append(outbound, st.outbound.data, st.outbound.len);
    if (!rc)
        rc = gdn_buf_append(state, st.verify_state.data, st.verify_state.len);
    gdn_pingpong_state_free(&st);
    return rc;
}

int gdn_fl_pine_helper_verify(const gdn_fl_pine *p, gdn_buf *outbound, gdn_buf *out_share,
                              const uint8_t *key,
                              const uint8_t nonce[GDN_FL_PINE_NONCE_BYTES],
                              const uint8_t *pub, size_t pub_len, const uint8_t *share,
                              size_t share_len, const uint8_t *inbound, size_t inbound_len)
{
    gdn_pingpong_state st = {0};
    int rc = gdn_pingpong_pine_helper_init(&st, p->vdaf, key, nonce, pub, pub_len, share,
                                           share_len, inbound, inbound_len);
    if (!rc)
        rc = gdn_buf_append(outbound, st.outbound.data, st.outbound.len);
    if (!rc)
        rc = gdn_buf_append(out_share, st.out_share.data, st.out_share.len);
    gdn_pingpong_state_free(&st);
    return rc;
}

int gdn_fl_pine_leader_finish(const gdn_fl_pine *p, gdn_buf *out_share, const uint8_t *state,
                              size_t state_len, const uint8_t *inbound, size_t inbound_len)
{
    gdn_pingpong_state st = {0};
    int rc;
    st.status = GDN_PINGPONG_CONTINUED;
    if ((rc = gdn_buf_append(&st.verify_state, state, state_len)))
        return rc;
    rc = gdn_pingpong_pine_continued(&st, p->vdaf, inbound, inbound_len);
    if (!rc)
        rc = gdn_buf_append(out_share, st.out_share.data, st.out_share.len);
    gdn_pingpong_state_free(&st);
    return rc;
}

int gdn_fl_pine_aggregate(const gdn_fl_pine *p, uint8_t *agg, const uint8_t *out_share,
                          size_t len)
{
    return gdn_pine_aggregate(p->vdaf, agg, out_share, len);
}

int gdn_fl_pine_unshard(gdn_fl_pine *p, float *out, const float *global,
                        const uint8_t *agg_leader, const uint8_t *agg_helper, size_t accepted)
{
    size_t os = gdn_pine_out_share_size(p->vdaf);
    const uint8_t *ptr[2] = {agg_leader, agg_helper};
    size_t lens[2] = {os, os};
    int rc;
    if (accepted == 0) {
        memcpy(out, global, p->dim * sizeof *out);
        return 0;
    }
    if ((rc = gdn_pine_unshard(p->vdaf, p->u, p->dim, ptr, lens, 2)))
        return rc;
    apply_mean(out, global, p->u, p->dim, accepted);
    return 0;
}
