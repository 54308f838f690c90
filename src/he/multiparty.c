/* he: multiparty CKKS. Collective public key generation and collective key
 * switching follow Mouchet, Troncoso-Pastoriza, Bossuat, Hubaux, "Multiparty
 * homomorphic encryption from ring-learning-with-errors", PETS 2021, §4.1-4.2
 * (protocols CKG and CKS); the t-of-n access structure re-shares each s_i
 * with Shamir's scheme over R_QP and turns any t shares into additive ones
 * with Lagrange coefficients at 0 (Mouchet et al., "An efficient threshold
 * access-structure for RLWE-based multiparty homomorphic encryption", ePrint
 * 2022/780, §4). Shamir over R_QP is Shamir over each Z_q, coefficient-wise,
 * so it runs on the NTT images. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "he/he_internal.h"

struct gdn_ckks_share {
    const gdn_ckks_ctx *ctx;
    unsigned count; /* primes 0..count-1 of the context */
    unsigned polys; /* 1, or 2 for public-key switching */
    int secret;     /* sodium_malloc, wiped when freed */
    uint64_t *data;
};

struct gdn_ckks_tsk {
    const gdn_ckks_ctx *ctx;
    unsigned j, t;
    uint64_t *ntt; /* Shamir share of s at x = j, all primes (sodium_malloc) */
};

int he_share_alloc(gdn_ckks_share **out, const gdn_ckks_ctx *ctx, unsigned count,
                   unsigned polys, int secret)
{
    gdn_ckks_share *sh = calloc(1, sizeof *sh);
    size_t sz = (size_t)polys * count * ctx->n * 8;
    *out = NULL;
    if (!sh)
        return GDN_ENOMEM;
    sh->ctx = ctx;
    sh->count = count;
    sh->polys = polys;
    sh->secret = secret;
    sh->data = secret ? sodium_malloc(sz) : gdn_alloc_aligned(sz);
    if (!sh->data) {
        free(sh);
        return GDN_ENOMEM;
    }
    *out = sh;
    return 0;
}

void gdn_ckks_share_free(gdn_ckks_share *sh)
{
    if (!sh)
        return;
    if (sh->secret)
        sodium_free(sh->data);
    else
        gdn_free_aligned(sh->data);
    free(sh);
}

const gdn_ckks_ctx *he_share_ctx(const gdn_ckks_share *sh) { return sh->ctx; }
unsigned he_share_count(const gdn_ckks_share *sh) { return sh->count; }
unsigned he_share_polys(const gdn_ckks_share *sh) { return sh->polys; }
int he_share_secret(const gdn_ckks_share *sh) { return sh->secret; }
uint64_t *he_share_data(gdn_ckks_share *sh) { return sh->data; }
const uint64_t *he_share_cdata(const gdn_ckks_share *sh) { return sh->data; }

/* ---- CKG -------------------------------------------------------------------- */

int gdn_ckks_ckg_share(gdn_ckks_share **out, const gdn_ckks_sk *sk,
                       const uint8_t crs[GDN_CKKS_SEED_BYTES], gdn_rng *rng)
{
    const gdn_ckks_ctx *c = sk->ctx;
    unsigned total = c->nq + c->np;
    size_t n = c->n;
    uint64_t *a = gdn_alloc_aligned((size_t)total * n * 8);
    int64_t *e = malloc(n * sizeof *e);
    int rc = a && e ? he_share_alloc(out, c, total, 1, 0) : GDN_ENOMEM;
    if (!rc) {
        he_sample_uniform(a, c, 0, total, crs, 0);
        he_sample_error(e, n, rng);
        for (unsigned i = 0; i < total; i++) {
            const he_mod *m = &c->ntt[i].m;
            uint64_t *o = (*out)->data + (size_t)i * n;
            const uint64_t *s = sk->ntt + (size_t)i * n, *ai = a + (size_t)i * n;
            he_small_to_ntt(o, c, e, i, 1);
            for (size_t k = 0; k < n; k++)
                o[k] = he_sub(o[k], he_mul(ai[k], s[k], m), m->q);
        }
        sodium_memzero(e, n * sizeof *e);
    }
    gdn_free_aligned(a);
    free(e);
    return rc;
}

static int check_shares(const gdn_ckks_ctx *c, const gdn_ckks_share *const *sh, size_t count,
                        unsigned want, unsigned polys, const char *what)
{
    if (count == 0 || count > GDN_CKKS_MAX_PARTIES)
        return gdn_error(GDN_EINVAL, "ckks %s: %zu shares, expected 1..%d", what, count,
                         GDN_CKKS_MAX_PARTIES);
    for (size_t i = 0; i < count; i++) {
        if (sh[i]->ctx != c)
            return gdn_error(GDN_EINVAL, "ckks %s: share %zu is of another context", what, i);
        if (sh[i]->count != want || sh[i]->polys != polys)
            return gdn_error(GDN_EINVAL,
                             "ckks %s: share %zu has %u x %u primes, expected %u x %u "
                             "(another protocol or level)",
                             what, i, sh[i]->polys, sh[i]->count, polys, want);
    }
    return 0;
}

