/* policy: parsing (every field, every kind of error), the plain-words
 * description, each rule refusing a violating round and accepting a
 * conforming one, and `guardian policy check`. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guardian/policy.h"
#include "harness.h"

#define FP_A "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12"
#define FP_B "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff"

static const char full_policy[] =
    "{\n"
    "  \"version\": 1,\n"
    "  \"trusted_coordinators\": [\"" FP_A "\", \"" FP_B "\"],\n"
    "  \"budget\": {\"epsilon\": 8, \"delta\": 1e-5},\n"
    "  \"min_cohort\": 10,\n"
    "  \"require\": [\"tls\", \"dp\", \"secagg|he|prio3\"],\n"
    "  \"allowed_models\": [\"cnn\", \"lenet5\", \"mlp:*\", \"logreg\"],\n"
    "  \"max_rounds_per_day\": 24\n"
    "}\n";

static int parse(gdn_policy **p, const char *text)
{
    return gdn_policy_parse(p, text, strlen(text), "owner.json");
}

static void hex_to_fp(uint8_t fp[32], const char *hex)
{
    for (int i = 0; i < 32; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        fp[i] = (uint8_t)v;
    }
}

/* A round every rule of full_policy accepts. */
static gdn_policy_round good_round(void)
{
    gdn_policy_round r;

    memset(&r, 0, sizeof r);
    hex_to_fp(r.coordinator, FP_A);
    r.cohort = 10;
    r.layers = GDN_POLICY_TLS | GDN_POLICY_DP | GDN_POLICY_SECAGG;
    r.model = "cnn";
    r.q = 0.05;
    r.sigma = 1.1;
    r.steps = 10;
    r.delta = 1e-5;
    r.rounds_today = 3;
    return r;
}

#define CHECK_VERDICT(pol, round, want_rule, want_msg)                         \
    do {                                                                       \
        gdn_policy_verdict v_;                                                 \
        const char *rule_ = (want_rule);                                       \
        CHECK_OK(gdn_policy_check(&v_, (pol), &(round)));                      \
        CHECK_MSG(strcmp(v_.message, (want_msg)) == 0, "message '%s', want '%s'", \
                  v_.message, (want_msg));                                     \
        if (rule_) {                                                           \
            CHECK(!v_.accept && v_.rule && strcmp(v_.rule, rule_) == 0);       \
        } else {                                                               \
            CHECK(v_.accept && v_.rule == NULL);                               \
        }                                                                      \
    } while (0)

GDN_TEST(policy_parse_full_and_accept)
{
    gdn_policy *p;
    gdn_policy_round r = good_round();
    double eps = 0, delta = 0;

    CHECK_OK(parse(&p, full_policy));
    CHECK_EQ(gdn_policy_budget(p, &eps, &delta), 1);
    CHECK(eps == 8 && delta == 1e-5);
    CHECK_VERDICT(p, r, NULL, "accepted");
    /* The second fingerprint was written in upper case. */
    hex_to_fp(r.coordinator, FP_B);
    r.layers = GDN_POLICY_TLS | GDN_POLICY_DP | GDN_POLICY_PRIO3;
    r.model = "mlp:784-100-10";
    CHECK_VERDICT(p, r, NULL, "accepted");
    gdn_policy_free(p);
    gdn_policy_free(NULL);
}

GDN_TEST(policy_rule_trusted_coordinators)
{
    gdn_policy *p;
    gdn_policy_round r = good_round();

    CHECK_OK(parse(&p, full_policy));
    r.coordinator[31] ^= 1; /* one bit off FP_A */
    CHECK_VERDICT(p, r, "trusted_coordinators",
                  "refused: trusted_coordinators: coordinator ab12cd34\xe2\x80\xa6 is "
                  "not trusted");
    r.coordinator[31] ^= 1;
    CHECK_VERDICT(p, r, NULL, "accepted");
    gdn_policy_free(p);
}

