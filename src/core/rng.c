/* The generator: a ChaCha20 keystream (RFC 8439) produced by libsodium's
 * crypto_stream_chacha20_ietf_xor_ic; this file only keys it and turns its
 * bytes into integers and floats. */
#include <math.h>
#include <string.h>

#include <sodium.h>

#include "guardian/core.h"

static void refill(gdn_rng *rng)
{
    memset(rng->buf, 0, sizeof rng->buf);
    crypto_stream_chacha20_ietf_xor_ic(rng->buf, rng->buf, sizeof rng->buf,
                                       rng->nonce, rng->counter, rng->key);
    rng->counter += sizeof rng->buf / 64;
    if (rng->counter == 0) {
        /* 256 GiB used under this nonce: move to the next one. */
        for (size_t i = 0; i < GDN_RNG_NONCEBYTES && ++rng->nonce[i] == 0; i++)
            ;
    }
    rng->pos = 0;
}

void gdn_rng_init_key(gdn_rng *rng, const uint8_t key[GDN_RNG_KEYBYTES],
                      const uint8_t nonce[GDN_RNG_NONCEBYTES])
{
    memcpy(rng->key, key, GDN_RNG_KEYBYTES);
    memcpy(rng->nonce, nonce, GDN_RNG_NONCEBYTES);
    rng->counter = 0;
    rng->pos = sizeof rng->buf;
}

int gdn_rng_init_system(gdn_rng *rng)
{
    static const uint8_t zero_nonce[GDN_RNG_NONCEBYTES];
    uint8_t key[GDN_RNG_KEYBYTES];

    if (sodium_init() < 0)
        return gdn_error(GDN_ECRYPTO, "libsodium failed to initialise");
    randombytes_buf(key, sizeof key);
    gdn_rng_init_key(rng, key, zero_nonce);
    sodium_memzero(key, sizeof key);
    return 0;
}

void gdn_rng_init_seed(gdn_rng *rng, uint64_t seed)
{
    static const uint8_t zero_nonce[GDN_RNG_NONCEBYTES];
    static const char label[] = "guardian rng seed";
    uint8_t msg[sizeof label - 1 + 8], key[GDN_RNG_KEYBYTES];

    memcpy(msg, label, sizeof label - 1);
    gdn_store_le64(msg + sizeof label - 1, seed);
    crypto_generichash(key, sizeof key, msg, sizeof msg, NULL, 0);
    gdn_rng_init_key(rng, key, zero_nonce);
    sodium_memzero(key, sizeof key);
}

void gdn_rng_derive(gdn_rng *child, const gdn_rng *parent, uint64_t stream)
{
    static const uint8_t zero_nonce[GDN_RNG_NONCEBYTES];
    uint8_t id[8], key[GDN_RNG_KEYBYTES];

    gdn_store_le64(id, stream);
    crypto_generichash(key, sizeof key, id, sizeof id, parent->key,
                       GDN_RNG_KEYBYTES);
    gdn_rng_init_key(child, key, zero_nonce);
    sodium_memzero(key, sizeof key);
}

void gdn_rng_bytes(gdn_rng *rng, void *out, size_t n)
{
    uint8_t *p = out;

    while (n > 0) {
        size_t take;
        if (rng->pos == sizeof rng->buf)
            refill(rng);
        take = sizeof rng->buf - rng->pos;
        if (take > n)
            take = n;
        memcpy(p, rng->buf + rng->pos, take);
        sodium_memzero(rng->buf + rng->pos, take); /* no keystream reuse */
        rng->pos += (uint32_t)take;
        p += take;
        n -= take;
    }
}

uint32_t gdn_rng_u32(gdn_rng *rng)
{
    uint8_t b[4];

    gdn_rng_bytes(rng, b, sizeof b);
    return gdn_load_le32(b);
}

uint64_t gdn_rng_u64(gdn_rng *rng)
{
    uint8_t b[8];

    gdn_rng_bytes(rng, b, sizeof b);
    return gdn_load_le64(b);
}

uint64_t gdn_rng_uniform(gdn_rng *rng, uint64_t bound)
{
    /* Reject the top (2^64 mod bound) values so every residue is equally likely. */
    uint64_t threshold = (0 - bound) % bound, r;

    do
        r = gdn_rng_u64(rng);
    while (r < threshold);
    return r % bound;
}

float gdn_rng_float(gdn_rng *rng)
{
    return (float)(gdn_rng_u32(rng) >> 8) * 0x1.0p-24f;
}

double gdn_rng_double(gdn_rng *rng)
{
    return (double)(gdn_rng_u64(rng) >> 11) * 0x1.0p-53;
}

double gdn_rng_normal(gdn_rng *rng)
{
    double u, v, s;

    do {
        u = 2.0 * gdn_rng_double(rng) - 1.0;
        v = 2.0 * gdn_rng_double(rng) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    return u * sqrt(-2.0 * log(s) / s);
}

void gdn_rng_shuffle(gdn_rng *rng, uint32_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)gdn_rng_uniform(rng, i);
        uint32_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

void gdn_rng_wipe(gdn_rng *rng)
{
    sodium_memzero(rng, sizeof *rng);
}
