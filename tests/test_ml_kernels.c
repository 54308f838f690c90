/* ml kernels: every GEMM path the CPU supports (OpenBLAS, AVX2, AVX-512)
 * against a naive double-precision triple loop, over shapes that hit every
 * tile size and ragged edge; results are reproducible bit for bit and no
 * path writes outside its output. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "guardian/core.h"
#include "guardian/ml.h"
#include "harness.h"
#include "ml/kernels.h"

#define GUARD 37 /* floats after the output that must stay untouched */
#define GUARD_VALUE 1234.5f

enum { OP_NT, OP_NN, OP_TN };

static float *random_floats(gdn_rng *rng, size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; p && i < n; i++)
        p[i] = 2.0f * gdn_rng_float(rng) - 1.0f;
    return p;
}

/* Element (m, k) of op(A) and (k, n) of op(B) for each operation, as the
 * comments of kernels.h define them. */
static double op_a(int op, const float *a, size_t M, size_t K, size_t m, size_t k)
{
    return op == OP_TN ? a[k * M + m] : a[m * K + k];
}

static double op_b(int op, const float *b, size_t N, size_t K, size_t k, size_t n)
{
    return op == OP_NT ? b[n * K + k] : b[k * N + n];
}

static void run(int op, float *c, const float *a, const float *b,
                const float *bias, size_t M, size_t N, size_t K)
{
    if (op == OP_NT)
        gdn_ml_gemm_nt(c, a, b, bias, M, N, K);
    else if (op == OP_NN)
        gdn_ml_gemm_nn(c, a, b, M, N, K);
    else
        gdn_ml_gemm_tn(c, a, b, M, N, K);
}

/* 0 when c matches the reference within float rounding of the sum of
 * |terms|, else the index of the first mismatch plus one. */
static size_t check_one(int op, const float *c, const float *a, const float *b,
                        const float *bias, size_t M, size_t N, size_t K)
{
    for (size_t m = 0; m < M; m++)
        for (size_t n = 0; n < N; n++) {
            double s = bias ? bias[n] : 0, mag = bias ? fabs(bias[n]) : 0;
            for (size_t k = 0; k < K; k++) {
                double t = op_a(op, a, M, K, m, k) * op_b(op, b, N, K, k, n);
                s += t, mag += fabs(t);
            }
            if (!(fabs(c[m * N + n] - s) <= 4e-7 * (double)(K + 2) * mag + 1e-30))
                return m * N + n + 1;
        }
    return 0;
}

static const size_t Ms[] = {1, 2, 3, 4, 5, 6, 7, 10, 11, 13, 32, 33};
static const size_t Ns[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 200};
static const size_t Ks[] = {1, 2, 5, 8, 15, 16, 17, 31, 33, 64, 100, 784};
#define LEN(a) (sizeof(a) / sizeof(a)[0])

static const char *const op_names[] = {"nt", "nn", "tn"};

