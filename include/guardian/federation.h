/* Guardian federation: the networked roles. A coordinator process runs the
 * rounds of a federation (fl.h) for data owners that connect over mutually
 * authenticated TLS (net.h) and speak the protocol of wire.h
 * (docs/protocol.md); a data owner process trains on its own data when the
 * coordinator asks. For the same seed, configuration and data split, the
 * rounds produce the same model bits as gdn_fl_sim (fl.h).
 *
 * The coordinator is one thread around an epoll loop over non-blocking
 * sockets; it keeps its state (owners, rounds, participants, checkpoints and
 * their SHA-256, metrics) in SQLite with WAL, one transaction per finished
 * round, so a restart after kill -9 resumes from the last finished round. */
#ifndef GUARDIAN_FEDERATION_H
#define GUARDIAN_FEDERATION_H

#include <stddef.h>
#include <stdint.h>

#include "guardian/data.h"
#include "guardian/fl.h"
#include "guardian/net.h"
#include "guardian/wire.h"

/* ---- Coordinator ----------------------------------------------------------- */

typedef struct gdn_coord_round {
    unsigned round, rounds;
    size_t cohort;    /* owners sampled */
    size_t updates;   /* updates aggregated */
    size_t dropouts;  /* sampled owners that did not answer in time */
    size_t refusals;  /* sampled owners whose policy declined */
    int completed;    /* 0: failed (fewer than min_clients updates) */
    double train_loss; /* mean over the updates, weighted by examples */
    int evaluated;
    double test_loss, test_accuracy;
    double epsilon;   /* client-level DP: ε spent after this round (0 without) */
    size_t rejected;  /* validated aggregation: reports whose proof failed */
    double seconds;   /* wall time of the round */
    uint8_t model_sha256[32]; /* the global model after the round */
} gdn_coord_round;

/* Called after every finished round with the history of all finished rounds
 * (history[n - 1] is the one just finished; a resumed run's earlier rounds
 * come from the state file) and the global model. Non-zero stops the
 * coordinator (its state stays resumable). */
typedef int (*gdn_coord_round_fn)(void *ctx, const gdn_coord_round *history, size_t n,
                                  gdn_model *global);

/* The round as the ledger records it: who contributed and who declined, by
 * identity (the owner's Ed25519 public key, as in its certificate). */
typedef struct gdn_coord_record {
    const gdn_coord_round *round;
    int secagg;                          /* aggregation was SecAgg+ */
    uint8_t model_before[32];            /* SHA-256 of the model it started from */
    const uint8_t (*updates)[32];        /* owners whose update is in the model */
    size_t nupdates;
    const uint8_t (*refused)[32];        /* owners whose policy declined */
    const char *const *reasons;          /* "rule: message", one per refusal */
    size_t nrefused;
} gdn_coord_record;

/* The run's tamper-evident ledger (ledger.h; cli/record.c keeps it). After
 * every finished round the coordinator appends it, sends the new signed head
 * with a consistency proof to each owner of the cohort, and stores the
 * co-signatures that come back. */
typedef struct gdn_coord_ledger {
    /* Appends the round's entries and signs a head: its 145-byte encoding. */
    int (*append)(void *ctx, const gdn_coord_record *rec,
                  uint8_t head[GDN_WIRE_HEAD_BYTES], uint64_t *size);
    /* Consistency proof from size `from` to `to` (*len bytes, 32 a hash). */
    int (*prove)(void *ctx, uint8_t proof[GDN_WIRE_MAX_PROOF * 32], size_t *len,
                 uint64_t from, uint64_t to);
    /* Checks and stages owner pk's co-signature of the head of `size`. */
    int (*cosign)(void *ctx, const uint8_t pk[32], uint64_t size,
                  const uint8_t cosig[GDN_WIRE_COSIG_BYTES]);
    /* Makes what is staged durable (one commit for many co-signatures;
     * append commits them too). May be NULL. */
    int (*flush)(void *ctx);
    void *ctx;
} gdn_coord_ledger;

