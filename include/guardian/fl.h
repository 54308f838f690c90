/* Guardian fl: federated rounds, aggregation, server strategies, simulation.
 *
 * One round: the server samples a cohort; each client starts from the global
 * parameters, trains locally and contributes one flat vector (its local
 * model) with a weight (its example count); an aggregator turns the cohort's
 * vectors into one aggregate model; a server strategy moves the global model
 * towards it. The engine touches client contributions only through the
 * aggregator interface, so secure aggregation, DP and HE replace the plain
 * sum there. Everything is deterministic for a seed: a client's randomness
 * depends only on (seed, round, client), and the aggregator adds vectors in
 * cohort order whatever the thread schedule. */
#ifndef GUARDIAN_FL_H
#define GUARDIAN_FL_H

#include <stddef.h>
#include <stdint.h>

#include "guardian/ckks.h"
#include "guardian/core.h"
#include "guardian/data.h"
#include "guardian/dp.h"
#include "guardian/ml.h"
#include "guardian/secagg.h"

/* ---- Randomness of a federation ----------------------------------------- */

/* Stream for the initial global model. */
void gdn_fl_init_rng(gdn_rng *rng, uint64_t seed);
/* Stream of client `client` in round `round` (1-based), for its shuffles. */
void gdn_fl_client_rng(gdn_rng *rng, uint64_t seed, uint64_t round,
                       uint64_t client);
/* Stream of the server in round `round`, for sampling the cohort. */
void gdn_fl_server_rng(gdn_rng *rng, uint64_t seed, uint64_t round);

/* ---- Client side ---------------------------------------------------------- */

typedef struct gdn_fl_local {
    unsigned epochs;
    size_t batch;
    float lr, momentum, weight_decay;
    float prox_mu; /* FedProx proximal term (Li et al., MLSys 2020); 0 = off */
    /* Sample-level DP-SGD (Abadi et al., CCS 2016) when dp_clip > 0: each
     * step draws examples by Poisson sampling at rate batch / n, clips each
     * example's gradient to dp_clip, and adds Gaussian noise of deviation
     * dp_noise x dp_clip to their sum, divided by the expected batch. */
    float dp_clip, dp_noise;
} gdn_fl_local;

/* DP-SGD steps one local training of n examples takes: epochs x ceil(n / batch). */
uint64_t gdn_fl_dp_sgd_steps(const gdn_fl_local *cfg, size_t n);

/* Local training: loads `global` into model, runs cfg->epochs epochs of SGD
 * (fresh optimizer state) over the examples idx[0..n) of data, and writes
 * the mean loss of the last epoch. The model then holds the local result. */
int gdn_fl_client_train(gdn_model *model, double *loss, const float *global,
                        const gdn_dataset *data, const uint32_t *idx, size_t n,
                        const gdn_fl_local *cfg, gdn_rng *rng);

/* ---- Aggregators -----------------------------------------------------------
 * Specs:
 *   mean             weighted mean (FedAvg, McMahan et al. 2017)
 *   median           coordinate-wise median (Yin et al., ICML 2018)
 *   trimmed:B        coordinate-wise mean after dropping the B fraction of
 *                    largest and of smallest values (Yin et al. 2018)
 *   krum:F           the vector closest to its n-F-2 neighbours (Blanchard
 *                    et al., NeurIPS 2017)
 *   multikrum:F:M    mean of the M best by Krum's score
 *   normbound:M      weighted mean after scaling each update (vector minus
 *                    global) to L2 norm at most M (Sun et al. 2019)
 * Robust aggregators ignore weights, and keep the cohort's vectors;
 * normbound needs the global model passed to begin. */

typedef struct gdn_aggregator gdn_aggregator; /* opaque */

int gdn_aggregator_new(gdn_aggregator **out, const char *spec, size_t dim);
void gdn_aggregator_free(gdn_aggregator *agg);
const char *gdn_aggregator_spec(const gdn_aggregator *agg);
/* Client-level DP (DP-FedAvg, McMahan et al., ICLR 2018): each update
 * (vector minus global) is clipped to L2 norm `clip`, all weigh 1, the sum
 * gets Gaussian noise of deviation noise_multiplier x clip, and is divided
 * by the expected cohort size (q x clients with Poisson sampling). The
 * noise stream is set before each round with gdn_aggregator_set_noise_rng;
 * an empty cohort is allowed (the round publishes noise only). */
