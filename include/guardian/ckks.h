/* Guardian ckks: RNS-CKKS approximate homomorphic encryption (Cheon, Kim,
 * Kim, Song, ASIACRYPT 2017; full-RNS variant of Cheon, Han, Kim, Kim, Song,
 * SAC 2018), with hybrid key switching (Han-Ki, CT-RSA 2020) and hoisted
 * rotations (Halevi-Shoup, CRYPTO 2018).
 *
 * Pure module: vectors in, vectors and bytes out, randomness passed in as a
 * gdn_rng. Ciphertexts and plaintexts are kept in NTT form over the primes
 * q_0..q_l of their level l; level L (the top) has every ciphertext prime.
 * A typical flow:
 *   gdn_ckks_ctx_new(params)  -> ctx (primes, tables; refuses insecure sets)
 *   gdn_ckks_keygen / gdn_ckks_pk_gen / gdn_ckks_rlk_gen / gdn_ckks_galois_gen
 *   gdn_ckks_encode -> gdn_ckks_encrypt_pk -> evaluate -> gdn_ckks_decrypt
 *   -> gdn_ckks_decode
 * Evaluation functions write to an output that may alias an input. */
#ifndef GUARDIAN_CKKS_H
#define GUARDIAN_CKKS_H

#include <stddef.h>
#include <stdint.h>

#include "guardian/core.h"

#define GDN_CKKS_MIN_LOG_N 12
#define GDN_CKKS_MAX_LOG_N 16
#define GDN_CKKS_MAX_PRIMES 64  /* ciphertext primes q_0..q_L */
#define GDN_CKKS_MAX_SPECIAL 16 /* special primes p_0..p_{K-1} */
#define GDN_CKKS_MIN_PRIME_BITS 20
#define GDN_CKKS_MAX_PRIME_BITS 61
#define GDN_CKKS_SEED_BYTES 32

/* A parameter set. prime_bits[0] is q_0 (the last prime left, which must
 * hold the decrypted message), prime_bits[L] the first rescaled away.
 * Primes are generated q = 1 mod 2N just below 2^bits, all distinct. */
typedef struct gdn_ckks_params {
    unsigned log_n;                               /* 12..16: N = 2^log_n */
    unsigned n_primes;                            /* L + 1, >= 1 */
    unsigned prime_bits[GDN_CKKS_MAX_PRIMES];
    unsigned n_special;                           /* K >= 1 */
    unsigned special_bits[GDN_CKKS_MAX_SPECIAL];
    unsigned dnum;     /* digits of hybrid key switching; 0: ceil((L+1)/K) */
    double scale;      /* default scale of encodings, e.g. 2^40 */
} gdn_ckks_params;

/* The HomomorphicEncryption.org standard's (2018, Table 1) largest log2(QP)
 * for 128-bit security with a ternary secret; 0 for unsupported log_n. */
unsigned gdn_ckks_max_log_qp(unsigned log_n);

typedef struct gdn_ckks_ctx gdn_ckks_ctx;     /* opaque, immutable */
typedef struct gdn_ckks_pt gdn_ckks_pt;       /* plaintext */
typedef struct gdn_ckks_ct gdn_ckks_ct;       /* ciphertext */
typedef struct gdn_ckks_sk gdn_ckks_sk;       /* secret key (sodium_malloc) */
typedef struct gdn_ckks_pk gdn_ckks_pk;       /* public key */
typedef struct gdn_ckks_swk gdn_ckks_swk;     /* key-switching key (relin) */
typedef struct gdn_ckks_gk gdn_ckks_gk;       /* Galois keys (rotations) */

/* ---- Context --------------------------------------------------------------- */

/* Generates and checks the primes (Miller-Rabin, deterministic bases) and
 * tables. GDN_ERANGE when log2(QP) exceeds gdn_ckks_max_log_qp, saying so. */
int gdn_ckks_ctx_new(gdn_ckks_ctx **out, const gdn_ckks_params *params);
void gdn_ckks_ctx_free(gdn_ckks_ctx *ctx);

