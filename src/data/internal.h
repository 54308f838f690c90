/* data internals shared by the readers and the dataset operations. */
#ifndef GDN_DATA_INTERNAL_H
#define GDN_DATA_INTERNAL_H

#include <stddef.h>

#include "guardian/data.h"

/* Zeroes *d and allocates x (n * dim floats, aligned) and y (n labels),
 * after checking n, dim and n * dim against the GDN_DATA_MAX_* limits.
 * Sets channels = height = 1 and width = dim; the caller may reshape. */
int gdn_data_alloc(gdn_dataset *d, size_t n, size_t dim);

/* Deep copy of src's class names into dst (dst->class_names NULL when src
 * has none). dst->classes must already equal src->classes. */
int gdn_data_copy_names(gdn_dataset *dst, const gdn_dataset *src);

#endif
