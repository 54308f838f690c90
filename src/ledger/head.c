/* Signed tree heads, co-signatures and the client's split-view check.
 *
 * A client that has accepted a head of size m holds the coordinator's
 * signature on root(m). Any later head it accepts must come with a proof
 * (RFC 9162 §2.1.4) that the size-m tree is a prefix of the new one, so the
 * coordinator cannot show this client a history that differs from the one
 * it showed before; clients that compare heads (or an auditor that collects
 * their co-signed heads) catch one that shows different clients different
 * histories. The signed bytes start with a prefix naming the message, so a
 * head signature can never be replayed as a co-signature or as anything
 * else the same key signs. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "ledger/ledger_internal.h"

typedef unsigned long long ull;

static const char head_domain[] = "guardian/ledger/head/v1";
static const char cosign_domain[] = "guardian/ledger/cosign/v1";

/* Longest domain + NUL + log id + size + root + timestamp. */
#define MSG_MAX (sizeof cosign_domain + 32 + 8 + 32 + 8)

static size_t signed_message(uint8_t msg[MSG_MAX], const char *domain,
                             const gdn_ledger_head *h)
{
    size_t n = strlen(domain) + 1; /* the NUL separates the prefix */

    memcpy(msg, domain, n);
    memcpy(msg + n, h->log_id, 32);
    gdn_store_le64(msg + n + 32, h->size);
    memcpy(msg + n + 40, h->root, 32);
    gdn_store_le64(msg + n + 72, h->timestamp);
    return n + 80;
}

static int sodium_ready(void)
{
    if (sodium_init() < 0)
        return gdn_error(GDN_ECRYPTO, "libsodium could not initialise");
    return 0;
}

int gdn_ledger_keypair(uint8_t pk[GDN_LEDGER_PUBLIC_KEY_BYTES],
                       uint8_t sk[GDN_LEDGER_SECRET_KEY_BYTES], gdn_rng *rng)
{
    uint8_t seed[crypto_sign_SEEDBYTES];
    int rc;

    if (!pk || !sk || !rng)
        return gdn_error(GDN_EINVAL, "ledger keypair: bad arguments");
    if ((rc = sodium_ready()))
        return rc;
    gdn_rng_bytes(rng, seed, sizeof seed);
    rc = crypto_sign_seed_keypair(pk, sk, seed);
    sodium_memzero(seed, sizeof seed);
    return rc ? gdn_error(GDN_ECRYPTO, "Ed25519 key generation failed") : 0;
}

int gdn_ledger_head_sign(gdn_ledger_head *out, const uint8_t log_id[32],
                         uint64_t size,
                         const uint8_t root[GDN_LEDGER_HASH_BYTES],
                         uint64_t timestamp,
                         const uint8_t sk[GDN_LEDGER_SECRET_KEY_BYTES])
{
    uint8_t msg[MSG_MAX];
    size_t n;
    int rc;

    if (!out || !log_id || !root || !sk)
        return gdn_error(GDN_EINVAL, "ledger head sign: bad arguments");
    if ((rc = sodium_ready()))
        return rc;
    memcpy(out->log_id, log_id, 32);
    out->size = size;
    memcpy(out->root, root, GDN_LEDGER_HASH_BYTES);
    out->timestamp = timestamp;
    n = signed_message(msg, head_domain, out);
    if (crypto_sign_detached(out->signature, NULL, msg, n, sk) != 0)
        return gdn_error(GDN_ECRYPTO, "ledger head sign: Ed25519 failed");
    return 0;
}

int gdn_ledger_head_verify(const gdn_ledger_head *h,
                           const uint8_t pk[GDN_LEDGER_PUBLIC_KEY_BYTES])
{
    uint8_t msg[MSG_MAX];
    size_t n;
    int rc;

    if (!h || !pk)
        return gdn_error(GDN_EINVAL, "ledger head verify: bad arguments");
    if ((rc = sodium_ready()))
        return rc;
    n = signed_message(msg, head_domain, h);
    if (crypto_sign_verify_detached(h->signature, msg, n, pk) != 0)
        return gdn_error(GDN_ECRYPTO,
                         "tree head of size %llu: the coordinator's signature "
                         "does not verify", (ull)h->size);
    return 0;
}

void gdn_ledger_head_encode(uint8_t out[GDN_LEDGER_HEAD_BYTES],
                            const gdn_ledger_head *h)
{
    out[0] = GDN_LEDGER_HEAD_VERSION;
    memcpy(out + 1, h->log_id, 32);
    gdn_store_le64(out + 33, h->size);
    memcpy(out + 41, h->root, 32);
    gdn_store_le64(out + 73, h->timestamp);
    memcpy(out + 81, h->signature, 64);
}

