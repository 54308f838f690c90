/* he internals: modular arithmetic, NTT tables, RNS helpers and the layout
 * of the CKKS objects. Every prime is below 2^61 so that Harvey's lazy
 * butterflies (values below 4q) fit in 64 bits. Reductions are branch-free:
 * they also run on secret-key data. */
#ifndef GDN_HE_INTERNAL_H
#define GDN_HE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "guardian/ckks.h"
#include "guardian/core.h"

#if defined(__x86_64__) || defined(__i386__)
#define HE_X86 1
#else
#define HE_X86 0
#endif

__extension__ typedef unsigned __int128 he_u128;

/* A prime modulus with its reduction constants. */
typedef struct he_mod {
    uint64_t q;
    unsigned bits;   /* k: 2^(k-1) < q < 2^k */
    uint64_t bar;    /* floor(2^(2k) / q), < 2^(k+1): Barrett for x < q^2 */
    uint64_t mu_hi, mu_lo; /* floor(2^128 / q): Barrett for any x < 2^128 */
    uint64_t mu64;   /* floor(2^64 / q): Barrett for any x < 2^64 */
} he_mod;

void he_mod_init(he_mod *m, uint64_t q);

/* x - q if x >= q, without a branch. */
static inline uint64_t he_csub(uint64_t x, uint64_t q)
{
    uint64_t y = x - q;
    uint64_t mask = (uint64_t)0 - (y >> 63); /* all ones when x < q (q < 2^63) */
    return y + (q & mask);
}

static inline uint64_t he_add(uint64_t a, uint64_t b, uint64_t q) { return he_csub(a + b, q); }
static inline uint64_t he_sub(uint64_t a, uint64_t b, uint64_t q) { return he_csub(a + q - b, q); }
static inline uint64_t he_neg(uint64_t a, uint64_t q)
{
    uint64_t nz = (uint64_t)0 - (uint64_t)(a != 0);
    return (q - a) & nz;
}

/* x mod q for any 64-bit x. */
static inline uint64_t he_red64(uint64_t x, const he_mod *m)
{
    uint64_t qh = (uint64_t)(((he_u128)x * m->mu64) >> 64);
    return he_csub(x - qh * m->q, m->q);
}

/* x mod q for x < q^2 (classic Barrett with k-bit shifts). */
static inline uint64_t he_red_q2(he_u128 x, const he_mod *m)
{
    uint64_t t = (uint64_t)(x >> (m->bits - 1));
    uint64_t qh = (uint64_t)(((he_u128)t * m->bar) >> (m->bits + 1));
    uint64_t r = (uint64_t)x - qh * m->q;
    return he_csub(he_csub(r, m->q), m->q);
}

/* x mod q for any x < 2^128. */
static inline uint64_t he_red128(he_u128 x, const he_mod *m)
{
    uint64_t x0 = (uint64_t)x, x1 = (uint64_t)(x >> 64);
    he_u128 p00 = (he_u128)x0 * m->mu_lo, p01 = (he_u128)x0 * m->mu_hi;
    he_u128 p10 = (he_u128)x1 * m->mu_lo;
    he_u128 mid = (p00 >> 64) + (uint64_t)p01 + (uint64_t)p10;
    uint64_t qh = x1 * m->mu_hi + (uint64_t)(p01 >> 64) + (uint64_t)(p10 >> 64) +
                  (uint64_t)(mid >> 64);
    uint64_t r = x0 - qh * m->q;
    return he_csub(he_csub(r, m->q), m->q);
}

static inline uint64_t he_mul(uint64_t a, uint64_t b, const he_mod *m)
{
    return he_red_q2((he_u128)a * b, m);
}

