/* prio internals: finite fields, NTT, XOFs and the generic FLP
 * (draft-irtf-cfrg-vdaf-20 §6.1, §6.2, §7.3). Not part of the public API. */
#ifndef GDN_PRIO_INTERNAL_H
#define GDN_PRIO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

/* ---- Fields (draft-irtf-cfrg-vdaf-20 §6.1) -------------------------------
 * Elements are kept in Montgomery form, fully reduced, in two 64-bit limbs
 * (Field64 uses limb 0 only). Arithmetic is constant-time: no branch or
 * index depends on an element's value. */

typedef struct prio_fe {
    uint64_t v[2];
} prio_fe;

typedef enum {
    PRIO_FIELD64 = 0, PRIO_FIELD128 = 1,
    PRIO_FIELD32 = 2, PRIO_FIELD40 = 3 /* PINE's (draft-chen-cfrg-vdaf-pine-01) */
} prio_field_id;

typedef struct prio_field {
    prio_field_id id;
    size_t encoded_size; /* 8 or 16 bytes (4, 5 for Field32/40), little-endian */
    unsigned log_gen_order; /* 32 or 66 (20): 2^log is the order of gen */
    /* Field32 and Field40 (p < 2^41): one Montgomery path, R = 2^64. */
    uint64_t p, ninv, r2, gen; /* -p^-1 mod 2^64, 2^128 mod p, gen (plain) */
} prio_field;

/* Vector kernels of the module (Field64 transforms and gadgets, field.c;
 * PINE's wraparound checks, wr.c; Keccak-p, xof.c): 0 is portable C, 1
 * AVX-512 (F, DQ, BW, VL, VBMI, VNNI). The default is the best the CPU has
 * (0 when GDN_NO_SIMD=1); prio_set_simd clamps the level to that and
 * returns the level now in force. */
int prio_simd(void);
int prio_set_simd(int level);

const prio_field *prio_field64(void);
const prio_field *prio_field128(void);
const prio_field *prio_field32(void);
const prio_field *prio_field40(void);

prio_fe prio_fe_zero(void);
prio_fe prio_fe_one(const prio_field *F);
/* x mod p. */
prio_fe prio_fe_from_u64(const prio_field *F, uint64_t x);
prio_fe prio_fe_add(const prio_field *F, prio_fe a, prio_fe b);
/* Field64, Field32, Field40 only: the element whose representation is
 * t = hi 2^64 + lo mod p, for t a sum of fewer than 2^40 representations
 * (v[0] of elements): lets hot loops add in plain integers. */
prio_fe prio_fe_from_wide_sum(const prio_field *F, uint64_t lo, uint64_t hi);
prio_fe prio_fe_sub(const prio_field *F, prio_fe a, prio_fe b);
prio_fe prio_fe_neg(const prio_field *F, prio_fe a);
prio_fe prio_fe_mul(const prio_field *F, prio_fe a, prio_fe b);
/* a^e for a public exponent e (two limbs, little-endian). */
prio_fe prio_fe_pow(const prio_field *F, prio_fe a, const uint64_t e[2]);
/* a^(p-2): the inverse of a non-zero element (0 maps to 0). */
prio_fe prio_fe_inv(const prio_field *F, prio_fe a);
/* 1 when equal, else 0, without branches. */
int prio_fe_eq(prio_fe a, prio_fe b);
/* Canonical integer value, limbs little-endian. */
void prio_fe_value(const prio_field *F, uint64_t out[2], prio_fe a);

/* Little-endian encoding of one element: encoded_size bytes. */
void prio_fe_encode(const prio_field *F, uint8_t *out, prio_fe a);
/* GDN_EFORMAT when the integer is >= p. */
int prio_fe_decode(const prio_field *F, prio_fe *out, const uint8_t *in);
/* Rejection sampling input (§6.2 next_vec): bytes masked to the modulus'
 * bit length; returns 1 and sets *out when below p, else 0. */
int prio_fe_sample(const prio_field *F, prio_fe *out, const uint8_t *in);

void prio_vec_encode(const prio_field *F, uint8_t *out, const prio_fe *v, size_t n);
/* a[i] -= b[i] for i < n. */
void prio_vec_sub(const prio_field *F, prio_fe *a, const prio_fe *b, size_t n);
/* acc[i] += in[i] for n encoded elements (aggregating output shares);
 * GDN_EFORMAT, naming `who`, when an element is out of range. */
