/* Option parsing and data loading shared by the subcommands. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli/cli.h"

volatile int cli_interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    if (cli_interrupted)
        _Exit(130); /* second Ctrl-C: stop now */
    cli_interrupted = 1;
}

void cli_catch_sigint(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void cli_help(const cli_cmd *cmd)
{
    printf("usage: guardian %s %s\n\n%s\n\noptions:\n", cmd->name, cmd->usage,
           cmd->summary);
    for (const cli_opt *o = cmd->opts; o->name; o++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->metavar ? " " : "",
                 o->metavar ? o->metavar : "");
        printf("  %-24s %s", left, o->help);
        if (o->value && o->metavar)
            printf(" (default: %s)", o->value);
        printf("\n");
    }
    printf("  %-24s %s\n", "--help", "show this help");
}

static cli_opt *find(cli_opt *opts, const char *name, size_t len)
{
    for (cli_opt *o = opts; o->name; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o;
    return NULL;
}

int cli_parse(const cli_cmd *cmd, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *eq;
        cli_opt *o;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cli_help(cmd);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "guardian %s: unexpected argument '%s' (see --help)\n",
                    cmd->name, a);
            return -1;
        }
        a += 2;
        eq = strchr(a, '=');
        o = find(cmd->opts, a, eq ? (size_t)(eq - a) : strlen(a));
        if (!o) {
            fprintf(stderr, "guardian %s: unknown option '%s' (see --help)\n",
                    cmd->name, argv[i]);
            return -1;
        }
        o->given = 1;
        if (!o->metavar) {
            if (eq) {
                fprintf(stderr, "guardian %s: --%s takes no value\n", cmd->name,
                        o->name);
                return -1;
            }
            o->value = "1";
        } else if (eq) {
            o->value = eq + 1;
        } else if (i + 1 < argc) {
            o->value = argv[++i];
        } else {
            fprintf(stderr, "guardian %s: --%s needs a value (%s)\n", cmd->name,
                    o->name, o->metavar);
            return -1;
        }
    }
    return 0;
}

/* The config file applied by cli_apply_config, and the lists it joined:
 * options point into both until cli_config_release. */
static gdn_config *config_file;
static char **config_joined;
static size_t config_njoined;

void cli_config_release(void)
{
    for (size_t i = 0; i < config_njoined; i++)
        free(config_joined[i]);
    free(config_joined);
    config_joined = NULL;
    config_njoined = 0;
    gdn_config_free(config_file);
    config_file = NULL;
}

static int config_error(const cli_cmd *cmd, const gdn_config *c, size_t i,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int config_error(const cli_cmd *cmd, const gdn_config *c, size_t i,
                        const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "guardian %s: %s:%u: ", cmd->name, gdn_config_name(c),
            gdn_config_line(c, i));
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return -1;
}

/* The end of the entries of the key of entry i: a list's items are adjacent
 * and no key appears twice (gdn_config refuses that). */
static size_t config_key_end(const gdn_config *c, size_t i)
{
    size_t end = i + 1;

    while (end < gdn_config_count(c) &&
           strcmp(gdn_config_key(c, end), gdn_config_key(c, i)) == 0)
        end++;
    return end;
}