int gdn_aggregator_new_dp(gdn_aggregator **out, size_t dim, double clip,
                          double noise_multiplier, double expected);
/* The round's randomness for aggregators that draw some (DP noise, secagg's
 * rounding and keys); the engine sets it before every round. */
void gdn_aggregator_set_noise_rng(gdn_aggregator *agg, const gdn_rng *rng);
/* Adaptive clipping (Andrew et al., NeurIPS 2021): after each round the
 * clip moves geometrically (rate clip_lr) towards the `quantile` of the
 * update norms, estimated from a count noised with deviation count_noise;
 * the sum's noise is raised so that the pair costs the configured noise
 * multiplier. The current clip, for checkpoints: */
int gdn_aggregator_dp_adaptive(gdn_aggregator *agg, double quantile,
                               double clip_lr, double count_noise);
double gdn_aggregator_dp_clip(const gdn_aggregator *agg);
void gdn_aggregator_dp_set_clip(gdn_aggregator *agg, double clip);

/* Secure aggregation (SecAgg+, secagg.h) in the simulation: each client's
 * update, scaled by weight / wscale, and that weight are quantized onto
 * `levels` points of [-clip, clip] and summed by a full SecAgg+ round among
 * the cohort (graph degree k and threshold t; k = 0 picks them), in which
 * each client drops out with probability `dropout` at a random phase; the
 * result is global + the weighted mean update of the clients whose masked
 * input arrived. Below the threshold the round fails, revealing nothing. */
int gdn_aggregator_new_secagg(gdn_aggregator **out, size_t dim, double clip,
                              uint32_t levels, double wscale, uint32_t k, uint32_t t,
                              double dropout);

/* The pieces of a SecAgg+ round that the simulation and the networked roles
 * share. A client masks dim + 1 values: its update (local - global) scaled by
 * weight / wscale, then that ratio, quantized with stochastic rounding onto
 * `levels` points of [-clip, clip] (the ratio on [-1, 1]); 0 < weight <= wscale. */
int gdn_fl_secagg_encode(uint32_t *q, const float *local, const float *global, size_t dim,
                         double weight, double wscale, double clip, uint32_t levels,
                         gdn_rng *rng);
/* From the sum of `count` encodings: global + the weighted mean update. */
int gdn_fl_secagg_decode(float *out, const uint32_t *sum, const float *global, size_t dim,
                         uint32_t count, double clip, uint32_t levels);
/* The graph of a round of n clients into p->n, k, t: k and t as given when
 * k > 0; else Bell et al.'s finder for n >= 50 (5% corrupt clients, the
 * dropout rate or 5%); else the complete graph with a majority threshold. */
int gdn_fl_secagg_graph(gdn_secagg_params *p, uint32_t n, uint32_t k, uint32_t t,
                        double dropout);
/* Validated aggregation (PINE, prio.h) in the simulation: each client's
 * update (vector minus global) is encoded in fixed point and sharded to
 * two in-process aggregators with a proof that its L2 norm is at most
 * `bound`; the aggregators verify each report jointly and drop those that
 * fail (counted, gdn_aggregator_rejected); the result is global + the mean
 * of the accepted updates (all weigh 1). The round's randomness (coins,
 * nonces, verification key) comes from gdn_aggregator_set_noise_rng. */
int gdn_aggregator_new_prio(gdn_aggregator **out, size_t dim, double bound);
/* Contributions the last finished round rejected (prio); 0 for others. */
size_t gdn_aggregator_rejected(const gdn_aggregator *agg);
/* The L2 norm an honest client clips its update to under
 * gdn_aggregator_new_prio(.., bound): a little below the bound, so that
 * its fixed-point encoding passes. */
double gdn_aggregator_prio_clip(size_t dim, double bound);
/* Validated aggregation between processes (the networked leader and
 * helper, net/): the pieces gdn_aggregator_new_prio runs in one process.
 * An owner clips (and, in attack tests, scales) its local model, then
 * shards local - global into a public share and one input share per
 * aggregator; each aggregator verifies its share of a report with the
 * ping-pong exchange (the leader's `initialize`, the helper's `finish`),
 * adds the output shares of the reports both accept, and the leader
 * unshards the two aggregate shares into global + mean accepted update,
 * exactly as the simulation does. Bytes in, bytes out. */
