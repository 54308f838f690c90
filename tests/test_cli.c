/* The guardian command end to end, on a small CSV made here: training,
 * outputs, reproducibility, errors a user meets, simulate and --resume. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "guardian/ml.h"
#include "harness.h"

#define run gdn_test_guardian
#define file_contains gdn_test_file_contains

static int files_equal(const char *a, const char *b)
{
    gdn_buf x = {0}, y = {0};
    int eq = gdn_file_read(&x, a, 1 << 26) == 0 && gdn_file_read(&y, b, 1 << 26) == 0 &&
             x.len == y.len && memcmp(x.data, y.data, x.len) == 0;
    gdn_buf_free(&x);
    gdn_buf_free(&y);
    return eq;
}

/* Three classes named by strings; feature k shifted for class k. */
static void write_csv(const char *path)
{
    gdn_buf b = {0};
    gdn_rng rng;
    static const char *const names[] = {"low", "mid", "high"};

    gdn_rng_init_seed(&rng, 3);
    gdn_buf_printf(&b, "f0,f1,class,f2,f3\n");
    for (int i = 0; i < 600; i++) {
        int c = i % 3;
        double f[4];
        for (int k = 0; k < 4; k++)
            f[k] = 10 + gdn_rng_normal(&rng) + (k == c ? 4 : 0);
        gdn_buf_printf(&b, "%.4f,%.4f,%s,%.4f,%.4f\n", f[0], f[1], names[c], f[2], f[3]);
    }
    gdn_file_write_atomic(path, b.data, b.len);
    gdn_buf_free(&b);
}

GDN_TEST(cli_train_csv_outputs_and_reproducibility)
{
    char csv[600], args[2048], out1[600], out2[600], log[600], a[700], b[700];
    const char *t = gdn_test_tmpdir();
    gdn_model *m;
    size_t rows = 0;

    snprintf(csv, sizeof csv, "%s/blobs.csv", t);
    snprintf(out1, sizeof out1, "%s/train1", t);
    snprintf(out2, sizeof out2, "%s/train2", t);
    snprintf(log, sizeof log, "%s/train.log", t);
    write_csv(csv);
    for (int i = 0; i < 2; i++) {
        snprintf(args, sizeof args,
                 "train --data csv:%s:label=class --standardize --model mlp:4-8-3 "
                 "--epochs 8 --batch 16 --lr 0.1 --threads 1 --seed 5 --out %s",
                 csv, i ? out2 : out1);
        CHECK_EQ(run(args, log), 0);
    }
    CHECK(file_contains(log, "480 training and 120 test examples"));
    snprintf(a, sizeof a, "%s/metrics.csv", out1);
    CHECK(file_contains(a, "epoch,train_loss,test_loss,test_accuracy,seconds\n"));
    CHECK(file_contains(a, "\n8,"));
    FILE *f = fopen(a, "r");
    char line[256];
    double acc = 0;
    while (f && fgets(line, sizeof line, f))
        if (rows++ > 0)
            sscanf(line, "%*d,%*f,%*f,%lf", &acc);
    if (f)
        fclose(f);
    CHECK_EQ(rows, 9);
    CHECK_MSG(acc > 0.9, "test accuracy %.3f", acc);
    /* Same seed, same bits; the model file loads back as the same spec. */
    snprintf(a, sizeof a, "%s/model.safetensors", out1);
    snprintf(b, sizeof b, "%s/model.safetensors", out2);
    CHECK(files_equal(a, b));
    CHECK_OK(gdn_model_load(&m, a));
    CHECK(strcmp(gdn_model_spec(m), "mlp:4-8-3") == 0);
    gdn_model_free(m);
    snprintf(a, sizeof a, "%s/config.json", out1);
    CHECK(file_contains(a, "\"model\": \"mlp:4-8-3\""));
}

