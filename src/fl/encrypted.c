/* Encrypted aggregation with multiparty CKKS (ckks.h) in the simulation.
 *
 * Set-up, once per federation: the key holders (owners 1..H) each draw a
 * secret s_i, publish a CKG share for a common CRS (the collective public
 * key of s = sum s_i, Mouchet et al. PETS 2021 §4.1) and deal Shamir shares
 * of s_i to the others (t-of-H, ePrint 2022/780 §4); each keeps only its
 * threshold key. The coordinator holds no key material.
 *
 * A round: each client encrypts dim + 1 values under the collective key,
 * its update (local - global) scaled by w = weight / wscale and clamped to
 * [-clip, clip], then w itself (gdn_fl_secagg_encode's layout), over
 * ceil((dim + 1) / slots) ciphertexts; the coordinator adds ciphertexts
 * only; t holders publish decryption shares with smudging noise of
 * smudge_bits; global + sum / (sum of w) is the result.
 *
 * Parameters: N = 2^13, q_0 and q_1 of 50 bits (the sum is decrypted at
 * level 1, Q ~ 2^100), a special prime of 50 bits (the context wants P at
 * least as wide as a key-switching digit, although aggregation never
 * switches keys): log2(QP) = 150, within the HE standard's 218 for N = 2^13
 * (N = 2^12 allows 109, too few for a two-prime Q and a P as wide as a
 * digit); primes below 2^50 take the IFMA kernels. The scale is
 * 2^60 / max(clip, 1), so a fresh encoding's coefficients stay below 2^61
 * (gdn_ckks_encode's limit is 2^62) and the sum of up to 2^26 clients
 * below Q / 2.
 *
 * Precision and smudging: each of the t decryption shares carries uniform
 * noise in [-2^40, 2^40] per coefficient, which hides the holder's key
 * material against the summed ciphertext's own error (largest coefficient
 * measured near 2^11.5 for 10 clients, 2^13.5 for 300, with 32 holders:
 * statistical distance about 2^-28 to 2^-26). It
 * costs about 2^-12 absolute on each decrypted coordinate of the sum
 * (measured, t = 3..6), whatever the number of clients; the mean divides
 * that by the summed weight / wscale. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fl/internal.h"
#include "guardian/ckks.h"
#include "guardian/fl.h"

#define HE_LOG_N 13
#define HE_Q0_BITS 50
#define HE_Q1_BITS 50
#define HE_P_BITS 50
#define HE_LEVEL 1
#define HE_MAX_CLIENTS (1u << 26)
/* Stream numbers under the round's stream: the k-th client of the round
 * encrypts with HE_STREAM_CLIENT + k; the i-th decrypting holder smudges
 * ciphertext b with HE_STREAM_HOLDER + b t + i. */
#define HE_STREAM_CLIENT 0x100000000ull
#define HE_STREAM_HOLDER 0x200000000ull

struct gdn_fl_he {
    gdn_ckks_ctx *ctx;
    gdn_ckks_pk *pk;       /* collective public key: all the coordinator has */
    gdn_ckks_tsk **tsk;    /* holders: holder j's threshold key (held by j) */
    unsigned holders, t, answering;
    unsigned smudge_bits;
    size_t dim, slots, nct, count;
    double wscale, clip, scale;
    gdn_ckks_ct **acc;     /* nct: the running sum (the coordinator's state) */
    gdn_ckks_ct **mine;    /* nct: one client's ciphertexts (what it sends) */
    gdn_ckks_ct *ct;       /* scratch, for sizes */
    gdn_ckks_pt *pt;
    double *x;             /* slots */
    double *sum;           /* dim + 1: the decrypted sum */
    size_t ct_bytes;       /* serialized size of one client's ciphertexts */
};

static void he_params(gdn_ckks_params *p)
{
    memset(p, 0, sizeof *p);
    p->log_n = HE_LOG_N;
    p->n_primes = 2;
    p->prime_bits[0] = HE_Q0_BITS, p->prime_bits[1] = HE_Q1_BITS;
    p->n_special = 1;
    p->special_bits[0] = HE_P_BITS;
    p->scale = 0x1p60;
}