int gdn_ckks_ckg_combine(gdn_ckks_pk **out, const gdn_ckks_ctx *c,
                         const gdn_ckks_share *const *shares, size_t n,
                         const uint8_t crs[GDN_CKKS_SEED_BYTES])
{
    unsigned total = c->nq + c->np;
    int rc;
    *out = NULL;
    if ((rc = check_shares(c, shares, n, total, 1, "ckg_combine")) || (rc = he_pk_alloc(out, c)))
        return rc;
    gdn_ckks_pk *pk = *out;
    memcpy(pk->seed, crs, GDN_CKKS_SEED_BYTES);
    he_sample_uniform(pk->a, c, 0, total, crs, 0);
    memcpy(pk->b, shares[0]->data, (size_t)total * c->n * 8);
    for (size_t s = 1; s < n; s++)
        for (unsigned i = 0; i < total; i++) {
            uint64_t q = c->ntt[i].m.q, *b = pk->b + (size_t)i * c->n;
            const uint64_t *x = shares[s]->data + (size_t)i * c->n;
            for (size_t k = 0; k < c->n; k++)
                b[k] = he_add(b[k], x[k], q);
        }
    return 0;
}

/* ---- Threshold (Shamir over R_QP) ---------------------------------------------- */

int gdn_ckks_thr_deal(gdn_ckks_share **out, unsigned t, unsigned n, const gdn_ckks_sk *sk,
                      gdn_rng *rng)
{
    const gdn_ckks_ctx *c = sk->ctx;
    unsigned total = c->nq + c->np;
    size_t N = c->n, poly = (size_t)total * N;
    uint8_t seed[GDN_CKKS_SEED_BYTES];
    int rc = 0;

    if (n < 2 || n > GDN_CKKS_MAX_PARTIES || t < 2 || t > n)
        return gdn_error(GDN_EINVAL, "ckks thr_deal: threshold %u of %u parties, expected "
                                     "2 <= t <= n <= %d", t, n, GDN_CKKS_MAX_PARTIES);
    for (unsigned j = 0; j < n; j++)
        out[j] = NULL;
    /* f(x) = s + a_1 x + ... + a_{t-1} x^{t-1}, a_k uniform over R_QP. */
    uint64_t *coef = sodium_malloc((size_t)(t - 1) * poly * 8);
    if (!coef)
        return GDN_ENOMEM;
    gdn_rng_bytes(rng, seed, sizeof seed);
    for (unsigned k = 1; k < t; k++)
        he_sample_uniform(coef + (size_t)(k - 1) * poly, c, 0, total, seed, k);
    sodium_memzero(seed, sizeof seed);
    for (unsigned j = 1; j <= n && !rc; j++) {
        if ((rc = he_share_alloc(&out[j - 1], c, total, 1, 1)))
            break;
        uint64_t *o = out[j - 1]->data;
        for (unsigned i = 0; i < total; i++) {
            const he_mod *m = &c->ntt[i].m;
            uint64_t x = j, xs = he_shoup(x, m->q);
            uint64_t *oi = o + (size_t)i * N;
            const uint64_t *s = sk->ntt + (size_t)i * N;
            memcpy(oi, coef + ((size_t)(t - 2) * poly + (size_t)i * N), N * 8);
            for (unsigned k = t - 1; k-- > 0;) { /* Horner */
                const uint64_t *a = k ? coef + ((size_t)(k - 1) * poly + (size_t)i * N) : s;
                for (size_t z = 0; z < N; z++)
                    oi[z] = he_add(he_mul_shoup(oi[z], x, xs, m->q), a[z], m->q);
            }
        }
    }
    sodium_free(coef);
    if (rc)
        for (unsigned j = 0; j < n; j++) {
            gdn_ckks_share_free(out[j]);
            out[j] = NULL;
        }
    return rc;
}

int gdn_ckks_thr_key(gdn_ckks_tsk **out, const gdn_ckks_ctx *c, unsigned j, unsigned t,
                     const gdn_ckks_share *const *received, size_t n)
{
    unsigned total = c->nq + c->np;
    size_t N = c->n;
    int rc;
    *out = NULL;
    if ((rc = check_shares(c, received, n, total, 1, "thr_key")))
        return rc;
    if (j < 1 || j > n || t < 2 || t > n)
        return gdn_error(GDN_EINVAL, "ckks thr_key: party %u, threshold %u of %zu", j, t, n);
    for (size_t i = 0; i < n; i++)
        if (!received[i]->secret)
            return gdn_error(GDN_EINVAL, "ckks thr_key: share %zu is not a dealt share", i);
    gdn_ckks_tsk *k = calloc(1, sizeof *k);
    if (!k || !(k->ntt = sodium_malloc((size_t)total * N * 8))) {
        free(k);
        return GDN_ENOMEM;
    }
    k->ctx = c, k->j = j, k->t = t;
    memcpy(k->ntt, received[0]->data, (size_t)total * N * 8);
    for (size_t s = 1; s < n; s++)
        for (unsigned i = 0; i < total; i++) {
            uint64_t q = c->ntt[i].m.q, *o = k->ntt + (size_t)i * N;
            const uint64_t *x = received[s]->data + (size_t)i * N;
            for (size_t z = 0; z < N; z++)
                o[z] = he_add(o[z], x[z], q);
        }
    *out = k;
    return 0;
}