/* Shoup's precomputation for a fixed multiplier w < q: floor(w 2^64 / q). */
static inline uint64_t he_shoup(uint64_t w, uint64_t q)
{
    return (uint64_t)(((he_u128)w << 64) / q);
}
/* a w mod q in [0, 2q) for any 64-bit a (Harvey 2014, Algorithm 4 "lazy"). */
static inline uint64_t he_mul_shoup_lazy(uint64_t a, uint64_t w, uint64_t ws, uint64_t q)
{
    uint64_t qh = (uint64_t)(((he_u128)a * ws) >> 64);
    return a * w - qh * q;
}
static inline uint64_t he_mul_shoup(uint64_t a, uint64_t w, uint64_t ws, uint64_t q)
{
    return he_csub(he_mul_shoup_lazy(a, w, ws, q), q);
}

uint64_t he_pow(uint64_t a, uint64_t e, const he_mod *m);
uint64_t he_inv(uint64_t a, const he_mod *m); /* a^(q-2) */

/* Deterministic Miller-Rabin for 64-bit n (bases 2..37). */
int he_is_prime(uint64_t n);
/* The `count` largest primes q = 1 mod 2n below 2^bits not in avoid[0..navoid). */
int he_gen_primes(uint64_t *out, unsigned count, unsigned bits, uint64_t two_n,
                  const uint64_t *avoid, size_t navoid);

/* ---- NTT ------------------------------------------------------------------- */

/* Negacyclic NTT tables of one prime (Longa-Naehrig 2016, Algorithms 1-2,
 * with Harvey 2014's lazy butterflies and Shoup multiplication). */
typedef struct he_ntt {
    he_mod m;
    size_t n;
    unsigned logn;
    uint64_t psi;         /* primitive 2n-th root of unity */
    uint64_t *w, *ws;     /* psi^brv(i) and Shoup, bit-reversed order */
    uint64_t *iw, *iws;   /* psi^-brv(i) */
    uint64_t ninv, ninvs; /* n^-1 */
    /* For q < 2^50 (the IFMA path): floor(w 2^52 / q) of w, iw and n^-1. */
    uint64_t *w52, *iw52, ninv52;
} he_ntt;

int he_ntt_init(he_ntt *t, uint64_t q, unsigned logn);
void he_ntt_free(he_ntt *t);
/* In place, input coefficients in [0, q), output in [0, q), bit-reversed. */
void he_ntt_forward(const he_ntt *t, uint64_t *a);
void he_ntt_inverse(const he_ntt *t, uint64_t *a);
/* The portable versions (the dispatchers above use SIMD when present). */
void he_ntt_forward_scalar(const he_ntt *t, uint64_t *a);
void he_ntt_inverse_scalar(const he_ntt *t, uint64_t *a);
#if HE_X86
int he_ntt_ifma_ok(const he_ntt *t); /* the IFMA path applies to this prime */
void he_ntt_forward_ifma(const he_ntt *t, uint64_t *a);
void he_ntt_inverse_ifma(const he_ntt *t, uint64_t *a);
/* AVX-512F/DQ, any prime, n >= 16. */
void he_ntt_forward_avx512(const he_ntt *t, uint64_t *a);
void he_ntt_inverse_avx512(const he_ntt *t, uint64_t *a);
/* Key-switching inner product of one prime (q < 2^50, nd <= 15, n % 8 = 0):
 * o0 = sum_j perm(e_j) kb_j, o1 = sum_j perm(e_j) ka_j (perm may be NULL). */
void he_dot_ifma(uint64_t *o0, uint64_t *o1, const uint64_t *const *e, const uint64_t *const *kb,
                 const uint64_t *const *ka, unsigned nd, size_t n, const uint32_t *perm,
                 const he_mod *m);
void he_mul3_ifma(uint64_t *d0, uint64_t *d1, uint64_t *d2, const uint64_t *a0,
                  const uint64_t *a1, const uint64_t *b0, const uint64_t *b1, size_t n,
                  const he_mod *m);
void he_decrypt_ifma(uint64_t *o, const uint64_t *c0, const uint64_t *c1, const uint64_t *c2,
                     const uint64_t *s, size_t n, const he_mod *m);
void he_sub_mul_ifma(uint64_t *o, const uint64_t *a, const uint64_t *b, uint64_t w,
                     uint64_t w52, size_t n, const he_mod *m, int add);
