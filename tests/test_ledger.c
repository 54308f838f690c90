/* ledger: RFC 9162 Merkle tree against the transparency-dev vectors and a
 * slow reference, entries, signed heads and split-view detection, the SQLite
 * store (including kill -9 during appends) and the audit. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "guardian/core.h"
#include "guardian/ledger.h"
#include "harness.h"

typedef unsigned long long ull;

/* ---- helpers ------------------------------------------------------------ */

static void hex32(uint8_t out[32], const char *s)
{
    for (int i = 0; i < 32; i++) {
        unsigned v = 0;
        for (int j = 0; j < 2; j++) {
            char c = s[2 * i + j];
            v = v * 16 + (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
        }
        out[i] = (uint8_t)v;
    }
}

/* A test leaf: its index, little-endian. */
static void leaf_for(uint8_t out[32], uint32_t i)
{
    uint8_t b[4];

    gdn_store_le32(b, i);
    gdn_ledger_hash_leaf(out, b, sizeof b);
}

/* MTH(D[lo:hi]) straight from the definition of RFC 9162 §2.1.1. */
static void ref_mth(uint8_t out[32], const uint8_t (*leaves)[32], size_t lo,
                    size_t hi)
{
    uint8_t l[32], r[32];
    size_t n = hi - lo, k = 1;

    if (n == 0) {
        gdn_ledger_hash_empty(out);
        return;
    }
    if (n == 1) {
        memcpy(out, leaves[lo], 32);
        return;
    }
    while (k * 2 < n)
        k *= 2;
    ref_mth(l, leaves, lo, lo + k);
    ref_mth(r, leaves, lo + k, hi);
    gdn_ledger_hash_children(out, l, r);
}

/* PATH(m, D[lo:hi]) of §2.1.3.1, recursively. */
static void ref_path(gdn_ledger_proof *p, const uint8_t (*leaves)[32],
                     size_t m, size_t lo, size_t hi)
{
    size_t n = hi - lo, k = 1;

    if (n <= 1)
        return;
    while (k * 2 < n)
        k *= 2;
    if (m < k) {
        ref_path(p, leaves, m, lo, lo + k);
        ref_mth(p->hash[p->len++], leaves, lo + k, hi);
    } else {
        ref_path(p, leaves, m - k, lo + k, hi);
        ref_mth(p->hash[p->len++], leaves, lo, lo + k);
    }
}

/* SUBPROOF(m, D[lo:hi], b) of §2.1.4.1, recursively. */
static void ref_subproof(gdn_ledger_proof *p, const uint8_t (*leaves)[32],
                         size_t m, size_t lo, size_t hi, int b)
{
    size_t n = hi - lo, k = 1;

    if (m == n) {
        if (!b)
            ref_mth(p->hash[p->len++], leaves, lo, hi);
        return;
    }
    while (k * 2 < n)
        k *= 2;
    if (m <= k) {
        ref_subproof(p, leaves, m, lo, lo + k, b);
        ref_mth(p->hash[p->len++], leaves, lo + k, hi);
    } else {
        ref_subproof(p, leaves, m - k, lo + k, hi, 0);
        ref_mth(p->hash[p->len++], leaves, lo, lo + k);
    }
}

static int same_proof(const gdn_ledger_proof *a, const gdn_ledger_proof *b)
{
    return a->len == b->len && memcmp(a->hash, b->hash, a->len * 32) == 0;
}

/* ---- RFC 6962/9162 known answers ------------------------------------------
 * The eight leaves and roots of the Certificate Transparency reference
 * tests (also in transparency-dev/merkle proof/verify_test.go). */

static const char *const kat_leaves[8] = {
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f"};
static const char *const kat_roots[8] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};

static gdn_ledger_tree *kat_tree(void)
{
    gdn_ledger_tree *t = NULL;

    if (gdn_ledger_tree_new(&t))
        return NULL;
    for (int i = 0; i < 8; i++) {
        uint8_t data[16];
        size_t n = strlen(kat_leaves[i]) / 2;
        for (size_t j = 0; j < n; j++) {
            unsigned v;
            sscanf(kat_leaves[i] + 2 * j, "%2x", &v);
            data[j] = (uint8_t)v;
        }
        if (gdn_ledger_tree_append_data(t, data, n)) {
            gdn_ledger_tree_free(t);
            return NULL;
        }
    }
    return t;
}

GDN_TEST(ledger_hash_known_answers)
{
    uint8_t h[32], want[32], a[32];
    gdn_ledger_tree *t = kat_tree();
    gdn_ledger_proof p;

    CHECK(t != NULL);
    gdn_ledger_hash_empty(h);
    hex32(want, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(memcmp(h, want, 32) == 0);
    CHECK_OK(gdn_ledger_tree_root(h, t, 0));
    CHECK(memcmp(h, want, 32) == 0);
    for (int n = 1; n <= 8; n++) {
        hex32(want, kat_roots[n - 1]);
        CHECK_OK(gdn_ledger_tree_root(h, t, (uint64_t)n));
        CHECK_MSG(memcmp(h, want, 32) == 0, "root of size %d", n);
    }
    /* Leaf hashing via OpenSSL (tree) and libsodium (stateless) agree. */
    for (uint32_t len = 0; len < 300; len += 7) {
        uint8_t data[300];
        gdn_ledger_tree *u = NULL;
        for (uint32_t i = 0; i < len; i++)
            data[i] = (uint8_t)(i * 31 + len);
        CHECK_OK(gdn_ledger_tree_new(&u));
        CHECK_OK(gdn_ledger_tree_append_data(u, data, len));
        CHECK_OK(gdn_ledger_tree_append_data(u, data, len));
        CHECK_OK(gdn_ledger_tree_leaf(a, u, 1));
        gdn_ledger_hash_leaf(h, data, len);
        CHECK(memcmp(a, h, 32) == 0);
        gdn_ledger_hash_children(want, h, h);
        CHECK_OK(gdn_ledger_tree_root(a, u, 2));
        CHECK(memcmp(a, want, 32) == 0);
        gdn_ledger_tree_free(u);
    }
    /* Known proofs: inclusion of leaf 5 in 8, consistency 6 -> 8. */
    CHECK_OK(gdn_ledger_tree_prove_inclusion(&p, t, 5, 8));
    CHECK_EQ(p.len, 3);
    hex32(want, "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b");
    CHECK(memcmp(p.hash[0], want, 32) == 0);
    hex32(want, "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7");
    CHECK(memcmp(p.hash[2], want, 32) == 0);
    CHECK_OK(gdn_ledger_tree_prove_consistency(&p, t, 6, 8));
    CHECK_EQ(p.len, 3);
    hex32(want, "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a");
    CHECK(memcmp(p.hash[0], want, 32) == 0);
    hex32(want, "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0");
    CHECK(memcmp(p.hash[1], want, 32) == 0);
    gdn_ledger_tree_free(t);
}

/* ---- the transparency-dev/merkle vectors ----------------------------------- */

typedef struct file_list {
    char **path;
    size_t n, cap;
} file_list;

static void files_free(file_list *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->path[i]);
    free(f->path);
    memset(f, 0, sizeof *f);
}

/* Every *.json file under dir, recursively. */
static int find_json(file_list *f, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int rc = 0;

    if (!d)
        return -1;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        char path[1024];
        struct stat st;
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.')
            continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >=
                (int)sizeof path ||
            stat(path, &st) != 0) {
            rc = -1;
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            rc = find_json(f, path);
        } else if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0) {
            if (f->n == f->cap) {
                size_t cap = f->cap ? 2 * f->cap : 64;
                char **p = realloc(f->path, cap * sizeof *p);
                if (!p) {
                    rc = -1;
                    break;
                }
                f->path = p;
                f->cap = cap;
            }
            if (!(f->path[f->n] = malloc(strlen(path) + 1))) {
                rc = -1;
                break;
            }
            memcpy(f->path[f->n++], path, strlen(path) + 1);
        }
    }
    closedir(d);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A JSON unsigned integer of any 64-bit value: the vectors hold 2^64 - 1,
 * above what gdn_json_uint takes (2^53), so read the digits of the text. */