GDN_TEST(ml_kernels_match_naive_reference_on_every_path)
{
    gdn_simd_level saved = gdn_ml_simd(), top = gdn_ml_set_simd(GDN_SIMD_AVX512);
    gdn_rng rng;
    size_t maxm = 33, maxn = 200, maxk = 784;
    float *a, *b, *bias, *c, *c2;
    int paths = 0;

    gdn_rng_init_seed(&rng, 42);
    a = random_floats(&rng, maxm * maxk > maxk * maxn ? maxm * maxk : maxk * maxn);
    b = random_floats(&rng, maxn * maxk);
    bias = random_floats(&rng, maxn);
    c = malloc((maxm * maxn + GUARD) * sizeof *c);
    c2 = malloc((maxm * maxn + GUARD) * sizeof *c);
    CHECK(a && b && bias && c && c2);
    for (int level = GDN_SIMD_NONE; level <= (int)top; level++) {
        CHECK_EQ((int)gdn_ml_set_simd((gdn_simd_level)level), level);
        paths++;
        for (int op = OP_NT; op <= OP_TN; op++)
            for (size_t im = 0; im < LEN(Ms); im++)
                for (size_t in = 0; in < LEN(Ns); in++)
                    for (size_t ik = 0; ik < LEN(Ks); ik++) {
                        size_t M = Ms[im], N = Ns[in], K = Ks[ik], bad;
                        const float *bs = op == OP_NT && (in & 1) ? bias : NULL;
                        for (size_t i = 0; i < M * N + GUARD; i++)
                            c[i] = c2[i] = GUARD_VALUE;
                        run(op, c, a, b, bs, M, N, K);
                        bad = check_one(op, c, a, b, bs, M, N, K);
                        CHECK_MSG(!bad, "%s %s M=%zu N=%zu K=%zu: c[%zu] wrong",
                                  gdn_ml_kernels_name(), op_names[op], M, N, K,
                                  bad - 1);
                        for (size_t i = M * N; i < M * N + GUARD; i++)
                            CHECK_MSG(c[i] == GUARD_VALUE,
                                      "%s %s M=%zu N=%zu K=%zu: wrote past c",
                                      gdn_ml_kernels_name(), op_names[op], M, N, K);
                        run(op, c2, a, b, bs, M, N, K);
                        CHECK_MSG(memcmp(c, c2, M * N * sizeof *c) == 0,
                                  "%s %s M=%zu N=%zu K=%zu: not reproducible",
                                  gdn_ml_kernels_name(), op_names[op], M, N, K);
                    }
    }
    CHECK(paths >= 1);
    gdn_ml_set_simd(saved);
    free(a), free(b), free(bias), free(c), free(c2);
}

/* gemm_amat through strided boxes like those of the convolutions, with and
 * without bias and accumulation, against the naive loop. */
GDN_TEST(ml_kernels_strided_products_match_naive_reference)
{
    static const size_t Ms2[] = {1, 2, 5, 6, 7, 13, 14, 28};
    static const size_t Ns2[] = {1, 8, 15, 16, 17, 32, 33, 64, 65, 100};
    static const size_t boxes[][3] = {{1, 1, 1}, {1, 1, 9}, {3, 5, 5}, {2, 3, 4}, {1, 7, 6}};
    gdn_simd_level saved = gdn_ml_simd(), top = gdn_ml_set_simd(GDN_SIMD_AVX512);
    gdn_rng rng;
    enum { NA = 4096, NB = 256 * 100, NC = 28 * 100 };
    float *a, *b, *c0, *c, *ref, *bias;

    gdn_rng_init_seed(&rng, 11);
    a = random_floats(&rng, NA), b = random_floats(&rng, NB);
    bias = random_floats(&rng, 100);
    c0 = random_floats(&rng, NC + GUARD);
    c = malloc((NC + GUARD) * sizeof *c), ref = malloc(NC * sizeof *ref);
    CHECK(a && b && c0 && c && ref && bias);
    for (size_t i = NC; i < NC + GUARD; i++)
        c0[i] = GUARD_VALUE;
    for (int level = GDN_SIMD_NONE; level <= (int)top; level++) {
        gdn_ml_set_simd((gdn_simd_level)level);
        for (size_t bi = 0; bi < LEN(boxes); bi++)
            for (size_t im = 0; im < LEN(Ms2); im++)
                for (size_t in = 0; in < LEN(Ns2); in++)
                    for (int accumulate = 0; accumulate < 2; accumulate++) {
                        const size_t *n = boxes[bi], M = Ms2[im], N = Ns2[in];
                        const float *bs = (im + in) % 2 ? bias : NULL;
                        /* Strides as in a padded image: row, plane, channel. */
                        size_t sm = 1 + bi % 2, s[3] = {n[1] * 11 + 7, 11, 1};
                        gdn_ml_amat A = {a, sm, {n[0], n[1], n[2]}, {s[0], s[1], s[2]}};
                        size_t K = n[0] * n[1] * n[2];
                        CHECK((M - 1) * sm + (n[0] - 1) * s[0] + (n[1] - 1) * s[1] +
                                  (n[2] - 1) * s[2] < NA && K * N <= NB && M * N <= NC);
                        for (size_t m = 0; m < M; m++)
                            for (size_t j = 0; j < N; j++) {
                                double sum = (accumulate ? c0[m * N + j] : 0) +
                                             (bs ? bs[j] : 0);
                                for (size_t k = 0; k < K; k++) {
                                    size_t k1 = k / (n[1] * n[2]), k2 = k / n[2] % n[1];
                                    size_t at = m * sm + k1 * s[0] + k2 * s[1] + k % n[2] * s[2];
                                    sum += (double)a[at] * b[k * N + j];
                                }
                                ref[m * N + j] = (float)sum;
                            }
                        memcpy(c, c0, (NC + GUARD) * sizeof *c);
                        gdn_ml_gemm_amat(c, &A, b, bs, M, N, accumulate);
                        for (size_t i = 0; i < M * N; i++)
                            CHECK_MSG(fabsf(c[i] - ref[i]) <= 1e-5f * (float)(K + 2),
                                      "%s box %zu M=%zu N=%zu acc=%d: c[%zu] %.7g vs %.7g",
                                      gdn_ml_kernels_name(), bi, M, N, accumulate, i,
                                      c[i], ref[i]);
                        CHECK_MSG(memcmp(c + M * N, c0 + M * N,
                                         (NC + GUARD - M * N) * sizeof *c) == 0,
                                  "%s box %zu M=%zu N=%zu: wrote past c",
                                  gdn_ml_kernels_name(), bi, M, N);
                    }
    }
    gdn_ml_set_simd(saved);
    free(a), free(b), free(c0), free(c), free(ref), free(bias);
}

