/* Guardian ledger: a tamper-evident, append-only log of every round.
 *
 * The log is an RFC 9162 (Certificate Transparency v2) Merkle tree over
 * SHA-256 whose leaves are canonical binary entries (one per round event).
 * The coordinator signs tree heads (Ed25519); each client checks that a new
 * head extends the one it holds (a consistency proof), co-signs it and keeps
 * it, so a coordinator that rewrites or forks history is caught by any client
 * holding an older head. Everything here is pure (bytes in, bytes out) except
 * the SQLite store (gdn_ledger_store_*, gdn_ledger_audit_file). */
#ifndef GUARDIAN_LEDGER_H
#define GUARDIAN_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include "guardian/core.h"

#define GDN_LEDGER_HASH_BYTES 32
/* Longest proof for sizes below 2^64: 64 nodes for inclusion, 65 for
 * consistency (its first node may be the root of a subtree of size1). */
#define GDN_LEDGER_MAX_PROOF 65
#define GDN_LEDGER_PUBLIC_KEY_BYTES 32
#define GDN_LEDGER_SECRET_KEY_BYTES 64 /* libsodium's Ed25519 seed || pk */
#define GDN_LEDGER_SIGNATURE_BYTES 64

/* ---- Merkle tree hashing (RFC 9162 §2.1.1) ------------------------------ */

/* MTH({}) = SHA-256() of nothing: the root of the empty tree. */
void gdn_ledger_hash_empty(uint8_t out[GDN_LEDGER_HASH_BYTES]);
/* Leaf hash: SHA-256(0x00 || data). */
void gdn_ledger_hash_leaf(uint8_t out[GDN_LEDGER_HASH_BYTES], const void *data,
                          size_t len);
/* Interior node: SHA-256(0x01 || left || right). */
void gdn_ledger_hash_children(uint8_t out[GDN_LEDGER_HASH_BYTES],
                              const uint8_t left[GDN_LEDGER_HASH_BYTES],
                              const uint8_t right[GDN_LEDGER_HASH_BYTES]);

/* ---- Proofs (RFC 9162 §2.1.3, §2.1.4) --------------------------------------
 * A proof is a list of node hashes, lowest level first, as the RFC orders
 * them. Verifiers return 0 when the proof holds, GDN_EFORMAT when the claim
 * is malformed (index >= size, size1 > size2, size1 = 0, a proof of the
 * wrong length) and GDN_ECRYPTO when the hashes do not lead to the root(s);
 * gdn_errmsg() says which. */

typedef struct gdn_ledger_proof {
    uint8_t hash[GDN_LEDGER_MAX_PROOF][GDN_LEDGER_HASH_BYTES];
    size_t len;
} gdn_ledger_proof;

/* Number of nodes in the inclusion proof of leaf `index` in a tree of `size`
 * leaves; GDN_EFORMAT when index >= size. */
int gdn_ledger_inclusion_proof_len(size_t *len, uint64_t index, uint64_t size);
/* Number of nodes in the consistency proof from size1 to size2 (0 when
 * size1 == size2); GDN_EFORMAT when size1 = 0 or size1 > size2. */
int gdn_ledger_consistency_proof_len(size_t *len, uint64_t size1,
                                     uint64_t size2);

/* §2.1.3.2: leaf_hash is leaf `index` of the tree of `size` leaves whose
 * root is `root`. */
int gdn_ledger_verify_inclusion(const uint8_t leaf_hash[GDN_LEDGER_HASH_BYTES],
                                uint64_t index, uint64_t size,
                                const gdn_ledger_proof *proof,
                                const uint8_t root[GDN_LEDGER_HASH_BYTES]);
/* §2.1.4.2: the tree of size1 leaves with root1 is a prefix of the tree of
 * size2 leaves with root2. size1 == size2 needs an empty proof and equal
 * roots; size1 = 0 is refused (an empty tree is a prefix of anything, so a
 * proof from it shows nothing). */
