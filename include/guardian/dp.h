/* Guardian dp: differential privacy — accountants, samplers, mechanisms.
 *
 * Pure module: no files, sockets, clocks or globals; every random draw comes
 * from the caller's gdn_rng. Samplers never draw DP noise with textbook
 * floating-point Laplace/Gaussian code, whose low-order bits leak the input
 * (Mironov, CCS 2012): integer noise comes from exact integer-arithmetic
 * samplers, real-valued noise is integer noise on a 2^-k grid (see
 * docs/privacy.md). Privacy parameters: eps (ε), delta (δ), sigma (the noise
 * multiplier, i.e. noise standard deviation over L2 sensitivity), q (Poisson
 * sampling rate), alpha (Rényi order). */
#ifndef GUARDIAN_DP_H
#define GUARDIAN_DP_H

#include <stddef.h>
#include <stdint.h>

#include "guardian/core.h"

/* ==== Accountant: Rényi DP (Mironov 2017) ================================ */

/* Series used at fractional orders for the subsampled Gaussian (Mironov,
 * Talwar, Zhang 2019, §3.3). CONSERVATIVE sums the absolute values of the
 * terms, as Google's dp_accounting RdpAccountant does (an upper bound);
 * EXACT keeps their signs, as Opacus does (the tighter exact value). Integer
 * orders are exact in both. */
typedef enum { GDN_DP_RDP_CONSERVATIVE = 0, GDN_DP_RDP_EXACT = 1 } gdn_dp_rdp_mode;

/* Order lists: DP_ACCOUNTING = 1.1, 1.2, ..., 10.9, 11, ..., 63, 128, 256,
 * 512, 1024 (dp_accounting's default, 156 orders); OPACUS = 1.1, ..., 10.9,
 * 12, ..., 63 (Opacus's RDPAccountant default, 151 orders). */
typedef enum { GDN_DP_ORDERS_DP_ACCOUNTING = 0, GDN_DP_ORDERS_OPACUS = 1 } gdn_dp_order_set;
#define GDN_DP_MAX_ORDERS 256

/* ---- Direct interface --------------------------------------------------- */

/* ε (and the order that gives it) after `steps` steps of the Poisson-
 * subsampled Gaussian with rate q in [0, 1] and noise multiplier sigma >= 0,
 * at delta in [0, 1), over dp_accounting's orders; *eps may be +inf. */
int gdn_dp_rdp_epsilon(double *eps, double *order, double q, double sigma,
                       uint64_t steps, double delta, gdn_dp_rdp_mode mode);

/* Smallest noise multiplier (to 1e-9 relative, by bisection) with which
 * `steps` steps at rate q stay within (eps, delta); its ε is <= eps.
 * GDN_ERANGE when even sigma = 1e6 does not reach eps. */
int gdn_dp_calibrate_sigma(double *sigma, double q, uint64_t steps,
                           double eps, double delta, gdn_dp_rdp_mode mode);

/* ---- Incremental interface: one accountant per privacy unit ------------- */

typedef struct gdn_dp_accountant gdn_dp_accountant; /* opaque */

/* An accountant over an order set, with no privacy spent. */
int gdn_dp_accountant_new(gdn_dp_accountant **acc, gdn_dp_order_set orders,
                          gdn_dp_rdp_mode mode);
void gdn_dp_accountant_free(gdn_dp_accountant *acc); /* accepts NULL */
/* Composes `steps` steps of the Poisson-subsampled Gaussian (q = 1: the
 * plain Gaussian mechanism). RDP adds; the last (q, sigma) is cached, so
 * adding one step at a time costs O(orders). */
int gdn_dp_accountant_add_sampled_gaussian(gdn_dp_accountant *acc, double q,
                                           double sigma, uint64_t steps);
/* Composes `steps` rounds of a mechanism whose RDP at order alpha is
 * rdp_at(alpha, ctx) (for the distributed discrete Gaussian, say). */
int gdn_dp_accountant_add_rdp(gdn_dp_accountant *acc,
                              double (*rdp_at)(double alpha, const void *ctx),
                              const void *ctx, uint64_t steps);
/* ε spent so far at delta, and the optimal order. */
int gdn_dp_accountant_epsilon(const gdn_dp_accountant *acc, double *eps,
                              double *order, double delta);