size_t gdn_ckks_n(const gdn_ckks_ctx *ctx);          /* ring degree N */
size_t gdn_ckks_slots(const gdn_ckks_ctx *ctx);      /* N / 2 */
unsigned gdn_ckks_max_level(const gdn_ckks_ctx *ctx); /* L */
/* Prime i: 0..L are q_0..q_L, L+1..L+K the special primes. */
uint64_t gdn_ckks_prime(const gdn_ckks_ctx *ctx, unsigned i);
double gdn_ckks_log_qp(const gdn_ckks_ctx *ctx);
double gdn_ckks_default_scale(const gdn_ckks_ctx *ctx);
unsigned gdn_ckks_dnum(const gdn_ckks_ctx *ctx);

/* ---- Plaintexts and ciphertexts -------------------------------------------- */

/* A ciphertext holds room for every level; free with gdn_ckks_ct_free. */
int gdn_ckks_pt_new(gdn_ckks_pt **out, const gdn_ckks_ctx *ctx);
void gdn_ckks_pt_free(gdn_ckks_pt *pt);
int gdn_ckks_ct_new(gdn_ckks_ct **out, const gdn_ckks_ctx *ctx);
void gdn_ckks_ct_free(gdn_ckks_ct *ct);
int gdn_ckks_ct_copy(gdn_ckks_ct *out, const gdn_ckks_ct *in);

unsigned gdn_ckks_pt_level(const gdn_ckks_pt *pt);
double gdn_ckks_pt_scale(const gdn_ckks_pt *pt);
unsigned gdn_ckks_ct_level(const gdn_ckks_ct *ct);
double gdn_ckks_ct_scale(const gdn_ckks_ct *ct);
unsigned gdn_ckks_ct_size(const gdn_ckks_ct *ct); /* 2, or 3 before relinearizing */

/* ---- Encoding (canonical embedding, §3 of Cheon et al. 2017) ---------------- */

/* Encodes n <= N/2 complex slots (re[i] + i*im[i]; im may be NULL; slots past
 * n are 0) at `level` and `scale`. GDN_ERANGE when a coefficient exceeds
 * 2^62 (too large a value for that scale). */
int gdn_ckks_encode(gdn_ckks_pt *pt, const double *re, const double *im, size_t n,
                    unsigned level, double scale);
/* Decodes the first n slots (im may be NULL). */
int gdn_ckks_decode(double *re, double *im, size_t n, const gdn_ckks_pt *pt);
/* Real vectors: encode(pt, x, NULL, ...) and the real parts of decode. */
int gdn_ckks_encode_real(gdn_ckks_pt *pt, const double *x, size_t n, unsigned level,
                         double scale);
int gdn_ckks_decode_real(double *x, size_t n, const gdn_ckks_pt *pt);

/* ---- Keys ------------------------------------------------------------------ */

/* Uniform ternary secret s (coefficients in {-1, 0, 1}). */
int gdn_ckks_keygen(gdn_ckks_sk **out, const gdn_ckks_ctx *ctx, gdn_rng *rng);
void gdn_ckks_sk_free(gdn_ckks_sk *sk);
/* (b, a) = (-a s + e, a) over Q, a from a seed. */
int gdn_ckks_pk_gen(gdn_ckks_pk **out, const gdn_ckks_sk *sk, gdn_rng *rng);
void gdn_ckks_pk_free(gdn_ckks_pk *pk);
/* Relinearization key: switches s^2 to s (dnum digits over QP). */
int gdn_ckks_rlk_gen(gdn_ckks_swk **out, const gdn_ckks_sk *sk, gdn_rng *rng);
void gdn_ckks_swk_free(gdn_ckks_swk *swk);
/* Galois keys for rotations by steps[0..nsteps) (left for positive steps,
 * taken mod N/2) and, when conjugate != 0, for complex conjugation. */
int gdn_ckks_galois_gen(gdn_ckks_gk **out, const int *steps, size_t nsteps, int conjugate,
                        const gdn_ckks_sk *sk, gdn_rng *rng);
void gdn_ckks_gk_free(gdn_ckks_gk *gk);

/* ---- Encryption ------------------------------------------------------------- */

/* Fresh ciphertext of pt under the public key (v b + e0 + m, v a + e1). */
int gdn_ckks_encrypt_pk(gdn_ckks_ct *ct, const gdn_ckks_pt *pt, const gdn_ckks_pk *pk,
                        gdn_rng *rng);
/* Fresh ciphertext (-a s + e + m, a), a from a seed kept for serialization. */
int gdn_ckks_encrypt_sk(gdn_ckks_ct *ct, const gdn_ckks_pt *pt, const gdn_ckks_sk *sk,
                        gdn_rng *rng);
