/* he: objects, key generation, encryption and decryption.
 * Secret-dependent code (the secret's sampling, NTT and products) has no
 * secret-dependent branch or index; secrets live in sodium_malloc memory and
 * temporaries that held them are wiped. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "he/he_internal.h"

/* ---- Plaintexts and ciphertexts ------------------------------------------ */

int gdn_ckks_pt_new(gdn_ckks_pt **out, const gdn_ckks_ctx *ctx)
{
    gdn_ckks_pt *p = calloc(1, sizeof *p);
    *out = NULL;
    if (!p || !(p->data = gdn_alloc_aligned((size_t)ctx->nq * ctx->n * 8))) {
        free(p);
        return GDN_ENOMEM;
    }
    memset(p->data, 0, (size_t)ctx->nq * ctx->n * 8);
    p->ctx = ctx;
    p->level = ctx->nq - 1;
    p->scale = 1.0;
    *out = p;
    return 0;
}

void gdn_ckks_pt_free(gdn_ckks_pt *p)
{
    if (!p)
        return;
    gdn_free_aligned(p->data);
    free(p);
}

int he_ct_reserve(gdn_ckks_ct *ct, unsigned size)
{
    size_t poly = (size_t)ct->ctx->nq * ct->ctx->n;
    if (ct->data && size <= ct->cap)
        return 0;
    if (size < 2)
        size = 2;
    uint64_t *d = gdn_alloc_aligned(size * poly * 8);
    if (!d)
        return GDN_ENOMEM;
    memset(d, 0, size * poly * 8);
    if (ct->data) {
        memcpy(d, ct->data, ct->cap * poly * 8);
        gdn_free_aligned(ct->data);
    }
    ct->data = d;
    ct->cap = size;
    return 0;
}

int gdn_ckks_ct_new(gdn_ckks_ct **out, const gdn_ckks_ctx *ctx)
{
    gdn_ckks_ct *c = calloc(1, sizeof *c);
    *out = NULL;
    if (!c)
        return GDN_ENOMEM;
    c->ctx = ctx;
    if (he_ct_reserve(c, 2)) {
        free(c);
        return GDN_ENOMEM;
    }
    c->size = 2;
    c->level = ctx->nq - 1;
    c->scale = 1.0;
    *out = c;
    return 0;
}

void gdn_ckks_ct_free(gdn_ckks_ct *c)
{
    if (!c)
        return;
    gdn_free_aligned(c->data);
    free(c);
}

int gdn_ckks_ct_copy(gdn_ckks_ct *out, const gdn_ckks_ct *in)
{
    const gdn_ckks_ctx *c = in->ctx;
    if (out == in)
        return 0;
    if (out->ctx != c)
        return gdn_error(GDN_EINVAL, "ckks: ciphertexts of different contexts");
    if (he_ct_reserve(out, in->size))
        return GDN_ENOMEM;
    for (unsigned k = 0; k < in->size; k++)
        memcpy(he_ct_poly(out, k, 0), he_ct_poly(in, k, 0), (size_t)(in->level + 1) * c->n * 8);
    out->size = in->size;
    out->level = in->level;
    out->scale = in->scale;
    out->seeded = in->seeded;
    memcpy(out->seed, in->seed, sizeof out->seed);
    return 0;
}

unsigned gdn_ckks_pt_level(const gdn_ckks_pt *p) { return p->level; }
double gdn_ckks_pt_scale(const gdn_ckks_pt *p) { return p->scale; }
unsigned gdn_ckks_ct_level(const gdn_ckks_ct *c) { return c->level; }
double gdn_ckks_ct_scale(const gdn_ckks_ct *c) { return c->scale; }
unsigned gdn_ckks_ct_size(const gdn_ckks_ct *c) { return c->size; }

/* ---- Small helpers --------------------------------------------------------- */

/* Ternary coefficients in NTT form over all primes, plus the int8 copy. */
static void ternary_to_ntt(uint64_t *out, const gdn_ckks_ctx *ctx, const int8_t *s,
                           unsigned count, int64_t *tmp)
{
    for (size_t k = 0; k < ctx->n; k++)
        tmp[k] = s[k];
    he_small_to_ntt(out, ctx, tmp, 0, count);
    sodium_memzero(tmp, ctx->n * sizeof *tmp);
}

