/* TurboSHAKE128 (RFC 9861: Keccak-p[1600, 12 rounds], rate 168 bytes) and
 * the two XOFs of draft-irtf-cfrg-vdaf-20 §6.2: XofTurboShake128 (§6.2.1)
 * and XofFixedKeyAes128 (§6.2.2, AES-128 through OpenSSL EVP), and PINE's
 * XofHmacSha256Aes128 (HMAC-SHA256 and AES-128-CTR through OpenSSL, which
 * uses the CPU's SHA and AES instructions). */
#include <string.h>

#include <openssl/core_names.h>
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

/* Keccak-p[1600, 12] (FIPS 202 §3.3, RFC 9861 §2.2), written out lane by
 * lane: theta's column parities, then rho and pi together (lane x + 5y
 * rotated by its rho offset lands at y + 5 ((2x + 3y) mod 5)), chi row by
 * row, iota. One body serves two lane types: uint64_t, and with AVX-512 one
 * lane per 128-bit register, where the 32 registers hold the whole state,
 * three-input XOR and chi are one vpternlogq each and rotations one vprolq. */
#define KECCAK_ROUNDS(XOR, XOR5, ROL, CHI, IOTA)                                               \
    _Pragma("GCC unroll 12") for (int round = 12; round < 24; round++) {                       \
        c[0] = XOR5(a[0], a[5], a[10], a[15], a[20]);                                          \
        c[1] = XOR5(a[1], a[6], a[11], a[16], a[21]);                                          \
        c[2] = XOR5(a[2], a[7], a[12], a[17], a[22]);                                          \
        c[3] = XOR5(a[3], a[8], a[13], a[18], a[23]);                                          \
        c[4] = XOR5(a[4], a[9], a[14], a[19], a[24]);                                          \
        d[0] = XOR(c[4], ROL(c[1], 1));                                                        \
        d[1] = XOR(c[0], ROL(c[2], 1));                                                        \
        d[2] = XOR(c[1], ROL(c[3], 1));                                                        \
        d[3] = XOR(c[2], ROL(c[4], 1));                                                        \
        d[4] = XOR(c[3], ROL(c[0], 1));                                                        \
        b[0] = XOR(a[0], d[0]);                                                                \
        b[10] = ROL(XOR(a[1], d[1]), 1);                                                       \
        b[20] = ROL(XOR(a[2], d[2]), 62);                                                      \
        b[5] = ROL(XOR(a[3], d[3]), 28);                                                       \
        b[15] = ROL(XOR(a[4], d[4]), 27);                                                      \
        b[16] = ROL(XOR(a[5], d[0]), 36);                                                      \
        b[1] = ROL(XOR(a[6], d[1]), 44);                                                       \
        b[11] = ROL(XOR(a[7], d[2]), 6);                                                       \
        b[21] = ROL(XOR(a[8], d[3]), 55);                                                      \
        b[6] = ROL(XOR(a[9], d[4]), 20);                                                       \
        b[7] = ROL(XOR(a[10], d[0]), 3);                                                       \
        b[17] = ROL(XOR(a[11], d[1]), 10);                                                     \
        b[2] = ROL(XOR(a[12], d[2]), 43);                                                      \
        b[12] = ROL(XOR(a[13], d[3]), 25);                                                     \
        b[22] = ROL(XOR(a[14], d[4]), 39);                                                     \
        b[23] = ROL(XOR(a[15], d[0]), 41);                                                     \
        b[8] = ROL(XOR(a[16], d[1]), 45);                                                      \
        b[18] = ROL(XOR(a[17], d[2]), 15);                                                     \
        b[3] = ROL(XOR(a[18], d[3]), 21);                                                      \
        b[13] = ROL(XOR(a[19], d[4]), 8);                                                      \
        b[14] = ROL(XOR(a[20], d[0]), 18);                                                     \
        b[24] = ROL(XOR(a[21], d[1]), 2);                                                      \
        b[9] = ROL(XOR(a[22], d[2]), 61);                                                      \
        b[19] = ROL(XOR(a[23], d[3]), 56);                                                     \
        b[4] = ROL(XOR(a[24], d[4]), 14);                                                      \
        for (int y = 0; y < 25; y += 5)                                                        \
            for (int x = 0; x < 5; x++)                                                        \
                a[y + x] = CHI(b[y + x], b[y + (x + 1) % 5], b[y + (x + 2) % 5]);              \
        a[0] = IOTA(a[0], keccak_rc[round]);                                                   \
    }

