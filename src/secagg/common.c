/* secagg: what client and server share — parameter checks, message headers,
 * the communication graph, key derivation and PRG mask expansion. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "secagg/internal.h"

int sa_params_check(const gdn_secagg_params *p)
{
    if (!p)
        return gdn_error(GDN_EINVAL, "secagg: no parameters");
    if (p->n < 3 || p->n > GDN_SECAGG_MAX_CLIENTS)
        return gdn_error(GDN_EINVAL, "secagg: n = %u clients, expected 3..%u", p->n,
                         (unsigned)GDN_SECAGG_MAX_CLIENTS);
    if (p->k < 2 || p->k > p->n - 1 || (p->k != p->n - 1 && p->k % 2 != 0))
        return gdn_error(GDN_EINVAL,
                         "secagg: degree k = %u, expected an even k < n - 1 = %u or "
                         "k = n - 1 (complete graph)",
                         p->k, p->n - 1);
    if (p->t < 2 || p->t > p->k)
        return gdn_error(GDN_EINVAL, "secagg: threshold t = %u, expected 2..k = %u",
                         p->t, p->k);
    if (p->bits < 1 || p->bits > 32)
        return gdn_error(GDN_EINVAL, "secagg: bits = %u, expected 1..32", p->bits);
    if (p->length < 1 || p->length > GDN_SECAGG_MAX_LENGTH)
        return gdn_error(GDN_EINVAL, "secagg: vector length %u, expected 1..%u",
                         p->length, (unsigned)GDN_SECAGG_MAX_LENGTH);
    if (sodium_init() < 0)
        return gdn_error(GDN_ECRYPTO, "secagg: libsodium failed to initialise");
    return 0;
}

void sa_header(uint8_t h[SA_HEADER_BYTES], uint8_t type,
               const uint8_t session[GDN_SECAGG_SESSION_BYTES], uint32_t party)
{
    h[0] = SA_VERSION;
    h[1] = type;
    memcpy(h + 2, session, GDN_SECAGG_SESSION_BYTES);
    gdn_store_le32(h + 2 + GDN_SECAGG_SESSION_BYTES, party);
}

int sa_header_check(const uint8_t *msg, size_t len, uint8_t type,
                    const uint8_t session[GDN_SECAGG_SESSION_BYTES],
                    uint32_t party, const char *what)
{
    uint32_t got;

    if (!msg || len < SA_HEADER_BYTES)
        return gdn_error(GDN_EFORMAT, "secagg %s: %zu bytes, shorter than a header",
                         what, msg ? len : 0);
    if (msg[0] != SA_VERSION)
        return gdn_error(GDN_EFORMAT, "secagg %s: version %u, expected %u", what,
                         msg[0], SA_VERSION);
    if (msg[1] != type)
        return gdn_error(GDN_EFORMAT, "secagg %s: message type %u, expected %u",
                         what, msg[1], type);
    if (sodium_memcmp(msg + 2, session, GDN_SECAGG_SESSION_BYTES) != 0)
        return gdn_error(GDN_ECRYPTO, "secagg %s: message of another session "
                                      "(replayed?)", what);
    got = gdn_load_le32(msg + 2 + GDN_SECAGG_SESSION_BYTES);
    if (got != party)
        return gdn_error(GDN_EFORMAT, "secagg %s: message for party %u, expected %u",
                         what, got, party);
    return 0;
}

void sa_adv_signed(uint8_t out[SA_ADV_SIGNED_BYTES],
                   const uint8_t session[GDN_SECAGG_SESSION_BYTES], uint32_t index,
                   const uint8_t keys[SA_KEYS_BYTES])
{
    static const char label[24] = "guardian secagg+ adv v1";

    memcpy(out, label, 24);
    memcpy(out + 24, session, GDN_SECAGG_SESSION_BYTES);
    gdn_store_le32(out + 24 + GDN_SECAGG_SESSION_BYTES, index);
    memcpy(out + 28 + GDN_SECAGG_SESSION_BYTES, keys, SA_KEYS_BYTES);
}

void sa_b_commit(uint8_t out[32], const uint8_t session[GDN_SECAGG_SESSION_BYTES],
                 uint32_t index, const uint8_t b[32])
{
    static const char label[24] = "guardian secagg+ b v1\0\0";
    uint8_t msg[24 + GDN_SECAGG_SESSION_BYTES + 4 + 32];

    memcpy(msg, label, 24);
    memcpy(msg + 24, session, GDN_SECAGG_SESSION_BYTES);
    gdn_store_le32(msg + 24 + GDN_SECAGG_SESSION_BYTES, index);
    memcpy(msg + 28 + GDN_SECAGG_SESSION_BYTES, b, 32);
    crypto_generichash(out, 32, msg, sizeof msg, NULL, 0);
    sodium_memzero(msg, sizeof msg);
}

/* ---- Graph --------------------------------------------------------------- */