int gdn_ledger_verify_consistency(uint64_t size1, uint64_t size2,
                                  const uint8_t root1[GDN_LEDGER_HASH_BYTES],
                                  const uint8_t root2[GDN_LEDGER_HASH_BYTES],
                                  const gdn_ledger_proof *proof);

/* A byte string as received in a message, not yet known to be a hash. */
typedef struct gdn_ledger_bytes {
    const uint8_t *data;
    size_t len;
} gdn_ledger_bytes;

/* The two verifiers above for untyped input (a message's repeated bytes):
 * more than GDN_LEDGER_MAX_PROOF nodes, or a node or leaf hash that is not 32
 * bytes, is GDN_EFORMAT; a root is compared as the byte string it is, so one
 * of another length never matches (and for size1 == size2 the claim is just
 * root1 == root2, as in transparency-dev/merkle). */
int gdn_ledger_verify_inclusion_bytes(gdn_ledger_bytes leaf_hash,
                                      uint64_t index, uint64_t size,
                                      const gdn_ledger_bytes *proof,
                                      size_t proof_len, gdn_ledger_bytes root);
int gdn_ledger_verify_consistency_bytes(uint64_t size1, uint64_t size2,
                                        gdn_ledger_bytes root1,
                                        gdn_ledger_bytes root2,
                                        const gdn_ledger_bytes *proof,
                                        size_t proof_len);

/* ---- In-memory tree --------------------------------------------------------
 * Keeps every leaf hash and the root of every complete subtree of 2^k leaves
 * (about 64 bytes per leaf), so root(n) for any n <= size costs O(log n)
 * hashes and proofs need no recomputation. Readers (root, proofs, leaf) may
 * run concurrently with each other, not with append or truncate. */

typedef struct gdn_ledger_tree gdn_ledger_tree; /* opaque */

int gdn_ledger_tree_new(gdn_ledger_tree **out);
void gdn_ledger_tree_free(gdn_ledger_tree *tree);
uint64_t gdn_ledger_tree_size(const gdn_ledger_tree *tree);
/* Appends one leaf given by its hash (gdn_ledger_hash_leaf of the entry). */
int gdn_ledger_tree_append(gdn_ledger_tree *tree,
                           const uint8_t leaf_hash[GDN_LEDGER_HASH_BYTES]);
/* Appends the leaf for `data` (hashed here, with OpenSSL's SHA-256). */
int gdn_ledger_tree_append_data(gdn_ledger_tree *tree, const void *data,
                                size_t len);
/* Drops leaves so that `size` remain (size <= current size). */
int gdn_ledger_tree_truncate(gdn_ledger_tree *tree, uint64_t size);
/* Hash of leaf `index` (< size). */
int gdn_ledger_tree_leaf(uint8_t out[GDN_LEDGER_HASH_BYTES],
                         const gdn_ledger_tree *tree, uint64_t index);
/* MTH(D[0:size]) (§2.1.1) of the first `size` leaves, size <= tree size. */
int gdn_ledger_tree_root(uint8_t out[GDN_LEDGER_HASH_BYTES],
                         const gdn_ledger_tree *tree, uint64_t size);
/* PATH(index, D[0:size]) (§2.1.3.1), index < size <= tree size. */
int gdn_ledger_tree_prove_inclusion(gdn_ledger_proof *proof,
                                    const gdn_ledger_tree *tree, uint64_t index,
                                    uint64_t size);
/* PROOF(size1, D[0:size2]) (§2.1.4.1), 0 < size1 <= size2 <= tree size. */
int gdn_ledger_tree_prove_consistency(gdn_ledger_proof *proof,
                                      const gdn_ledger_tree *tree,
                                      uint64_t size1, uint64_t size2);

