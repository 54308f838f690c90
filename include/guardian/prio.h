/* Guardian prio: Prio3 verifiable distributed aggregation
 * (draft-irtf-cfrg-vdaf-20 §7): a client splits its measurement into
 * shares for `num_shares` aggregators with a fully linear proof (FLP) that
 * the aggregators check jointly before adding the shares.
 *
 * Pure module: bytes in, bytes out, randomness passed in. All messages use
 * the draft's encodings, so they interoperate with other implementations.
 * Flow of one report (agg_id 0 is the leader):
 *   client:      gdn_prio3_shard -> public share + one input share each
 *   aggregator:  gdn_prio3_verify_init -> verify state + verifier share
 *   any one:     gdn_prio3_verifier_shares_to_message (all verifier shares)
 *   aggregator:  gdn_prio3_verify_next(state, message) -> output share
 *                gdn_prio3_aggregate (add output shares into an agg share)
 *   collector:   gdn_prio3_unshard (all agg shares) -> aggregate result */
#ifndef GUARDIAN_PRIO_H
#define GUARDIAN_PRIO_H

#include <stddef.h>
#include <stdint.h>

#include "guardian/core.h"

#define GDN_PRIO3_NONCE_BYTES 16      /* §7: NONCE_SIZE */
#define GDN_PRIO3_VERIFY_KEY_BYTES 32 /* XofTurboShake128 seed size */
#define GDN_PRIO3_SEED_BYTES 32
#define GDN_PRIO3_MAX_CTX_BYTES 1024  /* application context string */

typedef enum {
    GDN_PRIO3_COUNT = 1,              /* §7.4.1: measurement 0 or 1 */
    GDN_PRIO3_SUM,                    /* §7.4.2: integer in [0, max_measurement] */
    GDN_PRIO3_SUMVEC,                 /* §7.4.3: `length` integers in [0, max] */
    GDN_PRIO3_HISTOGRAM,              /* §7.4.4: one bucket index < length */
    GDN_PRIO3_MULTIHOT_COUNTVEC,      /* §7.4.5: `length` bits, weight <= max */
    GDN_PRIO3_SUMVEC_MULTIPROOF,      /* SumVec, own field, num_proofs proofs */
    GDN_PRIO3_HIGHER_DEGREE           /* test-only circuit x(x-1)(x-2) = 0 */
} gdn_prio3_kind;

typedef enum { GDN_PRIO_FIELD64 = 64, GDN_PRIO_FIELD128 = 128 } gdn_prio_field;

/* Instance parameters; unused fields are ignored (zero them). */
typedef struct gdn_prio3_params {
    gdn_prio3_kind kind;
    unsigned num_shares;      /* aggregators, 2..255 */
    uint64_t max;             /* max_measurement (Sum, SumVec) or max_weight */
    size_t length;            /* SumVec, Histogram, MultihotCountVec */
    size_t chunk_length;      /* ParallelSum chunk (SumVec, Histogram, Multihot) */
    gdn_prio_field field;     /* SUMVEC_MULTIPROOF only */
    unsigned num_proofs;      /* SUMVEC_MULTIPROOF only, 1..255 */
} gdn_prio3_params;

typedef struct gdn_prio3 gdn_prio3; /* opaque, immutable after creation */

/* Checks params and creates an instance; free with gdn_prio3_free. */
int gdn_prio3_new(gdn_prio3 **out, const gdn_prio3_params *params);
void gdn_prio3_free(gdn_prio3 *vdaf);

/* Encoded sizes of the messages, in bytes. */
size_t gdn_prio3_rand_size(const gdn_prio3 *vdaf);
size_t gdn_prio3_public_share_size(const gdn_prio3 *vdaf);
size_t gdn_prio3_input_share_size(const gdn_prio3 *vdaf, unsigned agg_id);
size_t gdn_prio3_verifier_share_size(const gdn_prio3 *vdaf);
size_t gdn_prio3_verifier_message_size(const gdn_prio3 *vdaf);
size_t gdn_prio3_out_share_size(const gdn_prio3 *vdaf); /* = agg share size */
size_t gdn_prio3_output_len(const gdn_prio3 *vdaf);     /* entries of the result */
/* Values per measurement gdn_prio3_shard expects (1 for Count/Sum/Histogram). */
size_t gdn_prio3_measurement_len(const gdn_prio3 *vdaf);

/* ---- Direct interface ----------------------------------------------------- */

/* Shards `meas` (meas_len values, see gdn_prio3_measurement_len) with fresh
 * randomness from rng. public_share and input_shares[num_shares] are
 * appended to (zero-initialised gdn_buf). */
