/* Verification of RFC 9162 inclusion and consistency proofs, following the
 * RFC's algorithms step by step (§2.1.3.2, §2.1.4.2). Before running them we
 * check the proof's length against the length the tree shape dictates (the
 * decomposition of transparency-dev/merkle's proof package), so a proof with
 * a node too many or too few is named as such rather than as a wrong root. */
#include <stdio.h>
#include <string.h>

#include "ledger/ledger_internal.h"

typedef unsigned long long ull;

/* Short hex prefix of a hash, for messages. */
static const char *hex8(char buf[17], const uint8_t *h)
{
    static const char digits[] = "0123456789abcdef";

    for (int i = 0; i < 8; i++) {
        buf[2 * i] = digits[h[i] >> 4];
        buf[2 * i + 1] = digits[h[i] & 15];
    }
    buf[16] = '\0';
    return buf;
}

int gdn_ledger_inclusion_proof_len(size_t *len, uint64_t index, uint64_t size)
{
    unsigned inner;

    if (index >= size)
        return gdn_error(GDN_EFORMAT,
                         "inclusion proof: leaf index %llu is not below the "
                         "tree size %llu", (ull)index, (ull)size);
    /* The paths to leaves `index` and size-1 split at level `inner`: below
     * it the proof has one node per level; above, one per left sibling on
     * the right border, i.e. per set bit of index >> inner. */
    inner = ledger_bit_len(index ^ (size - 1));
    *len = inner +
           (size_t)__builtin_popcountll(inner < 64 ? index >> inner : 0);
    return 0;
}

int gdn_ledger_consistency_proof_len(size_t *len, uint64_t size1,
                                     uint64_t size2)
{
    unsigned inner, shift;
    size_t border;

    if (size1 > size2)
        return gdn_error(GDN_EFORMAT,
                         "consistency proof: size1 %llu is larger than size2 "
                         "%llu", (ull)size1, (ull)size2);
    if (size1 == 0)
        return gdn_error(GDN_EFORMAT,
                         "consistency proof from the empty tree: it proves "
                         "nothing (any tree extends the empty one)");
    if (size1 == size2) {
        *len = 0;
        return 0;
    }
    /* The proof is the inclusion proof of leaf size1-1 in the size2 tree,
     * without the levels below the subtree of 2^shift leaves that ends the
     * size1 tree, plus that subtree's root unless it is the whole size1
     * tree (size1 a power of two: the verifier already has root1). */
    inner = ledger_bit_len((size1 - 1) ^ (size2 - 1));
    border = (size_t)__builtin_popcountll(inner < 64 ? (size1 - 1) >> inner
                                                     : 0);
    shift = (unsigned)__builtin_ctzll(size1);
    *len = (size1 == (uint64_t)1 << shift ? 0 : 1) + (inner - shift) + border;
    return 0;
}