/* ---- Entries ---------------------------------------------------------------
 * One round event as a canonical, versioned binary record (docs/ledger.md has
 * the layout): integers little-endian, doubles as IEEE-754 binary64 bits,
 * lists sorted by client and bounded. Exactly one encoding per entry: the
 * decoder refuses anything the encoder would not write (unknown version,
 * kind or mode, unsorted or duplicate clients, NaN, negative or infinite
 * numbers, δ >= 1, a reason on a non-refusal or none on a refusal, text that
 * is not UTF-8 or holds NUL, truncated input, trailing bytes). */

#define GDN_LEDGER_ENTRY_VERSION 1
#define GDN_LEDGER_MAX_COHORT 65536 /* clients in a cohort or an ε list */
#define GDN_LEDGER_MAX_REASON 4096  /* bytes of refusal text */
#define GDN_LEDGER_ENTRY_FIXED_BYTES 143
#define GDN_LEDGER_MAX_ENTRY_BYTES                                            \
    (GDN_LEDGER_ENTRY_FIXED_BYTES + GDN_LEDGER_MAX_COHORT * 32 +              \
     GDN_LEDGER_MAX_COHORT * 40 + GDN_LEDGER_MAX_REASON)

typedef enum {
    GDN_LEDGER_KIND_ROUND = 1,   /* a completed round: model before/after */
    GDN_LEDGER_KIND_REFUSAL = 2, /* clients refused a round, with the reason */
    GDN_LEDGER_KIND_CONFIG = 3   /* a task or its configuration (task_hash) */
} gdn_ledger_kind;

typedef enum {
    GDN_LEDGER_AGG_PLAIN = 0,
    GDN_LEDGER_AGG_SECAGG = 1, /* SecAgg+ */
    GDN_LEDGER_AGG_HE = 2,     /* multiparty CKKS */
    GDN_LEDGER_AGG_PRIO3 = 3
} gdn_ledger_aggregation;

/* ε spent in this round by one data owner. */
typedef struct gdn_ledger_eps {
    uint8_t client[32];
    double eps;
} gdn_ledger_eps;

typedef struct gdn_ledger_entry {
    gdn_ledger_kind kind;
    gdn_ledger_aggregation aggregation;
    uint64_t round;
    uint8_t task_hash[32];    /* the task and its configuration */
    uint8_t model_before[32]; /* global model hash entering the round */
    uint8_t model_after[32];  /* and leaving it */
    double noise_multiplier, clip, delta; /* DP parameters, 0 when no DP */
    const uint8_t *cohort;    /* cohort_len client identities (32-byte key
                                 fingerprints), strictly ascending */
    size_t cohort_len;
    const gdn_ledger_eps *eps; /* eps_len owners, strictly ascending client */
    size_t eps_len;
    const char *reason; /* refusal text (UTF-8, NUL-terminated) or NULL */
    void *owned;        /* private: the block decode allocated */
} gdn_ledger_entry;

/* Appends the canonical encoding of e to out; GDN_EINVAL (nothing appended)
 * when e breaks a rule above. */
int gdn_ledger_entry_encode(gdn_buf *out, const gdn_ledger_entry *e);
/* Decodes one entry that fills in[0, len) exactly; the lists and reason live
 * in one block that gdn_ledger_entry_free releases. */
int gdn_ledger_entry_decode(gdn_ledger_entry *out, const uint8_t *in,
                            size_t len);
/* The checks of decode without building the entry (no allocation). */
int gdn_ledger_entry_check(const uint8_t *in, size_t len);
/* Frees what decode allocated and zeroes *e; accepts NULL and entries the
 * caller built (their arrays stay the caller's). */
void gdn_ledger_entry_free(gdn_ledger_entry *e);
/* Sorts a cohort (n identities of 32 bytes) and an ε list into the order
 * encode requires; duplicates are left for encode to refuse. */
void gdn_ledger_sort_cohort(uint8_t *cohort, size_t n);
void gdn_ledger_sort_eps(gdn_ledger_eps *eps, size_t n);