typedef struct gdn_fl_pine gdn_fl_pine; /* opaque: PINE for (dim, bound) */
#define GDN_FL_PINE_NONCE_BYTES 16
typedef enum {
    GDN_FL_PINE_PUBLIC,     /* public share */
    GDN_FL_PINE_LEADER,     /* the leader's input share */
    GDN_FL_PINE_HELPER,     /* the helper's input share */
    GDN_FL_PINE_AGGREGATE,  /* an output share = an aggregate share */
    GDN_FL_PINE_VERIFY_KEY  /* the aggregators' shared verification key */
} gdn_fl_pine_part;
int gdn_fl_pine_new(gdn_fl_pine **out, size_t dim, double bound);
void gdn_fl_pine_free(gdn_fl_pine *p);
size_t gdn_fl_pine_size(const gdn_fl_pine *p, gdn_fl_pine_part part);
size_t gdn_fl_pine_dimension(const gdn_fl_pine *p);
double gdn_fl_pine_bound(const gdn_fl_pine *p);
/* An honest owner's clipping to gdn_aggregator_prio_clip(dim, bound), in
 * place on its local model x: x = g + f (x - g), as the simulation does. */
void gdn_fl_prio_clip_update(float *x, const float *g, size_t dim, double bound);
/* The simulated attack: x = g + scale (x - g) in float (negative: sign flip). */
void gdn_fl_attack_update(float *x, const float *g, size_t dim, double scale);
/* Shards local - global with a fresh nonce; the buffers are overwritten.
 * GDN_ERANGE when the update is over the bound (or cannot be encoded),
 * unless `forge` (attack tests only), which sends it out forged. */
int gdn_fl_pine_shard(gdn_fl_pine *p, gdn_buf *pub, gdn_buf *leader, gdn_buf *helper,
                      uint8_t nonce[GDN_FL_PINE_NONCE_BYTES], const float *local,
                      const float *global, int forge, gdn_rng *rng);
/* Leader: appends its `initialize` message and its verify state. */
int gdn_fl_pine_leader_init(const gdn_fl_pine *p, gdn_buf *outbound, gdn_buf *state,
                            const uint8_t *key, const uint8_t nonce[GDN_FL_PINE_NONCE_BYTES],
                            const uint8_t *pub, size_t pub_len, const uint8_t *share,
                            size_t share_len);
/* Helper: on the leader's `initialize`, appends `finish` and its output
 * share; GDN_ECRYPTO (or GDN_EFORMAT) when the report is rejected. */
int gdn_fl_pine_helper_verify(const gdn_fl_pine *p, gdn_buf *outbound, gdn_buf *out_share,
                              const uint8_t *key,
                              const uint8_t nonce[GDN_FL_PINE_NONCE_BYTES],
                              const uint8_t *pub, size_t pub_len, const uint8_t *share,
                              size_t share_len, const uint8_t *inbound, size_t inbound_len);
/* Leader: on the helper's `finish`, appends its output share. */
int gdn_fl_pine_leader_finish(const gdn_fl_pine *p, gdn_buf *out_share, const uint8_t *state,
                              size_t state_len, const uint8_t *inbound, size_t inbound_len);
/* agg += out_share (both gdn_fl_pine_size(.., AGGREGATE) bytes; all-zero: empty). */
int gdn_fl_pine_aggregate(const gdn_fl_pine *p, uint8_t *agg, const uint8_t *out_share,
                          size_t len);
/* out = global + (sum of the accepted updates) / accepted (global if none). */
int gdn_fl_pine_unshard(gdn_fl_pine *p, float *out, const float *global,
                        const uint8_t *agg_leader, const uint8_t *agg_helper, size_t accepted);
