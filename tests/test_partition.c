/* data: partitions across federated clients (iid, shards, dirichlet). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guardian/core.h"
#include "guardian/data.h"
#include "harness.h"

/* ---- Helpers ------------------------------------------------------------ */

/* A labels-only dataset (partitions never read x): y[i] = label(i). */
static int make_labels(gdn_dataset *d, size_t n, int classes,
                       int (*label)(size_t i))
{
    memset(d, 0, sizeof *d);
    d->y = malloc((n ? n : 1) * sizeof *d->y);
    if (!d->y)
        return -1;
    for (size_t i = 0; i < n; i++)
        d->y[i] = label(i);
    d->n = n;
    d->dim = 1;
    d->channels = d->height = d->width = 1;
    d->classes = classes;
    return 0;
}

static int label_mod10(size_t i) { return (int)(i % 10); }

/* Skewed: class c has weight c + 1 (class 9 is 10x class 0), class 10 is
 * declared but empty. */
static int label_skewed(size_t i)
{
    size_t r = (i * 7919) % 55, c = 0;

    while (r >= c + 1) {
        r -= c + 1;
        c++;
    }
    return (int)c;
}

/* NULL when p is a valid partition of all n examples among `clients`:
 * offsets start at 0, end at n, never decrease; each list is strictly
 * ascending; every example appears exactly once. Else the reason. */
static const char *partition_problem(const gdn_partition *p, size_t n,
                                     size_t clients)
{
    static char why[160];
    unsigned char *seen;

    if (p->clients != clients || !p->offset || !p->idx)
        return "wrong client count or missing arrays";
    if (p->offset[0] != 0 || p->offset[clients] != n)
        return "offsets do not span 0..n";
    seen = calloc(n, 1);
    if (!seen)
        return "test out of memory";
    for (size_t k = 0; k < clients; k++) {
        if (p->offset[k + 1] < p->offset[k]) {
            snprintf(why, sizeof why, "offset of client %zu decreases", k);
            free(seen);
            return why;
        }
        for (size_t j = p->offset[k]; j < p->offset[k + 1]; j++) {
            uint32_t i = p->idx[j];

            if (i >= n || seen[i] ||
                (j > p->offset[k] && p->idx[j - 1] >= i)) {
                snprintf(why, sizeof why,
                         "client %zu: index %u out of range, repeated or "
                         "out of order",
                         k, (unsigned)i);
                free(seen);
                return why;
            }
            seen[i] = 1;
        }
    }
    free(seen);
    return NULL; /* n entries, all distinct and < n: every example once */
}

#define CHECK_PARTITION(p, n, clients)                                        \
    do {                                                                      \
        const char *why_ = partition_problem((p), (n), (clients));            \
        CHECK_MSG(why_ == NULL, "invalid partition: %s", why_);               \
    } while (0)

/* Per-client label counts: counts[k * classes + c]; caller frees. */
static size_t *label_counts(const gdn_partition *p, const gdn_dataset *d)
{
    size_t *counts = calloc(p->clients * (size_t)d->classes, sizeof *counts);

    if (!counts)
        return NULL;
    for (size_t k = 0; k < p->clients; k++)
        for (size_t j = p->offset[k]; j < p->offset[k + 1]; j++)
            counts[k * (size_t)d->classes + (size_t)d->y[p->idx[j]]]++;
    return counts;
}

/* Label skew: the mean and the largest, over clients, of the share of the
 * client's most frequent label; and the smallest client size. */
typedef struct {
    double mean_max_share, max_max_share;
    size_t min_size;
} skew_stats;

static int skew(skew_stats *s, const gdn_partition *p, const gdn_dataset *d)
{
    size_t *counts = label_counts(p, d), classes = (size_t)d->classes;

    if (!counts)
        return -1;
    memset(s, 0, sizeof *s);
    s->min_size = (size_t)-1;
    for (size_t k = 0; k < p->clients; k++) {
        size_t size = gdn_partition_size(p, k), top = 0;
        double share;

        for (size_t c = 0; c < classes; c++)
            if (counts[k * classes + c] > top)
                top = counts[k * classes + c];
        share = size ? (double)top / (double)size : 0;
        s->mean_max_share += share / (double)p->clients;
        if (share > s->max_max_share)
            s->max_max_share = share;
        if (size < s->min_size)
            s->min_size = size;
    }
    free(counts);
    return 0;
}