/* Orders and accumulated RDP (borrowed views, valid until the next call). */
size_t gdn_dp_accountant_orders(const gdn_dp_accountant *acc,
                                const double **orders, const double **rdp);

/* ---- Building blocks ---------------------------------------------------- */

/* Writes the order set into out[0, cap); returns how many (0 if cap is too
 * small). Orders are computed as 1 + x / 10.0 like the Python originals. */
size_t gdn_dp_orders(double *out, size_t cap, gdn_dp_order_set set);

/* RDP at order alpha > 1 of one step of the Poisson-subsampled Gaussian;
 * may be +inf (alpha infinite, sigma 0, or a series that did not converge). */
int gdn_dp_rdp_sampled_gaussian(double *rdp, double q, double sigma,
                                double alpha, gdn_dp_rdp_mode mode);

/* ε from RDP values rdp[i] at orders[i] by Canonne-Kamath-Steinke 2020,
 * Prop. 12: eps = rdp + log1p(-1/a) - (log delta + log a)/(a - 1), with
 * dp_accounting's edge cases (KL bound gives 0, orders <= 1.01 skipped). */
int gdn_dp_rdp_to_epsilon(double *eps, double *order, const double *orders,
                          const double *rdp, size_t n, double delta);

/* RDP of the Gaussian mechanism, continuous or discrete (Canonne-Kamath-
 * Steinke 2020, Prop. 5): alpha * sens^2 / (2 sigma^2), sigma = noise std. */
double gdn_dp_rdp_gaussian(double alpha, double sens, double sigma);

/* The distributed discrete Gaussian (Kairouz-Liu-Steinke, ICML 2021,
 * Prop. 14): n clients each add N_Z(0, sigma^2) (sigma >= 1/2, in units of
 * the integer grid) to d-dimensional integer vectors whose neighbouring sums
 * differ by at most l2 (L2) and l1 (L1). RDP at alpha of the sum: the
 * minimum of alpha l2^2/(2 n sigma^2) + tau d, alpha/2 (l2^2/(n sigma^2) +
 * 2 l1 tau/(sqrt(n) sigma) + tau^2 d) and alpha/2 (l2/(sqrt(n) sigma) +
 * tau sqrt(d))^2, with tau = 10 sum_{k=1}^{n-1} exp(-2 pi^2 sigma^2 k/(k+1)). */
typedef struct gdn_dp_ddg {
    double l2, l1;     /* sensitivity of the sum, grid units */
    uint64_t dim;      /* d */
    uint64_t clients;  /* n >= 1 */
    double sigma;      /* per-client noise std, grid units, >= 0.5 */
} gdn_dp_ddg;
int gdn_dp_rdp_ddg(double *rdp, const gdn_dp_ddg *p, double alpha);
/* The same, as a callback for gdn_dp_accountant_add_rdp (ctx: gdn_dp_ddg);
 * +inf on invalid parameters. */
double gdn_dp_rdp_ddg_at(double alpha, const void *ctx);

/* RDP at integer order alpha >= 2 of a mechanism run on a Poisson sample
 * at rate q, from its RDP base[l] at orders l = 2..alpha (Zhu, Wang, ICML
 * 2019, Theorem 6: the general upper bound, valid for any mechanism). */
int gdn_dp_rdp_subsampled(double *rdp, double q, unsigned alpha, const double *base);

/* ==== Accountant: privacy loss distributions ============================== */
/* The Poisson-subsampled Gaussian's PLD under add-or-remove neighbours
 * (both directions, the larger delta), discretized pessimistically on a grid
 * of `interval` (0: 1e-4) and composed `steps` times by FFT (Koskela et al.
 * 2020; Doroshenko et al. 2022): tighter than RDP, never optimistic except
 * for the FFT's round-off. Seconds for thousands of steps at 1e-4. */
int gdn_dp_pld_epsilon(double *eps, double q, double sigma, uint64_t steps, double delta,
                       double interval);
int gdn_dp_pld_delta(double *delta, double q, double sigma, uint64_t steps, double eps,
                     double interval);
/* Smallest sigma (1e-5 relative) whose PLD epsilon is within eps. */
int gdn_dp_pld_calibrate_sigma(double *sigma, double q, uint64_t steps, double eps,
                               double delta, double interval);

