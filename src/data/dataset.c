/* Datasets in memory: allocation, copies, splits, standardization. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/internal.h"
#include "guardian/data.h"

/* Features are processed in blocks of STD_BLOCK columns so that the row-major
 * passes stay cache-friendly without allocating (this function cannot fail). */
#define STD_BLOCK 256

static void standardize_apply(gdn_dataset *d, size_t j0, size_t nb,
                              const double *mean, const double *sd)
{
    for (size_t i = 0; i < d->n; i++) {
        float *row = d->x + i * d->dim + j0;
        for (size_t j = 0; j < nb; j++) {
            double v = (double)row[j] - mean[j];
            row[j] = (float)(sd[j] > 0.0 ? v / sd[j] : v);
        }
    }
}

int gdn_data_alloc(gdn_dataset *d, size_t n, size_t dim)
{
    size_t values, xbytes, ybytes;

    memset(d, 0, sizeof *d);
    if (n > GDN_DATA_MAX_EXAMPLES)
        return gdn_error(GDN_ERANGE, "%zu examples, over the limit of %zu", n,
                         GDN_DATA_MAX_EXAMPLES);
    if (dim > GDN_DATA_MAX_FEATURES)
        return gdn_error(GDN_ERANGE, "%zu features, over the limit of %zu", dim,
                         GDN_DATA_MAX_FEATURES);
    if (gdn_mul_size(&values, n, dim) || values > GDN_DATA_MAX_VALUES)
        return gdn_error(GDN_ERANGE,
                         "%zu examples x %zu features, over the limit of %zu "
                         "values",
                         n, dim, GDN_DATA_MAX_VALUES);
    if (gdn_mul_size(&xbytes, values, sizeof(float)) ||
        gdn_mul_size(&ybytes, n, sizeof(int32_t)))
        return gdn_error(GDN_ERANGE, "dataset size overflow");
    d->x = gdn_alloc_aligned(xbytes);
    d->y = malloc(ybytes ? ybytes : 1);
    if (!d->x || !d->y) {
        gdn_dataset_free(d);
        return gdn_error(GDN_ENOMEM, "cannot allocate %zu x %zu dataset", n,
                         dim);
    }
    d->n = n;
    d->dim = dim;
    d->channels = d->height = 1;
    d->width = dim;
    return 0;
}

int gdn_data_copy_names(gdn_dataset *dst, const gdn_dataset *src)
{
    dst->class_names = NULL;
    if (!src->class_names || src->classes <= 0)
        return 0;
    dst->class_names = calloc((size_t)src->classes, sizeof(char *));
    if (!dst->class_names)
        return gdn_error(GDN_ENOMEM, "cannot copy class names");
    for (int c = 0; c < src->classes; c++) {
        const char *s = src->class_names[c] ? src->class_names[c] : "";
        size_t len = strlen(s);

        dst->class_names[c] = malloc(len + 1);
        if (!dst->class_names[c])
            return gdn_error(GDN_ENOMEM, "cannot copy class names");
        memcpy(dst->class_names[c], s, len + 1);
    }
    return 0;
}

void gdn_dataset_free(gdn_dataset *d)
{
    if (!d)
        return;
    if (d->class_names) {
        for (int c = 0; c < d->classes; c++)
            free(d->class_names[c]);
        free(d->class_names);
    }
    gdn_free_aligned(d->x);
    free(d->y);
    memset(d, 0, sizeof *d);
}

int gdn_data_subset(gdn_dataset *out, const gdn_dataset *src,
                    const uint32_t *idx, size_t n)
{
    size_t dim = src->dim;
    int rc;

    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n; i++)
        if (idx[i] >= src->n)
            return gdn_error(GDN_EINVAL,
                             "subset: index %zu is %lu, dataset has %zu "
                             "examples",
                             i, (unsigned long)idx[i], src->n);
    if ((rc = gdn_data_alloc(out, n, dim)))
        return rc;
    for (size_t i = 0; i < n; i++) {
        if (dim)
            memcpy(out->x + i * dim, src->x + (size_t)idx[i] * dim,
                   dim * sizeof(float));
        out->y[i] = src->y[idx[i]];
    }
    out->channels = src->channels;
    out->height = src->height;
    out->width = src->width;
    out->classes = src->classes;
    if ((rc = gdn_data_copy_names(out, src)))
        gdn_dataset_free(out);
    return rc;
}

