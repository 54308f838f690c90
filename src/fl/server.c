/* Server strategies: how the global model moves towards the round's
 * aggregate. Δ = aggregate - x is treated as a pseudo-gradient (Reddi et
 * al., "Adaptive Federated Optimization", ICLR 2021, Algorithm 2).
 *
 * State vectors are float so a checkpoint holds them exactly; each step
 * computes in double from the stored floats and rounds the new state before
 * using it, so a run resumed from a checkpoint continues bit for bit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "guardian/fl.h"

typedef enum {
    SRV_FEDAVG,
    SRV_FEDAVGM,
    SRV_FEDADAGRAD,
    SRV_FEDADAM,
    SRV_FEDYOGI
} srv_kind;

struct gdn_fl_server {
    srv_kind kind;
    size_t dim;
    double lr, momentum, beta1, beta2, tau;
    size_t nstate;
    float *state[2]; /* fedavgm: velocity; adaptive: m, v */
};

static const struct {
    const char *name;
    srv_kind kind;
} strategies[] = {
    {"fedavg", SRV_FEDAVG},         {"fedavgm", SRV_FEDAVGM},
    {"fedadagrad", SRV_FEDADAGRAD}, {"fedadam", SRV_FEDADAM},
    {"fedyogi", SRV_FEDYOGI},
};

/* Defaults for fields left at 0. Reddi et al. fix β1 = 0.9 and β2 = 0.99
 * and tune η and τ per task; η = 1e-2 and τ = 1e-3 are Flower's FedYogi
 * defaults (flwr/server/strategy/fedyogi.py). FedAvgM's β = 0.9 is the
 * usual value in Hsu et al. 2019. */
/* Floats, like the cfg fields, so that a default and the same value
 * written explicitly give the same bits. */
#define DEFAULT_LR_AVG 1.0f
#define DEFAULT_LR_ADAPTIVE 0.01f
#define DEFAULT_MOMENTUM 0.9f
#define DEFAULT_BETA1 0.9f
#define DEFAULT_BETA2 0.99f
#define DEFAULT_TAU 1e-3f

/* A cfg field: `def` when 0 (so 0 itself cannot be asked for), else a
 * value in (0, hi) when hi > 0, or positive and finite when hi is 0. */
static int field(double *out, float value, float def, double hi,
                 const char *strategy, const char *name)
{
    double v = value;

    if (v == 0) {
        *out = def;
        return 0;
    }
    if (!isfinite(v) || v < 0 || (hi > 0 && v >= hi))
        return gdn_error(GDN_EINVAL, "server strategy %s: %s = %g must be %s",
                         strategy, name, v,
                         hi > 0 ? "in (0, 1)" : "positive and finite");
    *out = v;
    return 0;
}

