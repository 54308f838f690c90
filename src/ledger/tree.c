/* The in-memory Merkle tree of RFC 9162 §2.1.1. Level k keeps the root of
 * every complete subtree of 2^k leaves that starts at a multiple of 2^k
 * (level 0: the leaf hashes), so any MTH(D[a:b]) that the root and proof
 * definitions ask for is one lookup when b - a is a power of two, and
 * otherwise splits (like the RFC's recursion) into a lookup and a smaller
 * range: O(log n) hashes per root, no recomputation of stored subtrees. */
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger_internal.h"

#define LEVELS 64

typedef struct level {
    uint8_t (*h)[GDN_LEDGER_HASH_BYTES];
    size_t len, cap;
} level;

struct gdn_ledger_tree {
    uint64_t size;
    level lvl[LEVELS];
    ledger_sha sha;
};

typedef unsigned long long ull;

int gdn_ledger_tree_new(gdn_ledger_tree **out)
{
    gdn_ledger_tree *t;

    if (!out)
        return gdn_error(GDN_EINVAL, "ledger tree: out is NULL");
    if (!(t = calloc(1, sizeof *t)))
        return gdn_error(GDN_ENOMEM, "ledger tree: out of memory");
    ledger_sha_init(&t->sha);
    *out = t;
    return 0;
}

void gdn_ledger_tree_free(gdn_ledger_tree *t)
{
    if (!t)
        return;
    for (int k = 0; k < LEVELS; k++)
        free(t->lvl[k].h);
    ledger_sha_free(&t->sha);
    free(t);
}

uint64_t gdn_ledger_tree_size(const gdn_ledger_tree *t)
{
    return t ? t->size : 0;
}

static int level_reserve(level *l)
{
    void *p;
    size_t cap;

    if (l->len < l->cap)
        return 0;
    cap = l->cap ? l->cap * 2 : 64;
    if (cap > SIZE_MAX / GDN_LEDGER_HASH_BYTES ||
        !(p = realloc(l->h, cap * GDN_LEDGER_HASH_BYTES)))
        return gdn_error(GDN_ENOMEM, "ledger tree: out of memory at %zu nodes",
                         l->len);
    l->h = p;
    l->cap = cap;
    return 0;
}

int gdn_ledger_tree_append(gdn_ledger_tree *t,
                           const uint8_t leaf_hash[GDN_LEDGER_HASH_BYTES])
{
    uint64_t n;
    unsigned top;
    int rc;

    if (!t || !leaf_hash)
        return gdn_error(GDN_EINVAL, "ledger tree append: bad arguments");
    if (t->size == UINT64_MAX)
        return gdn_error(GDN_ERANGE, "ledger tree is full");
    /* Leaf n completes the subtrees of 2^k leaves for k <= ctz(n + 1):
     * reserve room on all those levels first, so failure changes nothing. */
    n = t->size + 1;
    top = (unsigned)__builtin_ctzll(n);
    if (top >= LEVELS)
        top = LEVELS - 1;
    for (unsigned k = 0; k <= top; k++)
        if ((rc = level_reserve(&t->lvl[k])))
            return rc;
    memcpy(t->lvl[0].h[t->lvl[0].len++], leaf_hash, GDN_LEDGER_HASH_BYTES);
    for (unsigned k = 0; k < top; k++) {
        level *l = &t->lvl[k], *up = &t->lvl[k + 1];
        ledger_sha_children(&t->sha, up->h[up->len], l->h[l->len - 2],
                            l->h[l->len - 1]);
        up->len++;
    }
    t->size = n;
    return 0;
}

int gdn_ledger_tree_append_data(gdn_ledger_tree *t, const void *data,
                                size_t len)
{
    uint8_t h[GDN_LEDGER_HASH_BYTES];

    if (!t || (len && !data))
        return gdn_error(GDN_EINVAL, "ledger tree append: bad arguments");
    ledger_sha_leaf(&t->sha, h, data, len);
    return gdn_ledger_tree_append(t, h);
}

int gdn_ledger_tree_truncate(gdn_ledger_tree *t, uint64_t size)
{
    if (!t)
        return gdn_error(GDN_EINVAL, "ledger tree truncate: tree is NULL");
    if (size > t->size)
        return gdn_error(GDN_ERANGE,
                         "ledger tree truncate: size %llu above the tree's "
                         "%llu",
                         (ull)size, (ull)t->size);
    for (int k = 0; k < LEVELS; k++)
        t->lvl[k].len = (size_t)(size >> k);
    t->size = size;
    return 0;
}

int gdn_ledger_tree_leaf(uint8_t out[GDN_LEDGER_HASH_BYTES],
                         const gdn_ledger_tree *t, uint64_t index)
{
    if (!t || !out)
        return gdn_error(GDN_EINVAL, "ledger tree leaf: bad arguments");
    if (index >= t->size)
        return gdn_error(GDN_ERANGE, "ledger tree: leaf %llu of %llu",
                         (ull)index, (ull)t->size);
    memcpy(out, t->lvl[0].h[index], GDN_LEDGER_HASH_BYTES);
    return 0;
}

