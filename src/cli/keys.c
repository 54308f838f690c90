/* guardian keygen and guardian ca init|sign|revoke|crl: the identities of a
 * federation (docs/identities.md). `ca` has subcommands, so main.c hands it
 * the arguments after "ca" (cli_ca_main). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "guardian/net.h"

cli_opt cli_keygen_opts[] = {
    {"out", "DIR", "the party's directory: key.pem (secret), csr.pem", NULL, 0},
    {"name", "NAME", "a name for people, the certificate's CN (default: DIR's last "
                     "component)", NULL, 0},
    {"force", NULL, "replace a key that is already there", NULL, 0},
    {NULL, NULL, NULL, NULL, 0},
};

cli_opt cli_ca_opts[] = {
    {NULL, NULL, NULL, NULL, 0},
};

static cli_opt ca_init_opts[] = {
    {"out", "DIR", "the CA's directory: ca-key.pem (secret), ca.pem, crl.pem", NULL, 0},
    {"name", "NAME", "the CA certificate's CN", "Guardian federation CA", 0},
    {"days", "N", "validity of the CA certificate", "3650", 0},
    {"force", NULL, "replace a CA that is already there (its certificates stop working)",
     NULL, 0},
    {NULL, NULL, NULL, NULL, 0},
};

static cli_opt ca_sign_opts[] = {
    {"ca", "DIR", "the CA's directory (from guardian ca init)", NULL, 0},
    {"in", "PARTY_DIR", "the party's directory (from guardian keygen): reads csr.pem, "
                        "writes cert.pem and ca.pem", NULL, 0},
    {"days", "N", "validity of the certificate", "365", 0},
    {"server", NULL, "a coordinator's certificate (TLS server, names localhost, "
                     "127.0.0.1 and --host)", NULL, 0},
    {"client", NULL, "a data owner's certificate (TLS client; the default)", NULL, 0},
    {"host", "NAMES", "servers: more DNS names or IP addresses, comma-separated", NULL, 0},
    {NULL, NULL, NULL, NULL, 0},
};

static cli_opt ca_revoke_opts[] = {
    {"ca", "DIR", "the CA's directory; its crl.pem is re-signed", NULL, 0},
    {"cert", "FILE", "the certificate to revoke (a party's cert.pem)", NULL, 0},
    {"days", "N", "validity of the new CRL (re-issue it before then)", "365", 0},
    {NULL, NULL, NULL, NULL, 0},
};

static cli_opt ca_crl_opts[] = {
    {"ca", "DIR", "the CA's directory; its crl.pem is re-signed with fresh dates", NULL, 0},
    {"days", "N", "validity of the new CRL", "365", 0},
    {NULL, NULL, NULL, NULL, 0},
};

static int required(const char *cmd, const cli_opt *opts, const char *name)
{
    if (cli_str(opts, name))
        return 0;
    fprintf(stderr, "guardian %s: --%s is required (see --help)\n", cmd, name);
    return GDN_EINVAL;
}

static void print_fingerprint(const uint8_t fp[GDN_NET_FINGERPRINT_BYTES])
{
    char hex[GDN_NET_FINGERPRINT_HEX_BYTES];

    gdn_net_fingerprint_hex(hex, fp);
    printf("fingerprint: %s\n", hex);
}

/* The last path component of dir, when it makes a valid name. */
static void default_name(char *out, size_t cap, const char *dir)
{
    size_t len = strlen(dir), start;

    while (len > 1 && dir[len - 1] == '/')
        len--;
    start = len;
    while (start > 0 && dir[start - 1] != '/')
        start--;
    if (len - start == 0 || len - start > GDN_NET_NAME_MAX || len - start >= cap ||
        strncmp(dir + start, ".", len - start) == 0 || strncmp(dir + start, "..", len - start) == 0)
        snprintf(out, cap, "guardian-party");
    else
        snprintf(out, cap, "%.*s", (int)(len - start), dir + start);
}

int cli_keygen(cli_opt *opts)
{
    const char *dir = cli_str(opts, "out"), *name = cli_str(opts, "name");
    uint8_t fp[GDN_NET_FINGERPRINT_BYTES];
    char dflt[GDN_NET_NAME_MAX + 1];
    int rc;

    if ((rc = required("keygen", opts, "out")))
        return rc;
    if (!name) {
        default_name(dflt, sizeof dflt, dir);
        name = dflt;
    }
    if ((rc = gdn_net_keygen(fp, dir, name, cli_flag(opts, "force"))))
        return cli_fail("keygen", rc);
    printf("key:         %s/key.pem (secret: stays on this machine)\n", dir);
    printf("request:     %s/csr.pem (CN=%s: for the federation's CA to sign)\n", dir, name);
    print_fingerprint(fp);
    return 0;
}

