/* TurboSHAKE128 (RFC 9861: Keccak-p[1600, 12 rounds], rate 168 bytes) and
 * the two XOFs of draft-irtf-cfrg-vdaf-20 §6.2: XofTurboShake128 (§6.2.1)
 * and XofFixedKeyAes128 (§6.2.2, AES-128 through OpenSSL EVP). */
#include <string.h>

#include <openssl/evp.h>

#include "guardian/core.h"
#include "prio/prio_internal.h"

#define RATE 168

/* Round constants of Keccak-f[1600]; Keccak-p[1600, 12] uses the last 12. */
static const uint64_t keccak_rc[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL,
    0x8000000080008000ULL, 0x000000000000808bULL, 0x0000000080000001ULL,
    0x8000000080008081ULL, 0x8000000000008009ULL, 0x000000000000008aULL,
    0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL,
    0x8000000000008003ULL, 0x8000000000008002ULL, 0x8000000000000080ULL,
    0x000000000000800aULL, 0x800000008000000aULL, 0x8000000080008081ULL,
    0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL};

/* rho offsets, indexed by lane x + 5y (FIPS 202 §3.2.2). */
static const unsigned keccak_rho[25] = {0,  1,  62, 28, 27, 36, 44, 6,  55,
                                        20, 3,  10, 43, 25, 39, 41, 45, 15,
                                        21, 8,  18, 2,  61, 56, 14};

static uint64_t rotl(uint64_t x, unsigned n)
{
    return n ? (x << n) | (x >> (64 - n)) : x;
}

static void keccak_p12(uint64_t a[25])
{
    uint64_t b[25], c[5], d[5];
    for (int round = 12; round < 24; round++) {
        for (int x = 0; x < 5; x++) /* theta */
            c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
        for (int x = 0; x < 5; x++)
            d[x] = c[(x + 4) % 5] ^ rotl(c[(x + 1) % 5], 1);
        for (int i = 0; i < 25; i++)
            a[i] ^= d[i % 5];
        /* rho and pi: B[y, 2x + 3y] = rot(A[x, y], r[x, y]). */
        for (int x = 0; x < 5; x++)
            for (int y = 0; y < 5; y++)
                b[y + 5 * ((2 * x + 3 * y) % 5)] = rotl(a[x + 5 * y], keccak_rho[x + 5 * y]);
        for (int y = 0; y < 5; y++) /* chi */
            for (int x = 0; x < 5; x++)
                a[x + 5 * y] = b[x + 5 * y] ^ (~b[(x + 1) % 5 + 5 * y] & b[(x + 2) % 5 + 5 * y]);
        a[0] ^= keccak_rc[round]; /* iota */
    }
}

static void xor_byte(uint64_t a[25], size_t pos, uint8_t v)
{
    a[pos / 8] ^= (uint64_t)v << (8 * (pos % 8));
}

void prio_turboshake_init(prio_turboshake *t, uint8_t domain)
{
    memset(t, 0, sizeof *t);
    t->domain = domain;
}

void prio_turboshake_absorb(prio_turboshake *t, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        xor_byte(t->a, t->pos++, p[i]);
        if (t->pos == RATE) {
            keccak_p12(t->a);
            t->pos = 0;
        }
    }
}

void prio_turboshake_squeeze(prio_turboshake *t, uint8_t *out, size_t n)
{
    if (!t->squeezing) { /* RFC 9861 §2.2: D then 0x80 at the rate's end */
        xor_byte(t->a, t->pos, t->domain);
        xor_byte(t->a, RATE - 1, 0x80);
        keccak_p12(t->a);
        t->pos = 0;
        t->squeezing = 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (t->pos == RATE) {
            keccak_p12(t->a);
            t->pos = 0;
        }
        out[i] = (uint8_t)(t->a[t->pos / 8] >> (8 * (t->pos % 8)));
        t->pos++;
    }
}

