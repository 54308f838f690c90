/* Data-owner policies: strict parsing of the JSON file, the plain-words
 * description and the check of a proposed round (docs/policy.md). Static
 * helpers first, public functions at the bottom. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guardian/dp.h"
#include "guardian/policy.h"

enum {
    RULE_COORDINATORS = 1u << 0,
    RULE_BUDGET = 1u << 1,
    RULE_MIN_COHORT = 1u << 2,
    RULE_REQUIRE = 1u << 3,
    RULE_MODELS = 1u << 4,
    RULE_MAX_ROUNDS = 1u << 5
};

#define REQUIRE_ENTRY_MAX 64 /* bytes of one require entry ("secagg|he|prio3") */

struct gdn_policy {
    unsigned set; /* RULE_* bits of the rules the file sets */
    uint8_t coordinators[GDN_POLICY_MAX_COORDINATORS][GDN_POLICY_FINGERPRINT_BYTES];
    size_t ncoordinators;
    double eps, delta;
    uint64_t min_cohort;
    uint32_t require[GDN_POLICY_MAX_REQUIRE]; /* each: any of these layers */
    size_t nrequire;
    char models[GDN_POLICY_MAX_MODELS][GDN_POLICY_MAX_MODEL_NAME + 1];
    size_t nmodels;
    uint64_t max_rounds;
};

static const struct {
    const char *key;
    uint32_t bit;
    const char *words;
} layers[] = {
    {"tls", GDN_POLICY_TLS, "TLS"},
    {"secagg", GDN_POLICY_SECAGG, "secure aggregation"},
    {"dp", GDN_POLICY_DP, "differential privacy"},
    {"he", GDN_POLICY_HE, "homomorphic encryption"},
    {"prio3", GDN_POLICY_PRIO3, "Prio3"},
};
#define NLAYERS (sizeof layers / sizeof layers[0])

/* ---- Error details ------------------------------------------------------ */

typedef struct ctx {
    const char *name, *text;
    size_t len;
} ctx;

/* 1-based line and column (in bytes) of a byte offset. */
static void line_col(const ctx *c, size_t off, size_t *line, size_t *col)
{
    size_t start = 0;

    *line = 1;
    if (off > c->len)
        off = c->len;
    for (size_t i = 0; i < off; i++)
        if (c->text[i] == '\n') {
            (*line)++;
            start = i + 1;
        }
    *col = off - start + 1;
}

