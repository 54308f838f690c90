/* secagg internals: field arithmetic, graph, PRG masks, key derivation and
 * the wire format shared by client.c and server.c. */
#ifndef GDN_SECAGG_INTERNAL_H
#define GDN_SECAGG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "guardian/secagg.h"

/* ---- Wire format (docs/secagg.md) ---------------------------------------
 * Every message starts with: u8 version, u8 type, session[32], le32 party
 * (the sender for client messages, the recipient for server messages). */
#define SA_VERSION 1
#define SA_HEADER_BYTES (2 + GDN_SECAGG_SESSION_BYTES + 4)
enum {
    SA_MSG_ADVERTISE = 1,   /* c->s: c_pk, s_pk, sig */
    SA_MSG_KEYS = 2,        /* s->c: count, (j, c_pk, s_pk, sig)* */
    SA_MSG_SHARES = 3,      /* c->s: count, (j, ct)* */
    SA_MSG_FORWARD = 4,     /* s->c: count, (i, ct)* */
    SA_MSG_INPUT = 5,       /* c->s: length, y[length] */
    SA_MSG_UNMASK_REQ = 6,  /* s->c: count, (j, status)* */
    SA_MSG_UNMASK = 7       /* c->s: count, (j, kind, share)* */
};
#define SA_PK_BYTES 32
#define SA_SIG_BYTES 64
/* The advertised block: c_pk, s_pk and a commitment to b. */
#define SA_KEYS_BYTES (3 * 32)
#define SA_KEYS_ENTRY (4 + SA_KEYS_BYTES + SA_SIG_BYTES)
#define SA_SHARES_PLAIN (2 * GDN_SECAGG_SHARE_BYTES)
#define SA_CT_BYTES (SA_SHARES_PLAIN + 16)
#define SA_CT_ENTRY (4 + SA_CT_BYTES)
#define SA_UNMASK_REQ_ENTRY 5
#define SA_UNMASK_ENTRY (5 + GDN_SECAGG_SHARE_BYTES)
#define SA_KIND_SSK 0 /* share of the mask key: the peer dropped */
#define SA_KIND_B 1   /* share of the self-mask seed: the peer survived */

int sa_params_check(const gdn_secagg_params *p);
void sa_header(uint8_t h[SA_HEADER_BYTES], uint8_t type,
               const uint8_t session[GDN_SECAGG_SESSION_BYTES], uint32_t party);
/* Checks version, type, session and party of a message of exactly `want`
 * bytes (want = 0: at least a header). */
int sa_header_check(const uint8_t *msg, size_t len, uint8_t type,
                    const uint8_t session[GDN_SECAGG_SESSION_BYTES],
                    uint32_t party, const char *what);

/* Bytes signed in an advertisement. */
#define SA_ADV_SIGNED_BYTES (24 + GDN_SECAGG_SESSION_BYTES + 4 + SA_KEYS_BYTES)
void sa_adv_signed(uint8_t out[SA_ADV_SIGNED_BYTES],
                   const uint8_t session[GDN_SECAGG_SESSION_BYTES], uint32_t index,
                   const uint8_t keys[SA_KEYS_BYTES]);
/* Commitment to the self-mask seed: BLAKE2b-256(label, session, index, b).
 * Lets the server detect bad b-shares (an addition to the papers). */
void sa_b_commit(uint8_t out[32], const uint8_t session[GDN_SECAGG_SESSION_BYTES],
                 uint32_t index, const uint8_t b[32]);

/* ---- Graph --------------------------------------------------------------- */

/* The Harary graph H(k, n) on a permutation of the clients drawn from the
 * session: pos[i] is client i's place on the ring, perm its inverse. */
typedef struct sa_graph {
    uint32_t n, k;
    uint32_t *perm, *pos;
} sa_graph;

int sa_graph_init(sa_graph *g, const gdn_secagg_params *p);
void sa_graph_free(sa_graph *g);
/* The k neighbours of i, ascending. */
void sa_graph_neighbours(const sa_graph *g, uint32_t *out, uint32_t i);
int sa_graph_adjacent(const sa_graph *g, uint32_t i, uint32_t j);

/* ---- Keys and masks ------------------------------------------------------ */

/* Pairwise mask seed s_ij = BLAKE2b-256 keyed by X25519(my_sk, peer_pk) of
 * (label, session, min(i,j), max(i,j), their s_pk) — symmetric in i, j. */
int sa_mask_seed(uint8_t seed[32], const uint8_t my_sk[32], const uint8_t my_pk[32],
                 uint32_t me, const uint8_t peer_pk[32], uint32_t peer,
                 const uint8_t session[GDN_SECAGG_SESSION_BYTES]);
/* One-time AEAD keys for the shares between me and peer, one per direction,
 * from a single X25519(my c_sk, peer c_pk). */
int sa_share_keys(uint8_t send[32], uint8_t recv[32], const uint8_t my_sk[32],
                  const uint8_t my_pk[32], uint32_t me, const uint8_t peer_pk[32],
                  uint32_t peer, const uint8_t session[GDN_SECAGG_SESSION_BYTES]);
/* Associated data of a share ciphertext: (label, session, from, to). */
#define SA_SHARE_AD_BYTES (24 + GDN_SECAGG_SESSION_BYTES + 8)
void sa_share_ad(uint8_t ad[SA_SHARE_AD_BYTES],
                 const uint8_t session[GDN_SECAGG_SESSION_BYTES], uint32_t from,
                 uint32_t to);

/* v[i] += sign * PRG(seed)[i] mod 2^32 for i < m, sign = +1 or -1; PRG is the
 * ChaCha20-IETF keystream (key = seed, nonce 0) read as le32 words. */
void sa_prg_add(uint32_t *v, size_t m, const uint8_t seed[32], int sign);
/* The same through libsodium's crypto_stream_chacha20_ietf_xor_ic alone. */
void sa_prg_add_reference(uint32_t *v, size_t m, const uint8_t seed[32], int sign);

/* ---- Benchmark hook ------------------------------------------------------
 * Round 2 without the mask expansion: reads the forwarded shares as
 * gdn_secagg_client_masked_input does and moves to the unmasking round, so a
 * benchmark can time the server on n clients while sending stand-in masked
 * inputs for all but a few. Never for a real round: the client sends nothing. */
int sa_client_skip_input(gdn_secagg_client *c, const uint8_t *forwarded,
                         size_t forwarded_len);

#endif
