/* guardian policy check FILE: validates a data owner's policy and explains
 * it in plain words, one line per rule (docs/policy.md). `policy` has a
 * subcommand and a file argument, so main.c hands it the arguments after
 * "policy" (cli_policy_main). Exit codes: 0 valid, 1 invalid, 2 usage. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "guardian/policy.h"

cli_opt cli_policy_opts[] = {
    {NULL, NULL, NULL, NULL, 0},
};

static void policy_usage(FILE *f)
{
    fprintf(f, "usage: guardian policy check FILE\n\n"
               "Validates the data owner's policy FILE (JSON, docs/policy.md) and\n"
               "explains it in plain words, one line per rule. Exit status: 0 when\n"
               "the policy is valid, 1 when it is not (the error names the file,\n"
               "line:column and field), 2 on a usage error.\n");
}

static int policy_check(const char *path)
{
    gdn_policy *pol = NULL;
    gdn_buf words = {0};
    int rc;

    if ((rc = gdn_policy_load(&pol, path))) {
        fprintf(stderr, "guardian policy: %s\n", gdn_errmsg());
        return 1;
    }
    if ((rc = gdn_policy_describe(&words, pol))) {
        gdn_policy_free(pol);
        gdn_buf_free(&words);
        cli_fail("describing the policy", rc);
        return 1;
    }
    printf("%s: valid policy\n%.*s", path, (int)words.len, (const char *)words.data);
    gdn_policy_free(pol);
    gdn_buf_free(&words);
    return 0;
}

int cli_policy(cli_opt *opts)
{
    (void)opts;
    policy_usage(stderr);
    return GDN_EINVAL;
}

int cli_policy_main(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        policy_usage(argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    if (strcmp(argv[0], "check") != 0) {
        fprintf(stderr, "guardian policy: unknown subcommand '%s'\n\n", argv[0]);
        policy_usage(stderr);
        return 2;
    }
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        policy_usage(stdout);
        return 0;
    }
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "guardian policy check: expected one policy FILE%s%s%s\n\n",
                argc > 1 ? ", got '" : "", argc > 1 ? argv[1] : "", argc > 1 ? "'" : "");
        policy_usage(stderr);
        return 2;
    }
    return policy_check(argv[1]);
}