/* ---- Signed tree heads and co-signatures -----------------------------------
 * The coordinator signs (log id, size, root, timestamp) with Ed25519 over
 * "guardian/ledger/head/v1" || 0x00 || log_id || le64 size || root ||
 * le64 timestamp; a client co-signs the same fields under the prefix
 * "guardian/ledger/cosign/v1". The log id names one ledger (e.g. the task
 * hash), so a head of one ledger cannot pass for another's. Timestamps are
 * given by the caller (milliseconds since the Unix epoch by convention). */

#define GDN_LEDGER_HEAD_VERSION 1
#define GDN_LEDGER_HEAD_BYTES 145 /* version, log id, size, root, time, sig */
#define GDN_LEDGER_COSIG_BYTES 97 /* version, client key, signature */

typedef struct gdn_ledger_head {
    uint8_t log_id[32];
    uint64_t size;
    uint8_t root[GDN_LEDGER_HASH_BYTES];
    uint64_t timestamp;
    uint8_t signature[GDN_LEDGER_SIGNATURE_BYTES]; /* the coordinator's */
} gdn_ledger_head;

typedef struct gdn_ledger_cosig {
    uint8_t client[GDN_LEDGER_PUBLIC_KEY_BYTES]; /* the client's Ed25519 key */
    uint8_t signature[GDN_LEDGER_SIGNATURE_BYTES];
} gdn_ledger_cosig;

/* An Ed25519 key pair from 32 bytes of rng (the secret is wiped by the caller
 * with sodium_memzero when done). */
int gdn_ledger_keypair(uint8_t pk[GDN_LEDGER_PUBLIC_KEY_BYTES],
                       uint8_t sk[GDN_LEDGER_SECRET_KEY_BYTES], gdn_rng *rng);
/* Fills and signs a head: the coordinator's side. */
int gdn_ledger_head_sign(gdn_ledger_head *out, const uint8_t log_id[32],
                         uint64_t size,
                         const uint8_t root[GDN_LEDGER_HASH_BYTES],
                         uint64_t timestamp,
                         const uint8_t sk[GDN_LEDGER_SECRET_KEY_BYTES]);
/* 0 when the coordinator `pk` signed head; GDN_ECRYPTO otherwise. */
int gdn_ledger_head_verify(const gdn_ledger_head *head,
                           const uint8_t pk[GDN_LEDGER_PUBLIC_KEY_BYTES]);
void gdn_ledger_head_encode(uint8_t out[GDN_LEDGER_HEAD_BYTES],
                            const gdn_ledger_head *head);
/* Exactly GDN_LEDGER_HEAD_BYTES of version 1; the signature is not checked. */
int gdn_ledger_head_decode(gdn_ledger_head *out, const uint8_t *in,
                           size_t len);

/* Co-signs head with the client's key (no checks: gdn_ledger_head_check
 * decides whether to). */
int gdn_ledger_cosign(gdn_ledger_cosig *out, const gdn_ledger_head *head,
                      const uint8_t client_sk[GDN_LEDGER_SECRET_KEY_BYTES]);
/* 0 when cosig->client co-signed head; GDN_ECRYPTO otherwise. */
int gdn_ledger_cosig_verify(const gdn_ledger_cosig *cosig,
                            const gdn_ledger_head *head);
void gdn_ledger_cosig_encode(uint8_t out[GDN_LEDGER_COSIG_BYTES],
                             const gdn_ledger_cosig *cosig);
int gdn_ledger_cosig_decode(gdn_ledger_cosig *out, const uint8_t *in,
                            size_t len);

