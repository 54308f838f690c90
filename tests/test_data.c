/* data: gzip, IDX and CSV readers, Fashion-MNIST, split, standardize. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "guardian/core.h"
#include "guardian/data.h"
#include "harness.h"

/* ---- Helpers ------------------------------------------------------------ */

/* gzip (RFC 1952) of data, with zlib's deflate: windowBits 15 + 16. */
static int gzip_bytes(gdn_buf *out, const void *data, size_t len)
{
    z_stream zs;
    uLong bound;
    int zr;

    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    bound = deflateBound(&zs, (uLong)len) + 32;
    if (gdn_buf_reserve(out, bound)) {
        deflateEnd(&zs);
        return -1;
    }
    zs.next_in = (Bytef *)(uintptr_t)data;
    zs.avail_in = (uInt)len;
    zs.next_out = out->data + out->len;
    zs.avail_out = (uInt)bound;
    zr = deflate(&zs, Z_FINISH);
    out->len += bound - zs.avail_out;
    deflateEnd(&zs);
    return zr == Z_STREAM_END ? 0 : -1;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* IDX images n x h x w with pixel (i, k) = (i * 37 + k * 11) % 256, and
 * labels lab[0..n). Buffers are sized generously by the caller. */
static size_t make_images(uint8_t *buf, uint32_t n, uint32_t h, uint32_t w)
{
    size_t len = 16;

    put_be32(buf, 0x00000803);
    put_be32(buf + 4, n);
    put_be32(buf + 8, h);
    put_be32(buf + 12, w);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < (size_t)h * w; k++)
            buf[len++] = (uint8_t)((i * 37 + k * 11) % 256);
    return len;
}

static size_t make_labels(uint8_t *buf, uint32_t n, const uint8_t *lab)
{
    put_be32(buf, 0x00000801);
    put_be32(buf + 4, n);
    memcpy(buf + 8, lab, n);
    return 8 + (size_t)n;
}

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int ok;

    if (!f)
        return -1;
    ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static int parse_csv_str(gdn_dataset *d, const char *text, const char *label)
{
    return gdn_data_parse_csv(d, text, strlen(text), label, "t.csv");
}

static int has(const char *msg)
{
    return strstr(gdn_errmsg(), msg) != NULL;
}

/* ---- gzip --------------------------------------------------------------- */

GDN_TEST(data_gunzip_roundtrip_and_copy)
{
    uint8_t raw[5000];
    gdn_buf gz = {0}, out = {0};

    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (uint8_t)(i * i % 251);
    CHECK_EQ(gzip_bytes(&gz, raw, sizeof raw), 0);
    CHECK(gz.len < sizeof raw);
    CHECK_OK(gdn_data_gunzip(&out, gz.data, gz.len, sizeof raw, "a.gz"));
    CHECK_EQ(out.len, sizeof raw);
    CHECK(memcmp(out.data, raw, sizeof raw) == 0);
    /* Exactly max_bytes is allowed; one less is refused. */
    out.len = 0;
    CHECK_EQ(gdn_data_gunzip(&out, gz.data, gz.len, sizeof raw - 1, "a.gz"),
             GDN_ERANGE);
    CHECK(has("a.gz") && has("4999"));
    CHECK_EQ(out.len, 0);
    /* Two members in a row (RFC 1952 §2.2) decompress to both. */
    CHECK_EQ(gzip_bytes(&gz, "tail", 4), 0);
    out.len = 0;
    CHECK_OK(gdn_data_gunzip(&out, gz.data, gz.len, 1 << 20, "a.gz"));
    CHECK_EQ(out.len, sizeof raw + 4);
    CHECK(memcmp(out.data + sizeof raw, "tail", 4) == 0);
    /* Without the gzip magic: a copy, within the same limit. */
    out.len = 0;
    CHECK_OK(gdn_data_gunzip(&out, (const uint8_t *)"plain", 5, 5, "p"));
    CHECK_EQ(out.len, 5);
    CHECK(memcmp(out.data, "plain", 5) == 0);
    out.len = 0;
    CHECK_EQ(gdn_data_gunzip(&out, (const uint8_t *)"plain", 5, 4, "p"),
             GDN_ERANGE);
    gdn_buf_free(&gz);
    gdn_buf_free(&out);
}

