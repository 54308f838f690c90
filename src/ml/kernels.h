/* ml internals: the matrix products of the dense and convolution layers.
 *
 * Federated clients train with small batches (B = 10 in McMahan et al.
 * 2017), where OpenBLAS's per-call packing costs more than the arithmetic.
 * These entry points use register-tiled AVX-512 or AVX2 kernels when the
 * CPU has them (detected at run time) and the product is small enough for
 * them to win, and OpenBLAS or plain C otherwise.
 * Every path is deterministic: the result depends only on the inputs, the
 * shapes and the path, never on timing; paths may differ from one another in
 * the last bits. Matrices are row-major and densely packed. */
#ifndef GDN_ML_KERNELS_H
#define GDN_ML_KERNELS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    GDN_SIMD_NONE,  /* OpenBLAS and plain C */
    GDN_SIMD_AVX2,  /* AVX2 + FMA */
    GDN_SIMD_AVX512 /* AVX-512F */
} gdn_simd_level;

/* The kernels in use: the best the CPU supports, or GDN_SIMD_NONE when the
 * environment has GDN_NO_SIMD=1. */
gdn_simd_level gdn_ml_simd(void);
/* Selects the kernels (clamped to what the CPU supports) and returns the
 * level now in use. For tests and benchmarks; not while a model trains. */
gdn_simd_level gdn_ml_set_simd(gdn_simd_level level);
/* "avx512", "avx2" or "openblas". */
const char *gdn_ml_kernels_name(void);

/* c[M][N] = a[M][K] b[N][K]^T + bias[N] (bias may be NULL). */
void gdn_ml_gemm_nt(float *c, const float *a, const float *b,
                    const float *bias, size_t M, size_t N, size_t K);
/* c[M][N] = a[M][K] b[K][N]. */
void gdn_ml_gemm_nn(float *c, const float *a, const float *b, size_t M,
                    size_t N, size_t K);
/* c[M][N] = a[K][M]^T b[K][N]. */
void gdn_ml_gemm_tn(float *c, const float *a, const float *b, size_t M,
                    size_t N, size_t K);

/* A matrix read through strides: op(A)[m][k] = a[m*sm + k1*s[0] + k2*s[1] +
 * k3*s[2]] where k = (k1*n[1] + k2)*n[2] + k3 and K = n[0]*n[1]*n[2]. It
 * covers a plain matrix or its transpose (n = {1, 1, K}) and the im2col
 * matrix of a convolution read straight from the padded image, so that a
 * convolution is a GEMM without the im2col copy ("implicit GEMM", as in
 * cuDNN: Chetlur et al. 2014). */
typedef struct gdn_ml_amat {
    const float *a;
    size_t sm, n[3], s[3];
} gdn_ml_amat;

/* c[M][N] = op(A) b[K][N] + bias[N] (bias may be NULL), plus the old c when
 * accumulate is non-zero. On GDN_SIMD_NONE this is a plain C loop (the
 * layers use OpenBLAS there). */
void gdn_ml_gemm_amat(float *c, const gdn_ml_amat *A, const float *b,
                      const float *bias, size_t M, size_t N, int accumulate);

/* p[i] -= lr * (g[i] + wd * p[i]), the step of SGD without momentum. */
void gdn_ml_sgd_update(float *p, const float *g, size_t n, float lr, float wd);

/* 2 x 2 max pooling, stride 2, of planes H x W into OH x OW (OH = H/2,
 * OW = W/2): out = the window's maximum, argmax = its index in the plane;
 * ties and NaNs go to the first candidate in row-major order. */
void gdn_ml_maxpool2(float *out, uint32_t *argmax, const float *in,
                     size_t planes, size_t H, size_t W, size_t OH, size_t OW);

/* dst[j][i] = src[i][j] for src of rows x cols (no overlap). */
void gdn_ml_transpose(float *dst, const float *src, size_t rows, size_t cols);

/* out = max(in, 0);  din = dout where out > 0, else 0. Same bits on every
 * path; out may be in, din may be dout. */
void gdn_ml_relu(float *out, const float *in, size_t n);
void gdn_ml_relu_backward(float *din, const float *dout, const float *out,
                          size_t n);

/* x86-64 with GCC or clang: the SIMD kernels below are built. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define GDN_ML_X86 1
#else
#define GDN_ML_X86 0
#endif

/* The SIMD kernels behind the entry points (kernels_simd.inc). Only call
 * those the CPU supports. */
#define GDN_DECLARE_KERNELS(isa)                                              \
    void gdn_gemm_nt_##isa(float *c, const float *a, const float *b,          \
                           const float *bias, size_t M, size_t N, size_t K);  \
    void gdn_gemm_amat_##isa(float *c, const gdn_ml_amat *A, const float *b,  \
                             const float *bias, size_t M, size_t N,           \
                             int accumulate);                                 \
    void gdn_sgd_update_##isa(float *p, const float *g, size_t n, float lr,   \
                              float wd);                                      \
    void gdn_maxpool2_##isa(float *out, uint32_t *argmax, const float *in,    \
                            size_t planes, size_t H, size_t W, size_t OH,     \
                            size_t OW);                                       \
    void gdn_transpose_##isa(float *dst, const float *src, size_t rows,       \
                             size_t cols);                                    \
    void gdn_relu_##isa(float *out, const float *in, size_t n);               \
    void gdn_relu_backward_##isa(float *din, const float *dout,               \
                                 const float *out, size_t n);
GDN_DECLARE_KERNELS(avx512)
GDN_DECLARE_KERNELS(avx2)

#endif