/* pt = c0 + c1 s (+ c2 s^2) at the ciphertext's level and scale. */
int gdn_ckks_decrypt(gdn_ckks_pt *pt, const gdn_ckks_ct *ct, const gdn_ckks_sk *sk);

/* ---- Evaluation -------------------------------------------------------------
 * Binary operations need equal levels and scales (relative difference below
 * 1e-9) and fail with GDN_EINVAL naming both otherwise. */

int gdn_ckks_add(gdn_ckks_ct *out, const gdn_ckks_ct *a, const gdn_ckks_ct *b);
int gdn_ckks_sub(gdn_ckks_ct *out, const gdn_ckks_ct *a, const gdn_ckks_ct *b);
int gdn_ckks_negate(gdn_ckks_ct *out, const gdn_ckks_ct *a);
int gdn_ckks_add_pt(gdn_ckks_ct *out, const gdn_ckks_ct *a, const gdn_ckks_pt *b);
/* Adds the constant c to every slot (encoded at a's scale, exact). */
int gdn_ckks_add_const(gdn_ckks_ct *out, const gdn_ckks_ct *a, double c);
/* Products: the scales multiply; levels must match. Size 2 x 2 -> 3. */
int gdn_ckks_mul(gdn_ckks_ct *out, const gdn_ckks_ct *a, const gdn_ckks_ct *b);
int gdn_ckks_mul_pt(gdn_ckks_ct *out, const gdn_ckks_ct *a, const gdn_ckks_pt *b);
/* Multiplies every slot by c encoded at c_scale (0: the prime q_l of a's
 * level, so that a rescale afterwards gives back a's scale exactly). */
int gdn_ckks_mul_const(gdn_ckks_ct *out, const gdn_ckks_ct *a, double c, double c_scale);
/* Size 3 -> 2 with the relinearization key (hybrid key switching). */
int gdn_ckks_relinearize(gdn_ckks_ct *out, const gdn_ckks_ct *a, const gdn_ckks_swk *rlk);
/* mul then relinearize. */
int gdn_ckks_mul_relin(gdn_ckks_ct *out, const gdn_ckks_ct *a, const gdn_ckks_ct *b,
                       const gdn_ckks_swk *rlk);
/* Divides by q_l and drops it: level l -> l-1, scale / q_l (RNS rescale,
 * Cheon et al. 2018 §3.3). GDN_ESTATE at level 0. */
int gdn_ckks_rescale(gdn_ckks_ct *out, const gdn_ckks_ct *a);
/* Drops primes down to `level` without changing the scale. */
int gdn_ckks_drop_level(gdn_ckks_ct *out, const gdn_ckks_ct *a, unsigned level);
/* Rotates the slots left by `step` (negative: right). Needs that key. */
int gdn_ckks_rotate(gdn_ckks_ct *out, const gdn_ckks_ct *a, int step, const gdn_ckks_gk *gk);
int gdn_ckks_conjugate(gdn_ckks_ct *out, const gdn_ckks_ct *a, const gdn_ckks_gk *gk);
/* Hoisted rotations (Halevi-Shoup 2018 §5): out[i] = rotate(a, steps[i]),
 * decomposing a's c1 once for all of them. The outputs must be distinct;
 * one of them may be a itself. */
int gdn_ckks_rotate_hoisted(gdn_ckks_ct *const *out, const gdn_ckks_ct *a, const int *steps,
                            size_t nsteps, const gdn_ckks_gk *gk);

/* ---- Serialization ----------------------------------------------------------
 * Little-endian, coefficients bit-packed at each prime's width. The uniform
 * half of fresh secret-key ciphertexts and of keys is stored as its 32-byte
 * seed. Parsing checks every length, level, flag and coefficient (< q) and
 * that the bytes were made for this context's parameters. */

int gdn_ckks_ct_save(gdn_buf *out, const gdn_ckks_ct *ct);
int gdn_ckks_ct_load(gdn_ckks_ct *ct, const uint8_t *in, size_t len);
int gdn_ckks_pk_save(gdn_buf *out, const gdn_ckks_pk *pk);
int gdn_ckks_pk_load(gdn_ckks_pk **out, const gdn_ckks_ctx *ctx, const uint8_t *in,
                     size_t len);
