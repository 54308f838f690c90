/* fl internals shared between its files. */
#ifndef GDN_FL_INTERNAL_H
#define GDN_FL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "guardian/core.h"

/* Plays one SecAgg+ round among n clients whose quantized vectors are
 * x[i * length ..]: writes the sum (mod 2^bits) of the vectors of the
 * clients that sent their masked input, their number, and sent[i] = 1 for
 * each of them. k = 0 picks the graph (Bell et al.'s finder, or the
 * complete graph for small cohorts). dropout: each client leaves with this
 * probability at a random phase. Fails (nothing revealed) below threshold. */
int gdn_fl_secagg_round(uint32_t *sum, uint32_t *included, uint8_t *sent,
                        const uint32_t *x, uint32_t n, uint32_t length,
                        uint32_t bits, uint32_t k, uint32_t t, double dropout,
                        gdn_rng *rng);

/* Validated aggregation with PINE (validated.c): the clients' side in add,
 * both aggregators' in finish; rejected reports are counted. */
typedef struct gdn_fl_prio gdn_fl_prio;
int gdn_fl_prio_new(gdn_fl_prio **out, size_t dim, double bound);
void gdn_fl_prio_free(gdn_fl_prio *p);
unsigned gdn_fl_prio_frac_bits(const gdn_fl_prio *p);
/* The norm an honest client clips its update to, so that the encoded
 * update stays within the bound. */
double gdn_fl_prio_clip_norm(double bound, size_t dim);
int gdn_fl_prio_begin(gdn_fl_prio *p, size_t cohort);
int gdn_fl_prio_add(gdn_fl_prio *p, const float *vec, const float *global, gdn_rng *rng);
int gdn_fl_prio_finish(gdn_fl_prio *p, float *out, const float *global, gdn_rng *rng,
                       size_t *rejected);

/* Encrypted aggregation with multiparty CKKS (encrypted.c): key set-up
 * among the holders in new, the clients' encryption and the coordinator's
 * sum in add, threshold decryption by t holders in finish. */
typedef struct gdn_fl_he gdn_fl_he;
int gdn_fl_he_new(gdn_fl_he **out, size_t dim, double wscale, double clip, unsigned holders,
                  unsigned threshold, unsigned smudge_bits, gdn_rng *rng);
void gdn_fl_he_free(gdn_fl_he *h);
size_t gdn_fl_he_client_bytes(const gdn_fl_he *h);
double gdn_fl_he_scale(const gdn_fl_he *h);
int gdn_fl_he_set_answering(gdn_fl_he *h, unsigned answering);
int gdn_fl_he_begin(gdn_fl_he *h, size_t cohort);
/* The two halves of add, for the benchmark: a client encrypts into the
 * aggregator's client buffer (gdn_fl_he_ciphertexts of them), the
 * coordinator adds that buffer to the sum. */
size_t gdn_fl_he_ciphertexts(const gdn_fl_he *h);
int gdn_fl_he_encrypt(gdn_fl_he *h, const float *vec, const float *global, double weight,
                      gdn_rng *rng);
int gdn_fl_he_accumulate(gdn_fl_he *h);
int gdn_fl_he_add(gdn_fl_he *h, const float *vec, const float *global, double weight,
                  gdn_rng *round_rng);
int gdn_fl_he_finish(gdn_fl_he *h, float *out, const float *global, gdn_rng *round_rng);

#endif
