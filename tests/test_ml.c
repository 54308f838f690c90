/* ml: specs, hand-computed forward passes, finite-difference gradient
 * checks of every layer kind, SGD semantics, determinism, learning. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "guardian/ml.h"
#include "harness.h"

static void set_tensor(gdn_model *m, size_t i, const float *v)
{
    gdn_tensor_info t;

    if (gdn_model_tensor(m, i, &t) == 0)
        memcpy(gdn_model_params(m) + t.offset, v, t.size * sizeof *v);
}

GDN_TEST(ml_spec_parameter_counts)
{
    static const struct { const char *spec; size_t c, h, w; size_t n; } cases[] = {
        {"cnn", 1, 28, 28, 1663370},        /* McMahan et al. 2017, §3 */
        {"lenet5", 1, 28, 28, 44426},
        {"mlp:784-200-200-10", 1, 28, 28, 199210},
        {"logreg", 1, 28, 28, 7850},
        {"seq:conv5-8p2,square,pool2,flatten,fc10", 1, 28, 28, 208 + 15690},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gdn_model *m;
        CHECK_OK(gdn_model_new(&m, cases[i].spec, cases[i].c, cases[i].h,
                               cases[i].w, 10));
        CHECK_MSG(gdn_model_nparams(m) == cases[i].n, "%s: %zu params",
                  cases[i].spec, gdn_model_nparams(m));
        gdn_model_free(m);
    }
}

GDN_TEST(ml_spec_errors_are_explained)
{
    gdn_model *m = (gdn_model *)1;

    CHECK_EQ(gdn_model_new(&m, "resnet", 1, 28, 28, 10), GDN_EINVAL);
    CHECK(m == NULL);
    CHECK(strstr(gdn_errmsg(), "unknown model spec 'resnet'"));
    CHECK_EQ(gdn_model_new(&m, "mlp:100-10", 1, 28, 28, 10), GDN_EINVAL);
    CHECK(strstr(gdn_errmsg(), "784 inputs"));
    CHECK_EQ(gdn_model_new(&m, "seq:conv3-4,fc10", 1, 8, 8, 10), GDN_EINVAL);
    CHECK(strstr(gdn_errmsg(), "needs 'flatten'"));
    CHECK_EQ(gdn_model_new(&m, "seq:flatten,fc5", 1, 8, 8, 10), GDN_EINVAL);
    CHECK(strstr(gdn_errmsg(), "10 classes"));
    CHECK_EQ(gdn_model_new(&m, "seq:conv9-4,flatten,fc10", 1, 8, 8, 10), GDN_EINVAL);
    CHECK_EQ(gdn_model_new(&m, "seq:flatten,fc0", 1, 8, 8, 10), GDN_EINVAL);
    CHECK_EQ(gdn_model_new(&m, "cnn", 1, 28, 28, 1), GDN_EINVAL);
}

GDN_TEST(ml_tensor_names_follow_torch_sequential)
{
    gdn_model *m;
    gdn_tensor_info t;

    CHECK_OK(gdn_model_new(&m, "cnn", 1, 28, 28, 10));
    CHECK_EQ(gdn_model_ntensors(m), 8);
    CHECK_OK(gdn_model_tensor(m, 2, &t));
    CHECK(strcmp(t.name, "3.weight") == 0);
    CHECK(t.ndim == 4 && t.shape[0] == 64 && t.shape[1] == 32 && t.shape[2] == 5);
    CHECK_OK(gdn_model_tensor(m, 4, &t));
    CHECK(strcmp(t.name, "7.weight") == 0);
    CHECK(t.ndim == 2 && t.shape[0] == 512 && t.shape[1] == 3136);
    CHECK_OK(gdn_model_tensor(m, 7, &t));
    CHECK(strcmp(t.name, "9.bias") == 0);
    CHECK_EQ(t.offset + t.size, gdn_model_nparams(m));
    CHECK_EQ(gdn_model_tensor(m, 8, &t), GDN_ERANGE);
    gdn_model_free(m);
}

