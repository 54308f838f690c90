/* Models: spec parsing, the flat parameter vector, forward and backward
 * passes over the layer stack, evaluation, SGD and the training loop. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "guardian/ml.h"
#include "ml/kernels.h"
#include "ml/layers.h"

#define MAX_LAYERS 64
#define MAX_SPEC 512
#define EVAL_CHUNK 256

struct gdn_model {
    char spec[MAX_SPEC];
    size_t in_c, in_h, in_w;
    int classes;
    gdn_layer layers[MAX_LAYERS];
    size_t nlayers;
    float *params, *grads;
    size_t nparams;
    /* Workspaces, grown on demand, reused across calls. */
    size_t cap_batch;   /* examples the activation buffers hold */
    size_t cap_col;     /* floats in col */
    float *act[MAX_LAYERS]; /* output of layer i */
    uint32_t *argmax[MAX_LAYERS];
    float *delta[2];    /* ping-pong gradients w.r.t. activations */
    float *col, *dcol;
    float *xb;          /* gathered batch for the training loop */
    int32_t *yb;
    uint32_t *order;
    size_t order_n;
};

/* ---- Spec parsing -------------------------------------------------------- */

static int parse_size(const char **s, size_t *out)
{
    char *end;
    unsigned long long v;

    if (!isdigit((unsigned char)**s))
        return -1;
    errno = 0;
    v = strtoull(*s, &end, 10);
    if (errno || v == 0 || v > (1u << 24))
        return -1;
    *out = (size_t)v;
    *s = end;
    return 0;
}

/* Expands a named spec into the seq form. */
static int expand_spec(char *out, size_t cap, const char *spec, size_t in_size,
                       int classes)
{
    int n;

    if (strncmp(spec, "seq:", 4) == 0)
        n = snprintf(out, cap, "%s", spec + 4);
    else if (strcmp(spec, "logreg") == 0)
        n = snprintf(out, cap, "flatten,fc%d", classes);
    else if (strcmp(spec, "cnn") == 0)
        n = snprintf(out, cap,
                     "conv5-32p2,relu,pool2,conv5-64p2,relu,pool2,flatten,"
                     "fc512,relu,fc%d", classes);
    else if (strcmp(spec, "lenet5") == 0)
        n = snprintf(out, cap,
                     "conv5-6,relu,pool2,conv5-16,relu,pool2,flatten,fc120,"
                     "relu,fc84,relu,fc%d", classes);
    else if (strncmp(spec, "mlp:", 4) == 0) {
        const char *s = spec + 4;
        size_t dims[MAX_LAYERS], nd = 0, len = 0;
        while (nd < MAX_LAYERS && parse_size(&s, &dims[nd]) == 0) {
            nd++;
            if (*s != '-')
                break;
            s++;
        }
        if (*s || nd < 2)
            return gdn_error(GDN_EINVAL,
                             "model spec '%s': expected mlp:IN-H1-...-OUT", spec);
        if (dims[0] != in_size || dims[nd - 1] != (size_t)classes)
            return gdn_error(GDN_EINVAL,
                             "model spec '%s': the data has %zu inputs and %d "
                             "classes, the spec says %zu and %zu",
                             spec, in_size, classes, dims[0], dims[nd - 1]);
        n = snprintf(out, cap, "flatten");
        for (size_t i = 1; i < nd && n > 0 && (size_t)n < cap; i++) {
            len = (size_t)n;
            n += snprintf(out + len, cap - len, ",fc%zu%s", dims[i],
                          i + 1 < nd ? ",relu" : "");
        }
    } else
        return gdn_error(GDN_EINVAL,
                         "unknown model spec '%s' (expected logreg, "
                         "mlp:IN-...-OUT, cnn, lenet5 or seq:...)", spec);
    if (n < 0 || (size_t)n >= cap)
        return gdn_error(GDN_EINVAL, "model spec too long");
    return 0;
}

/* Appends one layer described by token tok (e.g. "conv5-32p2") after `prev`
 * (or the input shape), assigning its parameter slices. */