/* Transposes are exact and stay inside dst, for every shape around the
 * 8 x 8 and 16 x 16 blocks. */
GDN_TEST(ml_kernels_transpose_is_exact_on_every_path)
{
    gdn_simd_level saved = gdn_ml_simd(), top = gdn_ml_set_simd(GDN_SIMD_AVX512);
    static const size_t dims[] = {1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 196};
    enum { NMAX = 196 * 196 };
    float *src = malloc(NMAX * sizeof *src), *dst = malloc((NMAX + GUARD) * sizeof *dst);

    CHECK(src && dst);
    for (size_t i = 0; i < NMAX; i++)
        src[i] = (float)i;
    for (int level = GDN_SIMD_NONE; level <= (int)top; level++) {
        gdn_ml_set_simd((gdn_simd_level)level);
        for (size_t ir = 0; ir < LEN(dims); ir++)
            for (size_t ic = 0; ic < LEN(dims); ic++) {
                size_t rows = dims[ir], cols = dims[ic];
                for (size_t i = 0; i < rows * cols + GUARD; i++)
                    dst[i] = GUARD_VALUE;
                gdn_ml_transpose(dst, src, rows, cols);
                for (size_t i = 0; i < rows; i++)
                    for (size_t j = 0; j < cols; j++)
                        CHECK_MSG(dst[j * rows + i] == src[i * cols + j],
                                  "%s %zux%zu at %zu,%zu", gdn_ml_kernels_name(),
                                  rows, cols, i, j);
                for (size_t i = rows * cols; i < rows * cols + GUARD; i++)
                    CHECK(dst[i] == GUARD_VALUE);
            }
    }
    gdn_ml_set_simd(saved);
    free(src), free(dst);
}

/* 2 x 2 max pooling picks the same value and index on every path as the
 * naive loop, with ties (the first candidate wins), NaNs and odd sizes. */