void gdn_ckks_tsk_free(gdn_ckks_tsk *k)
{
    if (!k)
        return;
    sodium_free(k->ntt);
    free(k);
}

int gdn_ckks_tsk_save(gdn_buf *out, const gdn_ckks_tsk *k)
{
    const gdn_ckks_ctx *c = k->ctx;
    unsigned total = c->nq + c->np;
    gdn_ckks_share *sh;
    uint8_t h[8];
    int rc;

    if ((rc = he_share_alloc(&sh, c, total, 1, 1)))
        return gdn_error(rc, "ckks tsk_save: out of memory");
    memcpy(sh->data, k->ntt, (size_t)total * c->n * 8);
    gdn_store_le32(h, k->j);
    gdn_store_le32(h + 4, k->t);
    if (!(rc = gdn_buf_append(out, h, sizeof h)))
        rc = gdn_ckks_share_save(out, sh);
    gdn_ckks_share_free(sh); /* secret: wiped */
    return rc;
}

int gdn_ckks_tsk_load(gdn_ckks_tsk **out, const gdn_ckks_ctx *c, const uint8_t *in,
                      size_t len)
{
    unsigned total = c->nq + c->np, j, t;
    gdn_ckks_share *sh = NULL;
    gdn_ckks_tsk *k;
    int rc;

    *out = NULL;
    if (len < 8)
        return gdn_error(GDN_EFORMAT, "ckks threshold key: %zu bytes, truncated", len);
    j = gdn_load_le32(in), t = gdn_load_le32(in + 4);
    if (j < 1 || j > GDN_CKKS_MAX_PARTIES || t < 2 || t > GDN_CKKS_MAX_PARTIES)
        return gdn_error(GDN_EFORMAT, "ckks threshold key: party %u, threshold %u", j, t);
    if ((rc = gdn_ckks_share_load(&sh, c, in + 8, len - 8)))
        return rc;
    if (!sh->secret || sh->count != total || sh->polys != 1) {
        gdn_ckks_share_free(sh);
        return gdn_error(GDN_EFORMAT, "ckks threshold key: not a secret share of %u primes",
                         total);
    }
    if (!(k = calloc(1, sizeof *k)) || !(k->ntt = sodium_malloc((size_t)total * c->n * 8))) {
        free(k);
        gdn_ckks_share_free(sh);
        return gdn_error(GDN_ENOMEM, "ckks threshold key: out of memory");
    }
    k->ctx = c, k->j = j, k->t = t;
    memcpy(k->ntt, sh->data, (size_t)total * c->n * 8);
    gdn_ckks_share_free(sh);
    *out = k;
    return 0;
}

/* Lagrange coefficient at 0 of party j among set, mod q. */
static uint64_t lagrange(unsigned j, const unsigned *set, size_t len, const he_mod *m)
{
    uint64_t num = 1, den = 1;
    for (size_t i = 0; i < len; i++) {
        if (set[i] == j)
            continue;
        num = he_mul(num, set[i], m);
        den = he_mul(den, he_sub(set[i], j, m->q), m); /* k - j */
    }
    return he_mul(num, he_inv(den, m), m);
}

/* ---- CKS and threshold decryption ------------------------------------------------ */

/* The set of parties taking part: at least t, distinct, non-zero, this one
 * among them. */
static int check_set(const gdn_ckks_tsk *tsk, const unsigned *set, size_t set_len,
                     const char *what)
{
    int found = 0;
    if (set_len < tsk->t || set_len > GDN_CKKS_MAX_PARTIES)
        return gdn_error(GDN_EINVAL, "ckks %s: %zu parties, the threshold is %u", what, set_len,
                         tsk->t);
    for (size_t i = 0; i < set_len; i++) {
        found |= set[i] == tsk->j;
        for (size_t k = 0; k < i; k++)
            if (set[k] == set[i] || set[i] == 0)
                return gdn_error(GDN_EINVAL, "ckks %s: party %u repeated or zero", what, set[i]);
    }
    if (!found)
        return gdn_error(GDN_EINVAL, "ckks %s: party %u is not in the set", what, tsk->j);
    return 0;
}