int gdn_ckks_swk_save(gdn_buf *out, const gdn_ckks_swk *swk);
int gdn_ckks_swk_load(gdn_ckks_swk **out, const gdn_ckks_ctx *ctx, const uint8_t *in,
                      size_t len);
int gdn_ckks_gk_save(gdn_buf *out, const gdn_ckks_gk *gk);
int gdn_ckks_gk_load(gdn_ckks_gk **out, const gdn_ckks_ctx *ctx, const uint8_t *in,
                     size_t len);
/* Secret key: 2 bits per coefficient. Keep the bytes secret. */
int gdn_ckks_sk_save(gdn_buf *out, const gdn_ckks_sk *sk);
int gdn_ckks_sk_load(gdn_ckks_sk **out, const gdn_ckks_ctx *ctx, const uint8_t *in,
                     size_t len);

/* ---- Multiparty CKKS (Mouchet, Troncoso-Pastoriza, Bossuat, Hubaux, PETS
 * 2021; threshold access structure of Mouchet et al., ePrint 2022/780) ----
 * n parties, each with its own secret s_i (gdn_ckks_keygen); the collective
 * secret is s = sum_i s_i and nobody holds it.
 *   CKG:  each party publishes gdn_ckks_ckg_share for a common seed (CRS);
 *         gdn_ckks_ckg_combine sums them into the collective public key.
 *   t-of-n: each party deals Shamir shares of its s_i to all parties
 *         (gdn_ckks_thr_deal, sent privately); party j sums the n shares it
 *         receives into its threshold key (gdn_ckks_thr_key).
 *   Decrypt / key switch (CKS): any t parties each publish
 *         gdn_ckks_cks_share for the same set; gdn_ckks_cks_combine or
 *         gdn_ckks_thr_decrypt adds them to the ciphertext. Fewer than t
 *         shares give no usable result.
 * Shares carry smudging noise, uniform in [-2^smudge_bits, 2^smudge_bits]
 * per coefficient, which hides the parties' key material in the published
 * share (statistical distance about 2^-(smudge_bits - log2 of the
 * ciphertext noise)); it costs precision: keep 2^smudge_bits * sqrt(N t)
 * well below the scale. */

#define GDN_CKKS_MAX_PARTIES 1024

typedef struct gdn_ckks_share gdn_ckks_share; /* a protocol message (polynomial) */
typedef struct gdn_ckks_tsk gdn_ckks_tsk;     /* a party's threshold secret key */

void gdn_ckks_share_free(gdn_ckks_share *sh);

/* Party i's share -a s_i + e_i of the collective public key (a from crs). */
int gdn_ckks_ckg_share(gdn_ckks_share **out, const gdn_ckks_sk *sk,
                       const uint8_t crs[GDN_CKKS_SEED_BYTES], gdn_rng *rng);
/* pk = (sum of the n shares, a). */
int gdn_ckks_ckg_combine(gdn_ckks_pk **out, const gdn_ckks_ctx *ctx,
                         const gdn_ckks_share *const *shares, size_t n,
                         const uint8_t crs[GDN_CKKS_SEED_BYTES]);

/* Shamir shares of s_i for parties 1..n, threshold t (2 <= t <= n): out[j-1]
 * is party j's, secret (send it over a private channel). */
int gdn_ckks_thr_deal(gdn_ckks_share **out, unsigned t, unsigned n, const gdn_ckks_sk *sk,
                      gdn_rng *rng);
/* Party j's (1..n) threshold key from the n shares dealt to it. */
int gdn_ckks_thr_key(gdn_ckks_tsk **out, const gdn_ckks_ctx *ctx, unsigned j, unsigned t,
                     const gdn_ckks_share *const *received, size_t n);
void gdn_ckks_tsk_free(gdn_ckks_tsk *tsk);
/* A threshold key as bytes, to keep on disk (secret: the caller wipes them):
 * le32 j, le32 t, then the key as a secret share (gdn_ckks_share_save). Load
 * checks j and t (2 <= t, 1 <= j <= GDN_CKKS_MAX_PARTIES) and the share. */
int gdn_ckks_tsk_save(gdn_buf *out, const gdn_ckks_tsk *tsk);
int gdn_ckks_tsk_load(gdn_ckks_tsk **out, const gdn_ckks_ctx *ctx, const uint8_t *in,
                      size_t len);

