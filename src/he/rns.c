/* he: sampling, RNS base conversion and the Galois automorphisms. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "he/he_internal.h"

/* Rejection sampling of uniform residues from a ChaCha20 stream keyed by the
 * seed, nonce = (stream, prime index): public randomness, so the rejection
 * branch leaks nothing secret. */
void he_sample_uniform(uint64_t *out, const gdn_ckks_ctx *ctx, unsigned first,
                       unsigned count, const uint8_t seed[GDN_CKKS_SEED_BYTES],
                       uint64_t stream)
{
    size_t n = ctx->n;
    for (unsigned i = 0; i < count; i++) {
        const he_mod *m = &ctx->ntt[first + i].m;
        uint8_t nonce[GDN_RNG_NONCEBYTES] = {0};
        uint64_t mask = m->bits == 64 ? ~(uint64_t)0 : ((uint64_t)1 << m->bits) - 1;
        uint64_t buf[64];
        size_t have = 0, used = 0;
        gdn_rng r;

        gdn_store_le64(nonce, stream);
        gdn_store_le32(nonce + 8, first + i);
        gdn_rng_init_key(&r, seed, nonce);
        uint64_t *o = out + (size_t)i * n;
        for (size_t k = 0; k < n;) {
            if (used == have) {
                uint8_t b[sizeof buf];
                gdn_rng_bytes(&r, b, sizeof b);
                for (size_t j = 0; j < 64; j++)
                    buf[j] = gdn_load_le64(b + 8 * j);
                have = 64, used = 0;
            }
            uint64_t v = buf[used++] & mask;
            if (v < m->q)
                o[k++] = v;
        }
        gdn_rng_wipe(&r);
    }
}

/* Bit count by halving (no popcnt instruction is assumed, and libgcc's
 * fallback is a call): constant time. */
static inline uint64_t popcount42(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (x * 0x0101010101010101ull) >> 56;
}

/* Centered binomial distribution B(42, 1/2) - 21: variance 10.5, as the
 * rounded Gaussian of sigma 3.2 the standard assumes (Alkim et al., "Post-
 * quantum key exchange - a new hope", USENIX Security 2016, §4), constant
 * time by construction. */
void he_sample_error(int64_t *out, size_t n, gdn_rng *rng)
{
    uint8_t b[8 * 64];
    for (size_t k = 0; k < n; k += 64) {
        gdn_rng_bytes(rng, b, sizeof b);
        for (size_t j = 0; j < 64 && k + j < n; j++) {
            uint64_t x = gdn_load_le64(b + 8 * j);
            out[k + j] = (int64_t)popcount42(x & 0x1fffff) - (int64_t)popcount42((x >> 21) & 0x1fffff);
        }
    }
    sodium_memzero(b, sizeof b);
}

void he_int_to_ntt(uint64_t *out, const gdn_ckks_ctx *ctx, const int64_t *c, unsigned first,
                   unsigned count)
{
    size_t n = ctx->n;
    for (unsigned i = 0; i < count; i++) {
        const he_ntt *t = &ctx->ntt[first + i];
        uint64_t q = t->m.q, *o = out + (size_t)i * n;
        for (size_t k = 0; k < n; k++) {
            uint64_t v = (uint64_t)c[k];
            uint64_t neg = (uint64_t)0 - (v >> 63);
            uint64_t r = he_red64((v ^ neg) - neg, &t->m); /* |c| mod q */
            o[k] = (he_neg(r, q) & neg) | (r & ~neg);
        }
        he_ntt_forward(t, o);
    }
}

void he_small_to_ntt(uint64_t *out, const gdn_ckks_ctx *ctx, const int64_t *c, unsigned first,
                     unsigned count)
{
    size_t n = ctx->n;
    for (unsigned i = 0; i < count; i++) {
        const he_ntt *t = &ctx->ntt[first + i];
        uint64_t q = t->m.q, *o = out + (size_t)i * n;
        for (size_t k = 0; k < n; k++) {
            uint64_t v = (uint64_t)c[k];
            o[k] = v + (q & ((uint64_t)0 - (v >> 63))); /* |c| < 2^19 < q */
        }
        he_ntt_forward(t, o);
    }
}