/* ==== Distributed DP: the distributed discrete Gaussian ==================== */
/* Kairouz, Liu, Steinke, ICML 2021 (KLS): every client of a cohort encodes
 * its update into integers mod 2^bits with its share of the noise; secure
 * aggregation sums them; the server decodes the sum. See docs/privacy.md. */

typedef struct gdn_dp_ddg_params {
    size_t dim;        /* d, an update's length */
    size_t dim_pad;    /* the power of two >= d the rotation works on */
    double clip;       /* c, L2 bound of one update */
    double noise;      /* z: the sum's noise has std z c (update units) */
    uint32_t clients;  /* n, the (expected) cohort sharing the noise */
    uint32_t bits;     /* SecAgg modulus 2^bits */
    double gamma;      /* grid step, update units */
    double beta;       /* conditional rounding's bias (KLS: e^-1/2) */
    double local_var;  /* each client's noise variance, grid units: (z c/gamma)^2/n */
} gdn_dp_ddg_params;

/* Fills p for updates of length dim. gamma = 0 chooses it so that 6
 * standard deviations of a coordinate of the aggregate fit in each half of
 * the modulus (docs/privacy.md); GDN_ERANGE when the per-client noise would
 * fall below half a grid step (KLS Prop. 14) or the bits cannot hold n. */
int gdn_dp_ddg_setup(gdn_dp_ddg_params *p, size_t dim, double clip, double noise,
                     uint32_t clients, uint32_t bits, double gamma);
/* L2 and L1 sensitivity of the sum, grid units, after conditional rounding
 * (KLS Theorem 1). */
void gdn_dp_ddg_sensitivity(double *l2, double *l1, const gdn_dp_ddg_params *p);

/* Client: out[0, dim_pad) = the encoded update (clipped, rotated with the
 * round's public 32-byte seed, scaled by 1/gamma, conditionally rounded,
 * noised with N_Z(0, local_var), mod 2^bits). work: dim_pad doubles. The
 * rounding and the noise draw from rng (the client's own secret stream). */
int gdn_dp_ddg_encode(uint32_t *out, double *work, const float *update,
                      const gdn_dp_ddg_params *p, const uint8_t seed[32], gdn_rng *rng);
/* Server: out[0, dim) = the sum of the encoded updates whose mod-2^bits sum
 * is sum[0, dim_pad): centred, times gamma, rotated back. work: dim_pad. */
int gdn_dp_ddg_decode(double *out, double *work, const uint32_t *sum,
                      const gdn_dp_ddg_params *p, const uint8_t seed[32]);

/* ε after `rounds` rounds at Poisson rate q: the DDG's RDP bound (KLS Prop.
 * 14 with Theorem 1's sensitivities), amplified by Zhu-Wang's Theorem 6 at
 * integer orders (a fractional order takes the next integer's value),
 * composed and converted over dp_accounting's orders. */
int gdn_dp_ddg_epsilon(double *eps, double *order, const gdn_dp_ddg_params *p,
                       double q, uint64_t rounds, double delta);
/* The same rounds, composed into an accountant. */
int gdn_dp_accountant_add_ddg(gdn_dp_accountant *acc, const gdn_dp_ddg_params *p,
                              double q, uint64_t steps);
/* Smallest noise multiplier (1e-6 relative) whose setup (gamma chosen)
 * keeps `rounds` rounds within (eps, delta). */
int gdn_dp_ddg_calibrate(double *noise, size_t dim, double clip, uint32_t clients,
                         uint32_t bits, double q, uint64_t rounds, double eps,
                         double delta);

/* ---- Building blocks ---------------------------------------------------- */

/* The orthonormal Walsh-Hadamard transform in place (its own inverse);
 * n a power of two. */
int gdn_dp_hadamard(double *v, size_t n);
/* The smallest power of two >= n (0 on overflow). */
size_t gdn_dp_hadamard_dim(size_t n);
/* The randomized Hadamard rotation H D (D: signs from the seed) and its
 * inverse D H, in place; n a power of two. */
int gdn_dp_ddg_rotate(double *v, size_t n, const uint8_t seed[32]);
int gdn_dp_ddg_unrotate(double *v, size_t n, const uint8_t seed[32]);
/* Randomized rounding of x into integers r (not aliasing x), redrawn until
 * sum r^2 <= bound_sq (KLS Algorithm 1). */