GDN_TEST(policy_rule_require)
{
    gdn_policy *p;
    gdn_policy_round r = good_round();

    CHECK_OK(parse(&p, full_policy));
    r.layers = GDN_POLICY_DP | GDN_POLICY_SECAGG;
    CHECK_VERDICT(p, r, "require", "refused: require: TLS is off");
    r.layers = GDN_POLICY_TLS | GDN_POLICY_DP;
    CHECK_VERDICT(p, r, "require",
                  "refused: require: none of secure aggregation, homomorphic "
                  "encryption or Prio3 is on");
    r.layers = GDN_POLICY_TLS | GDN_POLICY_DP | GDN_POLICY_HE;
    CHECK_VERDICT(p, r, NULL, "accepted");
    gdn_policy_free(p);

    CHECK_OK(parse(&p, "{\"version\": 1, \"require\": [\"secagg\"]}"));
    r.layers = GDN_POLICY_TLS | GDN_POLICY_HE;
    CHECK_VERDICT(p, r, "require", "refused: require: secure aggregation is off");
    r.layers = GDN_POLICY_SECAGG;
    CHECK_VERDICT(p, r, NULL, "accepted");
    gdn_policy_free(p);
}

GDN_TEST(policy_rule_allowed_models)
{
    gdn_policy *p;
    gdn_policy_round r = good_round();

    CHECK_OK(parse(&p, "{\"version\": 1, \"allowed_models\": [\"lenet5\", \"mlp:*\"]}"));
    CHECK_VERDICT(p, r, "allowed_models", "refused: allowed_models: cnn is not allowed");
    r.model = "mlp";
    CHECK_VERDICT(p, r, "allowed_models", "refused: allowed_models: mlp is not allowed");
    r.model = "seq:\n";
    CHECK_VERDICT(p, r, "allowed_models", "refused: allowed_models: seq:? is not allowed");
    r.model = NULL;
    CHECK_VERDICT(p, r, "allowed_models",
                  "refused: allowed_models: the round names no model");
    r.model = "lenet5";
    CHECK_VERDICT(p, r, NULL, "accepted");
    r.model = "mlp:784-100-10";
    CHECK_VERDICT(p, r, NULL, "accepted");
    CHECK_EQ(gdn_policy_model_allowed(p, "mlp:"), 1);
    CHECK_EQ(gdn_policy_model_allowed(p, "lenet"), 0);
    CHECK_EQ(gdn_policy_model_allowed(p, "lenet55"), 0);
    gdn_policy_free(p);
}

GDN_TEST(policy_rule_min_cohort)
{
    gdn_policy *p;
    gdn_policy_round r = good_round();

    CHECK_OK(parse(&p, full_policy));
    r.cohort = 7;
    CHECK_VERDICT(p, r, "min_cohort", "refused: min_cohort: 7 clients < 10");
    r.cohort = 0;
    CHECK_VERDICT(p, r, "min_cohort", "refused: min_cohort: 0 clients < 10");
    r.cohort = 10;
    CHECK_VERDICT(p, r, NULL, "accepted");
    gdn_policy_free(p);
}

GDN_TEST(policy_rule_max_rounds_per_day)
{
    gdn_policy *p;
    gdn_policy_round r = good_round();

    CHECK_OK(parse(&p, full_policy));
    r.rounds_today = 24;
    CHECK_VERDICT(p, r, "max_rounds_per_day",
                  "refused: max_rounds_per_day: 24 rounds today, the limit is 24");
    r.rounds_today = 23;
    CHECK_VERDICT(p, r, NULL, "accepted");
    gdn_policy_free(p);
}

/* ε from the RDP accountant (dp_accounting's conservative series) for q =
 * 0.05, sigma = 1.1, delta = 1e-5: 659 steps give 7.99663, 660 give 8.00305,
 * 1024 give 10.1463 (the same as `guardian privacy --steps N`). */
