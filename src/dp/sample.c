/* Exact samplers in integer arithmetic: Bernoulli(exp(-gamma)), discrete
 * Laplace, discrete Gaussian (Canonne, Kamath, Steinke, "The Discrete
 * Gaussian for Differential Privacy", NeurIPS 2020, Algorithms 1-3) and
 * Poisson / Skellam.
 *
 * Precautions (Mironov, CCS 2012, broke floating-point Laplace because its
 * outputs' low bits depend on the input): no sampler here touches floating
 * point. Every probability is a ratio of 64-bit integers, every coin is an
 * exact comparison of uniform bits with that ratio (gdn_dp_bernoulli), so
 * each output has exactly the stated distribution; arithmetic that could
 * overflow is checked, and the only cut-off is documented where it is
 * taken (an acceptance probability below exp(-2^63) treated as 0). Running
 * time depends on the random draws (as in the paper): these samplers are
 * for noise that is published, not for secrets that must stay hidden. */
#include <math.h>
#include <string.h>

#include "dp/internal.h"
#include "guardian/dp.h"

#define U63 ((uint64_t)1 << 63)

/* ---- Helpers ------------------------------------------------------------ */

/* *r = a * b; 1 on overflow of 64 bits. */
static int mul_overflows(uint64_t a, uint64_t b, uint64_t *r)
{
#if defined(__GNUC__)
    return __builtin_mul_overflow(a, b, r);
#else
    if (a && b > UINT64_MAX / a)
        return 1;
    *r = a * b;
    return 0;
#endif
}

static uint64_t gcd64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* 128-bit unsigned values for the rare wide path of the Gaussian bias. */
typedef struct {
    uint64_t hi, lo;
} u128;

static u128 mul_wide(uint64_t a, uint64_t b)
{
    uint64_t a0 = (uint32_t)a, a1 = a >> 32, b0 = (uint32_t)b, b1 = b >> 32;
    uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    uint64_t mid = (p00 >> 32) + (uint32_t)p01 + (uint32_t)p10;
    u128 r;

    r.lo = (mid << 32) | (uint32_t)p00;
    r.hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
    return r;
}

/* x / d (d in [1, 2^63)), quotient as 128 bits, remainder in *rem. */
static u128 divmod_wide(u128 x, uint64_t d, uint64_t *rem)
{
    u128 q;
    uint64_t r;

    q.hi = x.hi / d;
    r = x.hi % d;
    q.lo = 0;
    for (int i = 63; i >= 0; i--) { /* r < d < 2^63: 2r + 1 fits */
        r = (r << 1) | ((x.lo >> i) & 1);
        if (r >= d) {
            r -= d;
            q.lo |= (uint64_t)1 << i;
        }
    }
    *rem = r;
    return q;
}

uint64_t gdn_dp_isqrt_ratio(uint64_t num, uint64_t den)
{
    /* A floating-point estimate (of a parameter, not of a draw), then exact
     * integer corrections. */
    uint64_t s = (uint64_t)sqrt((double)num / (double)den), sq, t;

    while (s > 0 && (mul_overflows(s, s, &sq) || mul_overflows(sq, den, &t) || t > num))
        s--;
    while (!mul_overflows(s + 1, s + 1, &sq) && !mul_overflows(sq, den, &t) && t <= num)
        s++;
    return s;
}

/* ---- The bit pool ------------------------------------------------------- */

void gdn_dp_bits_init(gdn_dp_bits *b, gdn_rng *rng)
{
    b->rng = rng;
    b->cur = 0;
    b->avail = 0;
    b->pos = GDN_DP_POOL_BYTES;
}

void gdn_dp_bits_refill(gdn_dp_bits *b)
{
    gdn_rng_bytes(b->rng, b->buf, sizeof b->buf);
    b->pos = 0;
}

void gdn_dp_bits_wipe(gdn_dp_bits *b)
{
    /* Through a volatile pointer so the stores are not optimised away. */
    volatile uint8_t *p = (volatile uint8_t *)b;
    for (size_t i = 0; i < sizeof *b; i++)
        p[i] = 0;
}