/* NULL when p is exactly a shards partition with `shards` shards: in the
 * order by (label, index), shard s is the run of n / shards examples (one
 * more for s < n % shards), every shard lies wholly in one client, and each
 * client holds shards / clients shards. A slow reference, not the code's. */
static const char *shard_problem(const gdn_partition *p, const gdn_dataset *d,
                                 size_t shards)
{
    static char why_buf[160];
    size_t n = d->n, base = n / shards, extra = n % shards, pos = 0, len = 0;
    size_t *client_of = malloc(n * sizeof *client_of);
    size_t *order = malloc(n * sizeof *order);
    size_t *held = calloc(p->clients, sizeof *held);
    const char *why = NULL;

    if (!client_of || !order || !held) {
        why = "test out of memory";
        goto done;
    }
    for (size_t k = 0; k < p->clients; k++)
        for (size_t j = p->offset[k]; j < p->offset[k + 1]; j++)
            client_of[p->idx[j]] = k;
    for (int c = 0; c < d->classes; c++)
        for (size_t i = 0; i < n; i++)
            if (d->y[i] == c)
                order[len++] = i;
    for (size_t s = 0; s < shards && !why; s++) {
        size_t size = base + (s < extra), owner = client_of[order[pos]];

        for (size_t q = pos; q < pos + size; q++) {
            if (client_of[order[q]] != owner) {
                snprintf(why_buf, sizeof why_buf,
                         "shard %zu is split between clients %zu and %zu", s,
                         owner, client_of[order[q]]);
                why = why_buf;
                break;
            }
        }
        held[owner]++;
        pos += size;
    }
    for (size_t k = 0; k < p->clients && !why; k++) {
        if (held[k] != shards / p->clients) {
            snprintf(why_buf, sizeof why_buf, "client %zu holds %zu shards", k,
                     held[k]);
            why = why_buf;
        }
    }
done:
    free(client_of);
    free(order);
    free(held);
    return why;
}

#define CHECK_SHARDS(p, d, shards)                                            \
    do {                                                                      \
        const char *why_ = shard_problem((p), (d), (shards));                 \
        CHECK_MSG(why_ == NULL, "not a shards partition: %s", why_);          \
    } while (0)

/* NULL when every client holds `size` examples whose label counts are all
 * 0 or multiples of `shard` (whole shards within one label), with at most
 * size / shard distinct labels. Else the reason. */
static const char *shard_label_problem(const gdn_partition *p,
                                       const gdn_dataset *d, size_t size,
                                       size_t shard)
{
    static char why[160];
    size_t *counts = label_counts(p, d), classes = (size_t)d->classes;

    if (!counts)
        return "test out of memory";
    for (size_t k = 0; k < p->clients; k++) {
        size_t labels = 0;

        if (gdn_partition_size(p, k) != size) {
            snprintf(why, sizeof why, "client %zu has %zu examples", k,
                     gdn_partition_size(p, k));
            free(counts);
            return why;
        }
        for (size_t c = 0; c < classes; c++) {
            size_t m = counts[k * classes + c];

            if (m % shard != 0) {
                snprintf(why, sizeof why, "client %zu: %zu of label %zu", k,
                         m, c);
                free(counts);
                return why;
            }
            labels += m > 0;
        }
        if (labels < 1 || labels > size / shard) {
            snprintf(why, sizeof why, "client %zu has %zu labels", k, labels);
            free(counts);
            return why;
        }
    }
    free(counts);
    return NULL;
}

#define CHECK_SHARD_LABELS(p, d, size, shard)                                 \
    do {                                                                      \
        const char *why_ = shard_label_problem((p), (d), (size), (shard));    \
        CHECK_MSG(why_ == NULL, "shard labels: %s", why_);                    \
    } while (0)

/* ---- iid ------------------------------------------------------------------ */