/* Uniform ternary: one byte per coefficient, bytes of 255 rejected (255 =
 * 3 * 85), b mod 3 - 1 (a multiplication, no division). */
static void sample_ternary(int8_t *s, size_t n, gdn_rng *rng)
{
    uint8_t b[256];
    size_t k = 0;
    while (k < n) {
        gdn_rng_bytes(rng, b, sizeof b);
        for (size_t j = 0; j < sizeof b && k < n; j++)
            if (b[j] != 255)
                s[k++] = (int8_t)((int)(b[j] % 3) - 1);
    }
    sodium_memzero(b, sizeof b);
}

/* o = o + a * b (mod q) over count primes starting at prime `first`. */
static void mul_acc(uint64_t *o, const uint64_t *a, const uint64_t *b,
                    const gdn_ckks_ctx *ctx, unsigned first, unsigned count)
{
    size_t n = ctx->n;
    for (unsigned i = 0; i < count; i++) {
        const he_mod *m = &ctx->ntt[first + i].m;
        size_t off = (size_t)i * n;
#if HE_X86
        if (he_simd() >= 2 && ctx->ntt[first + i].w52) {
            he_decrypt_ifma(o + off, o + off, a + off, NULL, b + off, n, m); /* o + a b */
            continue;
        }
#endif
        for (size_t k = 0; k < n; k++)
            o[off + k] = he_add(o[off + k], he_mul(a[off + k], b[off + k], m), m->q);
    }
}

/* ---- Secret and public keys ----------------------------------------------- */

static int sk_alloc(gdn_ckks_sk **out, const gdn_ckks_ctx *ctx)
{
    gdn_ckks_sk *sk = calloc(1, sizeof *sk);
    size_t total = ctx->nq + ctx->np;
    *out = NULL;
    if (!sk)
        return GDN_ENOMEM;
    sk->ctx = ctx;
    sk->coeff = sodium_malloc(ctx->n);
    sk->ntt = sodium_malloc(total * ctx->n * 8);
    if (!sk->coeff || !sk->ntt) {
        gdn_ckks_sk_free(sk);
        return GDN_ENOMEM;
    }
    *out = sk;
    return 0;
}

int he_sk_from_coeff(gdn_ckks_sk **out, const gdn_ckks_ctx *ctx, const int8_t *s)
{
    int64_t *tmp = malloc(ctx->n * sizeof *tmp);
    int rc;
    if (!tmp)
        return GDN_ENOMEM;
    if ((rc = sk_alloc(out, ctx))) {
        free(tmp);
        return rc;
    }
    memcpy((*out)->coeff, s, ctx->n);
    ternary_to_ntt((*out)->ntt, ctx, s, ctx->nq + ctx->np, tmp);
    free(tmp);
    return 0;
}

int gdn_ckks_keygen(gdn_ckks_sk **out, const gdn_ckks_ctx *ctx, gdn_rng *rng)
{
    int8_t *s = sodium_malloc(ctx->n);
    int rc;
    *out = NULL;
    if (!s)
        return GDN_ENOMEM;
    sample_ternary(s, ctx->n, rng);
    rc = he_sk_from_coeff(out, ctx, s);
    sodium_free(s);
    return rc;
}

void gdn_ckks_sk_free(gdn_ckks_sk *sk)
{
    if (!sk)
        return;
    sodium_free(sk->coeff); /* wipes */
    sodium_free(sk->ntt);
    free(sk);
}

/* o = -a s + e over primes [0, count) of the sk's NTT (indices from 0). */
static int rlwe_sample(uint64_t *o, const uint64_t *a, const gdn_ckks_sk *sk, unsigned count,
                       const unsigned *primes, gdn_rng *rng)
{
    const gdn_ckks_ctx *ctx = sk->ctx;
    size_t n = ctx->n;
    int64_t *e = malloc(n * sizeof *e);
    if (!e)
        return GDN_ENOMEM;
    he_sample_error(e, n, rng);
    for (unsigned i = 0; i < count; i++) {
        unsigned p = primes ? primes[i] : i;
        he_small_to_ntt(o + (size_t)i * n, ctx, e, p, 1);
        const he_mod *m = &ctx->ntt[p].m;
        const uint64_t *s = sk->ntt + (size_t)p * n, *ai = a + (size_t)i * n;
        uint64_t *oi = o + (size_t)i * n;
        for (size_t k = 0; k < n; k++)
            oi[k] = he_sub(oi[k], he_mul(ai[k], s[k], m), m->q);
    }
    sodium_memzero(e, n * sizeof *e);
    free(e);
    return 0;
}

