/* Layer kernels: dense layers and convolutions as matrix products
 * (kernels.h: register-tiled SIMD kernels, or OpenBLAS with convolution as
 * im2col + GEMM, Chellapilla et al. 2006), max pooling, ReLU, x^2. */
#include <float.h>
#include <string.h>

#include <cblas.h>

#include "ml/kernels.h"
#include "ml/layers.h"

/* sums[j] (+)= sum_i x[i][j] over x[rows][cols]: the product of a row of
 * ones with x, which the GEMM kernels vectorize along j. */
static void column_sums(float *sums, const float *x, size_t rows, size_t cols,
                        int accumulate)
{
    static const float one = 1.0f;
    gdn_ml_amat ones = {&one, 0, {1, 1, rows}, {0, 0, 0}};

    gdn_ml_gemm_amat(sums, &ones, x, NULL, 1, cols, accumulate);
}

/* ---- Dense: out[B][O] = in[B][I] W^T + b, W stored [O][I] --------------- */

static void dense_forward(const gdn_layer *l, const float *p, float *out,
                          const float *in, size_t batch)
{
    size_t ni = gdn_layer_in_size(l), no = gdn_layer_out_size(l);

    gdn_ml_gemm_nt(out, in, p + l->w_off, p + l->b_off, batch, no, ni);
}

static void dense_backward(const gdn_layer *l, const float *p, float *g,
                           float *din, const float *dout, const float *in,
                           size_t batch)
{
    size_t ni = gdn_layer_in_size(l), no = gdn_layer_out_size(l);

    /* dW[O][I] = dout^T in;  db = column sums of dout;  din = dout W. */
    gdn_ml_gemm_tn(g + l->w_off, dout, in, no, ni, batch);
    column_sums(g + l->b_off, dout, batch, no, 0);
    if (din)
        gdn_ml_gemm_nn(din, dout, p + l->w_off, batch, ni, no);
}

/* ---- Convolution, stride 1, zero padding -------------------------------- */

/* col[(c*K + kh)*K + kw][oh*OW + ow] = in[c][oh+kh-pad][ow+kw-pad] or 0. */
static void im2col(const gdn_layer *l, float *col, const float *in)
{
    size_t K = l->k, H = l->in_h, W = l->in_w, OH = l->out_h, OW = l->out_w;

    for (size_t c = 0; c < l->in_c; c++)
        for (size_t kh = 0; kh < K; kh++)
            for (size_t kw = 0; kw < K; kw++) {
                float *row = col + ((c * K + kh) * K + kw) * OH * OW;
                /* Output columns whose input column is inside the image. */
                size_t ow0 = kw < l->pad ? l->pad - kw : 0;
                size_t ow1 = W + l->pad > kw ? W + l->pad - kw : 0;
                if (ow1 > OW)
                    ow1 = OW;
                for (size_t oh = 0; oh < OH; oh++) {
                    float *dst = row + oh * OW;
                    size_t ih = oh + kh;
                    if (ih < l->pad || ih - l->pad >= H || ow0 >= ow1) {
                        memset(dst, 0, OW * sizeof *dst);
                        continue;
                    }
                    const float *src = in + (c * H + ih - l->pad) * W;
                    memset(dst, 0, ow0 * sizeof *dst);
                    memcpy(dst + ow0, src + ow0 + kw - l->pad,
                           (ow1 - ow0) * sizeof *dst);
                    memset(dst + ow1, 0, (OW - ow1) * sizeof *dst);
                }
            }
}

/* The adjoint of im2col: din[c][ih][iw] += col[...] (din zeroed first). */
static void col2im(const gdn_layer *l, float *din, const float *col)
{
    size_t K = l->k, H = l->in_h, W = l->in_w, OH = l->out_h, OW = l->out_w;

    memset(din, 0, l->in_c * H * W * sizeof *din);
    for (size_t c = 0; c < l->in_c; c++)
        for (size_t kh = 0; kh < K; kh++)
            for (size_t kw = 0; kw < K; kw++) {
                const float *row = col + ((c * K + kh) * K + kw) * OH * OW;
                size_t ow0 = kw < l->pad ? l->pad - kw : 0;
                size_t ow1 = W + l->pad > kw ? W + l->pad - kw : 0;
                if (ow1 > OW)
                    ow1 = OW;
                for (size_t oh = 0; oh < OH; oh++) {
                    size_t ih = oh + kh;
                    if (ih < l->pad || ih - l->pad >= H)
                        continue;
                    float *dst = din + (c * H + ih - l->pad) * W;
                    const float *src = row + oh * OW;
                    for (size_t ow = ow0; ow < ow1; ow++)
                        dst[ow + kw - l->pad] += src[ow];
                }
            }
}