int gdn_prio3_shard(const gdn_prio3 *vdaf, gdn_buf *public_share, gdn_buf *input_shares,
                    const uint8_t *ctx, size_t ctx_len, const uint64_t *meas,
                    size_t meas_len, const uint8_t nonce[GDN_PRIO3_NONCE_BYTES],
                    gdn_rng *rng);

/* ---- Expert interface: every step, with explicit coins -------------------- */

/* §7.2.1 shard with the random coins given (rand_len = gdn_prio3_rand_size). */
int gdn_prio3_shard_with_rand(const gdn_prio3 *vdaf, gdn_buf *public_share,
                              gdn_buf *input_shares, const uint8_t *ctx, size_t ctx_len,
                              const uint64_t *meas, size_t meas_len,
                              const uint8_t nonce[GDN_PRIO3_NONCE_BYTES],
                              const uint8_t *rand, size_t rand_len);

/* §7.2.2 verify_init for aggregator agg_id: decodes the shares, appends its
 * verify state (opaque bytes) to *state and its verifier share to *share. */
int gdn_prio3_verify_init(const gdn_prio3 *vdaf, gdn_buf *state, gdn_buf *verifier_share,
                          const uint8_t verify_key[GDN_PRIO3_VERIFY_KEY_BYTES],
                          const uint8_t *ctx, size_t ctx_len, unsigned agg_id,
                          const uint8_t nonce[GDN_PRIO3_NONCE_BYTES],
                          const uint8_t *public_share, size_t public_share_len,
                          const uint8_t *input_share, size_t input_share_len);

/* §7.2.2 verifier_shares_to_message: combines all num_shares verifier shares;
 * GDN_ECRYPTO when a proof is rejected. Appends the message to *message. */
int gdn_prio3_verifier_shares_to_message(const gdn_prio3 *vdaf, gdn_buf *message,
                                         const uint8_t *ctx, size_t ctx_len,
                                         const uint8_t *const *shares,
                                         const size_t *share_lens, size_t num);

/* §7.2.2 verify_next: checks the message against the state (GDN_ECRYPTO on a
 * joint randomness mismatch) and appends the output share to *out_share. */
int gdn_prio3_verify_next(const gdn_prio3 *vdaf, gdn_buf *out_share,
                          const uint8_t *state, size_t state_len,
                          const uint8_t *message, size_t message_len);

/* §7.2.3 agg_update: agg_share += out_share, both encoded, same size
 * (gdn_prio3_out_share_size); an all-zero agg_share is agg_init. */
int gdn_prio3_aggregate(const gdn_prio3 *vdaf, uint8_t *agg_share,
                        const uint8_t *out_share, size_t len);

/* §7.2.4 unshard: sums the num agg shares and decodes result[output_len];
 * GDN_ERANGE when an entry does not fit 64 bits. */
int gdn_prio3_unshard(const gdn_prio3 *vdaf, uint64_t *result, size_t result_len,
                      const uint8_t *const *agg_shares, const size_t *lens, size_t num,
                      uint64_t num_measurements);

/* ---- Ping-pong topology (draft-irtf-cfrg-vdaf-20 §5.7.1) -------------------
 * Two aggregators, the leader (agg_id 0) and the helper (1), take turns:
 *   leader: gdn_pingpong_leader_init        -> outbound `initialize`
 *   helper: gdn_pingpong_helper_init(inbound) -> output share + `finish`
 *   leader: gdn_pingpong_leader_continued(inbound) -> output share
 * Messages use the draft's encoding: a type byte, then each field as a
 * 4-byte big-endian length and its bytes. Any failure (malformed message,
 * wrong type, rejected proof) leaves the state GDN_PINGPONG_REJECTED and
 * returns the error (GDN_EFORMAT, GDN_ESTATE or GDN_ECRYPTO) with context. */

typedef enum {
    GDN_PINGPONG_INITIALIZE = 0, /* verifier_share */
    GDN_PINGPONG_CONTINUE = 1,   /* verifier_message, verifier_share */
    GDN_PINGPONG_FINISH = 2      /* verifier_message */
} gdn_pingpong_type;

/* A decoded message: pointers into the encoded bytes. */
typedef struct gdn_pingpong_message {
    gdn_pingpong_type type;
    const uint8_t *verifier_message, *verifier_share;
    size_t verifier_message_len, verifier_share_len;
} gdn_pingpong_message;

#define GDN_PINGPONG_MAX_FIELD ((size_t)1 << 30) /* bytes per field we accept */

