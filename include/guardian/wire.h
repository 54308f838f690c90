/* Guardian wire: the protocol messages of a networked federation
 * (proto/guardian.proto, docs/protocol.md) as plain C structs, their
 * checked encoding, and the float32 payloads that follow them as chunks.
 *
 * Pure: bytes in, bytes and structs out; no sockets, clocks or globals. The
 * encoding is protobuf (protobuf-c); its generated types stay inside
 * src/net/wire/, so users of this header need neither protobuf-c's header nor
 * the generated one. Every decoded message has passed every bound below; a
 * violation is GDN_EFORMAT with gdn_errmsg() naming message and field:
 *   "RoundStart.lr: -0.5 is not > 0"
 * Encoding checks the same bounds and returns GDN_EINVAL (nothing appended),
 * so a peer never receives what its decoder would refuse.
 *
 * Unknown fields are rejected, as are encodings that protobuf-c would not
 * write (duplicate fields, padded varints, explicit zero values, NUL inside
 * text): the protocol version is the only compatibility mechanism, and a
 * setting silently ignored could be a privacy parameter. */
#ifndef GUARDIAN_WIRE_H
#define GUARDIAN_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "guardian/core.h"

#define GDN_WIRE_VERSION 1
#define GDN_WIRE_MAX_MESSAGE_BYTES ((size_t)64 << 10) /* one encoded message */
#define GDN_WIRE_FINGERPRINT_BYTES 32 /* = GDN_NET_FINGERPRINT_BYTES */
#define GDN_WIRE_SESSION_BYTES 32     /* = GDN_SECAGG_SESSION_BYTES */
#define GDN_WIRE_MAX_TEXT 1024        /* bytes of a reason or message (UTF-8) */
#define GDN_WIRE_MAX_ID 64            /* federation id: [A-Za-z0-9._:-] */
#define GDN_WIRE_MAX_RULE 128         /* policy rule name: [A-Za-z0-9._:-] */
#define GDN_WIRE_MAX_MODEL_SPEC 256   /* printable ASCII */
#define GDN_WIRE_MAX_EPOCHS 1000
#define GDN_WIRE_MAX_EXAMPLES ((uint64_t)1 << 26) /* = GDN_DATA_MAX_EXAMPLES */
#define GDN_WIRE_MAX_CLIENT_INDEX UINT32_MAX
#define GDN_WIRE_MAX_PARAMS ((uint64_t)1 << 30)   /* = GDN_MODEL_MAX_PARAMS */
#define GDN_WIRE_MAX_SECAGG_CLIENTS 1000000       /* = GDN_SECAGG_MAX_CLIENTS */
#define GDN_WIRE_MAX_SECAGG_LENGTH (1u << 28)     /* = GDN_SECAGG_MAX_LENGTH */

typedef enum {
    GDN_WIRE_HELLO = 1,
    GDN_WIRE_WELCOME = 2,
    GDN_WIRE_ROUND_START = 3,
    GDN_WIRE_UPDATE = 4,
    GDN_WIRE_HEARTBEAT = 5,
    GDN_WIRE_ROUND_END = 6,
    GDN_WIRE_REFUSAL = 7,
    GDN_WIRE_BYE = 8,
    GDN_WIRE_ERROR = 9,
    GDN_WIRE_SECAGG_PHASE = 10,
    GDN_WIRE_LEDGER_HEAD = 11,
    GDN_WIRE_COSIGN = 12,
    GDN_WIRE_PRIO_REPORT = 13,
    GDN_WIRE_PRIO_STEP = 14,
    GDN_WIRE_HE_PHASE = 16
} gdn_wire_type;

enum { /* Hello.capabilities bits */
    GDN_WIRE_CAP_SECAGG = 1,
    GDN_WIRE_CAP_HE = 2,
    GDN_WIRE_CAP_PRIO3 = 4,
    GDN_WIRE_CAP_DP = 8,
    GDN_WIRE_CAP_ALL = 15
};

typedef enum { /* values of gdn_ledger_aggregation */
    GDN_WIRE_AGG_PLAIN = 0,
    GDN_WIRE_AGG_SECAGG = 1,
    GDN_WIRE_AGG_HE = 2,
    GDN_WIRE_AGG_PRIO3 = 3
} gdn_wire_aggregation;

typedef enum {
    GDN_WIRE_OUTCOME_COMPLETED = 1,
    GDN_WIRE_OUTCOME_FAILED = 2,
    GDN_WIRE_OUTCOME_ABORTED = 3
} gdn_wire_outcome;