size_t prio_xof_seed_size(prio_xof_id id)
{
    return id == PRIO_XOF_TURBOSHAKE128 || id == PRIO_XOF_HMAC_SHA256_AES128 ? 32 : 16;
}

/* The XOFs PINE uses (VDAF draft 11 §6.2.1; PINE's poc/xof_hmac_sha256_aes128.py):
 * the dst length is one byte. */
static int init_v11(prio_xof *x, const uint8_t *seed, size_t seed_len, const uint8_t *dst1,
                    size_t dst1_len, const uint8_t *dst2, size_t dst2_len)
{
    uint8_t l = (uint8_t)(dst1_len + dst2_len);
    if (dst1_len + dst2_len > 255)
        return gdn_error(GDN_EINVAL, "prio xof: dst of %zu bytes (max 255)",
                         dst1_len + dst2_len);
    if (x->id == PRIO_XOF_TURBOSHAKE128_V11) {
        prio_turboshake_init(&x->ts, 1);
        prio_turboshake_absorb(&x->ts, &l, 1);
        prio_turboshake_absorb(&x->ts, dst1, dst1_len);
        prio_turboshake_absorb(&x->ts, dst2, dst2_len);
        prio_turboshake_absorb(&x->ts, seed, seed_len);
        return 0;
    }
    crypto_auth_hmacsha256_init(&x->hmac, seed, seed_len);
    crypto_auth_hmacsha256_update(&x->hmac, &l, 1);
    crypto_auth_hmacsha256_update(&x->hmac, dst1, dst1_len);
    crypto_auth_hmacsha256_update(&x->hmac, dst2, dst2_len);
    return 0;
}

int prio_xof_init(prio_xof *x, prio_xof_id id, const uint8_t *seed, size_t seed_len,
                  const uint8_t *dst1, size_t dst1_len, const uint8_t *dst2,
                  size_t dst2_len)
{
    uint8_t len2[2];
    memset(x, 0, sizeof *x);
    x->id = id;
    if (seed_len != prio_xof_seed_size(id) || dst1_len + dst2_len > 65535)
        return gdn_error(GDN_EINVAL, "prio xof: seed of %zu bytes or dst too long",
                         seed_len);
    if (id == PRIO_XOF_TURBOSHAKE128_V11 || id == PRIO_XOF_HMAC_SHA256_AES128)
        return init_v11(x, seed, seed_len, dst1, dst1_len, dst2, dst2_len);
    len2[0] = (uint8_t)(dst1_len + dst2_len);
    len2[1] = (uint8_t)((dst1_len + dst2_len) >> 8);
    /* §6.2.1: TurboSHAKE128(le16(|dst|) || dst || u8(|seed|) || seed || binder, D=1);
     * §6.2.2: the AES key is TurboSHAKE128(le16(|dst|) || dst || binder, D=2). */
    prio_turboshake_init(&x->ts, id == PRIO_XOF_TURBOSHAKE128 ? 1 : 2);
    prio_turboshake_absorb(&x->ts, len2, 2);
    prio_turboshake_absorb(&x->ts, dst1, dst1_len);
    prio_turboshake_absorb(&x->ts, dst2, dst2_len);
    if (id == PRIO_XOF_TURBOSHAKE128) {
        uint8_t sl = (uint8_t)seed_len;
        prio_turboshake_absorb(&x->ts, &sl, 1);
        prio_turboshake_absorb(&x->ts, seed, seed_len);
    } else {
        memcpy(x->seed, seed, 16);
        x->buf_pos = 16;
    }
    return 0;
}

void prio_xof_binder(prio_xof *x, const uint8_t *p, size_t n)
{
    if (x->id == PRIO_XOF_HMAC_SHA256_AES128)
        crypto_auth_hmacsha256_update(&x->hmac, p, n);
    else
        prio_turboshake_absorb(&x->ts, p, n);
}