int he_pk_alloc(gdn_ckks_pk **out, const gdn_ckks_ctx *ctx)
{
    gdn_ckks_pk *pk = calloc(1, sizeof *pk);
    size_t sz = (size_t)(ctx->nq + ctx->np) * ctx->n * 8;
    *out = NULL;
    if (!pk)
        return GDN_ENOMEM;
    pk->ctx = ctx;
    pk->b = gdn_alloc_aligned(sz);
    pk->a = gdn_alloc_aligned(sz);
    if (!pk->a || !pk->b) {
        gdn_ckks_pk_free(pk);
        return GDN_ENOMEM;
    }
    *out = pk;
    return 0;
}

int gdn_ckks_pk_gen(gdn_ckks_pk **out, const gdn_ckks_sk *sk, gdn_rng *rng)
{
    const gdn_ckks_ctx *ctx = sk->ctx;
    int rc = he_pk_alloc(out, ctx);
    if (rc)
        return rc;
    gdn_ckks_pk *pk = *out;
    gdn_rng_bytes(rng, pk->seed, sizeof pk->seed);
    he_sample_uniform(pk->a, ctx, 0, ctx->nq + ctx->np, pk->seed, 0);
    if ((rc = rlwe_sample(pk->b, pk->a, sk, ctx->nq + ctx->np, NULL, rng))) {
        gdn_ckks_pk_free(pk);
        *out = NULL;
    }
    return rc;
}

void gdn_ckks_pk_free(gdn_ckks_pk *pk)
{
    if (!pk)
        return;
    gdn_free_aligned(pk->a);
    gdn_free_aligned(pk->b);
    free(pk);
}

/* ---- Key-switching keys (hybrid: Han-Ki 2020 §3; Bossuat et al. 2021 §3) ---
 * Digit j covers the primes q_i, i in [j alpha, (j+1) alpha). Its key is
 * b_j = -a_j s + e_j + P [Q/Q_j]^-1_{Q_j} (Q/Q_j) s_from over QP: in RNS, P s_from
 * mod the digit's own primes and 0 mod every other prime. */

int he_swk_alloc(gdn_ckks_swk **out, const gdn_ckks_ctx *ctx)
{
    gdn_ckks_swk *k = calloc(1, sizeof *k);
    size_t sz = (size_t)ctx->dnum * (ctx->nq + ctx->np) * ctx->n * 8;
    *out = NULL;
    if (!k)
        return GDN_ENOMEM;
    k->ctx = ctx;
    k->b = gdn_alloc_aligned(sz);
    k->a = gdn_alloc_aligned(sz);
    if (!k->a || !k->b) {
        gdn_ckks_swk_free(k);
        return GDN_ENOMEM;
    }
    *out = k;
    return 0;
}

void he_swk_expand_a(gdn_ckks_swk *k)
{
    const gdn_ckks_ctx *ctx = k->ctx;
    size_t per = (size_t)(ctx->nq + ctx->np) * ctx->n;
    for (unsigned j = 0; j < ctx->dnum; j++)
        he_sample_uniform(k->a + j * per, ctx, 0, ctx->nq + ctx->np, k->seed, 1 + j);
}

