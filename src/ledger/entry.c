/* Canonical binary entries (docs/ledger.md, "Entry layout"). One parser
 * does every check; the encoder writes the bytes and runs the same parser
 * on them, so whatever encode accepts, decode accepts, and the two agree on
 * one encoding per entry. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger_internal.h"

typedef unsigned long long ull;

/* Byte offsets of the fixed part. */
enum {
    OFF_VERSION = 0, OFF_KIND = 1, OFF_AGG = 2, OFF_ROUND = 3,
    OFF_TASK = 11, OFF_BEFORE = 43, OFF_AFTER = 75, OFF_NOISE = 107,
    OFF_CLIP = 115, OFF_DELTA = 123, OFF_COHORT = 131
};

double ledger_load_f64(const uint8_t p[8])
{
    uint64_t bits = gdn_load_le64(p);
    double d;

    memcpy(&d, &bits, sizeof d);
    return d;
}

static void store_f64(uint8_t p[8], double d)
{
    uint64_t bits;

    memcpy(&bits, &d, sizeof bits);
    gdn_store_le64(p, bits);
}

/* A DP quantity: finite, not negative, and not -0 (one encoding of zero). */
static int check_f64(const uint8_t p[8], const char *what)
{
    uint64_t bits = gdn_load_le64(p);

    if ((bits >> 52 & 0x7ff) == 0x7ff)
        return gdn_error(GDN_EFORMAT, "ledger entry: %s is not finite", what);
    if (bits >> 63)
        return gdn_error(GDN_EFORMAT, "ledger entry: %s is negative", what);
    return 0;
}

/* UTF-8 (gdn_utf8_seq) without NUL; returns the offset of the first bad
 * byte, or len. */
static size_t utf8_valid_prefix(const uint8_t *s, size_t len)
{
    size_t i = 0, k;

    while (i < len) {
        if (s[i] == 0 || !(k = gdn_utf8_seq(s + i, len - i)))
            return i;
        i += k;
    }
    return len;
}

/* Reads a u32 count at *pos and checks that count items of `item` bytes
 * fit; advances *pos past the count. */
static int read_count(uint32_t *count, const uint8_t *in, size_t len,
                      size_t *pos, uint32_t max, size_t item, const char *what)
{
    if (len - *pos < 4)
        return gdn_error(GDN_EFORMAT,
                         "ledger entry: truncated at offset %zu (%s count)",
                         *pos, what);
    *count = gdn_load_le32(in + *pos);
    *pos += 4;
    if (*count > max)
        return gdn_error(GDN_EFORMAT,
                         "ledger entry: %s has %lu items, at most %lu", what,
                         (unsigned long)*count, (unsigned long)max);
    if ((len - *pos) / item < *count)
        return gdn_error(GDN_EFORMAT,
                         "ledger entry: truncated in %s (%lu items of %zu "
                         "bytes from offset %zu, %zu bytes left)",
                         what, (unsigned long)*count, item, *pos, len - *pos);
    return 0;
}