GDN_TEST(data_gunzip_rejects_corrupt_truncated_bomb)
{
    uint8_t raw[3000];
    uint8_t *zeros;
    gdn_buf gz = {0}, out = {0}, bad = {0};
    const size_t big = 16u << 20;

    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (uint8_t)(i * 7919 % 256);
    CHECK_EQ(gzip_bytes(&gz, raw, sizeof raw), 0);
    /* Truncated: every proper prefix past the magic is an error. */
    for (size_t cut = 2; cut < gz.len; cut += 97) {
        out.len = 0;
        CHECK_EQ(gdn_data_gunzip(&out, gz.data, cut, 1 << 20, "cut.gz"),
                 GDN_EFORMAT);
        CHECK(has("cut.gz"));
    }
    out.len = 0;
    CHECK_EQ(gdn_data_gunzip(&out, gz.data, gz.len - 1, 1 << 20, "cut.gz"),
             GDN_EFORMAT);
    CHECK(has("truncated"));
    /* Corrupt: a flipped bit in the CRC-32 trailer, then in the stream. */
    CHECK_OK(gdn_buf_append(&bad, gz.data, gz.len));
    bad.data[bad.len - 6] ^= 1;
    out.len = 0;
    CHECK_EQ(gdn_data_gunzip(&out, bad.data, bad.len, 1 << 20, "bad.gz"),
             GDN_EFORMAT);
    CHECK(has("bad.gz") && has("corrupt"));
    bad.data[bad.len - 6] ^= 1;
    bad.data[3] = 0xff; /* reserved FLG bits */
    out.len = 0;
    CHECK_EQ(gdn_data_gunzip(&out, bad.data, bad.len, 1 << 20, "bad.gz"),
             GDN_EFORMAT);
    /* Trailing bytes that are not another member. */
    bad.len = 0;
    CHECK_OK(gdn_buf_append(&bad, gz.data, gz.len));
    CHECK_OK(gdn_buf_append(&bad, "xyz", 3));
    out.len = 0;
    CHECK_EQ(gdn_data_gunzip(&out, bad.data, bad.len, 1 << 20, "bad.gz"),
             GDN_EFORMAT);
    CHECK(has("trailing"));
    /* A bomb: 16 MiB of zeros in ~16 KiB, refused at 1 MiB. */
    zeros = calloc(big, 1);
    CHECK(zeros != NULL);
    gz.len = 0;
    CHECK_EQ(gzip_bytes(&gz, zeros, big), 0);
    free(zeros);
    CHECK(gz.len < 64 * 1024);
    out.len = 0;
    CHECK_EQ(gdn_data_gunzip(&out, gz.data, gz.len, 1 << 20, "bomb.gz"),
             GDN_ERANGE);
    CHECK(has("bomb.gz"));
    CHECK(out.cap <= (2u << 20)); /* did not inflate it all first */
    gdn_buf_free(&gz);
    gdn_buf_free(&out);
    gdn_buf_free(&bad);
}

/* ---- IDX ---------------------------------------------------------------- */

GDN_TEST(data_idx_parse_values)
{
    uint8_t img[16 + 3 * 6], lab[8 + 3];
    const uint8_t y[3] = {2, 0, 4};
    size_t ilen = make_images(img, 3, 2, 3), llen = make_labels(lab, 3, y);
    gdn_dataset d;

    CHECK_OK(gdn_data_parse_idx(&d, img, ilen, lab, llen, "mem"));
    CHECK_EQ(d.n, 3);
    CHECK_EQ(d.dim, 6);
    CHECK_EQ(d.channels, 1);
    CHECK_EQ(d.height, 2);
    CHECK_EQ(d.width, 3);
    CHECK_EQ(d.classes, 5); /* 1 + the largest label */
    CHECK(d.class_names == NULL);
    CHECK(((uintptr_t)d.x & 63) == 0);
    for (size_t i = 0; i < 3; i++) {
        CHECK_EQ(d.y[i], y[i]);
        for (size_t k = 0; k < 6; k++)
            CHECK(d.x[i * 6 + k] == (float)((i * 37 + k * 11) % 256) / 255.0f);
    }
    gdn_dataset_free(&d);
    CHECK(d.x == NULL && d.y == NULL && d.n == 0);
    /* The extremes of the byte range. */
    img[16] = 255;
    img[17] = 0;
    CHECK_OK(gdn_data_parse_idx(&d, img, ilen, lab, llen, "mem"));
    CHECK(d.x[0] == 1.0f && d.x[1] == 0.0f);
    gdn_dataset_free(&d);
}

GDN_TEST(data_idx_rejects_bad_headers_and_sizes)
{
    uint8_t img[16 + 4 * 4 + 8], lab[8 + 4 + 8];
    const uint8_t y[4] = {1, 0, 1, 0};
    size_t ilen = make_images(img, 4, 2, 2), llen = make_labels(lab, 4, y);
    gdn_dataset d;

    /* Wrong magic: labels where images belong, float data, 2 dims. */
    CHECK_EQ(gdn_data_parse_idx(&d, lab, llen, lab, llen, "m"), GDN_EFORMAT);
    CHECK(has("m (images)") && has("bad IDX magic 0x00000801"));
    img[2] = 0x0d;
    CHECK_EQ(gdn_data_parse_idx(&d, img, ilen, lab, llen, "m"), GDN_EFORMAT);
    img[2] = 0x08;
    img[3] = 2;
    CHECK_EQ(gdn_data_parse_idx(&d, img, ilen, lab, llen, "m"), GDN_EFORMAT);
    img[3] = 3;
    CHECK_EQ(gdn_data_parse_idx(&d, img, ilen, img, ilen, "m"), GDN_EFORMAT);
    CHECK(has("m (labels)"));
    CHECK_OK(gdn_data_parse_idx(&d, img, ilen, lab, llen, "m"));
    gdn_dataset_free(&d);
    /* Truncated: in the magic, in the dims, in the payload. */
    CHECK_EQ(gdn_data_parse_idx(&d, img, 3, lab, llen, "m"), GDN_EFORMAT);
    CHECK_EQ(gdn_data_parse_idx(&d, img, 10, lab, llen, "m"), GDN_EFORMAT);
    CHECK_EQ(gdn_data_parse_idx(&d, img, ilen - 1, lab, llen, "m"), GDN_EFORMAT);
    CHECK_MSG(has("m (images): truncated: 31 bytes, expected 32"), "%s",
              gdn_errmsg());
    CHECK_EQ(gdn_data_parse_idx(&d, img, ilen, lab, llen - 1, "m"), GDN_EFORMAT);
    CHECK(has("m (labels): truncated: 11 bytes, expected 12"));
    /* Trailing garbage after the payload. */
    CHECK_EQ(gdn_data_parse_idx(&d, img, ilen + 1, lab, llen, "m"), GDN_EFORMAT);
    CHECK(has("33 bytes, expected 32") && has("trailing"));
    CHECK_EQ(gdn_data_parse_idx(&d, img, ilen, lab, llen + 3, "m"), GDN_EFORMAT);
    /* A zero dimension. */
    put_be32(img + 8, 0);
    CHECK_EQ(gdn_data_parse_idx(&d, img, ilen, lab, llen, "m"), GDN_EFORMAT);
    put_be32(img + 8, 2);
    /* Count mismatch: 3 labels for 4 images. */
    llen = make_labels(lab, 3, y);
    CHECK_EQ(gdn_data_parse_idx(&d, img, ilen, lab, llen, "m"), GDN_EFORMAT);
    CHECK(has("4 images") && has("3 labels"));
    CHECK(d.x == NULL && d.n == 0);
}

