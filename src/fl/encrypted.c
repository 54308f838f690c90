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

/* Block b of a client's dim + 1 values: its update scaled by w and clamped
 * to [-clip, clip], then w (never clamped), encoded at level 1 and
 * encrypted under pk. x holds slots doubles of scratch (wiped by the caller). */
static int he_encrypt_block(gdn_ckks_ct *ct, gdn_ckks_pt *pt, double *x, size_t b,
                            size_t slots, size_t dim, const float *vec, const float *global,
                            double w, double clip, double scale, const gdn_ckks_pk *pk,
                            gdn_rng *rng)
{
    size_t lo = b * slots, n = lo + slots > dim + 1 ? dim + 1 - lo : slots;
    int rc;

    for (size_t i = 0; i < n; i++) {
        size_t k = lo + i;
        double u = k < dim ? w * ((double)vec[k] - (double)global[k]) : w;
        if (k < dim) /* the weight, in (0, 1], is never clamped */
            u = u > clip ? clip : u < -clip ? -clip : u;
        x[i] = u;
    }
    if (!(rc = gdn_ckks_encode_real(pt, x, n, HE_LEVEL, scale)))
        rc = gdn_ckks_encrypt_pk(ct, pt, pk, rng);
    return rc;
}

/* Decodes the decrypted block b into sum[lo ..]. */
static int he_decode_block(double *sum, const gdn_ckks_pt *pt, size_t b, size_t slots,
                           size_t dim)
{
    size_t lo = b * slots, n = lo + slots > dim + 1 ? dim + 1 - lo : slots;
    return gdn_ckks_decode_real(sum + lo, n, pt);
}

/* global + sum / (sum of weights), the weights' sum in sum[dim]. */
static int he_mean(float *out, const double *sum, const float *global, size_t dim)
{
    double w = sum[dim];

    if (!(w > 0) || !isfinite(w))
        return gdn_error(GDN_ESTATE, "he: the decrypted sum of weights is %g", w);
    for (size_t c = 0; c < dim; c++)
        out[c] = (float)((double)global[c] + sum[c] / w);
    return 0;
}

static int he_check_weight(double weight, double wscale)
{
    double w = weight / wscale;
    if (!(w > 0) || !(w <= 1))
        return gdn_error(GDN_EINVAL, "he: needs 0 < weight <= weight scale (weight %g, "
                         "scale %g)", weight, wscale);
    return 0;
}

/* The client's side: its weighted, clamped update and weight, encrypted
 * under the collective key into h->mine (what it would send). */
int gdn_fl_he_encrypt(gdn_fl_he *h, const float *vec, const float *global, double weight,
                      gdn_rng *rng)
{
    int rc;

    if ((rc = he_check_weight(weight, h->wscale)))
        return rc;
    for (size_t b = 0; b < h->nct && !rc; b++)
        rc = he_encrypt_block(h->mine[b], h->pt, h->x, b, h->slots, h->dim, vec, global,
                              weight / h->wscale, h->clip, h->scale, h->pk, rng);
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
            rc = he_decode_block(h->sum, h->pt, b, h->slots, h->dim);
    }
    for (unsigned i = 0; i < t; i++)
        gdn_ckks_share_free(sh[i]);
    free(sh);
    free(set);
    return rc ? rc : he_mean(out, h->sum, global, h->dim);
}

/* ---- The roles between processes (serve / join --he) -------------------------
 * The same parameters, layout and arithmetic as the aggregator above, as
 * bytes: a client's update (and a summed one) travels as its ciphertexts,
 * each as le32 length || gdn_ckks_ct_save bytes; a holder's answer as its
 * decryption shares, each as le32 length || gdn_ckks_share_save bytes. */

struct gdn_fl_he_sum {
    const gdn_ckks_ctx *ctx;
    size_t dim, slots, nct, added;
    double scale;
    gdn_ckks_ct **acc, *ct;
    gdn_ckks_pt *pt;
    double *sum;
};

int gdn_fl_he_context(gdn_ckks_ctx **out)
{
    gdn_ckks_params p;

    he_params(&p);
    return gdn_ckks_ctx_new(out, &p);
}

size_t gdn_fl_he_count(const gdn_ckks_ctx *ctx, size_t dim)
{
    return dim / gdn_ckks_slots(ctx) + 1;
}

static double he_scale_of(double clip)
{
    return 0x1p60 / (clip > 1 ? clip : 1);
}

static int he_check_clip(double clip)
{
    if (!(clip > 0) || !isfinite(clip) || clip > 0x1p20)
        return gdn_error(GDN_EINVAL, "he: a clip in (0, 2^20], not %g", clip);
    return 0;
}