GDN_TEST(ml_kernels_maxpool2_is_exact_on_every_path)
{
    static const size_t sizes[][2] = {{2, 2}, {3, 5}, {4, 30}, {28, 28}, {14, 14}, {9, 33}, {6, 66}};
    gdn_simd_level saved = gdn_ml_simd(), top = gdn_ml_set_simd(GDN_SIMD_AVX512);
    enum { planes = 3, NMAX = 3 * 28 * 66 };
    float *in = malloc(NMAX * sizeof *in), *out = malloc((NMAX + GUARD) * sizeof *out);
    uint32_t *idx = malloc((NMAX + GUARD) * sizeof *idx);
    gdn_rng rng;

    CHECK(in && out && idx);
    gdn_rng_init_seed(&rng, 17);
    for (size_t i = 0; i < NMAX; i++) /* few distinct values: many ties */
        in[i] = (float)gdn_rng_uniform(&rng, 4) - 1.5f;
    in[5] = NAN, in[40] = NAN, in[41] = -0.0f;
    for (int level = GDN_SIMD_NONE; level <= (int)top; level++) {
        gdn_ml_set_simd((gdn_simd_level)level);
        for (size_t si = 0; si < LEN(sizes); si++) {
            size_t H = sizes[si][0], W = sizes[si][1], OH = H / 2, OW = W / 2;
            size_t n = planes * OH * OW;
            for (size_t i = 0; i < n + GUARD; i++)
                out[i] = GUARD_VALUE, idx[i] = 777;
            gdn_ml_maxpool2(out, idx, in, planes, H, W, OH, OW);
            for (size_t p = 0; p < planes; p++)
                for (size_t y = 0; y < OH; y++)
                    for (size_t x = 0; x < OW; x++) {
                        const float *src = in + p * H * W;
                        size_t o = (p * OH + y) * OW + x, best = 2 * y * W + 2 * x;
                        size_t cand[3] = {best + 1, best + W, best + W + 1};
                        for (int j = 0; j < 3; j++)
                            if (src[cand[j]] > src[best])
                                best = cand[j];
                        CHECK_MSG(idx[o] == best &&
                                      memcmp(&out[o], &src[best], sizeof *out) == 0,
                                  "%s %zux%zu plane %zu at %zu,%zu: %u vs %zu",
                                  gdn_ml_kernels_name(), H, W, p, y, x, idx[o], best);
                    }
            CHECK(out[n] == GUARD_VALUE && idx[n] == 777);
        }
    }
    gdn_ml_set_simd(saved);
    free(in), free(out), free(idx);
}

/* ReLU forward and backward have the same bits on every path, including
 * for -0, NaN and infinities. */
GDN_TEST(ml_kernels_relu_is_exact_on_every_path)
{
    gdn_simd_level saved = gdn_ml_simd(), top = gdn_ml_set_simd(GDN_SIMD_AVX512);
    enum { n = 77 };
    float x[n], d[n], ref_out[n], ref_din[n], out[n + 1], din[n + 1];
    gdn_rng rng;

    gdn_rng_init_seed(&rng, 13);
    for (size_t i = 0; i < n; i++)
        x[i] = gdn_rng_float(&rng) - 0.5f, d[i] = gdn_rng_float(&rng);
    x[0] = -0.0f, x[1] = NAN, x[2] = INFINITY, x[3] = -INFINITY, x[4] = 0.0f;
    for (size_t i = 0; i < n; i++) {
        ref_out[i] = x[i] > 0.0f ? x[i] : 0.0f;
        ref_din[i] = x[i] > 0.0f ? d[i] : 0.0f;
    }
    for (int level = GDN_SIMD_NONE; level <= (int)top; level++) {
        gdn_ml_set_simd((gdn_simd_level)level);
        for (size_t len = 0; len <= n; len++) {
            out[len] = din[len] = GUARD_VALUE;
            gdn_ml_relu(out, x, len);
            gdn_ml_relu_backward(din, d, x, len);
            CHECK_MSG(memcmp(out, ref_out, len * sizeof *out) == 0 &&
                          memcmp(din, ref_din, len * sizeof *din) == 0 &&
                          out[len] == GUARD_VALUE && din[len] == GUARD_VALUE,
                      "%s n=%zu", gdn_ml_kernels_name(), len);
        }
    }
    gdn_ml_set_simd(saved);
}

