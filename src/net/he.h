/* Encrypted aggregation between processes (serve / join --he): multiparty
 * CKKS with key holders among the data owners (docs/ckks.md, "Between
 * processes"; the messages in docs/protocol.md, "HePhase").
 *
 * he_round.c is the coordinator's side: a set-up phase (holders chosen,
 * CKG shares collected and combined, dealt shares relayed as sealed
 * boxes), the collective public key kept in the state file and sent to
 * every owner, and per round the ciphertext sum and the threshold
 * decryption. he_owner.c is the owner's: encrypting its update, and as a
 * holder, its part of set-up (its threshold key kept in --state DIR) and
 * its guarded decryption shares. The coordinator's glue in coord.c talks
 * to this file through owner indices and a few callbacks only, so that
 * this logic stays out of the connection code.
 *
 * Payloads (little-endian; every length checked before use):
 *   set-up request (coordinator -> holder j, phase 1):
 *     crs[32] || le32 H || le32 t || le32 j || le32 min_clients || H x pk[32]
 *   set-up answer (holder j, phase 1):
 *     le32 n || CKG share (n bytes) || le32 H-1 || (H-1) x entry
 *   relayed dealt shares (coordinator -> holder k, phase 2):
 *     le32 H-1 || (H-1) x entry;    answer: 1 byte (1: key stored)
 *   entry: le32 holder (recipient in answers, sender when relayed) ||
 *     le32 n || n bytes: nonce[24] || crypto_box_easy(crs || le32 from ||
 *     le32 to || dealt share) from the sender's X25519 key (its Ed25519
 *     identity converted) to the recipient's
 *   public key (coordinator -> every owner, phase 3):
 *     crs[32] || le32 H || le32 t || gdn_ckks_pk_save bytes
 *   decryption request (coordinator -> holder, phase 4):
 *     crs[32] || le32 t || t x le32 holder || le64 contributions ||
 *     le64 dim || f64 clip || the summed ciphertexts (gdn_fl_he_sum_save)
 *   decryption answer: gdn_fl_he_holder_share's bytes */
#ifndef GDN_NET_HE_H
#define GDN_NET_HE_H

#include <stddef.h>
#include <stdint.h>

#include "guardian/ckks.h"
#include "guardian/fl.h"
#include "guardian/wire.h"
#include "net/state.h"

#define NET_HE_CRS_BYTES 32
#define NET_HE_BOX_OVERHEAD (24 + 16) /* nonce, MAC */
#define NET_HE_MAX_DIM ((uint64_t)1 << 30)

/* ---- Payloads (parsers fuzzed by fuzz/fuzz_he_net.c) ------------------------ */

typedef struct net_he_setup {
    uint8_t crs[NET_HE_CRS_BYTES];
    uint32_t holders, t, j, min_clients;
    const uint8_t *pks; /* holders x 32, into the parsed bytes */
} net_he_setup;

int net_he_setup_parse(net_he_setup *out, const uint8_t *in, size_t len);

/* count entries from in[*off ..]: who[i] in 1..holders, distinct, never
 * self, data[i] / lens[i] point into in (each at least the box overhead). */
int net_he_entries_parse(uint32_t *who, const uint8_t **data, size_t *lens, size_t count,
                         uint32_t holders, uint32_t self, const uint8_t *in, size_t len,
                         size_t *off);

typedef struct net_he_decrypt_req {
    uint8_t crs[NET_HE_CRS_BYTES];
    uint32_t t;
    unsigned set[GDN_WIRE_HE_MAX_HOLDERS];
    uint64_t contributions, dim;
    double clip;
    const uint8_t *cts; /* the rest of the bytes */
    size_t cts_len;
} net_he_decrypt_req;

int net_he_decrypt_parse(net_he_decrypt_req *out, const uint8_t *in, size_t len);

typedef struct net_he_key_msg {
    uint8_t crs[NET_HE_CRS_BYTES];
    uint32_t holders, t;
    const uint8_t *pk;
    size_t pk_len;
} net_he_key_msg;

int net_he_key_parse(net_he_key_msg *out, const uint8_t *in, size_t len);

/* A holder's key file (he-<coordinator>.key in --state DIR, mode 0600):
 * "GDNHEK1\n" || coordinator fingerprint[32] || crs[32] || le32 H || le32 t ||
 * le32 j || le32 min_clients || gdn_ckks_tsk_save bytes. */