/* "<name>:<line>:<col>: <field>: <detail>", at the value v. */
static int fail(const ctx *c, const gdn_json *v, int code, const char *field,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int fail(const ctx *c, const gdn_json *v, int code, const char *field,
                const char *fmt, ...)
{
    char detail[384];
    size_t line, col;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    line_col(c, v ? gdn_json_offset(v) : 0, &line, &col);
    return gdn_error(code, "%s:%zu:%zu: %s: %s", c->name, line, col, field, detail);
}

/* The JSON parser says "<name>: offset N: ..."; files are read by lines, so
 * say "<name>:<line>:<col>: ..." instead. */
static int json_failed(const ctx *c, int rc)
{
    char msg[512], prefix[300];
    const char *rest;
    char *end;
    unsigned long long off;
    size_t line, col, n;

    snprintf(msg, sizeof msg, "%s", gdn_errmsg());
    n = (size_t)snprintf(prefix, sizeof prefix, "%s: offset ", c->name);
    if (n >= sizeof prefix || strncmp(msg, prefix, n) != 0)
        return rc;
    off = strtoull(msg + n, &end, 10);
    if (end == msg + n || strncmp(end, ": ", 2) != 0)
        return rc;
    rest = end + 2;
    line_col(c, (size_t)off, &line, &col);
    return gdn_error(rc, "%s:%zu:%zu: %s (byte offset %llu)", c->name, line, col,
                     rest, off);
}

/* Copies s (at most 64 bytes of it) for a message: bytes outside printable
 * ASCII become '?', so nothing a file or a coordinator sends can forge lines. */
static void clean(char *dst, size_t cap, const char *s)
{
    size_t i = 0;

    for (; s && s[i] && i < 64 && i + 4 < cap; i++)
        dst[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    if (s && s[i] && i + 4 < cap) {
        memcpy(dst + i, "...", 3);
        i += 3;
    }
    dst[i] = '\0';
}

static const char *kind_words(gdn_json_kind kind)
{
    static const char *const names[] = {"null",     "a boolean", "a number",
                                        "a string", "an array",  "an object"};
    return names[kind];
}

static int want(const ctx *c, const gdn_json *v, gdn_json_kind kind, const char *field)
{
    if (gdn_json_type(v) == kind)
        return 0;
    return fail(c, v, GDN_EFORMAT, field, "expected %s, got %s", kind_words(kind),
                kind_words(gdn_json_type(v)));
}

/* A whole number in [lo, hi] written as a plain integer. */
static int get_uint(uint64_t *out, const ctx *c, const gdn_json *v, const char *field,
                    uint64_t lo, uint64_t hi)
{
    double d;
    int rc;

    if ((rc = want(c, v, GDN_JSON_NUMBER, field)))
        return rc;
    if (gdn_json_uint(v, out) != 0 || *out < lo || *out > hi) {
        gdn_json_number(v, &d);
        return fail(c, v, GDN_ERANGE, field,
                    "must be a whole number from %" PRIu64 " to %" PRIu64 ", got %g",
                    lo, hi, d);
    }
    gdn_error_clear();
    return 0;
}

/* A list of 1..max entries. */
static int get_list(const ctx *c, const gdn_json *v, const char *field, size_t max)
{
    int rc;

    if ((rc = want(c, v, GDN_JSON_ARRAY, field)))
        return rc;
    if (gdn_json_len(v) == 0)
        return fail(c, v, GDN_ERANGE, field,
                    "empty list (leave the key out when there is no such rule)");
    if (gdn_json_len(v) > max)
        return fail(c, v, GDN_ERANGE, field, "%zu entries, at most %zu allowed",
                    gdn_json_len(v), max);
    return 0;
}

/* ---- The fields --------------------------------------------------------- */

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static int parse_coordinators(gdn_policy *p, const ctx *c, const gdn_json *v)
{
    const char *field = "trusted_coordinators";
    int rc;

    if ((rc = get_list(c, v, field, GDN_POLICY_MAX_COORDINATORS)))
        return rc;
    for (size_t i = 0; i < gdn_json_len(v); i++) {
        const gdn_json *e = gdn_json_at(v, i);
        uint8_t *fp = p->coordinators[i];
        char f[64];
        const char *s;
        size_t len;

        snprintf(f, sizeof f, "%s[%zu]", field, i);
        if ((rc = want(c, e, GDN_JSON_STRING, f)))
            return rc;
        s = gdn_json_string(e, &len);
        if (len != 2 * GDN_POLICY_FINGERPRINT_BYTES)
            return fail(c, e, GDN_EFORMAT, f,
                        "expected 64 hex digits (a SHA-256 key fingerprint), got %zu "
                        "characters", len);
        for (size_t k = 0; k < len; k++)
            if (hex_value(s[k]) < 0)
                return fail(c, e, GDN_EFORMAT, f,
                            "expected 64 hex digits (a SHA-256 key fingerprint), "
                            "character %zu is not a hex digit", k + 1);
        for (size_t k = 0; k < GDN_POLICY_FINGERPRINT_BYTES; k++)
            fp[k] = (uint8_t)(hex_value(s[2 * k]) << 4 | hex_value(s[2 * k + 1]));
        for (size_t k = 0; k < i; k++)
            if (memcmp(p->coordinators[k], fp, GDN_POLICY_FINGERPRINT_BYTES) == 0)
                return fail(c, e, GDN_EFORMAT, f, "the same fingerprint as entry %zu",
                            k);
    }
    p->ncoordinators = gdn_json_len(v);
    return 0;
}

static int parse_budget(gdn_policy *p, const ctx *c, const gdn_json *v)
{
    const gdn_json *e, *d;
    int rc;

    if ((rc = want(c, v, GDN_JSON_OBJECT, "budget")))
        return rc;
    for (size_t i = 0; i < gdn_json_len(v); i++) {
        const char *key = gdn_json_key(v, i);
        char k[80];
        if (strcmp(key, "epsilon") == 0 || strcmp(key, "delta") == 0)
            continue;
        clean(k, sizeof k, key);
        return fail(c, gdn_json_at(v, i), GDN_EFORMAT, "budget",
                    "unknown key \"%s\" (known: epsilon, delta)", k);
    }
    if (!(e = gdn_json_get(v, "epsilon")))
        return fail(c, v, GDN_EFORMAT, "budget.epsilon", "missing");
    if (!(d = gdn_json_get(v, "delta")))
        return fail(c, v, GDN_EFORMAT, "budget.delta", "missing");
    if ((rc = want(c, e, GDN_JSON_NUMBER, "budget.epsilon")) ||
        (rc = want(c, d, GDN_JSON_NUMBER, "budget.delta")))
        return rc;
    gdn_json_number(e, &p->eps);
    gdn_json_number(d, &p->delta);
    if (!(p->eps > 0) || !isfinite(p->eps))
        return fail(c, e, GDN_ERANGE, "budget.epsilon", "must be > 0, got %g", p->eps);
    if (!(p->delta > 0 && p->delta < 1))
        return fail(c, d, GDN_ERANGE, "budget.delta", "must be in (0, 1), got %g",
                    p->delta);
    return 0;
}

/* "tls", or alternatives "secagg|he|prio3": a mask of which any one must be on. */
static int parse_require_entry(uint32_t *mask, const ctx *c, const gdn_json *e,
                               const char *f)
{
    const char *s;
    size_t len;
    int rc;

    if ((rc = want(c, e, GDN_JSON_STRING, f)))
        return rc;
    s = gdn_json_string(e, &len);
    if (len > REQUIRE_ENTRY_MAX)
        return fail(c, e, GDN_ERANGE, f, "%zu bytes, at most %d allowed", len,
                    REQUIRE_ENTRY_MAX);
    *mask = 0;
    for (size_t at = 0, end; at <= len; at = end + 1) {
        const char *t = s + at, *bar = memchr(t, '|', len - at);
        size_t n, k;
        end = bar ? (size_t)(bar - s) : len;
        n = end - at;
        for (k = 0; k < NLAYERS; k++)
            if (strlen(layers[k].key) == n && memcmp(layers[k].key, t, n) == 0)
                break;
        if (k == NLAYERS) {
            char raw[72], word[80];
            /* t[0, n) is not NUL-terminated: copy it first. */
            snprintf(raw, sizeof raw, "%.*s", (int)(n < 64 ? n : 64), t);
            clean(word, sizeof word, raw);
            return fail(c, e, GDN_EFORMAT, f,
                        "unknown layer \"%s\" (known: tls, secagg, dp, he, prio3; "
                        "alternatives as \"secagg|he|prio3\")", word);
        }
        if (*mask & layers[k].bit)
            return fail(c, e, GDN_EFORMAT, f, "layer \"%s\" named twice", layers[k].key);
        *mask |= layers[k].bit;
    }
    return 0;
}

static int parse_require(gdn_policy *p, const ctx *c, const gdn_json *v)
{
    int rc;

    if ((rc = get_list(c, v, "require", GDN_POLICY_MAX_REQUIRE)))
        return rc;
    for (size_t i = 0; i < gdn_json_len(v); i++) {
        char f[48];
        snprintf(f, sizeof f, "require[%zu]", i);
        if ((rc = parse_require_entry(&p->require[i], c, gdn_json_at(v, i), f)))
            return rc;
    }
    p->nrequire = gdn_json_len(v);
    return 0;
}

static int parse_models(gdn_policy *p, const ctx *c, const gdn_json *v)
{
    int rc;

    if ((rc = get_list(c, v, "allowed_models", GDN_POLICY_MAX_MODELS)))
        return rc;
    for (size_t i = 0; i < gdn_json_len(v); i++) {
        const gdn_json *e = gdn_json_at(v, i);
        const char *s, *star;
        size_t len;
        char f[48];

        snprintf(f, sizeof f, "allowed_models[%zu]", i);
        if ((rc = want(c, e, GDN_JSON_STRING, f)))
            return rc;
        s = gdn_json_string(e, &len);
        if (len == 0 || len > GDN_POLICY_MAX_MODEL_NAME)
            return fail(c, e, GDN_ERANGE, f, "%zu bytes, expected 1 to %d", len,
                        GDN_POLICY_MAX_MODEL_NAME);
        for (size_t k = 0; k < len; k++)
            if (s[k] <= 0x20 || s[k] >= 0x7f)
                return fail(c, e, GDN_EFORMAT, f,
                            "character %zu is not printable ASCII (model specs are "
                            "like \"cnn\" or \"mlp:*\")", k + 1);
        star = strchr(s, '*');
        if (star && star != s + len - 1)
            return fail(c, e, GDN_EFORMAT, f,
                        "'*' may only end an entry (a prefix, as \"mlp:*\")");
        memcpy(p->models[i], s, len + 1);
    }
    p->nmodels = gdn_json_len(v);
    return 0;
}

static int parse_min_cohort(gdn_policy *p, const ctx *c, const gdn_json *v)
{
    return get_uint(&p->min_cohort, c, v, "min_cohort", 1, GDN_POLICY_MAX_COHORT);
}

static int parse_max_rounds(gdn_policy *p, const ctx *c, const gdn_json *v)
{
    return get_uint(&p->max_rounds, c, v, "max_rounds_per_day", 1,
                    GDN_POLICY_MAX_ROUNDS);
}

static const struct {
    const char *key;
    unsigned rule; /* 0: version */
    int (*parse)(gdn_policy *p, const ctx *c, const gdn_json *v);
} fields[] = {
    {"version", 0, NULL},
    {"trusted_coordinators", RULE_COORDINATORS, parse_coordinators},
    {"budget", RULE_BUDGET, parse_budget},
    {"min_cohort", RULE_MIN_COHORT, parse_min_cohort},
    {"require", RULE_REQUIRE, parse_require},
    {"allowed_models", RULE_MODELS, parse_models},
    {"max_rounds_per_day", RULE_MAX_ROUNDS, parse_max_rounds},
};
#define NFIELDS (sizeof fields / sizeof fields[0])

static int parse_root(gdn_policy *p, const ctx *c, const gdn_json *root)
{
    const gdn_json *ver;
    uint64_t version;
    int rc;

    if ((rc = want(c, root, GDN_JSON_OBJECT, "policy")))
        return rc;
    if (!(ver = gdn_json_get(root, "version")))
        return fail(c, root, GDN_EFORMAT, "version",
                    "missing (this program reads \"version\": %d)", GDN_POLICY_VERSION);
    if ((rc = want(c, ver, GDN_JSON_NUMBER, "version")))
        return rc;
    if (gdn_json_uint(ver, &version) != 0 || version != GDN_POLICY_VERSION) {
        double d;
        gdn_json_number(ver, &d);
        return fail(c, ver, GDN_ERANGE, "version",
                    "unsupported version %g (this program reads version %d)", d,
                    GDN_POLICY_VERSION);
    }
    for (size_t i = 0; i < gdn_json_len(root); i++) {
        const char *key = gdn_json_key(root, i);
        size_t k;
        for (k = 0; k < NFIELDS; k++)
            if (strcmp(key, fields[k].key) == 0)
                break;
        if (k == NFIELDS) {
            char name[80];
            clean(name, sizeof name, key);
            return fail(c, gdn_json_at(root, i), GDN_EFORMAT, name,
                        "unknown key (known: version, trusted_coordinators, budget, "
                        "min_cohort, require, allowed_models, max_rounds_per_day)");
        }
        if (!fields[k].parse)
            continue;
        if ((rc = fields[k].parse(p, c, gdn_json_at(root, i))))
            return rc;
        p->set |= fields[k].rule;
    }
    return 0;
}

/* ---- Words -------------------------------------------------------------- */

/* x with `sig` significant digits and a short exponent: 1e-5, not 1e-05. */
static void fmt_num(char out[40], double x, int sig)
{
    char tmp[32], *e;

    if (isinf(x)) {
        snprintf(out, 40, "infinity");
        return;
    }
    snprintf(tmp, sizeof tmp, "%.*g", sig, x);
    e = strchr(tmp, 'e');
    if (!e) {
        snprintf(out, 40, "%s", tmp);
        return;
    }
    {
        const char *digits = e + 1;
        int neg = *digits == '-';
        if (*digits == '+' || *digits == '-')
            digits++;
        while (digits[0] == '0' && digits[1])
            digits++;
        *e = '\0';
        snprintf(out, 40, "%se%s%s", tmp, neg ? "-" : "", digits);
    }
}

static void fp_hex(char *out, const uint8_t *fp, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = hex[fp[i] >> 4];
        out[2 * i + 1] = hex[fp[i] & 15];
    }
    out[2 * nbytes] = '\0';
}

/* "TLS", "secure aggregation or Prio3", "secure aggregation, HE or Prio3". */
static int layer_words(gdn_buf *out, uint32_t mask, const char *joiner)
{
    size_t n = 0, total = 0;
    int rc = 0;

    for (size_t k = 0; k < NLAYERS; k++)
        total += (mask & layers[k].bit) != 0;
    for (size_t k = 0; k < NLAYERS && !rc; k++) {
        if (!(mask & layers[k].bit))
            continue;
        n++;
        rc = gdn_buf_printf(out, "%s%s", n == 1 ? "" : n == total ? joiner : ", ",
                            layers[k].words);
    }
    return rc;
}

static int refuse(gdn_policy_verdict *v, const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(gdn_policy_verdict *v, const char *rule, const char *fmt, ...)
{
    char why[200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    v->accept = 0;
    v->rule = rule;
    snprintf(v->message, sizeof v->message, "refused: %s: %s", rule, why);
    return 0;
}

static int model_matches(const char *pattern, const char *spec)
{
    size_t n = strlen(pattern);

    if (n && pattern[n - 1] == '*')
        return strncmp(pattern, spec, n - 1) == 0;
    return strcmp(pattern, spec) == 0;
}

/* The budget rule: ε after this round's step, by the RDP accountant
 * (conservative series, an upper bound), at the policy's δ. */
static int check_budget(gdn_policy_verdict *v, const gdn_policy *p,
                        const gdn_policy_round *r)
{
    char got[40], lim[40], del[40];
    double eps, order;
    int rc, sig = 3;

    fmt_num(del, p->delta, 3);
    if (!(r->layers & GDN_POLICY_DP))
        return refuse(v, "budget",
                      "differential privacy is off, so this round's epsilon is unbounded");
    if (r->delta > p->delta) {
        fmt_num(got, r->delta, 3);
        return refuse(v, "budget", "the round's delta %s > %s", got, del);
    }
    if (r->steps == UINT64_MAX)
        return refuse(v, "budget", "%" PRIu64 " steps already taken", r->steps);
    if (r->epsilon_at)
        eps = r->epsilon_at(p->delta, r->epsilon_ctx);
    else if ((rc = gdn_dp_rdp_epsilon(&eps, &order, r->q, r->sigma, r->steps + 1, p->delta,
                                      GDN_DP_RDP_CONSERVATIVE)))
        return rc;
    if (!(eps > p->eps) && !isnan(eps))
        return 0;
    /* Enough digits that the two numbers differ on the page. */
    do {
        fmt_num(got, eps, sig);
        fmt_num(lim, p->eps, sig);
    } while (strcmp(got, lim) == 0 && ++sig <= 17);
    return refuse(v, "budget", "this round would bring epsilon to %s > %s (delta %s)",
                  got, lim, del);
}

/* ---- Public ------------------------------------------------------------- */

int gdn_policy_parse(gdn_policy **out, const char *text, size_t len, const char *name)
{
    ctx c = {name ? name : "policy", text, len};
    gdn_json *root = NULL;
    gdn_policy *p;
    int rc;

    if (!out || (!text && len))
        return gdn_error(GDN_EINVAL, "gdn_policy_parse: NULL argument");
    *out = NULL;
    if (len > GDN_POLICY_MAX_BYTES)
        return gdn_error(GDN_ERANGE, "%s: %zu bytes, a policy may have at most %d",
                         c.name, len, GDN_POLICY_MAX_BYTES);
    if ((rc = gdn_json_parse(&root, text ? text : "", len, c.name)))
        return json_failed(&c, rc);
    if (!(p = calloc(1, sizeof *p))) {
        gdn_json_free(root);
        return gdn_error(GDN_ENOMEM, "%s: out of memory", c.name);
    }
    rc = parse_root(p, &c, root);
    gdn_json_free(root);
    if (rc) {
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int gdn_policy_load(gdn_policy **out, const char *path)
{
    gdn_buf b = {0};
    int rc;

    if (!out || !path)
        return gdn_error(GDN_EINVAL, "gdn_policy_load: NULL argument");
    *out = NULL;
    if ((rc = gdn_file_read(&b, path, GDN_POLICY_MAX_BYTES)))
        return rc;
    rc = gdn_policy_parse(out, (const char *)b.data, b.len, path);
    gdn_buf_free(&b);
    return rc;
}

void gdn_policy_free(gdn_policy *pol)
{
    free(pol);
}

int gdn_policy_budget(const gdn_policy *pol, double *eps, double *delta)
{
    if (!pol || !(pol->set & RULE_BUDGET))
        return 0;
    if (eps)
        *eps = pol->eps;
    if (delta)
        *delta = pol->delta;
    return 1;
}

int gdn_policy_model_allowed(const gdn_policy *pol, const char *spec)
{
    if (!(pol->set & RULE_MODELS))
        return 1;
    if (!spec)
        return 0;
    for (size_t i = 0; i < pol->nmodels; i++)
        if (model_matches(pol->models[i], spec))
            return 1;
    return 0;
}

int gdn_policy_check(gdn_policy_verdict *verdict, const gdn_policy *pol,
                     const gdn_policy_round *r)
{
    const gdn_policy *p = pol;

    if (!verdict || !pol || !r)
        return gdn_error(GDN_EINVAL, "gdn_policy_check: NULL argument");
    memset(verdict, 0, sizeof *verdict);
    if (!(r->q >= 0 && r->q <= 1) || !(r->sigma >= 0) || isinf(r->sigma) ||
        !(r->delta >= 0 && r->delta < 1))
        return gdn_error(GDN_EINVAL,
                         "policy check: round with q = %g (expected [0, 1]), sigma = %g "
                         "(expected >= 0), delta = %g (expected [0, 1))",
                         r->q, r->sigma, r->delta);

    if (p->set & RULE_COORDINATORS) {
        size_t i;
        for (i = 0; i < p->ncoordinators; i++)
            if (memcmp(p->coordinators[i], r->coordinator, GDN_POLICY_FINGERPRINT_BYTES) == 0)
                break;
        if (i == p->ncoordinators) {
            char hex[9];
            fp_hex(hex, r->coordinator, 4);
            return refuse(verdict, "trusted_coordinators",
                          "coordinator %s\xe2\x80\xa6 is not trusted", hex);
        }
    }
    for (size_t i = 0; i < p->nrequire; i++) {
        uint32_t m = p->require[i];
        gdn_buf w = {0};
        int rc;
        if (r->layers & m)
            continue;
        if ((rc = layer_words(&w, m, " or ")) || (rc = gdn_buf_append(&w, "", 1))) {
            gdn_buf_free(&w);
            return rc;
        }
        rc = (m & (m - 1))
                 ? refuse(verdict, "require", "none of %s is on", (const char *)w.data)
                 : refuse(verdict, "require", "%s is off", (const char *)w.data);
        gdn_buf_free(&w);
        return rc;
    }
    if (!gdn_policy_model_allowed(p, r->model)) {
        char m[80];
        if (!r->model)
            return refuse(verdict, "allowed_models", "the round names no model");
        clean(m, sizeof m, r->model);
        return refuse(verdict, "allowed_models", "%s is not allowed", m);
    }
    if ((p->set & RULE_MIN_COHORT) && r->cohort < p->min_cohort)
        return refuse(verdict, "min_cohort", "%" PRIu64 " clients < %" PRIu64,
                      r->cohort, p->min_cohort);
    if ((p->set & RULE_MAX_ROUNDS) && r->rounds_today >= p->max_rounds)
        return refuse(verdict, "max_rounds_per_day",
                      "%" PRIu64 " rounds today, the limit is %" PRIu64,
                      r->rounds_today, p->max_rounds);
    if (p->set & RULE_BUDGET) {
        int rc = check_budget(verdict, p, r);
        if (rc || verdict->rule)
            return rc;
    }
    verdict->accept = 1;
    verdict->rule = NULL;
    snprintf(verdict->message, sizeof verdict->message, "accepted");
    return 0;
}

int gdn_policy_describe(gdn_buf *out, const gdn_policy *pol)
{
    const gdn_policy *p = pol;
    char a[40], b[40], hex[2 * GDN_POLICY_FINGERPRINT_BYTES + 1];
    size_t unset = 0;
    int rc = 0;

    if (!out || !pol)
        return gdn_error(GDN_EINVAL, "gdn_policy_describe: NULL argument");
    rc = gdn_buf_printf(out, "policy version %d: a round is refused unless every "
                             "rule below holds\n", GDN_POLICY_VERSION);
    if (!rc && (p->set & RULE_COORDINATORS)) {
        rc = p->ncoordinators == 1
                 ? gdn_buf_printf(out, "trusted_coordinators: take part only in rounds "
                                       "run by the coordinator whose key has the "
                                       "SHA-256 fingerprint")
                 : gdn_buf_printf(out, "trusted_coordinators: take part only in rounds "
                                       "run by a coordinator whose key has one of these "
                                       "%zu SHA-256 fingerprints:", p->ncoordinators);
        for (size_t i = 0; i < p->ncoordinators && !rc; i++) {
            fp_hex(hex, p->coordinators[i], GDN_POLICY_FINGERPRINT_BYTES);
            rc = gdn_buf_printf(out, "%s %s", i ? "," : "", hex);
        }
        if (!rc)
            rc = gdn_buf_printf(out, "\n");
    }
    for (size_t i = 0; i < p->nrequire && !rc; i++) {
        uint32_t m = p->require[i];
        if (i == 0)
            rc = gdn_buf_printf(out, "require: take part only when ");
        if (!rc && i > 0)
            rc = gdn_buf_printf(out, i + 1 == p->nrequire ? ", and " : ", ");
        if (!rc && (m & (m - 1)))
            rc = gdn_buf_printf(out, "at least one of ");
        if (!rc)
            rc = layer_words(out, m, " or ");
        if (!rc)
            rc = gdn_buf_printf(out, " is on");
        if (!rc && i + 1 == p->nrequire)
            rc = gdn_buf_printf(out, "\n");
    }
    for (size_t i = 0; i < p->nmodels && !rc; i++) {
        const char *m = p->models[i];
        size_t n = strlen(m);
        if (i == 0)
            rc = gdn_buf_printf(out, "allowed_models: train only ");
        if (!rc && i > 0)
            rc = gdn_buf_printf(out, i + 1 == p->nmodels ? " or " : ", ");
        if (!rc && m[n - 1] == '*')
            rc = n == 1 ? gdn_buf_printf(out, "any model")
                        : gdn_buf_printf(out, "any model whose spec starts with "
                                              "\"%.*s\"", (int)(n - 1), m);
        else if (!rc)
            rc = gdn_buf_printf(out, "%s", m);
        if (!rc && i + 1 == p->nmodels)
            rc = gdn_buf_printf(out, "\n");
    }
    if (!rc && (p->set & RULE_MIN_COHORT))
        rc = gdn_buf_printf(out, "min_cohort: take part only in rounds with at least "
                                 "%" PRIu64 " clients\n", p->min_cohort);
    if (!rc && (p->set & RULE_MAX_ROUNDS))
        rc = gdn_buf_printf(out, "max_rounds_per_day: take part in at most %" PRIu64
                                 " rounds a day\n", p->max_rounds);
    if (!rc && (p->set & RULE_BUDGET)) {
        fmt_num(a, p->eps, 6);
        fmt_num(b, p->delta, 6);
        rc = gdn_buf_printf(out, "budget: stop taking part before the total privacy "
                                 "loss would exceed epsilon %s at delta %s (Renyi DP "
                                 "accounting of every DP step)\n", a, b);
    }
    for (size_t k = 1; k < NFIELDS && !rc; k++) {
        if (p->set & fields[k].rule)
            continue;
        rc = gdn_buf_printf(out, "%s%s", unset++ ? ", " : "not set (no limit): ",
                            fields[k].key);
    }
    if (!rc && unset)
        rc = gdn_buf_printf(out, "\n");
    return rc;
}
