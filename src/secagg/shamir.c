/* Shamir t-of-n secret sharing (Shamir 1979) of 32-byte secrets over the
 * Mersenne prime field GF(p), p = 2^61 - 1.
 *
 * Why this field: reduction modulo a Mersenne prime is two shifts, a mask and
 * an add, with no secret-dependent branch; a 32-byte secret splits into eight
 * 32-bit limbs, each < p, so every secret round-trips exactly; each limb is
 * shared with its own random polynomial, so fewer than t shares say nothing
 * about any limb. x-coordinates are public (client index + 1), so only the
 * inversions in the Lagrange weights — which touch no secret — may be
 * variable time. Shares are eight le64 field elements (64 bytes). */
#include <string.h>

#include <sodium.h>

#include "secagg/internal.h"

#define P61 ((uint64_t)0x1FFFFFFFFFFFFFFFULL)
#define LIMBS 8

typedef unsigned __int128 u128;

/* x mod p for x < 2^62 + 2^61, constant time. */
static uint64_t reduce(uint64_t x)
{
    uint64_t r = (x & P61) + (x >> 61), t, mask;

    t = r - P61;
    mask = (uint64_t)0 - (t >> 63); /* all ones when r < p */
    return (t & ~mask) | (r & mask);
}

static uint64_t fmul(uint64_t a, uint64_t b)
{
    u128 z = (u128)a * b;
    uint64_t lo = (uint64_t)z & P61, hi = (uint64_t)(z >> 61);

    return reduce(lo + hi);
}

static uint64_t fadd(uint64_t a, uint64_t b) { return reduce(a + b); }
static uint64_t fsub(uint64_t a, uint64_t b) { return reduce(a + P61 - b); }

/* a^(p-2): inverse of a public nonzero a (variable time is fine here). */
static uint64_t finv(uint64_t a)
{
    uint64_t r = 1, e = P61 - 2;

    while (e) {
        if (e & 1)
            r = fmul(r, a);
        a = fmul(a, a);
        e >>= 1;
    }
    return r;
}

static int check_xs(const uint32_t *xs, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (xs[i] == 0 || xs[i] >= (1u << 31))
            return gdn_error(GDN_EINVAL, "shamir: x = %u, expected 1..2^31-1", xs[i]);
        for (size_t j = 0; j < i; j++)
            if (xs[j] == xs[i])
                return gdn_error(GDN_EINVAL, "shamir: x = %u repeated", xs[i]);
    }
    return 0;
}

int gdn_secagg_shamir_split(uint8_t *shares, const uint8_t secret[32],
                            const uint32_t *xs, size_t count, uint32_t t,
                            gdn_rng *rng)
{
    uint64_t *poly;
    int rc;

    if (!shares || !secret || !xs || !rng || t < 1 || t > count)
        return gdn_error(GDN_EINVAL, "shamir: threshold %u of %zu shares", t, count);
    if ((rc = check_xs(xs, count)))
        return rc;
    /* Coefficients limb-major: poly[l * t + d], degree 0 = the secret limb. */
    poly = sodium_malloc((size_t)LIMBS * t * sizeof *poly);
    if (!poly)
        return gdn_error(GDN_ENOMEM, "shamir: %u coefficients", t);
    for (int l = 0; l < LIMBS; l++) {
        poly[(size_t)l * t] = gdn_load_le32(secret + 4 * l);
        for (uint32_t d = 1; d < t; d++)
            poly[(size_t)l * t + d] = gdn_rng_uniform(rng, P61);
    }
    for (size_t i = 0; i < count; i++) {
        uint64_t x = xs[i];
        for (int l = 0; l < LIMBS; l++) {
            /* Horner: constant time in the coefficients. */
            uint64_t y = 0;
            for (uint32_t d = t; d-- > 0;)
                y = fadd(fmul(y, x), poly[(size_t)l * t + d]);
            gdn_store_le64(shares + i * GDN_SECAGG_SHARE_BYTES + 8 * l, y);
        }
    }
    sodium_free(poly); /* zeroes before freeing */
    return 0;
}

int gdn_secagg_shamir_combine(uint8_t secret[32], const uint8_t *shares,
                              const uint32_t *xs, size_t count, uint32_t t)
{
    uint64_t acc[LIMBS] = {0}, bad = 0;
    int rc;

    if (!secret || !shares || !xs || t < 1)
        return gdn_error(GDN_EINVAL, "shamir: missing argument");
    if (count < t)
        return gdn_error(GDN_EINVAL, "shamir: %zu shares, below the threshold %u",
                         count, t);
    if ((rc = check_xs(xs, t)))
        return rc;
    for (uint32_t j = 0; j < t; j++) {
        /* Lagrange weight at 0: prod_{m != j} x_m / (x_m - x_j), all public. */
        uint64_t num = 1, den = 1, w;
        for (uint32_t m = 0; m < t; m++) {
            if (m == j)
                continue;
            num = fmul(num, xs[m]);
            den = fmul(den, fsub(xs[m], xs[j]));
        }
        w = fmul(num, finv(den));
        for (int l = 0; l < LIMBS; l++) {
            uint64_t y = gdn_load_le64(shares + (size_t)j * GDN_SECAGG_SHARE_BYTES + 8 * l);
            bad |= (y >> 61) | ((y + 1) >> 61); /* y >= p */
            acc[l] = fadd(acc[l], fmul(reduce(y & ((1ULL << 62) - 1)), w));
        }
    }
    for (int l = 0; l < LIMBS; l++) {
        bad |= acc[l] >> 32;
        gdn_store_le32(secret + 4 * l, (uint32_t)acc[l]);
    }
    sodium_memzero(acc, sizeof acc);
    if (bad) {
        sodium_memzero(secret, 32);
        return gdn_error(GDN_ECRYPTO, "shamir: shares inconsistent with a 32-byte secret");
    }
    return 0;
}
