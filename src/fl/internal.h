/* fl internals shared between its files. */
#ifndef GDN_FL_INTERNAL_H
#define GDN_FL_INTERNAL_H

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

#endif
