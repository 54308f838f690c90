/* he: the NTT with AVX-512 IFMA (52-bit multiply-add), for primes below 2^50
 * so that Harvey's lazy values (< 4q) fit the 52-bit multiplier inputs; the
 * same approach as Intel HEXL (Boemer et al., WAHC 2021, §4): Shoup's
 * quotient uses w' = floor(w 2^52 / q) and the high half of a 52 x 52-bit
 * product (the transform itself is ntt_simd.inc). Also the IFMA kernels of
 * key switching, base conversion, ModDown, rescale, products and decryption.
 * Compiled for AVX-512 IFMA whatever the build's target; callers use it only
 * when the CPU has it. */
#include "he/he_internal.h"

#if HE_X86
#ifdef __clang__
#pragma clang attribute push(__attribute__((target("avx512f,avx512ifma"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512ifma")
#endif
#include <immintrin.h>

typedef __m512i v8;

int he_ntt_ifma_ok(const he_ntt *t)
{
    return t->w52 != NULL && t->n >= 16;
}

static inline v8 bcast(uint64_t x) { return _mm512_set1_epi64((long long)x); }

/* a w mod q in [0, 2q) for a < 2^52 (Shoup with 52-bit words). */
static inline v8 mul_shoup52(v8 a, v8 w, v8 ws, v8 q, v8 mask)
{
    v8 qh = _mm512_madd52hi_epu64(_mm512_setzero_si512(), a, ws);
    v8 lo = _mm512_madd52lo_epu64(_mm512_setzero_si512(), a, w);
    v8 qq = _mm512_madd52lo_epu64(_mm512_setzero_si512(), qh, q);
    return _mm512_and_si512(_mm512_sub_epi64(lo, qq), mask);
}

#define NTT_FORWARD he_ntt_forward_ifma
#define NTT_INVERSE he_ntt_inverse_ifma
#define TW_SHOUP w52
#define ITW_SHOUP iw52
#define NINV_SHOUP ninv52
static inline v8 mul_shoup_v(v8 a, v8 w, v8 ws, v8 q, v8 mask)
{
    return mul_shoup52(a, w, ws, q, mask);
}
#include "he/ntt_simd.inc"

/* o0[x] = sum_j e_j[perm[x]] kb_j[x], o1 likewise with ka (mod q < 2^50,
 * nd <= 15): the 104-bit products accumulate as separate low and high
 * 52-bit halves, L + 2^52 H, then H 2^52 and L are reduced with Shoup's
 * method for the constants 2^52 mod q and 1. Each high half is below 2^48
 * (products below 2^100), so H plus the carry of L stays below 2^52, the
 * multiplier's input width: that bounds the number of terms. */
