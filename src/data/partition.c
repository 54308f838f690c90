/* Partitions of a dataset across federated clients: iid, shards (McMahan et
 * al. 2017) and Dirichlet label skew (NIID-Bench, Li et al. 2022).
 *
 * Every scheme first decides an owner client for each example, then
 * build_partition() lays the examples out client by client in ascending
 * order, so no list needs sorting. Randomness comes only from the rng
 * argument, drawn in a fixed order: the same rng state gives the same
 * partition, bit for bit. Static helpers come first, the public functions
 * at the bottom. */
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "guardian/data.h"

/* NIID-Bench's min_require_size, and its cap on redraws (the reference code
 * loops forever; we give up with an error instead). */
#define DIRICHLET_MIN_SIZE 10
#define DIRICHLET_MAX_ATTEMPTS 1000

enum scheme { SCHEME_IID, SCHEME_SHARDS, SCHEME_DIRICHLET };

typedef struct {
    enum scheme kind;
    size_t shards; /* SCHEME_SHARDS: 0 means the default, 2 per client */
    double alpha;  /* SCHEME_DIRICHLET */
} scheme_spec;

/* ---- Spec parsing ------------------------------------------------------- */

/* "iid", "shards", "shards:S" or "dirichlet:ALPHA". Numbers must fill the
 * rest of the spec: no sign, no leading space, no trailing garbage. */
static int parse_spec(scheme_spec *s, const char *spec)
{
    memset(s, 0, sizeof *s);
    if (!spec)
        return gdn_error(GDN_EINVAL, "partition: no scheme given; expected "
                                     "iid, shards[:S] or dirichlet:ALPHA");
    if (strcmp(spec, "iid") == 0) {
        s->kind = SCHEME_IID;
        return 0;
    }
    if (strcmp(spec, "shards") == 0) {
        s->kind = SCHEME_SHARDS;
        return 0;
    }
    if (strncmp(spec, "shards:", 7) == 0) {
        const char *num = spec + 7;
        char *end;
        unsigned long v;

        errno = 0;
        v = isdigit((unsigned char)num[0]) ? strtoul(num, &end, 10) : 0;
        if (!isdigit((unsigned char)num[0]) || *end != '\0' || v == 0)
            return gdn_error(GDN_EINVAL,
                             "partition '%.80s': the shard count must be a "
                             "positive integer",
                             spec);
        if (errno == ERANGE || v > GDN_DATA_MAX_EXAMPLES)
            return gdn_error(GDN_ERANGE,
                             "partition '%.80s': more shards than the limit "
                             "of %zu examples",
                             spec, GDN_DATA_MAX_EXAMPLES);
        s->kind = SCHEME_SHARDS;
        s->shards = (size_t)v;
        return 0;
    }
    if (strcmp(spec, "dirichlet") == 0)
        return gdn_error(GDN_EINVAL,
                         "partition 'dirichlet': needs a concentration, as in "
                         "dirichlet:0.5");
    if (strncmp(spec, "dirichlet:", 10) == 0) {
        const char *num = spec + 10;
        char *end = NULL;
        double a = 0;

        /* strtod skips leading space; a sign is caught by a > 0. An
         * underflow to a subnormal is accepted: the sampler works in the
         * log domain and stays exact for any positive alpha. */
        if (num[0] != '\0' && !isspace((unsigned char)num[0]))
            a = strtod(num, &end);
        if (!end || end == num || *end != '\0' || !(a > 0) || !isfinite(a))
            return gdn_error(GDN_EINVAL,
                             "partition '%.80s': alpha must be a positive "
                             "number",
                             spec);
        s->kind = SCHEME_DIRICHLET;
        s->alpha = a;
        return 0;
    }
    return gdn_error(GDN_EINVAL,
                     "partition '%.80s': unknown scheme; expected iid, "
                     "shards[:S] or dirichlet:ALPHA",
                     spec);
}

/* ---- Shared steps ------------------------------------------------------- */

