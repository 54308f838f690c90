/* AVX2 + FMA instances of the kernels in kernels_simd.inc, for x86-64
 * CPUs without AVX-512. Compiled for AVX2 whatever the build's target;
 * kernels.c calls it only when the CPU supports it. */
#include "ml/kernels.h"

#if GDN_ML_X86
#ifdef __clang__
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx2,fma")
#endif
#include <immintrin.h>

typedef __m256 vf;
typedef __m256i vm;
#define VL 8
#define MR_NT 2 /* 8 accumulators + 2 + 4 operands of 16 registers */
#define NT_CASES X(1) X(2)
#define MR_AMAT 6 /* 12 accumulators + 2 + 1 operands */
#define NV_AMAT 2
#define AMAT_CASES X(1) X(2) X(3) X(4) X(5) X(6)
#define ISA(name) name##_avx2

static inline vf vzero(void) { return _mm256_setzero_ps(); }
static inline vf vset1(float x) { return _mm256_set1_ps(x); }
static inline vf vload(const float *p) { return _mm256_loadu_ps(p); }
static inline vf vloadm(const float *p, vm m) { return _mm256_maskload_ps(p, m); }
static inline void vstore(float *p, vf v) { _mm256_storeu_ps(p, v); }
static inline void vstorem(float *p, vf v, vm m) { _mm256_maskstore_ps(p, m, v); }
static inline vf vfma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf vadd(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf vsub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf vmul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf vmax(vf a, vf b) { return _mm256_max_ps(a, b); }
/* d where x > 0, else 0. */
static inline vf vpositive(vf x, vf d)
{
    return _mm256_and_ps(_mm256_cmp_ps(x, vzero(), _CMP_GT_OQ), d);
}
/* Lanes [0, r) for 0 <= r <= 8. */
static inline vm vmask(size_t r)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)r),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline vm vgt(vf a, vf b)
{
    return _mm256_castps_si256(_mm256_cmp_ps(a, b, _CMP_GT_OQ));
}
/* b where m, else a. */
static inline vf vblend(vm m, vf a, vf b)
{
    return _mm256_blendv_ps(a, b, _mm256_castsi256_ps(m));
}
/* even = lo[0], lo[2], ..., hi[6];  odd = lo[1], lo[3], ..., hi[7]. */
static inline void vdeinterleave(vf *even, vf *odd, vf lo, vf hi)
{
    /* shuffle_ps gives lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6; then 64-bit
     * blocks 0 2 1 3. */
    *even = _mm256_castpd_ps(_mm256_permute4x64_pd(
        _mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0x88)), 0xD8));
    *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(
        _mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0xDD)), 0xD8));
}

typedef __m256i vi;
static inline vi vseti(int32_t x) { return _mm256_set1_epi32(x); }
static inline vi vaddi(vi a, vi b) { return _mm256_add_epi32(a, b); }
static inline vi viota2(void) { return _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14); }
static inline vi vblendi(vm m, vi a, vi b) { return _mm256_blendv_epi8(a, b, m); }
static inline void vstorei(uint32_t *p, vi v, vm m)
{
    _mm256_maskstore_epi32((int *)p, m, v);
}

/* The four horizontal sums of a, b, c, d, in that order. */
static inline __m128 vsum4(vf a, vf b, vf c, vf d)
{
    __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/* d[j][i] = s[i][j] for an 8 x 8 block: 4 x 4 transposes inside each
 * 128-bit lane (unpack, shuffle), then the lanes swapped. */
static inline void vtranspose(float *d, size_t ldd, const float *s, size_t lds)
{
    vf r[8], t[8];

    for (int i = 0; i < 8; i++)
        r[i] = _mm256_loadu_ps(s + i * lds);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    /* r[4g + j], lane L: column 4L + j of rows 4g .. 4g + 3. */
    for (int g = 0; g < 8; g += 4) {
        r[g] = _mm256_shuffle_ps(t[g], t[g + 2], 0x44);
        r[g + 1] = _mm256_shuffle_ps(t[g], t[g + 2], 0xEE);
        r[g + 2] = _mm256_shuffle_ps(t[g + 1], t[g + 3], 0x44);
        r[g + 3] = _mm256_shuffle_ps(t[g + 1], t[g + 3], 0xEE);
    }
    for (int j = 0; j < 4; j++) {
        _mm256_storeu_ps(d + (size_t)j * ldd, _mm256_permute2f128_ps(r[j], r[4 + j], 0x20));
        _mm256_storeu_ps(d + (size_t)(4 + j) * ldd, _mm256_permute2f128_ps(r[j], r[4 + j], 0x31));
    }
}

#include "ml/kernels_simd.inc"

#ifdef __clang__
#pragma clang attribute pop
#endif
#else
typedef int gdn_gemm_avx2_unused; /* not x86-64: nothing to build */
#endif