int prio_vec_add_encoded(const prio_field *F, uint8_t *acc, const uint8_t *in, size_t n,
                         const char *who);
int prio_vec_decode(const prio_field *F, prio_fe *out, const uint8_t *in, size_t n);

/* A primitive 2^log_n-th root of unity: gen^(2^(log_gen_order - log_n)). */
prio_fe prio_root_of_unity(const prio_field *F, unsigned log_n);

/* Twiddle factors for transforms of every size up to 2^log_n. */
typedef struct prio_ntt_tab {
    const prio_field *F;
    unsigned log_n;
    prio_fe *fw, *iw; /* stage h: fw[h + j] = r^j, r the 2h-th root (iw: r^-1) */
} prio_ntt_tab;

int prio_ntt_tab_init(prio_ntt_tab *t, const prio_field *F, unsigned log_n);
void prio_ntt_tab_free(prio_ntt_tab *t);
/* In place, natural order: a[i] <- sum_j a[j] w^(ij), w the m-th root of
 * prio_root_of_unity, m = 2^log_m <= 2^t->log_n; inverse: values at the
 * m-th roots -> coefficients. */
void prio_ntt_run(const prio_ntt_tab *t, prio_fe *a, unsigned log_m, int inverse);
/* The same with a table made for one call (GDN_ENOMEM if it cannot be). */
int prio_ntt(const prio_field *F, prio_fe *a, unsigned log_n);
int prio_intt(const prio_field *F, prio_fe *a, unsigned log_n);

/* Low-degree extension from the p-th to the n-th roots of unity (p <= n). */
typedef struct prio_lde {
    prio_ntt_tab tab; /* sizes up to n */
    unsigned log_p, log_n;
    prio_fe *twist;   /* (n/p - 1) x p coset factors */
    /* Field64 with p >= 8: the tables as packed 64-bit lanes and 2p of
     * scratch for the AVX-512 path (so one prio_lde serves one thread). */
    uint64_t *fw64, *iw64, *tw64, *s64;
} prio_lde;

int prio_lde_init(prio_lde *e, const prio_field *F, unsigned log_p, unsigned log_n);
void prio_lde_free(prio_lde *e);
/* y: values of a polynomial of degree < p at the p-th roots w^k. out (n
 * elements, coset-major): out[j p + k] = its value at z^j w^k, z the
 * primitive n-th root, i.e. at the n-th root of index k (n / p) + j. */
void prio_lde_run(const prio_lde *e, prio_fe *out, const prio_fe *y);

/* c[k] (k < p = 2^log_p): weights such that f(t) = sum_k f(w^k) c[k] for
 * every f of degree < p, w the p-th root, and any t. */
void prio_bary_weights(const prio_field *F, prio_fe *c, unsigned log_p, prio_fe t);
/* sum_i a[i] b[i]; sum_i x[2i] x[2i+1]; sum_i P(x[i]), P's coefficients
 * pc[0..len) (i < n). */
prio_fe prio_vec_dot(const prio_field *F, const prio_fe *a, const prio_fe *b, size_t n);
prio_fe prio_vec_pair_dot(const prio_field *F, const prio_fe *x, size_t n);
/* out[j] = sum_k row_k[j] c_k over the rows added, each reduced once. */
typedef struct prio_rows_sum prio_rows_sum;
prio_rows_sum *prio_rows_sum_new(const prio_field *F, size_t cols);
void prio_rows_sum_add(prio_rows_sum *r, const prio_fe *row, prio_fe c);
void prio_rows_sum_get(const prio_rows_sum *r, prio_fe *out);
void prio_rows_sum_free(prio_rows_sum *r);
prio_fe prio_vec_poly_sum(const prio_field *F, const prio_fe *x, const prio_fe *pc, size_t len,
                          size_t n);
/* Horner evaluation of coefficients c[0..n) at x. */
prio_fe prio_poly_eval(const prio_field *F, const prio_fe *c, size_t n, prio_fe x);
/* acc[i] += a[i] b[i]; acc[i] += P(a[i]), P's coefficients pc[0..len). */
void prio_vec_mul_acc(const prio_field *F, prio_fe *acc, const prio_fe *a, const prio_fe *b,
                      size_t n);
void prio_vec_poly_acc(const prio_field *F, prio_fe *acc, const prio_fe *a, const prio_fe *pc,
                       size_t len, size_t n);

/* Wipes memory in a way the compiler keeps. */
void prio_wipe(void *p, size_t n);