/* Checks shared by CKS and PCKS. */
static int check_switch(const gdn_ckks_ct *ct, const gdn_ckks_tsk *tsk, const unsigned *set,
                        size_t set_len, unsigned smudge_bits, const char *what)
{
    const gdn_ckks_ctx *c = tsk->ctx;
    int rc;
    if (ct->ctx != c)
        return gdn_error(GDN_EINVAL, "ckks %s: objects of different contexts", what);
    if (ct->size != 2)
        return gdn_error(GDN_EINVAL, "ckks %s: ciphertext of size %u (relinearize first)", what,
                         ct->size);
    if ((rc = check_set(tsk, set, set_len, what)))
        return rc;
    if (smudge_bits > 50 || ((uint64_t)1 << smudge_bits) >= c->ntt[0].m.q / 4)
        return gdn_error(GDN_EINVAL, "ckks %s: smudging of %u bits too large for q_0", what,
                         smudge_bits);
    return 0;
}

/* Smudging noise, uniform in [-2^b, 2^b). */
static int smudge(int64_t *e, size_t n, unsigned bits, gdn_rng *rng)
{
    uint8_t *rb = malloc(n * 8);
    uint64_t mask = ((uint64_t)2 << bits) - 1;
    if (!rb)
        return GDN_ENOMEM;
    gdn_rng_bytes(rng, rb, n * 8);
    for (size_t z = 0; z < n; z++)
        e[z] = (int64_t)(gdn_load_le64(rb + 8 * z) & mask) - ((int64_t)1 << bits);
    sodium_memzero(rb, n * 8);
    free(rb);
    return 0;
}

/* o += lambda_j share_j c1 (- s2 c1) over primes 0..l. */
static void key_times_c1(uint64_t *o, const gdn_ckks_ct *ct, const gdn_ckks_tsk *tsk,
                         const unsigned *set, size_t set_len, const gdn_ckks_sk *to)
{
    const gdn_ckks_ctx *c = tsk->ctx;
    size_t N = c->n;
    for (unsigned i = 0; i <= ct->level; i++) {
        const he_mod *m = &c->ntt[i].m;
        uint64_t lam = lagrange(tsk->j, set, set_len, m), lams = he_shoup(lam, m->q);
        const uint64_t *s = tsk->ntt + (size_t)i * N, *c1 = he_ct_poly(ct, 1, i);
        const uint64_t *s2 = to ? to->ntt + (size_t)i * N : NULL;
        uint64_t *oi = o + (size_t)i * N;
        for (size_t z = 0; z < N; z++) {
            uint64_t key = he_mul_shoup(s[z], lam, lams, m->q);
            if (s2)
                key = he_sub(key, s2[z], m->q);
            oi[z] = he_add(oi[z], he_mul(key, c1[z], m), m->q);
        }
    }
}

int gdn_ckks_cks_share(gdn_ckks_share **out, const gdn_ckks_ct *ct, const gdn_ckks_tsk *tsk,
                       const unsigned *set, size_t set_len, const gdn_ckks_sk *to,
                       unsigned smudge_bits, gdn_rng *rng)
{
    const gdn_ckks_ctx *c = tsk->ctx;
    size_t N = c->n;
    int rc;

    *out = NULL;
    if ((rc = check_switch(ct, tsk, set, set_len, smudge_bits, "cks_share")))
        return rc;
    if (to && to->ctx != c)
        return gdn_error(GDN_EINVAL, "ckks cks_share: target key of another context");
    int64_t *e = malloc(N * sizeof *e);
    if (!e || (rc = smudge(e, N, smudge_bits, rng)) ||
        (rc = he_share_alloc(out, c, ct->level + 1, 1, 0))) {
        free(e);
        return e ? rc : GDN_ENOMEM;
    }
    he_int_to_ntt((*out)->data, c, e, 0, ct->level + 1); /* smudging: up to 2^50 */
    key_times_c1((*out)->data, ct, tsk, set, set_len, to);
    sodium_memzero(e, N * sizeof *e);
    free(e);
    return 0;
}

/* PCKS (Mouchet et al. 2021 §4.2): (lambda_j s_j c1 + u p0 + e0, u p1 + e1)
 * with u ternary, e0 smudging, e1 the usual error; p = the target key. */
