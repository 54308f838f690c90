/* The run's ledger: every finished round of `guardian simulate` becomes an
 * entry of DIR/ledger.db (ledger/, RFC 9162 log), committed with a head the
 * coordinator signs; `guardian audit` verifies it all afterwards. The
 * coordinator's key lives in DIR/coordinator.key (0600), its public half in
 * DIR/coordinator.pub. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/cli.h"
#include "guardian/ledger.h"

struct cli_ledger {
    gdn_ledger_store *store;
    uint8_t pk[GDN_LEDGER_PUBLIC_KEY_BYTES];
    uint8_t sk[GDN_LEDGER_SECRET_KEY_BYTES];
    uint8_t task[32];   /* hash of the configuration the rounds ran under */
    uint8_t log_id[32]; /* random, fixed when the ledger is created */
    /* The last head each simulated data owner verified and co-signed
     * (size 0: none yet; after a resume, trust on first use again). */
    gdn_ledger_head *held;
    size_t clients;
};

/* Loads the coordinator key of dir, or makes one (a new run). */
static int coordinator_key(cli_ledger *l, const char *dir)
{
    char path[4200];
    gdn_buf b = {0};
    gdn_rng rng;
    int rc;

    snprintf(path, sizeof path, "%s/coordinator.key", dir);
    if (gdn_file_read(&b, path, 1024) == 0) {
        rc = b.len == sizeof l->sk ? 0
                                   : gdn_error(GDN_EFORMAT, "%s: not a coordinator key", path);
        if (!rc) {
            memcpy(l->sk, b.data, sizeof l->sk);
            crypto_sign_ed25519_sk_to_pk(l->pk, l->sk);
        }
        sodium_memzero(b.data, b.len);
        gdn_buf_free(&b);
        return rc;
    }
    gdn_error_clear();
    if ((rc = gdn_rng_init_system(&rng)) ||
        (rc = gdn_ledger_keypair(l->pk, l->sk, &rng)) ||
        (rc = gdn_file_write_atomic_mode(path, l->sk, sizeof l->sk, 0600)))
        return rc;
    gdn_rng_wipe(&rng);
    snprintf(path, sizeof path, "%s/coordinator.pub", dir);
    return gdn_file_write_atomic(path, l->pk, sizeof l->pk);
}

int cli_ledger_open(cli_ledger **out, const char *dir, const void *config, size_t len,
                    size_t clients, const uint8_t *sk)
{
    cli_ledger *l = calloc(1, sizeof *l);
    char path[4200];
    int rc;

    *out = NULL;
    if (!l || !(l->held = calloc(clients ? clients : 1, sizeof *l->held))) {
        free(l);
        return gdn_error(GDN_ENOMEM, "out of memory");
    }
    l->clients = clients;
    crypto_generichash(l->task, sizeof l->task, config, len, NULL, 0);
    snprintf(path, sizeof path, "%s/ledger.db", dir);
    randombytes_buf(l->log_id, sizeof l->log_id); /* used only if the file is new */
    if (sk) { /* a networked coordinator signs with its own identity */
        memcpy(l->sk, sk, sizeof l->sk);
        crypto_sign_ed25519_sk_to_pk(l->pk, l->sk);
        rc = 0;
    } else {
        rc = coordinator_key(l, dir);
    }
    if (rc || (rc = gdn_ledger_store_open(&l->store, path,
                                          access(path, F_OK) == 0 ? NULL : l->log_id))) {
        cli_ledger_close(l);
        return rc;
    }
    memcpy(l->log_id, gdn_ledger_store_log_id(l->store), sizeof l->log_id);
    *out = l;
    return 0;
}

void cli_ledger_coordinator(const cli_ledger *l, uint8_t fingerprint[32])
{
    crypto_hash_sha256(fingerprint, l->pk, sizeof l->pk);
}

void cli_ledger_close(cli_ledger *l)
{
    if (!l)
        return;
    if (l->store && gdn_ledger_store_commit(l->store)) /* staged co-signatures */
        gdn_ledger_store_rollback(l->store);
    gdn_ledger_store_close(l->store);
    sodium_memzero(l->sk, sizeof l->sk);
    free(l->held);
    free(l);
}

/* A simulated data owner's Ed25519 key pair, from BLAKE2b("guardian
 * simulated client" || le32(index)); its public key is its identity in the
 * ledger. (A simulation's keys are derivable by anyone; networked owners
 * have their own.) */