int gdn_dp_conditional_round(double *r, const double *x, size_t n, double bound_sq,
                             gdn_rng *rng);

/* ==== Samplers: exact, integer arithmetic ================================ */

/* n draws of the discrete Gaussian N_Z(0, s2) with s2 = num/den > 0
 * (Canonne-Kamath-Steinke, NeurIPS 2020, Algorithm 3): P(x) ∝ exp(-x²/2s2).
 * In lowest terms num, den < 2^62, and 2 num den < 2^63 when s2 < 1. */
int gdn_dp_discrete_gaussian(int64_t *out, size_t n, uint64_t sigma2_num,
                             uint64_t sigma2_den, gdn_rng *rng);
/* n draws of the discrete Laplace with scale t = num/den > 0 (CKS 2020,
 * Algorithm 2): P(x) ∝ exp(-|x|/t); num, den < 2^63 in lowest terms. */
int gdn_dp_discrete_laplace(int64_t *out, size_t n, uint64_t scale_num,
                            uint64_t scale_den, gdn_rng *rng);
/* n draws of Poisson(lambda), lambda = num/den >= 0, exact; in lowest
 * terms lambda < 2^32 and den <= 2^30. O(sqrt(lambda)) coins per draw. */
int gdn_dp_poisson(int64_t *out, size_t n, uint64_t lambda_num,
                   uint64_t lambda_den, gdn_rng *rng);
/* n draws of the symmetric Skellam: Poisson(lambda) - Poisson(lambda),
 * variance 2 lambda (Agarwal-Kairouz-Liu, NeurIPS 2021). */
int gdn_dp_skellam(int64_t *out, size_t n, uint64_t lambda_num,
                   uint64_t lambda_den, gdn_rng *rng);
/* The smallest num/2^k >= x (x > 0) with a 30-bit num, for passing a
 * real variance to the samplers without lowering it. */
int gdn_dp_rational_up(uint64_t *num, uint64_t *den, double x);

/* ==== Mechanisms ========================================================= */

/* Scales v in place to L2 norm at most clip > 0 (norm computed in double;
 * the factor carries a 2^-22 margin, so the float result is <= clip) and
 * writes the factor used (1: v was inside and is untouched). GDN_EINVAL on
 * a non-finite element. */
int gdn_dp_clip_l2(double *factor, float *v, size_t n, double clip);

/* Grid of the real-valued Gaussian for std sigma: noise is an integer
 * multiple of 2^-k with k such that sigma 2^k is in [2^20, 2^21). */
int gdn_dp_gaussian_grid(int *k, double sigma);
/* n Gaussian noise values of std >= sigma (0 < sigma <= 2^40): discrete
 * Gaussian N_Z(0, s2) on the grid, s2 = (sigma 2^k)^2 rounded up, times
 * 2^-k. Same RDP as the continuous Gaussian of std sigma. */
int gdn_dp_gaussian_noise(double *out, size_t n, double sigma, gdn_rng *rng);
/* Adds such noise to v in place: each v[i] is first rounded to the grid,
 * the sum is formed exactly in integers and only then rounded to float, so
 * float rounding is post-processing of the noisy value and leaks nothing.
 * Grid rounding moves a vector by at most sqrt(n) 2^-(k+1) in L2; add that
 * to the sensitivity. GDN_ERANGE when |v[i]| 2^k >= 2^52. */
int gdn_dp_gaussian_add(float *v, size_t n, double sigma, gdn_rng *rng);

/* k-ary randomized response for local DP (Warner 1965; Kairouz-Oh-
 * Viswanath 2014): out[i] = in[i] (each < k) with probability p, else one of
 * the other k - 1 values uniformly. p is e^eps/(e^eps + k - 1) rounded down
 * to a multiple of 2^-53, so the mechanism is exactly eps'-LDP, eps' <= eps. */
int gdn_dp_randomized_response(uint32_t *out, const uint32_t *in, size_t n,
                               uint32_t k, double eps, gdn_rng *rng);
/* Unbiased frequency estimates from the counts of n randomized responses:
 * freq[j] = (counts[j]/n - (1-p)/(k-1)) / (p - (1-p)/(k-1)). */
int gdn_dp_randomized_response_estimate(double *freq, const uint64_t *counts,
                                        uint32_t k, double eps);

#endif