/* Distributed DP (Kairouz-Liu-Steinke, ICML 2021) under SecAgg+: every
 * client encodes its update (vector minus global) with gdn_dp_ddg_encode
 * (clip, rotation, rounding, its share of the discrete Gaussian noise,
 * mod 2^bits), a SecAgg+ round as in new_secagg sums the encodings, and
 * the decoded sum over `expected` is added to the global model. Weights are
 * ignored (all 1). A cohort of fewer than 3 (SecAgg+'s minimum) leaves the model. */
int gdn_aggregator_new_ddg(gdn_aggregator **out, const gdn_dp_ddg_params *p,
                           double expected, uint32_t k, uint32_t t, double dropout);

/* Encrypted aggregation (multiparty CKKS, ckks.h) in the simulation. At
 * set-up the key holders (owners 1..holders) run collective key generation
 * and deal Shamir shares of their secrets, threshold t: nobody, the
 * coordinator included, holds the secret key. Each round every client
 * encrypts its update (local - global) scaled by weight / wscale and
 * clamped to [-clip, clip], then that ratio (gdn_fl_secagg_encode's
 * layout), under the collective public key; the coordinator adds
 * ciphertexts; t holders decrypt the sum with smudged shares; the result is
 * global + the weighted mean update. Set-up randomness (each holder's own
 * stream) comes from rng; the round's (clients' encryption, smudging) from
 * gdn_aggregator_set_noise_rng. Fewer than t answering holders fail the
 * round, revealing nothing. */
#define GDN_FL_HE_MAX_HOLDERS 32
int gdn_aggregator_new_he(gdn_aggregator **out, size_t dim, double wscale, double clip,
                          unsigned holders, unsigned threshold, gdn_rng *rng);
/* How many key holders answer decryption requests from now on (all by
 * default); for tests of the threshold. */
int gdn_aggregator_he_answering(gdn_aggregator *agg, unsigned holders);
/* Bytes of one client's ciphertexts (0 for other aggregators). */
size_t gdn_aggregator_he_client_bytes(const gdn_aggregator *agg);

/* Encrypted aggregation's roles between processes (serve / join --he): the
 * aggregator's parameters, layout and arithmetic, as bytes. A client's
 * update is gdn_fl_he_count ciphertexts, each le32 length || ciphertext; a
 * holder's answer as many decryption shares, each le32 length || share.
 * Smudging noise of decryption shares: uniform in [-2^b, 2^b], b = */
#define GDN_FL_HE_SMUDGE_BITS 40
/* The CKKS context of encrypted aggregation (N = 2^13, docs/ckks.md). */
int gdn_fl_he_context(gdn_ckks_ctx **out);
/* Ciphertexts holding dim + 1 values. */
size_t gdn_fl_he_count(const gdn_ckks_ctx *ctx, size_t dim);
/* Client: (local - global) x weight / wscale clamped to [-clip, clip], then
 * weight / wscale, encrypted under pk with randomness from rng (the
 * client's own CSPRNG), appended to out. 0 < weight <= wscale. */
int gdn_fl_he_client_encrypt(gdn_buf *out, const gdn_ckks_ctx *ctx, const gdn_ckks_pk *pk,
                             const float *local, const float *global, size_t dim,
                             double weight, double wscale, double clip, gdn_rng *rng);
/* A sum of encrypted updates (the coordinator's), or the summed ciphertexts
 * a holder is asked to decrypt. */
typedef struct gdn_fl_he_sum gdn_fl_he_sum;
int gdn_fl_he_sum_new(gdn_fl_he_sum **out, const gdn_ckks_ctx *ctx, size_t dim, double clip);
void gdn_fl_he_sum_free(gdn_fl_he_sum *s);
void gdn_fl_he_sum_reset(gdn_fl_he_sum *s);
size_t gdn_fl_he_sum_added(const gdn_fl_he_sum *s);
/* Coordinator: parses one client's bytes (every ciphertext at the layout's
 * level and scale, nothing after them) and adds them; a refused update
 * leaves the sum as it was (GDN_EFORMAT). */
int gdn_fl_he_sum_add(gdn_fl_he_sum *s, const uint8_t *in, size_t len);
/* The summed ciphertexts as bytes, and back (a holder's side). */
int gdn_fl_he_sum_save(gdn_buf *out, const gdn_fl_he_sum *s);
int gdn_fl_he_sum_load(gdn_fl_he_sum *s, const uint8_t *in, size_t len);
/* Holder: its decryption share of every summed ciphertext for the set
 * set[0..t) of holder numbers (its own among them), smudged. */
