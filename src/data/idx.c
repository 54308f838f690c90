/* IDX image and label files (MNIST, Fashion-MNIST).
 *
 * Format, per LeCun, Cortes & Burges, "The MNIST database"
 * (http://yann.lecun.com/exdb/mnist/): a big-endian magic number whose
 * bytes are 0, 0, the element type (0x08 = unsigned byte) and the number of
 * dimensions; then each dimension as a big-endian u32; then the elements in
 * row-major (C) order. Images are 0x00000803 (n x rows x columns), labels
 * 0x00000801 (n). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/internal.h"
#include "guardian/data.h"

#define IDX_UBYTE 0x08

/* Checks an IDX header and the file length; dims[0..ndim) and the payload
 * size are returned. Every size is bounded before any allocation. */
static int idx_header(const uint8_t *p, size_t len, unsigned ndim,
                      uint32_t dims[3], size_t *payload, const char *name)
{
    size_t header = 4 + 4 * (size_t)ndim, per_item = 1, total;
    uint32_t magic;

    if (len < 4)
        return gdn_error(GDN_EFORMAT,
                         "%s: truncated: %zu bytes, expected at least 4 (IDX "
                         "magic)",
                         name, len);
    magic = gdn_load_be32(p);
    if (p[0] != 0 || p[1] != 0 || p[2] != IDX_UBYTE || p[3] != ndim)
        return gdn_error(GDN_EFORMAT,
                         "%s: bad IDX magic 0x%08lx, expected 0x%08lx "
                         "(unsigned bytes, %u dimension%s)",
                         name, (unsigned long)magic,
                         (unsigned long)(0x800u | ndim), ndim,
                         ndim == 1 ? "" : "s");
    if (len < header)
        return gdn_error(GDN_EFORMAT,
                         "%s: truncated: %zu bytes, expected at least %zu "
                         "(IDX header)",
                         name, len, header);
    for (unsigned i = 0; i < ndim; i++) {
        dims[i] = gdn_load_be32(p + 4 + 4 * i);
        if (dims[i] == 0)
            return gdn_error(GDN_EFORMAT, "%s: dimension %u is 0", name, i);
    }
    if (dims[0] > GDN_DATA_MAX_EXAMPLES)
        return gdn_error(GDN_ERANGE,
                         "%s: %lu items, over the limit of %zu", name,
                         (unsigned long)dims[0], GDN_DATA_MAX_EXAMPLES);
    for (unsigned i = 1; i < ndim; i++)
        if (gdn_mul_size(&per_item, per_item, dims[i]) ||
            per_item > GDN_DATA_MAX_FEATURES)
            return gdn_error(GDN_ERANGE,
                             "%s: items of %lu x %lu values, over the limit of "
                             "%zu",
                             name, (unsigned long)dims[1],
                             (unsigned long)dims[2], GDN_DATA_MAX_FEATURES);
    if (gdn_mul_size(payload, dims[0], per_item) ||
        *payload > GDN_DATA_MAX_VALUES)
        return gdn_error(GDN_ERANGE,
                         "%s: %lu items of %zu values, over the limit of %zu",
                         name, (unsigned long)dims[0], per_item,
                         GDN_DATA_MAX_VALUES);
    total = header + *payload;
    if (len < total)
        return gdn_error(GDN_EFORMAT, "%s: truncated: %zu bytes, expected %zu",
                         name, len, total);
    if (len > total)
        return gdn_error(GDN_EFORMAT,
                         "%s: %zu bytes, expected %zu: trailing data at offset "
                         "%zu",
                         name, len, total, total);
    return 0;
}

static int parse_idx_files(gdn_dataset *out, const uint8_t *images,
                           size_t images_len, const char *images_name,
                           const uint8_t *labels, size_t labels_len,
                           const char *labels_name)
{
    uint32_t idims[3] = {0}, ldims[3] = {0};
    size_t ipay, lpay, dim;
    const uint8_t *pix, *lab;
    float scale[256];
    int rc, max_label = 0;

    memset(out, 0, sizeof *out);
    if ((rc = idx_header(images, images_len, 3, idims, &ipay, images_name)) ||
        (rc = idx_header(labels, labels_len, 1, ldims, &lpay, labels_name)))
        return rc;
    if (idims[0] != ldims[0])
        return gdn_error(GDN_EFORMAT, "%s: %lu images but %s: %lu labels",
                         images_name, (unsigned long)idims[0], labels_name,
                         (unsigned long)ldims[0]);
    dim = (size_t)idims[1] * idims[2];
    if ((rc = gdn_data_alloc(out, idims[0], dim)))
        return rc;
    out->channels = 1;
    out->height = idims[1];
    out->width = idims[2];
    pix = images + 16;
    lab = labels + 8;
    /* A table gives exactly x / 255.0f for every byte, without a division. */
    for (int v = 0; v < 256; v++)
        scale[v] = (float)v / 255.0f;
    for (size_t i = 0; i < ipay; i++)
        out->x[i] = scale[pix[i]];
    for (size_t i = 0; i < lpay; i++) {
        out->y[i] = lab[i];
        if (lab[i] > max_label)
            max_label = lab[i];
    }
    /* Labels are unsigned bytes, so classes is in [1, 256]. */
    out->classes = max_label + 1;
    return 0;
}