void he_dot_ifma(uint64_t *o0, uint64_t *o1, const uint64_t *const *e, const uint64_t *const *kb,
                 const uint64_t *const *ka, unsigned nd, size_t n, const uint32_t *perm,
                 const he_mod *m)
{
    const uint64_t qs = m->q, r52 = (uint64_t)(((he_u128)1 << 52) % qs);
    const v8 q = bcast(qs), q2 = bcast(2 * qs), mask = bcast(((uint64_t)1 << 52) - 1);
    const v8 r = bcast(r52), rs = bcast((uint64_t)(((he_u128)r52 << 52) / qs));
    const v8 one = bcast(1), ones = bcast((uint64_t)(((he_u128)1 << 52) / qs));
    const v8 z = _mm512_setzero_si512();
    for (size_t x = 0; x < n; x += 8) {
        v8 l0 = z, h0 = z, l1 = z, h1 = z;
        __m256i idx = perm ? _mm256_loadu_si256((const __m256i *)(perm + x)) : _mm256_setzero_si256();
        for (unsigned j = 0; j < nd; j++) {
            v8 ev = perm ? _mm512_i32gather_epi64(idx, (const void *)e[j], 8)
                         : _mm512_loadu_si512((const void *)(e[j] + x));
            v8 bv = _mm512_loadu_si512((const void *)(kb[j] + x));
            v8 av = _mm512_loadu_si512((const void *)(ka[j] + x));
            l0 = _mm512_madd52lo_epu64(l0, ev, bv);
            h0 = _mm512_madd52hi_epu64(h0, ev, bv);
            l1 = _mm512_madd52lo_epu64(l1, ev, av);
            h1 = _mm512_madd52hi_epu64(h1, ev, av);
        }
        v8 *ls[2] = {&l0, &l1}, *hs[2] = {&h0, &h1};
        uint64_t *os[2] = {o0, o1};
        for (int k = 0; k < 2; k++) {
            v8 l = *ls[k], h = _mm512_add_epi64(*hs[k], _mm512_srli_epi64(*ls[k], 52));
            l = _mm512_and_si512(l, mask);
            v8 a = mul_shoup52(h, r, rs, q, mask);   /* h 2^52 mod q, [0, 2q) */
            v8 b = mul_shoup52(l, one, ones, q, mask); /* l mod q, [0, 2q) */
            v8 s = csub(csub(_mm512_add_epi64(a, b), q2), q);
            _mm512_storeu_si512((void *)(os[k] + x), s);
        }
    }
}

/* o = (a - b) w mod q, plus the old o when add (a, b, o < q < 2^50). */
void he_sub_mul_ifma(uint64_t *o, const uint64_t *a, const uint64_t *b, uint64_t w,
                     uint64_t w52, size_t n, const he_mod *m, int add)
{
    const v8 q = bcast(m->q), mask = bcast(((uint64_t)1 << 52) - 1);
    const v8 wv = bcast(w), ws = bcast(w52);
    for (size_t x = 0; x < n; x += 8) {
        v8 av = _mm512_loadu_si512((const void *)(a + x));
        v8 bv = _mm512_loadu_si512((const void *)(b + x));
        v8 d = _mm512_sub_epi64(_mm512_add_epi64(av, q), bv);
        v8 r = csub(mul_shoup52(d, wv, ws, q, mask), q);
        if (add)
            r = csub(_mm512_add_epi64(r, _mm512_loadu_si512((const void *)(o + x))), q);
        _mm512_storeu_si512((void *)(o + x), r);
    }
}

/* (h 2^52 + l) mod q for the accumulated halves of a sum of products. */
static inline v8 reduce_halves(v8 l, v8 h, v8 r, v8 rs, v8 one, v8 ones, v8 q, v8 q2, v8 mask)
{
    h = _mm512_add_epi64(h, _mm512_srli_epi64(l, 52));
    l = _mm512_and_si512(l, mask);
    v8 a = mul_shoup52(h, r, rs, q, mask);
    v8 b = mul_shoup52(l, one, ones, q, mask);
    return csub(csub(_mm512_add_epi64(a, b), q2), q);
}

#define REDUCE_CONSTS(m)                                                              \
    const uint64_t qs_ = (m)->q, r52_ = (uint64_t)(((he_u128)1 << 52) % qs_);         \
    const v8 q = bcast(qs_), q2 = bcast(2 * qs_), mask = bcast(((uint64_t)1 << 52) - 1); \
    const v8 r = bcast(r52_), rs = bcast((uint64_t)(((he_u128)r52_ << 52) / qs_));   \
    const v8 one = bcast(1), ones = bcast((uint64_t)(((he_u128)1 << 52) / qs_));     \
    const v8 z = _mm512_setzero_si512()

