/* The auditor: recomputes the tree from the entries as they stream in and
 * checks every head against it. It keeps only the compact range of the
 * tree (the roots of the complete subtrees along the right border, one per
 * set bit of the size), so auditing n entries takes O(n) hashes and
 * O(log n) memory; the root at the current size folds that range from the
 * right, which is MTH's recursion of RFC 9162 §2.1.1. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger_internal.h"

typedef unsigned long long ull;

struct gdn_ledger_auditor {
    uint8_t log_id[32], pk[GDN_LEDGER_PUBLIC_KEY_BYTES];
    ledger_sha sha;
    uint64_t size;
    uint8_t range[64][GDN_LEDGER_HASH_BYTES]; /* largest subtree first */
    unsigned nrange;
    uint64_t rounds, refusals, configs, heads, cosigs, held;
    gdn_ledger_head last; /* the last head of the ledger's own sequence */
    int have_last;
    gdn_ledger_eps *eps; /* running totals, ascending client */
    size_t neps, cap_eps;
    int rc;
    char problem[320];
};

int ledger_auditor_fail(gdn_ledger_auditor *a, int code, const char *fmt, ...)
{
    va_list ap;

    if (!a->rc) {
        va_start(ap, fmt);
        vsnprintf(a->problem, sizeof a->problem, fmt, ap);
        va_end(ap);
        a->rc = code;
    }
    return gdn_error(a->rc, "%s", a->problem);
}

#define fail ledger_auditor_fail

int gdn_ledger_auditor_new(gdn_ledger_auditor **out, const uint8_t log_id[32],
                           const uint8_t pk[GDN_LEDGER_PUBLIC_KEY_BYTES])
{
    gdn_ledger_auditor *a;

    if (!out || !log_id || !pk)
        return gdn_error(GDN_EINVAL, "ledger auditor: bad arguments");
    if (!(a = calloc(1, sizeof *a)))
        return gdn_error(GDN_ENOMEM, "ledger auditor: out of memory");
    memcpy(a->log_id, log_id, 32);
    memcpy(a->pk, pk, sizeof a->pk);
    ledger_sha_init(&a->sha);
    *out = a;
    return 0;
}

void gdn_ledger_auditor_free(gdn_ledger_auditor *a)
{
    if (!a)
        return;
    ledger_sha_free(&a->sha);
    free(a->eps);
    free(a);
}

uint64_t gdn_ledger_auditor_size(const gdn_ledger_auditor *a)
{
    return a ? a->size : 0;
}