void he_conv_ifma(uint64_t *o, const uint64_t *y, size_t stride, const uint64_t *h, unsigned ns,
                  const uint8_t *big, uint64_t negq, size_t n, const he_mod *m);
#endif
/* 0: portable only; 1: AVX-512F/DQ NTTs (64-bit lanes, any prime); 2: also
 * AVX-512 IFMA for primes below 2^50, the NTT and every other kernel. The
 * default is the best the CPU has (0 when GDN_NO_SIMD=1); he_set_simd clamps
 * to it and returns the level in use. For tests and benchmarks. */
int he_set_simd(int level);
int he_simd(void);

/* ---- Context and objects --------------------------------------------------- */

struct gdn_ckks_ctx {
    gdn_ckks_params p;
    size_t n;
    unsigned logn;
    unsigned nq, np;     /* L + 1 ciphertext primes, K special primes */
    unsigned dnum, alpha; /* digits and primes per digit */
    double log_qp;
    he_ntt *ntt;         /* nq + np, q's first */
    uint64_t chain_id;   /* hash of N and the primes, for serialization */
    /* Rescale: q_l^-1 mod q_i (and Shoup) at rinv[l * nq + i], i < l. */
    uint64_t *rinv, *rinvs;
    /* Mod down: P^-1 mod q_i (and Shoup). */
    uint64_t *pinv, *pinvs;
    /* Encoder: 5^j mod 2N for j < N/2, and exp(2 pi i k / 2N) (re, im). */
    uint64_t *rot_group;
    double *roots_re, *roots_im;
};

/* Polynomial k of a ciphertext/key: primes at data + (k * stride + i) * N. */
struct gdn_ckks_pt {
    const gdn_ckks_ctx *ctx;
    unsigned level;
    double scale;
    uint64_t *data; /* nq * N */
};

struct gdn_ckks_ct {
    const gdn_ckks_ctx *ctx;
    unsigned size, level, cap;
    double scale;
    int seeded; /* c1 is the expansion of seed (fresh secret-key ciphertext) */
    uint8_t seed[GDN_CKKS_SEED_BYTES];
    uint64_t *data; /* 3 * nq * N, stride nq */
};

struct gdn_ckks_sk {
    const gdn_ckks_ctx *ctx;
    int8_t *coeff;  /* N ternary coefficients */
    uint64_t *ntt;  /* s in NTT form over all nq + np primes */
};

struct gdn_ckks_pk {
    const gdn_ckks_ctx *ctx;
    uint8_t seed[GDN_CKKS_SEED_BYTES];
    uint64_t *b, *a; /* (nq + np) * N each: encryption works over QP */
};

struct gdn_ckks_swk {
    const gdn_ckks_ctx *ctx;
    int explicit_a; /* a is not a seed's expansion (collective keys) */
    uint8_t seed[GDN_CKKS_SEED_BYTES];
    uint64_t *b, *a; /* dnum * (nq + np) * N each */
};

/* Galois keys are stored permuted: key i holds K[pinv[y]] at y (pinv the
 * inverse of perm[i]), so that the key-switching inner product of sigma(c1)
 * reads the decomposed c1 in order and permutes only its two outputs. */
struct gdn_ckks_gk {
    const gdn_ckks_ctx *ctx;
    size_t count;
    uint64_t *galois;    /* Galois elements */
    gdn_ckks_swk **keys; /* key for element i */
    uint32_t **perm;     /* NTT-domain permutation of element i */
};

/* dst[i] = src[idx[i]] over every digit and prime of a key (in place). */
int he_swk_permute(gdn_ckks_swk *k, const uint32_t *idx);
/* The inverse permutation. */
void he_perm_inverse(uint32_t *inv, const uint32_t *perm, size_t n);

/* Expands a uniform polynomial over primes [first, first + count) of the
 * context from (seed, stream), into out (count * N values). */