/* What a client decides about a new head, given the one it holds. */
typedef enum {
    GDN_LEDGER_ACCEPT = 0,
    GDN_LEDGER_BAD_SIGNATURE, /* not signed by the coordinator's key */
    GDN_LEDGER_WRONG_LOG,     /* a head of another ledger (log id) */
    GDN_LEDGER_ROLLBACK,      /* fewer entries, or an earlier time, than held */
    GDN_LEDGER_FORK,          /* same size, other root, both signed: the
                                 coordinator showed two histories (proof of
                                 misbehaviour: keep both heads) */
    GDN_LEDGER_INCONSISTENT   /* no valid proof that the held head is a prefix
                                 of the new one: history was rewritten or
                                 forked, unless the proof was damaged */
} gdn_ledger_verdict;

/* Short name of a verdict ("fork"). */
const char *gdn_ledger_verdict_name(gdn_ledger_verdict v);

/* Split-view check: accepts new_head (0, *verdict = ACCEPT) when the
 * coordinator `pk` signed it for the held head's ledger and `proof` shows the
 * held head is a prefix of it (held may be NULL: trust on first use; proof
 * may be NULL when no proof is needed). Otherwise GDN_ECRYPTO with *verdict
 * saying why and gdn_errmsg() the details. */
int gdn_ledger_head_check(gdn_ledger_verdict *verdict,
                          const gdn_ledger_head *held,
                          const gdn_ledger_head *new_head,
                          const gdn_ledger_proof *proof,
                          const uint8_t pk[GDN_LEDGER_PUBLIC_KEY_BYTES]);
/* The client's whole step: gdn_ledger_head_check against the head it holds
 * (NULL for its first), then co-sign new_head and copy it to *keep (which
 * may be the held head itself). On refusal *cosig and *keep are unchanged. */
int gdn_ledger_client_update(
    gdn_ledger_cosig *cosig, gdn_ledger_head *keep, gdn_ledger_verdict *verdict,
    const gdn_ledger_head *held, const gdn_ledger_head *new_head,
    const gdn_ledger_proof *proof, const uint8_t pk[GDN_LEDGER_PUBLIC_KEY_BYTES],
    const uint8_t client_sk[GDN_LEDGER_SECRET_KEY_BYTES]);

/* ---- Audit -----------------------------------------------------------------
 * Recomputes a ledger from its entries and checks it against every head:
 * each entry decodes and matches its stored leaf hash, each head's root is
 * the root of the entries up to its size and carries the coordinator's
 * signature, heads never go back in size or time, each co-signature is valid.
 * Stops at the first problem and says precisely where. It also sums the ε
 * each data owner spent over all entries (basic composition). */

typedef struct gdn_ledger_audit_report {
    uint64_t entries, rounds, refusals, configs;
    uint64_t heads, cosigs, held_heads;
    uint8_t root[GDN_LEDGER_HASH_BYTES]; /* of all entries */
    gdn_ledger_eps *eps_total; /* per data owner, ascending client */
    size_t eps_clients;
    int ok;            /* 1 when no problem was found */
    char problem[320]; /* the first problem, "" when ok */
} gdn_ledger_audit_report;

/* Frees eps_total; accepts a zeroed report. */
void gdn_ledger_audit_report_free(gdn_ledger_audit_report *r);

typedef struct gdn_ledger_auditor gdn_ledger_auditor; /* opaque */

/* An auditor for the ledger `log_id` whose heads `pk` signs. */
int gdn_ledger_auditor_new(gdn_ledger_auditor **out, const uint8_t log_id[32],
                           const uint8_t pk[GDN_LEDGER_PUBLIC_KEY_BYTES]);
void gdn_ledger_auditor_free(gdn_ledger_auditor *a);
/* Next entry (index = entries added so far); stored_leaf_hash, when not
 * NULL, is the hash kept beside it and must match. */
int gdn_ledger_auditor_add_entry(gdn_ledger_auditor *a, const uint8_t *data,
                                 size_t len, const uint8_t *stored_leaf_hash);
/* A head once exactly head->size entries have been added; heads come in the
 * order they were signed. `held` marks a head a client kept (checked the
 * same way but not part of the ledger's own sequence). */
