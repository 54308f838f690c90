/* Guardian secagg: SecAgg+ secure aggregation with dropout recovery.
 *
 * SecAgg+ (Bell, Bonawitz, Gascón, Lepoint, Raykova, CCS 2020) is the protocol
 * of Bonawitz et al. (CCS 2017) run on a k-regular communication graph: each
 * client shares keys with, and masks against, only its k neighbours in a
 * Harary graph whose node order is a permutation drawn from the public
 * session id. The server learns the sum modulo 2^bits of the surviving
 * clients' vectors and nothing else about any of them (semi-honest server,
 * see docs/secagg.md for the threat model and the wire format).
 *
 * Pure module: messages are byte strings in and out; no sockets, files,
 * clocks or globals. Randomness comes from the caller's gdn_rng. Messages
 * from clients are attributed by the caller (the transport authenticates the
 * sender); key advertisements are also signed with the client's Ed25519
 * identity key and bound to the session.
 *
 * One round, client i (c) and server (s):
 *   0 advertise:   c: advertise -> msg          s: collect_advertise(i, msg)
 *                                               s: advance
 *   1 share keys:  s: request(i) -> req         c: share_keys(req) -> msg
 *                                               s: collect(i, msg); advance
 *   2 masked input s: request(i) -> fwd         c: masked_input(fwd, x) -> msg
 *                                               s: collect(i, msg); advance
 *   3 unmasking    s: request(i) -> req         c: unmask(req) -> msg
 *                                               s: collect(i, msg); finish
 * A client that stops answering at any point is a dropout; the round succeeds
 * while every needed secret still has t shares among the survivors. */
#ifndef GUARDIAN_SECAGG_H
#define GUARDIAN_SECAGG_H

#include <stddef.h>
#include <stdint.h>

#include "guardian/core.h"

#define GDN_SECAGG_SESSION_BYTES 32
#define GDN_SECAGG_SECRET_BYTES 32
#define GDN_SECAGG_SHARE_BYTES 64     /* one Shamir share of a 32-byte secret */
#define GDN_SECAGG_MAX_CLIENTS 1000000
#define GDN_SECAGG_MAX_LENGTH (1u << 28) /* vector elements */

/* Parameters every party of a round agrees on. k is the Harary degree (even
 * and < n - 1, or n - 1 for the complete graph); 2 <= t <= k is the Shamir
 * threshold; sums are modulo 2^bits, 1 <= bits <= 32; length is the vector
 * length m; session is public, fresh per round, and seeds the graph. */
typedef struct gdn_secagg_params {
    uint32_t n, k, t, bits, length;
    uint8_t session[GDN_SECAGG_SESSION_BYTES];
} gdn_secagg_params;

/* ==== Parameters and quantization ======================================== */

/* Smallest even Harary degree k and its threshold t for n clients, a fraction
 * gamma of them adversarial and delta dropping out, with statistical security
 * 2^-40 and failure probability < 2^-20 (Bell et al. 2020 §3.4 and App. C,
 * as Google's production finder evaluates them for Harary graphs with a random
 * node order). semi_malicious = 1 raises t against a server that lies about
 * dropouts. GDN_ERANGE when no k < n - 1 works (use the complete graph). */
int gdn_secagg_graph_params(uint32_t *k, uint32_t *t, uint32_t n, double gamma,
                            double delta, int semi_malicious);

/* Smallest bits such that the sum of n values in [0, levels - 1] cannot wrap
 * modulo 2^bits; GDN_ERANGE when more than 32 bits would be needed. */
int gdn_secagg_quant_bits(uint32_t *bits, uint32_t n, uint32_t levels);

/* Clips each x[i] to [-clip, clip] and maps it onto the integer grid
 * {0, ..., levels - 1} with stochastic rounding (unbiased: E[decode] = the
 * clipped value). levels >= 2, clip > 0. */
int gdn_secagg_quantize(uint32_t *q, const float *x, size_t m, float clip,
                        uint32_t levels, gdn_rng *rng);

/* Decodes the sum of `count` quantized vectors: out[i] = sum[i] * 2 clip /
 * (levels - 1) - count * clip, computed in double. */
int gdn_secagg_dequantize_sum(double *out, const uint32_t *sum, size_t m,
                              uint32_t count, float clip, uint32_t levels);

/* ==== Client ============================================================== */

typedef struct gdn_secagg_client gdn_secagg_client; /* opaque */