static int add_layer(gdn_model *m, const char *tok)
{
    gdn_layer *l = &m->layers[m->nlayers];
    const gdn_layer *prev = m->nlayers ? &m->layers[m->nlayers - 1] : NULL;
    const char *s = tok;
    size_t v;

    if (m->nlayers == MAX_LAYERS)
        return gdn_error(GDN_EINVAL, "model spec: more than %d layers", MAX_LAYERS);
    memset(l, 0, sizeof *l);
    l->in_c = prev ? prev->out_c : m->in_c;
    l->in_h = prev ? prev->out_h : m->in_h;
    l->in_w = prev ? prev->out_w : m->in_w;
    l->out_c = l->in_c, l->out_h = l->in_h, l->out_w = l->in_w;

    if (strncmp(s, "conv", 4) == 0) {
        s += 4;
        l->kind = GDN_LAYER_CONV;
        if (parse_size(&s, &l->k) || *s++ != '-' || parse_size(&s, &l->out_c))
            goto bad;
        if (*s == 'p') {
            s++;
            if (!isdigit((unsigned char)*s))
                goto bad;
            l->pad = (size_t)strtoul(s, (char **)&s, 10);
        }
        if (*s || l->pad >= l->k)
            goto bad;
        if (l->in_h + 2 * l->pad < l->k || l->in_w + 2 * l->pad < l->k)
            return gdn_error(GDN_EINVAL,
                             "model spec: %s does not fit a %zux%zu input", tok,
                             l->in_h, l->in_w);
        l->out_h = l->in_h + 2 * l->pad - l->k + 1;
        l->out_w = l->in_w + 2 * l->pad - l->k + 1;
        l->w_len = l->out_c * l->in_c * l->k * l->k;
        l->b_len = l->out_c;
    } else if (strncmp(s, "pool", 4) == 0) {
        s += 4;
        l->kind = GDN_LAYER_POOL;
        if (parse_size(&s, &l->k) || *s)
            goto bad;
        if (l->in_h < l->k || l->in_w < l->k)
            return gdn_error(GDN_EINVAL,
                             "model spec: %s does not fit a %zux%zu input", tok,
                             l->in_h, l->in_w);
        l->out_h = l->in_h / l->k;
        l->out_w = l->in_w / l->k;
    } else if (strncmp(s, "fc", 2) == 0) {
        s += 2;
        l->kind = GDN_LAYER_DENSE;
        if (parse_size(&s, &v) || *s)
            goto bad;
        if (l->in_h != 1 || l->in_c != 1)
            return gdn_error(GDN_EINVAL,
                             "model spec: %s after a %zux%zux%zu output needs "
                             "'flatten' before it", tok, l->in_c, l->in_h, l->in_w);
        l->out_c = l->out_h = 1;
        l->out_w = v;
        l->w_len = v * l->in_w;
        l->b_len = v;
    } else if (strcmp(s, "relu") == 0) {
        l->kind = GDN_LAYER_RELU;
    } else if (strcmp(s, "square") == 0) {
        l->kind = GDN_LAYER_SQUARE;
    } else if (strcmp(s, "flatten") == 0) {
        l->kind = GDN_LAYER_FLATTEN;
        l->out_c = l->out_h = 1;
        l->out_w = gdn_layer_in_size(l);
    } else
        goto bad;

    if (gdn_layer_out_size(l) > ((size_t)1 << 26) ||
        l->w_len > ((size_t)1 << 28))
        return gdn_error(GDN_EINVAL, "model spec: layer %s is too large", tok);
    l->w_off = m->nparams;
    l->b_off = m->nparams + l->w_len;
    m->nparams += l->w_len + l->b_len;
    m->nlayers++;
    return 0;
bad:
    return gdn_error(GDN_EINVAL,
                     "model spec: bad layer '%s' (expected convK-OUT[pPAD], "
                     "poolK, fcOUT, relu, square or flatten)", tok);
}