int gdn_data_split(gdn_dataset *train, gdn_dataset *test,
                   const gdn_dataset *all, double test_fraction, gdn_rng *rng)
{
    size_t n = all->n, k, ntrain = 0, ntest = 0;
    uint32_t *perm = NULL, *train_idx = NULL, *test_idx = NULL;
    uint8_t *in_test = NULL;
    int rc;

    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (!rng)
        return gdn_error(GDN_EINVAL, "split: no rng");
    if (!(test_fraction >= 0.0 && test_fraction <= 1.0))
        return gdn_error(GDN_EINVAL, "test fraction %g is not in [0, 1]",
                         test_fraction);
    if (n > UINT32_MAX)
        return gdn_error(GDN_ERANGE, "split: %zu examples is too many", n);
    k = (size_t)floor((double)n * test_fraction + 0.5);
    if (k > n)
        k = n;
    perm = malloc((n ? n : 1) * sizeof *perm);
    train_idx = malloc((n ? n : 1) * sizeof *train_idx);
    test_idx = malloc((k ? k : 1) * sizeof *test_idx);
    in_test = calloc(n ? n : 1, 1);
    if (!perm || !train_idx || !test_idx || !in_test) {
        rc = gdn_error(GDN_ENOMEM, "split: cannot allocate %zu indices", n);
        goto done;
    }
    /* The first k of a uniform shuffle are a uniform k-subset; walking the
     * marks in index order keeps the original order in both parts. */
    for (size_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    gdn_rng_shuffle(rng, perm, n);
    for (size_t i = 0; i < k; i++)
        in_test[perm[i]] = 1;
    for (size_t i = 0; i < n; i++) {
        if (in_test[i])
            test_idx[ntest++] = (uint32_t)i;
        else
            train_idx[ntrain++] = (uint32_t)i;
    }
    if ((rc = gdn_data_subset(train, all, train_idx, ntrain)))
        goto done;
    if ((rc = gdn_data_subset(test, all, test_idx, ntest)))
        gdn_dataset_free(train);
done:
    free(perm);
    free(train_idx);
    free(test_idx);
    free(in_test);
    return rc;
}

void gdn_data_standardize(gdn_dataset *train, gdn_dataset *test)
{
    size_t n = train->n, dim = train->dim;
    double mean[STD_BLOCK], sd[STD_BLOCK];

    if (n == 0 || dim == 0)
        return;
    if (test && test->dim != dim) {
        gdn_log(GDN_LOG_ERROR,
                "standardize: test has %zu features, train %zu; test left "
                "unchanged",
                test->dim, dim);
        test = NULL;
    }
    for (size_t j0 = 0; j0 < dim; j0 += STD_BLOCK) {
        size_t nb = dim - j0 < STD_BLOCK ? dim - j0 : STD_BLOCK;

        /* Two passes (mean, then squared deviations) in double: the
         * population standard deviation without cancellation. */
        for (size_t j = 0; j < nb; j++)
            mean[j] = sd[j] = 0.0;
        for (size_t i = 0; i < n; i++) {
            const float *row = train->x + i * dim + j0;
            for (size_t j = 0; j < nb; j++)
                mean[j] += row[j];
        }
        for (size_t j = 0; j < nb; j++)
            mean[j] /= (double)n;
        for (size_t i = 0; i < n; i++) {
            const float *row = train->x + i * dim + j0;
            for (size_t j = 0; j < nb; j++) {
                double v = (double)row[j] - mean[j];
                sd[j] += v * v;
            }
        }
        for (size_t j = 0; j < nb; j++)
            sd[j] = sqrt(sd[j] / (double)n);
        standardize_apply(train, j0, nb, mean, sd);
        if (test)
            standardize_apply(test, j0, nb, mean, sd);
    }
}
