/* Guardian policy: a data owner's rules, and the check its client runs on
 * every proposed round before it trains or sends anything.
 *
 * A policy is a small JSON file (docs/policy.md), parsed strictly: unknown
 * keys, wrong types, out-of-range numbers and malformed fingerprints are
 * errors whose detail names the file, line:column and field, as in
 * "owner.json:4:15: budget.delta: must be in (0, 1), got 1". A round that
 * breaks a rule is refused with a message naming the rule ("refused:
 * min_cohort: 7 clients < 10"). Pure apart from gdn_policy_load. */
#ifndef GUARDIAN_POLICY_H
#define GUARDIAN_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "guardian/core.h"

#define GDN_POLICY_VERSION 1
#define GDN_POLICY_FINGERPRINT_BYTES 32 /* SHA-256 of the coordinator's key */

/* Limits on what a policy may hold; more is a parse error. */
#define GDN_POLICY_MAX_BYTES 65536       /* the whole file */
#define GDN_POLICY_MAX_COORDINATORS 256  /* trusted_coordinators entries */
#define GDN_POLICY_MAX_REQUIRE 16        /* require entries */
#define GDN_POLICY_MAX_MODELS 64         /* allowed_models entries */
#define GDN_POLICY_MAX_MODEL_NAME 128    /* bytes of one allowed_models entry */
#define GDN_POLICY_MAX_COHORT 1000000000 /* min_cohort */
#define GDN_POLICY_MAX_ROUNDS 1000000    /* max_rounds_per_day */

/* Protection layers of a round, as bit flags (gdn_policy_round.layers). */
enum {
    GDN_POLICY_TLS = 1u << 0,    /* "tls": mutually authenticated TLS */
    GDN_POLICY_SECAGG = 1u << 1, /* "secagg": SecAgg+ masking */
    GDN_POLICY_DP = 1u << 2,     /* "dp": client-level differential privacy */
    GDN_POLICY_HE = 1u << 3,     /* "he": multiparty CKKS encryption */
    GDN_POLICY_PRIO3 = 1u << 4   /* "prio3": Prio3 shares with proofs */
};

typedef struct gdn_policy gdn_policy; /* opaque */

/* A round as the coordinator proposes it, filled in by the client. */
typedef struct gdn_policy_round {
    uint8_t coordinator[GDN_POLICY_FINGERPRINT_BYTES]; /* its key's SHA-256 */
    uint64_t cohort;     /* clients selected for the round */
    uint32_t layers;     /* GDN_POLICY_* bits that are on */
    const char *model;   /* model spec ("mlp:784-100-10"); NULL: unknown */
    double q;            /* DP: Poisson sampling rate of a step, in [0, 1] */
    double sigma;        /* DP: noise multiplier, >= 0 */
    uint64_t steps;      /* DP steps this owner has taken before this round */
    double delta;        /* DP: the round's delta; 0 means the policy's own */
    uint64_t rounds_today; /* rounds this owner already took part in today */
    /* When set, the ε at `delta` this owner reaches by taking part, from
     * another accountant (distributed DP's); q, sigma and steps are then
     * not used by the budget rule. */
    double (*epsilon_at)(double delta, const void *ctx);
    const void *epsilon_ctx;
} gdn_policy_round;

/* What the check decided. `rule` is the refusing rule's key
 * ("min_cohort"), NULL when accepted; `message` reads "accepted" or
 * "refused: <rule>: <why>". */
typedef struct gdn_policy_verdict {
    int accept;
    const char *rule;
    char message[256];
} gdn_policy_verdict;

/* ---- Direct interface --------------------------------------------------- */

/* Parses a policy from text[0, len) (no NUL needed); `name` (the file name)
 * starts every error detail. *out is NULL on failure. */
int gdn_policy_parse(gdn_policy **out, const char *text, size_t len,
                     const char *name);
/* Reads and parses the policy file at path (at most GDN_POLICY_MAX_BYTES). */
int gdn_policy_load(gdn_policy **out, const char *path);
void gdn_policy_free(gdn_policy *pol); /* accepts NULL */

/* Checks a proposed round against every rule, in the order trusted_coordinators,
 * require, allowed_models, min_cohort, max_rounds_per_day, budget; the first
 * rule broken refuses it. Returns 0 with *verdict filled whether accepted or
 * refused; GDN_EINVAL for a malformed round (q outside [0, 1], sigma < 0). */
int gdn_policy_check(gdn_policy_verdict *verdict, const gdn_policy *pol,
                     const gdn_policy_round *round);

/* Appends the policy in plain words: one line per rule it sets, then one
 * line naming the rules it leaves unset. Outputs first, as gdn_buf_printf. */
int gdn_policy_describe(gdn_buf *out, const gdn_policy *pol);

/* ---- Pieces ------------------------------------------------------------- */

/* The budget: 1 and (eps, delta) when the policy sets one, else 0. */
int gdn_policy_budget(const gdn_policy *pol, double *eps, double *delta);
/* Whether a model spec matches allowed_models (1 when the rule is unset):
 * an entry matches itself, or any spec it is a prefix of when it ends in '*'. */
int gdn_policy_model_allowed(const gdn_policy *pol, const char *spec);

#endif
