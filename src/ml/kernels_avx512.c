/* AVX-512F instances of the kernels in kernels_simd.inc. The file is
 * compiled for AVX-512F whatever the build's target; kernels.c calls it only
 * when the CPU (and the OS) support it. */
#include "ml/kernels.h"

#if GDN_ML_X86
#ifdef __clang__
#pragma clang attribute push(__attribute__((target("avx512f"))), apply_to = function)
#else
#pragma GCC target("avx512f")
#endif
#include <immintrin.h>

typedef __m512 vf;
typedef __mmask16 vm;
#define VL 16
#define MR_NT 5 /* 20 accumulators + 5 + 4 operands of 32 registers */
#define NT_CASES X(1) X(2) X(3) X(4) X(5)
#define MR_AMAT 6 /* 24 accumulators + 4 + 1 operands */
#define NV_AMAT 4
#define AMAT_CASES X(1) X(2) X(3) X(4) X(5) X(6)
#define ISA(name) name##_avx512

static inline vf vzero(void) { return _mm512_setzero_ps(); }
static inline vf vset1(float x) { return _mm512_set1_ps(x); }
static inline vf vload(const float *p) { return _mm512_loadu_ps(p); }
static inline vf vloadm(const float *p, vm m) { return _mm512_maskz_loadu_ps(m, p); }
static inline void vstore(float *p, vf v) { _mm512_storeu_ps(p, v); }
static inline void vstorem(float *p, vf v, vm m) { _mm512_mask_storeu_ps(p, m, v); }
static inline vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline vf vadd(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf vsub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static inline vf vmul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf vmax(vf a, vf b) { return _mm512_max_ps(a, b); }
/* d where x > 0, else 0. */
static inline vf vpositive(vf x, vf d)
{
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(x, vzero(), _CMP_GT_OQ), d);
}
/* Lanes [0, r) for 0 <= r <= 16. */
static inline vm vmask(size_t r) { return (vm)((1u << r) - 1); }
static inline vm vgt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
/* b where m, else a. */
static inline vf vblend(vm m, vf a, vf b) { return _mm512_mask_blend_ps(m, a, b); }
/* even = lo[0], lo[2], ..., hi[14];  odd = lo[1], lo[3], ..., hi[15]. */
static inline void vdeinterleave(vf *even, vf *odd, vf lo, vf hi)
{
    __m512i e = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    *even = _mm512_permutex2var_ps(lo, e, hi);
    *odd = _mm512_permutex2var_ps(lo, _mm512_add_epi32(e, _mm512_set1_epi32(1)), hi);
}

typedef __m512i vi;
static inline vi vseti(int32_t x) { return _mm512_set1_epi32(x); }
static inline vi vaddi(vi a, vi b) { return _mm512_add_epi32(a, b); }
static inline vi viota2(void)
{
    return _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
}
static inline vi vblendi(vm m, vi a, vi b) { return _mm512_mask_blend_epi32(m, a, b); }
static inline void vstorei(uint32_t *p, vi v, vm m) { _mm512_mask_storeu_epi32(p, m, v); }

static inline __m256 fold(vf v)
{
    __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    return _mm256_add_ps(_mm512_castps512_ps256(v), hi);
}

/* The four horizontal sums of a, b, c, d, in that order. */
static inline __m128 vsum4(vf a, vf b, vf c, vf d)
{
    __m256 ab = _mm256_hadd_ps(fold(a), fold(b));
    __m256 cd = _mm256_hadd_ps(fold(c), fold(d));
    __m256 s = _mm256_hadd_ps(ab, cd);
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/* d[j][i] = s[i][j] for a 16 x 16 block: 4 x 4 transposes inside each
 * 128-bit lane (unpack, shuffle), then a 4 x 4 transpose of the lanes. */
static inline void vtranspose(float *d, size_t ldd, const float *s, size_t lds)
{
    vf r[16], t[16];

    for (int i = 0; i < 16; i++)
        r[i] = _mm512_loadu_ps(s + i * lds);
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    /* r[4g + j], lane L: column 4L + j of rows 4g .. 4g + 3. */
    for (int g = 0; g < 16; g += 4) {
        r[g] = _mm512_shuffle_ps(t[g], t[g + 2], 0x44);
        r[g + 1] = _mm512_shuffle_ps(t[g], t[g + 2], 0xEE);
        r[g + 2] = _mm512_shuffle_ps(t[g + 1], t[g + 3], 0x44);
        r[g + 3] = _mm512_shuffle_ps(t[g + 1], t[g + 3], 0xEE);
    }
    for (int j = 0; j < 4; j++) {
        vf u0 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x44);
        vf u1 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xEE);
        vf u2 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x44);
        vf u3 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xEE);
        _mm512_storeu_ps(d + (size_t)j * ldd, _mm512_shuffle_f32x4(u0, u2, 0x88));
        _mm512_storeu_ps(d + (size_t)(4 + j) * ldd, _mm512_shuffle_f32x4(u0, u2, 0xDD));
        _mm512_storeu_ps(d + (size_t)(8 + j) * ldd, _mm512_shuffle_f32x4(u1, u3, 0x88));
        _mm512_storeu_ps(d + (size_t)(12 + j) * ldd, _mm512_shuffle_f32x4(u1, u3, 0xDD));
    }
}

#include "ml/kernels_simd.inc"

#ifdef __clang__
#pragma clang attribute pop
#endif
#else
typedef int gdn_gemm_avx512_unused; /* not x86-64: nothing to build */
#endif