uint64_t gdn_dp_uniform(gdn_dp_bits *b, uint64_t bound)
{
    if (bound <= 1)
        return 0;
    if (bound <= ((uint64_t)1 << 24)) {
        /* Lemire's multiply-shift with rejection of the short first range. */
        uint64_t m = gdn_dp_bits_take(b, 32) * bound;
        if ((uint32_t)m < bound) {
            uint32_t threshold = (uint32_t)(0u - (uint32_t)bound) % (uint32_t)bound;
            while ((uint32_t)m < threshold)
                m = gdn_dp_bits_take(b, 32) * bound;
        }
        return m >> 32;
    }
    unsigned w = gdn_dp_msb(bound - 1) + 1;
    uint64_t r;
    do
        r = gdn_dp_bits_take(b, w);
    while (r >= bound);
    return r;
}

/* ---- Bernoulli(exp(-gamma)), CKS 2020 Algorithm 1 ------------------------
 * For gamma in [0, 1]: K = the first k with a failed Bernoulli(gamma/k)
 * trial; P(K odd) = exp(-gamma). For gamma > 1, exp(-gamma) is
 * exp(-1)^floor(gamma) exp(-frac(gamma)). */

/* gamma = a/c in [0, 1). Bernoulli(a/(c k)) is one exact comparison when
 * c k fits, else the product Bernoulli(1/k) Bernoulli(a/c) of two
 * independent coins, which has the same law. */
static int bernoulli_exp_frac(gdn_dp_bits *b, uint64_t a, uint64_t c)
{
    uint64_t ck, k = 1;

    if (a == 0)
        return 1;
    if (c < ((uint64_t)1 << 40)) /* c k < 2^63 until k = 2^23: no checks */
        for (ck = c; k < ((uint64_t)1 << 23); k++, ck += c)
            if (!gdn_dp_bernoulli(b, a, ck))
                return (int)(k & 1);
    for (;; k++) {
        int ok;
        if (!mul_overflows(c, k, &ck) && ck < U63)
            ok = gdn_dp_bernoulli(b, a, ck);
        else
            ok = gdn_dp_bernoulli(b, 1, k) && gdn_dp_bernoulli(b, a, c);
        if (!ok)
            return (int)(k & 1);
    }
}

/* Bernoulli(exp(-1)) from one 16-bit uniform in most cases. K, the first k
 * whose Bernoulli(1/k) trial fails, has P(K >= j + 1) = 1/j!; the trials
 * are nested, so K can be read off one uniform U: K >= j + 1 iff U < 1/j!.
 * With R the first 16 bits of U and L = floor(2^16/j!), levels j = 2..8
 * decide "U < 1/j!" exactly: R < L yes, R > L no, R = L by an exact coin
 * for the remainder ((2^16 mod j!)/j!). A "yes" settled by that coin puts U
 * in [L 2^-16, 1/j!), above 1/(j+1)! for j <= 7, so K = j + 1. Level 8 is
 * passed (R = 0, or R = 1 and its coin) with probability exactly
 * (1 + (2^16 mod 8!)/8!) 2^-16 = 1/8!, and from there fresh Bernoulli(1/k)
 * trials continue the chain: P(K >= 9 + m) = 1/(8+m)! as required. */
static inline int bernoulli_exp1(gdn_dp_bits *b)
{
    static const uint32_t fact[9] = {1, 1, 2, 6, 24, 120, 720, 5040, 40320};
    static const uint16_t floor16[9] = {0, 0, 32768, 10922, 2730, 546, 91, 13, 1};
    static const uint16_t rem16[9] = {0, 0, 0, 4, 16, 16, 16, 16, 25216};
    uint64_t r = gdn_dp_bits_take(b, 16), k;

    for (unsigned j = 2; j <= 8; j++) {
        if (r < floor16[j])
            continue; /* U < 1/j! */
        if (r > floor16[j] || !gdn_dp_bernoulli(b, rem16[j], fact[j]))
            return (int)(j & 1); /* U >= 1/j!: K = j */
        if (j < 8)
            return (int)((j + 1) & 1); /* 1/(j+1)! <= U < 1/j!: K = j + 1 */
        break;
    }
    for (k = 9; gdn_dp_bernoulli(b, 1, k); k++)
        ;
    return (int)(k & 1);
}