int gdn_ckks_pcks_share(gdn_ckks_share **out, const gdn_ckks_ct *ct, const gdn_ckks_tsk *tsk,
                        const unsigned *set, size_t set_len, const gdn_ckks_pk *to,
                        unsigned smudge_bits, gdn_rng *rng)
{
    const gdn_ckks_ctx *c = tsk->ctx;
    size_t N = c->n, np = ct->level + 1;
    int rc;

    *out = NULL;
    if ((rc = check_switch(ct, tsk, set, set_len, smudge_bits, "pcks_share")))
        return rc;
    if (to->ctx != c)
        return gdn_error(GDN_EINVAL, "ckks pcks_share: target key of another context");
    int64_t *e = malloc(N * sizeof *e);
    uint64_t *u = gdn_alloc_aligned(np * N * 8);
    uint8_t *ub = malloc(N);
    if (!e || !u || !ub || (rc = he_share_alloc(out, c, (unsigned)np, 2, 0))) {
        free(e), gdn_free_aligned(u), free(ub);
        return GDN_ENOMEM;
    }
    /* u: uniform ternary (bytes of 255 rejected). */
    for (size_t z = 0; z < N;) {
        gdn_rng_bytes(rng, ub, N);
        for (size_t k = 0; k < N && z < N; k++)
            if (ub[k] != 255)
                e[z++] = (int64_t)(ub[k] % 3) - 1;
    }
    he_small_to_ntt(u, c, e, 0, (unsigned)np);
    uint64_t *h0 = (*out)->data, *h1 = h0 + np * N;
    if (!(rc = smudge(e, N, smudge_bits, rng))) {
        he_int_to_ntt(h0, c, e, 0, (unsigned)np); /* smudging */
        he_sample_error(e, N, rng);
        he_small_to_ntt(h1, c, e, 0, (unsigned)np);
        for (size_t i = 0; i < np; i++) {
            const he_mod *m = &c->ntt[i].m;
            const uint64_t *ui = u + i * N, *p0 = to->b + i * N, *p1 = to->a + i * N;
            for (size_t z = 0; z < N; z++) {
                h0[i * N + z] = he_add(h0[i * N + z], he_mul(ui[z], p0[z], m), m->q);
                h1[i * N + z] = he_add(h1[i * N + z], he_mul(ui[z], p1[z], m), m->q);
            }
        }
        key_times_c1(h0, ct, tsk, set, set_len, NULL);
    }
    sodium_memzero(e, N * sizeof *e);
    sodium_memzero(u, np * N * 8);
    sodium_memzero(ub, N);
    free(e), gdn_free_aligned(u), free(ub);
    if (rc) {
        gdn_ckks_share_free(*out);
        *out = NULL;
    }
    return rc;
}

int gdn_ckks_pcks_combine(gdn_ckks_ct *out, const gdn_ckks_ct *ct,
                          const gdn_ckks_share *const *shares, size_t count)
{
    const gdn_ckks_ctx *c = ct->ctx;
    size_t N = c->n, np = ct->level + 1;
    int rc = check_shares(c, shares, count, ct->level + 1, 2, "pcks_combine");
    if (rc || (rc = gdn_ckks_ct_copy(out, ct)))
        return rc;
    memset(he_ct_poly(out, 1, 0), 0, np * N * 8);
    for (size_t s = 0; s < count; s++)
        for (unsigned k = 0; k < 2; k++)
            for (unsigned i = 0; i <= ct->level; i++) {
                uint64_t q = c->ntt[i].m.q, *o = he_ct_poly(out, k, i);
                const uint64_t *x = shares[s]->data + ((size_t)k * np + i) * N;
                for (size_t z = 0; z < N; z++)
                    o[z] = he_add(o[z], x[z], q);
            }
    out->seeded = 0;
    return 0;
}

int gdn_ckks_cks_combine(gdn_ckks_ct *out, const gdn_ckks_ct *ct,
                         const gdn_ckks_share *const *shares, size_t count)
{
    const gdn_ckks_ctx *c = ct->ctx;
    int rc = check_shares(c, shares, count, ct->level + 1, 1, "cks_combine");
    if (rc || (rc = gdn_ckks_ct_copy(out, ct)))
        return rc;
    for (size_t s = 0; s < count; s++)
        for (unsigned i = 0; i <= ct->level; i++) {
            uint64_t q = c->ntt[i].m.q, *o = he_ct_poly(out, 0, i);
            const uint64_t *x = shares[s]->data + (size_t)i * c->n;
            for (size_t z = 0; z < c->n; z++)
                o[z] = he_add(o[z], x[z], q);
        }
    out->seeded = 0;
    return 0;
}

int gdn_ckks_thr_decrypt(gdn_ckks_pt *pt, const gdn_ckks_ct *ct,
                         const gdn_ckks_share *const *shares, size_t count)
{
    const gdn_ckks_ctx *c = ct->ctx;
    int rc = check_shares(c, shares, count, ct->level + 1, 1, "thr_decrypt");
    if (rc)
        return rc;
    if (pt->ctx != c)
        return gdn_error(GDN_EINVAL, "ckks thr_decrypt: plaintext of another context");
    memcpy(pt->data, he_ct_poly(ct, 0, 0), (size_t)(ct->level + 1) * c->n * 8);
    for (size_t s = 0; s < count; s++)
        for (unsigned i = 0; i <= ct->level; i++) {
            uint64_t q = c->ntt[i].m.q, *o = pt->data + (size_t)i * c->n;
            const uint64_t *x = shares[s]->data + (size_t)i * c->n;
            for (size_t z = 0; z < c->n; z++)
                o[z] = he_add(o[z], x[z], q);
        }
    pt->level = ct->level;
    pt->scale = ct->scale;
    return 0;
}

/* ---- RKG (Mouchet et al. 2021 §4.3) with the hybrid gadget ----------------------
 * g_j = P on the primes of digit j, 0 elsewhere (he_swk_gen's gadget). With
 * s_i = lambda_i share_i (additive shares of s) and u_i ternary:
 *   round 1: h0_ij = -u_i a_j + s_i g_j + e0,  h1_ij = s_i a_j + e1
 *   round 2: h'_ij = s_i h0_j + (u_i - s_i) h1_j + e2   (h = the round-1 sums)
 *   key:     b_j = sum_i h'_ij,  a'_j = h1_j
 * so that b_j + a'_j s = s^2 g_j + s e0 + u e1 + e2: a key switching s^2 to s. */

