/* Aggregators: weighted mean, coordinate-wise median and trimmed mean,
 * Krum and Multi-Krum, norm-bounded mean. Every sum is taken in double in a
 * fixed order, so the same contributions in the same order give the same
 * bits whatever the thread schedule of the caller. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fl/internal.h"
#include "guardian/dp.h"
#include "guardian/fl.h"
#include "guardian/secagg.h"

typedef enum {
    AGG_MEAN,
    AGG_MEDIAN,
    AGG_TRIMMED,
    AGG_KRUM,
    AGG_MULTIKRUM,
    AGG_NORMBOUND,
    AGG_DP,
    AGG_SECAGG,
    AGG_PRIO,
    AGG_DDG,
    AGG_HE
} agg_kind;

#define SPEC_MAX 128
/* Coordinates gathered per block when sorting columns (median, trimmed) and
 * when accumulating pairwise distances (krum): a block of every stored
 * vector stays in cache while it is used n times. */
#define SORT_BLOCK 128
#define DIST_BLOCK 1024

struct gdn_aggregator {
    agg_kind kind;
    char spec[SPEC_MAX];
    size_t dim;
    double trim;   /* trimmed: fraction B dropped at each end */
    size_t f, m;   /* krum / multikrum: Byzantine clients F, vectors kept M */
    double bound;  /* normbound: M; dp: the clip S */
    double noise;  /* dp: noise multiplier z (the sum gets N(0, (z S)^2)) */
    double expect; /* dp: expected contributions (the fixed denominator) */
    double quantile, clip_lr, count_noise; /* dp, adaptive clipping (γ, η, σ_b) */
    double below;  /* dp: contributions whose update was within the clip */
    /* secagg: quantization (clip, levels), weight scale, graph (k, t), the
     * simulated dropout rate, and the cohort's quantized vectors (dim + 1
     * values each: the weighted update, then the weight). */
    uint32_t levels, sa_k, sa_t;
    double wscale, dropout;
    uint32_t *qstore, *qsum;
    uint8_t *sent;
    gdn_fl_prio *prio; /* prio: the two aggregators and the reports */
    size_t rejected;   /* prio: reports rejected in the last round */
    /* ddg: the distributed discrete Gaussian's parameters, the round's
     * public rotation seed, workspaces (dim_pad doubles; dim floats). */
    gdn_dp_ddg_params ddg;
    uint8_t ddg_seed[32];
    double *work;
    float *upd;
    uint8_t *filled; /* ddg: which cohort slots have been encoded */
    gdn_fl_he *he;     /* he: the key holders' keys and the encrypted sum */
    gdn_rng rng;   /* dp, secagg, prio, ddg, he: this round's stream */
    int rng_set;   /* set for the current round (it is wiped after use) */

    int open;      /* a round has begun and not finished */
    const float *global;
    size_t cohort, count;
    double wsum;

    double *acc;   /* dim: mean, normbound, multikrum */
    /* Robust aggregators: the cohort's vectors and workspaces, sized for
     * `cap` contributions and reused while the cohort does not grow. */
    size_t cap;
    float *store;  /* cap x dim */
    float *cols;   /* SORT_BLOCK x cap: median, trimmed */
    double *dist;  /* cap x cap: krum */
    double *score, *row; /* cap each: krum */
    size_t *order; /* cap: multikrum */
};

/* ---- Spec parsing ------------------------------------------------------- */

static const char usage[] =
    "expected mean, median, trimmed:B, krum:F, multikrum:F:M or normbound:M";

/* A plain decimal number: no sign, space, inf or nan. */
static int parse_real(double *out, const char *s)
{
    char *end;

    if (!((*s >= '0' && *s <= '9') || *s == '.'))
        return -1;
    errno = 0;
    *out = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(*out))
        return -1;
    return 0;
}

static int parse_count(size_t *out, const char *s)
{
    char *end;
    unsigned long long v;

    if (!(*s >= '0' && *s <= '9'))
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end != '\0' || errno == ERANGE || v > SIZE_MAX)
        return -1;
    *out = (size_t)v;
    return 0;
}

/* Splits buf at ':' into at most 4 fields; returns the number of fields. */
static size_t split_spec(char *buf, char *field[4])
{
    size_t n = 0;
    char *p = buf;

    for (;;) {
        char *colon = strchr(p, ':');
        if (n == 4)
            return 5;
        field[n++] = p;
        if (!colon)
            return n;
        *colon = '\0';
        p = colon + 1;
    }
}

static int parse_krum_f(gdn_aggregator *a, const char *s)
{
    if (parse_count(&a->f, s) || a->f > (SIZE_MAX - 3) / 2)
        return gdn_error(GDN_EINVAL,
                         "aggregator '%s': F (Byzantine clients tolerated) "
                         "must be a non-negative integer, got '%s'",
                         a->spec, s);
    return 0;
}

