/* Ledger benchmarks, one JSON line each (bench/README.md):
 *
 *   ledger_append   durable appends per second into the SQLite store
 *                   (WAL, synchronous=FULL), one commit and one signed head
 *                   per batch, for several batch sizes
 *   ledger_open     reopening the 10^6-entry ledger (reads every entry,
 *                   checks its leaf hash, rebuilds the tree)
 *   ledger_audit    gdn_ledger_audit_file on that ledger: every entry
 *                   decoded and hashed, the tree recomputed, every head's
 *                   root and signature and every co-signature checked
 *   ledger_prove_* / ledger_verify_*
 *                   inclusion and consistency proofs per second on the
 *                   10^6-leaf tree (random leaves and sizes)
 *
 *   build/bench/ledger [--entries N] [--dir DIR] [--keep]
 *
 * Entries are round records with 8 clients and their ε (719 bytes). Goals
 * (issue 9): >= 50,000 appends/s, audit of 10^6 entries < 5 s on one core.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "guardian/core.h"
#include "guardian/ledger.h"

#define COHORT 8
#define CLIENT_POOL 1000

static const uint8_t log_id[32] = {'b', 'e', 'n', 'c', 'h'};

typedef struct keys {
    uint8_t pk[32], sk[64];
} keys;

static int entry(gdn_buf *out, uint64_t i)
{
    uint8_t cohort[COHORT * 32];
    gdn_ledger_eps eps[COHORT];
    gdn_ledger_entry e = {0};

    e.kind = GDN_LEDGER_KIND_ROUND;
    e.aggregation = GDN_LEDGER_AGG_SECAGG;
    e.round = i;
    memset(e.task_hash, 0x5a, 32);
    gdn_ledger_hash_leaf(e.model_before, &i, sizeof i);
    memcpy(e.model_after, e.model_before, 32);
    e.model_after[0] ^= 1;
    e.noise_multiplier = 1.1;
    e.clip = 1.0;
    e.delta = 1e-5;
    for (int c = 0; c < COHORT; c++) {
        uint64_t id = (i * 7 + (uint64_t)c * 101) % CLIENT_POOL;
        memset(cohort + 32 * c, 0, 32);
        gdn_store_le64(cohort + 32 * c, id);
    }
    gdn_ledger_sort_cohort(cohort, COHORT);
    for (int c = 0; c < COHORT; c++) {
        memcpy(eps[c].client, cohort + 32 * c, 32);
        eps[c].eps = 0.01;
    }
    e.cohort = cohort;
    e.cohort_len = COHORT;
    e.eps = eps;
    e.eps_len = COHORT;
    out->len = 0;
    return gdn_ledger_entry_encode(out, &e);
}

static void remove_db(const char *path)
{
    char p[600];

    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

/* Appends n entries, committing with a signed, co-signed head every batch. */
static int fill(const char *path, uint64_t n, uint64_t batch, const keys *co,
                const keys *cl, double *seconds, size_t *entry_bytes)
{
    gdn_ledger_store *s = NULL;
    gdn_buf b = {0};
    gdn_ledger_head h;
    gdn_ledger_cosig c;
    uint8_t root[32];
    uint64_t id;
    double t0;
    int rc;

    remove_db(path);
    if ((rc = gdn_ledger_store_open(&s, path, log_id)))
        return rc;
    t0 = gdn_now();
    for (uint64_t i = 0; i < n && !rc; i++) {
        if ((rc = entry(&b, i)) ||
            (rc = gdn_ledger_store_append(s, NULL, b.data, b.len)))
            break;
        if ((i + 1) % batch == 0 || i + 1 == n) {
            if ((rc = gdn_ledger_tree_root(root, gdn_ledger_store_tree(s), i + 1)) ||
                (rc = gdn_ledger_head_sign(&h, log_id, i + 1, root, i, co->sk)) ||
                (rc = gdn_ledger_store_put_head(s, &id, &h)) ||
                (rc = gdn_ledger_cosign(&c, &h, cl->sk)) ||
                (rc = gdn_ledger_store_put_cosig(s, id, &c)) ||
                (rc = gdn_ledger_store_commit(s)))
                break;
        }
    }
    *seconds = gdn_now() - t0;
    *entry_bytes = b.len;
    gdn_ledger_store_close(s);
    gdn_buf_free(&b);
    return rc;
}