GDN_TEST(data_idx_rejects_oversized_before_allocating)
{
    /* Headers only: each claims far more than the 16 bytes present, and
     * must be refused on its sizes, not after trying to allocate them. */
    uint8_t img[17] = {0}, lab[9];
    gdn_dataset d;

    make_labels(lab, 1, (const uint8_t *)"\0");
    put_be32(img, 0x00000803);
    put_be32(img + 4, 1);
    put_be32(img + 8, 0x80000000u);
    put_be32(img + 12, 0x80000000u);
    CHECK_EQ(gdn_data_parse_idx(&d, img, 16, lab, 9, "big"), GDN_ERANGE);
    CHECK(has("over the limit"));
    put_be32(img + 4, 0xffffffffu);
    put_be32(img + 8, 1);
    put_be32(img + 12, 1);
    CHECK_EQ(gdn_data_parse_idx(&d, img, 16, lab, 9, "big"), GDN_ERANGE);
    /* Under each per-axis limit, over the total of n * dim values. */
    put_be32(img + 4, 1u << 26);
    put_be32(img + 8, 1024);
    put_be32(img + 12, 1024);
    CHECK_EQ(gdn_data_parse_idx(&d, img, 16, lab, 9, "big"), GDN_ERANGE);
    /* Within limits but absent: truncated, nothing allocated. */
    put_be32(img + 4, 60000);
    put_be32(img + 8, 28);
    put_be32(img + 12, 28);
    CHECK_EQ(gdn_data_parse_idx(&d, img, 16, lab, 9, "big"), GDN_EFORMAT);
    CHECK(has("truncated: 16 bytes, expected 47040016"));
    put_be32(img + 4, 1);
    put_be32(img + 8, 1);
    put_be32(img + 12, 1);
    CHECK_OK(gdn_data_parse_idx(&d, img, 17, lab, 9, "big"));
    gdn_dataset_free(&d);
    put_be32(lab + 4, 0xffffffffu);
    CHECK_EQ(gdn_data_parse_idx(&d, img, 17, lab, 9, "big"), GDN_ERANGE);
    CHECK(has("big (labels)"));
    CHECK(d.x == NULL && d.y == NULL);
}

GDN_TEST(data_idx_load_files_gzip_and_plain)
{
    uint8_t img[16 + 5 * 12], lab[8 + 5];
    const uint8_t y[5] = {3, 1, 0, 3, 2};
    size_t ilen = make_images(img, 5, 3, 4), llen = make_labels(lab, 5, y);
    gdn_buf gi = {0}, gl = {0};
    char ip[600], lp[600], lgz[600];
    gdn_dataset a, b;

    CHECK_EQ(gzip_bytes(&gi, img, ilen), 0);
    CHECK_EQ(gzip_bytes(&gl, lab, llen), 0);
    snprintf(ip, sizeof ip, "%s/img.idx.gz", gdn_test_tmpdir());
    snprintf(lgz, sizeof lgz, "%s/lab.idx.gz", gdn_test_tmpdir());
    snprintf(lp, sizeof lp, "%s/lab.idx", gdn_test_tmpdir());
    CHECK_EQ(write_file(ip, gi.data, gi.len), 0);
    CHECK_EQ(write_file(lgz, gl.data, gl.len), 0);
    CHECK_EQ(write_file(lp, lab, llen), 0);
    /* Compressed images with plain labels: detected by content. */
    CHECK_OK(gdn_data_load_idx(&a, ip, lp));
    CHECK_OK(gdn_data_parse_idx(&b, img, ilen, lab, llen, "mem"));
    CHECK_EQ(a.n, 5);
    CHECK_EQ(a.height, 3);
    CHECK_EQ(a.width, 4);
    CHECK_EQ(a.classes, 4);
    CHECK(memcmp(a.x, b.x, 5 * 12 * sizeof(float)) == 0);
    CHECK(memcmp(a.y, b.y, 5 * sizeof(int32_t)) == 0);
    gdn_dataset_free(&a);
    CHECK_OK(gdn_data_load_idx(&a, ip, lgz));
    CHECK(memcmp(a.y, b.y, 5 * sizeof(int32_t)) == 0);
    gdn_dataset_free(&a);
    gdn_dataset_free(&b);
    /* Errors name the file they are about. */
    gl.len -= 5;
    CHECK_EQ(write_file(lgz, gl.data, gl.len), 0);
    CHECK_EQ(gdn_data_load_idx(&a, ip, lgz), GDN_EFORMAT);
    CHECK(has("lab.idx.gz"));
    CHECK_EQ(write_file(lp, lab, llen - 1), 0);
    CHECK_EQ(gdn_data_load_idx(&a, ip, lp), GDN_EFORMAT);
    CHECK(has("lab.idx: truncated: 12 bytes, expected 13"));
    CHECK_EQ(gdn_data_load_idx(&a, ip, "/nonexistent/lab"), GDN_EIO);
    CHECK(has("/nonexistent/lab"));
    gdn_buf_free(&gi);
    gdn_buf_free(&gl);
}

