/* libFuzzer target for the CSV reader. The first byte chooses the label
 * option (last column, an index, a name); the rest is the text, copied to
 * an exact-size buffer without a NUL so that reads past len are caught. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guardian/data.h"

static void check(const gdn_dataset *d)
{
    if (d->n == 0 || d->dim == 0 || d->classes < 1 ||
        d->classes > GDN_DATA_MAX_CLASSES || !d->class_names ||
        d->width != d->dim)
        abort();
    for (size_t i = 0; i < d->n; i++)
        if (d->y[i] < 0 || d->y[i] >= d->classes)
            abort();
    for (size_t i = 0; i < d->n * d->dim; i++)
        if (!isfinite(d->x[i]))
            abort();
    for (int c = 0; c < d->classes; c++)
        if (!d->class_names[c] || !d->class_names[c][0])
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *labels[] = {NULL, "", "0", "1", "label", "2"};
    gdn_dataset d;
    char *text;

    if (size < 1)
        return 0;
    text = malloc(size - 1 ? size - 1 : 1);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    if (gdn_data_parse_csv(&d, text, size - 1,
                           labels[data[0] % (sizeof labels / sizeof *labels)],
                           "fuzz.csv") == 0) {
        check(&d);
        gdn_dataset_free(&d);
    }
    free(text);
    return 0;
}