static int bench_append(const char *dir, uint64_t n, uint64_t batch,
                        const keys *co, const keys *cl, const char *name)
{
    char path[512];
    double sec;
    size_t bytes;
    int rc;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    if ((rc = fill(path, n, batch, co, cl, &sec, &bytes)))
        return rc;
    printf("{\"bench\":\"ledger_append\",\"entries\":%llu,\"batch\":%llu,"
           "\"entry_bytes\":%zu,\"synchronous\":\"FULL\",\"seconds\":%.3f,"
           "\"appends_per_s\":%.0f,\"goal_appends_per_s\":50000}\n",
           (unsigned long long)n, (unsigned long long)batch, bytes, sec,
           (double)n / sec);
    fflush(stdout);
    return 0;
}

static int bench_proofs(const gdn_ledger_tree *t, uint64_t n)
{
    const int reps = 200000;
    gdn_rng rng;
    gdn_ledger_proof *p = malloc((size_t)reps / 100 * sizeof *p);
    uint64_t *idx = malloc((size_t)reps * sizeof *idx), *sz = malloc((size_t)reps * sizeof *sz);
    uint8_t root[32], leaf[32];
    double t0, gen, ver;
    int rc = 0;

    if (!p || !idx || !sz) {
        free(p), free(idx), free(sz);
        return GDN_ENOMEM;
    }
    gdn_rng_init_seed(&rng, 1);
    for (int i = 0; i < reps; i++)
        idx[i] = gdn_rng_uniform(&rng, n);
    if ((rc = gdn_ledger_tree_root(root, t, n)))
        goto out;
    /* Inclusion: generation of all, verification of every 100th kept. */
    t0 = gdn_now();
    for (int i = 0; i < reps && !rc; i++)
        rc = gdn_ledger_tree_prove_inclusion(&p[i % (reps / 100)], t, idx[i], n);
    gen = gdn_now() - t0;
    if (rc)
        goto out;
    /* p[k] now holds the proof of leaf idx[reps - K + k]: verify those
     * over and over. */
    t0 = gdn_now();
    for (int i = 0; i < reps && !rc; i++) {
        uint64_t j = idx[reps - reps / 100 + i % (reps / 100)];
        if ((rc = gdn_ledger_tree_leaf(leaf, t, j)) == 0)
            rc = gdn_ledger_verify_inclusion(leaf, j, n, &p[i % (reps / 100)],
                                             root);
    }
    ver = gdn_now() - t0;
    if (rc)
        goto out;
    printf("{\"bench\":\"ledger_prove_inclusion\",\"tree\":%llu,\"proofs\":%d,"
           "\"per_s\":%.0f}\n", (unsigned long long)n, reps, reps / gen);
    printf("{\"bench\":\"ledger_verify_inclusion\",\"tree\":%llu,\"proofs\":%d,"
           "\"per_s\":%.0f}\n", (unsigned long long)n, reps, reps / ver);

    /* Consistency between random sizes m < n' <= n. */
    for (int i = 0; i < reps; i++) {
        sz[i] = 2 + gdn_rng_uniform(&rng, n - 1);
        idx[i] = 1 + gdn_rng_uniform(&rng, sz[i] - 1);
    }
    t0 = gdn_now();
    for (int i = 0; i < reps && !rc; i++)
        rc = gdn_ledger_tree_prove_consistency(&p[i % (reps / 100)], t, idx[i],
                                               sz[i]);
    gen = gdn_now() - t0;
    if (rc)
        goto out;
    {
        /* The last reps/100 proofs are the ones kept: verify them over and
         * over (roots computed beforehand). */
        int keep = reps / 100;
        uint8_t (*r1)[32] = malloc((size_t)keep * 64);
        uint8_t (*r2)[32] = r1 ? r1 + keep : NULL;
        if (!r1) {
            rc = GDN_ENOMEM;
            goto out;
        }
        for (int k = 0; k < keep && !rc; k++) {
            int i = reps - keep + k;
            if ((rc = gdn_ledger_tree_root(r1[k], t, idx[i])) == 0)
                rc = gdn_ledger_tree_root(r2[k], t, sz[i]);
        }
        t0 = gdn_now();
        for (int i = 0; i < reps && !rc; i++) {
            int k = i % keep, j = reps - keep + k;
            rc = gdn_ledger_verify_consistency(idx[j], sz[j], r1[k], r2[k], &p[k]);
        }
        ver = gdn_now() - t0;
        free(r1);
    }
    if (rc)
        goto out;
    printf("{\"bench\":\"ledger_prove_consistency\",\"tree\":%llu,\"proofs\":%d,"
           "\"per_s\":%.0f}\n", (unsigned long long)n, reps, reps / gen);
    printf("{\"bench\":\"ledger_verify_consistency\",\"tree\":%llu,\"proofs\":%d,"
           "\"per_s\":%.0f}\n", (unsigned long long)n, reps, reps / ver);
    fflush(stdout);
out:
    free(p);
    free(idx);
    free(sz);
    return rc;
}

