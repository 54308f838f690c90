/* he: moduli, modular exponentiation and NTT-friendly prime generation. */
#include "he/he_internal.h"

void he_mod_init(he_mod *m, uint64_t q)
{
    unsigned k = 64 - (unsigned)__builtin_clzll(q);
    he_u128 mu = ~(he_u128)0 / q; /* = floor(2^128 / q): q is odd */

    m->q = q;
    m->bits = k;
    m->bar = (uint64_t)(((he_u128)1 << (2 * k)) / q);
    m->mu_hi = (uint64_t)(mu >> 64);
    m->mu_lo = (uint64_t)mu;
    m->mu64 = (uint64_t)(~(uint64_t)0 / q);
}

uint64_t he_pow(uint64_t a, uint64_t e, const he_mod *m)
{
    uint64_t r = 1 % m->q;

    a %= m->q;
    while (e) {
        if (e & 1)
            r = he_mul(r, a, m);
        a = he_mul(a, a, m);
        e >>= 1;
    }
    return r;
}

uint64_t he_inv(uint64_t a, const he_mod *m)
{
    return he_pow(a, m->q - 2, m);
}

static uint64_t mulmod_any(uint64_t a, uint64_t b, uint64_t n)
{
    return (uint64_t)((he_u128)a * b % n);
}

static uint64_t powmod_any(uint64_t a, uint64_t e, uint64_t n)
{
    uint64_t r = 1 % n;
    a %= n;
    while (e) {
        if (e & 1)
            r = mulmod_any(r, a, n);
        a = mulmod_any(a, a, n);
        e >>= 1;
    }
    return r;
}

/* Miller-Rabin with the first 12 prime bases: deterministic below 3.3e24
 * (Sorenson-Webster 2015), so for every 64-bit n. */
int he_is_prime(uint64_t n)
{
    static const uint64_t bases[] = {2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37};
    uint64_t d = n - 1;
    unsigned s = 0;

    if (n < 2)
        return 0;
    for (size_t i = 0; i < sizeof bases / sizeof *bases; i++) {
        if (n == bases[i])
            return 1;
        if (n % bases[i] == 0)
            return 0;
    }
    while (!(d & 1))
        d >>= 1, s++;
    for (size_t i = 0; i < sizeof bases / sizeof *bases; i++) {
        uint64_t x = powmod_any(bases[i], d, n);
        if (x == 1 || x == n - 1)
            continue;
        unsigned r;
        for (r = 1; r < s; r++) {
            x = mulmod_any(x, x, n);
            if (x == n - 1)
                break;
        }
        if (r == s)
            return 0;
    }
    return 1;
}

int he_gen_primes(uint64_t *out, unsigned count, unsigned bits, uint64_t two_n,
                  const uint64_t *avoid, size_t navoid)
{
    uint64_t top = (uint64_t)1 << bits, lo = (uint64_t)1 << (bits - 1);
    uint64_t q = top - top % two_n + 1; /* largest 1 mod 2N candidate... */
    unsigned found = 0;

    if (q >= top)
        q -= two_n;
    for (; q > lo && found < count; q -= two_n) {
        int used = 0;
        for (size_t i = 0; i < navoid; i++)
            used |= avoid[i] == q;
        for (unsigned i = 0; i < found; i++)
            used |= out[i] == q;
        if (!used && he_is_prime(q))
            out[found++] = q;
    }
    if (found < count)
        return gdn_error(GDN_ERANGE, "ckks: only %u primes of %u bits are 1 mod %llu",
                         found, bits, (unsigned long long)two_n);
    return 0;
}