static int json_u64(uint64_t *out, const gdn_json *v, const char *text,
                    size_t len)
{
    size_t off;
    uint64_t x = 0;

    if (!v || gdn_json_type(v) != GDN_JSON_NUMBER)
        return -1;
    if (gdn_json_uint(v, out) == 0)
        return 0;
    off = gdn_json_offset(v);
    if (off >= len || text[off] < '0' || text[off] > '9')
        return -1;
    for (; off < len && text[off] >= '0' && text[off] <= '9'; off++) {
        unsigned d = (unsigned)(text[off] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    if (off < len && (text[off] == '.' || text[off] == 'e' || text[off] == 'E'))
        return -1;
    *out = x;
    return 0;
}

/* Base64 (standard alphabet) of a JSON string into a fresh buffer. */
static int json_b64(uint8_t **out, size_t *outlen, const gdn_json *v)
{
    size_t len;
    const char *s = v ? gdn_json_string(v, &len) : NULL;

    *out = NULL;
    *outlen = 0;
    if (!s)
        return -1;
    if (!(*out = malloc(len + 1)))
        return -1;
    if (sodium_base642bin(*out, len + 1, s, len, NULL, outlen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return -1;
    return 0;
}

typedef struct vec_bytes {
    uint8_t *b[GDN_LEDGER_MAX_PROOF + 4];
    gdn_ledger_bytes node[GDN_LEDGER_MAX_PROOF + 4];
    size_t n;
} vec_bytes;

static void vec_free(vec_bytes *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->b[i]);
    v->n = 0;
}

/* The proof: null or an array of base64 strings. */
static int json_proof(vec_bytes *p, const gdn_json *v)
{
    p->n = 0;
    if (!v || gdn_json_type(v) == GDN_JSON_NULL)
        return 0;
    if (gdn_json_type(v) != GDN_JSON_ARRAY ||
        gdn_json_len(v) > GDN_LEDGER_MAX_PROOF + 4)
        return -1;
    for (size_t i = 0; i < gdn_json_len(v); i++) {
        if (json_b64(&p->b[p->n], &p->node[p->n].len, gdn_json_at(v, i))) {
            free(p->b[p->n]);
            return -1;
        }
        p->node[p->n].data = p->b[p->n];
        p->n++;
    }
    return 0;
}

/* The typed verifiers see the same claim when every value is 32 bytes. */
static int typed_proof(gdn_ledger_proof *out, const vec_bytes *p)
{
    if (p->n > GDN_LEDGER_MAX_PROOF)
        return -1;
    for (size_t i = 0; i < p->n; i++) {
        if (p->node[i].len != 32)
            return -1;
        memcpy(out->hash[i], p->node[i].data, 32);
    }
    out->len = p->n;
    return 0;
}

typedef struct vec_counts {
    size_t files, accepted, rejected;
} vec_counts;

/* Runs one inclusion or consistency vector; returns 0 when the module did
 * what the file says, else writes why into msg. */
static int run_vector(const char *path, int consistency, vec_counts *c,
                      char *msg, size_t msglen)
{
    gdn_buf text = {0};
    gdn_json *j = NULL;
    vec_bytes proof = {0};
    uint8_t *r1 = NULL, *r2 = NULL;
    size_t r1len = 0, r2len = 0;
    uint64_t a = 0, b = 0;
    gdn_ledger_proof tp;
    int want_err = 0, rc = -1, got, typed = 1;
    const char *desc;

    msg[0] = '\0';
    if (gdn_file_read(&text, path, 1 << 20) ||
        gdn_json_parse(&j, (const char *)text.data, text.len, path)) {
        snprintf(msg, msglen, "%s: %s", path, gdn_errmsg());
        goto out;
    }
    desc = gdn_json_string(gdn_json_get(j, "desc"), NULL);
    if (gdn_json_bool(gdn_json_get(j, "wantErr"), &want_err) ||
        json_u64(&a, gdn_json_get(j, consistency ? "size1" : "leafIdx"),
                 (const char *)text.data, text.len) ||
        json_u64(&b, gdn_json_get(j, consistency ? "size2" : "treeSize"),
                 (const char *)text.data, text.len) ||
        json_b64(&r1, &r1len, gdn_json_get(j, consistency ? "root1" : "leafHash")) ||
        json_b64(&r2, &r2len, gdn_json_get(j, consistency ? "root2" : "root")) ||
        json_proof(&proof, gdn_json_get(j, "proof"))) {
        snprintf(msg, msglen, "%s: unexpected vector layout", path);
        goto out;
    }
    gdn_ledger_bytes x = {r1, r1len}, y = {r2, r2len};
    got = consistency ? gdn_ledger_verify_consistency_bytes(a, b, x, y, proof.node,
                                                            proof.n)
                      : gdn_ledger_verify_inclusion_bytes(x, a, b, proof.node,
                                                          proof.n, y);
    if ((got != 0) != want_err) {
        snprintf(msg, msglen, "%s (%s): wantErr %d, got %d: %s", path,
                 desc ? desc : "?", want_err, got, gdn_errmsg());
        goto out;
    }
    if (got && got != GDN_EFORMAT && got != GDN_ECRYPTO) {
        snprintf(msg, msglen, "%s: rejected with code %d, expected EFORMAT or "
                 "ECRYPTO", path, got);
        goto out;
    }
    if (got && gdn_errmsg()[0] == '\0') {
        snprintf(msg, msglen, "%s: rejected without a message", path);
        goto out;
    }
    /* The typed interface agrees wherever the values are hashes. */
    if (r1len != 32 || r2len != 32 || typed_proof(&tp, &proof))
        typed = 0;
    if (typed) {
        int t = consistency ? gdn_ledger_verify_consistency(a, b, r1, r2, &tp)
                            : gdn_ledger_verify_inclusion(r1, a, b, &tp, r2);
        if ((t != 0) != (got != 0)) {
            snprintf(msg, msglen, "%s: typed verifier says %d, bytes one %d",
                     path, t, got);
            goto out;
        }
    }
    c->files++;
    want_err ? c->rejected++ : c->accepted++;
    rc = 0;
out:
    vec_free(&proof);
    free(r1);
    free(r2);
    gdn_json_free(j);
    gdn_buf_free(&text);
    return rc;
}

static void run_vector_dir(const char *sub, int consistency, vec_counts *c,
                           char *err, size_t errlen)
{
    char dir[900];
    file_list f = {0};

    err[0] = '\0';
    snprintf(dir, sizeof dir, "%s/merkle/%s", gdn_test_vectors_dir(), sub);
    if (find_json(&f, dir) != 0 || f.n == 0) {
        snprintf(err, errlen,
                 "no Merkle vectors under %s (set GDN_VECTORS to the vectors "
                 "root, or run from the project root so ../shared/vectors "
                 "resolves)", dir);
        files_free(&f);
        return;
    }
    qsort(f.path, f.n, sizeof *f.path, cmp_str);
    for (size_t i = 0; i < f.n && !err[0]; i++)
        run_vector(f.path[i], consistency, c, err, errlen);
    files_free(&f);
}

GDN_TEST(ledger_vectors_inclusion)
{
    vec_counts c = {0};
    char err[1200];

    run_vector_dir("inclusion", 0, &c, err, sizeof err);
    CHECK_MSG(err[0] == '\0', "%s", err);
    CHECK(c.files > 0 && c.accepted > 0 && c.rejected > 0);
    printf("  merkle/inclusion: %zu files, %zu accepted, %zu rejected\n",
           c.files, c.accepted, c.rejected);
}

GDN_TEST(ledger_vectors_consistency)
{
    vec_counts c = {0};
    char err[1200];

    run_vector_dir("consistency", 1, &c, err, sizeof err);
    CHECK_MSG(err[0] == '\0', "%s", err);
    CHECK(c.files > 0 && c.accepted > 0 && c.rejected > 0);
    printf("  merkle/consistency: %zu files, %zu accepted, %zu rejected\n",
           c.files, c.accepted, c.rejected);
}

/* ---- proofs of the module, every size ------------------------------------- */

#define ALL_N 1000

/* Inclusion: every size up to 1000, every index, and the tree's roots and
 * (for sizes up to 64) proofs equal the slow reference. */
GDN_TEST(ledger_proofs_inclusion_all_sizes)
{
    static uint8_t leaves[ALL_N][32];
    static uint8_t roots[ALL_N + 1][32];
    gdn_ledger_tree *t = NULL;
    gdn_ledger_proof p, ref;
    uint8_t r[32];
    size_t want;

    CHECK_OK(gdn_ledger_tree_new(&t));
    for (uint32_t i = 0; i < ALL_N; i++) {
        leaf_for(leaves[i], i);
        CHECK_OK(gdn_ledger_tree_append(t, leaves[i]));
    }
    for (uint64_t n = 0; n <= ALL_N; n++) {
        CHECK_OK(gdn_ledger_tree_root(roots[n], t, n));
        if (n <= 300 || n % 97 == 0) {
            ref_mth(r, (const uint8_t(*)[32])leaves, 0, n);
            CHECK_MSG(memcmp(r, roots[n], 32) == 0, "root of size %llu",
                      (ull)n);
        }
    }
    for (uint64_t n = 1; n <= ALL_N; n++) {
        for (uint64_t i = 0; i < n; i++) {
            CHECK_OK(gdn_ledger_tree_prove_inclusion(&p, t, i, n));
            CHECK_OK(gdn_ledger_inclusion_proof_len(&want, i, n));
            CHECK_EQ(p.len, want);
            CHECK_MSG(gdn_ledger_verify_inclusion(leaves[i], i, n, &p,
                                                  roots[n]) == 0,
                      "leaf %llu of %llu: %s", (ull)i, (ull)n, gdn_errmsg());
            if (n <= 64) {
                ref.len = 0;
                ref_path(&ref, (const uint8_t(*)[32])leaves, i, 0, n);
                CHECK_MSG(same_proof(&p, &ref), "path %llu of %llu", (ull)i,
                          (ull)n);
            }
        }
    }
    gdn_ledger_tree_free(t);
}

/* Consistency: every pair up to 200, a deterministic sample of pairs up to
 * 1000, the slow reference up to 64. */
GDN_TEST(ledger_proofs_consistency_all_pairs)
{
    static uint8_t leaves[ALL_N][32];
    static uint8_t roots[ALL_N + 1][32];
    gdn_ledger_tree *t = NULL;
    gdn_ledger_proof p, ref;
    gdn_rng rng;
    size_t want;

    CHECK_OK(gdn_ledger_tree_new(&t));
    for (uint32_t i = 0; i < ALL_N; i++) {
        leaf_for(leaves[i], i);
        CHECK_OK(gdn_ledger_tree_append(t, leaves[i]));
    }
    for (uint64_t n = 0; n <= ALL_N; n++)
        CHECK_OK(gdn_ledger_tree_root(roots[n], t, n));
    for (uint64_t n = 1; n <= 200; n++) {
        for (uint64_t m = 1; m <= n; m++) {
            CHECK_OK(gdn_ledger_tree_prove_consistency(&p, t, m, n));
            CHECK_OK(gdn_ledger_consistency_proof_len(&want, m, n));
            CHECK_EQ(p.len, want);
            CHECK_MSG(gdn_ledger_verify_consistency(m, n, roots[m], roots[n],
                                                    &p) == 0,
                      "%llu -> %llu: %s", (ull)m, (ull)n, gdn_errmsg());
            if (n <= 64) {
                ref.len = 0;
                ref_subproof(&ref, (const uint8_t(*)[32])leaves, m, 0, n, 1);
                CHECK_MSG(same_proof(&p, &ref), "proof %llu -> %llu", (ull)m,
                          (ull)n);
            }
        }
    }
    gdn_rng_init_seed(&rng, 9162);
    for (int s = 0; s < 20000; s++) {
        uint64_t n = 201 + gdn_rng_uniform(&rng, ALL_N - 200);
        uint64_t m = 1 + gdn_rng_uniform(&rng, n);
        CHECK_OK(gdn_ledger_tree_prove_consistency(&p, t, m, n));
        CHECK_MSG(gdn_ledger_verify_consistency(m, n, roots[m], roots[n], &p) == 0,
                  "%llu -> %llu: %s", (ull)m, (ull)n, gdn_errmsg());
    }
    gdn_ledger_tree_free(t);
}

/* Every corruption of a valid proof is refused, with the right code. */
GDN_TEST(ledger_proofs_rejections)
{
    gdn_ledger_tree *t = NULL;
    gdn_ledger_proof p, q;
    uint8_t leaves[64][32], roots[65][32], bad[32];
    gdn_rng rng;

    CHECK_OK(gdn_ledger_tree_new(&t));
    for (uint32_t i = 0; i < 64; i++) {
        leaf_for(leaves[i], i);
        CHECK_OK(gdn_ledger_tree_append(t, leaves[i]));
    }
    for (uint64_t n = 0; n <= 64; n++)
        CHECK_OK(gdn_ledger_tree_root(roots[n], t, n));
    gdn_rng_init_seed(&rng, 1);
    gdn_rng_bytes(&rng, bad, sizeof bad);

    /* Inclusion edges. */
    CHECK_OK(gdn_ledger_tree_prove_inclusion(&p, t, 5, 13));
    CHECK_EQ(gdn_ledger_verify_inclusion(leaves[5], 13, 13, &p, roots[13]), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "not below") != NULL);
    CHECK_EQ(gdn_ledger_verify_inclusion(leaves[5], 0, 0, &p, roots[0]), GDN_EFORMAT);
    CHECK_EQ(gdn_ledger_verify_inclusion(leaves[5], UINT64_MAX, 13, &p, roots[13]),
             GDN_EFORMAT);
    q = p;
    q.len++;
    memcpy(q.hash[q.len - 1], roots[13], 32);
    CHECK_EQ(gdn_ledger_verify_inclusion(leaves[5], 5, 13, &q, roots[13]), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "nodes, expected") != NULL);
    q = p;
    q.len--;
    CHECK_EQ(gdn_ledger_verify_inclusion(leaves[5], 5, 13, &q, roots[13]), GDN_EFORMAT);
    q.len = GDN_LEDGER_MAX_PROOF + 1;
    CHECK_EQ(gdn_ledger_verify_inclusion(leaves[5], 5, 13, &q, roots[13]), GDN_EINVAL);
    for (size_t i = 0; i < p.len; i++) {
        q = p;
        q.hash[i][i % 32] ^= 1;
        CHECK_EQ(gdn_ledger_verify_inclusion(leaves[5], 5, 13, &q, roots[13]),
                 GDN_ECRYPTO);
    }
    CHECK_EQ(gdn_ledger_verify_inclusion(leaves[6], 5, 13, &p, roots[13]), GDN_ECRYPTO);
    CHECK_EQ(gdn_ledger_verify_inclusion(leaves[5], 5, 13, &p, bad), GDN_ECRYPTO);
    CHECK(strstr(gdn_errmsg(), "leads to root") != NULL);
    /* Same length at another index or size: refused by the hashes. */
    CHECK(gdn_ledger_verify_inclusion(leaves[5], 4, 13, &p, roots[13]) != 0);
    CHECK(gdn_ledger_verify_inclusion(leaves[5], 5, 14, &p, roots[14]) != 0);
    /* Every index and size of a 64-leaf tree with a wrong leaf. */
    for (uint64_t n = 1; n <= 64; n++)
        for (uint64_t i = 0; i < n; i++) {
            CHECK_OK(gdn_ledger_tree_prove_inclusion(&p, t, i, n));
            CHECK_EQ(gdn_ledger_verify_inclusion(bad, i, n, &p, roots[n]),
                     GDN_ECRYPTO);
        }

    /* Consistency edges. */
    CHECK_OK(gdn_ledger_tree_prove_consistency(&p, t, 6, 13));
    CHECK_EQ(gdn_ledger_verify_consistency(13, 6, roots[13], roots[6], &p), GDN_EFORMAT);
    CHECK_EQ(gdn_ledger_verify_consistency(0, 13, roots[0], roots[13], &p), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "empty tree") != NULL);
    q.len = 0;
    CHECK_EQ(gdn_ledger_verify_consistency(0, 0, roots[0], roots[0], &q), GDN_EFORMAT);
    CHECK_OK(gdn_ledger_verify_consistency(13, 13, roots[13], roots[13], &q));
    CHECK_EQ(gdn_ledger_verify_consistency(13, 13, roots[13], roots[12], &q), GDN_ECRYPTO);
    CHECK_EQ(gdn_ledger_verify_consistency(13, 13, roots[13], roots[13], &p), GDN_EFORMAT);
    CHECK_EQ(gdn_ledger_verify_consistency(6, 13, roots[6], roots[13], &q), GDN_EFORMAT);
    q = p;
    q.len++;
    memcpy(q.hash[q.len - 1], roots[6], 32);
    CHECK_EQ(gdn_ledger_verify_consistency(6, 13, roots[6], roots[13], &q), GDN_EFORMAT);
    q = p;
    q.len--;
    CHECK_EQ(gdn_ledger_verify_consistency(6, 13, roots[6], roots[13], &q), GDN_EFORMAT);
    for (size_t i = 0; i < p.len; i++) {
        q = p;
        q.hash[i][31 - i] ^= 0x80;
        CHECK_EQ(gdn_ledger_verify_consistency(6, 13, roots[6], roots[13], &q),
                 GDN_ECRYPTO);
    }
    CHECK_EQ(gdn_ledger_verify_consistency(6, 13, roots[7], roots[13], &p), GDN_ECRYPTO);
    CHECK(strstr(gdn_errmsg(), "first root") != NULL);
    CHECK_EQ(gdn_ledger_verify_consistency(6, 13, roots[6], roots[12], &p), GDN_ECRYPTO);
    CHECK_EQ(gdn_ledger_verify_consistency(6, 13, roots[13], roots[6], &p), GDN_ECRYPTO);

    /* Provers refuse impossible requests. */
    CHECK_EQ(gdn_ledger_tree_prove_inclusion(&p, t, 64, 64), GDN_ERANGE);
    CHECK_EQ(gdn_ledger_tree_prove_inclusion(&p, t, 0, 65), GDN_ERANGE);
    CHECK_EQ(gdn_ledger_tree_prove_consistency(&p, t, 0, 5), GDN_ERANGE);
    CHECK_EQ(gdn_ledger_tree_prove_consistency(&p, t, 6, 5), GDN_ERANGE);
    CHECK_EQ(gdn_ledger_tree_root(bad, t, 65), GDN_ERANGE);

    /* Truncation then regrowth gives the same tree. */
    CHECK_OK(gdn_ledger_tree_truncate(t, 21));
    CHECK_EQ(gdn_ledger_tree_size(t), 21);
    CHECK_OK(gdn_ledger_tree_root(bad, t, 21));
    CHECK(memcmp(bad, roots[21], 32) == 0);
    for (uint32_t i = 21; i < 64; i++)
        CHECK_OK(gdn_ledger_tree_append(t, leaves[i]));
    CHECK_OK(gdn_ledger_tree_root(bad, t, 64));
    CHECK(memcmp(bad, roots[64], 32) == 0);
    gdn_ledger_tree_free(t);
}

