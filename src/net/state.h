/* The coordinator's state file (SQLite, WAL): what a restart needs to go
 * on from the last finished round, and what an operator reads afterwards.
 *
 *   meta(key, value)            'config': the federation's settings as text
 *   owners(idx, fingerprint)    the roster, as owners were admitted
 *   rounds(round, ...)          outcome and metrics of every finished round
 *   participants(round, idx, status, examples, loss)
 *   blobs(name, data)           e.g. 'he_key': encrypted aggregation's collective
 *                               key and holders (net/he.h), made once
 *   checkpoints(round, sha256, model, state, dp_clip)  model, strategy state
 *                               and DP clip (adaptive clipping); the
 *                               blobs of all but the newest `keep` are dropped,
 *                               their hashes stay
 *
 * A finished round is one transaction: after kill -9 the file holds every
 * round before it or that round too, never a part of it. */
#ifndef GDN_NET_STATE_H
#define GDN_NET_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "guardian/federation.h"

typedef struct net_state net_state;

typedef struct net_participant {
    uint32_t idx;
    const char *status; /* "update", "dropout", "refused", "rejected" */
    uint64_t examples;
    double loss;
} net_participant;

/* Opens or creates the file; an existing file made for other settings
 * (config differs) is refused, naming both. */
int net_state_open(net_state **out, const char *path, const char *config);
void net_state_close(net_state *s);

/* The roster so far: fingerprints of indices 0 .. *n-1 (at most cap). */
int net_state_owners(net_state *s, uint8_t (*fp)[32], size_t cap, size_t *n);
/* Owners first .. first+n-1 admitted since, in one transaction. */
int net_state_add_owners(net_state *s, size_t first, const uint8_t (*fp)[32], size_t n);

/* The newest checkpoint: *round (0 and nothing read when there is none),
 * the model (dim floats) and the strategy's state (nstate vectors of dim),
 * checked against its SHA-256; and the history of finished rounds
 * (*hist malloc'd, caller frees). */
int net_state_load(net_state *s, unsigned *round, float *model, float *const *state,
                   size_t nstate, size_t dim, double *dp_clip, gdn_coord_round **hist,
                   size_t *nhist);

/* Records a finished round with its participants and checkpoint. */
int net_state_commit(net_state *s, const gdn_coord_round *r, const net_participant *p,
                     size_t np, const float *model, float *const *state, size_t nstate,
                     size_t dim, size_t keep, double dp_clip);

/* A named blob, written at once (its own transaction); get: out->len = 0
 * when there is none. */
int net_state_put_blob(net_state *s, const char *name, const void *data, size_t len);
int net_state_get_blob(net_state *s, const char *name, gdn_buf *out);

#endif