static int verify_inclusion(const ledger_sha *sha,
                            const uint8_t leaf_hash[GDN_LEDGER_HASH_BYTES],
                            uint64_t index, uint64_t size,
                            const gdn_ledger_proof *proof,
                            const uint8_t root[GDN_LEDGER_HASH_BYTES])
{
    uint8_t r[GDN_LEDGER_HASH_BYTES];
    uint64_t fn, sn;
    size_t want = 0;
    char h1[17], h2[17];
    int rc;

    if (!leaf_hash || !proof || !root || proof->len > GDN_LEDGER_MAX_PROOF)
        return gdn_error(GDN_EINVAL, "inclusion proof: bad arguments");
    if ((rc = gdn_ledger_inclusion_proof_len(&want, index, size)))
        return rc;
    if (proof->len != want)
        return gdn_error(GDN_EFORMAT,
                         "inclusion proof for leaf %llu of %llu has %zu nodes, "
                         "expected %zu", (ull)index, (ull)size, proof->len,
                         want);
    /* RFC 9162 §2.1.3.2, steps 2-5. */
    fn = index;
    sn = size - 1;
    memcpy(r, leaf_hash, sizeof r);
    for (size_t i = 0; i < proof->len; i++) {
        const uint8_t *p = proof->hash[i];
        if (sn == 0)
            return gdn_error(GDN_EFORMAT,
                             "inclusion proof: node %zu is beyond the root", i);
        if ((fn & 1) || fn == sn) {
            ledger_sha_children(sha, r, p, r);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            ledger_sha_children(sha, r, r, p);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0)
        return gdn_error(GDN_EFORMAT,
                         "inclusion proof: path ends below the root");
    if (memcmp(r, root, sizeof r) != 0)
        return gdn_error(GDN_ECRYPTO,
                         "inclusion proof for leaf %llu of %llu leads to root "
                         "%s..., not the given %s...", (ull)index, (ull)size,
                         hex8(h1, r), hex8(h2, root));
    return 0;
}

static int verify_consistency(const ledger_sha *sha, uint64_t size1,
                              uint64_t size2,
                              const uint8_t root1[GDN_LEDGER_HASH_BYTES],
                              const uint8_t root2[GDN_LEDGER_HASH_BYTES],
                              const gdn_ledger_proof *proof)
{
    const uint8_t *path[GDN_LEDGER_MAX_PROOF + 1];
    uint8_t fr[GDN_LEDGER_HASH_BYTES], sr[GDN_LEDGER_HASH_BYTES];
    uint64_t fn, sn;
    size_t want = 0, n = 0;
    char h1[17], h2[17];
    int rc;

    if (!root1 || !root2 || !proof || proof->len > GDN_LEDGER_MAX_PROOF)
        return gdn_error(GDN_EINVAL, "consistency proof: bad arguments");
    if ((rc = gdn_ledger_consistency_proof_len(&want, size1, size2)))
        return rc;
    if (proof->len != want)
        return gdn_error(GDN_EFORMAT,
                         "consistency proof from %llu to %llu has %zu nodes, "
                         "expected %zu", (ull)size1, (ull)size2, proof->len,
                         want);
    if (size1 == size2) {
        if (memcmp(root1, root2, GDN_LEDGER_HASH_BYTES) != 0)
            return gdn_error(GDN_ECRYPTO,
                             "two trees of %llu leaves with different roots "
                             "%s... and %s...", (ull)size1, hex8(h1, root1),
                             hex8(h2, root2));
        return 0;
    }
    /* RFC 9162 §2.1.4.2. Step 1: the proof is not empty (want >= 1). Step
     * 2: when size1 is a power of two, root1 is the first node. */
    if ((size1 & (size1 - 1)) == 0)
        path[n++] = root1;
    for (size_t i = 0; i < proof->len; i++)
        path[n++] = proof->hash[i];
    /* Steps 3-5. */
    fn = size1 - 1;
    sn = size2 - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    memcpy(fr, path[0], sizeof fr);
    memcpy(sr, path[0], sizeof sr);
    /* Step 6. */
    for (size_t i = 1; i < n; i++) {
        const uint8_t *c = path[i];
        if (sn == 0)
            return gdn_error(GDN_EFORMAT,
                             "consistency proof: node %zu is beyond the root",
                             i);
        if ((fn & 1) || fn == sn) {
            ledger_sha_children(sha, fr, c, fr);
            ledger_sha_children(sha, sr, c, sr);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            ledger_sha_children(sha, sr, sr, c);
        }
        fn >>= 1;
        sn >>= 1;
    }
    /* Step 7. */
    if (sn != 0)
        return gdn_error(GDN_EFORMAT,
                         "consistency proof: path ends below the root");
    if (memcmp(fr, root1, sizeof fr) != 0)
        return gdn_error(GDN_ECRYPTO,
                         "consistency proof from %llu to %llu does not lead to "
                         "the first root (%s... instead of %s...): the first "
                         "tree is not a prefix of the second", (ull)size1,
                         (ull)size2, hex8(h1, fr), hex8(h2, root1));
    if (memcmp(sr, root2, sizeof sr) != 0)
        return gdn_error(GDN_ECRYPTO,
                         "consistency proof from %llu to %llu does not lead to "
                         "the second root (%s... instead of %s...)",
                         (ull)size1, (ull)size2, hex8(h1, sr), hex8(h2, root2));
    return 0;
}

/* The public verifiers fetch OpenSSL's SHA-256 and a context once per call
 * (about 0.3 us) and hash every node with them, 3x faster than libsodium's
 * portable code on CPUs with SHA extensions; a context of their own keeps
 * them free of shared state. */
int gdn_ledger_verify_inclusion(const uint8_t leaf_hash[GDN_LEDGER_HASH_BYTES],
                                uint64_t index, uint64_t size,
                                const gdn_ledger_proof *proof,
                                const uint8_t root[GDN_LEDGER_HASH_BYTES])
{
    ledger_sha sha;
    int rc;

    ledger_sha_init(&sha);
    rc = verify_inclusion(&sha, leaf_hash, index, size, proof, root);
    ledger_sha_free(&sha);
    return rc;
}

int gdn_ledger_verify_consistency(uint64_t size1, uint64_t size2,
                                  const uint8_t root1[GDN_LEDGER_HASH_BYTES],
                                  const uint8_t root2[GDN_LEDGER_HASH_BYTES],
                                  const gdn_ledger_proof *proof)
{
    ledger_sha sha;
    int rc;

    ledger_sha_init(&sha);
    rc = verify_consistency(&sha, size1, size2, root1, root2, proof);
    ledger_sha_free(&sha);
    return rc;
}

/* Copies untyped nodes into a proof, checking each is one hash. */
static int proof_from_bytes(gdn_ledger_proof *out,
                            const gdn_ledger_bytes *nodes, size_t n,
                            const char *what)
{
    if (n > GDN_LEDGER_MAX_PROOF)
        return gdn_error(GDN_EFORMAT, "%s proof: %zu nodes, at most %d", what,
                         n, GDN_LEDGER_MAX_PROOF);
    if (n && !nodes)
        return gdn_error(GDN_EINVAL, "%s proof: bad arguments", what);
    for (size_t i = 0; i < n; i++) {
        if (nodes[i].len != GDN_LEDGER_HASH_BYTES || !nodes[i].data)
            return gdn_error(GDN_EFORMAT,
                             "%s proof: node %zu is %zu bytes, expected %d",
                             what, i, nodes[i].len, GDN_LEDGER_HASH_BYTES);
        memcpy(out->hash[i], nodes[i].data, GDN_LEDGER_HASH_BYTES);
    }
    out->len = n;
    return 0;
}

static int root_from_bytes(uint8_t out[GDN_LEDGER_HASH_BYTES],
                           gdn_ledger_bytes b, const char *what)
{
    if (b.len != GDN_LEDGER_HASH_BYTES || !b.data)
        return gdn_error(GDN_ECRYPTO,
                         "%s is %zu bytes, a SHA-256 root is %d: no match",
                         what, b.len, GDN_LEDGER_HASH_BYTES);
    memcpy(out, b.data, GDN_LEDGER_HASH_BYTES);
    return 0;
}

int gdn_ledger_verify_inclusion_bytes(gdn_ledger_bytes leaf_hash,
                                      uint64_t index, uint64_t size,
                                      const gdn_ledger_bytes *proof,
                                      size_t proof_len, gdn_ledger_bytes root)
{
    gdn_ledger_proof p;
    uint8_t leaf[GDN_LEDGER_HASH_BYTES], r[GDN_LEDGER_HASH_BYTES];
    size_t want = 0;
    int rc;

    if ((rc = gdn_ledger_inclusion_proof_len(&want, index, size)))
        return rc;
    if (leaf_hash.len != GDN_LEDGER_HASH_BYTES || !leaf_hash.data)
        return gdn_error(GDN_EFORMAT,
                         "inclusion proof: leaf hash is %zu bytes, expected %d",
                         leaf_hash.len, GDN_LEDGER_HASH_BYTES);
    memcpy(leaf, leaf_hash.data, sizeof leaf);
    if ((rc = proof_from_bytes(&p, proof, proof_len, "inclusion")) ||
        (rc = root_from_bytes(r, root, "root")))
        return rc;
    return gdn_ledger_verify_inclusion(leaf, index, size, &p, r);
}

int gdn_ledger_verify_consistency_bytes(uint64_t size1, uint64_t size2,
                                        gdn_ledger_bytes root1,
                                        gdn_ledger_bytes root2,
                                        const gdn_ledger_bytes *proof,
                                        size_t proof_len)
{
    gdn_ledger_proof p;
    uint8_t r1[GDN_LEDGER_HASH_BYTES], r2[GDN_LEDGER_HASH_BYTES];
    size_t want = 0;
    int rc;

    if ((rc = gdn_ledger_consistency_proof_len(&want, size1, size2)))
        return rc;
    if (size1 == size2) {
        /* Nothing is hashed: the claim is that the roots are equal. */
        if (proof_len != 0)
            return gdn_error(GDN_EFORMAT,
                             "consistency proof between equal sizes %llu must "
                             "be empty, has %zu nodes", (ull)size1, proof_len);
        if (root1.len != root2.len ||
            (root1.len && memcmp(root1.data, root2.data, root1.len) != 0))
            return gdn_error(GDN_ECRYPTO,
                             "two trees of %llu leaves with different roots",
                             (ull)size1);
        return 0;
    }
    if ((rc = proof_from_bytes(&p, proof, proof_len, "consistency")) ||
        (rc = root_from_bytes(r1, root1, "root1")) ||
        (rc = root_from_bytes(r2, root2, "root2")))
        return rc;
    return gdn_ledger_verify_consistency(size1, size2, r1, r2, &p);
}