/* Appends the encoding of m to *out. */
int gdn_pingpong_encode(gdn_buf *out, const gdn_pingpong_message *m);
/* Decodes in[0..len) exactly (no trailing bytes); GDN_EFORMAT otherwise. */
int gdn_pingpong_decode(gdn_pingpong_message *m, const uint8_t *in, size_t len);

typedef enum {
    GDN_PINGPONG_CONTINUED = 1,      /* outbound to send, more to come */
    GDN_PINGPONG_FINISHED_WITH_OUTBOUND, /* out_share ready; send outbound */
    GDN_PINGPONG_FINISHED,           /* out_share ready */
    GDN_PINGPONG_REJECTED
} gdn_pingpong_status;

/* One aggregator's side of one report. Zero-initialise; free with
 * gdn_pingpong_state_free. */
typedef struct gdn_pingpong_state {
    gdn_pingpong_status status;
    unsigned round;        /* verification round of verify_state */
    gdn_buf verify_state;  /* opaque, between messages */
    gdn_buf out_share;     /* when finished */
    gdn_buf outbound;      /* the message to send, when there is one */
} gdn_pingpong_state;

void gdn_pingpong_state_free(gdn_pingpong_state *st);

int gdn_pingpong_leader_init(gdn_pingpong_state *st, const gdn_prio3 *vdaf,
                             const uint8_t verify_key[GDN_PRIO3_VERIFY_KEY_BYTES],
                             const uint8_t *ctx, size_t ctx_len,
                             const uint8_t nonce[GDN_PRIO3_NONCE_BYTES],
                             const uint8_t *public_share, size_t public_share_len,
                             const uint8_t *input_share, size_t input_share_len);
int gdn_pingpong_helper_init(gdn_pingpong_state *st, const gdn_prio3 *vdaf,
                             const uint8_t verify_key[GDN_PRIO3_VERIFY_KEY_BYTES],
                             const uint8_t *ctx, size_t ctx_len,
                             const uint8_t nonce[GDN_PRIO3_NONCE_BYTES],
                             const uint8_t *public_share, size_t public_share_len,
                             const uint8_t *input_share, size_t input_share_len,
                             const uint8_t *inbound, size_t inbound_len);
/* The next transition of a CONTINUED state on the peer's message. */
int gdn_pingpong_leader_continued(gdn_pingpong_state *st, const gdn_prio3 *vdaf,
                                  const uint8_t *ctx, size_t ctx_len,
                                  const uint8_t *inbound, size_t inbound_len);
int gdn_pingpong_helper_continued(gdn_pingpong_state *st, const gdn_prio3 *vdaf,
                                  const uint8_t *ctx, size_t ctx_len,
                                  const uint8_t *inbound, size_t inbound_len);

/* ---- PINE (draft-chen-cfrg-vdaf-pine-01, on VDAF draft 11) ------------------
 * Sums real vectors whose L2 norm is at most a bound (Rothblum, Omri, Chen,
 * Talwar 2023). Each entry x becomes the integer round(x 2^num_frac_bits)
 * (ties to even) taken mod p; the bound is given already encoded
 * (l2_norm_bound = B 2^num_frac_bits). One round of verification, no
 * application context (draft 11). The flow is Prio3's: shard, verify_init,
 * verifier_shares_to_message, verify_next, aggregate, unshard. */

typedef enum {
    GDN_PINE64 = 1,          /* Field64, XofTurboShake128 (draft 11), 2 proofs */
    GDN_PINE128,             /* Field128, XofTurboShake128 (draft 11), 1 proof */
    GDN_PINE32_HMAC_SHA256_AES128, /* Field32, XofHmacSha256Aes128, 5 proofs */
    GDN_PINE40_HMAC_SHA256_AES128, /* Field40, 4 proofs */
    GDN_PINE64_HMAC_SHA256_AES128  /* Field64, 2 proofs */
} gdn_pine_variant;

typedef struct gdn_pine_params {
    gdn_pine_variant variant;
    unsigned num_shares;            /* 2..255 */
    size_t dimension;
    uint64_t l2_norm_bound;         /* encoded: B x 2^num_frac_bits, < 2^31.5 */
    unsigned num_frac_bits;         /* < 63 */
    size_t chunk_length;            /* main circuit's ParallelSum chunk */
    size_t chunk_length_norm_equality; /* norm equality circuit's chunk */
    unsigned num_proofs, num_proofs_norm_equality; /* 0: the variant's */
    double alpha;                   /* 0: 8.7 */
    size_t num_wr_checks, num_wr_successes; /* 0: 100 and 100 */
} gdn_pine_params;