static void client_keys(uint8_t pk[32], uint8_t sk[64], uint32_t index)
{
    static const char label[] = "guardian simulated client";
    uint8_t msg[sizeof label - 1 + 4], seed[32];

    memcpy(msg, label, sizeof label - 1);
    gdn_store_le32(msg + sizeof label - 1, index);
    crypto_generichash(seed, sizeof seed, msg, sizeof msg, NULL, 0);
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_memzero(seed, sizeof seed);
}

static void client_id(uint8_t out[32], uint32_t index)
{
    uint8_t sk[64];

    client_keys(out, sk, index);
    sodium_memzero(sk, sizeof sk);
}

/* Each owner of the cohort checks the new head against the one it holds
 * (consistency proof, signature: split-view detection) and co-signs it. */
static int cosign(cli_ledger *l, const gdn_ledger_head *head, uint64_t head_id,
                  const uint32_t *cohort, size_t n)
{
    int rc = 0;

    for (size_t i = 0; i < n && !rc; i++) {
        gdn_ledger_head *held = cohort[i] < l->clients ? &l->held[cohort[i]] : NULL;
        const gdn_ledger_head *old = held && held->size ? held : NULL;
        gdn_ledger_proof proof;
        gdn_ledger_cosig cosig;
        gdn_ledger_verdict verdict;
        uint8_t pk[32], sk[64];
        gdn_ledger_head keep;

        if (!held)
            return gdn_error(GDN_EINTERNAL, "client %u outside the federation", cohort[i]);
        if (old && old->size < head->size &&
            (rc = gdn_ledger_tree_prove_consistency(&proof, gdn_ledger_store_tree(l->store),
                                                    old->size, head->size)))
            break;
        client_keys(pk, sk, cohort[i]);
        rc = gdn_ledger_client_update(&cosig, &keep, &verdict, old, head,
                                      old && old->size < head->size ? &proof : NULL,
                                      l->pk, sk);
        sodium_memzero(sk, sizeof sk);
        if (!rc) {
            *held = keep;
            rc = gdn_ledger_store_put_cosig(l->store, head_id, &cosig);
        }
    }
    return rc;
}

/* Encodes one entry: a round (ids = the clients whose update it holds), or
 * a refusal (ids = the owner who declined, with its reason). */
static int encode_ids(gdn_buf *out, const cli_ledger *l, const gdn_fl_config *cfg,
                      gdn_ledger_kind kind, uint32_t round, const uint8_t before[32],
                      const uint8_t after[32], uint8_t *ids, size_t n, const char *reason,
                      gdn_ledger_eps *eps, size_t neps)
{
    gdn_ledger_entry e;

    memset(&e, 0, sizeof e);
    e.kind = kind;
    e.aggregation = cfg->secagg.enabled ? GDN_LEDGER_AGG_SECAGG
                    : cfg->prio.enabled ? GDN_LEDGER_AGG_PRIO3
                    : cfg->he.enabled   ? GDN_LEDGER_AGG_HE
                                        : GDN_LEDGER_AGG_PLAIN;
    e.round = round;
    memcpy(e.task_hash, l->task, 32);
    memcpy(e.model_before, before, 32);
    memcpy(e.model_after, after, 32);
    if (cfg->dp.enabled || cfg->local.dp_clip > 0) {
        e.noise_multiplier = cfg->dp.noise;
        e.clip = cfg->dp.clip;
        e.delta = cfg->dp.delta;
    }
    gdn_ledger_sort_cohort(ids, n);
    e.cohort = ids, e.cohort_len = n;
    e.reason = reason;
    gdn_ledger_sort_eps(eps, neps);
    e.eps = eps, e.eps_len = neps;
    return gdn_ledger_entry_encode(out, &e);
}