int gdn_ckks_share_sum(gdn_ckks_share **out, const gdn_ckks_share *const *shares, size_t count)
{
    int rc;
    *out = NULL;
    if (count == 0)
        return gdn_error(GDN_EINVAL, "ckks share_sum: no shares");
    const gdn_ckks_ctx *c = shares[0]->ctx;
    unsigned cnt = shares[0]->count, polys = shares[0]->polys;
    if ((rc = check_shares(c, shares, count, cnt, polys, "share_sum")) ||
        (rc = he_share_alloc(out, c, cnt, polys, 0)))
        return rc;
    size_t N = c->n;
    memcpy((*out)->data, shares[0]->data, (size_t)polys * cnt * N * 8);
    for (size_t s = 1; s < count; s++)
        for (unsigned k = 0; k < polys; k++)
            for (unsigned i = 0; i < cnt; i++) {
                uint64_t q = c->ntt[i].m.q, *o = (*out)->data + ((size_t)k * cnt + i) * N;
                const uint64_t *x = shares[s]->data + ((size_t)k * cnt + i) * N;
                for (size_t z = 0; z < N; z++)
                    o[z] = he_add(o[z], x[z], q);
            }
    return 0;
}

/* The additive share lambda_j share_j over all primes, into sodium memory. */
static uint64_t *additive_share(const gdn_ckks_tsk *tsk, const unsigned *set, size_t set_len)
{
    const gdn_ckks_ctx *c = tsk->ctx;
    unsigned total = c->nq + c->np;
    size_t N = c->n;
    uint64_t *s = sodium_malloc((size_t)total * N * 8);
    if (!s)
        return NULL;
    for (unsigned i = 0; i < total; i++) {
        const he_mod *m = &c->ntt[i].m;
        uint64_t lam = lagrange(tsk->j, set, set_len, m), lams = he_shoup(lam, m->q);
        for (size_t z = 0; z < N; z++)
            s[(size_t)i * N + z] = he_mul_shoup(tsk->ntt[(size_t)i * N + z], lam, lams, m->q);
    }
    return s;
}

/* o = e (fresh error) over all primes, NTT form. */
static void fresh_error(uint64_t *o, const gdn_ckks_ctx *c, int64_t *e, gdn_rng *rng)
{
    he_sample_error(e, c->n, rng);
    he_small_to_ntt(o, c, e, 0, c->nq + c->np);
}

int gdn_ckks_rkg_round1(gdn_ckks_share **out, gdn_ckks_share **ephemeral,
                        const gdn_ckks_tsk *tsk, const unsigned *set, size_t set_len,
                        const uint8_t crs[GDN_CKKS_SEED_BYTES], gdn_rng *rng)
{
    const gdn_ckks_ctx *c = tsk->ctx;
    unsigned total = c->nq + c->np, dnum = c->dnum;
    size_t N = c->n, per = (size_t)total * N;
    int rc;

    *out = *ephemeral = NULL;
    if ((rc = check_set(tsk, set, set_len, "rkg_round1")))
        return rc;
    uint64_t *s = additive_share(tsk, set, set_len), *a = gdn_alloc_aligned(per * 8);
    int64_t *e = malloc(N * sizeof *e);
    uint8_t *ub = malloc(N);
    if (!s || !a || !e || !ub || (rc = he_share_alloc(out, c, total, 2 * dnum, 0)) ||
        (rc = he_share_alloc(ephemeral, c, total, 1, 1))) {
        rc = rc ? rc : GDN_ENOMEM;
        goto out;
    }
    for (size_t z = 0; z < N;) { /* u: uniform ternary */
        gdn_rng_bytes(rng, ub, N);
        for (size_t k = 0; k < N && z < N; k++)
            if (ub[k] != 255)
                e[z++] = (int64_t)(ub[k] % 3) - 1;
    }
    uint64_t *u = (*ephemeral)->data;
    he_small_to_ntt(u, c, e, 0, total);
    for (unsigned j = 0; j < dnum; j++) {
        uint64_t *h0 = (*out)->data + (size_t)j * per, *h1 = (*out)->data + (size_t)(dnum + j) * per;
        he_sample_uniform(a, c, 0, total, crs, 1 + j);
        fresh_error(h0, c, e, rng);
        fresh_error(h1, c, e, rng);
        for (unsigned i = 0; i < total; i++) {
            const he_mod *m = &c->ntt[i].m;
            uint64_t p = 0;
            if (i < c->nq && i / c->alpha == j) { /* g_j: P on digit j's primes */
                p = 1;
                for (unsigned k = 0; k < c->np; k++)
                    p = he_mul(p, he_red64(c->ntt[c->nq + k].m.q, m), m);
            }
            size_t off = (size_t)i * N;
            for (size_t z = 0; z < N; z++) {
                uint64_t sa = he_mul(s[off + z], a[off + z], m);
                uint64_t v = he_sub(he_mul(s[off + z], p, m), he_mul(u[off + z], a[off + z], m), m->q);
                h0[off + z] = he_add(h0[off + z], v, m->q);
                h1[off + z] = he_add(h1[off + z], sa, m->q);
            }
        }
    }
out:
    if (s)
        sodium_free(s);
    if (e)
        sodium_memzero(e, N * sizeof *e);
    if (ub)
        sodium_memzero(ub, N);
    gdn_free_aligned(a);
    free(e);
    free(ub);
    if (rc) {
        gdn_ckks_share_free(*out);
        gdn_ckks_share_free(*ephemeral);
        *out = *ephemeral = NULL;
    }
    return rc;
}