/* Largest power of two strictly below n (n >= 2). */
static uint64_t split_point(uint64_t n)
{
    return (uint64_t)1 << (63 - __builtin_clzll(n - 1));
}

/* MTH(D[start:start+n]), n >= 1, for the ranges the RFC's recursions visit:
 * start is a multiple of the smallest power of two >= n, so every complete
 * left part is a stored subtree. */
static void subtree_root(const gdn_ledger_tree *t, uint8_t out[32],
                         uint64_t start, uint64_t n)
{
    /* Readers hash with the md alone (no shared context): thread-safe. */
    const ledger_sha ro = {t->sha.md, NULL};
    uint8_t right[GDN_LEDGER_HASH_BYTES];
    uint64_t k;
    unsigned lv;

    if ((n & (n - 1)) == 0) {
        lv = (unsigned)__builtin_ctzll(n);
        memcpy(out, t->lvl[lv].h[start >> lv], GDN_LEDGER_HASH_BYTES);
        return;
    }
    k = split_point(n);
    lv = (unsigned)__builtin_ctzll(k);
    subtree_root(t, right, start + k, n - k);
    ledger_sha_children(&ro, out, t->lvl[lv].h[start >> lv], right);
}

int gdn_ledger_tree_root(uint8_t out[GDN_LEDGER_HASH_BYTES],
                         const gdn_ledger_tree *t, uint64_t size)
{
    if (!t || !out)
        return gdn_error(GDN_EINVAL, "ledger tree root: bad arguments");
    if (size > t->size)
        return gdn_error(GDN_ERANGE,
                         "ledger tree root: size %llu above the tree's %llu",
                         (ull)size, (ull)t->size);
    if (size == 0)
        gdn_ledger_hash_empty(out);
    else
        subtree_root(t, out, 0, size);
    return 0;
}

static void reverse(gdn_ledger_proof *p)
{
    uint8_t tmp[GDN_LEDGER_HASH_BYTES];

    for (size_t i = 0, j = p->len ? p->len - 1 : 0; i < j; i++, j--) {
        memcpy(tmp, p->hash[i], sizeof tmp);
        memcpy(p->hash[i], p->hash[j], sizeof tmp);
        memcpy(p->hash[j], tmp, sizeof tmp);
    }
}

int gdn_ledger_tree_prove_inclusion(gdn_ledger_proof *proof,
                                    const gdn_ledger_tree *t, uint64_t index,
                                    uint64_t size)
{
    uint64_t start = 0, n = size, m = index;

    if (!proof || !t)
        return gdn_error(GDN_EINVAL, "inclusion proof: bad arguments");
    if (size > t->size)
        return gdn_error(GDN_ERANGE,
                         "inclusion proof: size %llu above the tree's %llu",
                         (ull)size, (ull)t->size);
    if (index >= size)
        return gdn_error(GDN_ERANGE,
                         "inclusion proof: leaf %llu is not below size %llu",
                         (ull)index, (ull)size);
    /* RFC 9162 §2.1.3.1, PATH(m, D[n]) unrolled from the top: each step
     * keeps the half holding leaf m and records the other half's root. The
     * RFC lists the deepest node first, hence the reversal. */
    proof->len = 0;
    while (n > 1) {
        uint64_t k = split_point(n);
        if (m < k) {
            subtree_root(t, proof->hash[proof->len++], start + k, n - k);
            n = k;
        } else {
            subtree_root(t, proof->hash[proof->len++], start, k);
            m -= k;
            start += k;
            n -= k;
        }
    }
    reverse(proof);
    return 0;
}

int gdn_ledger_tree_prove_consistency(gdn_ledger_proof *proof,
                                      const gdn_ledger_tree *t, uint64_t size1,
                                      uint64_t size2)
{
    uint64_t start = 0, n = size2, m = size1;
    int whole = 1; /* the RFC's b: is D[start:start+m] the whole old tree? */

    if (!proof || !t)
        return gdn_error(GDN_EINVAL, "consistency proof: bad arguments");
    if (size2 > t->size)
        return gdn_error(GDN_ERANGE,
                         "consistency proof: size %llu above the tree's %llu",
                         (ull)size2, (ull)t->size);
    if (size1 == 0 || size1 > size2)
        return gdn_error(GDN_ERANGE,
                         "consistency proof: needs 0 < size1 <= size2, got "
                         "%llu and %llu", (ull)size1, (ull)size2);
    /* RFC 9162 §2.1.4.1, SUBPROOF(m, D[n], b) unrolled from the top. */
    proof->len = 0;
    while (m != n) {
        uint64_t k = split_point(n);
        if (m <= k) {
            subtree_root(t, proof->hash[proof->len++], start + k, n - k);
            n = k;
        } else {
            subtree_root(t, proof->hash[proof->len++], start, k);
            m -= k;
            start += k;
            n -= k;
            whole = 0;
        }
    }
    if (!whole)
        subtree_root(t, proof->hash[proof->len++], start, m);
    reverse(proof);
    return 0;
}
