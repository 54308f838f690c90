/* dp internals: the random-bit pool and the exact building blocks of the
 * samplers, exposed for the tests and the rest of dp/. */
#ifndef GDN_DP_INTERNAL_H
#define GDN_DP_INTERNAL_H

#include <stdint.h>

#include "guardian/core.h"

/* ---- Random bits -------------------------------------------------------
 * The samplers consume a few bits per decision; drawing them one
 * gdn_rng_u64 at a time would cost more than the sampling. The pool reads
 * the ChaCha20 stream 512 bytes at a time and hands out w-bit pieces; it
 * lives on the caller's stack for one vector call and is wiped after. */

#define GDN_DP_POOL_BYTES 512

typedef struct gdn_dp_bits {
    gdn_rng *rng;
    uint64_t cur;   /* unused bits, the low `avail` of them */
    unsigned avail;
    unsigned pos;   /* next unread byte of buf */
    uint8_t buf[GDN_DP_POOL_BYTES];
} gdn_dp_bits;

void gdn_dp_bits_init(gdn_dp_bits *b, gdn_rng *rng);
void gdn_dp_bits_wipe(gdn_dp_bits *b);
void gdn_dp_bits_refill(gdn_dp_bits *b);

/* w uniform bits, 1 <= w <= 64. Leftover bits of a word too short for w
 * are dropped (independent of the outcome, so nothing is biased). */
static inline uint64_t gdn_dp_bits_take(gdn_dp_bits *b, unsigned w)
{
    uint64_t r;

    if (b->avail < w) {
        if (b->pos == GDN_DP_POOL_BYTES)
            gdn_dp_bits_refill(b);
        b->cur = gdn_load_le64(b->buf + b->pos);
        b->pos += 8;
        b->avail = 64;
    }
    if (w == 64) {
        r = b->cur;
        b->cur = 0;
    } else {
        r = b->cur & (((uint64_t)1 << w) - 1);
        b->cur >>= w;
    }
    b->avail -= w;
    return r;
}

/* Index of the highest set bit of x > 0. */
static inline unsigned gdn_dp_msb(uint64_t x)
{
#if defined(__GNUC__)
    return 63u - (unsigned)__builtin_clzll(x);
#else
    unsigned m = 0;
    while (x >>= 1)
        m++;
    return m;
#endif
}

/* Bernoulli(a/c), exactly, for 0 <= a and 0 < c < 2^63 (a >= c gives 1).
 * Compares a uniform U in [0,1), generated w bits at a time, with a/c:
 * with r the next w bits, (r+1) c <= a 2^w means U < a/c, r c >= a 2^w
 * means U >= a/c, and otherwise (probability < 2^-w) the comparison
 * continues on the remainder a 2^w - r c. Integer arithmetic only. */
static inline int gdn_dp_bernoulli(gdn_dp_bits *b, uint64_t a, uint64_t c)
{
    unsigned w;

    if (a >= c)
        return 1;
    if (a == 0)
        return 0;
    w = 63u - gdn_dp_msb(c); /* c 2^w < 2^64 */
    if (w > 16)
        w = 16;
    for (;;) {
        uint64_t rc = gdn_dp_bits_take(b, w) * c, aw = a << w;
        if (rc + c <= aw)
            return 1;
        if (rc >= aw)
            return 0;
        a = aw - rc;
    }
}

/* ---- Exact building blocks (sample.c) ----------------------------------- */

/* Uniform integer in [0, bound), 0 < bound < 2^63, exact (rejection). */
uint64_t gdn_dp_uniform(gdn_dp_bits *b, uint64_t bound);
/* Bernoulli(exp(-1)) (CKS 2020, Algorithm 1 at gamma = 1), see sample.c. */
int gdn_dp_bernoulli_exp1(gdn_dp_bits *b);
/* Bernoulli(exp(-num/den)) for den in [1, 2^63) (CKS 2020, Algorithm 1). */
int gdn_dp_bernoulli_exp(gdn_dp_bits *b, uint64_t num, uint64_t den);

/* Precomputed parameters of N_Z(0, num/den) (Algorithm 3 of CKS 2020). */
typedef struct gdn_dp_dgauss {
    uint64_t lap_s, lap_t; /* discrete Laplace envelope, rate lap_s/lap_t */
    uint64_t p, q;         /* shift: e = |y| p - q */
    uint64_t m, d;         /* bias gamma = e^2 m / d */
    uint64_t e_fast;       /* e <= e_fast: e^2 m fits in 64 bits */
} gdn_dp_dgauss;

int gdn_dp_dgauss_init(gdn_dp_dgauss *g, uint64_t sigma2_num, uint64_t sigma2_den);
int gdn_dp_dgauss_draw(int64_t *out, const gdn_dp_dgauss *g, gdn_dp_bits *b);

/* Discrete Laplace with rate s/t (scale t/s), CKS 2020 Algorithm 2. */
int gdn_dp_dlaplace_draw(int64_t *out, uint64_t s, uint64_t t, gdn_dp_bits *b);

/* Precomputed parameters of Poisson(a/b) (rejection from a window with
 * geometric tails, see sample.c). */
typedef struct gdn_dp_poisson_p {
    uint64_t a, b;        /* lambda = a/b, reduced */
    uint64_t mode, ceil;  /* floor(lambda), ceil(lambda) */
    uint64_t lo, hi;      /* window [lo, hi] around the mode */
    uint64_t wr, wl;      /* denominators of the tail ratios */
    uint64_t total;       /* common-denominator weight of window + tails */
} gdn_dp_poisson_p;

int gdn_dp_poisson_init(gdn_dp_poisson_p *p, uint64_t num, uint64_t den);
int gdn_dp_poisson_draw(int64_t *out, const gdn_dp_poisson_p *p, gdn_dp_bits *b);

/* Largest s with s^2 den <= num (den >= 1). */
uint64_t gdn_dp_isqrt_ratio(uint64_t num, uint64_t den);

#endif