void gdn_fl_he_free(gdn_fl_he *h)
{
    if (!h)
        return;
    for (unsigned j = 0; h->tsk && j < h->holders; j++)
        gdn_ckks_tsk_free(h->tsk[j]);
    free(h->tsk);
    for (size_t b = 0; h->acc && b < h->nct; b++)
        gdn_ckks_ct_free(h->acc[b]);
    for (size_t b = 0; h->mine && b < h->nct; b++)
        gdn_ckks_ct_free(h->mine[b]);
    free(h->acc);
    free(h->mine);
    gdn_ckks_ct_free(h->ct);
    gdn_ckks_pt_free(h->pt);
    if (h->x)
        sodium_memzero(h->x, h->slots * sizeof *h->x); /* a client's update */
    free(h->x);
    free(h->sum);
    gdn_ckks_pk_free(h->pk);
    gdn_ckks_ctx_free(h->ctx);
    free(h);
}

/* CKG and threshold dealing among the holders; each holder's randomness is
 * its own stream under rng. Secrets s_i and dealt shares are freed (wiped)
 * before returning: what stays is each holder's threshold key. */
static int he_keys(gdn_fl_he *h, gdn_rng *rng)
{
    unsigned H = h->holders;
    gdn_ckks_sk **sk = calloc(H, sizeof *sk);
    gdn_ckks_share **ckg = calloc(H, sizeof *ckg);
    gdn_ckks_share **dealt = calloc((size_t)H * H, sizeof *dealt); /* [i * H + j] */
    const gdn_ckks_share **mine = calloc(H, sizeof *mine);
    uint8_t crs[GDN_CKKS_SEED_BYTES];
    int rc = 0;

    if (!sk || !ckg || !dealt || !mine) {
        rc = gdn_error(GDN_ENOMEM, "he: out of memory for %u key holders", H);
        goto out;
    }
    gdn_rng_bytes(rng, crs, sizeof crs); /* the common reference string */
    for (unsigned i = 0; i < H && !rc; i++) {
        gdn_rng own;
        gdn_rng_derive(&own, rng, 1 + (uint64_t)i);
        if (!(rc = gdn_ckks_keygen(&sk[i], h->ctx, &own)) &&
            !(rc = gdn_ckks_ckg_share(&ckg[i], sk[i], crs, &own)))
            rc = gdn_ckks_thr_deal(dealt + (size_t)i * H, h->t, H, sk[i], &own);
        gdn_rng_wipe(&own);
    }
    if (!rc)
        rc = gdn_ckks_ckg_combine(&h->pk, h->ctx, (const gdn_ckks_share *const *)ckg, H, crs);
    for (unsigned j = 0; j < H && !rc; j++) {
        for (unsigned i = 0; i < H; i++)
            mine[i] = dealt[(size_t)i * H + j];
        rc = gdn_ckks_thr_key(&h->tsk[j], h->ctx, j + 1, h->t, mine, H);
    }
out:
    for (unsigned i = 0; sk && i < H; i++)
        gdn_ckks_sk_free(sk[i]);
    for (unsigned i = 0; ckg && i < H; i++)
        gdn_ckks_share_free(ckg[i]);
    for (size_t i = 0; dealt && i < (size_t)H * H; i++)
        gdn_ckks_share_free(dealt[i]);
    free(sk);
    free(ckg);
    free(dealt);
    free(mine);
    return rc;
}