/* ---- entries -------------------------------------------------------------- */

typedef struct sample {
    uint8_t cohort[5 * 32];
    gdn_ledger_eps eps[5];
    gdn_ledger_entry e;
} sample;

/* A round entry for index i: round i, 5 clients of a pool of 12. */
static void sample_entry(sample *s, uint64_t i)
{
    memset(s, 0, sizeof *s);
    s->e.kind = GDN_LEDGER_KIND_ROUND;
    s->e.aggregation = (gdn_ledger_aggregation)(i % 4);
    s->e.round = i;
    memset(s->e.task_hash, 0x7a, 32);
    leaf_for(s->e.model_before, (uint32_t)i);
    leaf_for(s->e.model_after, (uint32_t)i + 1);
    s->e.noise_multiplier = 1.1;
    s->e.clip = 1.0;
    s->e.delta = 1e-5;
    for (int c = 0; c < 5; c++) {
        uint8_t *id = s->cohort + 32 * c;
        memset(id, 0, 32);
        id[0] = (uint8_t)((i + 2 * (uint64_t)c) % 12);
        id[31] = 0xcc;
        memcpy(s->eps[c].client, id, 32);
        s->eps[c].eps = 0.01 * (double)(c + 1);
    }
    gdn_ledger_sort_cohort(s->cohort, 5);
    gdn_ledger_sort_eps(s->eps, 5);
    s->e.cohort = s->cohort;
    s->e.cohort_len = 5;
    s->e.eps = s->eps;
    s->e.eps_len = 5;
}