int gdn_fl_server_new(gdn_fl_server **out, const gdn_fl_server_cfg *cfg,
                      size_t dim)
{
    const char *name = cfg && cfg->strategy ? cfg->strategy : "fedavg";
    gdn_fl_server *s;
    size_t i, bytes;
    int rc, adaptive;

    *out = NULL;
    if (!cfg)
        return gdn_error(GDN_EINVAL, "server strategy: no configuration");
    for (i = 0; i < sizeof strategies / sizeof strategies[0]; i++)
        if (strcmp(name, strategies[i].name) == 0)
            break;
    if (i == sizeof strategies / sizeof strategies[0])
        return gdn_error(GDN_EINVAL,
                         "server strategy '%s': unknown; expected fedavg, "
                         "fedavgm, fedadagrad, fedadam or fedyogi",
                         name);
    if (dim == 0)
        return gdn_error(GDN_EINVAL, "server strategy %s: dimension is 0",
                         name);
    s = calloc(1, sizeof *s);
    if (!s)
        return gdn_error(GDN_ENOMEM, "server strategy: out of memory");
    s->kind = strategies[i].kind;
    s->dim = dim;
    adaptive = s->kind >= SRV_FEDADAGRAD;
    if ((rc = field(&s->lr, cfg->lr,
                    adaptive ? DEFAULT_LR_ADAPTIVE : DEFAULT_LR_AVG, 0, name,
                    "lr")))
        goto fail;
    if (s->kind == SRV_FEDAVGM &&
        (rc = field(&s->momentum, cfg->momentum, DEFAULT_MOMENTUM, 1, name,
                    "momentum")))
        goto fail;
    if (adaptive &&
        ((rc = field(&s->beta1, cfg->beta1, DEFAULT_BETA1, 1, name, "beta1")) ||
         (rc = field(&s->beta2, cfg->beta2, DEFAULT_BETA2, 1, name, "beta2")) ||
         (rc = field(&s->tau, cfg->tau, DEFAULT_TAU, 0, name, "tau"))))
        goto fail;

    s->nstate = s->kind == SRV_FEDAVG ? 0 : s->kind == SRV_FEDAVGM ? 1 : 2;
    if (gdn_mul_size(&bytes, dim, sizeof(float))) {
        rc = gdn_error(GDN_ERANGE, "server strategy %s: dimension %zu too "
                       "large", name, dim);
        goto fail;
    }
    for (i = 0; i < s->nstate; i++) {
        if (!(s->state[i] = calloc(dim, sizeof(float)))) {
            rc = gdn_error(GDN_ENOMEM, "server strategy %s: cannot allocate "
                           "%zu floats of state", name, dim);
            goto fail;
        }
    }
    /* Algorithm 2 initialises m_{-1} = 0 and asks only v_{-1} >= τ²; we take
     * v_{-1} = τ², the smallest allowed. (Flower starts from v = 0 instead,
     * which the paper's condition excludes.) */
    if (adaptive) {
        float v0 = (float)(s->tau * s->tau);
        for (size_t c = 0; c < dim; c++)
            s->state[1][c] = v0;
    }
    *out = s;
    return 0;
fail:
    gdn_fl_server_free(s);
    return rc;
}

void gdn_fl_server_free(gdn_fl_server *s)
{
    if (!s)
        return;
    free(s->state[0]);
    free(s->state[1]);
    free(s);
}

static double sign(double x)
{
    return (double)((x > 0) - (x < 0));
}

static void step_adaptive(gdn_fl_server *s, float *x, const float *agg)
{
    float *m = s->state[0], *v = s->state[1];
    double b1 = s->beta1, b2 = s->beta2;

    for (size_t c = 0; c < s->dim; c++) {
        double d = (double)agg[c] - (double)x[c], d2 = d * d, vc = v[c];
        m[c] = (float)(b1 * m[c] + (1 - b1) * d);
        switch (s->kind) {
        case SRV_FEDADAGRAD:
            vc = vc + d2;
            break;
        case SRV_FEDADAM:
            vc = b2 * vc + (1 - b2) * d2;
            break;
        default: /* SRV_FEDYOGI */
            vc = vc - (1 - b2) * d2 * sign(vc - d2);
            break;
        }
        v[c] = (float)vc;
        x[c] = (float)((double)x[c] +
                       s->lr * (double)m[c] / (sqrt((double)v[c]) + s->tau));
    }
}

void gdn_fl_server_step(gdn_fl_server *s, float *global, const float *aggregate)
{
    size_t dim = s->dim;

    switch (s->kind) {
    case SRV_FEDAVG:
        if (s->lr == 1) {
            memcpy(global, aggregate, dim * sizeof(float));
            break;
        }
        for (size_t c = 0; c < dim; c++)
            global[c] = (float)((double)global[c] +
                                s->lr * ((double)aggregate[c] - global[c]));
        break;
    case SRV_FEDAVGM: {
        /* Hsu et al. 2019, with Δ = aggregate - x (their Δ has the other
         * sign and is subtracted). */
        float *vel = s->state[0];
        for (size_t c = 0; c < dim; c++) {
            double d = (double)aggregate[c] - (double)global[c];
            vel[c] = (float)(s->momentum * vel[c] + d);
            global[c] = (float)((double)global[c] + s->lr * (double)vel[c]);
        }
        break;
    }
    default:
        step_adaptive(s, global, aggregate);
        break;
    }
}

size_t gdn_fl_server_nstate(const gdn_fl_server *s)
{
    return s->nstate;
}

float *gdn_fl_server_state(gdn_fl_server *s, size_t i)
{
    return i < s->nstate ? s->state[i] : NULL;
}