int gdn_fl_he_new(gdn_fl_he **out, size_t dim, double wscale, double clip, unsigned holders,
                  unsigned threshold, unsigned smudge_bits, gdn_rng *rng)
{
    gdn_ckks_params p;
    gdn_fl_he *h;
    gdn_buf b = {0};
    int rc;

    *out = NULL;
    if (dim == 0 || !(wscale > 0) || !isfinite(wscale) || !(clip > 0) || !isfinite(clip) ||
        clip > 0x1p20)
        return gdn_error(GDN_EINVAL, "he: needs a dimension, a weight scale > 0 and a "
                         "clip in (0, 2^20]");
    if (holders < 2 || holders > GDN_FL_HE_MAX_HOLDERS || threshold < 2 ||
        threshold > holders)
        return gdn_error(GDN_EINVAL, "he: %u key holders with threshold %u (need 2 <= t <= "
                         "holders <= %u)", holders, threshold, GDN_FL_HE_MAX_HOLDERS);
    if (smudge_bits < 1 || smudge_bits > HE_Q0_BITS - 3)
        return gdn_error(GDN_EINVAL, "he: smudging of %u bits (1..%u)", smudge_bits,
                         HE_Q0_BITS - 3);
    if (!(h = calloc(1, sizeof *h)))
        return gdn_error(GDN_ENOMEM, "he: out of memory");
    h->dim = dim, h->wscale = wscale, h->clip = clip;
    h->holders = holders, h->t = threshold, h->answering = holders;
    h->smudge_bits = smudge_bits;
    h->scale = 0x1p60 / (clip > 1 ? clip : 1);
    he_params(&p);
    if ((rc = gdn_ckks_ctx_new(&h->ctx, &p)))
        goto fail;
    h->slots = gdn_ckks_slots(h->ctx);
    h->nct = dim / h->slots + 1; /* dim + 1 values */
    h->tsk = calloc(holders, sizeof *h->tsk);
    h->acc = calloc(h->nct, sizeof *h->acc);
    h->mine = calloc(h->nct, sizeof *h->mine);
    h->x = malloc(h->slots * sizeof *h->x);
    h->sum = malloc((dim + 1) * sizeof *h->sum);
    if (!h->tsk || !h->acc || !h->mine || !h->x || !h->sum) {
        rc = gdn_error(GDN_ENOMEM, "he: out of memory for %zu ciphertexts", h->nct);
        goto fail;
    }
    for (size_t i = 0; i < h->nct; i++)
        if ((rc = gdn_ckks_ct_new(&h->acc[i], h->ctx)) ||
            (rc = gdn_ckks_ct_new(&h->mine[i], h->ctx)))
            goto fail;
    if ((rc = gdn_ckks_ct_new(&h->ct, h->ctx)) || (rc = gdn_ckks_pt_new(&h->pt, h->ctx)) ||
        (rc = he_keys(h, rng)))
        goto fail;
    /* Bytes a client sends: its ciphertexts, each at level 1. */
    memset(h->x, 0, h->slots * sizeof *h->x);
    if ((rc = gdn_ckks_encode_real(h->pt, h->x, h->slots, HE_LEVEL, h->scale)) ||
        (rc = gdn_ckks_encrypt_pk(h->ct, h->pt, h->pk, rng)) ||
        (rc = gdn_ckks_ct_save(&b, h->ct)))
        goto fail;
    h->ct_bytes = b.len * h->nct;
    gdn_buf_free(&b);
    *out = h;
    return 0;
fail:
    gdn_buf_free(&b);
    gdn_fl_he_free(h);
    return rc;
}

size_t gdn_fl_he_client_bytes(const gdn_fl_he *h)
{
    return h->ct_bytes;
}

double gdn_fl_he_scale(const gdn_fl_he *h)
{
    return h->scale;
}

int gdn_fl_he_set_answering(gdn_fl_he *h, unsigned answering)
{
    if (answering > h->holders)
        return gdn_error(GDN_EINVAL, "he: %u holders answering of %u", answering, h->holders);
    h->answering = answering;
    return 0;
}

int gdn_fl_he_begin(gdn_fl_he *h, size_t cohort)
{
    if (cohort > HE_MAX_CLIENTS)
        return gdn_error(GDN_EINVAL, "he: a cohort of %zu exceeds %u (the sum would wrap)",
                         cohort, HE_MAX_CLIENTS);
    h->count = 0;
    return 0;
}

size_t gdn_fl_he_ciphertexts(const gdn_fl_he *h)
{
    return h->nct;
}

/* The client's side: its weighted, clamped update and weight, encrypted
 * under the collective key into h->mine (what it would send). */