int gdn_ledger_auditor_add_head(gdn_ledger_auditor *a,
                                const gdn_ledger_head *head, int held);
/* A co-signature of the head added last. */
int gdn_ledger_auditor_add_cosig(gdn_ledger_auditor *a,
                                 const gdn_ledger_cosig *cosig);
/* Entries added so far. */
uint64_t gdn_ledger_auditor_size(const gdn_ledger_auditor *a);
/* Fills the report (moving the ε totals into it). After a problem every add
 * returns the first problem's code again. */
int gdn_ledger_auditor_finish(gdn_ledger_auditor *a,
                              gdn_ledger_audit_report *report);

/* ---- SQLite store (the one part that does I/O) -----------------------------
 * One file per ledger, WAL mode, synchronous=FULL: a commit is durable when it
 * returns, and a crash (kill -9, power loss) leaves exactly the committed
 * prefix. Appends and heads join one open transaction until commit. */

typedef struct gdn_ledger_store gdn_ledger_store; /* opaque */

/* Opens or creates the ledger at path. A new file records log_id; an
 * existing one must have the same log_id (or log_id NULL). Opening reads
 * every entry, checks its stored leaf hash and rebuilds the tree. */
int gdn_ledger_store_open(gdn_ledger_store **out, const char *path,
                          const uint8_t log_id[32]);
/* Closes, discarding appends not committed; accepts NULL. */
void gdn_ledger_store_close(gdn_ledger_store *s);
/* Stages one entry (checked with gdn_ledger_entry_check); *index (may be
 * NULL) gets its position. On a database error every staged entry since the
 * last commit is discarded. */
int gdn_ledger_store_append(gdn_ledger_store *s, uint64_t *index,
                            const uint8_t *entry, size_t len);
/* Makes everything staged durable. */
int gdn_ledger_store_commit(gdn_ledger_store *s);
/* Discards everything staged since the last commit. */
int gdn_ledger_store_rollback(gdn_ledger_store *s);
/* Stages a signed head; its size must not exceed the entries (staged
 * included), its root must be theirs and size and time must not go back.
 * *head_id (may be NULL) numbers heads from 0. */
int gdn_ledger_store_put_head(gdn_ledger_store *s, uint64_t *head_id,
                              const gdn_ledger_head *head);
/* Stages a co-signature of head head_id (checked against that head). */
int gdn_ledger_store_put_cosig(gdn_ledger_store *s, uint64_t head_id,
                               const gdn_ledger_cosig *cosig);

/* Entries (committed and staged) and the tree over them, for proofs. */
uint64_t gdn_ledger_store_size(const gdn_ledger_store *s);
const gdn_ledger_tree *gdn_ledger_store_tree(const gdn_ledger_store *s);
const uint8_t *gdn_ledger_store_log_id(const gdn_ledger_store *s);
/* Entry `index`, appended to out. */
int gdn_ledger_store_entry(const gdn_ledger_store *s, gdn_buf *out,
                           uint64_t index);
uint64_t gdn_ledger_store_head_count(const gdn_ledger_store *s);
int gdn_ledger_store_head(const gdn_ledger_store *s, gdn_ledger_head *out,
                          uint64_t head_id);

/* Audits the ledger file at path (opened read-only, without the checks of
 * gdn_ledger_store_open, so that a damaged file is reported rather than
 * refused): every entry, head and co-signature as the auditor above, then
 * each of the n_held heads that clients kept (a truncated or rewritten
 * ledger fails against them even when its own heads were rewritten too).
 * Returns 0 when all holds, else the first problem's code. */
int gdn_ledger_audit_file(gdn_ledger_audit_report *report, const char *path,
                          const uint8_t pk[GDN_LEDGER_PUBLIC_KEY_BYTES],
                          const gdn_ledger_head *held, size_t n_held);

#endif