int he_swk_gen(gdn_ckks_swk **out, const uint64_t *s_from, const gdn_ckks_sk *sk,
               gdn_rng *rng)
{
    const gdn_ckks_ctx *ctx = sk->ctx;
    unsigned total = ctx->nq + ctx->np;
    size_t n = ctx->n, per = (size_t)total * n;
    int rc = he_swk_alloc(out, ctx);
    if (rc)
        return rc;
    gdn_ckks_swk *k = *out;
    gdn_rng_bytes(rng, k->seed, sizeof k->seed);
    he_swk_expand_a(k);
    for (unsigned j = 0; j < ctx->dnum && !rc; j++) {
        uint64_t *b = k->b + j * per;
        rc = rlwe_sample(b, k->a + j * per, sk, total, NULL, rng);
        for (unsigned i = j * ctx->alpha; i < (j + 1) * ctx->alpha && i < ctx->nq; i++) {
            const he_mod *m = &ctx->ntt[i].m;
            uint64_t p = 1;
            for (unsigned t = 0; t < ctx->np; t++)
                p = he_mul(p, he_red64(ctx->ntt[ctx->nq + t].m.q, m), m);
            uint64_t ps = he_shoup(p, m->q);
            const uint64_t *s = s_from + (size_t)i * n;
            uint64_t *bi = b + (size_t)i * n;
            for (size_t x = 0; x < n; x++)
                bi[x] = he_add(bi[x], he_mul_shoup(s[x], p, ps, m->q), m->q);
        }
    }
    if (rc) {
        gdn_ckks_swk_free(k);
        *out = NULL;
    }
    return rc;
}

void gdn_ckks_swk_free(gdn_ckks_swk *k)
{
    if (!k)
        return;
    gdn_free_aligned(k->a);
    gdn_free_aligned(k->b);
    free(k);
}

int gdn_ckks_rlk_gen(gdn_ckks_swk **out, const gdn_ckks_sk *sk, gdn_rng *rng)
{
    const gdn_ckks_ctx *ctx = sk->ctx;
    size_t total = (size_t)(ctx->nq + ctx->np) * ctx->n;
    uint64_t *s2 = sodium_malloc(total * 8);
    int rc;
    *out = NULL;
    if (!s2)
        return GDN_ENOMEM;
    for (unsigned i = 0; i < ctx->nq + ctx->np; i++) {
        const he_mod *m = &ctx->ntt[i].m;
        const uint64_t *s = sk->ntt + (size_t)i * ctx->n;
        for (size_t k = 0; k < ctx->n; k++)
            s2[(size_t)i * ctx->n + k] = he_mul(s[k], s[k], m);
    }
    rc = he_swk_gen(out, s2, sk, rng);
    sodium_free(s2);
    return rc;
}

/* ---- Galois keys ----------------------------------------------------------- */

int he_gk_alloc(gdn_ckks_gk **out, const gdn_ckks_ctx *ctx, size_t count)
{
    gdn_ckks_gk *g = calloc(1, sizeof *g);
    *out = NULL;
    if (!g)
        return GDN_ENOMEM;
    g->ctx = ctx;
    g->galois = calloc(count ? count : 1, sizeof *g->galois);
    g->keys = calloc(count ? count : 1, sizeof *g->keys);
    g->perm = calloc(count ? count : 1, sizeof *g->perm);
    if (!g->galois || !g->keys || !g->perm) {
        gdn_ckks_gk_free(g);
        return GDN_ENOMEM;
    }
    *out = g;
    return 0;
}

int he_gk_set_perm(gdn_ckks_gk *g, size_t i)
{
    if (!(g->perm[i] = malloc(g->ctx->n * sizeof(uint32_t))))
        return GDN_ENOMEM;
    he_galois_perm(g->perm[i], g->ctx, g->galois[i]);
    return 0;
}

