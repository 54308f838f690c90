/* Privacy loss distributions (PLD) for the Poisson-subsampled Gaussian: a
 * second, tighter accountant beside the Rényi one.
 *
 * Meiser-Mohammadi 2018 and Sommer-Meiser-Mohammadi 2019 define the PLD;
 * Koskela, Jälkö, Honkela (AISTATS 2020) compose it with the FFT; the
 * pessimistic discretization and the tail truncation follow Doroshenko,
 * Ghazi, Kamath, Kumar, Manurangsi ("Connect the dots", PETS 2022, §2 and
 * §4's "pessimistic estimate"), as Google's dp_accounting does:
 *
 *  - one step's privacy loss L = log(P(x)/Q(x)) for the dominating pair of
 *    the Poisson-subsampled Gaussian (Zhu, Dong, Wang 2022): "remove"
 *    P = (1-q) N(0, s^2) + q N(1, s^2), Q = N(0, s^2), and "add" with P and
 *    Q swapped; L is monotone in x, so P[L <= l] is a Gaussian CDF at the
 *    inverse x(l), in closed form;
 *  - the mass of P with L in ((k-1) h, k h] goes to k h (rounding the loss
 *    up only ever overstates delta); the upper tail beyond a mass of 1e-12
 *    goes to an "infinite loss" atom, the lower tail to the lowest point;
 *  - `steps` compositions by repeated squaring, each a convolution through
 *    a radix-2 FFT, each followed by the same truncation;
 *  - delta(eps) = inf + sum_k p_k max(0, 1 - e^(eps - k h)) (the hockey-stick
 *    divergence), eps(delta) by bisection, the larger of the two directions.
 * Only the FFT's round-off (about 1e-16 of the largest mass) is not
 * accounted for pessimistically; masses it makes negative are set to 0. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "guardian/dp.h"

#define PI 3.14159265358979323846
/* Mass truncated at each end after every operation: above the FFT's
 * round-off floor (about 1e-17 a point), far below any delta of interest
 * (40 operations overstate delta by 4e-11 at most). */
#define TAIL 1e-12
#define MAX_POINTS (1u << 23) /* grid points of one distribution */

typedef struct pld {
    double *p;   /* p[i]: mass at loss (lo + i) h */
    size_t n;
    int64_t lo;
    double inf;  /* mass at +infinity */
} pld;

static void pld_free(pld *d)
{
    free(d->p);
    d->p = NULL;
    d->n = 0;
}

/* ---- FFT ------------------------------------------------------------------ */

/* In-place iterative radix-2 FFT of n complex values (re, im), n a power of
 * two; inverse = 1 computes the unnormalized inverse. tw: e^(-2 pi i k/n)
 * for k < n/2, each computed directly (no recurrence, so no drift). */
static void fft(double *re, double *im, size_t n, const double *tw_re,
                const double *tw_im, int inverse)
{
    for (size_t i = 1, j = 0; i < n; i++) { /* bit reversal */
        size_t bit = n >> 1;
        for (; j & bit; bit >>= 1)
            j ^= bit;
        j ^= bit;
        if (i < j) {
            double t = re[i];
            re[i] = re[j], re[j] = t;
            t = im[i];
            im[i] = im[j], im[j] = t;
        }
    }
    for (size_t len = 2; len <= n; len <<= 1) {
        size_t half = len / 2, stride = n / len;
        for (size_t k = 0; k < half; k++) {
            double wr = tw_re[k * stride], wi = inverse ? -tw_im[k * stride] : tw_im[k * stride];
            for (size_t i = k; i < n; i += len) {
                size_t j = i + half;
                double xr = re[j] * wr - im[j] * wi, xi = re[j] * wi + im[j] * wr;
                re[j] = re[i] - xr, im[j] = im[i] - xi;
                re[i] += xr, im[i] += xi;
            }
        }
    }
}

/* ---- Truncation ------------------------------------------------------------- */

/* Moves the lower tail (mass < TAIL) up to the first kept point and the
 * upper tail (mass < TAIL) to infinity; clears FFT noise below 0. */