/* Expected values computed independently with Python's gzip module:
 *   lb = gzip.open('train-labels-idx1-ubyte.gz').read(); lb[8] == 9
 *   im = gzip.open('train-images-idx3-ubyte.gz').read()
 *   sum(im[16:16+784]) == 76247; im[16+392:16+402] == 00 00 01 04 06 07 02..
 *   test: label 9, first image sum 33456; 6000 / 1000 per class. */
GDN_TEST(data_fashion_mnist_real)
{
    gdn_dataset train, test;
    size_t count[10] = {0}, tcount[10] = {0};
    long sum = 0, tsum = 0;

    CHECK_OK(gdn_data_load_fashion_mnist(&train, &test, gdn_test_fmnist_dir()));
    CHECK_EQ(train.n, 60000);
    CHECK_EQ(test.n, 10000);
    CHECK_EQ(train.dim, 784);
    CHECK_EQ(train.channels, 1);
    CHECK_EQ(train.height, 28);
    CHECK_EQ(train.width, 28);
    CHECK_EQ(test.height, 28);
    CHECK_EQ(train.classes, 10);
    CHECK_EQ(test.classes, 10);
    CHECK_EQ(train.y[0], 9); /* "Ankle boot" */
    CHECK_EQ(train.y[1], 0);
    CHECK_EQ(test.y[0], 9);
    for (size_t i = 0; i < 784; i++) {
        sum += lroundf(train.x[i] * 255.0f);
        tsum += lroundf(test.x[i] * 255.0f);
    }
    CHECK_EQ(sum, 76247);
    CHECK_EQ(tsum, 33456);
    CHECK(train.x[392 + 2] == 1 / 255.0f && train.x[392 + 5] == 7 / 255.0f);
    for (size_t i = 0; i < train.n; i++) {
        CHECK(train.y[i] >= 0 && train.y[i] < 10);
        count[train.y[i]]++;
    }
    for (size_t i = 0; i < test.n; i++)
        tcount[test.y[i]]++;
    for (int c = 0; c < 10; c++) {
        CHECK_EQ(count[c], 6000);
        CHECK_EQ(tcount[c], 1000);
    }
    for (size_t i = 0; i < train.n * train.dim; i += 4099)
        CHECK(train.x[i] >= 0.0f && train.x[i] <= 1.0f);
    gdn_dataset_free(&train);
    gdn_dataset_free(&test);
}

GDN_TEST(data_fashion_mnist_missing_dir)
{
    gdn_dataset train, test;

    CHECK_EQ(gdn_data_load_fashion_mnist(&train, &test, "/nonexistent/fmnist"),
             GDN_EIO);
    CHECK(has("/nonexistent/fmnist") && has("dataset-fashion-mnist") &&
          has("scripts/setup.sh"));
    CHECK(train.x == NULL && test.x == NULL);
    /* A directory without the files: the error names the missing file. */
    CHECK_EQ(gdn_data_load_fashion_mnist(&train, &test, gdn_test_tmpdir()),
             GDN_EIO);
    CHECK(has("train-images-idx3-ubyte") && has("dataset-fashion-mnist"));
}

/* ---- CSV ---------------------------------------------------------------- */

GDN_TEST(data_csv_header_quotes_and_shape)
{
    gdn_dataset d;
    const char *text = "age, \"income, net\" ,label\n"
                       " 31 ,\"1.5e3\",\"yes\"\n"
                       "-2.25,0,\"say \"\"no\"\"\"\n";

    CHECK_OK(parse_csv_str(&d, text, NULL));
    CHECK_EQ(d.n, 2);
    CHECK_EQ(d.dim, 2);
    CHECK_EQ(d.channels, 1);
    CHECK_EQ(d.height, 1);
    CHECK_EQ(d.width, 2);
    CHECK(d.x[0] == 31.0f && d.x[1] == 1500.0f);
    CHECK(d.x[2] == -2.25f && d.x[3] == 0.0f);
    CHECK_EQ(d.classes, 2);
    /* strcmp order: 's' < 'y'. */
    CHECK(strcmp(d.class_names[0], "say \"no\"") == 0);
    CHECK(strcmp(d.class_names[1], "yes") == 0);
    CHECK_EQ(d.y[0], 1);
    CHECK_EQ(d.y[1], 0);
    gdn_dataset_free(&d);
    /* No header: every feature of the first line is a number. */
    CHECK_OK(parse_csv_str(&d, "1,2,a\n3,4,b\n", NULL));
    CHECK_EQ(d.n, 2);
    CHECK(d.x[0] == 1.0f && d.x[3] == 4.0f);
    gdn_dataset_free(&d);
    /* A quoted field holding a line break: the record continues. */
    CHECK_OK(parse_csv_str(&d, "x,y\n1,\"multi\nline\"\n2,b\n", NULL));
    CHECK_EQ(d.n, 2);
    CHECK(strcmp(d.class_names[0], "b") == 0);
    CHECK(strcmp(d.class_names[1], "multi\nline") == 0);
    gdn_dataset_free(&d);
}