/* flatten, fc2, relu, fc2 with weights chosen by hand:
 * h = relu([1+2+0.5, 3-4-1]) = [3.5, 0];  z = [3.5, 7+0+1] = [3.5, 8]. */
GDN_TEST(ml_forward_mlp_by_hand)
{
    static const float w1[] = {1, 2, 3, -4}, b1[] = {0.5f, -1};
    static const float w2[] = {1, -1, 2, 0.5f}, b2[] = {0, 1};
    const float x[] = {1, 1};
    const int32_t y[] = {1};
    float z[2], loss;
    gdn_model *m;

    CHECK_OK(gdn_model_new(&m, "mlp:2-2-2", 1, 1, 2, 2));
    set_tensor(m, 0, w1), set_tensor(m, 1, b1);
    set_tensor(m, 2, w2), set_tensor(m, 3, b2);
    CHECK_OK(gdn_model_forward(m, z, x, 1));
    CHECK(z[0] == 3.5f && z[1] == 8.0f);
    CHECK_OK(gdn_model_loss_grad(m, &loss, x, y, 1));
    CHECK_NEAR(loss, log1p(exp(-4.5)), 1e-6);
    /* dL/dz = softmax - onehot = [p0, -p0], p0 = 1/(1+e^4.5); dL/db2 = that. */
    double p0 = 1.0 / (1.0 + exp(4.5));
    gdn_tensor_info t;
    CHECK_OK(gdn_model_tensor(m, 3, &t));
    CHECK_NEAR(gdn_model_grads(m)[t.offset], p0, 1e-6);
    CHECK_NEAR(gdn_model_grads(m)[t.offset + 1], -p0, 1e-6);
    gdn_model_free(m);
}

/* conv2x2 [[1,0],[0,-1]] + 0.5 on 1..9: every output is x[i][j] - x[i+1][j+1]
 * + 0.5 = -3.5; a 2x2 max pool of 1..16 gives 6, 8, 14, 16; a 3x3 all-ones
 * kernel with padding 1 on a 2x2 input sums the whole input at every pixel. */
GDN_TEST(ml_forward_conv_pool_by_hand)
{
    gdn_model *m;
    float x[16], z[4];

    for (int i = 0; i < 16; i++)
        x[i] = (float)(i + 1);

    static const float kw[] = {1, 0, 0, -1}, kb[] = {0.5f};
    static const float fw[] = {1, 0, 0, 0, 0, 1, 1, 1}, fb[] = {0, 0};
    CHECK_OK(gdn_model_new(&m, "seq:conv2-1,flatten,fc2", 1, 3, 3, 2));
    set_tensor(m, 0, kw), set_tensor(m, 1, kb);
    set_tensor(m, 2, fw), set_tensor(m, 3, fb);
    CHECK_OK(gdn_model_forward(m, z, x, 1));
    CHECK(z[0] == -3.5f && z[1] == -10.5f);
    gdn_model_free(m);

    static const float ident[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
    static const float zero4[4] = {0};
    CHECK_OK(gdn_model_new(&m, "seq:pool2,flatten,fc4", 1, 4, 4, 4));
    set_tensor(m, 0, ident), set_tensor(m, 1, zero4);
    CHECK_OK(gdn_model_forward(m, z, x, 1));
    CHECK(z[0] == 6 && z[1] == 0 && z[2] == 14 && z[3] == 16);
    gdn_model_free(m);

    static const float ones9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}, b0[1] = {0};
    static const float sel[] = {1, 0, 0, 0, 0, 0, 0, 1}, fb2[] = {0, 0};
    CHECK_OK(gdn_model_new(&m, "seq:conv3-1p1,flatten,fc2", 1, 2, 2, 2));
    set_tensor(m, 0, ones9), set_tensor(m, 1, b0);
    set_tensor(m, 2, sel), set_tensor(m, 3, fb2);
    CHECK_OK(gdn_model_forward(m, z, x, 1));
    CHECK(z[0] == 10 && z[1] == 10);
    gdn_model_free(m);

    /* square: x^2 elementwise. */
    static const float id2[] = {1, 0, 0, 1}, zb[] = {0, 0};
    const float xs[] = {-3, 0.5f};
    CHECK_OK(gdn_model_new(&m, "seq:square,flatten,fc2", 1, 1, 2, 2));
    set_tensor(m, 0, id2), set_tensor(m, 1, zb);
    CHECK_OK(gdn_model_forward(m, z, xs, 1));
    CHECK(z[0] == 9 && z[1] == 0.25f);
    gdn_model_free(m);
}