static int parse_spec(gdn_aggregator *a, const char *spec)
{
    char buf[SPEC_MAX], *field[4];
    size_t nf;

    if (strlen(spec) >= SPEC_MAX)
        return gdn_error(GDN_EINVAL, "aggregator spec is longer than %d bytes",
                         SPEC_MAX - 1);
    memcpy(a->spec, spec, strlen(spec) + 1);
    memcpy(buf, spec, strlen(spec) + 1);
    nf = split_spec(buf, field);

    if (strcmp(field[0], "mean") == 0 && nf == 1) {
        a->kind = AGG_MEAN;
    } else if (strcmp(field[0], "median") == 0 && nf == 1) {
        a->kind = AGG_MEDIAN;
    } else if (strcmp(field[0], "trimmed") == 0 && nf == 2) {
        a->kind = AGG_TRIMMED;
        if (parse_real(&a->trim, field[1]) || !(a->trim < 0.5))
            return gdn_error(GDN_EINVAL,
                             "aggregator '%s': the trimmed fraction must be "
                             "in [0, 0.5)",
                             spec);
    } else if (strcmp(field[0], "krum") == 0 && nf == 2) {
        a->kind = AGG_KRUM;
        return parse_krum_f(a, field[1]);
    } else if (strcmp(field[0], "multikrum") == 0 && nf == 3) {
        int rc;
        a->kind = AGG_MULTIKRUM;
        if ((rc = parse_krum_f(a, field[1])))
            return rc;
        if (parse_count(&a->m, field[2]) || a->m == 0)
            return gdn_error(GDN_EINVAL,
                             "aggregator '%s': M (vectors averaged) must be "
                             "an integer >= 1, got '%s'",
                             spec, field[2]);
    } else if (strcmp(field[0], "normbound") == 0 && nf == 2) {
        a->kind = AGG_NORMBOUND;
        if (parse_real(&a->bound, field[1]) || !(a->bound > 0))
            return gdn_error(GDN_EINVAL,
                             "aggregator '%s': the norm bound must be a "
                             "positive number",
                             spec);
    } else {
        return gdn_error(GDN_EINVAL, "aggregator '%s': unknown; %s", spec,
                         usage);
    }
    return 0;
}

static int is_robust(const gdn_aggregator *a)
{
    return a->kind != AGG_MEAN && a->kind != AGG_NORMBOUND && a->kind != AGG_DP &&
           a->kind != AGG_SECAGG && a->kind != AGG_DDG && a->kind != AGG_HE;
}

/* ---- Sorting (no NaN reaches here: add() rejects them) ------------------
 * Insertion sort up to 256 values (measured faster than qsort and Shell
 * sort there: few moves, no callback), Shell sort with Ciura's gaps
 * (extended by x2.25) above, whose last pass is that insertion sort. */

static const size_t gaps[] = {
    1, 4, 10, 23, 57, 132, 301, 701, 1577, 3548, 7983, 17961, 40412, 90927,
    204585, 460316, 1035711};

#define DEFINE_SHELL_SORT(name, type)                                         \
    static void name(type *v, size_t n)                                       \
    {                                                                         \
        size_t g = n <= 256 ? 1 : sizeof gaps / sizeof gaps[0];               \
        while (g > 1 && gaps[g - 1] >= n)                                     \
            g--;                                                              \
        while (g-- > 0) {                                                     \
            size_t gap = gaps[g];                                             \
            for (size_t i = gap; i < n; i++) {                                \
                type x = v[i];                                                \
                size_t j = i;                                                 \
                for (; j >= gap && v[j - gap] > x; j -= gap)                  \
                    v[j] = v[j - gap];                                        \
                v[j] = x;                                                     \
            }                                                                 \
        }                                                                     \
    }

DEFINE_SHELL_SORT(sort_floats, float)
DEFINE_SHELL_SORT(sort_doubles, double)

/* ---- Round workspaces ---------------------------------------------------- */

static void free_robust(gdn_aggregator *a)
{
    free(a->store);
    free(a->cols);
    free(a->dist);
    free(a->score);
    free(a->row);
    free(a->order);
    a->store = NULL;
    a->cols = NULL;
    a->dist = NULL;
    a->score = a->row = NULL;
    a->order = NULL;
    a->cap = 0;
}

static int reserve_robust(gdn_aggregator *a, size_t cohort)
{
    size_t nstore, ncols, ndist;
    int krum = a->kind == AGG_KRUM || a->kind == AGG_MULTIKRUM;

    if (cohort <= a->cap)
        return 0;
    free_robust(a);
    if (gdn_mul_size(&nstore, cohort, a->dim) ||
        gdn_mul_size(&nstore, nstore, sizeof(float)) ||
        gdn_mul_size(&ncols, cohort, SORT_BLOCK * sizeof(float)) ||
        gdn_mul_size(&ndist, cohort, cohort) ||
        gdn_mul_size(&ndist, ndist, sizeof(double)))
        return gdn_error(GDN_ERANGE,
                         "aggregator '%s': a cohort of %zu vectors of %zu "
                         "floats does not fit in memory",
                         a->spec, cohort, a->dim);
    a->store = malloc(nstore);
    if (krum) {
        a->dist = malloc(ndist);
        a->score = malloc(cohort * sizeof(double));
        a->row = malloc(cohort * sizeof(double));
        a->order = malloc(cohort * sizeof(size_t));
        if (!a->dist || !a->score || !a->row || !a->order)
            goto oom;
    } else {
        a->cols = malloc(ncols);
        if (!a->cols)
            goto oom;
    }
    if (!a->store)
        goto oom;
    a->cap = cohort;
    return 0;
oom:
    free_robust(a);
    return gdn_error(GDN_ENOMEM,
                     "aggregator '%s': cannot store %zu vectors of %zu floats",
                     a->spec, cohort, a->dim);
}

/* ---- Finishing ---------------------------------------------------------- */