/* ---- XOFs (draft-irtf-cfrg-vdaf-20 §6.2) --------------------------------- */

typedef struct prio_turboshake {
    uint64_t a[25];
    size_t pos;      /* byte position in the rate */
    int squeezing;
    uint8_t domain;  /* D byte of RFC 9861 */
} prio_turboshake;

/* TurboSHAKE128 (RFC 9861 §2): Keccak-p[1600, 12], rate 168 bytes. */
void prio_turboshake_init(prio_turboshake *t, uint8_t domain);
void prio_turboshake_absorb(prio_turboshake *t, const uint8_t *p, size_t n);
void prio_turboshake_squeeze(prio_turboshake *t, uint8_t *out, size_t n);

typedef enum {
    PRIO_XOF_TURBOSHAKE128 = 0,
    PRIO_XOF_FIXED_KEY_AES128 = 1,
    /* VDAF draft 11's XofTurboShake128 (PINE builds on it): 16-byte seed,
     * TurboSHAKE128(u8(|dst|) || dst || seed || binder, D = 1). */
    PRIO_XOF_TURBOSHAKE128_V11 = 2,
    /* draft-chen-cfrg-vdaf-pine-01's XofHmacSha256Aes128: 32-byte seed,
     * h = HMAC-SHA256(seed, u8(|dst|) || dst || binder); the stream is
     * AES-128-CTR(key h[0..16), counter block h[16..32)) of zeros. */
    PRIO_XOF_HMAC_SHA256_AES128 = 3
} prio_xof_id;

/* Seed sizes: 32 bytes for XofTurboShake128 and XofHmacSha256Aes128, 16
 * for XofFixedKeyAes128 and draft 11's XofTurboShake128. */
#define PRIO_SEED_MAX 32

typedef struct prio_xof {
    prio_xof_id id;
    prio_turboshake ts;     /* the stream, or the AES key derivation */
    void *hmac;             /* EVP_MAC_CTX * (HMAC-SHA256) of XofHmacSha256Aes128 until keyed */
    void *aes;              /* EVP_CIPHER_CTX * once keyed */
    uint8_t seed[16];
    uint64_t block;         /* next AES block index */
    uint8_t buf[16];
    size_t buf_pos;         /* 16 = empty */
    int ready;
    int failed;             /* an HMAC update failed: the next read reports it */
} prio_xof;

/* Starts an XOF with dst = dst1 || dst2 (at most 65535 bytes in all, 255
 * for the draft 11 / PINE XOFs);
 * the binder is absorbed afterwards with prio_xof_binder. */
int prio_xof_init(prio_xof *x, prio_xof_id id, const uint8_t *seed, size_t seed_len,
                  const uint8_t *dst1, size_t dst1_len, const uint8_t *dst2,
                  size_t dst2_len);
void prio_xof_binder(prio_xof *x, const uint8_t *p, size_t n);
int prio_xof_next(prio_xof *x, uint8_t *out, size_t n);
int prio_xof_next_vec(prio_xof *x, const prio_field *F, prio_fe *out, size_t n);
/* The same, keeping the n elements' encodings in enc (n * encoded_size bytes). */
int prio_xof_next_vec_enc(prio_xof *x, const prio_field *F, prio_fe *out, uint8_t *enc,
                          size_t n);
void prio_xof_free(prio_xof *x);
size_t prio_xof_seed_size(prio_xof_id id);

/* ---- FLP (draft-irtf-cfrg-vdaf-20 §7.3) ----------------------------------
 * A validity circuit with a single gadget: Mul, PolyEval, or ParallelSum
 * of one of them, which covers every Prio3 instance of the draft. */

typedef enum {
    PRIO_CIRCUIT_COUNT, PRIO_CIRCUIT_SUM, PRIO_CIRCUIT_SUMVEC,
    PRIO_CIRCUIT_HISTOGRAM, PRIO_CIRCUIT_MULTIHOT, PRIO_CIRCUIT_HIGHER_DEGREE,
    /* PINE (draft-chen-cfrg-vdaf-pine-01, poc/flp_pine.py): the squared
     * norm equality check (ParallelSum of x^2) and every other check
     * (ParallelSum of Mul). Both read the same FLP measurement. */
    PRIO_CIRCUIT_PINE_NORM, PRIO_CIRCUIT_PINE
} prio_circuit_kind;

typedef enum { PRIO_GADGET_MUL, PRIO_GADGET_POLY_EVAL } prio_gadget_kind;