/* XofHmacSha256Aes128: AES-128-CTR keystream (OpenSSL EVP), keyed at the
 * first read from the HMAC of everything absorbed. */
static int next_hmac_aes(prio_xof *x, uint8_t *out, size_t n)
{
    static const uint8_t zeros[256] = {0};
    if (!x->ready) {
        uint8_t h[crypto_auth_hmacsha256_BYTES];
        crypto_auth_hmacsha256_final(&x->hmac, h);
        x->aes = EVP_CIPHER_CTX_new();
        int ok = x->aes && EVP_EncryptInit_ex(x->aes, EVP_aes_128_ctr(), NULL, h, h + 16) == 1;
        sodium_memzero(h, sizeof h);
        if (!ok)
            return gdn_error(GDN_ECRYPTO, "prio xof: cannot key AES-128-CTR");
        x->ready = 1;
    }
    while (n > 0) {
        int len = (int)(n < sizeof zeros ? n : sizeof zeros), outl = 0;
        if (EVP_EncryptUpdate(x->aes, out, &outl, zeros, len) != 1 || outl != len)
            return gdn_error(GDN_ECRYPTO, "prio xof: AES-128-CTR failed");
        out += len;
        n -= (size_t)len;
    }
    return 0;
}

/* §6.2.2 hash_block: sigma(b) = hi || (hi ^ lo); out = AES(k, sigma) ^ sigma. */
static int aes_block(prio_xof *x, uint8_t out[16])
{
    uint8_t blk[16], sigma[16], ct[32];
    int outl = 0;
    memcpy(blk, x->seed, 16);
    for (int i = 0; i < 8; i++)
        blk[i] ^= (uint8_t)(x->block >> (8 * i));
    x->block++;
    for (int i = 0; i < 8; i++) {
        sigma[i] = blk[8 + i];
        sigma[8 + i] = blk[8 + i] ^ blk[i];
    }
    if (EVP_EncryptUpdate(x->aes, ct, &outl, sigma, 16) != 1 || outl != 16)
        return gdn_error(GDN_ECRYPTO, "prio xof: AES-128 failed");
    for (int i = 0; i < 16; i++)
        out[i] = ct[i] ^ sigma[i];
    return 0;
}

int prio_xof_next(prio_xof *x, uint8_t *out, size_t n)
{
    if (x->id == PRIO_XOF_HMAC_SHA256_AES128)
        return next_hmac_aes(x, out, n);
    if (x->id == PRIO_XOF_TURBOSHAKE128 || x->id == PRIO_XOF_TURBOSHAKE128_V11) {
        prio_turboshake_squeeze(&x->ts, out, n);
        return 0;
    }
    if (!x->ready) {
        uint8_t key[16];
        prio_turboshake_squeeze(&x->ts, key, 16);
        x->aes = EVP_CIPHER_CTX_new();
        if (!x->aes || EVP_EncryptInit_ex(x->aes, EVP_aes_128_ecb(), NULL, key, NULL) != 1)
            return gdn_error(GDN_ECRYPTO, "prio xof: cannot key AES-128");
        EVP_CIPHER_CTX_set_padding(x->aes, 0);
        x->ready = 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (x->buf_pos == 16) {
            int rc = aes_block(x, x->buf);
            if (rc)
                return rc;
            x->buf_pos = 0;
        }
        out[i] = x->buf[x->buf_pos++];
    }
    return 0;
}

int prio_xof_next_vec(prio_xof *x, const prio_field *F, prio_fe *out, size_t n)
{
    uint8_t b[16];
    for (size_t i = 0; i < n;) {
        int rc = prio_xof_next(x, b, F->encoded_size);
        if (rc)
            return rc;
        i += (size_t)prio_fe_sample(F, &out[i], b); /* rejection sampling */
    }
    return 0;
}

void prio_xof_free(prio_xof *x)
{
    if (x->aes)
        EVP_CIPHER_CTX_free(x->aes);
    prio_wipe(x, sizeof *x);
}