/* Ciphertext product of one prime: d0 = a0 b0, d1 = a0 b1 + a1 b0, d2 = a1 b1. */
void he_mul3_ifma(uint64_t *d0, uint64_t *d1, uint64_t *d2, const uint64_t *a0,
                  const uint64_t *a1, const uint64_t *b0, const uint64_t *b1, size_t n,
                  const he_mod *m)
{
    REDUCE_CONSTS(m);
    for (size_t x = 0; x < n; x += 8) {
        v8 x0 = _mm512_loadu_si512((const void *)(a0 + x));
        v8 x1 = _mm512_loadu_si512((const void *)(a1 + x));
        v8 y0 = _mm512_loadu_si512((const void *)(b0 + x));
        v8 y1 = _mm512_loadu_si512((const void *)(b1 + x));
        v8 l0 = _mm512_madd52lo_epu64(z, x0, y0), h0 = _mm512_madd52hi_epu64(z, x0, y0);
        v8 l2 = _mm512_madd52lo_epu64(z, x1, y1), h2 = _mm512_madd52hi_epu64(z, x1, y1);
        v8 l1 = _mm512_madd52lo_epu64(_mm512_madd52lo_epu64(z, x0, y1), x1, y0);
        v8 h1 = _mm512_madd52hi_epu64(_mm512_madd52hi_epu64(z, x0, y1), x1, y0);
        _mm512_storeu_si512((void *)(d0 + x), reduce_halves(l0, h0, r, rs, one, ones, q, q2, mask));
        _mm512_storeu_si512((void *)(d1 + x), reduce_halves(l1, h1, r, rs, one, ones, q, q2, mask));
        _mm512_storeu_si512((void *)(d2 + x), reduce_halves(l2, h2, r, rs, one, ones, q, q2, mask));
    }
}

/* Decryption of one prime: o = c0 + (c1 + c2 s) s (c2 may be NULL). */
void he_decrypt_ifma(uint64_t *o, const uint64_t *c0, const uint64_t *c1, const uint64_t *c2,
                     const uint64_t *s, size_t n, const he_mod *m)
{
    REDUCE_CONSTS(m);
    for (size_t x = 0; x < n; x += 8) {
        v8 sv = _mm512_loadu_si512((const void *)(s + x));
        v8 t = _mm512_loadu_si512((const void *)(c1 + x));
        if (c2) {
            v8 c2v = _mm512_loadu_si512((const void *)(c2 + x));
            t = reduce_halves(_mm512_madd52lo_epu64(t, c2v, sv), _mm512_madd52hi_epu64(z, c2v, sv),
                              r, rs, one, ones, q, q2, mask);
        }
        v8 l = _mm512_madd52lo_epu64(_mm512_loadu_si512((const void *)(c0 + x)), t, sv);
        v8 h = _mm512_madd52hi_epu64(z, t, sv);
        _mm512_storeu_si512((void *)(o + x), reduce_halves(l, h, r, rs, one, ones, q, q2, mask));
    }
}

/* Base conversion to one target: o = sum_i y_i h_i + big negq mod q (every
 * y_i below 2^50, ns <= 14). */
void he_conv_ifma(uint64_t *o, const uint64_t *y, size_t stride, const uint64_t *h, unsigned ns,
                  const uint8_t *big, uint64_t negq, size_t n, const he_mod *m)
{
    REDUCE_CONSTS(m);
    const v8 nq = bcast(negq);
    for (size_t x = 0; x < n; x += 8) {
        v8 bg = _mm512_cvtepu8_epi64(_mm_loadl_epi64((const __m128i *)(big + x)));
        v8 l = _mm512_madd52lo_epu64(z, bg, nq), hh = _mm512_madd52hi_epu64(z, bg, nq);
        for (unsigned i = 0; i < ns; i++) {
            v8 yv = _mm512_loadu_si512((const void *)(y + i * stride + x)), hv = bcast(h[i]);
            l = _mm512_madd52lo_epu64(l, yv, hv);
            hh = _mm512_madd52hi_epu64(hh, yv, hv);
        }
        _mm512_storeu_si512((void *)(o + x), reduce_halves(l, hh, r, rs, one, ones, q, q2, mask));
    }
}

#ifdef __clang__
#pragma clang attribute pop
#endif
#endif