typedef enum {
    GDN_WIRE_BYE_DONE = 1,
    GDN_WIRE_BYE_LEAVING = 2,
    GDN_WIRE_BYE_SHUTDOWN = 3
} gdn_wire_bye_reason;

typedef enum {
    GDN_WIRE_ERR_PROTOCOL = 1,
    GDN_WIRE_ERR_VERSION = 2,
    GDN_WIRE_ERR_STATE = 3,
    GDN_WIRE_ERR_LIMIT = 4,
    GDN_WIRE_ERR_TIMEOUT = 5,
    GDN_WIRE_ERR_INTERNAL = 6
} gdn_wire_error_code;

/* Text fields are NUL-terminated inside the struct. */

typedef struct gdn_wire_welcome {
    uint32_t protocol_version;
    int accepted;
    char reason[GDN_WIRE_MAX_TEXT + 1]; /* refused: non-empty; accepted: "" */
    char federation_id[GDN_WIRE_MAX_ID + 1]; /* non-empty */
    uint8_t coordinator_fingerprint[GDN_WIRE_FINGERPRINT_BYTES];
    uint32_t heartbeat_ms;    /* accepted: >= 1; refused: 0 */
    uint32_t idle_timeout_ms; /* accepted: > heartbeat_ms; refused: 0 */
    uint32_t max_frame_bytes; /* accepted: 4096 .. 2^30; refused: 0 */
} gdn_wire_welcome;

typedef struct gdn_wire_hello {
    uint32_t protocol_version;
    uint8_t client_fingerprint[GDN_WIRE_FINGERPRINT_BYTES];
    uint64_t examples;     /* 1 .. GDN_WIRE_MAX_EXAMPLES */
    uint64_t capabilities; /* GDN_WIRE_CAP_* bits only */
    uint64_t ledger_size;  /* entries of the ledger head it last co-signed */
} gdn_wire_hello;

typedef struct gdn_wire_dp {
    int enabled;             /* 0: no DP, the numbers below are 0 */
    double clip;             /* > 0, finite */
    double noise_multiplier; /* >= 0, finite */
    double delta;            /* (0, 1) */
    double sampling_rate;    /* (0, 1]: q, each owner's chance to be in a round */
    int distributed;         /* 1: distributed DP under SecAgg+ (then below) */
    uint32_t ddg_bits;       /* 2 .. 32 */
    double ddg_gamma;        /* > 0, finite */
    uint32_t ddg_clients;    /* >= 1 */
} gdn_wire_dp;

typedef struct gdn_wire_secagg {
    uint32_t n, k, t, bits, length; /* as gdn_secagg_params */
    uint8_t session[GDN_WIRE_SESSION_BYTES];
    double clip;     /* > 0, finite */
    uint32_t levels; /* >= 2 */
    double weight_scale; /* >= 1, finite */
} gdn_wire_secagg;

/* Validated aggregation (PINE, two aggregators): RoundStart.prio. */
typedef struct gdn_wire_prio {
    double bound;           /* (0, GDN_WIRE_MAX_PRIO_BOUND] */
    uint8_t helper_key[32]; /* the helper's Ed25519 identity key */
} gdn_wire_prio;
#define GDN_WIRE_MAX_PRIO_BOUND 1e6
#define GDN_WIRE_MAX_PRIO_BYTES ((uint64_t)1 << 32) /* a report, a step's bytes */
#define GDN_WIRE_MAX_PRIO_STEP 4

#define GDN_WIRE_HE_MAX_HOLDERS 32 /* = GDN_FL_HE_MAX_HOLDERS */
#define GDN_WIRE_HE_KEY_ID_BYTES 32

typedef struct gdn_wire_he {
    uint32_t holders;   /* 2 .. GDN_WIRE_HE_MAX_HOLDERS */
    uint32_t threshold; /* 2 .. holders */
    double clip;        /* (0, 2^20] */
    double weight_scale; /* >= 1, finite */
    uint8_t key_id[GDN_WIRE_HE_KEY_ID_BYTES];
} gdn_wire_he;

