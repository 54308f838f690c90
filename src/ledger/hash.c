/* SHA-256 for the Merkle tree, RFC 9162 §2.1.1: leaves are hashed as
 * SHA-256(0x00 || data), interior nodes as SHA-256(0x01 || left || right),
 * so that no leaf can pass for a node (second-preimage resistance of the
 * tree). The stateless public functions use libsodium (no allocation, no
 * failure, safe from any thread); the tree and the auditor, which hash in
 * bulk, use OpenSSL's implementation (SHA-NI, about 3x faster here) through
 * a ledger_sha fetched once. */
#include <string.h>

#include <sodium.h>

#include "ledger/ledger_internal.h"

static const uint8_t leaf_prefix = 0x00, node_prefix = 0x01;

void gdn_ledger_hash_empty(uint8_t out[GDN_LEDGER_HASH_BYTES])
{
    crypto_hash_sha256(out, NULL, 0);
}

void gdn_ledger_hash_leaf(uint8_t out[GDN_LEDGER_HASH_BYTES], const void *data,
                          size_t len)
{
    crypto_hash_sha256_state st;

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &leaf_prefix, 1);
    if (len)
        crypto_hash_sha256_update(&st, data, len);
    crypto_hash_sha256_final(&st, out);
}

void gdn_ledger_hash_children(uint8_t out[GDN_LEDGER_HASH_BYTES],
                              const uint8_t left[GDN_LEDGER_HASH_BYTES],
                              const uint8_t right[GDN_LEDGER_HASH_BYTES])
{
    uint8_t buf[1 + 2 * GDN_LEDGER_HASH_BYTES];

    buf[0] = node_prefix;
    memcpy(buf + 1, left, GDN_LEDGER_HASH_BYTES);
    memcpy(buf + 1 + GDN_LEDGER_HASH_BYTES, right, GDN_LEDGER_HASH_BYTES);
    crypto_hash_sha256(out, buf, sizeof buf);
}

void ledger_sha_init(ledger_sha *s)
{
    s->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    s->ctx = s->md ? EVP_MD_CTX_new() : NULL;
}


void ledger_sha_free(ledger_sha *s)
{
    if (!s)
        return;
    EVP_MD_CTX_free(s->ctx);
    EVP_MD_free(s->md);
    s->ctx = NULL;
    s->md = NULL;
}

void ledger_sha_leaf(ledger_sha *s, uint8_t out[32], const void *data,
                     size_t len)
{
    if (s && s->ctx && EVP_DigestInit_ex2(s->ctx, s->md, NULL) == 1 &&
        EVP_DigestUpdate(s->ctx, &leaf_prefix, 1) == 1 &&
        (len == 0 || EVP_DigestUpdate(s->ctx, data, len) == 1) &&
        EVP_DigestFinal_ex(s->ctx, out, NULL) == 1)
        return;
    gdn_ledger_hash_leaf(out, data, len);
}

void ledger_sha_children(const ledger_sha *s, uint8_t out[32],
                         const uint8_t left[32], const uint8_t right[32])
{
    uint8_t buf[65];

    buf[0] = node_prefix;
    memcpy(buf + 1, left, 32);
    memcpy(buf + 33, right, 32);
    if (s && s->ctx) {
        if (EVP_DigestInit_ex2(s->ctx, s->md, NULL) == 1 &&
            EVP_DigestUpdate(s->ctx, buf, sizeof buf) == 1 &&
            EVP_DigestFinal_ex(s->ctx, out, NULL) == 1)
            return;
    } else if (s && s->md &&
               EVP_Digest(buf, sizeof buf, out, NULL, s->md, NULL) == 1) {
        return;
    }
    crypto_hash_sha256(out, buf, sizeof buf);
}