int gdn_dp_bernoulli_exp1(gdn_dp_bits *b)
{
    return bernoulli_exp1(b);
}

int gdn_dp_bernoulli_exp(gdn_dp_bits *b, uint64_t num, uint64_t den)
{
    uint64_t whole = num / den;

    for (uint64_t i = 0; i < whole; i++)
        if (!bernoulli_exp1(b))
            return 0;
    return bernoulli_exp_frac(b, num % den, den);
}

/* ---- Discrete Laplace, CKS 2020 Algorithm 2 ------------------------------
 * Rate x = s/t: U uniform in [0, t) accepted with probability exp(-U/t),
 * V geometric with ratio exp(-1): (V t + U) is geometric with ratio
 * exp(-1/t), and floor((V t + U)/s) geometric with ratio exp(-s/t); a sign
 * with "-0" rejected gives P(y) ∝ exp(-|y| s/t). */
int gdn_dp_dlaplace_draw(int64_t *out, uint64_t s, uint64_t t, gdn_dp_bits *b)
{
    for (;;) {
        uint64_t u, v = 0, value, mag;
        do
            u = gdn_dp_uniform(b, t);
        while (!bernoulli_exp_frac(b, u, t));
        while (bernoulli_exp1(b))
            v++;
        if (mul_overflows(v, t, &value) || value > UINT64_MAX - u)
            return gdn_error(GDN_ERANGE, "discrete Laplace draw exceeds 64 bits");
        value += u;
        mag = s == 1 ? value : value / s;
        if (mag > (uint64_t)INT64_MAX)
            return gdn_error(GDN_ERANGE, "discrete Laplace draw exceeds 64 bits");
        if (gdn_dp_bits_take(b, 1)) {
            if (mag == 0)
                continue;
            *out = -(int64_t)mag;
        } else {
            *out = (int64_t)mag;
        }
        return 0;
    }
}

/* ---- Discrete Gaussian, CKS 2020 Algorithm 3 ------------------------------
 * Rejection from a discrete Laplace of scale t: a draw y is kept with
 * probability exp(-(|y| - s2/t)^2 / (2 s2)), which is correct for any t > 0
 * (the ratio of the two pmfs is that times a constant). With s2 = n/d:
 *   s2 >= 1: t = s2/r with r = floor(sqrt(s2)), so s2/t = r is an integer
 *            and the bias is (|y| - r)^2 d / (2n): small integers even for a
 *            large or finely quantised variance (the paper's t = floor(s)+1
 *            would need (|y| d t - n)^2 / (2 n d t^2));
 *   s2 < 1:  t = 1 as in the paper, bias (|y| d - n)^2 / (2 n d).
 * Either way t is within a factor 2 of sigma, so about 1.3 Laplace draws
 * are used per output (the paper's analysis). */