/* A client of the round with the given index (0..n-1), its Ed25519 identity
 * secret key and the roster of all n identity public keys (n * 32 bytes).
 * Draws its secrets (two X25519 key pairs, the self-mask seed) from rng; the
 * client keeps no reference to rng, identity_sk or roster_pks. */
int gdn_secagg_client_new(gdn_secagg_client **out, const gdn_secagg_params *p,
                          uint32_t index, const uint8_t identity_sk[64],
                          const uint8_t *roster_pks, gdn_rng *rng);
/* Wipes every secret and frees; accepts NULL. */
void gdn_secagg_client_free(gdn_secagg_client *c);

/* Round 0: the signed key advertisement, appended to out. */
int gdn_secagg_client_advertise(gdn_secagg_client *c, gdn_buf *out);
/* Round 1: checks the neighbours' signed keys in the server's request and
 * appends the encrypted shares of s_sk and b for each of them. Fails when
 * fewer than t neighbours are left. */
int gdn_secagg_client_share_keys(gdn_secagg_client *c, gdn_buf *out,
                                 const uint8_t *request, size_t request_len);
/* Round 2: decrypts the shares forwarded to this client and appends its
 * masked input y = x + PRG(b) + sum_j ±PRG(s_ij) mod 2^bits, x[i] < 2^bits. */
int gdn_secagg_client_masked_input(gdn_secagg_client *c, gdn_buf *out,
                                   const uint8_t *forwarded, size_t forwarded_len,
                                   const uint32_t *x);
/* Round 3: answers the server's survivor list with, per neighbour, the share
 * of b (survived) or of s_sk (dropped) — never both for one peer: answers
 * once, and refuses a request that names a peer twice or differs from the
 * set of peers whose shares it holds. */
int gdn_secagg_client_unmask(gdn_secagg_client *c, gdn_buf *out,
                             const uint8_t *request, size_t request_len);

/* ==== Server ============================================================== */

typedef struct gdn_secagg_server gdn_secagg_server; /* opaque */

int gdn_secagg_server_new(gdn_secagg_server **out, const gdn_secagg_params *p,
                          const uint8_t *roster_pks);
void gdn_secagg_server_free(gdn_secagg_server *s);

/* Collects client `from`'s message for the current round (advertisement,
 * shares, masked input or unmasking answer). Rejects malformed, mis-signed,
 * replayed or out-of-round messages without changing the state. */
int gdn_secagg_server_collect(gdn_secagg_server *s, uint32_t from,
                              const uint8_t *msg, size_t len);
/* Closes the current round: the clients heard from are the survivors. Fails
 * (round over) when fewer than t of them are left. */
int gdn_secagg_server_advance(gdn_secagg_server *s);
/* Whether client i is a survivor of the rounds closed so far. */
int gdn_secagg_server_alive(const gdn_secagg_server *s, uint32_t i);
/* The server's message to survivor `to` for the current round. */
int gdn_secagg_server_request(gdn_secagg_server *s, gdn_buf *out, uint32_t to);
/* After the unmasking answers: reconstructs the secrets of the round, removes
 * the masks and writes the sum modulo 2^bits of the inputs of the *count
 * clients that sent masked inputs. Fails with a message, reconstructing
 * nothing, when some needed secret has fewer than t shares. */
int gdn_secagg_server_finish(gdn_secagg_server *s, uint32_t *sum,
                             uint32_t *count);

/* ==== Expert interface ==================================================== */

/* Shamir t-of-count sharing of a 32-byte secret over GF(2^61 - 1), eight
 * 32-bit limbs each shared independently: shares[i] (64 bytes) is the share
 * at x = xs[i] (distinct, 1 <= xs[i] < 2^31). */
int gdn_secagg_shamir_split(uint8_t *shares, const uint8_t secret[32],
                            const uint32_t *xs, size_t count, uint32_t t,
                            gdn_rng *rng);
/* Recovers the secret from the first t of `count` shares; GDN_EINVAL below t,
 * GDN_ECRYPTO when the shares are not consistent with a 32-byte secret. */
int gdn_secagg_shamir_combine(uint8_t secret[32], const uint8_t *shares,
                              const uint32_t *xs, size_t count, uint32_t t);

/* The k neighbours of client i in the round's graph, ascending. */
int gdn_secagg_neighbours(uint32_t *out, const gdn_secagg_params *p,
                          uint32_t i);

#endif
