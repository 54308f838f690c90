/* guardian: one command, one subcommand per role. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

#define GDN_VERSION "0.1.0"

static const cli_cmd commands[] = {
    {"train", "Train a model centrally (the baseline for federations).",
     "[options]", cli_train_opts, cli_train},
    {"simulate", "Simulate a federation: every data owner in this process.",
     "[options]", cli_simulate_opts, cli_simulate},
    {"serve", "Coordinate a federation over the network (mutually authenticated TLS).",
     "--key DIR [--config FILE] [options]", cli_serve_opts, cli_serve},
    {"join", "Take part in a federation as a data owner, with local data.",
     "--server HOST:PORT --key DIR [options]", cli_join_opts, cli_join},
    {"privacy", "Privacy spent (epsilon) by DP-SGD / DP-FedAvg, or the noise for a target.",
     "--q Q (--sigma S | --epsilon E) [--steps N] [--delta D] [options]",
     cli_privacy_opts, cli_privacy},
    {"audit", "Verify a run's ledger: every entry, proof and signature.",
     "--ledger FILE [--key FILE]", cli_audit_opts, cli_audit},
    {"keygen", "Make a party's long-term key pair and certificate request.",
     "--out DIR [options]", cli_keygen_opts, cli_keygen},
    {"ca", "The federation's certificate authority: ca init | sign | revoke | crl.",
     "init|sign|revoke|crl [options]", cli_ca_opts, cli_ca},
    {"policy", "Check a data owner's policy file and explain it in plain words.",
     "check FILE", cli_policy_opts, cli_policy},
};

static void usage(FILE *f)
{
    fprintf(f,
            "guardian " GDN_VERSION " - privacy-preserving federated learning\n\n"
            "usage: guardian COMMAND [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'guardian COMMAND --help' lists a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        if (argc >= 3 && strcmp(argv[1], "help") == 0) {
            for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
                if (strcmp(argv[2], commands[i].name) == 0) {
                    cli_help(&commands[i]);
                    return 0;
                }
        }
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("guardian %s\n", GDN_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "ca") == 0) /* subcommands: init, sign, revoke, crl */
        return cli_ca_main(argc - 2, argv + 2);
    if (strcmp(argv[1], "policy") == 0) /* subcommand: check FILE */
        return cli_policy_main(argc - 2, argv + 2);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        int rc = cli_parse(&commands[i], argc - 2, argv + 2);
        if (rc)
            return rc > 0 ? 0 : 2;
        return commands[i].run(commands[i].opts) ? 1 : 0;
    }
    fprintf(stderr, "guardian: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
