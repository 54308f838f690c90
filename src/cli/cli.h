/* The guardian command: option tables, shared data loading, subcommands. */
#ifndef GDN_CLI_H
#define GDN_CLI_H

#include <stddef.h>

#include "guardian/core.h"
#include "guardian/data.h"
#include "guardian/federation.h"
#include "guardian/fl.h"

/* One option of a subcommand. `value` starts as the default (NULL: none) and
 * is replaced by what the user gave; flags take no argument ("1" when set). */
typedef struct cli_opt {
    const char *name;    /* without the leading dashes */
    const char *metavar; /* NULL for a flag */
    const char *help;
    const char *value;
    int given; /* set by cli_parse when the user gave it */
} cli_opt;

typedef struct cli_cmd {
    const char *name;
    const char *summary;
    const char *usage; /* text after "guardian NAME " */
    cli_opt *opts;     /* terminated by a {NULL} entry */
    int (*run)(cli_opt *opts);
} cli_cmd;

/* Parses argv into opts; prints help and returns 1 for --help; -1 on a bad
 * option (after printing why); 0 on success. */
int cli_parse(const cli_cmd *cmd, int argc, char **argv);
void cli_help(const cli_cmd *cmd);

/* Fills the options the command line left unset from the config file at
 * path (keys are the long option names without dashes; "config" itself may
 * not appear). An unknown key, a flag given a value other than true/false,
 * or a list for a flag, is an error naming file and line; prints why and
 * returns non-zero. A list for any other option becomes its items joined
 * with ',' (an item may not hold a comma). Options given on the command
 * line win over the file; `given` stays as cli_parse left it. Applies one
 * file per process; values stay valid until cli_config_release(). */
int cli_apply_config(const cli_cmd *cmd, const char *path);
void cli_config_release(void);

const char *cli_str(const cli_opt *opts, const char *name);
int cli_flag(const cli_opt *opts, const char *name);
/* Whole-string numeric parses within [lo, hi]; print why on failure. */
int cli_long(const cli_opt *opts, const char *name, long lo, long hi, long *out);
int cli_double(const cli_opt *opts, const char *name, double lo, double hi,
               double *out);

/* The data options every training command shares. */
#define CLI_DATA_OPTS                                                          \
    {"data", "SOURCE", "fashion-mnist, or csv:PATH[:label=NAME-OR-INDEX]",      \
     "fashion-mnist", 0},                                                      \
    {"test-fraction", "F", "CSV: share held out for testing (seeded)", "0.2",  \
     0},                                                                       \
    {"standardize", NULL, "CSV: scale features by the training split's "       \
     "mean and deviation", NULL, 0},                                           \
    {"limit", "N", "use only the first N training examples", NULL, 0},        \
    {"seed", "N", "seed of every random choice (init, shuffles, splits)", "1", \
     0},                                                                       \
    {"model", "SPEC", "logreg, mlp:IN-...-OUT, cnn, lenet5 or seq:... "        \
     "(default: cnn for images, logreg for CSV)", NULL, 0}

/* Loads train/test as the data options say; prints what it loaded. */
int cli_load_data(const cli_opt *opts, gdn_dataset *train, gdn_dataset *test);

/* Prints "guardian: <what>: <detail>" for a failed library call. */
int cli_fail(const char *what, int rc);

/* Set by SIGINT or SIGTERM; long loops stop cleanly when it is set (a second
 * signal ends the process at once). */
extern volatile int cli_interrupted;
void cli_catch_sigint(void);

int cli_train(cli_opt *opts);
extern cli_opt cli_train_opts[];
int cli_simulate(cli_opt *opts);
extern cli_opt cli_simulate_opts[];
int cli_privacy(cli_opt *opts);
extern cli_opt cli_privacy_opts[];
/* The run's ledger (record.c): DIR/ledger.db, signed by DIR/coordinator.key. */
typedef struct cli_ledger cli_ledger;
/* sk: the coordinator's Ed25519 identity (serve), or NULL for a key of the
 * run's own in DIR/coordinator.key (simulate). */
int cli_ledger_open(cli_ledger **out, const char *dir, const void *config, size_t len,
                    size_t clients, const uint8_t *sk);