typedef struct gdn_wire_round_start {
    uint64_t round; /* >= 1 */
    uint64_t seed;
    uint64_t client_index; /* <= GDN_WIRE_MAX_CLIENT_INDEX */
    char model[GDN_WIRE_MAX_MODEL_SPEC + 1];
    uint32_t local_epochs; /* 1 .. GDN_WIRE_MAX_EPOCHS */
    uint64_t batch;        /* 1 .. GDN_WIRE_MAX_EXAMPLES */
    float lr;              /* > 0, finite */
    float momentum;        /* [0, 1) */
    float weight_decay, prox_mu; /* >= 0, finite */
    gdn_wire_aggregation aggregation;
    gdn_wire_dp dp;
    gdn_wire_secagg secagg; /* used iff aggregation is GDN_WIRE_AGG_SECAGG */
    gdn_wire_he he;         /* used iff aggregation is GDN_WIRE_AGG_HE */
    uint32_t model_stream;  /* >= 1 */
    uint64_t model_bytes;   /* 4 x parameters, 1 .. GDN_WIRE_MAX_PARAMS of them */
    uint32_t deadline_ms;   /* >= 1 */
    uint64_t cohort;        /* owners sampled, 1 .. GDN_WIRE_MAX_CLIENT_INDEX */
    gdn_wire_prio prio;     /* used iff aggregation is GDN_WIRE_AGG_PRIO3 */
} gdn_wire_round_start;

typedef struct gdn_wire_prio_report {
    uint64_t round;        /* >= 1 */
    uint64_t client_index; /* <= GDN_WIRE_MAX_CLIENT_INDEX */
    uint64_t examples;     /* 1 .. GDN_WIRE_MAX_EXAMPLES */
    double mean_loss;      /* >= 0, finite */
    uint32_t stream;       /* >= 1 */
    uint64_t bytes;        /* 1 .. GDN_WIRE_MAX_PRIO_BYTES */
} gdn_wire_prio_report;

typedef struct gdn_wire_prio_step {
    uint64_t round;  /* >= 1 */
    uint32_t step;   /* 1 .. GDN_WIRE_MAX_PRIO_STEP */
    uint32_t stream; /* >= 1 */
    uint64_t bytes;  /* 1 .. GDN_WIRE_MAX_PRIO_BYTES */
} gdn_wire_prio_step;

typedef struct gdn_wire_update {
    uint64_t round;        /* >= 1 */
    uint64_t client_index; /* <= GDN_WIRE_MAX_CLIENT_INDEX */
    uint64_t examples;     /* 1 .. GDN_WIRE_MAX_EXAMPLES */
    double mean_loss;      /* >= 0, finite */
    uint32_t update_stream; /* >= 1 */
    uint64_t update_bytes;  /* as model_bytes */
} gdn_wire_update;

typedef struct gdn_wire_heartbeat {
    uint64_t sequence; /* >= 1 */
    uint64_t round;    /* 0 between rounds */
} gdn_wire_heartbeat;

typedef struct gdn_wire_round_end {
    uint64_t round; /* >= 1 */
    gdn_wire_outcome outcome;
    uint32_t cohort;
    double train_loss; /* >= 0, finite */
    int evaluated;
    double test_loss;     /* >= 0, finite; 0 unless evaluated */
    double test_accuracy; /* [0, 1]; 0 unless evaluated */
    double epsilon;       /* >= 0, finite; 0 without DP */
    char message[GDN_WIRE_MAX_TEXT + 1];
} gdn_wire_round_end;

typedef struct gdn_wire_refusal {
    uint64_t round; /* >= 1 */
    char rule[GDN_WIRE_MAX_RULE + 1]; /* non-empty */
    char message[GDN_WIRE_MAX_TEXT + 1];
} gdn_wire_refusal;

/* SecAgg+ phases: 1 advertise keys, 2 share keys, 3 masked input, 4 unmask
 * (secagg.h's rounds 0..3, plus one). */
#define GDN_WIRE_MAX_SECAGG_PHASE 4
#define GDN_WIRE_MAX_SECAGG_BYTES ((uint64_t)1 << 32)

typedef struct gdn_wire_secagg_phase {
    uint64_t round;  /* >= 1 */
    uint32_t phase;  /* 1 .. GDN_WIRE_MAX_SECAGG_PHASE */
    uint32_t stream; /* >= 1 */
    uint64_t bytes;  /* 1 .. GDN_WIRE_MAX_SECAGG_BYTES, as CHUNK frames */
} gdn_wire_secagg_phase;

/* Encrypted aggregation's steps: 1 set-up (CKG share and dealt shares), 2
 * the dealt shares relayed, 3 the collective public key, 4 decryption. */