typedef struct gdn_coord_config {
    gdn_fl_config fl; /* model, clients, cohort sampling, local training,
                         strategy, aggregator, seed, SecAgg+ and client-level
                         DP (simulate's settings); not DP-SGD or attacks */
    double target_epsilon;    /* DP: stop before a round would pass it (0: none) */
    size_t channels, height, width, classes; /* the model's input and output */
    const gdn_dataset *test;  /* evaluated every fl.eval_every rounds; may be NULL */
    const char *host;         /* address to listen on (NULL: 127.0.0.1) */
    uint16_t port;            /* 0: an ephemeral port (see on_listen) */
    gdn_tls_config tls;       /* the coordinator's credentials and CA */
    const char *federation_id;
    /* The roster: owners[i] is the fingerprint of the owner with data index i
     * (what RoundStart.client_index says). NULL: the first fl.clients owners
     * to connect get indices in order of arrival, kept in the state file. */
    const uint8_t (*owners)[GDN_NET_FINGERPRINT_BYTES];
    const char *state_path;   /* SQLite file (created; WAL) */
    size_t min_clients;       /* updates a round needs (>= 1) */
    size_t wait_clients;      /* connected owners awaited before a round (0: all) */
    uint32_t wait_ms;         /* ... for at most this long, then min_clients do */
    uint32_t round_timeout_ms;  /* RoundStart to the last update */
    uint32_t heartbeat_ms, idle_timeout_ms, handshake_timeout_ms;
    size_t max_connections;   /* open sockets, handshakes included (0: 2 x clients + 16) */
    uint32_t max_frame;       /* frame limit announced to owners (0: 64 KiB) */
    size_t keep_checkpoints;  /* model blobs kept in the state file (0: 2) */
    const gdn_coord_ledger *ledger; /* NULL: no ledger */
    /* Encrypted aggregation (fl.he.enabled): key holders among the owners
     * (0: min(clients, 32)); fl.he.threshold of them decrypt (0: a majority). */
    unsigned he_holders;
    /* Validated aggregation (fl.prio.enabled): this coordinator is PINE's
     * leader; the helper, another operator's `guardian serve --role
     * helper`, listens at helper_host:helper_port and must present the
     * identity helper_pin. The leader's side of that link is a TLS client:
     * helper_tls holds a client certificate of the federation CA. */
    const char *helper_host;
    uint16_t helper_port;
    const uint8_t *helper_pin;  /* GDN_NET_FINGERPRINT_BYTES */
    gdn_tls_config helper_tls;
    gdn_coord_round_fn on_round;
    void (*on_listen)(void *ctx, uint16_t port); /* once listening */
    void *ctx;
    volatile int *stop;       /* set (e.g. by SIGINT/SIGTERM): Bye{SHUTDOWN}, return */
} gdn_coord_config;

/* Sets the protocol defaults: heartbeat 5 s, idle 30 s, handshake 10 s,
 * round timeout 10 min, wait 30 s, min_clients 1, and gdn_fl_config_default. */
void gdn_coord_config_default(gdn_coord_config *cfg);

/* What a run used, for benchmarks and logs. */
typedef struct gdn_coord_stats {
    size_t peak_connections;
    uint64_t bytes_sent, bytes_received; /* on the wire, TLS included */
    unsigned rounds_run;                 /* by this process (not resumed ones) */
} gdn_coord_stats;

/* Runs the federation until fl.rounds rounds are finished (resuming from
 * state_path), *stop is set, or a fatal error. stats may be NULL. */
int gdn_coord_run(const gdn_coord_config *cfg, gdn_coord_stats *stats);

/* ---- Data owner ------------------------------------------------------------ */

/* The owner's own check of a round before it trains (its policy): 0 to take
 * part, or non-zero with a rule name and a message, sent as a Refusal.
 * coordinator: the TLS fingerprint of the coordinator proposing it. */
typedef int (*gdn_owner_admit_fn)(void *ctx, char rule[GDN_WIRE_MAX_RULE + 1],
                                  char *message, size_t cap,
                                  const gdn_wire_round_start *round,
                                  const uint8_t coordinator[GDN_NET_FINGERPRINT_BYTES]);

/* The owner's side of the ledger: the head it holds for a coordinator, and
 * its check of each new one (cli/join.c, with ledger.h). */