int gdn_dp_dgauss_init(gdn_dp_dgauss *g, uint64_t n, uint64_t d)
{
    uint64_t gg, t;

    if (n == 0 || d == 0)
        return gdn_error(GDN_EINVAL, "discrete Gaussian variance %llu/%llu: "
                         "expected > 0", (unsigned long long)n, (unsigned long long)d);
    gg = gcd64(n, d);
    n /= gg;
    d /= gg;
    if (n >= U63 / 2 || d >= U63 / 2)
        return gdn_error(GDN_ERANGE, "discrete Gaussian variance %llu/%llu: "
                         "numerator and denominator must be below 2^62",
                         (unsigned long long)n, (unsigned long long)d);
    memset(g, 0, sizeof *g);
    if (n >= d) {
        uint64_t r = gdn_dp_isqrt_ratio(n, d), ds = d * r; /* ds <= sqrt(nd) */
        gg = gcd64(ds, n);
        g->lap_s = ds / gg;
        g->lap_t = n / gg;
        g->p = 1;
        g->q = r;
        gg = gcd64(d, 2 * n);
        g->m = d / gg;
        g->d = 2 * n / gg;
    } else {
        if (mul_overflows(2 * n, d, &t) || t >= U63)
            return gdn_error(GDN_ERANGE, "discrete Gaussian variance %llu/%llu: "
                             "below 1, 2 num den must be below 2^63",
                             (unsigned long long)n, (unsigned long long)d);
        g->lap_s = g->lap_t = 1;
        g->p = d;
        g->q = n;
        g->m = 1;
        g->d = t;
    }
    /* Largest e with e^2 m < 2^64. */
    g->e_fast = gdn_dp_isqrt_ratio(UINT64_MAX, g->m);
    return 0;
}

/* Bernoulli(exp(-e^2 m / d)) for any e, through 128-bit quotients. An
 * integer part of 2^63 or more is a rejection: the exact acceptance
 * probability there is below exp(-2^63). */
static int bias_coin_wide(const gdn_dp_dgauss *g, uint64_t e, gdn_dp_bits *b)
{
    uint64_t r1, r2, whole;
    u128 q1 = divmod_wide(mul_wide(e, e), g->d, &r1);
    u128 q2 = divmod_wide(mul_wide(g->m, r1), g->d, &r2); /* q2 < m */

    if (q1.hi || mul_overflows(q1.lo, g->m, &whole) || whole > U63 - q2.lo)
        return 0;
    whole += q2.lo;
    for (uint64_t i = 0; i < whole; i++)
        if (!bernoulli_exp1(b))
            return 0;
    return bernoulli_exp_frac(b, r2, g->d);
}

int gdn_dp_dgauss_draw(int64_t *out, const gdn_dp_dgauss *g, gdn_dp_bits *b)
{
    for (;;) {
        int64_t y;
        uint64_t ay, e, num, whole;
        int rc, keep;

        if ((rc = gdn_dp_dlaplace_draw(&y, g->lap_s, g->lap_t, b)))
            return rc;
        ay = y < 0 ? 0 - (uint64_t)y : (uint64_t)y;
        if (mul_overflows(ay, g->p, &e)) {
            /* Only for s2 < 1 (p = d): then gamma >= 2^63, see above. */
            continue;
        }
        e = e >= g->q ? e - g->q : g->q - e;
        if (e <= g->e_fast) {
            num = e * e * g->m;
            keep = 1;
            if (num >= g->d) { /* gamma >= 1 */
                whole = num / g->d;
                num -= whole * g->d;
                for (uint64_t i = 0; i < whole && keep; i++)
                    keep = bernoulli_exp1(b);
            }
            keep = keep && bernoulli_exp_frac(b, num, g->d);
        } else {
            keep = bias_coin_wide(g, e, b);
        }
        if (keep) {
            *out = y;
            return 0;
        }
    }
}

/* ---- Poisson(lambda), lambda = a/b ------------------------------------------
 * Rejection sampling with only rational coins. With M = floor(lambda), the
 * unnormalised target r_k = lambda^(k-M) M!/k! is at most 1 and is a product
 * of |k - M| rationals at most 1: lambda/i for M < i <= k, i/lambda for
 * k < i <= M. The envelope is 1 on a window [L, H] = [M - W, M + W],
 * W = ceil(sqrt(lambda)), with geometric tails of ratio rho_R = C/(H+1)
 * (C = ceil(lambda)) to the right and rho_L = L/M to the left; r_k/envelope
 * is again a product of rationals at most 1, so each proposal is accepted
 * by an AND of exact coins. Acceptance is about 0.6 and a proposal costs
 * O(sqrt(lambda)) coins. */