/* Collective key switching: this party's share (lambda_j s_j - s'_j) c1 + e
 * of switching ct (size 2) from s to s' = sum of the `to` keys of the
 * parties in set[0..set_len) (party numbers 1..n; must contain this party's
 * and have t entries); to = NULL switches to 0, i.e. decryption. */
int gdn_ckks_cks_share(gdn_ckks_share **out, const gdn_ckks_ct *ct, const gdn_ckks_tsk *tsk,
                       const unsigned *set, size_t set_len, const gdn_ckks_sk *to,
                       unsigned smudge_bits, gdn_rng *rng);
/* out = (c0 + sum of the shares, c1). */
int gdn_ckks_cks_combine(gdn_ckks_ct *out, const gdn_ckks_ct *ct,
                         const gdn_ckks_share *const *shares, size_t count);
/* Public-key switching (PCKS): this party's share of re-encrypting ct from
 * s to the key pair of `to` (a receiver who is not among the parties). */
int gdn_ckks_pcks_share(gdn_ckks_share **out, const gdn_ckks_ct *ct, const gdn_ckks_tsk *tsk,
                        const unsigned *set, size_t set_len, const gdn_ckks_pk *to,
                        unsigned smudge_bits, gdn_rng *rng);
/* out = (c0 + sum of the first halves, sum of the second halves). */
int gdn_ckks_pcks_combine(gdn_ckks_ct *out, const gdn_ckks_ct *ct,
                          const gdn_ckks_share *const *shares, size_t count);
/* Threshold decryption: pt = c0 + sum of the (to = NULL) shares. */
int gdn_ckks_thr_decrypt(gdn_ckks_pt *pt, const gdn_ckks_ct *ct,
                         const gdn_ckks_share *const *shares, size_t count);

/* Collective relinearization key (RKG, Mouchet et al. 2021 §4.3, with the
 * hybrid gadget), run by a set of at least t parties, two rounds:
 *   round 1: each party publishes rkg_round1 and keeps its ephemeral secret;
 *   anyone sums the round-1 shares (gdn_ckks_share_sum);
 *   round 2: each party publishes rkg_round2 from that sum;
 *   anyone: gdn_ckks_rkg_finish(round-1 sum, round-2 shares) -> rlk. */
int gdn_ckks_rkg_round1(gdn_ckks_share **out, gdn_ckks_share **ephemeral,
                        const gdn_ckks_tsk *tsk, const unsigned *set, size_t set_len,
                        const uint8_t crs[GDN_CKKS_SEED_BYTES], gdn_rng *rng);
int gdn_ckks_rkg_round2(gdn_ckks_share **out, const gdn_ckks_share *ephemeral,
                        const gdn_ckks_tsk *tsk, const unsigned *set, size_t set_len,
                        const gdn_ckks_share *round1_sum, gdn_rng *rng);
int gdn_ckks_rkg_finish(gdn_ckks_swk **out, const gdn_ckks_share *round1_sum,
                        const gdn_ckks_share *const *round2, size_t count);
/* Collective Galois keys (RTG, Mouchet et al. 2021 §4.4), one round: each of
 * at least t parties publishes one share per step; gdn_ckks_rtg_finish takes
 * shares[s * count + i] (step s, party i) and makes keys for every step. The
 * uniform halves come from crs and the Galois element (one CRS per session;
 * never reuse it for another protocol run). */
int gdn_ckks_rtg_share(gdn_ckks_share **out, const gdn_ckks_tsk *tsk, const unsigned *set,
                       size_t set_len, int step, const uint8_t crs[GDN_CKKS_SEED_BYTES],
                       gdn_rng *rng);
int gdn_ckks_rtg_finish(gdn_ckks_gk **out, const gdn_ckks_ctx *ctx, const int *steps,
                        size_t nsteps, const gdn_ckks_share *const *shares, size_t count,
                        const uint8_t crs[GDN_CKKS_SEED_BYTES]);
/* out = sum of count shares of the same shape (public shares). */
int gdn_ckks_share_sum(gdn_ckks_share **out, const gdn_ckks_share *const *shares, size_t count);

/* Shares travel as bytes (bit-packed, validated like the other objects). */
int gdn_ckks_share_save(gdn_buf *out, const gdn_ckks_share *sh);
int gdn_ckks_share_load(gdn_ckks_share **out, const gdn_ckks_ctx *ctx, const uint8_t *in,
                        size_t len);

#endif