int gdn_fl_he_holder_share(gdn_buf *out, const gdn_fl_he_sum *s, const gdn_ckks_tsk *tsk,
                           const unsigned *set, size_t t, unsigned smudge_bits, gdn_rng *rng);
/* Coordinator: combines t holders' answers (shares[i], lens[i] bytes),
 * decodes, and writes global + sum / (sum of weights) to out[0..dim). */
int gdn_fl_he_combine(float *out, gdn_fl_he_sum *s, const float *global,
                      const uint8_t *const *shares, const size_t *lens, size_t t);

/* Starts a round for `cohort` contributions around the current global model
 * (kept by pointer until finish). */
int gdn_aggregator_begin(gdn_aggregator *agg, const float *global,
                         size_t cohort);
/* Adds one client's vector with its weight (> 0, finite). Calls come in
 * cohort order. A vector holding a NaN or infinity is refused (GDN_ERANGE)
 * and the round is left as it was. */
int gdn_aggregator_add(gdn_aggregator *agg, const float *vec, double weight);
/* Whether this aggregator also takes contributions concurrently and out of
 * order, through add_slot (distributed DP: every client encodes alone). */
int gdn_aggregator_concurrent(const gdn_aggregator *agg);
/* Adds the contribution of cohort slot `slot` (< cohort); callers on
 * different threads may add distinct slots at once. finish then needs every
 * slot. The result does not depend on the order of the calls. */
int gdn_aggregator_add_slot(gdn_aggregator *agg, size_t slot, const float *vec,
                            double weight);
/* Writes the aggregate model (dim floats). Needs every contribution of the
 * cohort, or at least 1 for mean/normbound/median/trimmed and 2F+3 for krum. */
int gdn_aggregator_finish(gdn_aggregator *agg, float *out);

/* ---- Server strategies -----------------------------------------------------
 * With Δ = aggregate - global (a pseudo-gradient) and η the server lr:
 *   fedavg       x = aggregate when η = 1, else x + η Δ
 *   fedavgm      v = β v + Δ;  x += η v          (Hsu et al. 2019)
 *   fedadagrad / fedadam / fedyogi: Algorithm 2 of Reddi et al., "Adaptive
 *                Federated Optimization", ICLR 2021, with β1, β2, τ; m starts
 *                at 0 and v at τ² (the paper asks v ≥ τ²).
 * A field left 0 takes its default (lr 1 for fedavg(m), 0.01 adaptive;
 * momentum 0.9; β1 0.9; β2 0.99; τ 1e-3). */

typedef struct gdn_fl_server_cfg {
    const char *strategy; /* fedavg, fedavgm, fedadagrad, fedadam, fedyogi */
    float lr;             /* η; default 1 for fedavg(m), 0.01 for adaptive */
    float momentum;       /* β of fedavgm */
    float beta1, beta2, tau;
} gdn_fl_server_cfg;

typedef struct gdn_fl_server gdn_fl_server; /* opaque: strategy state */

int gdn_fl_server_new(gdn_fl_server **out, const gdn_fl_server_cfg *cfg,
                      size_t dim);
void gdn_fl_server_free(gdn_fl_server *s);
/* Moves global towards aggregate, updating the strategy's state. */
void gdn_fl_server_step(gdn_fl_server *s, float *global, const float *aggregate);
/* The state vectors (momentum / moments) for checkpoints: count and access. */
size_t gdn_fl_server_nstate(const gdn_fl_server *s);
float *gdn_fl_server_state(gdn_fl_server *s, size_t i);

/* ---- Simulation ----------------------------------------------------------- */

typedef enum { GDN_ATTACK_NONE, GDN_ATTACK_SCALE, GDN_ATTACK_SIGNFLIP } gdn_attack_kind;

/* Client-level DP-FedAvg: clients are sampled by Poisson sampling with
 * rate q = fraction (what the accountant assumes), their updates clipped
 * and the sum noised (gdn_aggregator_new_dp); ε after each round comes from
 * the Rényi accountant (dp.h) at the given δ. */