int gdn_dp_poisson_init(gdn_dp_poisson_p *p, uint64_t a, uint64_t b)
{
    uint64_t g, w, win;

    memset(p, 0, sizeof *p);
    if (b == 0)
        return gdn_error(GDN_EINVAL, "Poisson mean with denominator 0");
    if (a == 0)
        return 0;
    g = gcd64(a, b);
    a /= g;
    b /= g;
    if (b > ((uint64_t)1 << 30) || a / b >= ((uint64_t)1 << 32))
        return gdn_error(GDN_ERANGE, "Poisson mean %llu/%llu: expected a mean "
                         "below 2^32 and a denominator up to 2^30",
                         (unsigned long long)a, (unsigned long long)b);
    p->a = a;
    p->b = b;
    p->mode = a / b;
    p->ceil = p->mode + (a % b != 0);
    w = gdn_dp_isqrt_ratio(a, b);
    if (w * w * b < a)
        w++;
    if (w == 0)
        w = 1;
    p->lo = p->mode > w ? p->mode - w : 0;
    p->hi = p->mode + w;
    p->wr = p->hi + 1 - p->ceil;
    p->wl = p->lo > 0 ? p->mode - p->lo : 1;
    win = (p->hi - p->lo + 1) * p->wr * p->wl; /* < 2^50 by the limits */
    p->total = win + p->ceil * p->wl + p->lo * p->wr;
    return 0;
}

/* Bernoulli(lambda / i) for i >= ceil(lambda). */
static int coin_lambda_over(const gdn_dp_poisson_p *p, uint64_t i, gdn_dp_bits *b)
{
    uint64_t bi;

    if (!mul_overflows(p->b, i, &bi) && bi < U63)
        return gdn_dp_bernoulli(b, p->a, bi);
    /* lambda/i = (lambda/C) (C/i), b C < 2^63 by the limits. */
    return gdn_dp_bernoulli(b, p->ceil, i) &&
           gdn_dp_bernoulli(b, p->a, p->b * p->ceil);
}

/* r_k for k in the window: the AND of the coins above. */
static int coin_ratio_to_mode(const gdn_dp_poisson_p *p, uint64_t k, gdn_dp_bits *b)
{
    for (uint64_t i = p->mode + 1; i <= k; i++)
        if (!coin_lambda_over(p, i, b))
            return 0;
    for (uint64_t i = k + 1; i <= p->mode; i++) /* i b <= a */
        if (!gdn_dp_bernoulli(b, i * p->b, p->a))
            return 0;
    return 1;
}

int gdn_dp_poisson_draw(int64_t *out, const gdn_dp_poisson_p *p, gdn_dp_bits *b)
{
    if (p->a == 0) {
        *out = 0;
        return 0;
    }
    uint64_t win = (p->hi - p->lo + 1) * p->wr * p->wl;
    for (;;) {
        uint64_t u = gdn_dp_uniform(b, p->total), k, j = 1;
        int keep;

        if (u < win) {
            k = p->lo + u / (p->wr * p->wl);
            keep = coin_ratio_to_mode(p, k, b);
        } else if (u < win + p->ceil * p->wl) {
            while (gdn_dp_bernoulli(b, p->ceil, p->hi + 1))
                j++;
            if (j >= U63 - p->hi)
                return gdn_error(GDN_ERANGE, "Poisson draw exceeds 63 bits");
            k = p->hi + j;
            /* r_k / rho_R^(k-H) = r_H prod_{i=H+1}^{k} (lambda/C)((H+1)/i) */
            keep = 1;
            for (uint64_t i = p->hi + 2; i <= k && keep; i++)
                keep = gdn_dp_bernoulli(b, p->hi + 1, i);
            for (uint64_t i = p->hi + 1; i <= k && keep; i++)
                keep = gdn_dp_bernoulli(b, p->a, p->b * p->ceil);
            keep = keep && coin_ratio_to_mode(p, p->hi, b);
        } else {
            while (gdn_dp_bernoulli(b, p->lo, p->mode))
                j++;
            if (j > p->lo)
                continue; /* k < 0: target mass 0 */
            k = p->lo - j;
            /* r_k / rho_L^(L-k) = r_L prod_{i=k+1}^{L} (i/L)(M/lambda) */
            keep = 1;
            for (uint64_t i = k + 1; i < p->lo && keep; i++)
                keep = gdn_dp_bernoulli(b, i, p->lo);
            for (uint64_t i = k + 1; i <= p->lo && keep; i++)
                keep = gdn_dp_bernoulli(b, p->mode * p->b, p->a);
            keep = keep && coin_ratio_to_mode(p, p->lo, b);
        }
        if (keep) {
            *out = (int64_t)k;
            return 0;
        }
    }
}