static int ca_init(cli_opt *opts)
{
    const char *dir = cli_str(opts, "out");
    gdn_net_cert_info info;
    char path[4200];
    long days;
    int rc;

    if ((rc = required("ca init", opts, "out")) || cli_long(opts, "days", 1, 36500, &days))
        return GDN_EINVAL;
    if ((rc = gdn_net_ca_init(dir, cli_str(opts, "name"), (int)days, cli_flag(opts, "force"))))
        return cli_fail("ca init", rc);
    snprintf(path, sizeof path, "%s/ca.pem", dir);
    if ((rc = gdn_net_cert_info_read(&info, path)))
        return cli_fail("ca init", rc);
    printf("CA:          %s (%s, valid until %s)\n", path, info.subject, info.not_after);
    printf("key:         %s/ca-key.pem (secret: keep it offline)\n", dir);
    printf("CRL:         %s/crl.pem (empty)\n", dir);
    print_fingerprint(info.fingerprint);
    return 0;
}

static int ca_sign(cli_opt *opts)
{
    gdn_net_sign_opts so = {0};
    gdn_net_cert_info info;
    long days;
    int rc;

    if ((rc = required("ca sign", opts, "ca")) || (rc = required("ca sign", opts, "in")) ||
        cli_long(opts, "days", 1, 36500, &days))
        return GDN_EINVAL;
    if (cli_flag(opts, "server") && cli_flag(opts, "client")) {
        fprintf(stderr, "guardian ca sign: --server or --client, not both\n");
        return GDN_EINVAL;
    }
    so.days = (int)days;
    so.server = cli_flag(opts, "server");
    so.hosts = cli_str(opts, "host");
    if ((rc = gdn_net_ca_sign(&info, cli_str(opts, "ca"), cli_str(opts, "in"), &so)))
        return cli_fail("ca sign", rc);
    printf("certificate: %s/cert.pem (%s, %s, serial %s, valid until %s)\n",
           cli_str(opts, "in"), info.server ? "server" : "client", info.subject, info.serial,
           info.not_after);
    print_fingerprint(info.fingerprint);
    return 0;
}

static int ca_revoke(cli_opt *opts)
{
    gdn_net_cert_info info;
    size_t entries = 0;
    long days;
    int rc;

    if ((rc = required("ca revoke", opts, "ca")) || (rc = required("ca revoke", opts, "cert")) ||
        cli_long(opts, "days", 1, 36500, &days))
        return GDN_EINVAL;
    if ((rc = gdn_net_ca_revoke(&info, &entries, cli_str(opts, "ca"), cli_str(opts, "cert"),
                                (int)days)))
        return cli_fail("ca revoke", rc);
    printf("revoked:     serial %s (%s)\n", info.serial, info.subject);
    print_fingerprint(info.fingerprint);
    printf("CRL:         %s/crl.pem (%zu %s): copy it to the coordinator\n",
           cli_str(opts, "ca"), entries, entries == 1 ? "entry" : "entries");
    return 0;
}

static int ca_crl(cli_opt *opts)
{
    size_t entries = 0;
    long days;
    int rc;

    if ((rc = required("ca crl", opts, "ca")) || cli_long(opts, "days", 1, 36500, &days))
        return GDN_EINVAL;
    if ((rc = gdn_net_ca_revoke(NULL, &entries, cli_str(opts, "ca"), NULL, (int)days)))
        return cli_fail("ca crl", rc);
    printf("CRL:         %s/crl.pem (%zu %s, valid %ld days)\n", cli_str(opts, "ca"), entries,
           entries == 1 ? "entry" : "entries", days);
    return 0;
}

static const cli_cmd ca_commands[] = {
    {"ca init", "Make the federation's CA: an Ed25519 key, a self-signed CA certificate "
                "and an empty revocation list.",
     "--out DIR [options]", ca_init_opts, ca_init},
    {"ca sign", "Sign a party's certificate request into its certificate.",
     "--ca DIR --in PARTY_DIR [--server [--host NAMES] | --client] [options]", ca_sign_opts,
     ca_sign},
    {"ca revoke", "Revoke a certificate: add it to the CA's revocation list.",
     "--ca DIR --cert FILE [options]", ca_revoke_opts, ca_revoke},
    {"ca crl", "Re-issue the revocation list with fresh dates (before it expires).",
     "--ca DIR [options]", ca_crl_opts, ca_crl},
};

static void ca_usage(FILE *f)
{
    fprintf(f, "usage: guardian ca SUBCOMMAND [options]\n\nsubcommands:\n");
    for (size_t i = 0; i < sizeof ca_commands / sizeof ca_commands[0]; i++)
        fprintf(f, "  %-8s %s\n", ca_commands[i].name + 3, ca_commands[i].summary);
    fprintf(f, "\n'guardian ca SUBCOMMAND --help' lists its options.\n");
}

int cli_ca(cli_opt *opts)
{
    (void)opts;
    ca_usage(stderr);
    return GDN_EINVAL;
}

int cli_ca_main(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        ca_usage(argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof ca_commands / sizeof ca_commands[0]; i++) {
        const cli_cmd *cmd = &ca_commands[i];
        int rc;
        if (strcmp(argv[0], cmd->name + 3) != 0)
            continue;
        rc = cli_parse(cmd, argc - 1, argv + 1);
        if (rc)
            return rc > 0 ? 0 : 2;
        return cmd->run(cmd->opts) ? 1 : 0;
    }
    fprintf(stderr, "guardian ca: unknown subcommand '%s'\n\n", argv[0]);
    ca_usage(stderr);
    return 2;
}