int sa_graph_init(sa_graph *g, const gdn_secagg_params *p)
{
    static const uint8_t zero_nonce[GDN_RNG_NONCEBYTES];
    static const char label[] = "guardian secagg+ graph v1";
    uint8_t key[GDN_RNG_KEYBYTES];
    gdn_rng rng;

    g->n = p->n;
    g->k = p->k;
    g->perm = malloc((size_t)p->n * sizeof *g->perm);
    g->pos = malloc((size_t)p->n * sizeof *g->pos);
    if (!g->perm || !g->pos) {
        sa_graph_free(g);
        return gdn_error(GDN_ENOMEM, "secagg: graph of %u clients", p->n);
    }
    /* Bell et al. 2020 §3.2: the graph comes from public randomness that the
     * server cannot bias after the cohort is fixed — here the session id. */
    crypto_generichash(key, sizeof key, (const uint8_t *)label, sizeof label - 1,
                       p->session, GDN_SECAGG_SESSION_BYTES);
    gdn_rng_init_key(&rng, key, zero_nonce);
    for (uint32_t i = 0; i < p->n; i++)
        g->perm[i] = i;
    gdn_rng_shuffle(&rng, g->perm, p->n);
    for (uint32_t i = 0; i < p->n; i++)
        g->pos[g->perm[i]] = i;
    return 0;
}

