/* he: the NTT with AVX-512F/DQ 64-bit lanes, for primes of any supported
 * size (below 2^61): Shoup's quotient is the high half of a 64 x 64-bit
 * product built from four 32 x 32-bit ones (AVX-512 has no 64-bit high
 * multiply), the remainder two low 64-bit products (HEXL's path for primes
 * above 2^50). The transform itself is ntt_simd.inc. Compiled for AVX-512F
 * and DQ whatever the build's target; ntt.c calls it only when the CPU has
 * them. */
#include "he/he_internal.h"

#if HE_X86
#ifdef __clang__
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512dq")
#endif
#include <immintrin.h>

typedef __m512i v8;

static inline v8 bcast(uint64_t x) { return _mm512_set1_epi64((long long)x); }

/* floor(a b / 2^64), exactly. */
static inline v8 mulhi64(v8 a, v8 b)
{
    const v8 lo = bcast(0xffffffffu);
    v8 ah = _mm512_srli_epi64(a, 32), bh = _mm512_srli_epi64(b, 32);
    v8 p00 = _mm512_mul_epu32(a, b), p01 = _mm512_mul_epu32(a, bh);
    v8 p10 = _mm512_mul_epu32(ah, b), p11 = _mm512_mul_epu32(ah, bh);
    v8 mid = _mm512_add_epi64(_mm512_add_epi64(_mm512_srli_epi64(p00, 32),
                                               _mm512_and_si512(p01, lo)),
                              _mm512_and_si512(p10, lo));
    return _mm512_add_epi64(_mm512_add_epi64(p11, _mm512_srli_epi64(p01, 32)),
                            _mm512_add_epi64(_mm512_srli_epi64(p10, 32),
                                             _mm512_srli_epi64(mid, 32)));
}

/* a w mod q in [0, 2q) for any 64-bit a (Harvey 2014, Alg. 4). */
static inline v8 mul_shoup_v(v8 a, v8 w, v8 ws, v8 q, v8 mask)
{
    (void)mask;
    v8 qh = mulhi64(a, ws);
    return _mm512_sub_epi64(_mm512_mullo_epi64(a, w), _mm512_mullo_epi64(qh, q));
}

#define NTT_FORWARD he_ntt_forward_avx512
#define NTT_INVERSE he_ntt_inverse_avx512
#define TW_SHOUP ws
#define ITW_SHOUP iws
#define NINV_SHOUP ninvs
#include "he/ntt_simd.inc"

#ifdef __clang__
#pragma clang attribute pop
#endif
#endif