typedef struct gdn_fl_dp {
    int enabled;
    double clip;  /* S, L2 bound of one client's update (initial, if adaptive) */
    double noise; /* z, noise multiplier */
    double delta;
    double quantile; /* adaptive clipping's target quantile γ; 0 = fixed clip */
    double clip_lr;  /* its learning rate η (0: 0.2) */
    double count_noise; /* its count noise σ_b (0: expected cohort / 20) */
    /* Distributed DP (with secagg.enabled): the clients add the noise, in
     * shares, under SecAgg+ (gdn_aggregator_new_ddg); ε from the DDG's
     * accountant (gdn_dp_ddg_epsilon) over the expected cohort. */
    int distributed;
    uint32_t ddg_bits;  /* modulus 2^bits (0: 18) */
    double ddg_gamma;   /* grid step (0: chosen by gdn_dp_ddg_setup) */
} gdn_fl_dp;

/* A data owner's own check before it trains in a round (its policy, its
 * privacy budget): 0 to take part, or non-zero with a reason written to
 * `reason` (NUL-terminated, at most cap bytes). Called on the engine's
 * thread, in cohort order, also when a resumed run replays past rounds. */
typedef int (*gdn_fl_admit_fn)(void *ctx, char *reason, size_t cap, size_t client,
                               unsigned round, size_t cohort);

typedef struct gdn_fl_config {
    const char *model;       /* model spec */
    size_t clients;          /* simulated data owners */
    double fraction;         /* C: cohort = max(1, round(C * clients)) ... */
    size_t per_round;        /* ... unless this fixed count is > 0 */
    unsigned rounds;
    unsigned eval_every;     /* evaluate on the test set every k rounds (>= 1) */
    gdn_fl_local local;
    gdn_fl_server_cfg server;
    const char *aggregator;  /* aggregator spec, "mean" by default */
    gdn_attack_kind attack;  /* malicious clients, for robustness tests */
    double attack_scale;     /* update multiplier (scale) */
    double attack_frac;      /* share of clients that are malicious */
    gdn_fl_dp dp;            /* client-level differential privacy */
    struct {
        int enabled;
        double clip;         /* quantization range of an update coordinate */
        uint32_t levels;     /* quantization points (0: 2^16) */
        uint32_t k, t;       /* graph degree and threshold (0: chosen) */
        double dropout;      /* simulated dropout rate per client */
    } secagg;
    struct {
        int enabled;         /* validated aggregation with PINE */
        double bound;        /* L2 bound of a client's update */
    } prio;
    struct {
        int enabled;         /* encrypted aggregation, multiparty CKKS */
        unsigned threshold;  /* t of the key holders (0: a majority) */
        double clip;         /* range of a weighted update coordinate (0: 1) */
    } he;                    /* holders: owners 1..min(clients, 32) */
    unsigned workers;        /* training threads; 0 = number of cores */
    uint64_t seed;
    gdn_fl_admit_fn admit;   /* NULL: every sampled client takes part */
    void *admit_ctx;
} gdn_fl_config;

/* The cohort of round `round` (client indices, ascending), drawn from the
 * server's stream of (seed, round): max(1, round(C x clients)) clients, or
 * per_round, without replacement; with client-level DP, Poisson sampling
 * at rate C. scratch holds cfg->clients entries. The simulation and a
 * networked coordinator call this and get the same cohorts. */
size_t gdn_fl_sample_cohort(uint32_t *cohort, uint32_t *scratch, const gdn_fl_config *cfg,
                            unsigned round);

/* Client-level DP (central noise): ε at delta after `rounds` rounds of
 * Poisson-sampled cohorts at rate cfg->fraction with noise multiplier
 * dp.noise, from the Rényi accountant; 0 without DP, INFINITY without noise. */
double gdn_fl_dp_epsilon(const gdn_fl_config *cfg, unsigned rounds, double delta);

/* Distributed DP (dp.h's DDG) as the simulation and the networked roles run
 * it: the round's public rotation seed from the SecAgg+ session; a client's
 * encoding of local - global (upd: dim floats of scratch, work: dim_pad);
 * the server's decoding of the masked sum into global + sum / expected (acc:
 * dim, work: dim_pad); and ε after `rounds` Poisson-sampled rounds at q. */