int gdn_ckks_galois_gen(gdn_ckks_gk **out, const int *steps, size_t nsteps, int conjugate,
                        const gdn_ckks_sk *sk, gdn_rng *rng)
{
    const gdn_ckks_ctx *ctx = sk->ctx;
    unsigned total = ctx->nq + ctx->np;
    size_t n = ctx->n;
    uint64_t *sg = sodium_malloc((size_t)total * n * 8);
    uint32_t *inv = malloc(n * sizeof *inv);
    int rc = sg && inv ? he_gk_alloc(out, ctx, nsteps + 1) : GDN_ENOMEM;
    if (rc) {
        sodium_free(sg);
        free(inv);
        return rc;
    }
    gdn_ckks_gk *g = *out;
    for (size_t s = 0; s <= nsteps && !rc; s++) {
        uint64_t elt;
        if (s == nsteps) {
            if (!conjugate)
                break;
            elt = 2 * (uint64_t)n - 1;
        } else {
            elt = he_galois_elt(ctx, steps[s]);
        }
        int dup = elt == 1;
        for (size_t i = 0; i < g->count; i++)
            dup |= g->galois[i] == elt;
        if (dup)
            continue;
        size_t i = g->count;
        g->galois[i] = elt;
        if ((rc = he_gk_set_perm(g, i)))
            break;
        g->count++;
        /* sigma_g(s) in NTT form is a permutation of s's NTT values. */
        const uint32_t *perm = g->perm[i];
        for (unsigned p = 0; p < total; p++) {
            const uint64_t *src = sk->ntt + (size_t)p * n;
            uint64_t *dst = sg + (size_t)p * n;
            for (size_t k = 0; k < n; k++)
                dst[k] = src[perm[k]];
        }
        rc = he_swk_gen(&g->keys[i], sg, sk, rng);
        if (!rc) {
            he_perm_inverse(inv, perm, n);
            rc = he_swk_permute(g->keys[i], inv);
        }
    }
    sodium_free(sg);
    free(inv);
    if (rc) {
        gdn_ckks_gk_free(g);
        *out = NULL;
    }
    return rc;
}

void he_perm_inverse(uint32_t *inv, const uint32_t *perm, size_t n)
{
    for (size_t i = 0; i < n; i++)
        inv[perm[i]] = (uint32_t)i;
}

int he_swk_permute(gdn_ckks_swk *k, const uint32_t *idx)
{
    const gdn_ckks_ctx *c = k->ctx;
    size_t n = c->n, polys = (size_t)c->dnum * (c->nq + c->np);
    uint64_t *t = malloc(n * 8);
    if (!t)
        return GDN_ENOMEM;
    for (int h = 0; h < 2; h++)
        for (size_t p = 0; p < polys; p++) {
            uint64_t *x = (h ? k->a : k->b) + p * n;
            for (size_t i = 0; i < n; i++)
                t[i] = x[idx[i]];
            memcpy(x, t, n * 8);
        }
    free(t);
    return 0;
}

void gdn_ckks_gk_free(gdn_ckks_gk *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->count; i++) {
        gdn_ckks_swk_free(g->keys[i]);
        free(g->perm[i]);
    }
    free(g->galois);
    free(g->keys);
    free(g->perm);
    free(g);
}

/* ---- Encryption and decryption -------------------------------------------- */

/* (v b + e0, v a + e1) over QP, divided by P (rounded), plus m: the
 * division scales the noise v e + e0 + e1 s down to the rounding error. */
int gdn_ckks_encrypt_pk(gdn_ckks_ct *ct, const gdn_ckks_pt *pt, const gdn_ckks_pk *pk,
                        gdn_rng *rng)
{
    const gdn_ckks_ctx *ctx = pk->ctx;
    size_t n = ctx->n;
    unsigned l = pt->level, slots = l + 1 + ctx->np;
    int8_t *v = malloc(n);
    int64_t *e = malloc(n * sizeof *e);
    uint64_t *vn = gdn_alloc_aligned((size_t)slots * n * 8);
    uint64_t *acc = gdn_alloc_aligned((size_t)slots * n * 8);
    unsigned primes[GDN_CKKS_MAX_PRIMES + GDN_CKKS_MAX_SPECIAL];
    int rc = 0;

    if (pt->ctx != ctx || ct->ctx != ctx) {
        rc = gdn_error(GDN_EINVAL, "ckks encrypt: objects of different contexts");
        goto out;
    }
    if (!v || !e || !vn || !acc || he_ct_reserve(ct, 2)) {
        rc = GDN_ENOMEM;
        goto out;
    }
    for (unsigned s = 0; s < slots; s++)
        primes[s] = s <= l ? s : ctx->nq + (s - l - 1);
    sample_ternary(v, n, rng);
    for (size_t k = 0; k < n; k++)
        e[k] = v[k];
    for (unsigned s = 0; s < slots; s++)
        he_small_to_ntt(vn + (size_t)s * n, ctx, e, primes[s], 1);
    for (unsigned c = 0; c < 2; c++) {
        const uint64_t *key = c == 0 ? pk->b : pk->a;
        he_sample_error(e, n, rng);
        for (unsigned s = 0; s < slots; s++) {
            uint64_t *o = acc + (size_t)s * n;
            he_small_to_ntt(o, ctx, e, primes[s], 1);
            mul_acc(o, vn + (size_t)s * n, key + (size_t)primes[s] * n, ctx, primes[s], 1);
        }
        if ((rc = he_mod_down(he_ct_poly(ct, c, 0), acc, ctx, l, 0)))
            goto out;
    }
    uint64_t *c0 = he_ct_poly(ct, 0, 0);
    for (unsigned i = 0; i <= l; i++) {
        uint64_t q = ctx->ntt[i].m.q;
        for (size_t k = 0; k < n; k++)
            c0[(size_t)i * n + k] = he_add(c0[(size_t)i * n + k], pt->data[(size_t)i * n + k], q);
    }
    ct->size = 2;
    ct->level = l;
    ct->scale = pt->scale;
    ct->seeded = 0;
out:
    if (v)
        sodium_memzero(v, n);
    if (e)
        sodium_memzero(e, n * sizeof *e);
    if (vn)
        sodium_memzero(vn, (size_t)slots * n * 8);
    if (acc) /* v b + e0 mod P was never published */
        sodium_memzero(acc, (size_t)slots * n * 8);
    free(v);
    free(e);
    gdn_free_aligned(vn);
    gdn_free_aligned(acc);
    return rc;
}