/* Labels must index per-class arrays: 1 <= classes <= the limit, and every
 * label in [0, classes). */
static int check_labels(const gdn_dataset *d, const char *spec)
{
    if (d->classes < 1 || (size_t)d->classes > GDN_DATA_MAX_CLASSES)
        return gdn_error(GDN_EINVAL,
                         "partition '%.80s': dataset has %d classes, expected "
                         "1 to %d",
                         spec, d->classes, GDN_DATA_MAX_CLASSES);
    if (!d->y)
        return gdn_error(GDN_EINVAL, "partition '%.80s': dataset has no labels",
                         spec);
    for (size_t i = 0; i < d->n; i++)
        if (d->y[i] < 0 || d->y[i] >= d->classes)
            return gdn_error(GDN_EINVAL,
                             "partition '%.80s': example %zu has label %d, "
                             "outside [0, %d)",
                             spec, i, (int)d->y[i], d->classes);
    return 0;
}

/* Lays out out->idx client by client from owner[0..n), each example in
 * ascending order; owner[i] < clients for every i. */
static int build_partition(gdn_partition *out, const uint32_t *owner, size_t n,
                           size_t clients)
{
    size_t *next;

    out->offset = calloc(clients + 1, sizeof *out->offset);
    out->idx = malloc(n * sizeof *out->idx);
    next = malloc(clients * sizeof *next);
    if (!out->offset || !out->idx || !next) {
        free(next);
        gdn_partition_free(out);
        return gdn_error(GDN_ENOMEM, "partition: cannot allocate %zu indices "
                                     "for %zu clients",
                         n, clients);
    }
    for (size_t i = 0; i < n; i++)
        out->offset[owner[i] + 1]++;
    for (size_t k = 0; k < clients; k++) {
        out->offset[k + 1] += out->offset[k];
        next[k] = out->offset[k];
    }
    for (size_t i = 0; i < n; i++)
        out->idx[next[owner[i]]++] = (uint32_t)i;
    out->clients = clients;
    free(next);
    return 0;
}

/* Indices 0..n-1 ordered by (label, index): a counting sort, so stable.
 * class_start gets classes + 1 entries: class c is at
 * sorted[class_start[c] .. class_start[c+1]). */
static void sort_by_label(uint32_t *sorted, size_t *class_start,
                          const gdn_dataset *d)
{
    size_t classes = (size_t)d->classes;

    memset(class_start, 0, (classes + 1) * sizeof *class_start);
    for (size_t i = 0; i < d->n; i++)
        class_start[(size_t)d->y[i] + 1]++;
    for (size_t c = 0; c < classes; c++)
        class_start[c + 1] += class_start[c];
    for (size_t i = 0, c; i < d->n; i++) {
        c = (size_t)d->y[i];
        /* class_start[c] is used as a cursor, then restored below. */
        sorted[class_start[c]++] = (uint32_t)i;
    }
    for (size_t c = classes; c > 0; c--)
        class_start[c] = class_start[c - 1];
    class_start[0] = 0;
}

/* ---- iid ------------------------------------------------------------------ */

/* Shuffle 0..n-1, then client k takes positions [k*n/K + ..): the first
 * n % K clients get one example more. With K = 1 the one client holds
 * 0..n-1 whatever the shuffle. */
