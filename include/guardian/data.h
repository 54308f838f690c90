/* Guardian data: datasets in memory, IDX and CSV readers, splits.
 *
 * A dataset is plain data: n examples of dim float features, row-major, with
 * an integer class label each. Image datasets keep their shape (channels x
 * height x width, dim = c*h*w); tabular ones have shape 1 x 1 x dim. Readers
 * bound every size they read and reject malformed input with an error whose
 * detail (gdn_errmsg) names the file, the line or offset, and the reason. */
#ifndef GUARDIAN_DATA_H
#define GUARDIAN_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "guardian/core.h"

typedef struct gdn_dataset {
    float *x;        /* n * dim features, 64-byte aligned (gdn_alloc_aligned) */
    int32_t *y;      /* n labels in [0, classes) */
    size_t n, dim;
    size_t channels, height, width;
    int classes;
    char **class_names; /* classes strings for CSV labels, or NULL */
} gdn_dataset;

#define GDN_DATA_MAX_EXAMPLES ((size_t)1 << 26)   /* 67M examples */
#define GDN_DATA_MAX_FEATURES ((size_t)1 << 20)   /* per example */
#define GDN_DATA_MAX_VALUES ((size_t)1 << 31)     /* n * dim floats (8 GiB) */
#define GDN_DATA_MAX_CLASSES 4096
#define GDN_DATA_MAX_FILE_BYTES ((size_t)4 << 30) /* a file, decompressed */

/* Default location of Debian's dataset-fashion-mnist package. */
#define GDN_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* ---- Direct interface --------------------------------------------------- */

/* Reads an IDX image file (ubyte, 3 dims) and its IDX label file (ubyte, 1
 * dim), gzip-compressed or not (detected by content). Pixels are scaled to
 * [0, 1]; classes = 1 + the largest label. */
int gdn_data_load_idx(gdn_dataset *out, const char *images_path,
                      const char *labels_path);

/* Fashion-MNIST's 60,000 training and 10,000 test examples from `dir`
 * (NULL: $GDN_FASHION_MNIST_DIR, else GDN_FASHION_MNIST_DIR). */
int gdn_data_load_fashion_mnist(gdn_dataset *train, gdn_dataset *test,
                                const char *dir);

/* Reads a CSV file: numeric feature columns plus one label column. The first
 * line is a header when any of its feature fields is not a number. label is a
 * column name or 0-based index; NULL or "" means the last column. Labels are
 * any strings; classes are the distinct labels in sorted order (numeric
 * labels sort numerically), their names kept in class_names. */
int gdn_data_load_csv(gdn_dataset *out, const char *path, const char *label);

/* Splits `all` into a training and a test part: test gets round(n *
 * test_fraction) examples chosen by the seeded rng; order is kept in each. */
int gdn_data_split(gdn_dataset *train, gdn_dataset *test,
                   const gdn_dataset *all, double test_fraction, gdn_rng *rng);

/* Standardizes every feature of train (and of test, when not NULL) by the
 * mean and standard deviation of train; constant features are only centred. */
void gdn_data_standardize(gdn_dataset *train, gdn_dataset *test);

/* Copies the examples idx[0..n) of src, in that order, into a new dataset. */
int gdn_data_subset(gdn_dataset *out, const gdn_dataset *src,
                    const uint32_t *idx, size_t n);

/* Frees what a dataset owns and zeroes it; accepts a zeroed dataset. */
void gdn_dataset_free(gdn_dataset *d);

/* ---- Partitions across federated clients -------------------------------- */

/* Client k holds the examples idx[offset[k] .. offset[k+1]), in ascending
 * order. Every example of the dataset belongs to at most one client. */
typedef struct gdn_partition {
    size_t clients;
    size_t *offset; /* clients + 1 entries */
    uint32_t *idx;
} gdn_partition;

/* Splits d across `clients` clients, deterministically for the rng:
 *   iid              shuffled, then cut into near-equal parts;
 *   shards[:S]       McMahan et al. 2017: sort by label, cut into S shards
 *                    of equal size (default 2 per client), give each client
 *                    S/clients random shards ("pathological non-IID");
 *   dirichlet:ALPHA  label skew: each class is spread over the clients by
 *                    proportions drawn from Dirichlet(ALPHA) (NIID-Bench,
 *                    Li et al. 2022), redrawn until every client has at
 *                    least 10 examples (or n / (2 clients) when smaller).
 * Errors name the spec problem ("partition 'shards:7': 7 shards cannot
 * be split evenly among 4 clients"). */
int gdn_data_partition(gdn_partition *out, const gdn_dataset *d,
                       const char *spec, size_t clients, gdn_rng *rng);
static inline size_t gdn_partition_size(const gdn_partition *p, size_t k)
{
    return p->offset[k + 1] - p->offset[k];
}
void gdn_partition_free(gdn_partition *p);

/* ---- Parsers on memory (what the readers and the fuzz targets call) ----- */

/* `name` is used only in error details. */
int gdn_data_parse_idx(gdn_dataset *out, const uint8_t *images,
                       size_t images_len, const uint8_t *labels,
                       size_t labels_len, const char *name);
int gdn_data_parse_csv(gdn_dataset *out, const char *text, size_t len,
                       const char *label, const char *name);

/* Decompresses gzip data (or copies it when it has no gzip magic), appending
 * to out; refuses to produce more than max_bytes. On error out->len is
 * restored. */
int gdn_data_gunzip(gdn_buf *out, const uint8_t *in, size_t len,
                    size_t max_bytes, const char *name);

#endif