GDN_TEST(partition_iid)
{
    gdn_dataset d;
    gdn_partition p = {0};
    gdn_rng rng;
    size_t n = 6003, smallest = n, largest = 0, *counts;

    CHECK(make_labels(&d, n, 10, label_mod10) == 0);
    gdn_rng_init_seed(&rng, 1);
    CHECK_OK(gdn_data_partition(&p, &d, "iid", 10, &rng));
    CHECK_PARTITION(&p, n, 10);
    for (size_t k = 0; k < 10; k++) {
        size_t size = gdn_partition_size(&p, k);
        smallest = size < smallest ? size : smallest;
        largest = size > largest ? size : largest;
    }
    CHECK_EQ(smallest, 600);
    CHECK_EQ(largest, 601);
    /* The first n % K clients get the extra example. */
    CHECK_EQ(gdn_partition_size(&p, 0), 601);
    CHECK_EQ(gdn_partition_size(&p, 2), 601);
    CHECK_EQ(gdn_partition_size(&p, 3), 600);
    /* Shuffled, not cut in order: client 0 is not 0..600. */
    CHECK(p.idx[600] != 600);
    /* Each client sees every label about 60 times (binomial sd ~ 7). */
    counts = label_counts(&p, &d);
    CHECK(counts != NULL);
    for (size_t q = 0; q < 100; q++) {
        CHECK_MSG(counts[q] >= 30 && counts[q] <= 90,
                  "client %zu label %zu: %zu examples", q / 10, q % 10,
                  counts[q]);
    }
    free(counts);
    gdn_partition_free(&p);

    /* One client: exactly 0..n-1. */
    CHECK_OK(gdn_data_partition(&p, &d, "iid", 1, &rng));
    CHECK_PARTITION(&p, n, 1);
    for (size_t i = 0; i < n; i++)
        CHECK_EQ(p.idx[i], i);
    gdn_partition_free(&p);

    /* As many clients as examples: one each. */
    CHECK_OK(gdn_data_partition(&p, &d, "iid", n, &rng));
    CHECK_PARTITION(&p, n, n);
    for (size_t k = 0; k < n; k++)
        CHECK_EQ(gdn_partition_size(&p, k), 1);
    gdn_partition_free(&p);
    free(d.y);
}

/* ---- shards --------------------------------------------------------------- */

GDN_TEST(partition_shards)
{
    gdn_dataset d;
    gdn_partition p = {0};
    gdn_rng rng;

    CHECK(make_labels(&d, 6000, 10, label_mod10) == 0);
    gdn_rng_init_seed(&rng, 2);
    /* Default: 2 shards per client, 20 shards of 300, 2 per class. */
    CHECK_OK(gdn_data_partition(&p, &d, "shards", 10, &rng));
    CHECK_PARTITION(&p, 6000, 10);
    CHECK_SHARDS(&p, &d, 20);
    CHECK_SHARD_LABELS(&p, &d, 600, 300);
    gdn_partition_free(&p);

    /* Explicit S: 40 shards of 150 over 10 clients, 4 each. */
    CHECK_OK(gdn_data_partition(&p, &d, "shards:40", 10, &rng));
    CHECK_PARTITION(&p, 6000, 10);
    CHECK_SHARDS(&p, &d, 40);
    CHECK_SHARD_LABELS(&p, &d, 600, 150);
    gdn_partition_free(&p);

    /* S = n: shards of one example; S = K: one shard each. */
    CHECK_OK(gdn_data_partition(&p, &d, "shards:6000", 3000, &rng));
    CHECK_PARTITION(&p, 6000, 3000);
    CHECK_SHARDS(&p, &d, 6000);
    gdn_partition_free(&p);
    CHECK_OK(gdn_data_partition(&p, &d, "shards:7", 7, &rng));
    CHECK_PARTITION(&p, 6000, 7);
    CHECK_SHARDS(&p, &d, 7); /* 6000 = 7 * 857 + 1: shard 0 has 858 */
    gdn_partition_free(&p);
    free(d.y);

    /* n % S != 0 with skewed labels: the first 13 shards hold 110 examples,
     * the other 7 hold 109 (2193 = 20 * 109 + 13). */
    CHECK(make_labels(&d, 2193, 11, label_skewed) == 0);
    CHECK_OK(gdn_data_partition(&p, &d, "shards:20", 5, &rng));
    CHECK_PARTITION(&p, 2193, 5);
    CHECK_SHARDS(&p, &d, 20);
    gdn_partition_free(&p);
    free(d.y);
}

/* ---- dirichlet ------------------------------------------------------------ */