static int encode_sample(gdn_buf *out, uint64_t i)
{
    sample s;

    sample_entry(&s, i);
    out->len = 0;
    return gdn_ledger_entry_encode(out, &s.e);
}

GDN_TEST(ledger_entry_roundtrip_and_layout)
{
    sample s;
    gdn_buf b = {0}, b2 = {0};
    gdn_ledger_entry d;
    uint8_t id[32] = {1};

    sample_entry(&s, 0x0102030405060708ULL);
    CHECK_OK(gdn_ledger_entry_encode(&b, &s.e));
    CHECK_EQ(b.len, GDN_LEDGER_ENTRY_FIXED_BYTES + 5 * 32 + 5 * 40);
    /* Layout: version, kind, mode, le64 round, hashes, doubles, lists. */
    CHECK_EQ(b.data[0], GDN_LEDGER_ENTRY_VERSION);
    CHECK_EQ(b.data[1], GDN_LEDGER_KIND_ROUND);
    CHECK_EQ(b.data[2], 0x0102030405060708ULL % 4);
    CHECK_EQ(b.data[3], 0x08);
    CHECK_EQ(b.data[10], 0x01);
    CHECK(memcmp(b.data + 11, s.e.task_hash, 32) == 0);
    CHECK_EQ(gdn_load_le64(b.data + 107), 0x3ff199999999999aULL); /* 1.1 */
    CHECK_EQ(gdn_load_le32(b.data + 131), 5);
    CHECK_OK(gdn_ledger_entry_check(b.data, b.len));
    CHECK_OK(gdn_ledger_entry_decode(&d, b.data, b.len));
    CHECK(d.kind == s.e.kind && d.aggregation == s.e.aggregation);
    CHECK(d.round == s.e.round && d.cohort_len == 5 && d.eps_len == 5);
    CHECK(memcmp(d.cohort, s.cohort, sizeof s.cohort) == 0);
    CHECK(memcmp(d.model_after, s.e.model_after, 32) == 0);
    CHECK(d.eps[4].eps == s.eps[4].eps && d.delta == 1e-5 && d.reason == NULL);
    CHECK_OK(gdn_ledger_entry_encode(&b2, &d));
    CHECK(b2.len == b.len && memcmp(b.data, b2.data, b.len) == 0);
    gdn_ledger_entry_free(&d);
    gdn_ledger_entry_free(&d); /* zeroed: harmless */

    /* A refusal with UTF-8 text, and a config entry with empty lists. */
    gdn_ledger_entry r = {0};
    r.kind = GDN_LEDGER_KIND_REFUSAL;
    r.round = 3;
    r.cohort = id;
    r.cohort_len = 1;
    r.reason = "min_cohort: 3 clients < 5 \xe2\x80\x94 refusé";
    b.len = 0;
    CHECK_OK(gdn_ledger_entry_encode(&b, &r));
    CHECK_OK(gdn_ledger_entry_decode(&d, b.data, b.len));
    CHECK(d.reason && strcmp(d.reason, r.reason) == 0);
    gdn_ledger_entry_free(&d);
    gdn_ledger_entry cfg = {0};
    cfg.kind = GDN_LEDGER_KIND_CONFIG;
    cfg.aggregation = GDN_LEDGER_AGG_PRIO3;
    b.len = 0;
    CHECK_OK(gdn_ledger_entry_encode(&b, &cfg));
    CHECK_EQ(b.len, GDN_LEDGER_ENTRY_FIXED_BYTES);
    CHECK_OK(gdn_ledger_entry_decode(&d, b.data, b.len));
    CHECK(d.cohort_len == 0 && d.eps_len == 0 && d.kind == GDN_LEDGER_KIND_CONFIG);
    gdn_ledger_entry_free(&d);
    gdn_buf_free(&b);
    gdn_buf_free(&b2);
}

/* Encodes the sample after `edit` changed it; returns encode's code. */
static int encode_edited(sample *s, void (*edit)(sample *))
{
    gdn_buf b = {0};
    int rc;

    sample_entry(s, 7);
    edit(s);
    rc = gdn_ledger_entry_encode(&b, &s->e);
    if (rc && b.len != 0)
        rc = -100; /* a refused entry must leave nothing behind */
    gdn_buf_free(&b);
    return rc;
}

static void edit_nan(sample *s) { s->e.clip = nan(""); }
static void edit_inf(sample *s) { s->e.noise_multiplier = INFINITY; }
static void edit_negative(sample *s) { s->e.noise_multiplier = -1.0; }
static void edit_minus_zero(sample *s) { s->e.clip = -0.0; }
static void edit_delta(sample *s) { s->e.delta = 1.0; }
static void edit_eps_negative(sample *s) { s->eps[2].eps = -0.5; }
static void edit_unsorted(sample *s) { s->cohort[0] = 0xff; }
static void edit_duplicate(sample *s) { memcpy(s->cohort + 32, s->cohort, 32); }
static void edit_eps_duplicate(sample *s) { memcpy(s->eps[1].client, s->eps[0].client, 32); }
static void edit_kind(sample *s) { s->e.kind = (gdn_ledger_kind)9; }
static void edit_mode(sample *s) { s->e.aggregation = (gdn_ledger_aggregation)4; }
static void edit_reason_on_round(sample *s) { s->e.reason = "why"; }
static void edit_refusal_no_reason(sample *s) { s->e.kind = GDN_LEDGER_KIND_REFUSAL; }
static void edit_bad_utf8(sample *s)
{
    s->e.kind = GDN_LEDGER_KIND_REFUSAL;
    s->e.reason = "bad \xc0\xaf overlong";
}
static void edit_surrogate(sample *s)
{
    s->e.kind = GDN_LEDGER_KIND_REFUSAL;
    s->e.reason = "\xed\xa0\x80";
}
static void edit_too_many(sample *s) { s->e.cohort_len = GDN_LEDGER_MAX_COHORT + 1; }

GDN_TEST(ledger_entry_encode_refuses)
{
    static void (*const edits[])(sample *) = {
        edit_nan, edit_inf, edit_negative, edit_minus_zero, edit_delta,
        edit_eps_negative, edit_unsorted, edit_duplicate, edit_eps_duplicate,
        edit_kind, edit_mode, edit_reason_on_round, edit_refusal_no_reason,
        edit_bad_utf8, edit_surrogate, edit_too_many};
    sample s;

    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        int rc = encode_edited(&s, edits[i]);
        CHECK_MSG(rc == GDN_EINVAL, "edit %zu: encode returned %d", i, rc);
        CHECK(gdn_errmsg()[0] != '\0');
    }
}

GDN_TEST(ledger_entry_decode_strict)
{
    gdn_buf b = {0};
    gdn_ledger_entry d;
    uint8_t *x;
    size_t n, off_eps0;

    CHECK_OK(encode_sample(&b, 11));
    n = b.len;
    CHECK(n < 2048);
    x = malloc(n + 1);
    CHECK(x != NULL);
    /* Every strict prefix is refused, and so is one trailing byte. */
    for (size_t len = 0; len < n; len++)
        CHECK_MSG(gdn_ledger_entry_decode(&d, b.data, len) == GDN_EFORMAT,
                  "prefix %zu", len);
    memcpy(x, b.data, n);
    x[n] = 0;
    CHECK_EQ(gdn_ledger_entry_decode(&d, x, n + 1), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "trailing") != NULL);