/* Coordinate-wise mean of the values left after dropping the k smallest and
 * k largest of each coordinate (Yin et al. 2018); the median is the case
 * k = (n - 1) / 2, which keeps the middle value or the two middle ones. */
static void finish_trimmed(gdn_aggregator *a, float *out, size_t k)
{
    size_t n = a->count, dim = a->dim;

    for (size_t c0 = 0; c0 < dim; c0 += SORT_BLOCK) {
        size_t nb = dim - c0 < SORT_BLOCK ? dim - c0 : SORT_BLOCK;
        for (size_t i = 0; i < n; i++) {
            const float *src = a->store + i * dim + c0;
            for (size_t j = 0; j < nb; j++)
                a->cols[j * n + i] = src[j];
        }
        for (size_t j = 0; j < nb; j++) {
            float *col = a->cols + j * n;
            double sum = 0;
            sort_floats(col, n);
            for (size_t i = k; i < n - k; i++)
                sum += col[i];
            out[c0 + j] = (float)(sum / (double)(n - 2 * k));
        }
    }
}

/* dist[i * n + j] = ||x_i - x_j||^2, accumulated block by block. */
static void pairwise_distances(gdn_aggregator *a)
{
    size_t n = a->count, dim = a->dim;

    memset(a->dist, 0, n * n * sizeof(double));
    for (size_t c0 = 0; c0 < dim; c0 += DIST_BLOCK) {
        size_t nb = dim - c0 < DIST_BLOCK ? dim - c0 : DIST_BLOCK;
        for (size_t i = 0; i < n; i++) {
            const float *x = a->store + i * dim + c0;
            for (size_t j = i + 1; j < n; j++) {
                const float *y = a->store + j * dim + c0;
                double s = 0;
                for (size_t c = 0; c < nb; c++) {
                    double d = (double)x[c] - (double)y[c];
                    s += d * d;
                }
                a->dist[i * n + j] += s;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            a->dist[i * n + j] = a->dist[j * n + i];
}

/* Blanchard et al. 2017, the Krum function: score(i) is the sum of the
 * squared distances from x_i to its n - F - 2 closest neighbours. */
static void krum_scores(gdn_aggregator *a)
{
    size_t n = a->count, keep = n - a->f - 2;

    pairwise_distances(a);
    for (size_t i = 0; i < n; i++) {
        size_t r = 0;
        double s = 0;
        for (size_t j = 0; j < n; j++)
            if (j != i)
                a->row[r++] = a->dist[i * n + j];
        sort_doubles(a->row, r);
        for (size_t j = 0; j < keep; j++)
            s += a->row[j];
        a->score[i] = s;
    }
}

static int finish_krum(gdn_aggregator *a, float *out)
{
    size_t n = a->count, dim = a->dim, best = 0;

    if (n < 2 * a->f + 3)
        return gdn_error(GDN_ESTATE,
                         "aggregator '%s': Krum with F = %zu needs at least "
                         "2F+3 = %zu contributions, got %zu",
                         a->spec, a->f, 2 * a->f + 3, n);
    if (a->kind == AGG_MULTIKRUM && a->m > n)
        return gdn_error(GDN_ESTATE,
                         "aggregator '%s': cannot average the best %zu of "
                         "%zu contributions",
                         a->spec, a->m, n);
    krum_scores(a);
    if (a->kind == AGG_KRUM) {
        for (size_t i = 1; i < n; i++)
            if (a->score[i] < a->score[best])
                best = i;
        memcpy(out, a->store + best * dim, dim * sizeof(float));
        return 0;
    }
    /* Multi-Krum: the M lowest scores, ties to the lower index (insertion
     * sort by (score, index); n is a cohort, small). */
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        for (; j > 0 && a->score[a->order[j - 1]] > a->score[i]; j--)
            a->order[j] = a->order[j - 1];
        a->order[j] = i;
    }
    /* Sum the chosen vectors in cohort order. */
    for (size_t i = 1; i < a->m; i++) {
        size_t x = a->order[i], j = i;
        for (; j > 0 && a->order[j - 1] > x; j--)
            a->order[j] = a->order[j - 1];
        a->order[j] = x;
    }
    memset(a->acc, 0, dim * sizeof(double));
    for (size_t k = 0; k < a->m; k++) {
        const float *x = a->store + a->order[k] * dim;
        for (size_t c = 0; c < dim; c++)
            a->acc[c] += x[c];
    }
    for (size_t c = 0; c < dim; c++)
        out[c] = (float)(a->acc[c] / (double)a->m);
    return 0;
}

/* ---- Public interface --------------------------------------------------- */

int gdn_aggregator_new(gdn_aggregator **out, const char *spec, size_t dim)
{
    gdn_aggregator *a;
    int rc;

    *out = NULL;
    if (!spec)
        spec = "mean";
    if (dim == 0)
        return gdn_error(GDN_EINVAL, "aggregator '%s': dimension is 0", spec);
    a = calloc(1, sizeof *a);
    if (!a)
        return gdn_error(GDN_ENOMEM, "aggregator: out of memory");
    a->dim = dim;
    if ((rc = parse_spec(a, spec)))
        goto fail;
    if (a->kind == AGG_MEAN || a->kind == AGG_NORMBOUND ||
        a->kind == AGG_MULTIKRUM) {
        size_t bytes;
        if (gdn_mul_size(&bytes, dim, sizeof(double)) ||
            !(a->acc = malloc(bytes))) {
            rc = gdn_error(GDN_ENOMEM, "aggregator '%s': cannot allocate %zu "
                           "doubles", spec, dim);
            goto fail;
        }
    }
    *out = a;
    return 0;
fail:
    gdn_aggregator_free(a);
    return rc;
}

int gdn_aggregator_new_dp(gdn_aggregator **out, size_t dim, double clip,
                          double noise_multiplier, double expected)
{
    gdn_aggregator *a;
    int rc;

    *out = NULL;
    if (!(clip > 0) || !isfinite(clip) || !(noise_multiplier >= 0) ||
        !isfinite(noise_multiplier) || !(expected > 0) || !isfinite(expected))
        return gdn_error(GDN_EINVAL, "DP aggregator: needs clip > 0, noise "
                         "multiplier >= 0 and an expected cohort > 0");
    if ((rc = gdn_aggregator_new(&a, "mean", dim))) /* allocates the sum */
        return rc;
    a->kind = AGG_DP;
    a->bound = clip;
    a->noise = noise_multiplier;
    a->expect = expected;
    snprintf(a->spec, sizeof a->spec, "dp:clip=%g,noise=%g", clip, noise_multiplier);
    *out = a;
    return 0;
}

int gdn_aggregator_new_secagg(gdn_aggregator **out, size_t dim, double clip,
                              uint32_t levels, double wscale, uint32_t k, uint32_t t,
                              double dropout)
{
    gdn_aggregator *a;
    int rc;

    *out = NULL;
    if (!(clip > 0) || !isfinite(clip) || levels < 2 || !(wscale > 0) ||
        !isfinite(wscale) || !(dropout >= 0 && dropout < 1) || dim > UINT32_MAX - 1)
        return gdn_error(GDN_EINVAL, "secure aggregation: needs clip > 0, levels >= 2, "
                         "a weight scale > 0 and a dropout rate in [0, 1)");
    if ((rc = gdn_aggregator_new(&a, "median", dim))) /* no accumulator needed */
        return rc;
    a->kind = AGG_SECAGG;
    a->bound = clip, a->levels = levels, a->wscale = wscale;
    a->sa_k = k, a->sa_t = t, a->dropout = dropout;
    snprintf(a->spec, sizeof a->spec, "secagg:clip=%g,levels=%u", clip, levels);
    *out = a;
    return 0;
}

int gdn_aggregator_new_prio(gdn_aggregator **out, size_t dim, double bound)
{
    gdn_aggregator *a;
    int rc;

    *out = NULL;
    if ((rc = gdn_aggregator_new(&a, "median", dim))) /* no accumulator needed */
        return rc;
    if ((rc = gdn_fl_prio_new(&a->prio, dim, bound))) {
        gdn_aggregator_free(a);
        return rc;
    }
    a->kind = AGG_PRIO;
    a->bound = bound;
    snprintf(a->spec, sizeof a->spec, "prio:pine64,bound=%g,frac_bits=%u", bound,
             gdn_fl_prio_frac_bits(a->prio));
    *out = a;
    return 0;
}

int gdn_aggregator_new_he(gdn_aggregator **out, size_t dim, double wscale, double clip,
                          unsigned holders, unsigned threshold, gdn_rng *rng)
{
    gdn_aggregator *a;
    int rc;

    *out = NULL;
    if ((rc = gdn_aggregator_new(&a, "median", dim))) /* no accumulator needed */
        return rc;
    if ((rc = gdn_fl_he_new(&a->he, dim, wscale, clip, holders, threshold,
                            GDN_FL_HE_SMUDGE_BITS, rng))) {
        gdn_aggregator_free(a);
        return rc;
    }
    a->kind = AGG_HE;
    a->bound = clip, a->wscale = wscale;
    snprintf(a->spec, sizeof a->spec, "he:ckks,n=8192,holders=%u,t=%u,clip=%g", holders,
             threshold, clip);
    *out = a;
    return 0;
}

int gdn_aggregator_he_answering(gdn_aggregator *agg, unsigned holders)
{
    if (agg->kind != AGG_HE)
        return gdn_error(GDN_EINVAL, "aggregator '%s' is not encrypted", agg->spec);
    return gdn_fl_he_set_answering(agg->he, holders);
}

size_t gdn_aggregator_he_client_bytes(const gdn_aggregator *agg)
{
    return agg->kind == AGG_HE ? gdn_fl_he_client_bytes(agg->he) : 0;
}

size_t gdn_aggregator_rejected(const gdn_aggregator *agg)
{
    return agg->kind == AGG_PRIO ? agg->rejected : 0;
}

double gdn_aggregator_prio_clip(size_t dim, double bound)
{
    return gdn_fl_prio_clip_norm(bound, dim);
}

int gdn_aggregator_new_ddg(gdn_aggregator **out, const gdn_dp_ddg_params *p,
                           double expected, uint32_t k, uint32_t t, double dropout)
{
    gdn_aggregator *a;
    int rc;

    *out = NULL;
    if (!(expected > 0) || !isfinite(expected) || !(dropout >= 0 && dropout < 1) ||
        p->dim == 0 || p->dim_pad < p->dim || p->dim_pad > GDN_SECAGG_MAX_LENGTH ||
        p->bits < 2 || p->bits > 32 || !(p->gamma > 0))
        return gdn_error(GDN_EINVAL, "distributed DP: needs parameters from "
                         "gdn_dp_ddg_setup, an expected cohort > 0, a dropout rate "
                         "in [0, 1) and a rotated length up to 2^28");
    if ((rc = gdn_aggregator_new(&a, "mean", p->dim))) /* allocates acc (dim) */
        return rc;
    a->kind = AGG_DDG;
    a->ddg = *p;
    a->bound = p->clip, a->noise = p->noise, a->expect = expected;
    a->sa_k = k, a->sa_t = t, a->dropout = dropout;
    a->work = malloc(p->dim_pad * sizeof *a->work);
    a->upd = malloc(p->dim * sizeof *a->upd);
    if (!a->work || !a->upd) {
        gdn_aggregator_free(a);
        return gdn_error(GDN_ENOMEM, "distributed DP: out of memory");
    }
    snprintf(a->spec, sizeof a->spec, "ddg:clip=%g,noise=%g,bits=%u", p->clip, p->noise,
             p->bits);
    *out = a;
    return 0;
}

void gdn_aggregator_set_noise_rng(gdn_aggregator *agg, const gdn_rng *rng)
{
    agg->rng = *rng;
    agg->rng_set = 1;
}

int gdn_aggregator_dp_adaptive(gdn_aggregator *agg, double quantile,
                               double clip_lr, double count_noise)
{
    if (agg->kind != AGG_DP || !(quantile > 0 && quantile < 1) || !(clip_lr > 0) ||
        !isfinite(clip_lr) || !(count_noise > 0) || !isfinite(count_noise))
        return gdn_error(GDN_EINVAL, "adaptive clipping needs the DP aggregator, a "
                         "quantile in (0, 1), a learning rate > 0 and count noise > 0");
    if (agg->noise > 0 && !(2.0 * count_noise > agg->noise))
        return gdn_error(GDN_EINVAL, "adaptive clipping: the count's noise (%g) must "
                         "exceed half the noise multiplier (%g)", count_noise, agg->noise);
    agg->quantile = quantile;
    agg->clip_lr = clip_lr;
    agg->count_noise = count_noise;
    return 0;
}

double gdn_aggregator_dp_clip(const gdn_aggregator *agg)
{
    return agg->bound;
}

void gdn_aggregator_dp_set_clip(gdn_aggregator *agg, double clip)
{
    agg->bound = clip;
}

void gdn_aggregator_free(gdn_aggregator *agg)
{
    if (!agg)
        return;
    free_robust(agg);
    free(agg->acc);
    free(agg->qstore);
    free(agg->qsum);
    free(agg->sent);
    gdn_fl_prio_free(agg->prio);
    free(agg->filled);
    free(agg->work);
    free(agg->upd);
    gdn_fl_he_free(agg->he);
    gdn_rng_wipe(&agg->rng);
    free(agg);
}

const char *gdn_aggregator_spec(const gdn_aggregator *agg)
{
    return agg->spec;
}

/* ---- Secure aggregation ---------------------------------------------------
 * Each contribution becomes what a SecAgg+ client would mask: its update
 * scaled by weight / wscale, then that weight, quantized with stochastic
 * rounding onto `levels` points of [-clip, clip] (the weight on [-1, 1]). The
 * server side only learns their sum, through gdn_fl_secagg_round. */

static int reserve_secagg(gdn_aggregator *a, size_t cohort)
{
    size_t n, row = a->kind == AGG_DDG ? a->ddg.dim_pad : a->dim + 1;

    if (cohort <= a->cap)
        return 0;
    free(a->qstore);
    free(a->qsum);
    free(a->sent);
    a->cap = 0;
    a->qstore = gdn_mul_size(&n, cohort, row * 4) ? NULL : malloc(n ? n : 1);
    a->qsum = malloc(row * 4);
    a->sent = malloc(cohort ? cohort : 1);
    free(a->filled);
    a->filled = calloc(cohort ? cohort : 1, 1);
    if (!a->qstore || !a->qsum || !a->sent || !a->filled)
        return gdn_error(GDN_ENOMEM, "aggregator '%s': out of memory for %zu clients",
                         a->spec, cohort);
    a->cap = cohort;
    return 0;
}

int gdn_fl_secagg_encode(uint32_t *q, const float *local, const float *global, size_t dim,
                         double weight, double wscale, double clip, uint32_t levels,
                         gdn_rng *rng)
{
    float *u, w = (float)(weight / wscale);
    int rc;

    if (!(weight > 0) || !(wscale > 0) || !(w <= 1.0f) || !(clip > 0) || levels < 2)
        return gdn_error(GDN_EINVAL, "secagg encoding: needs 0 < weight <= weight scale, "
                         "clip > 0 and levels >= 2 (weight %g, scale %g)", weight, wscale);
    if (!(u = malloc((dim ? dim : 1) * sizeof *u)))
        return gdn_error(GDN_ENOMEM, "secagg encoding: out of memory");
    for (size_t c = 0; c < dim; c++)
        u[c] = w * (local[c] - global[c]);
    rc = gdn_secagg_quantize(q, u, dim, (float)clip, levels, rng);
    if (!rc)
        rc = gdn_secagg_quantize(q + dim, &w, 1, 1.0f, levels, rng);
    free(u);
    return rc;
}

int gdn_fl_secagg_decode(float *out, const uint32_t *sum, const float *global, size_t dim,
                         uint32_t count, double clip, uint32_t levels)
{
    double *d = malloc((dim ? dim : 1) * sizeof *d), w = 0;
    int rc;

    if (!d)
        return gdn_error(GDN_ENOMEM, "secagg decoding: out of memory");
    rc = count == 0 ? gdn_error(GDN_ESTATE, "secagg decoding: no masked input arrived")
                    : gdn_secagg_dequantize_sum(d, sum, dim, count, (float)clip, levels);
    if (!rc)
        rc = gdn_secagg_dequantize_sum(&w, sum + dim, 1, count, 1.0f, levels);
    if (!rc && !(w > 0))
        rc = gdn_error(GDN_ESTATE, "secagg decoding: the summed weight is %g", w);
    for (size_t c = 0; c < dim && !rc; c++)
        out[c] = (float)((double)global[c] + d[c] / w);
    free(d);
    return rc;
}

static int quantize_secagg(gdn_aggregator *a, const float *vec, double weight)
{
    return gdn_fl_secagg_encode(a->qstore + a->count * (a->dim + 1), vec, a->global, a->dim,
                                weight, a->wscale, a->bound, a->levels, &a->rng);
}

static int finish_secagg(gdn_aggregator *a, float *out)
{
    uint32_t bits, included = 0;
    int rc = gdn_secagg_quant_bits(&bits, (uint32_t)a->count, a->levels);

    if (!rc)
        rc = gdn_fl_secagg_round(a->qsum, &included, a->sent, a->qstore,
                                 (uint32_t)a->count, (uint32_t)a->dim + 1, bits, a->sa_k,
                                 a->sa_t, a->dropout, &a->rng);
    if (!rc)
        rc = gdn_fl_secagg_decode(out, a->qsum, a->global, a->dim, included, a->bound,
                                  a->levels);
    gdn_rng_wipe(&a->rng);
    a->rng_set = 0;
    return rc;
}

/* ---- Distributed DP (KLS 2021) ----------------------------------------------
 * Each contribution is what a client would mask: its update encoded by
 * gdn_dp_ddg_encode with its own stream (rounding and noise); SecAgg+ sums
 * the encodings; the server decodes the sum and divides by the expected
 * cohort, as DP-FedAvg does. With fewer than 2 contributions no SecAgg+
 * round can run: the model stays (what the round reveals is then only that
 * the cohort was that small). */

/* Client `slot`'s encoding into its row, with its own stream; upd (dim)
 * and work (dim_pad) are the caller's workspaces. */
static int encode_ddg(gdn_aggregator *a, size_t slot, const float *vec, float *upd,
                      double *work)
{
    uint32_t *q = a->qstore + slot * a->ddg.dim_pad;
    gdn_rng own;
    int rc;

    gdn_rng_derive(&own, &a->rng, 2 + (uint64_t)slot);
    rc = gdn_fl_ddg_encode(q, work, upd, vec, a->global, &a->ddg, a->ddg_seed, &own);
    gdn_rng_wipe(&own);
    if (!rc)
        a->filled[slot] = 1;
    return rc;
}

static int finish_ddg(gdn_aggregator *a, float *out)
{
    size_t dim = a->dim;
    uint32_t included = 0;
    int rc = 0;

    for (size_t i = 0; i < a->cohort; i++)
        if (!a->filled[i])
            return gdn_error(GDN_ESTATE, "aggregator '%s': the contribution of cohort "
                             "slot %zu is missing", a->spec, i);
    a->count = a->cohort;
    if (a->count < 3) { /* SecAgg+ needs 3: with 2, each would learn the other's input */
        memcpy(out, a->global, dim * sizeof *out);
    } else {
        rc = gdn_fl_secagg_round(a->qsum, &included, a->sent, a->qstore,
                                 (uint32_t)a->count, (uint32_t)a->ddg.dim_pad,
                                 a->ddg.bits, a->sa_k, a->sa_t, a->dropout, &a->rng);
        if (!rc)
            rc = gdn_fl_ddg_decode(out, a->acc, a->work, a->qsum, a->global, &a->ddg,
                                   a->ddg_seed, a->expect);
    }
    sodium_memzero(a->work, a->ddg.dim_pad * sizeof *a->work);
    gdn_rng_wipe(&a->rng);
    a->rng_set = 0;
    return rc;
}

int gdn_aggregator_begin(gdn_aggregator *agg, const float *global,
                         size_t cohort)
{
    int rc;

    agg->open = 0;
    if (cohort == 0 && agg->kind != AGG_DP && agg->kind != AGG_DDG) /* Poisson: no one */
        return gdn_error(GDN_EINVAL, "aggregator '%s': empty cohort",
                         agg->spec);
    if ((agg->kind == AGG_DP || agg->kind == AGG_SECAGG || agg->kind == AGG_PRIO ||
         agg->kind == AGG_DDG || agg->kind == AGG_HE) &&
        !agg->rng_set)
        return gdn_error(GDN_ESTATE, "aggregator '%s': the round's randomness was not "
                         "set (gdn_aggregator_set_noise_rng)", agg->spec);
    if ((agg->kind == AGG_NORMBOUND || agg->kind == AGG_DP || agg->kind == AGG_SECAGG ||
         agg->kind == AGG_PRIO || agg->kind == AGG_DDG || agg->kind == AGG_HE) &&
        !global)
        return gdn_error(GDN_EINVAL,
                         "aggregator '%s': needs the global model", agg->spec);
    if (is_robust(agg) && (rc = reserve_robust(agg, cohort)))
        return rc;
    if ((agg->kind == AGG_SECAGG || agg->kind == AGG_DDG) &&
        (rc = reserve_secagg(agg, cohort)))
        return rc;
    if (agg->kind == AGG_PRIO && (rc = gdn_fl_prio_begin(agg->prio, cohort)))
        return rc;
    if (agg->kind == AGG_DDG) { /* the round's public rotation seed */
        gdn_rng pub;
        gdn_rng_derive(&pub, &agg->rng, 1);
        gdn_rng_bytes(&pub, agg->ddg_seed, sizeof agg->ddg_seed);
        gdn_rng_wipe(&pub);
    }
    if (agg->kind == AGG_HE && (rc = gdn_fl_he_begin(agg->he, cohort)))
        return rc;
    agg->global = global;
    agg->cohort = cohort;
    agg->count = 0;
    agg->wsum = 0;
    agg->open = 1;
    if (agg->filled)
        memset(agg->filled, 0, cohort ? cohort : 1);
    return 0;
}

static int check_finite(const gdn_aggregator *agg, const float *vec)
{
    uint32_t any = 0;

    /* Branch-free scan (it vectorizes); the index is searched only on failure. */
    for (size_t c = 0; c < agg->dim; c++) {
        uint32_t u;
        memcpy(&u, &vec[c], 4);
        any |= (uint32_t)((u & 0x7f800000u) == 0x7f800000u);
    }
    if (!any)
        return 0;
    for (size_t c = 0; c < agg->dim; c++)
        if (!isfinite(vec[c]))
            return gdn_error(GDN_ERANGE,
                             "aggregator '%s': client vector has a NaN or "
                             "infinity at index %zu",
                             agg->spec, c);
    return 0;
}

/* A rejected contribution leaves the round as it was. */
int gdn_aggregator_add(gdn_aggregator *agg, const float *vec, double weight)
{
    size_t dim = agg->dim;
    int rc;

    if (!agg->open)
        return gdn_error(GDN_ESTATE, "aggregator '%s': add before begin",
                         agg->spec);
    if (agg->count == agg->cohort)
        return gdn_error(GDN_ESTATE,
                         "aggregator '%s': more contributions than the "
                         "cohort of %zu",
                         agg->spec, agg->cohort);
    if (!(weight > 0) || !isfinite(weight))
        return gdn_error(GDN_EINVAL,
                         "aggregator '%s': weight %g must be positive and "
                         "finite",
                         agg->spec, weight);
    if ((rc = check_finite(agg, vec)))
        return rc;

    if (agg->kind == AGG_MEAN) {
        /* The first term is stored, not added to +0, so that a lone
         * contribution comes back bit for bit, -0.0 included: w x is exact
         * in double for integer w < 2^29, and so is (w x) / w. */
        if (agg->count == 0)
            for (size_t c = 0; c < dim; c++)
                agg->acc[c] = weight * (double)vec[c];
        else
            for (size_t c = 0; c < dim; c++)
                agg->acc[c] += weight * (double)vec[c];
    } else if (agg->kind == AGG_NORMBOUND || agg->kind == AGG_DP) {
        /* Sun et al. 2019, "Can you really backdoor federated learning?":
         * u = x - global is clipped to norm M before the weighted mean.
         * DP-FedAvg (McMahan et al., ICLR 2018) clips to S the same way but
         * weighs every client 1, so one client moves the sum by at most S. */
        const float *g = agg->global;
        double ss = 0, norm, w = agg->kind == AGG_DP ? 1.0 : weight;
        for (size_t c = 0; c < dim; c++) {
            double d = (double)vec[c] - (double)g[c];
            ss += d * d;
        }
        norm = sqrt(ss);
        if (agg->count == 0)
            agg->below = 0;
        agg->below += norm <= agg->bound;
        if (norm > agg->bound)
            w *= agg->bound / norm;
        for (size_t c = 0; c < dim; c++) {
            double u = w * ((double)vec[c] - (double)g[c]);
            agg->acc[c] = agg->count ? agg->acc[c] + u : u;
        }
    } else if (agg->kind == AGG_SECAGG) {
        if ((rc = quantize_secagg(agg, vec, weight)))
            return rc;
    } else if (agg->kind == AGG_PRIO) {
        if ((rc = gdn_fl_prio_add(agg->prio, vec, agg->global, &agg->rng)))
            return rc;
    } else if (agg->kind == AGG_DDG) {
        if ((rc = encode_ddg(agg, agg->count, vec, agg->upd, agg->work)))
            return rc;
    } else if (agg->kind == AGG_HE) {
        if ((rc = gdn_fl_he_add(agg->he, vec, agg->global, weight, &agg->rng)))
            return rc;
    } else {
        memcpy(agg->store + agg->count * dim, vec, dim * sizeof(float));
    }
    agg->wsum += weight;
    agg->count++;
    return 0;
}

int gdn_aggregator_concurrent(const gdn_aggregator *agg)
{
    return agg->kind == AGG_DDG;
}

int gdn_aggregator_add_slot(gdn_aggregator *agg, size_t slot, const float *vec,
                            double weight)
{
    float *upd;
    double *work;
    int rc;

    if (agg->kind != AGG_DDG || !agg->open || slot >= agg->cohort || agg->filled[slot])
        return gdn_error(GDN_ESTATE, "aggregator '%s': cannot add slot %zu now",
                         agg->spec, slot);
    if (!(weight > 0) || !isfinite(weight))
        return gdn_error(GDN_EINVAL, "aggregator '%s': weight %g must be positive and "
                         "finite", agg->spec, weight);
    if ((rc = check_finite(agg, vec)))
        return rc;
    /* Each concurrent caller works in its own buffers (one client's worth). */
    upd = malloc(agg->dim * sizeof *upd);
    work = malloc(agg->ddg.dim_pad * sizeof *work);
    if (!upd || !work)
        rc = gdn_error(GDN_ENOMEM, "aggregator '%s': out of memory", agg->spec);
    else
        rc = encode_ddg(agg, slot, vec, upd, work);
    if (work)
        sodium_memzero(work, agg->ddg.dim_pad * sizeof *work);
    free(upd);
    free(work);
    return rc;
}

/* DP-FedAvg's fixed-denominator estimator (McMahan et al., ICLR 2018,
 * Algorithm 1): global + (sum of clipped updates + N(0, (z S)^2)) / (q K).
 * The noise comes from dp/'s exact sampler (a discrete Gaussian on a fine
 * grid), never from floating-point Box-Muller. */
static int finish_dp(gdn_aggregator *agg, float *out)
{
    size_t dim = agg->dim;
    double *noise = malloc(dim * sizeof *noise), z = agg->noise, b;
    int rc = 0;

    if (!noise)
        return gdn_error(GDN_ENOMEM, "aggregator '%s': out of memory", agg->spec);
    /* Adaptive clipping (Andrew et al., NeurIPS 2021, §3): the count of
     * clients within the clip is released with N(0, σ_b²) too; the sum's
     * multiplier z_Δ = (z^-2 - (2 σ_b)^-2)^(-1/2) keeps the pair at z. */
    if (agg->quantile > 0 && z > 0)
        z = 1.0 / sqrt(1.0 / (z * z) - 1.0 / (4.0 * agg->count_noise * agg->count_noise));
    if (z > 0)
        rc = gdn_dp_gaussian_noise(noise, dim, z * agg->bound, &agg->rng);
    else
        memset(noise, 0, dim * sizeof *noise);
    for (size_t c = 0; c < dim && !rc; c++) {
        double sum = (agg->count ? agg->acc[c] : 0.0) + noise[c];
        out[c] = (float)((double)agg->global[c] + sum / agg->expect);
    }
    if (!rc && agg->quantile > 0) {
        /* Geometric update towards the γ-quantile of the update norms. */
        b = agg->count ? agg->below : 0;
        if (agg->noise > 0 && !(rc = gdn_dp_gaussian_noise(noise, 1, agg->count_noise,
                                                           &agg->rng)))
            b += noise[0];
        agg->bound *= exp(-agg->clip_lr * (b / agg->expect - agg->quantile));
    }
    sodium_memzero(noise, dim * sizeof *noise);
    free(noise);
    gdn_rng_wipe(&agg->rng);
    agg->rng_set = 0;
    return rc;
}

int gdn_aggregator_finish(gdn_aggregator *agg, float *out)
{
    size_t n = agg->count, dim = agg->dim;
    int rc = 0;

    if (!agg->open)
        return gdn_error(GDN_ESTATE, "aggregator '%s': finish before begin",
                         agg->spec);
    if (n == 0 && agg->kind != AGG_DP && agg->kind != AGG_DDG)
        return gdn_error(GDN_ESTATE,
                         "aggregator '%s': no contributions this round",
                         agg->spec);
    switch (agg->kind) {
    case AGG_DP:
        rc = finish_dp(agg, out);
        break;
    case AGG_SECAGG:
        rc = finish_secagg(agg, out);
        break;
    case AGG_PRIO:
        rc = gdn_fl_prio_finish(agg->prio, out, agg->global, &agg->rng, &agg->rejected);
        gdn_rng_wipe(&agg->rng);
        agg->rng_set = 0;
        break;
    case AGG_DDG:
        rc = finish_ddg(agg, out);
        break;
    case AGG_HE:
        rc = gdn_fl_he_finish(agg->he, out, agg->global, &agg->rng);
        gdn_rng_wipe(&agg->rng);
        agg->rng_set = 0;
        break;
    case AGG_MEAN:
        for (size_t c = 0; c < dim; c++)
            out[c] = (float)(agg->acc[c] / agg->wsum);
        break;
    case AGG_NORMBOUND:
        for (size_t c = 0; c < dim; c++)
            out[c] = (float)((double)agg->global[c] + agg->acc[c] / agg->wsum);
        break;
    case AGG_MEDIAN:
        finish_trimmed(agg, out, (n - 1) / 2);
        break;
    case AGG_TRIMMED: {
        /* k = floor(B n) < n / 2 since B < 0.5; the clamp only guards the
         * rounding of B n for B within an ulp of 0.5. */
        size_t k = (size_t)floor(agg->trim * (double)n);
        finish_trimmed(agg, out, 2 * k < n ? k : (n - 1) / 2);
        break;
    }
    case AGG_KRUM:
    case AGG_MULTIKRUM:
        rc = finish_krum(agg, out);
        break;
    }
    if (rc == 0) {
        agg->open = 0;
        agg->global = NULL;
    }
    return rc;
}