static void truncate_tails(pld *d)
{
    size_t a = 0, b = d->n;
    double low = 0, high = 0;

    for (size_t i = 0; i < d->n; i++)
        if (!(d->p[i] > 0))
            d->p[i] = 0;
    while (a + 1 < b && low + d->p[a] < TAIL / 2)
        low += d->p[a++];
    while (b - 1 > a && high + d->p[b - 1] < TAIL / 2)
        high += d->p[--b];
    d->p[a] += low;
    d->inf += high;
    if (a > 0)
        memmove(d->p, d->p + a, (b - a) * sizeof *d->p);
    d->n = b - a;
    d->lo += (int64_t)a;
}

/* out = a * b (the distribution of the sum of the two losses). */
static int convolve(pld *out, const pld *a, const pld *b)
{
    size_t n = a->n + b->n - 1, m = 1;
    double *ar, *ai, *br = NULL, *bi = NULL, *twr = NULL, *twi = NULL;
    int same = a == b;

    while (m < n)
        m <<= 1;
    if (m > MAX_POINTS)
        return gdn_error(GDN_ERANGE, "PLD: %zu grid points needed; use a coarser "
                         "discretization", n);
    ar = calloc(m, sizeof *ar), ai = calloc(m, sizeof *ai);
    twr = calloc(m / 2 + 1, sizeof *twr), twi = calloc(m / 2 + 1, sizeof *twi);
    if (!same)
        br = calloc(m, sizeof *br), bi = calloc(m, sizeof *bi);
    if (!ar || !ai || !twr || !twi || (!same && (!br || !bi))) {
        free(ar), free(ai), free(br), free(bi), free(twr), free(twi);
        return gdn_error(GDN_ENOMEM, "PLD: out of memory for %zu points", m);
    }
    for (size_t k = 0; k < m / 2; k++) {
        twr[k] = cos(2.0 * PI * (double)k / (double)m);
        twi[k] = -sin(2.0 * PI * (double)k / (double)m);
    }
    memcpy(ar, a->p, a->n * sizeof *ar);
    fft(ar, ai, m, twr, twi, 0);
    if (!same) {
        memcpy(br, b->p, b->n * sizeof *br);
        fft(br, bi, m, twr, twi, 0);
    }
    for (size_t i = 0; i < m; i++) {
        double xr = same ? ar[i] : br[i], xi = same ? ai[i] : bi[i];
        double r = ar[i] * xr - ai[i] * xi, im = ar[i] * xi + ai[i] * xr;
        ar[i] = r, ai[i] = im;
    }
    fft(ar, ai, m, twr, twi, 1);
    for (size_t i = 0; i < n; i++)
        ar[i] /= (double)m;
    free(ai), free(br), free(bi), free(twr), free(twi);
    out->p = ar;
    out->n = n;
    out->lo = a->lo + b->lo;
    out->inf = 1.0 - (1.0 - a->inf) * (1.0 - b->inf);
    truncate_tails(out);
    return 0;
}

/* ---- One step ---------------------------------------------------------------- */

typedef struct pair {
    double q, s;
    int add; /* 0: remove (P the mixture), 1: add (Q the mixture) */
} pair;

static double phi_c(double t) /* P[N(0,1) > t] */
{
    return 0.5 * erfc(t / sqrt(2.0));
}

/* x(l) of the "remove" loss l = log(1 - q + q e^((2x - 1)/(2 s^2))); -inf
 * below the loss's infimum log(1 - q). */
static double x_of_loss(const pair *c, double l)
{
    double e = exp(l) - (1.0 - c->q);

    if (!(e > 0))
        return -INFINITY;
    return c->s * c->s * (log(e) - log(c->q)) + 0.5;
}