int gdn_ckks_rkg_round2(gdn_ckks_share **out, const gdn_ckks_share *ephemeral,
                        const gdn_ckks_tsk *tsk, const unsigned *set, size_t set_len,
                        const gdn_ckks_share *round1_sum, gdn_rng *rng)
{
    const gdn_ckks_ctx *c = tsk->ctx;
    unsigned total = c->nq + c->np, dnum = c->dnum;
    size_t N = c->n, per = (size_t)total * N;
    int rc;

    *out = NULL;
    if ((rc = check_set(tsk, set, set_len, "rkg_round2")) ||
        (rc = check_shares(c, &round1_sum, 1, total, 2 * dnum, "rkg_round2")) ||
        (rc = check_shares(c, &ephemeral, 1, total, 1, "rkg_round2")))
        return rc;
    uint64_t *s = additive_share(tsk, set, set_len);
    int64_t *e = malloc(N * sizeof *e);
    if (!s || !e || (rc = he_share_alloc(out, c, total, dnum, 0))) {
        if (s)
            sodium_free(s);
        free(e);
        return rc ? rc : GDN_ENOMEM;
    }
    const uint64_t *u = ephemeral->data;
    for (unsigned j = 0; j < dnum; j++) {
        const uint64_t *h0 = round1_sum->data + (size_t)j * per;
        const uint64_t *h1 = round1_sum->data + (size_t)(dnum + j) * per;
        uint64_t *o = (*out)->data + (size_t)j * per;
        fresh_error(o, c, e, rng);
        for (unsigned i = 0; i < total; i++) {
            const he_mod *m = &c->ntt[i].m;
            size_t off = (size_t)i * N;
            for (size_t z = 0; z < N; z++) {
                uint64_t us = he_sub(u[off + z], s[off + z], m->q);
                uint64_t v = he_red128((he_u128)s[off + z] * h0[off + z] +
                                           (he_u128)us * h1[off + z], m);
                o[off + z] = he_add(o[off + z], v, m->q);
            }
        }
    }
    sodium_free(s);
    sodium_memzero(e, N * sizeof *e);
    free(e);
    return 0;
}

int gdn_ckks_rkg_finish(gdn_ckks_swk **out, const gdn_ckks_share *round1_sum,
                        const gdn_ckks_share *const *round2, size_t count)
{
    const gdn_ckks_ctx *c = round1_sum->ctx;
    unsigned total = c->nq + c->np, dnum = c->dnum;
    size_t per = (size_t)total * c->n;
    gdn_ckks_share *sum = NULL;
    int rc;

    *out = NULL;
    if ((rc = check_shares(c, &round1_sum, 1, total, 2 * dnum, "rkg_finish")) ||
        (rc = check_shares(c, round2, count, total, dnum, "rkg_finish")) ||
        (rc = gdn_ckks_share_sum(&sum, round2, count)) || (rc = he_swk_alloc(out, c))) {
        gdn_ckks_share_free(sum);
        return rc;
    }
    (*out)->explicit_a = 1;
    memcpy((*out)->b, sum->data, dnum * per * 8);
    memcpy((*out)->a, round1_sum->data + dnum * per, dnum * per * 8);
    gdn_ckks_share_free(sum);
    return 0;
}

/* ---- RTG (Mouchet et al. 2021 §4.4): party i's share of the key from
 * sigma_g(s) to s is -a_j s_i + P sigma_g(s_i) 1_j + e_i for each digit j
 * (linear in s_i, so additive shares add up); a_j from the per-element seed. */

static void rtg_seed(uint8_t seed[GDN_CKKS_SEED_BYTES], const uint8_t crs[GDN_CKKS_SEED_BYTES],
                     uint64_t elt)
{
    uint8_t m[8 + 4] = {0};
    gdn_store_le64(m, elt);
    memcpy(m + 8, "rtg", 3);
    crypto_generichash(seed, GDN_CKKS_SEED_BYTES, m, sizeof m, crs, GDN_CKKS_SEED_BYTES);
}