GDN_TEST(data_csv_label_by_name_index_default)
{
    gdn_dataset d;
    const char *text = "a,target,c\n1,x,3\n4,y,6\n7,x,9\n";

    CHECK_OK(parse_csv_str(&d, text, "target"));
    CHECK_EQ(d.n, 3);
    CHECK_EQ(d.dim, 2);
    CHECK(d.x[0] == 1.0f && d.x[1] == 3.0f && d.x[4] == 7.0f && d.x[5] == 9.0f);
    CHECK_EQ(d.y[0], 0);
    CHECK_EQ(d.y[1], 1);
    CHECK_EQ(d.y[2], 0);
    gdn_dataset_free(&d);
    CHECK_OK(parse_csv_str(&d, text, "1"));
    CHECK(d.x[0] == 1.0f && d.x[1] == 3.0f);
    CHECK_EQ(d.y[1], 1);
    gdn_dataset_free(&d);
    /* Default (NULL or ""): the last column, here numeric labels. */
    CHECK_OK(parse_csv_str(&d, "a,b,c\n1,2,3\n4,5,6\n", ""));
    CHECK_EQ(d.dim, 2);
    CHECK(d.x[2] == 4.0f && d.x[3] == 5.0f);
    CHECK(strcmp(d.class_names[0], "3") == 0 && d.y[1] == 1);
    gdn_dataset_free(&d);
    /* Index 0 without a header. */
    CHECK_OK(parse_csv_str(&d, "5,1,2\n7,3,4\n", "0"));
    CHECK(d.x[0] == 1.0f && d.x[1] == 2.0f);
    CHECK(strcmp(d.class_names[1], "7") == 0 && d.y[1] == 1);
    gdn_dataset_free(&d);
    /* A label name matched makes the first line a header even when its
     * other fields look like numbers. */
    CHECK_OK(parse_csv_str(&d, "1,2,lbl\n3,4,x\n", "lbl"));
    CHECK_EQ(d.n, 1);
    gdn_dataset_free(&d);
    CHECK_EQ(parse_csv_str(&d, text, "nope"), GDN_EINVAL);
    CHECK(has("t.csv:1: no column named 'nope'"));
    CHECK_EQ(parse_csv_str(&d, text, "3"), GDN_EINVAL);
    CHECK(has("out of range"));
    CHECK_EQ(parse_csv_str(&d, text, "99999999999999999999999"), GDN_EINVAL);
}

GDN_TEST(data_csv_labels_sorted)
{
    gdn_dataset d;

    CHECK_OK(parse_csv_str(&d, "f,l\n1,pear\n2,apple\n3,fig\n4,apple\n", NULL));
    CHECK_EQ(d.classes, 3);
    CHECK(strcmp(d.class_names[0], "apple") == 0);
    CHECK(strcmp(d.class_names[1], "fig") == 0);
    CHECK(strcmp(d.class_names[2], "pear") == 0);
    CHECK_EQ(d.y[0], 2);
    CHECK_EQ(d.y[1], 0);
    CHECK_EQ(d.y[2], 1);
    CHECK_EQ(d.y[3], 0);
    gdn_dataset_free(&d);
    /* All numbers: numeric order, "10" after "9", "-1" first. */
    CHECK_OK(parse_csv_str(&d, "f,l\n1,10\n2,9\n3,-1\n4,2.5\n5,9\n", NULL));
    CHECK_EQ(d.classes, 4);
    CHECK(strcmp(d.class_names[0], "-1") == 0);
    CHECK(strcmp(d.class_names[1], "2.5") == 0);
    CHECK(strcmp(d.class_names[2], "9") == 0);
    CHECK(strcmp(d.class_names[3], "10") == 0);
    CHECK_EQ(d.y[0], 3);
    CHECK_EQ(d.y[1], 2);
    CHECK_EQ(d.y[2], 0);
    CHECK_EQ(d.y[3], 1);
    CHECK_EQ(d.y[4], 2);
    gdn_dataset_free(&d);
    /* One non-number: plain string order, "10" before "9". */
    CHECK_OK(parse_csv_str(&d, "f,l\n1,10\n2,9\n3,x\n", NULL));
    CHECK(strcmp(d.class_names[0], "10") == 0);
    CHECK(strcmp(d.class_names[1], "9") == 0);
    CHECK(strcmp(d.class_names[2], "x") == 0);
    gdn_dataset_free(&d);
}

GDN_TEST(data_csv_line_ends_and_blank_lines)
{
    gdn_dataset d;

    CHECK_OK(parse_csv_str(&d, "a,b\r\n1,x\r\n2,y\r\n\r\n", NULL));
    CHECK_EQ(d.n, 2);
    CHECK(d.x[0] == 1.0f && d.x[1] == 2.0f);
    CHECK(strcmp(d.class_names[1], "y") == 0);
    gdn_dataset_free(&d);
    /* No final newline; a UTF-8 BOM; blank lines inside are skipped. */
    CHECK_OK(parse_csv_str(&d, "\xef\xbb\xbf" "a,b\n1,x\n\n  \n2,y", NULL));
    CHECK_EQ(d.n, 2);
    CHECK(d.x[1] == 2.0f);
    gdn_dataset_free(&d);
    /* Line numbers count blank lines and CRLF lines. */
    CHECK_EQ(parse_csv_str(&d, "a,b\r\n1,x\r\n\r\n2\r\n", NULL), GDN_EFORMAT);
    CHECK_MSG(has("t.csv:4: 1 columns, expected 2"), "%s", gdn_errmsg());
}