/* Reads a file, gunzipping it when it starts with the gzip magic. */
static int read_maybe_gzip(gdn_buf *out, const char *path)
{
    gdn_buf raw = {0};
    int rc;

    if ((rc = gdn_file_read(&raw, path, GDN_DATA_MAX_FILE_BYTES)))
        goto done;
    if (raw.len < 2 || raw.data[0] != 0x1f || raw.data[1] != 0x8b) {
        *out = raw;
        return 0;
    }
    rc = gdn_data_gunzip(out, raw.data, raw.len, GDN_DATA_MAX_FILE_BYTES, path);
done:
    gdn_buf_free(&raw);
    return rc;
}

/* dir/base.gz, or dir/base when only the uncompressed file is there. */
static int fmnist_path(char *path, size_t size, const char *dir,
                       const char *base)
{
    struct stat st;
    int n = snprintf(path, size, "%s/%s.gz", dir, base);

    if (n < 0 || (size_t)n >= size)
        return gdn_error(GDN_EINVAL, "path too long: %s/%s", dir, base);
    if (stat(path, &st) == 0)
        return 0;
    snprintf(path, size, "%s/%s", dir, base);
    if (stat(path, &st) == 0)
        return 0;
    return gdn_error(GDN_EIO,
                     "%s/%s.gz: %s; install the Debian package "
                     "dataset-fashion-mnist (run scripts/setup.sh) or set "
                     "GDN_FASHION_MNIST_DIR",
                     dir, base, strerror(errno));
}

static int fmnist_load(gdn_dataset *out, const char *dir, const char *images,
                       const char *labels)
{
    char ipath[4096], lpath[4096];
    int rc;

    if ((rc = fmnist_path(ipath, sizeof ipath, dir, images)) ||
        (rc = fmnist_path(lpath, sizeof lpath, dir, labels)))
        return rc;
    return gdn_data_load_idx(out, ipath, lpath);
}

int gdn_data_parse_idx(gdn_dataset *out, const uint8_t *images,
                       size_t images_len, const uint8_t *labels,
                       size_t labels_len, const char *name)
{
    char iname[256], lname[256];

    if (!name)
        name = "idx";
    snprintf(iname, sizeof iname, "%s (images)", name);
    snprintf(lname, sizeof lname, "%s (labels)", name);
    return parse_idx_files(out, images, images_len, iname, labels, labels_len,
                           lname);
}

int gdn_data_load_idx(gdn_dataset *out, const char *images_path,
                      const char *labels_path)
{
    gdn_buf images = {0}, labels = {0};
    int rc;

    memset(out, 0, sizeof *out);
    if (!images_path || !labels_path)
        return gdn_error(GDN_EINVAL, "load_idx: NULL path");
    if (!(rc = read_maybe_gzip(&images, images_path)) &&
        !(rc = read_maybe_gzip(&labels, labels_path)))
        rc = parse_idx_files(out, images.data, images.len, images_path,
                             labels.data, labels.len, labels_path);
    gdn_buf_free(&images);
    gdn_buf_free(&labels);
    return rc;
}

int gdn_data_load_fashion_mnist(gdn_dataset *train, gdn_dataset *test,
                                const char *dir)
{
    struct stat st;
    int rc;

    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (!dir || !*dir) {
        dir = getenv("GDN_FASHION_MNIST_DIR");
        if (!dir || !*dir)
            dir = GDN_FASHION_MNIST_DIR;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return gdn_error(GDN_EIO,
                         "%s: no Fashion-MNIST directory there; install the "
                         "Debian package dataset-fashion-mnist (run "
                         "scripts/setup.sh) or set GDN_FASHION_MNIST_DIR",
                         dir);
    if ((rc = fmnist_load(train, dir, "train-images-idx3-ubyte",
                          "train-labels-idx1-ubyte")))
        return rc;
    if ((rc = fmnist_load(test, dir, "t10k-images-idx3-ubyte",
                          "t10k-labels-idx1-ubyte")))
        gdn_dataset_free(train);
    return rc;
}