int he_base_conv(uint64_t *const *out, const unsigned *dst, unsigned nd,
                 const uint64_t *const *in, const unsigned *src, unsigned ns,
                 const gdn_ckks_ctx *ctx)
{
    size_t n = ctx->n;
    uint64_t *hinv = malloc(ns * 2 * sizeof *hinv);
    uint64_t *hmod = malloc((size_t)nd * (ns + 1) * sizeof *hmod);
    uint64_t *y = gdn_alloc_aligned((size_t)ns * n * sizeof *y);
    uint8_t *big = malloc(n);

    if (!hinv || !hmod || !y || !big) {
        free(hinv), free(hmod), gdn_free_aligned(y), free(big);
        return GDN_ENOMEM;
    }
    /* qhat_i = prod_{j != i} q_j: its inverse mod q_i, its residue mod t;
     * hmod[t][ns] = Q mod t. */
    for (unsigned i = 0; i < ns; i++) {
        const he_mod *mi = &ctx->ntt[src[i]].m;
        uint64_t prod = 1;
        for (unsigned j = 0; j < ns; j++)
            if (j != i)
                prod = he_mul(prod, he_red64(ctx->ntt[src[j]].m.q, mi), mi);
        hinv[2 * i] = he_inv(prod, mi);
        hinv[2 * i + 1] = he_shoup(hinv[2 * i], mi->q);
    }
    for (unsigned t = 0; t < nd; t++) {
        const he_mod *mt = &ctx->ntt[dst[t]].m;
        uint64_t *h = hmod + (size_t)t * (ns + 1);
        h[ns] = 1;
        for (unsigned i = 0; i < ns; i++) {
            h[i] = 1;
            for (unsigned j = 0; j < ns; j++)
                if (j != i)
                    h[i] = he_mul(h[i], he_red64(ctx->ntt[src[j]].m.q, mt), mt);
            h[ns] = he_mul(h[ns], he_red64(ctx->ntt[src[i]].m.q, mt), mt);
        }
    }
    /* y_i = [x_i qhat_i^-1]_{q_i}, taken centered: big counts the y_i above
     * q_i / 2, each standing for y_i - q_i. Then sum_i y_i qhat_i = x + u Q
     * with |u| <= ns / 2 and u of mean 0, so that ModDown rounds instead of
     * flooring (a biased error would pile up in a few slots). */
    memset(big, 0, n);
    for (unsigned i = 0; i < ns; i++) {
        uint64_t q = ctx->ntt[src[i]].m.q, w = hinv[2 * i], ws = hinv[2 * i + 1];
        const uint64_t *a = in[i];
        uint64_t *yi = y + (size_t)i * n, half = q >> 1;
        for (size_t k = 0; k < n; k++) {
            yi[k] = he_mul_shoup(a[k], w, ws, q);
            big[k] += (uint8_t)(yi[k] > half);
        }
    }
    /* Sum of ns products below q_i t < 2^122 each, plus big (t - Q mod t):
     * ns <= 32 keeps it below 2^128. One prime: a plain (centered) reduction. */
    int simd = 0;
#if HE_X86
    simd = he_simd() >= 2 && ns <= 14;
    for (unsigned i = 0; i < ns; i++)
        simd &= ctx->ntt[src[i]].w52 != NULL;
#endif
    for (unsigned t = 0; t < nd; t++) {
        const he_mod *mt = &ctx->ntt[dst[t]].m;
        const uint64_t *h = hmod + (size_t)t * (ns + 1);
        uint64_t *o = out[t], negq = mt->q - h[ns];
#if HE_X86
        if (simd && ctx->ntt[dst[t]].w52) {
            he_conv_ifma(o, y, n, h, ns, big, negq, n, mt);
            continue;
        }
#endif
        if (ns == 1) {
            const uint64_t *y0 = y;
            for (size_t k = 0; k < n; k++) {
                uint64_t mask = (uint64_t)0 - (uint64_t)big[k];
                o[k] = he_csub(he_red64(y0[k], mt) + (negq & mask), mt->q);
            }
            continue;
        }
        for (size_t k = 0; k < n; k++) {
            he_u128 acc = (he_u128)big[k] * negq;
            for (unsigned i = 0; i < ns; i++)
                acc += (he_u128)y[(size_t)i * n + k] * h[i];
            o[k] = he_red128(acc, mt);
        }
    }
    free(hinv);
    free(hmod);
    free(big);
    gdn_free_aligned(y);
    return 0;
}

uint64_t he_galois_elt(const gdn_ckks_ctx *ctx, int step)
{
    uint64_t m = 2 * (uint64_t)ctx->n, nh = ctx->n / 2, g = 1, base = 5;
    long long s = step % (long long)nh;
    uint64_t e = (uint64_t)(s < 0 ? s + (long long)nh : s);
    while (e) {
        if (e & 1)
            g = g * base % m;
        base = base * base % m;
        e >>= 1;
    }
    return g;
}


/* Slot i of the forward NTT holds a(psi^(2 brv(i) + 1)); sigma_g(a) there
 * is a(psi^((2 brv(i) + 1) g)). */
void he_galois_perm(uint32_t *perm, const gdn_ckks_ctx *ctx, uint64_t g)
{
    size_t n = ctx->n;
    uint64_t m = 2 * (uint64_t)n;
    for (size_t i = 0; i < n; i++) {
        uint64_t e = (2 * gdn_bit_reverse(i, ctx->logn) + 1) * g % m;
        perm[i] = (uint32_t)gdn_bit_reverse((size_t)((e - 1) / 2), ctx->logn);
    }
}