/* Central differences in float32 on every parameter of a small model; the
 * loss is a mean over a batch of 3 so batch handling is checked too. */
static void gradient_check(const char *spec, size_t c, size_t h, size_t w,
                           int classes, uint64_t seed)
{
    gdn_model *m;
    gdn_rng rng;
    size_t in, n;
    float x[3 * 256], loss;
    int32_t y[3];
    int bad = 0;

    CHECK_OK(gdn_model_new(&m, spec, c, h, w, classes));
    gdn_rng_init_seed(&rng, seed);
    gdn_model_init(m, &rng);
    in = gdn_model_input_size(m);
    CHECK(in <= 256);
    for (size_t i = 0; i < 3 * in; i++)
        x[i] = (float)gdn_rng_normal(&rng);
    for (int i = 0; i < 3; i++)
        y[i] = (int32_t)gdn_rng_uniform(&rng, (uint64_t)classes);
    n = gdn_model_nparams(m);
    float *g = malloc(n * sizeof *g), *p = gdn_model_params(m);
    CHECK_OK(gdn_model_loss_grad(m, &loss, x, y, 3));
    memcpy(g, gdn_model_grads(m), n * sizeof *g);
    for (size_t i = 0; i < n; i++) {
        const float eps = 1e-3f;
        float save = p[i], lp, lm;
        p[i] = save + eps;
        gdn_model_loss_grad(m, &lp, x, y, 3);
        p[i] = save - eps;
        gdn_model_loss_grad(m, &lm, x, y, 3);
        p[i] = save;
        double fd = ((double)lp - (double)lm) / (2.0 * eps);
        if (fabs(fd - g[i]) > 2e-3 + 2e-2 * fabs(fd)) {
            if (bad++ < 5)
                gdn_test_fail(__FILE__, __LINE__, "%s: param %zu: analytic %.6g, numeric %.6g",
                              spec, i, (double)g[i], fd);
        }
    }
    free(g);
    gdn_model_free(m);
}

GDN_TEST(ml_gradient_check_dense_relu)
{
    gradient_check("mlp:6-5-4-3", 1, 1, 6, 3, 1);
}

GDN_TEST(ml_gradient_check_logreg)
{
    gradient_check("logreg", 1, 3, 3, 4, 2);
}

GDN_TEST(ml_gradient_check_conv_pool)
{
    gradient_check("seq:conv3-3p1,relu,pool2,conv3-2,relu,flatten,fc3", 2, 6, 6, 3, 3);
}

GDN_TEST(ml_gradient_check_conv_conv_multichannel)
{
    /* Two stacked convolutions: each keeps its own im2col for backward. */
    gradient_check("seq:conv3-3p1,conv3-2,flatten,fc3", 2, 6, 6, 3, 6);
}

GDN_TEST(ml_gradient_check_conv_valid_pool_odd)
{
    /* 7x7 -> conv 3 valid -> 5x5 -> pool2 floors to 2x2 (last row/col unused). */
    gradient_check("seq:conv3-2,pool2,flatten,fc2", 1, 7, 7, 2, 4);
}

GDN_TEST(ml_gradient_check_square)
{
    gradient_check("seq:conv3-2p1,square,flatten,fc4,square,fc3", 1, 4, 4, 3, 5);
}