#define MUTATE(stmt, what)                                                    \
    do {                                                                      \
        memcpy(x, b.data, n);                                                 \
        stmt;                                                                 \
        CHECK_MSG(gdn_ledger_entry_decode(&d, x, n) == GDN_EFORMAT, "%s",     \
                  what);                                                      \
        CHECK(d.owned == NULL);                                               \
    } while (0)
    MUTATE(x[0] = 2, "version 2");
    CHECK(strstr(gdn_errmsg(), "version 2") != NULL);
    MUTATE(x[0] = 0, "version 0");
    MUTATE(x[1] = 0, "kind 0");
    MUTATE(x[1] = 4, "kind 4");
    MUTATE(x[2] = 4, "mode 4");
    MUTATE(x[107 + 7] = 0x80, "negative noise");
    MUTATE(gdn_store_le64(x + 115, 0x7ff8000000000000ULL), "NaN clip");
    MUTATE(gdn_store_le64(x + 123, 0x3ff0000000000000ULL), "delta = 1");
    MUTATE(gdn_store_le32(x + 131, 6), "cohort count + 1");
    MUTATE(gdn_store_le32(x + 131, 4), "cohort count - 1");
    MUTATE(gdn_store_le32(x + 131, 0xffffffffu), "huge cohort count");
    MUTATE(memcpy(x + 135 + 32, x + 135, 32), "duplicate client");
    off_eps0 = 135 + 5 * 32 + 4;
    MUTATE(memcpy(x + off_eps0 + 40, x + off_eps0, 32), "duplicate eps client");
    MUTATE(x[off_eps0 + 32 + 7] = 0xff, "eps NaN/negative");
    MUTATE(gdn_store_le32(x + n - 4, 1), "reason length past the end");
    MUTATE(x[1] = GDN_LEDGER_KIND_REFUSAL, "refusal without reason");
#undef MUTATE
    /* A refusal whose text holds a NUL. */
    gdn_ledger_entry r = {0};
    uint8_t id[32] = {3};
    r.kind = GDN_LEDGER_KIND_REFUSAL;
    r.cohort = id;
    r.cohort_len = 1;
    r.reason = "abc";
    b.len = 0;
    CHECK_OK(gdn_ledger_entry_encode(&b, &r));
    b.data[b.len - 2] = 0;
    CHECK_EQ(gdn_ledger_entry_decode(&d, b.data, b.len), GDN_EFORMAT);
    CHECK(strstr(gdn_errmsg(), "UTF-8") != NULL);
    free(x);
    gdn_buf_free(&b);
}

/* ---- signed heads and the client's check ---------------------------------- */

typedef struct keys {
    uint8_t pk[32], sk[64];
} keys;

static int make_keys(keys *k, uint64_t seed)
{
    gdn_rng rng;
    int rc;

    gdn_rng_init_seed(&rng, seed);
    rc = gdn_ledger_keypair(k->pk, k->sk, &rng);
    gdn_rng_wipe(&rng);
    return rc;
}

static void wipe_keys(keys *k)
{
    sodium_memzero(k->sk, sizeof k->sk);
}

static const uint8_t test_log_id[32] = {'g', 'd', 'n', '-', 't', 'e', 's', 't'};

GDN_TEST(ledger_head_sign_verify_encode)
{
    keys co, other;
    gdn_ledger_head h, h2;
    gdn_ledger_cosig c, c2;
    uint8_t root[32], enc[GDN_LEDGER_HEAD_BYTES], cenc[GDN_LEDGER_COSIG_BYTES];

    CHECK_OK(make_keys(&co, 1));
    CHECK_OK(make_keys(&other, 2));
    leaf_for(root, 42);
    CHECK_OK(gdn_ledger_head_sign(&h, test_log_id, 42, root, 1700000000000ULL, co.sk));
    CHECK_OK(gdn_ledger_head_verify(&h, co.pk));
    CHECK_EQ(gdn_ledger_head_verify(&h, other.pk), GDN_ECRYPTO);
    /* Any field changed breaks the signature. */
    h2 = h;
    h2.size++;
    CHECK_EQ(gdn_ledger_head_verify(&h2, co.pk), GDN_ECRYPTO);
    h2 = h;
    h2.root[9] ^= 1;
    CHECK_EQ(gdn_ledger_head_verify(&h2, co.pk), GDN_ECRYPTO);
    h2 = h;
    h2.timestamp--;
    CHECK_EQ(gdn_ledger_head_verify(&h2, co.pk), GDN_ECRYPTO);
    h2 = h;
    h2.log_id[31] ^= 1;
    CHECK_EQ(gdn_ledger_head_verify(&h2, co.pk), GDN_ECRYPTO);
    /* Encoding round trip and strict lengths. */
    gdn_ledger_head_encode(enc, &h);
    CHECK_OK(gdn_ledger_head_decode(&h2, enc, sizeof enc));
    CHECK(memcmp(&h2.signature, &h.signature, 64) == 0 && h2.size == 42);
    CHECK_OK(gdn_ledger_head_verify(&h2, co.pk));
    CHECK_EQ(gdn_ledger_head_decode(&h2, enc, sizeof enc - 1), GDN_EFORMAT);
    enc[0] = 2;
    CHECK_EQ(gdn_ledger_head_decode(&h2, enc, sizeof enc), GDN_EFORMAT);
    /* Co-signatures, and domain separation: a co-signature by the
     * coordinator's own key is not a head signature, nor the reverse. */
    CHECK_OK(gdn_ledger_cosign(&c, &h, other.sk));
    CHECK(memcmp(c.client, other.pk, 32) == 0);
    CHECK_OK(gdn_ledger_cosig_verify(&c, &h));
    gdn_ledger_cosig_encode(cenc, &c);
    CHECK_OK(gdn_ledger_cosig_decode(&c2, cenc, sizeof cenc));
    CHECK_OK(gdn_ledger_cosig_verify(&c2, &h));
    CHECK_EQ(gdn_ledger_cosig_decode(&c2, cenc, 96), GDN_EFORMAT);
    h2 = h;
    h2.size++;
    CHECK_EQ(gdn_ledger_cosig_verify(&c, &h2), GDN_ECRYPTO);
    CHECK_OK(gdn_ledger_cosign(&c, &h, co.sk));
    h2 = h;
    memcpy(h2.signature, c.signature, 64);
    CHECK_EQ(gdn_ledger_head_verify(&h2, co.pk), GDN_ECRYPTO);
    memcpy(c.signature, h.signature, 64);
    CHECK_EQ(gdn_ledger_cosig_verify(&c, &h), GDN_ECRYPTO);
    wipe_keys(&co);
    wipe_keys(&other);
}

/* A coordinator's tree of n sample entries, with entry `rewrite` (if < n)
 * replaced by another one: the rewritten history. */
static gdn_ledger_tree *history(uint64_t n, uint64_t rewrite)
{
    gdn_ledger_tree *t = NULL;
    gdn_buf b = {0};

    if (gdn_ledger_tree_new(&t))
        return NULL;
    for (uint64_t i = 0; i < n; i++) {
        if (encode_sample(&b, i == rewrite ? i + 1000 : i) ||
            gdn_ledger_tree_append_data(t, b.data, b.len)) {
            gdn_ledger_tree_free(t);
            t = NULL;
            break;
        }
    }
    gdn_buf_free(&b);
    return t;
}

static int head_of(gdn_ledger_head *h, const gdn_ledger_tree *t, uint64_t size,
                   uint64_t time, const keys *k)
{
    uint8_t root[32];
    int rc = gdn_ledger_tree_root(root, t, size);

    return rc ? rc : gdn_ledger_head_sign(h, test_log_id, size, root, time, k->sk);
}