GDN_TEST(cli_errors_are_clear)
{
    char csv[600], args[1024], log[600];
    const char *t = gdn_test_tmpdir();

    snprintf(log, sizeof log, "%s/err.log", t);
    CHECK_EQ(run("train --epochs", log), 2);
    CHECK(file_contains(log, "--epochs needs a value"));
    CHECK_EQ(run("train --epochz 3", log), 2);
    CHECK(file_contains(log, "unknown option '--epochz'"));
    CHECK_EQ(run("frobnicate", log), 2);
    CHECK(file_contains(log, "unknown command 'frobnicate'"));
    CHECK_EQ(run("train --data csv:/nonexistent.csv", log), 1);
    CHECK(file_contains(log, "/nonexistent.csv"));

    snprintf(csv, sizeof csv, "%s/bad.csv", t);
    gdn_file_write_atomic(csv, "a,b,y\n1,2,x\n3,4\n", 16);
    snprintf(args, sizeof args, "train --data csv:%s --out %s/bad", csv, t);
    CHECK_EQ(run(args, log), 1);
    CHECK_MSG(file_contains(log, "bad.csv:3:"), "no file:line in the error");
    CHECK_EQ(run("train --model resnet --limit 10 --epochs 1", log), 1);
    CHECK(file_contains(log, "unknown model spec 'resnet'"));
    CHECK_EQ(run("simulate --help", log), 0);
    CHECK(file_contains(log, "--partition SCHEME"));
    CHECK_EQ(run("simulate --attack scale:10", log), 1);
    CHECK(file_contains(log, "expected scale:S,frac:F"));
}

GDN_TEST(cli_simulate_resume_matches_straight_run)
{
    char csv[600], args[2048], log[600], a[700], b[700];
    const char *t = gdn_test_tmpdir();
    const char *common = "--model mlp:4-8-3 --clients 6 --per-round 3 --batch 8 "
                         "--lr 0.1 --partition dirichlet:1 --strategy fedavgm "
                         "--workers 2 --seed 9";

    snprintf(csv, sizeof csv, "%s/sim.csv", t);
    snprintf(log, sizeof log, "%s/sim.log", t);
    write_csv(csv);
    snprintf(args, sizeof args, "simulate --data csv:%s:label=2 %s --rounds 4 --out %s/straight",
             csv, common, t);
    CHECK_EQ(run(args, log), 0);
    CHECK(file_contains(log, "round 4/4"));
    snprintf(args, sizeof args, "simulate --data csv:%s:label=2 %s --rounds 2 --out %s/parts",
             csv, common, t);
    CHECK_EQ(run(args, log), 0);
    snprintf(args, sizeof args, "simulate --resume %s/parts --rounds 4", t);
    CHECK_EQ(run(args, log), 0);
    CHECK(file_contains(log, "after round 2"));
    snprintf(a, sizeof a, "%s/straight/model.safetensors", t);
    snprintf(b, sizeof b, "%s/parts/model.safetensors", t);
    CHECK(files_equal(a, b));
    snprintf(a, sizeof a, "%s/straight/metrics.csv", t);
    CHECK(file_contains(a, "\n4,3,"));
    snprintf(b, sizeof b, "%s/parts/metrics.csv", t);
    CHECK(file_contains(b, "\n4,3,"));
    CHECK(file_contains(b, "\n1,3,"));
}

GDN_TEST(cli_simulate_dp_reports_epsilon_and_stops_at_target)
{
    char csv[600], args[2048], log[600], m[700];
    const char *t = gdn_test_tmpdir();

    snprintf(csv, sizeof csv, "%s/dp.csv", t);
    snprintf(log, sizeof log, "%s/dp.log", t);
    write_csv(csv);
    /* q = 0.25, z = 1: epsilon (delta 1e-5) is 5.27 after 5 rounds, 6.82 after 10. */
    snprintf(args, sizeof args,
             "simulate --data csv:%s:label=class --model mlp:4-8-3 --clients 20 "
             "--fraction 0.25 --rounds 50 --batch 8 --dp client --clip 1 --noise 1 "
             "--target-epsilon 6 --out %s/dp", csv, t);
    CHECK_EQ(run(args, log), 0);
    CHECK(file_contains(log, "privacy budget reached"));
    CHECK(file_contains(log, "epsilon"));
    snprintf(m, sizeof m, "%s/dp/metrics.csv", t);
    CHECK(file_contains(m, "seconds,epsilon\n"));
    CHECK(!file_contains(m, "\n50,"));
}