static int build_layers(gdn_model *m, const char *seq)
{
    char buf[MAX_SPEC];
    int rc;

    snprintf(buf, sizeof buf, "%s", seq);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save))
        if ((rc = add_layer(m, tok)))
            return rc;
    if (m->nlayers == 0)
        return gdn_error(GDN_EINVAL, "model spec: no layers");
    const gdn_layer *last = &m->layers[m->nlayers - 1];
    if (gdn_layer_out_size(last) != (size_t)m->classes || last->out_h != 1 ||
        last->out_c != 1)
        return gdn_error(GDN_EINVAL,
                         "model spec: the last layer gives %zux%zux%zu outputs, "
                         "the data has %d classes",
                         last->out_c, last->out_h, last->out_w, m->classes);
    return 0;
}

/* ---- Construction --------------------------------------------------------- */

/* Parses the spec into m's layers (no parameter memory yet). */
static int plan(gdn_model *m, const char *spec, size_t channels, size_t height,
                size_t width, int classes)
{
    char seq[MAX_SPEC];
    size_t in_size;
    int rc;

    if (!spec || strlen(spec) >= MAX_SPEC)
        return gdn_error(GDN_EINVAL, "model spec missing or too long");
    if (!channels || !height || !width || classes < 2 ||
        gdn_mul_size(&in_size, channels * height, width) ||
        channels > (1u << 16) || height > (1u << 16) || width > (1u << 24))
        return gdn_error(GDN_EINVAL,
                         "model input %zux%zux%zu with %d classes is not valid",
                         channels, height, width, classes);
    if ((rc = expand_spec(seq, sizeof seq, spec, in_size, classes)))
        return rc;
    snprintf(m->spec, sizeof m->spec, "%s", spec);
    m->in_c = channels, m->in_h = height, m->in_w = width;
    m->classes = classes;
    if ((rc = build_layers(m, seq)))
        return rc;
    if (m->nparams > GDN_MODEL_MAX_PARAMS)
        return gdn_error(GDN_ERANGE, "model spec '%s': %zu parameters, more than "
                         "the limit of %zu", spec, m->nparams,
                         (size_t)GDN_MODEL_MAX_PARAMS);
    return 0;
}

int gdn_model_count(size_t *nparams, const char *spec, size_t channels,
                    size_t height, size_t width, int classes)
{
    gdn_model *m = calloc(1, sizeof *m);
    int rc;

    if (!m)
        return gdn_error(GDN_ENOMEM, "out of memory");
    rc = plan(m, spec, channels, height, width, classes);
    *nparams = rc ? 0 : m->nparams;
    free(m);
    return rc;
}

int gdn_model_new(gdn_model **out, const char *spec, size_t channels,
                  size_t height, size_t width, int classes)
{
    gdn_model *m;
    int rc;

    *out = NULL;
    if (!(m = calloc(1, sizeof *m)))
        return gdn_error(GDN_ENOMEM, "out of memory");
    if ((rc = plan(m, spec, channels, height, width, classes)))
        goto fail;
    m->params = gdn_alloc_aligned(m->nparams * sizeof(float));
    m->grads = gdn_alloc_aligned(m->nparams * sizeof(float));
    if (!m->params || !m->grads) {
        rc = gdn_error(GDN_ENOMEM, "cannot allocate %zu parameters", m->nparams);
        goto fail;
    }
    memset(m->params, 0, m->nparams * sizeof(float));
    memset(m->grads, 0, m->nparams * sizeof(float));
    *out = m;
    return 0;
fail:
    gdn_model_free(m);
    return rc;
}

static void free_workspace(gdn_model *m)
{
    for (size_t i = 0; i < MAX_LAYERS; i++) {
        gdn_free_aligned(m->act[i]);
        free(m->argmax[i]);
        m->act[i] = NULL;
        m->argmax[i] = NULL;
    }
    gdn_free_aligned(m->delta[0]);
    gdn_free_aligned(m->delta[1]);
    gdn_free_aligned(m->xb);
    free(m->yb);
    m->delta[0] = m->delta[1] = m->xb = NULL;
    m->yb = NULL;
    m->cap_batch = 0;
}