/* P[L > l] and P[L <= l] under P, each computed on its accurate side. */
static void loss_tails(const pair *c, double l, double *above, double *below)
{
    if (!c->add) { /* L increasing in x, P the mixture */
        double x = x_of_loss(c, l);
        if (x == -INFINITY) {
            *above = 1, *below = 0;
            return;
        }
        *above = (1 - c->q) * phi_c(x / c->s) + c->q * phi_c((x - 1) / c->s);
        *below = (1 - c->q) * phi_c(-x / c->s) + c->q * phi_c((1 - x) / c->s);
    } else { /* L = -(remove loss), decreasing in x, P = N(0, s^2) */
        double x = x_of_loss(c, -l); /* L > l  <=>  x < x(-l) */
        if (x == -INFINITY) {
            *above = 0, *below = 1;
            return;
        }
        *above = phi_c(-x / c->s);
        *below = phi_c(x / c->s);
    }
}

static double mass_above(const pair *c, double l)
{
    double a, b;
    loss_tails(c, l, &a, &b);
    return a;
}

static double mass_below(const pair *c, double l)
{
    double a, b;
    loss_tails(c, l, &a, &b);
    return b;
}

static int single_step(pld *d, const pair *c, double h)
{
    double hi = 1, lo = -1;
    int64_t khi, klo;

    memset(d, 0, sizeof *d);
    while (mass_above(c, hi) > TAIL) /* the loss beyond which TAIL remains */
        hi *= 2;
    if (c->add || c->q == 1) {
        while (mass_below(c, lo) > TAIL)
            lo *= 2;
    } else {
        lo = log1p(-c->q); /* the remove loss's infimum */
    }
    khi = (int64_t)ceil(hi / h);
    klo = (int64_t)floor(lo / h);
    if ((uint64_t)(khi - klo + 1) > MAX_POINTS)
        return gdn_error(GDN_ERANGE, "PLD: one step needs %lld grid points; use a "
                         "coarser discretization", (long long)(khi - klo + 1));
    d->n = (size_t)(khi - klo + 1);
    d->lo = klo;
    if (!(d->p = calloc(d->n, sizeof *d->p)))
        return gdn_error(GDN_ENOMEM, "PLD: out of memory");
    /* Pessimistic: mass with loss in ((k-1) h, k h] at k h; the mass at or
     * below klo h at klo h; above khi h, infinity. */
    {
        double prev_a, prev_b;
        loss_tails(c, (double)klo * h, &prev_a, &prev_b);
        d->p[0] = prev_b;
        for (int64_t k = klo + 1; k <= khi; k++) {
            double a, b;
            loss_tails(c, (double)k * h, &a, &b);
            d->p[k - klo] = prev_a < 0.5 ? prev_a - a : b - prev_b;
            prev_a = a, prev_b = b;
        }
        d->inf = prev_a;
    }
    truncate_tails(d);
    return 0;
}

/* d^steps by repeated squaring. */
static int self_compose(pld *out, pld *d, uint64_t steps)
{
    pld acc = {0}, t;
    int have = 0, rc = 0;

    while (steps && !rc) {
        if (steps & 1) {
            if (!have) {
                acc.p = malloc(d->n * sizeof *acc.p);
                if (!acc.p)
                    return gdn_error(GDN_ENOMEM, "PLD: out of memory");
                memcpy(acc.p, d->p, d->n * sizeof *acc.p);
                acc.n = d->n, acc.lo = d->lo, acc.inf = d->inf;
                have = 1;
            } else if (!(rc = convolve(&t, &acc, d))) {
                pld_free(&acc);
                acc = t;
            }
        }
        steps >>= 1;
        if (steps && !rc && !(rc = convolve(&t, d, d))) {
            pld_free(d);
            *d = t;
        }
    }
    if (rc) {
        pld_free(&acc);
        return rc;
    }
    *out = acc;
    return 0;
}

static double delta_at(const pld *d, double h, double eps)
{
    double s = d->inf;

    for (size_t i = d->n; i-- > 0;) {
        double l = (double)(d->lo + (int64_t)i) * h;
        if (l <= eps)
            break;
        s += d->p[i] * -expm1(eps - l);
    }
    return s;
}