#define XOR64(x, y) ((x) ^ (y))
#define XOR5_64(p, q, r, s, t) ((p) ^ (q) ^ (r) ^ (s) ^ (t))
#define ROL64(v, n) (((v) << (n)) | ((v) >> (64 - (n))))
#define CHI64(x, y, z) ((x) ^ (~(y) & (z)))
static void keccak_p12_portable(uint64_t a[25])
{
    uint64_t b[25], c[5], d[5];
    KECCAK_ROUNDS(XOR64, XOR5_64, ROL64, CHI64, XOR64)
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define KECCAK_X86 1
#define XORV(x, y) _mm_xor_si128((x), (y))
#define XOR3V(p, q, r) _mm_ternarylogic_epi64((p), (q), (r), 0x96)
#define XOR5V(p, q, r, s, t) XOR3V(XOR3V(p, q, r), s, t)
#define ROLV(v, n) _mm_rol_epi64((v), (n))
#define CHIV(x, y, z) _mm_ternarylogic_epi64((x), (y), (z), 0xd2) /* x ^ (~y & z) */
#define IOTAV(x, rc) _mm_xor_si128((x), _mm_cvtsi64_si128((long long)(rc)))
__attribute__((target("avx512f,avx512vl"))) static void keccak_p12_avx512(uint64_t s[25])
{
    __m128i a[25], b[25], c[5], d[5];
    for (int i = 0; i < 25; i++)
        a[i] = _mm_cvtsi64_si128((long long)s[i]);
    KECCAK_ROUNDS(XORV, XOR5V, ROLV, CHIV, IOTAV)
    for (int i = 0; i < 25; i++)
        s[i] = (uint64_t)_mm_cvtsi128_si64(a[i]);
}
#endif

static void keccak_p12(uint64_t a[25])
{
#ifdef KECCAK_X86
    if (prio_simd()) {
        keccak_p12_avx512(a);
        return;
    }
#endif
    keccak_p12_portable(a);
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
    while (n > 0) {
        if (t->pos % 8 == 0 && n >= 8) { /* whole lanes */
            t->a[t->pos / 8] ^= gdn_load_le64(p);
            t->pos += 8, p += 8, n -= 8;
        } else {
            xor_byte(t->a, t->pos++, *p++);
            n--;
        }
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
    while (n > 0) {
        if (t->pos == RATE) {
            keccak_p12(t->a);
            t->pos = 0;
        }
        if (t->pos % 8 == 0 && n >= 8) { /* whole lanes */
            gdn_store_le64(out, t->a[t->pos / 8]);
            t->pos += 8, out += 8, n -= 8;
        } else {
            *out++ = (uint8_t)(t->a[t->pos / 8] >> (8 * (t->pos % 8)));
            t->pos++, n--;
        }
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
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    OSSL_PARAM params[2] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end()};
    x->hmac = mac ? EVP_MAC_CTX_new(mac) : NULL; /* the context holds its own reference */
    EVP_MAC_free(mac);
    if (!x->hmac || EVP_MAC_init(x->hmac, seed, seed_len, params) != 1 ||
        EVP_MAC_update(x->hmac, &l, 1) != 1 || EVP_MAC_update(x->hmac, dst1, dst1_len) != 1 ||
        EVP_MAC_update(x->hmac, dst2, dst2_len) != 1)
        return gdn_error(GDN_ECRYPTO, "prio xof: HMAC-SHA256 unavailable");
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
    if (x->id != PRIO_XOF_HMAC_SHA256_AES128)
        prio_turboshake_absorb(&x->ts, p, n);
    else if (x->hmac && EVP_MAC_update(x->hmac, p, n) != 1)
        x->failed = 1; /* reported by the next read */
}

/* XofHmacSha256Aes128: AES-128-CTR keystream (OpenSSL EVP), keyed at the
 * first read from the HMAC of everything absorbed. */
static int next_hmac_aes(prio_xof *x, uint8_t *out, size_t n)
{
    if (!x->ready) {
        uint8_t h[32];
        size_t hl = 0;
        int ok = !x->failed && x->hmac && EVP_MAC_final(x->hmac, h, &hl, sizeof h) == 1 &&
                 hl == sizeof h;
        EVP_MAC_CTX_free(x->hmac);
        x->hmac = NULL;
        x->aes = ok ? EVP_CIPHER_CTX_new() : NULL;
        ok = x->aes && EVP_EncryptInit_ex(x->aes, EVP_aes_128_ctr(), NULL, h, h + 16) == 1;
        sodium_memzero(h, sizeof h);
        if (!ok)
            return gdn_error(GDN_ECRYPTO, "prio xof: cannot key AES-128-CTR");
        x->ready = 1;
    }
    static const uint8_t zeros[16384] = {0}; /* the keystream: zeros encrypted */
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

/* Rejection sampling (§6.1.2's next_vec): each candidate takes the next
 * encoded_size bytes of the stream, and an accepted candidate's bytes are
 * its element's encoding. Candidates are read in bulk (with enc, straight
 * into it) and decoded as a vector; when one is out of range (for Field64
 * about 2^-32 of them), the accepted ones of that read are kept in order and
 * the rest is read again: the stream is consumed exactly as one read per
 * candidate would. */
int prio_xof_next_vec_enc(prio_xof *x, const prio_field *F, prio_fe *out, uint8_t *enc,
                          size_t n)
{
    uint8_t tmp[256 * 16];
    size_t es = F->encoded_size, used = 0;
    int rc = 0;
    for (size_t i = 0; i < n && !rc;) {
        size_t want = enc ? n - i : (n - i < 256 ? n - i : 256);
        uint8_t *b = enc ? enc + i * es : tmp;
        used = !enc && want * es > used ? want * es : used;
        if ((rc = prio_xof_next(x, b, want * es)))
            break;
        if (prio_vec_decode(F, out + i, b, want) == 0) {
            i += want;
            continue;
        }
        for (size_t k = 0; k < want; k++) /* i <= k's index: moves only backwards */
            if (prio_fe_sample(F, &out[i], b + k * es)) {
                if (enc)
                    memmove(enc + i * es, b + k * es, es);
                i++;
            }
    }
    prio_wipe(tmp, used);
    return rc;
}

int prio_xof_next_vec(prio_xof *x, const prio_field *F, prio_fe *out, size_t n)
{
    return prio_xof_next_vec_enc(x, F, out, NULL, n);
}

void prio_xof_free(prio_xof *x)
{
    EVP_MAC_CTX_free(x->hmac); /* its key schedule is cleansed by OpenSSL */
    if (x->aes)
        EVP_CIPHER_CTX_free(x->aes);
    prio_wipe(x, sizeof *x);
}