void gdn_model_free(gdn_model *m)
{
    if (!m)
        return;
    free_workspace(m);
    gdn_free_aligned(m->col);
    gdn_free_aligned(m->dcol);
    gdn_free_aligned(m->params);
    gdn_free_aligned(m->grads);
    free(m->order);
    free(m);
}

const char *gdn_model_spec(const gdn_model *m) { return m->spec; }
size_t gdn_model_nparams(const gdn_model *m) { return m->nparams; }
int gdn_model_classes(const gdn_model *m) { return m->classes; }
float *gdn_model_params(gdn_model *m) { return m->params; }
float *gdn_model_grads(gdn_model *m) { return m->grads; }

size_t gdn_model_input_size(const gdn_model *m)
{
    return m->in_c * m->in_h * m->in_w;
}

void gdn_model_input_shape(const gdn_model *m, size_t *c, size_t *h, size_t *w)
{
    *c = m->in_c, *h = m->in_h, *w = m->in_w;
}

void gdn_model_init(gdn_model *m, gdn_rng *rng)
{
    for (size_t i = 0; i < m->nlayers; i++) {
        const gdn_layer *l = &m->layers[i];
        if (!l->w_len)
            continue;
        /* kaiming_uniform(a=sqrt(5)) and PyTorch's bias rule both give
         * U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
        float bound = 1.0f / sqrtf((float)(l->w_len / l->b_len));
        for (size_t j = 0; j < l->w_len + l->b_len; j++)
            m->params[l->w_off + j] = (2.0f * gdn_rng_float(rng) - 1.0f) * bound;
    }
}

/* ---- Workspaces ---------------------------------------------------------- */

static int reserve(gdn_model *m, size_t batch, int train)
{
    size_t max_out = gdn_model_input_size(m), col = 0, col_one = 0;

    for (size_t i = 0; i < m->nlayers; i++) {
        size_t c = gdn_layer_col_size(&m->layers[i]);
        if (gdn_layer_out_size(&m->layers[i]) > max_out)
            max_out = gdn_layer_out_size(&m->layers[i]);
        /* Training keeps every conv layer's im2col matrices for backward;
         * inference reuses one example's worth. */
        col += train ? c * batch : 0;
        col_one = c > col_one ? c : col_one;
    }
    col = col > col_one ? col : col_one;
    if (batch > m->cap_batch) {
        free_workspace(m);
        for (size_t i = 0; i < m->nlayers; i++) {
            const gdn_layer *l = &m->layers[i];
            m->act[i] = gdn_alloc_aligned(batch * gdn_layer_out_size(l) * sizeof(float));
            if (!m->act[i])
                goto nomem;
            if (l->kind == GDN_LAYER_POOL &&
                !(m->argmax[i] = malloc(batch * gdn_layer_out_size(l) * sizeof(uint32_t))))
                goto nomem;
        }
        m->delta[0] = gdn_alloc_aligned(batch * max_out * sizeof(float));
        m->delta[1] = gdn_alloc_aligned(batch * max_out * sizeof(float));
        m->xb = gdn_alloc_aligned(batch * gdn_model_input_size(m) * sizeof(float));
        m->yb = malloc(batch * sizeof(int32_t));
        if (!m->delta[0] || !m->delta[1] || !m->xb || !m->yb)
            goto nomem;
        m->cap_batch = batch;
    }
    if (col > m->cap_col) {
        gdn_free_aligned(m->col);
        gdn_free_aligned(m->dcol);
        m->col = gdn_alloc_aligned(col * sizeof(float));
        m->dcol = gdn_alloc_aligned(col_one * sizeof(float));
        m->cap_col = 0;
        if (!m->col || !m->dcol)
            goto nomem;
        m->cap_col = col;
    }
    return 0;
nomem:
    free_workspace(m);
    return gdn_error(GDN_ENOMEM, "cannot allocate workspace for batch %zu", batch);
}

/* ---- Passes -------------------------------------------------------------- */

static const float *forward(gdn_model *m, const float *x, size_t batch, int train)
{
    const float *in = x;
    size_t col = 0; /* offset: m->col is NULL for models without conv */

    for (size_t i = 0; i < m->nlayers; i++) {
        const gdn_layer *l = &m->layers[i];
        gdn_layer_forward(l, m->params, m->act[i], in, batch,
                          m->col ? m->col + col : NULL, train, m->argmax[i]);
        col += train ? batch * gdn_layer_col_size(l) : 0;
        in = m->act[i];
    }
    return in;
}

int gdn_model_forward(gdn_model *m, float *logits, const float *x, size_t batch)
{
    int rc;

    if (batch == 0)
        return 0;
    if ((rc = reserve(m, batch, 0)))
        return rc;
    memcpy(logits, forward(m, x, batch, 0), batch * m->classes * sizeof(float));
    return 0;
}

/* Softmax cross-entropy: returns the mean loss, writes d(loss)/d(logits). */
static double softmax_xent(float *dlogits, const float *logits,
                           const int32_t *y, size_t batch, int classes)
{
    double total = 0;

    for (size_t r = 0; r < batch; r++) {
        const float *z = logits + r * classes;
        float *d = dlogits + r * classes;
        float mx = z[0], sum = 0;
        for (int c = 1; c < classes; c++)
            mx = z[c] > mx ? z[c] : mx;
        for (int c = 0; c < classes; c++)
            sum += (d[c] = expf(z[c] - mx));
        total += (double)(logf(sum) - (z[y[r]] - mx));
        for (int c = 0; c < classes; c++)
            d[c] = (d[c] / sum - (c == y[r] ? 1.0f : 0.0f)) / (float)batch;
    }
    return total / (double)batch;
}

int gdn_model_loss_grad(gdn_model *m, float *loss, const float *x,
                        const int32_t *y, size_t batch)
{
    const float *logits;
    size_t col_end;
    float *dout, *din;
    size_t first = 0;
    double l;
    int rc;

    if (batch == 0)
        return gdn_error(GDN_EINVAL, "empty batch");
    for (size_t r = 0; r < batch; r++)
        if (y[r] < 0 || y[r] >= m->classes)
            return gdn_error(GDN_ERANGE, "label %d outside [0, %d)", (int)y[r],
                             m->classes);
    if ((rc = reserve(m, batch, 1)))
        return rc;
    logits = forward(m, x, batch, 1);
    dout = m->delta[0];
    l = softmax_xent(dout, logits, y, batch, m->classes);
    col_end = 0;
    for (size_t i = 0; i < m->nlayers; i++)
        col_end += batch * gdn_layer_col_size(&m->layers[i]);
    /* Input gradients are needed only above the first layer with parameters
     * (the 2NN starts with flatten: fc1's input gradient would cost as much
     * as its weight gradient, for nothing). */
    while (first < m->nlayers && !m->layers[first].w_len)
        first++;
    for (size_t i = m->nlayers; i-- > first;) {
        const gdn_layer *li = &m->layers[i];
        const float *in = i ? m->act[i - 1] : x;
        col_end -= batch * gdn_layer_col_size(li);
        din = i > first ? m->delta[(m->nlayers - i) & 1] : NULL;
        gdn_layer_backward(li, m->params, m->grads, din, dout, in, m->act[i],
                           batch, m->col ? m->col + col_end : NULL, m->dcol,
                           m->argmax[i]);
        dout = din;
    }
    if (loss)
        *loss = (float)l;
    return 0;
}

int gdn_model_evaluate(gdn_model *m, double *loss, double *accuracy,
                       const float *x, const int32_t *y, size_t n)
{
    size_t in = gdn_model_input_size(m), correct = 0;
    double total = 0;
    int rc, C = m->classes;

    if ((rc = reserve(m, n < EVAL_CHUNK ? n : EVAL_CHUNK, 0)))
        return rc;
    for (size_t at = 0; at < n; at += EVAL_CHUNK) {
        size_t b = n - at < EVAL_CHUNK ? n - at : EVAL_CHUNK;
        const float *z = forward(m, x + at * in, b, 0);
        for (size_t r = 0; r < b; r++, z += C) {
            int best = 0;
            float mx = z[0], sum = 0;
            for (int c = 1; c < C; c++)
                if (z[c] > z[best])
                    best = c;
            mx = z[best];
            for (int c = 0; c < C; c++)
                sum += expf(z[c] - mx);
            total += (double)(logf(sum) - (z[y[at + r]] - mx));
            correct += best == y[at + r];
        }
    }
    if (loss)
        *loss = n ? total / (double)n : 0;
    if (accuracy)
        *accuracy = n ? (double)correct / (double)n : 0;
    return 0;
}

/* ---- Introspection ------------------------------------------------------- */

int gdn_model_describe(const gdn_model *m, gdn_buf *out)
{
    static const char *const names[] = {"dense", "conv2d", "maxpool2d",
                                        "relu", "square", "flatten"};
    int rc = 0;

    for (size_t i = 0; i < m->nlayers && !rc; i++) {
        const gdn_layer *l = &m->layers[i];
        rc = gdn_buf_printf(out, "  %2zu %-10s %zux%zux%zu -> %zux%zux%zu  %zu params\n",
                            i, names[l->kind], l->in_c, l->in_h, l->in_w,
                            l->out_c, l->out_h, l->out_w, l->w_len + l->b_len);
    }
    if (!rc)
        rc = gdn_buf_printf(out, "  model %s: %zu parameters\n", m->spec,
                            m->nparams);
    return rc;
}

size_t gdn_model_ntensors(const gdn_model *m)
{
    size_t n = 0;

    for (size_t i = 0; i < m->nlayers; i++)
        n += m->layers[i].w_len ? 2 : 0;
    return n;
}

int gdn_model_tensor(const gdn_model *m, size_t i, gdn_tensor_info *info)
{
    for (size_t li = 0; li < m->nlayers; li++) {
        const gdn_layer *l = &m->layers[li];
        if (!l->w_len)
            continue;
        if (i >= 2) {
            i -= 2;
            continue;
        }
        memset(info, 0, sizeof *info);
        snprintf(info->name, sizeof info->name, "%zu.%s", li,
                 i == 0 ? "weight" : "bias");
        if (i == 1) {
            info->ndim = 1;
            info->shape[0] = l->b_len;
            info->offset = l->b_off;
            info->size = l->b_len;
        } else if (l->kind == GDN_LAYER_CONV) {
            info->ndim = 4;
            info->shape[0] = l->out_c, info->shape[1] = l->in_c;
            info->shape[2] = info->shape[3] = l->k;
            info->offset = l->w_off;
            info->size = l->w_len;
        } else {
            info->ndim = 2;
            info->shape[0] = l->out_w, info->shape[1] = l->in_w;
            info->offset = l->w_off;
            info->size = l->w_len;
        }
        return 0;
    }
    return gdn_error(GDN_ERANGE, "tensor index out of range");
}

/* ---- Optimizer and training loop ----------------------------------------- */

int gdn_sgd_init(gdn_sgd *opt, size_t n, float lr, float momentum,
                 float weight_decay)
{
    memset(opt, 0, sizeof *opt);
    if (!(lr > 0) || !(momentum >= 0 && momentum < 1) || !(weight_decay >= 0))
        return gdn_error(GDN_EINVAL,
                         "SGD needs lr > 0, 0 <= momentum < 1, weight decay >= 0");
    opt->lr = lr, opt->momentum = momentum, opt->weight_decay = weight_decay;
    opt->n = n;
    if (momentum > 0) {
        opt->velocity = gdn_alloc_aligned(n * sizeof(float));
        if (!opt->velocity)
            return gdn_error(GDN_ENOMEM, "cannot allocate SGD state");
        memset(opt->velocity, 0, n * sizeof(float));
    }
    return 0;
}

/* Gradient plus weight decay, plus FedProx's mu (p - center) when set. */
static inline float full_grad(const gdn_sgd *opt, const float *params,
                              const float *grads, size_t i)
{
    float g = grads[i] + opt->weight_decay * params[i];

    if (opt->prox_center)
        g += opt->prox_mu * (params[i] - opt->prox_center[i]);
    return g;
}

void gdn_sgd_step(gdn_sgd *opt, float *params, const float *grads)
{
    float lr = opt->lr, mu = opt->momentum;

    if (!opt->velocity && !opt->prox_center) {
        /* Plain SGD: the vectorized loop, same bits as the one below. */
        gdn_ml_sgd_update(params, grads, opt->n, lr, opt->weight_decay);
        return;
    }
    if (!opt->velocity) {
        for (size_t i = 0; i < opt->n; i++)
            params[i] -= lr * full_grad(opt, params, grads, i);
        return;
    }
    for (size_t i = 0; i < opt->n; i++) {
        float g = full_grad(opt, params, grads, i);
        float v = opt->started ? mu * opt->velocity[i] + g : g;
        opt->velocity[i] = v;
        params[i] -= lr * v;
    }
    opt->started = 1;
}

void gdn_sgd_reset(gdn_sgd *opt)
{
    opt->started = 0;
    if (opt->velocity)
        memset(opt->velocity, 0, opt->n * sizeof(float));
}

void gdn_sgd_free(gdn_sgd *opt)
{
    gdn_free_aligned(opt->velocity);
    memset(opt, 0, sizeof *opt);
}

int gdn_model_train_epoch(gdn_model *m, gdn_sgd *opt, double *loss,
                          const float *x, const int32_t *y, size_t n,
                          size_t batch, gdn_rng *rng, gdn_batch_cb cb,
                          void *cb_ctx)
{
    return gdn_model_train_subset(m, opt, loss, x, y, NULL, n, batch, rng, cb,
                                  cb_ctx);
}

int gdn_model_train_subset(gdn_model *m, gdn_sgd *opt, double *loss,
                           const float *x, const int32_t *y,
                           const uint32_t *idx, size_t n, size_t batch,
                           gdn_rng *rng, gdn_batch_cb cb, void *cb_ctx)
{
    size_t in = gdn_model_input_size(m);
    double total = 0;
    int rc;

    if (batch == 0 || n == 0)
        return gdn_error(GDN_EINVAL, "training needs a batch size and examples");
    if (opt->n != m->nparams)
        return gdn_error(GDN_EINVAL, "optimizer is for %zu parameters, model has %zu",
                         opt->n, m->nparams);
    if (batch > n)
        batch = n;
    if (n > m->order_n) {
        uint32_t *o = realloc(m->order, n * sizeof *o);
        if (!o)
            return gdn_error(GDN_ENOMEM, "out of memory");
        m->order = o;
        m->order_n = n;
    }
    if ((rc = reserve(m, batch, 1)))
        return rc;
    for (size_t i = 0; i < n; i++)
        m->order[i] = idx ? idx[i] : (uint32_t)i;
    gdn_rng_shuffle(rng, m->order, n);
    for (size_t at = 0; at < n; at += batch) {
        size_t b = n - at < batch ? n - at : batch;
        float l;
        for (size_t r = 0; r < b; r++) {
            memcpy(m->xb + r * in, x + (size_t)m->order[at + r] * in,
                   in * sizeof(float));
            m->yb[r] = y[m->order[at + r]];
        }
        if ((rc = gdn_model_loss_grad(m, &l, m->xb, m->yb, b)))
            return rc;
        gdn_sgd_step(opt, m->params, m->grads);
        total += (double)l * (double)b;
        if (cb && cb(cb_ctx, at + b, n, total / (double)(at + b)))
            return gdn_error(GDN_EINTR, "training interrupted");
    }
    if (loss)
        *loss = total / (double)n;
    return 0;
}

/* OpenBLAS's own entry points; cblas.h of the pthread build declares them. */
void gdn_ml_set_threads(int n)
{
    openblas_set_num_threads(n > 0 ? n : 1);
}

const char *gdn_ml_blas_config(void)
{
    return openblas_get_config();
}