/* Entries [i, end) hold one option's value or list: may they set it? */
static int config_check(const cli_cmd *cmd, const gdn_config *c, size_t i,
                        size_t end)
{
    const char *key = gdn_config_key(c, i), *v = gdn_config_value(c, i);
    const cli_opt *o = find(cmd->opts, key, strlen(key));

    if (strcmp(key, "config") == 0)
        return config_error(cmd, c, i, "'config' cannot be set in a config file");
    if (!o)
        return config_error(cmd, c, i, "unknown option '%s' (see guardian %s --help)",
                            key, cmd->name);
    if (!o->metavar && end - i > 1)
        return config_error(cmd, c, i, "'%s' is a flag: expected true or false, "
                                       "not a list", key);
    if (!o->metavar && strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
        return config_error(cmd, c, i, "'%s' is a flag: expected true or false, "
                                       "not '%.64s'", key, v);
    for (size_t k = i; end - i > 1 && k < end; k++)
        if (strchr(gdn_config_value(c, k), ','))
            return config_error(cmd, c, k, "an item of '%s' holds a ',' (the "
                                           "items are joined with ',')", key);
    return 0;
}

/* The items of entries [i, end) joined with ','. */
static char *config_join(const gdn_config *c, size_t i, size_t end)
{
    size_t len = 0, at = 0;
    char *s;

    for (size_t k = i; k < end; k++)
        len += strlen(gdn_config_value(c, k)) + 1;
    if (!(s = malloc(len)))
        return NULL;
    for (size_t k = i; k < end; k++) {
        size_t n = strlen(gdn_config_value(c, k));
        memcpy(s + at, gdn_config_value(c, k), n);
        at += n;
        s[at++] = k + 1 < end ? ',' : '\0';
    }
    return s;
}

int cli_apply_config(const cli_cmd *cmd, const char *path)
{
    gdn_config *c;
    size_t n, i, end;
    int rc;

    if (config_file) {
        fprintf(stderr, "guardian %s: %s: a config file is already applied\n",
                cmd->name, path);
        return -1;
    }
    if ((rc = gdn_config_read(&c, path))) {
        fprintf(stderr, "guardian %s: %s\n", cmd->name,
                *gdn_errmsg() ? gdn_errmsg() : gdn_strerror(rc));
        return -1;
    }
    n = gdn_config_count(c);
    for (i = 0; i < n; i = end) { /* every entry is checked before any is used */
        end = config_key_end(c, i);
        if (config_check(cmd, c, i, end)) {
            gdn_config_free(c);
            return -1;
        }
    }
    config_file = c;
    if (n && !(config_joined = calloc(n, sizeof *config_joined))) {
        fprintf(stderr, "guardian %s: %s: out of memory\n", cmd->name, path);
        return -1;
    }
    for (i = 0; i < n; i = end) {
        const char *key = gdn_config_key(c, i), *v = gdn_config_value(c, i);
        cli_opt *o = find(cmd->opts, key, strlen(key));
        end = config_key_end(c, i);
        if (o->given)
            continue;
        if (!o->metavar) {
            if (strcmp(v, "true") == 0)
                o->value = "1";
        } else if (end - i == 1) {
            o->value = v;
        } else {
            char *joined = config_join(c, i, end);
            if (!joined) {
                fprintf(stderr, "guardian %s: %s: out of memory\n", cmd->name, path);
                return -1;
            }
            config_joined[config_njoined++] = joined;
            o->value = joined;
        }
    }
    return 0;
}

const char *cli_str(const cli_opt *opts, const char *name)
{
    for (const cli_opt *o = opts; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o->value;
    return NULL;
}

int cli_flag(const cli_opt *opts, const char *name)
{
    return cli_str(opts, name) != NULL;
}

int cli_long(const cli_opt *opts, const char *name, long lo, long hi, long *out)
{
    const char *s = cli_str(opts, name);
    char *end;
    long v;

    if (!s)
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "guardian: --%s %s: expected an integer from %ld to %ld\n",
                name, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_double(const cli_opt *opts, const char *name, double lo, double hi,
               double *out)
{
    const char *s = cli_str(opts, name);
    char *end;
    double v;

    if (!s)
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "guardian: --%s %s: expected a number from %g to %g\n",
                name, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_fail(const char *what, int rc)
{
    const char *d = gdn_errmsg();

    fprintf(stderr, "guardian: %s: %s\n", what, *d ? d : gdn_strerror(rc));
    return rc;
}

/* csv:PATH[:label=COLUMN] */
static int load_csv(const cli_opt *opts, const char *spec, gdn_dataset *train,
                    gdn_dataset *test, uint64_t seed)
{
    char path[4096];
    const char *label = NULL, *colon = strstr(spec, ":label=");
    size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
    gdn_dataset all = {0};
    double frac;
    gdn_rng rng;
    int rc;

    if (len == 0 || len >= sizeof path) {
        fprintf(stderr, "guardian: --data csv:PATH: bad path\n");
        return GDN_EINVAL;
    }
    memcpy(path, spec, len);
    path[len] = '\0';
    if (colon)
        label = colon + strlen(":label=");
    if (cli_double(opts, "test-fraction", 0.0, 0.9, &frac))
        return GDN_EINVAL;
    if ((rc = gdn_data_load_csv(&all, path, label)))
        return cli_fail("loading data", rc);
    gdn_rng_init_seed(&rng, seed ^ 0x5eed5eedULL);
    rc = gdn_data_split(train, test, &all, frac, &rng);
    gdn_dataset_free(&all);
    if (rc)
        return cli_fail("splitting data", rc);
    if (cli_flag(opts, "standardize"))
        gdn_data_standardize(train, test);
    return 0;
}

int cli_load_data(const cli_opt *opts, gdn_dataset *train, gdn_dataset *test)
{
    const char *src = cli_str(opts, "data");
    long seed, limit;
    int rc;

    if (cli_long(opts, "seed", 0, 0x7fffffffL, &seed))
        return GDN_EINVAL;
    if (strcmp(src, "fashion-mnist") == 0) {
        if ((rc = gdn_data_load_fashion_mnist(train, test, NULL)))
            return cli_fail("loading Fashion-MNIST", rc);
    } else if (strncmp(src, "csv:", 4) == 0) {
        if ((rc = load_csv(opts, src + 4, train, test, (uint64_t)seed)))
            return rc;
    } else {
        fprintf(stderr, "guardian: --data %s: expected fashion-mnist or "
                        "csv:PATH[:label=COLUMN]\n", src);
        return GDN_EINVAL;
    }
    if (cli_str(opts, "limit")) {
        if (cli_long(opts, "limit", 1, 0x7fffffffL, &limit)) {
            gdn_dataset_free(train);
            gdn_dataset_free(test);
            return GDN_EINVAL;
        }
        if ((size_t)limit < train->n)
            train->n = (size_t)limit;
    }
    fprintf(stderr, "data: %zu training and %zu test examples, %zux%zux%zu, %d classes\n",
            train->n, test->n, train->channels, train->height, train->width,
            train->classes);
    return 0;
}

const char *cli_model_spec(const cli_opt *opts, const gdn_dataset *train)
{
    const char *spec = cli_str(opts, "model");

    return spec ? spec : train->height > 1 ? "cnn" : "logreg";
}

int cli_write_config(const char *dir, const char *command, const cli_opt *opts)
{
    char path[4200];
    gdn_buf b = {0};
    int rc = gdn_buf_printf(&b, "{\n  \"command\": \"%s\"", command);

    for (const cli_opt *o = opts; o->name && !rc; o++) {
        if (!o->value)
            continue;
        rc = gdn_buf_printf(&b, ",\n  \"%s\": ", o->name);
        if (!rc)
            rc = gdn_json_write_string(&b, o->value);
    }
    if (!rc)
        rc = gdn_buf_printf(&b, "\n}\n");
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (!rc)
        rc = gdn_file_write_atomic(path, b.data, b.len);
    gdn_buf_free(&b);
    return rc;
}

int cli_parse_host_port(const char *s, char *host, size_t cap, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    char *end;
    unsigned long p;
    size_t len;

    if (!colon || colon == s)
        return -1;
    p = strtoul(colon + 1, &end, 10);
    if (*end || p == 0 || p > 65535)
        return -1;
    len = (size_t)(colon - s);
    if (s[0] == '[' && colon[-1] == ']') /* [::1]:7800 */
        s++, len -= 2;
    if (len + 1 > cap)
        return -1;
    memcpy(host, s, len);
    host[len] = '\0';
    *port = (uint16_t)p;
    return 0;
}

int cli_parse_fingerprint(uint8_t fp[32], const char *option, const char *hex)
{
    size_t bin = 0;

    if (!hex || strlen(hex) != 64 || sodium_hex2bin(fp, 32, hex, 64, NULL, &bin, NULL) != 0 ||
        bin != 32) {
        fprintf(stderr, "guardian: --%s: expected 64 hex digits (a key fingerprint)\n", option);
        return -1;
    }
    return 0;
}
