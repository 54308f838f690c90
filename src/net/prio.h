/* Validated aggregation over the network (docs/prio.md, "The networked
 * deployment"): the owner's sealed report, the leader's link to the helper
 * (the coordinator's side), shared by owner.c, coord.c and helper.c. */
#ifndef GDN_NET_PRIO_H
#define GDN_NET_PRIO_H

#include "guardian/federation.h"

/* crypto_box_seal's overhead and the sealed plaintext's header:
 * le64 round || le64 client_index || nonce (16). */
#define NET_PRIO_SEAL_HEADER 32
#define NET_PRIO_STEP_TIMEOUT_MS 60000 /* one leader-helper step, each way */

/* SHA-256 of the DER SubjectPublicKeyInfo of an Ed25519 key: the TLS
 * fingerprint of the party holding it (net.h). */
void net_prio_key_fingerprint(uint8_t fp[GDN_NET_FINGERPRINT_BYTES], const uint8_t pk[32]);

/* Bytes of one owner's report for a model of dim parameters under bound. */
int net_prio_report_bytes(uint64_t *bytes, size_t dim, double bound);

/* The owner's report for a PRIO3 round: the announced helper key must be
 * the pinned helper's (else GDN_ECRYPTO, nothing built); local (the trained
 * model) is clipped to the bound, scaled by attack_scale when it is not 1
 * (tests), sharded and the helper's share sealed to the helper. */
int net_prio_owner_report(gdn_buf *out, const gdn_wire_round_start *rs,
                          const uint8_t helper_pin[GDN_NET_FINGERPRINT_BYTES], float *local,
                          const float *global, size_t dim, double attack_scale);

/* ---- The leader-helper link: blocking steps over one TLS connection ------- */

/* Sends PrioStep{round, step} and payload as CHUNK frames. */
int net_prio_send_step(gdn_tls_conn *c, uint64_t round, uint32_t step, const gdn_buf *payload);
/* Receives the next message; for a PrioStep (the only one accepted besides
 * Heartbeat, Bye and Error) also its bytes, at most max_bytes, into *payload.
 * A clean close before the message is GDN_NET_CLOSED when closed_ok, an
 * error otherwise. */
int net_prio_recv_step(gdn_tls_conn *c, gdn_frame_decoder *d, gdn_wire_prio_step *step,
                       gdn_buf *payload, uint64_t max_bytes, int timeout_ms, int closed_ok);

/* ---- The helper's steps (helper.c), apart from its socket ------------------ */

typedef struct net_prio_helper {
    uint8_t xpk[32], xsk[32]; /* X25519 from its Ed25519 identity */
    gdn_fl_pine *vdaf;        /* the last round's instance */
    size_t dim;
    double bound;
    size_t min_batch;         /* no aggregate share of fewer accepted reports (0: 1) */
    uint64_t last_round;      /* rounds are served once, in increasing order */
} net_prio_helper;

/* One report of a step 1: what the helper keeps of it until step 3. */
typedef struct net_prio_entry {
    int ok;
    gdn_buf out_share;
} net_prio_entry;

/* Step 1 -> step 2: refuses a round not above the last one served
 * (GDN_ESTATE), opens and checks each sealed share (round, owner,
 * nonce), verifies each report with the leader's `initialize`, writes the
 * verdicts into *reply and keeps each accepted output share in *out
 * (count entries; free with net_prio_entries_free). GDN_EFORMAT for a
 * malformed job (nothing kept); a bad report is only rejected. */
int net_prio_helper_verify(net_prio_helper *h, gdn_buf *reply, net_prio_entry **out,
                           size_t *count, size_t *rejected, uint64_t round,
                           const uint8_t *job, size_t job_len);
/* Step 3 -> step 4: the aggregate share of the reports both accept
 * (flags: le32 count || one byte per report, 1 accepted); GDN_ESTATE, and
 * no share, when they are fewer than min_batch. */
int net_prio_helper_aggregate(net_prio_helper *h, gdn_buf *reply, size_t *accepted,
                              const net_prio_entry *e, size_t n, const gdn_buf *flags);
void net_prio_entries_free(net_prio_entry *e, size_t n);
/* Wipes the keys, frees the instance. */
void net_prio_helper_clear(net_prio_helper *h);

/* ---- The leader's side (the coordinator) ----------------------------------- */

typedef struct net_prio_leader net_prio_leader;

int net_prio_leader_new(net_prio_leader **out, const gdn_coord_config *cfg);
void net_prio_leader_free(net_prio_leader *l);
/* Connects to the helper unless connected, checks its pin and Welcome;
 * pk gets the helper's Ed25519 identity (what RoundStart announces). */
int net_prio_leader_connect(net_prio_leader *l, uint8_t pk[32]);

typedef struct net_prio_input {
    uint64_t client_index;
    const uint8_t *report;
    size_t len;
    int accepted; /* out */
} net_prio_input;

/* The round's verification with the helper: the ping-pong exchange for
 * each report (in[] in cohort order), the output shares of the reports
 * both accept added on each side, the helper's aggregate share fetched,
 * out = global + the mean accepted update. *accepted counts them. On an
 * error (helper gone, protocol fault) the connection is dropped and out is
 * untouched: the caller fails the round. */
/* Step 1 at the leader: for each report of the right size whose leader
 * share verify_init accepts, state[i] and sent[i] = 1 and its entry in
 * *job (the relayed sealed share unread); *count of them. */
int net_prio_leader_job(const gdn_fl_pine *v, gdn_buf *job, gdn_buf *state, uint8_t *sent,
                        size_t *count, net_prio_input *in, size_t n, const uint8_t *key,
                        uint64_t round);
/* Step 2 at the leader: the helper's verdicts on the `count` reports sent
 * (sent[i]), each accepted one finished against state[i] and added to agg;
 * flags gets step 3's payload, *ok the reports both accept. GDN_EFORMAT for
 * malformed verdicts. */
int net_prio_leader_verdicts(const gdn_fl_pine *v, uint8_t *agg, gdn_buf *flags, size_t *ok,
                             net_prio_input *in, size_t n, const uint8_t *sent,
                             const gdn_buf *state, size_t count, const uint8_t *reply,
                             size_t len, uint64_t round);

int net_prio_leader_aggregate(net_prio_leader *l, float *out, size_t *accepted,
                              net_prio_input *in, size_t n, uint64_t round,
                              const float *global, size_t dim, double bound);

#endif