/* SGD's update has the same bits on every path (no FMA anywhere). */
GDN_TEST(ml_kernels_sgd_update_is_exact_on_every_path)
{
    gdn_simd_level saved = gdn_ml_simd(), top = gdn_ml_set_simd(GDN_SIMD_AVX512);
    gdn_rng rng;
    enum { n = 1000 };
    float p0[n], g[n], ref[n], p[n];

    gdn_rng_init_seed(&rng, 7);
    for (size_t i = 0; i < n; i++)
        p0[i] = gdn_rng_float(&rng) - 0.5f, g[i] = gdn_rng_float(&rng) - 0.5f;
    for (size_t i = 0; i < n; i++)
        ref[i] = p0[i] - 0.05f * (g[i] + 0.001f * p0[i]);
    for (int level = GDN_SIMD_NONE; level <= (int)top; level++) {
        gdn_ml_set_simd((gdn_simd_level)level);
        for (size_t len = 0; len <= n; len += len < 40 ? 1 : 193) {
            memcpy(p, p0, sizeof p);
            gdn_ml_sgd_update(p, g, len, 0.05f, 0.001f);
            CHECK_MSG(memcmp(p, ref, len * sizeof *p) == 0 &&
                          memcmp(p + len, p0 + len, (n - len) * sizeof *p) == 0,
                      "%s n=%zu", gdn_ml_kernels_name(), len);
        }
    }
    gdn_ml_set_simd(saved);
}

/* Trains a small model for three epochs with the current kernels and
 * returns a copy of its parameters (NULL on failure). */
static float *train_copy(const char *spec, const float *x, const int32_t *y,
                         size_t n, size_t *np)
{
    gdn_model *m;
    gdn_sgd opt;
    gdn_rng rng;
    double loss;
    float *out = NULL;

    if (gdn_model_new(&m, spec, 1, 8, 8, 3))
        return NULL;
    *np = gdn_model_nparams(m);
    if (gdn_sgd_init(&opt, *np, 0.1f, 0, 0) == 0) {
        int rc = 0;
        gdn_rng_init_seed(&rng, 5);
        gdn_model_init(m, &rng);
        for (int e = 0; e < 3 && !rc; e++)
            rc = gdn_model_train_epoch(m, &opt, &loss, x, y, n, 7, &rng, NULL, NULL);
        if (!rc && (out = malloc(*np * sizeof *out)))
            memcpy(out, gdn_model_params(m), *np * sizeof *out);
        gdn_sgd_free(&opt);
    }
    gdn_model_free(m);
    return out;
}

/* The same training on every path gives nearly the same model, and each
 * path repeats itself bit for bit. */
GDN_TEST(ml_kernels_paths_train_alike)
{
    static const char *const specs[] = {
        "mlp:64-33-17-3",
        "seq:conv3-5p1,relu,pool2,conv3-7,relu,flatten,fc9,relu,fc3"};
    gdn_simd_level saved = gdn_ml_simd(), top = gdn_ml_set_simd(GDN_SIMD_AVX512);
    enum { n = 50, dim = 64 };
    float x[n * dim];
    int32_t y[n];
    gdn_rng rng;

    gdn_rng_init_seed(&rng, 3);
    for (size_t i = 0; i < n * dim; i++)
        x[i] = gdn_rng_float(&rng);
    for (size_t i = 0; i < n; i++)
        y[i] = (int32_t)gdn_rng_uniform(&rng, 3);
    for (size_t s = 0; s < LEN(specs); s++) {
        float *blas = NULL;
        size_t np = 0;
        for (int level = GDN_SIMD_NONE; level <= (int)top; level++) {
            gdn_ml_set_simd((gdn_simd_level)level);
            float *p = train_copy(specs[s], x, y, n, &np);
            float *again = train_copy(specs[s], x, y, n, &np);
            CHECK(p && again);
            CHECK_MSG(memcmp(p, again, np * sizeof *p) == 0,
                      "%s %s: not reproducible", specs[s], gdn_ml_kernels_name());
            for (size_t i = 0; blas && i < np; i++)
                CHECK_MSG(fabsf(blas[i] - p[i]) <= 1e-4f,
                          "%s %s: param %zu %.7g vs %.7g with openblas", specs[s],
                          gdn_ml_kernels_name(), i, p[i], blas[i]);
            free(again);
            if (blas)
                free(p);
            else
                blas = p;
        }
        free(blas);
    }
    gdn_ml_set_simd(saved);
}