void he_sample_uniform(uint64_t *out, const gdn_ckks_ctx *ctx, unsigned first,
                       unsigned count, const uint8_t seed[GDN_CKKS_SEED_BYTES],
                       uint64_t stream);
/* Centered binomial error (eta = 21, sigma = 3.24) into N int64 values. */
void he_sample_error(int64_t *out, size_t n, gdn_rng *rng);
/* Signed coefficients into NTT form over primes [first, first + count):
 * any |c| < 2^63 (he_int_to_ntt), or |c| < 2^19, below every prime (errors,
 * ternary values; he_small_to_ntt, which skips the reduction). */
void he_int_to_ntt(uint64_t *out, const gdn_ckks_ctx *ctx, const int64_t *c, unsigned first,
                   unsigned count);
void he_small_to_ntt(uint64_t *out, const gdn_ckks_ctx *ctx, const int64_t *c,
                     unsigned first, unsigned count);

/* Galois element of a left rotation by step (5^step mod 2N) or conjugation. */
uint64_t he_galois_elt(const gdn_ckks_ctx *ctx, int step);
/* NTT-domain permutation for Galois element g: out[i] = in[perm[i]]. */
void he_galois_perm(uint32_t *perm, const gdn_ckks_ctx *ctx, uint64_t g);

/* Generates a key switching key from s_from (NTT over all primes) to sk. */
int he_swk_gen(gdn_ckks_swk **out, const uint64_t *s_from, const gdn_ckks_sk *sk,
               gdn_rng *rng);
int he_swk_alloc(gdn_ckks_swk **out, const gdn_ckks_ctx *ctx);
void he_swk_expand_a(gdn_ckks_swk *k);

/* Fast base conversion (Cheon et al. 2018 §2.2, Bajard et al. 2016): from
 * the coefficient-form residues in[s] mod the context primes src[0..ns)
 * to out[t] mod dst[0..nd) (coefficient form): x + u Q_src where x is the
 * centered residue and |u| <= ns / 2, of mean 0. */
int he_base_conv(uint64_t *const *out, const unsigned *dst, unsigned nd,
                 const uint64_t *const *in, const unsigned *src, unsigned ns,
                 const gdn_ckks_ctx *ctx);

int he_ct_reserve(gdn_ckks_ct *ct, unsigned size);
/* Multiparty shares: primes 0..count-1, secret ones in sodium_malloc memory. */
int he_share_alloc(gdn_ckks_share **out, const gdn_ckks_ctx *ctx, unsigned count,
                   unsigned polys, int secret);
unsigned he_share_polys(const gdn_ckks_share *sh);
const gdn_ckks_ctx *he_share_ctx(const gdn_ckks_share *sh);
unsigned he_share_count(const gdn_ckks_share *sh);
int he_share_secret(const gdn_ckks_share *sh);
uint64_t *he_share_data(gdn_ckks_share *sh);
const uint64_t *he_share_cdata(const gdn_ckks_share *sh);
/* ModDown (Han-Ki 2020, Algorithm 2): acc holds l + 1 + K NTT-form residues
 * (q_0..q_l, then the special primes; the special ones are destroyed);
 * out (q_0..q_l) = round(acc / P), added to out when add != 0. */
int he_mod_down(uint64_t *out, uint64_t *acc, const gdn_ckks_ctx *c, unsigned l, int add);
int he_sk_from_coeff(gdn_ckks_sk **out, const gdn_ckks_ctx *ctx, const int8_t *s);
int he_pk_alloc(gdn_ckks_pk **out, const gdn_ckks_ctx *ctx);
int he_gk_alloc(gdn_ckks_gk **out, const gdn_ckks_ctx *ctx, size_t count);
int he_gk_set_perm(gdn_ckks_gk *g, size_t i);
static inline uint64_t *he_ct_poly(const gdn_ckks_ct *ct, unsigned k, unsigned i)
{
    return ct->data + ((size_t)k * ct->ctx->nq + i) * ct->ctx->n;
}

#endif