GDN_TEST(ledger_split_view_detection)
{
    keys co, cl, mallory;
    gdn_ledger_tree *honest = history(300, UINT64_MAX), *rewritten = history(300, 17),
                    *late = history(300, 250);
    gdn_ledger_head held, h, fork;
    gdn_ledger_proof p;
    gdn_ledger_verdict v;
    gdn_ledger_cosig c;

    CHECK(honest && rewritten && late);
    CHECK_OK(make_keys(&co, 10));
    CHECK_OK(make_keys(&cl, 11));
    CHECK_OK(make_keys(&mallory, 12));

    /* First head: trust on first use; then an honest extension. */
    CHECK_OK(head_of(&h, honest, 100, 1000, &co));
    CHECK_OK(gdn_ledger_client_update(&c, &held, &v, NULL, &h, NULL, co.pk, cl.sk));
    CHECK(v == GDN_LEDGER_ACCEPT && held.size == 100);
    CHECK_OK(gdn_ledger_cosig_verify(&c, &held));
    CHECK_OK(head_of(&h, honest, 200, 2000, &co));
    CHECK_OK(gdn_ledger_tree_prove_consistency(&p, honest, 100, 200));
    CHECK_OK(gdn_ledger_client_update(&c, &held, &v, &held, &h, &p, co.pk, cl.sk));
    CHECK(v == GDN_LEDGER_ACCEPT && held.size == 200);
    /* The same head again, or re-signed later: fine. */
    CHECK_OK(gdn_ledger_head_check(&v, &held, &h, NULL, co.pk));
    CHECK_OK(head_of(&h, honest, 200, 2500, &co));
    CHECK_OK(gdn_ledger_head_check(&v, &held, &h, NULL, co.pk));

    /* Rewritten history (entry 17 changed): no proof from the held head
     * can pass, not even the proof of the rewritten tree. */
    CHECK_OK(head_of(&h, rewritten, 300, 3000, &co));
    CHECK_OK(gdn_ledger_tree_prove_consistency(&p, rewritten, 200, 300));
    CHECK_EQ(gdn_ledger_head_check(&v, &held, &h, &p, co.pk), GDN_ECRYPTO);
    CHECK(v == GDN_LEDGER_INCONSISTENT);
    CHECK_OK(gdn_ledger_tree_prove_consistency(&p, honest, 200, 300));
    CHECK_EQ(gdn_ledger_head_check(&v, &held, &h, &p, co.pk), GDN_ECRYPTO);
    CHECK(v == GDN_LEDGER_INCONSISTENT);
    CHECK_EQ(gdn_ledger_head_check(&v, &held, &h, NULL, co.pk), GDN_ECRYPTO);
    CHECK(v == GDN_LEDGER_INCONSISTENT);
    /* A fork after the held head (entry 250) is a different future, not
     * a rewrite: a client at 200 accepts it; one that held the honest 300
     * sees two signed roots for size 300. */
    CHECK_OK(head_of(&fork, late, 300, 3000, &co));
    CHECK_OK(gdn_ledger_tree_prove_consistency(&p, late, 200, 300));
    CHECK_OK(gdn_ledger_head_check(&v, &held, &fork, &p, co.pk));
    CHECK_OK(head_of(&h, honest, 300, 3000, &co));
    CHECK_EQ(gdn_ledger_head_check(&v, &h, &fork, NULL, co.pk), GDN_ECRYPTO);
    CHECK(v == GDN_LEDGER_FORK);
    CHECK(strstr(gdn_errmsg(), "fork") != NULL);
    /* Truncation: fewer entries than held. Going back in time. */
    CHECK_OK(head_of(&h, honest, 150, 4000, &co));
    CHECK_EQ(gdn_ledger_head_check(&v, &held, &h, NULL, co.pk), GDN_ECRYPTO);
    CHECK(v == GDN_LEDGER_ROLLBACK);
    CHECK_OK(head_of(&h, honest, 250, 1500, &co));
    CHECK_OK(gdn_ledger_tree_prove_consistency(&p, honest, 200, 250));
    CHECK_EQ(gdn_ledger_head_check(&v, &held, &h, &p, co.pk), GDN_ECRYPTO);
    CHECK(v == GDN_LEDGER_ROLLBACK);
    /* Signed by someone else; another ledger's head. */
    CHECK_OK(head_of(&h, honest, 250, 5000, &mallory));
    CHECK_EQ(gdn_ledger_head_check(&v, &held, &h, &p, co.pk), GDN_ECRYPTO);
    CHECK(v == GDN_LEDGER_BAD_SIGNATURE);
    {
        uint8_t root[32], other_log[32] = {9};
        CHECK_OK(gdn_ledger_tree_root(root, honest, 250));
        CHECK_OK(gdn_ledger_head_sign(&h, other_log, 250, root, 5000, co.sk));
        CHECK_EQ(gdn_ledger_head_check(&v, &held, &h, &p, co.pk), GDN_ECRYPTO);
        CHECK(v == GDN_LEDGER_WRONG_LOG);
    }
    /* A refused update leaves the held head and co-signature alone. */
    gdn_ledger_head before = held;
    gdn_ledger_cosig cbefore = c;
    CHECK_OK(head_of(&h, honest, 150, 6000, &co));
    CHECK_EQ(gdn_ledger_client_update(&c, &held, &v, &held, &h, NULL, co.pk, cl.sk),
             GDN_ECRYPTO);
    CHECK(memcmp(&held, &before, sizeof held) == 0);
    CHECK(memcmp(&c, &cbefore, sizeof c) == 0);
    /* Empty tree heads. */
    {
        gdn_ledger_head e0, bad0;
        uint8_t junk[32] = {1};
        CHECK_OK(head_of(&e0, honest, 0, 10, &co));
        CHECK_OK(gdn_ledger_head_check(&v, NULL, &e0, NULL, co.pk));
        CHECK_OK(head_of(&h, honest, 5, 20, &co));
        CHECK_OK(gdn_ledger_head_check(&v, &e0, &h, NULL, co.pk));
        CHECK_OK(gdn_ledger_head_sign(&bad0, test_log_id, 0, junk, 10, co.sk));
        CHECK_EQ(gdn_ledger_head_check(&v, NULL, &bad0, NULL, co.pk), GDN_ECRYPTO);
    }
    wipe_keys(&co);
    wipe_keys(&cl);
    wipe_keys(&mallory);
    gdn_ledger_tree_free(honest);
    gdn_ledger_tree_free(rewritten);
    gdn_ledger_tree_free(late);
}

/* ---- the SQLite store and the audit ---------------------------------------- */

static void db_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", gdn_test_tmpdir(), name);
}

static void remove_db(const char *path)
{
    char p[700];

    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

/* Appends entries [from, to) and, every `every` entries and at the end, a
 * head signed by co and co-signed by cl; commits each batch. */
static int fill(gdn_ledger_store *s, uint64_t from, uint64_t to, uint64_t every,
                const keys *co, const keys *cl)
{
    gdn_buf b = {0};
    gdn_ledger_head h;
    gdn_ledger_cosig c;
    uint64_t id;
    int rc = 0;

    for (uint64_t i = from; i < to && !rc; i++) {
        if ((rc = encode_sample(&b, i)) ||
            (rc = gdn_ledger_store_append(s, NULL, b.data, b.len)))
            break;
        if ((i + 1) % every == 0 || i + 1 == to) {
            if ((rc = head_of(&h, gdn_ledger_store_tree(s), i + 1, 1000 + i, co)) ||
                (rc = gdn_ledger_store_put_head(s, &id, &h)) ||
                (rc = gdn_ledger_cosign(&c, &h, cl->sk)) ||
                (rc = gdn_ledger_store_put_cosig(s, id, &c)) ||
                (rc = gdn_ledger_store_commit(s)))
                break;
        }
    }
    gdn_buf_free(&b);
    return rc;
}

static int sql(const char *path, const char *stmt)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db) == SQLITE_OK &&
                     sqlite3_exec(db, stmt, NULL, NULL, NULL) == SQLITE_OK
                 ? 0
                 : -1;
    if (rc)
        fprintf(stderr, "  sql: %s\n", db ? sqlite3_errmsg(db) : "?");
    sqlite3_close(db);
    return rc;
}