typedef struct gdn_owner_ledger {
    /* Entries of the head it holds for the coordinator with this key (0: none). */
    uint64_t (*held)(void *ctx, const uint8_t coordinator_pk[32]);
    /* Checks the new head (signature, and the proof that the held head is a
     * prefix of it: split-view detection), co-signs it (*size: its size)
     * and keeps it; an
     * error (the coordinator rewrote or forked its history) ends the run. */
    int (*check)(void *ctx, uint8_t cosig[GDN_WIRE_COSIG_BYTES], uint64_t *size,
                 const uint8_t coordinator_pk[32],
                 const uint8_t head[GDN_WIRE_HEAD_BYTES], const uint8_t *proof,
                 size_t proof_len, uint64_t from_size);
    void *ctx;
} gdn_owner_ledger;

typedef struct gdn_owner_config {
    const char *host;
    uint16_t port;
    gdn_tls_config tls;
    const gdn_dataset *data;  /* local training data ... */
    const uint32_t *idx;      /* ... these examples of it (NULL: all) */
    size_t n;
    /* Pin: refuse a coordinator whose fingerprint differs (NULL: any that the
     * federation CA certified). */
    const uint8_t *coordinator;
    uint32_t retry_ms;        /* keep reconnecting this long without success
                                 (0: 60 s); each attempt has a 10 s limit */
    int no_reconnect;         /* a lost connection ends the run */
    gdn_owner_admit_fn admit;
    const gdn_owner_ledger *ledger; /* NULL: heads are not checked or co-signed */
    /* Encrypted aggregation: where this owner, when chosen as a key holder,
     * keeps its threshold key and the rounds it decrypted (its --state DIR);
     * NULL: it does not offer HE. */
    const char *he_dir;
    /* Validated aggregation rounds: the helper's fingerprint this owner
     * trusts (NULL: it declines them, rule "prio"); the bound it expects
     * (0: the coordinator's); attack_scale, tests only: a scaled update
     * (as simulate --attack scale:S), 0 or 1 for none. */
    const uint8_t *helper_pin;
    double prio_bound;
    double attack_scale;
    /* Called at the steps of a round: "model" when its model has arrived,
     * "secagg1" .. "secagg4" when a SecAgg+ phase's request has, "he-decrypt"
     * when a decryption request has (fault tests
     * use it to die at a chosen point). May be NULL. */
    void (*on_event)(void *ctx, uint64_t round, uint64_t client_index, const char *event);
    void *ctx;
    volatile int *stop;       /* set: Bye{LEAVING}, return */
} gdn_owner_config;

/* Takes part in the federation until the coordinator says Bye{DONE} (0),
 * *stop is set (0), or the coordinator cannot be reached for retry_ms
 * (an error naming the last failure). Rounds trained are logged. */
int gdn_owner_run(const gdn_owner_config *cfg);

/* ---- Validated aggregation's helper -------------------------------------------
 * The second PINE aggregator, run by another operator than the coordinator
 * (`guardian serve --role helper`). It accepts one leader at a time over
 * mutually authenticated TLS 1.3, only the one whose identity is
 * leader_pin, opens the owners' sealed shares with its own identity key
 * (X25519 from its Ed25519 key), verifies each report with the leader and
 * returns only its aggregate share of the accepted ones. */
typedef struct gdn_helper_config {
    const char *host;         /* address to listen on (NULL: 127.0.0.1) */
    uint16_t port;            /* 0: an ephemeral port (see on_listen) */
    gdn_tls_config tls;       /* its credentials: a server certificate */
    const uint8_t *leader_pin; /* GDN_NET_FINGERPRINT_BYTES, required */
    /* No aggregate share of fewer accepted reports (0: 2), and each round
     * number served once, increasing: a leader cannot isolate one owner's
     * update by asking for the sum of a batch of one (or again, with fewer). */
    size_t min_batch;
    const char *federation_id;
    void (*on_listen)(void *ctx, uint16_t port);
    /* when a round's reports arrive (fault tests use it); may be NULL */
    void (*on_job)(void *ctx, uint64_t round);
    /* after each round's aggregate share: accepted and rejected reports */
    void (*on_round)(void *ctx, uint64_t round, size_t accepted, size_t rejected);
    void *ctx;
    volatile int *stop;       /* set: return 0 */
} gdn_helper_config;

/* Serves leaders until *stop is set; errors only for the set-up. */
int gdn_helper_run(const gdn_helper_config *cfg);

#endif