static void assign_iid(uint32_t *owner, uint32_t *perm, size_t n,
                       size_t clients, gdn_rng *rng)
{
    size_t base = n / clients, extra = n % clients, pos = 0;

    for (size_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    gdn_rng_shuffle(rng, perm, n);
    for (size_t k = 0; k < clients; k++) {
        size_t size = base + (k < extra);

        for (size_t j = 0; j < size; j++)
            owner[perm[pos++]] = (uint32_t)k;
    }
}

/* ---- Shards --------------------------------------------------------------- */

/* McMahan et al. 2017 (AISTATS), §3: "sort the data by digit label, divide
 * it into 200 shards of size 300, and assign each of 100 clients 2 shards".
 * With n % S != 0 the first n % S shards hold one example more. The shard
 * ids are shuffled and client k takes the shuffled ids [k*S/K, (k+1)*S/K). */
static int assign_shards(uint32_t *owner, const gdn_dataset *d, size_t shards,
                         size_t clients, gdn_rng *rng)
{
    size_t classes = (size_t)d->classes, n = d->n;
    size_t base = n / shards, extra = n % shards, per_client = shards / clients;
    uint32_t *sorted = malloc(n * sizeof *sorted);
    uint32_t *ids = malloc(shards * sizeof *ids);
    size_t *class_start = malloc((classes + 1) * sizeof *class_start);
    int rc = 0;

    if (!sorted || !ids || !class_start) {
        rc = gdn_error(GDN_ENOMEM, "partition: cannot allocate %zu shards",
                       shards);
        goto done;
    }
    sort_by_label(sorted, class_start, d);
    for (size_t s = 0; s < shards; s++)
        ids[s] = (uint32_t)s;
    gdn_rng_shuffle(rng, ids, shards);
    for (size_t k = 0; k < clients; k++) {
        for (size_t j = 0; j < per_client; j++) {
            size_t s = ids[k * per_client + j];
            size_t start = s * base + (s < extra ? s : extra);
            size_t size = base + (s < extra);

            for (size_t p = start; p < start + size; p++)
                owner[sorted[p]] = (uint32_t)k;
        }
    }
done:
    free(sorted);
    free(ids);
    free(class_start);
    return rc;
}

/* ---- Dirichlet ------------------------------------------------------------ */

/* log of a Gamma(a, 1) sample, a >= 1: Marsaglia & Tsang 2000, "A simple
 * method for generating gamma variables", ACM TOMS 26(3), §3. */
static double log_gamma_ge1(gdn_rng *rng, double a)
{
    double dd = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * dd);

    for (;;) {
        double x, v, u;

        do {
            x = gdn_rng_normal(rng);
            v = 1.0 + c * x;
        } while (v <= 0.0);
        v = v * v * v;
        u = gdn_rng_double(rng);
        /* log(dd) + log(v), not log(dd * v): no overflow for huge a. */
        if (u < 1.0 - 0.0331 * (x * x) * (x * x))
            return log(dd) + log(v);
        if (log(u) < 0.5 * x * x + dd * (1.0 - v + log(v)))
            return log(dd) + log(v);
    }
}

/* A Dirichlet(alpha, ..., alpha) sample over k clients, in a scaled log
 * form: w[j] = min(alpha, 1) * log G_j with G_j ~ Gamma(alpha, 1), so that
 * p_j = exp((w[j] - w_max) / min(alpha, 1)) / sum. For alpha < 1,
 * Marsaglia & Tsang §6: G = Gamma(alpha + 1) * U^(1/alpha); then
 * alpha * log G = alpha * log Gamma(alpha + 1) + log U stays finite where
 * G itself would underflow to 0 (alpha = 0.01 already gives G < 1e-300
 * often enough), so no draw ever divides 0 by 0. */
static void dirichlet_log(double *w, size_t k, double alpha, gdn_rng *rng)
{
    for (size_t j = 0; j < k; j++) {
        if (alpha >= 1.0) {
            w[j] = log_gamma_ge1(rng, alpha);
        } else {
            double g = log_gamma_ge1(rng, alpha + 1.0);
            double u = 1.0 - gdn_rng_double(rng); /* (0, 1] */

            w[j] = alpha * g + log(u);
        }
    }
}

/* Working memory of the Dirichlet scheme. */
typedef struct {
    uint32_t *sorted;    /* n indices by (label, index) */
    uint32_t *work;      /* one class's indices, shuffled */
    size_t *class_start; /* classes + 1 */
    size_t *count;       /* examples per client this attempt */
    size_t *cut;         /* clients cut points into a class */
    double *w;           /* clients Dirichlet log weights */
    double *p;           /* clients proportions */
} dirichlet_ws;