/* The same with simulated clients named by index. */
static int encode(gdn_buf *out, const cli_ledger *l, const gdn_fl_config *cfg,
                  gdn_ledger_kind kind, uint32_t round, const uint8_t before[32],
                  const uint8_t after[32], const uint32_t *clients, size_t n,
                  const char *reason, gdn_ledger_eps *eps, size_t neps)
{
    uint8_t *ids = NULL;
    int rc;

    if (n && !(ids = malloc(n * 32)))
        return gdn_error(GDN_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        client_id(ids + 32 * i, clients[i]);
    rc = encode_ids(out, l, cfg, kind, round, before, after, ids, n, reason, eps, neps);
    free(ids);
    return rc;
}

/* Index of the entry recording round `round` (kind ROUND), searching from
 * the end; GDN_ERANGE when there is none. */
static int find_round(uint64_t *index, gdn_ledger_store *st, uint64_t round)
{
    gdn_buf b = {0};
    int rc = GDN_ERANGE;

    for (uint64_t i = gdn_ledger_store_size(st); i-- > 0;) {
        gdn_ledger_entry e;
        b.len = 0;
        if (gdn_ledger_store_entry(st, &b, i) || gdn_ledger_entry_decode(&e, b.data, b.len))
            continue;
        int hit = e.kind == GDN_LEDGER_KIND_ROUND && e.round == round;
        int past = e.kind == GDN_LEDGER_KIND_ROUND && e.round < round;
        gdn_ledger_entry_free(&e);
        if (hit) {
            *index = i;
            rc = 0;
            break;
        }
        if (past)
            break;
    }
    gdn_buf_free(&b);
    return rc ? gdn_error(rc, "the ledger has no entry for round %llu",
                          (unsigned long long)round) : 0;
}

int cli_ledger_round(cli_ledger *l, const gdn_fl_config *cfg, uint32_t round,
                     const uint8_t before[32], const uint8_t after[32],
                     const uint32_t *cohort, size_t n, const gdn_fl_refusal *refusals,
                     size_t nref, const double *eps_spent)
{
    /* ε spent this round: by each owner that trained (DP-SGD), or, for
     * client-level DP, by every owner alike (the all-zero identity). The
     * increments add up to each owner's accounted total, which audit sums. */
    gdn_ledger_eps *eps = NULL;
    size_t neps = 0;
    gdn_ledger_head head;
    gdn_buf enc = {0}, old = {0};
    uint8_t root[GDN_LEDGER_HASH_BYTES];
    uint64_t size, head_id, at;
    int rc;

    if (eps_spent && !(eps = calloc(n ? n : 1, sizeof *eps))) {
        rc = gdn_error(GDN_ENOMEM, "out of memory");
        goto out;
    }
    if (eps_spent && cfg->dp.enabled) {
        eps[0].eps = eps_spent[0];
        neps = eps_spent[0] > 0;
    } else if (eps_spent) {
        for (size_t i = 0; i < n; i++)
            if (eps_spent[i] > 0) {
                client_id(eps[neps].client, cohort[i]);
                eps[neps++].eps = eps_spent[i];
            }
    }
    if ((rc = encode(&enc, l, cfg, GDN_LEDGER_KIND_ROUND, round, before, after, cohort, n,
                     NULL, eps, neps)))
        goto out;
    if (find_round(&at, l->store, round) == 0) {
        /* A run resumed after a crash between the ledger's commit and the
         * checkpoint redoes the round bit for bit: the entry must match. */
        gdn_error_clear();
        if ((rc = gdn_ledger_store_entry(l->store, &old, at)))
            goto out;
        if (old.len != enc.len || memcmp(old.data, enc.data, enc.len) != 0)
            rc = gdn_error(GDN_ESTATE, "ledger: round %u is recorded with other "
                           "values than this run produced", round);
        goto out;
    }
    gdn_error_clear();
    /* The owners' refusals first, then the round; one commit for all. */
    for (size_t i = 0; i < nref && !rc; i++) {
        gdn_buf r = {0};
        rc = encode(&r, l, cfg, GDN_LEDGER_KIND_REFUSAL, round, before, before,
                    &refusals[i].client, 1,
                    refusals[i].reason[0] ? refusals[i].reason : "declined", NULL, 0);
        if (!rc)
            rc = gdn_ledger_store_append(l->store, NULL, r.data, r.len);
        gdn_buf_free(&r);
    }
    if (!rc)
        rc = gdn_ledger_store_append(l->store, NULL, enc.data, enc.len);
    size = gdn_ledger_store_size(l->store);
    if (rc ||
        (rc = gdn_ledger_tree_root(root, gdn_ledger_store_tree(l->store), size)) ||
        (rc = gdn_ledger_head_sign(&head, l->log_id, size, root, (uint64_t)time(NULL),
                                   l->sk)) ||
        (rc = gdn_ledger_store_put_head(l->store, &head_id, &head)) ||
        (rc = cosign(l, &head, head_id, cohort, n)) ||
        (rc = gdn_ledger_store_commit(l->store)))
        gdn_ledger_store_rollback(l->store);
out:
    free(eps);
    gdn_buf_free(&enc);
    gdn_buf_free(&old);
    return rc;
}

/* ---- A networked coordinator's ledger (guardian serve) ------------------------ */

/* Signs a head over everything staged, stores it and commits. */
static int sign_and_commit(cli_ledger *l, gdn_ledger_head *head)
{
    uint8_t root[GDN_LEDGER_HASH_BYTES];
    uint64_t size = gdn_ledger_store_size(l->store), head_id;
    int rc;

    if ((rc = gdn_ledger_tree_root(root, gdn_ledger_store_tree(l->store), size)) ||
        (rc = gdn_ledger_head_sign(head, l->log_id, size, root, (uint64_t)time(NULL), l->sk)) ||
        (rc = gdn_ledger_store_put_head(l->store, &head_id, head)) ||
        (rc = gdn_ledger_store_commit(l->store)))
        gdn_ledger_store_rollback(l->store);
    return rc;
}

int cli_ledger_append(cli_ledger *l, const gdn_fl_config *cfg, const gdn_coord_record *rec,
                      uint8_t head_out[GDN_LEDGER_HEAD_BYTES], uint64_t *size)
{
    const gdn_coord_round *r = rec->round;
    gdn_ledger_head head;
    gdn_buf enc = {0};
    uint8_t *ids = NULL;
    int rc = 0;

    /* the owners' refusals first, then the round; one commit for all */
    for (size_t i = 0; i < rec->nrefused && !rc; i++) {
        uint8_t id[32];
        memcpy(id, rec->refused[i], 32);
        enc.len = 0;
        rc = encode_ids(&enc, l, cfg, GDN_LEDGER_KIND_REFUSAL, r->round, rec->model_before,
                        rec->model_before, id, 1, rec->reasons[i], NULL, 0);
        if (!rc)
            rc = gdn_ledger_store_append(l->store, NULL, enc.data, enc.len);
    }
    if (!rc && rec->nupdates && !(ids = malloc(rec->nupdates * 32)))
        rc = gdn_error(GDN_ENOMEM, "out of memory");
    if (!rc) {
        for (size_t i = 0; i < rec->nupdates; i++)
            memcpy(ids + 32 * i, rec->updates[i], 32);
        enc.len = 0;
        rc = encode_ids(&enc, l, cfg, GDN_LEDGER_KIND_ROUND, r->round, rec->model_before,
                        r->model_sha256, ids, rec->nupdates, NULL, NULL, 0);
    }
    if (!rc)
        rc = gdn_ledger_store_append(l->store, NULL, enc.data, enc.len);
    if (rc)
        gdn_ledger_store_rollback(l->store);
    else if (!(rc = sign_and_commit(l, &head))) {
        gdn_ledger_head_encode(head_out, &head);
        *size = head.size;
    }
    free(ids);
    gdn_buf_free(&enc);
    return rc;
}

int cli_ledger_prove(cli_ledger *l, uint8_t *proof, size_t *len, uint64_t from, uint64_t to)
{
    gdn_ledger_proof p;
    int rc = gdn_ledger_tree_prove_consistency(&p, gdn_ledger_store_tree(l->store), from, to);

    if (rc)
        return rc;
    for (size_t i = 0; i < p.len; i++)
        memcpy(proof + 32 * i, p.hash[i], 32);
    *len = 32 * p.len;
    return 0;
}

int cli_ledger_add_cosig(cli_ledger *l, const uint8_t pk[32], uint64_t size,
                         const uint8_t cosig_bytes[GDN_LEDGER_COSIG_BYTES])
{
    gdn_ledger_cosig cosig;
    gdn_ledger_head head;
    uint64_t n = gdn_ledger_store_head_count(l->store);
    int rc;

    if ((rc = gdn_ledger_cosig_decode(&cosig, cosig_bytes, GDN_LEDGER_COSIG_BYTES)))
        return rc;
    if (sodium_memcmp(cosig.client, pk, 32) != 0)
        return gdn_error(GDN_ECRYPTO, "a co-signature by another key than the owner's");
    for (uint64_t id = n; id-- > 0 && n - id <= 64;) { /* the recent heads */
        if ((rc = gdn_ledger_store_head(l->store, &head, id)))
            return rc;
        if (head.size != size)
            continue;
        return gdn_ledger_store_put_cosig(l->store, id, &cosig); /* staged */
    }
    return gdn_error(GDN_ERANGE, "no recent ledger head of %llu entries",
                     (unsigned long long)size);
}

int cli_ledger_flush(cli_ledger *l)
{
    int rc = gdn_ledger_store_commit(l->store);

    if (rc)
        gdn_ledger_store_rollback(l->store);
    return rc;
}

/* ---- guardian audit ------------------------------------------------------- */

cli_opt cli_audit_opts[] = {
    {"ledger", "FILE", "the ledger to verify (a run's DIR/ledger.db)", NULL, 0},
    {"key", "FILE", "the coordinator's public key (default: coordinator.pub beside "
     "the ledger)", NULL, 0},
    {"prove-inclusion", "ROUND", "print the proof that round ROUND is in the ledger "
     "(and, with --client, that the client took part)", NULL, 0},
    {"client", "ID", "a simulated client's index, or a 64-hex-digit identity", NULL, 0},
    {"budget", "E", "fail when any data owner's recorded epsilon exceeds E", NULL, 0},
    {NULL, NULL, NULL, NULL, 0},
};

static void print_hex(const char *label, const uint8_t *h, size_t n)
{
    char hex[2 * 64 + 1];

    sodium_bin2hex(hex, sizeof hex, h, n);
    printf("  %-12s %s\n", label, hex);
}

/* --prove-inclusion ROUND [--client ID]: the RFC 9162 audit path of the
 * round's entry up to the ledger's latest signed head, checked before it is
 * printed, and the client's identity found in the entry's cohort. */
static int prove(const char *ledger, const cli_opt *opts)
{
    gdn_ledger_store *st = NULL;
    gdn_ledger_entry e;
    gdn_ledger_proof proof;
    gdn_buf data = {0};
    uint8_t leaf[32], root[32], id[32];
    const char *client = cli_str(opts, "client");
    uint64_t size, at = 0;
    long round;
    int rc, found = 0;

    memset(&e, 0, sizeof e);
    if (cli_long(opts, "prove-inclusion", 1, 0x7fffffffL, &round))
        return GDN_EINVAL;
    if (client) {
        long index;
        size_t bin_len = 0;
        if (strlen(client) == 64) {
            if (sodium_hex2bin(id, sizeof id, client, 64, NULL, &bin_len, NULL) != 0 ||
                bin_len != 32) {
                fprintf(stderr, "guardian audit: --client %s: bad hex identity\n", client);
                return GDN_EINVAL;
            }
        } else if (cli_long(opts, "client", 0, 0x7fffffffL, &index)) {
            return GDN_EINVAL;
        } else {
            client_id(id, (uint32_t)index);
        }
    }
    if ((rc = gdn_ledger_store_open(&st, ledger, NULL)))
        return cli_fail("opening the ledger", rc);
    size = gdn_ledger_store_size(st);
    if ((rc = find_round(&at, st, (uint64_t)round)) ||
        (rc = gdn_ledger_store_entry(st, &data, at)) ||
        (rc = gdn_ledger_entry_decode(&e, data.data, data.len)) ||
        (rc = gdn_ledger_tree_leaf(leaf, gdn_ledger_store_tree(st), at)) ||
        (rc = gdn_ledger_tree_root(root, gdn_ledger_store_tree(st), size)) ||
        (rc = gdn_ledger_tree_prove_inclusion(&proof, gdn_ledger_store_tree(st), at, size)) ||
        (rc = gdn_ledger_verify_inclusion(leaf, at, size, &proof, root)))
        goto out;
    for (size_t i = 0; client && i < e.cohort_len; i++)
        found |= sodium_memcmp(e.cohort + 32 * i, id, 32) == 0;
    printf("inclusion proof: round %ld is entry %llu of %llu (RFC 9162 §2.1.3)\n", round,
           (unsigned long long)at, (unsigned long long)size);
    print_hex("leaf hash", leaf, 32);
    print_hex("tree root", root, 32);
    for (size_t i = 0; i < proof.len; i++) {
        char label[32];
        snprintf(label, sizeof label, "path[%zu]", i);
        print_hex(label, proof.hash[i], 32);
    }
    print_hex("model after", e.model_after, 32);
    printf("  verified: the path leads from the entry to the root\n");
    if (client) {
        print_hex("client", id, 32);
        printf("  %s\n", found ? "the client is in this round's cohort"
                                : "the client is NOT in this round's cohort");
        rc = found ? 0 : GDN_ESTATE;
        if (!found)
            gdn_error(rc, "client not in round %ld's cohort", round);
    }
out:
    gdn_ledger_entry_free(&e);
    gdn_buf_free(&data);
    gdn_ledger_store_close(st);
    return rc && rc != GDN_ESTATE ? cli_fail("proving inclusion", rc) : rc;
}

int cli_audit(cli_opt *opts)
{
    const char *ledger = cli_str(opts, "ledger"), *key = cli_str(opts, "key");
    char keypath[4200], hex[2 * GDN_LEDGER_HASH_BYTES + 1];
    gdn_ledger_audit_report r;
    gdn_buf b = {0};
    uint8_t pk[GDN_LEDGER_PUBLIC_KEY_BYTES];
    int rc;

    memset(&r, 0, sizeof r);
    if (!ledger) {
        fprintf(stderr, "guardian audit: --ledger FILE is required\n");
        return GDN_EINVAL;
    }
    if (cli_str(opts, "prove-inclusion"))
        return prove(ledger, opts);
    if (!key) {
        const char *slash = strrchr(ledger, '/');
        int dirlen = slash ? (int)(slash - ledger) : 1;
        snprintf(keypath, sizeof keypath, "%.*s/coordinator.pub", dirlen,
                 slash ? ledger : ".");
        key = keypath;
    }
    if ((rc = gdn_file_read(&b, key, 64)) ||
        (b.len != sizeof pk && (rc = gdn_error(GDN_EFORMAT, "%s: not a public key", key)))) {
        gdn_buf_free(&b);
        return cli_fail("reading the coordinator's key", rc);
    }
    memcpy(pk, b.data, sizeof pk);
    gdn_buf_free(&b);
    rc = gdn_ledger_audit_file(&r, ledger, pk, NULL, 0);
    sodium_bin2hex(hex, sizeof hex, r.root, sizeof r.root);
    printf("ledger %s\n  entries %llu (rounds %llu, refusals %llu), signed heads %llu, "
           "co-signatures %llu\n  root %s\n", ledger, (unsigned long long)r.entries,
           (unsigned long long)r.rounds, (unsigned long long)r.refusals,
           (unsigned long long)r.heads, (unsigned long long)r.cosigs, hex);
    if (r.ok && !rc)
        printf("  every entry, proof and signature verified: OK\n");
    else
        printf("  FAILED: %s\n", r.problem[0] ? r.problem : gdn_errmsg());
    if (r.ok && !rc && r.eps_clients) {
        /* ε per data owner: the sum of its recorded per-round increments. */
        static const uint8_t everyone[32];
        double worst = 0, budget = INFINITY;
        size_t at = 0;
        for (size_t i = 0; i < r.eps_clients; i++)
            if (r.eps_total[i].eps > worst)
                worst = r.eps_total[i].eps, at = i;
        sodium_bin2hex(hex, sizeof hex, r.eps_total[at].client, 32);
        printf("  epsilon recorded for %zu data owner%s; the largest is %.6g (%s)\n",
               r.eps_clients, r.eps_clients == 1 ? "" : "s", worst,
               memcmp(r.eps_total[at].client, everyone, 32) == 0 ? "every owner alike"
                                                                 : hex);
        if (cli_str(opts, "budget") && cli_double(opts, "budget", 0, 1e9, &budget) == 0 &&
            worst > budget * (1 + 1e-9)) {
            printf("  FAILED: epsilon %.6g exceeds the budget %g\n", worst, budget);
            rc = GDN_ERANGE;
        } else if (cli_str(opts, "budget")) {
            printf("  every owner within the budget of %g: OK\n", budget);
        }
    }
    gdn_ledger_audit_report_free(&r);
    return r.ok && !rc ? 0 : (rc ? rc : GDN_ECRYPTO);
}