void sa_graph_free(sa_graph *g)
{
    free(g->perm);
    free(g->pos);
    g->perm = g->pos = NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

void sa_graph_neighbours(const sa_graph *g, uint32_t *out, uint32_t i)
{
    uint32_t n = g->n, p = g->pos[i], c = 0;

    if (g->k == n - 1) {
        for (uint32_t j = 0; j < n; j++)
            if (j != i)
                out[c++] = j;
        return;
    }
    /* Harary H(k, n), k even: ring neighbours at distance 1..k/2 each side. */
    for (uint32_t d = 1; d <= g->k / 2; d++) {
        out[c++] = g->perm[(p + d) % n];
        out[c++] = g->perm[(p + n - d) % n];
    }
    qsort(out, c, sizeof *out, cmp_u32);
}

int sa_graph_adjacent(const sa_graph *g, uint32_t i, uint32_t j)
{
    uint32_t d;

    if (i == j)
        return 0;
    if (g->k == g->n - 1)
        return 1;
    d = g->pos[i] > g->pos[j] ? g->pos[i] - g->pos[j] : g->pos[j] - g->pos[i];
    if (d > g->n - d)
        d = g->n - d;
    return d <= g->k / 2;
}

int gdn_secagg_neighbours(uint32_t *out, const gdn_secagg_params *p, uint32_t i)
{
    sa_graph g;
    int rc = sa_params_check(p);

    if (rc)
        return rc;
    if (i >= p->n)
        return gdn_error(GDN_EINVAL, "secagg: client %u of %u", i, p->n);
    if ((rc = sa_graph_init(&g, p)))
        return rc;
    sa_graph_neighbours(&g, out, i);
    sa_graph_free(&g);
    return 0;
}

/* ---- Keys and masks ------------------------------------------------------ */

/* BLAKE2b-256 keyed by the X25519 secret of (label, session, a, b, pk_a,
 * pk_b), as libsodium's crypto_kx hashes its shared point with both keys. */
static int kdf(uint8_t out[32], const uint8_t dh[32], const char label[24],
               const uint8_t session[32], uint32_t a, uint32_t b,
               const uint8_t pk_a[32], const uint8_t pk_b[32])
{
    uint8_t msg[24 + 32 + 8 + 64];

    memcpy(msg, label, 24);
    memcpy(msg + 24, session, 32);
    gdn_store_le32(msg + 56, a);
    gdn_store_le32(msg + 60, b);
    memcpy(msg + 64, pk_a, 32);
    memcpy(msg + 96, pk_b, 32);
    if (crypto_generichash(out, 32, msg, sizeof msg, dh, 32) != 0)
        return gdn_error(GDN_ECRYPTO, "secagg: BLAKE2b failed");
    return 0;
}

static int x25519(uint8_t dh[32], const uint8_t my_sk[32], const uint8_t peer_pk[32])
{
    if (crypto_scalarmult(dh, my_sk, peer_pk) != 0)
        return gdn_error(GDN_ECRYPTO, "secagg: X25519 with a low-order public key");
    return 0;
}

int sa_mask_seed(uint8_t seed[32], const uint8_t my_sk[32], const uint8_t my_pk[32],
                 uint32_t me, const uint8_t peer_pk[32], uint32_t peer,
                 const uint8_t session[GDN_SECAGG_SESSION_BYTES])
{
    static const char label[24] = "guardian secagg+ mask v1";
    uint8_t dh[32];
    int rc = x25519(dh, my_sk, peer_pk);

    if (rc == 0)
        rc = me < peer ? kdf(seed, dh, label, session, me, peer, my_pk, peer_pk)
                       : kdf(seed, dh, label, session, peer, me, peer_pk, my_pk);
    sodium_memzero(dh, sizeof dh);
    return rc;
}

int sa_share_keys(uint8_t send[32], uint8_t recv[32], const uint8_t my_sk[32],
                  const uint8_t my_pk[32], uint32_t me, const uint8_t peer_pk[32],
                  uint32_t peer, const uint8_t session[GDN_SECAGG_SESSION_BYTES])
{
    static const char label[24] = "guardian secagg+ shr v1";
    uint8_t dh[32];
    int rc = x25519(dh, my_sk, peer_pk);

    /* Each direction gets its own key, used for one message: nonce 0 is safe. */
    if (rc == 0)
        rc = kdf(send, dh, label, session, me, peer, my_pk, peer_pk);
    if (rc == 0)
        rc = kdf(recv, dh, label, session, peer, me, peer_pk, my_pk);
    sodium_memzero(dh, sizeof dh);
    return rc;
}

void sa_share_ad(uint8_t ad[SA_SHARE_AD_BYTES],
                 const uint8_t session[GDN_SECAGG_SESSION_BYTES], uint32_t from,
                 uint32_t to)
{
    static const char label[24] = "guardian secagg+ ad v1\0";

    memcpy(ad, label, 24);
    memcpy(ad + 24, session, GDN_SECAGG_SESSION_BYTES);
    gdn_store_le32(ad + 24 + GDN_SECAGG_SESSION_BYTES, from);
    gdn_store_le32(ad + 28 + GDN_SECAGG_SESSION_BYTES, to);
}

#define PRG_CHUNK 16384 /* bytes of keystream per call: stays in L1 */

static void add_words(uint32_t *w, const uint8_t *ks, size_t words, int sign)
{
    if (sign > 0)
        for (size_t i = 0; i < words; i++)
            w[i] += gdn_load_le32(ks + 4 * i);
    else
        for (size_t i = 0; i < words; i++)
            w[i] -= gdn_load_le32(ks + 4 * i);
}

/* The same keystream from libsodium, from word `start` (a chunk boundary). */
static void prg_add_sodium(uint32_t *v, size_t m, const uint8_t seed[32], int sign,
                           uint8_t ks[PRG_CHUNK], size_t start)
{
    static const uint8_t zero_nonce[crypto_stream_chacha20_ietf_NONCEBYTES];
    uint32_t block = (uint32_t)(start * 4 / 64);

    for (size_t off = start; off < m; off += PRG_CHUNK / 4) {
        size_t words = m - off < PRG_CHUNK / 4 ? m - off : PRG_CHUNK / 4;
        size_t bytes = (words * 4 + 63) & ~(size_t)63;

        memset(ks, 0, bytes);
        crypto_stream_chacha20_ietf_xor_ic(ks, ks, bytes, zero_nonce, block, seed);
        block += (uint32_t)(bytes / 64);
        add_words(v + off, ks, words, sign);
    }
}

/* ChaCha20 (RFC 8439) keystream, key = seed, nonce 0, counter from 0: the
 * function of libsodium's crypto_stream_chacha20_ietf. OpenSSL computes the
 * same bytes faster on this machine (ANCHORS.md: 8.1 vs 2.5 GB/s);
 * EVP_chacha20's 16-byte IV is le32 counter || 96-bit nonce. Should OpenSSL
 * fail (allocation), libsodium continues from the same chunk. test_secagg
 * checks that both give the same vector. */
void sa_prg_add(uint32_t *v, size_t m, const uint8_t seed[32], int sign)
{
    static const uint8_t zeros[PRG_CHUNK];
    static const uint8_t iv[16];
    uint8_t ks[PRG_CHUNK];
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int ok = ctx && EVP_EncryptInit_ex(ctx, EVP_chacha20(), NULL, seed, iv) == 1;
    size_t off = 0;

    for (; ok && off < m; off += PRG_CHUNK / 4) {
        size_t words = m - off < PRG_CHUNK / 4 ? m - off : PRG_CHUNK / 4;
        int len = 0;

        ok = EVP_EncryptUpdate(ctx, ks, &len, zeros, (int)(words * 4)) == 1 &&
             (size_t)len == words * 4;
        if (!ok)
            break;
        add_words(v + off, ks, words, sign);
    }
    EVP_CIPHER_CTX_free(ctx);
    if (!ok)
        prg_add_sodium(v, m, seed, sign, ks, off);
    sodium_memzero(ks, sizeof ks);
}

void sa_prg_add_reference(uint32_t *v, size_t m, const uint8_t seed[32], int sign)
{
    uint8_t ks[PRG_CHUNK];

    prg_add_sodium(v, m, seed, sign, ks, 0);
    sodium_memzero(ks, sizeof ks);
}