/* One NIID-Bench draw: every class is shuffled and cut among the clients by
 * proportions p ~ Dirichlet(alpha), with p_j zeroed for clients already
 * holding >= n / K examples (K = clients) and the rest renormalised; client
 * j gets positions [floor(cumsum_{j-1} * count), floor(cumsum_j * count)).
 * One departure from the reference code: the last client with p_j > 0 takes
 * the class's remainder, so rounding of the cumulative sum never hands an
 * example to a zeroed client. */
static void dirichlet_attempt(uint32_t *owner, dirichlet_ws *ws,
                              const gdn_dataset *d, size_t clients,
                              double alpha, gdn_rng *rng)
{
    size_t n = d->n, classes = (size_t)d->classes;
    double scale = alpha < 1.0 ? alpha : 1.0;

    memset(ws->count, 0, clients * sizeof *ws->count);
    for (size_t c = 0; c < classes; c++) {
        size_t count = ws->class_start[c + 1] - ws->class_start[c];
        size_t last = 0, prev = 0;
        double wmax = -INFINITY, sum = 0, cum = 0;
        int any = 0;

        /* Nothing to hand out (and, if it is the last class, perhaps no
         * client left below n / K): draw nothing. */
        if (count == 0)
            continue;
        memcpy(ws->work, ws->sorted + ws->class_start[c],
               count * sizeof *ws->work);
        gdn_rng_shuffle(rng, ws->work, count);
        dirichlet_log(ws->w, clients, alpha, rng);
        /* The maximum over eligible clients only: renormalising over them
         * is the same as scaling by exp(-wmax / scale), and the largest
         * then gets exactly 1, so sum >= 1. Since this class is not yet
         * handed out, fewer than n examples are, and some client is below
         * n / K. */
        for (size_t j = 0; j < clients; j++) {
            if (ws->count[j] * clients < n && (!any || ws->w[j] > wmax)) {
                wmax = ws->w[j];
                any = 1;
            }
        }
        for (size_t j = 0; j < clients; j++) {
            ws->p[j] = 0.0;
            if (ws->count[j] * clients < n) {
                ws->p[j] = exp((ws->w[j] - wmax) / scale);
                sum += ws->p[j];
                if (ws->p[j] > 0.0)
                    last = j;
            }
        }
        for (size_t j = 0; j < clients; j++) {
            size_t x;

            cum += ws->p[j] / sum;
            x = j >= last ? count : (size_t)floor(cum * (double)count);
            if (x > count)
                x = count;
            if (x < prev)
                x = prev;
            ws->cut[j] = x;
            prev = x;
        }
        prev = 0;
        for (size_t j = 0; j < clients; j++) {
            for (size_t q = prev; q < ws->cut[j]; q++)
                owner[ws->work[q]] = (uint32_t)j;
            ws->count[j] += ws->cut[j] - prev;
            prev = ws->cut[j];
        }
    }
}

/* Redraws until the smallest client has min_size examples (NIID-Bench's
 * loop), at most DIRICHLET_MAX_ATTEMPTS times. */