/* ---- Public vector samplers --------------------------------------------- */

int gdn_dp_discrete_gaussian(int64_t *out, size_t n, uint64_t sigma2_num,
                             uint64_t sigma2_den, gdn_rng *rng)
{
    gdn_dp_dgauss g;
    gdn_dp_bits b;
    int rc;

    if ((rc = gdn_dp_dgauss_init(&g, sigma2_num, sigma2_den)))
        return rc;
    gdn_dp_bits_init(&b, rng);
    for (size_t i = 0; i < n && !rc; i++)
        rc = gdn_dp_dgauss_draw(&out[i], &g, &b);
    gdn_dp_bits_wipe(&b);
    return rc;
}

int gdn_dp_discrete_laplace(int64_t *out, size_t n, uint64_t scale_num,
                            uint64_t scale_den, gdn_rng *rng)
{
    gdn_dp_bits b;
    uint64_t g;
    int rc = 0;

    if (scale_num == 0 || scale_den == 0)
        return gdn_error(GDN_EINVAL, "discrete Laplace scale %llu/%llu: expected > 0",
                         (unsigned long long)scale_num, (unsigned long long)scale_den);
    g = gcd64(scale_num, scale_den);
    scale_num /= g;
    scale_den /= g;
    if (scale_num >= U63 || scale_den >= U63)
        return gdn_error(GDN_ERANGE, "discrete Laplace scale: numerator and "
                         "denominator must be below 2^63");
    gdn_dp_bits_init(&b, rng);
    for (size_t i = 0; i < n && !rc; i++) /* rate den/num */
        rc = gdn_dp_dlaplace_draw(&out[i], scale_den, scale_num, &b);
    gdn_dp_bits_wipe(&b);
    return rc;
}

int gdn_dp_poisson(int64_t *out, size_t n, uint64_t lambda_num,
                   uint64_t lambda_den, gdn_rng *rng)
{
    gdn_dp_poisson_p p;
    gdn_dp_bits b;
    int rc;

    if ((rc = gdn_dp_poisson_init(&p, lambda_num, lambda_den)))
        return rc;
    gdn_dp_bits_init(&b, rng);
    for (size_t i = 0; i < n && !rc; i++)
        rc = gdn_dp_poisson_draw(&out[i], &p, &b);
    gdn_dp_bits_wipe(&b);
    return rc;
}

int gdn_dp_skellam(int64_t *out, size_t n, uint64_t lambda_num,
                   uint64_t lambda_den, gdn_rng *rng)
{
    gdn_dp_poisson_p p;
    gdn_dp_bits b;
    int rc;

    if ((rc = gdn_dp_poisson_init(&p, lambda_num, lambda_den)))
        return rc;
    gdn_dp_bits_init(&b, rng);
    for (size_t i = 0; i < n && !rc; i++) {
        int64_t x, y;
        if (!(rc = gdn_dp_poisson_draw(&x, &p, &b)) &&
            !(rc = gdn_dp_poisson_draw(&y, &p, &b)))
            out[i] = x - y;
    }
    gdn_dp_bits_wipe(&b);
    return rc;
}