GDN_TEST(policy_rule_budget)
{
    gdn_policy *p;
    gdn_policy_round r = good_round();

    CHECK_OK(parse(&p, full_policy));
    r.steps = 658; /* this round is step 659 */
    CHECK_VERDICT(p, r, NULL, "accepted");
    r.steps = 659;
    CHECK_VERDICT(p, r, "budget",
                  "refused: budget: this round would bring epsilon to 8.003 > 8 "
                  "(delta 1e-5)");
    r.steps = 1023;
    CHECK_VERDICT(p, r, "budget",
                  "refused: budget: this round would bring epsilon to 10.1 > 8 "
                  "(delta 1e-5)");
    r.steps = 0;
    r.sigma = 0; /* no noise: ε is unbounded */
    CHECK_VERDICT(p, r, "budget",
                  "refused: budget: this round would bring epsilon to infinity > 8 "
                  "(delta 1e-5)");
    r.sigma = 1.1;
    r.layers &= ~(uint32_t)GDN_POLICY_DP;
    r.layers |= GDN_POLICY_TLS;
    gdn_policy_free(p);

    /* Without the require rule, DP off reaches the budget rule. */
    CHECK_OK(parse(&p, "{\"version\": 1, \"budget\": {\"delta\": 1e-6, \"epsilon\": 3}}"));
    CHECK_VERDICT(p, r, "budget",
                  "refused: budget: differential privacy is off, so this round's "
                  "epsilon is unbounded");
    r.layers |= GDN_POLICY_DP;
    r.delta = 1e-5; /* the coordinator's delta is looser than the owner's */
    CHECK_VERDICT(p, r, "budget", "refused: budget: the round's delta 1e-5 > 1e-6");
    r.delta = 0; /* the policy's own */
    CHECK_VERDICT(p, r, NULL, "accepted");
    r.q = 0; /* a step that samples no one spends nothing */
    r.steps = 1000000;
    CHECK_VERDICT(p, r, NULL, "accepted");
    gdn_policy_free(p);
}

GDN_TEST(policy_rules_checked_in_order_and_bad_rounds)
{
    gdn_policy *p;
    gdn_policy_round r = good_round();
    gdn_policy_verdict v;

    CHECK_OK(parse(&p, full_policy));
    r.cohort = 1;
    r.rounds_today = 99;
    r.model = "resnet";
    CHECK_VERDICT(p, r, "allowed_models", "refused: allowed_models: resnet is not allowed");
    r.layers = 0;
    CHECK_VERDICT(p, r, "require", "refused: require: TLS is off");
    r = good_round();
    r.q = 1.5;
    CHECK_EQ(gdn_policy_check(&v, p, &r), GDN_EINVAL);
    r.q = 0.1;
    r.sigma = -1;
    CHECK_EQ(gdn_policy_check(&v, p, &r), GDN_EINVAL);
    r.sigma = 1;
    r.delta = 1;
    CHECK_EQ(gdn_policy_check(&v, p, &r), GDN_EINVAL);
    CHECK_EQ(gdn_policy_check(&v, NULL, &r), GDN_EINVAL);
    gdn_policy_free(p);

    /* A policy with only a version accepts anything. */
    CHECK_OK(parse(&p, "{\"version\": 1}"));
    memset(&r, 0, sizeof r);
    CHECK_VERDICT(p, r, NULL, "accepted");
    CHECK_EQ(gdn_policy_budget(p, NULL, NULL), 0);
    gdn_policy_free(p);
}

GDN_TEST(policy_describe)
{
    gdn_policy *p;
    gdn_buf b = {0};
    const char *s;
    static const char *const want[] = {
        "policy version 1",
        "trusted_coordinators: take part only in rounds run by a coordinator whose "
        "key has one of these 2 SHA-256 fingerprints: " FP_A
        ", 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
        "require: take part only when TLS is on, differential privacy is on, and at "
        "least one of secure aggregation, homomorphic encryption or Prio3 is on\n",
        "allowed_models: train only cnn, lenet5, any model whose spec starts with "
        "\"mlp:\" or logreg\n",
        "min_cohort: take part only in rounds with at least 10 clients\n",
        "max_rounds_per_day: take part in at most 24 rounds a day\n",
        "budget: stop taking part before the total privacy loss would exceed epsilon "
        "8 at delta 1e-5",
    };

    CHECK_OK(parse(&p, full_policy));
    CHECK_OK(gdn_policy_describe(&b, p));
    CHECK_OK(gdn_buf_append(&b, "", 1));
    s = (const char *)b.data;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        CHECK_MSG(strstr(s, want[i]) != NULL, "no '%s' in:\n%s", want[i], s);
    CHECK(strstr(s, "not set") == NULL);
    /* One line per rule, after the heading. */
    size_t lines = 0;
    for (const char *c = s; *c; c++)
        lines += *c == '\n';
    CHECK_EQ(lines, 7);
    gdn_policy_free(p);
    gdn_buf_free(&b);

    CHECK_OK(parse(&p, "{\"min_cohort\": 5, \"version\": 1, \"allowed_models\": [\"*\"]}"));
    CHECK_OK(gdn_policy_describe(&b, p));
    CHECK_OK(gdn_buf_append(&b, "", 1));
    s = (const char *)b.data;
    CHECK_MSG(strstr(s, "allowed_models: train only any model\n") != NULL, "%s", s);
    CHECK_MSG(strstr(s, "not set (no limit): trusted_coordinators, budget, require, "
                        "max_rounds_per_day\n") != NULL, "%s", s);
    gdn_policy_free(p);
    gdn_buf_free(&b);
}