static double epsilon_at(const pld *d, double h, double delta)
{
    double lo = 0, hi = (double)(d->lo + (int64_t)d->n) * h;

    if (d->inf > delta)
        return INFINITY;
    if (delta_at(d, h, 0) <= delta)
        return 0;
    for (int i = 0; i < 200 && hi - lo > 1e-12 * (1 + hi); i++) {
        double mid = 0.5 * (lo + hi);
        if (delta_at(d, h, mid) <= delta)
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}

/* Both directions composed `steps` times. */
static int composed(pld out[2], double q, double sigma, uint64_t steps, double h)
{
    int rc = 0;

    memset(out, 0, 2 * sizeof *out);
    for (int dir = 0; dir < 2 && !rc; dir++) {
        pair c = {q, sigma, dir};
        pld one;
        if ((rc = single_step(&one, &c, h)))
            break;
        rc = self_compose(&out[dir], &one, steps);
        pld_free(&one);
    }
    if (rc) {
        pld_free(&out[0]);
        pld_free(&out[1]);
    }
    return rc;
}

static int check_args(double q, double sigma, double *h)
{
    if (!(q >= 0 && q <= 1))
        return gdn_error(GDN_EINVAL, "sampling rate q = %g: expected [0, 1]", q);
    if (!(sigma >= 0) || isinf(sigma))
        return gdn_error(GDN_EINVAL, "noise multiplier %g: expected >= 0", sigma);
    if (*h == 0)
        *h = 1e-4;
    if (!(*h >= 1e-7 && *h <= 1))
        return gdn_error(GDN_EINVAL, "PLD discretization %g: expected [1e-7, 1]", *h);
    return 0;
}

int gdn_dp_pld_delta(double *delta, double q, double sigma, uint64_t steps, double eps,
                     double interval)
{
    pld d[2];
    int rc;

    if ((rc = check_args(q, sigma, &interval)))
        return rc;
    if (q == 0 || steps == 0) {
        *delta = 0;
        return 0;
    }
    if (sigma == 0) {
        *delta = 1;
        return 0;
    }
    if ((rc = composed(d, q, sigma, steps, interval)))
        return rc;
    *delta = fmax(delta_at(&d[0], interval, eps), delta_at(&d[1], interval, eps));
    if (*delta > 1)
        *delta = 1;
    pld_free(&d[0]);
    pld_free(&d[1]);
    return 0;
}

int gdn_dp_pld_epsilon(double *eps, double q, double sigma, uint64_t steps, double delta,
                       double interval)
{
    pld d[2];
    int rc;

    if ((rc = check_args(q, sigma, &interval)))
        return rc;
    if (!(delta > 0 && delta < 1))
        return gdn_error(GDN_EINVAL, "delta = %g: expected (0, 1)", delta);
    if (q == 0 || steps == 0) {
        *eps = 0;
        return 0;
    }
    if (sigma == 0) {
        *eps = INFINITY;
        return 0;
    }
    if ((rc = composed(d, q, sigma, steps, interval)))
        return rc;
    *eps = fmax(epsilon_at(&d[0], interval, delta), epsilon_at(&d[1], interval, delta));
    pld_free(&d[0]);
    pld_free(&d[1]);
    return 0;
}

int gdn_dp_pld_calibrate_sigma(double *sigma, double q, uint64_t steps, double eps,
                               double delta, double interval)
{
    double lo, hi, e;
    int rc;

    if (!(eps > 0) || isinf(eps))
        return gdn_error(GDN_EINVAL, "target epsilon %g: expected > 0", eps);
    /* The RDP calibration is an upper end: PLD's epsilon is never larger. */
    if ((rc = gdn_dp_calibrate_sigma(&hi, q, steps, eps, delta, GDN_DP_RDP_CONSERVATIVE)))
        return rc;
    lo = hi / 2;
    while (!(rc = gdn_dp_pld_epsilon(&e, q, lo, steps, delta, interval)) && e <= eps) {
        hi = lo;
        if ((lo /= 2) < 1e-3)
            break;
    }
    while (!rc && hi - lo > 1e-5 * hi) {
        double mid = 0.5 * (lo + hi);
        if ((rc = gdn_dp_pld_epsilon(&e, q, mid, steps, delta, interval)))
            break;
        if (e <= eps)
            hi = mid;
        else
            lo = mid;
    }
    if (!rc)
        *sigma = hi;
    return rc;
}