enum {
    GDN_WIRE_HE_SETUP = 1,
    GDN_WIRE_HE_DEAL = 2,
    GDN_WIRE_HE_KEY = 3,
    GDN_WIRE_HE_DECRYPT = 4
};
#define GDN_WIRE_MAX_HE_BYTES ((uint64_t)1 << 32)

typedef struct gdn_wire_he_phase {
    uint64_t round;  /* 0 in phases 1..3, >= 1 in phase 4 */
    uint32_t phase;  /* GDN_WIRE_HE_SETUP .. GDN_WIRE_HE_DECRYPT */
    uint32_t stream; /* >= 1 */
    uint64_t bytes;  /* 1 .. GDN_WIRE_MAX_HE_BYTES, as CHUNK frames */
} gdn_wire_he_phase;

#define GDN_WIRE_HEAD_BYTES 145  /* = GDN_LEDGER_HEAD_BYTES */
#define GDN_WIRE_COSIG_BYTES 97  /* = GDN_LEDGER_COSIG_BYTES */
#define GDN_WIRE_MAX_PROOF 65    /* hashes, = GDN_LEDGER_MAX_PROOF */

typedef struct gdn_wire_ledger_head {
    uint64_t round; /* >= 1 */
    uint8_t head[GDN_WIRE_HEAD_BYTES];
    uint8_t proof[GDN_WIRE_MAX_PROOF * 32];
    size_t proof_len; /* bytes, a multiple of 32 */
    uint64_t from_size;
} gdn_wire_ledger_head;

typedef struct gdn_wire_cosign {
    uint64_t size; /* >= 1 */
    uint8_t cosig[GDN_WIRE_COSIG_BYTES];
} gdn_wire_cosign;

typedef struct gdn_wire_bye {
    gdn_wire_bye_reason reason;
    char message[GDN_WIRE_MAX_TEXT + 1];
} gdn_wire_bye;

typedef struct gdn_wire_error {
    gdn_wire_error_code code;
    char message[GDN_WIRE_MAX_TEXT + 1];
} gdn_wire_error;

/* One message: `type` says which member of the union holds it. */
typedef struct gdn_wire_msg {
    gdn_wire_type type;
    union {
        gdn_wire_hello hello;
        gdn_wire_welcome welcome;
        gdn_wire_round_start round_start;
        gdn_wire_update update;
        gdn_wire_heartbeat heartbeat;
        gdn_wire_round_end round_end;
        gdn_wire_refusal refusal;
        gdn_wire_bye bye;
        gdn_wire_error error;
        gdn_wire_secagg_phase secagg_phase;
        gdn_wire_ledger_head ledger_head;
        gdn_wire_cosign cosign;
        gdn_wire_prio_report prio_report;
        gdn_wire_prio_step prio_step;
        gdn_wire_he_phase he_phase;
    } u;
} gdn_wire_msg;

/* "Hello", "RoundStart", ...; "?" for other values. */
const char *gdn_wire_type_name(int type);

/* ---- Direct interface ---------------------------------------------------- */

/* Appends m's encoding to out: GDN_EINVAL (naming the field, nothing
 * appended) when m breaks a bound, GDN_ERANGE above GDN_WIRE_MAX_MESSAGE_BYTES. */
int gdn_wire_encode(gdn_buf *out, const gdn_wire_msg *m);
/* Decodes one message filling in[0, len) exactly (a MESSAGE frame's payload).
 * GDN_ERANGE when len exceeds GDN_WIRE_MAX_MESSAGE_BYTES, GDN_EFORMAT for
 * anything malformed, unknown or out of bounds. Hello and Welcome of another
 * protocol version fail with "protocol version 2, this side speaks 1" before
 * any other check, so a version mismatch is reported as such. */
int gdn_wire_decode(gdn_wire_msg *out, const uint8_t *in, size_t len);
/* The checks of encode, as GDN_EFORMAT like decode's. */
int gdn_wire_check(const gdn_wire_msg *m);

/* ---- Float vectors --------------------------------------------------------
 * A model or an update travels as n little-endian IEEE-754 binary32 values,
 * 4 n bytes, in CHUNK frames after the message that announced its size. */

/* Appends v[0, n) as 4 n bytes. */
int gdn_wire_floats_encode(gdn_buf *out, const float *v, size_t n);
/* Reads n floats from in[0, len): GDN_EFORMAT unless len == 4 n (the
 * model's parameter count) and every value is finite. */
int gdn_wire_floats_decode(float *out, size_t n, const uint8_t *in, size_t len);

#endif