/* Each bad policy is refused with the code and every fragment listed. */
GDN_TEST(policy_parse_errors)
{
    static const struct {
        const char *text;
        int code;
        const char *msg1, *msg2;
    } cases[] = {
        {"", GDN_EFORMAT, "owner.json:1:1: ", "(byte offset 0)"},
        {"{\"version\": 1,\n \"min_cohort\": 3,}", GDN_EFORMAT, "owner.json:2:18: ",
         "byte offset 32"},
        {"{\"version\": 1, \"version\": 1}", GDN_EFORMAT, "duplicate key", NULL},
        {"[1]", GDN_EFORMAT, "owner.json:1:1: policy: expected an object, got an array",
         NULL},
        {"{}", GDN_EFORMAT, "owner.json:1:1: version: missing", NULL},
        {"{\"version\": 2}", GDN_ERANGE, "version: unsupported version 2", NULL},
        {"{\"version\": \"1\"}", GDN_EFORMAT, "version: expected a number, got a string",
         NULL},
        {"{\"version\": 1,\n  \"min_cohrt\": 3}", GDN_EFORMAT,
         "owner.json:2:16: min_cohrt: unknown key (known: version,", NULL},
        {"{\"version\": 1, \"budget\": {\"epsilon\": 1, \"delta\": 1e-5, \"eps\": 2}}",
         GDN_EFORMAT, "budget: unknown key \"eps\" (known: epsilon, delta)", NULL},
        {"{\"version\": 1, \"budget\": {\"epsilon\": 0, \"delta\": 1e-5}}", GDN_ERANGE,
         "owner.json:1:38: budget.epsilon: must be > 0, got 0", NULL},
        {"{\"version\": 1, \"budget\": {\"epsilon\": -2, \"delta\": 1e-5}}", GDN_ERANGE,
         "budget.epsilon: must be > 0, got -2", NULL},
        {"{\"version\": 1, \"budget\": {\"epsilon\": 1, \"delta\": 1}}", GDN_ERANGE,
         "budget.delta: must be in (0, 1), got 1", NULL},
        {"{\"version\": 1, \"budget\": {\"epsilon\": 1, \"delta\": 0}}", GDN_ERANGE,
         "budget.delta: must be in (0, 1), got 0", NULL},
        {"{\"version\": 1, \"budget\": {\"epsilon\": 1}}", GDN_EFORMAT,
         "budget.delta: missing", NULL},
        {"{\"version\": 1, \"budget\": {\"epsilon\": \"1\", \"delta\": 1e-5}}",
         GDN_EFORMAT, "budget.epsilon: expected a number, got a string", NULL},
        {"{\"version\": 1, \"budget\": [1, 2]}", GDN_EFORMAT,
         "budget: expected an object, got an array", NULL},
        {"{\"version\": 1, \"trusted_coordinators\": [\"ab12\"]}", GDN_EFORMAT,
         "trusted_coordinators[0]: expected 64 hex digits (a SHA-256 key fingerprint), "
         "got 4 characters", NULL},
        {"{\"version\": 1, \"trusted_coordinators\": [\"" FP_A "\", \"gb12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12\"]}",
         GDN_EFORMAT, "trusted_coordinators[1]: expected 64 hex digits",
         "character 1 is not a hex digit"},
        {"{\"version\": 1, \"trusted_coordinators\": [\"" FP_A "\", \"" FP_A "\"]}",
         GDN_EFORMAT, "trusted_coordinators[1]: the same fingerprint as entry 0", NULL},
        {"{\"version\": 1, \"trusted_coordinators\": \"" FP_A "\"}", GDN_EFORMAT,
         "trusted_coordinators: expected an array, got a string", NULL},
        {"{\"version\": 1, \"trusted_coordinators\": []}", GDN_ERANGE,
         "trusted_coordinators: empty list", NULL},
        {"{\"version\": 1, \"min_cohort\": 0}", GDN_ERANGE,
         "min_cohort: must be a whole number from 1 to 1000000000, got 0", NULL},
        {"{\"version\": 1, \"min_cohort\": 2.5}", GDN_ERANGE,
         "min_cohort: must be a whole number from 1 to 1000000000, got 2.5", NULL},
        {"{\"version\": 1, \"max_rounds_per_day\": -1}", GDN_ERANGE,
         "max_rounds_per_day: must be a whole number from 1 to 1000000, got -1", NULL},
        {"{\"version\": 1, \"max_rounds_per_day\": true}", GDN_EFORMAT,
         "max_rounds_per_day: expected a number, got a boolean", NULL},
        {"{\"version\": 1, \"require\": [\"tls\", \"ssl\"]}", GDN_EFORMAT,
         "require[1]: unknown layer \"ssl\" (known: tls, secagg, dp, he, prio3", NULL},
        {"{\"version\": 1, \"require\": [\"secagg||he\"]}", GDN_EFORMAT,
         "require[0]: unknown layer \"\"", NULL},
        {"{\"version\": 1, \"require\": [\"he|he\"]}", GDN_EFORMAT,
         "require[0]: layer \"he\" named twice", NULL},
        {"{\"version\": 1, \"require\": [1]}", GDN_EFORMAT,
         "require[0]: expected a string, got a number", NULL},
        {"{\"version\": 1, \"allowed_models\": [\"m*p\"]}", GDN_EFORMAT,
         "allowed_models[0]: '*' may only end an entry", NULL},
        {"{\"version\": 1, \"allowed_models\": [\"\"]}", GDN_ERANGE,
         "allowed_models[0]: 0 bytes, expected 1 to 128", NULL},
        {"{\"version\": 1, \"allowed_models\": [\"cnn\", \"a b\"]}", GDN_EFORMAT,
         "allowed_models[1]: character 2 is not printable ASCII", NULL},
        {"{\"version\": 1, \"allowed_models\": [\"cnn\\u0000x\"]}", GDN_EFORMAT,
         "allowed_models[0]: character 4 is not printable ASCII", NULL},
        {"{\"version\": 1, \"x\\ny\": 1}", GDN_EFORMAT, "x?y: unknown key", NULL},
    };
    char *big;
    int rc;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gdn_policy *p = (gdn_policy *)1;
        rc = parse(&p, cases[i].text);
        const char *m = gdn_errmsg();
        CHECK_MSG(rc == cases[i].code, "case %zu (%s): rc %d, want %d (%s)", i,
                  cases[i].text, rc, cases[i].code, m);
        CHECK_MSG(p == NULL, "case %zu: *out not NULL", i);
        CHECK_MSG(strstr(m, cases[i].msg1) != NULL, "case %zu: '%s' not in '%s'", i,
                  cases[i].msg1, m);
        CHECK_MSG(!cases[i].msg2 || strstr(m, cases[i].msg2) != NULL,
                  "case %zu: '%s' not in '%s'", i, cases[i].msg2, m);
    }

    /* Lists and the whole text are bounded. */
    gdn_buf b = {0};
    gdn_policy *p;
    CHECK_OK(gdn_buf_printf(&b, "{\"version\": 1, \"allowed_models\": ["));
    for (int i = 0; i <= GDN_POLICY_MAX_MODELS; i++)
        CHECK_OK(gdn_buf_printf(&b, "%s\"m%d\"", i ? "," : "", i));
    CHECK_OK(gdn_buf_printf(&b, "]}"));
    CHECK_EQ(gdn_policy_parse(&p, (const char *)b.data, b.len, "n"), GDN_ERANGE);
    CHECK(strstr(gdn_errmsg(), "allowed_models: 65 entries, at most 64 allowed"));
    b.len -= 8; /* drop the 65th entry: "m64"]} */
    CHECK_OK(gdn_buf_printf(&b, "]}"));
    CHECK_OK(gdn_policy_parse(&p, (const char *)b.data, b.len, "n"));
    gdn_policy_free(p);
    gdn_buf_free(&b);
    big = calloc(1, GDN_POLICY_MAX_BYTES + 1);
    CHECK(big != NULL);
    memcpy(big, "{\"version\": 1}", 14);
    memset(big + 14, ' ', GDN_POLICY_MAX_BYTES - 14);
    CHECK_OK(gdn_policy_parse(&p, big, GDN_POLICY_MAX_BYTES, "big"));
    gdn_policy_free(p);
    rc = gdn_policy_parse(&p, big, GDN_POLICY_MAX_BYTES + 1, "big");
    free(big);
    CHECK_EQ(rc, GDN_ERANGE);
    CHECK(strstr(gdn_errmsg(), "big: 65537 bytes, a policy may have at most 65536"));
}