GDN_TEST(cli_simulate_secagg_with_dropouts)
{
    char csv[600], args[2048], log[600];
    const char *t = gdn_test_tmpdir();

    snprintf(csv, sizeof csv, "%s/sa.csv", t);
    snprintf(log, sizeof log, "%s/sa.log", t);
    write_csv(csv);
    snprintf(args, sizeof args,
             "simulate --data csv:%s:label=class --model mlp:4-8-3 --clients 12 "
             "--per-round 10 --rounds 3 --batch 8 --secagg --dropout 0.2 --out %s/sa",
             csv, t);
    CHECK_EQ(run(args, log), 0);
    CHECK(file_contains(log, "round 3/3"));
    snprintf(args, sizeof args, "simulate --data csv:%s --model mlp:4-8-3 --clients 12 "
             "--secagg --secagg-k 4 --out %s/sa2", csv, t);
    CHECK_EQ(run(args, log), 1);
    CHECK(file_contains(log, "--secagg-k and --secagg-threshold go together"));
}

/* --prio: every round reports its rejected updates; with attackers that
 * scale x10 all of theirs are rejected (the 12 owners, 10 per round, 3
 * attackers). */
GDN_TEST(cli_simulate_prio_reports_rejections)
{
    char csv[600], args[2048], log[600];
    const char *t = gdn_test_tmpdir();

    snprintf(csv, sizeof csv, "%s/pr.csv", t);
    snprintf(log, sizeof log, "%s/pr.log", t);
    write_csv(csv);
    snprintf(args, sizeof args,
             "simulate --data csv:%s:label=class --model mlp:4-8-3 --clients 12 "
             "--per-round 12 --rounds 2 --batch 8 --prio --prio-bound 0.5 "
             "--attack scale:10,frac:0.25 --out %s/pr", csv, t);
    CHECK_EQ(run(args, log), 0);
    CHECK(file_contains(log, "round 2/2"));
    CHECK(file_contains(log, "  3 rejected"));
    snprintf(args, sizeof args, "simulate --data csv:%s:label=class --model mlp:4-8-3 "
             "--clients 12 --prio --secagg --out %s/pr2", csv, t);
    CHECK_EQ(run(args, log), 1);
    CHECK(file_contains(log, "--prio replaces the aggregation"));
}

/* simulate keeps a signed ledger of its rounds; audit verifies it and
 * catches a rewritten entry. */
GDN_TEST(cli_simulate_ledger_and_audit)
{
    char csv[600], args[2048], log[600], db[700];
    const char *t = gdn_test_tmpdir();
    sqlite3 *h;

    snprintf(csv, sizeof csv, "%s/lg.csv", t);
    snprintf(log, sizeof log, "%s/lg.log", t);
    write_csv(csv);
    snprintf(args, sizeof args, "simulate --data csv:%s:label=class --model mlp:4-8-3 "
             "--clients 6 --per-round 3 --rounds 3 --batch 8 --out %s/lg", csv, t);
    CHECK_EQ(run(args, log), 0);
    snprintf(args, sizeof args, "simulate --resume %s/lg --rounds 4", t);
    CHECK_EQ(run(args, log), 0);
    snprintf(db, sizeof db, "%s/lg/ledger.db", t);
    snprintf(args, sizeof args, "audit --ledger %s", db);
    CHECK_EQ(run(args, log), 0);
    /* 4 rounds of 3 owners, each co-signing the head after its round. */
    CHECK(file_contains(log, "entries 4 (rounds 4, refusals 0), signed heads 4, "
                             "co-signatures 12"));
    CHECK(file_contains(log, "verified: OK"));
    /* Inclusion: round 2's entry is in the tree, with exactly its 3 clients. */
    int members = 0;
    for (int k = 0; k < 6; k++) {
        snprintf(args, sizeof args, "audit --ledger %s --prove-inclusion 2 --client %d", db, k);
        int rc = run(args, log);
        CHECK(file_contains(log, "verified: the path leads from the entry to the root"));
        members += rc == 0;
        CHECK(rc == 0 || file_contains(log, "NOT in this round's cohort"));
    }
    CHECK_EQ(members, 3);
    snprintf(args, sizeof args, "audit --ledger %s --prove-inclusion 9", db);
    CHECK_EQ(run(args, log), 1);
    CHECK(file_contains(log, "the ledger has no entry for round 9"));
    snprintf(args, sizeof args, "audit --ledger %s", db);
    /* Rewrite round 2's entry (its 41st byte, to a value it does not have),
     * as a coordinator editing history would. */
    CHECK(sqlite3_open(db, &h) == SQLITE_OK);
    CHECK(sqlite3_exec(h, "UPDATE entries SET data = CAST(substr(data, 1, 40) || "
                          "CASE WHEN substr(data, 41, 1) = x'ff' THEN x'00' ELSE x'ff' END "
                          "|| substr(data, 42) AS BLOB) WHERE idx = 1", NULL,
                       NULL, NULL) == SQLITE_OK);
    sqlite3_close(h);
    CHECK_EQ(run(args, log), 1);
    CHECK(file_contains(log, "FAILED: entry 1: the stored leaf hash is not the hash"));
}