int gdn_fl_he_encrypt(gdn_fl_he *h, const float *vec, const float *global, double weight,
                      gdn_rng *rng)
{
    double w = weight / h->wscale, clip = h->clip;
    int rc = 0;

    if (!(w > 0) || !(w <= 1))
        return gdn_error(GDN_EINVAL, "he: needs 0 < weight <= weight scale (weight %g, "
                         "scale %g)", weight, h->wscale);
    for (size_t b = 0; b < h->nct && !rc; b++) {
        size_t lo = b * h->slots, n = b == h->nct - 1 ? h->dim + 1 - lo : h->slots;
        for (size_t i = 0; i < n; i++) {
            size_t k = lo + i;
            double u = k < h->dim ? w * ((double)vec[k] - (double)global[k]) : w;
            if (k < h->dim) /* the weight, in (0, 1], is never clamped */
                u = u > clip ? clip : u < -clip ? -clip : u;
            h->x[i] = u;
        }
        if (!(rc = gdn_ckks_encode_real(h->pt, h->x, n, HE_LEVEL, h->scale)))
            rc = gdn_ckks_encrypt_pk(h->mine[b], h->pt, h->pk, rng);
    }
    sodium_memzero(h->x, h->slots * sizeof *h->x);
    return rc;
}

/* The coordinator's side: adds the client's ciphertexts to the sum. */
int gdn_fl_he_accumulate(gdn_fl_he *h)
{
    int rc = 0;
    for (size_t b = 0; b < h->nct && !rc; b++)
        rc = h->count ? gdn_ckks_add(h->acc[b], h->acc[b], h->mine[b])
                      : gdn_ckks_ct_copy(h->acc[b], h->mine[b]);
    if (!rc)
        h->count++;
    return rc;
}

int gdn_fl_he_add(gdn_fl_he *h, const float *vec, const float *global, double weight,
                  gdn_rng *round_rng)
{
    gdn_rng own;
    int rc;

    /* Client k's encryption randomness: in a deployment its own CSPRNG; in
     * the simulation a stream of the round's, so that runs repeat. */
    gdn_rng_derive(&own, round_rng, HE_STREAM_CLIENT + h->count);
    rc = gdn_fl_he_encrypt(h, vec, global, weight, &own);
    gdn_rng_wipe(&own);
    return rc ? rc : gdn_fl_he_accumulate(h);
}

/* Holders 1..t decrypt each summed ciphertext (each with its own smudging
 * stream); the coordinator combines the shares. */
int gdn_fl_he_finish(gdn_fl_he *h, float *out, const float *global, gdn_rng *round_rng)
{
    gdn_ckks_share **sh;
    unsigned *set, t = h->t;
    double w;
    int rc = 0;

    if (h->count == 0)
        return gdn_error(GDN_ESTATE, "he: no encrypted update this round");
    if (h->answering < t)
        return gdn_error(GDN_ESTATE, "he: threshold decryption needs %u of the %u key "
                         "holders, only %u answered; the sum stays encrypted", t,
                         h->holders, h->answering);
    sh = calloc(t, sizeof *sh);
    set = malloc(t * sizeof *set);
    if (!sh || !set) {
        free(sh);
        free(set);
        return gdn_error(GDN_ENOMEM, "he: out of memory");
    }
    for (unsigned i = 0; i < t; i++)
        set[i] = i + 1;
    for (size_t b = 0; b < h->nct && !rc; b++) {
        size_t lo = b * h->slots, n = b == h->nct - 1 ? h->dim + 1 - lo : h->slots;
        for (unsigned i = 0; i < t && !rc; i++) {
            gdn_rng own;
            gdn_rng_derive(&own, round_rng, HE_STREAM_HOLDER + (uint64_t)b * t + i);
            gdn_ckks_share_free(sh[i]);
            sh[i] = NULL;
            rc = gdn_ckks_cks_share(&sh[i], h->acc[b], h->tsk[set[i] - 1], set, t, NULL,
                                    h->smudge_bits, &own);
            gdn_rng_wipe(&own);
        }
        if (!rc && !(rc = gdn_ckks_thr_decrypt(h->pt, h->acc[b],
                                               (const gdn_ckks_share *const *)sh, t)))
            rc = gdn_ckks_decode_real(h->sum + lo, n, h->pt);
    }
    for (unsigned i = 0; i < t; i++)
        gdn_ckks_share_free(sh[i]);
    free(sh);
    free(set);
    if (rc)
        return rc;
    w = h->sum[h->dim];
    if (!(w > 0))
        return gdn_error(GDN_ESTATE, "he: the decrypted sum of weights is %g", w);
    for (size_t c = 0; c < h->dim; c++)
        out[c] = (float)((double)global[c] + h->sum[c] / w);
    return 0;
}
