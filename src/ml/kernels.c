/* Kernel selection: AVX-512 or AVX2 register-tiled kernels
 * (kernels_simd.inc) when the CPU has them, OpenBLAS otherwise or when
 * GDN_NO_SIMD=1. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "guardian/core.h"
#include "ml/kernels.h"

static atomic_int simd_level = -1;

static int cpu_level(void)
{
#if GDN_ML_X86
    /* libgcc's and compiler-rt's checks include the OS saving the registers
     * (XGETBV), not only CPUID. */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return GDN_SIMD_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return GDN_SIMD_AVX2;
#endif
    return GDN_SIMD_NONE;
}

gdn_simd_level gdn_ml_simd(void) { return (gdn_simd_level)gdn_simd_get(&simd_level, cpu_level); }

gdn_simd_level gdn_ml_set_simd(gdn_simd_level level)
{
    return (gdn_simd_level)gdn_simd_set(&simd_level, cpu_level, (int)level);
}

/* Calls name_avx512(...) or name_avx2(...) and returns when that level is
 * in use; falls through to the portable code otherwise. */
#if GDN_ML_X86
#define SIMD_DISPATCH(name, ...)                                              \
    do {                                                                      \
        gdn_simd_level level_ = gdn_ml_simd();                                \
        if (level_ == GDN_SIMD_AVX512) {                                      \
            name##_avx512(__VA_ARGS__);                                       \
            return;                                                           \
        }                                                                     \
        if (level_ == GDN_SIMD_AVX2) {                                        \
            name##_avx2(__VA_ARGS__);                                         \
            return;                                                           \
        }                                                                     \
    } while (0)
#else
#define SIMD_DISPATCH(name, ...) ((void)0)
#endif

const char *gdn_ml_kernels_name(void)
{
    static const char *const names[] = {"openblas", "avx2", "avx512"};
    return names[gdn_ml_simd()];
}

/* The tiled kernels do not block for the caches as OpenBLAS does: gemm_nt
 * streams all of a once per four rows of b, so it wins only while a stays
 * in L2 (measured here: 1.45x OpenBLAS at 32 x 3136, 0.95x at 64 x 3136,
 * 0.57x at 256 x 3136), and the others lose 10-25% on cubes of 1024. */
#define NT_SMALL(M, K) ((M) <= 64 && (M) * (K) <= ((size_t)1 << 17))
#define XN_SMALL(M, N, K) ((M) * (N) * (K) <= ((size_t)1 << 29))

void gdn_ml_gemm_nt(float *c, const float *a, const float *b,
                    const float *bias, size_t M, size_t N, size_t K)
{
    if (NT_SMALL(M, K))
        SIMD_DISPATCH(gdn_gemm_nt, c, a, b, bias, M, N, K);
    for (size_t m = 0; bias && m < M; m++)
        memcpy(c + m * N, bias, N * sizeof *c);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K,
                1.0f, a, (int)K, b, (int)K, bias ? 1.0f : 0.0f, c, (int)N);
}

/* op(A) b with op(A) = a[M][K] (trans_a = 0) or a[K][M]^T. */
static void gemm_xn(float *c, const float *a, int trans_a, const float *b,
                    size_t M, size_t N, size_t K)
{
    gdn_ml_amat A = {a, trans_a ? 1 : K, {1, 1, K}, {0, 0, trans_a ? M : 1}};

    if (gdn_ml_simd() != GDN_SIMD_NONE && XN_SMALL(M, N, K)) {
        gdn_ml_gemm_amat(c, &A, b, NULL, M, N, 0);
        return;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                CblasNoTrans, (int)M, (int)N, (int)K, 1.0f, a,
                trans_a ? (int)M : (int)K, b, (int)N, 0.0f, c, (int)N);
}

void gdn_ml_gemm_nn(float *c, const float *a, const float *b, size_t M,
                    size_t N, size_t K)
{
    gemm_xn(c, a, 0, b, M, N, K);
}

void gdn_ml_gemm_tn(float *c, const float *a, const float *b, size_t M,
                    size_t N, size_t K)
{
    gemm_xn(c, a, 1, b, M, N, K);
}

void gdn_ml_gemm_amat(float *c, const gdn_ml_amat *A, const float *b,
                      const float *bias, size_t M, size_t N, int accumulate)
{
    SIMD_DISPATCH(gdn_gemm_amat, c, A, b, bias, M, N, accumulate);
    for (size_t m = 0; m < M; m++) {
        const float *bk = b;
        for (size_t n = 0; n < N; n++)
            c[m * N + n] = (accumulate ? c[m * N + n] : 0.0f) + (bias ? bias[n] : 0.0f);
        for (size_t k1 = 0; k1 < A->n[0]; k1++)
            for (size_t k2 = 0; k2 < A->n[1]; k2++)
                for (size_t k3 = 0; k3 < A->n[2]; k3++, bk += N) {
                    float x = A->a[m * A->sm + k1 * A->s[0] + k2 * A->s[1] +
                                   k3 * A->s[2]];
                    for (size_t n = 0; n < N; n++)
                        c[m * N + n] += x * bk[n];
                }
    }
}

void gdn_ml_sgd_update(float *p, const float *g, size_t n, float lr, float wd)
{
    SIMD_DISPATCH(gdn_sgd_update, p, g, n, lr, wd);
    for (size_t i = 0; i < n; i++)
        p[i] -= lr * (g[i] + wd * p[i]);
}

void gdn_ml_relu(float *out, const float *in, size_t n)
{
    SIMD_DISPATCH(gdn_relu, out, in, n);
    for (size_t i = 0; i < n; i++)
        out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

void gdn_ml_relu_backward(float *din, const float *dout, const float *out,
                          size_t n)
{
    SIMD_DISPATCH(gdn_relu_backward, din, dout, out, n);
    for (size_t i = 0; i < n; i++)
        din[i] = out[i] > 0.0f ? dout[i] : 0.0f;
}

void gdn_ml_transpose(float *dst, const float *src, size_t rows, size_t cols)
{
    SIMD_DISPATCH(gdn_transpose, dst, src, rows, cols);
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            dst[j * rows + i] = src[i * cols + j];
}

void gdn_ml_maxpool2(float *out, uint32_t *argmax, const float *in,
                     size_t planes, size_t H, size_t W, size_t OH, size_t OW)
{
    SIMD_DISPATCH(gdn_maxpool2, out, argmax, in, planes, H, W, OH, OW);
    for (size_t pl = 0; pl < planes; pl++, in += H * W)
        for (size_t y = 0; y < OH; y++)
            for (size_t x = 0; x < OW; x++, out++, argmax++) {
                size_t best = 2 * y * W + 2 * x;
                for (size_t j = 1; j < 4; j++) {
                    size_t at = (2 * y + j / 2) * W + 2 * x + j % 2;
                    if (in[at] > in[best])
                        best = at;
                }
                *out = in[best];
                *argmax = (uint32_t)best;
            }
}