int gdn_ckks_rtg_share(gdn_ckks_share **out, const gdn_ckks_tsk *tsk, const unsigned *set,
                       size_t set_len, int step, const uint8_t crs[GDN_CKKS_SEED_BYTES],
                       gdn_rng *rng)
{
    const gdn_ckks_ctx *c = tsk->ctx;
    unsigned total = c->nq + c->np, dnum = c->dnum;
    size_t N = c->n, per = (size_t)total * N;
    uint64_t elt = he_galois_elt(c, step);
    uint8_t seed[GDN_CKKS_SEED_BYTES];
    int rc;

    *out = NULL;
    if ((rc = check_set(tsk, set, set_len, "rtg_share")))
        return rc;
    if (elt == 1)
        return gdn_error(GDN_EINVAL, "ckks rtg_share: a rotation by %d is the identity", step);
    uint64_t *s = additive_share(tsk, set, set_len), *a = gdn_alloc_aligned(per * 8);
    uint64_t *sg = sodium_malloc(per * 8);
    uint32_t *perm = malloc(N * sizeof *perm);
    int64_t *e = malloc(N * sizeof *e);
    if (!s || !a || !sg || !perm || !e || (rc = he_share_alloc(out, c, total, dnum, 0))) {
        rc = rc ? rc : GDN_ENOMEM;
        goto out;
    }
    he_galois_perm(perm, c, elt);
    for (size_t p = 0; p < per; p += N)
        for (size_t z = 0; z < N; z++)
            sg[p + z] = s[p + perm[z]];
    rtg_seed(seed, crs, elt);
    for (unsigned j = 0; j < dnum; j++) {
        uint64_t *o = (*out)->data + (size_t)j * per;
        he_sample_uniform(a, c, 0, total, seed, 1 + j);
        fresh_error(o, c, e, rng);
        for (unsigned i = 0; i < total; i++) {
            const he_mod *m = &c->ntt[i].m;
            uint64_t pm = 0;
            if (i < c->nq && i / c->alpha == j) {
                pm = 1;
                for (unsigned k = 0; k < c->np; k++)
                    pm = he_mul(pm, he_red64(c->ntt[c->nq + k].m.q, m), m);
            }
            size_t off = (size_t)i * N;
            for (size_t z = 0; z < N; z++) {
                uint64_t v = he_sub(he_mul(sg[off + z], pm, m), he_mul(a[off + z], s[off + z], m),
                                    m->q);
                o[off + z] = he_add(o[off + z], v, m->q);
            }
        }
    }
out:
    if (s)
        sodium_free(s);
    if (sg)
        sodium_free(sg);
    if (e)
        sodium_memzero(e, N * sizeof *e);
    gdn_free_aligned(a);
    free(perm);
    free(e);
    if (rc) {
        gdn_ckks_share_free(*out);
        *out = NULL;
    }
    return rc;
}

int gdn_ckks_rtg_finish(gdn_ckks_gk **out, const gdn_ckks_ctx *c, const int *steps,
                        size_t nsteps, const gdn_ckks_share *const *shares, size_t count,
                        const uint8_t crs[GDN_CKKS_SEED_BYTES])
{
    unsigned total = c->nq + c->np, dnum = c->dnum;
    size_t N = c->n;
    uint32_t *inv = malloc(N * sizeof *inv);
    int rc = inv ? 0 : GDN_ENOMEM;

    *out = NULL;
    if (!rc && nsteps * count != 0)
        rc = check_shares(c, shares, nsteps * count, total, dnum, "rtg_finish");
    if (rc || (rc = he_gk_alloc(out, c, nsteps))) {
        free(inv);
        return rc;
    }
    gdn_ckks_gk *g = *out;
    for (size_t st = 0; st < nsteps && !rc; st++) {
        uint64_t elt = he_galois_elt(c, steps[st]);
        int dup = elt == 1;
        for (size_t i = 0; i < g->count; i++)
            dup |= g->galois[i] == elt;
        if (dup) {
            rc = gdn_error(GDN_EINVAL, "ckks rtg_finish: step %d repeated or the identity",
                           steps[st]);
            break;
        }
        size_t i = g->count;
        gdn_ckks_share *sum = NULL;
        g->galois[i] = elt;
        if ((rc = he_gk_set_perm(g, i)))
            break;
        if ((rc = gdn_ckks_share_sum(&sum, shares + st * count, count)) ||
            (rc = he_swk_alloc(&g->keys[i], c))) {
            gdn_ckks_share_free(sum);
            free(g->perm[i]);
            g->perm[i] = NULL;
            break;
        }
        rtg_seed(g->keys[i]->seed, crs, elt);
        he_swk_expand_a(g->keys[i]);
        memcpy(g->keys[i]->b, sum->data, (size_t)dnum * total * N * 8);
        gdn_ckks_share_free(sum);
        g->count++;
        he_perm_inverse(inv, g->perm[i], N);
        rc = he_swk_permute(g->keys[i], inv); /* stored permuted, as gk keys are */
    }
    free(inv);
    if (rc) {
        gdn_ckks_gk_free(g);
        *out = NULL;
    }
    return rc;
}