static void conv_forward_blas(const gdn_layer *l, const float *p, float *out,
                         const float *in, size_t batch, float *col,
                         int keep_col)
{
    size_t ni = gdn_layer_in_size(l), no = gdn_layer_out_size(l);
    size_t ckk = l->in_c * l->k * l->k, hw = l->out_h * l->out_w;
    const float *w = p + l->w_off, *b = p + l->b_off;

    for (size_t e = 0; e < batch; e++) {
        float *c = keep_col ? col + e * ckk * hw : col, *o = out + e * no;
        im2col(l, c, in + e * ni);
        for (size_t oc = 0; oc < l->out_c; oc++)
            for (size_t i = 0; i < hw; i++)
                o[oc * hw + i] = b[oc];
        /* out[OC][HW] += W[OC][CKK] col[CKK][HW] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)l->out_c,
                    (int)hw, (int)ckk, 1.0f, w, (int)ckk, c, (int)hw, 1.0f, o,
                    (int)hw);
    }
}

static void conv_backward_blas(const gdn_layer *l, const float *p, float *g,
                          float *din, const float *dout, size_t batch,
                          const float *col, float *dcol)
{
    size_t ni = gdn_layer_in_size(l), no = gdn_layer_out_size(l);
    size_t ckk = l->in_c * l->k * l->k, hw = l->out_h * l->out_w;
    float *gw = g + l->w_off, *gb = g + l->b_off;

    memset(gw, 0, l->w_len * sizeof *gw);
    memset(gb, 0, l->b_len * sizeof *gb);
    for (size_t e = 0; e < batch; e++) {
        const float *d = dout + e * no, *c = col + e * ckk * hw;
        /* dW[OC][CKK] += dout[OC][HW] col^T;  db[oc] += sum dout[oc][:] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)l->out_c,
                    (int)ckk, (int)hw, 1.0f, d, (int)hw, c, (int)hw, 1.0f, gw,
                    (int)ckk);
        for (size_t oc = 0; oc < l->out_c; oc++) {
            float s = 0;
            for (size_t i = 0; i < hw; i++)
                s += d[oc * hw + i];
            gb[oc] += s;
        }
        if (!din)
            continue;
        /* dcol[CKK][HW] = W^T dout, then scatter back to the input. */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)ckk, (int)hw,
                    (int)l->out_c, 1.0f, p + l->w_off, (int)ckk, d, (int)hw,
                    0.0f, dcol, (int)hw);
        col2im(l, din + e * ni, dcol);
    }
}

/* The SIMD path: each product is an implicit GEMM (kernels.h) with the
 * channels along the vector lanes, read straight from a zero-padded copy of
 * the image, so nothing of im2col's size is written or read. Per example,
 * with T = C*K*K taps and P = OH*OW pixels:
 *   forward   outT[P][OC]  = im2col(xpad)^T  wt[T][OC]      (wt = W^T)
 *   weights   dwt[T][OC]  += im2col(xpad)     doutT[P][OC]
 *   input     dinT[HW][C]  = im2col(dpad)^T  wf[OC*K*K][C]
 * where dpad is dout padded by K-1-pad and wf the weights flipped and
 * transposed: the input gradient of a convolution is the "full" correlation
 * of the output gradient with the flipped kernel. Workspace layout (floats):
 *   col:  xpad of each example | wt (T*OC) | outT (P*OC)
 *   dcol: wf (T*OC) | dwt (T*OC) | doutT (P*OC) | dpad | dinT (C*H*W) */

/* dst[c][y + pad][x + pad] = src[c][y][x], zero elsewhere. */
static void pad_planes(float *dst, const float *src, size_t C, size_t H,
                       size_t W, size_t pad)
{
    size_t HP = H + 2 * pad, WP = W + 2 * pad;

    memset(dst, 0, C * HP * WP * sizeof *dst);
    for (size_t c = 0; c < C; c++)
        for (size_t y = 0; y < H; y++)
            memcpy(dst + (c * HP + y + pad) * WP + pad, src + (c * H + y) * W,
                   W * sizeof *dst);
}

