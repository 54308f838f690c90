/* Guardian ml: models named by a spec, trained with SGD, saved as safetensors.
 *
 * A model is a stack of layers whose parameters live in ONE flat float vector
 * (federated learning averages, masks, encrypts that vector) and whose
 * gradients live in a second vector of the same length. Tensors are float32,
 * NCHW, with PyTorch's parameter layouts (Dense weight [out][in], Conv2D
 * weight [out][in][kh][kw]), so a saved model loads into the equivalent
 * torch.nn.Sequential. Inference and training are deterministic: the same
 * parameters, data and thread count give the same bits. */
#ifndef GUARDIAN_ML_H
#define GUARDIAN_ML_H

#include <stddef.h>
#include <stdint.h>

#include "guardian/core.h"

typedef struct gdn_model gdn_model; /* opaque */

/* Model specs:
 *   logreg                 softmax regression on the flattened input
 *   mlp:784-200-200-10     dense layers with ReLU between (first = input
 *                          size, last = classes)
 *   cnn                    McMahan et al. 2017: conv5x5-32 (same padding),
 *                          pool2, conv5x5-64, pool2, fc512, fc10
 *   lenet5                 NIID-Bench: conv5x5-6, pool2, conv5x5-16, pool2,
 *                          fc120, fc84, fc10 (valid padding)
 *   seq:L,L,...            any stack of layers, each one of
 *                          conv<K>-<OUT>[p<PAD>]  (conv5-32p2: 5x5, 32 maps, pad 2)
 *                          pool<K>  relu  square  flatten  fc<OUT>
 *                          e.g. seq:conv5-8p2,square,pool2,flatten,fc10
 *                          (square is x^2, the activation CKKS can evaluate)
 * Input shape is channels x height x width; classes >= 2; the last layer
 * must produce `classes` outputs. */
#define GDN_MODEL_MAX_PARAMS ((size_t)1 << 30)

int gdn_model_new(gdn_model **out, const char *spec, size_t channels,
                  size_t height, size_t width, int classes);
/* The parameter count gdn_model_new would allocate, without allocating it
 * (so a file's claims can be checked before any memory is committed). */
int gdn_model_count(size_t *nparams, const char *spec, size_t channels,
                    size_t height, size_t width, int classes);
void gdn_model_free(gdn_model *m);

const char *gdn_model_spec(const gdn_model *m);
size_t gdn_model_nparams(const gdn_model *m);
size_t gdn_model_input_size(const gdn_model *m);
void gdn_model_input_shape(const gdn_model *m, size_t *channels, size_t *height,
                           size_t *width);
int gdn_model_classes(const gdn_model *m);
float *gdn_model_params(gdn_model *m);
float *gdn_model_grads(gdn_model *m);

/* PyTorch's default initialisation (weights and biases uniform in
 * +-1/sqrt(fan_in)), drawn from rng in layer order. */
void gdn_model_init(gdn_model *m, gdn_rng *rng);

/* Logits [batch][classes] for batch inputs x [batch][input_size]. */
int gdn_model_forward(gdn_model *m, float *logits, const float *x, size_t batch);

/* Mean softmax cross-entropy of a batch; overwrites the gradient vector with
 * d(loss)/d(params). loss may be NULL. */
int gdn_model_loss_grad(gdn_model *m, float *loss, const float *x,
                        const int32_t *y, size_t batch);

/* Mean loss and accuracy over n examples, in chunks of at most 256. */
int gdn_model_evaluate(gdn_model *m, double *loss, double *accuracy,
                       const float *x, const int32_t *y, size_t n);

/* One line per layer and a total ("conv2d 1x28x28 -> 32x28x28  832 params"). */
int gdn_model_describe(const gdn_model *m, gdn_buf *out);

/* Named tensors of the parameter vector, in layer order; names follow
 * torch.nn.Sequential's state_dict ("0.weight", "0.bias", "3.weight", ...). */
typedef struct gdn_tensor_info {
    char name[32];
    size_t ndim, shape[4];
    size_t offset, size; /* in floats, within the parameter vector */
} gdn_tensor_info;

size_t gdn_model_ntensors(const gdn_model *m);
int gdn_model_tensor(const gdn_model *m, size_t i, gdn_tensor_info *info);

/* ---- Optimizer ---------------------------------------------------------- */

/* SGD with momentum and weight decay, PyTorch's semantics:
 * g += wd * p;  v = momentum * v + g  (v = g at the first step);  p -= lr * v. */
typedef struct gdn_sgd {
    float lr, momentum, weight_decay;
    float *velocity; /* n floats, NULL without momentum */
    size_t n;
    int started;
    const float *prox_center; /* FedProx: g += prox_mu (p - center) when set */
    float prox_mu;
} gdn_sgd;

int gdn_sgd_init(gdn_sgd *opt, size_t n, float lr, float momentum,
                 float weight_decay);
void gdn_sgd_step(gdn_sgd *opt, float *params, const float *grads);
void gdn_sgd_reset(gdn_sgd *opt); /* forget momentum */
void gdn_sgd_free(gdn_sgd *opt);

/* ---- Training loop ------------------------------------------------------ */

/* Called after every batch with the examples done so far and the running
 * mean loss; a non-zero return stops the epoch with GDN_EINTR. */
typedef int (*gdn_batch_cb)(void *ctx, size_t done, size_t total, double loss);

/* One epoch over n examples in an order shuffled by rng (the last batch may
 * be short); writes the mean training loss. cb may be NULL. */
int gdn_model_train_epoch(gdn_model *m, gdn_sgd *opt, double *loss,
                          const float *x, const int32_t *y, size_t n,
                          size_t batch, gdn_rng *rng, gdn_batch_cb cb,
                          void *cb_ctx);
/* The same over the examples idx[0..n) of x and y; idx NULL means 0..n-1,
 * so a subset listing 0..n-1 trains exactly like the whole set. */
int gdn_model_train_subset(gdn_model *m, gdn_sgd *opt, double *loss,
                           const float *x, const int32_t *y,
                           const uint32_t *idx, size_t n, size_t batch,
                           gdn_rng *rng, gdn_batch_cb cb, void *cb_ctx);

/* Threads the BLAS may use (1 inside federated workers). */
void gdn_ml_set_threads(int n);
/* The BLAS build in use (OpenBLAS's openblas_get_config()). */
const char *gdn_ml_blas_config(void);

/* ---- Model files (safetensors) ------------------------------------------ */

/* Writes the parameters as safetensors (F32, little-endian), with the spec,
 * input shape and classes in __metadata__, atomically (temp file + rename). */
int gdn_model_save(const gdn_model *m, const char *path);
/* Reads a file written by gdn_model_save (or a compatible one) into a new
 * model. Every header field is validated; sizes are bounded. */
int gdn_model_load(gdn_model **out, const char *path);
/* The same on memory, for the fuzz target. */
int gdn_model_load_bytes(gdn_model **out, const uint8_t *data, size_t len,
                         const char *name);

#endif