int gdn_ledger_head_decode(gdn_ledger_head *out, const uint8_t *in, size_t len)
{
    if (!out || (!in && len))
        return gdn_error(GDN_EINVAL, "ledger head decode: bad arguments");
    if (len != GDN_LEDGER_HEAD_BYTES)
        return gdn_error(GDN_EFORMAT, "tree head: %zu bytes, expected %d",
                         len, GDN_LEDGER_HEAD_BYTES);
    if (in[0] != GDN_LEDGER_HEAD_VERSION)
        return gdn_error(GDN_EFORMAT,
                         "tree head: version %u is not supported (this build "
                         "reads %d)", in[0], GDN_LEDGER_HEAD_VERSION);
    memcpy(out->log_id, in + 1, 32);
    out->size = gdn_load_le64(in + 33);
    memcpy(out->root, in + 41, 32);
    out->timestamp = gdn_load_le64(in + 73);
    memcpy(out->signature, in + 81, 64);
    return 0;
}

int gdn_ledger_cosign(gdn_ledger_cosig *out, const gdn_ledger_head *h,
                      const uint8_t client_sk[GDN_LEDGER_SECRET_KEY_BYTES])
{
    uint8_t msg[MSG_MAX];
    size_t n;
    int rc;

    if (!out || !h || !client_sk)
        return gdn_error(GDN_EINVAL, "ledger cosign: bad arguments");
    if ((rc = sodium_ready()))
        return rc;
    n = signed_message(msg, cosign_domain, h);
    if (crypto_sign_ed25519_sk_to_pk(out->client, client_sk) != 0 ||
        crypto_sign_detached(out->signature, NULL, msg, n, client_sk) != 0)
        return gdn_error(GDN_ECRYPTO, "ledger cosign: Ed25519 failed");
    return 0;
}

int gdn_ledger_cosig_verify(const gdn_ledger_cosig *c, const gdn_ledger_head *h)
{
    uint8_t msg[MSG_MAX];
    size_t n;
    int rc;

    if (!c || !h)
        return gdn_error(GDN_EINVAL, "ledger cosig verify: bad arguments");
    if ((rc = sodium_ready()))
        return rc;
    n = signed_message(msg, cosign_domain, h);
    if (crypto_sign_verify_detached(c->signature, msg, n, c->client) != 0)
        return gdn_error(GDN_ECRYPTO,
                         "co-signature of client %02x%02x%02x%02x... on the "
                         "head of size %llu does not verify", c->client[0],
                         c->client[1], c->client[2], c->client[3],
                         (ull)h->size);
    return 0;
}

void gdn_ledger_cosig_encode(uint8_t out[GDN_LEDGER_COSIG_BYTES],
                             const gdn_ledger_cosig *c)
{
    out[0] = GDN_LEDGER_HEAD_VERSION;
    memcpy(out + 1, c->client, 32);
    memcpy(out + 33, c->signature, 64);
}

int gdn_ledger_cosig_decode(gdn_ledger_cosig *out, const uint8_t *in,
                            size_t len)
{
    if (!out || (!in && len))
        return gdn_error(GDN_EINVAL, "ledger cosig decode: bad arguments");
    if (len != GDN_LEDGER_COSIG_BYTES)
        return gdn_error(GDN_EFORMAT, "co-signature: %zu bytes, expected %d",
                         len, GDN_LEDGER_COSIG_BYTES);
    if (in[0] != GDN_LEDGER_HEAD_VERSION)
        return gdn_error(GDN_EFORMAT,
                         "co-signature: version %u is not supported", in[0]);
    memcpy(out->client, in + 1, 32);
    memcpy(out->signature, in + 33, 64);
    return 0;
}

const char *gdn_ledger_verdict_name(gdn_ledger_verdict v)
{
    switch (v) {
    case GDN_LEDGER_ACCEPT: return "accept";
    case GDN_LEDGER_BAD_SIGNATURE: return "bad signature";
    case GDN_LEDGER_WRONG_LOG: return "wrong ledger";
    case GDN_LEDGER_ROLLBACK: return "rollback";
    case GDN_LEDGER_FORK: return "fork";
    case GDN_LEDGER_INCONSISTENT: return "inconsistent";
    }
    return "unknown";
}

/* Sets the verdict and returns GDN_ECRYPTO with the detail. */
static int refuse(gdn_ledger_verdict *verdict, gdn_ledger_verdict v,
                  const char *detail)
{
    *verdict = v;
    return gdn_error(GDN_ECRYPTO, "tree head refused (%s): %s",
                     gdn_ledger_verdict_name(v), detail);
}