void gdn_fl_ddg_seed(uint8_t seed[32], const uint8_t session[32]);
int gdn_fl_ddg_encode(uint32_t *q, double *work, float *upd, const float *local,
                      const float *global, const gdn_dp_ddg_params *p, const uint8_t seed[32],
                      gdn_rng *rng);
int gdn_fl_ddg_decode(float *out, double *acc, double *work, const uint32_t *sum,
                      const float *global, const gdn_dp_ddg_params *p, const uint8_t seed[32],
                      double expected);
double gdn_fl_ddg_epsilon(const gdn_dp_ddg_params *p, double q, unsigned rounds, double delta);

/* Sets the defaults: fedavg, mean, 1 local epoch, batch 10, lr 0.05, ... */
void gdn_fl_config_default(gdn_fl_config *cfg);

typedef struct gdn_fl_round_stats {
    unsigned round;
    size_t cohort;
    double train_loss;     /* mean over the cohort, weighted by examples */
    int evaluated;
    double test_loss, test_accuracy;
    double seconds;
    double epsilon;        /* DP: ε spent after this round (δ from the config) */
    size_t refused;        /* sampled clients that declined (gdn_fl_sim_refusals) */
    size_t rejected;       /* prio: updates whose proof failed, dropped */
} gdn_fl_round_stats;

typedef struct gdn_fl_refusal {
    uint32_t client;
    char reason[200];
} gdn_fl_refusal;


typedef struct gdn_fl_sim gdn_fl_sim; /* opaque */

/* A simulation over train (partitioned by part) evaluated on test. Keeps
 * pointers to train, test and part: they must outlive the simulation. */
int gdn_fl_sim_new(gdn_fl_sim **out, const gdn_fl_config *cfg,
                   const gdn_dataset *train, const gdn_dataset *test,
                   const gdn_partition *part);
void gdn_fl_sim_free(gdn_fl_sim *sim);
/* Runs the next round. */
int gdn_fl_sim_round(gdn_fl_sim *sim, gdn_fl_round_stats *stats);
/* Rounds finished so far. */
unsigned gdn_fl_sim_rounds_done(const gdn_fl_sim *sim);
gdn_model *gdn_fl_sim_model(gdn_fl_sim *sim); /* holds the global model */
/* DP: ε that `rounds` rounds of this configuration spend (INFINITY
 * without noise, 0 without DP). */
double gdn_fl_sim_epsilon(const gdn_fl_sim *sim, unsigned rounds);
/* The same at another delta, which a data owner's policy may name (client-level
 * and distributed DP; DP-SGD keeps the run's delta). */
double gdn_fl_sim_epsilon_at(const gdn_fl_sim *sim, unsigned rounds, double delta);
/* The refusals of the last round, in client order. */
const gdn_fl_refusal *gdn_fl_sim_refusals(const gdn_fl_sim *sim, size_t *n);
/* The cohort of the last round (client indices, ascending). */
const uint32_t *gdn_fl_sim_cohort(const gdn_fl_sim *sim, size_t *n);
/* Examples owner `client` holds. */
size_t gdn_fl_sim_owner_examples(const gdn_fl_sim *sim, size_t client);
/* Rounds owner `client` has trained in so far. */
unsigned gdn_fl_sim_owner_rounds(const gdn_fl_sim *sim, size_t client);
/* Owner `client`'s ε so far, or (next != 0) if it takes part in one more
 * round: its own DP-SGD steps, or client-level DP's ε for all alike. */
double gdn_fl_sim_owner_epsilon(const gdn_fl_sim *sim, size_t client, int next);
/* Whether client k is one of the simulated attackers. */
int gdn_fl_sim_is_malicious(const gdn_fl_sim *sim, size_t k);

/* Checkpoint of everything a resumed run needs (round, global model, server
 * state), written atomically; loading checks it belongs to this config. */
int gdn_fl_sim_save(gdn_fl_sim *sim, const char *path);
int gdn_fl_sim_load(gdn_fl_sim *sim, const char *path);
/* The same on memory (what the fuzz target calls); name is for errors. */
int gdn_fl_sim_load_bytes(gdn_fl_sim *sim, const uint8_t *data, size_t len,
                          const char *name);

#endif