GDN_TEST(partition_dirichlet)
{
    gdn_dataset d;
    gdn_partition p = {0};
    gdn_rng rng;
    skew_stats s;

    CHECK(make_labels(&d, 6000, 10, label_mod10) == 0);
    gdn_rng_init_seed(&rng, 3);
    CHECK_OK(gdn_data_partition(&p, &d, "dirichlet:0.1", 20, &rng));
    CHECK_PARTITION(&p, 6000, 20);
    CHECK(skew(&s, &p, &d) == 0);
    CHECK_MSG(s.min_size >= 10, "smallest client %zu", s.min_size);
    CHECK_MSG(s.mean_max_share > 0.5, "alpha 0.1: mean max share %.3f",
              s.mean_max_share);
    gdn_partition_free(&p);

    CHECK_OK(gdn_data_partition(&p, &d, "dirichlet:100", 20, &rng));
    CHECK_PARTITION(&p, 6000, 20);
    CHECK(skew(&s, &p, &d) == 0);
    CHECK_MSG(s.min_size >= 10, "smallest client %zu", s.min_size);
    CHECK_MSG(s.max_max_share < 0.2, "alpha 100: max max share %.3f",
              s.max_max_share);
    gdn_partition_free(&p);
    free(d.y);

    /* Skewed classes, one declared but empty; tiny and huge alpha. */
    CHECK(make_labels(&d, 2193, 11, label_skewed) == 0);
    static const char *const specs[] = {"dirichlet:0.5", "dirichlet:1",
                                        "dirichlet:1e-3", "dirichlet:1e300"};
    for (size_t t = 0; t < sizeof specs / sizeof *specs; t++) {
        CHECK_OK(gdn_data_partition(&p, &d, specs[t], 8, &rng));
        CHECK_PARTITION(&p, 2193, 8);
        CHECK(skew(&s, &p, &d) == 0);
        CHECK_MSG(s.min_size >= 10, "%s: smallest client %zu", specs[t],
                  s.min_size);
        gdn_partition_free(&p);
    }
    /* Few examples per client: min size n / (2K) = 7 instead of 10. */
    CHECK_OK(gdn_data_partition(&p, &d, "dirichlet:100", 150, &rng));
    CHECK_PARTITION(&p, 2193, 150);
    CHECK(skew(&s, &p, &d) == 0);
    CHECK_MSG(s.min_size >= 7, "smallest client %zu", s.min_size);
    gdn_partition_free(&p);
    /* One client takes everything. */
    CHECK_OK(gdn_data_partition(&p, &d, "dirichlet:0.1", 1, &rng));
    CHECK_PARTITION(&p, 2193, 1);
    gdn_partition_free(&p);
    free(d.y);
}

/* ---- Fashion-MNIST: the setting of the papers ----------------------------- */

GDN_TEST(partition_fashion_mnist)
{
    gdn_dataset train, test;
    gdn_partition p = {0};
    gdn_rng rng;
    skew_stats s;

    CHECK_OK(gdn_data_load_fashion_mnist(&train, &test, gdn_test_fmnist_dir()));
    gdn_dataset_free(&test);
    CHECK_EQ(train.n, 60000);
    gdn_rng_init_seed(&rng, 2017);

    CHECK_OK(gdn_data_partition(&p, &train, "iid", 100, &rng));
    CHECK_PARTITION(&p, 60000, 100);
    for (size_t k = 0; k < 100; k++)
        CHECK_EQ(gdn_partition_size(&p, k), 600);
    CHECK(skew(&s, &p, &train) == 0);
    CHECK_MSG(s.max_max_share < 0.2, "iid: max max share %.3f",
              s.max_max_share);
    gdn_partition_free(&p);

    /* McMahan et al.: 200 shards of 300, 2 per client; 6000 examples per
     * class make 20 whole shards per class, so a client holds 300 or 600
     * examples of at most 2 labels. */
    CHECK_OK(gdn_data_partition(&p, &train, "shards", 100, &rng));
    CHECK_PARTITION(&p, 60000, 100);
    CHECK_SHARDS(&p, &train, 200);
    CHECK_SHARD_LABELS(&p, &train, 600, 300);
    gdn_partition_free(&p);

    CHECK_OK(gdn_data_partition(&p, &train, "dirichlet:0.1", 100, &rng));
    CHECK_PARTITION(&p, 60000, 100);
    CHECK(skew(&s, &p, &train) == 0);
    CHECK(s.min_size >= 10);
    CHECK_MSG(s.mean_max_share > 0.5, "alpha 0.1: mean max share %.3f",
              s.mean_max_share);
    gdn_partition_free(&p);

    CHECK_OK(gdn_data_partition(&p, &train, "dirichlet:100", 100, &rng));
    CHECK_PARTITION(&p, 60000, 100);
    CHECK(skew(&s, &p, &train) == 0);
    CHECK(s.min_size >= 10);
    CHECK_MSG(s.max_max_share < 0.2, "alpha 100: max max share %.3f",
              s.max_max_share);
    gdn_partition_free(&p);
    gdn_dataset_free(&train);
}