GDN_TEST(data_csv_number_forms)
{
    gdn_dataset d;
    const char *text = "f1,f2,f3,f4,f5,f6,f7,l\n"
                       "16777217,-0,12.,.5,+3,1e-3,123456789012345678901,a\n"
                       "007,1E2,\" 4 \",-1.5e+2,0.1,3.4e38,1e-50,b\n";

    CHECK_OK(parse_csv_str(&d, text, NULL));
    CHECK_EQ(d.dim, 7);
    /* Each must equal (float)strtod(field), fast path or not. */
    CHECK(d.x[0] == (float)16777217.0);
    CHECK(d.x[1] == 0.0f && signbit(d.x[1]));
    CHECK(d.x[2] == 12.0f && d.x[3] == 0.5f && d.x[4] == 3.0f);
    CHECK(d.x[5] == (float)1e-3);
    CHECK(d.x[6] == (float)123456789012345678901.0);
    CHECK(d.x[7] == 7.0f && d.x[8] == 100.0f && d.x[9] == 4.0f);
    CHECK(d.x[10] == -150.0f && d.x[11] == (float)0.1);
    CHECK(d.x[12] == (float)3.4e38 && d.x[13] == 0.0f);
    gdn_dataset_free(&d);
    /* Not finite numbers, or not wholly numbers. */
    static const char *bad[] = {"nan", "inf", "-Infinity", "0x10", "1e", "1e39",
                                "1,5", "--1", ".", "1 2", "1e400", "abc"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char buf[80];
        snprintf(buf, sizeof buf, "a,b\n1,x\n\"%s\",y\n", bad[i]);
        CHECK_MSG(parse_csv_str(&d, buf, NULL) == GDN_EFORMAT, "accepted %s",
                  bad[i]);
        CHECK_MSG(has("t.csv:3: column 1 ('a')") && has("is not a number"),
                  "%s", gdn_errmsg());
    }
}

GDN_TEST(data_csv_errors)
{
    gdn_dataset d;

    CHECK_EQ(parse_csv_str(&d, "a,b,c\n1,2,x\n1,2\n", NULL), GDN_EFORMAT);
    CHECK_MSG(strcmp(gdn_errmsg(), "t.csv:3: 2 columns, expected 3") == 0, "%s",
              gdn_errmsg());
    CHECK_EQ(parse_csv_str(&d, "a,b,c\n1,2,x\n1,2,x,4\n", NULL), GDN_EFORMAT);
    CHECK(has("t.csv:3: 4 columns, expected 3"));
    CHECK_EQ(parse_csv_str(&d, "a,age,c\n1,2,x\n1,abc,y\n", NULL), GDN_EFORMAT);
    CHECK_MSG(strcmp(gdn_errmsg(),
                     "t.csv:3: column 2 ('age'): 'abc' is not a number") == 0,
              "%s", gdn_errmsg());
    CHECK_EQ(parse_csv_str(&d, "1,2,x\n1,,y\n", NULL), GDN_EFORMAT);
    CHECK(has("t.csv:2: column 2: '' is empty"));
    CHECK_EQ(parse_csv_str(&d, "a,b\n1,\n", NULL), GDN_EFORMAT);
    CHECK(has("empty label"));
    CHECK_EQ(parse_csv_str(&d, "", NULL), GDN_EFORMAT);
    CHECK(has("t.csv: empty file"));
    CHECK_EQ(parse_csv_str(&d, "\n \r\n", NULL), GDN_EFORMAT);
    CHECK_EQ(parse_csv_str(&d, "a,b,c\n", NULL), GDN_EFORMAT);
    CHECK(has("t.csv: no data rows"));
    CHECK_EQ(parse_csv_str(&d, "a,b,c\r\n\r\n", NULL), GDN_EFORMAT);
    CHECK_EQ(parse_csv_str(&d, "label\nx\n", NULL), GDN_EFORMAT);
    CHECK(has("need at least one feature"));
    CHECK_EQ(parse_csv_str(&d, "a,b\n1,\"open\n2,x\n", NULL), GDN_EFORMAT);
    CHECK(has("t.csv:2: quoted field never closed"));
    CHECK_EQ(parse_csv_str(&d, "a,b\n1,\"x\"y\n", NULL), GDN_EFORMAT);
    CHECK(has("after a closing quote"));
    CHECK_EQ(gdn_data_parse_csv(&d, "a,b\n1,\0x\n", 9, NULL, "t.csv"),
             GDN_EFORMAT);
    CHECK(has("NUL byte at offset 6"));
    CHECK(d.x == NULL && d.class_names == NULL);
}

GDN_TEST(data_csv_too_many_labels)
{
    gdn_buf b = {0};
    gdn_dataset d;

    CHECK_OK(gdn_buf_printf(&b, "f,l\n"));
    for (int i = 0; i < GDN_DATA_MAX_CLASSES; i++)
        CHECK_OK(gdn_buf_printf(&b, "%d,c%d\n", i, i));
    CHECK_OK(gdn_data_parse_csv(&d, (const char *)b.data, b.len, NULL, "m.csv"));
    CHECK_EQ(d.classes, GDN_DATA_MAX_CLASSES);
    CHECK(strcmp(d.class_names[0], "c0") == 0);
    CHECK(strcmp(d.class_names[1], "c1") == 0);
    CHECK(strcmp(d.class_names[2], "c10") == 0);
    gdn_dataset_free(&d);
    CHECK_OK(gdn_buf_printf(&b, "1,one-more\n"));
    CHECK_EQ(gdn_data_parse_csv(&d, (const char *)b.data, b.len, NULL, "m.csv"),
             GDN_ERANGE);
    CHECK(has("m.csv:4098: more than 4096 distinct labels"));
    gdn_buf_free(&b);
}