/* Replaces entry idx by `data` (with its correct leaf hash when fix_hash). */
static int rewrite_entry(const char *path, uint64_t idx, const gdn_buf *data,
                         int fix_hash)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    uint8_t h[32];
    int rc = -1;

    gdn_ledger_hash_leaf(h, data->data, data->len);
    if (sqlite3_open(path, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db,
                           fix_hash ? "UPDATE entries SET data=?1, leaf_hash=?2 WHERE idx=?3"
                                    : "UPDATE entries SET data=?1 WHERE idx=?3",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_blob(st, 1, data->data, (int)data->len, SQLITE_STATIC);
        if (fix_hash)
            sqlite3_bind_blob(st, 2, h, 32, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)idx);
        rc = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(db) == 1 ? 0 : -1;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

/* Copies a closed ledger file (WAL checkpointed on close). */
static int copy_file(const char *from, const char *to)
{
    gdn_buf b = {0};
    int rc;

    remove_db(to);
    rc = gdn_file_read(&b, from, (size_t)1 << 30);
    if (!rc)
        rc = gdn_file_write_atomic(to, b.data, b.len);
    gdn_buf_free(&b);
    return rc;
}

GDN_TEST(ledger_store_roundtrip)
{
    char path[600];
    keys co, cl;
    gdn_ledger_store *s = NULL;
    gdn_ledger_head h, h2;
    gdn_buf b = {0}, e = {0};
    uint8_t root[32], root2[32];
    uint64_t idx;
    gdn_ledger_proof p;

    CHECK_OK(make_keys(&co, 20));
    CHECK_OK(make_keys(&cl, 21));
    db_path(path, sizeof path, "store.db");
    remove_db(path);
    CHECK_EQ(gdn_ledger_store_open(&s, path, NULL), GDN_EINVAL); /* new: needs id */
    remove_db(path);
    CHECK_OK(gdn_ledger_store_open(&s, path, test_log_id));
    CHECK_OK(fill(s, 0, 100, 25, &co, &cl));
    CHECK_EQ(gdn_ledger_store_size(s), 100);
    CHECK_EQ(gdn_ledger_store_head_count(s), 4);
    CHECK_OK(gdn_ledger_tree_root(root, gdn_ledger_store_tree(s), 100));
    /* Staged then rolled back, or staged then closed: gone. */
    CHECK_OK(encode_sample(&b, 100));
    CHECK_OK(gdn_ledger_store_append(s, &idx, b.data, b.len));
    CHECK_EQ(idx, 100);
    CHECK_OK(head_of(&h, gdn_ledger_store_tree(s), 101, 5000, &co));
    CHECK_OK(gdn_ledger_store_put_head(s, NULL, &h));
    CHECK_OK(gdn_ledger_store_rollback(s));
    CHECK_EQ(gdn_ledger_store_size(s), 100);
    CHECK_EQ(gdn_ledger_store_head_count(s), 4);
    CHECK_OK(gdn_ledger_store_append(s, &idx, b.data, b.len));
    CHECK_EQ(idx, 100);
    /* Refusals that change nothing. */
    CHECK_EQ(gdn_ledger_store_append(s, NULL, b.data, b.len - 1), GDN_EFORMAT);
    CHECK_OK(gdn_ledger_head_sign(&h, test_log_id, 102, root, 6000, co.sk));
    CHECK_EQ(gdn_ledger_store_put_head(s, NULL, &h), GDN_EINVAL); /* too big */
    CHECK_OK(head_of(&h, gdn_ledger_store_tree(s), 50, 6000, &co));
    CHECK_EQ(gdn_ledger_store_put_head(s, NULL, &h), GDN_EINVAL); /* goes back */
    CHECK_OK(head_of(&h, gdn_ledger_store_tree(s), 101, 6000, &co));
    h.root[0] ^= 1;
    CHECK_EQ(gdn_ledger_store_put_head(s, NULL, &h), GDN_ECRYPTO);
    gdn_ledger_store_close(s);

    CHECK_OK(gdn_ledger_store_open(&s, path, test_log_id));
    CHECK_EQ(gdn_ledger_store_size(s), 100);
    CHECK_EQ(gdn_ledger_store_head_count(s), 4);
    CHECK_OK(gdn_ledger_tree_root(root2, gdn_ledger_store_tree(s), 100));
    CHECK(memcmp(root, root2, 32) == 0);
    CHECK_OK(gdn_ledger_store_head(s, &h, 3));
    CHECK(h.size == 100 && memcmp(h.root, root, 32) == 0);
    CHECK_OK(gdn_ledger_store_head(s, &h2, 1));
    CHECK_EQ(h2.size, 50);
    CHECK_EQ(gdn_ledger_store_head(s, &h2, 4), GDN_ERANGE);
    /* Entries read back, and a proof a client can check against a head. */
    CHECK_OK(gdn_ledger_store_entry(s, &e, 42));
    CHECK_OK(encode_sample(&b, 42));
    CHECK(e.len == b.len && memcmp(e.data, b.data, b.len) == 0);
    CHECK_OK(gdn_ledger_tree_prove_inclusion(&p, gdn_ledger_store_tree(s), 42, h.size));
    gdn_ledger_hash_leaf(root2, e.data, e.len);
    CHECK_OK(gdn_ledger_verify_inclusion(root2, 42, h.size, &p, h.root));
    CHECK_EQ(gdn_ledger_store_entry(s, &e, 100), GDN_ERANGE);
    gdn_ledger_store_close(s);
    {
        uint8_t other[32] = {1};
        CHECK_EQ(gdn_ledger_store_open(&s, path, other), GDN_EINVAL);
        CHECK_OK(gdn_ledger_store_open(&s, path, NULL));
        CHECK(memcmp(gdn_ledger_store_log_id(s), test_log_id, 32) == 0);
        gdn_ledger_store_close(s);
    }
    gdn_buf_free(&b);
    gdn_buf_free(&e);
    wipe_keys(&co);
    wipe_keys(&cl);
}

GDN_TEST(ledger_audit_detects_tampering)
{
    char path[600], copy[600];
    keys co, cl, other;
    gdn_ledger_store *s = NULL;
    gdn_ledger_audit_report r;
    gdn_ledger_head held, forged;
    gdn_buf b = {0};

    CHECK_OK(make_keys(&co, 30));
    CHECK_OK(make_keys(&cl, 31));
    CHECK_OK(make_keys(&other, 32));
    db_path(path, sizeof path, "audit.db");
    db_path(copy, sizeof copy, "audit-copy.db");
    remove_db(path);
    CHECK_OK(gdn_ledger_store_open(&s, path, test_log_id));
    CHECK_OK(fill(s, 0, 500, 100, &co, &cl));
    CHECK_OK(gdn_ledger_store_head(s, &held, 2)); /* a client kept size 300 */
    gdn_ledger_store_close(s);

    /* The honest ledger passes, with its totals. */
    CHECK_OK(gdn_ledger_audit_file(&r, path, co.pk, &held, 1));
    CHECK(r.ok && r.entries == 500 && r.heads == 5 && r.cosigs == 5);
    CHECK(r.rounds == 500 && r.held_heads == 1 && r.problem[0] == '\0');
    CHECK_EQ(r.eps_clients, 12);
    {
        double total = 0;
        for (size_t i = 0; i < r.eps_clients; i++)
            total += r.eps_total[i].eps;
        CHECK_NEAR(total, 500 * 0.15, 1e-9);
    }
    gdn_ledger_audit_report_free(&r);
    CHECK_EQ(gdn_ledger_audit_file(&r, path, other.pk, NULL, 0), GDN_ECRYPTO);
    CHECK(!r.ok && strstr(r.problem, "head 0 (size 100)") != NULL);
    gdn_ledger_audit_report_free(&r);

    /* 1. A rewritten entry, with its leaf hash recomputed to match. */
    CHECK_OK(copy_file(path, copy));
    CHECK_OK(encode_sample(&b, 9999));
    CHECK_OK(rewrite_entry(copy, 123, &b, 1));
    CHECK_EQ(gdn_ledger_audit_file(&r, copy, co.pk, NULL, 0), GDN_ECRYPTO);
    CHECK_MSG(strstr(r.problem, "head 1 (size 200)") &&
                  strstr(r.problem, "rewritten"), "%s", r.problem);
    gdn_ledger_audit_report_free(&r);
    CHECK_EQ(gdn_ledger_store_open(&s, copy, NULL), GDN_ECRYPTO);
    /* ... and without: the stored leaf hash gives it away. */
    CHECK_OK(copy_file(path, copy));
    CHECK_OK(rewrite_entry(copy, 123, &b, 0));
    CHECK_EQ(gdn_ledger_audit_file(&r, copy, co.pk, NULL, 0), GDN_ECRYPTO);
    CHECK_MSG(strstr(r.problem, "entry 123") && strstr(r.problem, "leaf hash"),
              "%s", r.problem);
    gdn_ledger_audit_report_free(&r);
    CHECK_EQ(gdn_ledger_store_open(&s, copy, NULL), GDN_ECRYPTO);
    CHECK(strstr(gdn_errmsg(), "entry 123") != NULL);
    /* ... and garbage that does not decode. */
    CHECK_OK(copy_file(path, copy));
    b.data[0] = 7;
    CHECK_OK(rewrite_entry(copy, 77, &b, 1));
    CHECK_EQ(gdn_ledger_audit_file(&r, copy, co.pk, NULL, 0), GDN_EFORMAT);
    CHECK_MSG(strstr(r.problem, "entry 77 does not decode"), "%s", r.problem);
    gdn_ledger_audit_report_free(&r);

    /* 2. A forked head: the coordinator signs another root for size 300. */
    CHECK_OK(copy_file(path, copy));
    {
        uint8_t root[32], enc[GDN_LEDGER_HEAD_BYTES];
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        leaf_for(root, 77);
        CHECK_OK(gdn_ledger_head_sign(&forged, test_log_id, 300, root, 1299, co.sk));
        gdn_ledger_head_encode(enc, &forged);
        CHECK(sqlite3_open(copy, &db) == SQLITE_OK);
        CHECK(sqlite3_prepare_v2(db, "UPDATE heads SET head=? WHERE id=2", -1, &st,
                                 NULL) == SQLITE_OK);
        sqlite3_bind_blob(st, 1, enc, sizeof enc, SQLITE_STATIC);
        CHECK(sqlite3_step(st) == SQLITE_DONE);
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    CHECK_EQ(gdn_ledger_audit_file(&r, copy, co.pk, NULL, 0), GDN_ECRYPTO);
    CHECK_MSG(strstr(r.problem, "head 2 (size 300)") && strstr(r.problem, "forked"),
              "%s", r.problem);
    gdn_ledger_audit_report_free(&r);
    {
        gdn_ledger_verdict v;
        CHECK_EQ(gdn_ledger_head_check(&v, &held, &forged, NULL, co.pk), GDN_ECRYPTO);
        CHECK(v == GDN_LEDGER_FORK);
    }
    /* A head whose bytes were altered: its signature fails. */
    CHECK_OK(copy_file(path, copy));
    CHECK_OK(sql(copy, "UPDATE heads SET head = CAST(substr(head, 1, 41) ||"
                       " x'ffffffff' || substr(head, 46) AS BLOB) WHERE id = 3"));
    CHECK_MSG(gdn_ledger_audit_file(&r, copy, co.pk, NULL, 0) == GDN_ECRYPTO &&
                  strstr(r.problem, "head 3 (size 400)") &&
                  strstr(r.problem, "signature"), "%s", r.problem);
    gdn_ledger_audit_report_free(&r);
    /* A co-signature altered. */
    CHECK_OK(copy_file(path, copy));
    CHECK_OK(sql(copy, "UPDATE cosigs SET cosig = CAST(substr(cosig, 1, 60) ||"
                       " zeroblob(4) || substr(cosig, 65) AS BLOB) WHERE head_id = 4"));
    CHECK_EQ(gdn_ledger_audit_file(&r, copy, co.pk, NULL, 0), GDN_ECRYPTO);
    CHECK_MSG(strstr(r.problem, "co-signature"), "%s", r.problem);
    gdn_ledger_audit_report_free(&r);

    /* 3. A truncated ledger: entries after 450 removed. */
    CHECK_OK(copy_file(path, copy));
    CHECK_OK(sql(copy, "DELETE FROM entries WHERE idx >= 450"));
    CHECK_EQ(gdn_ledger_audit_file(&r, copy, co.pk, NULL, 0), GDN_ECRYPTO);
    CHECK_MSG(strstr(r.problem, "head 4 (size 500)") && strstr(r.problem, "truncated"),
              "%s", r.problem);
    CHECK_EQ(r.entries, 450);
    gdn_ledger_audit_report_free(&r);
    /* Truncated with its heads too: consistent on its own, caught by the
     * head a client kept. */
    CHECK_OK(copy_file(path, copy));
    CHECK_OK(sql(copy, "DELETE FROM entries WHERE idx >= 250;"
                       "DELETE FROM cosigs WHERE head_id >= 2;"
                       "DELETE FROM heads WHERE id >= 2;"));
    CHECK_OK(gdn_ledger_audit_file(&r, copy, co.pk, NULL, 0));
    gdn_ledger_audit_report_free(&r);
    CHECK_EQ(gdn_ledger_audit_file(&r, copy, co.pk, &held, 1), GDN_ECRYPTO);
    CHECK_MSG(strstr(r.problem, "held head 0 (size 300)") &&
                  strstr(r.problem, "truncated"), "%s", r.problem);
    gdn_ledger_audit_report_free(&r);
    /* A missing entry in the middle. */
    CHECK_OK(copy_file(path, copy));
    CHECK_OK(sql(copy, "DELETE FROM entries WHERE idx = 250"));
    CHECK_EQ(gdn_ledger_audit_file(&r, copy, co.pk, NULL, 0), GDN_EFORMAT);
    CHECK_MSG(strstr(r.problem, "entry 250 is missing"), "%s", r.problem);
    gdn_ledger_audit_report_free(&r);
    /* Rewritten history whose heads were all re-signed: self-consistent,
     * but the held head catches it. */
    CHECK_OK(copy_file(path, copy));
    CHECK_OK(encode_sample(&b, 4242));
    CHECK_OK(rewrite_entry(copy, 5, &b, 1));
    CHECK_OK(sql(copy, "DELETE FROM cosigs; DELETE FROM heads;"));
    CHECK_OK(gdn_ledger_store_open(&s, copy, NULL));
    CHECK_OK(head_of(&forged, gdn_ledger_store_tree(s), 500, 9000, &co));
    CHECK_OK(gdn_ledger_store_put_head(s, NULL, &forged));
    CHECK_OK(gdn_ledger_store_commit(s));
    gdn_ledger_store_close(s);
    CHECK_OK(gdn_ledger_audit_file(&r, copy, co.pk, NULL, 0));
    gdn_ledger_audit_report_free(&r);
    CHECK_EQ(gdn_ledger_audit_file(&r, copy, co.pk, &held, 1), GDN_ECRYPTO);
    CHECK_MSG(strstr(r.problem, "held head 0 (size 300)") &&
                  strstr(r.problem, "rewritten"), "%s", r.problem);
    gdn_ledger_audit_report_free(&r);

    CHECK_EQ(gdn_ledger_audit_file(&r, "/nonexistent/ledger.db", co.pk, NULL, 0),
             GDN_EIO);
    CHECK(r.problem[0] != '\0');
    gdn_buf_free(&b);
    wipe_keys(&co);
    wipe_keys(&cl);
    wipe_keys(&other);
}

/* The in-memory auditor (what simulate uses without a file). */
GDN_TEST(ledger_auditor_in_memory)
{
    keys co;
    gdn_ledger_auditor *a = NULL;
    gdn_ledger_tree *t = NULL;
    gdn_ledger_head h;
    gdn_ledger_audit_report r;
    gdn_buf b = {0};
    uint8_t root[32];

    CHECK_OK(make_keys(&co, 40));
    CHECK_OK(gdn_ledger_tree_new(&t));
    CHECK_OK(gdn_ledger_auditor_new(&a, test_log_id, co.pk));
    CHECK_OK(head_of(&h, t, 0, 1, &co));
    CHECK_OK(gdn_ledger_auditor_add_head(a, &h, 0));
    for (uint64_t i = 0; i < 77; i++) {
        CHECK_OK(encode_sample(&b, i));
        CHECK_OK(gdn_ledger_tree_append_data(t, b.data, b.len));
        CHECK_OK(gdn_ledger_auditor_add_entry(a, b.data, b.len, NULL));
        if (i % 10 == 3) {
            CHECK_OK(head_of(&h, t, i + 1, 10 + i, &co));
            CHECK_OK(gdn_ledger_auditor_add_head(a, &h, 0));
        }
    }
    CHECK_OK(gdn_ledger_auditor_finish(a, &r));
    CHECK(r.ok && r.entries == 77 && r.heads == 9);
    CHECK_OK(gdn_ledger_tree_root(root, t, 77));
    CHECK(memcmp(root, r.root, 32) == 0);
    gdn_ledger_audit_report_free(&r);
    /* After a problem, every call reports the first one. */
    CHECK_OK(head_of(&h, t, 77, 5, &co)); /* earlier than the last head */
    CHECK_EQ(gdn_ledger_auditor_add_head(a, &h, 0), GDN_ECRYPTO);
    CHECK(strstr(gdn_errmsg(), "dated 5") != NULL);
    CHECK_EQ(gdn_ledger_auditor_add_entry(a, b.data, b.len, NULL), GDN_ECRYPTO);
    CHECK(strstr(gdn_errmsg(), "dated 5") != NULL);
    CHECK_EQ(gdn_ledger_auditor_finish(a, &r), GDN_ECRYPTO);
    CHECK(!r.ok && strstr(r.problem, "head 9 (size 77)") != NULL);
    gdn_ledger_audit_report_free(&r);
    gdn_ledger_auditor_free(a);
    gdn_ledger_tree_free(t);
    gdn_buf_free(&b);
    wipe_keys(&co);
}

/* kill -9 while appending: the reopened ledger holds a prefix of what was
 * appended, made of whole committed batches, and audits clean. */
#define CRASH_BATCH 7

static void crash_child(const char *path, int ready_fd)
{
    gdn_ledger_store *s = NULL;
    keys co, cl;
    uint64_t n = 0;

    if (make_keys(&co, 50) || make_keys(&cl, 51) ||
        gdn_ledger_store_open(&s, path, test_log_id))
        _exit(3);
    for (;;) {
        if (fill(s, n, n + CRASH_BATCH, CRASH_BATCH, &co, &cl))
            _exit(4);
        n += CRASH_BATCH;
        if (n == 20 * CRASH_BATCH) {
            char c = 'r';
            if (write(ready_fd, &c, 1) != 1)
                _exit(5);
        }
    }
}

GDN_TEST(ledger_store_survives_kill9)
{
    char path[600];
    int fds[2];
    pid_t pid;
    char c;
    int status, killed;
    ssize_t ready;
    keys co;
    gdn_ledger_store *s = NULL;
    gdn_ledger_audit_report r;
    gdn_buf b = {0}, e = {0};
    uint64_t n, heads;
    struct timespec pause = {0, 40 * 1000 * 1000};

    db_path(path, sizeof path, "crash.db");
    remove_db(path);
    CHECK(pipe(fds) == 0);
    fflush(NULL);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        crash_child(path, fds[1]);
    }
    close(fds[1]);
    ready = read(fds[0], &c, 1);
    close(fds[0]);
    if (ready == 1)
        nanosleep(&pause, NULL);
    /* Killed whatever happened, so that no child outlives the test. */
    killed = kill(pid, SIGKILL);
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK_MSG(ready == 1, "child died before appending (status %d)", status);
    CHECK(killed == 0);
    CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
              "child exited with status %d", status);

    CHECK_OK(gdn_ledger_store_open(&s, path, test_log_id));
    n = gdn_ledger_store_size(s);
    CHECK_MSG(n >= 20 * CRASH_BATCH && n % CRASH_BATCH == 0,
              "%llu entries after the crash", (ull)n);
    CHECK_EQ(gdn_ledger_store_head_count(s), n / CRASH_BATCH);
    for (uint64_t i = 0; i < n; i++) {
        e.len = 0;
        CHECK_OK(gdn_ledger_store_entry(s, &e, i));
        CHECK_OK(encode_sample(&b, i));
        CHECK_MSG(e.len == b.len && memcmp(e.data, b.data, b.len) == 0,
                  "entry %llu differs", (ull)i);
    }
    /* And it keeps going. */
    CHECK_OK(make_keys(&co, 50));
    {
        keys cl;
        CHECK_OK(make_keys(&cl, 51));
        CHECK_OK(fill(s, n, n + 3, 3, &co, &cl));
        wipe_keys(&cl);
    }
    heads = gdn_ledger_store_head_count(s);
    CHECK(heads > n / CRASH_BATCH);
    gdn_ledger_store_close(s);
    CHECK_OK(gdn_ledger_audit_file(&r, path, co.pk, NULL, 0));
    CHECK_MSG(r.ok && r.entries == n + 3 && r.heads == heads && r.cosigs == heads,
              "%llu entries, %llu heads: %s", (ull)r.entries, (ull)r.heads,
              r.problem);
    gdn_ledger_audit_report_free(&r);
    gdn_buf_free(&b);
    gdn_buf_free(&e);
    wipe_keys(&co);
}