/* ---- Determinism ---------------------------------------------------------- */

static int same_partition(const gdn_partition *a, const gdn_partition *b,
                          size_t n)
{
    return a->clients == b->clients &&
           memcmp(a->offset, b->offset,
                  (a->clients + 1) * sizeof *a->offset) == 0 &&
           memcmp(a->idx, b->idx, n * sizeof *a->idx) == 0;
}

GDN_TEST(partition_deterministic)
{
    static const char *const specs[] = {"iid", "shards", "shards:60",
                                        "dirichlet:0.5", "dirichlet:0.1"};
    gdn_dataset d;
    gdn_rng r1, r2;

    CHECK(make_labels(&d, 3000, 10, label_mod10) == 0);
    for (size_t t = 0; t < sizeof specs / sizeof *specs; t++) {
        gdn_partition a = {0}, b = {0}, c = {0};
        int same_ab, same_ac;

        gdn_rng_init_seed(&r1, 42);
        gdn_rng_init_seed(&r2, 42);
        CHECK_OK(gdn_data_partition(&a, &d, specs[t], 30, &r1));
        CHECK_OK(gdn_data_partition(&b, &d, specs[t], 30, &r2));
        gdn_rng_init_seed(&r1, 43);
        CHECK_OK(gdn_data_partition(&c, &d, specs[t], 30, &r1));
        same_ab = same_partition(&a, &b, 3000);
        same_ac = same_partition(&a, &c, 3000);
        gdn_partition_free(&a);
        gdn_partition_free(&b);
        gdn_partition_free(&c);
        CHECK_MSG(same_ab, "%s: same seed, different partitions", specs[t]);
        CHECK_MSG(!same_ac, "%s: different seeds, same partition", specs[t]);
    }
    free(d.y);
}

/* ---- Errors --------------------------------------------------------------- */