GDN_TEST(ml_sgd_momentum_weight_decay_semantics)
{
    gdn_sgd opt;
    float p[2] = {1.0f, -2.0f};
    const float g[2] = {0.5f, 0.25f};

    CHECK_OK(gdn_sgd_init(&opt, 2, 0.1f, 0.9f, 0.01f));
    /* step 1: d = g + wd p = [0.51, 0.23]; v = d; p -= 0.1 v. */
    gdn_sgd_step(&opt, p, g);
    CHECK_NEAR(p[0], 1.0 - 0.051, 1e-6);
    CHECK_NEAR(p[1], -2.0 - 0.023, 1e-6);
    /* step 2: d = g + wd p; v = 0.9 v + d. */
    double d0 = 0.5 + 0.01 * (1.0 - 0.051), v0 = 0.9 * 0.51 + d0;
    gdn_sgd_step(&opt, p, g);
    CHECK_NEAR(p[0], 1.0 - 0.051 - 0.1 * v0, 1e-6);
    gdn_sgd_free(&opt);
    CHECK_EQ(gdn_sgd_init(&opt, 2, 0.0f, 0.9f, 0.0f), GDN_EINVAL);
    CHECK_EQ(gdn_sgd_init(&opt, 2, 0.1f, 1.0f, 0.0f), GDN_EINVAL);
}

/* Synthetic 4-class problem: class k has mean 3*e_k in 8 dimensions. */
static void make_blobs(float *x, int32_t *y, size_t n, gdn_rng *rng)
{
    for (size_t i = 0; i < n; i++) {
        y[i] = (int32_t)(i % 4);
        for (size_t d = 0; d < 8; d++)
            x[i * 8 + d] = (float)gdn_rng_normal(rng) + (d == (size_t)y[i] ? 3.0f : 0.0f);
    }
}

GDN_TEST(ml_training_learns_and_is_bit_reproducible)
{
    enum { N = 800 };
    static float x[N * 8];
    static int32_t y[N];
    float *first = NULL;
    gdn_rng data_rng;

    gdn_rng_init_seed(&data_rng, 11);
    make_blobs(x, y, N, &data_rng);
    for (int run = 0; run < 2; run++) {
        gdn_model *m;
        gdn_sgd opt;
        gdn_rng rng;
        double loss, acc, l0;
        CHECK_OK(gdn_model_new(&m, "mlp:8-16-4", 1, 1, 8, 4));
        gdn_rng_init_seed(&rng, 5);
        gdn_model_init(m, &rng);
        CHECK_OK(gdn_model_evaluate(m, &l0, &acc, x, y, N));
        CHECK_OK(gdn_sgd_init(&opt, gdn_model_nparams(m), 0.1f, 0.5f, 1e-4f));
        for (int e = 0; e < 3; e++)
            CHECK_OK(gdn_model_train_epoch(m, &opt, &loss, x, y, N, 16, &rng, NULL, NULL));
        CHECK_OK(gdn_model_evaluate(m, &loss, &acc, x, y, N));
        CHECK_MSG(acc > 0.9 && loss < l0 / 2, "accuracy %.3f, loss %.3f (initial %.3f)",
                  acc, loss, l0);
        if (run == 0) {
            first = malloc(gdn_model_nparams(m) * sizeof *first);
            memcpy(first, gdn_model_params(m), gdn_model_nparams(m) * sizeof *first);
        } else {
            CHECK(memcmp(first, gdn_model_params(m), gdn_model_nparams(m) * sizeof *first) == 0);
        }
        gdn_sgd_free(&opt);
        gdn_model_free(m);
    }
    free(first);
}

/* A CNN's forward pass in batches equals example-by-example evaluation, and
 * evaluate()'s accuracy agrees with the argmax of the logits. */
GDN_TEST(ml_batched_forward_equals_single)
{
    gdn_model *m;
    gdn_rng rng;
    float x[5 * 144], zb[5 * 3], z1[3];

    CHECK_OK(gdn_model_new(&m, "seq:conv3-4p1,relu,pool2,flatten,fc3", 1, 12, 12, 3));
    gdn_rng_init_seed(&rng, 9);
    gdn_model_init(m, &rng);
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
        x[i] = gdn_rng_float(&rng);
    CHECK_OK(gdn_model_forward(m, zb, x, 5));
    for (int e = 0; e < 5; e++) {
        CHECK_OK(gdn_model_forward(m, z1, x + e * 144, 1));
        for (int c = 0; c < 3; c++)
            CHECK_NEAR(z1[c], zb[e * 3 + c], 1e-5);
    }
    gdn_model_free(m);
}