typedef struct net_he_key_file {
    uint8_t coordinator[32], crs[NET_HE_CRS_BYTES];
    uint32_t holders, t, j, min_clients;
    const uint8_t *tsk;
    size_t tsk_len;
} net_he_key_file;

int net_he_key_file_parse(net_he_key_file *out, const uint8_t *in, size_t len);

/* ---- The coordinator's side (he_round.c) ------------------------------------ */

typedef struct net_he_host {
    /* Sends HePhase{phase, round} and payload (taken over) to owner idx. */
    void (*send)(void *ctx, uint32_t owner, uint32_t phase, uint64_t round, gdn_buf *payload);
    /* The owner's Ed25519 identity when it is connected and speaks HE, else NULL. */
    const uint8_t *(*identity)(void *ctx, uint32_t owner);
    /* Decryption finished: ok = 1 with the new model in `out` (given to
     * net_he_coord_decrypt), 0 when the round fails (why says it). */
    void (*done)(void *ctx, int ok, const char *why);
    void *ctx;
} net_he_host;

typedef struct net_he_coord net_he_coord;

/* Loads the collective key from the state file when set-up happened before. */
int net_he_coord_new(net_he_coord **out, const net_he_host *host, net_state *state,
                     size_t dim, size_t owners, unsigned holders, unsigned threshold,
                     double clip, size_t min_clients);
void net_he_coord_free(net_he_coord *h);
/* 1 once the collective public key exists. */
int net_he_coord_ready(const net_he_coord *h);
/* The round's HeParams (weight_scale is the caller's). */
void net_he_coord_params(const net_he_coord *h, gdn_wire_he *p);
/* Bytes of one owner's encrypted update, at most. */
uint64_t net_he_coord_update_bytes(const net_he_coord *h);
/* An owner said Hello: it gets the public key (once it exists). */
void net_he_coord_hello(net_he_coord *h, uint32_t owner);
/* Between rounds: starts set-up when H holders are connected, times it out. */
void net_he_coord_tick(net_he_coord *h, double now, double timeout);
/* An owner's HePhase answer. */
void net_he_coord_answer(net_he_coord *h, uint32_t owner, uint32_t phase, uint64_t round,
                         const uint8_t *in, size_t len);
/* A connection was lost. */
void net_he_coord_lost(net_he_coord *h, uint32_t owner);
/* A round: reset the sum, add owners' bytes in cohort order. */
void net_he_coord_begin(net_he_coord *h);
int net_he_coord_add(net_he_coord *h, const uint8_t *in, size_t len);
size_t net_he_coord_added(const net_he_coord *h);
/* Asks t connected holders for decryption shares of the sum; when they are
 * in (or not), host->done. Fewer than t connected: done(0) at once. */
void net_he_coord_decrypt(net_he_coord *h, uint64_t round, float *out, const float *global,
                          double deadline);
/* 1 while decryption shares are awaited. */
int net_he_coord_decrypting(const net_he_coord *h);
/* Past the decryption's deadline: done(0). */
void net_he_coord_expire(net_he_coord *h, double now);

/* ---- The owner's side (he_owner.c) -------------------------------------------- */

typedef struct net_he_owner net_he_owner;

/* dir: --state DIR (the key and guard files); id_sk: the owner's Ed25519
 * identity (64 bytes, copied into secure memory). */
int net_he_owner_new(net_he_owner **out, const char *dir, const uint8_t id_sk[64]);
void net_he_owner_free(net_he_owner *h);
/* A new session with the coordinator of this TLS fingerprint. */
void net_he_owner_session(net_he_owner *h, const uint8_t coordinator[32]);
/* The round under way as announced (heartbeats, RoundStart): decryption
 * requests for older rounds are refused. */
void net_he_owner_seen_round(net_he_owner *h, uint64_t round);
/* A coordinator's HePhase request: *answer (empty: none to send). An error
 * is a refusal to answer (logged by the caller), not a broken session. */
int net_he_owner_handle(net_he_owner *h, gdn_buf *answer, uint32_t phase, uint64_t round,
                        const uint8_t *in, size_t len);
/* Encrypts the round's update under the collective key p->key_id. */
int net_he_owner_encrypt(net_he_owner *h, gdn_buf *out, const gdn_wire_he *p,
                         const float *local, const float *global, size_t dim,
                         uint64_t examples);

#endif