static void conv_forward_simd(const gdn_layer *l, const float *p, float *out,
                              const float *in, size_t batch, float *col,
                              int keep_col)
{
    size_t C = l->in_c, K = l->k, OC = l->out_c, OH = l->out_h, OW = l->out_w;
    size_t HP = l->in_h + 2 * l->pad, WP = l->in_w + 2 * l->pad;
    size_t T = C * K * K, P = OH * OW, ni = gdn_layer_in_size(l);
    float *wt = col + (keep_col ? batch : 1) * C * HP * WP, *outT = wt + T * OC;
    const float *b = p + l->b_off;

    gdn_ml_transpose(wt, p + l->w_off, OC, T);
    for (size_t e = 0; e < batch; e++) {
        float *xpad = col + (keep_col ? e : 0) * C * HP * WP;
        pad_planes(xpad, in + e * ni, C, l->in_h, l->in_w, l->pad);
        for (size_t y = 0; y < OH; y++) {
            gdn_ml_amat A = {xpad + y * WP, 1, {C, K, K}, {HP * WP, WP, 1}};
            gdn_ml_gemm_amat(outT + y * OW * OC, &A, wt, b, OW, OC, 0);
        }
        gdn_ml_transpose(out + e * OC * P, outT, P, OC);
    }
}

static void conv_backward_simd(const gdn_layer *l, const float *p, float *g,
                               float *din, const float *dout, size_t batch,
                               const float *col, float *dcol)
{
    size_t C = l->in_c, K = l->k, OC = l->out_c, OH = l->out_h, OW = l->out_w;
    size_t H = l->in_h, W = l->in_w, HP = H + 2 * l->pad, WP = W + 2 * l->pad;
    size_t T = C * K * K, P = OH * OW, dp = K - 1 - l->pad;
    size_t HD = H + K - 1, WD = W + K - 1; /* = OH + 2 dp, OW + 2 dp */
    float *wf = dcol, *dwt = wf + T * OC, *doutT = dwt + T * OC;
    float *dpad = doutT + P * OC, *dinT = dpad + OC * HD * WD;
    float *gb = g + l->b_off;
    const float *w = p + l->w_off;

    /* wf[(oc*K + i)*K + j][c] = w[oc][c][K-1-i][K-1-j] */
    for (size_t oc = 0; oc < OC; oc++)
        for (size_t c = 0; c < C; c++)
            for (size_t i = 0; i < K * K; i++)
                wf[(oc * K * K + i) * C + c] = w[(oc * C + c) * K * K + K * K - 1 - i];
    for (size_t e = 0; e < batch; e++) {
        const float *d = dout + e * OC * P, *xpad = col + e * C * HP * WP;
        gdn_ml_transpose(doutT, d, OC, P);
        column_sums(gb, doutT, P, OC, e > 0);
        for (size_t c = 0; c < C; c++)
            for (size_t i = 0; i < K; i++) {
                gdn_ml_amat A = {xpad + (c * HP + i) * WP, 1, {1, OH, OW}, {0, WP, 1}};
                gdn_ml_gemm_amat(dwt + (c * K + i) * K * OC, &A, doutT, NULL, K, OC, e > 0);
            }
        if (!din)
            continue;
        pad_planes(dpad, d, OC, OH, OW, dp);
        for (size_t y = 0; y < H; y++) {
            gdn_ml_amat A = {dpad + y * WD, 1, {OC, K, K}, {HD * WD, WD, 1}};
            gdn_ml_gemm_amat(dinT + y * W * C, &A, wf, NULL, W, C, 0);
        }
        gdn_ml_transpose(din + e * C * H * W, dinT, H * W, C);
    }
    gdn_ml_transpose(g + l->w_off, dwt, T, OC);
}

static void conv_forward(const gdn_layer *l, const float *p, float *out,
                         const float *in, size_t batch, float *col,
                         int keep_col)
{
    if (gdn_ml_simd() != GDN_SIMD_NONE)
        conv_forward_simd(l, p, out, in, batch, col, keep_col);
    else
        conv_forward_blas(l, p, out, in, batch, col, keep_col);
}