int gdn_ledger_head_check(gdn_ledger_verdict *verdict,
                          const gdn_ledger_head *held,
                          const gdn_ledger_head *nh,
                          const gdn_ledger_proof *proof,
                          const uint8_t pk[GDN_LEDGER_PUBLIC_KEY_BYTES])
{
    uint8_t empty[GDN_LEDGER_HASH_BYTES];
    char msg[400];
    int rc;

    if (!verdict || !nh || !pk)
        return gdn_error(GDN_EINVAL, "ledger head check: bad arguments");
    *verdict = GDN_LEDGER_ACCEPT;
    gdn_ledger_hash_empty(empty);
    if (held && memcmp(held->log_id, nh->log_id, 32) != 0)
        return refuse(verdict, GDN_LEDGER_WRONG_LOG,
                      "the new head names another ledger (log id)");
    if (gdn_ledger_head_verify(nh, pk) != 0) {
        snprintf(msg, sizeof msg, "%s", gdn_errmsg());
        return refuse(verdict, GDN_LEDGER_BAD_SIGNATURE, msg);
    }
    if (nh->size == 0 && memcmp(nh->root, empty, sizeof empty) != 0)
        return refuse(verdict, GDN_LEDGER_INCONSISTENT,
                      "a signed head of size 0 whose root is not the empty "
                      "tree's");
    if (!held)
        return 0; /* first head: trust on first use */
    if (nh->size < held->size) {
        snprintf(msg, sizeof msg,
                 "the new head has %llu entries, the held one %llu: entries "
                 "were removed", (ull)nh->size, (ull)held->size);
        return refuse(verdict, GDN_LEDGER_ROLLBACK, msg);
    }
    if (nh->timestamp < held->timestamp) {
        snprintf(msg, sizeof msg,
                 "the new head is dated %llu, before the held one (%llu)",
                 (ull)nh->timestamp, (ull)held->timestamp);
        return refuse(verdict, GDN_LEDGER_ROLLBACK, msg);
    }
    if (nh->size == held->size) {
        if (memcmp(nh->root, held->root, GDN_LEDGER_HASH_BYTES) != 0) {
            snprintf(msg, sizeof msg,
                     "two signed heads of size %llu with different roots: the "
                     "coordinator showed two histories", (ull)nh->size);
            return refuse(verdict, GDN_LEDGER_FORK, msg);
        }
        if (proof && proof->len != 0)
            return refuse(verdict, GDN_LEDGER_INCONSISTENT,
                          "a non-empty proof between heads of equal size");
        return 0;
    }
    if (held->size == 0) {
        /* Anything extends the empty tree; the held root was checked to
         * be the empty root when that head was accepted, but a client
         * may hold a head from elsewhere. */
        if (memcmp(held->root, empty, sizeof empty) != 0)
            return refuse(verdict, GDN_LEDGER_INCONSISTENT,
                          "the held head of size 0 has a root that is not "
                          "the empty tree's");
        if (proof && proof->len != 0)
            return refuse(verdict, GDN_LEDGER_INCONSISTENT,
                          "a non-empty proof from the empty tree");
        return 0;
    }
    if (!proof)
        return refuse(verdict, GDN_LEDGER_INCONSISTENT,
                      "no consistency proof from the held head");
    if ((rc = gdn_ledger_verify_consistency(held->size, nh->size, held->root,
                                            nh->root, proof)) != 0) {
        snprintf(msg, sizeof msg, "%s", gdn_errmsg());
        return refuse(verdict, GDN_LEDGER_INCONSISTENT, msg);
    }
    return 0;
}

int gdn_ledger_client_update(
    gdn_ledger_cosig *cosig, gdn_ledger_head *keep, gdn_ledger_verdict *verdict,
    const gdn_ledger_head *held, const gdn_ledger_head *nh,
    const gdn_ledger_proof *proof, const uint8_t pk[GDN_LEDGER_PUBLIC_KEY_BYTES],
    const uint8_t client_sk[GDN_LEDGER_SECRET_KEY_BYTES])
{
    gdn_ledger_cosig c;
    gdn_ledger_head h;
    int rc;

    if (!cosig || !keep || !verdict || !nh || !client_sk)
        return gdn_error(GDN_EINVAL, "ledger client update: bad arguments");
    h = *nh; /* nh may alias keep */
    if ((rc = gdn_ledger_head_check(verdict, held, &h, proof, pk)) ||
        (rc = gdn_ledger_cosign(&c, &h, client_sk)))
        return rc;
    *cosig = c;
    *keep = h;
    return 0;
}