/* Every data owner enforces its own budget: owners whose epsilon would pass
 * it decline, the refusals are in the ledger, and no owner passes it. */
GDN_TEST(cli_simulate_owner_budget_refusals)
{
    char csv[600], args[2048], log[600], m[700];
    const char *t = gdn_test_tmpdir();
    FILE *f;
    char line[256];
    double worst = 0;

    snprintf(csv, sizeof csv, "%s/ob.csv", t);
    snprintf(log, sizeof log, "%s/ob.log", t);
    write_csv(csv);
    snprintf(args, sizeof args,
             "simulate --data csv:%s:label=class --model mlp:4-8-3 --clients 8 "
             "--fraction 0.5 --rounds 8 --batch 20 --dp sample --clip 1 --noise 3 "
             "--owner-epsilon 1.3 --out %s/ob", csv, t);
    CHECK_EQ(run(args, log), 0);
    CHECK(file_contains(log, "declined"));
    snprintf(m, sizeof m, "%s/ob/metrics.csv", t);
    f = fopen(m, "r");
    CHECK(f != NULL);
    while (fgets(line, sizeof line, f)) {
        const char *last = strrchr(line, ',');
        double e = last ? strtod(last + 1, NULL) : 0;
        worst = e > worst ? e : worst;
    }
    fclose(f);
    CHECK_MSG(worst > 0 && worst <= 1.3, "largest epsilon %g", worst);
    snprintf(args, sizeof args, "audit --ledger %s/ob/ledger.db --budget 1.3", t);
    CHECK_EQ(run(args, log), 0);
    CHECK(!file_contains(log, "refusals 0)"));
    CHECK(file_contains(log, "verified: OK"));
    /* The audit re-adds each owner's recorded ε: its largest total is the
     * largest epsilon the run reported, and a smaller budget fails. */
    char want[64];
    snprintf(want, sizeof want, "the largest is %.6g", worst);
    CHECK_MSG(file_contains(log, want), "audit does not report %s", want);
    CHECK(file_contains(log, "every owner within the budget of 1.3: OK"));
    snprintf(args, sizeof args, "audit --ledger %s/ob/ledger.db --budget 0.5", t);
    CHECK_EQ(run(args, log), 1);
    CHECK(file_contains(log, "exceeds the budget 0.5"));
}

/* A data-owner policy, enforced by every simulated owner: without secure
 * aggregation they all decline, naming the rule, and the refusals are in
 * the ledger; with it they train. */
GDN_TEST(cli_simulate_policy_refusals)
{
    char csv[600], pol[600], args[2048], log[600];
    const char *t = gdn_test_tmpdir();
    static const char policy[] =
        "{\"version\": 1, \"require\": [\"secagg\"], \"min_cohort\": 3,"
        " \"allowed_models\": [\"mlp:*\"]}";

    snprintf(csv, sizeof csv, "%s/po.csv", t);
    snprintf(pol, sizeof pol, "%s/owner.json", t);
    snprintf(log, sizeof log, "%s/po.log", t);
    write_csv(csv);
    CHECK_OK(gdn_file_write_atomic(pol, policy, sizeof policy - 1));
    snprintf(args, sizeof args, "simulate --data csv:%s:label=class --model mlp:4-8-3 "
             "--clients 8 --per-round 4 --rounds 2 --policy %s --out %s/po1", csv, pol, t);
    CHECK_EQ(run(args, log), 0);
    CHECK(file_contains(log, "declined: refused: require: secure aggregation is off"));
    snprintf(args, sizeof args, "audit --ledger %s/po1/ledger.db", t);
    CHECK_EQ(run(args, log), 0);
    CHECK(file_contains(log, "entries 10 (rounds 2, refusals 8)"));
    snprintf(args, sizeof args, "simulate --data csv:%s:label=class --model mlp:4-8-3 "
             "--clients 8 --per-round 4 --rounds 2 --secagg --policy %s --out %s/po2",
             csv, pol, t);
    CHECK_EQ(run(args, log), 0);
    CHECK(!file_contains(log, "declined"));
    CHECK(file_contains(log, "round 2/2  clients 4"));
}