void cli_ledger_close(cli_ledger *l);
/* SHA-256 of the run's coordinator public key (what policies trust). */
void cli_ledger_coordinator(const cli_ledger *l, uint8_t fingerprint[32]);
int cli_ledger_round(cli_ledger *l, const gdn_fl_config *cfg, uint32_t round,
                     const uint8_t before[32], const uint8_t after[32],
                     const uint32_t *cohort, size_t n, const gdn_fl_refusal *refusals,
                     size_t nref, const double *eps_spent);
/* guardian serve: a round's entries (refusals, then the round) and a signed
 * head, committed; proofs for the owners; their co-signatures. */
int cli_ledger_append(cli_ledger *l, const gdn_fl_config *cfg, const gdn_coord_record *rec,
                      uint8_t head[145], uint64_t *size);
int cli_ledger_prove(cli_ledger *l, uint8_t *proof, size_t *len, uint64_t from, uint64_t to);
int cli_ledger_add_cosig(cli_ledger *l, const uint8_t pk[32], uint64_t size,
                         const uint8_t cosig[97]); /* staged: cli_ledger_flush commits */
int cli_ledger_flush(cli_ledger *l);
int cli_audit(cli_opt *opts);
extern cli_opt cli_audit_opts[];
int cli_policy(cli_opt *opts);
extern cli_opt cli_policy_opts[];
/* guardian policy check FILE: argv holds what follows "policy"; returns the
 * process's exit code (0 valid, 1 invalid, 2 usage). */
int cli_policy_main(int argc, char **argv);
int cli_keygen(cli_opt *opts);
extern cli_opt cli_keygen_opts[];
int cli_ca(cli_opt *opts);
extern cli_opt cli_ca_opts[];
/* guardian ca SUBCOMMAND ...: argv holds what follows "ca"; returns the
 * process's exit code (0, 1 failed, 2 usage). */
int cli_ca_main(int argc, char **argv);

/* The model spec to use: --model, or cnn for images and logreg for CSV. */
const char *cli_model_spec(const cli_opt *opts, const gdn_dataset *train);
/* Writes DIR/config.json: every option that has a value, as strings. */
int cli_write_config(const char *dir, const char *command, const cli_opt *opts);

/* The federation options simulate and serve share (options.c): cohort,
 * local training, server strategy and aggregator. */
#define CLI_FL_OPTS                                                            \
    {"clients", "N", "data owners", "100", 0},                                 \
    {"fraction", "C", "share of owners sampled each round", "0.1", 0},         \
    {"per-round", "N", "a fixed number of owners per round (overrides "        \
     "--fraction)", NULL, 0},                                                  \
    {"rounds", "N", "federated rounds", "10", 0},                              \
    {"local-epochs", "E", "local epochs per round", "1", 0},                   \
    {"batch", "B", "local batch size", "10", 0},                               \
    {"lr", "X", "local learning rate", "0.05", 0},                             \
    {"momentum", "X", "local SGD momentum", "0", 0},                           \
    {"weight-decay", "X", "local L2 weight decay", "0", 0},                    \
    {"prox-mu", "MU", "FedProx proximal term (0: off)", "0", 0},               \
    {"strategy", "NAME", "fedavg, fedavgm, fedadagrad, fedadam or fedyogi",    \
     "fedavg", 0},                                                             \
    {"server-lr", "X", "server learning rate (0: the strategy's default)",     \
     "0", 0},                                                                  \
    {"server-momentum", "X", "fedavgm's momentum (0: default 0.9)", "0", 0},   \
    {"beta1", "X", "adaptive strategies' beta1 (0: default 0.9)", "0", 0},     \
    {"beta2", "X", "adaptive strategies' beta2 (0: default 0.99)", "0", 0},    \
    {"tau", "X", "adaptive strategies' tau (0: default 1e-3)", "0", 0},        \
    {"aggregator", "SPEC", "mean, median, trimmed:B, krum:F, multikrum:F:M "   \
     "or normbound:M", "mean", 0},                                             \
    {"eval-every", "K", "evaluate on the test set every K rounds", "1", 0}

/* Reads the CLI_FL_OPTS (and --seed) into cfg, after gdn_fl_config_default. */
int cli_fl_config(gdn_fl_config *cfg, cli_opt *opts);