GDN_TEST(data_csv_reads_only_len_bytes)
{
    /* The text is a slice: what follows it must not be read. */
    const char *text = "a,b\n1,x\n2,y\n3,z";
    char *copy = malloc(11);
    gdn_dataset d;

    CHECK(copy != NULL);
    memcpy(copy, text, 11); /* "a,b\n1,x\n2,y" without a NUL */
    CHECK_OK(gdn_data_parse_csv(&d, copy, 11, NULL, "s.csv"));
    CHECK_EQ(d.n, 2);
    CHECK(strcmp(d.class_names[1], "y") == 0);
    gdn_dataset_free(&d);
    CHECK_EQ(gdn_data_parse_csv(&d, text, 10, NULL, "s.csv"), GDN_EFORMAT);
    CHECK(has("s.csv:3: column 2 ('b'): '' is an empty label"));
    CHECK_EQ(gdn_data_parse_csv(&d, text, 9, NULL, "s.csv"), GDN_EFORMAT);
    CHECK(has("s.csv:3: 1 columns, expected 2"));
    CHECK_OK(gdn_data_parse_csv(&d, text, 8, NULL, "s.csv"));
    CHECK_EQ(d.n, 1);
    gdn_dataset_free(&d);
    free(copy);
}

GDN_TEST(data_csv_load_file)
{
    char path[600];
    const char *text = "x1,x2,species\n5.1,3.5,setosa\n7.0,3.2,versicolor\n";
    gdn_dataset d;

    snprintf(path, sizeof path, "%s/iris.csv", gdn_test_tmpdir());
    CHECK_EQ(write_file(path, text, strlen(text)), 0);
    CHECK_OK(gdn_data_load_csv(&d, path, "species"));
    CHECK_EQ(d.n, 2);
    CHECK(d.x[0] == 5.1f && d.x[3] == 3.2f);
    CHECK(strcmp(d.class_names[1], "versicolor") == 0);
    gdn_dataset_free(&d);
    CHECK_EQ(gdn_data_load_csv(&d, "/nonexistent/a.csv", NULL), GDN_EIO);
    CHECK(has("/nonexistent/a.csv"));
    text = "x1,x2,species\n5.1,3.5,setosa\n7.0,3.2\n";
    CHECK_EQ(write_file(path, text, strlen(text)), 0);
    CHECK_EQ(gdn_data_load_csv(&d, path, NULL), GDN_EFORMAT);
    CHECK(has("iris.csv:3: 2 columns, expected 3"));
}

/* ---- Split, subset, standardize ----------------------------------------- */

/* n examples with x = (i, -i), y = i % 3, and class names. */
static int make_seq(gdn_dataset *d, size_t n)
{
    static const char *names[3] = {"a", "b", "c"};
    gdn_buf b = {0};
    int rc;

    if (gdn_buf_printf(&b, "u,v,l\n"))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (gdn_buf_printf(&b, "%zu,-%zu,%s\n", i, i, names[i % 3]))
            return -1;
    rc = gdn_data_parse_csv(d, (const char *)b.data, b.len, NULL, "seq");
    gdn_buf_free(&b);
    return rc;
}

GDN_TEST(data_split_sizes_disjoint_deterministic)
{
    gdn_dataset all, tr, te, tr2, te2;
    gdn_rng rng;
    int seen[103] = {0};

    CHECK_OK(make_seq(&all, 103));
    gdn_rng_init_seed(&rng, 42);
    CHECK_OK(gdn_data_split(&tr, &te, &all, 0.25, &rng));
    CHECK_EQ(te.n, 26); /* round(25.75) */
    CHECK_EQ(tr.n, 77);
    CHECK_EQ(tr.dim, 2);
    CHECK_EQ(te.classes, 3);
    for (size_t i = 0; i < tr.n; i++) {
        size_t k = (size_t)tr.x[2 * i];
        CHECK(tr.x[2 * i + 1] == -tr.x[2 * i]);
        CHECK_EQ(tr.y[i], (int32_t)(k % 3));
        CHECK(i == 0 || tr.x[2 * i] > tr.x[2 * i - 2]); /* order kept */
        seen[k]++;
    }
    for (size_t i = 0; i < te.n; i++) {
        CHECK(i == 0 || te.x[2 * i] > te.x[2 * i - 2]);
        CHECK_EQ(te.y[i], (int32_t)((size_t)te.x[2 * i] % 3));
        seen[(size_t)te.x[2 * i]]++;
    }
    for (int k = 0; k < 103; k++)
        CHECK_EQ(seen[k], 1);
    /* Names are copies, not shared. */
    CHECK(strcmp(te.class_names[2], "c") == 0);
    CHECK(te.class_names[2] != all.class_names[2]);
    CHECK(tr.class_names[0] != te.class_names[0]);
    /* Same seed, same split; another seed, another split. */
    gdn_rng_init_seed(&rng, 42);
    CHECK_OK(gdn_data_split(&tr2, &te2, &all, 0.25, &rng));
    CHECK_EQ(te2.n, 26);
    CHECK(memcmp(te.x, te2.x, te.n * 2 * sizeof(float)) == 0);
    gdn_dataset_free(&tr2);
    gdn_dataset_free(&te2);
    gdn_rng_init_seed(&rng, 43);
    CHECK_OK(gdn_data_split(&tr2, &te2, &all, 0.25, &rng));
    CHECK(memcmp(te.x, te2.x, te.n * 2 * sizeof(float)) != 0);
    gdn_dataset_free(&tr2);
    gdn_dataset_free(&te2);
    /* The ends of the range, and outside it. */
    CHECK_OK(gdn_data_split(&tr2, &te2, &all, 0.0, &rng));
    CHECK_EQ(tr2.n, 103);
    CHECK_EQ(te2.n, 0);
    gdn_dataset_free(&tr2);
    gdn_dataset_free(&te2);
    CHECK_OK(gdn_data_split(&tr2, &te2, &all, 1.0, &rng));
    CHECK_EQ(tr2.n, 0);
    CHECK_EQ(te2.n, 103);
    gdn_dataset_free(&tr2);
    gdn_dataset_free(&te2);
    CHECK_EQ(gdn_data_split(&tr2, &te2, &all, 1.5, &rng), GDN_EINVAL);
    CHECK_EQ(gdn_data_split(&tr2, &te2, &all, NAN, &rng), GDN_EINVAL);
    gdn_dataset_free(&tr);
    gdn_dataset_free(&te);
    gdn_dataset_free(&all);
}

