/* Helpers shared by the benchmark programs: medians and the JSON fields that
 * say what ran (kernels, BLAS, OpenBLAS environment). */
#ifndef GDN_BENCH_H
#define GDN_BENCH_H

#include <stdlib.h>
#include <string.h>

#include "guardian/core.h"
#include "guardian/ml.h"
#include "ml/kernels.h"

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (n >= 1); v is left as it was. */
static inline double bench_median(const double *v, size_t n)
{
    double *s = malloc(n * sizeof *s), m;

    if (!s)
        return 0;
    memcpy(s, v, n * sizeof *s);
    qsort(s, n, sizeof *s, bench_cmp_double);
    m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    free(s);
    return m;
}

/* Appends s as a JSON string, or "?" if it is not valid UTF-8. */
static inline void bench_json_string(gdn_buf *out, const char *s)
{
    if (gdn_json_write_string(out, s))
        gdn_buf_printf(out, "\"?\"");
}

/* Appends ,"kernels":..,"blas":..,"openblas_coretype":..,"openblas_l2_size":.. */
static inline void bench_json_env(gdn_buf *out)
{
    const char *coretype = getenv("OPENBLAS_CORETYPE"), *l2 = getenv("OPENBLAS_L2_SIZE");

    gdn_buf_printf(out, ",\"kernels\":\"%s\",\"blas\":", gdn_ml_kernels_name());
    bench_json_string(out, gdn_ml_blas_config());
    gdn_buf_printf(out, ",\"openblas_coretype\":");
    bench_json_string(out, coretype ? coretype : "unset");
    gdn_buf_printf(out, ",\"openblas_l2_size\":");
    bench_json_string(out, l2 ? l2 : "unset");
}

/* A whole-string integer in [lo, hi] (command-line counts): 0, or -1. */
static inline int bench_parse_count(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

#endif
