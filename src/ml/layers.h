/* ml internals: the layer record and the kernels of each layer kind.
 * Activations are NCHW float32, one example after another. */
#ifndef GDN_ML_LAYERS_H
#define GDN_ML_LAYERS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    GDN_LAYER_DENSE,
    GDN_LAYER_CONV,
    GDN_LAYER_POOL,
    GDN_LAYER_RELU,
    GDN_LAYER_SQUARE,
    GDN_LAYER_FLATTEN
} gdn_layer_kind;

typedef struct gdn_layer {
    gdn_layer_kind kind;
    size_t in_c, in_h, in_w;    /* input shape of one example */
    size_t out_c, out_h, out_w; /* output shape of one example */
    size_t k, pad;              /* conv: kernel side and zero padding; pool: window */
    size_t w_off, w_len;        /* weight slice of the parameter vector */
    size_t b_off, b_len;        /* bias slice */
} gdn_layer;

static inline size_t gdn_layer_in_size(const gdn_layer *l)
{
    return l->in_c * l->in_h * l->in_w;
}

static inline size_t gdn_layer_out_size(const gdn_layer *l)
{
    return l->out_c * l->out_h * l->out_w;
}

/* Floats of conv workspace one example needs (0 for non-conv layers): the
 * larger of the im2col matrix (OpenBLAS path) and what the SIMD path keeps:
 * the zero-padded input, the weights and gradients transposed, and the
 * padded output gradient (layers.c, "Convolution"). */
static inline size_t gdn_layer_col_size(const gdn_layer *l)
{
    size_t K = l->k, C = l->in_c, OC = l->out_c, H = l->in_h, W = l->in_w;
    size_t P = l->out_h * l->out_w, T = C * K * K;
    size_t im2col = T * P;
    size_t fwd = C * (H + 2 * l->pad) * (W + 2 * l->pad) + T * OC + P * OC;
    size_t bwd = 2 * T * OC + P * OC + OC * (H + K - 1) * (W + K - 1) + C * H * W;

    if (l->kind != GDN_LAYER_CONV)
        return 0;
    return im2col > fwd ? (im2col > bwd ? im2col : bwd) : (fwd > bwd ? fwd : bwd);
}

/* Forward over a batch. col: conv workspace, gdn_layer_col_size() floats per
 * example when keep_col (training: kept for backward), else one example's
 * worth reused. argmax: pool's winners, one per output element. */
void gdn_layer_forward(const gdn_layer *l, const float *params, float *out,
                       const float *in, size_t batch, float *col,
                       int keep_col, uint32_t *argmax);

/* Backward over a batch: writes the layer's parameter gradients into grads
 * (overwriting its slices) and, when din is not NULL, d(loss)/d(input).
 * dcol: one example's worth of conv workspace. */
void gdn_layer_backward(const gdn_layer *l, const float *params, float *grads,
                        float *din, const float *dout, const float *in,
                        const float *out, size_t batch, const float *col,
                        float *dcol, const uint32_t *argmax);

#endif