int gdn_fl_he_client_encrypt(gdn_buf *out, const gdn_ckks_ctx *ctx, const gdn_ckks_pk *pk,
                             const float *local, const float *global, size_t dim,
                             double weight, double wscale, double clip, gdn_rng *rng)
{
    size_t slots = gdn_ckks_slots(ctx), nct = gdn_fl_he_count(ctx, dim);
    gdn_ckks_ct *ct = NULL;
    gdn_ckks_pt *pt = NULL;
    double *x = malloc(slots * sizeof *x);
    int rc;

    if (!x)
        return gdn_error(GDN_ENOMEM, "he: out of memory");
    if (!(rc = he_check_clip(clip)) && !(rc = he_check_weight(weight, wscale)) &&
        !(rc = gdn_ckks_ct_new(&ct, ctx)))
        rc = gdn_ckks_pt_new(&pt, ctx);
    for (size_t b = 0; b < nct && !rc; b++) {
        size_t at = out->len;
        uint8_t le[4] = {0};
        if ((rc = he_encrypt_block(ct, pt, x, b, slots, dim, local, global, weight / wscale,
                                   clip, he_scale_of(clip), pk, rng)) ||
            (rc = gdn_buf_append(out, le, 4)) || (rc = gdn_ckks_ct_save(out, ct)))
            break;
        gdn_store_le32(out->data + at, (uint32_t)(out->len - at - 4));
    }
    sodium_memzero(x, slots * sizeof *x);
    free(x);
    gdn_ckks_pt_free(pt); /* held the plaintext update */
    gdn_ckks_ct_free(ct);
    return rc;
}

void gdn_fl_he_sum_free(gdn_fl_he_sum *s)
{
    if (!s)
        return;
    for (size_t b = 0; s->acc && b < s->nct; b++)
        gdn_ckks_ct_free(s->acc[b]);
    free(s->acc);
    gdn_ckks_ct_free(s->ct);
    gdn_ckks_pt_free(s->pt);
    free(s->sum);
    free(s);
}