int main(int argc, char **argv)
{
    uint64_t n = 1000000;
    const char *dir_arg = NULL;
    char dir[512], path[600];
    int keep = 0, rc;
    keys co, cl;
    gdn_rng rng;
    gdn_ledger_store *s = NULL;
    gdn_ledger_audit_report r;
    double t0, sec;
    size_t bytes;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--entries") == 0 && i + 1 < argc) {
            char *end;
            n = strtoull(argv[++i], &end, 10);
            if (*end || n < 2) {
                fprintf(stderr, "--entries: a number >= 2\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir_arg = argv[++i];
        } else if (strcmp(argv[i], "--keep") == 0) {
            keep = 1;
        } else {
            fprintf(stderr, "usage: ledger [--entries N] [--dir DIR] [--keep]\n");
            return 2;
        }
    }
    if (dir_arg) {
        snprintf(dir, sizeof dir, "%s", dir_arg);
    } else {
        snprintf(dir, sizeof dir, "/tmp/gdn-bench-ledger-XXXXXX");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            return 1;
        }
    }
    gdn_rng_init_seed(&rng, 42);
    if ((rc = gdn_ledger_keypair(co.pk, co.sk, &rng)) ||
        (rc = gdn_ledger_keypair(cl.pk, cl.sk, &rng)))
        goto fail;

    if ((rc = bench_append(dir, 300, 1, &co, &cl, "batch1.db")) ||
        (rc = bench_append(dir, 100000, 100, &co, &cl, "batch100.db")) ||
        (rc = bench_append(dir, 200000, 10000, &co, &cl, "batch10000.db")))
        goto fail;

    /* The large ledger: commits (and heads) every 1000 entries. */
    snprintf(path, sizeof path, "%s/ledger.db", dir);
    if ((rc = fill(path, n, 1000, &co, &cl, &sec, &bytes)))
        goto fail;
    printf("{\"bench\":\"ledger_append\",\"entries\":%llu,\"batch\":1000,"
           "\"entry_bytes\":%zu,\"synchronous\":\"FULL\",\"seconds\":%.3f,"
           "\"appends_per_s\":%.0f,\"goal_appends_per_s\":50000}\n",
           (unsigned long long)n, bytes, sec, (double)n / sec);
    fflush(stdout);

    t0 = gdn_now();
    if ((rc = gdn_ledger_store_open(&s, path, log_id)))
        goto fail;
    printf("{\"bench\":\"ledger_open\",\"entries\":%llu,\"seconds\":%.3f}\n",
           (unsigned long long)gdn_ledger_store_size(s), gdn_now() - t0);
    fflush(stdout);
    if ((rc = bench_proofs(gdn_ledger_store_tree(s), gdn_ledger_store_size(s))))
        goto fail;
    gdn_ledger_store_close(s);
    s = NULL;

    t0 = gdn_now();
    rc = gdn_ledger_audit_file(&r, path, co.pk, NULL, 0);
    sec = gdn_now() - t0;
    if (rc)
        goto fail;
    printf("{\"bench\":\"ledger_audit\",\"entries\":%llu,\"heads\":%llu,"
           "\"cosigs\":%llu,\"clients\":%zu,\"seconds\":%.3f,"
           "\"entries_per_s\":%.0f,\"goal_seconds\":5}\n",
           (unsigned long long)r.entries, (unsigned long long)r.heads,
           (unsigned long long)r.cosigs, r.eps_clients, sec,
           (double)r.entries / sec);
    gdn_ledger_audit_report_free(&r);
    rc = 0;
fail:
    if (rc)
        fprintf(stderr, "ledger bench: %s: %s\n", gdn_strerror(rc), gdn_errmsg());
    gdn_ledger_store_close(s);
    sodium_memzero(co.sk, sizeof co.sk);
    sodium_memzero(cl.sk, sizeof cl.sk);
    if (!keep) {
        const char *names[] = {"batch1.db", "batch100.db", "batch10000.db",
                               "ledger.db"};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            remove_db(path);
        }
        if (!dir_arg)
            rmdir(dir);
    }
    return rc ? 1 : 0;
}