int gdn_ckks_encrypt_sk(gdn_ckks_ct *ct, const gdn_ckks_pt *pt, const gdn_ckks_sk *sk,
                        gdn_rng *rng)
{
    const gdn_ckks_ctx *ctx = sk->ctx;
    size_t n = ctx->n;
    unsigned np = pt->level + 1;
    int rc;

    if (pt->ctx != ctx || ct->ctx != ctx)
        return gdn_error(GDN_EINVAL, "ckks encrypt: objects of different contexts");
    if (he_ct_reserve(ct, 2))
        return GDN_ENOMEM;
    gdn_rng_bytes(rng, ct->seed, sizeof ct->seed);
    uint64_t *c0 = he_ct_poly(ct, 0, 0), *c1 = he_ct_poly(ct, 1, 0);
    he_sample_uniform(c1, ctx, 0, np, ct->seed, 0);
    if ((rc = rlwe_sample(c0, c1, sk, np, NULL, rng)))
        return rc;
    for (unsigned i = 0; i < np; i++) {
        uint64_t q = ctx->ntt[i].m.q;
        for (size_t k = 0; k < n; k++)
            c0[(size_t)i * n + k] = he_add(c0[(size_t)i * n + k], pt->data[(size_t)i * n + k], q);
    }
    ct->size = 2;
    ct->level = pt->level;
    ct->scale = pt->scale;
    ct->seeded = 1;
    return 0;
}

int gdn_ckks_decrypt(gdn_ckks_pt *pt, const gdn_ckks_ct *ct, const gdn_ckks_sk *sk)
{
    const gdn_ckks_ctx *ctx = sk->ctx;
    size_t n = ctx->n;
    unsigned np = ct->level + 1;

    if (pt->ctx != ctx || ct->ctx != ctx)
        return gdn_error(GDN_EINVAL, "ckks decrypt: objects of different contexts");
    /* Horner: ((c2 s + c1) s + c0). */
    for (unsigned i = 0; i < np; i++) {
        const he_mod *m = &ctx->ntt[i].m;
        const uint64_t *s = sk->ntt + (size_t)i * n;
        const uint64_t *c0 = he_ct_poly(ct, 0, i), *c1 = he_ct_poly(ct, 1, i);
        const uint64_t *c2 = ct->size > 2 ? he_ct_poly(ct, 2, i) : NULL;
        uint64_t *o = pt->data + (size_t)i * n;
#if HE_X86
        if (he_simd() >= 2 && ctx->ntt[i].w52) {
            he_decrypt_ifma(o, c0, c1, c2, s, n, m);
            continue;
        }
#endif
        for (size_t k = 0; k < n; k++) {
            uint64_t x = c1[k];
            if (c2)
                x = he_add(x, he_mul(c2[k], s[k], m), m->q);
            o[k] = he_add(c0[k], he_mul(x, s[k], m), m->q);
        }
    }
    pt->level = ct->level;
    pt->scale = ct->scale;
    return 0;
}