/* Adds eps to client's total (sorted insert). */
static int add_eps(gdn_ledger_auditor *a, const uint8_t client[32], double eps)
{
    size_t lo = 0, hi = a->neps;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(a->eps[mid].client, client, 32);
        if (c == 0) {
            a->eps[mid].eps += eps;
            return 0;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (a->neps == a->cap_eps) {
        size_t cap = a->cap_eps ? 2 * a->cap_eps : 64;
        void *p = realloc(a->eps, cap * sizeof *a->eps);
        if (!p)
            return gdn_error(GDN_ENOMEM, "ledger auditor: out of memory");
        a->eps = p;
        a->cap_eps = cap;
    }
    memmove(a->eps + lo + 1, a->eps + lo, (a->neps - lo) * sizeof *a->eps);
    memcpy(a->eps[lo].client, client, 32);
    a->eps[lo].eps = eps;
    a->neps++;
    return 0;
}

int gdn_ledger_auditor_add_entry(gdn_ledger_auditor *a, const uint8_t *data,
                                 size_t len, const uint8_t *stored_leaf_hash)
{
    ledger_entry_view v;
    uint8_t h[GDN_LEDGER_HASH_BYTES];
    char msg[256];
    int rc;

    if (!a || (!data && len))
        return gdn_error(GDN_EINVAL, "ledger auditor: bad arguments");
    if (a->rc)
        return fail(a, a->rc, "%s", a->problem);
    if ((rc = ledger_entry_parse(&v, data, len))) {
        snprintf(msg, sizeof msg, "%s", gdn_errmsg());
        return fail(a, rc, "entry %llu does not decode: %s", (ull)a->size, msg);
    }
    ledger_sha_leaf(&a->sha, h, data, len);
    if (stored_leaf_hash && memcmp(h, stored_leaf_hash, sizeof h) != 0)
        return fail(a, GDN_ECRYPTO,
                    "entry %llu: the stored leaf hash is not the hash of the "
                    "stored entry (the entry or its hash was rewritten)",
                    (ull)a->size);
    for (uint32_t i = 0; i < v.eps_len; i++) {
        const uint8_t *r = v.eps + (size_t)LEDGER_EPS_RECORD_BYTES * i;
        if ((rc = add_eps(a, r, ledger_load_f64(r + 32))))
            return fail(a, rc, "entry %llu: out of memory", (ull)a->size);
    }
    a->rounds += v.kind == GDN_LEDGER_KIND_ROUND;
    a->refusals += v.kind == GDN_LEDGER_KIND_REFUSAL;
    a->configs += v.kind == GDN_LEDGER_KIND_CONFIG;
    /* Merge with the subtrees the new leaf completes: one per trailing 1
     * bit of the old size. */
    for (uint64_t s = a->size; s & 1; s >>= 1)
        ledger_sha_children(&a->sha, h, a->range[--a->nrange], h);
    memcpy(a->range[a->nrange++], h, sizeof h);
    a->size++;
    return 0;
}

static void current_root(const gdn_ledger_auditor *a,
                         uint8_t out[GDN_LEDGER_HASH_BYTES])
{
    if (a->nrange == 0) {
        gdn_ledger_hash_empty(out);
        return;
    }
    memcpy(out, a->range[a->nrange - 1], GDN_LEDGER_HASH_BYTES);
    for (unsigned i = a->nrange - 1; i-- > 0;)
        ledger_sha_children(&a->sha, out, a->range[i], out);
}

int gdn_ledger_auditor_add_head(gdn_ledger_auditor *a,
                                const gdn_ledger_head *h, int held)
{
    uint8_t root[GDN_LEDGER_HASH_BYTES];
    char name[64];

    if (!a || !h)
        return gdn_error(GDN_EINVAL, "ledger auditor: bad arguments");
    if (a->rc)
        return fail(a, a->rc, "%s", a->problem);
    if (held)
        snprintf(name, sizeof name, "held head %llu (size %llu)",
                 (ull)a->held, (ull)h->size);
    else
        snprintf(name, sizeof name, "head %llu (size %llu)", (ull)a->heads,
                 (ull)h->size);
    if (memcmp(h->log_id, a->log_id, 32) != 0)
        return fail(a, GDN_ECRYPTO, "%s: names another ledger (log id)", name);
    if (gdn_ledger_head_verify(h, a->pk) != 0)
        return fail(a, GDN_ECRYPTO,
                    "%s: the coordinator's signature does not verify (the "
                    "head was altered or signed by another key)", name);
    if (!held && a->have_last && h->size < a->last.size)
        return fail(a, GDN_ECRYPTO,
                    "%s: fewer entries than the head before it (%llu)", name,
                    (ull)a->last.size);
    if (!held && a->have_last && h->timestamp < a->last.timestamp)
        return fail(a, GDN_ECRYPTO,
                    "%s: dated %llu, before the head before it (%llu)", name,
                    (ull)h->timestamp, (ull)a->last.timestamp);
    if (h->size > a->size)
        return fail(a, GDN_ECRYPTO,
                    "%s: the ledger holds only %llu entries: it was truncated "
                    "(entries removed after the head was signed)", name,
                    (ull)a->size);
    if (h->size < a->size)
        return gdn_error(GDN_EINVAL,
                         "ledger auditor: %s added after %llu entries (add "
                         "heads when the entries reach their size)", name,
                         (ull)a->size);
    current_root(a, root);
    if (memcmp(root, h->root, sizeof root) != 0)
        return fail(a, GDN_ECRYPTO,
                    "%s: the signed root is not the root of the first %llu "
                    "entries: history was rewritten or forked", name,
                    (ull)h->size);
    if (held) {
        a->held++;
    } else {
        a->last = *h;
        a->have_last = 1;
        a->heads++;
    }
    return 0;
}

int gdn_ledger_auditor_add_cosig(gdn_ledger_auditor *a,
                                 const gdn_ledger_cosig *c)
{
    if (!a || !c)
        return gdn_error(GDN_EINVAL, "ledger auditor: bad arguments");
    if (a->rc)
        return fail(a, a->rc, "%s", a->problem);
    if (!a->have_last)
        return fail(a, GDN_EFORMAT, "a co-signature before any head");
    if (gdn_ledger_cosig_verify(c, &a->last) != 0)
        return fail(a, GDN_ECRYPTO,
                    "head %llu (size %llu): the co-signature of client "
                    "%02x%02x%02x%02x... does not verify", (ull)(a->heads - 1),
                    (ull)a->last.size, c->client[0], c->client[1],
                    c->client[2], c->client[3]);
    a->cosigs++;
    return 0;
}

void gdn_ledger_audit_report_free(gdn_ledger_audit_report *r)
{
    if (!r)
        return;
    free(r->eps_total);
    r->eps_total = NULL;
    r->eps_clients = 0;
}

int gdn_ledger_auditor_finish(gdn_ledger_auditor *a,
                              gdn_ledger_audit_report *r)
{
    if (!a || !r)
        return gdn_error(GDN_EINVAL, "ledger auditor: bad arguments");
    memset(r, 0, sizeof *r);
    r->entries = a->size;
    r->rounds = a->rounds;
    r->refusals = a->refusals;
    r->configs = a->configs;
    r->heads = a->heads;
    r->cosigs = a->cosigs;
    r->held_heads = a->held;
    current_root(a, r->root);
    r->eps_total = a->eps;
    r->eps_clients = a->neps;
    a->eps = NULL;
    a->neps = a->cap_eps = 0;
    r->ok = a->rc == 0;
    snprintf(r->problem, sizeof r->problem, "%s", a->problem);
    if (a->rc)
        return gdn_error(a->rc, "%s", a->problem);
    return 0;
}