GDN_TEST(policy_load_file)
{
    char path[600];
    gdn_policy *p;
    gdn_policy_round r = good_round();

    snprintf(path, sizeof path, "%s/owner.json", gdn_test_tmpdir());
    CHECK_OK(gdn_file_write_atomic(path, full_policy, strlen(full_policy)));
    CHECK_OK(gdn_policy_load(&p, path));
    r.cohort = 7;
    CHECK_VERDICT(p, r, "min_cohort", "refused: min_cohort: 7 clients < 10");
    gdn_policy_free(p);
    CHECK_EQ(gdn_policy_load(&p, "/nonexistent/owner.json"), GDN_EIO);
    CHECK(strstr(gdn_errmsg(), "/nonexistent/owner.json") != NULL);
}

/* Fails until `policy` is registered in src/cli/main.c (unknown command: 2). */
GDN_TEST(policy_cli_check)
{
    char good[600], bad[600], log[600], args[1400];
    const char *t = gdn_test_tmpdir();
    static const char bad_policy[] = "{\n  \"version\": 1,\n"
                                     "  \"budget\": {\"epsilon\": 8, \"delta\": 1}\n}\n";

    snprintf(good, sizeof good, "%s/good-policy.json", t);
    snprintf(bad, sizeof bad, "%s/bad-policy.json", t);
    snprintf(log, sizeof log, "%s/policy.log", t);
    CHECK_OK(gdn_file_write_atomic(good, full_policy, strlen(full_policy)));
    CHECK_OK(gdn_file_write_atomic(bad, bad_policy, strlen(bad_policy)));

    snprintf(args, sizeof args, "policy check %s", good);
    CHECK_EQ(gdn_test_guardian(args, log), 0);
    CHECK(gdn_test_file_contains(log, "good-policy.json: valid policy"));
    CHECK(gdn_test_file_contains(log, "min_cohort: take part only in rounds with at "
                                      "least 10 clients\n"));
    CHECK(gdn_test_file_contains(log, "max_rounds_per_day: take part in at most 24"));
    CHECK(gdn_test_file_contains(log, "budget: stop taking part"));

    snprintf(args, sizeof args, "policy check %s", bad);
    CHECK_EQ(gdn_test_guardian(args, log), 1);
    CHECK_MSG(gdn_test_file_contains(log, "bad-policy.json:3:37: budget.delta: must be "
                                          "in (0, 1), got 1"),
              "no file:line:col and rule in the error");

    CHECK_EQ(gdn_test_guardian("policy check /nonexistent/p.json", log), 1);
    CHECK(gdn_test_file_contains(log, "/nonexistent/p.json"));
    CHECK_EQ(gdn_test_guardian("policy check", log), 2);
    CHECK_EQ(gdn_test_guardian("policy frobnicate x", log), 2);
    CHECK(gdn_test_file_contains(log, "unknown subcommand 'frobnicate'"));
    CHECK_EQ(gdn_test_guardian("policy --help", log), 0);
    CHECK(gdn_test_file_contains(log, "check FILE"));
}