GDN_TEST(data_subset_values)
{
    gdn_dataset all, s;
    const uint32_t idx[4] = {5, 0, 5, 9};
    const uint32_t bad[2] = {1, 10};

    CHECK_OK(make_seq(&all, 10));
    CHECK_OK(gdn_data_subset(&s, &all, idx, 4));
    CHECK_EQ(s.n, 4);
    CHECK(s.x[0] == 5.0f && s.x[1] == -5.0f && s.x[2] == 0.0f);
    CHECK(s.x[4] == 5.0f && s.x[6] == 9.0f);
    CHECK_EQ(s.y[0], 2);
    CHECK_EQ(s.y[3], 0);
    CHECK_EQ(s.classes, 3);
    CHECK(strcmp(s.class_names[1], "b") == 0);
    gdn_dataset_free(&s);
    CHECK_EQ(gdn_data_subset(&s, &all, bad, 2), GDN_EINVAL);
    CHECK(has("index 1 is 10"));
    CHECK(s.x == NULL);
    gdn_dataset_free(&all);
    gdn_dataset_free(&s); /* a zeroed dataset is fine */
}

GDN_TEST(data_standardize_known_values)
{
    gdn_dataset tr, te;

    /* Column u: 1, 2, 3, 4 (mean 2.5, population sd sqrt(1.25)); column v
     * constant 5 (only centred). */
    CHECK_OK(parse_csv_str(&tr, "u,v,l\n1,5,a\n2,5,a\n3,5,b\n4,5,b\n", NULL));
    CHECK_OK(parse_csv_str(&te, "u,v,l\n2.5,7,a\n5,5,b\n", NULL));
    gdn_data_standardize(&tr, &te);
    CHECK_NEAR(tr.x[0], -1.5 / sqrt(1.25), 1e-6);
    CHECK_NEAR(tr.x[2], -0.5 / sqrt(1.25), 1e-6);
    CHECK_NEAR(tr.x[6], 1.5 / sqrt(1.25), 1e-6);
    for (size_t i = 0; i < 4; i++)
        CHECK(tr.x[2 * i + 1] == 0.0f);
    CHECK(te.x[0] == 0.0f);
    CHECK(te.x[1] == 2.0f);
    CHECK_NEAR(te.x[2], 2.5 / sqrt(1.25), 1e-6);
    CHECK(te.x[3] == 0.0f);
    gdn_dataset_free(&tr);
    gdn_dataset_free(&te);
}

GDN_TEST(data_standardize_wide_random)
{
    /* 300 features (more than one block of columns), 500 examples. */
    const size_t n = 500, dim = 300;
    gdn_dataset tr, te;
    gdn_rng rng;
    uint32_t idx[1];

    gdn_rng_init_seed(&rng, 9);
    memset(&tr, 0, sizeof tr);
    tr.x = gdn_alloc_aligned(n * dim * sizeof(float));
    tr.y = calloc(n, sizeof(int32_t));
    CHECK(tr.x && tr.y);
    tr.n = n;
    tr.dim = tr.width = dim;
    tr.channels = tr.height = 1;
    tr.classes = 1;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < dim; j++)
            tr.x[i * dim + j] = (float)(100.0 * (double)j + (1.0 + (double)j) *
                                                        gdn_rng_normal(&rng));
    idx[0] = 7;
    CHECK_OK(gdn_data_subset(&te, &tr, idx, 1));
    gdn_data_standardize(&tr, &te);
    for (size_t j = 0; j < dim; j++) {
        double s = 0, q = 0;
        for (size_t i = 0; i < n; i++)
            s += tr.x[i * dim + j];
        for (size_t i = 0; i < n; i++)
            q += (tr.x[i * dim + j] - s / n) * (tr.x[i * dim + j] - s / n);
        CHECK_NEAR(s / n, 0.0, 1e-5);
        CHECK_NEAR(sqrt(q / n), 1.0, 1e-5);
        /* The test row got the train transform. */
        CHECK(te.x[j] == tr.x[7 * dim + j]);
    }
    gdn_dataset_free(&tr);
    gdn_dataset_free(&te);
}