typedef struct prio_circuit {
    prio_circuit_kind kind;
    const prio_field *F;
    size_t length, chunk_length, bits;
    uint64_t max; /* max_measurement or max_weight */
    /* Validity circuit lengths (§7.3.2). */
    size_t meas_len, output_len, joint_rand_len, eval_output_len;
    /* The gadget: `count` parallel copies of a base gadget (§7.3.1.3). */
    prio_gadget_kind gadget;
    size_t count;
    int64_t poly[4];
    size_t poly_len;
    size_t arity, degree, calls;
    size_t wire_len;       /* p: next power of two >= 1 + calls */
    size_t gadget_poly_len; /* degree * (p - 1) + 1 */
    size_t eval_len;       /* n: next power of two >= gadget_poly_len */
    /* FLP lengths (§7.3.1). */
    size_t prove_rand_len, query_rand_len, proof_len, verifier_len;
    /* Draft 11's proof (PINE): the gadget polynomial's coefficients rather
     * than its values at the roots of unity. */
    int coeff_proof;
    /* PINE: gradient entries, bits of the squared norm (v and u each) and
     * of a wraparound check result, checks, required successes. The FLP
     * measurement is gradient || bit_checked || the checks' dot products. */
    size_t dimension, sq_bits, wr_bits, wr_checks, wr_successes, bit_checked_len;
    uint64_t sq_norm_bound, wr_bound; /* integers below 2^63 */
} prio_circuit;

/* Checks parameters and fills the lengths. */
int prio_circuit_init(prio_circuit *c, prio_circuit_kind kind, const prio_field *F,
                      size_t length, uint64_t max, size_t chunk_length);
/* PINE's two circuits for one parameter set (l2_bound is the encoded
 * integer bound, alpha the wraparound parameter); coefficient proofs. */
int prio_circuit_init_pine(prio_circuit *c, prio_circuit_kind kind, const prio_field *F,
                           size_t dimension, uint64_t l2_bound, size_t chunk_length,
                           double alpha, size_t wr_checks, size_t wr_successes);
/* Encodes a measurement (constant-time in its value). */
int prio_circuit_encode(const prio_circuit *c, prio_fe *meas, const uint64_t *m,
                        size_t m_len);
void prio_circuit_truncate(const prio_circuit *c, prio_fe *out, const prio_fe *meas);

/* The circuit run of the prover (§7.3.3), (1 + calls) x arity: the wire
 * seeds in row 0, the k-th gadget call's inputs in row k. Wire j's values
 * at the p-th roots are column j, zero after the last row. */
int prio_flp_rows(const prio_circuit *c, prio_fe *rows, const prio_fe *meas,
                  const prio_fe *seeds, const prio_fe *joint_rand, size_t num_shares);
/* §7.3.3: proof (proof_len) for meas with prove_rand and joint_rand. */
int prio_flp_prove(const prio_circuit *c, prio_fe *proof, const prio_fe *meas,
                   const prio_fe *prove_rand, const prio_fe *joint_rand);
/* §7.3.4: verifier share (verifier_len) from shares of meas and proof. */
int prio_flp_query(const prio_circuit *c, prio_fe *verifier, const prio_fe *meas,
                   const prio_fe *proof, const prio_fe *query_rand,
                   const prio_fe *joint_rand, size_t num_shares);
/* §7.3.5: 1 when the combined verifier accepts, else 0. */
int prio_flp_decide(const prio_circuit *c, const prio_fe *verifier);

/* ---- PINE's wraparound checks (draft-chen-cfrg-vdaf-pine-01) ------------- */


/* The longest gradient prio_wr_dot takes (the PINE circuits allow 2^26). */
#define PRIO_WR_MAX_DIM ((size_t)1 << 31)

/* PineValid.run_wr_checks once the check vectors are squeezed: for each of
 * `checks` checks i, results[i] = sum_k c_ik grad[k] over the d entries,
 * where c_ik in {-1, 0, 1} is bits 2(k%4), 2(k%4)+1 of codes[i ceil(d/4) +
 * k/4] (00: -1, 01 and 10: 0, 11: 1). No branch or index depends on grad.
 * GDN_EINVAL when d > PRIO_WR_MAX_DIM; GDN_ENOMEM. */
int prio_wr_dot(const prio_field *F, prio_fe *results, size_t checks, const prio_fe *grad,
                size_t d, const uint8_t *codes);

#endif