/* Differential privacy's options (simulate and serve). */
#define CLI_DP_OPTS                                                            \
    {"dp", "MODE", "differential privacy: client (DP-FedAvg: clipped updates, " \
     "Gaussian noise on the sum, Poisson sampling at rate --fraction), "       \
     "distributed (with --secagg: each owner adds its share of discrete "      \
     "Gaussian noise before SecAgg+, Kairouz-Liu-Steinke 2021) or, in "        \
     "simulate, sample (DP-SGD in every owner; epsilon is the largest of any " \
     "data owner)", NULL, 0},                                                  \
    {"clip", "S", "DP: L2 bound of each owner's update", "1.0", 0},            \
    {"noise", "Z", "DP: noise multiplier (deviation Z x S on the sum)", "1.0", \
     0},                                                                       \
    {"delta", "D", "DP: the delta of the reported (epsilon, delta)", "1e-5", 0}, \
    {"target-epsilon", "E", "DP: stop before a round would spend more than E", \
     NULL, 0},                                                                 \
    {"clip-quantile", "G", "DP: adapt the clip to this quantile of update "    \
     "norms (Andrew et al. 2021; --clip is then the initial clip)", NULL, 0},  \
    {"clip-lr", "X", "DP: adaptive clipping's learning rate", "0.2", 0},       \
    {"ddg-bits", "B", "distributed DP: SecAgg+ modulus 2^B", "18", 0},         \
    {"ddg-gamma", "G", "distributed DP: grid step (0: chosen so that 6 "       \
     "standard deviations of the aggregate fit the modulus)", "0", 0}
/* Reads them into cfg->dp (and cfg->local for sample-level DP, when
 * allow_sample); nothing without --dp. --target-epsilon is the caller's. */
int cli_dp_config(gdn_fl_config *cfg, cli_opt *opts, int allow_sample);

/* Secure aggregation's options (simulate and serve). */
#define CLI_SECAGG_OPTS                                                        \
    {"secagg", NULL, "secure aggregation (SecAgg+): the coordinator learns "   \
     "only the sum of the cohort's quantized updates", NULL, 0},               \
    {"secagg-k", "K", "SecAgg+ graph degree (default: chosen for the cohort)", \
     NULL, 0},                                                                 \
    {"secagg-threshold", "T", "SecAgg+ threshold of the Shamir sharing",       \
     NULL, 0},                                                                 \
    {"secagg-clip", "C", "SecAgg+: quantization range [-C, C] of a "           \
     "coordinate", "1.0", 0},                                                  \
    {"secagg-levels", "L", "SecAgg+: quantization points", "65536", 0}
/* Reads them into cfg->secagg (nothing unless --secagg). */
int cli_secagg_config(gdn_fl_config *cfg, cli_opt *opts);

/* "HOST:PORT" (or "[v6]:PORT") into host (cap bytes) and port: 0 or -1. */
int cli_parse_host_port(const char *s, char *host, size_t cap, uint16_t *port);
/* 64 hex digits into fp, or a message naming option on stderr and -1. */
int cli_parse_fingerprint(uint8_t fp[32], const char *option, const char *hex);

/* Validated aggregation's options of serve (docs/prio.md). */
#define CLI_PRIO_SERVE_OPTS                                                    \
    {"prio", NULL, "validated aggregation (PINE): owners share each update "   \
     "between this coordinator (the leader) and a helper with a proof that "   \
     "its L2 norm is at most --prio-bound; failing reports are dropped",       \
     NULL, 0},                                                                 \
    {"prio-bound", "B", "PINE: L2 bound of an owner's update (it clips to "    \
     "it)", "2.0", 0},                                                         \
    {"helper", "HOST:PORT", "with --prio: the helper (guardian serve --role "  \
     "helper)", NULL, 0},                                                      \
    {"helper-pin", "FP", "with --prio: the helper's key fingerprint", NULL, 0}, \
    {"helper-key", "DIR", "with --prio: the leader's client credentials for "  \
     "the helper link (a client certificate of the CA; default: --key's "      \
     "DIR/helper-link)", NULL, 0},                                             \
    {"role", "ROLE", "coordinator, or helper: the second aggregator of "       \
     "--prio rounds (needs --listen, --port, --key, --leader-pin)",            \
     "coordinator", 0},                                                        \
    {"leader-pin", "FP", "helper: the only leader (its helper-link key "       \
     "fingerprint) it serves", NULL, 0},                                       \
    {"min-batch", "N", "helper: no aggregate share of fewer accepted reports", \
     "2", 0}

int cli_serve(cli_opt *opts);
extern cli_opt cli_serve_opts[];
int cli_join(cli_opt *opts);
extern cli_opt cli_join_opts[];

#endif