static void conv_backward(const gdn_layer *l, const float *p, float *g,
                          float *din, const float *dout, size_t batch,
                          const float *col, float *dcol)
{
    if (gdn_ml_simd() != GDN_SIMD_NONE)
        conv_backward_simd(l, p, g, din, dout, batch, col, dcol);
    else
        conv_backward_blas(l, p, g, din, dout, batch, col, dcol);
}

/* ---- Max pooling, window k, stride k, floor ----------------------------- */

static void pool_forward(const gdn_layer *l, float *out, const float *in,
                         size_t batch, uint32_t *argmax)
{
    size_t K = l->k, H = l->in_h, W = l->in_w;
    size_t planes = batch * l->in_c;

    if (K == 2) {
        gdn_ml_maxpool2(out, argmax, in, planes, H, W, l->out_h, l->out_w);
        return;
    }
    for (size_t pl = 0; pl < planes; pl++) {
        const float *src = in + pl * H * W;
        for (size_t oh = 0; oh < l->out_h; oh++)
            for (size_t ow = 0; ow < l->out_w; ow++) {
                size_t best = (oh * K) * W + ow * K;
                for (size_t kh = 0; kh < K; kh++)
                    for (size_t kw = 0; kw < K; kw++) {
                        size_t at = (oh * K + kh) * W + ow * K + kw;
                        if (src[at] > src[best])
                            best = at;
                    }
                size_t o = (pl * l->out_h + oh) * l->out_w + ow;
                out[o] = src[best];
                argmax[o] = (uint32_t)best;
            }
    }
}

static void pool_backward(const gdn_layer *l, float *din, const float *dout,
                          size_t batch, const uint32_t *argmax)
{
    size_t in_plane = l->in_h * l->in_w, out_plane = l->out_h * l->out_w;
    size_t planes = batch * l->in_c;

    memset(din, 0, planes * in_plane * sizeof *din);
    for (size_t pl = 0; pl < planes; pl++)
        for (size_t i = 0; i < out_plane; i++)
            din[pl * in_plane + argmax[pl * out_plane + i]] +=
                dout[pl * out_plane + i];
}

/* ---- Dispatch ----------------------------------------------------------- */

void gdn_layer_forward(const gdn_layer *l, const float *params, float *out,
                       const float *in, size_t batch, float *col,
                       int keep_col, uint32_t *argmax)
{
    size_t n = batch * gdn_layer_in_size(l);

    switch (l->kind) {
    case GDN_LAYER_DENSE:
        dense_forward(l, params, out, in, batch);
        break;
    case GDN_LAYER_CONV:
        conv_forward(l, params, out, in, batch, col, keep_col);
        break;
    case GDN_LAYER_POOL:
        pool_forward(l, out, in, batch, argmax);
        break;
    case GDN_LAYER_RELU:
        gdn_ml_relu(out, in, n);
        break;
    case GDN_LAYER_SQUARE:
        for (size_t i = 0; i < n; i++)
            out[i] = in[i] * in[i];
        break;
    case GDN_LAYER_FLATTEN:
        if (out != in)
            memcpy(out, in, n * sizeof *out);
        break;
    }
}

void gdn_layer_backward(const gdn_layer *l, const float *params, float *grads,
                        float *din, const float *dout, const float *in,
                        const float *out, size_t batch, const float *col,
                        float *dcol, const uint32_t *argmax)
{
    size_t n = batch * gdn_layer_in_size(l);

    switch (l->kind) {
    case GDN_LAYER_DENSE:
        dense_backward(l, params, grads, din, dout, in, batch);
        break;
    case GDN_LAYER_CONV:
        conv_backward(l, params, grads, din, dout, batch, col, dcol);
        break;
    case GDN_LAYER_POOL:
        if (din)
            pool_backward(l, din, dout, batch, argmax);
        break;
    case GDN_LAYER_RELU:
        if (din)
            gdn_ml_relu_backward(din, dout, out, n);
        break;
    case GDN_LAYER_SQUARE:
        if (din)
            for (size_t i = 0; i < n; i++)
                din[i] = 2.0f * in[i] * dout[i];
        break;
    case GDN_LAYER_FLATTEN:
        if (din && din != dout)
            memcpy(din, dout, n * sizeof *din);
        break;
    }
}