int gdn_fl_he_sum_new(gdn_fl_he_sum **out, const gdn_ckks_ctx *ctx, size_t dim, double clip)
{
    gdn_fl_he_sum *s;
    int rc;

    *out = NULL;
    if (dim == 0 || (rc = he_check_clip(clip)))
        return dim ? rc : gdn_error(GDN_EINVAL, "he: a sum of no parameters");
    if (!(s = calloc(1, sizeof *s)))
        return gdn_error(GDN_ENOMEM, "he: out of memory");
    s->ctx = ctx, s->dim = dim, s->slots = gdn_ckks_slots(ctx);
    s->nct = gdn_fl_he_count(ctx, dim);
    s->scale = he_scale_of(clip);
    s->acc = calloc(s->nct, sizeof *s->acc);
    s->sum = malloc((dim + 1) * sizeof *s->sum);
    rc = s->acc && s->sum ? 0 : gdn_error(GDN_ENOMEM, "he: out of memory");
    for (size_t b = 0; b < s->nct && !rc; b++)
        rc = gdn_ckks_ct_new(&s->acc[b], ctx);
    if (!rc && !(rc = gdn_ckks_ct_new(&s->ct, ctx)))
        rc = gdn_ckks_pt_new(&s->pt, ctx);
    if (rc) {
        gdn_fl_he_sum_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void gdn_fl_he_sum_reset(gdn_fl_he_sum *s)
{
    s->added = 0;
}

size_t gdn_fl_he_sum_added(const gdn_fl_he_sum *s)
{
    return s->added;
}

/* Reads ciphertext b of in[*off ..] into ct: a length, then a ciphertext of
 * this context at level 1, size 2, at the layout's scale. */
static int he_read_ct(gdn_ckks_ct *ct, const gdn_fl_he_sum *s, const uint8_t *in, size_t len,
                      size_t *off, size_t b)
{
    uint32_t n;
    int rc;

    if (len - *off < 4 || (n = gdn_load_le32(in + *off)) > len - *off - 4)
        return gdn_error(GDN_EFORMAT, "he: ciphertext %zu of %zu truncated", b + 1, s->nct);
    if ((rc = gdn_ckks_ct_load(ct, in + *off + 4, n)))
        return rc;
    if (gdn_ckks_ct_level(ct) != HE_LEVEL || gdn_ckks_ct_size(ct) != 2 ||
        gdn_ckks_ct_scale(ct) != s->scale)
        return gdn_error(GDN_EFORMAT, "he: ciphertext %zu at level %u, size %u, scale 2^%g; "
                         "expected level %u, size 2, scale 2^%g", b + 1, gdn_ckks_ct_level(ct),
                         gdn_ckks_ct_size(ct), log2(gdn_ckks_ct_scale(ct)), HE_LEVEL,
                         log2(s->scale));
    *off += 4 + n;
    return 0;
}

int gdn_fl_he_sum_add(gdn_fl_he_sum *s, const uint8_t *in, size_t len)
{
    size_t off = 0;
    int rc = 0;

    if (s->added >= HE_MAX_CLIENTS)
        return gdn_error(GDN_ERANGE, "he: more than %u updates in one sum", HE_MAX_CLIENTS);
    /* parse everything first: a refused update leaves the sum as it was */
    for (size_t b = 0; b < s->nct; b++) {
        if ((rc = he_read_ct(s->ct, s, in, len, &off, b)))
            return rc;
    }
    if (off != len)
        return gdn_error(GDN_EFORMAT, "he: %zu bytes after the %zu ciphertexts", len - off,
                         s->nct);
    off = 0;
    for (size_t b = 0; b < s->nct && !rc; b++)
        if (!(rc = he_read_ct(s->ct, s, in, len, &off, b)))
            rc = s->added ? gdn_ckks_add(s->acc[b], s->acc[b], s->ct)
                          : gdn_ckks_ct_copy(s->acc[b], s->ct);
    if (!rc)
        s->added++;
    return rc;
}

int gdn_fl_he_sum_save(gdn_buf *out, const gdn_fl_he_sum *s)
{
    int rc = 0;

    for (size_t b = 0; b < s->nct && !rc; b++) {
        size_t at = out->len;
        uint8_t le[4] = {0};
        if (!(rc = gdn_buf_append(out, le, 4)) && !(rc = gdn_ckks_ct_save(out, s->acc[b])))
            gdn_store_le32(out->data + at, (uint32_t)(out->len - at - 4));
    }
    return rc;
}

int gdn_fl_he_sum_load(gdn_fl_he_sum *s, const uint8_t *in, size_t len)
{
    s->added = 0;
    return gdn_fl_he_sum_add(s, in, len);
}

int gdn_fl_he_holder_share(gdn_buf *out, const gdn_fl_he_sum *s, const gdn_ckks_tsk *tsk,
                           const unsigned *set, size_t t, unsigned smudge_bits, gdn_rng *rng)
{
    int rc = 0;

    if (!s->added)
        return gdn_error(GDN_ESTATE, "he: no ciphertexts to decrypt");
    for (size_t b = 0; b < s->nct && !rc; b++) {
        gdn_ckks_share *sh = NULL;
        size_t at = out->len;
        uint8_t le[4] = {0};
        if (!(rc = gdn_ckks_cks_share(&sh, s->acc[b], tsk, set, t, NULL, smudge_bits, rng)) &&
            !(rc = gdn_buf_append(out, le, 4)) && !(rc = gdn_ckks_share_save(out, sh)))
            gdn_store_le32(out->data + at, (uint32_t)(out->len - at - 4));
        gdn_ckks_share_free(sh);
    }
    return rc;
}

int gdn_fl_he_combine(float *out, gdn_fl_he_sum *s, const float *global,
                      const uint8_t *const *shares, const size_t *lens, size_t t)
{
    gdn_ckks_share **sh = calloc(t ? t : 1, sizeof *sh);
    size_t *off = calloc(t ? t : 1, sizeof *off);
    int rc = sh && off ? 0 : gdn_error(GDN_ENOMEM, "he: out of memory");

    if (!rc && !s->added)
        rc = gdn_error(GDN_ESTATE, "he: no ciphertexts to decrypt");
    for (size_t b = 0; b < s->nct && !rc; b++) {
        for (size_t i = 0; i < t && !rc; i++) {
            uint32_t n;
            gdn_ckks_share_free(sh[i]);
            sh[i] = NULL;
            if (lens[i] - off[i] < 4 || (n = gdn_load_le32(shares[i] + off[i])) >
                                            lens[i] - off[i] - 4)
                rc = gdn_error(GDN_EFORMAT, "he: decryption share %zu of holder %zu "
                               "truncated", b + 1, i + 1);
            else if (!(rc = gdn_ckks_share_load(&sh[i], s->ctx, shares[i] + off[i] + 4, n)))
                off[i] += 4 + n;
        }
        if (!rc && !(rc = gdn_ckks_thr_decrypt(s->pt, s->acc[b],
                                               (const gdn_ckks_share *const *)sh, t)))
            rc = he_decode_block(s->sum, s->pt, b, s->slots, s->dim);
    }
    for (size_t i = 0; !rc && i < t; i++)
        if (off[i] != lens[i])
            rc = gdn_error(GDN_EFORMAT, "he: %zu bytes after holder %zu's shares",
                           lens[i] - off[i], i + 1);
    for (size_t i = 0; sh && i < t; i++)
        gdn_ckks_share_free(sh[i]);
    free(sh);
    free(off);
    return rc ? rc : he_mean(out, s->sum, global, s->dim);
}