typedef struct gdn_pine gdn_pine; /* opaque, immutable after creation */

int gdn_pine_new(gdn_pine **out, const gdn_pine_params *params);
void gdn_pine_free(gdn_pine *vdaf);

size_t gdn_pine_verify_key_size(const gdn_pine *vdaf); /* the XOF's seed size */
size_t gdn_pine_rand_size(const gdn_pine *vdaf);
size_t gdn_pine_public_share_size(const gdn_pine *vdaf);
size_t gdn_pine_input_share_size(const gdn_pine *vdaf, unsigned agg_id);
size_t gdn_pine_verifier_share_size(const gdn_pine *vdaf);
size_t gdn_pine_verifier_message_size(const gdn_pine *vdaf);
size_t gdn_pine_out_share_size(const gdn_pine *vdaf); /* = agg share size */
size_t gdn_pine_dimension(const gdn_pine *vdaf);

/* Shards meas[dimension]. GDN_ERANGE when an entry is NaN, infinite,
 * subnormal or too large, or the encoded squared norm exceeds the bound;
 * retries with fresh coins while the wraparound checks fail (rarely). */
int gdn_pine_shard(const gdn_pine *vdaf, gdn_buf *public_share, gdn_buf *input_shares,
                   const double *meas, size_t meas_len,
                   const uint8_t nonce[GDN_PRIO3_NONCE_BYTES], gdn_rng *rng);

/* For tests and attack simulations only: encode the measurement as if its
 * norm were within the bound (claimed squared norm = the bound, wraparound
 * checks claimed passed). The aggregators reject such a report. */
#define GDN_PINE_SHARD_FORGE_NORM 1u

/* With the coins given. GDN_ESTATE when fewer wraparound checks than
 * required passed: shard again with new coins. */
int gdn_pine_shard_with_rand(const gdn_pine *vdaf, gdn_buf *public_share,
                             gdn_buf *input_shares, const double *meas, size_t meas_len,
                             const uint8_t nonce[GDN_PRIO3_NONCE_BYTES],
                             const uint8_t *rand, size_t rand_len, unsigned flags);

/* Same contracts as the gdn_prio3_ calls above (verify_key has
 * gdn_pine_verify_key_size bytes). */
int gdn_pine_verify_init(const gdn_pine *vdaf, gdn_buf *state, gdn_buf *verifier_share,
                         const uint8_t *verify_key, unsigned agg_id,
                         const uint8_t nonce[GDN_PRIO3_NONCE_BYTES],
                         const uint8_t *public_share, size_t public_share_len,
                         const uint8_t *input_share, size_t input_share_len);
int gdn_pine_verifier_shares_to_message(const gdn_pine *vdaf, gdn_buf *message,
                                        const uint8_t *const *shares,
                                        const size_t *share_lens, size_t num);
int gdn_pine_verify_next(const gdn_pine *vdaf, gdn_buf *out_share, const uint8_t *state,
                         size_t state_len, const uint8_t *message, size_t message_len);
int gdn_pine_aggregate(const gdn_pine *vdaf, uint8_t *agg_share, const uint8_t *out_share,
                       size_t len);
/* The sum as reals: entries above p/2 are negative, divided by 2^frac_bits. */
int gdn_pine_unshard(const gdn_pine *vdaf, double *result, size_t result_len,
                     const uint8_t *const *agg_shares, const size_t *lens, size_t num);

/* Ping-pong over PINE: the same transitions and messages as for Prio3
 * (no context string); _continued serves the leader and the helper. */
int gdn_pingpong_pine_leader_init(gdn_pingpong_state *st, const gdn_pine *vdaf,
                                  const uint8_t *verify_key,
                                  const uint8_t nonce[GDN_PRIO3_NONCE_BYTES],
                                  const uint8_t *public_share, size_t public_share_len,
                                  const uint8_t *input_share, size_t input_share_len);
int gdn_pingpong_pine_helper_init(gdn_pingpong_state *st, const gdn_pine *vdaf,
                                  const uint8_t *verify_key,
                                  const uint8_t nonce[GDN_PRIO3_NONCE_BYTES],
                                  const uint8_t *public_share, size_t public_share_len,
                                  const uint8_t *input_share, size_t input_share_len,
                                  const uint8_t *inbound, size_t inbound_len);
int gdn_pingpong_pine_continued(gdn_pingpong_state *st, const gdn_pine *vdaf,
                                const uint8_t *inbound, size_t inbound_len);

#endif