int ledger_entry_parse(ledger_entry_view *v, const uint8_t *in, size_t len)
{
    size_t pos;
    int rc;

    if (!v || (!in && len))
        return gdn_error(GDN_EINVAL, "ledger entry: bad arguments");
    if (len > GDN_LEDGER_MAX_ENTRY_BYTES)
        return gdn_error(GDN_EFORMAT, "ledger entry: %zu bytes, at most %d",
                         len, GDN_LEDGER_MAX_ENTRY_BYTES);
    if (len < 1)
        return gdn_error(GDN_EFORMAT, "ledger entry: empty");
    if (in[OFF_VERSION] != GDN_LEDGER_ENTRY_VERSION)
        return gdn_error(GDN_EFORMAT,
                         "ledger entry: version %u is not supported (this "
                         "build reads version %d)", in[OFF_VERSION],
                         GDN_LEDGER_ENTRY_VERSION);
    if (len < OFF_COHORT)
        return gdn_error(GDN_EFORMAT,
                         "ledger entry: truncated: %zu bytes, the fixed part "
                         "is %d", len, OFF_COHORT);
    v->version = in[OFF_VERSION];
    v->kind = in[OFF_KIND];
    v->aggregation = in[OFF_AGG];
    if (v->kind < GDN_LEDGER_KIND_ROUND || v->kind > GDN_LEDGER_KIND_CONFIG)
        return gdn_error(GDN_EFORMAT, "ledger entry: unknown kind %u", v->kind);
    if (v->aggregation > GDN_LEDGER_AGG_PRIO3)
        return gdn_error(GDN_EFORMAT,
                         "ledger entry: unknown aggregation mode %u",
                         v->aggregation);
    v->round = gdn_load_le64(in + OFF_ROUND);
    v->task_hash = in + OFF_TASK;
    v->model_before = in + OFF_BEFORE;
    v->model_after = in + OFF_AFTER;
    if ((rc = check_f64(in + OFF_NOISE, "noise multiplier")) ||
        (rc = check_f64(in + OFF_CLIP, "clip norm")) ||
        (rc = check_f64(in + OFF_DELTA, "delta")))
        return rc;
    v->noise_multiplier = ledger_load_f64(in + OFF_NOISE);
    v->clip = ledger_load_f64(in + OFF_CLIP);
    v->delta = ledger_load_f64(in + OFF_DELTA);
    if (!(v->delta < 1.0))
        return gdn_error(GDN_EFORMAT, "ledger entry: delta %g is not below 1",
                         v->delta);

    pos = OFF_COHORT;
    if ((rc = read_count(&v->cohort_len, in, len, &pos, GDN_LEDGER_MAX_COHORT,
                         32, "cohort")))
        return rc;
    v->cohort = in + pos;
    for (uint32_t i = 1; i < v->cohort_len; i++)
        if (memcmp(v->cohort + 32 * (i - 1), v->cohort + 32 * i, 32) >= 0)
            return gdn_error(GDN_EFORMAT,
                             "ledger entry: cohort[%lu] does not come after "
                             "cohort[%lu] (clients are sorted, no duplicates)",
                             (unsigned long)i, (unsigned long)(i - 1));
    pos += (size_t)v->cohort_len * 32;

    if ((rc = read_count(&v->eps_len, in, len, &pos, GDN_LEDGER_MAX_COHORT,
                         LEDGER_EPS_RECORD_BYTES, "epsilon list")))
        return rc;
    v->eps = in + pos;
    for (uint32_t i = 0; i < v->eps_len; i++) {
        const uint8_t *r = v->eps + (size_t)LEDGER_EPS_RECORD_BYTES * i;
        if (i && memcmp(r - LEDGER_EPS_RECORD_BYTES, r, 32) >= 0)
            return gdn_error(GDN_EFORMAT,
                             "ledger entry: epsilon[%lu] client does not come "
                             "after epsilon[%lu]'s (sorted, no duplicates)",
                             (unsigned long)i, (unsigned long)(i - 1));
        if ((rc = check_f64(r + 32, "an epsilon")))
            return rc;
    }
    pos += (size_t)v->eps_len * LEDGER_EPS_RECORD_BYTES;

    if ((rc = read_count(&v->reason_len, in, len, &pos, GDN_LEDGER_MAX_REASON,
                         1, "reason")))
        return rc;
    v->reason = in + pos;
    pos += v->reason_len;
    if (pos != len)
        return gdn_error(GDN_EFORMAT,
                         "ledger entry: %zu trailing bytes after offset %zu",
                         len - pos, pos);
    if (v->kind == GDN_LEDGER_KIND_REFUSAL && v->reason_len == 0)
        return gdn_error(GDN_EFORMAT,
                         "ledger entry: a refusal without a reason");
    if (v->kind != GDN_LEDGER_KIND_REFUSAL && v->reason_len > 0)
        return gdn_error(GDN_EFORMAT,
                         "ledger entry: a reason on an entry that is not a "
                         "refusal");
    size_t bad = utf8_valid_prefix(v->reason, v->reason_len);
    if (bad != v->reason_len)
        return gdn_error(GDN_EFORMAT,
                         "ledger entry: reason byte %zu is not UTF-8 text "
                         "(or is NUL)", bad);
    return 0;
}

int gdn_ledger_entry_check(const uint8_t *in, size_t len)
{
    ledger_entry_view v;

    return ledger_entry_parse(&v, in, len);
}

