/* libFuzzer target for the IDX reader (and gzip, as gdn_data_load_idx uses
 * it). Input: a little-endian u16, the length of the image file (capped
 * at what is there), then the image file and the label file. A part that starts with the gzip
 * magic is decompressed first, with a 1 MiB limit. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guardian/data.h"

#define FUZZ_MAX_UNZIPPED ((size_t)1 << 20)

static void check(const gdn_dataset *d)
{
    if (d->n * d->dim != 0 && d->dim != d->height * d->width)
        abort();
    for (size_t i = 0; i < d->n; i++)
        if (d->y[i] < 0 || d->y[i] >= d->classes)
            abort();
    for (size_t i = 0; i < d->n * d->dim; i++)
        if (!(d->x[i] >= 0.0f && d->x[i] <= 1.0f))
            abort();
}

/* Points *p, *len at part (gunzipped into buf when it is gzip). */
static int part(gdn_buf *buf, const uint8_t **p, size_t *len)
{
    if (*len >= 2 && (*p)[0] == 0x1f && (*p)[1] == 0x8b) {
        if (gdn_data_gunzip(buf, *p, *len, FUZZ_MAX_UNZIPPED, "fuzz"))
            return -1;
        *p = buf->data;
        *len = buf->len;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gdn_buf bi = {0}, bl = {0};
    gdn_dataset d;
    const uint8_t *img, *lab;
    size_t split, ilen, llen;
    uint8_t *copy;

    if (size < 2)
        return 0;
    split = (size_t)data[0] | (size_t)data[1] << 8;
    ilen = split < size - 2 ? split : size - 2;
    llen = size - 2 - ilen;
    /* A copy with nothing after it, so that reads past the end are caught. */
    copy = malloc(size - 2 ? size - 2 : 1);
    if (!copy)
        return 0;
    memcpy(copy, data + 2, size - 2);
    img = ilen ? copy : NULL;
    lab = llen ? copy + ilen : NULL;
    if (!part(&bi, &img, &ilen) && !part(&bl, &lab, &llen) &&
        gdn_data_parse_idx(&d, img, ilen, lab, llen, "fuzz") == 0) {
        check(&d);
        gdn_dataset_free(&d);
    }
    gdn_buf_free(&bi);
    gdn_buf_free(&bl);
    free(copy);
    return 0;
}
