/* Internals shared by the ledger's source files: SHA-256 through OpenSSL
 * (SHA-NI where the CPU has it) with libsodium as the fallback, and the
 * zero-copy view of a decoded entry. */
#ifndef GDN_LEDGER_INTERNAL_H
#define GDN_LEDGER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "guardian/ledger.h"

/* A fetched SHA-256 implementation and a context for leaf hashing. Either
 * pointer may be NULL (OpenSSL could not allocate); every hash then comes
 * from libsodium, which gives the same digest and cannot fail. */
typedef struct ledger_sha {
    EVP_MD *md;       /* read-only once fetched: shareable between threads */
    EVP_MD_CTX *ctx;  /* one thread at a time */
} ledger_sha;

void ledger_sha_init(ledger_sha *s);
void ledger_sha_free(ledger_sha *s);
/* RFC 9162 §2.1.1 leaf hash with the context (not thread-safe). */
void ledger_sha_leaf(ledger_sha *s, uint8_t out[32], const void *data,
                     size_t len);
/* RFC 9162 §2.1.1 interior node: with the context when s has one (one thread
 * at a time), else with the md alone (EVP_Digest: thread-safe, a little
 * slower). out may alias left or right. */
void ledger_sha_children(const ledger_sha *s, uint8_t out[32],
                         const uint8_t left[32], const uint8_t right[32]);

/* An entry parsed in place: pointers into the input, nothing allocated. */
typedef struct ledger_entry_view {
    uint8_t version, kind, aggregation;
    uint64_t round;
    const uint8_t *task_hash, *model_before, *model_after;
    double noise_multiplier, clip, delta;
    const uint8_t *cohort; /* cohort_len * 32 bytes */
    uint32_t cohort_len;
    const uint8_t *eps;    /* eps_len * (32-byte client, le64 double bits) */
    uint32_t eps_len;
    const uint8_t *reason;
    uint32_t reason_len;
} ledger_entry_view;

#define LEDGER_EPS_RECORD_BYTES 40

/* Parses and checks one encoded entry (all of gdn_ledger_entry_check). */
int ledger_entry_parse(ledger_entry_view *v, const uint8_t *in, size_t len);

/* Records the auditor's first problem (later ones are ignored) and returns
 * its code, with the detail set for gdn_errmsg(). */
int ledger_auditor_fail(gdn_ledger_auditor *a, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Loads a little-endian binary64. */
double ledger_load_f64(const uint8_t p[8]);

/* Number of significant bits of x (0 for 0). */
static inline unsigned ledger_bit_len(uint64_t x)
{
    return x ? 64u - (unsigned)__builtin_clzll(x) : 0u;
}

#endif