GDN_TEST(partition_errors)
{
    static const struct {
        const char *spec;
        size_t clients;
        int code;
        const char *msg;
    } cases[] = {
        {"dirichlet:-1", 4, GDN_EINVAL,
         "partition 'dirichlet:-1': alpha must be a positive number"},
        {"shards:7", 4, GDN_EINVAL,
         "partition 'shards:7': 7 shards cannot be split evenly among 4 "
         "clients"},
        {"shards:200", 4, GDN_EINVAL,
         "partition 'shards:200': 200 shards for 100 examples"},
        {"shards", 60, GDN_EINVAL,
         "partition 'shards': 120 shards for 100 examples"},
        {"iid", 0, GDN_EINVAL, "0 clients for 100 examples"},
        {"iid", 101, GDN_EINVAL, "101 clients for 100 examples"},
        {"dirichlet:0", 4, GDN_EINVAL, "alpha must be a positive number"},
        {"dirichlet:nan", 4, GDN_EINVAL, "alpha must be a positive number"},
        {"dirichlet:inf", 4, GDN_EINVAL, "alpha must be a positive number"},
        {"dirichlet:1e999", 4, GDN_EINVAL, "alpha must be a positive number"},
        {"dirichlet:", 4, GDN_EINVAL, "alpha must be a positive number"},
        {"dirichlet: 1", 4, GDN_EINVAL, "alpha must be a positive number"},
        {"dirichlet:0.5x", 4, GDN_EINVAL, "alpha must be a positive number"},
        {"dirichlet", 4, GDN_EINVAL, "needs a concentration"},
        {"shards:", 4, GDN_EINVAL, "shard count must be a positive integer"},
        {"shards:0", 4, GDN_EINVAL, "shard count must be a positive integer"},
        {"shards:-8", 4, GDN_EINVAL, "shard count must be a positive integer"},
        {"shards:+8", 4, GDN_EINVAL, "shard count must be a positive integer"},
        {"shards: 8", 4, GDN_EINVAL, "shard count must be a positive integer"},
        {"shards:8.0", 4, GDN_EINVAL, "shard count must be a positive integer"},
        {"shards:99999999999999999999999", 4, GDN_ERANGE, "more shards"},
        {"IID", 4, GDN_EINVAL, "partition 'IID': unknown scheme"},
        {"iid:3", 4, GDN_EINVAL, "unknown scheme"},
        {"", 4, GDN_EINVAL, "unknown scheme"},
        {NULL, 4, GDN_EINVAL, "no scheme given"},
    };
    gdn_dataset d, empty;
    gdn_partition p;
    gdn_rng rng;

    CHECK(make_labels(&d, 100, 10, label_mod10) == 0);
    gdn_rng_init_seed(&rng, 5);
    for (size_t t = 0; t < sizeof cases / sizeof *cases; t++) {
        int rc;

        memset(&p, 0xa5, sizeof p); /* out is zeroed even on failure */
        gdn_error_clear();
        rc = gdn_data_partition(&p, &d, cases[t].spec, cases[t].clients, &rng);
        CHECK_MSG(rc == cases[t].code, "'%s': returned %d, expected %d",
                  cases[t].spec ? cases[t].spec : "(null)", rc, cases[t].code);
        CHECK_MSG(strstr(gdn_errmsg(), cases[t].msg) != NULL,
                  "'%s': message \"%s\", expected \"%s\"",
                  cases[t].spec ? cases[t].spec : "(null)", gdn_errmsg(),
                  cases[t].msg);
        CHECK(p.clients == 0 && p.offset == NULL && p.idx == NULL);
    }

    /* Labels outside [0, classes) matter to shards and dirichlet only. */
    d.y[17] = 10;
    CHECK_EQ(gdn_data_partition(&p, &d, "shards", 4, &rng), GDN_EINVAL);
    CHECK(strstr(gdn_errmsg(), "example 17 has label 10, outside [0, 10)"));
    d.y[17] = -1;
    CHECK_EQ(gdn_data_partition(&p, &d, "dirichlet:1", 4, &rng), GDN_EINVAL);
    CHECK(strstr(gdn_errmsg(), "example 17 has label -1"));
    CHECK_OK(gdn_data_partition(&p, &d, "iid", 4, &rng));
    gdn_partition_free(&p);
    d.y[17] = 7;
    d.classes = 0;
    CHECK_EQ(gdn_data_partition(&p, &d, "shards", 4, &rng), GDN_EINVAL);
    CHECK(strstr(gdn_errmsg(), "0 classes"));
    free(d.y);

    CHECK(make_labels(&empty, 0, 10, label_mod10) == 0);
    CHECK_EQ(gdn_data_partition(&p, &empty, "iid", 1, &rng), GDN_EINVAL);
    CHECK(strstr(gdn_errmsg(), "the dataset is empty"));
    free(empty.y);

    /* Two classes, ten clients, alpha tiny: each class lands on one client,
     * so eight clients stay empty in every draw; the search gives up. */
    CHECK(make_labels(&d, 100, 2, label_mod10) == 0);
    for (size_t i = 0; i < 100; i++)
        d.y[i] = (int32_t)(i % 2);
    CHECK_EQ(gdn_data_partition(&p, &d, "dirichlet:1e-6", 10, &rng),
             GDN_EINVAL);
    CHECK(strstr(gdn_errmsg(), "no draw in 1000 gave every one of 10 clients "
                               "at least 5 examples"));
    CHECK(strstr(gdn_errmsg(), "larger alpha"));
    CHECK(p.clients == 0 && p.offset == NULL && p.idx == NULL);
    free(d.y);
}

GDN_TEST(partition_free_zeroed)
{
    gdn_partition p = {0};
    gdn_dataset d;
    gdn_rng rng;

    gdn_partition_free(&p);
    gdn_partition_free(NULL);
    CHECK(p.clients == 0 && p.offset == NULL && p.idx == NULL);
    CHECK(make_labels(&d, 10, 10, label_mod10) == 0);
    gdn_rng_init_seed(&rng, 6);
    CHECK_OK(gdn_data_partition(&p, &d, "shards:10", 5, &rng));
    gdn_partition_free(&p);
    CHECK(p.clients == 0 && p.offset == NULL && p.idx == NULL);
    gdn_partition_free(&p);
    free(d.y);
}