static int assign_dirichlet(uint32_t *owner, const gdn_dataset *d,
                            size_t clients, double alpha, const char *spec,
                            gdn_rng *rng)
{
    size_t n = d->n, classes = (size_t)d->classes;
    size_t min_size = DIRICHLET_MIN_SIZE;
    dirichlet_ws ws;
    int rc = GDN_EINVAL;

    if (n / (2 * clients) < min_size)
        min_size = n / (2 * clients);
    ws.sorted = malloc(n * sizeof *ws.sorted);
    ws.work = malloc(n * sizeof *ws.work);
    ws.class_start = malloc((classes + 1) * sizeof *ws.class_start);
    ws.count = malloc(clients * sizeof *ws.count);
    ws.cut = malloc(clients * sizeof *ws.cut);
    ws.w = malloc(clients * sizeof *ws.w);
    ws.p = malloc(clients * sizeof *ws.p);
    if (!ws.sorted || !ws.work || !ws.class_start || !ws.count || !ws.cut ||
        !ws.w || !ws.p) {
        rc = gdn_error(GDN_ENOMEM, "partition: cannot allocate the Dirichlet "
                                   "workspace for %zu clients",
                       clients);
        goto done;
    }
    sort_by_label(ws.sorted, ws.class_start, d);
    for (int attempt = 0; attempt < DIRICHLET_MAX_ATTEMPTS; attempt++) {
        size_t smallest = n;

        dirichlet_attempt(owner, &ws, d, clients, alpha, rng);
        for (size_t j = 0; j < clients; j++)
            if (ws.count[j] < smallest)
                smallest = ws.count[j];
        if (smallest >= min_size) {
            rc = 0;
            goto done;
        }
    }
    rc = gdn_error(GDN_EINVAL,
                   "partition '%.80s': no draw in %d gave every one of %zu "
                   "clients at least %zu examples; use a larger alpha or "
                   "fewer clients",
                   spec, DIRICHLET_MAX_ATTEMPTS, clients, min_size);
done:
    free(ws.sorted);
    free(ws.work);
    free(ws.class_start);
    free(ws.count);
    free(ws.cut);
    free(ws.w);
    free(ws.p);
    return rc;
}

/* ---- Public functions ----------------------------------------------------- */

int gdn_data_partition(gdn_partition *out, const gdn_dataset *d,
                       const char *spec, size_t clients, gdn_rng *rng)
{
    scheme_spec s;
    size_t n = d->n;
    uint32_t *owner = NULL, *perm = NULL;
    int rc;

    memset(out, 0, sizeof *out);
    rc = parse_spec(&s, spec);
    if (rc)
        return rc;
    if (n > GDN_DATA_MAX_EXAMPLES)
        return gdn_error(GDN_ERANGE,
                         "partition '%.80s': %zu examples, over the limit of "
                         "%zu",
                         spec, n, GDN_DATA_MAX_EXAMPLES);
    if (n == 0)
        return gdn_error(GDN_EINVAL, "partition '%.80s': the dataset is empty",
                         spec);
    if (clients < 1 || clients > n)
        return gdn_error(GDN_EINVAL,
                         "partition '%.80s': %zu clients for %zu examples; "
                         "need 1 to %zu clients",
                         spec, clients, n, n);
    if (s.kind == SCHEME_SHARDS) {
        if (s.shards == 0)
            s.shards = 2 * clients;
        if (s.shards % clients != 0)
            return gdn_error(GDN_EINVAL,
                             "partition '%.80s': %zu shards cannot be split "
                             "evenly among %zu clients",
                             spec, s.shards, clients);
        if (s.shards > n)
            return gdn_error(GDN_EINVAL,
                             "partition '%.80s': %zu shards for %zu examples; "
                             "a shard needs at least one example",
                             spec, s.shards, n);
    }
    if (s.kind != SCHEME_IID && (rc = check_labels(d, spec)) != 0)
        return rc;

    owner = malloc(n * sizeof *owner);
    if (!owner)
        return gdn_error(GDN_ENOMEM, "partition: cannot allocate %zu indices",
                         n);
    switch (s.kind) {
    case SCHEME_IID:
        perm = malloc(n * sizeof *perm);
        if (!perm) {
            rc = gdn_error(GDN_ENOMEM, "partition: cannot allocate %zu indices",
                           n);
            break;
        }
        assign_iid(owner, perm, n, clients, rng);
        break;
    case SCHEME_SHARDS:
        rc = assign_shards(owner, d, s.shards, clients, rng);
        break;
    case SCHEME_DIRICHLET:
        rc = assign_dirichlet(owner, d, clients, s.alpha, spec, rng);
        break;
    }
    if (rc == 0)
        rc = build_partition(out, owner, n, clients);
    free(owner);
    free(perm);
    return rc;
}

void gdn_partition_free(gdn_partition *p)
{
    if (!p)
        return;
    free(p->offset);
    free(p->idx);
    memset(p, 0, sizeof *p);
}