int gdn_ledger_entry_encode(gdn_buf *out, const gdn_ledger_entry *e)
{
    size_t reason_len, start, size, pos;
    uint8_t *p;
    char msg[256];
    int rc;

    if (!out || !e)
        return gdn_error(GDN_EINVAL, "ledger entry encode: bad arguments");
    if ((unsigned)e->kind > 255 || (unsigned)e->aggregation > 255)
        return gdn_error(GDN_EINVAL,
                         "ledger entry encode: unknown kind %d or mode %d",
                         (int)e->kind, (int)e->aggregation);
    if (e->cohort_len > GDN_LEDGER_MAX_COHORT ||
        e->eps_len > GDN_LEDGER_MAX_COHORT)
        return gdn_error(GDN_EINVAL,
                         "ledger entry encode: %zu clients in the cohort and "
                         "%zu in the epsilon list, at most %d each",
                         e->cohort_len, e->eps_len, GDN_LEDGER_MAX_COHORT);
    if ((e->cohort_len && !e->cohort) || (e->eps_len && !e->eps))
        return gdn_error(GDN_EINVAL, "ledger entry encode: NULL list");
    reason_len = e->reason ? strnlen(e->reason, GDN_LEDGER_MAX_REASON + 1) : 0;
    if (reason_len > GDN_LEDGER_MAX_REASON)
        return gdn_error(GDN_EINVAL,
                         "ledger entry encode: reason longer than %d bytes",
                         GDN_LEDGER_MAX_REASON);
    size = OFF_COHORT + 4 + e->cohort_len * 32 + 4 +
           e->eps_len * LEDGER_EPS_RECORD_BYTES + 4 + reason_len;
    if ((rc = gdn_buf_reserve(out, size)))
        return rc;
    start = out->len;
    p = out->data + start;
    p[OFF_VERSION] = GDN_LEDGER_ENTRY_VERSION;
    p[OFF_KIND] = (uint8_t)e->kind;
    p[OFF_AGG] = (uint8_t)e->aggregation;
    gdn_store_le64(p + OFF_ROUND, e->round);
    memcpy(p + OFF_TASK, e->task_hash, 32);
    memcpy(p + OFF_BEFORE, e->model_before, 32);
    memcpy(p + OFF_AFTER, e->model_after, 32);
    store_f64(p + OFF_NOISE, e->noise_multiplier);
    store_f64(p + OFF_CLIP, e->clip);
    store_f64(p + OFF_DELTA, e->delta);
    pos = OFF_COHORT;
    gdn_store_le32(p + pos, (uint32_t)e->cohort_len);
    pos += 4;
    if (e->cohort_len)
        memcpy(p + pos, e->cohort, e->cohort_len * 32);
    pos += e->cohort_len * 32;
    gdn_store_le32(p + pos, (uint32_t)e->eps_len);
    pos += 4;
    for (size_t i = 0; i < e->eps_len; i++) {
        memcpy(p + pos, e->eps[i].client, 32);
        store_f64(p + pos + 32, e->eps[i].eps);
        pos += LEDGER_EPS_RECORD_BYTES;
    }
    gdn_store_le32(p + pos, (uint32_t)reason_len);
    pos += 4;
    if (reason_len)
        memcpy(p + pos, e->reason, reason_len);
    if ((rc = gdn_ledger_entry_check(p, size))) {
        /* Keep the parser's reason, reported as a bad argument. */
        snprintf(msg, sizeof msg, "%s", gdn_errmsg());
        return gdn_error(GDN_EINVAL, "encode: %s", msg);
    }
    out->len = start + size;
    return 0;
}

int gdn_ledger_entry_decode(gdn_ledger_entry *out, const uint8_t *in,
                            size_t len)
{
    ledger_entry_view v;
    size_t eps_bytes, cohort_bytes;
    uint8_t *block;
    gdn_ledger_eps *eps;
    int rc;

    if (!out)
        return gdn_error(GDN_EINVAL, "ledger entry decode: out is NULL");
    memset(out, 0, sizeof *out);
    if ((rc = ledger_entry_parse(&v, in, len)))
        return rc;
    eps_bytes = (size_t)v.eps_len * sizeof(gdn_ledger_eps);
    cohort_bytes = (size_t)v.cohort_len * 32;
    /* One block: the ε records first (aligned by malloc), then the cohort,
     * then the reason with its NUL. */
    if (!(block = malloc(eps_bytes + cohort_bytes + v.reason_len + 1)))
        return gdn_error(GDN_ENOMEM, "ledger entry decode: out of memory");
    eps = (gdn_ledger_eps *)(void *)block;
    for (uint32_t i = 0; i < v.eps_len; i++) {
        const uint8_t *r = v.eps + (size_t)LEDGER_EPS_RECORD_BYTES * i;
        memcpy(eps[i].client, r, 32);
        eps[i].eps = ledger_load_f64(r + 32);
    }
    if (cohort_bytes)
        memcpy(block + eps_bytes, v.cohort, cohort_bytes);
    if (v.reason_len)
        memcpy(block + eps_bytes + cohort_bytes, v.reason, v.reason_len);
    block[eps_bytes + cohort_bytes + v.reason_len] = '\0';

    out->kind = (gdn_ledger_kind)v.kind;
    out->aggregation = (gdn_ledger_aggregation)v.aggregation;
    out->round = v.round;
    memcpy(out->task_hash, v.task_hash, 32);
    memcpy(out->model_before, v.model_before, 32);
    memcpy(out->model_after, v.model_after, 32);
    out->noise_multiplier = v.noise_multiplier;
    out->clip = v.clip;
    out->delta = v.delta;
    out->cohort = block + eps_bytes;
    out->cohort_len = v.cohort_len;
    out->eps = eps;
    out->eps_len = v.eps_len;
    out->reason = v.reason_len
                      ? (const char *)(block + eps_bytes + cohort_bytes)
                      : NULL;
    out->owned = block;
    return 0;
}

void gdn_ledger_entry_free(gdn_ledger_entry *e)
{
    if (!e)
        return;
    free(e->owned);
    memset(e, 0, sizeof *e);
}

static int cmp_client(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

void gdn_ledger_sort_cohort(uint8_t *cohort, size_t n)
{
    if (cohort && n > 1)
        qsort(cohort, n, 32, cmp_client);
}

void gdn_ledger_sort_eps(gdn_ledger_eps *eps, size_t n)
{
    if (eps && n > 1)
        qsort(eps, n, sizeof *eps, cmp_client);
}
